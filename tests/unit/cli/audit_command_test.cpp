#include "cli/audit_command.hpp"

#include <sstream>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "audit/query.hpp"
#include "audit/review_page.hpp"
#include "tests/unit/audit/audit_test_support.hpp"
#include "tests/unit/cli/run_audit_command.hpp"

namespace exportwall::audit {
namespace {

using outcome = test::cli_outcome;
const auto run = test::run_cli;

std::size_t count_lines(const std::string& s) {
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

class AuditCommands : public ::testing::Test {
  protected:
    void SetUp() override { test::write_trail(log_, 16, 4000); }
    test::temp_dir dir_;
    std::string log_ = dir_.file("audit.jsonl");
};

TEST_F(AuditCommands, ListFiltersByDecisionAsJson) {
    const auto r = run({"list", "--log", log_, "--decision", "blocked", "--format", "json"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(count_lines(r.out), 4u);
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
        const auto v = boost::json::parse(line);
        EXPECT_EQ(v.at("decision").as_string(), "blocked");
        EXPECT_EQ(v.at("reason").as_string(), "third_party_direct_marketing");
        EXPECT_EQ(v.at("rule_id").as_string(), "R10");
        EXPECT_EQ(v.at("legal_reference").as_string(), test::r10_reference);
    }
}

// A typo in a filter value is a usage error, never an empty answer that reads as "none found".
TEST_F(AuditCommands, AnUnknownDecisionIsAUsageError) {
    const auto r = run({"list", "--log", log_, "--decision", "blockd"});
    EXPECT_EQ(r.code, 2);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find("'blockd' is not a decision"), std::string::npos) << r.err;
    const auto stats = run({"stats", "--log", log_, "--decision", "blocked,aborte"});
    EXPECT_EQ(stats.code, 2) << stats.out;
    const auto ok = run({"list", "--log", log_, "--decision", "blocked,aborted"});
    EXPECT_EQ(ok.code, 0) << ok.err;
}

TEST_F(AuditCommands, ListNamesNoRuleForARecordWithoutOne) {
    const auto r = run({"list", "--log", log_, "--decision", "aborted", "--format", "json"});
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_EQ(count_lines(r.out), 4u);
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
        const auto v = boost::json::parse(line).as_object();
        EXPECT_EQ(v.at("reason").as_string(), "upstream_timeout");
        EXPECT_FALSE(v.contains("rule_id")) << line;
        EXPECT_FALSE(v.contains("legal_reference")) << line;
    }
}

TEST_F(AuditCommands, ListCombinesFiltersAndLimitsInEveryFormat) {
    auto r = run(
        {"list", "--log", log_, "--client", "erp", "--purpose", "invoicing", "--format", "csv"});
    ASSERT_EQ(r.code, 0) << r.err;
    // i odd and i % 3 != 0 among 0..15: 1 5 7 11 13
    EXPECT_EQ(count_lines(r.out), 1u + 5u);
    EXPECT_EQ(r.out.rfind("seq,id,time,", 0), 0u);
    r = run({"list", "--log", log_, "--limit", "3"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(count_lines(r.out), 1u + 3u);
    r = run({"list", "--log", log_, "--since", "2026-11-29T00:00:00Z", "--until", "2026-11-30",
             "--format", "json"});
    EXPECT_EQ(count_lines(r.out), 8u);
}

TEST_F(AuditCommands, ShowFindsARecordByIdOrSeq) {
    auto r = run({"list", "--log", log_, "--format", "json", "--limit", "1"});
    const auto id = std::string(boost::json::parse(r.out).at("id").as_string());
    r = run({"show", id, "--log", log_});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find(id), std::string::npos);
    EXPECT_NE(r.out.find("decision:"), std::string::npos);
    r = run({"show", "1", "--log", log_, "--format", "json"});
    ASSERT_EQ(r.code, 0);
    EXPECT_EQ(boost::json::parse(r.out).at("id").as_string(), id);
    r = run({"show", "ffffffff", "--log", log_});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(count_lines(r.err), 1u);
}

TEST_F(AuditCommands, StatsCountsReasonsStrippedFieldsAndDrops) {
    const auto r = run({"stats", "--log", log_});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("records: 16"), std::string::npos);
    EXPECT_NE(r.out.find("third_party_direct_marketing (R10)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("upstream_timeout"), std::string::npos);
    EXPECT_EQ(r.out.find("upstream_timeout ("), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("iban"), std::string::npos);
    EXPECT_NE(r.out.find("no_consent"), std::string::npos);
}

// Filtered records (seq 3, 7, 11, 15) count their transformed fields; seq 7 and 15 also a value
// a transform could not read. list and show give them in the line's place, only where set.
TEST_F(AuditCommands, ListAndShowGiveTransformCountsOnlyWhereTheRecordHasThem) {
    const auto r = run({"list", "--log", log_, "--format", "json"});
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_EQ(count_lines(r.out), 16u);
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
        const auto v = boost::json::parse(line).as_object();
        const auto seq = v.at("seq").to_number<std::uint64_t>();
        if (v.at("decision").as_string() != "filtered") {
            EXPECT_FALSE(v.contains("fields_transformed")) << line;
            EXPECT_FALSE(v.contains("transform_failed")) << line;
            continue;
        }
        const auto& transformed = v.at("fields_transformed").as_object();
        EXPECT_EQ(transformed.size(), 2u) << line;
        EXPECT_EQ(transformed.at("email").to_number<std::uint64_t>(), 8u) << line;
        const auto stripped = line.find("\"fields_stripped\":");
        const auto at = line.find("\"fields_transformed\":");
        EXPECT_LT(stripped, at) << line;
        EXPECT_LT(at, line.find("\"records_in\":")) << line;
        if (seq % 8 == 7) {
            EXPECT_EQ(transformed.at("birth_date").to_number<std::uint64_t>(), 7u) << line;
            EXPECT_EQ(v.at("transform_failed").at("birth_date").to_number<std::uint64_t>(), 1u)
                << line;
            EXPECT_LT(at, line.find("\"transform_failed\":")) << line;
            EXPECT_LT(line.find("\"transform_failed\":"), line.find("\"records_in\":")) << line;
        } else {
            EXPECT_EQ(transformed.at("birth_date").to_number<std::uint64_t>(), 8u) << line;
            EXPECT_FALSE(v.contains("transform_failed")) << line;
        }
    }
    auto show = run({"show", "7", "--log", log_, "--format", "json"});
    ASSERT_EQ(show.code, 0) << show.err;
    EXPECT_EQ(boost::json::parse(show.out)
                  .at("transform_failed")
                  .at("birth_date")
                  .to_number<std::uint64_t>(),
              1u);
    show = run({"show", "7", "--log", log_});
    ASSERT_EQ(show.code, 0) << show.err;
    EXPECT_NE(show.out.find("fields_transformed: {\"birth_date\":7,\"email\":8}"),
              std::string::npos)
        << show.out;
}

// audit show, list --format json and the review page carry the candidate policy's decision.
TEST(AuditRecordJson, ShadowMembersAreShownWhenTheLineHasThem) {
    record r;
    r.decision = "allowed";
    r.shadow_decision = "blocked";
    r.shadow_reason = "purpose_not_granted";
    r.shadow_fields_stripped = {"phone"};
    auto o = record_to_json(r);
    EXPECT_EQ(o.at("shadow_decision").as_string(), "blocked");
    EXPECT_EQ(o.at("shadow_reason").as_string(), "purpose_not_granted");
    ASSERT_EQ(o.at("shadow_fields_stripped").as_array().size(), 1u);
    EXPECT_EQ(o.at("shadow_fields_stripped").as_array()[0].as_string(), "phone");
    record plain;
    plain.decision = "allowed";
    EXPECT_FALSE(record_to_json(plain).contains("shadow_decision"));
}

// The replica, the balancer that named the client and the trace id show when the line has them.
TEST(AuditRecordJson, ReplicaViaAndTraceIdAreShownWhenTheLineHasThem) {
    record r;
    r.decision = "allowed";
    r.replica = "exportwall-0";
    r.remote = "203.0.113.9:4711";
    r.via = "10.0.0.5:31000";
    r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    auto o = record_to_json(r);
    EXPECT_EQ(o.at("replica").as_string(), "exportwall-0");
    EXPECT_EQ(o.at("via").as_string(), "10.0.0.5:31000");
    EXPECT_EQ(o.at("trace_id").as_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    record plain;
    plain.decision = "allowed";
    const auto p = record_to_json(plain);
    EXPECT_FALSE(p.contains("replica") || p.contains("via") || p.contains("trace_id"));
}

TEST_F(AuditCommands, StatsTotalsTransformedFieldsByName) {
    const auto r = run({"stats", "--log", log_});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto section = r.out.find("\nfields transformed (values):\n");
    ASSERT_NE(section, std::string::npos) << r.out;
    // birth_date: 8 + 7 + 8 + 7, email: 4 x 8.
    const auto birth = r.out.find("  birth_date", section);
    ASSERT_NE(birth, std::string::npos) << r.out;
    EXPECT_EQ(r.out.substr(birth, r.out.find('\n', birth) - birth),
              "  birth_date" + std::string(30, ' ') + " 30");
    const auto email = r.out.find("  email", section);
    ASSERT_NE(email, std::string::npos) << r.out;
    EXPECT_EQ(r.out.substr(email, r.out.find('\n', email) - email),
              "  email" + std::string(35, ' ') + " 32");

    // A trail without transforms has no such section.
    const auto none = run({"stats", "--log", log_, "--decision", "blocked,allowed"});
    ASSERT_EQ(none.code, 0) << none.err;
    EXPECT_EQ(none.out.find("fields transformed"), std::string::npos) << none.out;
}

TEST_F(AuditCommands, VerifyExitsZeroWhenIntactAndOneNamingTheBrokenSeq) {
    auto r = run({"verify", "--log", log_});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("intact"), std::string::npos);
    std::string data = test::read_file(log_);
    const auto pos = data.find("\"records_out\":10");
    ASSERT_NE(pos, std::string::npos);
    data[pos + 15] = '1';
    test::write_file(log_, data);
    r = run({"verify", "--log", log_});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("chain broken at seq "), std::string::npos);
    EXPECT_EQ(count_lines(r.err), 1u);
}

TEST_F(AuditCommands, ReportIsSelfContainedHtml) {
    const std::string file = dir_.file("report.html");
    const auto r = run({"report", "--log", log_, "--format", "html", "--output", file});
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string html = test::read_file(file);
    EXPECT_EQ(html.rfind("<!doctype html>", 0), 0u);
    EXPECT_NE(html.find("<svg"), std::string::npos);
    EXPECT_NE(html.find("chain intact"), std::string::npos);
    EXPECT_NE(html.find("partner-leads"), std::string::npos);
    EXPECT_NE(html.find("<td>third_party_direct_marketing (R10)</td>"), std::string::npos);
    EXPECT_NE(html.find("<td>upstream_timeout</td>"), std::string::npos);
    EXPECT_EQ(html.find("src="), std::string::npos);
    EXPECT_EQ(html.find("href="), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos);
}

TEST_F(AuditCommands, HelpAndUsageErrorsHaveDocumentedExitCodes) {
    auto r = run({"--help"});
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("Exit codes"), std::string::npos);
    for (const char* cmd : {"list", "show", "stats", "verify", "report"}) {
        r = run({cmd, "--help"});
        EXPECT_EQ(r.code, 0) << cmd;
        EXPECT_NE(r.out.find("--log"), std::string::npos) << cmd;
    }
    r = run({"list"});
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(count_lines(r.err), 1u);
    r = run({"list", "--log", log_, "--since", "last week"});
    EXPECT_EQ(r.code, 2);
    r = run({"verify", "--log", dir_.file("missing.jsonl")});
    EXPECT_EQ(r.code, 2);
}

TEST_F(AuditCommands, AdminQueryPagesThroughMatchingRecordsNewestFirst) {
    std::string error;
    auto q = parse_audit_query("decision=blocked%2Caborted&limit=3", error);
    ASSERT_TRUE(q) << error;
    audit_page page;
    ASSERT_FALSE(read_audit_page(log_, *q, page));
    ASSERT_EQ(page.records.size(), 3u);
    ASSERT_TRUE(page.next);
    EXPECT_GT(page.records[0].seq, page.records[1].seq);
    std::set<std::uint64_t> seen;
    for (int pages = 0; pages < 10; ++pages) {
        for (const auto& r : page.records) {
            EXPECT_TRUE(r.decision == "blocked" || r.decision == "aborted");
            EXPECT_TRUE(seen.insert(r.seq).second);
        }
        if (!page.next) break;
        q->cursor = page.next;
        ASSERT_FALSE(read_audit_page(log_, *q, page));
    }
    EXPECT_EQ(seen.size(), 8u);

    verify_result chain = verify_chain(log_);
    const auto json = boost::json::parse(render_audit_page(page, chain));
    EXPECT_TRUE(json.at("records").is_array());
    EXPECT_TRUE(json.at("next").is_null());
    EXPECT_TRUE(json.at("chain").at("ok").as_bool());
}

TEST(AuditQuery, RejectsUnknownParametersAndBadValues) {
    std::string error;
    EXPECT_FALSE(parse_audit_query("value=secret", error));
    EXPECT_EQ(error.find("secret"), std::string::npos);
    EXPECT_FALSE(parse_audit_query("since=yesterday", error));
    EXPECT_FALSE(parse_audit_query("limit=0", error));
    EXPECT_FALSE(parse_audit_query("limit=100000", error));
    EXPECT_FALSE(parse_audit_query("client=%zz", error));
    const auto q = parse_audit_query("?client=erp+shop&order=asc&offset=2", error);
    ASSERT_TRUE(q) << error;
    EXPECT_EQ(q->filter.client, std::vector<std::string>{"erp shop"});
    EXPECT_FALSE(q->newest_first);
    EXPECT_EQ(q->offset, 2u);
}

TEST(AuditReviewPage, IsStaticAndSelfContained) {
    const std::string_view page = review_page_html();
    EXPECT_EQ(page.substr(0, 15), "<!doctype html>");
    EXPECT_NE(page.find("/admin/audit"), std::string_view::npos);
    EXPECT_NE(page.find("sessionStorage"), std::string_view::npos);
    EXPECT_NE(page.find("Authorization"), std::string_view::npos);
    EXPECT_EQ(page.find("http://"), std::string_view::npos);
    EXPECT_EQ(page.find("https://"), std::string_view::npos);
    EXPECT_EQ(page.find("src="), std::string_view::npos);
    EXPECT_EQ(page,
              test::read_file(std::string(EXPORTWALL_SOURCE_DIR) + "/audit/review_page.html"));
}

}  // namespace
}  // namespace exportwall::audit
