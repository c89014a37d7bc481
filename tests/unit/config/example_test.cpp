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
    EXPECT_EQ(r.config->net.routes.size(), 8u);
}

// Where the example's CRM writes its paging tokens, exportwall seals them (continuation-fields,
// continuation-params; a hubspot-search route by default).
TEST(BelgianRetailerExample, EveryPagingTokenIsDeclaredForSealing) {
    auto r = load_configuration_file(example);
    ASSERT_TRUE(r) << testing::errors_of(r);
    const route* list = nullptr;
    const route* search = nullptr;
    for (const auto& rt : r.config->net.routes) {
        if (rt.id == "hubspot-contacts") list = &rt;
        if (rt.id == "hubspot-search") search = &rt;
    }
    ASSERT_TRUE(list != nullptr && search != nullptr);
    using words = std::vector<std::string>;
    EXPECT_EQ(list->continuation_fields, words{"/paging/next/after"});
    EXPECT_EQ(list->continuation_params, words{"after"});
    // The search takes its cursor in the body only (a link to it is dropped: it is POST).
    EXPECT_EQ(search->continuation_fields, words{"/paging/next/after"});
    EXPECT_TRUE(search->continuation_params.empty());
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
    rec.add("email", " No.Marketing@example.org ");  // the plain entry, hashed at load
    EXPECT_TRUE(list.entries->suppresses(rec));
    rec.clear();
    rec.add("email", "someone@example.com");
    EXPECT_FALSE(list.entries->suppresses(rec));
    rec.add("email", "unsubscribed@example.com");  // a second address of the same record
    EXPECT_TRUE(list.entries->suppresses(rec));
}

TEST(SuppressionEntries, HashedAndPlainEntriesMatchTheSameNormalisedValue) {
    suppression_entries emails("email", suppression_entries::match_kind::email);
    // An arbitrary digest in upper case (read as a digest, not hashed again) and a plain entry.
    emails.load(
        "# comment\n\n"
        "8A3F6E1D2B6D8E1D9F0C0B3B1E7E1A3C6B1E2F0D4C5B6A798071625344352617\n"
        "Plain@Example.com\n");
    EXPECT_EQ(emails.size(), 2u);
    filters::record_fields rec;
    rec.add("email", "plain@example.COM");
    EXPECT_TRUE(emails.suppresses(rec));
    auto digest = suppression_entries::hash(suppression_entries::normalise(
        "  Gone@Example.com ", suppression_entries::match_kind::email));
    std::string hex;
    for (unsigned char b : digest) {
        static constexpr char digits[] = "0123456789abcdef";
        hex.push_back(digits[b >> 4]);
        hex.push_back(digits[b & 0xf]);
    }
    suppression_entries hashed("email", suppression_entries::match_kind::email);
    hashed.load(hex + "\n");
    rec.clear();
    rec.add("email", "GONE@example.com");
    EXPECT_TRUE(hashed.suppresses(rec));
    rec.clear();
    rec.add("email", "gone@example.co");
    EXPECT_FALSE(hashed.suppresses(rec));
    // Ids compare exactly (trimmed), not case-folded.
    suppression_entries ids("crm_id", suppression_entries::match_kind::id);
    ids.load("AbC-1\n");
    rec.clear();
    rec.add("crm_id", "abc-1");
    EXPECT_FALSE(ids.suppresses(rec));
    rec.clear();
    rec.add("crm_id", " AbC-1");
    EXPECT_TRUE(ids.suppresses(rec));
    // A list that never loaded suppresses everyone (fail closed).
    suppression_entries unloaded("email", suppression_entries::match_kind::email);
    rec.clear();
    EXPECT_TRUE(unloaded.suppresses(rec));
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
