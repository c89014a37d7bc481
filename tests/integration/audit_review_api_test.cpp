// The review page's API on the admin listener, through the real binary (issue 18, item 8; the
// browser drives the same endpoints in audit_review_page_test.cpp): the token guards every
// endpoint, the page carries a strict Content-Security-Policy, a decision typo is a 400, the
// chain status says when it was verified and is verified again on request, and the subject
// lookup answers by POST and never writes the looked-up value to a log.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <fstream>
#include <string>

#include "tests/integration/enforce_fixture.hpp"

namespace exportwall::itest {
namespace {

constexpr std::string_view token = "review-api-token";

class AuditReviewApi : public enforce_fixture {
  protected:
    ::testing::AssertionResult start_with(bool subject_key) {
        vendor_policy_options o;
        o.edits = {{"<admin address=\"127.0.0.1\" port=\"0\"/>",
                    "<admin address=\"127.0.0.1\" port=\"0\" token-sha256=\"" + sha256_hex(token) +
                        "\"/>"}};
        if (subject_key) {
            const std::string key = dir_.file("subject.key");
            std::ofstream(key, std::ios::binary) << std::string(40, 's');
            o.edits.emplace_back(" sync=\"blocked\">",
                                 " sync=\"blocked\" subject-key-file=\"" + key + "\">");
        }
        return start(o);
    }
    response admin(std::string_view method, std::string_view target, std::string_view body = {},
                   bool with_token = true) {
        std::string req =
            std::string(method) + " " + std::string(target) +
            " HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n";
        if (with_token) req += "Authorization: Bearer " + std::string(token) + "\r\n";
        if (!body.empty()) req += "Content-Type: application/json\r\n";
        req += "\r\n";
        req += body;
        return fetch(proxy_.admin_port(), req);
    }
    std::string deliver(const contact& delivered, const contact& dropped) {
        constexpr std::string_view path = "/api/data/v9.2/contacts";
        EXPECT_TRUE(stage(path, "application/json",
                          render(vendor_shape::dataverse, {delivered, dropped}, crm_origin())));
        export_request r;
        r.target = std::string(path);
        r.api_key = std::string(marketing_key);
        r.purpose = "promotion-email";
        r.destination = "newsletter";
        const response resp = send(r);
        EXPECT_EQ(resp.status, 200u) << resp.body;
        const std::string id = resp.header("X-Export-Audit-Id").value_or("");
        EXPECT_TRUE(audit_record(id).has_value());
        return id;
    }
};

TEST_F(AuditReviewApi, EveryEndpointNeedsTheTokenAndItsMethod) {
    ASSERT_TRUE(start_with(false));
    for (const auto& [method, target] :
         std::vector<std::pair<std::string, std::string>>{{"GET", "/admin/"},
                                                          {"GET", "/admin/audit"},
                                                          {"POST", "/admin/audit/verify"},
                                                          {"GET", "/admin/flows"},
                                                          {"GET", "/admin/report"},
                                                          {"POST", "/admin/subject"}}) {
        const response r = admin(method, target, {}, false);
        EXPECT_EQ(r.status, 401u) << method << " " << target;
        EXPECT_EQ(r.body.find("<"), std::string::npos) << "no page without the token";
    }
    const response wrong = admin("GET", "/admin/subject");
    EXPECT_EQ(wrong.status, 405u);
    EXPECT_EQ(wrong.header("Allow").value_or(""), "POST");
    EXPECT_EQ(admin("POST", "/admin/audit").status, 405u);
    EXPECT_EQ(admin("GET", "/admin/audit/verify").status, 405u);
}

TEST_F(AuditReviewApi, ThePageAllowsOnlyItsOwnScriptAndStyle) {
    ASSERT_TRUE(start_with(false));
    const response page = admin("GET", "/admin/");
    ASSERT_EQ(page.status, 200u);
    const std::string csp = page.header("Content-Security-Policy").value_or("");
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("script-src 'sha256-"), std::string::npos) << csp;
    EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
    EXPECT_EQ(page.header("X-Content-Type-Options").value_or(""), "nosniff");
    EXPECT_EQ(page.header("X-Frame-Options").value_or(""), "DENY");
    EXPECT_EQ(page.header("Cache-Control").value_or(""), "no-store");

    const response report = admin("GET", "/admin/report?category=blocked-transfer");
    ASSERT_EQ(report.status, 200u);
    EXPECT_NE(report.body.find("Audit evidence report"), std::string::npos);
    EXPECT_NE(report.body.find("category blocked-transfer"), std::string::npos);
    const std::string report_csp = report.header("Content-Security-Policy").value_or("");
    EXPECT_NE(report_csp.find("script-src 'none'"), std::string::npos) << report_csp;
}

TEST_F(AuditReviewApi, ADecisionTypoIsABadRequestNotAnEmptyPage) {
    ASSERT_TRUE(start_with(false));
    const response typo = admin("GET", "/admin/audit?decision=blockd");
    EXPECT_EQ(typo.status, 400u);
    EXPECT_NE(typo.body.find("decision"), std::string::npos);
    EXPECT_EQ(typo.body.find("blockd"), std::string::npos) << "never echoes the value";
    EXPECT_EQ(admin("GET", "/admin/flows?client=a*b").status, 400u);
    EXPECT_EQ(admin("GET", "/admin/report?category=nope").status, 400u);
    EXPECT_EQ(admin("GET", "/admin/audit?decision=blocked&client=mark*").status, 200u);
}

TEST_F(AuditReviewApi, TheChainStatusSaysWhenItWasVerifiedAndVerifiesOnRequest) {
    ASSERT_TRUE(start_with(false));
    const response first = admin("GET", "/admin/audit?limit=1");
    ASSERT_EQ(first.status, 200u) << first.body;
    const auto page = boost::json::parse(first.body).as_object();
    const auto& chain = page.at("chain").as_object();
    EXPECT_TRUE(chain.at("ok").as_bool());
    EXPECT_EQ(chain.at("verified_at").as_string().size(), 20u);  // 2026-12-05T06:00:00Z
    EXPECT_EQ(chain.at("max_age_seconds").to_number<int>(), 60);
    const auto before = chain.at("records").to_number<std::uint64_t>();
    EXPECT_EQ(page.at("matched").to_number<std::uint64_t>(), before);  // the start's record

    // A refusal adds a record; the cached status still counts the old ones, the page's newest
    // seq shows the difference, and a verification on request counts it.
    export_request r;
    r.target = "/api/data/v9.2/contacts";
    EXPECT_EQ(send(r).status, 401u);
    const auto cached = boost::json::parse(admin("GET", "/admin/audit?limit=1").body).as_object();
    EXPECT_EQ(cached.at("chain").at("records").to_number<std::uint64_t>(), before);
    EXPECT_EQ(cached.at("newest_seq").to_number<std::uint64_t>(), before + 1);
    const response verified = admin("POST", "/admin/audit/verify");
    ASSERT_EQ(verified.status, 200u);
    const auto now = boost::json::parse(verified.body).as_object();
    EXPECT_EQ(now.at("chain").at("records").to_number<std::uint64_t>(), before + 1);
    EXPECT_EQ(now.at("chain").at("age_seconds").to_number<int>(), 0);
    // The access error is no blocked transfer.
    const auto transfers =
        boost::json::parse(admin("GET", "/admin/audit?category=blocked-transfer").body).as_object();
    EXPECT_EQ(transfers.at("matched").to_number<std::uint64_t>(), 0u);
    const auto access =
        boost::json::parse(admin("GET", "/admin/audit?category=access-error").body).as_object();
    EXPECT_EQ(access.at("matched").to_number<std::uint64_t>(), 1u);
}

TEST_F(AuditReviewApi, TheSubjectLookupAnswersByPostAndLogsNoValue) {
    ASSERT_TRUE(start_with(true));
    const std::string p = marker_prefix();
    const contact ann = marker_contact(p, 1, "customer");
    contact bob = marker_contact(p, 2, "customer");
    bob.objected = true;
    const std::string id = deliver(ann, bob);

    response r = admin("POST", "/admin/subject", R"({"email":")" + ann.email + R"("})");
    ASSERT_EQ(r.status, 200u) << r.body;
    auto answer = boost::json::parse(r.body).as_object();
    EXPECT_TRUE(answer.at("found").as_bool());
    ASSERT_EQ(answer.at("exports").as_array().size(), 1u);
    const auto& e = answer.at("exports").as_array()[0].as_object();
    EXPECT_EQ(e.at("audit_id").as_string(), id);
    EXPECT_EQ(e.at("client").as_string(), "marketing-tool");
    EXPECT_EQ(e.at("destination").as_string(), "newsletter");
    for (const char* member : {"time", "purpose", "organisation", "country"})
        EXPECT_TRUE(e.contains(member)) << member;
    EXPECT_EQ(r.body.find(ann.email), std::string::npos) << "the answer does not echo it";

    r = admin("POST", "/admin/subject", R"({"id":")" + ann.id + R"(","entity":"contact"})");
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(boost::json::parse(r.body).at("exports").as_array().size(), 1u);

    r = admin("POST", "/admin/subject", R"({"email":")" + bob.email + R"("})");
    ASSERT_EQ(r.status, 200u) << r.body;
    answer = boost::json::parse(r.body).as_object();
    EXPECT_FALSE(answer.at("found").as_bool());
    EXPECT_TRUE(answer.at("exports").as_array().empty());

    for (const std::string& body : {std::string("not json"), std::string(R"({"name":"x"})"),
                                    std::string(R"({"email":"a@b","id":"1"})"),
                                    std::string(R"({"email":7})"), std::string("{}")}) {
        r = admin("POST", "/admin/subject", body);
        EXPECT_EQ(r.status, 400u) << body;
    }
    r = admin("POST", "/admin/subject", R"({"id":")" + ann.id + R"(","entity":"nope"})");
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(r.body.find("nope"), std::string::npos);

    for (const char* file : {"exportwall.log", "access.log"}) {
        const auto text = read_file(dir_.file(file)).value_or("");
        EXPECT_EQ(text.find(ann.email), std::string::npos) << file;
        EXPECT_EQ(text.find(bob.email), std::string::npos) << file;
        EXPECT_EQ(text.find(ann.id), std::string::npos) << file;
    }
}

TEST_F(AuditReviewApi, TheSubjectLookupSaysWhenNoIndexIsKept) {
    ASSERT_TRUE(start_with(false));
    const response r = admin("POST", "/admin/subject", R"({"email":"someone@example.test"})");
    EXPECT_EQ(r.status, 501u);
    EXPECT_NE(r.body.find("subject-key-file"), std::string::npos);
    EXPECT_EQ(r.body.find("someone@"), std::string::npos);
}

}  // namespace
}  // namespace exportwall::itest
