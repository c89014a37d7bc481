// The legal rules at load: one unlawful policy per rule (../shared/LEGAL-RULES.md R1–R15 and the
// GDPR articles the structural checks rest on), each refused with its rule id, its legal
// reference and the exact position; and a lawful counterpart of each that loads.

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "config/rules.hpp"
#include "tests/unit/config/policy_test_support.hpp"

namespace exportwall::config {
namespace {

using testing::base_policy;
using testing::document;
using testing::errors_of;
using testing::has_error;
using testing::load;
using testing::where;

using edits = std::vector<std::pair<std::string_view, std::string_view>>;

std::string with(std::string text, const edits& changes) {
    for (const auto& [from, to] : changes) {
        auto pos = text.find(from);
        EXPECT_NE(pos, std::string::npos) << from;
        if (pos != std::string::npos) text.replace(pos, from.size(), to);
    }
    return text;
}

// A destination for disclosure cases, a consent field naming it, and a purpose on consent.
constexpr std::string_view insurer_field =
    R"(<field path="objection.dm" category="user.privacy_preferences"/>
    <field path="consent.insurer" category="user.privacy_preferences" consent-recipient="insurer"/>)";
constexpr std::string_view insurer_destination =
    R"(<destination id="partner-crm" kind="third-party" country="FR"/>
  <destination id="insurer" kind="third-party" country="BE"/>)";
constexpr std::string_view insurer_purpose = R"(<purpose id="quote" data-use="essential.service.operations")";
constexpr std::string_view insurer_purpose_added =
    R"(<purpose id="insurance" data-use="essential.service.operations" basis="consent" subjects="customer"
           consent-field="consent.email">
    <fields entity="contact">id first_name</fields>
  </purpose>
  <purpose id="quote" data-use="essential.service.operations")";

struct unlawful_case {
    const char* name;
    edits changes;
    std::string_view anchor;   // where the error points
    std::string_view message;  // the error's start after "file:line:col: "
};

const std::vector<unlawful_case>& unlawful_cases() {
    static const std::vector<unlawful_case> cases{
        {"R1: contract covers what the contract needs only",
         {{R"(<purpose id="invoicing" data-use="essential.service.payment_processing")",
           R"(<purpose id="invoicing" data-use="essential.service.authentication")"}},
         "<purpose id=\"invoicing\"",
         "R1 (GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §2.4–2.5): purpose 'invoicing' (data use "
         "'essential.service.authentication') cannot rest on basis 'contract'"},
        {"R1: contract never reaches prospects",
         {{R"(basis="contract" subjects="customer")", R"(basis="contract" subjects="customer prospect")"}},
         "<purpose id=\"invoicing\"",
         "R1 (GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §2.4–2.5): contract purpose 'invoicing' "
         "may touch customers (and former customers) only"},
        {"R2: a profile of tastes is not contract",
         {{R"(data-use="essential.service.payment_processing")", R"(data-use="personalize.content.profiling")"}},
         "<purpose id=\"invoicing\"", "R2 (GDPR art. 6(1)(b); EDPB Guidelines 2/2019): purpose 'invoicing'"},
        {"R3: former customers only for what survives the contract",
         {{R"(data-use="essential.service.payment_processing" basis="contract" subjects="customer")",
           R"(data-use="essential.service.operations" basis="contract" subjects="customer former-customer")"}},
         "<purpose id=\"invoicing\"",
         "R3 (GDPR art. 6(1)(b); EDPB Guidelines 2/2019): contract purpose 'invoicing' (data use "
         "'essential.service.operations') may not touch former customers"},
        {"R4: fraud screening is not contract",
         {{R"(data-use="essential.service.payment_processing")", R"(data-use="essential.fraud_detection")"}},
         "<purpose id=\"invoicing\"",
         "R4 (GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §3): purpose 'invoicing' (data use "
         "'essential.fraud_detection') cannot rest on basis 'contract'"},
        {"R4: a satisfaction survey is not contract",
         {{R"(data-use="functional.service.improve" basis="legitimate-interest")",
           R"(data-use="functional.service.improve" basis="contract")"}},
         "<purpose id=\"survey\"", "R4 (GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §3): purpose 'survey'"},
        {"R4: a renewal invitation (marketing) is not contract",
         {{R"(data-use="marketing.communications" basis="legitimate-interest")",
           R"(data-use="marketing.communications" basis="contract")"}},
         "<purpose id=\"renewal\"", "R4 (GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §3): purpose 'renewal'"},
        {"R4: marketing is not pre-contract either",
         {{R"(data-use="essential.service.operations" basis="pre-contract")",
           R"(data-use="marketing.communications.email" basis="pre-contract")"}},
         "<purpose id=\"quote\"", "R4 (GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §3): purpose 'quote'"},
        {"R5: pre-contract touches prospects only",
         {{R"(basis="pre-contract" subjects="prospect")", R"(basis="pre-contract" subjects="prospect customer")"}},
         "<purpose id=\"quote\"",
         "R5 (GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §2.7): pre-contract purpose 'quote' may "
         "touch prospects only"},
        {"R5: pre-contract needs the prospect's request",
         {{R"(<request-evidence entity="contact" field="quote_requested" equals="true"/>)", ""}},
         "<purpose id=\"quote\"",
         "R5 (GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §2.7): pre-contract purpose 'quote' needs "
         "a <request-evidence> condition"},
        {"R6: legitimate interest names its balancing test",
         {{R"(subjects="customer" lia="LIA-7")", R"(subjects="customer")"}},
         "<purpose id=\"survey\"",
         "R6 (GDPR art. 6(1)(f), recital 47, art. 21(1)): legitimate-interest purpose 'survey' "
         "must name its balancing test (lia)"},
        {"R6: legitimate interest offers an objection",
         {{R"(subjects="customer" lia="LIA-7" objection-field="objection.dm")", R"(subjects="customer" lia="LIA-7")"}},
         "<purpose id=\"survey\"",
         "R6 (GDPR art. 6(1)(f), recital 47, art. 21(1)): legitimate-interest purpose 'survey' "
         "must name an objection-field"},
        {"R7: e-mail marketing on legitimate interest without the soft opt-in",
         {{R"(data-use="marketing.communications.email" basis="consent")",
           R"(data-use="marketing.communications.email" basis="legitimate-interest" lia="LIA-1")"}},
         "<purpose id=\"promotion\"",
         "R7 (ePrivacy Directive art. 13(1)-(2); Belgian CEL art. XII.13): direct marketing by "
         "email (purpose 'promotion') needs basis 'consent', or the soft opt-in"},
        {"R7: the soft opt-in reaches existing customers only",
         {{R"(data-use="marketing.communications.email" basis="consent")",
           R"(data-use="marketing.communications.email" basis="legitimate-interest" lia="LIA-1" soft-opt-in="true" own-similar-products="true" opt-out-at-collection="true")"}},
         "<purpose id=\"promotion\"",
         "R7 (ePrivacy Directive art. 13(1)-(2); Belgian CEL art. XII.13): soft opt-in of purpose "
         "'promotion' reaches existing customers only"},
        {"R7: the soft opt-in needs its conditions",
         {{R"(data-use="marketing.communications.email" basis="consent" subjects="customer prospect")",
           R"(data-use="marketing.communications.email" basis="legitimate-interest" lia="LIA-1" soft-opt-in="true" subjects="customer")"}},
         "<purpose id=\"promotion\"",
         "R7 (ePrivacy Directive art. 13(1)-(2); Belgian CEL art. XII.13): soft opt-in of purpose "
         "'promotion' needs own-similar-products"},
        {"R7: the consent was given for another channel",
         {{R"(data-use="marketing.communications.email" basis="consent" subjects="customer prospect" direct-marketing="true"
           channel="email")", R"(data-use="marketing.communications" basis="consent" subjects="customer prospect" direct-marketing="true"
           channel="sms")"}},
         "<fields entity=\"contact\">id first_name email</fields>\n    <exclude",
         "R7 (ePrivacy Directive art. 13(1)-(2); Belgian CEL art. XII.13): consent field "
         "'consent.email' of entity 'contact' was given for email, but purpose 'promotion' "
         "markets by sms"},
        {"R7: the channel contradicts the data use",
         {{R"(direct-marketing="true"
           channel="email")", R"(direct-marketing="true"
           channel="sms")"}},
         "<purpose id=\"promotion\"",
         "R7 (ePrivacy Directive art. 13(1)-(2); Belgian CEL art. XII.13): purpose 'promotion' "
         "names channel 'sms' but its data use 'marketing.communications.email' is email"},
        {"R8: direct marketing names an objection field",
         {{R"(channel="email" consent-field="consent.email" objection-field="objection.dm")",
           R"(channel="email" consent-field="consent.email")"}},
         "<purpose id=\"promotion\"",
         "R8 (GDPR art. 21(2)-(3)): direct-marketing purpose 'promotion' must name an "
         "objection-field"},
        {"R8: a suppression list does not replace the objection field",
         {{R"(objection-field="objection.dm" suppression-list="dnc">)", R"(suppression-list="dnc">)"}},
         "<purpose id=\"renewal\"",
         "R8 (GDPR art. 21(2)-(3)): direct-marketing purpose 'renewal' must name an objection-field"},
        {"R8: direct marketing consults the policy's suppression list",
         {{R"(objection-field="objection.dm" suppression-list="dnc">)", R"(objection-field="objection.dm">)"}},
         "<purpose id=\"renewal\"",
         "R8 (GDPR art. 21(2)-(3)): direct-marketing purpose 'renewal' must name a "
         "suppression-list"},
        {"R9: a consent purpose reads consent",
         {{R"(channel="email" consent-field="consent.email" )", R"(channel="email" )"}},
         "<purpose id=\"promotion\"",
         "R9 (GDPR art. 6(1)(a), art. 7(3)): consent purpose 'promotion' must name its "
         "consent-field"},
        {"R10: a customer list to a third party for its marketing, whatever the flags",
         {{R"(<grant purpose="promotion" destinations="newsletter"/>)",
           R"(<grant purpose="promotion" destinations="newsletter partner-crm"/>)"}},
         "<grant purpose=\"promotion\"",
         "R10 (GDPR art. 6(1), art. 21; CNIL guidance on partner transfers): grant of purpose "
         "'promotion' to third-party destination 'partner-crm' is not allowed"},
        {"R10: the whole customer file to a broker under an unflagged contract purpose",
         {{R"(<grant purpose="invoicing" destinations="billing carrier" max-records="100"/>)",
           R"(<grant purpose="invoicing" destinations="billing partner-crm" max-records="100"/>)"}},
         "<grant purpose=\"invoicing\"",
         "R10 (GDPR art. 6(1), art. 21; CNIL guidance on partner transfers): grant of purpose "
         "'invoicing' to third-party destination 'partner-crm' is not allowed: the basis "
         "'contract' cannot carry a disclosure"},
        {"R10: legitimate interest cannot carry a disclosure",
         {{R"(<grant purpose="survey" destinations="billing"/>)",
           R"(<grant purpose="survey" destinations="billing partner-crm"/>)"}},
         "<grant purpose=\"survey\" destinations=\"billing partner-crm\"",
         "R10 (GDPR art. 6(1), art. 21; CNIL guidance on partner transfers): grant of purpose "
         "'survey' to third-party destination 'partner-crm' is not allowed"},
        {"R10: nothing reaches an own-marketing third party",
         {{R"(<grant purpose="survey" destinations="sales"/>)", R"(<grant purpose="survey" destinations="partner-leads"/>)"}},
         "<grant purpose=\"survey\" destinations=\"partner-leads\"",
         "R10 (GDPR art. 6(1), art. 21; CNIL guidance on partner transfers): grant of purpose "
         "'survey' to destination 'partner-leads' is not allowed"},
        {"R11: consent to a third party names the recipient",
         {{insurer_purpose, insurer_purpose_added},
          {R"(<destination id="partner-crm" kind="third-party" country="FR"/>)", insurer_destination},
          {R"(<grant purpose="survey" destinations="sales"/>)", R"(<grant purpose="insurance" destinations="insurer"/>)"}},
         "<grant purpose=\"insurance\"",
         "R11 (GDPR art. 4(11), art. 7; CNIL (Canal+ 2023)): grant of purpose 'insurance' to "
         "third-party destination 'insurer' needs a consent field in entity 'contact' that names "
         "the recipient"},
        {"R13: a contradicting direct-marketing flag",
         {{R"(subjects="customer prospect" direct-marketing="true")", R"(subjects="customer prospect" direct-marketing="false")"}},
         "<purpose id=\"promotion\"",
         "R13 (Belgian DPA Recommendation 01/2020): purpose 'promotion' says "
         "direct-marketing=\"false\" but its data use 'marketing.communications.email' is direct "
         "marketing"},
        {"R13: a flag cannot make a service use marketing either",
         {{R"(<purpose id="quote" data-use="essential.service.operations" basis="pre-contract" subjects="prospect">)",
           R"(<purpose id="quote" data-use="essential.service.operations" basis="pre-contract" subjects="prospect" direct-marketing="true">)"}},
         "<purpose id=\"quote\"", "R13 (Belgian DPA Recommendation 01/2020): purpose 'quote'"},
        {"R14: a survey by e-mail under the DE rule pack needs consent",
         {{R"(<client id="partner">)", R"(<client id="partner" jurisdiction="DE">)"},
          {R"(subjects="customer" lia="LIA-7")", R"(subjects="customer" lia="LIA-7" channel="email")"}},
         "<grant purpose=\"survey\" destinations=\"sales\"",
         "R14 (DSK Orientierungshilfe Direktwerbung (2018); Belgian DPA Rec. 01/2020): client "
         "'partner' is under the DE rule pack"},
        {"R15: only uses the subjects were told of",
         {{R"(collected-for="essential marketing functional.service.improve")", R"(collected-for="essential marketing")"}},
         "<fields entity=\"contact\">id email</fields>",
         "R15 (GDPR art. 5(1)(b), recital 47): purpose 'survey' (data use "
         "'functional.service.improve') reads entity 'contact'"},
        {"R15: an entity names what was declared at collection",
         {{"\n          collected-for=\"essential marketing functional.service.improve\"", ""}},
         "<entity id=\"contact\"",
         "R15 (GDPR art. 5(1)(b), recital 47): entity 'contact' must name the data uses"},
        {"art. 6(1)(c): a legal obligation names its law",
         {{R"(data-use="essential.service.payment_processing" basis="contract")",
           R"(data-use="essential.legal_obligation" basis="legal-obligation")"}},
         "<purpose id=\"invoicing\"",
         "GDPR-6-1-c (GDPR art. 6(1)(c), art. 6(3)): legal-obligation purpose 'invoicing' must "
         "name the law"},
        {"art. 6(1)(c): no law requires e-mail marketing",
         {{R"(data-use="marketing.communications.email" basis="consent")",
           R"(data-use="marketing.communications.email" basis="legal-obligation" legal-reference="Law of 1 Jan 2020")"}},
         "<purpose id=\"promotion\"",
         "GDPR-6-1-c (GDPR art. 6(1)(c), art. 6(3)): purpose 'promotion' (data use "
         "'marketing.communications.email') is direct marketing"},
        {"art. 9: a health field in a non-marketing purpose without a condition",
         {{R"(<fields entity="contact">id email</fields>)", R"(<fields entity="contact">id email allergies</fields>)"}},
         "<fields entity=\"contact\">id email allergies",
         "GDPR-9 (GDPR art. 9(1)-(2), art. 10): special-category field 'allergies' "
         "(user.health_and_medical) may not be exported for purpose 'survey'"},
        {"art. 9: a field flagged special by the policy author",
         {{R"(<fields entity="contact">id email</fields>)", R"(<fields entity="contact">id email religion</fields>)"}},
         "<fields entity=\"contact\">id email religion",
         "GDPR-9 (GDPR art. 9(1)-(2), art. 10): special-category field 'religion'"},
        {"art. 9: the condition must fit the basis",
         {{R"(subjects="customer" lia="LIA-7")", R"(subjects="customer" lia="LIA-7" art9-condition="explicit-consent")"},
          {R"(<fields entity="contact">id email</fields>)", R"(<fields entity="contact">id email allergies</fields>)"}},
         "<fields entity=\"contact\">id email allergies",
         "GDPR-9 (GDPR art. 9(1)-(2), art. 10): art9-condition 'explicit-consent' of purpose "
         "'survey' does not fit basis 'legitimate-interest'"},
        {"art. 9: direct marketing only with explicit consent",
         {{R"(suppression-list="dnc">
    <fields entity="contact">id first_name email</fields>)", R"(suppression-list="dnc" art9-condition="made-public">
    <fields entity="contact">id first_name email allergies</fields>)"}},
         "<fields entity=\"contact\">id first_name email allergies",
         "GDPR-9 (GDPR art. 9(1)-(2), art. 10): special-category field 'allergies' "
         "(user.health_and_medical) may be used for direct marketing (purpose 'promotion') only "
         "with explicit consent"},
        {"art. 10: criminal data only under official authority",
         {{R"(<field path="allergies" category="user.health_and_medical"/>)",
           R"(<field path="allergies" category="user.health_and_medical"/>
    <field path="convictions" category="user.criminal_history"/>)"},
          {R"(subjects="customer" lia="LIA-7")", R"(subjects="customer" lia="LIA-7" art9-condition="legal-claims")"},
          {R"(<fields entity="contact">id email</fields>)", R"(<fields entity="contact">id email convictions</fields>)"}},
         "<fields entity=\"contact\">id email convictions",
         "GDPR-9 (GDPR art. 9(1)-(2), art. 10): special-category field 'convictions' "
         "(user.criminal_history) is criminal data"},
        {"art. 28: a processor names its agreement",
         {{"country=\"BE\"\n               dpa-ref=\"DPA-1\"", "country=\"BE\""}},
         "<destination id=\"carrier\"",
         "GDPR-28 (GDPR art. 28(3)): processor 'carrier' must name its data processing agreement"},
        {"art. 28: a processor only for its purposes",
         {{R"(<grant purpose="quote" destinations="sales"/>)", R"(<grant purpose="quote" destinations="sales carrier"/>)"}},
         "<grant purpose=\"quote\"",
         "GDPR-28 (GDPR art. 28(3)): processor 'carrier' is not contracted for purpose 'quote'"},
        {"art. 44: every destination names its country",
         {{R"(<destination id="sales" kind="internal" country="BE"/>)", R"(<destination id="sales" kind="internal"/>)"}},
         "<destination id=\"sales\"",
         "GDPR-44 (GDPR art. 44-49): destination 'sales' must name the country"},
        {"art. 44: outside the EEA, a transfer mechanism",
         {{R"(country="IE"
               dpa-ref="DPA-2")", R"(country="IN"
               dpa-ref="DPA-2")"}},
         "<destination id=\"newsletter\"",
         "GDPR-44 (GDPR art. 44-49): destination 'newsletter' is outside the EEA (IN) and must "
         "name its transfer-mechanism"},
        {"art. 45: adequacy only where a decision exists",
         {{R"(country="IE"
               dpa-ref="DPA-2")", R"(country="IN" transfer-mechanism="adequacy"
               dpa-ref="DPA-2")"}},
         "<destination id=\"newsletter\"",
         "GDPR-44 (GDPR art. 44-49): destination 'newsletter': no adequacy decision covers IN"},
        {"data use: a typo is refused with the nearest name",
         {{R"(data-use="marketing.communications.email")", R"(data-use="marketing.communication.email")"}},
         "<purpose id=\"promotion\"",
         "GDPR-5 (GDPR art. 5(1)(b)-(c)): purpose 'promotion' names unknown data use "
         "'marketing.communication.email' (not in the fideslang taxonomy); did you mean "
         "'marketing.communications.email'?"},
        {"data use: every purpose names one",
         {{R"( data-use="functional.service.improve")", ""}},
         "<purpose id=\"survey\"", "GDPR-5 (GDPR art. 5(1)(b)-(c)): purpose 'survey' must name its data-use"},
        {"data category: a typo switches no guard off",
         {{R"(<field path="allergies" category="user.health_and_medical"/>)", R"(<field path="allergies" category="user.health"/>)"}},
         "<field path=\"allergies\"",
         "GDPR-5 (GDPR art. 5(1)(b)-(c)): field 'allergies' has unknown data category "
         "'user.health' (not in the fideslang taxonomy); did you mean "
         "'user.health_and_medical'?"},
        {"references: an allowed field is catalogued",
         {{R"(<fields entity="contact">id email</fields>)", R"(<fields entity="contact">id email e_mail</fields>)"}},
         "<fields entity=\"contact\">id email e_mail",
         "GDPR-5 (GDPR art. 5(1)(b)-(c)): field 'e_mail' of purpose 'survey' is not in the "
         "catalogue of entity 'contact'"},
        {"references: a grant names a configured purpose",
         {{R"(<grant purpose="survey" destinations="sales"/>)", R"(<grant purpose="surveys" destinations="sales"/>)"}},
         "<grant purpose=\"surveys\"",
         "GDPR-5 (GDPR art. 5(1)(b)-(c)): grant of client 'partner' names unknown purpose "
         "'surveys'"},
    };
    return cases;
}

class UnlawfulPolicy : public ::testing::TestWithParam<std::size_t> {};

TEST_P(UnlawfulPolicy, IsRefusedWithItsRuleIdArticleAndPosition) {
    const auto& c = unlawful_cases()[GetParam()];
    const std::string policy = with(base_policy, c.changes);
    const std::string doc = document(policy);
    auto r = load(policy);
    ASSERT_FALSE(r) << c.name;
    EXPECT_TRUE(has_error(r, where(doc, c.anchor) + ": " + std::string(c.message)))
        << c.name << "\n" << errors_of(r);
}

INSTANTIATE_TEST_SUITE_P(LegalRules, UnlawfulPolicy,
                         ::testing::Range<std::size_t>(0, unlawful_cases().size()));

// Lawful counterparts: the nearest policy that keeps the spirit of each case and loads.
TEST(LegalRules, CompliantBasePolicyLoads) {
    auto r = load(base_policy);
    EXPECT_TRUE(r) << errors_of(r);
}

TEST(LegalRules, LawfulCounterpartsLoad) {
    const std::vector<std::pair<const char*, edits>> lawful{
        {"R3: a notice of default reaches former customers",
         {{R"(basis="contract" subjects="customer")", R"(basis="contract" subjects="customer former-customer")"}}},
        {"R5: pre-contract at the request", {}},
        {"R7: the soft opt-in with its conditions, to customers",
         {{R"(data-use="marketing.communications.email" basis="consent" subjects="customer prospect")",
           R"(data-use="marketing.communications.email" basis="legitimate-interest" lia="LIA-1" soft-opt-in="true" own-similar-products="true" opt-out-at-collection="true" subjects="customer")"}}},
        {"R7/R6: post marketing on legitimate interest", {}},
        {"R11: consent naming the recipient",
         {{R"(<field path="objection.dm" category="user.privacy_preferences"/>)", insurer_field},
          {insurer_purpose, insurer_purpose_added},
          {R"(<destination id="partner-crm" kind="third-party" country="FR"/>)", insurer_destination},
          {R"(<grant purpose="survey" destinations="sales"/>)", R"(<grant purpose="insurance" destinations="insurer"/>)"}}},
        {"R13: an agreeing flag",
         {{R"(<purpose id="quote" data-use="essential.service.operations" basis="pre-contract" subjects="prospect">)",
           R"(<purpose id="quote" data-use="essential.service.operations" basis="pre-contract" subjects="prospect" direct-marketing="false">)"}}},
        {"R14: a survey by e-mail under the BE rule pack",
         {{R"(<client id="partner">)", R"(<client id="partner" jurisdiction="BE">)"},
          {R"(subjects="customer" lia="LIA-7")", R"(subjects="customer" lia="LIA-7" channel="email")"}}},
        {"art. 6(1)(c): a legal obligation with its law",
         {{R"(data-use="essential.service.payment_processing" basis="contract" subjects="customer")",
           R"(data-use="essential.legal_obligation" basis="legal-obligation" legal-reference="Belgian VAT Code art. 60" subjects="customer former-customer")"}}},
        {"art. 9: a health field with a fitting condition",
         {{R"(subjects="customer" lia="LIA-7")", R"(subjects="customer" lia="LIA-7" art9-condition="legal-claims")"},
          {R"(<fields entity="contact">id email</fields>)", R"(<fields entity="contact">id email allergies</fields>)"}}},
        {"art. 44: outside the EEA under standard contractual clauses",
         {{R"(country="IE"
               dpa-ref="DPA-2")", R"(country="IN" transfer-mechanism="scc"
               dpa-ref="DPA-2")"}}},
        {"art. 45: adequacy where a decision exists",
         {{R"(country="IE"
               dpa-ref="DPA-2")", R"(country="CH" transfer-mechanism="adequacy"
               dpa-ref="DPA-2" dpa-expires="2031-06-30")"}}},
    };
    for (const auto& [name, changes] : lawful) {
        auto r = load(with(base_policy, changes));
        EXPECT_TRUE(r) << name << "\n" << errors_of(r);
    }
}

TEST(LegalRules, EveryRuleHasAnIdAndAReference) {
    std::vector<std::string_view> ids;
    for (auto r = static_cast<unsigned>(legal_rule::r1_contract_necessity);
         r <= static_cast<unsigned>(legal_rule::references); ++r) {
        auto i = info(static_cast<legal_rule>(r));
        EXPECT_FALSE(i.id.empty());
        EXPECT_FALSE(i.reference.empty());
        EXPECT_EQ(std::find(ids.begin(), ids.end(), i.id), ids.end()) << i.id;
        ids.push_back(i.id);
        EXPECT_EQ(rule_prefix(static_cast<legal_rule>(r)),
                  std::string(i.id) + " (" + std::string(i.reference) + ")");
    }
}

// Every rule of LEGAL-RULES.md but R12 (inbound lists, out of scope) has an unlawful case above.
TEST(LegalRules, EveryRuleIsExercised) {
    for (std::string_view id : {"R1 ", "R2 ", "R3 ", "R4 ", "R5 ", "R6 ", "R7 ", "R8 ", "R9 ", "R10 ",
                                "R11 ", "R13 ", "R14 ", "R15 ", "GDPR-6-1-c ", "GDPR-9 ",
                                "GDPR-28 ", "GDPR-44 ", "GDPR-5 "}) {
        const auto& cases = unlawful_cases();
        EXPECT_TRUE(std::any_of(cases.begin(), cases.end(), [id](const unlawful_case& c) {
            return std::string_view(c.message).substr(0, id.size()) == id;
        })) << id;
    }
}

}  // namespace
}  // namespace exportwall::config
