// The volume alert's audit members (volume_hour … volume_action): written only in volume_alert
// records, in their place between policy_revision and the candidate policy's members, read back
// by both readers, and a trail holding volume_alert and volume_alert_cleared records still
// verifies, lists, shows and counts.

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>
#include <boost/json/parser.hpp>

#include "audit/serialize.hpp"
#include "tests/unit/audit/audit_test_support.hpp"
#include "tests/unit/cli/run_audit_command.hpp"

namespace exportwall::audit {
namespace {

record volume_alert(std::string action = "refuse") {
    record r;
    r.id = new_record_id();
    r.time = "2026-11-29T10:42:07.000Z";
    r.mode = "enforce";
    r.decision = "volume_alert";
    r.reason = "volume_anomaly";
    r.client = "erp";
    r.purpose = "invoicing";
    r.policy_revision = std::string(64, 'b');
    r.volume_hour = "2026-11-29T10:00:00Z";
    r.volume_records = 2400;
    r.volume_threshold = 1200;
    r.volume_bound = "multiple";
    r.volume_median = 120;
    r.volume_action = std::move(action);
    return r;
}

record volume_cleared() {
    record r;
    r.id = new_record_id();
    r.time = "2026-11-29T11:05:00.000Z";
    r.mode = "enforce";
    r.decision = "volume_alert_cleared";
    r.reason = "volume_anomaly";
    r.client = "erp";
    r.purpose = "invoicing";
    r.method = "POST";
    r.path = "/admin/volume-holds/clear";
    r.remote = "admin";
    r.policy_revision = std::string(64, 'b');
    return r;
}

using test::chained;

void expect_same_volume(const record& a, const record& b) {
    EXPECT_EQ(a.decision, b.decision);
    EXPECT_EQ(a.volume_hour, b.volume_hour);
    EXPECT_EQ(a.volume_records, b.volume_records);
    EXPECT_EQ(a.volume_threshold, b.volume_threshold);
    EXPECT_EQ(a.volume_bound, b.volume_bound);
    EXPECT_EQ(a.volume_median, b.volume_median);
    EXPECT_EQ(a.volume_action, b.volume_action);
    EXPECT_EQ(a.hash, b.hash);
}

using outcome = test::cli_outcome;
const auto run = test::run_cli;

TEST(AuditVolumeRecord, MembersStandBetweenPolicyRevisionAndPrevHash) {
    std::string line;
    append_line(chained(volume_alert(), 1), line);
    const auto revision = line.find(",\"policy_revision\":");
    const auto hour = line.find(",\"volume_hour\":\"2026-11-29T10:00:00Z\"");
    const auto action = line.find(",\"volume_action\":\"refuse\"");
    const auto prev = line.find(",\"prev_hash\":");
    ASSERT_NE(hour, std::string::npos) << line;
    EXPECT_LT(revision, hour);
    EXPECT_LT(hour, action);
    EXPECT_LT(action, prev);
    EXPECT_NE(line.find(",\"volume_records\":2400,\"volume_threshold\":1200,\"volume_bound\":"
                        "\"multiple\",\"volume_median\":120,"),
              std::string::npos)
        << line;

    boost::json::parser parser;
    parser.write(line.data(), line.size() - 1);
    EXPECT_EQ(parser.release().get_object().size(), 33u);  // 27 + the six volume members

    std::string cleared;
    append_line(chained(volume_cleared(), 2), cleared);
    EXPECT_EQ(cleared.find("\"volume_hour\""), std::string::npos) << "only an alert carries them";
}

TEST(AuditVolumeRecord, BothReadersReadTheMembersBack) {
    const record r = chained(volume_alert(), 7);
    std::string line;
    append_line(r, line);
    line.pop_back();
    boost::json::parser parser;
    record back;
    ASSERT_FALSE(parse_line(line, parser, back));  // the canonical scanner
    expect_same_volume(r, back);

    // A byte above 0x7f sends the line to Boost.JSON.
    record utf8 = volume_alert("alert");
    utf8.remote = "caf\xc3\xa9";
    utf8 = chained(utf8, 8);
    std::string line2;
    append_line(utf8, line2);
    line2.pop_back();
    record back2;
    ASSERT_FALSE(parse_line(line2, parser, back2));
    expect_same_volume(utf8, back2);

    // Reusing the record for a line without the members empties them.
    std::string plain;
    append_line(chained(test::sample_record(1), 9), plain);
    plain.pop_back();
    ASSERT_FALSE(parse_line(plain, parser, back));
    EXPECT_TRUE(back.volume_hour.empty());
    EXPECT_EQ(back.volume_records, 0u);
    EXPECT_TRUE(back.volume_action.empty());

    // Printing the parsed record again gives the same canonical bytes.
    std::string again, original;
    append_canonical(back2, again);
    append_canonical(utf8, original);
    EXPECT_EQ(again, original);
}

TEST(AuditVolumeRecord, VolumeAndShadowMembersComeInOneOrder) {
    record r = volume_alert();
    r.shadow_decision = "blocked";
    r.shadow_reason = "purpose_not_granted";
    r = chained(r, 3);
    std::string line;
    append_line(r, line);
    EXPECT_LT(line.find("\"volume_action\""), line.find("\"shadow_decision\""));
    line.pop_back();
    boost::json::parser parser;
    record back;
    ASSERT_FALSE(parse_line(line, parser, back));
    expect_same_volume(r, back);
    EXPECT_EQ(back.shadow_decision, "blocked");
}

TEST(AuditVolumeRecord, RejectsAPartialOrEmptyGroup) {
    std::string line;
    append_line(chained(volume_alert(), 1), line);
    line.pop_back();
    boost::json::parser parser;
    record back;
    const auto from = line.find(",\"volume_median\"");
    const auto to = line.find(",\"volume_action\"");
    EXPECT_TRUE(parse_line(line.substr(0, from) + line.substr(to), parser, back))
        << "a group without volume_median";
    std::string empty_hour = line;
    empty_hour.replace(empty_hour.find("2026-11-29T10:00:00Z"), 20, "");
    EXPECT_TRUE(parse_line(empty_hour, parser, back));
    std::string moved = line;  // the group after prev_hash
    const auto group_at = moved.find(",\"volume_hour\"");
    const auto group = moved.substr(group_at, moved.find(",\"prev_hash\"") - group_at);
    moved.erase(group_at, group.size());
    moved.insert(moved.find(",\"hash\""), group);
    EXPECT_TRUE(parse_line(moved, parser, back));
}

class AuditVolumeTrail : public ::testing::Test {
  protected:
    void SetUp() override {
        writer_options o;
        o.path = log_;
        o.sync = sync_policy::blocked;
        {
            file_writer w(o);
            ASSERT_FALSE(w.start());
            for (int i = 0; i < 4; ++i) w.append(test::sample_record(i), false, nullptr);
            ASSERT_FALSE(test::append_wait(w, volume_alert()));
        }
        // The writer resumes after a volume record as its last line (start-up recovery parses
        // it), and carries on the chain.
        file_writer w(o);
        ASSERT_FALSE(w.start());
        ASSERT_FALSE(test::append_wait(w, volume_cleared()));
        ASSERT_FALSE(test::append_wait(w, test::sample_record(5)));
    }
    test::temp_dir dir_;
    std::string log_ = dir_.file("audit.jsonl");
};

TEST_F(AuditVolumeTrail, VerifiesListsShowsAndCounts) {
    for (const auto& e : std::filesystem::directory_iterator(dir_.path()))
        EXPECT_EQ(e.path().filename().string().find(".torn-"), std::string::npos)
            << "a line was set aside: " << e.path();
    const auto verify = run({"verify", "--log", log_});
    EXPECT_EQ(verify.code, 0) << verify.err;
    EXPECT_NE(verify.out.find("chain intact: 7 records"), std::string::npos) << verify.out;

    const auto alerts =
        run({"list", "--log", log_, "--decision", "volume_alert", "--format", "json"});
    ASSERT_EQ(alerts.code, 0) << alerts.err;
    EXPECT_EQ(std::count(alerts.out.begin(), alerts.out.end(), '\n'), 1);
    EXPECT_NE(alerts.out.find("\"volume_records\":2400"), std::string::npos) << alerts.out;
    EXPECT_NE(alerts.out.find("\"volume_action\":\"refuse\""), std::string::npos);

    const auto by_reason = run({"list", "--log", log_, "--reason", "volume_anomaly"});
    ASSERT_EQ(by_reason.code, 0) << by_reason.err;
    EXPECT_NE(by_reason.out.find("volume_alert_cleared"), std::string::npos) << by_reason.out;

    const auto show = run({"show", "5", "--log", log_});
    ASSERT_EQ(show.code, 0) << show.err;
    EXPECT_NE(show.out.find("volume_bound:"), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("multiple"), std::string::npos);

    const auto stats = run({"stats", "--log", log_});
    ASSERT_EQ(stats.code, 0) << stats.err;
    EXPECT_NE(stats.out.find("volume_alert "), std::string::npos) << stats.out;
    EXPECT_NE(stats.out.find("volume_anomaly"), std::string::npos);
}

}  // namespace
}  // namespace exportwall::audit
