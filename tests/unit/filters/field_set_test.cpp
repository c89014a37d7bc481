#include "filters/field_set.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace exportwall::filters
