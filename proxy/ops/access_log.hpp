#pragma once
// The access log: one JSON line per request through spdlog ("-" = stdout, else a file). It never
// holds a body byte, a header value or a query value: the path is the normalised path and the
// query is reduced to its parameter names.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/settings.hpp"

namespace spdlog {
class logger;
}

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

class access_log {
  public:
    // Opens the log named by `settings.access_log`; on failure `error` is set and writes go
    // nowhere.
    access_log(const config::log_settings& settings, std::string& error);
    ~access_log();
    access_log(const access_log&) = delete;
    access_log& operator=(const access_log&) = delete;

    void write(const access_entry& e);
    void flush();
    // Opens the file again at its configured path (logrotate renamed it: the next line goes to
    // a new file there). Lines being written meanwhile go to one file or the other, whole. When
    // the file cannot be opened, the old one is kept and the error is logged. Nothing to do for
    // stdout. Any thread.
    void reopen();

  private:
    class file_sink;
    std::shared_ptr<spdlog::logger> logger_;
    std::shared_ptr<file_sink> file_;  // null for stdout
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
