#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "config/decide.hpp"
#include "proxy/http/problem.hpp"

namespace exportwall::proxy {
namespace {

TEST(ProblemBody, CarriesTheRfc9457MembersAndReason) {
    problem p{404, config::reason::route_not_found, "No route matches this path.", "0123abcd"};
    auto v = boost::json::parse(problem_body(p)).as_object();
    EXPECT_EQ(v.at("type").as_string(), "https://exportwall.dev/reasons/route_not_found");
    EXPECT_EQ(v.at("title").as_string(), "Route not found");
    EXPECT_EQ(v.at("status").to_number<int>(), 404);
    EXPECT_EQ(v.at("detail").as_string(), "No route matches this path.");
    EXPECT_EQ(v.at("reason").as_string(), "route_not_found");
    EXPECT_EQ(v.at("audit_id").as_string(), "0123abcd");
}

TEST(ProblemBody, NamesTheLegalRuleOfALegalRefusal) {
    problem p{403, config::reason::disclosure_not_permitted, "d", "aid"};
    const std::string body = problem_body(p);
    auto v = boost::json::parse(body).as_object();
    EXPECT_EQ(v.at("rule_id").as_string(), "R10");
    EXPECT_EQ(v.at("legal_reference").as_string(),
              "GDPR art. 6(1), art. 21; CNIL guidance on partner transfers");
    EXPECT_EQ(v.at("title").as_string(), "Disclosure not permitted");
    // After "reason", before "audit_id".
    const auto reason = body.find("\"reason\":");
    const auto rule = body.find("\"rule_id\":");
    const auto reference = body.find("\"legal_reference\":");
    const auto audit_id = body.find("\"audit_id\":");
    ASSERT_NE(rule, std::string::npos);
    EXPECT_LT(reason, rule);
    EXPECT_LT(rule, reference);
    EXPECT_LT(reference, audit_id);

    for (config::reason code :
         {config::reason::third_party_direct_marketing, config::reason::processor_agreement_expired,
          config::reason::destination_not_permitted_for_purpose,
          config::reason::purpose_not_granted}) {
        const auto want = config::rule_of(code);
        ASSERT_FALSE(want.rule_id.empty()) << config::to_string(code);
        problem legal{403, code, "d", "aid"};
        auto o = boost::json::parse(problem_body(legal)).as_object();
        EXPECT_EQ(o.at("rule_id").as_string(), want.rule_id) << config::to_string(code);
        EXPECT_EQ(o.at("legal_reference").as_string(), want.legal_reference)
            << config::to_string(code);
    }
}

TEST(ProblemBody, NamesNoRuleForARefusalThatIsNotLegal) {
    using config::reason;
    for (reason code : {reason::upstream_timeout, reason::request_rejected,
                        reason::audit_unavailable, reason::upstream_unavailable}) {
        problem p{504, code, "d", "aid"};
        auto v = boost::json::parse(problem_body(p)).as_object();
        EXPECT_FALSE(v.contains("rule_id")) << config::to_string(code);
        EXPECT_FALSE(v.contains("legal_reference")) << config::to_string(code);
        EXPECT_EQ(v.size(), 6u) << config::to_string(code);
    }
}

TEST(ProblemBody, EscapesItsStrings) {
    problem p{400, config::reason::request_rejected, "a \"quoted\"\ndetail", "id"};
    auto v = boost::json::parse(problem_body(p)).as_object();
    EXPECT_EQ(v.at("detail").as_string(), "a \"quoted\"\ndetail");
}

TEST(ProblemResponse, IsACompleteResponseThatCloses) {
    problem p{502, config::reason::upstream_unavailable, "The upstream could not be reached.",
              "aid"};
    auto r = problem_response(p, false, 11, "rid");
    auto body = problem_body(p);
    EXPECT_EQ(r.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u);
    EXPECT_NE(r.find("Content-Type: application/problem+json\r\n"), std::string::npos);
    EXPECT_NE(r.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);
    EXPECT_NE(r.find("X-Request-Id: rid\r\n"), std::string::npos);
    EXPECT_NE(r.find("X-Export-Audit-Id: aid\r\n"), std::string::npos);
    EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(r.substr(r.size() - body.size()), body);
}

TEST(ProblemResponse, KeepAliveForHttp10AndNoBodyForHead) {
    problem p{405, config::reason::method_not_allowed, "d", "aid"};
    auto r = problem_response(p, true, 10, "rid", true, "Allow: GET\r\n");
    EXPECT_NE(r.find("Connection: keep-alive\r\n"), std::string::npos);
    EXPECT_NE(r.find("Allow: GET\r\n"), std::string::npos);
    EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n");
}

TEST(ProblemTitle, KnowsEveryDesignReasonCode) {
    EXPECT_EQ(problem_title(config::reason::none), "Request refused");
    EXPECT_EQ(problem_title(config::reason::route_not_found), "Route not found");
    EXPECT_EQ(problem_title(config::reason::processor_agreement_expired),
              "Processor agreement expired");
    for (std::size_t i = 1; i < config::reason_count; ++i) {
        const auto code = static_cast<config::reason>(i);
        EXPECT_NE(problem_title(code), "Request refused") << config::to_string(code);
    }
    EXPECT_EQ(status_reason(431), "Request Header Fields Too Large");
}

}  // namespace
}  // namespace exportwall::proxy
