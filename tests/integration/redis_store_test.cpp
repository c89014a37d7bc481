// The Redis quota store against a real redis-server: atomic reservations across counters, expiry,
// release, AUTH with a password, TLS (rediss) with the operator's CA and a wrong one, a server that
// never answers (the timeout), and one that is gone (fail closed).

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include "config/settings.hpp"
#include "proxy/enforce/redis_store.hpp"
#include "tests/integration/redis_server.hpp"

namespace exportwall::itest {
namespace {

namespace net = boost::asio;
using proxy::quota_counter;

template <class T>
T run(net::io_context& io, net::awaitable<T> a) {
    auto f = net::co_spawn(io, std::move(a), net::use_future);
    io.restart();
    io.run();
    if constexpr (std::is_void_v<T>)
        f.get();
    else
        return f.get();
}

class RedisStore : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!redis_server::available()) GTEST_SKIP() << "redis-server is not installed";
    }
    std::shared_ptr<proxy::quota_store> store(const config::quota_store_settings& s) {
        std::string error;
        auto st = proxy::make_redis_store(s, error);
        EXPECT_TRUE(st) << error;
        return st;
    }
    config::quota_store_settings plain(std::uint16_t port) {
        config::quota_store_settings s;
        s.configured = true;
        s.host = "127.0.0.1";
        s.port = port;
        s.timeout = std::chrono::milliseconds(500);
        s.key_prefix = "test:";
        return s;
    }
    temp_dir dir_;
    redis_server redis_;
    net::io_context io_;
};

TEST_F(RedisStore, ReservesAtomicallyAcrossCountersWithExpiry) {
    ASSERT_TRUE(redis_.start(dir_)) << redis_.log();
    auto st = store(plain(redis_.port()));
    ASSERT_TRUE(st);
    std::vector<quota_counter> two{{"q", 5, 3600}, {"c", 3, 120}};
    auto r = run(io_, st->reserve(two, 2));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.granted, 2u);
    EXPECT_EQ(r.rooms, (std::vector<std::uint64_t>{3, 1}));
    r = run(io_, st->reserve(two, 4));
    EXPECT_EQ(r.granted, 1u);
    EXPECT_EQ(r.limited_by, 1u);
    EXPECT_EQ(r.rooms, (std::vector<std::uint64_t>{2, 0})) << "each counter's room, in order";
    EXPECT_EQ(redis_.command("GET test:q").find("$1\r\n3"), 0u) << redis_.command("GET test:q");
    // The counter has its expiry (the window's end): TTL in (0, 3600].
    const std::string ttl = redis_.command("TTL test:q");
    ASSERT_EQ(ttl.front(), ':') << ttl;
    const long seconds = std::stol(ttl.substr(1));
    EXPECT_GT(seconds, 0);
    EXPECT_LE(seconds, 3600);
    EXPECT_FALSE(run(io_, st->release(two, 2)));
    auto v = run(io_, st->read({"q", "c", "none"}));
    ASSERT_FALSE(v.error);
    EXPECT_EQ(v.values, (std::vector<std::uint64_t>{1, 1, 0}));
    EXPECT_FALSE(run(io_, st->release(two, 10)));
    v = run(io_, st->read({"q", "c"}));
    EXPECT_EQ(v.values, (std::vector<std::uint64_t>{0, 0})) << "never below zero";
    // add / put / scan (volume counters and holds).
    EXPECT_EQ(run(io_, st->add("volume:a", 7, 60)).values.at(0), 7u);
    EXPECT_FALSE(run(io_, st->put("hold:a*b", 99)));
    EXPECT_FALSE(run(io_, st->put("hold:c", 98)));
    auto holds = run(io_, st->scan("hold:a*"));
    ASSERT_TRUE(holds.has_value());
    ASSERT_EQ(holds->size(), 1u) << "the prefix is matched literally, '*' included";
    EXPECT_EQ((*holds)[0].first, "hold:a*b");
    EXPECT_EQ((*holds)[0].second, 99u);
    EXPECT_EQ(st->describe(), "redis://127.0.0.1:" + std::to_string(redis_.port()) + "/0");
    // The server forgets its scripts (SCRIPT FLUSH, a failover): the next command loads them
    // again on a new connection and runs once.
    ASSERT_NE(redis_.command("SCRIPT FLUSH").find("+OK"), std::string::npos);
    r = run(io_, st->reserve({{"after-flush", 5, 60}}, 2));
    EXPECT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.granted, 2u);
    EXPECT_EQ(run(io_, st->read({"after-flush"})).values.at(0), 2u) << "the script ran once";
}

// A return far from the limit is not a round trip of its own: it rides with this replica's next
// command, or goes alone within 50 ms.
TEST_F(RedisStore, ReturnsRideWithTheNextCommand) {
    ASSERT_TRUE(redis_.start(dir_)) << redis_.log();
    auto st = store(plain(redis_.port()));
    std::vector<quota_counter> far{{"far", 1'000'000, 3600}};
    auto r = run(io_, st->reserve(far, 10));
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.room, 1'000'000u - 10u);
    // Queued from inside a coroutine (the executor is the caller's), then another command.
    // (The key list is built outside: GCC 12 miscompiles a braced list in a coroutine.)
    const std::vector<std::string> keys{"far"};
    const std::string before = "$2\r\n10";
    auto carried = [&]() -> net::awaitable<std::uint64_t> {
        st->release_soon(far, 4, co_await net::this_coro::executor);
        const bool unsent = redis_.command("GET test:far").find(before) == 0;
        EXPECT_TRUE(unsent) << "sent before its time";
        auto v = co_await st->read(keys);
        co_return v.values.at(0);
    };
    EXPECT_EQ(run(io_, carried()), 6u) << "the return rode with the read";
    // Alone: the 50 ms flush sends it (run() returns once the io_context has no work left).
    auto alone = [&]() -> net::awaitable<void> {
        st->release_soon(far, 6, co_await net::this_coro::executor);
        co_return;
    };
    run(io_, alone());
    EXPECT_EQ(redis_.command("GET test:far").find("$1\r\n0"), 0u) << redis_.command("GET test:far");
}

TEST_F(RedisStore, ManyConcurrentReservationsNeverGrantMoreThanTheLimit) {
    ASSERT_TRUE(redis_.start(dir_)) << redis_.log();
    auto a = store(plain(redis_.port()));
    auto b = store(plain(redis_.port()));  // another replica's store
    std::vector<std::future<proxy::reservation>> results;
    std::vector<quota_counter> q{{"shared", 100, 3600}};
    for (int i = 0; i < 60; ++i)
        results.push_back(net::co_spawn(io_, (i % 2 ? a : b)->reserve(q, 3), net::use_future));
    io_.restart();
    io_.run();
    std::uint64_t total = 0;
    for (auto& f : results) {
        auto r = f.get();
        ASSERT_FALSE(r.error) << r.error.message();
        total += r.granted;
    }
    EXPECT_EQ(total, 100u);
}

TEST_F(RedisStore, AuthenticatesWithThePassword) {
    ASSERT_TRUE(redis_.start(dir_, 0, {"--requirepass", "s3cret-for-test"})) << redis_.log();
    auto s = plain(redis_.port());
    auto without = store(s);
    auto r = run(io_, without->reserve({{"k", 5, 60}}, 1));
    EXPECT_TRUE(r.error) << "a store without the password was served";
    s.password = "s3cret-for-test";
    auto with = store(s);
    r = run(io_, with->reserve({{"k", 5, 60}}, 1));
    EXPECT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.granted, 1u);
    s.database = 3;
    auto db3 = store(s);
    EXPECT_EQ(run(io_, db3->reserve({{"k", 5, 60}}, 1)).granted, 1u);
    EXPECT_EQ(run(io_, with->read({"k"})).values.at(0), 1u) << "database 3 counts apart";
}

TEST_F(RedisStore, SpeaksTlsWithTheOperatorsCaOnly) {
    auto certs = mint_certs(dir_);
    ASSERT_TRUE(certs.has_value());
    const std::uint16_t port = unused_port();
    ASSERT_TRUE(redis_.start(dir_, unused_port(),
                             {"--tls-port", std::to_string(port), "--tls-cert-file",
                              certs->file("server.crt"), "--tls-key-file",
                              certs->file("server.key"), "--tls-ca-cert-file",
                              certs->file("ca.crt"), "--tls-auth-clients", "no"}))
        << redis_.log();
    auto s = plain(port);
    s.tls = true;
    s.ca_file = certs->file("ca.crt");
    auto good = store(s);
    auto r = run(io_, good->reserve({{"t", 5, 60}}, 2));
    EXPECT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.granted, 2u);
    EXPECT_EQ(good->describe().rfind("rediss://", 0), 0u);
    s.ca_file = certs->file("other-ca.crt");
    auto wrong = store(s);
    EXPECT_TRUE(run(io_, wrong->reserve({{"t", 5, 60}}, 1)).error)
        << "a server the operator's CA did not sign was trusted";
}

TEST_F(RedisStore, ASilentServerTimesOutAndAMissingOneFails) {
    // A listener that accepts and never answers.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd, 8), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    auto s = plain(ntohs(addr.sin_port));
    s.timeout = std::chrono::milliseconds(200);
    auto silent = store(s);
    const auto start = std::chrono::steady_clock::now();
    auto r = run(io_, silent->reserve({{"k", 5, 60}}, 1));
    EXPECT_TRUE(r.error);
    EXPECT_EQ(r.granted, 0u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    ::close(fd);

    auto gone = store(plain(unused_port()));
    r = run(io_, gone->reserve({{"k", 5, 60}}, 1));
    EXPECT_TRUE(r.error);
    EXPECT_EQ(r.granted, 0u);
}

}  // namespace
}  // namespace exportwall::itest
