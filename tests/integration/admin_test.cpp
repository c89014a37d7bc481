// The admin listener and process control: /healthz, /readyz, /metrics after traffic, the bearer
// token, POST /admin/reload, SIGHUP with a broken and with a good configuration, SIGTERM draining
// an export in flight and exiting 0.

#include <gtest/gtest.h>

#include <cstdlib>

#include <csignal>
#include <string>

#include "tests/fake_crm/generated_body.hpp"
#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

class Admin : public proxy_fixture {
  protected:
    response admin_get(std::string_view target, std::string_view extra = {}) {
        return fetch(proxy_.admin_port(), get_request(target, extra));
    }
    response admin_post(std::string_view target, std::string_view extra = {}) {
        std::string req =
            "POST " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n";
        req += extra;
        req += "\r\n";
        return fetch(proxy_.admin_port(), req);
    }
    // Polls /metrics until it contains `needle`.
    bool metrics_show(const std::string& needle, std::string_view auth = {}) {
        return poll_until([&] {
            const response m = admin_get("/metrics", auth);
            return m.received && m.body.find(needle) != std::string::npos;
        });
    }
};

TEST_F(Admin, HealthAndReadiness) {
    ASSERT_TRUE(start_proxy());
    ASSERT_NE(proxy_.admin_port(), 0) << "the ports file names no admin port";
    const response h = admin_get("/healthz");
    ASSERT_TRUE(h.received);
    EXPECT_EQ(h.status, 200u);
    EXPECT_EQ(h.body, "ok\n");
    const response r = admin_get("/readyz");
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    // "ready revision <SHA-256 of the configuration file>"
    EXPECT_EQ(r.body.rfind("ready revision ", 0), 0u) << r.body;
    EXPECT_EQ(r.body.size(), std::string("ready revision ").size() + 64 + 1) << r.body;
    const response n = admin_get("/nothing-here");
    ASSERT_TRUE(n.received);
    EXPECT_EQ(n.status, 404u);
}

TEST_F(Admin, MetricsCountRequestsAfterTraffic) {
    ASSERT_TRUE(start_proxy());
    for (int i = 0; i < 3; ++i) {
        const response r = fetch(proxy_.port(), get_request("/api/gen?bytes=1000"));
        ASSERT_TRUE(r.received);
        ASSERT_EQ(r.status, 200u);
    }
    ASSERT_TRUE(fetch(proxy_.port(), get_request("/nowhere")).received);
    // A request is counted when its exchange ends, which may be just after the client has read
    // the answer: poll.
    EXPECT_TRUE(metrics_show("exportwall_requests_total{route=\"api\",status=\"200\"} 3"));
    EXPECT_TRUE(metrics_show("status=\"404\"} 1")) << "the unmatched request was not counted";
    const response m = admin_get("/metrics");
    ASSERT_TRUE(m.received);
    EXPECT_EQ(m.status, 200u);
    EXPECT_NE(m.header("Content-Type").value_or("").find("text/plain"), std::string::npos);
    EXPECT_NE(m.body.find("# TYPE exportwall_requests_total counter"), std::string::npos);
    EXPECT_NE(m.body.find("exportwall_requests_total{route=\"api\",status=\"200\"} 3"),
              std::string::npos)
        << m.body;
    EXPECT_NE(m.body.find("exportwall_request_duration_seconds_count{route=\"api\"} 3"),
              std::string::npos);
    EXPECT_NE(m.body.find("exportwall_sent_bytes_total{route=\"api\"} 3000"), std::string::npos);
    EXPECT_NE(m.body.find("exportwall_active_connections"), std::string::npos);
}

TEST_F(Admin, TokenProtectsEverythingButHealthz) {
    proxy_options o;
    o.admin_token_sha256 =
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";  // "test"
    ASSERT_TRUE(start_proxy(o));
    EXPECT_EQ(admin_get("/healthz").status, 200u);
    EXPECT_EQ(admin_get("/metrics").status, 401u);
    EXPECT_EQ(admin_get("/readyz").status, 401u);
    EXPECT_EQ(admin_get("/metrics", "Authorization: Bearer wrong\r\n").status, 401u);
    EXPECT_EQ(admin_post("/admin/reload").status, 401u);
    const response ok = admin_get("/metrics", "Authorization: Bearer test\r\n");
    EXPECT_EQ(ok.status, 200u);
    EXPECT_NE(ok.body.find("exportwall_requests_total"), std::string::npos);
}

TEST_F(Admin, AMetricsListenerServesMetricsWithoutATokenAndNothingElse) {
    proxy_options o;
    o.admin_token_sha256 =
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";  // "test"
    o.admin_attributes = R"(metrics-address="127.0.0.1" metrics-port="0")";
    ASSERT_TRUE(start_proxy(o));
    ASSERT_NE(proxy_.metrics_port(), 0) << "no metrics port in the ports file";
    ASSERT_NE(proxy_.metrics_port(), proxy_.admin_port());
    // Some traffic to count.
    ASSERT_TRUE(fetch(proxy_.port(), get_request("/api/fixed")).received);
    auto scrape = [&](std::string_view target, std::string_view method = "GET") {
        return fetch(proxy_.metrics_port(), std::string(method) + " " + std::string(target) +
                                                " HTTP/1.1\r\nHost: localhost\r\n"
                                                "Content-Length: 0\r\n\r\n");
    };
    // The request is counted once its answer is written, which the client may see first.
    response m;
    EXPECT_TRUE(poll_until(
        [&] {
            m = scrape("/metrics");
            return m.status == 200u &&
                   m.body.find("exportwall_requests_total{route=\"api\",status=\"200\"} 1") !=
                       std::string::npos;
        },
        10s))
        << m.status << "\n"
        << m.body;
    EXPECT_EQ(scrape("/healthz").status, 200u);
    // Nothing but the metrics: no readiness, no reload, no audit, no holds — with or without
    // the token.
    EXPECT_EQ(scrape("/readyz").status, 404u);
    EXPECT_EQ(scrape("/admin/reload", "POST").status, 404u);
    EXPECT_EQ(scrape("/admin/audit").status, 404u);
    EXPECT_EQ(scrape("/admin/volume-holds").status, 404u);
    EXPECT_EQ(scrape("/metrics", "POST").status, 405u);
    // The admin listener still wants its token.
    EXPECT_EQ(admin_get("/metrics").status, 401u);
}

TEST(AdminMetricsConfig, AMetricsPortWithoutAnAddressIsRefused) {
    temp_dir dir;
    proxy_options o;
    o.upstream_url = "http://127.0.0.1:1";
    o.admin_attributes = R"(metrics-port="9902")";
    const std::string path = dir.file("bad.xml");
    ASSERT_TRUE(write_file(path, make_config(dir, o)));
    const std::string out_file = dir.file("out.txt");
    const std::string cmd =
        exportwall_binary() + " check-config '" + path + "' >'" + out_file + "' 2>&1";
    EXPECT_NE(std::system(cmd.c_str()), 0);
    const std::string out = read_file(out_file).value_or("");
    EXPECT_NE(out.find("bad.xml:"), std::string::npos) << out;
    EXPECT_NE(out.find("metrics-port"), std::string::npos) << out;
}

TEST_F(Admin, ReloadEndpointReportsSuccessAndFailureWithoutConfigValues) {
    ASSERT_TRUE(start_proxy());
    const response good = admin_post("/admin/reload");
    ASSERT_TRUE(good.received);
    EXPECT_EQ(good.status, 200u) << good.body;
    EXPECT_NE(good.body.find("\"reloaded\":true"), std::string::npos);

    ASSERT_TRUE(write_file(proxy_.config_path(),
                           "<exportwall version=\"1\"><upstream id=\"crm\" "
                           "url=\"http://secret-value-do-not-echo\"/></exportwall>"));
    const response bad = admin_post("/admin/reload");
    ASSERT_TRUE(bad.received);
    EXPECT_EQ(bad.status, 500u);
    EXPECT_NE(bad.body.find("\"reloaded\":false"), std::string::npos);
    EXPECT_EQ(bad.body.find("secret-value"), std::string::npos);
    // Still serving with the old configuration.
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
}

TEST_F(Admin, SighupWithBrokenConfigKeepsServingTheOldOne) {
    ASSERT_TRUE(start_proxy());
    ASSERT_TRUE(write_file(proxy_.config_path(), "<exportwall version=\"1\"><broken"));
    proxy_.process().signal(SIGHUP);
    EXPECT_TRUE(metrics_show("exportwall_config_reloads_total{result=\"failed\"} 1"))
        << "the failed reload was never counted";
    EXPECT_TRUE(proxy_.process().running());
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, exportwall::test::fixed_body);
}

TEST_F(Admin, SighupWithGoodConfigAddsARoute) {
    ASSERT_TRUE(start_proxy());
    EXPECT_EQ(fetch(proxy_.port(), get_request("/v2/fixed")).status, 404u);
    proxy_options o;
    o.upstream_url = "http://127.0.0.1:" + std::to_string(crm_.port());
    o.extra =
        R"(  <route id="v2" path="/v2" match="prefix" methods="GET" upstream="crm" format="passthrough" open="true"/>
)";
    ASSERT_TRUE(write_file(proxy_.config_path(), make_config(dir_, o)));
    proxy_.process().signal(SIGHUP);
    EXPECT_TRUE(metrics_show("exportwall_config_reloads_total{result=\"ok\"} 1"));
    const response r = fetch(proxy_.port(), get_request("/v2/fixed"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
}

TEST_F(Admin, SigtermDrainsTheExportInFlightAndExitsZero) {
    ASSERT_TRUE(start_proxy());
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    ASSERT_TRUE(c.send(get_request("/api/slow?id=drain&chunks=3&size=1000")));
    // Read the head and the first chunk: the export is in flight.
    std::uint64_t got = 0;
    bool first_chunk = false;
    // The response is read on this thread after SIGTERM; the first chunk proves it started.
    ASSERT_TRUE(poll_until([&] {
        auto s = crm_requests(crm_.port());
        return s && s->requests.size() == 1;
    }));
    proxy_.process().signal(SIGTERM);
    // Stops accepting: a new connection is refused (bounded poll).
    EXPECT_TRUE(poll_until(
        [&] {
            http_connection probe;
            return !probe.connect(proxy_.port());
        },
        10s))
        << "still accepting after SIGTERM";
    EXPECT_TRUE(proxy_.process().running()) << "exited without draining";
    ASSERT_TRUE(crm_control(crm_.port(), "/_release?id=drain&n=2"));
    const response r = c.read_response(false, [&](std::string_view piece) {
        first_chunk = true;
        got += piece.size();
    });
    ASSERT_TRUE(r.received);
    EXPECT_TRUE(first_chunk);
    EXPECT_TRUE(r.complete) << "the export in flight was cut instead of drained";
    EXPECT_EQ(got, 3000u);
    const auto status = proxy_.process().wait_exit(20s);
    ASSERT_TRUE(status.has_value()) << "did not exit after draining";
    EXPECT_EQ(*status, 0);
}

}  // namespace
}  // namespace exportwall::itest
