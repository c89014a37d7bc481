// Timeouts and limits, each configured small (configuration values, not sleeps): the documented
// status, a clean close, and nothing forwarded that should not be.

#include <gtest/gtest.h>

#include <string>

#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

class Limits : public proxy_fixture {};

TEST_F(Limits, IncompleteRequestHeadGets408) {
    proxy_options o;
    o.limits = R"(request-head="200ms")";
    ASSERT_TRUE(start_proxy(o));
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    ASSERT_TRUE(c.send("GET /api/fixed HTTP/1.1\r\nHost: local"));
    const response r = c.read_response();
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 408u);
    EXPECT_TRUE(c.peer_closed());
    EXPECT_TRUE(seen().requests.empty());
}

TEST_F(Limits, ABodyTrickledPastTheRequestDeadlineGets408) {
    // The idle limit alone would wait ten seconds per byte: the total deadline ends it.
    proxy_options o;
    o.methods = "GET POST";
    o.limits = R"(request-deadline="400ms" request-body-idle="10s")";
    ASSERT_TRUE(start_proxy(o));
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    ASSERT_TRUE(c.send("POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n" +
                       std::string(10, 'x')));
    const response r = c.read_response();
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 408u);
    EXPECT_TRUE(c.peer_closed());
}

TEST_F(Limits, AChunkExtensionThatNeverEndsIsRefusedBeforeItFillsMemory) {
    // Beast bounds neither a chunk extension nor a trailer: the read buffer is capped while a
    // body is read, so an extension sent at line rate gets 400, not gigabytes of buffer.
    proxy_options o;
    o.methods = "GET POST";
    o.limits = R"(max-head-bytes="4KiB")";
    ASSERT_TRUE(start_proxy(o));
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    (void)c.send("POST /api/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "1;ext=" + std::string(300 * 1024, 'a'));
    const response r = c.read_response();
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 400u);
}

TEST_F(Limits, OversizedHeadGets431) {
    proxy_options o;
    o.limits = R"(max-head-bytes="4KiB")";
    ASSERT_TRUE(start_proxy(o));
    const response r = fetch(
        proxy_.port(), get_request("/api/fixed", "X-Big: " + std::string(8000, 'a') + "\r\n"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 431u);
    EXPECT_TRUE(seen().requests.empty());
}

TEST_F(Limits, OversizedRequestBodyGets413BeforeAnythingIsForwarded) {
    proxy_options o;
    o.limits = R"(max-request-body-bytes="1KiB")";
    ASSERT_TRUE(start_proxy(o));
    const std::string req =
        "POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n" +
        std::string(5000, 'x');
    const response r = fetch(proxy_.port(), req);
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 413u);
    EXPECT_TRUE(seen().requests.empty());
}

TEST_F(Limits, UpstreamIdleBetweenBodyReadsAbortsTheExport) {
    proxy_options o;
    o.limits = R"(upstream-idle="300ms")";
    ASSERT_TRUE(start_proxy(o));
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    // The CRM sends one chunk and then waits for a release that never comes.
    ASSERT_TRUE(c.send(get_request("/api/slow?id=never&chunks=3&size=1000")));
    const response r = c.read_response();
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_FALSE(r.complete) << "an export stalled upstream must be cut, not completed";
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.body_bytes, 1000u);
}

}  // namespace
}  // namespace exportwall::itest
