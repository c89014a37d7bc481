// The load-time legal rules: each fires with its number, its article and the exact position, and
// the compliant base policy loads.

#include <gtest/gtest.h>

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

std::string with(std::string text, std::string_view from, std::string_view to) {
    auto pos = text.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) text.replace(pos, from.size(), to);
    return text;
}

// Loads `policy`, expects it refused with an error at `anchor` starting with `message`.
void expect_rule(const std::string& policy, std::string_view anchor, const std::string& message) {
    auto doc = document(policy);
    auto r = load(policy);
    ASSERT_FALSE(r) << "expected: " << message;
    EXPECT_TRUE(has_error(r, where(doc, anchor) + ": " + message)) << errors_of(r);
}

TEST(LegalRules, CompliantPolicyLoads) {
    auto r = load(base_policy);
    EXPECT_TRUE(r) << errors_of(r);
}

TEST(LegalRules, Rule1DirectMarketingCannotRestOnContract) {
    expect_rule(with(base_policy, "id=\"promotion\" basis=\"consent\"",
                     "id=\"promotion\" basis=\"contract\""),
                "<purpose id=\"promotion\"",
                "rule 1 (GDPR art. 6(1)(b), art. 21): direct-marketing purpose 'promotion' cannot "
                "rest on basis 'contract'");
    expect_rule(with(base_policy, "id=\"renewal\" basis=\"legitimate-interest\"",
                     "id=\"renewal\" basis=\"pre-contract\""),
                "<purpose id=\"renewal\"", "rule 1 (GDPR art. 6(1)(b), art. 21)");
}

TEST(LegalRules, Rule2ContractTouchesCustomersOnly) {
    expect_rule(with(base_policy, "id=\"invoicing\" basis=\"contract\" subjects=\"customer\"",
                     "id=\"invoicing\" basis=\"contract\" subjects=\"customer former-customer\""),
                "<purpose id=\"invoicing\"",
                "rule 2 (GDPR art. 6(1)(b)): contract purpose 'invoicing' may touch customers "
                "only, not 'customer former-customer'");
}

TEST(LegalRules, Rule2PreContractTouchesProspectsOnly) {
    expect_rule(
        with(base_policy, "id=\"quote\" basis=\"pre-contract\" subjects=\"prospect\"",
             "id=\"quote\" basis=\"pre-contract\" subjects=\"prospect customer\""),
        "<purpose id=\"quote\"",
        "rule 2 (GDPR art. 6(1)(b)): pre-contract purpose 'quote' may touch prospects only");
}

TEST(LegalRules, Rule2PreContractNeedsRequestEvidence) {
    expect_rule(with(base_policy,
                     "<request-evidence entity=\"contact\" field=\"quote_requested\" "
                     "equals=\"true\"/>",
                     ""),
                "<purpose id=\"quote\"",
                "rule 2 (GDPR art. 6(1)(b)): pre-contract purpose 'quote' needs a "
                "<request-evidence> condition");
}

TEST(LegalRules, Rule3ConsentPurposeNamesItsConsentField) {
    expect_rule(with(base_policy, "consent-field=\"consent.email\" ", ""),
                "<purpose id=\"promotion\"",
                "rule 3 (GDPR art. 6(1)(a), art. 7, art. 21): consent purpose 'promotion' must "
                "name its consent-field");
}

TEST(LegalRules, Rule3DirectMarketingNamesObjectionFieldOrSuppressionList) {
    expect_rule(
        with(base_policy, "channel=\"post\" objection-field=\"objection.dm\"", "channel=\"post\""),
        "<purpose id=\"renewal\"",
        "rule 3 (GDPR art. 6(1)(a), art. 7, art. 21): direct-marketing purpose 'renewal' "
        "must name an objection-field or a suppression-list");
    // A suppression list alone satisfies the rule.
    auto ok = load(with(base_policy, "channel=\"post\" objection-field=\"objection.dm\"",
                        "channel=\"post\" suppression-list=\"dnc\""));
    EXPECT_TRUE(ok) << errors_of(ok);
}

TEST(LegalRules, Rule4NoDirectMarketingGrantToThirdParty) {
    expect_rule(with(base_policy, "<grant purpose=\"promotion\" destinations=\"newsletter\"/>",
                     "<grant purpose=\"promotion\" destinations=\"newsletter partner-crm\"/>"),
                "<grant purpose=\"promotion\"",
                "rule 4 (GDPR art. 6(1), art. 21): grant of direct-marketing purpose 'promotion' "
                "to third-party destination 'partner-crm' is not allowed");
}

TEST(LegalRules, Rule4NoGrantToOwnMarketingThirdParty) {
    expect_rule(with(base_policy, "<grant purpose=\"survey\" destinations=\"sales\"/>",
                     "<grant purpose=\"survey\" destinations=\"partner-leads\"/>"),
                "<grant purpose=\"survey\" destinations=\"partner-leads\"",
                "rule 4 (GDPR art. 6(1), art. 21): grant of purpose 'survey' to destination "
                "'partner-leads' is not allowed");
}

TEST(LegalRules, Rule4OwnMarketingOnlyForThirdParties) {
    expect_rule(with(base_policy, "<destination id=\"sales\" kind=\"internal\"/>",
                     "<destination id=\"sales\" kind=\"internal\" own-marketing=\"true\"/>"),
                "<destination id=\"sales\"", "rule 4 (GDPR art. 6(1), art. 21): own-marketing");
}

TEST(LegalRules, Rule5ProcessorOnlyForItsPurposes) {
    expect_rule(with(base_policy, "<grant purpose=\"quote\" destinations=\"sales\"/>",
                     "<grant purpose=\"quote\" destinations=\"sales carrier\"/>"),
                "<grant purpose=\"quote\"",
                "rule 5 (GDPR art. 28(3)(a)): processor 'carrier' is not contracted for purpose "
                "'quote'");
}

TEST(LegalRules, Rule6AllowedFieldsMustBeCatalogued) {
    expect_rule(with(base_policy, "<fields entity=\"contact\">id email</fields>",
                     "<fields entity=\"contact\">id email e_mail</fields>"),
                "<fields entity=\"contact\">id email e_mail",
                "rule 6 (GDPR art. 5(1)(c)): field 'e_mail' of purpose 'survey' is not in the "
                "catalogue of entity 'contact'");
}

TEST(LegalRules, Rule6EveryReferenceExists) {
    expect_rule(with(base_policy, "<grant purpose=\"survey\" destinations=\"sales\"/>",
                     "<grant purpose=\"surveys\" destinations=\"sales\"/>"),
                "<grant purpose=\"surveys\"",
                "rule 6 (GDPR art. 5(1)(c)): grant of client 'partner' names unknown purpose "
                "'surveys'");
    expect_rule(with(base_policy, "<grant purpose=\"survey\" destinations=\"sales\"/>",
                     "<grant purpose=\"survey\" destinations=\"sale\"/>"),
                "<grant purpose=\"survey\" destinations=\"sale\"",
                "rule 6 (GDPR art. 5(1)(c)): grant of client 'partner' names unknown destination "
                "'sale'");
    expect_rule(
        with(base_policy, "consent-field=\"consent.email\"", "consent-field=\"consent.mail\""),
        "<fields entity=\"contact\">id first_name email</fields>\n    <exclude",
        "rule 6 (GDPR art. 5(1)(c)): consent-field 'consent.mail' of purpose 'promotion'");
    auto doc = with(document(base_policy), "entity=\"contact\" format=\"json\"",
                    "entity=\"person\" format=\"json\"");
    auto r = load_configuration_text(doc, "test.xml");
    ASSERT_FALSE(r);
    EXPECT_TRUE(has_error(r, where(doc, "<route id=\"contacts\"") +
                                 ": rule 6 (GDPR art. 5(1)(c)): route 'contacts' names unknown "
                                 "entity 'person'"))
        << errors_of(r);
}

TEST(LegalRules, Rule7NoSpecialCategoryForDirectMarketing) {
    expect_rule(with(base_policy, "id first_name email</fields>\n    <exclude",
                     "id first_name email allergies</fields>\n    <exclude"),
                "<fields entity=\"contact\">id first_name email allergies",
                "rule 7 (GDPR art. 9(1)): special-category field 'allergies' "
                "(user.health_and_medical) may not be exported for direct-marketing purpose "
                "'promotion'");
    expect_rule(with(base_policy, "id first_name email</fields>\n    <exclude",
                     "id first_name email religion</fields>\n    <exclude"),
                "<fields entity=\"contact\">id first_name email religion",
                "rule 7 (GDPR art. 9(1)): special-category field 'religion'");
    // The same field is fine for a purpose that is not direct marketing.
    auto ok = load(with(base_policy, "<fields entity=\"contact\">id email</fields>",
                        "<fields entity=\"contact\">id email allergies</fields>"));
    EXPECT_TRUE(ok) << errors_of(ok);
}

TEST(LegalRules, Rule8ElectronicMarketingToProspectsNeedsConsent) {
    expect_rule(with(base_policy, "id=\"promotion\" basis=\"consent\"",
                     "id=\"promotion\" basis=\"legitimate-interest\""),
                "<purpose id=\"promotion\"",
                "rule 8 (ePrivacy Directive art. 13(1), GDPR art. 6(1)(a)): legitimate-interest "
                "direct marketing by email to prospects (purpose 'promotion') needs consent");
    // By post the same purpose may rest on legitimate interest.
    auto ok = load(with(with(base_policy, "id=\"promotion\" basis=\"consent\"",
                             "id=\"promotion\" basis=\"legitimate-interest\""),
                        "channel=\"email\"", "channel=\"post\""));
    EXPECT_TRUE(ok) << errors_of(ok);
}

TEST(LegalRules, DirectMarketingNamesItsChannel) {
    expect_rule(with(base_policy, "channel=\"post\" ", ""), "<purpose id=\"renewal\"",
                "rule 8 (ePrivacy Directive art. 13(1), GDPR art. 6(1)(a)): direct-marketing "
                "purpose 'renewal' must name its channel");
}

TEST(LegalRules, RulePrefixesAreDistinct) {
    std::vector<std::string> seen;
    for (int i = 1; i <= 8; ++i) {
        auto p = rule_prefix(static_cast<legal_rule>(i));
        EXPECT_EQ(p.rfind("rule " + std::to_string(i) + " (", 0), 0u) << p;
        EXPECT_EQ(std::find(seen.begin(), seen.end(), p), seen.end());
        seen.push_back(p);
    }
}

}  // namespace
}  // namespace exportwall::config
