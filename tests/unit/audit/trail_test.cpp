// The parts the SIEM forwarder stands on: the writer's committed position and replica name,
// the cursor that follows the trail by byte offset, the state and anchor files, and retention.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "audit/reader.hpp"
#include "audit/trail_cursor.hpp"
#include "audit/trail_marks.hpp"
#include "audit/trail_retention.hpp"
#include "tests/unit/audit/audit_test_support.hpp"

namespace exportwall::audit {
namespace {

// Every line the cursor passes until it has nothing more, with the position after each.
std::vector<std::pair<std::string, trail_position>> read_all(trail_cursor& c,
                                                             std::size_t max_bytes = 4096) {
    std::vector<std::pair<std::string, trail_position>> out;
    boost::system::error_code ec;
    while (c.read(
               max_bytes,
               [&](std::string_view line, const trail_position& after) {
                   out.emplace_back(std::string(line), after);
               },
               ec) > 0) {
    }
    EXPECT_FALSE(ec) << ec.message();
    return out;
}

std::uint64_t seq_of(const std::string& line) { return read_line_head(line)->seq; }

TEST(AuditWriterReplica, NamesTheReplicaInEveryRecordAndTheChainCoversIt) {
    test::temp_dir dir;
    writer_options o;
    o.path = dir.file("audit.jsonl");
    o.sync = sync_policy::none;
    o.replica = "pod-7";
    file_writer w(o);
    ASSERT_FALSE(w.start());
    ASSERT_FALSE(test::append_wait(w, test::sample_record(1)));
    w.flush();
    const std::string text = test::read_file(o.path);
    EXPECT_NE(text.find(",\"replica\":\"pod-7\",\"time\":"), std::string::npos) << text;
    boost::json::parser parser;
    record r;
    ASSERT_FALSE(parse_line(text.substr(0, text.size() - 1), parser, r));
    EXPECT_EQ(r.replica, "pod-7");
    EXPECT_EQ(read_line_replica(text), "pod-7");
    // The same through Boost.JSON (a value beyond ASCII leaves the canonical scanner).
    record u = test::sample_record(2);
    u.client = "caf\xc3\xa9";
    u.replica = "pod-7";
    u.seq = 9;
    u.prev_hash = std::string(genesis_hash);
    u.hash = std::string(64, 'e');
    std::string line;
    append_line(u, line);
    line.pop_back();
    record back;
    ASSERT_FALSE(parse_line(line, parser, back)) << line;
    EXPECT_EQ(back.replica, "pod-7");
    EXPECT_EQ(back.client, u.client);
    // An empty replica member is never written, so never read.
    std::string empty = line;
    empty.replace(empty.find("pod-7"), 5, "");
    EXPECT_TRUE(parse_line(empty, parser, back));
    // Another replica name in the same line is an edit.
    std::string edited = text;
    edited.replace(edited.find("pod-7"), 5, "pod-8");
    test::write_file(o.path, edited);
    EXPECT_EQ(verify_chain(o.path).problem, chain_problem::hash_mismatch);
}

TEST(AuditWriterReplica, ReplicaNamesAreTokens) {
    EXPECT_TRUE(is_replica_name("exportwall-6d4cf56db6-x2x9q"));
    EXPECT_TRUE(is_replica_name("eu-west.1_a"));
    EXPECT_FALSE(is_replica_name(""));
    EXPECT_FALSE(is_replica_name("a b"));
    EXPECT_FALSE(is_replica_name("a\"b"));
    EXPECT_FALSE(is_replica_name(std::string(65, 'a')));
    EXPECT_TRUE(is_replica_name(default_replica_name()));
    ::setenv("EXPORTWALL_REPLICA", "pod a/\"7\"", 1);
    EXPECT_EQ(default_replica_name(), "pod-a--7-");
    ::unsetenv("EXPORTWALL_REPLICA");
}

TEST(AuditWriterCommitted, PublishesWhatIsCommittedAndCallsTheCommitHook) {
    test::temp_dir dir;
    writer_options o;
    o.path = dir.file("audit.jsonl");
    o.sync = sync_policy::none;
    file_writer w(o);
    std::atomic<int> commits{0};
    w.set_on_commit([&commits] { commits++; });
    ASSERT_FALSE(w.start());
    const auto empty = w.committed();
    EXPECT_NE(empty.inode, 0u);
    EXPECT_EQ(empty.offset, 0u);
    for (int i = 0; i < 3; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));
    const auto c = w.committed();
    struct stat st {};
    ASSERT_EQ(::stat(o.path.c_str(), &st), 0);
    EXPECT_EQ(c.inode, static_cast<std::uint64_t>(st.st_ino));
    EXPECT_EQ(c.offset, static_cast<std::uint64_t>(st.st_size));
    EXPECT_EQ(c.last_seq, 3u);
    EXPECT_GE(commits.load(), 1);
}

TEST(AuditTrailMarks, StateAndAnchorRoundTripAndRejectAnythingElse) {
    const trail_position p{12, 34567, 40, std::string(64, 'a')};
    EXPECT_EQ(parse_syslog_state(format_syslog_state(p)), p);
    EXPECT_EQ(parse_syslog_state(format_syslog_state({})), trail_position{});
    const pruned_anchor a{99, std::string(64, 'b')};
    EXPECT_EQ(parse_pruned_anchor(format_pruned_anchor(a)), a);
    for (const char* bad :
         {"", "exportwall-syslog-state 1 12 34567 40\n",
          "exportwall-syslog-state 2 12 34567 40 -\n", "exportwall-syslog-state 1 012 34567 40 -\n",
          "exportwall-syslog-state 1 12 34567 40 -\n",  // seq without hash
          "exportwall-syslog-state 1 12 0 40 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaa\n",  // after a line, at offset 0
          "exportwall-syslog-state  1 12 34567 0 -\n", "exportwall-syslog-state 1 12 34567 0 -\n\n",
          "exportwall-syslog-state 1 -12 34567 0 -\n",
          "exportwall-syslog-state 1 99999999999999999999 1 0 -\n"})
        EXPECT_FALSE(parse_syslog_state(bad).has_value()) << bad;
    EXPECT_FALSE(parse_pruned_anchor("exportwall-audit-pruned 1 0 " + std::string(64, 'b')));
    EXPECT_FALSE(parse_pruned_anchor("exportwall-audit-pruned 1 5 " + std::string(64, 'B')));
}

TEST(AuditTrailMarks, ReplacesTheFileWhole) {
    test::temp_dir dir;
    const std::string path = dir.file("state");
    ASSERT_FALSE(replace_file(path, "one\n"));
    ASSERT_FALSE(replace_file(path, "two\n"));
    EXPECT_EQ(read_small_file(path), "two\n");
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    EXPECT_TRUE(replace_file(dir.file("no/such/dir/state"), "x"));
}

TEST(AuditTrailCursor, ReadsEveryLineAcrossRotatedFilesInOrder) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 30, 3000);
    ASSERT_GT(find_log_files(path).size(), 3u);
    trail_cursor c(path, nullptr);
    const auto lines = read_all(c, 1000);
    ASSERT_EQ(lines.size(), 30u);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        EXPECT_EQ(seq_of(lines[i].first), i + 1);
        EXPECT_EQ(lines[i].second.seq, i + 1);
        EXPECT_EQ(lines[i].second.hash, std::string(read_line_head(lines[i].first)->hash));
        EXPECT_LE(lines[i].second.file_first_seq, i + 1);
    }
}

TEST(AuditTrailCursor, PassesOnlyWholeCommittedLines) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 3);
    std::string text = test::read_file(path);
    const std::size_t second_end = text.find('\n', text.find('\n') + 1) + 1;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    // The writer has committed two lines: the third is not passed until it says so.
    committed_position committed{static_cast<std::uint64_t>(st.st_dev),
                                 static_cast<std::uint64_t>(st.st_ino), second_end, 2};
    trail_cursor c(path, [&committed] { return committed; });
    EXPECT_EQ(read_all(c).size(), 2u);
    committed.offset = text.size();
    // A torn tail beyond: never passed either.
    test::write_file(path, text + "{\"seq\":4,\"id\":\"torn");
    EXPECT_EQ(read_all(c).size(), 1u);
    trail_cursor whole(path, nullptr);
    EXPECT_EQ(read_all(whole).size(), 3u);
}

TEST(AuditTrailCursor, FollowsTheWriterThroughARotation) {
    test::temp_dir dir;
    writer_options o;
    o.path = dir.file("audit.jsonl");
    o.sync = sync_policy::none;
    o.rotate_bytes = 3000;
    file_writer w(o);
    ASSERT_FALSE(w.start());
    trail_cursor c(o.path, [&w] { return w.committed(); });
    std::uint64_t next = 1;
    for (int round = 0; round < 10; ++round) {
        for (int i = 0; i < 3; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));
        for (const auto& [line, after] : read_all(c)) EXPECT_EQ(seq_of(line), next++);
    }
    EXPECT_EQ(next, 31u);
    EXPECT_GT(find_log_files(o.path).size(), 3u);
}

TEST(AuditTrailCursor, SeeksToASavedPositionEvenAfterItsFileWasRotated) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    writer_options o;
    o.path = path;
    o.sync = sync_policy::none;
    o.rotate_bytes = 3000;
    file_writer w(o);
    ASSERT_FALSE(w.start());
    ASSERT_FALSE(test::append_wait(w, test::sample_record(0)));
    ASSERT_FALSE(test::append_wait(w, test::sample_record(1)));
    trail_cursor c(path, nullptr);
    const auto first = read_all(c);
    ASSERT_EQ(first.size(), 2u);
    const trail_position saved = first.back().second;  // in the active file, which then rotates
    for (int i = 2; i < 20; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));
    trail_cursor again(path, nullptr);
    EXPECT_EQ(again.seek(saved), "");
    const auto rest = read_all(again);
    ASSERT_EQ(rest.size(), 18u);
    EXPECT_EQ(seq_of(rest.front().first), 3u);
}

TEST(AuditTrailCursor, FallsBackToTheStartWhenThePositionIsNotInTheTrail) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 5);
    trail_cursor c(path, nullptr);
    // Another trail's position: seq 3 with another hash.
    const trail_position foreign{1, 1000, 3, std::string(64, 'c')};
    EXPECT_NE(c.seek(foreign).find("another trail"), std::string::npos);
    EXPECT_EQ(read_all(c).size(), 5u);
    // Past the end (the trail was replaced by a shorter one).
    const trail_position beyond{90, 1000, 99, std::string(64, 'c')};
    EXPECT_NE(c.seek(beyond).find("past the end"), std::string::npos);
    EXPECT_EQ(read_all(c).size(), 5u);
}

TEST(AuditRetention, PrunesTheOldestShippedFilesWithinTheBudgetAndVerifyStillPasses) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 40, 2500);
    const auto files = find_log_files(path);
    ASSERT_GT(files.size(), 4u);
    // Nothing shipped: the budget is exceeded, nothing goes.
    const auto kept = prune_trail(path, {4000, 0}, 0, std::time(nullptr));
    EXPECT_EQ(kept.files_removed, 0u);
    EXPECT_GT(kept.files_kept_unshipped, 0u);
    EXPECT_EQ(find_log_files(path).size(), files.size());
    // The first two files shipped: they go, and no more.
    const auto some = prune_trail(path, {4000, 0}, files[2].first_seq, std::time(nullptr));
    EXPECT_FALSE(some.error) << some.error.message();
    EXPECT_EQ(some.files_removed, 2u);
    EXPECT_EQ(find_log_files(path).front().path, files[2].path);
    auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.first_seq, files[2].first_seq);
    EXPECT_EQ(res.pruned_through, files[2].first_seq - 1);
    EXPECT_NE(res.detail().find("pruned by retention"), std::string::npos) << res.detail();
    // Everything shipped: down to the budget, never the active file.
    const auto all = prune_trail(path, {1, 0}, all_shipped, std::time(nullptr));
    EXPECT_FALSE(all.error);
    ASSERT_EQ(find_log_files(path).size(), 1u);
    EXPECT_TRUE(find_log_files(path).front().active);
    res = verify_chain(path);
    EXPECT_TRUE(res.ok) << res.detail();
    // An old file removed by anything but retention is still caught.
    test::temp_dir other;
    const std::string path2 = other.file("audit.jsonl");
    test::write_trail(path2, 40, 2500);
    ASSERT_FALSE(
        prune_trail(path2, {4000, 0}, find_log_files(path2)[1].first_seq, std::time(nullptr))
            .error);
    std::filesystem::remove(find_log_files(path2).front().path);  // the next one, by hand
    res = verify_chain(path2);
    EXPECT_FALSE(res.ok);
    EXPECT_EQ(res.problem, chain_problem::seq_gap);
}

TEST(AuditRetention, PrunesByAgeOldestFirst) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 40, 2500);
    auto files = find_log_files(path);
    ASSERT_GT(files.size(), 4u);
    // Rotated file i was last written i days after t0; it is day 4 now.
    const std::time_t t0 = 1'800'000'000;
    for (std::size_t i = 0; i + 1 < files.size(); ++i) {
        const std::time_t t = t0 + static_cast<std::time_t>(i) * 86400;
        const struct timespec times[2] = {{t, 0}, {t, 0}};
        ASSERT_EQ(::utimensat(AT_FDCWD, files[i].path.c_str(), times, 0), 0);
    }
    const auto res = prune_trail(path, {0, 2}, all_shipped, t0 + 4 * 86400);
    EXPECT_FALSE(res.error);
    EXPECT_EQ(res.files_removed, 2u);  // days 0 and 1: older than two days
    EXPECT_EQ(find_log_files(path).front().path, files[2].path);
    EXPECT_TRUE(verify_chain(path).ok);
}

TEST(AuditRetention, TheWriterPrunesAfterRotationWithoutAForwarder) {
    test::temp_dir dir;
    writer_options o;
    o.path = dir.file("audit.jsonl");
    o.sync = sync_policy::none;
    o.rotate_bytes = 2500;
    o.retention.keep_bytes = 6000;
    file_writer w(o);
    ASSERT_FALSE(w.start());
    for (int i = 0; i < 40; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));
    EXPECT_GT(w.counters().files_pruned, 0u);
    std::uint64_t total = 0;
    for (const auto& f : find_log_files(o.path)) total += std::filesystem::file_size(f.path);
    EXPECT_LE(total, 6000u + 2500u);  // the budget, give or take the active file's growth
    const auto res = verify_chain(o.path);
    EXPECT_TRUE(res.ok) << res.detail();
    EXPECT_GT(res.first_seq, 1u);
}

// Retention may leave no record at all (every rotated file pruned, the new active file still
// empty): a restart continues the chain after the anchor, never from seq 1 again.
TEST(AuditRetention, ARestartAfterEverythingWasPrunedContinuesTheChain) {
    test::temp_dir dir;
    writer_options o;
    o.path = dir.file("audit.jsonl");
    o.sync = sync_policy::none;
    o.rotate_bytes = 2500;
    {
        file_writer w(o);
        ASSERT_FALSE(w.start());
        for (int i = 0; i < 10; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));
    }
    // As if pruned right after a rotation: only an empty active file is left.
    ASSERT_FALSE(prune_trail(o.path, {1, 0}, all_shipped, std::time(nullptr)).error);
    test::write_file(o.path, "");
    const auto anchor = parse_pruned_anchor(*read_small_file(pruned_anchor_path(o.path)));
    ASSERT_TRUE(anchor.has_value());
    file_writer w(o);
    ASSERT_FALSE(w.start());
    ASSERT_FALSE(test::append_wait(w, test::sample_record(11)));
    w.flush();
    const std::string text = test::read_file(o.path);
    const auto head = read_line_head(text.substr(0, text.size() - 1));
    ASSERT_TRUE(head.has_value()) << text;
    EXPECT_EQ(head->seq, anchor->through_seq + 1);
    const auto res = verify_chain(o.path);
    EXPECT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.first_seq, anchor->through_seq + 1);
}

}  // namespace
}  // namespace exportwall::audit
