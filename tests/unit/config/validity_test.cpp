// Grants bounded in time (valid-from / valid-until, refused grant_not_valid) and suppression lists
// that must be fresh (max-age, refused suppression_list_stale), issue 17 items 4 and 5: the
// decision at either side of every boundary, the loader's errors, and the file time the list
// loader records.

#include <gtest/gtest.h>

#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "config/decide.hpp"
#include "config/policy_loader.hpp"
#include "tests/unit/config/policy_test_support.hpp"

namespace exportwall::config {
namespace {

using namespace std::chrono;
using testing::base_policy;
using testing::errors_of;
using testing::facts_builder;

// Seconds since the epoch of 00:00:00 UTC on a day.
std::int64_t midnight(year_month_day day) {
    return sys_days(day).time_since_epoch().count() * 86400;
}

std::string with(std::string text, std::string_view from, std::string_view to) {
    auto pos = text.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) text.replace(pos, from.size(), to);
    return text;
}

// The base policy with erp's invoicing grant carrying `attributes`.
std::string invoicing_grant(std::string_view attributes) {
    return with(base_policy, R"(<grant purpose="invoicing" destinations="billing carrier")",
                std::string(R"(<grant purpose="invoicing" destinations="billing carrier" )") +
                    std::string(attributes));
}

decision decide_at(const configuration& cfg, std::string_view key, std::string purpose,
                   std::string destination, std::int64_t now) {
    facts_builder f;
    f.key(key).declare(std::move(purpose), std::move(destination)).target("/contacts");
    f.build();
    f.facts.now = now;
    return decide(cfg, f.facts);
}

decision invoicing_at(const configuration& cfg, std::int64_t now) {
    return decide_at(cfg, "erp-key", "invoicing", "billing", now);
}

TEST(GrantWindow, DatesCoverTheirFirstAndLastDayWhole) {
    auto r = testing::load(invoicing_grant(R"(valid-from="2027-01-01" valid-until="2027-03-31")"));
    ASSERT_TRUE(r) << errors_of(r);
    const std::int64_t first = midnight(2027y / January / 1);
    const std::int64_t after_last = midnight(2027y / April / 1);

    auto early = invoicing_at(*r.config, first - 1);
    EXPECT_EQ(early.why, reason::grant_not_valid);
    EXPECT_EQ(early.status, 403u);
    EXPECT_EQ(early.result, outcome::refuse);
    EXPECT_EQ(early.detail,
              "grant of client 'erp' for purpose 'invoicing' is valid from 2027-01-01 until "
              "2027-03-31; it is not valid yet");
    EXPECT_EQ(early.grant_ref, nullptr) << "a refused grant allowed nothing";

    auto opening = invoicing_at(*r.config, first);
    EXPECT_EQ(opening.result, outcome::allow) << opening.detail;
    EXPECT_NE(opening.grant_ref, nullptr);
    EXPECT_EQ(invoicing_at(*r.config, after_last - 1).result, outcome::allow)
        << "valid-until is inclusive: its whole last day is valid";

    auto late = invoicing_at(*r.config, after_last);
    EXPECT_EQ(late.why, reason::grant_not_valid);
    EXPECT_EQ(late.detail,
              "grant of client 'erp' for purpose 'invoicing' is valid from 2027-01-01 until "
              "2027-03-31; it has expired");
    EXPECT_EQ(rule_of(late.why).rule_id, "R15");
}

TEST(GrantWindow, DateTimesHonourTheirOffsetAndTheLastSecond) {
    auto r = testing::load(invoicing_grant(
        R"(valid-from="2027-03-31T09:30:00Z" valid-until="2027-03-31T18:00:00+02:00")"));
    ASSERT_TRUE(r) << errors_of(r);
    const std::int64_t day = midnight(2027y / March / 31);
    const std::int64_t from = day + 9 * 3600 + 30 * 60;
    const std::int64_t until = day + 16 * 3600;  // 18:00 at +02:00 is 16:00 UTC

    EXPECT_EQ(invoicing_at(*r.config, from - 1).why, reason::grant_not_valid);
    EXPECT_EQ(invoicing_at(*r.config, from).result, outcome::allow);
    EXPECT_EQ(invoicing_at(*r.config, until).result, outcome::allow);
    auto late = invoicing_at(*r.config, until + 1);
    EXPECT_EQ(late.why, reason::grant_not_valid);
    EXPECT_NE(late.detail.find("until 2027-03-31T18:00:00+02:00"), std::string::npos)
        << "the window is named as written: " << late.detail;
}

TEST(GrantWindow, NegativeOffsetsAndOpenEndsWork) {
    auto r = testing::load(invoicing_grant(R"(valid-until="2027-03-31T23:00:00-05:00")"));
    ASSERT_TRUE(r) << errors_of(r);
    const std::int64_t until = midnight(2027y / April / 1) + 4 * 3600;
    EXPECT_EQ(invoicing_at(*r.config, 1).result, outcome::allow) << "no valid-from: open";
    EXPECT_EQ(invoicing_at(*r.config, until).result, outcome::allow);
    auto late = invoicing_at(*r.config, until + 1);
    EXPECT_EQ(late.why, reason::grant_not_valid);
    EXPECT_EQ(late.detail,
              "grant of client 'erp' for purpose 'invoicing' is valid until "
              "2027-03-31T23:00:00-05:00; it has expired");

    auto open_end = testing::load(invoicing_grant(R"(valid-from="2027-01-01")"));
    ASSERT_TRUE(open_end) << errors_of(open_end);
    EXPECT_EQ(invoicing_at(*open_end.config, midnight(2099y / December / 31)).result,
              outcome::allow);
    EXPECT_EQ(invoicing_at(*open_end.config, midnight(2027y / January / 1) - 1).why,
              reason::grant_not_valid);
}

TEST(GrantWindow, OnlyTheGrantWithTheWindowIsRefused) {
    auto r = testing::load(invoicing_grant(R"(valid-until="2020-06-30")"));
    ASSERT_TRUE(r) << errors_of(r);
    const std::int64_t now = midnight(2027y / March / 31);
    EXPECT_EQ(invoicing_at(*r.config, now).why, reason::grant_not_valid);
    EXPECT_EQ(decide_at(*r.config, "erp-key", "survey", "billing", now).result, outcome::allow)
        << "the client's other grants keep their own (open) window";
    // Without `now` decide() reads the clock: 2020 is over.
    EXPECT_EQ(invoicing_at(*r.config, 0).why, reason::grant_not_valid);
}

TEST(GrantWindow, LegalRefusalsComeBeforeTheWindow) {
    auto r = testing::load(invoicing_grant(R"(valid-until="2020-06-30")"));
    ASSERT_TRUE(r) << errors_of(r);
    EXPECT_EQ(decide_at(*r.config, "erp-key", "invoicing", "partner-crm", 1).why,
              reason::disclosure_not_permitted);
    EXPECT_EQ(decide_at(*r.config, "erp-key", "invoicing", "sales", 1).why,
              reason::destination_not_granted);
}

TEST(GrantWindow, MalformedValuesNameTheAttributeAtItsPosition) {
    const std::string message =
        " must be an RFC 3339 date-time (2026-12-04T09:30:00Z, 2026-12-04T10:30:00+01:00) or a "
        "date (2026-12-04)";
    for (std::string_view bad :
         {R"(valid-from="2027-13-01")", R"(valid-from="2027-02-29")", R"(valid-until="31/03/2027")",
          R"(valid-until="2027-03-31T25:00:00Z")", R"(valid-until="2027-03-31T10:00:00")",
          R"(valid-from="2027-03-31 10:00:00Z")", R"(valid-until="2027-03-31T10:00:00+2:00")",
          R"(valid-from="")", R"(valid-until="tomorrow")"}) {
        auto policy = invoicing_grant(bad);
        auto doc = testing::document(policy);
        auto r = testing::load(policy);
        ASSERT_FALSE(r) << bad;
        const std::string attribute(bad.substr(0, bad.find('=')));
        EXPECT_TRUE(testing::has_error(r, testing::where(doc, bad) + ": " + attribute + message))
            << bad << "\n"
            << errors_of(r);
    }
}

TEST(GrantWindow, ValidUntilBeforeValidFromIsAnError) {
    const std::string_view attrs = R"(valid-from="2027-04-01" valid-until="2027-03-31")";
    auto policy = invoicing_grant(attrs);
    auto doc = testing::document(policy);
    auto r = testing::load(policy);
    ASSERT_FALSE(r);
    EXPECT_TRUE(testing::has_error(r, testing::where(doc, R"(valid-until="2027-03-31")") +
                                          ": valid-until is before valid-from"))
        << errors_of(r);
    // The same day as both ends is a one-day grant.
    EXPECT_TRUE(
        testing::load(invoicing_grant(R"(valid-from="2027-03-31" valid-until="2027-03-31")")));
}

// The base policy with the dnc list's max-age.
std::string list_with_age(std::string_view age) {
    return with(base_policy, R"(<suppression-list id="dnc" file="dnc.txt")",
                R"(<suppression-list id="dnc" file="dnc.txt" max-age=")" + std::string(age) + "\"");
}

// promotion (consent, e-mail marketing) and renewal (legitimate interest, post) use the list;
// invoicing and survey do not.
decision promotion_at(const configuration& cfg, std::int64_t now) {
    return decide_at(cfg, "marketing-key", "promotion", "newsletter", now);
}

TEST(SuppressionAge, AStaleListRefusesEveryPurposeThatUsesItAndNoOther) {
    auto r = testing::load(list_with_age("24h"));
    ASSERT_TRUE(r) << errors_of(r);
    const auto* list = r.config->rules.find_suppression_list("dnc");
    ASSERT_NE(list, nullptr);
    EXPECT_EQ(list->max_age_seconds, 86400);
    const std::int64_t changed = midnight(2027y / March / 1);
    list->entries->load("# nobody yet\n");
    list->entries->set_modified(changed);

    EXPECT_EQ(promotion_at(*r.config, changed + 86400).result, outcome::allow)
        << "exactly max-age old is still fresh";
    const std::int64_t later = changed + 3 * 86400 + 2 * 3600 + 59;
    auto d = promotion_at(*r.config, later);
    EXPECT_EQ(d.why, reason::suppression_list_stale);
    EXPECT_EQ(d.status, 503u);
    EXPECT_EQ(d.result, outcome::refuse);
    EXPECT_EQ(d.detail, "suppression list 'dnc' was last changed 3d 2h ago; max-age is 24h");
    EXPECT_EQ(rule_of(d.why).rule_id, "R8");
    EXPECT_EQ(decide_at(*r.config, "marketing-key", "renewal", "sales", later).why,
              reason::suppression_list_stale);

    EXPECT_EQ(invoicing_at(*r.config, later).result, outcome::allow)
        << "a contract purpose does not use the list";
    EXPECT_EQ(decide_at(*r.config, "erp-key", "survey", "billing", later).result, outcome::allow);
}

TEST(SuppressionAge, AListWithoutAFileTimeIsStale) {
    auto r = testing::load(list_with_age("90m"));
    ASSERT_TRUE(r) << errors_of(r);
    const auto* list = r.config->rules.find_suppression_list("dnc");
    ASSERT_NE(list, nullptr);
    EXPECT_EQ(list->max_age_seconds, 5400);
    const std::int64_t now = midnight(2027y / March / 1);

    auto unread = promotion_at(*r.config, now);
    EXPECT_EQ(unread.why, reason::suppression_list_stale) << "never read: fail closed";
    EXPECT_NE(unread.detail.find("max-age is 90m"), std::string::npos) << unread.detail;

    list->entries->load("");
    ASSERT_EQ(list->entries->modified(), 0);
    EXPECT_EQ(promotion_at(*r.config, now).why, reason::suppression_list_stale)
        << "read, but modified() == 0";
    EXPECT_EQ(invoicing_at(*r.config, now).result, outcome::allow);

    list->entries->set_modified(now - 60);
    EXPECT_EQ(promotion_at(*r.config, now).result, outcome::allow);
}

TEST(SuppressionAge, WithoutMaxAgeAListNeverGoesStale) {
    auto r = testing::load(base_policy);
    ASSERT_TRUE(r) << errors_of(r);
    EXPECT_EQ(promotion_at(*r.config, midnight(2099y / January / 1)).result, outcome::allow);
}

TEST(SuppressionAge, TheGrantWindowIsCheckedFirst) {
    auto policy =
        with(list_with_age("24h"), R"(<grant purpose="promotion" destinations="newsletter")",
             R"(<grant purpose="promotion" destinations="newsletter" valid-until="2020-06-30")");
    auto r = testing::load(policy);
    ASSERT_TRUE(r) << errors_of(r);
    EXPECT_EQ(promotion_at(*r.config, midnight(2027y / March / 1)).why, reason::grant_not_valid);
}

TEST(SuppressionAge, MalformedMaxAgeNamesTheAttributeAtItsPosition) {
    for (std::string_view bad : {"24", "0h", "-1h", "1w", "h", "24 h", "1.5h", ""}) {
        auto policy = list_with_age(bad);
        auto doc = testing::document(policy);
        auto r = testing::load(policy);
        ASSERT_FALSE(r) << bad;
        const std::string attr = "max-age=\"" + std::string(bad) + "\"";
        EXPECT_TRUE(testing::has_error(
            r, testing::where(doc, attr) +
                   ": max-age must be a positive age such as 3600s, 90m, 24h or 7d"))
            << bad << "\n"
            << errors_of(r);
    }
    for (auto [text, age] : {std::pair<std::string_view, std::int64_t>{"3600s", 3600},
                             {"90m", 5400},
                             {"24h", 86400},
                             {"7d", 604800}}) {
        auto r = testing::load(list_with_age(text));
        ASSERT_TRUE(r) << text << "\n" << errors_of(r);
        EXPECT_EQ(r.config->rules.find_suppression_list("dnc")->max_age_seconds, age) << text;
        EXPECT_EQ(r.config->rules.find_suppression_list("dnc")->max_age_text, text);
    }
}

// A temporary directory for a list file, removed afterwards.
class SuppressionFile : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "exportwall-validity-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        std::ofstream(dir_ / "dnc.txt") << "# objections\nsomeone@example.test\n";
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::filesystem::path dir_;
};

TEST_F(SuppressionFile, TheLoaderRecordsTheFileTimeAndTheClockDecides) {
    auto r =
        load_configuration_text(testing::document(list_with_age("24h")), "test.xml", dir_.string());
    ASSERT_TRUE(r) << errors_of(r);
    const auto three_days_ago = std::filesystem::file_time_type::clock::now() - hours(72);
    std::filesystem::last_write_time(dir_ / "dnc.txt", three_days_ago);
    ASSERT_TRUE(load_suppression_lists(r.config->rules).empty());
    const auto* list = r.config->rules.find_suppression_list("dnc");
    const std::int64_t recorded = list->entries->modified();
    const std::int64_t expected =
        duration_cast<seconds>(file_clock::to_sys(three_days_ago).time_since_epoch()).count();
    EXPECT_EQ(recorded, expected);

    // now = 0: decide() reads the system clock, three days after the file time.
    auto d = promotion_at(*r.config, 0);
    EXPECT_EQ(d.why, reason::suppression_list_stale);
    EXPECT_NE(d.detail.find("was last changed 3d ago; max-age is 24h"), std::string::npos)
        << d.detail;
    EXPECT_EQ(invoicing_at(*r.config, 0).result, outcome::allow);

    // Rewritten and read again (as a reload does): fresh.
    auto fresh =
        load_configuration_text(testing::document(list_with_age("24h")), "test.xml", dir_.string());
    ASSERT_TRUE(fresh) << errors_of(fresh);
    std::ofstream(dir_ / "dnc.txt") << "# objections\nsomeone@example.test\nother@example.test\n";
    ASSERT_TRUE(load_suppression_lists(fresh.config->rules).empty());
    EXPECT_EQ(promotion_at(*fresh.config, 0).result, outcome::allow);
}

}  // namespace
}  // namespace exportwall::config
