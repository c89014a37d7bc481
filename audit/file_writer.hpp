#pragma once
// The durable, hash-chained audit writer: one dedicated thread appends lines to the active file,
// fsyncs by policy (group commit), rotates by size and UTC day, recovers from a torn last line,
// heals by itself after a write failure, and signs the chain head into the chain (checkpoints).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "audit/checkpoint.hpp"
#include "audit/record.hpp"
#include "audit/serialize.hpp"
#include "audit/trail_retention.hpp"

namespace exportwall::audit {

// When the writer calls fdatasync.
enum class sync_policy : std::uint8_t {
    none,     // never: a record is in the page cache when its completion runs
    blocked,  // before completing a batch holding a durable record (one sync covers the batch)
    always,   // after every batch
};

struct writer_options {
    std::string path = "audit.jsonl";  // the active file; rotated and torn files sit beside it
    sync_policy sync = sync_policy::blocked;
    std::uint64_t rotate_bytes = 256ull << 20;  // rotate before a line would pass this size
    bool rotate_daily = true;                   // rotate when the UTC day changes
    std::size_t max_queue = 65536;              // appends beyond this fail with queue_full
    // Called (writer thread) when start-up set a torn last line aside into `torn_path`; never
    // receives the bytes themselves. on_error, like the observer and on_commit below, runs on
    // whichever thread writes (inline_writes): one at a time, in order.
    std::function<void(const std::string& torn_path, std::uint64_t bytes)> on_torn;
    // Called (writer thread) for each failure to write, sync, rotate or open; the message names
    // the operation and the error, never a record's contents.
    std::function<void(const std::string& message)> on_error;
    // The wall clock for rotation and file names (tests move it across midnight); empty: time().
    // Also the time of checkpoint records when set (whole seconds then).
    std::function<std::time_t()> clock;
    // Signed checkpoints (audit/checkpoint.hpp; docs/audit-trail.md): with a signer, the writer
    // thread appends a "checkpoint" record signing the committed chain head after the batch that
    // brings the records since the last checkpoint to checkpoint_every, when checkpoint_interval
    // has passed since the last one with records unsigned, and at close(). Never while
    // unhealthy. Null: no checkpoints.
    std::shared_ptr<const checkpoint_signer> signer;
    std::uint64_t checkpoint_every = 1000;
    std::chrono::milliseconds checkpoint_interval{60'000};
    // While unhealthy, the writer thread tries to heal on its own (reopen and recover the trail,
    // then write a block past the last record, sync it and cut it off again): first after
    // retry_initial, then doubling up to retry_max, until it succeeds or a batch does.
    std::chrono::milliseconds retry_initial{100};
    std::chrono::milliseconds retry_max{5'000};
    // The replica name written into every record that names none (record::replica); "": none.
    std::string replica;
    // A record that need not be durable (append's `durable` false; sync none or blocked) is
    // written by the thread that appends it when the writer is idle — nothing queued, healthy, no
    // rotation due: one write(2) to the page cache and its completion run before append()
    // returns, without the hand-off to the writer thread and back. A record appended while an
    // appender writes inline is queued and written by that appender before it lets the writer
    // role go (up to 64, in order, its completion run on that thread), not by a woken writer
    // thread. Durable records go through the writer thread's group commit.
    // False: every record through the writer thread.
    bool inline_writes = true;
    // Pruning of rotated files by budget (audit/trail_retention.hpp), after each rotation, every
    // file counting as shipped. Leave it empty when a syslog forwarder prunes: it knows what is
    // shipped.
    retention_policy retention;
};

// How far the writer has committed the active file: its identity and the bytes of whole lines
// written (and synced by policy). Bytes past `offset` may be a line being written or one a
// failed write is about to cut off: a reader that must see only the trail stops at `offset`.
struct committed_position {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;  // 0 until the writer has opened an active file
    std::uint64_t offset = 0;
    std::uint64_t last_seq = 0;  // the seq of the last committed record; 0: none
};

// Monotonic counters for /metrics.
struct writer_counters {
    std::uint64_t records_written = 0;
    std::uint64_t bytes_written = 0;
    std::uint64_t fsyncs = 0;
    std::uint64_t failures = 0;  // failed batches (write, sync, rotate or open errors)
    std::uint64_t rotations = 0;
    std::uint64_t torn_lines = 0;
    std::uint64_t queue_depth = 0;   // gauge: records waiting for the writer thread
    std::uint64_t files_pruned = 0;  // rotated files removed by options.retention
};

class file_writer final : public sink {
  public:
    explicit file_writer(writer_options options);
    file_writer(const file_writer&) = delete;
    file_writer& operator=(const file_writer&) = delete;
    // Writes everything queued, then stops the thread.
    ~file_writer() override;

    // Recovers the trail (resumes seq and prev_hash, sets a torn last line aside) and starts the
    // writer thread. The thread starts even on error and keeps retrying (retry_initial ..
    // retry_max), so the writer heals when the cause goes away. Call once, before append().
    [[nodiscard]] boost::system::error_code start();

    void append(record&& r, bool durable, completion done) override;
    // False from a failed write, sync, rotation or open until a batch or the writer thread's own
    // retry succeeds: it turns true again by itself, without an append, once the cause is gone.
    [[nodiscard]] bool healthy() const override;

    // Writes everything queued, then (with a signer, records unsigned and the trail healthy) a
    // last checkpoint, and stops the thread; later appends fail with shut_down. The destructor
    // calls it.
    void close();

    // Waits until every record appended before this call is written (or failed).
    void flush();

    [[nodiscard]] writer_counters counters() const;

    // Receives each committed line (after write and any sync), in seq order, on the thread that
    // wrote it (the writer thread, or an appender with inline_writes; never two at once). Set
    // before start().
    void set_observer(std::function<void(std::string_view line)> observer);

    // Called by the thread that wrote, after lines were committed (committed() has moved): the
    // syslog forwarder's wake-up. Must not block. Any thread may set it, at any time.
    void set_on_commit(std::function<void()> on_commit);

    // Where the active file is committed up to. Any thread.
    [[nodiscard]] committed_position committed() const;

  private:
    struct pending {
        record rec;
        bool durable;
        completion done;
    };
    // The record an appender writes itself, written where it is: a batch of one that borrows
    // the appender's record (a record is ~45 members; moving it into a batch cost ~1,200
    // instructions an export).
    struct borrowed_one {
        struct entry {
            record& rec;
            bool durable;
            completion done;
        };
        entry only;
        [[nodiscard]] static std::size_t size() { return 1; }
        entry& operator[](std::size_t) { return only; }
    };

    using steady = std::chrono::steady_clock;

    void run();
    // Under the writer role: whether an appender may write its record itself now.
    [[nodiscard]] bool inline_ready() const;
    // After an inline write, under the role: what other appenders queued meanwhile (see
    // inline_active_). Returns how many records it wrote.
    std::size_t write_taken_along();
    // Writes the batch and runs its completions; returns how many of its records are committed.
    // `Batch`: the writer thread's deque, the records an inline write takes along (a vector), or
    // the inline write's own record (borrowed_one).
    template <class Batch>
    std::size_t write_batch(Batch& batch);
    // Appends a checkpoint record signing the committed head (next_seq_ - 1, last_hash_).
    void write_checkpoint();
    [[nodiscard]] bool checkpoint_due(steady::time_point t) const;
    // The next time the thread must wake without an append: a retry, or an interval checkpoint.
    [[nodiscard]] std::optional<steady::time_point> next_wake() const;
    void mark_unhealthy(steady::time_point t);
    // One retry while unhealthy: recover if there is no descriptor, then probe().
    void heal(steady::time_point t);
    [[nodiscard]] boost::system::error_code probe();
    [[nodiscard]] boost::system::error_code open_active();
    [[nodiscard]] boost::system::error_code recover();
    [[nodiscard]] boost::system::error_code recover_trail();
    [[nodiscard]] boost::system::error_code rotate();
    [[nodiscard]] boost::system::error_code write_all(std::string_view bytes);
    void publish_committed();
    void prune();
    void report(const std::string& what, boost::system::error_code ec) const;
    [[nodiscard]] std::time_t now() const;
    [[nodiscard]] std::string time_text() const;  // RFC 3339 UTC with milliseconds

    writer_options options_;
    std::function<void(std::string_view)> observer_;
    std::function<void()> on_commit_;  // under mutex_

    // The writer role: whoever holds it (the writer thread, or an appender writing inline) owns
    // the writer-thread state below. Taken before mutex_, never after it.
    std::mutex role_mutex_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    // An inline write changed what the writer thread waits for (records to sign on an interval,
    // a retry after a failure): it recomputes its wake-up time (under mutex_).
    bool rewake_ = false;
    // An appender holds the role and writes inline: it also writes what other threads queue
    // meanwhile (the non-durable records at the queue's front) before it lets the role go, so
    // their appenders need not wake the writer thread (under mutex_).
    bool inline_active_ = false;
    std::condition_variable drained_;
    std::deque<pending> queue_;
    std::uint64_t enqueued_ = 0;  // records ever queued (under mutex_)
    std::uint64_t finished_ = 0;  // records ever completed (under mutex_)
    bool stopping_ = false;
    std::thread thread_;

    mutable std::mutex committed_mutex_;
    committed_position committed_;  // under committed_mutex_

    // Writer-thread state (under role_mutex_).
    int fd_ = -1;
    std::uint64_t active_device_ = 0, active_inode_ = 0;  // of the file fd_ was opened on
    std::uint64_t offset_ = 0;  // bytes of complete lines in the active file
    std::uint64_t next_seq_ = 1;
    std::string last_hash_;
    std::uint64_t file_first_seq_ = 0;    // 0 while the active file is empty
    std::int64_t file_day_ = 0;           // UTC day the active file belongs to
    chain_hasher hasher_;                 // one digest context for every record
    std::string batch_bytes_;             // a batch's lines, reused: no allocation per batch
    std::string line_;                    // one record's line, reused
    // The records an inline write takes along: a vector kept from write to write, so that it
    // allocates nothing for them (a deque of records allocates a node per record pushed, and its
    // map when built).
    std::vector<pending> along_batch_;
    bool head_signed_ = true;             // recovery found a checkpoint (or nothing) last
    std::uint64_t unsigned_records_ = 0;  // committed since the last checkpoint (none counted)
    steady::time_point last_checkpoint_{};
    std::optional<steady::time_point> retry_at_;  // set while unhealthy
    std::chrono::milliseconds retry_delay_;

    std::atomic<bool> healthy_{true};
    std::atomic<std::uint64_t> records_written_{0}, bytes_written_{0}, fsyncs_{0}, failures_{0},
        rotations_{0}, torn_lines_{0}, queue_depth_{0}, files_pruned_{0};
};

}  // namespace exportwall::audit
