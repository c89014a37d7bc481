#pragma once
// The admin listener: a small HTTP/1.1 server on its own address (loopback by default) serving
//   GET  /healthz        200 "ok" — the process is up (never needs the token)
//   GET  /readyz         200 "ready" when hooks.ready(), else 503 "not ready"
//   GET  /metrics        the Prometheus text rendering of hooks.m
//   POST /admin/reload   hooks.reload(): 200 {"reloaded":true,"revision":"…"} or
//                        500 {"reloaded":false,"errors":N} (no configuration value echoed)
//   GET  /admin/volume-holds  hooks.volume->holds(): 200 {"holds":[{"client":…,"purpose":…,
//                        "since":"<RFC 3339>"},…]}
//   POST /admin/volume-holds/clear?client=C&purpose=P   hooks.volume->clear(): 200
//                        {"cleared":{"client":…,"purpose":…,"since":…}}, 404 when no hold, 400
//                        without both parameters; 503 when the quota store (or, for a clear, the
//                        audit trail) cannot answer; 501 without hooks.volume
// and, through hooks.extension, whatever later issues add (the review page and its API:
// proxy/ops/audit_review.hpp).
//
// Every answer carries Cache-Control: no-store, X-Content-Type-Options: nosniff,
// Referrer-Policy: no-referrer and X-Frame-Options: DENY.
//
// When hooks.token_sha256 is set, every path but /healthz needs `Authorization: Bearer <token>`
// whose SHA-256 (lower-case hex) equals it; otherwise 401. A token is mandatory when the admin
// address is not loopback: check_admin_settings() says so at start-up, and run_admin() refuses to
// serve on such an acceptor without one.
//
// One request per connection (`Connection: close`): the admin plane is scraped, not streamed, and
// this keeps shutdown simple (no idle keep-alive connection holds the io_context open).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/settings.hpp"
#include "proxy/ops/metrics.hpp"

namespace exportwall::proxy {

class volume_monitor;

// A parsed admin request, handed to hooks.extension (no Beast types leak out).
struct admin_request {
    std::string method;  // upper case, e.g. "GET"
    std::string target;  // origin-form as received, e.g. "/admin/audit?decision=blocked"
    std::vector<std::pair<std::string, std::string>> headers;  // as received (no Authorization)
    std::string body;  // at most 64 KiB (larger requests get 413 before any hook runs)
};

// What an extension answers.
struct admin_response {
    admin_response() = default;
    admin_response(unsigned status_code, std::string type, std::string text,
                   std::vector<std::pair<std::string, std::string>> fields = {})
        : status(status_code),
          content_type(std::move(type)),
          body(std::move(text)),
          headers(std::move(fields)) {}

    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    // More response fields (Content-Security-Policy, …), written after the listener's own.
    std::vector<std::pair<std::string, std::string>> headers;
};

// What the admin listener needs from the running proxy. Every function may be empty: an empty
// `ready` means always ready, an empty `reload` answers 501, an empty `revision` omits it.
struct admin_hooks {
    metrics* m = nullptr;                   // rendered by /metrics; null → an empty body
    std::function<bool()> ready;            // configuration loaded and upstreams reachable
    std::function<std::string()> revision;  // the current configuration's revision id
    // Reloads the configuration. Returns true on success with `out` set to the new revision;
    // false on failure with `out` set to the decimal number of errors (never their text: errors
    // can quote configuration values, which are logged by the caller, not sent over the wire).
    std::function<bool(std::string& out)> reload;
    // The volume alerts' holds (/admin/volume-holds); null → 501. Its awaitables run on the
    // admin listener's io_context.
    std::shared_ptr<volume_monitor> volume;
    // Lower-case hex SHA-256 of the bearer token; empty = no token (loopback only).
    std::string token_sha256;
    // The metrics listener (<admin metrics-address>): /metrics and /healthz only, no token, on
    // any address (metrics hold ids, codes and counts only); every other path is 404.
    bool metrics_only = false;
    // Requests for paths the listener does not serve itself, after authentication. Returns
    // nullopt for "not mine" (→ 404). Runs on the io_context: must not block for long.
    std::function<std::optional<admin_response>(const admin_request&)> extension;
};

// Start-up check of the admin settings: an error message when the address is not loopback and
// no token hash is set, or the token hash is not 64 hex digits; nullopt when fine.
[[nodiscard]] std::optional<std::string> check_admin_settings(const config::admin_listener& admin);

// Serves admin requests on `acceptor` (already bound and listening), one coroutine per connection,
// until the acceptor is closed or the io_context stops. Refuses to serve (logs an error and
// returns at once) when the acceptor's address is not loopback and hooks.token_sha256 is empty.
boost::asio::awaitable<void> run_admin(boost::asio::ip::tcp::acceptor acceptor, admin_hooks hooks);

}  // namespace exportwall::proxy
