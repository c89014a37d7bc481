// Pass-through: fixed and generated bodies in both framings, keep-alive reuse of the upstream
// connection, pipelined requests answered in order, hop-by-hop and credential headers stripped,
// unmatched routes never forwarded.

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tests/fake_crm/generated_body.hpp"
#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

class Passthrough : public proxy_fixture {};

TEST_F(Passthrough, RelaysFixedBodyWithContentLength) {
    ASSERT_TRUE(start_proxy());
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.body, exportwall::test::fixed_body);
    EXPECT_FALSE(r.chunked);
    EXPECT_EQ(r.header("Content-Length").value_or(""),
              std::to_string(exportwall::test::fixed_body.size()));
}

TEST_F(Passthrough, RelaysFixedBodyChunked) {
    ASSERT_TRUE(start_proxy());
    const response r = fetch(proxy_.port(), get_request("/api/fixed?chunked=1"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.body, exportwall::test::fixed_body);
}

TEST_F(Passthrough, RelaysGeneratedBodiesInBothFramings) {
    ASSERT_TRUE(start_proxy());
    const std::uint64_t size = (3u << 20) + 17;  // several relay buffers, not a multiple of any
    for (const char* chunked : {"0", "1"}) {
        SCOPED_TRACE(std::string("chunked=") + chunked);
        const response r =
            fetch(proxy_.port(), get_request("/api/gen?bytes=" + std::to_string(size) +
                                             "&chunked=" + chunked + "&chunk=5000"));
        ASSERT_TRUE(r.received);
        EXPECT_EQ(r.status, 200u);
        EXPECT_TRUE(r.complete);
        EXPECT_EQ(r.body.size(), size);
        EXPECT_TRUE(matches_pattern(r.body));
    }
}

TEST_F(Passthrough, ReusesOneUpstreamConnectionForKeepAliveRequests) {
    ASSERT_TRUE(start_proxy());
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    for (int i = 0; i < 4; ++i) {
        ASSERT_TRUE(c.send(get_request("/api/gen?bytes=1000&n=" + std::to_string(i))));
        const response r = c.read_response();
        ASSERT_TRUE(r.received) << "request " << i;
        EXPECT_EQ(r.status, 200u);
        EXPECT_TRUE(r.complete);
        EXPECT_TRUE(matches_pattern(r.body));
    }
    const crm_seen s = seen();
    ASSERT_EQ(s.requests.size(), 4u);
    std::set<std::uint64_t> connections;
    for (const auto& req : s.requests) connections.insert(req.connection);
    EXPECT_EQ(connections.size(), 1u) << "each keep-alive request should reuse the pooled "
                                         "upstream connection";
}

TEST_F(Passthrough, AnswersPipelinedRequestsInOrder) {
    ASSERT_TRUE(start_proxy());
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    // Three requests in one write; the first response is the largest, so an out-of-order relay
    // would show.
    const std::string batch = get_request("/api/gen?bytes=300000&chunked=1") +
                              get_request("/api/fixed") + get_request("/api/gen?bytes=10");
    ASSERT_TRUE(c.send(batch));
    const response a = c.read_response();
    const response b = c.read_response();
    const response d = c.read_response();
    ASSERT_TRUE(a.received && b.received && d.received);
    EXPECT_EQ(a.body.size(), 300000u);
    EXPECT_TRUE(matches_pattern(a.body));
    EXPECT_EQ(b.body, exportwall::test::fixed_body);
    EXPECT_EQ(d.body.size(), 10u);
    EXPECT_TRUE(matches_pattern(d.body));
    const crm_seen s = seen();
    ASSERT_EQ(s.requests.size(), 3u);
    EXPECT_EQ(s.requests[0].target, "/api/gen?bytes=300000&chunked=1");
    EXPECT_EQ(s.requests[1].target, "/api/fixed");
    EXPECT_EQ(s.requests[2].target, "/api/gen?bytes=10");
}

TEST_F(Passthrough, StripsHopByHopAndClientCredentialHeaders) {
    ASSERT_TRUE(start_proxy());
    const response r =
        fetch(proxy_.port(), get_request("/api/fixed",
                                         "Authorization: Bearer client-secret\r\n"
                                         "Cookie: session=1\r\n"
                                         "Connection: keep-alive, X-Hop\r\n"
                                         "X-Hop: 1\r\n"
                                         "Keep-Alive: timeout=5\r\n"
                                         "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
                                         "X-Export-Purpose: invoicing\r\n"
                                         "X-Export-Destination: billing\r\n"
                                         "X-Request-Id: itest-request-1\r\n"
                                         "X-Kept: yes\r\n"
                                         "Accept-Language: nl-BE\r\n"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    const crm_seen s = seen();
    ASSERT_EQ(s.requests.size(), 1u);
    const seen_request& q = s.requests[0];
    for (const char* stripped :
         {"Authorization", "Cookie", "X-Hop", "Keep-Alive", "Proxy-Authorization",
          "X-Export-Purpose", "X-Export-Destination",
          // Not on the request allow-list (proxy/forward.hpp): dropped.
          "X-Kept"}) {
        EXPECT_EQ(q.count(stripped), 0u) << stripped << " reached the CRM";
    }
    EXPECT_EQ(q.header("Accept-Language").value_or(""), "nl-BE");
    EXPECT_EQ(q.header("X-Request-Id").value_or(""), "itest-request-1");
    EXPECT_EQ(q.header("Host").value_or(""), "127.0.0.1:" + std::to_string(crm_.port()));
    EXPECT_EQ(q.header("Accept-Encoding").value_or(""), "identity");
    EXPECT_TRUE(q.header("X-Forwarded-For").has_value());
    EXPECT_TRUE(q.header("Forwarded").has_value());
}

TEST_F(Passthrough, GeneratesRequestIdWhenAbsent) {
    ASSERT_TRUE(start_proxy());
    ASSERT_TRUE(fetch(proxy_.port(), get_request("/api/fixed")).received);
    const crm_seen s = seen();
    ASSERT_EQ(s.requests.size(), 1u);
    EXPECT_FALSE(s.requests[0].header("X-Request-Id").value_or("").empty());
}

TEST_F(Passthrough, UnmatchedRouteIsRefusedAndNeverForwarded) {
    ASSERT_TRUE(start_proxy());
    const response r = fetch(proxy_.port(), get_request("/elsewhere/fixed"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(r.header("Content-Type").value_or(""), "application/problem+json");
    EXPECT_NE(r.body.find("route_not_found"), std::string::npos);
    EXPECT_TRUE(seen().requests.empty());
}

TEST_F(Passthrough, DisallowedMethodIsRefusedAndNeverForwarded) {
    ASSERT_TRUE(start_proxy());
    const response r =
        fetch(proxy_.port(), "DELETE /api/fixed HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 405u);
    EXPECT_NE(r.body.find("method_not_allowed"), std::string::npos);
    EXPECT_TRUE(seen().requests.empty());
}

TEST_F(Passthrough, StreamsRequestBodyToUpstream) {
    ASSERT_TRUE(start_proxy());
    std::string body(200000, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = exportwall::test::generated_byte(i);
    const std::string cl = "POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body;
    response r = fetch(proxy_.port(), cl);
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, body);

    std::string chunked =
        "POST /api/echo HTTP/1.1\r\nHost: localhost\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    for (std::size_t at = 0; at < body.size(); at += 70000) {
        const std::size_t n = std::min<std::size_t>(70000, body.size() - at);
        char size_line[32];
        std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
        chunked += size_line + body.substr(at, n) + "\r\n";
    }
    chunked += "0\r\n\r\n";
    r = fetch(proxy_.port(), chunked);
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, body);
    const crm_seen s = seen();
    ASSERT_EQ(s.requests.size(), 2u);
    EXPECT_EQ(s.requests[0].body_bytes, body.size());
    EXPECT_EQ(s.requests[1].body_bytes, body.size());
}

}  // namespace
}  // namespace exportwall::itest
