// `audit verify` over several replicas: their trails one by one (--log repeated), and a central
// store's export where their records are mixed, repeated and behind syslog headers (--merged).

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "audit/replica_verify.hpp"
#include "tests/unit/audit/audit_test_support.hpp"
#include "tests/unit/cli/run_audit_command.hpp"

namespace exportwall::audit {
namespace {

// The lines of a fresh trail of `n` records written as `replica` ("": no replica name).
std::vector<std::string> trail_lines(const test::temp_dir& dir, const std::string& replica, int n) {
    writer_options o;
    o.path = dir.file("audit-" + (replica.empty() ? std::string("none") : replica) + ".jsonl");
    o.sync = sync_policy::none;
    o.replica = replica;
    {
        file_writer w(o);
        if (w.start()) std::abort();
        for (int i = 0; i < n; ++i) w.append(test::sample_record(i), false, nullptr);
        w.flush();
    }
    std::vector<std::string> lines;
    const std::string text = test::read_file(o.path);
    for (std::size_t pos = 0; pos < text.size();) {
        const auto nl = text.find('\n', pos);
        lines.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return lines;
}

// Lines of two replicas interleaved, some behind an rsyslog header, some twice (delivered again
// after a reconnect).
std::string mixed_export(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    std::string out = "an unrelated syslog line\n";
    for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
        if (i < a.size()) out += "Nov 29 19:00:00 pod-a exportwall[7]: " + a[i] + "\n";
        if (i < b.size()) out += b[i] + "\r\n";
        if (i % 4 == 1 && i < a.size()) out += " " + a[i] + "\n";  // delivered twice
    }
    return out;
}

TEST(AuditVerifyMerged, ChecksEachReplicasChainInAMixedExport) {
    test::temp_dir dir;
    const auto a = trail_lines(dir, "pod-a", 12);
    const auto b = trail_lines(dir, "pod-b", 9);
    const std::string path = dir.file("siem-export.log");
    test::write_file(path, mixed_export(a, b));
    const auto res = verify_merged({path});
    ASSERT_TRUE(res.ok) << (res.replicas.empty() ? res.io_error : res.replicas[0].problem);
    ASSERT_EQ(res.replicas.size(), 2u);
    EXPECT_EQ(res.replicas[0].replica, "pod-a");
    EXPECT_EQ(res.replicas[0].records, 12u);
    EXPECT_EQ(res.replicas[0].duplicates, 3u);
    EXPECT_EQ(res.replicas[0].first_seq, 1u);
    EXPECT_EQ(res.replicas[1].replica, "pod-b");
    EXPECT_EQ(res.replicas[1].records, 9u);
    EXPECT_EQ(res.replicas[1].last_seq, 9u);
    EXPECT_EQ(res.other_lines, 1u);
}

TEST(AuditVerifyMerged, NamesTheReplicaWhoseRecordWasEditedOrLost) {
    test::temp_dir dir;
    auto a = trail_lines(dir, "pod-a", 12);
    auto b = trail_lines(dir, "pod-b", 9);
    a[5].replace(a[5].find("\"status\":"), 12, "\"status\":201");  // edited (was 200)
    b.erase(b.begin() + 4);                                        // lost
    const std::string path = dir.file("siem-export.log");
    test::write_file(path, mixed_export(a, b));
    const auto res = verify_merged({path});
    EXPECT_FALSE(res.ok);
    ASSERT_EQ(res.replicas.size(), 2u);
    EXPECT_FALSE(res.replicas[0].ok);
    EXPECT_NE(res.replicas[0].problem.find("seq 6 was edited"), std::string::npos)
        << res.replicas[0].problem;
    EXPECT_FALSE(res.replicas[1].ok);
    EXPECT_NE(res.replicas[1].problem.find("seq 5 missing"), std::string::npos)
        << res.replicas[1].problem;
}

TEST(AuditVerifyMerged, AcceptsAnExportThatStartsMidChainAndSaysWhere) {
    test::temp_dir dir;
    auto a = trail_lines(dir, "pod-a", 12);
    a.erase(a.begin(), a.begin() + 4);  // the store's retention dropped seq 1 to 4
    const std::string path = dir.file("siem-export.log");
    test::write_file(path, mixed_export(a, {}));
    const auto cli = test::run_cli({"verify", "--merged", path});
    EXPECT_EQ(cli.code, 0) << cli.err;
    EXPECT_NE(cli.out.find("replica pod-a: chain intact: 8 records, seq 5 to 12 (starts at seq 5"),
              std::string::npos)
        << cli.out;
}

TEST(AuditVerifyMerged, TwoDifferentRecordsWithOneSeqFail) {
    test::temp_dir dir;
    const auto a = trail_lines(dir, "pod-a", 5);
    test::temp_dir other;
    const auto forged = trail_lines(other, "pod-a", 5);  // another chain under the same name
    const std::string path = dir.file("siem-export.log");
    test::write_file(path, mixed_export(a, {}) + forged[2] + "\n");
    const auto res = verify_merged({path});
    EXPECT_FALSE(res.ok);
    ASSERT_EQ(res.replicas.size(), 1u);
    EXPECT_NE(res.replicas[0].problem.find("two different records with seq 3"), std::string::npos)
        << res.replicas[0].problem;
}

TEST(AuditVerifyMerged, OldRecordsWithoutAReplicaNameStillVerify) {
    test::temp_dir dir;
    const auto old = trail_lines(dir, "", 6);
    EXPECT_EQ(old[0].find("\"replica\""), std::string::npos);
    const std::string path = dir.file("old.jsonl");
    test::write_file(path, mixed_export(old, {}));
    const auto cli = test::run_cli({"verify", "--merged", path, "--format", "json"});
    EXPECT_EQ(cli.code, 0) << cli.err << cli.out;
    EXPECT_NE(cli.out.find("\"replica\":\"\""), std::string::npos) << cli.out;
    EXPECT_NE(cli.out.find("\"duplicates\":2"), std::string::npos) << cli.out;
}

TEST(AuditVerifyMerged, SeveralTrailsAreEachCheckedAndNamed) {
    test::temp_dir dir;
    (void)trail_lines(dir, "pod-a", 4);
    (void)trail_lines(dir, "pod-b", 3);
    const std::string a = dir.file("audit-pod-a.jsonl"), b = dir.file("audit-pod-b.jsonl");
    auto cli = test::run_cli({"verify", "--log", a, "--log", b});
    EXPECT_EQ(cli.code, 0) << cli.err;
    EXPECT_NE(cli.out.find(a + " (replica pod-a): chain intact: 4 records"), std::string::npos)
        << cli.out;
    EXPECT_NE(cli.out.find(b + " (replica pod-b): chain intact: 3 records"), std::string::npos)
        << cli.out;
    // One broken trail fails the whole, and is named.
    std::string text = test::read_file(b);
    text.replace(text.find("\"status\":"), 12, "\"status\":200");
    test::write_file(b, text);
    cli = test::run_cli({"verify", "--log", a, "--log", b, "--format", "json"});
    EXPECT_EQ(cli.code, 1);
    EXPECT_NE(cli.out.find("\"ok\":false,\"trails\":["), std::string::npos) << cli.out;
    // --log and --merged together are a usage error.
    EXPECT_EQ(test::run_cli({"verify", "--log", a, "--merged", b}).code, 2);
}

}  // namespace
}  // namespace exportwall::audit
