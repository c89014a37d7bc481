#pragma once
// Shared pieces of the volume-alert tests: a sink that keeps the records it is given, stores that
// count or refuse, and a way to run one awaitable to its end.

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/errc.hpp>

#include "audit/record.hpp"
#include "proxy/enforce/quota_store.hpp"

namespace exportwall::proxy::test {

namespace net = boost::asio;

// Runs `a` on a fresh io_context until it is done; rethrows what it threw.
template <class T>
T await(net::awaitable<T> a) {
    net::io_context ioc;
    std::optional<T> out;
    std::exception_ptr failure;
    net::co_spawn(ioc, std::move(a), [&](std::exception_ptr e, T v) {
        failure = e;
        if (!e) out = std::move(v);
    });
    ioc.run();
    if (failure) std::rethrow_exception(failure);
    return std::move(*out);
}

inline void await(net::awaitable<void> a) {
    net::io_context ioc;
    std::exception_ptr failure;
    net::co_spawn(ioc, std::move(a), [&](std::exception_ptr e) { failure = e; });
    ioc.run();
    if (failure) std::rethrow_exception(failure);
}

// Keeps every record; completes each at once, with `fail` (no error by default).
class recording_sink final : public audit::sink {
  public:
    void append(audit::record&& r, bool durable, completion done) override {
        {
            std::lock_guard lock(mutex_);
            records_.push_back(std::move(r));
            durable_.push_back(durable);
        }
        if (done) done(fail);
    }
    [[nodiscard]] bool healthy() const override { return !fail; }
    [[nodiscard]] std::vector<audit::record> records() const {
        std::lock_guard lock(mutex_);
        return records_;
    }
    [[nodiscard]] std::vector<bool> durable() const {
        std::lock_guard lock(mutex_);
        return durable_;
    }
    boost::system::error_code fail;

  private:
    mutable std::mutex mutex_;
    std::vector<audit::record> records_;
    std::vector<bool> durable_;
};

// The memory store, counting the reads of many keys at once (the median's one-week read).
class counting_store final : public quota_store {
  public:
    net::awaitable<reservation> reserve(std::vector<quota_counter> c, std::uint64_t n) override {
        co_return co_await inner_->reserve(std::move(c), n);
    }
    net::awaitable<boost::system::error_code> release(std::vector<quota_counter> c,
                                                      std::uint64_t n) override {
        co_return co_await inner_->release(std::move(c), n);
    }
    void release_soon(std::vector<quota_counter> c, std::uint64_t n,
                      const net::any_io_executor& ex) override {
        inner_->release_soon(std::move(c), n, ex);
    }
    net::awaitable<count_result> add(std::string key, std::uint64_t n, std::int64_t ttl) override {
        co_return co_await inner_->add(std::move(key), n, ttl);
    }
    net::awaitable<count_result> read(std::vector<std::string> keys) override {
        if (keys.size() > 1) ++wide_reads;
        co_return co_await inner_->read(std::move(keys));
    }
    net::awaitable<boost::system::error_code> put(std::string key, std::uint64_t v) override {
        co_return co_await inner_->put(std::move(key), v);
    }
    net::awaitable<std::optional<std::vector<std::pair<std::string, std::uint64_t>>>> scan(
        std::string prefix) override {
        co_return co_await inner_->scan(std::move(prefix));
    }
    [[nodiscard]] bool shared() const noexcept override { return false; }
    [[nodiscard]] std::string describe() const override { return "counting"; }

    std::atomic<int> wide_reads{0};

  private:
    std::shared_ptr<quota_store> inner_ = make_memory_store();
};

// A store that never answers (a Redis server down).
class unavailable_store final : public quota_store {
  public:
    static boost::system::error_code down() {
        return make_error_code(boost::system::errc::connection_refused);
    }
    net::awaitable<reservation> reserve(std::vector<quota_counter>, std::uint64_t) override {
        reservation r;
        r.error = down();
        co_return r;
    }
    net::awaitable<boost::system::error_code> release(std::vector<quota_counter>,
                                                      std::uint64_t) override {
        co_return down();
    }
    void release_soon(std::vector<quota_counter>, std::uint64_t,
                      const net::any_io_executor&) override {}
    net::awaitable<count_result> add(std::string, std::uint64_t, std::int64_t) override {
        count_result r;
        r.error = down();
        co_return r;
    }
    net::awaitable<count_result> read(std::vector<std::string>) override {
        count_result r;
        r.error = down();
        co_return r;
    }
    net::awaitable<boost::system::error_code> put(std::string, std::uint64_t) override {
        co_return down();
    }
    net::awaitable<std::optional<std::vector<std::pair<std::string, std::uint64_t>>>> scan(
        std::string) override {
        co_return std::nullopt;
    }
    [[nodiscard]] bool shared() const noexcept override { return true; }
    [[nodiscard]] std::string describe() const override { return "down"; }
};

}  // namespace exportwall::proxy::test
