#include "audit/syslog_forwarder.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>

namespace exportwall::audit {

namespace {

std::int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

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
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[40];
    const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
    return std::string(buf, n) + frac;
}

}  // namespace

syslog_forwarder::syslog_forwarder(syslog_options options) : options_(std::move(options)) {
    thread_ = std::thread([this] { run(); });
}

syslog_forwarder::~syslog_forwarder() {
    {
        std::lock_guard lk(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    disconnect();
}

std::string syslog_forwarder::format_message(const syslog_options& options, std::string_view line) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    const std::string_view decision = json_string_member(line, "decision");
    int severity = 6;                                                  // informational
    if (decision == "blocked" || decision == "aborted") severity = 4;  // warning
    if (decision == "would-block") severity = 5;                       // notice
    if (decision == "volume_alert") severity = 4;                      // warning
    if (decision == "volume_alert_cleared") severity = 5;              // notice
    const int facility = options.facility >= 0 && options.facility <= 23 ? options.facility : 13;
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    std::string msg = "<" + std::to_string(facility * 8 + severity) + ">1 " + now_rfc3339() + " " +
                      header_field(host, 255) + " " + header_field(options.app_name, 48) + " " +
                      std::to_string(::getpid()) + " " + header_field(decision, 32) + " - ";
    msg.append(line);
    return msg;
}

void syslog_forwarder::forward(std::string_view line) {
    {
        std::lock_guard lk(mutex_);
        if (stopping_ || queue_.size() >= options_.max_queue) {
            lost_++;
            return;
        }
        queue_.push_back(format_message(options_, line));
        ++enqueued_;
        queue_depth_ = queue_.size();
    }
    wake_.notify_one();
}

void syslog_forwarder::flush() {
    std::unique_lock lk(mutex_);
    const auto target = enqueued_;
    drained_.wait(lk, [&] { return finished_ >= target; });
}

void syslog_forwarder::reconnect() { reconnect_.store(true); }

syslog_counters syslog_forwarder::counters() const {
    return {sent_.load(), lost_.load(), reconnects_.load(), queue_depth_.load()};
}

void syslog_forwarder::disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool syslog_forwarder::ensure_connected() {
    if (fd_ >= 0) return true;
    if (steady_ms() < retry_after_ms_) return false;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = options_.tcp ? SOCK_STREAM : SOCK_DGRAM;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(options_.port);
    bool ok = false;
    if (::getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &res) == 0) {
        for (addrinfo* ai = res; ai != nullptr && !ok; ai = ai->ai_next) {
            const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                                    ai->ai_protocol);
            if (fd < 0) continue;
            int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
            if (rc != 0 && errno == EINPROGRESS) {
                pollfd p{fd, POLLOUT, 0};
                int err = 0;
                socklen_t len = sizeof err;
                rc = ::poll(&p, 1, 1000) == 1 &&
                             ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0
                         ? 0
                         : -1;
            }
            if (rc == 0) {
                // Blocking sends with a timeout: a stalled collector costs this thread, never the
                // exporter.
                ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
                timeval tv{2, 0};
                ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
                fd_ = fd;
                ok = true;
            } else {
                ::close(fd);
            }
        }
        ::freeaddrinfo(res);
    }
    if (!ok) {
        retry_after_ms_ = steady_ms() + backoff_ms_;
        backoff_ms_ = backoff_ms_ * 2 > 5000 ? 5000 : backoff_ms_ * 2;
        if (options_.on_error) options_.on_error("syslog collector unreachable");
        return false;
    }
    backoff_ms_ = 100;
    if (connected_once_) reconnects_++;
    connected_once_ = true;
    return true;
}

bool syslog_forwarder::send_message(const std::string& msg) {
    std::string frame;
    if (options_.tcp) frame = std::to_string(msg.size()) + " ";  // RFC 6587 octet counting
    frame += msg;
    std::size_t done = 0;
    while (done < frame.size()) {
        const auto n = ::send(fd_, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        if (!options_.tcp) return static_cast<std::size_t>(n) == frame.size();
        done += static_cast<std::size_t>(n);
    }
    return true;
}

void syslog_forwarder::run() {
    std::unique_lock lk(mutex_);
    for (;;) {
        wake_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) break;
        std::string msg = std::move(queue_.front());
        queue_.pop_front();
        queue_depth_ = queue_.size();
        lk.unlock();
        // The connection belongs to this thread: a reconnect() is carried out here.
        if (reconnect_.exchange(false)) {
            disconnect();
            retry_after_ms_ = 0;
            backoff_ms_ = 100;
        }
        bool sent = false;
        for (int attempt = 0; attempt < 2 && !sent; ++attempt) {
            if (!ensure_connected()) break;
            sent = send_message(msg);
            if (!sent) {
                disconnect();
                if (options_.on_error) options_.on_error("syslog send failed; reconnecting");
            }
        }
        if (sent)
            sent_++;
        else
            lost_++;
        lk.lock();
        ++finished_;
        drained_.notify_all();
    }
}

tee_sink::tee_sink(std::shared_ptr<file_writer> file, std::shared_ptr<syslog_forwarder> forwarder)
    : file_(std::move(file)), forwarder_(std::move(forwarder)) {
    std::weak_ptr<syslog_forwarder> weak = forwarder_;
    file_->set_observer([weak](std::string_view line) {
        if (auto f = weak.lock()) f->forward(line);
    });
}

void tee_sink::append(record r, bool durable, completion done) {
    file_->append(std::move(r), durable, std::move(done));
}

bool tee_sink::healthy() const { return file_->healthy(); }

}  // namespace exportwall::audit
