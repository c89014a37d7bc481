#include "proxy/enforce/quota_store.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace exportwall::proxy {
namespace {

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

class memory_store final : public quota_store {
  public:
    boost::asio::awaitable<reservation> reserve(std::vector<quota_counter> counters,
                                                std::uint64_t want) override {
        reservation r;
        std::lock_guard lock(mutex_);
        const std::int64_t now = now_seconds();
        purge(now);
        r.granted = want;
        for (std::size_t i = 0; i < counters.size(); ++i) {
            const std::uint64_t used = value(counters[i].key, now);
            const std::uint64_t room = used >= counters[i].limit ? 0 : counters[i].limit - used;
            if (room < r.granted) {
                r.granted = room;
                r.limited_by = i;
            }
        }
        if (r.granted != 0) {
            for (const auto& c : counters) {
                auto& e = entry_for(c.key, now, c.ttl_seconds);
                e.value += r.granted;
                if (c.ttl_seconds > 0) e.expires_at = now + c.ttl_seconds;
            }
        }
        r.room = std::numeric_limits<std::uint64_t>::max();
        for (const auto& c : counters) {
            const std::uint64_t used = value(c.key, now);
            r.rooms.push_back(used >= c.limit ? 0 : c.limit - used);
            r.room = std::min(r.room, r.rooms.back());
        }
        co_return r;
    }

    boost::asio::awaitable<boost::system::error_code> release(std::vector<quota_counter> counters,
                                                              std::uint64_t n) override {
        std::lock_guard lock(mutex_);
        const std::int64_t now = now_seconds();
        for (const auto& c : counters) {
            auto it = entries_.find(c.key);
            if (it == entries_.end() || expired(it->second, now)) continue;
            it->second.value -= std::min(it->second.value, n);
        }
        co_return boost::system::error_code{};
    }

    void release_soon(std::vector<quota_counter> counters, std::uint64_t n,
                      const boost::asio::any_io_executor&) override {
        std::lock_guard lock(mutex_);
        const std::int64_t now = now_seconds();
        for (const auto& c : counters) {
            auto it = entries_.find(c.key);
            if (it == entries_.end() || expired(it->second, now)) continue;
            it->second.value -= std::min(it->second.value, n);
        }
    }

    boost::asio::awaitable<count_result> add(std::string key, std::uint64_t n,
                                             std::int64_t ttl_seconds) override {
        count_result r;
        std::lock_guard lock(mutex_);
        const std::int64_t now = now_seconds();
        auto& e = entry_for(key, now, ttl_seconds);
        e.value += n;
        r.values.push_back(e.value);
        co_return r;
    }

    boost::asio::awaitable<count_result> read(std::vector<std::string> keys) override {
        count_result r;
        std::lock_guard lock(mutex_);
        const std::int64_t now = now_seconds();
        for (const auto& k : keys) r.values.push_back(value(k, now));
        co_return r;
    }

    boost::asio::awaitable<boost::system::error_code> put(std::string key,
                                                          std::uint64_t value) override {
        std::lock_guard lock(mutex_);
        if (value == 0)
            entries_.erase(key);
        else
            entries_[key] = entry{value, 0};
        co_return boost::system::error_code{};
    }

    boost::asio::awaitable<std::optional<std::vector<std::pair<std::string, std::uint64_t>>>>
    scan(std::string prefix) override {
        std::vector<std::pair<std::string, std::uint64_t>> out;
        std::lock_guard lock(mutex_);
        const std::int64_t now = now_seconds();
        for (const auto& [k, e] : entries_)
            if (std::string_view(k).starts_with(prefix) && !expired(e, now))
                out.emplace_back(k, e.value);
        std::sort(out.begin(), out.end());
        co_return out;
    }

    bool shared() const noexcept override { return false; }
    std::string describe() const override { return "memory"; }

  private:
    struct entry {
        std::uint64_t value = 0;
        std::int64_t expires_at = 0;  // steady seconds; 0 = never
    };

    static bool expired(const entry& e, std::int64_t now) {
        return e.expires_at != 0 && e.expires_at <= now;
    }

    std::uint64_t value(const std::string& key, std::int64_t now) const {
        auto it = entries_.find(key);
        return it == entries_.end() || expired(it->second, now) ? 0 : it->second.value;
    }

    entry& entry_for(const std::string& key, std::int64_t now, std::int64_t ttl) {
        auto& e = entries_[key];
        if (expired(e, now)) e = entry{};
        if (e.value == 0 && e.expires_at == 0 && ttl > 0) e.expires_at = now + ttl;
        return e;
    }

    // Forgets expired counters now and then, so windows that ended do not accumulate.
    void purge(std::int64_t now) {
        if (++operations_ % 1024 != 0) return;
        std::erase_if(entries_, [now](const auto& kv) { return expired(kv.second, now); });
    }

    std::mutex mutex_;
    std::unordered_map<std::string, entry> entries_;
    std::uint64_t operations_ = 0;
};

}  // namespace

std::shared_ptr<quota_store> make_memory_store() { return std::make_shared<memory_store>(); }

}  // namespace exportwall::proxy
