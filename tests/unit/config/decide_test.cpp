// The decision engine over a matrix of clients, purposes, destinations and requested fields,
// together hitting every reason code decide() gives; plus credentials, declarations, selection
// rewriting, modes and limits.

#include <gtest/gtest.h>

#include <set>

#include "config/decide.hpp"
#include "tests/unit/config/policy_test_support.hpp"

namespace exportwall::config {
namespace {

using strings = std::vector<std::string>;
using testing::base_policy;
using testing::errors_of;
using testing::facts_builder;

class Decide : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        auto r = testing::load(base_policy);
        ASSERT_TRUE(r) << errors_of(r);
        config_ = r.config;
    }
    static void TearDownTestSuite() { config_.reset(); }
    static decision run(facts_builder& f) { return decide(*config_, f.build()); }
    static std::shared_ptr<const configuration> config_;
};
std::shared_ptr<const configuration> Decide::config_;

struct matrix_case {
    const char* name;
    const char* key;
    const char* purpose;
    const char* destination;
    const char* path;
    const char* query;
    reason expected;
};

TEST_F(Decide, MatrixGivesTheExpectedReasons) {
    const matrix_case cases[] = {
        {"contract export to internal", "erp-key", "invoicing", "billing", "/contacts", "",
         reason::none},
        {"contract export to its processor", "erp-key", "invoicing", "carrier", "/contacts", "",
         reason::none},
        {"legitimate interest to a third party", "erp-key", "survey", "partner-crm", "/contacts",
         "", reason::disclosure_not_permitted},
        {"contract to a third party", "erp-key", "invoicing", "partner-crm", "/contacts", "",
         reason::disclosure_not_permitted},
        {"processor not contracted", "erp-key", "quote", "carrier", "/contacts", "",
         reason::destination_not_permitted_for_purpose},
        {"destination not in the grant", "erp-key", "quote", "billing", "/contacts", "",
         reason::destination_not_granted},
        {"purpose not granted", "erp-key", "promotion", "newsletter", "/contacts", "",
         reason::purpose_not_granted},
        {"marketing to a third party", "marketing-key", "promotion", "partner-crm", "/contacts", "",
         reason::third_party_direct_marketing},
        {"anything to a list broker", "partner-key", "survey", "partner-leads", "/contacts", "",
         reason::third_party_direct_marketing},
        {"list broker even for contract", "erp-key", "invoicing", "partner-leads", "/contacts", "",
         reason::third_party_direct_marketing},
        {"unknown purpose", "erp-key", "sales-push", "billing", "/contacts", "",
         reason::purpose_unknown},
        {"unknown destination", "erp-key", "invoicing", "archive", "/contacts", "",
         reason::destination_unknown},
        {"unknown key", "guess", "invoicing", "billing", "/contacts", "", reason::unauthenticated},
        {"no key", "", "invoicing", "billing", "/contacts", "", reason::unauthenticated},
        {"no route", "erp-key", "invoicing", "billing", "/accounts", "", reason::route_not_found},
        {"repeated selection", "erp-key", "invoicing", "billing", "/contacts",
         "$select=id&%24select=iban", reason::declaration_invalid},
        {"passthrough", "erp-key", "survey", "billing", "/meta/fields", "", reason::none},
        {"marketing on passthrough", "marketing-key", "renewal", "sales", "/meta/fields", "",
         reason::purpose_not_granted},
    };
    std::set<reason> seen;
    for (const auto& c : cases) {
        facts_builder f;
        f.key(c.key).declare(c.purpose, c.destination).target(c.path, c.query);
        auto d = run(f);
        EXPECT_EQ(d.why, c.expected) << c.name << ": " << to_string(d.why) << " " << d.detail;
        EXPECT_EQ(d.status, http_status(c.expected)) << c.name;
        EXPECT_EQ(d.result, c.expected == reason::none ? outcome::allow : outcome::refuse)
            << c.name;
        seen.insert(d.why);
    }
    // The declaration and method reasons need other facts than the table carries.
    facts_builder missing;
    missing.key("erp-key").target("/contacts");
    missing.destinations = {"billing"};
    seen.insert(run(missing).why);
    facts_builder twice;
    twice.key("erp-key").target("/contacts");
    twice.purposes = {"invoicing", "invoicing"};
    twice.destinations = {"billing"};
    seen.insert(run(twice).why);
    facts_builder post;
    post.key("erp-key").declare("invoicing", "billing").target("/contacts");
    post.method = "POST";
    seen.insert(run(post).why);
    for (auto r :
         {reason::none, reason::route_not_found, reason::method_not_allowed,
          reason::unauthenticated, reason::declaration_missing, reason::declaration_invalid,
          reason::purpose_unknown, reason::purpose_not_granted, reason::destination_unknown,
          reason::destination_not_granted, reason::destination_not_permitted_for_purpose,
          reason::third_party_direct_marketing})
        EXPECT_TRUE(seen.count(r)) << "never produced: " << to_string(r);
}

TEST_F(Decide, FullMatrixNeverLetsMarketingReachAThirdParty) {
    const char* keys[] = {"erp-key", "marketing-key", "partner-key"};
    const char* queries[] = {"", "$select=email", "$select=iban,email,religion", "$select=zzz"};
    const auto& p = config_->rules;
    std::size_t allowed = 0;
    for (auto key : keys)
        for (const auto& pu : p.purposes)
            for (const auto& de : p.destinations)
                for (auto q : queries) {
                    facts_builder f;
                    f.key(key).declare(pu.id, de.id).target("/contacts", q);
                    auto d = run(f);
                    if (d.result != outcome::allow) continue;
                    ++allowed;
                    EXPECT_FALSE(de.own_marketing) << pu.id << " -> " << de.id;
                    EXPECT_FALSE(pu.direct_marketing && de.kind == destination_kind::third_party)
                        << pu.id << " -> " << de.id;
                    EXPECT_FALSE(de.kind == destination_kind::processor && !de.permits(pu.id));
                    ASSERT_NE(d.allowed, nullptr);
                    // Nothing outside the purpose's fields is ever selected or kept.
                    for (const auto& k : d.fields_kept) EXPECT_TRUE(d.allowed->keeps(k)) << k;
                    EXPECT_TRUE(std::find(d.fields_kept.begin(), d.fields_kept.end(), "iban") ==
                                d.fields_kept.end());
                }
    EXPECT_GT(allowed, 0u);
}

TEST_F(Decide, AllowedExportCarriesCompiledFilterAndSelection) {
    facts_builder f;
    f.key("erp-key")
        .declare("invoicing", "billing")
        .target("/contacts", "$select=email,iban&$top=3");
    auto d = run(f);
    ASSERT_EQ(d.result, outcome::allow) << d.detail;
    EXPECT_EQ(d.client_id, "erp");
    EXPECT_EQ(d.purpose_id, "invoicing");
    EXPECT_EQ(d.basis, legal_basis::contract);
    EXPECT_EQ(d.destination_id, "billing");
    EXPECT_EQ(d.kind, destination_kind::internal);
    ASSERT_NE(d.matched_route, nullptr);
    EXPECT_EQ(d.matched_route->id, "contacts");
    EXPECT_EQ(d.fields_requested, (strings{"email", "iban"}));
    EXPECT_EQ(d.fields_kept, (strings{"email"}));
    EXPECT_EQ(d.fields_stripped, (strings{"iban"}));
    // The subject field is selected so the contract's customer-only condition can see it.
    EXPECT_EQ(d.fields_selected, (strings{"email", "lifecycle"}));
    EXPECT_EQ(d.upstream_query, "$select=email,lifecycle&$top=3");
    ASSERT_NE(d.allowed, nullptr);
    EXPECT_TRUE(d.allowed->keeps("address.city"));
    EXPECT_FALSE(d.allowed->keeps("iban"));
    ASSERT_NE(d.rules, nullptr);
    ASSERT_EQ(d.rules->conditions.size(), 1u);
    EXPECT_EQ(d.rules->conditions[0].reason, filters::drop_reason::subject_not_allowed);
    EXPECT_EQ(d.max_records, 100u);  // min of the grant (100) and the purpose (500)
    EXPECT_EQ(d.effective_mode, mode::enforce);
}

TEST_F(Decide, MarketingExportSelectsConsentObjectionAndSuppressionFields) {
    facts_builder f;
    f.key("marketing-key").declare("promotion", "newsletter").target("/contacts");
    auto d = run(f);
    ASSERT_EQ(d.result, outcome::allow) << d.detail;
    EXPECT_EQ(d.effective_mode, mode::enforce);
    ASSERT_NE(d.suppression, nullptr);
    EXPECT_EQ(d.suppression->id, "dnc");
    for (auto field : {"consent.email", "objection.dm", "lifecycle", "address.city", "email"})
        EXPECT_NE(std::find(d.fields_selected.begin(), d.fields_selected.end(), field),
                  d.fields_selected.end())
            << field;
    EXPECT_FALSE(d.allowed->keeps("consent.email"));  // read by the rules, never exported
}

TEST_F(Decide, ThirdPartyMarketingIsRefused) {
    facts_builder f;
    f.key("marketing-key").declare("promotion", "partner-crm").target("/contacts");
    auto d = run(f);
    EXPECT_EQ(d.result, outcome::refuse);
    EXPECT_EQ(d.why, reason::third_party_direct_marketing);
    EXPECT_EQ(d.effective_mode, mode::enforce);
}

TEST_F(Decide, LegalRefusalsNameTheirRuleAndLaw) {
    facts_builder f;
    f.key("erp-key").declare("invoicing", "partner-crm").target("/contacts");
    auto d = run(f);
    EXPECT_EQ(d.why, reason::disclosure_not_permitted);
    EXPECT_EQ(rule_of(d.why).rule_id, "R10");
    EXPECT_EQ(rule_of("processor_agreement_expired").rule_id, "GDPR-28");
    EXPECT_EQ(rule_of("purpose_not_granted").rule_id, "R15");
    EXPECT_TRUE(rule_of(reason::upstream_timeout).rule_id.empty());
    EXPECT_TRUE(rule_of("no-such-reason").rule_id.empty());
}

TEST(DecideAgreements, ExportsStopTheDayAfterTheProcessingAgreementEnds) {
    auto policy = testing::base_policy;
    const std::string from = "dpa-ref=\"DPA-1\"";
    policy.replace(policy.find(from), from.size(), from + " dpa-expires=\"2027-03-31\"");
    auto r = testing::load(policy);
    ASSERT_TRUE(r) << errors_of(r);
    auto at = [&r](std::int64_t now) {
        facts_builder f;
        f.key("erp-key").declare("invoicing", "carrier").target("/contacts");
        f.build();
        f.facts.now = now;
        return decide(*r.config, f.facts);
    };
    const std::int64_t last_day = 20908;  // 2027-03-31
    EXPECT_EQ(at(last_day * 86400).result, outcome::allow);
    EXPECT_EQ(at(last_day * 86400 + 86399).result, outcome::allow);
    auto d = at((last_day + 1) * 86400);
    EXPECT_EQ(d.why, reason::processor_agreement_expired);
    EXPECT_EQ(d.status, 403u);
    EXPECT_NE(d.detail.find("2027-03-31"), std::string::npos);
}

TEST(DecideDisclosure, ConsentToAThirdPartyReadsTheRecipientsOwnConsent) {
    auto policy = testing::base_policy;
    auto edit = [&policy](const std::string& from, const std::string& to) {
        auto pos = policy.find(from);
        ASSERT_NE(pos, std::string::npos) << from;
        policy.replace(pos, from.size(), to);
    };
    edit(R"(<field path="objection.dm" category="user.privacy_preferences"/>)",
         R"(<field path="objection.dm" category="user.privacy_preferences"/>
    <field path="consent.insurer" category="user.privacy_preferences" consent-recipient="insurer"/>)");
    edit(
        R"(<purpose id="quote")",
        R"(<purpose id="insurance" data-use="essential.service.operations" basis="consent" subjects="customer"
           consent-field="consent.email">
    <fields entity="contact">id first_name</fields>
  </purpose>
  <purpose id="quote")");
    edit(R"(<destination id="billing" kind="internal" country="BE"/>)",
         R"(<destination id="billing" kind="internal" country="BE"/>
  <destination id="insurer" kind="third-party" country="BE"/>)");
    edit(R"(<grant purpose="quote" destinations="sales"/>)",
         R"(<grant purpose="quote" destinations="sales"/>
    <grant purpose="insurance" destinations="billing insurer"/>)");
    auto r = testing::load(policy);
    ASSERT_TRUE(r) << errors_of(r);
    auto run_for = [&r](const char* destination) {
        facts_builder f;
        f.key("erp-key").declare("insurance", destination).target("/contacts");
        return decide(*r.config, f.build());
    };
    auto to_insurer = run_for("insurer");
    ASSERT_EQ(to_insurer.result, outcome::allow) << to_insurer.detail;
    ASSERT_NE(to_insurer.rules, nullptr);
    auto reads = [](const filters::record_rules& rules, std::string_view field) {
        return std::any_of(rules.conditions.begin(), rules.conditions.end(),
                           [field](const auto& c) { return c.field == field && c.strict; });
    };
    EXPECT_TRUE(reads(*to_insurer.rules, "consent.insurer"));
    EXPECT_TRUE(reads(*to_insurer.rules, "consent.email"));
    EXPECT_NE(std::find(to_insurer.fields_selected.begin(), to_insurer.fields_selected.end(),
                        "consent.insurer"),
              to_insurer.fields_selected.end());
    // Internally the recipient's consent is not needed.
    auto internal = run_for("billing");
    ASSERT_EQ(internal.result, outcome::allow) << internal.detail;
    EXPECT_FALSE(reads(*internal.rules, "consent.insurer"));
    // A record with our consent but not the recipient's never reaches the insurer.
    filters::record_fields rec;
    rec.add("lifecycle", "customer");
    rec.add("consent.email", "true");
    rec.add("consent.insurer", "false");
    EXPECT_EQ(filters::evaluate(*to_insurer.rules, rec), filters::drop_reason::no_consent);
    EXPECT_EQ(filters::evaluate(*internal.rules, rec), std::nullopt);
}

TEST_F(Decide, DeclarationValuesAreStrict) {
    for (const auto& values : std::vector<strings>{
             {""}, {"   "}, {"invoicing,quote"}, {"invoicing", "invoicing"}, {"in voicing"}}) {
        facts_builder f;
        f.key("erp-key").target("/contacts");
        f.purposes = values;
        f.destinations = {"billing"};
        auto d = run(f);
        EXPECT_EQ(d.why, reason::declaration_invalid) << ::testing::PrintToString(values);
        EXPECT_EQ(d.status, 400u);
    }
    facts_builder padded;
    padded.key("erp-key").declare(" invoicing\t", "billing").target("/contacts");
    EXPECT_EQ(run(padded).why, reason::none);
    facts_builder none;
    none.key("erp-key").target("/contacts");
    none.purposes = {"invoicing"};
    EXPECT_EQ(run(none).why, reason::declaration_missing);
}

TEST_F(Decide, UnauthenticatedComesBeforeTheDeclaration) {
    facts_builder f;
    f.target("/contacts");
    auto d = run(f);
    EXPECT_EQ(d.why, reason::unauthenticated);
    EXPECT_EQ(d.status, 401u);
    EXPECT_EQ(d.effective_mode, mode::enforce);
}

TEST_F(Decide, CertificateSubjectIdentifiesAClient) {
    facts_builder f;
    f.declare("renewal", "sales").target("/contacts");
    f.build();
    request_facts facts = f.facts;
    facts.credentials.certificate_subject = "CN=marketing,O=Example";
    auto d = decide(*config_, facts);
    EXPECT_EQ(d.why, reason::none) << d.detail;
    EXPECT_EQ(d.client_id, "marketing");
    // A key naming another client than the certificate is refused.
    std::string key = testing::sha256_hex("erp-key");
    facts.credentials.api_key_sha256 = key;
    EXPECT_EQ(decide(*config_, facts).why, reason::unauthenticated);
    // Unknown certificate alone.
    facts.credentials.api_key_sha256 = {};
    facts.credentials.certificate_subject = "CN=intruder";
    EXPECT_EQ(decide(*config_, facts).why, reason::unauthenticated);
}

TEST_F(Decide, KeyHashComparesCaseInsensitively) {
    facts_builder f;
    f.key("erp-key").declare("invoicing", "billing").target("/contacts");
    for (auto& c : f.key_hash) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(run(f).why, reason::none);
}

// The key's digest as exportwall computes it (64 lower-case digits, read sixteen at a time), in
// capitals, or in pairs split by ':', names the client; a digest with any other byte in place of
// a digit (a ':' leaves 63), or of another length, names none.
TEST_F(Decide, KeyHashIsReadInEachOfItsFormsAndNoOther) {
    facts_builder f;
    f.key("erp-key").declare("invoicing", "billing").target("/contacts");
    f.build();
    const std::string lower = f.key_hash;
    ASSERT_EQ(lower.size(), 64u);
    std::string upper = lower, pairs;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (std::size_t i = 0; i < lower.size(); i += 2) {
        if (i != 0) pairs += ':';
        pairs += lower.substr(i, 2);
    }
    auto why = [&](const std::string& hash) {
        request_facts facts = f.facts;
        facts.credentials.api_key_sha256 = hash;
        return decide(*config_, facts).why;
    };
    for (const std::string& ok : {lower, upper, pairs}) EXPECT_EQ(why(ok), reason::none) << ok;
    for (std::size_t at = 0; at < lower.size(); ++at) {
        for (const char odd : {'g', '/', ':', '`', 'G', '\xff', '\0'}) {
            std::string bad = lower;
            bad[at] = odd;
            EXPECT_EQ(why(bad), reason::unauthenticated) << at << ' ' << static_cast<int>(odd);
        }
    }
    EXPECT_EQ(why(lower.substr(0, 63)), reason::unauthenticated);
    EXPECT_EQ(why(lower + "0"), reason::unauthenticated);
}

TEST_F(Decide, RouteIdFromTheProxySkipsMatching) {
    facts_builder f;
    f.key("erp-key").declare("invoicing", "billing").target("/whatever");
    f.build();
    request_facts facts = f.facts;
    facts.route_id = "contacts";
    EXPECT_EQ(decide(*config_, facts).why, reason::none);
    facts.route_id = "nope";
    EXPECT_EQ(decide(*config_, facts).why, reason::route_not_found);
}

TEST(DecideReasons, NamesAndStatusesAreStable) {
    EXPECT_EQ(to_string(reason::third_party_direct_marketing), "third_party_direct_marketing");
    EXPECT_EQ(to_string(reason::destination_not_permitted_for_purpose),
              "destination_not_permitted_for_purpose");
    EXPECT_EQ(http_status(reason::record_limit_exceeded), 403u);
    EXPECT_EQ(http_status(reason::request_rejected), 400u);
    EXPECT_EQ(http_status(reason::upstream_timeout), 504u);
    EXPECT_EQ(http_status(reason::audit_unavailable), 503u);
    for (std::size_t i = 0; i < reason_count; ++i) {
        auto r = static_cast<reason>(i);
        EXPECT_EQ(parse_reason(to_string(r)), r);
    }
}

TEST(DecideHelpers, ConstantTimeEquals) {
    EXPECT_TRUE(constant_time_equals("abc", "abc"));
    EXPECT_FALSE(constant_time_equals("abc", "abd"));
    EXPECT_FALSE(constant_time_equals("abc", "abcd"));
}

TEST(DecideHelpers, UpstreamPathMapsPrefixes) {
    route r;
    r.path = "/exports";
    r.upstream_path = "/api/v2/exports";
    upstream up;
    up.base_path = "/crm";
    EXPECT_EQ(upstream_path(r, &up, "/exports/contacts"), "/crm/api/v2/exports/contacts");
    r.upstream_path.clear();
    EXPECT_EQ(upstream_path(r, nullptr, "/exports"), "/exports");
}

}  // namespace
}  // namespace exportwall::config
