// Comparing two configurations (config/policy_diff.hpp): semantics, not text. Reordered
// elements, attributes, lists, comments and white space are equivalent; a removed grant, a newly
// exposed field, a changed condition, destination or basis is reported with its consequence.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <sstream>

#include <boost/json.hpp>
#include <pugixml.hpp>

#include "config/decide.hpp"
#include "config/policy_diff.hpp"
#include "tests/unit/config/policy_test_support.hpp"

namespace exportwall::config {
namespace {

// `from` replaced by `to` in the base policy (once; the test fails when `from` is absent).
std::string edited(std::initializer_list<std::pair<std::string_view, std::string_view>> edits) {
    std::string p = testing::base_policy;
    for (const auto& [from, to] : edits) {
        const auto at = p.find(from);
        EXPECT_NE(at, std::string::npos) << "edit not found: " << from;
        if (at != std::string::npos) p.replace(at, from.size(), to);
    }
    return p;
}

class PolicyDiff : public ::testing::Test {
  protected:
    void SetUp() override {
        base_ = testing::load(testing::base_policy);
        ASSERT_TRUE(base_) << testing::errors_of(base_);
    }
    policy_diff against(const std::string& policy) {
        auto other = testing::load(policy);
        EXPECT_TRUE(other) << testing::errors_of(other);
        if (!other) return {};
        return diff_policies(*base_.config, *other.config);
    }
    load_result base_;
};

TEST_F(PolicyDiff, AConfigurationIsEquivalentToItself) {
    const auto d = diff_policies(*base_.config, *base_.config);
    EXPECT_TRUE(d.empty()) << render_diff_text(d, "a", "b");
    EXPECT_EQ(render_diff_text(d, "a", "b"), "a and b are equivalent\n");
}

// The base document with every policy element moved (destinations, then clients reversed, then
// purposes reversed, then the rest), each element's attributes reversed, the words of every
// <fields> and grant list reversed, comments between elements and another indentation.
std::string shuffled(const std::string& document) {
    pugi::xml_document doc;
    EXPECT_TRUE(doc.load_string(document.c_str()));
    auto root = doc.document_element();
    std::map<std::string, std::vector<pugi::xml_node>> by_name;
    for (auto n : root.children())
        if (n.type() == pugi::node_element) by_name[n.name()].push_back(n);
    const std::vector<std::string> order{"destination", "client", "purpose", "entity",
                                         "suppression-list"};
    std::function<void(pugi::xml_node)> reverse_attributes = [&](pugi::xml_node n) {
        std::vector<std::pair<std::string, std::string>> attrs;
        for (auto a : n.attributes()) attrs.emplace_back(a.name(), a.value());
        while (n.first_attribute()) n.remove_attribute(n.first_attribute());
        for (auto it = attrs.rbegin(); it != attrs.rend(); ++it)
            n.append_attribute(it->first.c_str()) = it->second.c_str();
        for (auto c : n.children())
            if (c.type() == pugi::node_element) reverse_attributes(c);
    };
    auto reverse_words = [](std::string_view text) {
        std::vector<std::string> words;
        std::istringstream in{std::string(text)};
        for (std::string w; in >> w;) words.push_back(w);
        std::reverse(words.begin(), words.end());
        std::string out = "\n      ";
        for (const auto& w : words) out += w + "   ";
        return out;
    };
    for (const auto& name : order) {
        auto nodes = by_name[name];
        if (name == "client" || name == "purpose") std::reverse(nodes.begin(), nodes.end());
        for (auto n : nodes) {
            root.append_child(pugi::node_comment).set_value(" moved ");
            auto copy = root.append_copy(n);
            root.remove_child(n);
            reverse_attributes(copy);
            for (auto f : copy.children("fields"))
                f.text().set(reverse_words(f.text().get()).c_str());
            for (auto g : copy.children("grant")) {
                auto a = g.attribute("destinations");
                a.set_value(reverse_words(a.value()).c_str());
            }
            // The children of an element in another order too (grants, fields, conditions).
            std::vector<pugi::xml_node> kids;
            for (auto c : copy.children())
                if (c.type() == pugi::node_element && std::string_view(c.name()) != "field")
                    kids.push_back(c);
            for (auto it = kids.rbegin(); it != kids.rend(); ++it) {
                copy.append_copy(*it);
                copy.remove_child(*it);
            }
        }
    }
    std::ostringstream out;
    doc.save(out, "\t\t", pugi::format_indent);
    return out.str();
}

TEST_F(PolicyDiff, ReorderedElementsAttributesListsAndCommentsAreEquivalent) {
    const std::string text = shuffled(testing::document(testing::base_policy));
    ASSERT_NE(text, testing::document(testing::base_policy));
    ASSERT_NE(text.find("<!-- moved -->"), std::string::npos);
    auto other = load_configuration_text(text, "shuffled.xml", "/etc/exportwall");
    ASSERT_TRUE(other) << testing::errors_of(other) << text;
    const auto d = diff_policies(*base_.config, *other.config);
    EXPECT_TRUE(d.empty()) << render_diff_text(d, "base", "shuffled") << text;
}

TEST_F(PolicyDiff, ARemovedGrantIsReportedWithTheExportItRefuses) {
    const auto d =
        against(edited({{R"(destinations="billing carrier")", R"(destinations="billing")"}}));
    EXPECT_FALSE(d.empty());
    ASSERT_EQ(d.grants_removed.size(), 1u) << render_diff_text(d, "a", "b");
    EXPECT_EQ(d.grants_removed[0], (grant_key{"erp", "invoicing", "carrier"}));
    EXPECT_TRUE(d.grants_added.empty());
    ASSERT_EQ(d.access.size(), 1u);
    EXPECT_EQ(d.access[0].key, (grant_key{"erp", "invoicing", "carrier"}));
    EXPECT_EQ(d.access[0].before, "ok");
    EXPECT_EQ(d.access[0].after, "destination_not_granted");
    EXPECT_FALSE(d.access[0].now_allowed());
    const auto text = render_diff_text(d, "old.xml", "new.xml");
    EXPECT_NE(text.find("now refused  erp x invoicing x carrier (destination_not_granted)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("  - erp x invoicing x carrier"), std::string::npos) << text;
}

TEST_F(PolicyDiff, AnAddedGrantBecomesAllowed) {
    const auto d = against(edited({{R"(<grant purpose="quote" destinations="sales"/>)",
                                    R"(<grant purpose="quote" destinations="sales billing"/>)"}}));
    ASSERT_EQ(d.grants_added.size(), 1u) << render_diff_text(d, "a", "b");
    EXPECT_EQ(d.grants_added[0], (grant_key{"erp", "quote", "billing"}));
    ASSERT_EQ(d.access.size(), 1u);
    EXPECT_TRUE(d.access[0].now_allowed());
    EXPECT_EQ(d.access[0].before, "destination_not_granted");
}

TEST_F(PolicyDiff, AFieldAddedToAPurposeIsNewlyExposedOnEveryRouteOfItsEntity) {
    const auto d = against(edited({{"id first_name email vat address.city address.street",
                                    "id first_name email vat iban address.city"}}));
    ASSERT_EQ(d.fields.size(), 1u) << render_diff_text(d, "a", "b");
    const auto& f = d.fields[0];
    EXPECT_EQ(f.purpose, "invoicing");
    EXPECT_EQ(f.entity, "contact");
    EXPECT_EQ(f.exposed, (std::vector<std::string>{"iban"}));
    EXPECT_EQ(f.stripped, (std::vector<std::string>{"address.street"}));
    EXPECT_EQ(f.routes, (std::vector<std::string>{"contacts", "upload"}));
    EXPECT_TRUE(d.access.empty()) << "the same exports are allowed, with other fields";
}

TEST_F(PolicyDiff, ChangedRecordConditionsAreReportedAsLines) {
    // Request evidence and a custom exclusion change; the subjects of promotion narrow.
    const auto d = against(edited(
        {{R"(field="quote_requested" equals="true")", R"(field="quote_requested" equals="yes")"},
         {R"(field="address.city" equals="Nowhere")", R"(field="address.city" equals="Elsewhere")"},
         {R"(subjects="customer prospect" direct-marketing="true")",
          R"(subjects="customer" direct-marketing="true")"}}));
    std::map<std::string, condition_change> by_purpose;
    for (const auto& c : d.conditions) by_purpose[c.purpose] = c;
    ASSERT_TRUE(by_purpose.contains("quote")) << render_diff_text(d, "a", "b");
    const auto& quote = by_purpose["quote"];
    ASSERT_EQ(quote.added.size(), 1u);
    EXPECT_NE(quote.added[0].find("quote_requested equals {yes}"), std::string::npos)
        << quote.added[0];
    EXPECT_NE(quote.removed.at(0).find("quote_requested equals {true}"), std::string::npos);
    ASSERT_TRUE(by_purpose.contains("promotion"));
    const auto& promotion = by_purpose["promotion"];
    const auto has = [](const std::vector<std::string>& lines, std::string_view part) {
        return std::any_of(lines.begin(), lines.end(),
                           [&](const std::string& l) { return l.find(part) != std::string::npos; });
    };
    EXPECT_TRUE(has(promotion.added, "drop if address.city equals {Elsewhere}"));
    EXPECT_TRUE(has(promotion.removed, "drop if address.city equals {Nowhere}"));
    EXPECT_TRUE(has(promotion.added, "keep if lifecycle in {customer}")) << "the subject condition";
    EXPECT_TRUE(has(promotion.removed, "keep if lifecycle in {customer, lead}"));
    const bool subjects_reported =
        std::any_of(d.attributes.begin(), d.attributes.end(), [](const attribute_change& a) {
            return a.element == "purpose" && a.id == "promotion" && a.attribute == "subjects" &&
                   a.before == "customer prospect" && a.after == "customer";
        });
    EXPECT_TRUE(subjects_reported) << render_diff_text(d, "a", "b");
}

TEST_F(PolicyDiff, SuppressionListsAndTransformsAreConditionsToo) {
    const auto d = against(edited(
        {{R"(field="email" match="email"/>)", R"(field="email" match="email" max-age="24h"/>)"},
         {R"(<exclude entity="contact" field="address.city" equals="Nowhere"/>)",
          R"(<exclude entity="contact" field="address.city" equals="Nowhere"/>
    <transform entity="contact" field="first_name" kind="truncate" keep="1"/>)"}}));
    std::map<std::string, condition_change> by_purpose;
    for (const auto& c : d.conditions) by_purpose[c.purpose] = c;
    ASSERT_TRUE(by_purpose.contains("promotion")) << render_diff_text(d, "a", "b");
    const auto& added = by_purpose["promotion"].added;
    EXPECT_TRUE(std::any_of(added.begin(), added.end(), [](const std::string& l) {
        return l.find("suppression list dnc") != std::string::npos &&
               l.find("max-age 24h") != std::string::npos;
    })) << render_diff_text(d, "a", "b");
    EXPECT_TRUE(std::any_of(added.begin(), added.end(), [](const std::string& l) {
        return l == "transform first_name: written as its first 1 characters";
    })) << render_diff_text(d, "a", "b");
    ASSERT_TRUE(by_purpose.contains("renewal")) << "the other purpose on the list";
}

TEST_F(PolicyDiff, DestinationAndBasisChangesAreReported) {
    const auto d =
        against(edited({{R"(purposes="promotion" country="IE")",
                         R"(purposes="promotion" country="US" transfer-mechanism="scc")"},
                        {R"(basis="legitimate-interest"
           subjects="customer" lia="LIA-7" objection-field="objection.dm")",
                         R"(basis="consent" consent-field="consent.email" channel="email"
           subjects="customer" objection-field="objection.dm")"}}));
    std::map<std::string, attribute_change> seen;
    for (const auto& a : d.attributes) seen[a.element + " " + a.id + " " + a.attribute] = a;
    const auto text = render_diff_text(d, "a", "b");
    ASSERT_TRUE(seen.contains("destination newsletter country")) << text;
    EXPECT_EQ(seen["destination newsletter country"].before, "IE");
    EXPECT_EQ(seen["destination newsletter country"].after, "US");
    ASSERT_TRUE(seen.contains("destination newsletter transfer-mechanism")) << text;
    EXPECT_EQ(seen["destination newsletter transfer-mechanism"].before, "none");
    EXPECT_EQ(seen["destination newsletter transfer-mechanism"].after, "scc");
    ASSERT_TRUE(seen.contains("purpose survey basis")) << text;
    EXPECT_EQ(seen["purpose survey basis"].before, "legitimate-interest");
    EXPECT_EQ(seen["purpose survey basis"].after, "consent");
    EXPECT_TRUE(seen.contains("purpose survey lia")) << text;
    EXPECT_NE(text.find("purpose survey: basis: legitimate-interest -> consent"), std::string::npos)
        << text;
}

TEST_F(PolicyDiff, ElementsAddedAndRemovedAreNamed) {
    const auto d = against(edited({{R"(<destination id="sales" kind="internal" country="BE"/>)",
                                    R"(<destination id="sales" kind="internal" country="BE"/>
  <destination id="archive" kind="internal" country="BE"/>)"}}));
    ASSERT_EQ(d.elements.size(), 1u) << render_diff_text(d, "a", "b");
    EXPECT_EQ(d.elements[0].element, "destination");
    EXPECT_EQ(d.elements[0].id, "archive");
    EXPECT_TRUE(d.elements[0].added);
    EXPECT_TRUE(d.access.empty()) << "a destination no grant names allows nothing";
}

TEST_F(PolicyDiff, JsonIsOneDocumentWithTheSameFindings) {
    const auto d =
        against(edited({{R"(destinations="billing carrier")", R"(destinations="billing")"}}));
    const auto v = boost::json::parse(render_diff_json(d, "old.xml", "new.xml"));
    const auto& o = v.as_object();
    EXPECT_EQ(o.at("old").as_string(), "old.xml");
    EXPECT_FALSE(o.at("equivalent").as_bool());
    const auto& removed = o.at("grants_removed").as_array();
    ASSERT_EQ(removed.size(), 1u);
    EXPECT_EQ(removed[0].at("client").as_string(), "erp");
    EXPECT_EQ(removed[0].at("destination").as_string(), "carrier");
    const auto& access = o.at("access").as_array();
    ASSERT_EQ(access.size(), 1u);
    EXPECT_EQ(access[0].at("after").as_string(), "destination_not_granted");
    EXPECT_FALSE(access[0].at("now_allowed").as_bool());
    for (const char* member : {"grants_added", "elements", "attributes", "fields", "conditions"})
        EXPECT_TRUE(o.contains(member)) << member;
    const auto same = boost::json::parse(render_diff_json(policy_diff{}, "a", "a"));
    EXPECT_TRUE(same.at("equivalent").as_bool());
}

// standing_refusal() (what `policy diff` evaluates) says what decide() says for every client x
// purpose x destination of the example, apart from what depends on the request or the clock.
TEST(StandingRefusal, AgreesWithDecideOnEveryCombinationOfTheExample) {
    auto r = load_configuration_file(std::string(EXPORTWALL_SOURCE_DIR) +
                                     "/config/examples/belgian-retailer.xml");
    ASSERT_TRUE(r) << testing::errors_of(r);
    const policy& p = r.config->rules;
    const std::map<std::string, std::string> keys{{"erp", "erp-demo-key"},
                                                  {"carrier-gateway", "carrier-demo-key"},
                                                  {"marketing-tool", "marketing-demo-key"},
                                                  {"partner-gateway", "partner-demo-key"}};
    int allowed = 0;
    for (const auto& c : p.clients) {
        ASSERT_TRUE(keys.contains(c.id)) << c.id;
        for (const auto& pu : p.purposes) {
            for (const auto& de : p.destinations) {
                const reason standing = standing_refusal(p, c.id, pu.id, de.id);
                testing::facts_builder f;
                f.key(keys.at(c.id)).declare(pu.id, de.id).target("/api/data/v9.2/contacts");
                const decision d = decide(*r.config, f.build());
                const std::string what = c.id + " x " + pu.id + " x " + de.id + ": " + d.detail;
                if (standing == reason::none) {
                    ++allowed;
                    EXPECT_TRUE(d.allowed_export() || d.why == reason::grant_not_valid ||
                                d.why == reason::processor_agreement_expired ||
                                d.why == reason::suppression_list_stale)
                        << what << " (" << to_string(d.why) << ")";
                } else {
                    EXPECT_EQ(d.why, standing) << what;
                }
            }
        }
    }
    EXPECT_GT(allowed, 10);
}

}  // namespace
}  // namespace exportwall::config
