#include "proxy/enforce/redis_store.hpp"

#include <hiredis/hiredis.h>

#include <openssl/sha.h>

#include <array>
#include <atomic>
#include <charconv>
#include <functional>
#include <map>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/hex.hpp"
#include "proxy/stream.hpp"
#include "proxy/tls.hpp"

namespace exportwall::proxy {
namespace {

namespace net = boost::asio;
using error_code = boost::system::error_code;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

enum class store_errc { unreachable = 1, timeout, protocol, refused };

class store_category_impl final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "quota_store"; }
    std::string message(int ev) const override {
        switch (static_cast<store_errc>(ev)) {
            case store_errc::unreachable:
                return "the quota store cannot be reached";
            case store_errc::timeout:
                return "the quota store did not answer in time";
            case store_errc::protocol:
                return "the quota store's answer is not what was asked";
            case store_errc::refused:
                return "the quota store refused the command";
        }
        return "quota store error";
    }
};

error_code make_error(store_errc e) {
    static const store_category_impl category;
    return {static_cast<int>(e), category};
}

// Reserves across every counter at once: the grant is the least room any counter has, and is
// added to all of them; each counter's expiry restarts (a chain lives on while it is paged).
// KEYS: the counters. ARGV: want, then limit and ttl per counter. Returns {granted, limited_by,
// the least room any counter has left, then each counter's room left, in order}.
constexpr std::string_view reserve_script = R"lua(
local grant = tonumber(ARGV[1])
local limited = 0
local least = -1
local rooms = {}
for i, k in ipairs(KEYS) do
  local room = tonumber(ARGV[2 * i]) - tonumber(redis.call('GET', k) or '0')
  if room < 0 then room = 0 end
  rooms[i] = room
  if room < grant then grant = room; limited = i - 1 end
  if least < 0 or room < least then least = room end
end
if grant > 0 then
  for i, k in ipairs(KEYS) do
    redis.call('INCRBY', k, grant)
    redis.call('EXPIRE', k, tonumber(ARGV[2 * i + 1]))
  end
end
local out = {grant, limited, least - grant}
for i = 1, #rooms do out[3 + i] = rooms[i] - grant end
return out
)lua";

// Returns unused records to every counter that still exists, never below zero. ARGV: n per key
// (returns of several exports go together).
constexpr std::string_view release_script = R"lua(
for i, k in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', k) or '0')
  local n = tonumber(ARGV[i])
  if n > used then n = used end
  if n > 0 then redis.call('DECRBY', k, n) end
end
return 0
)lua";

// Adds to one counter, giving a new one its expiry. ARGV: n, ttl. Returns the new value.
constexpr std::string_view add_script = R"lua(
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return v
)lua";

struct reply_deleter {
    void operator()(redisReply* r) const noexcept {
        if (r != nullptr) freeReplyObject(r);
    }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

struct reader_deleter {
    void operator()(redisReader* r) const noexcept {
        if (r != nullptr) redisReaderFree(r);
    }
};

struct connection {
    std::unique_ptr<byte_stream> stream;
    std::unique_ptr<redisReader, reader_deleter> reader{redisReaderCreate()};
};

// Cancels what is in progress when the store's timeout passes. The timer runs on the executor of
// the coroutine that uses the connection (a session's io_context, run by one thread): its handler
// and the coroutine's I/O never race.
class deadline {
  public:
    deadline(const net::any_io_executor& ex, std::chrono::milliseconds after,
             std::function<void()> on_expiry)
        : timer_(std::make_shared<net::steady_timer>(ex, after)),
          state_(std::make_shared<state>()) {
        state_->on_expiry = std::move(on_expiry);
        timer_->async_wait([st = state_, t = timer_](error_code ec) {
            if (ec || st->done) return;
            st->fired = true;
            if (st->on_expiry) st->on_expiry();
        });
    }
    ~deadline() { stop(); }
    deadline(const deadline&) = delete;
    deadline& operator=(const deadline&) = delete;
    void stop() noexcept {
        state_->done = true;
        state_->on_expiry = nullptr;
        timer_->cancel();
    }
    [[nodiscard]] bool fired() const noexcept { return state_->fired; }

  private:
    struct state {
        bool done = false;
        bool fired = false;
        std::function<void()> on_expiry;
    };
    std::shared_ptr<net::steady_timer> timer_;
    std::shared_ptr<state> state_;
};

using command = std::vector<std::string>;

// Commands are built outside the coroutines: GCC 12 miscompiles a braced list of string
// literals in a coroutine frame ("array used as initializer").
command make_command(std::initializer_list<std::string_view> parts) {
    command c;
    c.reserve(parts.size());
    for (auto p : parts) c.emplace_back(p);
    return c;
}

std::vector<command> one(command c) {
    std::vector<command> out;
    out.push_back(std::move(c));
    return out;
}

// The scripts' SHA-1 (hex), as Redis names them in its script cache.
std::string sha1_hex(std::string_view text) {
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    return common::to_hex(digest, sizeof digest);
}

const std::string reserve_sha = sha1_hex(reserve_script);
const std::string release_sha = sha1_hex(release_script);
const std::string add_sha = sha1_hex(add_script);

// Scripts run by their digest (EVALSHA): each connection loads them once when it is opened, so
// a command carries no script text.
command script_command(std::string_view sha, const std::string& prefix,
                       const std::vector<quota_counter>& counters) {
    command c = make_command({"EVALSHA", sha});
    c.push_back(std::to_string(counters.size()));
    for (const auto& k : counters) c.push_back(prefix + k.key);
    return c;
}

command reserve_command(const std::string& prefix, const std::vector<quota_counter>& counters,
                        std::uint64_t want) {
    command c = script_command(reserve_sha, prefix, counters);
    c.push_back(std::to_string(want));
    for (const auto& k : counters) {
        c.push_back(std::to_string(k.limit));
        c.push_back(std::to_string(std::max<std::int64_t>(k.ttl_seconds, 1)));
    }
    return c;
}

command release_command(const std::string& prefix, const std::vector<quota_counter>& counters,
                        std::uint64_t n) {
    command c = script_command(release_sha, prefix, counters);
    for (std::size_t i = 0; i < counters.size(); ++i) c.push_back(std::to_string(n));
    return c;
}

// The returns waiting to be sent (full keys → records), as one command.
command pending_release_command(const std::map<std::string, std::uint64_t>& pending) {
    command c = make_command({"EVALSHA", release_sha});
    c.push_back(std::to_string(pending.size()));
    for (const auto& [key, n] : pending) c.push_back(key);
    for (const auto& [key, n] : pending) c.push_back(std::to_string(n));
    return c;
}

command add_command(const std::string& key, std::uint64_t n, std::int64_t ttl) {
    command c = make_command({"EVALSHA", add_sha, "1", key});
    c.push_back(std::to_string(n));
    c.push_back(std::to_string(std::max<std::int64_t>(ttl, 1)));
    return c;
}

command mget_command(const std::string& prefix, const std::vector<std::string>& keys) {
    command c = make_command({"MGET"});
    for (const auto& k : keys) c.push_back(prefix + k);
    return c;
}

command put_command(const std::string& key, std::uint64_t value) {
    if (value == 0) return make_command({"DEL", key});
    return make_command({"SET", key, std::to_string(value)});
}

command scan_command(const std::string& cursor, const std::string& pattern) {
    return make_command({"SCAN", cursor, "MATCH", pattern, "COUNT", "200"});
}

std::vector<command> hello_commands(const config::quota_store_settings& s) {
    std::vector<command> hello;
    if (!s.password.empty()) {
        hello.push_back(s.username.empty() ? make_command({"AUTH", s.password})
                                           : make_command({"AUTH", s.username, s.password}));
    }
    if (s.database != 0) hello.push_back(make_command({"SELECT", std::to_string(s.database)}));
    for (std::string_view script : {reserve_script, release_script, add_script})
        hello.push_back(make_command({"SCRIPT", "LOAD", script}));
    return hello;
}

std::string format(const std::vector<command>& commands) {
    std::string out;
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& c : commands) {
        argv.clear();
        lengths.clear();
        for (const auto& a : c) {
            argv.push_back(a.data());
            lengths.push_back(a.size());
        }
        char* formatted = nullptr;
        const int n = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(),
                                             lengths.data());
        if (n < 0 || formatted == nullptr) return {};
        out.append(formatted, static_cast<std::size_t>(n));
        redisFreeCommand(formatted);
    }
    return out;
}

std::optional<std::uint64_t> integer_of(const redisReply* r) {
    if (r == nullptr) return std::nullopt;
    if (r->type == REDIS_REPLY_INTEGER) {
        if (r->integer < 0) return std::nullopt;
        return static_cast<std::uint64_t>(r->integer);
    }
    if (r->type == REDIS_REPLY_NIL) return 0;
    if (r->type == REDIS_REPLY_STRING) {
        std::uint64_t v = 0;
        std::string_view s(r->str, r->len);
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
        return v;
    }
    return std::nullopt;
}

class redis_store final : public quota_store, public std::enable_shared_from_this<redis_store> {
  public:
    redis_store(config::quota_store_settings s, std::shared_ptr<net::ssl::context> tls)
        : s_(std::move(s)), tls_(std::move(tls)) {}

    net::awaitable<reservation> reserve(std::vector<quota_counter> counters,
                                        std::uint64_t want) override {
        reservation r;
        if (counters.empty() || want == 0) {
            r.granted = want;
            co_return r;
        }
        auto [ec, replies] = co_await run(one(reserve_command(s_.key_prefix, counters, want)));
        if (ec) {
            r.error = ec;
            co_return r;
        }
        const redisReply* a = replies.front().get();
        std::optional<std::uint64_t> granted, limited, room;
        bool rooms_ok = false;
        if (a->type == REDIS_REPLY_ARRAY && a->elements == 3 + counters.size()) {
            granted = integer_of(a->element[0]);
            limited = integer_of(a->element[1]);
            room = integer_of(a->element[2]);
            rooms_ok = true;
            for (std::size_t i = 0; i < counters.size() && rooms_ok; ++i) {
                auto v = integer_of(a->element[3 + i]);
                rooms_ok = v.has_value();
                if (v) r.rooms.push_back(*v);
            }
        }
        if (!granted || !limited || !room || !rooms_ok || *granted > want ||
            *limited >= counters.size()) {
            r.rooms.clear();
            r.error = make_error(store_errc::protocol);
            co_return r;
        }
        r.granted = *granted;
        r.limited_by = static_cast<std::size_t>(*limited);
        r.room = *room;
        co_return r;
    }

    net::awaitable<error_code> release(std::vector<quota_counter> counters,
                                       std::uint64_t n) override {
        if (counters.empty() || n == 0) co_return error_code{};
        auto [ec, replies] = co_await run(one(release_command(s_.key_prefix, counters, n)));
        co_return ec;
    }

    void release_soon(std::vector<quota_counter> counters, std::uint64_t n,
                      const net::any_io_executor& ex) override {
        if (counters.empty() || n == 0) return;
        bool schedule = false;
        {
            std::lock_guard lock(mutex_);
            for (const auto& c : counters) pending_[s_.key_prefix + c.key] += n;
            schedule = !flush_scheduled_;
            flush_scheduled_ = true;
        }
        if (!schedule) return;
        // Sent with the next command of any session; if none comes within 50 ms, on its own.
        auto self = shared_from_this();
        net::co_spawn(
            ex,
            [self]() -> net::awaitable<void> {
                net::steady_timer t(co_await net::this_coro::executor,
                                    std::chrono::milliseconds(50));
                (void)co_await t.async_wait(use_tuple);
                {
                    std::lock_guard lock(self->mutex_);
                    self->flush_scheduled_ = false;
                    if (self->pending_.empty()) co_return;
                }
                (void)co_await self->run(std::vector<command>{});
            },
            net::detached);
    }

    net::awaitable<count_result> add(std::string key, std::uint64_t n,
                                     std::int64_t ttl_seconds) override {
        count_result r;
        auto [ec, replies] = co_await run(one(add_command(s_.key_prefix + key, n, ttl_seconds)));
        if (ec) {
            r.error = ec;
            co_return r;
        }
        auto v = integer_of(replies.front().get());
        if (!v) {
            r.error = make_error(store_errc::protocol);
            co_return r;
        }
        r.values.push_back(*v);
        co_return r;
    }

    net::awaitable<count_result> read(std::vector<std::string> keys) override {
        count_result r;
        if (keys.empty()) co_return r;
        auto [ec, replies] = co_await run(one(mget_command(s_.key_prefix, keys)));
        if (ec) {
            r.error = ec;
            co_return r;
        }
        const redisReply* a = replies.front().get();
        if (a->type != REDIS_REPLY_ARRAY || a->elements != keys.size()) {
            r.error = make_error(store_errc::protocol);
            co_return r;
        }
        for (std::size_t i = 0; i < a->elements; ++i) {
            auto v = integer_of(a->element[i]);
            if (!v) {
                r.error = make_error(store_errc::protocol);
                r.values.clear();
                co_return r;
            }
            r.values.push_back(*v);
        }
        co_return r;
    }

    net::awaitable<error_code> put(std::string key, std::uint64_t value) override {
        auto [ec, replies] = co_await run(one(put_command(s_.key_prefix + key, value)));
        co_return ec;
    }

    net::awaitable<std::optional<std::vector<std::pair<std::string, std::uint64_t>>>> scan(
        std::string prefix) override {
        // Glob characters in the prefix are escaped: the match is a plain prefix.
        std::string pattern;
        for (char ch : s_.key_prefix + prefix) {
            if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') pattern += '\\';
            pattern += ch;
        }
        pattern += '*';
        std::vector<std::string> keys;
        std::string cursor = "0";
        do {
            auto [ec, replies] = co_await run(one(scan_command(cursor, pattern)));
            if (ec) co_return std::nullopt;
            const redisReply* a = replies.front().get();
            if (a->type != REDIS_REPLY_ARRAY || a->elements != 2 ||
                a->element[0]->type != REDIS_REPLY_STRING ||
                a->element[1]->type != REDIS_REPLY_ARRAY)
                co_return std::nullopt;
            cursor.assign(a->element[0]->str, a->element[0]->len);
            for (std::size_t i = 0; i < a->element[1]->elements; ++i) {
                const redisReply* k = a->element[1]->element[i];
                if (k->type != REDIS_REPLY_STRING) co_return std::nullopt;
                std::string_view name(k->str, k->len);
                if (!name.starts_with(s_.key_prefix)) continue;
                keys.emplace_back(name.substr(s_.key_prefix.size()));
            }
        } while (cursor != "0");
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        std::vector<std::pair<std::string, std::uint64_t>> out;
        if (keys.empty()) co_return out;
        auto values = co_await read(keys);
        if (values.error) co_return std::nullopt;
        for (std::size_t i = 0; i < keys.size(); ++i)
            if (values.values[i] != 0) out.emplace_back(keys[i], values.values[i]);
        co_return out;
    }

    bool shared() const noexcept override { return true; }

    std::string describe() const override {
        std::string out = s_.tls ? "rediss://" : "redis://";
        if (!s_.username.empty()) out += s_.username + "@";
        const bool v6 = s_.host.find(':') != std::string::npos;
        out += v6 ? "[" + s_.host + "]" : s_.host;
        out += ":" + std::to_string(s_.port) + "/" + std::to_string(s_.database);
        return out;
    }

  private:
    using answer = std::pair<error_code, std::vector<reply_ptr>>;
    static answer failed(error_code ec) { return {ec, std::vector<reply_ptr>()}; }

    // Runs the commands, pipelined on one connection of the caller's io_context, from the
    // caller's coroutine: no thread hop. A connection is used by one coroutine at a time and
    // kept idle per io_context (its socket belongs to that context's thread).
    net::awaitable<answer> run(std::vector<command> commands) {
        auto self = shared_from_this();
        const net::any_io_executor ex = co_await net::this_coro::executor;
        auto& io = static_cast<net::io_context&>(net::query(ex, net::execution::context));
        // Returns waiting to be sent ride with these commands, first (release_soon).
        bool carried = false;
        {
            std::lock_guard lock(mutex_);
            if (!pending_.empty()) {
                commands.insert(commands.begin(), pending_release_command(pending_));
                pending_.clear();
                carried = true;
            }
        }
        if (commands.empty()) co_return answer(error_code{}, std::vector<reply_ptr>());
        for (int attempt = 0;; ++attempt) {
            std::shared_ptr<connection> conn = take_idle(io);
            if (!conn) {
                error_code ec;
                conn = co_await connect(io, ex, ec);
                if (!conn) co_return failed(ec);
            }
            bool noscript = false;
            auto [ec, out] = co_await exchange(*conn, commands, ex, &noscript);
            if (!ec) {
                put_idle(io, std::move(conn));
                if (carried) out.erase(out.begin());
                co_return answer(error_code{}, std::move(out));
            }
            conn->stream->close();
            // The server's script cache was flushed: the script did not run. A new connection
            // loads the scripts again. (Returns carried by a failed exchange are lost: the
            // records stay counted, fail closed.)
            if (!noscript || attempt != 0) co_return failed(ec);
        }
    }

    std::shared_ptr<connection> take_idle(net::io_context& io) {
        std::lock_guard lock(mutex_);
        auto it = idle_.find(&io);
        if (it == idle_.end()) return nullptr;
        while (!it->second.empty()) {
            auto conn = std::move(it->second.back());
            it->second.pop_back();
            if (conn->stream->idle_and_open()) return conn;
        }
        return nullptr;
    }

    void put_idle(net::io_context& io, std::shared_ptr<connection> conn) {
        std::lock_guard lock(mutex_);
        auto& list = idle_[&io];
        if (list.size() < max_idle) list.push_back(std::move(conn));
    }

    // Writes the commands and reads one reply each, within the timeout. A server error reply
    // fails the whole exchange (refused).
    net::awaitable<answer> exchange(connection& c, const std::vector<command>& commands,
                                    const net::any_io_executor& ex,
                                    bool* noscript = nullptr) const {
        const std::string wire = format(commands);
        if (wire.empty()) co_return failed(make_error(store_errc::protocol));
        byte_stream& stream = *c.stream;
        deadline limit(ex, s_.timeout, [&stream] { stream.close(); });
        auto [wec, written] = co_await net::async_write(stream, net::buffer(wire), use_tuple);
        (void)written;
        if (wec)
            co_return failed(
                make_error(limit.fired() ? store_errc::timeout : store_errc::unreachable));
        std::vector<reply_ptr> out;
        std::array<char, 4096> buf{};
        while (out.size() < commands.size()) {
            void* r = nullptr;
            if (redisReaderGetReply(c.reader.get(), &r) != REDIS_OK)
                co_return failed(make_error(store_errc::protocol));
            if (r != nullptr) {
                out.emplace_back(static_cast<redisReply*>(r));
                if (out.back()->type == REDIS_REPLY_ERROR) {
                    const std::string_view text(out.back()->str, out.back()->len);
                    if (noscript != nullptr && text.starts_with("NOSCRIPT")) {
                        *noscript = true;
                        co_return failed(make_error(store_errc::refused));
                    }
                    // The server's error text names a command or a key, never a value.
                    spdlog::warn("quota store {}: {}", describe(),
                                 std::string_view(out.back()->str, out.back()->len).substr(0, 200));
                    co_return failed(make_error(store_errc::refused));
                }
                continue;
            }
            auto [rec, n] = co_await stream.async_read_some(net::buffer(buf), use_tuple);
            if (rec)
                co_return failed(
                    make_error(limit.fired() ? store_errc::timeout : store_errc::unreachable));
            if (redisReaderFeed(c.reader.get(), buf.data(), n) != REDIS_OK)
                co_return failed(make_error(store_errc::protocol));
        }
        co_return answer(error_code{}, std::move(out));
    }

    net::awaitable<std::shared_ptr<connection>> connect(net::io_context& io,
                                                        const net::any_io_executor& ex,
                                                        error_code& failure) {
        failure = make_error(store_errc::unreachable);
        std::vector<tcp::endpoint> endpoints;
        error_code ec;
        auto address = net::ip::make_address(s_.host, ec);
        if (!ec) {
            endpoints.emplace_back(address, s_.port);
        } else {
            auto resolver = std::make_shared<tcp::resolver>(io);
            deadline limit(ex, s_.timeout, [resolver] { resolver->cancel(); });
            auto [rec, results] =
                co_await resolver->async_resolve(s_.host, std::to_string(s_.port), use_tuple);
            if (rec) {
                note_down("cannot resolve its host");
                co_return nullptr;
            }
            for (const auto& r : results) endpoints.push_back(r.endpoint());
        }
        auto sock = std::make_shared<tcp::socket>(io);
        {
            deadline limit(ex, s_.timeout, [sock] {
                error_code ignored;
                sock->close(ignored);
            });
            auto [cec, ep] = co_await net::async_connect(*sock, endpoints, use_tuple);
            (void)ep;
            if (cec) {
                if (limit.fired()) failure = make_error(store_errc::timeout);
                note_down(limit.fired() ? "connect timed out" : "connect failed");
                co_return nullptr;
            }
        }
        sock->set_option(tcp::no_delay(true), ec);
        auto conn = std::make_shared<connection>();
        if (!conn->reader) co_return nullptr;
        if (tls_) {
            conn->stream = std::make_unique<byte_stream>(std::move(*sock), *tls_);
            if (!prepare_upstream_ssl(conn->stream->tls()->native_handle(), s_.host)) {
                note_down("TLS set-up failed");
                co_return nullptr;
            }
            byte_stream& stream = *conn->stream;
            deadline limit(ex, s_.timeout, [&stream] { stream.close(); });
            auto [hec] = co_await conn->stream->tls()->async_handshake(
                net::ssl::stream_base::client, use_tuple);
            if (hec) {
                note_down(limit.fired() ? "TLS handshake timed out" : "TLS handshake failed");
                co_return nullptr;
            }
        } else {
            conn->stream = std::make_unique<byte_stream>(std::move(*sock));
        }
        const std::vector<command> hello = hello_commands(s_);
        auto [hec, out] = co_await exchange(*conn, hello, ex);
        if (hec) {
            failure = hec;
            note_down("AUTH, SELECT or SCRIPT LOAD failed");
            conn->stream->close();
            co_return nullptr;
        }
        if (down_.exchange(false)) spdlog::info("quota store {} is reachable again", describe());
        failure = {};
        co_return conn;
    }

    // Logged once per outage, not per command.
    void note_down(std::string_view why) {
        if (!down_.exchange(true)) spdlog::error("quota store {}: {}", describe(), why);
    }

    // Idle connections per io_context: as many as sessions of one thread may wait on at once.
    static constexpr std::size_t max_idle = 256;
    config::quota_store_settings s_;
    std::shared_ptr<net::ssl::context> tls_;
    std::mutex mutex_;
    std::map<net::io_context*, std::vector<std::shared_ptr<connection>>> idle_;
    std::map<std::string, std::uint64_t> pending_;  // returns to send: full key → records
    bool flush_scheduled_ = false;
    std::atomic<bool> down_{false};
};

}  // namespace

std::shared_ptr<quota_store> make_redis_store(const config::quota_store_settings& settings,
                                              std::string& error) {
    std::shared_ptr<net::ssl::context> tls;
    if (settings.tls) {
        config::upstream u;
        u.id = "quota-store";
        u.ca_file = settings.ca_file;
        tls = make_upstream_context(u, error);
        if (!tls) return nullptr;
    }
    return std::make_shared<redis_store>(settings, std::move(tls));
}

}  // namespace exportwall::proxy
