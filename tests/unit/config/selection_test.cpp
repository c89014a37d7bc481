// The field-selection parameter: decoding, repetition, intersection with the allow-list, and the
// rewritten query sent upstream.

#include <gtest/gtest.h>

#include "config/selection.hpp"

namespace exportwall::config {
namespace {

using strings = std::vector<std::string>;

const filters::field_set allowed{strings{"id", "email", "first_name", "address.city"}};
const strings rule_fields{"consent.email", "lifecycle"};

TEST(Selection, IntersectsRequestWithAllowList) {
    auto s = resolve_selection("$select=email,iban,id&$top=10", "$select", ',', allowed, {});
    ASSERT_FALSE(s.invalid);
    EXPECT_EQ(s.requested, (strings{"email", "iban", "id"}));
    EXPECT_EQ(s.kept, (strings{"email", "id"}));
    EXPECT_EQ(s.stripped, (strings{"iban"}));
    EXPECT_EQ(s.query, "$select=email,id&$top=10");
}

TEST(Selection, AddsRuleFieldsUpstream) {
    auto s = resolve_selection("$select=email", "$select", ',', allowed, rule_fields);
    EXPECT_EQ(s.sent, (strings{"email", "consent.email", "lifecycle"}));
    EXPECT_EQ(s.query, "$select=email,consent.email,lifecycle");
}

TEST(Selection, NothingAskedSelectsEveryAllowedField) {
    auto s = resolve_selection("$top=5", "$select", ',', allowed, {});
    EXPECT_FALSE(s.present);
    EXPECT_TRUE(s.stripped.empty());
    EXPECT_EQ(s.kept, (strings{"address.city", "email", "first_name", "id"}));
    EXPECT_EQ(s.query, "$top=5&$select=address.city,email,first_name,id");
    auto empty = resolve_selection("", "$select", ',', allowed, {});
    EXPECT_EQ(empty.query, "$select=address.city,email,first_name,id");
}

TEST(Selection, EmptyParameterSelectsEveryAllowedField) {
    auto s = resolve_selection("$select=", "$select", ',', allowed, {});
    EXPECT_TRUE(s.present);
    EXPECT_EQ(s.kept.size(), 4u);
    EXPECT_EQ(s.query, "$select=address.city,email,first_name,id");
}

TEST(Selection, RepeatedParameterIsInvalid) {
    auto s = resolve_selection("$select=email&$select=iban", "$select", ',', allowed, {});
    EXPECT_TRUE(s.invalid);
    EXPECT_NE(s.detail.find("more than once"), std::string::npos);
}

TEST(Selection, EncodedParameterNameIsTheParameter) {
    auto s = resolve_selection("%24select=iban,email", "$select", ',', allowed, {});
    ASSERT_FALSE(s.invalid);
    EXPECT_TRUE(s.present);
    EXPECT_EQ(s.stripped, (strings{"iban"}));
    EXPECT_EQ(s.query, "$select=email");
    auto twice = resolve_selection("$select=email&%24select=iban", "$select", ',', allowed, {});
    EXPECT_TRUE(twice.invalid);
    auto upper = resolve_selection("$select=email&$SELECT=iban", "$select", ',', allowed, {});
    EXPECT_TRUE(upper.invalid);
}

TEST(Selection, EncodedValuesAreDecoded) {
    auto s = resolve_selection("$select=email%2Ciban%2C%20id", "$select", ',', allowed, {});
    EXPECT_EQ(s.requested, (strings{"email", "iban", "id"}));
    EXPECT_EQ(s.query, "$select=email,id");
}

TEST(Selection, MalformedEscapeIsInvalid) {
    EXPECT_TRUE(resolve_selection("$select=email%2", "$select", ',', allowed, {}).invalid);
    EXPECT_TRUE(resolve_selection("%2xselect=email", "$select", ',', allowed, {}).invalid);
}

TEST(Selection, OnlyUnknownFieldsAskedFallsBackToAllowed) {
    auto s = resolve_selection("properties=iban;birth_date", "properties", ';', allowed, {});
    EXPECT_EQ(s.stripped, (strings{"iban", "birth_date"}));
    EXPECT_EQ(s.kept, (strings{"address.city", "email", "first_name", "id"}));
    EXPECT_EQ(s.query, "properties=address.city;email;first_name;id");
}

TEST(Selection, OtherParametersPassUnchanged) {
    auto s = resolve_selection("after=abc%3D&$select=email&limit=10", "$select", ',', allowed, {});
    EXPECT_EQ(s.query, "after=abc%3D&$select=email&limit=10");
}

TEST(Selection, NoParameterConfiguredLeavesQueryAlone) {
    auto s = resolve_selection("q=SELECT+Id+FROM+Contact", "", ',', allowed, {});
    EXPECT_EQ(s.query, "q=SELECT+Id+FROM+Contact");
    EXPECT_FALSE(s.invalid);
}

TEST(Selection, DecodesPercentEscapes) {
    std::string out;
    EXPECT_TRUE(percent_decode("a%20b+c%2f", out));
    EXPECT_EQ(out, "a b c/");
    EXPECT_FALSE(percent_decode("%", out));
    EXPECT_FALSE(percent_decode("%g0", out));
}

}  // namespace
}  // namespace exportwall::config
