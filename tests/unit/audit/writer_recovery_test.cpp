// The writer heals by itself (issue 19, item 3): the proxy refuses exports while the trail cannot
// be written, before appending, so no append would ever retry. The writer thread retries on its
// own with a backoff, and healthy() turns true once the cause is gone. The failures are real and
// need no privilege (the tests run as root in CI as well as not): a file size limit
// (RLIMIT_FSIZE, which binds root too) and a directory that is a regular file.

#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "audit/file_writer.hpp"
#include "audit/reader.hpp"
#include "tests/unit/audit/audit_test_support.hpp"

namespace exportwall::audit {
namespace {

using namespace std::chrono_literals;

// Polls `condition` until it holds or `limit` passes: a bound against hanging, not a timing.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 20s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// Lowers this process's file size limit (soft; the hard limit stays, so it can be raised back
// without privilege) for its lifetime. SIGXFSZ is ignored meanwhile: a write past the limit fails
// with EFBIG instead of killing the process.
class file_size_limit {
  public:
    explicit file_size_limit(rlim_t bytes) {
        ::getrlimit(RLIMIT_FSIZE, &saved_);
        old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
        rlimit lowered = saved_;
        lowered.rlim_cur = bytes;
        ok_ = ::setrlimit(RLIMIT_FSIZE, &lowered) == 0;
    }
    ~file_size_limit() { lift(); }
    file_size_limit(const file_size_limit&) = delete;
    file_size_limit& operator=(const file_size_limit&) = delete;
    void lift() {
        if (lifted_) return;
        lifted_ = true;
        ::setrlimit(RLIMIT_FSIZE, &saved_);
        std::signal(SIGXFSZ, old_handler_);
    }
    [[nodiscard]] bool ok() const { return ok_; }

  private:
    rlimit saved_{};
    void (*old_handler_)(int) = SIG_DFL;
    bool ok_ = false;
    bool lifted_ = false;
};

TEST(AuditWriterRecovery, HealsByItselfOnceTheFileTakesWritesAgain) {
    test::temp_dir dir;
    const std::string path = dir.file("audit.jsonl");
    writer_options o;
    o.path = path;
    o.sync = sync_policy::blocked;
    o.retry_initial = 10ms;
    o.retry_max = 200ms;
    file_writer w(o);
    ASSERT_FALSE(w.start());
    for (int i = 0; i < 3; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));
    const auto size = std::filesystem::file_size(path);

    boost::system::error_code failure;
    {
        file_size_limit limit(size + 100);  // no room for another record
        ASSERT_TRUE(limit.ok());
        failure = test::append_wait(w, test::sample_record(3));
        ASSERT_TRUE(failure) << "a write past the file size limit succeeded";
        EXPECT_FALSE(w.healthy());
        limit.lift();
        // No append: the writer thread finds out by itself.
        EXPECT_TRUE(eventually([&] { return w.healthy(); })) << "never healed by itself";
    }
    EXPECT_EQ(std::filesystem::file_size(path), size) << "the probe was not cut off";
    ASSERT_FALSE(test::append_wait(w, test::sample_record(4)));
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.records, 4u) << "three acknowledged records and the one after; the failed one "
                                  "was never acknowledged";
}

TEST(AuditWriterRecovery, HealsByItselfOnceItsDirectoryCanBeOpened) {
    test::temp_dir dir;
    const std::string trail_dir = dir.file("trail");
    test::write_file(trail_dir, "a regular file where the directory should be");
    const std::string path = trail_dir + "/audit.jsonl";
    writer_options o;
    o.path = path;
    o.retry_initial = 10ms;
    o.retry_max = 200ms;
    file_writer w(o);
    EXPECT_TRUE(w.start()) << "opening under a regular file succeeded";
    EXPECT_FALSE(w.healthy());
    EXPECT_TRUE(test::append_wait(w, test::sample_record(0))) << "acknowledged without a trail";

    std::filesystem::remove(trail_dir);
    std::filesystem::create_directory(trail_dir);
    EXPECT_TRUE(eventually([&] { return w.healthy(); })) << "never healed by itself";
    ASSERT_FALSE(test::append_wait(w, test::sample_record(1)));
    const auto res = verify_chain(path);
    ASSERT_TRUE(res.ok) << res.detail();
    EXPECT_EQ(res.records, 1u);
}

// A writer that cannot heal keeps retrying: it stays unhealthy and refuses appends, and stopping
// it does not wait for a retry.
TEST(AuditWriterRecovery, StaysUnhealthyWhileTheCauseRemains) {
    test::temp_dir dir;
    const std::string blocker = dir.file("not-a-directory");
    test::write_file(blocker, "x");
    writer_options o;
    o.path = blocker + "/audit.jsonl";
    o.retry_initial = 1ms;
    o.retry_max = 4ms;
    auto w = std::make_unique<file_writer>(o);
    EXPECT_TRUE(w->start());
    EXPECT_FALSE(w->healthy());
    EXPECT_TRUE(test::append_wait(*w, test::sample_record(0)));
    w.reset();
}

}  // namespace
}  // namespace exportwall::audit
