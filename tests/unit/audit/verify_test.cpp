#include <functional>

#include <gtest/gtest.h>

#include "audit/file_writer.hpp"
#include "audit/reader.hpp"
#include "audit/serialize.hpp"
#include "tests/unit/audit/audit_test_support.hpp"

namespace exportwall::audit {
namespace {

std::vector<std::string> lines_of(const std::string& data) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < data.size()) {
        const auto nl = data.find('\n', pos);
        out.push_back(data.substr(pos, nl - pos + 1));
        pos = nl + 1;
    }
    return out;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l;
    return out;
}

class AuditVerify : public ::testing::Test {
  protected:
    void SetUp() override {
        path_ = dir_.file("audit.jsonl");
        test::write_trail(path_, 12);
        lines_ = lines_of(test::read_file(path_));
        ASSERT_EQ(lines_.size(), 12u);
        ASSERT_TRUE(verify_chain(path_).ok);
    }
    void rewrite(const std::vector<std::string>& lines) { test::write_file(path_, joined(lines)); }

    test::temp_dir dir_;
    std::string path_;
    std::vector<std::string> lines_;
};

TEST_F(AuditVerify, PassesOnAnIntactTrail) {
    const auto res = verify_chain(path_);
    EXPECT_TRUE(res.ok);
    EXPECT_EQ(res.records, 12u);
    EXPECT_EQ(res.last_seq, 12u);
    EXPECT_NE(res.detail().find("intact"), std::string::npos);
}

TEST_F(AuditVerify, DetectsOneEditedByte) {
    auto lines = lines_;
    const auto pos = lines[4].find("\"records_in\":10");
    ASSERT_NE(pos, std::string::npos);
    lines[4][pos + 14] = '9';  // records_in 10 -> 19
    rewrite(lines);
    const auto res = verify_chain(path_);
    EXPECT_FALSE(res.ok);
    EXPECT_EQ(res.problem, chain_problem::hash_mismatch);
    EXPECT_EQ(res.first_broken_seq, 5u);
    EXPECT_NE(res.detail().find("seq 5"), std::string::npos);
}

TEST_F(AuditVerify, DetectsADeletedLine) {
    auto lines = lines_;
    lines.erase(lines.begin() + 6);
    rewrite(lines);
    const auto res = verify_chain(path_);
    EXPECT_FALSE(res.ok);
    EXPECT_EQ(res.problem, chain_problem::seq_gap);
    EXPECT_EQ(res.first_broken_seq, 7u);
}

TEST_F(AuditVerify, DetectsSwappedLines) {
    auto lines = lines_;
    std::swap(lines[3], lines[4]);
    rewrite(lines);
    const auto res = verify_chain(path_);
    EXPECT_FALSE(res.ok);
    EXPECT_EQ(res.problem, chain_problem::reordered);
    EXPECT_EQ(res.first_broken_seq, 4u);
}

TEST_F(AuditVerify, DetectsADuplicatedLine) {
    auto lines = lines_;
    lines.insert(lines.begin() + 5, lines[4]);
    rewrite(lines);
    const auto res = verify_chain(path_);
    EXPECT_FALSE(res.ok);
    EXPECT_EQ(res.problem, chain_problem::duplicate);
    EXPECT_EQ(res.first_broken_seq, 5u);
}

TEST_F(AuditVerify, DetectsAFileTruncatedMidLine) {
    const std::string data = joined(lines_);
    test::write_file(path_, data.substr(0, data.size() - 40));
    const auto res = verify_chain(path_);
    EXPECT_FALSE(res.ok);
    EXPECT_EQ(res.problem, chain_problem::truncated);
    EXPECT_EQ(res.first_broken_seq, 12u);
}

// The admin page verifies while the writer appends: a half-written last line of the active file
// is work in progress there, and truncation everywhere else.
TEST_F(AuditVerify, LiveVerifyToleratesALineBeingWritten) {
    const std::string data = joined(lines_);
    test::write_file(path_, data + lines_[0].substr(0, 30));
    EXPECT_FALSE(verify_chain(path_).ok);
    const auto live = verify_chain(path_, true);
    EXPECT_TRUE(live.ok) << live.detail();
    EXPECT_EQ(live.records, 12u);
    test::write_file(path_, data.substr(0, data.size() - 40));
    EXPECT_TRUE(verify_chain(path_, true).ok);
    EXPECT_FALSE(verify_chain(path_, false).ok);
}

TEST_F(AuditVerify, DetectsAnUnparsableLine) {
    auto lines = lines_;
    lines[2] = "garbage\n";
    rewrite(lines);
    const auto res = verify_chain(path_);
    EXPECT_FALSE(res.ok);
    EXPECT_EQ(res.problem, chain_problem::unparsable);
    EXPECT_EQ(res.first_broken_seq, 3u);
    EXPECT_EQ(res.line, 3u);
}

// A forger who recomputes the inserted line's own hash still cannot know what to put in
// prev_hash without rewriting every later record.
TEST_F(AuditVerify, DetectsAForgedLineWithItsOwnHashRecomputed) {
    boost::json::parser parser;
    record forged;
    ASSERT_FALSE(
        parse_line(std::string_view(lines_[5]).substr(0, lines_[5].size() - 1), parser, forged));
    forged.decision = "allowed";
    forged.prev_hash = std::string(64, 'b');
    std::string canonical;
    append_canonical(forged, canonical);
    chain_hasher h;
    forged.hash = h.hash(forged.prev_hash, canonical);
    std::string line;
    append_line(forged, line);
    auto lines = lines_;
    lines.insert(lines.begin() + 5, line);  // a forged seq 6 before the real one
    rewrite(lines);
    auto res = verify_chain(path_);
    EXPECT_FALSE(res.ok);
    EXPECT_EQ(res.problem, chain_problem::prev_hash_mismatch);
    EXPECT_EQ(res.first_broken_seq, 6u);
    lines = lines_;
    lines[5] = line;  // the real seq 6 replaced by the forgery
    rewrite(lines);
    res = verify_chain(path_);
    EXPECT_EQ(res.problem, chain_problem::prev_hash_mismatch);
    EXPECT_EQ(res.first_broken_seq, 6u);
}

// The legal rule of a refusal is part of the hashed bytes: changing, removing or adding it is an
// edit like any other.
TEST_F(AuditVerify, TheLegalRuleIsCoveredByTheChain) {
    // seq 1, 5 and 9 are refusals naming rule R10; the others name none.
    ASSERT_NE(lines_[4].find(",\"rule_id\":\"R10\",\"legal_reference\":\"GDPR art. 6(1)"),
              std::string::npos);
    ASSERT_EQ(lines_[5].find("rule_id"), std::string::npos);
    EXPECT_TRUE(verify_chain(path_).ok);

    auto expect_broken_at_5 = [&](const std::string& edited) {
        ASSERT_NE(edited, lines_[4]);
        auto lines = lines_;
        lines[4] = edited;
        rewrite(lines);
        const auto res = verify_chain(path_);
        EXPECT_EQ(res.problem, chain_problem::hash_mismatch) << edited;
        EXPECT_EQ(res.first_broken_seq, 5u) << edited;
    };
    std::string other_rule = lines_[4];
    other_rule.replace(other_rule.find("\"R10\""), 5, "\"R15\"");
    expect_broken_at_5(other_rule);
    std::string other_reference = lines_[4];
    other_reference.replace(other_reference.find("art. 21"), 7, "art. 22");
    expect_broken_at_5(other_reference);
    std::string dropped = lines_[4];
    const auto from = dropped.find(",\"rule_id\"");
    dropped.erase(from, dropped.find(",\"client\"") - from);
    expect_broken_at_5(dropped);

    auto lines = lines_;  // a rule added to a record that had none (seq 6)
    lines[5].insert(lines[5].find(",\"client\""), ",\"rule_id\":\"R10\",\"legal_reference\":\"x\"");
    rewrite(lines);
    const auto res = verify_chain(path_);
    EXPECT_EQ(res.problem, chain_problem::hash_mismatch);
    EXPECT_EQ(res.first_broken_seq, 6u);
}

// Appends sample records [from, to) to `path` with a writer of its own (as after a restart);
// `as_written` edits each record first (an older writer that did not write some members).
void append_samples(const std::string& path, int from, int to,
                    const std::function<void(record&)>& as_written) {
    writer_options o;
    o.path = path;
    o.sync = sync_policy::none;
    file_writer w(o);
    ASSERT_FALSE(w.start());
    for (int i = from; i < to; ++i) {
        record r = test::sample_record(i);
        as_written(r);
        w.append(std::move(r), false, nullptr);
    }
    w.flush();
}

// A trail written before records named their legal rule goes on with records that do: the
// chain verifies across both, and each record reads back with what it holds.
TEST(AuditVerifyUpgrade, ChainsRecordsWithoutRulesAndThenWithThem) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    auto write = [&](int from, int to, bool rules) {
        append_samples(path, from, to, [rules](record& r) {
            if (rules) return;
            r.rule_id.clear();
            r.legal_reference.clear();
        });
    };
    write(0, 8, false);  // the old writer
    const std::string old_trail = test::read_file(path);
    EXPECT_EQ(old_trail.find("rule_id"), std::string::npos);
    ASSERT_TRUE(verify_chain(path).ok);
    write(8, 16, true);  // restarted with rules
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.last_seq, 16u);

    std::vector<std::string> rules;
    ASSERT_FALSE(for_each_record(path, {}, [&](const record& r) {
        rules.push_back(r.rule_id + "|" + r.legal_reference);
        return true;
    }));
    const std::string r10 = "R10|" + std::string(test::r10_reference);
    const std::vector<std::string> want = {"|", "|", "|", "|", "|", "|", "|", "|",
                                           r10, "|", "|", "|", r10, "|", "|", "|"};
    EXPECT_EQ(rules, want);
}

// Transform counts are part of the hashed bytes: changing a count or a name, removing a member or
// adding one is an edit like any other.
TEST_F(AuditVerify, TheTransformCountsAreCoveredByTheChain) {
    // seq 3, 7 and 11 are filtered records with transformed fields; seq 7 also has a failed one.
    ASSERT_NE(lines_[6].find("\"fields_stripped\":[\"iban\"],\"fields_transformed\":{\"birth_date\""
                             ":7,\"email\":8},\"transform_failed\":{\"birth_date\":1},"),
              std::string::npos)
        << lines_[6];
    ASSERT_EQ(lines_[5].find("transform"), std::string::npos);

    auto expect_broken_at = [&](std::size_t index, const std::string& edited) {
        ASSERT_NE(edited, lines_[index]);
        auto lines = lines_;
        lines[index] = edited;
        rewrite(lines);
        const auto res = verify_chain(path_);
        EXPECT_EQ(res.problem, chain_problem::hash_mismatch) << edited;
        EXPECT_EQ(res.first_broken_seq, index + 1) << edited;
    };
    auto replaced = [&](std::string line, const std::string& from, const std::string& to) {
        const auto at = line.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        if (at != std::string::npos) line.replace(at, from.size(), to);
        return line;
    };
    expect_broken_at(6, replaced(lines_[6], "\"email\":8}", "\"email\":9}"));
    expect_broken_at(6, replaced(lines_[6], "{\"birth_date\":1}", "{\"birth_date\":0}"));
    expect_broken_at(6, replaced(lines_[6], "\"email\":8}", "\"phone\":8}"));
    expect_broken_at(6, replaced(lines_[6], ",\"transform_failed\":{\"birth_date\":1}", ""));
    expect_broken_at(
        6, replaced(lines_[6], ",\"fields_transformed\":{\"birth_date\":7,\"email\":8}", ""));
    expect_broken_at(5, replaced(lines_[5], ",\"records_in\"",
                                 ",\"fields_transformed\":{\"email\":1},\"records_in\""));
}

// A trail written before records counted transforms goes on with records that do: the chain
// verifies across both, and each record reads back with what it holds.
TEST(AuditVerifyUpgrade, ChainsRecordsWithoutTransformCountsAndThenWithThem) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    auto write = [&](int from, int to, bool transforms) {
        append_samples(path, from, to, [transforms](record& r) {
            if (transforms) return;
            r.fields_transformed.clear();
            r.transform_failed.clear();
        });
    };
    write(0, 8, false);  // the old writer
    const std::string old_trail = test::read_file(path);
    EXPECT_EQ(old_trail.find("transform"), std::string::npos);
    ASSERT_TRUE(verify_chain(path).ok);
    write(8, 16, true);  // restarted with transform counts
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.last_seq, 16u);

    std::vector<std::string> counts;
    ASSERT_FALSE(for_each_record(path, {}, [&](const record& r) {
        std::string c;
        for (const auto& [f, n] : r.fields_transformed) c += f + "=" + std::to_string(n) + " ";
        c += "|";
        for (const auto& [f, n] : r.transform_failed) c += " " + f + "=" + std::to_string(n);
        counts.push_back(c);
        return true;
    }));
    std::vector<std::string> want(16, "|");  // seq 1-8: the old writer wrote none
    want[10] = "birth_date=8 email=8 |";
    want[14] = "birth_date=7 email=8 | birth_date=1";
    EXPECT_EQ(counts, want);
}

TEST_F(AuditVerify, ReportsAMissingLog) {
    const auto res = verify_chain(dir_.file("nothing.jsonl"));
    EXPECT_FALSE(res.ok);
    EXPECT_EQ(res.problem, chain_problem::no_log);
}

// Large enough for several 4 MiB reads, so lines are hashed on two threads: the first broken
// seq in file order is still the one named.
TEST(AuditVerifyLarge, NamesTheFirstBrokenSeqWhenHashingInParallel) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 20000);
    const std::string intact = test::read_file(path);
    ASSERT_GT(intact.size(), std::size_t{9} << 20);
    const auto ok = verify_chain(path);
    ASSERT_TRUE(ok.ok) << ok.detail();
    EXPECT_EQ(ok.records, 20000u);
    EXPECT_EQ(ok.last_seq, 20000u);

    auto lines = lines_of(intact);
    auto edit = [&](std::size_t seq) {
        auto& l = lines[seq - 1];
        const auto pos = l.find("\"records_in\":1");
        ASSERT_NE(pos, std::string::npos);
        l[pos + 14] = '7';
    };
    // An edit late in a read chunk, then a deleted line further on: the edit comes first.
    edit(15000);
    lines.erase(lines.begin() + 17999);
    test::write_file(path, joined(lines));
    auto res = verify_chain(path);
    EXPECT_EQ(res.problem, chain_problem::hash_mismatch);
    EXPECT_EQ(res.first_broken_seq, 15000u);
    EXPECT_EQ(res.records, 14999u);

    // Two edits in one chunk, one in each thread's half: the earlier one is named.
    lines = lines_of(intact);
    edit(7003);
    edit(9500);
    test::write_file(path, joined(lines));
    res = verify_chain(path);
    EXPECT_EQ(res.problem, chain_problem::hash_mismatch);
    EXPECT_EQ(res.first_broken_seq, 7003u);

    // A seq gap before any edit is named as the gap.
    lines = lines_of(intact);
    lines.erase(lines.begin() + 2999);
    edit(12000);
    test::write_file(path, joined(lines));
    res = verify_chain(path);
    EXPECT_EQ(res.problem, chain_problem::seq_gap);
    EXPECT_EQ(res.first_broken_seq, 3000u);

    // Live verify stops quietly at a half-written last line after hashing what came before.
    lines = lines_of(intact);
    test::write_file(path, joined(lines) + lines.back().substr(0, 100));
    res = verify_chain(path, /*live=*/true);
    EXPECT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.records, 20000u);
    edit(19999);
    test::write_file(path, joined(lines) + lines.back().substr(0, 100));
    res = verify_chain(path, /*live=*/true);
    EXPECT_EQ(res.problem, chain_problem::hash_mismatch);
    EXPECT_EQ(res.first_broken_seq, 19999u);
}

TEST(AuditVerifyRotated, PassesAcrossRotatedFilesAndDetectsARemovedOne) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 40, 2500);  // a few records per file
    const auto files = find_log_files(path);
    ASSERT_GT(files.size(), 3u);
    EXPECT_TRUE(files.back().active);
    for (std::size_t i = 1; i + 1 < files.size(); ++i)
        EXPECT_GT(files[i].first_seq, files[i - 1].first_seq);
    const auto ok = verify_chain(path);
    ASSERT_TRUE(ok.ok) << ok.detail();
    EXPECT_EQ(ok.records, 40u);

    std::filesystem::remove(files[1].path);
    const auto res = verify_chain(path);
    EXPECT_FALSE(res.ok);
    EXPECT_EQ(res.problem, chain_problem::seq_gap);
    EXPECT_EQ(res.first_broken_seq, files[1].first_seq);
}

TEST(AuditVerifyRotated, DetectsRemovalOfTheFirstRotatedFile) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 20, 2500);
    const auto files = find_log_files(path);
    ASSERT_GT(files.size(), 2u);
    std::filesystem::remove(files[0].path);
    const auto res = verify_chain(path);
    EXPECT_FALSE(res.ok);
    EXPECT_EQ(res.problem, chain_problem::seq_gap);
    EXPECT_EQ(res.first_broken_seq, 1u);
}

TEST(AuditReader, FiltersByDecisionClientAndTime) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 16);
    record_filter f;
    f.decision = {"blocked"};
    int n = 0;
    ASSERT_FALSE(for_each_record(path, f, [&](const record& r) {
        EXPECT_EQ(r.decision, "blocked");
        ++n;
        return true;
    }));
    EXPECT_EQ(n, 4);
    record_filter t;
    t.since_ms = parse_rfc3339("2026-11-29T00:00:00Z");
    n = 0;
    ASSERT_FALSE(for_each_record(path, t, [&](const record& r) {
        EXPECT_EQ(r.time.substr(0, 10), "2026-11-29");
        ++n;
        return true;
    }));
    EXPECT_EQ(n, 8);
}

// The list filters decide on the raw member before parsing; a value holding an escape, or a
// key's text inside another value, must not fool them.
TEST(AuditReader, FiltersValuesHoldingEscapesAndLookalikeText) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    {
        writer_options o;
        o.path = path;
        o.sync = sync_policy::none;
        file_writer w(o);
        ASSERT_FALSE(w.start());
        record a = test::sample_record(0);
        a.client = "we\"b\\shop";  // escaped in the line
        record b = test::sample_record(4);
        b.client = "erp";
        b.path = "/x?,\"client\":\"we";  // looks like the member, inside another string
        record c = test::sample_record(8);
        c.client = "webshop";
        w.append(std::move(a), false, nullptr);
        w.append(std::move(b), false, nullptr);
        w.append(std::move(c), false, nullptr);
        w.flush();
    }
    auto clients = [&](std::vector<std::string> want) {
        record_filter f;
        f.client = std::move(want);
        std::vector<std::uint64_t> seqs;
        EXPECT_FALSE(for_each_record(path, f, [&](const record& r) {
            seqs.push_back(r.seq);
            return true;
        }));
        return seqs;
    };
    EXPECT_EQ(clients({"we\"b\\shop"}), std::vector<std::uint64_t>{1});
    EXPECT_EQ(clients({"erp"}), std::vector<std::uint64_t>{2});
    EXPECT_EQ(clients({"we"}), std::vector<std::uint64_t>{});
    EXPECT_EQ(clients({"webshop", "erp"}), (std::vector<std::uint64_t>{2, 3}));
}

TEST(AuditReader, ParsesRfc3339WithOffsets) {
    EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:01Z"), 1000);
    EXPECT_EQ(parse_rfc3339("1970-01-01T01:00:00.5+01:00"), 500);
    EXPECT_EQ(parse_rfc3339("1970-01-02"), 86400000);
    EXPECT_FALSE(parse_rfc3339("yesterday"));
    EXPECT_FALSE(parse_rfc3339("1970-01-01T00:00:00"));
}

}  // namespace
}  // namespace exportwall::audit
