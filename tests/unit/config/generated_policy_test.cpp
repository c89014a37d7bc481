// Random policies (seeded) through the real loader: whatever the loader accepts, no decision may
// let a direct-marketing export reach a third party, nor any export reach an own-marketing one,
// nor a processor serve a purpose it is not contracted for.

#include <gtest/gtest.h>

#include <random>

#include "config/decide.hpp"
#include "tests/unit/config/policy_test_support.hpp"

namespace exportwall::config {
namespace {

constexpr std::string_view catalogue = R"(  <entity id="contact" subject-field="lifecycle"
          collected-for="essential marketing functional">
    <subject value="customer" type="customer"/>
    <subject value="lead" type="prospect"/>
    <subject value="former" type="former-customer"/>
    <field path="id" category="user.unique_id"/>
    <field path="lifecycle" category="user.account"/>
    <field path="email" category="user.contact.email"/>
    <field path="phone" category="user.contact.phone_number"/>
    <field path="quote_requested" category="user.behavior"/>
    <field path="consent.email" category="user.privacy_preferences" consent-channel="email"/>
    <field path="consent.d0" category="user.privacy_preferences" consent-recipient="d0"/>
    <field path="objection.dm" category="user.privacy_preferences"/>
    <field path="allergies" category="user.health_and_medical"/>
  </entity>
  <suppression-list id="dnc" file="dnc.txt" field="email"/>
)";

struct generated {
    std::string policy;
    std::vector<std::string> keys;
};

generated generate(std::mt19937_64& rng) {
    auto pick = [&rng](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    auto coin = [&rng](unsigned percent) { return rng() % 100 < percent; };
    const char* bases[] = {"contract", "pre-contract", "consent", "legitimate-interest",
                           "legal-obligation"};
    const char* subjects[] = {"customer",
                              "prospect",
                              "former-customer",
                              "customer prospect",
                              "customer former-customer",
                              "customer prospect former-customer"};
    const char* channels[] = {"email", "sms", "phone", "post"};
    const char* fields[] = {"id", "email", "phone", "allergies"};
    const char* kinds[] = {"internal", "processor", "third-party"};
    const char* uses[] = {"essential.service.operations", "essential.service.operations",
                          "functional.service.improve", "functional.service.improve",
                          "essential.legal_obligation", "sales", "analytics.reporting"};

    generated g;
    std::string& p = g.policy;
    p = catalogue;
    std::size_t purposes = 1 + pick(5);
    for (std::size_t i = 0; i < purposes; ++i) {
        std::size_t b = pick(5);
        bool dm = coin(40);
        std::string s = subjects[pick(6)];
        // Bias towards compliance so that many policies load.
        if (coin(70)) {
            if (b == 0) s = "customer";
            if (b == 1) s = "prospect";
        }
        // A data use that mostly fits the basis, sometimes not.
        const char* use = dm ? (coin(50) ? "marketing.communications.email" : "marketing.communications")
                             : uses[b];
        if (coin(15)) use = uses[pick(std::size(uses))];
        p += "  <purpose id=\"p" + std::to_string(i) + "\" data-use=\"" + use + "\" basis=\"" +
             bases[b] + "\" subjects=\"" + s + "\"";
        if (dm && coin(90))
            p += std::string(" channel=\"") + (coin(50) ? "email" : channels[pick(4)]) + "\"";
        if (coin(10)) p += dm ? " direct-marketing=\"false\"" : " direct-marketing=\"true\"";
        if (b == 3 && coin(85)) p += " lia=\"LIA\"";
        if (b == 4 && coin(85)) p += " legal-reference=\"Act\"";
        if (coin(8)) p += " art9-condition=\"made-public\"";
        if (b == 2 || coin(10)) p += " consent-field=\"consent.email\"";
        if (((dm || b == 3) && coin(85)) || coin(20)) p += " objection-field=\"objection.dm\"";
        if (dm && coin(85)) p += " suppression-list=\"dnc\"";
        p += ">\n    <fields entity=\"contact\">id";
        for (std::size_t f = 1; f < 4; ++f)
            if (coin(40) && (f != 3 || coin(30))) p += std::string(" ") + fields[f];
        p += "</fields>\n";
        if (b == 1 || coin(5))
            p += "    <request-evidence entity=\"contact\" field=\"quote_requested\" "
                 "equals=\"true\"/>\n";
        p += "  </purpose>\n";
    }
    std::size_t destinations = 1 + pick(5);
    for (std::size_t i = 0; i < destinations; ++i) {
        std::size_t k = pick(3);
        p += "  <destination id=\"d" + std::to_string(i) + "\" kind=\"" + kinds[k] + "\"";
        if (k == 2 && coin(40)) p += " own-marketing=\"true\"";
        if (k == 1) p += " purposes=\"p" + std::to_string(pick(purposes)) + "\"";
        if (k == 1 && coin(90)) p += " dpa-ref=\"DPA\"";
        p += coin(85) ? " country=\"BE\"" : coin(50) ? " country=\"US\" transfer-mechanism=\"scc\""
                                                      : " country=\"IN\"";
        p += "/>\n";
    }
    std::size_t clients = 1 + pick(3);
    for (std::size_t i = 0; i < clients; ++i) {
        std::string key = "key-" + std::to_string(rng());
        g.keys.push_back(key);
        p += "  <client id=\"c" + std::to_string(i) + "\"" + (coin(20) ? " mode=\"enforce\"" : "") +
             ">\n    <api-key sha256=\"" + testing::sha256_hex(key) + "\"/>\n";
        std::size_t grants = pick(purposes + 1);
        for (std::size_t j = 0; j < grants; ++j) {
            p += "    <grant purpose=\"p" + std::to_string(j) + "\" destinations=\"d" +
                 std::to_string(pick(destinations));
            if (coin(30)) p += " d" + std::to_string(pick(destinations));
            p += "\"/>\n";
        }
        p += "  </client>\n";
    }
    return g;
}

TEST(GeneratedPolicies, NoAcceptedPolicyLetsMarketingReachAThirdParty) {
    std::mt19937_64 rng(20261129);
    std::size_t accepted = 0, refused = 0, allowed_decisions = 0;
    for (int round = 0; round < 2500; ++round) {
        auto g = generate(rng);
        auto r = testing::load(g.policy);
        if (!r) {
            ++refused;
            continue;
        }
        ++accepted;
        const auto& p = r.config->rules;
        for (const auto& pu : p.purposes) {
            // What the loader accepted obeys the rules it claims to check.
            if (pu.direct_marketing) {
                EXPECT_NE(pu.basis, legal_basis::contract);
                EXPECT_NE(pu.basis, legal_basis::pre_contract);
                EXPECT_NE(pu.basis, legal_basis::legal_obligation);
                EXPECT_FALSE(pu.objection_field.empty());
                for (const auto& v : pu.views)
                    EXPECT_FALSE(v.allowed.keeps("allergies")) << g.policy;
            }
        }
        for (const auto& key : g.keys)
            for (const auto& pu : p.purposes)
                for (const auto& de : p.destinations) {
                    testing::facts_builder f;
                    f.key(key).declare(pu.id, de.id).target("/contacts");
                    auto d = decide(*r.config, f.build());
                    if (d.result != outcome::allow) continue;
                    ++allowed_decisions;
                    ASSERT_FALSE(pu.direct_marketing && de.kind == destination_kind::third_party)
                        << g.policy;
                    ASSERT_FALSE(de.own_marketing) << g.policy;
                    ASSERT_FALSE(de.kind == destination_kind::processor && !de.permits(pu.id))
                        << g.policy;
                    // Another controller only on a basis that can carry a disclosure.
                    if (de.kind == destination_kind::third_party) {
                        ASSERT_TRUE(pu.basis == legal_basis::consent ||
                                    pu.basis == legal_basis::legal_obligation)
                            << g.policy;
                    }
                    ASSERT_FALSE(de.outside_eea() && de.transfer == transfer_mechanism::none)
                        << g.policy;
                }
    }
    // The generator must exercise both sides, or the property says nothing.
    EXPECT_GT(accepted, 100u);
    EXPECT_GT(refused, 100u);
    EXPECT_GT(allowed_decisions, 100u);
}

}  // namespace
}  // namespace exportwall::config
