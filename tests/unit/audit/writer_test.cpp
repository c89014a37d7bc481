#include "audit/file_writer.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "audit/reader.hpp"
#include "audit/serialize.hpp"
#include "tests/unit/audit/audit_test_support.hpp"

namespace exportwall::audit {
namespace {

writer_options options_for(const std::string& path, sync_policy sync) {
    writer_options o;
    o.path = path;
    o.sync = sync;
    return o;
}

TEST(AuditWriter, GroupCommitsConcurrentDurableAppends) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    file_writer w(options_for(path, sync_policy::blocked));
    ASSERT_FALSE(w.start());
    constexpr int threads = 8, per_thread = 150;
    std::atomic<int> ok{0}, failed{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                if (test::append_wait(w, test::sample_record(t * per_thread + i), true))
                    failed++;
                else
                    ok++;
            }
        });
    }
    for (auto& t : pool) t.join();
    EXPECT_EQ(ok.load(), threads * per_thread);
    EXPECT_EQ(failed.load(), 0);
    const auto c = w.counters();
    EXPECT_EQ(c.records_written, static_cast<std::uint64_t>(threads * per_thread));
    EXPECT_GE(c.fsyncs, 1u);
    EXPECT_LE(c.fsyncs, c.records_written);
    EXPECT_TRUE(w.healthy());
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.records, static_cast<std::uint64_t>(threads * per_thread));
    EXPECT_EQ(res.last_seq, static_cast<std::uint64_t>(threads * per_thread));
}

// An idle writer lets the appending thread write a record that need not be durable: the record
// is in the file and its completion has run, on that thread, when append() returns. A durable
// record, and every record with inline_writes off, goes through the writer thread.
TEST(AuditWriter, AnIdleWriterLetsTheAppenderWriteARecordThatNeedNotBeDurable) {
    for (const bool inline_writes : {true, false}) {
        SCOPED_TRACE(inline_writes ? "inline_writes" : "through the writer thread");
        test::temp_dir dir;
        const std::string path = dir.file("audit.jsonl");
        writer_options o = options_for(path, sync_policy::blocked);
        o.inline_writes = inline_writes;
        file_writer w(o);
        ASSERT_FALSE(w.start());
        const auto self = std::this_thread::get_id();
        std::atomic<bool> done{false};
        std::thread::id ran_on;
        record r = test::sample_record(0);
        const std::string id = r.id;
        w.append(std::move(r), false, [&](boost::system::error_code ec) {
            EXPECT_FALSE(ec);
            ran_on = std::this_thread::get_id();
            done = true;
        });
        if (inline_writes) {
            EXPECT_TRUE(done.load()) << "the completion ran before append() returned";
            EXPECT_NE(test::read_file(path).find(id), std::string::npos);
        }
        w.flush();  // orders the completion's writes before the reads below
        ASSERT_TRUE(done.load());
        EXPECT_EQ(ran_on == self, inline_writes);

        std::promise<std::thread::id> durable;
        w.append(test::sample_record(1), true, [&](boost::system::error_code ec) {
            EXPECT_FALSE(ec);
            durable.set_value(std::this_thread::get_id());
        });
        EXPECT_NE(durable.get_future().get(), self) << "a durable record is the writer thread's";
        EXPECT_EQ(w.counters().fsyncs, 1u);
        EXPECT_EQ(w.counters().records_written, 2u);
        const auto res = verify_chain(path);
        ASSERT_TRUE(res.ok) << res.detail();
        EXPECT_EQ(res.last_seq, 2u);
    }
}

// A completion may append again (an inline record's completion runs after the writer role is
// released): both records are written, chained, and both completions run.
TEST(AuditWriter, ACompletionMayAppendAgain) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    file_writer w(options_for(path, sync_policy::blocked));
    ASSERT_FALSE(w.start());
    std::promise<boost::system::error_code> second;
    w.append(test::sample_record(0), false, [&](boost::system::error_code ec) {
        EXPECT_FALSE(ec);
        w.append(test::sample_record(1), false,
                 [&](boost::system::error_code ec2) { second.set_value(ec2); });
    });
    EXPECT_FALSE(second.get_future().get());
    w.flush();
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.last_seq, 2u);
}

// A record appended while another thread writes inline is queued, and that thread writes it too
// before it lets the writer role go (no writer-thread wake-up for it); a durable one queued
// meanwhile is still the writer thread's (its group commit and fdatasync), and so is everything
// behind it.
TEST(AuditWriter, AnInlineWriterTakesAlongWhatWasQueuedMeanwhile) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    file_writer w(options_for(path, sync_policy::blocked));
    ASSERT_FALSE(w.start());
    const auto self = std::this_thread::get_id();
    std::vector<record> records;
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        records.push_back(test::sample_record(i));
        ids.push_back(records.back().id);
    }
    // While this thread writes its record inline (the commit hook runs under the role), another
    // thread appends two that need not be durable, a durable one and one more.
    std::atomic<bool> once{false};
    std::mutex m;
    std::vector<std::pair<int, std::thread::id>> ran;  // record index, completion thread
    auto note = [&](int i) {
        return [&, i](boost::system::error_code ec) {
            EXPECT_FALSE(ec) << i;
            const std::lock_guard lock(m);
            ran.emplace_back(i, std::this_thread::get_id());
        };
    };
    w.set_on_commit([&] {
        if (once.exchange(true)) return;
        std::thread other([&] {
            w.append(std::move(records[1]), false, note(1));
            w.append(std::move(records[2]), false, note(2));
            w.append(std::move(records[3]), true, note(3));
            w.append(std::move(records[4]), false, note(4));
        });
        other.join();  // its appends queue: the role is this thread's
    });
    w.append(std::move(records[0]), false, note(0));
    {
        const std::lock_guard lock(m);
        ASSERT_EQ(ran.size(), 3U) << "0 and the two queued before the durable one, on return";
        for (std::size_t k = 0; k < ran.size(); ++k) EXPECT_EQ(ran[k].second, self) << k;
        std::set<int> here;
        for (const auto& [i, thread] : ran) here.insert(i);
        EXPECT_EQ(here, (std::set<int>{0, 1, 2}));
    }
    w.flush();
    {
        const std::lock_guard lock(m);
        ASSERT_EQ(ran.size(), 5U);
        for (std::size_t k = 3; k < ran.size(); ++k) {
            EXPECT_TRUE(ran[k].first == 3 || ran[k].first == 4);
            EXPECT_NE(ran[k].second, self) << "the durable record and what follows it";
        }
    }
    EXPECT_EQ(w.counters().records_written, 5U);
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.last_seq, 5U);
    const std::string text = test::read_file(path);
    std::size_t at = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {  // in the order appended
        const std::size_t found = text.find(ids[i], at);
        ASSERT_NE(found, std::string::npos) << i;
        at = found;
    }
}

// Appenders racing for the writer role — some writing inline, some queued behind them, durable
// ones waiting for the group commit, some not waiting at all — still make one chain: every
// record once, seq without a gap, every completion run once and successful.
TEST(AuditWriter, InlineAndQueuedAppendsFromManyThreadsMakeOneChain) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    file_writer w(options_for(path, sync_policy::blocked));
    ASSERT_FALSE(w.start());
    constexpr int threads = 8, per_thread = 300;
    std::atomic<int> completed{0}, failed{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                record r = test::sample_record(t * per_thread + i);
                if (i % 3 == 2) {  // not waited for
                    w.append(std::move(r), false,
                             [&](boost::system::error_code ec) { (ec ? failed : completed)++; });
                    continue;
                }
                if (test::append_wait(w, std::move(r), i % 3 == 0))
                    failed++;
                else
                    completed++;
            }
        });
    }
    for (auto& t : pool) t.join();
    w.flush();
    EXPECT_EQ(completed.load(), threads * per_thread);
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(w.counters().records_written, static_cast<std::uint64_t>(threads * per_thread));
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.records, static_cast<std::uint64_t>(threads * per_thread));
    EXPECT_EQ(res.last_seq, static_cast<std::uint64_t>(threads * per_thread));
}

// close() while appenders write inline: each completion runs once — success for a record in the
// file; shut_down for one refused after the close; queue_full when the appenders outran the
// writer thread (they never wait) — and the file holds exactly the successful ones, chained.
TEST(AuditWriter, CloseLetsAnInlineWriteFinishAndRefusesWhatComesAfter) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    file_writer w(options_for(path, sync_policy::none));
    ASSERT_FALSE(w.start());
    std::atomic<int> appended{0}, written{0}, shut{0}, full{0}, other{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; !stop.load(); ++i) {
                appended++;
                w.append(test::sample_record(t * 1000000 + i), false,
                         [&](boost::system::error_code ec) {
                             if (!ec) {
                                 written++;
                             } else if (ec == make_error_code(audit_error::shut_down)) {
                                 shut++;
                                 stop = true;
                             } else if (ec == make_error_code(audit_error::queue_full)) {
                                 full++;
                             } else {
                                 other++;
                             }
                         });
            }
        });
    }
    while (written.load() < 500) std::this_thread::yield();
    w.close();
    stop = true;
    for (auto& t : pool) t.join();
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(written.load() + shut.load() + full.load(), appended.load())
        << "a completion ran twice or never";
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.records, static_cast<std::uint64_t>(written.load()));
}

TEST(AuditWriter, SyncNoneNeverSyncsAndAlwaysSyncsEveryBatch) {
    test::temp_dir dir;
    {
        file_writer w(options_for(dir.file("none.jsonl"), sync_policy::none));
        ASSERT_FALSE(w.start());
        for (int i = 0; i < 5; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));
        EXPECT_EQ(w.counters().fsyncs, 0u);
    }
    file_writer w(options_for(dir.file("always.jsonl"), sync_policy::always));
    ASSERT_FALSE(w.start());
    for (int i = 0; i < 5; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i), false));
    EXPECT_EQ(w.counters().fsyncs, 5u);  // one append waited for at a time: one batch each
}

TEST(AuditWriter, CompletionFollowsTheRecordOnDisk) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    file_writer w(options_for(path, sync_policy::blocked));
    ASSERT_FALSE(w.start());
    record r = test::sample_record(0);
    const std::string id = r.id;
    ASSERT_FALSE(test::append_wait(w, r, true));
    EXPECT_NE(test::read_file(path).find(id), std::string::npos);
}

TEST(AuditWriter, ContinuesTheChainAfterARestartAndAcrossRotation) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 10, 3000);
    test::write_trail(path, 10, 3000);
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.last_seq, 20u);
    EXPECT_GT(find_log_files(path).size(), 2u);
}

// A crash between renaming the active file and creating the next one leaves only rotated files:
// the chain resumes from the newest of them.
TEST(AuditWriter, ResumesFromTheNewestRotatedFileWhenTheActiveOneIsMissing) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 6);
    std::filesystem::rename(path, dir.file("audit-20261129T000000Z-1.jsonl"));
    test::write_trail(path, 4);
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.last_seq, 10u);
}

TEST(AuditWriter, RotatesWhenTheUtcDayChanges) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    std::atomic<std::time_t> clock{1764374400};  // 2025-11-29T00:00:00Z
    writer_options o = options_for(path, sync_policy::none);
    o.clock = [&] { return clock.load(); };
    file_writer w(o);
    ASSERT_FALSE(w.start());
    for (int i = 0; i < 3; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));
    clock = clock + 86400 + 5;  // the next day
    for (int i = 0; i < 2; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));
    EXPECT_EQ(w.counters().rotations, 1u);
    const auto files = find_log_files(path);
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(std::filesystem::path(files[0].path).filename(), "audit-20251130T000005Z-1.jsonl");
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.last_seq, 5u);
}

TEST(AuditWriter, RecoversFromATornLastLine) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 10);
    const std::string torn = "{\"seq\":11,\"id\":\"0123";
    test::write_file(path, test::read_file(path) + torn);
    ASSERT_FALSE(verify_chain(path).ok);

    writer_options o = options_for(path, sync_policy::blocked);
    std::vector<std::pair<std::string, std::uint64_t>> reported;
    o.on_torn = [&](const std::string& p, std::uint64_t bytes) { reported.emplace_back(p, bytes); };
    file_writer w(o);
    ASSERT_FALSE(w.start());
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_EQ(reported[0].second, torn.size());
    EXPECT_EQ(test::read_file(reported[0].first), torn);
    EXPECT_NE(reported[0].first.find("audit.jsonl.torn-"), std::string::npos);
    EXPECT_EQ(w.counters().torn_lines, 1u);
    for (int i = 0; i < 5; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));
    w.flush();
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.last_seq, 15u);
    EXPECT_EQ(res.records, 15u);
}

TEST(AuditWriter, SetsAnUnparsableCompleteLastLineAside) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_trail(path, 4);
    test::write_file(path, test::read_file(path) + std::string(30, '\0') + "\n");
    int torn = 0;
    writer_options o = options_for(path, sync_policy::none);
    o.on_torn = [&](const std::string&, std::uint64_t) { ++torn; };
    {
        file_writer w(o);
        ASSERT_FALSE(w.start());
        ASSERT_FALSE(test::append_wait(w, test::sample_record(1)));
    }
    EXPECT_EQ(torn, 1);
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.last_seq, 5u);
}

TEST(AuditWriter, RefusesToStartOnDamageBeyondTheLastLine) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    test::write_file(path, "garbage\nmore garbage\n");
    file_writer w(options_for(path, sync_policy::none));
    EXPECT_TRUE(w.start());
    EXPECT_FALSE(w.healthy());
    EXPECT_TRUE(test::append_wait(w, test::sample_record(1)));
    EXPECT_EQ(test::read_file(path), "garbage\nmore garbage\n");
}

TEST(AuditWriter, RefusesAppendsBeyondMaxQueue) {
    test::temp_dir dir;
    writer_options o = options_for(dir.file("audit.jsonl"), sync_policy::none);
    o.max_queue = 1;
    file_writer w(o);  // not started: nothing drains the queue
    w.append(test::sample_record(0), false, nullptr);
    boost::system::error_code got;
    w.append(test::sample_record(1), false, [&](boost::system::error_code ec) { got = ec; });
    EXPECT_EQ(got, make_error_code(audit_error::queue_full));
}

// Disk full on a real (tiny) file system: appends fail, healthy() drops, and once space returns
// the next append succeeds and the chain verifies with nothing duplicated.
class AuditWriterDiskFull : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
        if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, "size=256k") != 0)
            GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
        mounted_ = true;
    }
    void TearDown() override {
        if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
    }
    test::temp_dir dir_;
    bool mounted_ = false;
};

TEST_F(AuditWriterDiskFull, FailsClosedWhileFullAndHealsWhenSpaceReturns) {
    const std::string path = dir_.file("audit.jsonl");
    const std::string filler = dir_.file("filler");
    std::vector<std::string> errors;
    writer_options o = options_for(path, sync_policy::blocked);
    o.on_error = [&](const std::string& m) { errors.push_back(m); };
    file_writer w(o);
    ASSERT_FALSE(w.start());
    int written = 0;
    for (int i = 0; i < 3; ++i, ++written)
        ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));

    {  // fill the file system
        const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ASSERT_GE(fd, 0);
        const std::string block(4096, 'x');
        for (int i = 0; i < 1000; ++i)
            if (::write(fd, block.data(), block.size()) <= 0) break;
        ::close(fd);
    }
    boost::system::error_code failure;
    for (int i = 0; i < 200 && !failure; ++i) {  // the last page's slack may still take a few
        failure = test::append_wait(w, test::sample_record(i));
        if (!failure) ++written;
    }
    ASSERT_TRUE(failure) << "the file system never filled up";
    EXPECT_FALSE(w.healthy());
    EXPECT_GE(w.counters().failures, 1u);
    EXPECT_FALSE(errors.empty());
    ASSERT_TRUE(verify_chain(path).ok) << "a failed write left half a record";

    std::filesystem::remove(filler);
    ASSERT_FALSE(test::append_wait(w, test::sample_record(99)));
    ++written;
    EXPECT_TRUE(w.healthy());
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.records, static_cast<std::uint64_t>(written));
    EXPECT_EQ(res.last_seq, static_cast<std::uint64_t>(written));
}

}  // namespace
}  // namespace exportwall::audit
