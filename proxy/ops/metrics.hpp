#pragma once
// The proxy's metrics registry: counters, gauges and histograms, rendered in the Prometheus text
// exposition format (version 0.0.4) for the admin listener's /metrics.
//
// Thread-safe. The hot path (every call below except render()) is lock-free: label values are
// looked up in fixed-size tables of atomic slots; a mutex is taken only the first time a label
// value (a route id, an error kind, an abort reason) is seen. Route ids are known at load, so in
// practice the lock is taken once per route. Label values beyond a table's capacity are counted
// under the label value "_other" so that a misbehaving caller cannot grow memory without bound.
//
// No Beast, no Asio: the registry is a plain value the session code calls at each event.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace exportwall::proxy {

class metrics {
  public:
    metrics();
    ~metrics();
    metrics(const metrics&) = delete;
    metrics& operator=(const metrics&) = delete;

    // A client connection was accepted (plain or TLS, before the handshake) / has closed.
    // Together they drive the `exportwall_active_connections` gauge.
    void connection_opened();
    void connection_closed();

    // A connection closed before its first request, on a listener with proxy-protocol="v2": the
    // peer is not a trusted proxy ("untrusted_peer") or sent no valid v2 header
    // ("proxy_protocol").
    void connection_refused(std::string_view reason);

    // One request answered (completed, refused or aborted) on `route` (the route id; "" for a
    // request that matched no route, rendered as route="_none"). `status` is the status sent to
    // the client; `seconds` the time from the first byte of the request head to the last byte of
    // the response; bytes are the client-side body bytes received and sent.
    void request_finished(std::string_view route, unsigned status, double seconds,
                          std::uint64_t bytes_in, std::uint64_t bytes_out);

    // An upstream failure, by kind: "connect", "tls", "timeout", "reset", "malformed" (or any
    // other short token; the kinds are not validated).
    void upstream_error(std::string_view kind);

    // An export cut mid-stream (the client's response ended without its terminating chunk), by
    // reason code (to_string(abort_reason): "upstream_reset", "upstream_malformed",
    // "client_write_timeout", …).
    void export_aborted(std::string_view reason);

    // An export refused or cut by volume and time (issue 17), by reason code: quota_exceeded,
    // quota_store_unavailable, record_limit_exceeded (a paged export's later page),
    // volume_anomaly. Reason codes only, never an id or a value.
    void quota_refusal(std::string_view reason);

    // A configuration reload (SIGHUP or POST /admin/reload) succeeded / was refused.
    void reload_result(bool ok);

    // One request to the OAuth2 token endpoint of `upstream` (its configuration id) answered with
    // a usable access token, or not (exportwall_upstream_token_requests_total{upstream,result}).
    void upstream_token_request(std::string_view upstream, bool ok);
    // The CRM behind `upstream` answered 401 and the request was sent again with a fresh token
    // (exportwall_upstream_auth_retries_total{upstream}).
    void upstream_auth_retry(std::string_view upstream);

    // A volume alert fired: the grant `client` x `purpose` (configuration ids, never request
    // data) delivered more records in an hour than its threshold (proxy/enforce/volume_monitor.hpp).
    void volume_alert(std::string_view client, std::string_view purpose);

    // An export the candidate policy (<shadow>) decided beside the enforced one: the enforced
    // decision, the candidate's decision and reason code, and the grant's client and purpose,
    // already reduced to configuration ids like export_figures'.
    struct shadow_figures {
        std::string_view decision, shadow_decision, shadow_reason, client, purpose;
    };
    void shadow_recorded(const shadow_figures& s);
    // The grants a volume alert holds (on-anomaly="refuse"), as this replica last counted them:
    // after it set, cleared or listed holds. With a shared store another replica's hold shows
    // here once this one lists or clears holds.
    void volume_holds(std::int64_t n);

    // One export decided and recorded (issue 19, item 7): its audit decision (allowed, filtered,
    // blocked, aborted), reason code ("" when none) and grant — client, purpose, destination —
    // which the caller has already reduced to configuration ids ("_unknown" for a declared value
    // the configuration does not have, "_none" when absent), so the label sets stay bounded and
    // hold nothing a client typed. Records: read from the CRM, delivered, dropped by reason.
    struct export_figures {
        std::string_view decision, reason, client, purpose, destination;
        std::uint64_t records_in = 0;
        std::uint64_t records_out = 0;
    };
    void export_recorded(const export_figures& e);
    void records_dropped(std::string_view reason, std::uint64_t n);
    // A grant's quota window (quota="N/period") as a reservation of this replica left it: the
    // records counted against it — delivered, and reserved by exports still running (they take
    // records in batches and return what they did not deliver) — and its limit. Labels are the
    // grant's configuration ids. Alert on used / limit.
    void quota_usage(std::string_view client, std::string_view purpose,
                     std::string_view destination, std::uint64_t used, std::uint64_t limit);

    // Figures pulled at render time from the audit trail's writer and the syslog forwarder.
    struct trail_figures {
        std::uint64_t records_written = 0;
        std::uint64_t write_failures = 0;
        std::uint64_t fsyncs = 0;
        std::uint64_t queue_depth = 0;
        std::uint64_t files_pruned = 0;  // rotated files removed by <audit keep-bytes keep-days>
        bool syslog = false;             // the rest only with a <syslog> forwarder
        std::uint64_t syslog_sent = 0;   // records the collector acknowledged
        std::uint64_t syslog_resent = 0;
        std::uint64_t syslog_lost = 0;   // UDP only
        std::uint64_t syslog_reconnects = 0;
        std::uint64_t syslog_errors = 0;
        std::uint64_t syslog_pending = 0;  // records committed, not yet acknowledged
        std::uint64_t syslog_bytes_pending = 0;
        std::uint64_t files_kept_unshipped = 0;
    };
    // Set once at start-up, before render() is called from another thread.
    void set_trail_source(std::function<trail_figures()> source);

    // The whole registry in the Prometheus text format: `# HELP` and `# TYPE` lines, label values
    // escaped (backslash, double quote, newline). Series are rendered in first-seen order.
    [[nodiscard]] std::string render() const;

    // Read access for tests and the admin listener.
    [[nodiscard]] std::int64_t active_connections() const;
    [[nodiscard]] std::uint64_t requests_total() const;

  private:
    struct state;
    std::unique_ptr<state> state_;
};

// Escapes a Prometheus label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
[[nodiscard]] std::string escape_label_value(std::string_view value);

}  // namespace exportwall::proxy
