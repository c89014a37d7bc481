// The shadow policy end to end (issue 15, item 7): monitor mode is refused at load; a candidate
// policy (<shadow file>) decides every request beside the enforced one, its decision, reason and
// the fields it would strip go to the audit record, and nothing of it reaches the wire — the
// enforced policy alone decides what the client gets.

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/integration/enforce_fixture.hpp"

namespace exportwall::itest {
namespace {

constexpr std::string_view dataverse = "/api/data/v9.2/contacts";

bool has(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

bool contains(const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// The candidate: delivery no longer needs the phone, and the ERP loses its backup grant.
vendor_policy_options with_candidate() {
    vendor_policy_options o;
    o.shadow = true;
    o.shadow_edits = {
        {"<fields entity=\"contact\">id first_name last_name phone address.city Account__r.Name",
         "<fields entity=\"contact\">id first_name last_name address.city Account__r.Name"},
        {"<grant purpose=\"crm-backup\" destinations=\"archive\"/>", ""}};
    return o;
}

class EnforceShadow : public enforce_fixture {
  protected:
    void stage_contacts() {
        prefix_ = marker_prefix();
        records_ = {marker_contact(prefix_, 1, "customer"), marker_contact(prefix_, 2, "customer")};
        ASSERT_TRUE(stage(dataverse, "application/json",
                          render(vendor_shape::dataverse, records_, crm_origin())));
    }

    static export_request declared(std::string purpose, std::string destination,
                                   std::string key = std::string(erp_key)) {
        export_request r;
        r.target = std::string(dataverse) + "?$select=first_name,phone";
        r.api_key = std::move(key);
        r.purpose = std::move(purpose);
        r.destination = std::move(destination);
        return r;
    }

    std::string prefix_;
    std::vector<contact> records_;
};

TEST_F(EnforceShadow, MonitorModeIsRefusedAtLoadNamingTheShadowPolicy) {
    for (const std::string& where : {std::string("global"), std::string("client")}) {
        SCOPED_TRACE(where);
        vendor_policy_options o;
        o.upstream_url = "http://127.0.0.1:9";
        std::string x = vendor_config(dir_, o);
        if (where == "global") {
            x.replace(x.find("mode=\"enforce\""), 14, "mode=\"monitor\"");
        } else {
            x.replace(x.find("<client id=\"rollout-tool\""), 25,
                      "<client id=\"rollout-tool\" mode=\"monitor\"");
        }
        ASSERT_TRUE(write_file(dir_.file("monitor.xml"), x));
        const std::string out = run_exportwall({"check-config", dir_.file("monitor.xml")});
        EXPECT_TRUE(has(out, "monitor.xml:")) << out;
        EXPECT_TRUE(has(out, "<shadow")) << out;
        EXPECT_FALSE(has(out, ": ok:")) << out;
    }
}

TEST_F(EnforceShadow, TheEnforcedPolicyDecidesAndTheCandidateIsOnlyAudited) {
    ASSERT_TRUE(start(with_candidate()));
    stage_contacts();

    // Enforced: delivery keeps the phone. The candidate would strip it: audited, not applied.
    const response r = send(declared("delivery", "warehouse"));
    ASSERT_EQ(r.status, 200u) << r.body;
    for (const auto& c : records_) EXPECT_TRUE(has(r.body, c.phone)) << r.body;
    for (const auto& [name, value] : r.headers) {
        std::string lower;
        for (char ch : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
        EXPECT_FALSE(has(lower, "shadow")) << name;
        EXPECT_FALSE(has(value, "shadow")) << name;
    }
    auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_NE(string_at(*audit, "decision"), "blocked");
    EXPECT_EQ(string_at(*audit, "shadow_decision"), "filtered");
    EXPECT_EQ(string_at(*audit, "shadow_reason"), "");
    EXPECT_TRUE(contains(names_at(*audit, "shadow_fields_stripped"), "phone"));

    // Enforced: the backup is granted. The candidate would refuse it.
    const response backup = send(declared("crm-backup", "archive"));
    ASSERT_EQ(backup.status, 200u) << backup.body;
    auto b = audit_record(backup.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(string_at(*b, "shadow_decision"), "blocked");
    EXPECT_EQ(string_at(*b, "shadow_reason"), "purpose_not_granted");

    // A refusal stays a refusal, whatever the candidate says; both are in its record.
    export_request third = declared("delivery", "partner-leads");
    const response refused = send(third);
    EXPECT_EQ(refused.status, 403u);
    auto problem = problem_of(refused);
    ASSERT_TRUE(problem.has_value());
    auto f = audit_record(std::string(problem->at("audit_id").as_string()));
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(string_at(*f, "decision"), "blocked");
    EXPECT_EQ(string_at(*f, "shadow_decision"), "blocked");
    EXPECT_EQ(string_at(*f, "shadow_reason"), "third_party_direct_marketing");

    // /metrics counts the candidate's decisions beside the enforced ones, by grant.
    const std::string metrics = fetch(proxy_.admin_port(), get_request("/metrics")).body;
    EXPECT_TRUE(has(metrics, "exportwall_shadow_exports_total{decision=\"blocked\","
                             "shadow_decision=\"blocked\",shadow_reason=\"third_party_direct_"
                             "marketing\""))
        << metrics;
    const auto at = metrics.find("shadow_reason=\"purpose_not_granted\"");
    ASSERT_NE(at, std::string::npos) << metrics;
    EXPECT_EQ(metrics.substr(metrics.find("} ", at), 4), "} 1\n") << metrics;
    EXPECT_FALSE(has(metrics, "shadow_exports_total{decision=\"_other\"")) << metrics;

    // The trail with shadow members verifies as a chain, and the DPO sees where they differ.
    // Four records: the start's policy_loaded and the three exports.
    const std::string out =
        run_exportwall({"audit", "verify", "--log", dir_.file("audit.jsonl")});
    EXPECT_TRUE(has(out, "chain intact: 4 records")) << out;
    const std::string stats = run_exportwall({"audit", "stats", "--log", dir_.file("audit.jsonl")});
    EXPECT_TRUE(has(stats, "shadow policy: 3 decided by the candidate too, 2 differently")) << stats;
}

TEST_F(EnforceShadow, ABrokenCandidateRefusesTheConfigurationWithItsOwnPosition) {
    vendor_policy_options o = with_candidate();
    o.shadow_edits.push_back({"<purpose id=\"quote\" data-use=\"essential.service.operations\" basis=\"pre-contract\"",
                              "<purpose id=\"quote\" data-use=\"essential.service.operations\" basis=\"marketing\""});
    EXPECT_FALSE(start(o));
    EXPECT_TRUE(has(proxy_.log(), "candidate.xml:")) << proxy_.log();
}

}  // namespace
}  // namespace exportwall::itest
