// Monitor mode end to end (issue 5, item 7): the client gets the CRM's body unmodified, the CRM
// gets the client's own request, and the audit record says what enforcing would have done.

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/integration/enforce_fixture.hpp"

namespace exportwall::itest {
namespace {

constexpr std::string_view dataverse = "/api/data/v9.2/contacts";

class EnforceMonitor : public enforce_fixture {
  protected:
    void stage_contacts() {
        prefix_ = marker_prefix();
        records_ = {marker_contact(prefix_, 1, "customer"), marker_contact(prefix_, 2, "lead")};
        body_ = render(vendor_shape::dataverse, records_, crm_origin());
        ASSERT_TRUE(stage(dataverse, "application/json", body_));
    }

    export_request monitored(std::string key, std::string purpose, std::string destination) {
        export_request r;
        r.target = std::string(dataverse) + "?$select=first_name,iban&$top=5";
        r.api_key = std::move(key);
        r.purpose = std::move(purpose);
        r.destination = std::move(destination);
        return r;
    }

    std::string prefix_;
    std::vector<contact> records_;
    std::string body_;
};

bool contains(const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_F(EnforceMonitor, MonitoredClientGetsTheUnmodifiedBody) {
    ASSERT_TRUE(start());
    stage_contacts();
    const response r = send(monitored(std::string(rollout_key), "delivery", "warehouse"));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.body, body_) << "monitor mode changed the body";
    EXPECT_EQ(r.header("X-Export-Decision").value_or(""), "allowed");

    auto crm = seen_at(dataverse);
    ASSERT_EQ(crm.size(), 1u);
    EXPECT_EQ(crm[0].target, std::string(dataverse) + "?$select=first_name,iban&$top=5")
        << "monitor mode rewrote the CRM request";
    EXPECT_EQ(crm[0].header("Authorization").value_or(""), crm_credential);

    auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "mode"), "monitor");
    EXPECT_EQ(string_at(*audit, "decision"), "would-block");
    EXPECT_TRUE(contains(names_at(*audit, "fields_stripped"), "iban"));
    EXPECT_EQ(number_at(*audit, "records_in"), 2u);
    EXPECT_EQ(number_at(*audit, "records_out"), 1u);
    EXPECT_EQ(dropped(*audit, "subject_not_allowed"), 1u) << "the lead would have been dropped";
}

TEST_F(EnforceMonitor, MonitoredRefusalPassesAndIsAuditedAsWouldBlock) {
    ASSERT_TRUE(start());
    stage_contacts();
    const response r = send(monitored(std::string(rollout_key), "promotion-email", "partner-crm"));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.body, body_);
    EXPECT_EQ(r.header("X-Export-Decision").value_or(""), "would-block");
    auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "decision"), "would-block");
    EXPECT_EQ(string_at(*audit, "reason"), "third_party_direct_marketing");
}

TEST_F(EnforceMonitor, MonitoredMalformedBodyPassesAndIsAudited) {
    ASSERT_TRUE(start());
    stage_contacts();
    std::string broken = body_.substr(0, body_.size() / 2);
    ASSERT_TRUE(stage(dataverse, "application/json", broken));
    const response r = send(monitored(std::string(rollout_key), "delivery", "warehouse"));
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, broken);
    auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "decision"), "would-block");
    EXPECT_EQ(string_at(*audit, "reason"), "upstream_malformed");
}

TEST_F(EnforceMonitor, GlobalMonitorModeAppliesToEveryClient) {
    vendor_policy_options o;
    o.mode = "monitor";
    ASSERT_TRUE(start(o));
    stage_contacts();
    const response r = send(monitored(std::string(erp_key), "delivery", "warehouse"));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.body, body_);
    auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "mode"), "monitor");
    EXPECT_EQ(string_at(*audit, "decision"), "would-block");
    EXPECT_EQ(dropped(*audit, "subject_not_allowed"), 1u);

    // Every client and purpose passes unmodified.
    const response all = send(monitored(std::string(erp_key), "crm-backup", "archive"));
    ASSERT_EQ(all.status, 200u);
    EXPECT_EQ(all.body, body_);
}

}  // namespace
}  // namespace exportwall::itest
