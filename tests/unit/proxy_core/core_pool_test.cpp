#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "proxy/upstream_pool.hpp"

namespace exportwall::proxy {
namespace {

// A connected pair of sockets on loopback (port 0).
struct socket_pair {
    explicit socket_pair(net::io_context& ioc) : near(ioc), far(ioc) {
        tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        near.connect(acceptor.local_endpoint());
        acceptor.accept(far);
    }
    tcp::socket near;
    tcp::socket far;
};

TEST(UpstreamPool, ReusesAnOpenIdleConnection) {
    net::io_context ioc;
    socket_pair p(ioc);
    upstream_pool pool(4);
    pool.release("k", std::make_unique<byte_stream>(std::move(p.near)));
    EXPECT_EQ(pool.idle("k"), 1u);
    auto c = pool.acquire("k");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(pool.idle("k"), 0u);
    EXPECT_EQ(pool.acquire("other"), nullptr);
}

TEST(UpstreamPool, DropsAConnectionThePeerClosed) {
    net::io_context ioc;
    socket_pair p(ioc);
    upstream_pool pool(4);
    p.far.close();
    p.near.wait(tcp::socket::wait_read);  // the FIN has arrived
    pool.release("k", std::make_unique<byte_stream>(std::move(p.near)));
    EXPECT_EQ(pool.acquire("k"), nullptr);
    EXPECT_EQ(pool.idle("k"), 0u);
}

TEST(UpstreamPool, DropsAConnectionWithUnsolicitedBytes) {
    net::io_context ioc;
    socket_pair p(ioc);
    upstream_pool pool(4);
    net::write(p.far, net::buffer("HTTP/1.1 200 OK\r\n", 17));
    p.near.wait(tcp::socket::wait_read);
    pool.release("k", std::make_unique<byte_stream>(std::move(p.near)));
    EXPECT_EQ(pool.acquire("k"), nullptr);
}

TEST(UpstreamPool, KeepsAtMostTheConfiguredIdleConnections) {
    net::io_context ioc;
    socket_pair a(ioc);
    socket_pair b(ioc);
    socket_pair c(ioc);
    upstream_pool pool(2);
    pool.release("k", std::make_unique<byte_stream>(std::move(a.near)));
    pool.release("k", std::make_unique<byte_stream>(std::move(b.near)));
    pool.release("k", std::make_unique<byte_stream>(std::move(c.near)));
    EXPECT_EQ(pool.idle("k"), 2u);
    pool.clear();
    EXPECT_EQ(pool.idle("k"), 0u);
}

TEST(UpstreamPool, KeyTellsOriginsAndTrustAnchorsApart) {
    config::upstream u;
    u.scheme = "https";
    u.host = "crm";
    u.port = 443;
    auto k1 = pool_key(u);
    u.ca_file = "other.pem";
    EXPECT_NE(pool_key(u), k1);
    u.ca_file.clear();
    u.port = 8443;
    EXPECT_NE(pool_key(u), k1);
}

TEST(UpstreamPool, ReadinessFollowsTheLastConnectOutcome) {
    upstream_pool pool(1);
    EXPECT_TRUE(pool.reachable("k"));
    pool.note_reachable("k", false);
    EXPECT_FALSE(pool.reachable("k"));
    pool.note_reachable("k", true);
    EXPECT_TRUE(pool.reachable("k"));
}

}  // namespace
}  // namespace exportwall::proxy
