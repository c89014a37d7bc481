// Signals as operators send them (issue 19, items 1 and 2): a SIGTERM drain that keeps serving
// while /readyz fails for drain-delay, an export still running when shutdown-grace is over that is
// aborted *and audited* (reason `shutdown`) before the process exits 0, SIGUSR1 reopening the
// access log after logrotate renamed it, and the signals sent by mistake (SIGUSR2, SIGALRM,
// SIGPIPE) that stop nothing.

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "tests/fake_crm/generated_body.hpp"
#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

// The first line of `path` that contains `needle`; empty when none does (or no file).
std::string line_with(const std::string& path, const std::string& needle) {
    auto text = read_file(path);
    if (!text) return {};
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line))
        if (line.find(needle) != std::string::npos) return line;
    return {};
}

// A string member of the JSON object on `line`; empty when absent or not an object.
std::string member(const std::string& line, std::string_view key) {
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    if (ec || !v.is_object()) return {};
    const auto* m = v.as_object().if_contains(key);
    if (m == nullptr || !m->is_string()) return {};
    return std::string(m->as_string());
}

// Whether signal `sig` is ignored (SIG_IGN) by process `pid`: bit sig-1 of SigIgn in
// /proc/<pid>/status.
bool ignores(pid_t pid, int sig) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("SigIgn:", 0) != 0) continue;
        const unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
        return ((mask >> (sig - 1)) & 1u) != 0;
    }
    return false;
}

class Signals : public proxy_fixture {
  protected:
    response admin_get(std::string_view target) {
        return fetch(proxy_.admin_port(), get_request(target));
    }
    // Polls the operational log until it contains `needle`.
    bool log_shows(const std::string& needle) {
        return poll_until([&] { return proxy_.log().find(needle) != std::string::npos; });
    }
};

TEST_F(Signals, ExportStillRunningAtGraceEndIsAbortedAuditedAndLogged) {
    proxy_options o;
    o.limits = R"(shutdown-grace="300ms")";
    ASSERT_TRUE(start_proxy(o));
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    ASSERT_TRUE(c.send(get_request("/api/slow?id=cut&chunks=3&size=1000")));
    // SIGTERM once the first chunk has reached the client: the export is in flight (its further
    // chunks never come) and has delivered something.
    std::uint64_t got = 0;
    const response r = c.read_response(false, [&](std::string_view piece) {
        if (got == 0) proxy_.process().signal(SIGTERM);
        got += piece.size();
    });
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.chunked);
    EXPECT_FALSE(r.complete) << "the cut export ended with its terminating chunk";
    EXPECT_EQ(got, 1000u) << "the first chunk, and nothing after it";
    const std::string audit_id = r.header("X-Export-Audit-Id").value_or("");
    ASSERT_FALSE(audit_id.empty()) << "no X-Export-Audit-Id on the response";

    const auto status = proxy_.process().wait_exit(20s);
    ASSERT_TRUE(status.has_value()) << "did not exit after the grace";
    EXPECT_EQ(*status, 0);

    // Everything is stored before the process exits: no poll needed.
    const std::string record = line_with(dir_.file("audit.jsonl"), "\"id\":\"" + audit_id + "\"");
    ASSERT_FALSE(record.empty()) << "no audit record for the cut export " << audit_id;
    EXPECT_EQ(member(record, "decision"), "aborted") << record;
    EXPECT_EQ(member(record, "reason"), "shutdown") << record;
    const std::string access =
        line_with(dir_.file("access.log"), "\"audit_id\":\"" + audit_id + "\"");
    ASSERT_FALSE(access.empty()) << "no access-log line for the cut export";
    EXPECT_EQ(member(access, "outcome"), "aborted") << access;
    EXPECT_EQ(member(access, "reason"), "shutdown") << access;
    EXPECT_NE(proxy_.log().find("reason shutdown"), std::string::npos);
}

TEST_F(Signals, ExportCutBeforeItsAnswerBeganIsAuditedToo) {
    proxy_options o;
    o.limits = R"(shutdown-grace="300ms")";
    ASSERT_TRUE(start_proxy(o));
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    // The CRM reads the request and never answers: the export waits for its response head.
    ASSERT_TRUE(c.send(get_request("/api/hang", "X-Request-Id: cut-before-head\r\n")));
    ASSERT_TRUE(poll_until([&] {
        auto s = crm_requests(crm_.port());
        return s && s->requests.size() == 1;
    }));
    proxy_.process().signal(SIGTERM);
    const response r = c.read_response();
    EXPECT_FALSE(r.received) << "an answer was written after the cut: " << r.status;
    const auto status = proxy_.process().wait_exit(20s);
    ASSERT_TRUE(status.has_value()) << "did not exit after the grace";
    EXPECT_EQ(*status, 0);

    const std::string access = line_with(dir_.file("access.log"), "cut-before-head");
    ASSERT_FALSE(access.empty()) << "no access-log line for the cut export";
    EXPECT_EQ(member(access, "outcome"), "aborted") << access;
    EXPECT_EQ(member(access, "reason"), "shutdown") << access;
    const std::string audit_id = member(access, "audit_id");
    ASSERT_FALSE(audit_id.empty()) << access;
    const std::string record = line_with(dir_.file("audit.jsonl"), "\"id\":\"" + audit_id + "\"");
    ASSERT_FALSE(record.empty()) << "no audit record for the cut export " << audit_id;
    EXPECT_EQ(member(record, "decision"), "aborted") << record;
    EXPECT_EQ(member(record, "reason"), "shutdown") << record;
    // The CRM's silence was the cut's doing, not a CRM failure.
    EXPECT_EQ(proxy_.log().find("upstream_malformed"), std::string::npos);
}

TEST_F(Signals, DrainDelayKeepsServingWhileReadyzFailsThenStopsAccepting) {
    proxy_options o;
    o.limits = R"(drain-delay="3s" shutdown-grace="5s")";
    ASSERT_TRUE(start_proxy(o));
    ASSERT_EQ(admin_get("/readyz").status, 200u);
    proxy_.process().signal(SIGTERM);
    EXPECT_TRUE(poll_until([&] { return admin_get("/readyz").status == 503u; }, 10s))
        << "/readyz did not fail after SIGTERM";
    // Within the delay a new connection is still accepted and served; its answer closes the
    // connection, so a keep-alive client reconnects through the load balancer.
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    ASSERT_TRUE(r.received) << "a new connection was not served during the drain delay";
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, exportwall::test::fixed_body);
    EXPECT_EQ(r.header("Connection").value_or(""), "close");
    // After the delay the listener closes.
    EXPECT_TRUE(poll_until(
        [&] {
            http_connection probe;
            return !probe.connect(proxy_.port());
        },
        20s))
        << "still accepting after the drain delay";
    const auto status = proxy_.process().wait_exit(20s);
    ASSERT_TRUE(status.has_value()) << "did not exit after the drain";
    EXPECT_EQ(*status, 0);
}

TEST_F(Signals, SigusrOneReopensTheAccessLogAfterItWasRenamed) {
    ASSERT_TRUE(start_proxy());
    const std::string log = dir_.file("access.log");
    const std::string rotated = dir_.file("access.log.1");
    ASSERT_EQ(
        fetch(proxy_.port(), get_request("/api/fixed", "X-Request-Id: before-rotation\r\n")).status,
        200u);
    ASSERT_TRUE(poll_until([&] { return !line_with(log, "before-rotation").empty(); }));
    ASSERT_EQ(std::rename(log.c_str(), rotated.c_str()), 0);
    proxy_.process().signal(SIGUSR1);
    // The reopen creates the file at the configured path.
    ASSERT_TRUE(poll_until([&] { return read_file(log).has_value(); }))
        << "no new access log after SIGUSR1";
    EXPECT_TRUE(proxy_.process().running());
    const response r =
        fetch(proxy_.port(), get_request("/api/fixed", "X-Request-Id: after-rotation\r\n"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(poll_until([&] { return !line_with(log, "after-rotation").empty(); }))
        << "the request after SIGUSR1 is not in the new access log";
    EXPECT_TRUE(line_with(rotated, "after-rotation").empty())
        << "the request after SIGUSR1 went to the renamed file";
    EXPECT_FALSE(line_with(rotated, "before-rotation").empty());
}

TEST_F(Signals, SigusrTwoAndSigalrmAreLoggedAndIgnored) {
    ASSERT_TRUE(start_proxy());
    proxy_.process().signal(SIGUSR2);
    ASSERT_TRUE(log_shows("signal SIGUSR2 ignored")) << "SIGUSR2 was not handled";
    proxy_.process().signal(SIGALRM);
    EXPECT_TRUE(log_shows("signal SIGALRM ignored")) << "SIGALRM was not handled";
    ASSERT_TRUE(proxy_.process().running());
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(admin_get("/readyz").status, 200u) << "an ignored signal started a drain";
}

TEST_F(Signals, SigpipeIsIgnored) {
    ASSERT_TRUE(start_proxy());
    // Ignored outright (SIG_IGN): a write to a closed pipe (stdout into a dead log collector)
    // fails with EPIPE instead of killing the process.
    EXPECT_TRUE(ignores(proxy_.process().pid(), SIGPIPE));
    proxy_.process().signal(SIGPIPE);
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(proxy_.process().running());
}

}  // namespace
}  // namespace exportwall::itest
