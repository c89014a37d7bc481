// Streaming (label `slow`): a 2 GiB response passes while exportwall's resident memory stays
// under 64 MiB — memory is bounded by the relay buffers, never by the body.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

class Streaming : public proxy_fixture {};

constexpr std::uint64_t body_size = 2ull << 30;
constexpr std::uint64_t rss_limit_kib = 64 * 1024;

void stream_and_watch_rss(exportwall_server& proxy, const std::string& framing) {
    http_connection c;
    ASSERT_TRUE(c.connect(proxy.port()));
    ASSERT_TRUE(c.send(
        get_request("/api/gen?bytes=" + std::to_string(body_size) + "&chunk=65536" + framing)));
    std::uint64_t offset = 0;
    std::uint64_t next_check = 0;
    std::uint64_t max_rss = 0;
    bool intact = true;
    const response r = c.read_response(false, [&](std::string_view piece) {
        if (intact && !matches_pattern(piece, offset)) intact = false;
        offset += piece.size();
        if (offset >= next_check) {
            max_rss = std::max(max_rss, rss_kib(proxy.process().pid()));
            next_check = offset + (32u << 20);
        }
    });
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.body_bytes, body_size);
    EXPECT_TRUE(intact);
    EXPECT_GT(max_rss, 0u) << "could not read VmRSS";
    EXPECT_LT(max_rss, rss_limit_kib) << "exportwall's RSS reached " << max_rss << " KiB";
    ::testing::Test::RecordProperty("max_rss_kib", std::to_string(max_rss));
}

TEST_F(Streaming, TwoGibibyteContentLengthBodyInBoundedMemory) {
    ASSERT_TRUE(start_proxy());
    stream_and_watch_rss(proxy_, "");
}

TEST_F(Streaming, TwoGibibyteChunkedBodyInBoundedMemory) {
    ASSERT_TRUE(start_proxy());
    stream_and_watch_rss(proxy_, "&chunked=1");
}

}  // namespace
}  // namespace exportwall::itest
