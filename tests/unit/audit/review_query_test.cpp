// The review page's queries (issue 18, item 8) without a browser: prefix, suffix and substring
// filters, blocked transfers apart from access errors, counts of every match, a decision typo
// refused, the flows, and the page's Content-Security-Policy.

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "audit/flows.hpp"
#include "audit/query.hpp"
#include "audit/review_page.hpp"
#include "tests/unit/audit/audit_test_support.hpp"

namespace exportwall::audit {
namespace {

struct sample {
    const char* decision;
    const char* reason;
    const char* client;
    const char* purpose;
    const char* destination;
    int status;
    const char* day;
    std::uint64_t records_out;
};

// seq = position + 1.
constexpr sample trail[] = {
    {"allowed", "", "erp", "invoicing", "billing", 200, "2026-11-27", 10},
    {"blocked", "third_party_direct_marketing", "webshop", "promotion", "partner-leads", 403,
     "2026-11-27", 0},
    {"blocked", "unauthenticated", "", "", "", 401, "2026-11-27", 0},
    {"filtered", "", "erp", "invoicing", "billing", 200, "2026-11-28", 7},
    {"blocked", "route_not_found", "", "", "", 404, "2026-11-28", 0},
    {"aborted", "upstream_timeout", "webshop-eu", "delivery", "carrier", 200, "2026-11-28", 3},
    {"blocked", "declaration_missing", "webshop", "", "", 400, "2026-11-28", 0},
    {"blocked", "purpose_not_granted", "marketing", "promotion", "newsletter", 403, "2026-11-29",
     0},
    {"allowed", "", "webshop", "delivery", "carrier", 200, "2026-11-29", 5},
    {"blocked", "request_rejected", "", "", "", 400, "2026-11-29", 0},
    {"blocked", "destination_unknown", "webshop-eu", "promotion", "partner-crm", 403, "2026-11-29",
     0},
};

record record_of(const sample& s, int i) {
    record r;
    r.id = new_record_id();
    r.time = std::string(s.day) + "T10:00:" + (i < 10 ? "0" : "") + std::to_string(i) + ".000Z";
    r.mode = "enforce";
    r.decision = s.decision;
    r.reason = s.reason;
    r.client = s.client;
    r.purpose = s.purpose;
    r.destination = s.destination;
    r.destination_kind = *s.destination != '\0' ? "internal" : "";
    r.route = "contacts";
    r.method = "GET";
    r.path = "/api/contacts";
    r.status = s.status;
    r.records_in = s.records_out;
    r.records_out = s.records_out;
    r.bytes_out = 100 * s.records_out;
    r.remote = "127.0.0.1:40000";
    r.policy_revision = std::string(64, 'a');
    return r;
}

class AuditReviewQuery : public ::testing::Test {
  protected:
    void SetUp() override {
        writer_options o;
        o.path = log_;
        o.sync = sync_policy::none;
        file_writer w(o);
        ASSERT_FALSE(w.start());
        int i = 0;
        for (const auto& s : trail) ASSERT_FALSE(test::append_wait(w, record_of(s, i++), false));
        w.close();
    }

    // The seqs of the records `query` selects (newest first, every page).
    std::vector<std::uint64_t> seqs(const std::string& query, std::uint64_t* matched = nullptr) {
        std::string error;
        auto q = parse_audit_query(query, error);
        EXPECT_TRUE(q) << query << ": " << error;
        std::vector<std::uint64_t> out;
        if (!q) return out;
        q->limit = 2;
        for (;;) {
            audit_page page;
            EXPECT_FALSE(read_audit_page(log_, *q, page));
            if (matched != nullptr) *matched = page.matched;
            for (const auto& r : page.records) out.push_back(r.seq);
            if (!page.next) break;
            q->cursor = page.next;
        }
        return out;
    }

    test::temp_dir dir_;
    std::string log_ = dir_.file("audit.jsonl");
};

TEST(AuditQuery, TextTermsMatchExactlyByPrefixBySuffixOrBySubstring) {
    const auto terms = parse_text_terms("erp,web*,*-eu,*ark*");
    ASSERT_TRUE(terms);
    ASSERT_EQ(terms->size(), 4u);
    EXPECT_TRUE(matches_any(*terms, "erp"));
    EXPECT_FALSE(matches_any(*terms, "erp2"));
    EXPECT_TRUE(matches_any(*terms, "webshop"));
    EXPECT_TRUE(matches_any(*terms, "shop-eu"));
    EXPECT_TRUE(matches_any(*terms, "marketing"));
    EXPECT_FALSE(matches_any(*terms, "billing"));
    EXPECT_TRUE(matches_any({}, "anything"));
    for (const char* bad : {"*", "**", "a*b", "*a*b*"}) EXPECT_FALSE(parse_text_terms(bad)) << bad;
}

TEST(AuditQuery, AnUnknownDecisionOrCategoryIsRefusedWithoutEchoingIt) {
    std::string error;
    EXPECT_FALSE(parse_audit_query("decision=blockd", error));
    EXPECT_NE(error.find("decision"), std::string::npos);
    EXPECT_EQ(error.find("blockd"), std::string::npos);
    EXPECT_FALSE(parse_audit_query("decision=blocked,aborted,nope", error));
    EXPECT_FALSE(parse_audit_query("category=refused", error));
    EXPECT_FALSE(parse_audit_query("client=a*b", error));
    EXPECT_FALSE(parse_audit_query("bucket=week", error));
    EXPECT_TRUE(parse_audit_query("decision=volume_alert,checkpoint,policy_loaded", error));
    for (std::size_t i = 0; i < decision_count; ++i)
        EXPECT_TRUE(is_known_decision(to_string(static_cast<decision>(i))));
}

TEST(AuditQuery, AccessErrorsAreNoBlockedTransfers) {
    for (const char* reason :
         {"unauthenticated", "route_not_found", "method_not_allowed", "declaration_missing",
          "declaration_invalid", "request_rejected", "query_unsupported"})
        EXPECT_TRUE(is_access_error(reason)) << reason;
    for (const char* reason : {"third_party_direct_marketing", "purpose_not_granted",
                               "destination_unknown", "upstream_timeout", "continuation_invalid"})
        EXPECT_FALSE(is_access_error(reason)) << reason;
    record r;
    r.decision = "blocked";
    r.reason = "unauthenticated";
    EXPECT_FALSE(is_blocked_transfer(r));
    r.reason = "purpose_not_granted";
    EXPECT_TRUE(is_blocked_transfer(r));
    r.decision = "allowed";
    r.reason = "";
    EXPECT_FALSE(is_blocked_transfer(r));
}

TEST_F(AuditReviewQuery, BlockedTransfersAndAccessErrorsAreTwoViews) {
    std::uint64_t matched = 0;
    EXPECT_EQ(seqs("category=blocked-transfer", &matched),
              (std::vector<std::uint64_t>{11, 8, 6, 2}));
    EXPECT_EQ(matched, 4u);
    EXPECT_EQ(seqs("category=access-error", &matched), (std::vector<std::uint64_t>{10, 7, 5, 3}));
    EXPECT_EQ(matched, 4u);
    EXPECT_EQ(seqs("category=blocked-transfer&decision=blocked"),
              (std::vector<std::uint64_t>{11, 8, 2}));
    EXPECT_EQ(seqs("").size(), std::size(trail));
}

TEST_F(AuditReviewQuery, PrefixSuffixAndSubstringFiltersNarrowEveryField) {
    EXPECT_EQ(seqs("client=webshop"), (std::vector<std::uint64_t>{9, 7, 2}));
    EXPECT_EQ(seqs("client=web*"), (std::vector<std::uint64_t>{11, 9, 7, 6, 2}));
    EXPECT_EQ(seqs("client=*-eu"), (std::vector<std::uint64_t>{11, 6}));
    EXPECT_EQ(seqs("client=*ark*,erp"), (std::vector<std::uint64_t>{8, 4, 1}));
    EXPECT_EQ(seqs("destination=partner*"), (std::vector<std::uint64_t>{11, 2}));
    EXPECT_EQ(seqs("reason=*_not_*"), (std::vector<std::uint64_t>{8, 5}));
    EXPECT_EQ(seqs("purpose=pro*&category=blocked-transfer&destination=*crm"),
              (std::vector<std::uint64_t>{11}));
    EXPECT_EQ(seqs("since=2026-11-29&client=web*"), (std::vector<std::uint64_t>{11, 9}));
}

TEST_F(AuditReviewQuery, APageSaysHowManyRecordsMatchAndTheNewestSeq) {
    std::string error;
    auto q = parse_audit_query("category=access-error&limit=1&order=asc", error);
    ASSERT_TRUE(q) << error;
    audit_page page;
    ASSERT_FALSE(read_audit_page(log_, *q, page));
    ASSERT_EQ(page.records.size(), 1u);
    EXPECT_EQ(page.records[0].seq, 3u);
    EXPECT_EQ(page.matched, 4u);
    EXPECT_EQ(page.newest_seq, 10u);
    ASSERT_TRUE(page.next);

    chain_status chain;
    chain.result = verify_chain(log_, true);
    chain.verified_at = "2026-12-01T10:00:00Z";
    chain.age_seconds = 12;
    chain.max_age_seconds = 60;
    const auto json = boost::json::parse(render_audit_page(page, chain)).as_object();
    EXPECT_EQ(json.at("matched").to_number<std::uint64_t>(), 4u);
    EXPECT_EQ(json.at("newest_seq").to_number<std::uint64_t>(), 10u);
    const auto& c = json.at("chain").as_object();
    EXPECT_TRUE(c.at("ok").as_bool());
    EXPECT_EQ(c.at("records").to_number<std::uint64_t>(), std::size(trail));
    EXPECT_EQ(c.at("last_seq").to_number<std::uint64_t>(), std::size(trail));
    EXPECT_EQ(c.at("last_hash").as_string().size(), 64u);
    EXPECT_EQ(c.at("verified_at").as_string(), "2026-12-01T10:00:00Z");
    EXPECT_EQ(c.at("age_seconds").to_number<std::int64_t>(), 12);
    EXPECT_EQ(c.at("max_age_seconds").to_number<std::int64_t>(), 60);
}

TEST_F(AuditReviewQuery, FlowsSumWhatEachClientPurposeAndDestinationReceivedPerDay) {
    std::string error;
    auto q = parse_audit_query("decision=blocked&category=access-error", error);
    ASSERT_TRUE(q) << error;  // a flow ignores the decision and the category
    flow_summary flows;
    ASSERT_FALSE(collect_flows(log_, *q, flows));
    EXPECT_EQ(flows.exports, 4u);
    EXPECT_EQ(flows.delivered_records, 25u);
    EXPECT_EQ(flows.refused, 3u);  // blocked transfers; the access errors are no flow
    ASSERT_GE(flows.flows.size(), 2u);
    EXPECT_EQ(flows.flows[0].client, "erp");
    EXPECT_EQ(flows.flows[0].records, 17u);
    EXPECT_EQ(flows.flows[0].exports, 2u);
    EXPECT_EQ(flows.buckets, (std::vector<std::string>{"2026-11-27", "2026-11-28", "2026-11-29"}));
    ASSERT_EQ(flows.records.size(), 3u);
    EXPECT_EQ(flows.records[0][0], 10u);
    EXPECT_EQ(flows.records[1][0], 7u);
    for (const auto& f : flows.flows) EXPECT_FALSE(f.client.empty() && f.purpose.empty());

    q = parse_audit_query("client=web*&bucket=hour", error);
    ASSERT_TRUE(q) << error;
    ASSERT_FALSE(collect_flows(log_, *q, flows));
    EXPECT_EQ(flows.delivered_records, 8u);
    EXPECT_EQ(flows.buckets, (std::vector<std::string>{"2026-11-28T10", "2026-11-29T10"}));
    const auto json = boost::json::parse(render_flows(flows)).as_object();
    EXPECT_EQ(json.at("bucket").as_string(), "hour");
    EXPECT_EQ(json.at("series").as_array().size(), 2u);
}

TEST(AuditQuery, DescribesItsFiltersInWords) {
    std::string error;
    auto q = parse_audit_query(
        "category=blocked-transfer&decision=blocked&client=web*,erp&since=2026-11-01", error);
    ASSERT_TRUE(q) << error;
    EXPECT_EQ(describe_query(*q),
              "category blocked-transfer; decision blocked; client web*,erp; since "
              "2026-11-01T00:00:00Z");
    EXPECT_EQ(describe_query(audit_query{}), "all records");
}

std::string base64_sha256(std::string_view text) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int len = 0;
    EXPECT_EQ(EVP_Digest(text.data(), text.size(), digest.data(), &len, EVP_sha256(), nullptr), 1);
    std::array<unsigned char, 128> b64{};
    const int n = EVP_EncodeBlock(b64.data(), digest.data(), static_cast<int>(len));
    return std::string(reinterpret_cast<const char*>(b64.data()), static_cast<std::size_t>(n));
}

TEST(AuditReviewPage, ItsPolicyAllowsItsOwnScriptAndStyleAndNothingElse) {
    const std::string_view page = review_page_html();
    const std::string csp = content_security_policy(page, true);
    const auto between = [&](std::string_view open, std::string_view close) {
        const auto b = page.find(open) + open.size();
        return page.substr(b, page.find(close, b) - b);
    };
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
    EXPECT_NE(
        csp.find("script-src 'sha256-" + base64_sha256(between("<script>", "</script>")) + "'"),
        std::string::npos)
        << csp;
    EXPECT_NE(csp.find("style-src 'sha256-" + base64_sha256(between("<style>", "</style>")) + "'"),
              std::string::npos)
        << csp;
    EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos);
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
    EXPECT_EQ(csp.find("unsafe"), std::string::npos);
    EXPECT_EQ(csp.find("*"), std::string::npos);
    // What such a policy blocks must not be in the page: inline handlers and style attributes.
    for (const char* attribute : {" onclick=", " onload=", " onerror=", " style="})
        EXPECT_EQ(page.find(attribute), std::string_view::npos) << attribute;
    // One inline script and one style block only: the hashes cover all the page runs.
    EXPECT_EQ(page.find("<script", page.find("<script") + 1), std::string_view::npos);
    EXPECT_EQ(page.find("<style", page.find("<style") + 1), std::string_view::npos);
    // A document without scripts gets no script at all.
    EXPECT_NE(content_security_policy("<style>p{}</style>", false).find("script-src 'none'"),
              std::string::npos);
}

}  // namespace
}  // namespace exportwall::audit
