// The transforms themselves (transform_set, field_transformer), apart from any filter.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/transform.hpp"
#include "tests/unit/filters/transform_test_support.hpp"

namespace exportwall::filters {
namespace {

using testing::count_of;
using testing::key_of;
using testing::pseudonym;
using testing::transforms;

// Applies one transform of `kind` to `value`; nullopt when it fails.
std::optional<std::string> apply(transform_kind kind, std::size_t keep, std::string_view value,
                                 std::string_view key = testing::test_key) {
    const transform_set set = transforms({{"f", kind, keep}}, key);
    field_transformer t(set, nullptr, nullptr);
    std::string out = "<";  // what was there before stays
    if (!t.apply(0, value, out)) {
        EXPECT_EQ(out, "<") << "a failed transform appended something";
        return std::nullopt;
    }
    EXPECT_EQ(out.substr(0, 1), "<");
    return out.substr(1);
}

TEST(TransformSet, FindsATransformByItsExactPathOnly) {
    const transform_set set = transforms({{"email", transform_kind::pseudonymise, 0},
                                          {"address.postcode", transform_kind::truncate_chars, 2},
                                          {"email", transform_kind::mask, 4}});
    EXPECT_FALSE(set.empty());
    EXPECT_EQ(set.size(), 2u);  // the later "email" is ignored
    ASSERT_NE(set.find("email"), nullptr);
    EXPECT_EQ(set.find("email")->kind, transform_kind::pseudonymise);
    EXPECT_EQ(set.find("address"), nullptr);
    EXPECT_EQ(set.find("address.postcode.x"), nullptr);
    EXPECT_EQ(set.find("emai"), nullptr);
    EXPECT_EQ(set.index_of("nothing"), transform_set::npos);
    EXPECT_EQ(&set[set.index_of("address.postcode")], set.find("address.postcode"));
}

TEST(TransformSet, TellsWhetherATransformLiesBelowAPath) {
    const transform_set set = transforms(
        {{"address.postcode", transform_kind::year, 0}, {"a.b", transform_kind::year, 0}});
    EXPECT_TRUE(set.below(""));
    EXPECT_TRUE(set.below("address"));
    EXPECT_TRUE(set.below("a"));
    EXPECT_FALSE(set.below("address.postcode"));
    EXPECT_FALSE(set.below("addr"));
    EXPECT_FALSE(set.below("address.post"));
    EXPECT_FALSE(set.below("b"));
    EXPECT_FALSE(transform_set{}.below(""));
    EXPECT_TRUE(set.above("address.postcode.x"));
    EXPECT_TRUE(set.above("a.b.c.d"));
    EXPECT_FALSE(set.above("address.postcode"));
    EXPECT_FALSE(set.above("address"));
    EXPECT_FALSE(set.above("address.postcodex.y"));
    EXPECT_FALSE(set.above(""));
    EXPECT_TRUE(transform_set{}.empty());
    EXPECT_TRUE(transform_set({}, key_of("k")).empty());
}

TEST(FieldTransformer, PseudonymMatchesTheRfc4231Vector) {
    // RFC 4231 test case 2: HMAC-SHA-256("Jefe", "what do ya want for nothing?") starts
    // 5bdcc146bf60754e6a042426089575c7.
    EXPECT_EQ(apply(transform_kind::pseudonymise, 0, "what do ya want for nothing?", "Jefe"),
              "ps_W9zBRr9gdU5qBCQmCJV1xw");
}

TEST(FieldTransformer, PseudonymIsStableForOneKeyAndDiffersUnderAnother) {
    const auto a = apply(transform_kind::pseudonymise, 0, "ann@example.org");
    ASSERT_TRUE(a);
    EXPECT_EQ(*a, "ps_cHqqpZowbfAb4vTgtY32dQ");
    EXPECT_EQ(a->size(), 3u + 22u);
    EXPECT_EQ(apply(transform_kind::pseudonymise, 0, "ann@example.org"), a);
    EXPECT_NE(apply(transform_kind::pseudonymise, 0, "ann@example.org", "another key"), a);
    EXPECT_NE(apply(transform_kind::pseudonymise, 0, "ann@example.orh"), a);
}

TEST(FieldTransformer, PseudonymiseReusesOneContextForEveryValue) {
    const transform_set set = transforms({{"f", transform_kind::pseudonymise, 0}});
    field_transformer t(set, nullptr, nullptr);
    for (std::size_t i = 0; i < 500; ++i) {
        const std::string value = "value-" + std::to_string(i * 7919) + std::string(i % 70, 'x');
        std::string out;
        ASSERT_TRUE(t.apply(0, value, out));
        ASSERT_EQ(out, pseudonym(value)) << i;
    }
}

TEST(FieldTransformer, PseudonymiseWithoutAKeyFails) {
    for (const auto& set : {transform_set({{"f", transform_kind::pseudonymise, 0}}, nullptr),
                            transform_set({{"f", transform_kind::pseudonymise, 0}}, key_of(""))}) {
        field_counter_map done;
        field_counter_map failed;
        field_transformer t(set, &done, &failed);
        std::string out;
        EXPECT_FALSE(t.apply(0, "ann@example.org", out));
        EXPECT_EQ(out, "");
        t.end_record(true);
        EXPECT_EQ(count_of(failed, "f"), 1u);
        EXPECT_EQ(count_of(done, "f"), 0u);
    }
}

TEST(FieldTransformer, TruncateKeepsWholeCodePoints) {
    EXPECT_EQ(apply(transform_kind::truncate_chars, 2, "1000"), "10");
    EXPECT_EQ(apply(transform_kind::truncate_chars, 3, "Zoë Ångström"), "Zoë");
    EXPECT_EQ(apply(transform_kind::truncate_chars, 5, "Zoë Ångström"), "Zoë Å");
    EXPECT_EQ(apply(transform_kind::truncate_chars, 1, "€uro"), "€");
    EXPECT_EQ(apply(transform_kind::truncate_chars, 2, "😀😃😄"), "😀😃");
    EXPECT_EQ(apply(transform_kind::truncate_chars, 0, "1000"), "");
    EXPECT_EQ(apply(transform_kind::truncate_chars, 10, "Zoë"), "Zoë");
}

TEST(FieldTransformer, MaskKeepsTheLastCodePoints) {
    EXPECT_EQ(apply(transform_kind::mask, 4, "NL91ABNA0417161234"), "**************1234");
    EXPECT_EQ(apply(transform_kind::mask, 1, "Zoë"), "**ë");
    EXPECT_EQ(apply(transform_kind::mask, 2, "€€€€"), "**€€");
    EXPECT_EQ(apply(transform_kind::mask, 1, "😀😃😄"), "**😄");
    EXPECT_EQ(apply(transform_kind::mask, 0, "abc"), "***");
    EXPECT_EQ(apply(transform_kind::mask, 4, "123"), "123");  // nothing but the kept part
}

TEST(FieldTransformer, TruncateAndMaskRefuseWhatIsNotUtf8) {
    for (const std::string_view bad :
         {std::string_view("ab\xff"), std::string_view("ab\xc3"), std::string_view("\xc0\xaf"),
          std::string_view("\xed\xa0\x80"), std::string_view("\xf4\x90\x80\x80"),
          std::string_view("\x80x"), std::string_view("\xe2\x82")}) {
        EXPECT_FALSE(apply(transform_kind::truncate_chars, 1, bad));
        EXPECT_FALSE(apply(transform_kind::mask, 1, bad));
    }
}

TEST(FieldTransformer, YearReadsAnIsoCalendarDateOrDateTime) {
    EXPECT_EQ(apply(transform_kind::year, 0, "1985-03-02"), "1985");
    EXPECT_EQ(apply(transform_kind::year, 0, "1985-03-02T10:00:00Z"), "1985");
    EXPECT_EQ(apply(transform_kind::year, 0, "1985-03-02T10:00:00.123+02:00"), "1985");
    EXPECT_EQ(apply(transform_kind::year, 0, "1985-03-02 10:00"), "1985");
    EXPECT_EQ(apply(transform_kind::year, 0, "2024-02-29"), "2024");
    EXPECT_EQ(apply(transform_kind::year, 0, "2000-02-29"), "2000");
    EXPECT_EQ(apply(transform_kind::year, 0, "1999-12-31"), "1999");
}

TEST(FieldTransformer, YearRefusesWhatIsNotACalendarDate) {
    for (const std::string_view bad : {"1985",
                                       "19850302",
                                       "85-03-02",
                                       "1985-3-2",
                                       "1985-13-01",
                                       "1985-00-10",
                                       "1985-03-00",
                                       "1985-03-32",
                                       "1985-04-31",
                                       "1900-02-29",
                                       "1985-02-29",
                                       "1985-03-02X",
                                       "1985-03-02T",
                                       "1985-03-02T1",
                                       "1985-03-02Tab:cd",
                                       "1985-03-02T25:00",
                                       "March 1985",
                                       "true",
                                       "12.5",
                                       " 1985-03-02",
                                       "1985/03/02",
                                       "1985-03-02\n"}) {
        EXPECT_FALSE(apply(transform_kind::year, 0, bad)) << bad;
    }
}

TEST(FieldTransformer, EmptyValueStaysEmpty) {
    for (const auto kind : {transform_kind::pseudonymise, transform_kind::truncate_chars,
                            transform_kind::year, transform_kind::mask}) {
        EXPECT_EQ(apply(kind, 2, ""), "");
    }
}

TEST(FieldTransformer, CountsEachFieldUnderItsPathAfterThePrefix) {
    const transform_set set = transforms(
        {{"birthdate", transform_kind::year, 0}, {"email", transform_kind::pseudonymise, 0}});
    field_counter_map done;
    field_counter_map failed;
    field_transformer t(set, &done, &failed, "included[people].");
    const std::size_t birthdate = set.index_of("birthdate");
    const std::size_t email = set.index_of("email");
    std::string out;
    EXPECT_TRUE(t.apply(birthdate, "1985-03-02", out));
    EXPECT_FALSE(t.apply(birthdate, "soon", out));
    EXPECT_TRUE(t.apply(email, "a@x", out));
    EXPECT_TRUE(t.apply(email, "b@x", out));
    t.count_failed(email);
    EXPECT_TRUE(done.empty()) << "counted before the record was written";
    t.end_record(true);
    EXPECT_EQ(done, (field_counter_map{{"included[people].birthdate", 1},
                                       {"included[people].email", 2}}));
    EXPECT_EQ(failed, (field_counter_map{{"included[people].birthdate", 1},
                                         {"included[people].email", 1}}));
}

TEST(FieldTransformer, ForgetsTheCountsOfARecordNotWritten) {
    const transform_set set = transforms({{"email", transform_kind::pseudonymise, 0}});
    field_counter_map done;
    field_counter_map failed;
    field_transformer t(set, &done, &failed);
    std::string out;
    ASSERT_TRUE(t.apply(0, "a@x", out));
    t.count_failed(0);
    t.end_record(false);
    EXPECT_TRUE(done.empty());
    EXPECT_TRUE(failed.empty());
    ASSERT_TRUE(t.apply(0, "b@x", out));
    t.end_record(true);
    EXPECT_EQ(done, (field_counter_map{{"email", 1}}));
}

TEST(FieldTransformer, NestedRecordCountsGoWithTheOuterRecord) {
    const transform_set outer_set = transforms({{"name", transform_kind::mask, 0}});
    const transform_set inner_set = transforms({{"email", transform_kind::pseudonymise, 0}});
    field_counter_map done;
    field_transformer outer(outer_set, &done, nullptr);
    field_transformer inner(inner_set, &done, nullptr, "contacts.", &outer);
    std::string out;
    // A nested record written inside an outer record that is dropped: nothing counts.
    ASSERT_TRUE(inner.apply(0, "a@x", out));
    inner.end_record(true);
    ASSERT_TRUE(outer.apply(0, "Acme", out));
    outer.end_record(false);
    EXPECT_TRUE(done.empty());
    // Two nested records, one dropped by its own rules, inside an outer record written.
    ASSERT_TRUE(inner.apply(0, "a@x", out));
    inner.end_record(true);
    ASSERT_TRUE(inner.apply(0, "b@x", out));
    inner.end_record(false);
    ASSERT_TRUE(outer.apply(0, "Acme", out));
    outer.end_record(true);
    EXPECT_EQ(done, (field_counter_map{{"contacts.email", 1}, {"name", 1}}));
}

}  // namespace
}  // namespace exportwall::filters
