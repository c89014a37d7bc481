#include "proxy/ops/metrics.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace exportwall::proxy {

namespace {

// Prometheus' default buckets, extended to the minutes a large export may stream.
constexpr std::array<double, 14> duration_bounds{0.005, 0.01, 0.025, 0.05, 0.1,  0.25, 0.5,
                                                 1.0,   2.5,  5.0,   10.0, 30.0, 60.0, 300.0};

constexpr std::size_t max_status = 600;  // statuses 0..599; anything else counts as 0

// Series of one route: requests by status, body bytes, the duration histogram.
struct route_series {
    explicit route_series(std::string_view n) : name(n) {}
    std::string name;
    std::array<std::atomic<std::uint64_t>, max_status> by_status{};
    std::array<std::atomic<std::uint64_t>, duration_bounds.size() + 1> buckets{};  // + +Inf
    std::atomic<std::uint64_t> duration_count{0};
    std::atomic<std::uint64_t> duration_sum_ns{0};
    std::atomic<std::uint64_t> bytes_in{0};
    std::atomic<std::uint64_t> bytes_out{0};
};

// A counter per label value (error kind, abort reason).
struct label_counter {
    explicit label_counter(std::string_view n) : name(n) {}
    std::string name;
    std::atomic<std::uint64_t> value{0};
};

// A counter per grant (client x purpose). The table's key is "client\0purpose": configuration
// ids never hold a NUL byte. The overflow series "_other" has no NUL and counts under
// client="_other",purpose="_other".
struct grant_counter {
    explicit grant_counter(std::string_view key) : name(key) {
        const auto nul = key.find('\0');
        client = key.substr(0, nul);
        purpose = nul == std::string_view::npos ? key : key.substr(nul + 1);
    }
    std::string name;
    std::string client;
    std::string purpose;
    std::atomic<std::uint64_t> value{0};
};

// Series keyed by several labels: the key is their values joined by NUL bytes (configuration ids
// and codes never hold one); the overflow series "_other" counts under "_other" for every label.
// The key is built in a buffer of the calling thread's (a series is looked up once an export:
// its key is not worth an allocation); the view is valid until the thread's next join_key().
std::string_view join_key(std::initializer_list<std::string_view> values) {
    thread_local std::string key;
    key.clear();
    bool first = true;
    for (std::string_view v : values) {
        if (!first) key.push_back('\0');
        first = false;
        key.append(v);
    }
    return key;
}

template <std::size_t N>
std::array<std::string, N> split_key(std::string_view key) {
    std::array<std::string, N> labels;
    if (key.find('\0') == std::string_view::npos) {
        labels.fill(std::string(key));  // "_other"
        return labels;
    }
    std::size_t i = 0;
    for (std::size_t at = 0; i < N && at <= key.size(); ++i) {
        const auto nul = std::min(key.find('\0', at), key.size());
        labels[i] = key.substr(at, nul - at);
        at = nul + 1;
    }
    return labels;
}

// Exports by decision, reason and grant (decision, reason, client, purpose, destination), and
// the candidate policy's decisions (decision, shadow decision, shadow reason, client, purpose).
struct export_counter {
    explicit export_counter(std::string_view key) : name(key), labels(split_key<5>(key)) {}
    std::string name;
    std::array<std::string, 5> labels;
    std::atomic<std::uint64_t> exports{0};
    std::atomic<std::uint64_t> records_in{0};
    std::atomic<std::uint64_t> records_out{0};
};

// A grant's quota window as this replica last saw it (client, purpose, destination).
struct quota_gauge {
    explicit quota_gauge(std::string_view key) : name(key), labels(split_key<3>(key)) {}
    std::string name;
    std::array<std::string, 3> labels;
    std::atomic<std::uint64_t> used{0};
    std::atomic<std::uint64_t> limit{0};
};

// Label value → series, lock-free for values already seen. Open addressing over atomic slots that
// are filled once and never cleared: a reader that probes without the lock either finds the
// series or reaches an empty slot and falls back to the locked path, which probes again.
template <class Series, std::size_t Capacity>
class label_table {
  public:
    label_table() : other_("_other") {}

    Series& get(std::string_view name) {
        const std::size_t h = std::hash<std::string_view>{}(name);
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            Series* s = slots_[(h + i) % slots_.size()].load(std::memory_order_acquire);
            if (s == nullptr) break;
            if (s->name == name) return *s;
        }
        return insert(name, h);
    }

    // Calls f on every series in first-seen order, then on "_other" if it was used.
    template <class F>
    void for_each(F&& f) const {
        std::lock_guard lock(mutex_);
        for (const auto& s : owned_) f(*s);
        if (other_used_.load(std::memory_order_relaxed)) f(other_);
    }

  private:
    Series& insert(std::string_view name, std::size_t h) {
        std::lock_guard lock(mutex_);
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            auto& slot = slots_[(h + i) % slots_.size()];
            Series* s = slot.load(std::memory_order_acquire);
            if (s != nullptr) {
                if (s->name == name) return *s;
                continue;
            }
            if (owned_.size() >= Capacity) break;
            owned_.push_back(std::make_unique<Series>(name));
            slot.store(owned_.back().get(), std::memory_order_release);
            return *owned_.back();
        }
        other_used_.store(true, std::memory_order_relaxed);
        return other_;
    }

    std::array<std::atomic<Series*>, Capacity * 2> slots_{};  // load factor ≤ 1/2
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Series>> owned_;  // guarded by mutex_
    Series other_;
    std::atomic<bool> other_used_{false};
};

void append_number(std::string& out, double v) {
    std::array<char, 64> buf{};
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    if (ec != std::errc{}) {
        out += "0";
        return;
    }
    out.append(buf.data(), end);
}

void append_number(std::string& out, std::uint64_t v) {
    std::array<char, 24> buf{};
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    if (ec == std::errc{}) out.append(buf.data(), end);
}

void append_number(std::string& out, std::int64_t v) {
    std::array<char, 24> buf{};
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    if (ec == std::errc{}) out.append(buf.data(), end);
}

void append_header(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void append_label(std::string& out, std::string_view label, std::string_view value) {
    out += label;
    out += "=\"";
    out += escape_label_value(value);
    out += '"';
}

std::uint64_t load(const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
}

// One sample per series of a table keyed by several labels (join_key):
// `name{names[0]="…",…} value(series)`.
template <std::size_t N, class Table, class Value>
void append_keyed(std::string& out, std::string_view name,
                  const std::array<std::string_view, N>& names, const Table& table, Value value) {
    table.for_each([&](const auto& series) {
        out += name;
        out += '{';
        for (std::size_t i = 0; i < N; ++i) {
            if (i != 0) out += ',';
            append_label(out, names[i], series.labels[i]);
        }
        out += "} ";
        append_number(out, value(series));
        out += '\n';
    });
}

// One series per label value of a counter with a single label: `name{label="value"} count`.
template <class Table>
void append_labelled(std::string& out, std::string_view name, std::string_view label,
                     const Table& table) {
    table.for_each([&](const label_counter& c) {
        out += name;
        out += '{';
        append_label(out, label, c.name);
        out += "} ";
        append_number(out, load(c.value));
        out += '\n';
    });
}

// A family of one unlabelled sample: `# HELP`, `# TYPE`, then `name value`.
template <class Number>
void append_single(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help, Number value) {
    append_header(out, name, type, help);
    out += name;
    out += ' ';
    append_number(out, value);
    out += '\n';
}

// The syslog forwarder's figures (metrics::trail_figures::syslog).
void append_syslog_figures(std::string& out, const metrics::trail_figures& t) {
    append_single(out, "exportwall_syslog_records_sent_total", "counter",
                  "Audit records the syslog collector acknowledged (TCP/TLS; UDP: sent); a "
                  "record sent again after a connection loss counts again.",
                  t.syslog_sent);
    append_single(out, "exportwall_syslog_records_resent_total", "counter",
                  "Audit records sent again after a connection loss (at-least-once delivery).",
                  t.syslog_resent);
    append_single(out, "exportwall_syslog_lost_total", "counter",
                  "Audit records the socket refused over UDP (best effort; TCP and TLS resend "
                  "instead).",
                  t.syslog_lost);
    append_single(out, "exportwall_syslog_reconnects_total", "counter",
                  "Connections to the syslog collector opened after the first.",
                  t.syslog_reconnects);
    append_single(out, "exportwall_syslog_errors_total", "counter",
                  "Failed connections, sends and lost connections to the syslog collector.",
                  t.syslog_errors);
    append_single(out, "exportwall_syslog_records_pending", "gauge",
                  "Audit records written to the trail that the syslog collector has not "
                  "acknowledged yet.",
                  t.syslog_pending);
    append_single(out, "exportwall_syslog_bytes_pending", "gauge",
                  "Bytes of the audit trail the syslog collector has not acknowledged yet.",
                  t.syslog_bytes_pending);
    append_single(out, "exportwall_audit_files_kept_unshipped", "gauge",
                  "Rotated audit files over the retention budget kept until the syslog "
                  "collector has them.",
                  t.files_kept_unshipped);
}

}  // namespace

struct metrics::state {
    std::atomic<std::int64_t> active_connections{0};
    std::atomic<std::uint64_t> connections_total{0};
    std::atomic<std::uint64_t> requests_total{0};
    std::atomic<std::uint64_t> reloads_ok{0};
    std::atomic<std::uint64_t> reloads_failed{0};
    label_table<route_series, 256> routes;
    label_table<label_counter, 32> upstream_errors;
    label_table<label_counter, 64> aborted;
    label_table<label_counter, 16> quota_refusals;
    label_table<label_counter, 8> connections_refused;
    label_table<grant_counter, 256> volume_alerts;
    std::atomic<std::int64_t> volume_holds{0};
    label_table<export_counter, 2048> exports;
    label_table<label_counter, 16> dropped;
    label_table<quota_gauge, 256> quotas;
    label_table<export_counter, 1024> shadow;  // decision, shadow decision, reason, client, purpose
    // OAuth2 token requests by upstream id and result; 401 retries by upstream id.
    label_table<label_counter, 64> token_ok;
    label_table<label_counter, 64> token_failed;
    label_table<label_counter, 64> auth_retries;
    std::function<metrics::trail_figures()> trail;

    // render()'s parts, one per group of metric families, in the order they are rendered.
    void append_connection_metrics(std::string& out) const;
    void append_requests_by_status(std::string& out) const;
    void append_request_durations(std::string& out) const;
    void append_body_bytes(std::string& out) const;
    void append_refusal_metrics(std::string& out) const;
    void append_volume_metrics(std::string& out) const;
    void append_export_metrics(std::string& out) const;
    void append_trail_metrics(std::string& out) const;
    void append_upstream_auth_metrics(std::string& out) const;
    void append_reload_metrics(std::string& out) const;
};

metrics::metrics() : state_(std::make_unique<state>()) {}
metrics::~metrics() = default;

void metrics::connection_opened() {
    state_->active_connections.fetch_add(1, std::memory_order_relaxed);
    state_->connections_total.fetch_add(1, std::memory_order_relaxed);
}

void metrics::connection_closed() {
    state_->active_connections.fetch_sub(1, std::memory_order_relaxed);
}

void metrics::request_finished(std::string_view route, unsigned status, double seconds,
                               std::uint64_t bytes_in, std::uint64_t bytes_out) {
    route_series& s = state_->routes.get(route.empty() ? std::string_view("_none") : route);
    s.by_status[status < max_status ? status : 0].fetch_add(1, std::memory_order_relaxed);
    if (!(seconds >= 0.0) || !std::isfinite(seconds)) seconds = 0.0;  // NaN, negative, inf
    const auto it = std::lower_bound(duration_bounds.begin(), duration_bounds.end(), seconds);
    s.buckets[static_cast<std::size_t>(it - duration_bounds.begin())].fetch_add(
        1, std::memory_order_relaxed);
    s.duration_count.fetch_add(1, std::memory_order_relaxed);
    // Nanoseconds fit 584 years in 64 bits; clamp a nonsense value rather than overflow.
    const double ns = std::min(seconds * 1e9, 1e18);
    s.duration_sum_ns.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
    s.bytes_in.fetch_add(bytes_in, std::memory_order_relaxed);
    s.bytes_out.fetch_add(bytes_out, std::memory_order_relaxed);
    state_->requests_total.fetch_add(1, std::memory_order_relaxed);
}

void metrics::upstream_error(std::string_view kind) {
    state_->upstream_errors.get(kind).value.fetch_add(1, std::memory_order_relaxed);
}

void metrics::connection_refused(std::string_view reason) {
    state_->connections_refused.get(reason).value.fetch_add(1, std::memory_order_relaxed);
}

void metrics::quota_refusal(std::string_view reason) {
    state_->quota_refusals.get(reason).value.fetch_add(1, std::memory_order_relaxed);
}

void metrics::export_aborted(std::string_view reason) {
    state_->aborted.get(reason).value.fetch_add(1, std::memory_order_relaxed);
}

void metrics::export_recorded(const export_figures& e) {
    auto& c = state_->exports.get(join_key({e.decision, e.reason, e.client, e.purpose, e.destination}));
    c.exports.fetch_add(1, std::memory_order_relaxed);
    c.records_in.fetch_add(e.records_in, std::memory_order_relaxed);
    c.records_out.fetch_add(e.records_out, std::memory_order_relaxed);
}

void metrics::shadow_recorded(const shadow_figures& s) {
    state_->shadow
        .get(join_key({s.decision, s.shadow_decision, s.shadow_reason, s.client, s.purpose}))
        .exports.fetch_add(1, std::memory_order_relaxed);
}

void metrics::quota_usage(std::string_view client, std::string_view purpose,
                          std::string_view destination, std::uint64_t used, std::uint64_t limit) {
    auto& g = state_->quotas.get(join_key({client, purpose, destination}));
    g.used.store(used, std::memory_order_relaxed);
    g.limit.store(limit, std::memory_order_relaxed);
}

void metrics::records_dropped(std::string_view reason, std::uint64_t n) {
    state_->dropped.get(reason).value.fetch_add(n, std::memory_order_relaxed);
}

void metrics::set_trail_source(std::function<trail_figures()> source) {
    state_->trail = std::move(source);
}

void metrics::volume_alert(std::string_view client, std::string_view purpose) {
    state_->volume_alerts.get(join_key({client, purpose}))
        .value.fetch_add(1, std::memory_order_relaxed);
}

void metrics::volume_holds(std::int64_t n) {
    state_->volume_holds.store(n, std::memory_order_relaxed);
}

void metrics::reload_result(bool ok) {
    (ok ? state_->reloads_ok : state_->reloads_failed).fetch_add(1, std::memory_order_relaxed);
}

void metrics::upstream_token_request(std::string_view upstream, bool ok) {
    (ok ? state_->token_ok : state_->token_failed)
        .get(upstream)
        .value.fetch_add(1, std::memory_order_relaxed);
}

void metrics::upstream_auth_retry(std::string_view upstream) {
    state_->auth_retries.get(upstream).value.fetch_add(1, std::memory_order_relaxed);
}

std::int64_t metrics::active_connections() const {
    return state_->active_connections.load(std::memory_order_relaxed);
}

std::uint64_t metrics::requests_total() const { return load(state_->requests_total); }

std::string metrics::render() const {
    std::string out;
    out.reserve(4096);
    state_->append_connection_metrics(out);
    state_->append_requests_by_status(out);
    state_->append_request_durations(out);
    state_->append_body_bytes(out);
    state_->append_refusal_metrics(out);
    state_->append_volume_metrics(out);
    state_->append_export_metrics(out);
    state_->append_trail_metrics(out);
    state_->append_upstream_auth_metrics(out);
    state_->append_reload_metrics(out);
    return out;
}

void metrics::state::append_connection_metrics(std::string& out) const {
    append_single(out, "exportwall_active_connections", "gauge",
                  "Client connections currently open.",
                  active_connections.load(std::memory_order_relaxed));
    append_single(out, "exportwall_connections_total", "counter",
                  "Client connections accepted since start.", load(connections_total));
}

void metrics::state::append_requests_by_status(std::string& out) const {
    append_header(out, "exportwall_requests_total", "counter",
                  "Requests answered, by route and status sent to the client.");
    routes.for_each([&](const route_series& s) {
        for (std::size_t st = 0; st < max_status; ++st) {
            const std::uint64_t n = load(s.by_status[st]);
            if (n == 0) continue;
            out += "exportwall_requests_total{";
            append_label(out, "route", s.name);
            out += ',';
            append_label(out, "status", std::to_string(st));
            out += "} ";
            append_number(out, n);
            out += '\n';
        }
    });
}

void metrics::state::append_request_durations(std::string& out) const {
    append_header(out, "exportwall_request_duration_seconds", "histogram",
                  "Time from the first request byte to the last response byte, by route.");
    routes.for_each([&](const route_series& s) {
        std::uint64_t cumulative = 0;
        for (std::size_t b = 0; b <= duration_bounds.size(); ++b) {
            cumulative += load(s.buckets[b]);
            out += "exportwall_request_duration_seconds_bucket{";
            append_label(out, "route", s.name);
            out += ",le=\"";
            if (b < duration_bounds.size())
                append_number(out, duration_bounds[b]);
            else
                out += "+Inf";
            out += "\"} ";
            append_number(out, cumulative);
            out += '\n';
        }
        out += "exportwall_request_duration_seconds_sum{";
        append_label(out, "route", s.name);
        out += "} ";
        append_number(out, static_cast<double>(load(s.duration_sum_ns)) / 1e9);
        out += "\nexportwall_request_duration_seconds_count{";
        append_label(out, "route", s.name);
        out += "} ";
        // The count is the +Inf bucket's value, as the format requires (same increments).
        append_number(out, cumulative);
        out += '\n';
    });
}

void metrics::state::append_body_bytes(std::string& out) const {
    append_header(out, "exportwall_received_bytes_total", "counter",
                  "Request body bytes received from clients, by route.");
    routes.for_each([&](const route_series& s) {
        out += "exportwall_received_bytes_total{";
        append_label(out, "route", s.name);
        out += "} ";
        append_number(out, load(s.bytes_in));
        out += '\n';
    });

    append_header(out, "exportwall_sent_bytes_total", "counter",
                  "Response body bytes sent to clients, by route.");
    routes.for_each([&](const route_series& s) {
        out += "exportwall_sent_bytes_total{";
        append_label(out, "route", s.name);
        out += "} ";
        append_number(out, load(s.bytes_out));
        out += '\n';
    });
}

// Failures and refusals counted by a single label: the CRM's, the listener's, the quota's and the
// relay's.
void metrics::state::append_refusal_metrics(std::string& out) const {
    append_header(out, "exportwall_upstream_errors_total", "counter",
                  "Upstream failures, by kind (connect, tls, timeout, reset, malformed).");
    append_labelled(out, "exportwall_upstream_errors_total", "kind", upstream_errors);

    append_header(out, "exportwall_connections_refused_total", "counter",
                  "Connections closed unheard on a proxy-protocol listener, by reason "
                  "(untrusted_peer, proxy_protocol).");
    append_labelled(out, "exportwall_connections_refused_total", "reason", connections_refused);

    append_header(out, "exportwall_quota_refusals_total", "counter",
                  "Exports refused or cut by a quota, a paged export's max-records, the quota "
                  "store or a volume hold, by reason.");
    append_labelled(out, "exportwall_quota_refusals_total", "reason", quota_refusals);

    append_header(out, "exportwall_exports_aborted_total", "counter",
                  "Responses cut mid-stream (no terminating chunk), by reason.");
    append_labelled(out, "exportwall_exports_aborted_total", "reason", aborted);
}

void metrics::state::append_volume_metrics(std::string& out) const {
    append_header(out, "exportwall_volume_alerts_total", "counter",
                  "Volume alerts (an hour's records above the grant's threshold), by client and "
                  "purpose.");
    volume_alerts.for_each([&](const grant_counter& c) {
        out += "exportwall_volume_alerts_total{";
        append_label(out, "client", c.client);
        out += ',';
        append_label(out, "purpose", c.purpose);
        out += "} ";
        append_number(out, load(c.value));
        out += '\n';
    });

    append_single(out, "exportwall_volume_holds", "gauge",
                  "Grants a volume alert holds (on-anomaly refuse) until an operator clears "
                  "them.",
                  volume_holds.load(std::memory_order_relaxed));
}

// Exports by decision, reason and grant, and their records; the candidate policy's decisions;
// the grants' quota windows; the records the purposes' rules dropped.
void metrics::state::append_export_metrics(std::string& out) const {
    static constexpr std::array<std::string_view, 5> export_names{"decision", "reason", "client",
                                                                  "purpose", "destination"};
    append_header(out, "exportwall_exports_total", "counter",
                  "Exports recorded, by decision, reason and grant (client, purpose, destination: "
                  "configuration ids).");
    append_keyed(out, "exportwall_exports_total", export_names, exports,
                 [](const export_counter& c) { return load(c.exports); });
    append_header(out, "exportwall_export_records_in_total", "counter",
                  "Records read from the CRM by exports, by decision, reason and grant.");
    append_keyed(out, "exportwall_export_records_in_total", export_names, exports,
                 [](const export_counter& c) { return load(c.records_in); });
    append_header(out, "exportwall_export_records_out_total", "counter",
                  "Records delivered to clients, by decision, reason and grant.");
    append_keyed(out, "exportwall_export_records_out_total", export_names, exports,
                 [](const export_counter& c) { return load(c.records_out); });
    append_header(out, "exportwall_shadow_exports_total", "counter",
                  "Exports the candidate policy (<shadow>) also decided, by the enforced decision, "
                  "the candidate's decision and reason, client and purpose. Where decision and "
                  "shadow_decision differ, signing the candidate would change the outcome.");
    static constexpr std::array<std::string_view, 5> shadow_names{
        "decision", "shadow_decision", "shadow_reason", "client", "purpose"};
    append_keyed(out, "exportwall_shadow_exports_total", shadow_names, shadow,
                 [](const export_counter& c) { return load(c.exports); });
    static constexpr std::array<std::string_view, 3> grant_names{"client", "purpose",
                                                                 "destination"};
    append_header(out, "exportwall_quota_used_records", "gauge",
                  "Records counted against a grant's quota window (delivered, and reserved by "
                  "exports in flight) at this replica's last reservation, by grant.");
    append_keyed(out, "exportwall_quota_used_records", grant_names, quotas,
                 [](const quota_gauge& g) { return load(g.used); });
    append_header(out, "exportwall_quota_limit_records", "gauge",
                  "The records a grant's quota allows per window (quota=\"N/period\"), by grant.");
    append_keyed(out, "exportwall_quota_limit_records", grant_names, quotas,
                 [](const quota_gauge& g) { return load(g.limit); });
    append_header(out, "exportwall_records_dropped_total", "counter",
                  "Records the purpose's rules dropped, by drop reason.");
    append_labelled(out, "exportwall_records_dropped_total", "reason", dropped);
}

// The audit writer's figures and, with a <syslog> forwarder, the forwarder's: pulled from the
// trail at render time; nothing when no trail source is set.
void metrics::state::append_trail_metrics(std::string& out) const {
    if (!trail) return;
    const trail_figures t = trail();
    append_single(out, "exportwall_audit_records_written_total", "counter",
                  "Audit records written to the trail.", t.records_written);
    append_single(out, "exportwall_audit_write_failures_total", "counter",
                  "Audit writer batches that failed (write, sync, rotate or open).",
                  t.write_failures);
    append_single(out, "exportwall_audit_fsyncs_total", "counter",
                  "fdatasync calls of the audit writer.", t.fsyncs);
    append_single(out, "exportwall_audit_queue_depth", "gauge",
                  "Audit records waiting for the writer thread.", t.queue_depth);
    append_single(out, "exportwall_audit_files_pruned_total", "counter",
                  "Rotated audit files removed by the retention budget (keep-bytes, keep-days).",
                  t.files_pruned);
    if (t.syslog) append_syslog_figures(out, t);
}

void metrics::state::append_upstream_auth_metrics(std::string& out) const {
    append_header(out, "exportwall_upstream_token_requests_total", "counter",
                  "Requests to an upstream's OAuth2 token endpoint, by upstream and result (ok: "
                  "an access token came back).");
    for (const auto& [table, result] :
         {std::pair{&token_ok, "ok"}, std::pair{&token_failed, "error"}}) {
        const std::string_view result_label = result;
        table->for_each([&out, result_label](const label_counter& c) {
            out += "exportwall_upstream_token_requests_total{";
            append_label(out, "upstream", c.name);
            out += ',';
            append_label(out, "result", result_label);
            out += "} ";
            append_number(out, load(c.value));
            out += '\n';
        });
    }
    append_header(out, "exportwall_upstream_auth_retries_total", "counter",
                  "Upstream requests sent again with a fresh OAuth2 token after a 401, by "
                  "upstream.");
    append_labelled(out, "exportwall_upstream_auth_retries_total", "upstream", auth_retries);
}

void metrics::state::append_reload_metrics(std::string& out) const {
    append_header(out, "exportwall_config_reloads_total", "counter",
                  "Configuration reloads, by result.");
    out += "exportwall_config_reloads_total{result=\"ok\"} ";
    append_number(out, load(reloads_ok));
    out += "\nexportwall_config_reloads_total{result=\"failed\"} ";
    append_number(out, load(reloads_failed));
    out += '\n';
}

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
    return out;
}

}  // namespace exportwall::proxy
