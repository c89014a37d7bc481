#pragma once
// Forwarding the audit trail to a SIEM as RFC 5424 syslog (UDP, or TCP with RFC 6587
// octet-counting framing). Never blocks the exporter: a bounded queue and its own thread; the
// file stays the record of truth, so an outage only counts the messages it could not deliver.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "audit/file_writer.hpp"
#include "audit/record.hpp"

namespace exportwall::audit {

struct syslog_options {
    std::string host = "127.0.0.1";  // numeric address or name
    std::uint16_t port = 514;
    bool tcp = false;
    std::string app_name = "exportwall";
    int facility = 13;              // log audit
    std::size_t max_queue = 10000;  // messages beyond this are dropped and counted
    // Called (forwarder thread) on connection loss or failure; names no record contents.
    std::function<void(const std::string& message)> on_error;
};

struct syslog_counters {
    std::uint64_t sent = 0;
    std::uint64_t lost = 0;        // dropped: queue full, or the collector unreachable
    std::uint64_t reconnects = 0;  // TCP connections opened after the first
    std::uint64_t queue_depth = 0;
};

class syslog_forwarder {
  public:
    explicit syslog_forwarder(syslog_options options);
    // Sends what is queued if the collector is reachable, then stops.
    ~syslog_forwarder();
    syslog_forwarder(const syslog_forwarder&) = delete;
    syslog_forwarder& operator=(const syslog_forwarder&) = delete;

    // Queues one audit line (the JSON object, with or without its '\n'); never blocks.
    void forward(std::string_view line);

    // Waits until every line queued before this call was sent or counted lost.
    void flush();

    // Drops the connection: the next message goes over a new one (the host name resolved again,
    // at once, without waiting for the reconnect backoff). For SIGUSR1, like a log file's
    // reopen: after the collector moved or was restarted. Never blocks; any thread.
    void reconnect();

    [[nodiscard]] syslog_counters counters() const;

    // The RFC 5424 message for one audit line: PRI from the facility and the decision's severity,
    // MSGID = decision, MSG = the JSON record.
    [[nodiscard]] static std::string format_message(const syslog_options& options,
                                                    std::string_view line);

  private:
    void run();
    [[nodiscard]] bool ensure_connected();
    [[nodiscard]] bool send_message(const std::string& msg);
    void disconnect();

    syslog_options options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_, drained_;
    std::deque<std::string> queue_;
    std::uint64_t enqueued_ = 0, finished_ = 0;
    bool stopping_ = false;
    std::thread thread_;

    int fd_ = -1;
    bool connected_once_ = false;
    std::int64_t retry_after_ms_ = 0;  // steady-clock ms before which no reconnect is tried
    std::int64_t backoff_ms_ = 100;
    std::atomic<bool> reconnect_{false};  // reconnect() was called; the forwarder thread acts
    std::atomic<std::uint64_t> sent_{0}, lost_{0}, reconnects_{0}, queue_depth_{0};
};

// A sink that writes the file first and forwards each committed line to syslog; the completion
// follows the file.
class tee_sink final : public sink {
  public:
    tee_sink(std::shared_ptr<file_writer> file, std::shared_ptr<syslog_forwarder> forwarder);
    void append(record r, bool durable, completion done) override;
    [[nodiscard]] bool healthy() const override;

  private:
    std::shared_ptr<file_writer> file_;
    std::shared_ptr<syslog_forwarder> forwarder_;
};

}  // namespace exportwall::audit
