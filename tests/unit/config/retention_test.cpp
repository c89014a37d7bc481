// A purpose's retention period (config/retention.hpp): ISO 8601 durations in whole years,
// months, weeks and days, or a sentence; a value that looks like a duration must be one.

#include <gtest/gtest.h>

#include "config/retention.hpp"
#include "tests/unit/config/policy_test_support.hpp"

namespace exportwall::config {
namespace {

TEST(RetentionPeriod, ParsesDurationsInYearsMonthsWeeksAndDays) {
    EXPECT_EQ(parse_retention_period("P2Y"), (retention_period{2, 0, 0, 0}));
    EXPECT_EQ(parse_retention_period("P1Y6M"), (retention_period{1, 6, 0, 0}));
    EXPECT_EQ(parse_retention_period("P18M"), (retention_period{0, 18, 0, 0}));
    EXPECT_EQ(parse_retention_period("P4W"), (retention_period{0, 0, 4, 0}));
    EXPECT_EQ(parse_retention_period("P30D"), (retention_period{0, 0, 0, 30}));
    EXPECT_EQ(parse_retention_period("P1Y2M3W4D"), (retention_period{1, 2, 3, 4}));
}

TEST(RetentionPeriod, RefusesWhatIsNoDateDuration) {
    for (const char* bad : {"P", "P2", "P2X", "PT24H", "P1DT2H", "P0D", "P0Y0M", "P1M2Y", "P1Y1Y",
                            "P1001Y", "P-1Y", "p2y", "2Y", "P2Y ", "P 2Y"})
        EXPECT_FALSE(parse_retention_period(bad)) << bad;
}

TEST(RetentionPeriod, ReadsInWords) {
    EXPECT_EQ(to_words({1, 6, 0, 0}), "1 year 6 months");
    EXPECT_EQ(to_words({0, 0, 1, 30}), "1 week 30 days");
    EXPECT_EQ(to_words({7, 0, 0, 0}), "7 years");
}

TEST(RetentionPeriod, TellsADurationFromASentence) {
    EXPECT_TRUE(looks_like_duration("P2X"));
    EXPECT_TRUE(looks_like_duration("PT1H"));
    EXPECT_FALSE(looks_like_duration("Period of the contract plus 1 year"));
    EXPECT_FALSE(looks_like_duration("2 years after the end of the contract"));
    EXPECT_EQ(retention_problem("2 years after the end of the contract"), "");
    EXPECT_EQ(retention_problem("P7Y"), "");
    EXPECT_NE(retention_problem("P7X"), "");
    EXPECT_NE(retention_problem("   "), "");
    EXPECT_NE(retention_problem(std::string(201, 'y')), "");
}

std::string with_retention(std::string_view value) {
    std::string p = testing::base_policy;
    const std::string from = R"(<purpose id="invoicing" )";
    p.replace(p.find(from), from.size(),
              R"(<purpose id="invoicing" retention=")" + std::string(value) + "\" ");
    return p;
}

TEST(RetentionPolicy, LoadsADurationAndASentence) {
    auto r = testing::load(with_retention("P7Y"));
    ASSERT_TRUE(r) << testing::errors_of(r);
    const purpose* p = r.config->rules.find_purpose("invoicing");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->retention, "P7Y");
    EXPECT_EQ(p->retention_duration, (retention_period{7, 0, 0, 0}));

    auto s = testing::load(with_retention("2 years after the end of the contract"));
    ASSERT_TRUE(s) << testing::errors_of(s);
    p = s.config->rules.find_purpose("invoicing");
    EXPECT_EQ(p->retention, "2 years after the end of the contract");
    EXPECT_FALSE(p->retention_duration);
    EXPECT_EQ(s.config->rules.find_purpose("quote")->retention, "") << "not declared";
}

TEST(RetentionPolicy, AMalformedDurationIsAnErrorAtItsAttribute) {
    const std::string policy = with_retention("P7X");
    auto r = testing::load(policy);
    ASSERT_FALSE(r);
    EXPECT_TRUE(testing::has_error(r, testing::where(testing::document(policy), "retention=")))
        << testing::errors_of(r);
    EXPECT_NE(testing::errors_of(r).find("ISO 8601"), std::string::npos) << testing::errors_of(r);
}

TEST(RetentionPolicy, AnEmptyRetentionIsAnError) {
    auto r = testing::load(with_retention(" "));
    ASSERT_FALSE(r);
    EXPECT_NE(testing::errors_of(r).find("retention is empty"), std::string::npos)
        << testing::errors_of(r);
}

}  // namespace
}  // namespace exportwall::config
