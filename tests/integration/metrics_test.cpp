// The metrics registry alone (no sockets): Prometheus text rendering, label escaping, histogram
// buckets, the bound on label values, and concurrent updates.

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "common/hex.hpp"
#include "proxy/ops/admin.hpp"
#include "proxy/ops/metrics.hpp"

namespace exportwall::proxy {
namespace {

TEST(Metrics, RendersCountersByRouteAndStatus) {
    metrics m;
    m.request_finished("contacts", 200, 0.02, 10, 1000);
    m.request_finished("contacts", 200, 0.03, 0, 500);
    m.request_finished("contacts", 403, 0.001, 0, 120);
    m.request_finished("", 404, 0.001, 0, 90);
    const std::string text = m.render();
    EXPECT_NE(text.find("# TYPE exportwall_requests_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("exportwall_requests_total{route=\"contacts\",status=\"200\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_requests_total{route=\"contacts\",status=\"403\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_requests_total{route=\"_none\",status=\"404\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_received_bytes_total{route=\"contacts\"} 10\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_sent_bytes_total{route=\"contacts\"} 1620\n"),
              std::string::npos);
    EXPECT_EQ(m.requests_total(), 4u);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
    metrics m;
    m.request_finished("r", 200, 0.005, 0, 0);  // on a bound: counted in that bucket
    m.request_finished("r", 200, 0.2, 0, 0);
    m.request_finished("r", 200, 4000.0, 0, 0);  // beyond the last bound: +Inf only
    const std::string text = m.render();
    EXPECT_NE(text.find("# TYPE exportwall_request_duration_seconds histogram\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_request_duration_seconds_bucket{route=\"r\",le=\"0.005\"} 1\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("exportwall_request_duration_seconds_bucket{route=\"r\",le=\"0.25\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_request_duration_seconds_bucket{route=\"r\",le=\"300\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_request_duration_seconds_bucket{route=\"r\",le=\"+Inf\"} 3\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_request_duration_seconds_count{route=\"r\"} 3\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_request_duration_seconds_sum{route=\"r\"} 4000.205\n"),
              std::string::npos)
        << text;
}

TEST(Metrics, EscapesLabelValues) {
    EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    metrics m;
    m.export_aborted("odd\"reason");
    EXPECT_NE(m.render().find("exportwall_exports_aborted_total{reason=\"odd\\\"reason\"} 1\n"),
              std::string::npos);
}

TEST(Metrics, ConnectionsGaugeAndReloadsAndUpstreamErrors) {
    metrics m;
    m.connection_opened();
    m.connection_opened();
    m.connection_closed();
    m.reload_result(true);
    m.reload_result(false);
    m.reload_result(false);
    m.upstream_error("connect");
    m.upstream_error("connect");
    m.upstream_error("tls");
    const std::string text = m.render();
    EXPECT_EQ(m.active_connections(), 1);
    EXPECT_NE(text.find("exportwall_active_connections 1\n"), std::string::npos);
    EXPECT_NE(text.find("exportwall_connections_total 2\n"), std::string::npos);
    EXPECT_NE(text.find("exportwall_config_reloads_total{result=\"ok\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("exportwall_config_reloads_total{result=\"failed\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_upstream_errors_total{kind=\"connect\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_upstream_errors_total{kind=\"tls\"} 1\n"), std::string::npos);
}

TEST(Metrics, LabelValuesBeyondCapacityCountAsOther) {
    metrics m;
    for (int i = 0; i < 100; ++i) m.export_aborted("reason" + std::to_string(i));
    const std::string text = m.render();
    EXPECT_NE(text.find("reason=\"reason63\"} 1\n"), std::string::npos);
    EXPECT_EQ(text.find("reason=\"reason64\""), std::string::npos);
    EXPECT_NE(text.find("exportwall_exports_aborted_total{reason=\"_other\"} 36\n"),
              std::string::npos);
}

TEST(Metrics, VolumeAlertsCountPerGrantAndHoldsAreAGauge) {
    metrics m;
    std::string text = m.render();
    EXPECT_NE(text.find("# TYPE exportwall_volume_alerts_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE exportwall_volume_holds gauge\nexportwall_volume_holds 0\n"),
              std::string::npos);
    m.volume_alert("erp", "invoicing");
    m.volume_alert("erp", "invoicing");
    m.volume_alert("erp", "promotion");
    m.volume_alert("crm:eu", "a.b");
    m.volume_holds(2);
    text = m.render();
    EXPECT_NE(text.find("exportwall_volume_alerts_total{client=\"erp\",purpose=\"invoicing\"} 2\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("exportwall_volume_alerts_total{client=\"erp\",purpose=\"promotion\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_volume_alerts_total{client=\"crm:eu\",purpose=\"a.b\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_volume_holds 2\n"), std::string::npos);
    m.volume_holds(0);
    EXPECT_NE(m.render().find("exportwall_volume_holds 0\n"), std::string::npos);
}

TEST(Metrics, VolumeAlertsBeyondCapacityCountAsOther) {
    metrics m;
    for (int i = 0; i < 300; ++i) m.volume_alert("client" + std::to_string(i), "p");
    EXPECT_NE(m.render().find(
                  "exportwall_volume_alerts_total{client=\"_other\",purpose=\"_other\"} 44\n"),
              std::string::npos);
}

TEST(Metrics, ExportsCountByDecisionReasonAndGrantWithTheirRecords) {
    metrics m;
    m.export_recorded({"filtered", "", "erp", "delivery", "warehouse", 10, 7});
    m.export_recorded({"filtered", "", "erp", "delivery", "warehouse", 5, 5});
    m.export_recorded({"blocked", "purpose_not_granted", "erp", "promotion", "_none", 0, 0});
    m.records_dropped("objected", 3);
    const std::string text = m.render();
    const std::string grant = R"({decision="filtered",reason="",client="erp",)"
                              R"(purpose="delivery",destination="warehouse"} )";
    EXPECT_NE(text.find("exportwall_exports_total" + grant + "2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("exportwall_export_records_in_total" + grant + "15\n"), std::string::npos);
    EXPECT_NE(text.find("exportwall_export_records_out_total" + grant + "12\n"), std::string::npos);
    EXPECT_NE(text.find(R"(exportwall_exports_total{decision="blocked",)"
                        R"(reason="purpose_not_granted",client="erp",purpose="promotion",)"
                        R"(destination="_none"} 1)"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_records_dropped_total{reason=\"objected\"} 3\n"),
              std::string::npos);
    // Without a trail source there are no trail figures.
    EXPECT_EQ(text.find("exportwall_audit_queue_depth"), std::string::npos);
}

TEST(Metrics, ShadowDecisionsQuotaWindowsAndRefusedConnectionsByTheirLabels) {
    metrics m;
    m.shadow_recorded({"filtered", "blocked", "purpose_not_granted", "erp", "crm-backup"});
    m.shadow_recorded({"filtered", "blocked", "purpose_not_granted", "erp", "crm-backup"});
    m.quota_usage("erp", "delivery", "warehouse", 10, 1000);
    m.quota_usage("erp", "delivery", "warehouse", 990, 1000);  // a gauge: the last one stands
    m.connection_refused("untrusted_peer");
    const std::string text = m.render();
    EXPECT_NE(text.find(R"(exportwall_shadow_exports_total{decision="filtered",)"
                        R"(shadow_decision="blocked",shadow_reason="purpose_not_granted",)"
                        R"(client="erp",purpose="crm-backup"} 2)"
                        "\n"),
              std::string::npos)
        << text;
    const std::string grant = R"({client="erp",purpose="delivery",destination="warehouse"} )";
    EXPECT_NE(text.find("exportwall_quota_used_records" + grant + "990\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("exportwall_quota_limit_records" + grant + "1000\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE exportwall_quota_used_records gauge"), std::string::npos);
    EXPECT_NE(text.find("exportwall_connections_refused_total{reason=\"untrusted_peer\"} 1\n"),
              std::string::npos);
}

TEST(Metrics, TrailFiguresArePulledAtRenderTime) {
    metrics m;
    std::uint64_t written = 1;
    m.set_trail_source([&written] {
        metrics::trail_figures t;
        t.records_written = written;
        t.queue_depth = 4;
        t.syslog = true;
        t.syslog_lost = 2;
        return t;
    });
    written = 41;
    const std::string text = m.render();
    EXPECT_NE(text.find("exportwall_audit_records_written_total 41\n"), std::string::npos) << text;
    EXPECT_NE(
        text.find("# TYPE exportwall_audit_queue_depth gauge\nexportwall_audit_queue_depth 4\n"),
        std::string::npos);
    EXPECT_NE(text.find("exportwall_syslog_lost_total 2\n"), std::string::npos);
    // Every HELP line starts a line (no figure runs into the next header).
    for (auto at = text.find("# HELP"); at != std::string::npos; at = text.find("# HELP", at + 1))
        EXPECT_TRUE(at == 0 || text[at - 1] == '\n') << text.substr(at - 40, 60);
}

TEST(Metrics, ConcurrentUpdatesAreAllCounted) {
    metrics m;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&m, t] {
            for (int i = 0; i < 10000; ++i)
                m.request_finished(t % 2 == 0 ? "even" : "odd", 200, 0.001, 1, 2);
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(m.requests_total(), 40000u);
    const std::string text = m.render();
    EXPECT_NE(text.find("exportwall_requests_total{route=\"even\",status=\"200\"} 20000\n"),
              std::string::npos);
    EXPECT_NE(text.find("exportwall_requests_total{route=\"odd\",status=\"200\"} 20000\n"),
              std::string::npos);
}

TEST(AdminSettings, NonLoopbackAddressNeedsAToken) {
    config::admin_listener a;
    a.address = "127.0.0.1";
    EXPECT_FALSE(check_admin_settings(a).has_value());
    a.address = "::1";
    EXPECT_FALSE(check_admin_settings(a).has_value());
    a.address = "0.0.0.0";
    EXPECT_TRUE(check_admin_settings(a).has_value());
    a.token_sha256 = common::sha256_hex("test");
    EXPECT_FALSE(check_admin_settings(a).has_value());
    a.token_sha256 = "not-hex";
    EXPECT_TRUE(check_admin_settings(a).has_value());
}

TEST(AdminSettings, Sha256HexIsLowerCaseHex) {
    EXPECT_EQ(common::sha256_hex("test"),
              "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
}

}  // namespace
}  // namespace exportwall::proxy
