// Metrics an operator can alert on (issue 19, item 7): after exports that were filtered, refused
// and declared for a purpose the policy does not know, /metrics counts them by decision, reason and
// grant, their records by stage and drop reason, and the audit writer's figures — with label
// values that are configuration ids or codes only, never what a client typed.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "tests/integration/enforce_fixture.hpp"

namespace exportwall::itest {
namespace {

constexpr std::string_view dataverse = "/api/data/v9.2/contacts";

class EnforceMetrics : public enforce_fixture {
  protected:
    std::string metrics() { return fetch(proxy_.admin_port(), get_request("/metrics")).body; }
    response export_as(std::string_view key, std::string purpose, std::string destination) {
        export_request r;
        r.target = std::string(dataverse);
        r.api_key = std::string(key);
        r.purpose = std::move(purpose);
        r.destination = std::move(destination);
        return send(r);
    }
};

TEST_F(EnforceMetrics, ExportsAreCountedByDecisionReasonAndGrant) {
    ASSERT_TRUE(start());
    const std::string p = marker_prefix();
    contact ann = marker_contact(p, 1, "customer");
    contact bob = marker_contact(p, 2, "customer");
    bob.objected = true;
    ASSERT_TRUE(stage(dataverse, "application/json",
                      render(vendor_shape::dataverse, {ann, bob}, crm_origin())));

    const response filtered = export_as(marketing_key, "promotion-email", "newsletter");
    ASSERT_EQ(filtered.status, 200);
    const response refused = export_as(marketing_key, "promotion-email", "partner-crm");
    ASSERT_EQ(refused.status, 403);
    const response unknown = export_as(erp_key, p + "-purpose", "warehouse");
    ASSERT_EQ(unknown.status, 403) << unknown.body;
    // Each is recorded before the metrics are read (the record of an allowed export is written
    // after its answer).
    for (const response* r : {&filtered, &refused, &unknown}) {
        const std::string id =
            r->header("X-Export-Audit-Id")
                .value_or(problem_of(*r) ? string_at(*problem_of(*r), "audit_id") : "");
        ASSERT_TRUE(audit_record(id).has_value());
    }

    std::string m;
    ASSERT_TRUE(poll_until(
        [&] {
            m = metrics();
            return m.find("exportwall_export_records_out_total{decision=\"filtered\"") !=
                   std::string::npos;
        },
        10s))
        << m;
    const std::string grant = R"(client="marketing-tool",purpose="promotion-email",)";
    EXPECT_NE(m.find(R"(exportwall_exports_total{decision="filtered",reason="",)" + grant +
                     R"(destination="newsletter"} 1)"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find(R"(exportwall_export_records_in_total{decision="filtered",reason="",)" +
                     grant + R"(destination="newsletter"} 2)"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find(R"(exportwall_export_records_out_total{decision="filtered",reason="",)" +
                     grant + R"(destination="newsletter"} 1)"),
              std::string::npos)
        << m;
    EXPECT_NE(
        m.find(
            R"(exportwall_exports_total{decision="blocked",reason="third_party_direct_marketing",)"),
        std::string::npos)
        << m;
    EXPECT_NE(m.find(R"(exportwall_records_dropped_total{reason="objected"} 1)"), std::string::npos)
        << m;
    // The unknown purpose is counted, under a label value the client did not choose.
    EXPECT_NE(m.find(R"(client="erp",purpose="_unknown",destination="warehouse"} 1)"),
              std::string::npos)
        << m;
    EXPECT_EQ(m.find(p), std::string::npos) << "a declared value reached a metric label";
    // The trail's own figures.
    EXPECT_NE(m.find("exportwall_audit_records_written_total "), std::string::npos) << m;
    EXPECT_NE(m.find("exportwall_audit_queue_depth "), std::string::npos) << m;
    EXPECT_NE(m.find("exportwall_audit_write_failures_total 0"), std::string::npos) << m;
}

}  // namespace
}  // namespace exportwall::itest
