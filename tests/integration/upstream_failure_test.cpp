// Upstream failures: death or misframing mid-body aborts the client's response (never completes
// it) and the upstream connection is not reused; refused → 502 upstream_unavailable; no head in
// time → 504 upstream_timeout.

#include <gtest/gtest.h>

#include <string>

#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

class UpstreamFailure : public proxy_fixture {};

// One client request whose upstream response breaks; the client must see an incomplete response
// and a closed connection, and the next request must be served on a fresh upstream connection.
void expect_aborted_then_recovered(exportwall_server& proxy, fake_crm& crm,
                                   const std::string& target) {
    http_connection c;
    ASSERT_TRUE(c.connect(proxy.port()));
    // Warm the pool: this request's upstream connection is the one the broken response uses.
    ASSERT_TRUE(c.send(get_request("/api/fixed")));
    const response warm = c.read_response();
    ASSERT_TRUE(warm.received);
    ASSERT_TRUE(warm.complete);

    ASSERT_TRUE(c.send(get_request(target)));
    const response broken = c.read_response();
    if (broken.received) {
        EXPECT_EQ(broken.status, 200u) << "the head had already been relayed";
        EXPECT_FALSE(broken.complete) << "a cut body must not look complete";
        EXPECT_TRUE(broken.closed) << "the client connection must be closed after an abort";
        EXPECT_GT(broken.body_bytes, 0u) << "the body had started before the fault";
    } else {
        ADD_FAILURE() << "no response head at all: the upstream head was sent before the fault";
    }

    const response next = fetch(proxy.port(), get_request("/api/fixed"));
    ASSERT_TRUE(next.received);
    EXPECT_EQ(next.status, 200u);
    EXPECT_TRUE(next.complete);

    auto s = crm_requests(crm.port());
    ASSERT_TRUE(s.has_value());
    ASSERT_EQ(s->requests.size(), 3u);
    EXPECT_EQ(s->requests[0].connection, s->requests[1].connection)
        << "the broken response should have come over the pooled connection";
    EXPECT_NE(s->requests[2].connection, s->requests[1].connection)
        << "a connection that broke mid-body must never be reused";
}

TEST_F(UpstreamFailure, ShortContentLengthAbortsTheClientResponse) {
    ASSERT_TRUE(start_proxy());
    expect_aborted_then_recovered(proxy_, crm_, "/api/misframed?kind=short_cl");
}

TEST_F(UpstreamFailure, CloseMidChunkedBodyAbortsTheClientResponse) {
    ASSERT_TRUE(start_proxy());
    expect_aborted_then_recovered(proxy_, crm_, "/api/misframed?kind=close_mid");
}

TEST_F(UpstreamFailure, BadChunkSizeAbortsTheClientResponse) {
    ASSERT_TRUE(start_proxy());
    expect_aborted_then_recovered(proxy_, crm_, "/api/misframed?kind=bad_chunk");
}

TEST_F(UpstreamFailure, ChunkedAbortHasNoTerminatingChunk) {
    ASSERT_TRUE(start_proxy());
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    ASSERT_TRUE(c.send(get_request("/api/misframed?kind=close_mid&bytes=50000")));
    const response r = c.read_response();
    ASSERT_TRUE(r.received);
    EXPECT_TRUE(r.chunked);
    EXPECT_FALSE(r.complete);
    EXPECT_TRUE(r.closed);
    EXPECT_LE(r.body_bytes, 50000u);
}

// A chunk extension or a trailer that never ends is refused once it outgrows a response head
// (max-upstream-head-bytes, 64 KiB by default): Beast bounds neither, and the read buffer grew
// with each read until the CRM stopped sending.
TEST_F(UpstreamFailure, EndlessChunkExtensionOrTrailerIsRefusedAsMalformed) {
    ASSERT_TRUE(start_proxy());
    for (const char* kind : {"long_ext", "long_trailer"}) {
        http_connection c;
        ASSERT_TRUE(c.connect(proxy_.port()));
        ASSERT_TRUE(c.send(get_request(std::string("/api/misframed?kind=") + kind)));
        const response r = c.read_response();
        ASSERT_TRUE(r.received) << kind;
        EXPECT_FALSE(r.complete) << kind;
        EXPECT_TRUE(r.closed) << kind;
    }
    const response m = fetch(proxy_.admin_port(), get_request("/metrics"));
    ASSERT_TRUE(m.received);
    EXPECT_NE(m.body.find("exportwall_upstream_errors_total{kind=\"malformed\"} 2"),
              std::string::npos)
        << m.body;
    EXPECT_EQ(m.body.find("exportwall_upstream_errors_total{kind=\"reset\"}"), std::string::npos)
        << "refused while the CRM was still sending, not at its close: " << m.body;
}

TEST_F(UpstreamFailure, RefusedUpstreamGives502UpstreamUnavailable) {
    proxy_options o;
    o.upstream_url = "http://127.0.0.1:" + std::to_string(unused_port());
    ASSERT_TRUE(start_proxy(o));
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 502u);
    EXPECT_EQ(r.header("Content-Type").value_or(""), "application/problem+json");
    EXPECT_NE(r.body.find("\"upstream_unavailable\""), std::string::npos) << r.body;
    EXPECT_TRUE(r.complete);
}

TEST_F(UpstreamFailure, UpstreamDroppingTheConnectionGives502) {
    ASSERT_TRUE(start_proxy());
    const response r = fetch(proxy_.port(), get_request("/api/drop"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status / 100, 5u);
    EXPECT_EQ(r.header("Content-Type").value_or(""), "application/problem+json");
}

TEST_F(UpstreamFailure, NoResponseHeadInTimeGives504UpstreamTimeout) {
    proxy_options o;
    o.limits = R"(upstream-response-head="200ms")";  // a configuration value, not a sleep
    ASSERT_TRUE(start_proxy(o));
    const response r = fetch(proxy_.port(), get_request("/api/hang"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 504u);
    EXPECT_EQ(r.header("Content-Type").value_or(""), "application/problem+json");
    EXPECT_NE(r.body.find("\"upstream_timeout\""), std::string::npos) << r.body;
    // The timed-out connection is not reused: the next request works on a fresh one.
    const response next = fetch(proxy_.port(), get_request("/api/fixed"));
    ASSERT_TRUE(next.received);
    EXPECT_EQ(next.status, 200u);
    auto s = crm_requests(crm_.port());
    ASSERT_TRUE(s.has_value());
    ASSERT_EQ(s->requests.size(), 2u);
    EXPECT_NE(s->requests[0].connection, s->requests[1].connection);
}

TEST_F(UpstreamFailure, UpstreamErrorsAreCountedInMetrics) {
    proxy_options o;
    o.upstream_url = "http://127.0.0.1:" + std::to_string(unused_port());
    ASSERT_TRUE(start_proxy(o));
    ASSERT_TRUE(fetch(proxy_.port(), get_request("/api/fixed")).received);
    ASSERT_NE(proxy_.admin_port(), 0);
    const response m = fetch(proxy_.admin_port(), get_request("/metrics"));
    ASSERT_TRUE(m.received);
    EXPECT_NE(m.body.find("exportwall_upstream_errors_total{kind=\"connect\"} 1"),
              std::string::npos)
        << m.body;
}

}  // namespace
}  // namespace exportwall::itest
