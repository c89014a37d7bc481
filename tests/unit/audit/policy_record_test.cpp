// Policy history in the chain (issue 18, item 5): a policy_loaded record names what loaded the
// configuration and the digest of every file its revision covers, by path — written in its place
// before prev_hash, read back the same by both readers, listed and shown by the commands.

#include <sstream>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "audit/query.hpp"
#include "audit/serialize.hpp"
#include "tests/unit/audit/audit_test_support.hpp"
#include "tests/unit/cli/run_audit_command.hpp"

namespace exportwall::audit {
namespace {

record policy_loaded(std::string trigger) {
    record r;
    r.id = new_record_id();
    r.time = "2026-11-29T10:00:00.000Z";
    r.mode = "enforce";
    r.decision = "policy_loaded";
    r.policy_revision = std::string(64, 'c');
    r.policy_trigger = std::move(trigger);
    r.policy_files = {{"/etc/exportwall/exportwall.xml", std::string(64, '1')},
                      {"/etc/exportwall/dpo-policy.xml", std::string(64, '2')}};
    r.suppression_lists = {{"/etc/exportwall/dnc.txt", std::string(64, '3')}};
    return r;
}

record checkpoint_record() {
    record r;
    r.id = new_record_id();
    r.time = "2026-11-29T10:00:01.000Z";
    r.decision = "checkpoint";
    r.checkpoint_seq = 41;
    r.checkpoint_hash = std::string(64, 'd');
    r.checkpoint_key_id = "0123456789abcdef";
    r.checkpoint_signature = std::string(128, 'e');
    return r;
}

record read_back(const std::string& line) {
    boost::json::parser parser;
    record back;
    EXPECT_FALSE(parse_line(std::string_view(line).substr(0, line.size() - 1), parser, back))
        << line;
    return back;
}

TEST(AuditPolicyRecord, ItsMembersStandLastBeforePrevHashAndRoundTrip) {
    const record r = test::chained(policy_loaded("sighup"), 3);
    std::string line;
    append_line(r, line);
    const auto revision = line.find(",\"policy_revision\":");
    const auto trigger = line.find(",\"policy_trigger\":\"sighup\",\"policy_files\":{");
    const auto lists = line.find(",\"suppression_lists\":{\"/etc/exportwall/dnc.txt\":\"");
    const auto prev = line.find(",\"prev_hash\":");
    ASSERT_NE(trigger, std::string::npos) << line;
    ASSERT_NE(lists, std::string::npos) << line;
    EXPECT_LT(revision, trigger);
    EXPECT_LT(trigger, lists);
    EXPECT_LT(lists, prev);
    // Paths sorted by byte value, like every object of the line.
    EXPECT_LT(line.find("dpo-policy.xml"), line.find("exportwall.xml"));
    const record back = read_back(line);
    EXPECT_EQ(back.policy_trigger, "sighup");
    EXPECT_EQ(back.policy_files, r.policy_files);
    EXPECT_EQ(back.suppression_lists, r.suppression_lists);
    std::string again;
    append_line(back, again);
    EXPECT_EQ(again, line);
}

TEST(AuditPolicyRecord, ACheckpointsMembersFollowAndRoundTrip) {
    const record r = test::chained(checkpoint_record(), 42);
    std::string line;
    append_line(r, line);
    EXPECT_NE(
        line.find(",\"checkpoint_seq\":41,\"checkpoint_hash\":\"" + std::string(64, 'd') +
                  "\",\"checkpoint_key_id\":\"0123456789abcdef\",\"checkpoint_signature\":\"" +
                  std::string(128, 'e') + "\",\"prev_hash\":"),
        std::string::npos)
        << line;
    const record back = read_back(line);
    EXPECT_EQ(back.checkpoint_seq, 41u);
    EXPECT_EQ(back.checkpoint_hash, r.checkpoint_hash);
    EXPECT_EQ(back.checkpoint_key_id, r.checkpoint_key_id);
    EXPECT_EQ(back.checkpoint_signature, r.checkpoint_signature);
    std::string again;
    append_line(back, again);
    EXPECT_EQ(again, line);
}

TEST(AuditPolicyRecord, AnExportRecordHasNoneOfTheseMembers) {
    std::string line;
    append_line(test::chained(test::sample_record(1), 1), line);
    for (const char* key : {"policy_trigger", "policy_files", "suppression_lists", "checkpoint_seq",
                            "checkpoint_signature"})
        EXPECT_EQ(line.find(key), std::string::npos) << key;
    // A reused record does not keep the last line's members.
    boost::json::parser parser;
    record reused;
    std::string with;
    append_line(test::chained(policy_loaded("admin"), 1), with);
    ASSERT_FALSE(parse_line(std::string_view(with).substr(0, with.size() - 1), parser, reused));
    ASSERT_FALSE(parse_line(std::string_view(line).substr(0, line.size() - 1), parser, reused));
    EXPECT_TRUE(reused.policy_trigger.empty());
    EXPECT_TRUE(reused.policy_files.empty());
}

// Paths outside ASCII go through the JSON parser: both readers must agree.
TEST(AuditPolicyRecord, NonAsciiPathsReadTheSameEitherWay) {
    record r = policy_loaded("suppression-list");
    r.suppression_lists = {{"/srv/listes/d\xc3\xa9sinscrits.txt", std::string(64, '4')}};
    r.policy_files["/etc/quoted\"name.xml"] = std::string(64, '5');
    std::string line;
    append_line(test::chained(r, 1), line);
    const record back = read_back(line);
    EXPECT_EQ(back.suppression_lists, r.suppression_lists);
    EXPECT_EQ(back.policy_files, r.policy_files);
}

TEST(AuditPolicyRecord, AGroupWithAMemberMissingOrEmptyDoesNotParse) {
    std::string line;
    append_line(test::chained(policy_loaded("start"), 1), line);
    line.pop_back();
    boost::json::parser parser;
    record out;
    auto without = [&](const std::string& from, const std::string& to) {
        std::string l = line;
        const auto at = l.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        l.replace(at, from.size(), to);
        return l;
    };
    // suppression_lists removed: its group is incomplete.
    const auto lists_at = line.find(",\"suppression_lists\":");
    const auto prev_at = line.find(",\"prev_hash\":");
    std::string cut = line.substr(0, lists_at) + line.substr(prev_at);
    EXPECT_TRUE(parse_line(cut, parser, out));
    EXPECT_TRUE(
        parse_line(without("\"policy_trigger\":\"start\"", "\"policy_trigger\":\"\""), parser, out))
        << "an empty trigger is never written";
    EXPECT_TRUE(
        parse_line(without("\"policy_files\":{", "\"policy_files\":{\"x\":1,"), parser, out))
        << "a digest is a string";
    std::string cp;
    append_line(test::chained(checkpoint_record(), 1), cp);
    cp.pop_back();
    const auto sig = cp.find(",\"checkpoint_signature\":");
    EXPECT_TRUE(parse_line(cp.substr(0, sig) + cp.substr(cp.find(",\"prev_hash\":")), parser, out));
}

TEST(AuditPolicyRecord, JsonAndTheCommandsShowIt) {
    const auto o = record_to_json(policy_loaded("admin"));
    EXPECT_EQ(o.at("policy_trigger").as_string(), "admin");
    EXPECT_EQ(o.at("policy_files").as_object().size(), 2u);
    EXPECT_EQ(o.at("suppression_lists").as_object().at("/etc/exportwall/dnc.txt").as_string(),
              std::string(64, '3'));
    EXPECT_FALSE(record_to_json(test::sample_record(1)).contains("policy_trigger"));

    test::temp_dir dir;
    const std::string log = dir.file("audit.jsonl");
    {
        writer_options wo;
        wo.path = log;
        wo.sync = sync_policy::none;
        file_writer w(wo);
        ASSERT_FALSE(w.start());
        ASSERT_FALSE(test::append_wait(w, policy_loaded("start")));
        for (int i = 0; i < 4; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));
        ASSERT_FALSE(test::append_wait(w, policy_loaded("sighup")));
        ASSERT_FALSE(test::append_wait(w, checkpoint_record()));
    }
    const auto list = test::run_cli({"list", "--log", log, "--decision", "policy_loaded"});
    ASSERT_EQ(list.code, 0) << list.err;
    EXPECT_NE(list.out.find("trigger start"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("trigger sighup"), std::string::npos) << list.out;
    EXPECT_EQ(list.out.find("blocked"), std::string::npos) << list.out;
    const auto cps = test::run_cli({"list", "--log", log, "--decision", "checkpoint"});
    ASSERT_EQ(cps.code, 0) << cps.err;
    EXPECT_NE(cps.out.find("signs seq 41"), std::string::npos) << cps.out;
    const auto show = test::run_cli({"show", "1", "--log", log});
    ASSERT_EQ(show.code, 0) << show.err;
    EXPECT_NE(show.out.find("policy_trigger:"), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("/etc/exportwall/dnc.txt"), std::string::npos) << show.out;
    // Stats count them by decision, not as a client's exports.
    const auto stats = test::run_cli({"stats", "--log", log});
    ASSERT_EQ(stats.code, 0) << stats.err;
    EXPECT_NE(stats.out.find("records: 7"), std::string::npos) << stats.out;
    EXPECT_EQ(stats.out.find("policy_loaded"), std::string::npos)
        << "a configuration load is no client's export:\n"
        << stats.out;
}

}  // namespace
}  // namespace exportwall::audit
