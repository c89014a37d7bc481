#pragma once
// The access log: one JSON line per request ("-" = stdout, else a file). It never holds a body
// byte, a header value or a query value: the path is the normalised path and the query is reduced
// to its parameter names.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "config/settings.hpp"

namespace exportwall::proxy {

// What one request did. Views must outlive write().
struct access_entry {
    std::string_view request_id;
    std::string_view audit_id;
    std::string_view remote;  // client address:port
    std::string_view via;       // the balancer that named the client; "" when none
    std::string_view trace_id;  // W3C trace id of a checked traceparent; "" when none
    std::string_view method;
    std::string_view route;  // route id, "" when none matched
    std::string_view path;   // normalised path (no query), "" when the target was refused
    std::string_view query;  // raw query: only its parameter names are logged
    unsigned status = 0;
    unsigned upstream_status = 0;  // 0 when the CRM did not answer
    std::uint64_t bytes_in = 0;    // request body bytes from the client
    std::uint64_t bytes_out = 0;   // response body bytes to the client
    double duration_ms = 0;
    std::string_view outcome;  // complete | aborted | refused
    std::string_view reason;   // reason code, "" when complete
};

// One JSON object (no trailing newline) for `e`, stamped with `now` (RFC 3339 UTC, milliseconds).
[[nodiscard]] std::string format_access_line(const access_entry& e,
                                             std::chrono::system_clock::time_point now);
// The same, appended to `out`.
void append_access_line(std::string& out, const access_entry& e,
                        std::chrono::system_clock::time_point now);

// Each line is one write(2) of the whole line by the thread that finishes the request, with no
// lock between the I/O threads (issue 20: the spdlog logger it replaces took its sink's mutex
// twice a line, and the two I/O threads queued on it): a file is opened O_APPEND, so lines never
// interleave; on a pipe (stdout into a collector) a line of up to PIPE_BUF bytes is written
// whole by the kernel, and a longer one under a mutex. Nothing is buffered in the process.
class access_log {
  public:
    // Opens the log named by `settings.access_log` (creating its directory, as before); on
    // failure `error` is set and writes go nowhere.
    access_log(const config::log_settings& settings, std::string& error);
    ~access_log();
    access_log(const access_log&) = delete;
    access_log& operator=(const access_log&) = delete;

    void write(const access_entry& e);
    // Nothing to do: every line is written as it is formatted (kept for the shutdown's order).
    void flush();
    // Opens the file again at its configured path (logrotate renamed it: the next line goes to
    // a new file there). Lines being written meanwhile go to one file or the other, whole (the
    // new file takes the old one's descriptor with dup2, in one step). When the file cannot be
    // opened, the old one is kept and the error is logged. Nothing to do for stdout. Any thread.
    void reopen();

  private:
    void write_line(std::string_view line);

    std::string path_;                  // "" for stdout
    int fd_ = -1;                       // -1: the log could not be opened
    std::atomic<bool> whole_{false};    // a regular file: every write lands whole, any size
    std::mutex long_lines_;             // a pipe: lines longer than PIPE_BUF, one at a time
    std::atomic<bool> failing_{false};  // the last write failed (reported once, until one works)
};

// One operational log line in format="json" (no trailing newline):
// {"time":"<RFC 3339 UTC, ms>","level":"info","message":"…"}.
[[nodiscard]] std::string format_operational_line(std::chrono::system_clock::time_point time,
                                                  std::string_view level,
                                                  std::string_view message);

// Sets up the operational log (spdlog default logger, to stderr) at `level` ("info", …): text
// lines ("<time> <level> <message>"), or with `json` one JSON object a line.
void setup_operational_log(std::string_view level, bool json = false);

}  // namespace exportwall::proxy
