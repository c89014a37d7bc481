#pragma once
// Forwarding the audit trail to a SIEM as RFC 5424 syslog: UDP, TCP with RFC 6587 octet-counting
// framing, or TLS per RFC 5425. The forwarder is a reader of the trail's files (audit/
// trail_cursor.hpp): it sends their committed lines in order from where the collector last
// acknowledged, and keeps that position in a state file beside the trail (audit/trail_marks.hpp)
// — so an outage of the collector, or a restart of exportwall, delays records but loses none.
//
// What "acknowledged" means (docs/audit-trail.md, "SIEM forwarding"): syslog over TCP has no
// application acknowledgement, so it is the collector's TCP stack's (Linux SIOCOUTQ), counted in
// bytes on the wire (TLS records included), and a record counts as delivered once acknowledged
// and the connection then stayed up for `settle`. After a connection loss everything not
// delivered is sent again: delivery is at least once, and each record's id tells a duplicate.
// UDP is best effort: a datagram counts as sent once the socket took it.
//
// Never blocks the exporter: the forwarder has its own thread and reads the files; the writer
// only wakes it (file_writer::set_on_commit → notify()).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "audit/file_writer.hpp"
#include "audit/syslog_connection.hpp"
#include "audit/trail_cursor.hpp"
#include "audit/trail_marks.hpp"
#include "audit/trail_retention.hpp"

namespace exportwall::audit {

struct syslog_options {
    std::string trail_path = "audit.jsonl";  // the active file of the trail to forward
    std::string state_path;                  // "": syslog_state_path(trail_path)
    // The writer's committed position (file_writer::committed()), when the writer runs in this
    // process; empty: every whole line of the files counts as committed.
    std::function<committed_position()> committed;
    std::string host = "127.0.0.1";  // numeric address or name
    std::uint16_t port = 514;
    syslog_transport transport = syslog_transport::udp;
    syslog_tls_options tls;
    std::string app_name = "exportwall";
    std::string hostname;  // RFC 5424 HOSTNAME; "": gethostname()
    int facility = 13;     // log audit
    // Reconnects wait retry_initial, doubling up to retry_max, after a failed connection.
    std::chrono::milliseconds retry_initial{100};
    std::chrono::milliseconds retry_max{5'000};
    std::chrono::milliseconds io_timeout{5'000};  // a connect with its TLS handshake
    // A record acknowledged by the collector's TCP counts as delivered once the connection has
    // stayed up this long since: a collector that dies with records in its buffers (read or not)
    // gets the last `settle` of them again. 0: delivered when acknowledged.
    std::chrono::milliseconds settle{1'000};
    // Without a notify() the forwarder looks at the trail this often (a writer in another
    // process, a missed wake-up).
    std::chrono::milliseconds poll_interval{1'000};
    // The delivered position is written to the state file at most this often (and at stop).
    std::chrono::milliseconds state_interval{1'000};
    // Rotated files are pruned by this budget once shipped (audit/trail_retention.hpp).
    retention_policy retention;
    // Called (forwarder thread) on a connection failure, a state or retention problem; names no
    // record contents.
    std::function<void(const std::string& message)> on_error;
};

struct syslog_counters {
    std::uint64_t sent = 0;    // records acknowledged by the collector (UDP: taken by the socket)
    std::uint64_t resent = 0;  // records sent again after a connection loss
    std::uint64_t lost = 0;    // UDP only: datagrams the socket refused
    std::uint64_t reconnects = 0;       // connections opened after the first
    std::uint64_t errors = 0;           // failed connections, sends and lost connections
    std::uint64_t records_pending = 0;  // gauge: committed records not yet acknowledged
    std::uint64_t bytes_pending = 0;    // gauge: their bytes in the trail's files
    std::uint64_t files_pruned = 0;     // rotated files removed by `retention` once shipped
    // Gauge: rotated files over the retention budget kept because they are not shipped yet.
    std::uint64_t files_kept_unshipped = 0;
};

class syslog_forwarder {
  public:
    // Reads the state file and starts the thread: it resumes after the delivered position (the
    // start of the trail without a state file).
    explicit syslog_forwarder(syslog_options options);
    // Sends what it can for up to stop_timeout (default 2 s), saves the position, stops.
    ~syslog_forwarder();
    syslog_forwarder(const syslog_forwarder&) = delete;
    syslog_forwarder& operator=(const syslog_forwarder&) = delete;

    // The writer committed lines: look at the trail now. Never blocks; any thread.
    void notify();

    // Waits until every line committed before this call is acknowledged by the collector (UDP:
    // sent), or `timeout` passes; true in the first case.
    [[nodiscard]] bool flush(std::chrono::milliseconds timeout);

    // Drops the connection: the next record goes over a new one (the host name resolved again,
    // the TLS files read again), at once, without waiting for the reconnect backoff. For SIGUSR1,
    // like a log file's reopen: after the collector moved, was restarted or got a new
    // certificate. Never blocks; any thread.
    void reconnect();

    // How long the destructor keeps sending. Set before destruction; any thread.
    void set_stop_timeout(std::chrono::milliseconds t) { stop_timeout_ms_ = t.count(); }

    [[nodiscard]] syslog_counters counters() const;
    // The last record delivered (and saved to the state file at the next state_interval).
    [[nodiscard]] trail_position delivered() const;

    // The RFC 5424 message for one audit line: PRI from the facility and the decision's severity,
    // MSGID = decision, MSG = the JSON record.
    [[nodiscard]] static std::string format_message(const syslog_options& options,
                                                    std::string_view line);

  private:
    // A record written to the connection, waiting for its acknowledgement (then for `settle`).
    struct in_flight {
        trail_position after;
        std::uint64_t wire_end = 0;  // acknowledged once wire_acknowledged() reaches it
        std::chrono::steady_clock::time_point acked_at{};
    };
    // Framed records read from the trail, not yet wholly written to the connection.
    struct batch {
        std::string bytes;
        std::size_t written = 0;
        std::vector<std::pair<std::size_t, trail_position>> ends;  // end in bytes → position
        std::size_t records_written = 0;  // entries of `ends` wholly written
        std::uint64_t wire_base = 0;      // TCP: wire_written() when bytes[0] was written
    };

    void run();
    // One turn of the loop; true when it made progress (read, wrote or acknowledged something).
    bool step(std::chrono::steady_clock::time_point now);
    bool ensure_connected(std::chrono::steady_clock::time_point now);
    bool write_batch(std::chrono::steady_clock::time_point now);
    bool take_acknowledgements(std::chrono::steady_clock::time_point now);
    [[nodiscard]] bool take_reconnect_request();
    void reconnect_now(std::chrono::steady_clock::time_point now);
    void lose_connection(const std::string& why, bool count_error);
    void fill_batch();
    void save_state(bool force, std::chrono::steady_clock::time_point now);
    void maintain(std::chrono::steady_clock::time_point now);
    void report(const std::string& message) const;
    void set_delivered(const trail_position& p);
    void set_acked(const trail_position& p);
    [[nodiscard]] std::uint64_t bytes_pending() const;
    [[nodiscard]] bool idle() const;

    syslog_options options_;
    std::string hostname_;  // the RFC 5424 HOSTNAME

    mutable std::mutex mutex_;
    std::condition_variable wake_, idle_cv_;
    bool notified_ = false;
    bool stopping_ = false;
    bool reconnect_requested_ = false;
    std::uint64_t flush_ticket_ = 0;  // flush() calls so far
    std::uint64_t idle_ticket_ = 0;   // the last flush ticket the thread found itself idle for
    trail_position delivered_;        // under mutex_ (written by the thread)
    trail_position acked_shared_;     // acked_, under mutex_ for counters()
    std::atomic<std::int64_t> stop_timeout_ms_{2'000};

    // Forwarder-thread state.
    trail_cursor cursor_;
    syslog_connection conn_;
    batch batch_;
    std::deque<in_flight> unacked_;   // written, not acknowledged yet
    std::deque<in_flight> settling_;  // acknowledged, waiting for `settle`
    trail_position acked_;            // the last record acknowledged
    trail_position saved_;            // what the state file holds
    bool connected_once_ = false;
    bool read_nothing_ = false;  // the last read found no new line
    std::chrono::steady_clock::time_point retry_at_{};
    std::chrono::milliseconds backoff_;
    std::chrono::steady_clock::time_point last_save_{}, last_maintain_{};
    std::uint64_t pruned_through_file_ = 0;  // delivered_.file_first_seq at the last prune
    bool state_error_reported_ = false;
    std::thread thread_;

    std::atomic<std::uint64_t> sent_{0}, resent_{0}, lost_{0}, reconnects_{0}, errors_{0},
        acked_seq_{0}, read_seq_{0}, files_pruned_{0}, files_kept_unshipped_{0};
};

}  // namespace exportwall::audit
