// Back-pressure end to end: a client that stops reading makes the upstream's writes stall,
// observed at the fake CRM (its completed-write counter), not inferred from time.

#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

class BackPressure : public proxy_fixture {};

constexpr std::uint64_t body_size = 256ull << 20;
// Kernel socket buffers on loopback (client, proxy both sides, CRM) plus the relay buffers hold
// a few MiB at most; a proxy that buffers the body would let the CRM write all of it.
constexpr std::uint64_t stall_bound = 64ull << 20;

void run_stall_then_resume(exportwall_server& proxy, fake_crm& crm, const std::string& framing) {
    http_connection c;
    c.set_receive_buffer(64 * 1024);
    ASSERT_TRUE(c.connect(proxy.port()));
    ASSERT_TRUE(c.send(get_request("/api/gen?bytes=" + std::to_string(body_size) +
                                   "&probe=bp&chunk=65536" + framing)));

    // The client holds off. Wait until the CRM's current write has been pending for a while:
    // its writes stalled because nobody drains the pipe.
    probe_state stalled;
    const bool saw_stall = poll_until([&] {
        auto s = crm_requests(crm.port());
        if (!s) return false;
        auto p = s->probe("bp");
        if (!p || !p->write_pending || p->pending_ms < 300) return false;
        stalled = *p;
        return true;
    });
    ASSERT_TRUE(saw_stall) << "the upstream's writes never stalled while the client held off";
    EXPECT_LT(stalled.written, stall_bound)
        << "the proxy let the upstream write " << stalled.written << " bytes ahead of the client";
    EXPECT_FALSE(stalled.done);
    std::cout << "upstream bytes written while the client held off: " << stalled.written << "\n";

    // The client resumes: everything arrives, verified byte for byte, and the CRM finishes.
    std::uint64_t offset = 0;
    bool intact = true;
    const response r = c.read_response(false, [&](std::string_view piece) {
        if (intact && !matches_pattern(piece, offset)) intact = false;
        offset += piece.size();
    });
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.body_bytes, body_size);
    EXPECT_TRUE(intact);
    const bool finished = poll_until([&] {
        auto s = crm_requests(crm.port());
        auto p = s ? s->probe("bp") : std::nullopt;
        return p && p->done;
    });
    EXPECT_TRUE(finished);
}

TEST_F(BackPressure, StalledClientStallsUpstreamContentLength) {
    ASSERT_TRUE(start_proxy());
    run_stall_then_resume(proxy_, crm_, "");
}

TEST_F(BackPressure, StalledClientStallsUpstreamChunked) {
    ASSERT_TRUE(start_proxy());
    run_stall_then_resume(proxy_, crm_, "&chunked=1");
}

}  // namespace
}  // namespace exportwall::itest
