// Grants bounded in time and suppression lists that must be fresh, through the real binary
// (issue 17, items 4 and 5): an expired grant refused 403 grant_not_valid with its rule and audit
// record while a grant valid until 2099 passes; a list older than its max-age refusing direct
// marketing 503 suppression_list_stale while a contract export passes; and the list re-read when
// its file changes — renamed into place, replaced by a copy that keeps an old modification time,
// rewritten in place — without a SIGHUP, each reload seen in /metrics before the next request.

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/integration/enforce_fixture.hpp"

namespace exportwall::itest {
namespace {

constexpr std::string_view dataverse = "/api/data/v9.2/contacts";
constexpr std::string_view reloads_ok = "exportwall_config_reloads_total{result=\"ok\"} ";

bool has(std::string_view s, std::string_view part) {
    return s.find(part) != std::string_view::npos;
}

class EnforceValidity : public enforce_fixture {
  protected:
    // Starts the fake CRM and exportwall with the vendor policy after every (from, to) edit;
    // `before_start` runs once the configuration and the list file are written.
    ::testing::AssertionResult start_edited(
        const std::vector<std::pair<std::string, std::string>>& edits,
        const std::function<void()>& before_start = {}) {
        if (dir_.path().empty()) return ::testing::AssertionFailure() << "no temp dir";
        if (!crm_.start(dir_))
            return ::testing::AssertionFailure() << "fake_crm did not start:\n" << crm_.log();
        vendor_policy_options o;
        o.upstream_url = crm_origin();
        config_ = vendor_config(dir_, o);
        for (const auto& [from, to] : edits) {
            auto at = config_.find(from);
            if (at == std::string::npos)
                return ::testing::AssertionFailure() << "edit not found: " << from;
            config_.replace(at, from.size(), to);
        }
        if (before_start) before_start();
        if (!proxy_.start(dir_, config_))
            return ::testing::AssertionFailure() << "exportwall did not start:\n" << proxy_.log();
        return ::testing::AssertionSuccess();
    }

    void stage_contacts() {
        prefix_ = marker_prefix();
        records_ = {marker_contact(prefix_, 1, "customer"), marker_contact(prefix_, 2, "customer")};
        ASSERT_TRUE(stage(dataverse, "application/json",
                          render(vendor_shape::dataverse, records_, crm_origin())));
    }

    static export_request declared(std::string_view key, std::string purpose,
                                   std::string destination) {
        export_request r;
        r.target = std::string(dataverse);
        r.api_key = std::string(key);
        r.purpose = std::move(purpose);
        r.destination = std::move(destination);
        return r;
    }

    // Successful reloads so far, from /metrics; -1 when the admin listener does not answer.
    long reloads() {
        const response m = fetch(proxy_.admin_port(), get_request("/metrics"));
        if (!m.received) return -1;
        auto at = m.body.find(reloads_ok);
        if (at == std::string::npos) return -1;
        return std::strtol(m.body.c_str() + at + reloads_ok.size(), nullptr, 10);
    }
    // Polls /metrics until at least `n` reloads succeeded (bounded by poll_until's limit).
    [[nodiscard]] bool reloaded(long n) {
        return poll_until([&] { return reloads() >= n; });
    }

    std::string list_file() const { return dir_.file("do-not-contact.txt"); }
    void age_list(std::chrono::hours age) const {
        std::filesystem::last_write_time(list_file(),
                                         std::filesystem::file_time_type::clock::now() - age);
    }

    std::string config_;
    std::string prefix_;
    std::vector<contact> records_;
};

const std::pair<std::string, std::string> expired_erp_delivery{
    R"(<grant purpose="delivery" destinations="warehouse carrier"/>)",
    R"(<grant purpose="delivery" destinations="warehouse carrier" valid-from="2019-01-01" valid-until="2020-06-30"/>)"};
const std::pair<std::string, std::string> rollout_until_2099{
    R"(<grant purpose="delivery" destinations="warehouse"/>)",
    R"(<grant purpose="delivery" destinations="warehouse" valid-until="2099-12-31T23:59:59Z"/>)"};
const std::pair<std::string, std::string> marketing_from_2099{
    R"(<grant purpose="promotion-email" destinations="newsletter" max-records="20000"/>)",
    R"(<grant purpose="promotion-email" destinations="newsletter" max-records="20000" valid-from="2099-01-01"/>)"};

TEST_F(EnforceValidity, AnExpiredGrantIsRefusedWhileOneValidUntil2099Passes) {
    ASSERT_TRUE(start_edited({expired_erp_delivery, rollout_until_2099, marketing_from_2099}));
    stage_contacts();

    const response refused = send(declared(erp_key, "delivery", "warehouse"));
    ASSERT_TRUE(refused.received);
    EXPECT_EQ(refused.status, 403u);
    auto problem = problem_of(refused);
    ASSERT_TRUE(problem.has_value()) << refused.body;
    EXPECT_EQ(string_at(*problem, "reason"), "grant_not_valid");
    EXPECT_EQ(string_at(*problem, "rule_id"), "R15");
    EXPECT_EQ(string_at(*problem, "title"), "Grant not valid at this time");
    EXPECT_EQ(string_at(*problem, "detail"),
              "grant of client 'erp' for purpose 'delivery' is valid from 2019-01-01 until "
              "2020-06-30; it has expired");
    EXPECT_FALSE(has(refused.body, records_[0].city));
    auto record = audit_record(string_at(*problem, "audit_id"));
    ASSERT_TRUE(record.has_value()) << "no audit record for the refusal";
    EXPECT_EQ(string_at(*record, "decision"), "blocked");
    EXPECT_EQ(string_at(*record, "reason"), "grant_not_valid");
    EXPECT_EQ(string_at(*record, "rule_id"), "R15");
    EXPECT_EQ(string_at(*record, "client"), "erp");
    EXPECT_TRUE(seen_at(dataverse).empty()) << "a refused export reached the CRM";

    const response early = send(declared(marketing_key, "promotion-email", "newsletter"));
    ASSERT_TRUE(early.received);
    EXPECT_EQ(early.status, 403u);
    auto early_problem = problem_of(early);
    ASSERT_TRUE(early_problem.has_value()) << early.body;
    EXPECT_EQ(string_at(*early_problem, "reason"), "grant_not_valid");
    EXPECT_TRUE(
        has(string_at(*early_problem, "detail"), "valid from 2099-01-01; it is not valid yet"))
        << string_at(*early_problem, "detail");

    const response allowed = send(declared(rollout_key, "delivery", "warehouse"));
    ASSERT_TRUE(allowed.received);
    EXPECT_EQ(allowed.status, 200u) << allowed.body;
    EXPECT_TRUE(has(allowed.body, records_[0].city)) << "the grant valid until 2099 passed nothing";
    EXPECT_FALSE(has(allowed.body, records_[0].email)) << "delivery does not keep the e-mail";
    EXPECT_EQ(seen_at(dataverse).size(), 1u);
}

TEST_F(EnforceValidity, CheckConfigWarnsAboutExpiredAndFutureGrantsAndStillPasses) {
    ASSERT_TRUE(start_edited({expired_erp_delivery, rollout_until_2099, marketing_from_2099}));
    const auto [out, status] = run_exportwall_status({"check-config", proxy_.config_path()});
    EXPECT_EQ(status, 0) << out;
    EXPECT_TRUE(has(out, ": ok: ")) << out;
    const std::string file = proxy_.config_path();
    // The expired grant's line, computed from the document.
    const auto line_of = [this](std::string_view needle) {
        auto at = config_.find(needle);
        return 1 + std::count(config_.begin(), config_.begin() + static_cast<long>(at), '\n');
    };
    const auto expired_line = line_of(expired_erp_delivery.second);
    EXPECT_TRUE(has(out, "warning: " + file + ":" + std::to_string(expired_line) + ":"))
        << "the warning does not name the grant's line " << expired_line << ":\n"
        << out;
    EXPECT_TRUE(has(out, "grant of client 'erp' for purpose 'delivery' expired on 2020-06-30"))
        << out;
    EXPECT_TRUE(has(out,
                    "grant of client 'marketing-tool' for purpose 'promotion-email' is not "
                    "valid before 2099-01-01"))
        << out;
    EXPECT_FALSE(has(out, "client 'rollout-tool'")) << "a valid grant was warned about:\n" << out;

    // explain names the window of the grant the declaration uses.
    const auto [explained, explain_status] =
        run_exportwall_status({"explain", "--config", file, "--client", "erp", "--purpose", "delivery",
                         "--destination", "warehouse", "--target", std::string(dataverse)});
    EXPECT_EQ(explain_status, 1) << "a refused export: " << explained;
    EXPECT_TRUE(has(explained, "grant_not_valid")) << explained;
    EXPECT_TRUE(has(explained, "from 2019-01-01 until 2020-06-30")) << explained;
    // The exit status is the answer: 0 for an export the policy allows (the rollout tool's grant
    // is valid), 1 for a refused one, with --json too.
    const auto [allowed, allowed_status] =
        run_exportwall_status({"explain", "--config", file, "--client", "rollout-tool", "--purpose",
                         "delivery", "--destination", "warehouse", "--target",
                         std::string(dataverse)});
    EXPECT_EQ(allowed_status, 0) << allowed;
    const auto [refused_json, refused_json_status] =
        run_exportwall_status({"explain", "--json", "--config", file, "--client", "erp", "--purpose",
                         "delivery", "--destination", "warehouse", "--target",
                         std::string(dataverse)});
    EXPECT_EQ(refused_json_status, 1) << refused_json;
    // Anything that is not an answer is 2: 1 means "refused" and nothing else.
    EXPECT_EQ(run_exportwall_status({"explain", "--config", file, "--client", "nobody",
                                     "--target", std::string(dataverse)})
                  .second,
              2);
    EXPECT_EQ(run_exportwall_status({"explain", "--config", dir_.file("missing.xml"), "--client",
                                     "erp", "--target", std::string(dataverse)})
                  .second,
              2);
    EXPECT_EQ(run_exportwall_status({"explain", "--config", file, "--client", "erp", "--target",
                                     std::string(dataverse), "--body", dir_.file("no-body")})
                  .second,
              2);
}

// test-policy: a cases file that says something test-policy does not read is a usage error
// (exit 2, file:line), never a case that checks less than it seems to (issue 18, item 7).
TEST_F(EnforceValidity, TestPolicyRefusesCasesItCannotRead) {
    ASSERT_TRUE(start());
    const std::string cases = dir_.file("typo.cases.xml");
    ASSERT_TRUE(write_file(cases,
                           "<cases>\n"
                           "  <case name=\"delivery\" api-key=\"erp-demo-key\" purpose=\"delivery\"\n"
                           "        destination=\"warehouse\" target=\"/api/data/v9.2/contacts\">\n"
                           "    <expect outcome=\"allow\" reasn=\"ok\"/>\n"
                           "  </case>\n"
                           "  <case name=\"refused\" api-key=\"erp-demo-key\" purpose=\"promotion-email\"\n"
                           "        destination=\"warehouse\" target=\"/api/data/v9.2/contacts\">\n"
                           "    <expect outcome=\"refused\" reason=\"purpose_not_grantd\"/>\n"
                           "  </case>\n"
                           "</cases>\n"));
    const auto [out, status] =
        run_exportwall_status({"test-policy", "--config", proxy_.config_path(), cases});
    EXPECT_EQ(status, 2) << out;
    EXPECT_TRUE(has(out, cases + ":4: unknown attribute 'reasn' on <expect>")) << out;
    EXPECT_TRUE(has(out, cases + ":8: outcome 'refused' is not allow or refuse")) << out;
    EXPECT_TRUE(has(out, "reason 'purpose_not_grantd' is not a reason code")) << out;
}

TEST_F(EnforceValidity, AStaleListRefusesMarketingUntilItsFileChangesWithoutASignal) {
    const std::pair<std::string, std::string> max_age{
        R"(<suppression-list id="do-not-contact" file="do-not-contact.txt" field="email" match="email"/>)",
        R"(<suppression-list id="do-not-contact" file="do-not-contact.txt" field="email" match="email" max-age="24h"/>)"};
    ASSERT_TRUE(start_edited({max_age}, [this] { age_list(std::chrono::hours(72)); }));
    stage_contacts();
    ASSERT_EQ(reloads(), 0);
    const export_request marketing = declared(marketing_key, "promotion-email", "newsletter");

    // Three days old, max-age 24h: direct marketing is refused before the CRM is asked.
    const response stale = send(marketing);
    ASSERT_TRUE(stale.received);
    EXPECT_EQ(stale.status, 503u);
    auto problem = problem_of(stale);
    ASSERT_TRUE(problem.has_value()) << stale.body;
    EXPECT_EQ(string_at(*problem, "reason"), "suppression_list_stale");
    EXPECT_EQ(string_at(*problem, "rule_id"), "R8");
    EXPECT_EQ(string_at(*problem, "detail"),
              "suppression list 'do-not-contact' was last changed 3d ago; max-age is 24h");
    auto record = audit_record(string_at(*problem, "audit_id"));
    ASSERT_TRUE(record.has_value()) << "no audit record for the refusal";
    EXPECT_EQ(string_at(*record, "decision"), "blocked");
    EXPECT_EQ(string_at(*record, "reason"), "suppression_list_stale");
    EXPECT_TRUE(seen_at(dataverse).empty()) << "a refused export reached the CRM";

    // A contract purpose does not use the list: unaffected, through the same binary.
    const response contract = send(declared(erp_key, "delivery", "warehouse"));
    ASSERT_TRUE(contract.received);
    EXPECT_EQ(contract.status, 200u) << contract.body;
    EXPECT_TRUE(has(contract.body, records_[0].city));

    // The list replaced by rename, now suppressing contact 2: re-read without SIGHUP.
    ASSERT_TRUE(write_file(list_file(), "# objections\n" + records_[1].email + "\n"));
    ASSERT_TRUE(reloaded(1)) << "the changed list was never reloaded";
    const response fresh = send(marketing);
    ASSERT_TRUE(fresh.received);
    EXPECT_EQ(fresh.status, 200u) << fresh.body;
    EXPECT_TRUE(has(fresh.body, records_[0].email)) << "contact 1 was not suppressed";
    EXPECT_FALSE(has(fresh.body, records_[1].email)) << "the new list's entry was not applied";
    EXPECT_TRUE(has(proxy_.log(), "suppression list 'do-not-contact' changed"))
        << "the log does not name the list that changed";

    // A copy that keeps its old modification time (cp -p, rsync -t) renamed into place: the
    // list is as old as its file says, stale again.
    const std::string copy = list_file() + ".copy";
    ASSERT_TRUE(write_file(copy, "# objections\n" + records_[1].email + "\n"));
    std::filesystem::last_write_time(
        copy, std::filesystem::file_time_type::clock::now() - std::chrono::hours(72));
    std::filesystem::rename(copy, list_file());
    ASSERT_TRUE(reloaded(2)) << "the list renamed into place was never reloaded";
    const response old_copy = send(marketing);
    ASSERT_TRUE(old_copy.received);
    EXPECT_EQ(old_copy.status, 503u) << old_copy.body;

    // Rewritten in place: fresh again.
    const long before = reloads();
    {
        std::ofstream out(list_file(), std::ios::trunc);
        out << "# objections\n" << records_[1].email << "\n";
    }
    ASSERT_TRUE(reloaded(before + 1)) << "the list rewritten in place was never reloaded";
    const response rewritten = send(marketing);
    ASSERT_TRUE(rewritten.received);
    EXPECT_EQ(rewritten.status, 200u) << rewritten.body;
    EXPECT_FALSE(has(rewritten.body, records_[1].email));
    EXPECT_FALSE(has(proxy_.log(), records_[1].email)) << "a list entry reached the log";
}

TEST_F(EnforceValidity, AListThatCannotBeReadKeepsTheOldOneWhichGoesStale) {
    const std::pair<std::string, std::string> max_age{
        R"(<suppression-list id="do-not-contact" file="do-not-contact.txt" field="email" match="email"/>)",
        R"(<suppression-list id="do-not-contact" file="do-not-contact.txt" field="email" match="email" max-age="24h"/>)"};
    ASSERT_TRUE(start_edited({max_age}));
    stage_contacts();
    const export_request marketing = declared(marketing_key, "promotion-email", "newsletter");
    const response fresh = send(marketing);
    ASSERT_TRUE(fresh.received);
    EXPECT_EQ(fresh.status, 200u) << fresh.body;

    // Deleted: the reload fails and the previous configuration stays in force.
    std::filesystem::remove(list_file());
    ASSERT_TRUE(poll_until([&] { return has(proxy_.log(), "reload refused"); }))
        << "the deleted list did not trigger a reload";
    EXPECT_EQ(reloads(), 0);
    const response kept = send(marketing);
    ASSERT_TRUE(kept.received);
    EXPECT_EQ(kept.status, 200u) << "the old list, read a moment ago, is still fresh";
}

}  // namespace
}  // namespace exportwall::itest
