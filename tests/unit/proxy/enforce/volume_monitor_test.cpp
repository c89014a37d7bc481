// Volume alerts on the in-process store: the threshold (ceiling, multiple x the trailing median
// once 24 active hours exist), one alert per grant and hour, the hold with on-anomaly="refuse"
// and its clearing, the audit records and metrics, and keys that hold configuration ids only.

#include "proxy/enforce/volume_monitor.hpp"

#include <gtest/gtest.h>

#include <string>

#include "config/policy.hpp"
#include "proxy/ops/metrics.hpp"
#include "tests/unit/proxy/enforce/volume_test_support.hpp"

namespace exportwall::proxy {
namespace {

using test::await;

constexpr std::int64_t hour = 3600;
constexpr std::int64_t h0 = 1'764'410'400;  // 2025-11-29T10:00:00Z
const std::string revision(64, 'c');

config::grant ceiling_grant(std::uint64_t ceiling,
                            config::anomaly_action action = config::anomaly_action::alert) {
    config::grant g;
    g.purpose = "invoicing";
    g.volume_ceiling = ceiling;
    g.on_anomaly = action;
    return g;
}

config::grant multiple_grant(double multiple) {
    config::grant g;
    g.purpose = "invoicing";
    g.volume_multiple = multiple;
    return g;
}

class VolumeMonitor : public ::testing::Test {
  protected:
    void deliver(const config::grant& g, std::uint64_t n, std::int64_t now,
                 std::string_view client = "erp") {
        await(monitor_.delivered(client, "invoicing", g, n, now, revision));
    }
    // Writes `n` records into the hour starting at `start`, as earlier exports did.
    void past_hour(std::int64_t start, std::uint64_t n, std::string_view client = "erp") {
        const auto r = await(store_->add(volume_hour_key(client, "invoicing", start), n,
                                         volume_counter_ttl_seconds));
        ASSERT_FALSE(r.error);
    }
    [[nodiscard]] std::vector<audit::record> alerts() const {
        std::vector<audit::record> out;
        for (auto& r : sink_.records())
            if (r.decision == "volume_alert") out.push_back(r);
        return out;
    }
    [[nodiscard]] bool renders(const std::string& needle) const {
        return metrics_.render().find(needle) != std::string::npos;
    }

    std::shared_ptr<test::counting_store> store_ = std::make_shared<test::counting_store>();
    test::recording_sink sink_;
    metrics metrics_;
    volume_monitor monitor_{store_, &sink_, metrics_};
};

TEST(VolumeThreshold, MedianIgnoresIdleHoursAndNeedsTwentyFourActiveOnes) {
    std::vector<std::uint64_t> totals(168, 0);
    for (std::size_t i = 0; i < 23; ++i) totals[i * 7] = 10 + i;
    EXPECT_EQ(trailing_median(totals), std::nullopt) << "23 active hours are not a baseline";
    totals[1] = 1000;
    // 24 active hours: 10..32 and 1000; the lower of the two middle values is 21.
    EXPECT_EQ(trailing_median(totals), std::optional<std::uint64_t>(21));
    std::vector<std::uint64_t> odd(25, 5);
    odd[0] = 1;
    odd[1] = 9;
    EXPECT_EQ(trailing_median(odd), std::optional<std::uint64_t>(5));
}

TEST(VolumeThreshold, TheLowerBoundDecidesAndTheCeilingAlwaysApplies) {
    config::grant g = ceiling_grant(1000);
    g.volume_multiple = 2.5;
    auto t = threshold_for(g, std::nullopt);
    EXPECT_TRUE(t.applies);
    EXPECT_EQ(t.records, 1000u);
    EXPECT_EQ(t.bound, volume_bound::ceiling);
    EXPECT_EQ(t.median, 0u);

    t = threshold_for(g, 101);  // 2.5 x 101 = 252.5: an hour of 253 crosses, 252 does not
    EXPECT_EQ(t.records, 252u);
    EXPECT_EQ(t.bound, volume_bound::multiple);
    EXPECT_EQ(t.median, 101u);

    g.volume_ceiling = 200;
    t = threshold_for(g, 101);
    EXPECT_EQ(t.records, 200u);
    EXPECT_EQ(t.bound, volume_bound::ceiling);
    EXPECT_EQ(t.median, 101u) << "the baseline is recorded whichever bound decides";

    EXPECT_FALSE(threshold_for(multiple_grant(3), std::nullopt).applies);
    EXPECT_FALSE(threshold_for(config::grant{}, 10).applies);
    EXPECT_FALSE(has_volume_alerts(config::grant{}));
}

TEST(VolumeThreshold, HoursStartOnTheUtcHourAndKeysNameIdsOnly) {
    EXPECT_EQ(hour_start(h0), h0);
    EXPECT_EQ(hour_start(h0 + 3599), h0);
    EXPECT_EQ(hour_start(h0 + 3600), h0 + hour);
    EXPECT_EQ(rfc3339_seconds(h0), "2025-11-29T10:00:00Z");
    EXPECT_EQ(volume_hour_key("erp", "invoicing", h0), "volume:erp:invoicing:1764410400");
    EXPECT_EQ(volume_hold_key("erp", "invoicing"), "volume-hold:erp:invoicing");
    // ':' is allowed in ids and separates key parts: it is written %3A.
    EXPECT_EQ(volume_hold_key("crm:eu", "a:b"), "volume-hold:crm%3Aeu:a%3Ab");
}

TEST_F(VolumeMonitor, CeilingCrossingAlertsOncePerHour) {
    const auto g = ceiling_grant(100);
    deliver(g, 60, h0 + 10);
    deliver(g, 40, h0 + 20);  // 100: at the ceiling, not above it
    EXPECT_TRUE(alerts().empty());
    deliver(g, 10, h0 + 1800);  // 110
    ASSERT_EQ(alerts().size(), 1u);
    deliver(g, 500, h0 + 1900);
    deliver(g, 0, h0 + 2000);
    EXPECT_EQ(alerts().size(), 1u) << "one alert per grant and hour";
    deliver(g, 101, h0 + hour + 5);
    EXPECT_EQ(alerts().size(), 2u) << "the next hour alerts again";

    const audit::record r = alerts().front();
    EXPECT_EQ(r.decision, "volume_alert");
    EXPECT_EQ(r.reason, "volume_anomaly");
    EXPECT_EQ(r.mode, "enforce");
    EXPECT_EQ(r.client, "erp");
    EXPECT_EQ(r.purpose, "invoicing");
    EXPECT_EQ(r.time, "2025-11-29T10:30:00.000Z");
    EXPECT_EQ(r.volume_hour, "2025-11-29T10:00:00Z");
    EXPECT_EQ(r.volume_records, 110u);
    EXPECT_EQ(r.volume_threshold, 100u);
    EXPECT_EQ(r.volume_bound, "ceiling");
    EXPECT_EQ(r.volume_median, 0u);
    EXPECT_EQ(r.volume_action, "alert");
    EXPECT_EQ(r.policy_revision, revision);
    EXPECT_EQ(r.records_out, 0u) << "the exports are counted in their own records";
    EXPECT_EQ(r.id.size(), 32u);
    EXPECT_TRUE(sink_.durable().front());

    EXPECT_TRUE(renders("exportwall_volume_alerts_total{client=\"erp\",purpose=\"invoicing\"} 2"))
        << metrics_.render();
    EXPECT_TRUE(renders("exportwall_volume_holds 0"));
    EXPECT_FALSE(await(monitor_.held("erp", "invoicing")).held) << "alert only: never held";
}

TEST_F(VolumeMonitor, EachGrantCountsApart) {
    const auto g = ceiling_grant(100);
    deliver(g, 80, h0, "erp");
    deliver(g, 80, h0, "webshop");
    EXPECT_TRUE(alerts().empty());
    deliver(g, 30, h0, "webshop");
    ASSERT_EQ(alerts().size(), 1u);
    EXPECT_EQ(alerts().front().client, "webshop");
}

TEST_F(VolumeMonitor, MultipleAppliesOnlyAfterTwentyFourActiveHours) {
    const auto g = multiple_grant(3);
    // 23 active hours of 10 records in the last week, idle hours between them.
    for (int i = 1; i <= 23; ++i) past_hour(h0 - 2 * i * hour, 10);
    deliver(g, 100'000, h0 + 60);
    EXPECT_TRUE(alerts().empty()) << "no baseline yet: the multiple does not apply";

    // The 24th active hour: from the next hour on, the median is 10 and the threshold 30.
    past_hour(h0 - 47 * hour, 10);
    deliver(g, 30, h0 + hour + 60);
    EXPECT_TRUE(alerts().empty()) << "30 is not above 3 x 10";
    deliver(g, 1, h0 + hour + 120);
    ASSERT_EQ(alerts().size(), 1u);
    const audit::record r = alerts().front();
    EXPECT_EQ(r.volume_records, 31u);
    EXPECT_EQ(r.volume_threshold, 30u);
    EXPECT_EQ(r.volume_bound, "multiple");
    EXPECT_EQ(r.volume_median, 10u);
}

TEST_F(VolumeMonitor, MultipleLooksBackOneWeekOnly) {
    const auto g = multiple_grant(2);
    for (const std::string_view client : {"erp", "webshop"})
        for (int i = 1; i <= 23; ++i) past_hour(h0 - i * hour, 10, client);
    past_hour(h0 - 169 * hour, 10, "erp");      // eight days back: outside the 168 hours
    past_hour(h0 - 168 * hour, 10, "webshop");  // the oldest hour of the window
    deliver(g, 1000, h0, "erp");
    EXPECT_TRUE(alerts().empty());
    deliver(g, 1000, h0, "webshop");
    ASSERT_EQ(alerts().size(), 1u);
    EXPECT_EQ(alerts().front().client, "webshop");
}

TEST_F(VolumeMonitor, MedianIsReadOncePerGrantAndHour) {
    const auto g = multiple_grant(5);
    for (int i = 0; i < 10; ++i) deliver(g, 1, h0 + i);
    EXPECT_EQ(store_->wide_reads.load(), 1);
    deliver(g, 1, h0 + hour);
    EXPECT_EQ(store_->wide_reads.load(), 2) << "a new hour, a new median";
    // A grant with a ceiling only never reads the week.
    deliver(ceiling_grant(1000), 1, h0 + 2 * hour, "webshop");
    EXPECT_EQ(store_->wide_reads.load(), 2);
}

TEST_F(VolumeMonitor, RefuseHoldsTheGrantUntilAnOperatorClearsIt) {
    const auto g = ceiling_grant(100, config::anomaly_action::refuse);
    EXPECT_FALSE(await(monitor_.held("erp", "invoicing")).held);
    deliver(g, 101, h0 + 42);
    ASSERT_EQ(alerts().size(), 1u);
    EXPECT_EQ(alerts().front().volume_action, "refuse");

    const auto check = await(monitor_.held("erp", "invoicing"));
    EXPECT_FALSE(check.error);
    EXPECT_TRUE(check.held);
    EXPECT_EQ(check.since, "2025-11-29T10:00:42Z");
    EXPECT_FALSE(await(monitor_.held("erp", "promotion")).held) << "per purpose";
    EXPECT_TRUE(renders("exportwall_volume_holds 1"));

    // A second alert (next hour) keeps the time the hold was first set.
    deliver(g, 200, h0 + hour + 1);
    EXPECT_EQ(alerts().size(), 2u);
    const auto list = await(monitor_.holds());
    ASSERT_FALSE(list.error);
    ASSERT_EQ(list.holds.size(), 1u);
    EXPECT_EQ(list.holds[0].client, "erp");
    EXPECT_EQ(list.holds[0].purpose, "invoicing");
    EXPECT_EQ(list.holds[0].since, "2025-11-29T10:00:42Z");

    const auto cleared = await(monitor_.clear("erp", "invoicing", revision, h0 + 2 * hour));
    EXPECT_FALSE(cleared.error);
    EXPECT_TRUE(cleared.cleared);
    EXPECT_EQ(cleared.hold.since, "2025-11-29T10:00:42Z");
    EXPECT_FALSE(await(monitor_.held("erp", "invoicing")).held);
    EXPECT_TRUE(await(monitor_.holds()).holds.empty());
    EXPECT_TRUE(renders("exportwall_volume_holds 0"));

    const audit::record r = sink_.records().back();
    EXPECT_EQ(r.decision, "volume_alert_cleared");
    EXPECT_EQ(r.reason, "volume_anomaly");
    EXPECT_EQ(r.client, "erp");
    EXPECT_EQ(r.purpose, "invoicing");
    EXPECT_EQ(r.remote, "admin");
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/admin/volume-holds/clear");
    EXPECT_EQ(r.time, "2025-11-29T12:00:00.000Z");
    EXPECT_TRUE(r.volume_hour.empty());
    EXPECT_EQ(r.policy_revision, revision);

    // Cleared mid-hour: that hour already alerted; the next crossing holds the grant again.
    deliver(g, 500, h0 + 2 * hour + 10);
    EXPECT_TRUE(await(monitor_.held("erp", "invoicing")).held);
}

TEST_F(VolumeMonitor, ClearingWithoutAHoldChangesNothing) {
    const auto before = sink_.records().size();
    const auto r = await(monitor_.clear("erp", "invoicing", revision, h0));
    EXPECT_FALSE(r.error);
    EXPECT_FALSE(r.cleared);
    EXPECT_EQ(sink_.records().size(), before) << "nothing cleared, nothing recorded";
}

TEST_F(VolumeMonitor, AClearingTheTrailCannotHoldKeepsTheHold) {
    deliver(ceiling_grant(1, config::anomaly_action::refuse), 2, h0);
    sink_.fail = make_error_code(boost::system::errc::no_space_on_device);
    const auto r = await(monitor_.clear("erp", "invoicing", revision, h0 + 60));
    EXPECT_TRUE(r.error);
    EXPECT_TRUE(r.audit_failed);
    EXPECT_FALSE(r.cleared);
    EXPECT_TRUE(await(monitor_.held("erp", "invoicing")).held);
}

TEST_F(VolumeMonitor, AnAlertTheTrailCannotHoldStillHoldsTheGrant) {
    sink_.fail = make_error_code(boost::system::errc::no_space_on_device);
    deliver(ceiling_grant(1, config::anomaly_action::refuse), 2, h0);
    EXPECT_TRUE(await(monitor_.held("erp", "invoicing")).held) << "fail closed";
}

TEST_F(VolumeMonitor, ReplicasSharingAStoreAlertOncePerHour) {
    metrics other_metrics;
    test::recording_sink other_sink;
    volume_monitor other(store_, &other_sink, other_metrics);
    const auto g = ceiling_grant(100, config::anomaly_action::refuse);
    deliver(g, 90, h0);
    await(other.delivered("erp", "invoicing", g, 20, h0 + 5, revision));  // 110: crosses there
    EXPECT_EQ(other_sink.records().size(), 1u);
    deliver(g, 20, h0 + 10);  // 130 here: the other replica alerted for this hour already
    EXPECT_TRUE(alerts().empty());
    EXPECT_TRUE(await(monitor_.held("erp", "invoicing")).held) << "the hold is shared";
}

TEST_F(VolumeMonitor, KeysLabelsAndRecordsHoldConfigurationIdsOnly) {
    const auto g = ceiling_grant(5, config::anomaly_action::refuse);
    await(monitor_.delivered("crm:eu", "in.voicing", g, 6, h0, revision));
    const auto all = await(store_->scan(""));
    ASSERT_TRUE(all);
    std::vector<std::string> keys;
    for (const auto& [k, v] : *all) keys.push_back(k);
    EXPECT_EQ(keys, (std::vector<std::string>{"volume-alerted:crm%3Aeu:in.voicing:1764410400",
                                              "volume-hold:crm%3Aeu:in.voicing",
                                              "volume:crm%3Aeu:in.voicing:1764410400"}));
    const auto list = await(monitor_.holds());
    ASSERT_EQ(list.holds.size(), 1u);
    EXPECT_EQ(list.holds[0].client, "crm:eu");
    EXPECT_EQ(list.holds[0].purpose, "in.voicing");
    EXPECT_TRUE(await(monitor_.held("crm:eu", "in.voicing")).held);
    EXPECT_TRUE(
        renders("exportwall_volume_alerts_total{client=\"crm:eu\",purpose=\"in.voicing\"} 1"));
    // The record names ids, counts and the revision; every other member stays empty.
    const audit::record r = alerts().at(0);
    EXPECT_TRUE(r.basis.empty() && r.destination.empty() && r.route.empty() && r.path.empty() &&
                r.remote.empty() && r.fields_requested.empty() && r.fields_stripped.empty());
}

TEST(VolumeMonitorStoreDown, FailsClosedAndNeverThrows) {
    test::recording_sink sink;
    metrics m;
    volume_monitor monitor(std::make_shared<test::unavailable_store>(), &sink, m);
    const auto check = await(monitor.held("erp", "invoicing"));
    EXPECT_TRUE(check.error) << "the session refuses: 503 quota_store_unavailable";
    auto g = ceiling_grant(1, config::anomaly_action::refuse);
    g.volume_multiple = 2;
    await(monitor.delivered("erp", "invoicing", g, 100, h0, revision));
    EXPECT_TRUE(sink.records().empty()) << "an uncounted export alerts nothing";
    EXPECT_TRUE(await(monitor.holds()).error);
    EXPECT_TRUE(await(monitor.clear("erp", "invoicing", revision, h0)).error);
    EXPECT_TRUE(sink.records().empty());
}

TEST(VolumeMonitorWithoutTrail, AlertsAndHoldsWithoutAnAuditSink) {
    metrics m;
    auto store = make_memory_store();
    volume_monitor monitor(store, nullptr, m);
    await(monitor.delivered("erp", "invoicing", ceiling_grant(1, config::anomaly_action::refuse), 2,
                            h0, revision));
    EXPECT_TRUE(await(monitor.held("erp", "invoicing")).held);
    EXPECT_TRUE(await(monitor.clear("erp", "invoicing", revision, h0)).cleared);
}

}  // namespace
}  // namespace exportwall::proxy
