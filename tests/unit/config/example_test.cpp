// The shipped example (config/examples/belgian-retailer.xml) loads and decides as its guide says.

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

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

// The lookup starts where a digest would sit in an evenly spread list and widens from there. It
// must find exactly what a binary search finds: every entry, nothing else, at either end, in
// lists of SHA-256 values (even) and of hex digests an operator wrote (skewed, clustered, all
// alike but one byte), of every small length and some large ones.
TEST(SuppressionEntries, FindsExactlyWhatABinarySearchFinds) {
    std::mt19937_64 rng(20);
    auto random_digest = [&] {
        suppression_entries::digest d{};
        for (auto& b : d) b = static_cast<unsigned char>(rng());
        return d;
    };
    auto hex_of = [](const suppression_entries::digest& d) {
        static constexpr char digits[] = "0123456789abcdef";
        std::string hex;
        for (unsigned char b : d) {
            hex.push_back(digits[b >> 4]);
            hex.push_back(digits[b & 0xf]);
        }
        return hex;
    };
    enum class spread { even, low, high, clustered, one_byte };
    auto make = [&](spread how, std::size_t i) {
        suppression_entries::digest d = random_digest();
        switch (how) {
            case spread::even:
                break;
            case spread::low:
                d[0] = 0;
                d[1] = static_cast<unsigned char>(i % 3);
                break;
            case spread::high:
                d[0] = 0xff;
                d[1] = 0xff;
                break;
            case spread::clustered:
                d[0] = static_cast<unsigned char>(i % 2 == 0 ? 0x10 : 0xe0);
                break;
            case spread::one_byte:
                d.fill(0x42);
                d[31] = static_cast<unsigned char>(i);
                break;
        }
        return d;
    };
    for (spread how :
         {spread::even, spread::low, spread::high, spread::clustered, spread::one_byte}) {
        for (std::size_t n :
             {1U, 2U, 3U, 4U, 5U, 7U, 8U, 9U, 16U, 31U, 100U, 255U, 1000U, 20000U}) {
            if (how == spread::one_byte && n > 256) continue;
            std::vector<suppression_entries::digest> listed;
            std::string text;
            for (std::size_t i = 0; i < n; ++i) {
                listed.push_back(make(how, i));
                text += hex_of(listed.back()) + "\n";
            }
            suppression_entries list("email", suppression_entries::match_kind::email);
            list.load(text);
            std::vector<suppression_entries::digest> sorted = listed;
            std::sort(sorted.begin(), sorted.end());
            sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
            ASSERT_EQ(list.size(), sorted.size());
            for (const auto& d : listed) ASSERT_TRUE(list.listed(d)) << hex_of(d) << " n=" << n;
            // Neighbours of each entry (one bit off at either end), the extremes, and random ones.
            std::vector<suppression_entries::digest> probes;
            for (const auto& d : listed) {
                auto below = d;
                below[31] = static_cast<unsigned char>(below[31] - 1);
                auto above = d;
                above[31] = static_cast<unsigned char>(above[31] + 1);
                auto first = d;
                first[0] = static_cast<unsigned char>(first[0] ^ 0x80);
                probes.insert(probes.end(), {below, above, first, make(how, n + probes.size())});
            }
            suppression_entries::digest lowest{};
            suppression_entries::digest highest{};
            highest.fill(0xff);
            probes.insert(probes.end(), {lowest, highest});
            for (const auto& p : probes) {
                ASSERT_EQ(list.listed(p), std::binary_search(sorted.begin(), sorted.end(), p))
                    << hex_of(p) << " n=" << n << " spread " << static_cast<int>(how);
            }
        }
    }
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
