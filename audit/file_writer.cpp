#include "audit/file_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include <boost/json/parser.hpp>

#include "audit/reader.hpp"
#include "audit/serialize.hpp"
#include "audit/trail_marks.hpp"

namespace exportwall::audit {

namespace {

namespace fs = std::filesystem;

boost::system::error_code last_errno() { return {errno, boost::system::system_category()}; }

std::int64_t utc_day(std::time_t t) { return static_cast<std::int64_t>(t) / 86400; }

std::string utc_stamp(std::time_t t) {
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    const auto n = std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return {buf, n};
}

void sync_dir_of(const std::string& path) {
    fs::path dir = fs::path(path).parent_path();
    if (dir.empty()) dir = ".";
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)::fsync(fd);
        ::close(fd);
    }
}

boost::system::error_code pread_all(int fd, char* buf, std::size_t n, std::uint64_t off) {
    std::size_t done = 0;
    while (done < n) {
        const auto r = ::pread(fd, buf + done, n - done, static_cast<off_t>(off + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return last_errno();
        }
        if (r == 0) return boost::system::errc::make_error_code(boost::system::errc::io_error);
        done += static_cast<std::size_t>(r);
    }
    return {};
}

// The end of a file: enough bytes to hold its last three line breaks (or the whole file).
struct file_tail {
    std::string bytes;
    std::uint64_t start = 0;  // file offset of bytes[0]
};

boost::system::error_code read_tail(int fd, std::uint64_t size, file_tail& tail) {
    constexpr std::uint64_t chunk = 64 * 1024;
    std::uint64_t pos = size;
    tail.bytes.clear();
    while (pos > 0) {
        const std::uint64_t n = pos < chunk ? pos : chunk;
        pos -= n;
        std::string part(static_cast<std::size_t>(n), '\0');
        if (auto ec = pread_all(fd, part.data(), part.size(), pos)) return ec;
        tail.bytes.insert(0, part);
        std::size_t breaks = 0;
        for (char c : tail.bytes) breaks += c == '\n';
        if (breaks >= 3) break;
    }
    tail.start = pos;
    return {};
}

// The last complete line of `tail` ending before `end` (an offset into tail.bytes just past a
// '\n'); sets `line_start`.
std::string_view line_before(const file_tail& tail, std::size_t end, std::size_t& line_start) {
    const std::string_view all(tail.bytes);
    const std::size_t nl = end >= 2 ? all.rfind('\n', end - 2) : std::string_view::npos;
    line_start = nl == std::string_view::npos ? 0 : nl + 1;
    return all.substr(line_start, end - 1 - line_start);
}

std::uint64_t first_seq_of(int fd, std::uint64_t size) {
    char buf[40] = {};
    const std::size_t n = size < sizeof buf ? static_cast<std::size_t>(size) : sizeof buf;
    if (pread_all(fd, buf, n, 0)) return 0;
    constexpr std::string_view prefix = "{\"seq\":";
    const std::string_view s(buf, n);
    if (s.substr(0, prefix.size()) != prefix) return 0;
    std::uint64_t v = 0;
    std::from_chars(s.data() + prefix.size(), s.data() + s.size(), v);
    return v;
}

}  // namespace

file_writer::file_writer(writer_options options)
    : options_(std::move(options)),
      last_hash_(genesis_hash),
      retry_delay_(options_.retry_initial) {}

file_writer::~file_writer() {
    close();
    if (fd_ >= 0) ::close(fd_);
}

void file_writer::close() {
    {
        std::lock_guard lk(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    // An appender that was writing inline when stopping_ was set finishes first; then what was
    // written since the last checkpoint is signed.
    const std::lock_guard role(role_mutex_);
    if (options_.signer && unsigned_records_ > 0 && healthy_) write_checkpoint();
}

void file_writer::set_observer(std::function<void(std::string_view)> observer) {
    std::lock_guard lk(mutex_);
    observer_ = std::move(observer);
}

void file_writer::set_on_commit(std::function<void()> on_commit) {
    std::lock_guard lk(mutex_);
    on_commit_ = std::move(on_commit);
}

committed_position file_writer::committed() const {
    std::lock_guard lk(committed_mutex_);
    return committed_;
}

void file_writer::publish_committed() {
    std::lock_guard lk(committed_mutex_);
    committed_ = {active_device_, active_inode_, offset_, next_seq_ - 1};
}

void file_writer::prune() {
    if (!options_.retention.enabled()) return;
    const auto res = prune_trail(options_.path, options_.retention, all_shipped, now());
    files_pruned_ += res.files_removed;
    if (res.error) report("audit retention", res.error);
}

boost::system::error_code file_writer::start() {
    const auto ec = recover();
    if (ec) {
        mark_unhealthy(steady::now());
        failures_++;
        report("audit log recovery", ec);
    }
    last_checkpoint_ = steady::now();
    thread_ = std::thread([this] { run(); });
    return ec;
}

void file_writer::append(record&& r, bool durable, completion done) {
    // The writer role first (lock order): an idle writer lets this thread write the record itself.
    std::unique_lock role(role_mutex_, std::defer_lock);
    if (options_.inline_writes && !durable && options_.sync != sync_policy::always)
        (void)role.try_lock();
    boost::system::error_code refused;
    bool write_here = false;  // this thread writes `r` itself (borrowed_one)
    boost::system::error_code written;
    bool taken_along = false;  // queued while another appender writes inline: it writes this too
    {
        std::lock_guard lk(mutex_);
        if (stopping_) {
            refused = make_error_code(audit_error::shut_down);
        } else if (queue_.size() >= options_.max_queue) {
            refused = make_error_code(audit_error::queue_full);
        } else if (role.owns_lock() && queue_.empty() && inline_ready()) {
            // Its completion runs once the role is released (it may append again).
            write_here = true;
            ++enqueued_;
            inline_active_ = true;
        } else {
            queue_.push_back({std::move(r), durable, std::move(done)});
            ++enqueued_;
            queue_depth_ = queue_.size();
            taken_along = inline_active_ && !durable;
        }
    }
    if (refused) {
        // NOLINTNEXTLINE(bugprone-use-after-move): `done` is moved only when nothing is refused.
        if (done) done(refused);
        return;
    }
    if (!write_here) {
        if (role.owns_lock()) role.unlock();
        if (!taken_along) wake_.notify_one();
        return;
    }
    // Written here, its completion run here. The writer thread is told only when what it waits
    // for changed: the first record to sign (the interval checkpoint's clock starts), a checkpoint
    // due, a failure (its retries), or records left queued that this thread did not take along.
    const bool was_signed = unsigned_records_ == 0;
    // NOLINTNEXTLINE(bugprone-use-after-move): `r` is moved only into the queue, not here.
    borrowed_one own{{r, durable, [&written](boost::system::error_code ec) { written = ec; }}};
    unsigned_records_ += write_batch(own);
    const std::size_t along = write_taken_along();
    bool left = false;
    {
        std::lock_guard lk(mutex_);
        inline_active_ = false;
        left = !queue_.empty();
    }
    const bool tell =
        left || !healthy_ || (options_.signer && (was_signed || checkpoint_due(steady::now())));
    role.unlock();
    // NOLINTNEXTLINE(bugprone-use-after-move): `done` was moved only into the queue, not here.
    if (done) done(written);
    {
        std::lock_guard lk(mutex_);
        finished_ += 1 + along;
        rewake_ = rewake_ || tell;
    }
    drained_.notify_all();
    if (tell) wake_.notify_one();
}

// Under the role, after an inline write: the records other threads queued meanwhile, up to the
// first durable one (its group commit and fdatasync are the writer thread's, which its appender
// told), written as the writer thread would write them, their completions run here. At most
// `max_taken_along` records: what is left is the writer thread's. Returns how many it wrote.
std::size_t file_writer::write_taken_along() {
    constexpr std::size_t max_taken_along = 64;
    std::size_t total = 0;
    std::vector<pending>& more = along_batch_;
    while (total < max_taken_along) {
        {
            std::lock_guard lk(mutex_);
            while (!queue_.empty() && !queue_.front().durable &&
                   total + more.size() < max_taken_along && inline_ready()) {
                more.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
            queue_depth_ = queue_.size();
        }
        if (more.empty()) break;
        unsigned_records_ += write_batch(more);
        total += more.size();
        more.clear();
    }
    return total;
}

// Under the writer role: the active file is open and healthy, and this record will not rotate it
// (a rotation renames, opens and prunes: the writer thread's work).
bool file_writer::inline_ready() const {
    if (fd_ < 0 || !healthy_) return false;
    constexpr std::uint64_t headroom = 64 * 1024;  // more than any record's line
    if (offset_ + headroom > options_.rotate_bytes) return false;
    return !options_.rotate_daily || utc_day(now()) == file_day_;
}

bool file_writer::healthy() const { return healthy_.load(); }

void file_writer::flush() {
    std::unique_lock lk(mutex_);
    const std::uint64_t target = enqueued_;
    drained_.wait(lk, [&] { return finished_ >= target; });
}

writer_counters file_writer::counters() const {
    writer_counters c;
    c.records_written = records_written_.load();
    c.bytes_written = bytes_written_.load();
    c.fsyncs = fsyncs_.load();
    c.failures = failures_.load();
    c.rotations = rotations_.load();
    c.torn_lines = torn_lines_.load();
    c.queue_depth = queue_depth_.load();
    c.files_pruned = files_pruned_.load();
    return c;
}

std::time_t file_writer::now() const {
    return options_.clock ? options_.clock() : std::time(nullptr);
}

std::string file_writer::time_text() const {
    std::time_t seconds = 0;
    long millis = 0;
    if (options_.clock) {
        seconds = options_.clock();
    } else {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
        seconds = static_cast<std::time_t>(ms / 1000);
        millis = static_cast<long>(ms % 1000);
    }
    std::tm tm{};
    ::gmtime_r(&seconds, &tm);
    char buf[40];
    const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out(buf, n);
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03ldZ", millis);
    return out + frac;
}

void file_writer::report(const std::string& what, boost::system::error_code ec) const {
    if (options_.on_error) options_.on_error(what + " failed: " + ec.message());
}

void file_writer::run() {
    const auto woken = [&] { return stopping_ || !queue_.empty() || rewake_; };
    for (;;) {
        // Without an append the thread still wakes to retry while unhealthy (the proxy refuses
        // exports before appending, so no batch would) and to sign an interval checkpoint.
        std::optional<steady::time_point> at;
        {
            const std::lock_guard role(role_mutex_);
            at = next_wake();
        }
        std::unique_lock lk(mutex_);
        if (at)
            (void)wake_.wait_until(lk, *at, woken);
        else
            wake_.wait(lk, woken);
        rewake_ = false;
        if (queue_.empty()) {
            if (stopping_) break;  // stopping and drained
            lk.unlock();
            const std::lock_guard role(role_mutex_);
            const auto t = steady::now();
            if (!healthy_ && retry_at_ && t >= *retry_at_) heal(t);
            if (checkpoint_due(t)) write_checkpoint();
            continue;
        }
        // The role before the queue (lock order); what is queued meanwhile stays queued.
        lk.unlock();
        std::unique_lock role(role_mutex_);
        lk.lock();
        std::deque<pending> batch;
        batch.swap(queue_);
        queue_depth_ = 0;
        lk.unlock();
        unsigned_records_ += write_batch(batch);
        if (checkpoint_due(steady::now())) write_checkpoint();
        role.unlock();
        lk.lock();
        finished_ += batch.size();
        drained_.notify_all();
    }
}

std::optional<file_writer::steady::time_point> file_writer::next_wake() const {
    std::optional<steady::time_point> at;
    if (!healthy_ && retry_at_) at = retry_at_;
    if (options_.signer && healthy_ && unsigned_records_ > 0) {
        const auto due = last_checkpoint_ + options_.checkpoint_interval;
        if (!at || due < *at) at = due;
    }
    return at;
}

bool file_writer::checkpoint_due(steady::time_point t) const {
    return options_.signer && healthy_ && unsigned_records_ > 0 &&
           (unsigned_records_ >= options_.checkpoint_every ||
            t >= last_checkpoint_ + options_.checkpoint_interval);
}

void file_writer::mark_unhealthy(steady::time_point t) {
    healthy_ = false;
    if (retry_at_) return;  // a retry is already due: failed batches do not push it back
    retry_at_ = t + retry_delay_;
    retry_delay_ = std::min(retry_delay_ * 2, options_.retry_max);
}

void file_writer::heal(steady::time_point t) {
    retry_at_.reset();
    if (probe()) {
        mark_unhealthy(t);
        return;
    }
    // The next failure starts the backoff where this one left it; a batch that succeeds resets it.
    healthy_ = true;
}

boost::system::error_code file_writer::probe() {
    if (fd_ < 0) {
        if (auto ec = recover()) return ec;
    }
    // Opening proves little on a full disk: write a block past the last whole line, sync it by
    // policy and cut it off again. Never a record: should the process die in between, start-up
    // sets the block (spaces, no line break) aside as a torn last line.
    static const std::string block(4096, ' ');
    if (auto ec = write_all(block)) return ec;  // cut back already
    boost::system::error_code ec;
    if (options_.sync != sync_policy::none && ::fdatasync(fd_) != 0) ec = last_errno();
    if (::ftruncate(fd_, static_cast<off_t>(offset_)) != 0) {
        if (!ec) ec = last_errno();
        ::close(fd_);  // the next batch recovers and sets the block aside
        fd_ = -1;
    }
    return ec;
}

void file_writer::write_checkpoint() {
    last_checkpoint_ = steady::now();  // also after a failure: the next try waits its turn
    record cp;
    try {
        cp.id = new_record_id();
    } catch (const std::runtime_error&) {
        report("audit checkpoint", make_error_code(audit_error::shut_down));
        return;
    }
    cp.time = time_text();
    cp.decision = "checkpoint";
    cp.checkpoint_seq = next_seq_ - 1;
    cp.checkpoint_hash = last_hash_;
    cp.checkpoint_key_id = options_.signer->key_id();
    cp.checkpoint_signature = options_.signer->sign(cp.checkpoint_seq, cp.checkpoint_hash);
    if (cp.checkpoint_signature.empty()) {
        report("audit checkpoint signature",
               boost::system::errc::make_error_code(boost::system::errc::protocol_error));
        return;
    }
    std::deque<pending> one;
    one.push_back({std::move(cp), true, nullptr});
    if (write_batch(one) == 1) unsigned_records_ = 0;
}

boost::system::error_code file_writer::open_active() {
    fd_ = ::open(options_.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) return last_errno();
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return last_errno();
    active_device_ = static_cast<std::uint64_t>(st.st_dev);
    active_inode_ = static_cast<std::uint64_t>(st.st_ino);
    return {};
}

boost::system::error_code file_writer::recover() {
    // Until recovery succeeds there is no descriptor, so no batch can write over damage.
    const auto ec = recover_trail();
    if (ec && fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    // A trail that does not end in a checkpoint has records to sign (a crash left them so).
    if (!ec && !head_signed_ && unsigned_records_ == 0) unsigned_records_ = 1;
    if (!ec) publish_committed();  // a torn tail is cut off: the file is whole up to offset_
    return ec;
}

boost::system::error_code file_writer::recover_trail() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    if (auto ec = open_active()) return ec;
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return last_errno();
    const auto size = static_cast<std::uint64_t>(st.st_size);
    boost::json::parser parser;
    record last;

    if (size > 0) {
        file_tail tail;
        if (auto ec = read_tail(fd_, size, tail)) return ec;
        const std::string_view all(tail.bytes);
        // Complete lines end at good_end; anything after it is a torn line.
        std::size_t good_end = all.rfind('\n');
        good_end = good_end == std::string_view::npos ? 0 : good_end + 1;
        bool found = false;
        for (int attempt = 0; attempt < 2 && good_end > 0; ++attempt) {
            std::size_t start = 0;
            const auto line = line_before(tail, good_end, start);
            if (!parse_line(line, parser, last)) {
                found = true;
                break;
            }
            if (attempt == 1) return make_error_code(audit_error::corrupt_log);
            good_end = start;  // an unparsable last line is torn too (crash mid-write)
        }
        if (!found && good_end > 0) return make_error_code(audit_error::corrupt_log);
        const std::uint64_t good_size = tail.start + good_end;
        if (good_size < size) {
            // Set the torn bytes aside, then cut them off, so the chain ends on a whole line.
            std::string torn_path = options_.path + ".torn-" + utc_stamp(now());
            int tfd = -1;
            for (int k = 0; k < 100 && tfd < 0; ++k) {
                const std::string candidate =
                    k == 0 ? torn_path : torn_path + "-" + std::to_string(k);
                tfd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
                if (tfd >= 0)
                    torn_path = candidate;
                else if (errno != EEXIST)
                    return last_errno();
            }
            if (tfd < 0) return last_errno();
            const std::string_view torn = all.substr(good_end);
            std::size_t done = 0;
            while (done < torn.size()) {
                const auto w = ::write(tfd, torn.data() + done, torn.size() - done);
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) {
                    const auto ec = last_errno();
                    ::close(tfd);
                    return ec;
                }
                done += static_cast<std::size_t>(w);
            }
            const bool synced = ::fsync(tfd) == 0;
            ::close(tfd);
            if (!synced) return last_errno();
            if (::ftruncate(fd_, static_cast<off_t>(good_size)) != 0 || ::fsync(fd_) != 0)
                return last_errno();
            torn_lines_++;
            if (options_.on_torn) options_.on_torn(torn_path, torn.size());
        }
        offset_ = good_size;
        file_day_ = utc_day(st.st_mtime);
        file_first_seq_ = good_size > 0 ? first_seq_of(fd_, good_size) : 0;
        if (found) {
            next_seq_ = last.seq + 1;
            last_hash_ = last.hash;
            head_signed_ = last.decision == "checkpoint";
            return {};
        }
    }
    // The active file is empty: the chain continues from the newest rotated file, if any.
    offset_ = 0;
    file_first_seq_ = 0;
    file_day_ = utc_day(now());
    next_seq_ = 1;
    last_hash_ = std::string(genesis_hash);
    head_signed_ = true;
    const auto files = find_log_files(options_.path);
    // NOLINTNEXTLINE(modernize-loop-convert): newest first; clang 14 rejects views::reverse
    for (auto it = files.rbegin(); it != files.rend(); ++it) {
        if (it->active) continue;
        const int rfd = ::open(it->path.c_str(), O_RDONLY | O_CLOEXEC);
        if (rfd < 0) return last_errno();
        struct stat rst {};
        file_tail tail;
        boost::system::error_code ec;
        if (::fstat(rfd, &rst) != 0) ec = last_errno();
        if (!ec) ec = read_tail(rfd, static_cast<std::uint64_t>(rst.st_size), tail);
        ::close(rfd);
        if (ec) return ec;
        if (tail.bytes.empty()) continue;
        if (tail.bytes.back() != '\n') return make_error_code(audit_error::corrupt_log);
        std::size_t start = 0;
        if (parse_line(line_before(tail, tail.bytes.size(), start), parser, last))
            return make_error_code(audit_error::corrupt_log);
        next_seq_ = last.seq + 1;
        last_hash_ = last.hash;
        head_signed_ = last.decision == "checkpoint";
        return {};
    }
    // No record left at all: retention pruned every rotated file right after a rotation. The
    // chain goes on after the last record pruned (the pruning anchor), never from seq 1 again.
    if (const auto text = read_small_file(pruned_anchor_path(options_.path))) {
        if (const auto anchor = parse_pruned_anchor(*text)) {
            next_seq_ = anchor->through_seq + 1;
            last_hash_ = anchor->hash;
        }
    }
    return {};
}

boost::system::error_code file_writer::write_all(std::string_view bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const auto w = ::pwrite(fd_, bytes.data() + done, bytes.size() - done,
                                static_cast<off_t>(offset_ + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            const auto ec =
                w < 0
                    ? last_errno()
                    : boost::system::errc::make_error_code(boost::system::errc::no_space_on_device);
            // Never leave half a line: cut back to the last whole record. If even that fails,
            // drop the descriptor so the next batch recovers (and sets the torn tail aside).
            if (::ftruncate(fd_, static_cast<off_t>(offset_)) != 0) {
                ::close(fd_);
                fd_ = -1;
            }
            return ec;
        }
        done += static_cast<std::size_t>(w);
    }
    return {};
}

boost::system::error_code file_writer::rotate() {
    const fs::path active(options_.path);
    const std::time_t now = this->now();
    const fs::path rotated =
        active.parent_path() / (active.stem().string() + "-" + utc_stamp(now) + "-" +
                                std::to_string(file_first_seq_) + ".jsonl");
    struct stat st {};
    if (::stat(rotated.c_str(), &st) == 0)
        return boost::system::errc::make_error_code(boost::system::errc::file_exists);
    if (::rename(options_.path.c_str(), rotated.c_str()) != 0) return last_errno();
    ::close(fd_);
    fd_ = -1;
    offset_ = 0;
    file_first_seq_ = 0;
    file_day_ = utc_day(now);
    rotations_++;
    if (options_.sync != sync_policy::none) sync_dir_of(options_.path);
    // A failure here leaves fd_ closed: the next batch recovers from the rotated file.
    if (auto ec = open_active()) return ec;
    publish_committed();
    return {};
}

template <class Batch>
std::size_t file_writer::write_batch(Batch& batch) {
    boost::system::error_code ec;
    if (fd_ < 0) ec = recover();

    std::function<void(std::string_view)> observer;
    std::function<void()> on_commit;
    {
        std::lock_guard lk(mutex_);
        observer = observer_;
        on_commit = on_commit_;
    }
    std::string& buf = batch_bytes_;
    buf.clear();
    std::size_t committed = 0;  // batch[0, committed) are written (and synced by policy)
    std::size_t seg_begin = 0;
    bool seg_durable = false;
    std::uint64_t seq = next_seq_;
    std::string hash = last_hash_;
    std::string& line = line_;

    auto flush_segment = [&](std::size_t end, bool sync_now) -> boost::system::error_code {
        if (buf.empty()) return {};
        if (auto e = write_all(buf)) return e;
        if (sync_now) {
            fsyncs_++;
            if (::fdatasync(fd_) != 0) {
                const auto e = last_errno();
                // The kernel may have dropped the pages: forget the whole segment.
                if (::ftruncate(fd_, static_cast<off_t>(offset_)) != 0) {
                    ::close(fd_);
                    fd_ = -1;
                }
                return e;
            }
        }
        if (file_first_seq_ == 0) file_first_seq_ = next_seq_;
        offset_ += buf.size();
        bytes_written_ += buf.size();
        records_written_ += end - seg_begin;
        next_seq_ = seq;
        last_hash_ = hash;
        publish_committed();
        if (on_commit) on_commit();
        if (observer) {
            std::string_view rest(buf);
            while (!rest.empty()) {
                const auto nl = rest.find('\n');
                observer(rest.substr(0, nl + 1));
                rest.remove_prefix(nl + 1);
            }
        }
        committed = end;
        seg_begin = end;
        seg_durable = false;
        buf.clear();
        return {};
    };
    auto must_sync = [&](bool rotating) {
        switch (options_.sync) {
            case sync_policy::none:
                return false;
            case sync_policy::always:
                return true;
            case sync_policy::blocked:
                return seg_durable || rotating;
        }
        return true;
    };

    if (!ec && fd_ < 0) ec = make_error_code(audit_error::corrupt_log);
    for (std::size_t i = 0; !ec && i < batch.size(); ++i) {
        record& r = batch[i].rec;
        if (r.replica.empty()) r.replica = options_.replica;
        r.seq = seq;
        r.prev_hash = hash;
        line.clear();
        append_canonical(r, line);
        char hex[64];
        hasher_.hash_hex(r.prev_hash, line, {}, hex);
        r.hash.assign(hex, sizeof hex);
        // The line is the canonical bytes with the hash member spliced in before the brace.
        line.pop_back();
        line.append(",\"hash\":\"").append(hex, sizeof hex).append("\"}\n");
        const std::uint64_t size = offset_ + buf.size();
        const bool new_day = options_.rotate_daily && utc_day(now()) != file_day_;
        if (size > 0 && (new_day || size + line.size() > options_.rotate_bytes)) {
            ec = flush_segment(i, must_sync(true));
            if (!ec) ec = rotate();
            if (ec) break;
            prune();
        }
        buf += line;
        seq++;
        hash = r.hash;
        seg_durable = seg_durable || batch[i].durable;
    }
    if (!ec) ec = flush_segment(batch.size(), must_sync(false));

    if (ec) {
        failures_++;
        mark_unhealthy(steady::now());
        report("audit write", ec);
    } else {
        healthy_ = true;
        retry_at_.reset();
        retry_delay_ = options_.retry_initial;
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (batch[i].done) batch[i].done(i < committed ? boost::system::error_code{} : ec);
    }
    // Keep the buffer for the next batch unless a burst made it large.
    if (buf.capacity() > (std::size_t{16} << 20)) std::string().swap(buf);
    return committed;
}

}  // namespace exportwall::audit
