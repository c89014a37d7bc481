// The shipped example (config/examples/belgian-retailer.xml) loads and decides as its guide says.

#include <gtest/gtest.h>

#include "config/decide.hpp"
#include "config/loader.hpp"
#include "config/policy_loader.hpp"
#include "tests/unit/config/policy_test_support.hpp"

namespace exportwall::config {
namespace {

const std::string example =
    std::string(EXPORTWALL_SOURCE_DIR) + "/config/examples/belgian-retailer.xml";

TEST(BelgianRetailerExample, Loads) {
    auto r = load_configuration_file(example);
    ASSERT_TRUE(r) << testing::errors_of(r);
    EXPECT_EQ(r.config->rules.clients.size(), 4u);
    EXPECT_EQ(r.config->net.routes.size(), 7u);
}

TEST(BelgianRetailerExample, PartnerListRentalIsRefused) {
    auto r = load_configuration_file(example);
    ASSERT_TRUE(r) << testing::errors_of(r);
    testing::facts_builder f;
    f.key("partner-demo-key")
        .declare("delivery", "partner-leads")
        .target("/api/data/v9.2/contacts");
    auto d = decide(*r.config, f.build());
    EXPECT_EQ(d.why, reason::third_party_direct_marketing) << d.detail;
    testing::facts_builder m;
    m.key("marketing-demo-key")
        .declare("promotion-email", "partner-crm")
        .target("/api/data/v9.2/contacts");
    EXPECT_EQ(decide(*r.config, m.build()).why, reason::third_party_direct_marketing);
}

TEST(BelgianRetailerExample, CarrierGetsOnlyDeliveryFields) {
    auto r = load_configuration_file(example);
    ASSERT_TRUE(r) << testing::errors_of(r);
    testing::facts_builder f;
    f.key("carrier-demo-key")
        .declare("delivery", "carrier")
        .target("/crm/v3/objects/contacts", "properties=email,phone,address.city,iban&limit=100");
    auto d = decide(*r.config, f.build());
    ASSERT_EQ(d.why, reason::none) << d.detail;
    EXPECT_EQ(d.fields_stripped, (std::vector<std::string>{"email", "iban"}));
    EXPECT_EQ(d.upstream_query, "properties=phone,address.city,lifecycle&limit=100");
    EXPECT_EQ(d.max_records, 5000u);
}

TEST(BelgianRetailerExample, SuppressionListFileExists) {
    auto r = load_configuration_file(example);
    ASSERT_TRUE(r) << testing::errors_of(r);
    ASSERT_EQ(r.config->rules.suppression_lists.size(), 1u);
    std::FILE* f = std::fopen(r.config->rules.suppression_lists[0].file.c_str(), "r");
    EXPECT_NE(f, nullptr) << r.config->rules.suppression_lists[0].file;
    if (f != nullptr) std::fclose(f);
}

}  // namespace
}  // namespace exportwall::config

namespace exportwall::config {
namespace {

TEST(BelgianRetailerExample, SuppressionListsLoadFromTheirFiles) {
    auto r = load_configuration_file(example);
    ASSERT_TRUE(r) << testing::errors_of(r);
    auto errors = load_suppression_lists(r.config->rules);
    EXPECT_TRUE(errors.empty());
    const auto& list = r.config->rules.suppression_lists.at(0);
    ASSERT_TRUE(list.entries->loaded());
    EXPECT_EQ(list.entries->size(), 2u);
    filters::record_fields rec;
    rec.add("email", "Unsubscribed@Example.com");
    EXPECT_TRUE(list.entries->suppresses(rec));
    rec.clear();
    rec.add("email", "someone@example.com");
    EXPECT_FALSE(list.entries->suppresses(rec));
}

TEST(BelgianRetailerExample, MissingSuppressionFileIsReported) {
    auto r = testing::load(testing::base_policy);
    ASSERT_TRUE(r) << testing::errors_of(r);
    auto errors = load_suppression_lists(r.config->rules);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].message.find("cannot read suppression list 'dnc'"), std::string::npos);
    EXPECT_FALSE(r.config->rules.suppression_lists[0].entries->loaded());
}

}  // namespace
}  // namespace exportwall::config
