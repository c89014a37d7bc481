#include "audit/syslog_forwarder.hpp"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <ctime>
#include <utility>

#include "audit/reader.hpp"

namespace exportwall::audit {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Framed bytes read from the trail per batch (more when one line is longer).
constexpr std::size_t batch_bytes = 256 * 1024;
// Bytes on the wire not yet acknowledged before the forwarder stops reading ahead.
constexpr std::uint64_t max_unacknowledged = 4u << 20;
// How often the forwarder polls the kernel for acknowledgements while some are outstanding.
constexpr milliseconds ack_poll{10};
// The retention budget is checked at most this often (and when the delivered file changes).
constexpr milliseconds maintain_interval{1'000};

std::string_view json_string_member(std::string_view line, std::string_view key) {
    const std::string needle = "\"" + std::string(key) + "\":\"";
    const auto pos = line.find(needle);
    if (pos == std::string_view::npos) return {};
    const auto start = pos + needle.size();
    const auto end = line.find('"', start);
    if (end == std::string_view::npos) return {};
    return line.substr(start, end - start);
}

// RFC 5424 PRINTUSASCII without spaces, at most `max` characters; "-" when empty.
std::string header_field(std::string_view s, std::size_t max) {
    std::string out;
    for (char c : s) {
        if (out.size() >= max) break;
        if (c > 32 && c < 127) out.push_back(c);
    }
    return out.empty() ? "-" : out;
}

std::string now_rfc3339() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[40];
    const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
    return std::string(buf, n) + frac;
}

std::string host_name() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    return host;
}

}  // namespace

syslog_forwarder::syslog_forwarder(syslog_options options)
    : options_(std::move(options)),
      cursor_(options_.trail_path, options_.committed),
      backoff_(options_.retry_initial) {
    if (options_.state_path.empty()) options_.state_path = syslog_state_path(options_.trail_path);
    if (options_.hostname.empty()) options_.hostname = host_name();
    thread_ = std::thread([this] { run(); });
}

syslog_forwarder::~syslog_forwarder() {
    {
        std::lock_guard lk(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

std::string syslog_forwarder::format_message(const syslog_options& options, std::string_view line) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    const std::string_view text = json_string_member(line, "decision");
    const auto d = parse_decision(text);
    int severity = 6;                                                     // informational
    if (d == decision::blocked || d == decision::aborted) severity = 4;  // warning
    if (d == decision::would_block) severity = 5;                        // notice
    if (d == decision::volume_alert) severity = 4;                       // warning
    if (d == decision::volume_alert_cleared) severity = 5;               // notice
    const int facility = options.facility >= 0 && options.facility <= 23 ? options.facility : 13;
    const std::string host = options.hostname.empty() ? host_name() : options.hostname;
    std::string msg = "<" + std::to_string(facility * 8 + severity) + ">1 " + now_rfc3339() + " " +
                      header_field(host, 255) + " " + header_field(options.app_name, 48) + " " +
                      std::to_string(::getpid()) + " " + header_field(text, 32) + " - ";
    msg.append(line);
    return msg;
}

void syslog_forwarder::notify() {
    {
        std::lock_guard lk(mutex_);
        notified_ = true;
    }
    wake_.notify_one();
}

bool syslog_forwarder::flush(milliseconds timeout) {
    std::unique_lock lk(mutex_);
    const std::uint64_t ticket = ++flush_ticket_;
    wake_.notify_one();
    return idle_cv_.wait_for(lk, timeout, [&] { return idle_ticket_ >= ticket; });
}

void syslog_forwarder::reconnect() {
    {
        std::lock_guard lk(mutex_);
        reconnect_requested_ = true;
    }
    wake_.notify_one();
}

trail_position syslog_forwarder::delivered() const {
    std::lock_guard lk(mutex_);
    return delivered_;
}

void syslog_forwarder::set_delivered(const trail_position& p) {
    std::lock_guard lk(mutex_);
    delivered_ = p;
}

syslog_counters syslog_forwarder::counters() const {
    syslog_counters c;
    c.sent = sent_.load();
    c.resent = resent_.load();
    c.lost = lost_.load();
    c.reconnects = reconnects_.load();
    c.errors = errors_.load();
    const std::uint64_t last =
        options_.committed ? options_.committed().last_seq : read_seq_.load();
    const std::uint64_t acked = acked_seq_.load();
    c.records_pending = last > acked ? last - acked : 0;
    c.bytes_pending = bytes_pending();
    c.files_pruned = files_pruned_.load();
    c.files_kept_unshipped = files_kept_unshipped_.load();
    return c;
}

void syslog_forwarder::report(const std::string& message) const {
    if (options_.on_error) options_.on_error(message);
}

std::uint64_t syslog_forwarder::bytes_pending() const {
    trail_position acked;
    {
        std::lock_guard lk(mutex_);
        acked = acked_shared_;
    }
    // The committed bytes not yet acknowledged: the rest of the acknowledged file and every file
    // after it.
    const std::uint64_t f = acked.file_first_seq;
    std::uint64_t pending = 0;
    bool acked_in_rotated = false;
    for (const auto& file : find_log_files(options_.trail_path)) {
        struct stat st {};
        if (::stat(file.path.c_str(), &st) != 0) continue;
        auto size = static_cast<std::uint64_t>(st.st_size);
        if (file.active && options_.committed) {
            const auto c = options_.committed();
            if (c.inode == static_cast<std::uint64_t>(st.st_ino)) size = std::min(size, c.offset);
        }
        if (f == 0) {
            pending += size;
        } else if (!file.active) {
            if (file.first_seq == f) {
                pending += size - std::min(size, acked.offset);
                acked_in_rotated = true;
            } else if (file.first_seq > f) {
                pending += size;
            }
        } else {
            pending += acked_in_rotated ? size : size - std::min(size, acked.offset);
        }
    }
    return pending;
}

void syslog_forwarder::set_acked(const trail_position& p) {
    acked_ = p;
    acked_seq_ = p.seq;
    std::lock_guard lk(mutex_);
    acked_shared_ = p;
}

bool syslog_forwarder::idle() const {
    return batch_.bytes.empty() && unacked_.empty() && read_nothing_;
}

void syslog_forwarder::run() {
    // OpenSSL writes to the socket with write(): a collector that reset the connection must
    // cost an EPIPE on this thread, never a SIGPIPE that ends the process.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    (void)pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    // Resume after the delivered position of the last run.
    trail_position start;
    if (const auto text = read_small_file(options_.state_path)) {
        if (const auto p = parse_syslog_state(*text)) {
            start = *p;
        } else {
            report("the syslog state file " + options_.state_path +
                   " is damaged: forwarding the trail from its start (records may arrive twice)");
        }
    }
    if (const std::string how = cursor_.seek(start); !how.empty())
        report("syslog forwarding: " + how);
    set_acked(cursor_.position());
    saved_ = start;
    set_delivered(acked_);
    read_seq_ = acked_.seq;

    std::optional<steady::time_point> stop_at;
    std::unique_lock lk(mutex_);
    for (;;) {
        const std::uint64_t ticket = flush_ticket_;
        const bool reconnect = std::exchange(reconnect_requested_, false);
        const bool stopping = stopping_;
        notified_ = false;
        lk.unlock();
        auto now = steady::now();
        if (stopping && !stop_at) stop_at = now + milliseconds(stop_timeout_ms_.load());
        if (reconnect) reconnect_now(now);
        const bool progress = step(now);
        now = steady::now();
        save_state(false, now);
        maintain(now);
        const bool is_idle = idle();
        lk.lock();
        if (is_idle) {
            idle_ticket_ = ticket;
            idle_cv_.notify_all();
        }
        if (stopping && (is_idle || now >= *stop_at)) break;
        if (progress) continue;
        // Nothing moved: sleep until something can.
        steady::time_point wake = now + options_.poll_interval;
        auto sooner = [&](steady::time_point t) { wake = std::min(wake, t); };
        if (!batch_.bytes.empty()) sooner(conn_.is_open() ? now + ack_poll : retry_at_);
        if (!unacked_.empty()) sooner(now + ack_poll);
        if (!settling_.empty()) sooner(settling_.front().acked_at + options_.settle);
        if (delivered_ != saved_) sooner(last_save_ + options_.state_interval);
        if (stop_at) sooner(*stop_at);
        (void)wake_.wait_until(lk, wake, [&] {
            return notified_ || stopping_ != stopping || reconnect_requested_ ||
                   flush_ticket_ != ticket;
        });
    }
    lk.unlock();
    // A clean stop: the connection is up, what it acknowledged counts as delivered.
    const auto now = steady::now();
    if (conn_.is_open() && options_.transport != syslog_transport::udp)
        (void)take_acknowledgements(now);
    for (const auto& f : settling_) set_delivered(f.after);
    settling_.clear();
    save_state(true, now);
    conn_.close();
}

bool syslog_forwarder::step(steady::time_point now) {
    bool progress = false;
    if (conn_.is_open() && options_.transport != syslog_transport::udp) {
        std::string why;
        if (conn_.peer_gone(why)) {
            lose_connection(why, true);
        } else if (take_acknowledgements(now)) {
            progress = true;
        }
    }
    // Acknowledged and the connection stayed up since: delivered.
    while (!settling_.empty() && settling_.front().acked_at + options_.settle <= now) {
        set_delivered(settling_.front().after);
        settling_.pop_front();
    }
    const bool room =
        conn_.wire_written() - std::min(conn_.wire_written(), conn_.wire_acknowledged()) <
        max_unacknowledged;
    if (batch_.bytes.empty() && room) fill_batch();
    // A reconnect asked for before these records were committed comes first: they go over the
    // new connection (checked after the read, so a record appended after reconnect() is never
    // sent over the old one).
    if (batch_.written == 0 && !batch_.bytes.empty() && take_reconnect_request()) {
        reconnect_now(now);
        if (batch_.bytes.empty()) fill_batch();
    }
    if (!batch_.bytes.empty() && ensure_connected(now) && write_batch(now)) progress = true;
    return progress;
}

bool syslog_forwarder::take_reconnect_request() {
    std::lock_guard lk(mutex_);
    return std::exchange(reconnect_requested_, false);
}

void syslog_forwarder::reconnect_now(steady::time_point now) {
    // Asked for, not a failure: what the connection acknowledged counts as delivered.
    if (conn_.is_open() && options_.transport != syslog_transport::udp)
        (void)take_acknowledgements(now);
    for (const auto& f : settling_) set_delivered(f.after);
    settling_.clear();
    if (conn_.is_open()) lose_connection({}, false);
    retry_at_ = now;
    backoff_ = options_.retry_initial;
}

void syslog_forwarder::fill_batch() {
    batch_ = {};
    const bool framed = options_.transport != syslog_transport::udp;
    boost::system::error_code ec;
    const std::size_t n = cursor_.read(
        batch_bytes,
        [&](std::string_view line, const trail_position& after) {
            const std::string msg = format_message(options_, line);
            if (framed) batch_.bytes += std::to_string(msg.size()) + " ";  // RFC 6587
            batch_.bytes += msg;
            batch_.ends.emplace_back(batch_.bytes.size(), after);
        },
        ec);
    if (ec) report("cannot read the audit trail: " + ec.message());
    read_nothing_ = n == 0;
    if (n > 0) read_seq_ = cursor_.position().seq;
}

bool syslog_forwarder::ensure_connected(steady::time_point now) {
    if (conn_.is_open()) return true;
    if (now < retry_at_) return false;
    std::string error;
    if (!conn_.open(options_.host, options_.port, options_.transport, options_.tls,
                    options_.io_timeout, error)) {
        errors_++;
        report("syslog collector " + options_.host + ":" + std::to_string(options_.port) + ": " +
               error + " (retrying; records wait in the trail)");
        retry_at_ = steady::now() + backoff_;
        backoff_ = std::min(backoff_ * 2, options_.retry_max);
        return false;
    }
    backoff_ = options_.retry_initial;
    if (connected_once_) reconnects_++;
    connected_once_ = true;
    return true;
}

bool syslog_forwarder::write_batch(steady::time_point now) {
    std::string error;
    const std::string_view all(batch_.bytes);
    if (options_.transport == syslog_transport::udp) {
        // One datagram per record; a refused one is lost (UDP promises no more), never retried.
        bool progress = false;
        while (batch_.records_written < batch_.ends.size()) {
            const auto& [end, after] = batch_.ends[batch_.records_written];
            const auto n =
                conn_.write_some(all.substr(batch_.written, end - batch_.written), error);
            if (n && *n == 0) break;  // the socket buffer is full: later
            if (n) {
                sent_++;
            } else {
                lost_++;
            }
            set_acked(after);
            set_delivered(after);
            batch_.written = end;
            batch_.records_written++;
            progress = true;
        }
        if (batch_.records_written == batch_.ends.size()) batch_ = {};
        (void)now;
        return progress;
    }
    if (batch_.written == 0) batch_.wire_base = conn_.wire_written();
    const auto n = conn_.write_some(all.substr(batch_.written), error);
    if (!n) {
        lose_connection(error, true);
        return true;
    }
    if (*n == 0) return false;
    batch_.written += *n;
    const bool tls = options_.transport == syslog_transport::tls;
    while (batch_.records_written < batch_.ends.size() &&
           batch_.ends[batch_.records_written].first <= batch_.written) {
        const auto& [end, after] = batch_.ends[batch_.records_written];
        // TCP: the record's last byte on the wire, exactly. TLS: everything the engine wrote
        // so far, which holds the record's last byte (a whole TLS record is written or none).
        const std::uint64_t wire_end = tls ? conn_.wire_written() : batch_.wire_base + end;
        unacked_.push_back({after, wire_end, {}});
        batch_.records_written++;
    }
    if (batch_.written == batch_.bytes.size()) batch_ = {};
    return true;
}

bool syslog_forwarder::take_acknowledgements(steady::time_point now) {
    const std::uint64_t acked_wire = conn_.wire_acknowledged();
    bool any = false;
    trail_position last;
    while (!unacked_.empty() && unacked_.front().wire_end <= acked_wire) {
        in_flight f = std::move(unacked_.front());
        unacked_.pop_front();
        last = f.after;
        sent_++;
        any = true;
        if (options_.settle.count() == 0) {
            set_delivered(f.after);
        } else {
            f.acked_at = now;
            settling_.push_back(std::move(f));
        }
    }
    if (any) set_acked(last);
    return any;
}

void syslog_forwarder::lose_connection(const std::string& why, bool count_error) {
    conn_.close();
    const std::uint64_t again = unacked_.size() + settling_.size() + batch_.records_written;
    if (count_error) {
        errors_++;
        report("syslog collector " + options_.host + ":" + std::to_string(options_.port) + ": " +
               why + "; " + std::to_string(again) + " records not yet delivered are sent again");
        retry_at_ = steady::now() + backoff_;
        backoff_ = std::min(backoff_ * 2, options_.retry_max);
    }
    resent_ += again;
    unacked_.clear();
    settling_.clear();
    batch_ = {};
    // Everything after the delivered position goes again, over the next connection.
    set_acked(delivered());
    if (const std::string how = cursor_.seek(acked_); !how.empty())
        report("syslog forwarding: " + how);
}

void syslog_forwarder::save_state(bool force, steady::time_point now) {
    const trail_position d = delivered();
    if (d == saved_) return;
    if (!force && now - last_save_ < options_.state_interval) return;
    last_save_ = now;
    if (const auto ec = replace_file(options_.state_path, format_syslog_state(d))) {
        if (!state_error_reported_)
            report("cannot save the syslog position to " + options_.state_path + ": " +
                   ec.message() + " (a restart would send records again)");
        state_error_reported_ = true;
        return;
    }
    state_error_reported_ = false;
    saved_ = d;
}

void syslog_forwarder::maintain(steady::time_point now) {
    const std::uint64_t delivered_file = delivered().file_first_seq;
    if (now - last_maintain_ < maintain_interval && delivered_file == pruned_through_file_) return;
    last_maintain_ = now;
    if (!options_.retention.enabled()) return;
    pruned_through_file_ = delivered_file;
    // Rotated files before the one the delivered position is in are wholly delivered.
    const auto res =
        prune_trail(options_.trail_path, options_.retention, delivered_file, std::time(nullptr));
    files_pruned_ += res.files_removed;
    if (res.error) report("audit retention: " + res.error.message());
    if (res.files_kept_unshipped > 0 && files_kept_unshipped_.load() == 0)
        report("audit retention: " + std::to_string(res.files_kept_unshipped) +
               " rotated files over the budget are kept until the syslog collector has them");
    files_kept_unshipped_ = res.files_kept_unshipped;
}

}  // namespace exportwall::audit
