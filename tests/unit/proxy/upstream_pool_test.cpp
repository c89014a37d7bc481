#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
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

// A TLS connection over a socket pair, both ends in this process: the server end has a
// throwaway self-signed certificate, the client end does not verify it.
struct tls_socket_pair {
    explicit tls_socket_pair(net::io_context& ioc) : sockets(ioc) {
        EVP_PKEY* key = EVP_EC_gen("P-256");
        X509* cert = X509_new();
        X509_set_version(cert, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), 0);
        X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
        X509_set_pubkey(cert, key);
        X509_NAME* name = X509_get_subject_name(cert);
        const std::array<unsigned char, 10> cn{'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0};
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn.data(), -1, -1, 0);
        X509_set_issuer_name(cert, name);
        X509_sign(cert, key, EVP_sha256());
        SSL_CTX_use_certificate(server_ctx.native_handle(), cert);
        SSL_CTX_use_PrivateKey(server_ctx.native_handle(), key);
        X509_free(cert);
        EVP_PKEY_free(key);
        client_ctx.set_verify_mode(net::ssl::verify_none);
        near = std::make_unique<byte_stream>(std::move(sockets.near), client_ctx);
        far = std::make_unique<net::ssl::stream<tcp::socket>>(std::move(sockets.far), server_ctx);
        near->tls()->async_handshake(net::ssl::stream_base::client,
                                     [this](const boost::system::error_code& ec) { near_ec = ec; });
        far->async_handshake(net::ssl::stream_base::server,
                             [this](const boost::system::error_code& ec) { far_ec = ec; });
        ioc.run();
    }
    socket_pair sockets;
    net::ssl::context server_ctx{net::ssl::context::tls_server};
    net::ssl::context client_ctx{net::ssl::context::tls_client};
    std::unique_ptr<byte_stream> near;
    std::unique_ptr<net::ssl::stream<tcp::socket>> far;
    boost::system::error_code near_ec;
    boost::system::error_code far_ec;
};

// The CRM's 6-byte answer over `t`, read by the client end; with `stray`, a further record of the
// CRM's own follows it unasked.
void read_answer(tls_socket_pair& t, bool stray) {
    ASSERT_FALSE(t.near_ec) << t.near_ec.message();
    ASSERT_FALSE(t.far_ec) << t.far_ec.message();
    net::write(*t.far, net::buffer("answer", 6));
    if (stray) net::write(*t.far, net::buffer("stray!", 6));
    std::array<char, 6> got{};
    ASSERT_EQ(net::read(*t.near->tls(), net::buffer(got)), 6u);
    ASSERT_EQ(std::string(got.data(), got.size()), "answer");
}

// A stray record waits inside the TLS layer, where the socket probe cannot see it. Reused, the
// connection would hand those bytes to the next export as its answer.
TEST(UpstreamPool, ReusesATlsConnectionOnlyWhenItsTlsLayerHoldsNothingUnread) {
    for (const bool stray : {false, true}) {
        net::io_context ioc;
        tls_socket_pair t(ioc);
        read_answer(t, stray);
        upstream_pool pool(4);
        pool.release("k", std::move(t.near));
        EXPECT_EQ(pool.acquire("k") != nullptr, !stray) << (stray ? "a stray record" : "nothing");
    }
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
