// <transform>: a purpose that needs less than a value receives a derived form of it. Checked at
// load (kept fields only, one per field, a key for pseudonyms), carried by the decision, and
// never usable in a filter, an order or a search (an oracle on the original value).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/decide.hpp"
#include "tests/unit/config/policy_test_support.hpp"

namespace exportwall::config {
namespace {

using testing::base_policy;
using testing::errors_of;
using testing::facts_builder;

std::string with(std::string text, std::string_view from, std::string_view to) {
    auto pos = text.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) text.replace(pos, from.size(), to);
    return text;
}

// Invoicing keeps the city only as its first two characters, and the e-mail as a pseudonym.
std::string transformed_policy(std::string_view transforms) {
    return with(base_policy, "<fields entity=\"contact\">id first_name email vat address.city address.street</fields>",
                "<fields entity=\"contact\">id first_name email vat address.city address.street</fields>\n    " +
                    std::string(transforms));
}

class TransformPolicy : public ::testing::Test {
  protected:
    void SetUp() override {
        key_ = std::filesystem::temp_directory_path() / "ew-transform-test.key";
        std::ofstream(key_, std::ios::binary) << std::string(48, 'k');
    }
    void TearDown() override { std::filesystem::remove(key_); }
    load_result load_with_key(const std::string& policy) {
        auto doc = testing::document(policy);
        // The contacts route speaks OData, so a query can filter and sort.
        doc = with(doc, "select-param=\"$select\" paging-params=\"$top\"/>",
                   "query-language=\"odata\"/>");
        doc = with(doc, "<audit path=\"audit.jsonl\"/>",
                   "<audit path=\"audit.jsonl\"/>\n  <pseudonymisation key-file=\"" + key_.string() +
                       "\"/>");
        return load_configuration_text(doc, "test.xml", "/etc/exportwall");
    }
    std::filesystem::path key_;
};

TEST_F(TransformPolicy, KeptFieldsAreTransformedAndTheDecisionCarriesThem) {
    auto r = load_with_key(transformed_policy(
        R"(<transform entity="contact" field="address.city" kind="truncate" keep="2"/>
    <transform entity="contact" field="email" kind="pseudonymise"/>)"));
    ASSERT_TRUE(r) << errors_of(r);
    facts_builder f;
    f.key("erp-key").declare("invoicing", "billing").target("/contacts", "$select=id,email,address.city");
    auto d = decide(*r.config, f.build());
    ASSERT_EQ(d.result, outcome::allow) << d.detail;
    ASSERT_NE(d.transforms, nullptr);
    ASSERT_NE(d.transforms->find("address.city"), nullptr);
    EXPECT_EQ(d.transforms->find("address.city")->kind, filters::transform_kind::truncate_chars);
    EXPECT_EQ(d.transforms->find("address.city")->keep, 2u);
    EXPECT_EQ(d.transforms->find("email")->kind, filters::transform_kind::pseudonymise);
    EXPECT_EQ(d.transforms->find("first_name"), nullptr);
}

TEST_F(TransformPolicy, ATransformedFieldCannotBeFilteredSortedOrSearched) {
    auto r = load_with_key(transformed_policy(
        R"(<transform entity="contact" field="address.city" kind="truncate" keep="2"/>)"));
    ASSERT_TRUE(r) << errors_of(r);
    for (std::string query : {"$filter=address.city eq 'Brussel'",
                              "$orderby=address.city", "$filter=startswith(address.city,'Bru')"}) {
        facts_builder f;
        f.key("erp-key").declare("invoicing", "billing").target("/contacts", query);
        auto d = decide(*r.config, f.build());
        EXPECT_EQ(d.why, reason::query_field_not_permitted) << query << ": " << d.detail;
        EXPECT_NE(d.detail.find("derived form"), std::string::npos) << d.detail;
    }
    // An untransformed kept field still may be filtered on.
    facts_builder ok;
    ok.key("erp-key").declare("invoicing", "billing").target("/contacts", "$filter=vat eq 'BE1'");
    EXPECT_EQ(decide(*r.config, ok.build()).why, reason::none);
}

TEST_F(TransformPolicy, RefusedShapes) {
    struct bad {
        const char* transform;
        const char* message;
    };
    for (const auto& b : std::vector<bad>{
             {R"(<transform entity="contact" field="iban" kind="mask" keep="4"/>)",
              "GDPR-5 (GDPR art. 5(1)(b)-(c)): transform of field 'iban' of purpose 'invoicing': "
              "the purpose does not keep it"},
             {R"(<transform entity="contact" field="email" kind="truncate"/>)",
              "<transform kind=\"truncate\"> needs keep"},
             {R"(<transform entity="contact" field="email" kind="hash"/>)",
              "kind must be pseudonymise, truncate, year or mask"},
             {R"(<transform entity="contact" field="email" kind="year"/>
    <transform entity="contact" field="email" kind="pseudonymise"/>)",
              "field 'email' of purpose 'invoicing' is transformed twice"},
         }) {
        auto r = load_with_key(transformed_policy(b.transform));
        ASSERT_FALSE(r) << b.transform;
        EXPECT_NE(errors_of(r).find(b.message), std::string::npos) << errors_of(r);
    }
}

TEST_F(TransformPolicy, APseudonymNeedsTheOperatorsKey) {
    auto r = testing::load(
        transformed_policy(R"(<transform entity="contact" field="email" kind="pseudonymise"/>)"));
    ASSERT_FALSE(r);
    EXPECT_NE(errors_of(r).find("needs the operator's <pseudonymisation key-file"),
              std::string::npos)
        << errors_of(r);
}

}  // namespace
}  // namespace exportwall::config
