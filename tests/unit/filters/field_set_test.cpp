#include "filters/field_set.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace exportwall::filters {
namespace {

TEST(FieldSet, KeepsListedFieldAndEverythingBelowIt) {
    field_set s({"email", "address"});
    EXPECT_TRUE(s.keeps("email"));
    EXPECT_TRUE(s.keeps("address"));
    EXPECT_TRUE(s.keeps("address.city"));
    EXPECT_TRUE(s.keeps("address.geo.lat"));
    EXPECT_FALSE(s.keeps("iban"));
    EXPECT_FALSE(s.keeps("emails"));
    EXPECT_FALSE(s.keeps("email2.x"));
}

TEST(FieldSet, DescendsOnlyTowardsAllowedPaths) {
    field_set s({"address.city", "Account__r.Name"});
    EXPECT_TRUE(s.descends("address"));
    EXPECT_TRUE(s.descends("Account__r"));
    EXPECT_FALSE(s.keeps("address"));
    EXPECT_TRUE(s.keeps("address.city"));
    EXPECT_FALSE(s.keeps("address.street"));
    EXPECT_FALSE(s.descends("addres"));
    EXPECT_FALSE(s.descends("address.city"));
    EXPECT_FALSE(s.descends("Account"));
}

TEST(FieldSet, EmptySetKeepsNothing) {
    field_set s;
    EXPECT_TRUE(s.empty());
    EXPECT_FALSE(s.keeps("id"));
    EXPECT_FALSE(s.descends("id"));
}

TEST(FieldSet, DuplicatesAreFolded) {
    field_set s({"b", "a", "b"});
    ASSERT_EQ(s.paths().size(), 2u);
    EXPECT_EQ(s.paths()[0], "a");
}

// descends() compares "path." piecewise instead of building it: over random paths of letters,
// dots, characters that sort just before and after '.' ('-', '/') and bytes past ASCII, it
// answers as the definition does (some allowed path starts with "path.").
TEST(FieldSet, DescendsAsTheDefinitionOverRandomPaths) {
    std::mt19937 rng(20261205U);
    const std::string alphabet = std::string("ab.-/") + static_cast<char>(0xc3);
    auto random_path = [&] {
        std::string p;
        for (std::size_t i = 0, n = 1 + rng() % 6; i < n; ++i)
            p += alphabet[rng() % alphabet.size()];
        return p;
    };
    for (int round = 0; round < 300; ++round) {
        std::vector<std::string> paths;
        for (std::size_t i = 0, n = rng() % 8; i < n; ++i) paths.push_back(random_path());
        const field_set s(paths);
        const field_set copy = s;  // copies share the paths and answer the same
        for (int q = 0; q < 40; ++q) {
            const std::string path = random_path();
            bool expected = false;
            for (const auto& p : paths) expected = expected || p.rfind(path + ".", 0) == 0;
            EXPECT_EQ(s.descends(path), expected) << path;
            EXPECT_EQ(copy.descends(path), expected) << path;
        }
    }
}

}  // namespace
}  // namespace exportwall::filters
