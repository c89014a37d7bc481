#include "proxy/session.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "audit/record.hpp"
#include "config/decide.hpp"
#include "config/route_match.hpp"
#include "proxy/abort_reason.hpp"
#include "proxy/client_address.hpp"
#include "proxy/enforcement.hpp"
#include "proxy/export_plan.hpp"
#include "proxy/export_quota.hpp"
#include "proxy/forward.hpp"
#include "proxy/in_flight.hpp"
#include "proxy/problem.hpp"
#include "proxy/request_head.hpp"
#include "proxy/runtime.hpp"
#include "proxy/sink_body.hpp"
#include "proxy/stream.hpp"
#include "proxy/target.hpp"
#include "proxy/tls.hpp"
#include "proxy/upstream_token.hpp"
#include "proxy/volume_monitor.hpp"

namespace exportwall::proxy {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using std::chrono::milliseconds;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// The relay buffer: one read from the CRM, one write to the client. It bounds the memory of an
// export together with the parser's read buffer, whatever the body size.
constexpr std::size_t relay_buffer_size = 64 * 1024;
// Filtered output is gathered up to this size while the CRM's next bytes are already here: a
// bulk export that keeps 1 byte in 15 would otherwise cost a client write (and a wake-up of the
// client) per upstream read. Nothing waits for it: once the CRM has nothing more ready, what is
// gathered goes out.
constexpr std::size_t coalesce_bytes = 32 * 1024;
// The most one read of a response body takes from the CRM.
constexpr std::size_t body_read_bytes = 256 * 1024;
// A closing connection waits this long for the peer to read our last answer (lingering close).
constexpr milliseconds linger_time{2000};

// A field of exportwall's own X-Export-* namespace (case-insensitive).
bool is_export_field(std::string_view name) noexcept {
    constexpr std::string_view prefix = "x-export-";
    if (name.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

// Everything the access log and the metrics say about one request.
struct request_record {
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::string request_id;
    std::string audit_id;
    std::string method;
    std::string route;
    std::string path;
    std::string query;
    unsigned status = 0;
    unsigned upstream_status = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t upstream_bytes = 0;  // response body bytes read from the CRM (audit bytes_in)
    std::string_view outcome = "complete";
    std::string_view reason;
};

[[nodiscard]] config::ip_bytes ip_of(const net::ip::address& a) {
    config::ip_bytes out{};
    if (a.is_v4()) {
        auto v4 = a.to_v4().to_bytes();
        out[10] = 0xff;
        out[11] = 0xff;
        std::copy(v4.begin(), v4.end(), out.begin() + 12);
    } else {
        auto v6 = a.to_v6().to_bytes();
        std::copy(v6.begin(), v6.end(), out.begin());
    }
    return out;
}

[[nodiscard]] std::string endpoint_text(const tcp::endpoint& ep) {
    auto address = ep.address().to_string();
    if (ep.address().is_v6()) return "[" + address + "]:" + std::to_string(ep.port());
    return address + ":" + std::to_string(ep.port());
}

[[nodiscard]] bool is_idempotent_without_body(std::string_view method) {
    return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

[[nodiscard]] bool is_http_error(const error_code& ec) {
    static const error_code sample = http::error::bad_version;
    return ec.category() == sample.category();
}

// What went wrong between exportwall and the CRM: the kind of exportwall_upstream_errors_total.
enum class upstream_fault : std::uint8_t {
    connect,    // no connection (or the host does not resolve)
    tls,        // no TLS session with the CRM
    timeout,    // the CRM did not answer in time
    reset,      // the CRM closed or reset the connection
    malformed,  // the CRM's answer cannot be parsed
};

// The metrics label of a fault: "connect", "tls", "timeout", "reset", "malformed".
[[nodiscard]] std::string_view kind_name(upstream_fault f) noexcept {
    switch (f) {
        case upstream_fault::connect:
            return "connect";
        case upstream_fault::tls:
            return "tls";
        case upstream_fault::timeout:
            return "timeout";
        case upstream_fault::reset:
            return "reset";
        case upstream_fault::malformed:
            return "malformed";
    }
    return "reset";
}

// Why a read of the CRM's body failed: the export's abort and the fault it counts.
struct body_failure {
    abort_reason why;
    upstream_fault fault;
};

// Where the CRM's body bytes go: through the export's filter (or monitor-mode transform) into
// `out`, or into `out` as they are when nothing filters them.
class relay_sink final : public body_sink {
  public:
    relay_sink(std::string& out, export_case* transform) : out_(out), transform_(transform) {}

    bool take(std::string_view bytes) override {
        taken_ += bytes.size();
        if (transform_ == nullptr) {
            out_.append(bytes);
            return true;
        }
        if (auto ec = transform_->transform(bytes, out_)) {
            failure_ = export_case::reason_for(ec);
            return false;
        }
        return true;
    }
    // Body bytes received so far.
    [[nodiscard]] std::uint64_t taken() const { return taken_; }
    // Why the filter refused the body; nullopt while it has not.
    [[nodiscard]] std::optional<abort_reason> failure() const { return failure_; }

  private:
    std::string& out_;
    export_case* transform_;
    std::uint64_t taken_ = 0;
    std::optional<abort_reason> failure_;
};

[[nodiscard]] body_failure classify_body_error(const error_code& ec, bool expired) {
    if (expired) return {abort_reason::upstream_timeout, upstream_fault::timeout};
    if (ec == http::error::partial_message || ec == net::error::eof ||
        ec == net::error::connection_reset)
        return {abort_reason::upstream_reset, upstream_fault::reset};
    if (is_http_error(ec)) return {abort_reason::upstream_malformed, upstream_fault::malformed};
    return {abort_reason::upstream_reset, upstream_fault::reset};
}

// The abort of an export its quota cut: export_quota::refusal() names quota_exceeded,
// record_limit_exceeded or quota_store_unavailable.
[[nodiscard]] abort_reason quota_cut_reason(config::reason r) noexcept {
    switch (r) {
        case config::reason::quota_exceeded:
            return abort_reason::quota_exceeded;
        case config::reason::record_limit_exceeded:
            return abort_reason::record_limit_exceeded;
        default:
            return abort_reason::quota_store_unavailable;
    }
}

// Appends `r` to the audit trail and resumes on the caller's executor once it is stored
// (durably when asked). The sink completes on its own thread, which must touch no strand: it
// posts to the plain io_context executor (a pointer, no shared state), and the io thread
// dispatches the coroutine's handler onto its strand.
net::awaitable<error_code> record_audit(audit::sink& sink, audit::record r, bool durable) {
    auto ex = co_await net::this_coro::executor;
    auto io = static_cast<net::io_context&>(net::query(ex, net::execution::context)).get_executor();
    auto [ec] = co_await net::async_initiate<decltype(use_tuple), void(error_code)>(
        [&sink, io](auto handler, audit::record rec, bool d) {
            using handler_type = decltype(handler);
            // std::function needs a copyable callable; the coroutine's handler is move-only.
            auto h = std::make_shared<handler_type>(std::move(handler));
            sink.append(std::move(rec), d, [h, io](error_code result) mutable {
                net::post(io, [h = std::move(h), result]() mutable {
                    auto strand = net::get_associated_executor(*h);
                    net::dispatch(strand,
                                  [h = std::move(h), result]() mutable { std::move (*h)(result); });
                });
            });
        },
        use_tuple, std::move(r), durable);
    co_return ec;
}

// Seconds since the epoch as an RFC 3339 UTC time ("2026-12-05T00:00:00Z").
std::string utc_time(std::int64_t seconds) {
    const auto t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// What a part of the relay tells forward(): nothing (go on), or that the request has ended — its
// answer, a refusal or an abort, is given — with forward()'s result (the client's connection
// stays open).
using relay_end = std::optional<bool>;

// One request's way to the CRM and back: what forward() prepares and the parts of the relay it
// calls in turn share. It lives in forward()'s frame and ends with it.
struct exchange {
    exchange(request_record& r, const snapshot& s, const config::route& rt,
             const config::upstream& u)
        : rec(r), snap(s), cfg(*s.config), lim(cfg.net.limit), route(rt), up(u) {}

    request_record& rec;
    const snapshot& snap;
    const config::configuration& cfg;
    const config::limits& lim;
    const config::route& route;
    const config::upstream& up;

    // The client's request, copied before its head's bytes are consumed.
    bool head_request = false;
    unsigned version = 0;
    bool client_keep_alive = false;
    bool expect_continue = false;
    body_framing framing = body_framing::none;  // of the body still to read from the client
    std::string_view pre_read_body;             // a body read whole before the decision
    bool keep_on_refusal = false;               // an upstream failure keeps the connection
    // Beast's decoder of the body streamed from the client (none without one).
    std::optional<http::request_parser<http::buffer_body>> body;

    // The CRM's request and connection. `key` is the pool's (per io_context), `reach_key` the
    // origin's reachability.
    upstream_token_source* tokens = nullptr;  // <oauth2> upstreams only
    std::shared_ptr<const std::string> bearer;
    std::string up_head;
    std::string reach_key;
    std::string key;
    bool retryable = false;       // sent again after a reused connection closed
    bool auth_retryable = false;  // sent again once after a 401 to its token
    bool auth_retried = false;
    bool retry = false;  // set by a part: send the request again on a fresh connection
    std::unique_ptr<byte_stream> conn;
    bool reused = false;  // conn came from the pool

    // The CRM's response and the client's.
    beast::flat_buffer ubuf;
    std::optional<http::response_parser<sink_body>> resp;
    unsigned status = 0;
    response_framing out_framing = response_framing::none;
    bool keep_alive = false;  // the client's connection after a complete response
    bool transforming = false;  // the body goes through the export's filter (export_case)
    std::string filtered;       // the filter's output not written yet
    // Where the parser hands the body's bytes; it lives as long as the parser that points to it.
    std::optional<relay_sink> sink;
};

class session;

// Where a stop's cut reaches a session: its owner is set while a request is in flight and
// cleared when it ends. Read and written on the session's strand only; shared with the cut
// function in runtime::in_flight(), which may outlive the request (and the session).
struct cut_handle {
    session* owner = nullptr;
};

class session {
  public:
    session(runtime& rt, std::shared_ptr<const listener_context> listener, tcp::socket s)
        : rt_(rt),
          listener_(std::move(listener)),
          tls_context_(listener_->tls.load()),
          client_(tls_context_ ? byte_stream(std::move(s), *tls_context_)
                               : byte_stream(std::move(s))),
          client_deadline_(client_.get_executor()),
          upstream_deadline_(client_.get_executor()) {
        error_code ec;
        auto ep = client_.socket().remote_endpoint(ec);
        if (!ec) {
            conn_remote_ = endpoint_text(ep);
            conn_remote_ip_ = ep.address().to_string();
            conn_ip_ = ip_of(ep.address());
        }
        remote_ = conn_remote_;
        remote_ip_ = conn_remote_ip_;
        client_.socket().set_option(tcp::no_delay(true), ec);
    }

    net::awaitable<void> run();

  private:
    // PROXY protocol v2 (listener proxy-protocol="v2"): reads the balancer's header before
    // anything else and takes its source as the connection's client. False: the connection is
    // closed unheard (an untrusted peer, a header that is not v2, too slow or too long).
    net::awaitable<bool> read_proxy_header(const config::limits& lim);
    // Who this request's client is: the connection's, or the one a trusted balancer names in
    // X-Forwarded-For (listener forwarded-for). False: X-Forwarded-For from a trusted peer names
    // something that is not an address; the request is refused.
    [[nodiscard]] bool attribute_client();
    // The grant's quota window in /metrics, as the last reservation left it.
    void note_quota_usage() {
        if (!quota_ || !case_) return;
        if (auto u = quota_->grant_usage()) {
            const config::decision& d = case_->decision();
            rt_.stats().quota_usage(d.client_id, d.purpose_id, d.destination_id, u->used, u->limit);
        }
    }
    // The balancer and trace id of this request, on any audit record it writes.
    void stamp(audit::record& r) const {
        if (r.via.empty()) r.via = via_;
        if (r.trace_id.empty() && !traceparent_.empty()) r.trace_id = traceparent_.substr(3, 32);
    }
    net::awaitable<std::size_t> read_head(const config::limits& lim, bool first);
    net::awaitable<bool> serve_one(std::size_t head_len);
    // The request's head checked (check_request_head), its request id, trace context and client
    // taken and its target normalised; a malformed one is rejected (the request ends).
    net::awaitable<relay_end> read_request(request_record& rec, std::size_t head_len,
                                           const config::limits& lim);
    // What the route asks before the export is decided: a route (404), one of its methods (405),
    // a body it may carry (413), its upstream (`up`; 502), and an audit trail and subject index
    // that can be written (503 audit_unavailable). A refusal ends the request.
    net::awaitable<relay_end> check_route(request_record& rec, const snapshot& snap,
                                          const config::route* route, const config::upstream*& up,
                                          std::size_t head_len, bool can_keep);
    // Reads a body whole (a query language that carries its query there); 0 or the refusal's
    // status with `detail`. The head is copied first: its views must survive the read.
    net::awaitable<unsigned> read_query_body(std::size_t head_len, const config::limits& lim,
                                             std::string& detail);
    // Relays one admitted request to the CRM and its response back (README.md, "The relay"); the
    // parts below, in the order it calls them, share its `exchange`.
    net::awaitable<bool> forward(request_record& rec, const snapshot& snap,
                                 const config::route& route, const config::upstream& up,
                                 std::size_t head_len);
    // The CRM's request head (the client's head is still in cbuf_: its views are read here).
    [[nodiscard]] std::string upstream_request_head(const exchange& x) const;
    // A pooled connection on the first attempt, else a new one; then the head (and a body read
    // ahead) and the client's body. Sets x.retry when a reused connection was closed under it.
    net::awaitable<relay_end> send_request(exchange& x, int attempt);
    // The client's body, streamed to the CRM through the relay buffer (re-chunked when chunked).
    net::awaitable<relay_end> relay_request_body(exchange& x);
    // The CRM's response head, interim 1xx skipped. Sets x.retry when a reused connection closed
    // before answering.
    net::awaitable<relay_end> read_response_head(exchange& x);
    // The CRM answered 401 to an <oauth2> token: nothing (send again with a fresh token) once,
    // else a 503 refusal.
    net::awaitable<relay_end> renew_token(exchange& x);
    // The response plan and the client's response head, kept in pending_head_.
    net::awaitable<relay_end> start_response(exchange& x);
    // The body's pieces: read from the CRM, filtered, written to the client with back-pressure.
    net::awaitable<relay_end> relay_response_body(exchange& x);
    // The response's end: the filter's last output, the quota's cut or return, the audit record,
    // the last write (with the terminating chunk) and the CRM connection back to the pool.
    net::awaitable<bool> end_response(exchange& x);
    // Why a write to the client failed: it stopped reading, or it went away.
    [[nodiscard]] abort_reason client_failure() const;
    // A connection to the CRM, or null with `fault` set.
    net::awaitable<std::unique_ptr<byte_stream>> connect(const config::upstream& up,
                                                         const snapshot& snap,
                                                         const config::limits& lim,
                                                         upstream_fault& fault);
    // Refuses the request before any byte of an answer went out: its audit record (blocked, or
    // aborted for an allowed export the CRM failed), then the problem document with status
    // http_status(why) (503 audit_unavailable when the record cannot be written), then the
    // access log. Returns whether the connection stays open.
    net::awaitable<bool> refuse(request_record& rec, config::reason why, std::string_view detail,
                                bool keep_alive, std::string_view extra_fields = {});
    // refuse() with the status given: only for the reasons whose status is not fixed —
    // request_rejected (reject()) and upstream_error, which answers the CRM's own status.
    net::awaitable<bool> refuse(request_record& rec, config::reason why, unsigned status,
                                std::string_view detail, bool keep_alive,
                                std::string_view extra_fields = {});
    // request_rejected, whose status says what was wrong with the request: 400 (framing, target,
    // X-Forwarded-For), 408 (too slow), 413 (body too large), 431 (head too large), or
    // check_request_head's 501/505. The connection closes: after such a request nothing more on
    // it can be trusted.
    net::awaitable<bool> reject(request_record& rec, unsigned status, std::string_view detail);
    net::awaitable<void> graceful_close();
    template <class Buffers>
    net::awaitable<error_code> write_client(const Buffers& buffers, milliseconds idle);
    template <class Buffers>
    net::awaitable<error_code> write_upstream(byte_stream& up, const Buffers& buffers,
                                              milliseconds idle);
    // Writes one piece of a response body in the client's framing (a chunk when chunked), after
    // the response head while it is pending, and with the terminating chunk when `last`: one
    // gathered write.
    net::awaitable<error_code> write_body_piece(std::string_view piece, response_framing framing,
                                                milliseconds idle, bool last = false);
    void finish(request_record& rec);
    // abort() for an export whose response head may still be pending: the head goes out first
    // (a cut export's client sees its status, then a body without its end, as if the head had not
    // waited for the body), then the export ends like any cut one.
    net::awaitable<bool> abort_response(request_record& rec, byte_stream& up, abort_reason why,
                                        milliseconds idle);
    // Ends an export that cannot complete (the CRM's connection `up` is closed too): the client's
    // connection closes without the response's end, the audit record says `aborted` with the
    // reason (`shutdown` once a stop cut the session), the access log gets its line.
    bool abort(request_record& rec, byte_stream& up, abort_reason why);
    bool abort(request_record& rec, abort_reason why);
    // A stop's shutdown-grace is over and this request is still in flight: whatever it waits for
    // fails now (the client's pending operation is cancelled, the CRM's connection closed, a
    // connect in progress cancelled) and nothing more is written to the client, so it ends in
    // abort() with reason `shutdown`. A request whose audit record is already stored (complete
    // but for its last bytes, or a refusal being written) finishes as it is.
    void cut_for_shutdown();
    // Counts an upstream failure in the metrics, unless it is the cut's own doing.
    void upstream_error(upstream_fault fault) {
        if (!shutdown_cut_) rt_.stats().upstream_error(kind_name(fault));
    }

    [[nodiscard]] std::string_view buffered() const {
        auto d = cbuf_.data();
        return {static_cast<const char*>(d.data()), d.size()};
    }

    runtime& rt_;
    std::shared_ptr<const listener_context> listener_;
    std::shared_ptr<net::ssl::context> tls_context_;  // before client_, which uses it
    byte_stream client_;
    io_deadline client_deadline_;
    io_deadline upstream_deadline_;
    beast::flat_buffer cbuf_;
    // The connection's client (its peer, or the PROXY header's source) and, per request, the
    // client the audit names (remote_: address:port, or the address alone from X-Forwarded-For),
    // the balancer in between (via_, empty when none) and the checked traceparent.
    std::string conn_remote_;
    std::string conn_remote_ip_;
    config::ip_bytes conn_ip_{};
    std::string conn_via_;
    bool forwarded_for_closed_ = false;  // a PROXY header that named no client
    std::string remote_;
    std::string remote_ip_;
    std::string via_;
    std::string traceparent_;
    peer_identity peer_;
    request_head head_;
    normalised_target target_;
    std::unique_ptr<char[]> relay_;
    std::string scratch_;
    // The relayed response's head until it is written: it goes out with the first body bytes,
    // before the relay waits for the CRM, or with the end of a response that needed no wait (a
    // small export's head, body and terminating chunk then cost one write, not three).
    std::string pending_head_;
    // The current request's enforcement (null before a route matched) and whether its audit
    // record has been written.
    std::unique_ptr<export_case> case_;
    bool audited_ = false;
    // The current export's quota and paged-export accounting (null when nothing counts it), and
    // whether a refusal after the decision allowed it (quota, volume hold) is a policy block.
    std::unique_ptr<export_quota> quota_;
    bool late_block_ = false;
    bool late_keep_alive_ = false;
    std::uint64_t written_records_ = 0;  // records of the output already written to the client
    net::awaitable<bool> admit_volume_and_quota(request_record& rec, std::size_t head_len,
                                                bool keep_alive);
    // Cuts `filtered` at the last record the quota covers; the abort's reason when it cut.
    net::awaitable<std::optional<abort_reason>> cut_at_quota(std::string& filtered);
    // The export ended (complete or aborted): its unused reservation goes back and its records
    // count towards the grant's hourly volume.
    void end_export();

    // A body read whole before the decision (query languages that read it), and the copy of
    // the head its views then point into.
    std::string head_copy_;
    std::string query_body_;
    bool body_pre_read_ = false;
    // When the current request's first byte arrived (request-deadline).
    std::chrono::steady_clock::time_point request_start_{};
    // How long a body read may wait: the idle limit, or what is left of the request deadline.
    [[nodiscard]] std::chrono::milliseconds body_wait(const config::limits& lim) const {
        auto left = lim.request_deadline - std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - request_start_);
        return std::max(std::chrono::milliseconds(1), std::min(lim.request_body_idle, left));
    }
    // The body came too slowly: past the request deadline, or under the minimum rate after its
    // first second.
    [[nodiscard]] bool body_too_slow(const config::limits& lim, std::uint64_t bytes,
                                     std::chrono::steady_clock::time_point body_start) const {
        auto now = std::chrono::steady_clock::now();
        if (now - request_start_ >= lim.request_deadline) return true;
        auto elapsed = std::chrono::duration<double>(now - body_start).count();
        return lim.min_request_body_rate != 0 && elapsed > 1.0 &&
               static_cast<double>(bytes) / elapsed <
                   static_cast<double>(lim.min_request_body_rate);
    }
    // The current response to the client ends with the connection (no length, no chunks).
    bool close_delimited_ = false;
    // The current export's CRM connection while forward() holds it (for the cut).
    byte_stream* upstream_ = nullptr;
    // A stop cut the current request short (cut_for_shutdown).
    bool shutdown_cut_ = false;
};

template <class Buffers>
net::awaitable<error_code> session::write_client(const Buffers& buffers, milliseconds idle) {
    // Cut by a stop: nothing more goes to the client (abort() closes the connection).
    if (shutdown_cut_) co_return error_code(net::error::operation_aborted);
    client_deadline_.arm(client_.socket(), idle);
    auto [ec, n] = co_await net::async_write(client_, buffers, use_tuple);
    client_deadline_.disarm();
    (void)n;
    co_return ec;
}

template <class Buffers>
net::awaitable<error_code> session::write_upstream(byte_stream& up, const Buffers& buffers,
                                                   milliseconds idle) {
    upstream_deadline_.arm(up.socket(), idle);
    auto [ec, n] = co_await net::async_write(up, buffers, use_tuple);
    upstream_deadline_.disarm();
    (void)n;
    co_return ec;
}

net::awaitable<error_code> session::write_body_piece(std::string_view piece,
                                                     response_framing framing, milliseconds idle,
                                                     bool last) {
    // Unused places stay empty buffers: a gathered write skips them.
    std::array<net::const_buffer, 5> pieces;
    std::size_t n = 0;
    if (!pending_head_.empty()) pieces[n++] = net::buffer(pending_head_);
    if (framing != response_framing::chunked) {
        pieces[n++] = net::buffer(piece.data(), piece.size());
    } else {
        if (!piece.empty()) {
            chunk_size_line(piece.size(), scratch_);
            pieces[n++] = net::buffer(scratch_);
            pieces[n++] = net::buffer(piece.data(), piece.size());
            pieces[n++] = net::buffer("\r\n", 2);
        }
        if (last) pieces[n++] = net::buffer("0\r\n\r\n", 5);
    }
    auto ec = co_await write_client(pieces, idle);
    pending_head_.clear();
    co_return ec;
}

void session::finish(request_record& rec) {
    auto elapsed = std::chrono::steady_clock::now() - rec.start;
    double seconds = std::chrono::duration<double>(elapsed).count();
    rt_.stats().request_finished(rec.route, rec.status, seconds, rec.bytes_in, rec.bytes_out);
    access_entry e;
    e.request_id = rec.request_id;
    e.audit_id = rec.audit_id;
    e.remote = remote_;
    e.via = via_;
    if (!traceparent_.empty()) e.trace_id = std::string_view(traceparent_).substr(3, 32);
    e.method = rec.method;
    e.route = rec.route;
    e.path = rec.path;
    e.query = rec.query;
    e.status = rec.status;
    e.upstream_status = rec.upstream_status;
    e.bytes_in = rec.bytes_in;
    e.bytes_out = rec.bytes_out;
    e.duration_ms = seconds * 1000.0;
    e.outcome = rec.outcome;
    e.reason = rec.reason;
    rt_.log().write(e);
}

net::awaitable<bool> session::abort_response(request_record& rec, byte_stream& up, abort_reason why,
                                             milliseconds idle) {
    // Pending only while no write to the client was tried: this one cannot wait on a failed one.
    if (!pending_head_.empty()) {
        std::string head = std::move(pending_head_);
        pending_head_.clear();
        (void)co_await write_client(net::buffer(head), idle);
    }
    co_return abort(rec, up, why);
}

bool session::abort(request_record& rec, byte_stream& up, abort_reason why) {
    // Never complete a cut export: the client's response ends without its terminating chunk
    // (or short of its Content-Length) and both connections close; nothing goes back to the pool.
    up.close();
    return abort(rec, why);
}

bool session::abort(request_record& rec, abort_reason why) {
    // Whatever failed after a stop's cut (a read from the closed CRM connection, a write the cut
    // refused) failed because of it.
    if (shutdown_cut_) why = abort_reason::shutdown;
    // A close-delimited body (HTTP/1.0 client) has no end marker of its own: a FIN would read as
    // its complete end, a reset cannot.
    if (close_delimited_) {
        client_.reset();
    } else {
        client_.close();
    }
    rec.outcome = "aborted";
    rec.reason = to_string(why);
    rt_.stats().export_aborted(to_string(why));
    // What the filter produced counts as delivered (the client may have read it): fail closed.
    end_export();
    if (case_ && !audited_ && rt_.audit != nullptr) {
        // The client is gone or cut off: nobody waits for this record, but it is written.
        audited_ = true;
        auto r = case_->audit_record(why, rec.status, rec.upstream_bytes, rec.bytes_out);
        stamp(r);
        rt_.audit->append(std::move(r), false, [](error_code) {});
    }
    spdlog::warn("export aborted: request {} route {} reason {} after {} body bytes",
                 rec.request_id, rec.route, to_string(why), rec.bytes_out);
    finish(rec);
    return false;
}

void session::cut_for_shutdown() {
    if (audited_) return;
    shutdown_cut_ = true;
    error_code ignored;
    client_.socket().cancel(ignored);
    upstream_deadline_.cancel_pending();
    if (upstream_ != nullptr) upstream_->close();
}

net::awaitable<bool> session::refuse(request_record& rec, config::reason why,
                                     std::string_view detail, bool keep_alive,
                                     std::string_view extra_fields) {
    co_return co_await refuse(rec, why, config::http_status(why), detail, keep_alive, extra_fields);
}

net::awaitable<bool> session::reject(request_record& rec, unsigned status,
                                     std::string_view detail) {
    co_return co_await refuse(rec, config::reason::request_rejected, status, detail, false);
}

net::awaitable<bool> session::refuse(request_record& rec, config::reason why, unsigned status,
                                     std::string_view detail, bool keep_alive,
                                     std::string_view extra_fields) {
    if (rec.audit_id.empty()) rec.audit_id = audit::new_record_id();
    if (rec.request_id.empty()) rec.request_id = generate_request_id();
    if (shutdown_cut_ && !(case_ && (case_->refused() || late_block_))) {
        // An export a stop cut before its answer began (the CRM's connection or the client's
        // failed because of the cut): aborted like any cut export; nothing of it was delivered.
        if (case_) case_->set_delivered(0);
        co_return abort(rec, abort_reason::shutdown);
    }
    // Draining: the answer closes the connection.
    keep_alive = keep_alive && !rt_.draining.load();
    // An export refused after its first reservation (the CRM failed, answered an error) returns
    // it: nothing was delivered.
    if (quota_ && quota_->active()) {
        case_->set_delivered(0);
        end_export();
    }
    if (!audited_ && rt_.audit != nullptr) {
        // Every refusal is a decision with its record. A policy refusal's record is on disk
        // (sync="blocked") before the client hears of it; if it cannot be written, the answer
        // says so and nothing else happens.
        audited_ = true;
        const bool policy_refusal = case_ && (case_->refused() || late_block_);
        audit::record r;
        if (case_) {
            // An export the decision allowed and the CRM then failed is aborted, not blocked.
            audit::decision decided = audit::decision::aborted;
            if (policy_refusal) decided = audit::decision::blocked;
            r = case_->audit_record(decided, why, status, rec.upstream_bytes, 0);
        } else {
            const auto& cfg = *rt_.current()->config;
            r.id = rec.audit_id;
            r.time = audit_time_now();
            r.mode = std::string(config::to_string(cfg.rules.global_mode));
            r.decision = std::string(audit::to_string(audit::decision::blocked));
            r.reason = std::string(config::to_string(why));
            add_refusal_rule(r);
            r.route = rec.route;
            r.method = rec.method;
            r.path = rec.path;
            if (!rec.query.empty()) {
                auto names = query_parameter_names(rec.query);
                std::replace(names.begin(), names.end(), ',', '&');
                r.path += "?" + names;
            }
            r.status = static_cast<int>(status);
            r.remote = remote_;
            r.policy_revision = cfg.revision;
        }
        r.id = rec.audit_id;
        stamp(r);
        bool durable = policy_refusal && rt_.audit_durable_refusals;
        if (auto aec = co_await record_audit(*rt_.audit, std::move(r), durable)) {
            spdlog::error("audit trail unavailable: refusal of request {} not recorded ({})",
                          rec.request_id, aec.message());
            why = config::reason::audit_unavailable;
            status = config::http_status(why);
            detail = "The audit trail cannot be written; nothing is exported until it can.";
            keep_alive = false;
        }
    }
    problem p{status, why, detail, rec.audit_id};
    std::string response = problem_response(p, keep_alive, head_.version, rec.request_id,
                                            rec.method == "HEAD", extra_fields);
    rec.status = status;
    rec.outcome = "refused";
    rec.reason = config::to_string(why);
    auto limit = rt_.current()->config->net.limit.client_write_idle;
    auto ec = co_await write_client(net::buffer(response), limit);
    finish(rec);
    if (ec) {
        client_.close();
        co_return false;
    }
    co_return keep_alive;
}

net::awaitable<void> session::graceful_close() {
    if (!client_.socket().is_open()) co_return;
    if (client_.is_tls()) {
        client_deadline_.arm(client_.socket(), linger_time);
        auto [ec] = co_await client_.tls()->async_shutdown(use_tuple);
        (void)ec;
        client_deadline_.disarm();
        client_.close();
        co_return;
    }
    // Shut down our side, then read (and drop) what the client still sends until it closes: a
    // close with unread bytes would send a reset that can destroy our last answer in flight.
    error_code ec;
    client_.socket().shutdown(tcp::socket::shutdown_send, ec);
    std::array<char, 4096> sink{};
    std::size_t drained = 0;
    client_deadline_.arm(client_.socket(), linger_time);
    while (!ec && drained < 256 * 1024) {
        auto [rec, n] = co_await client_.socket().async_read_some(net::buffer(sink), use_tuple);
        ec = rec;
        drained += n;
    }
    client_deadline_.disarm();
    client_.close();
}

net::awaitable<std::size_t> session::read_head(const config::limits& lim, bool first) {
    std::size_t scanned = 0;
    cbuf_.max_size(std::numeric_limits<std::size_t>::max());  // a body read may have capped it
    // The request's total deadline runs from its first byte (a pipelined one: already here).
    request_start_ = std::chrono::steady_clock::now();
    std::size_t head_len = find_head_end(buffered());
    if (head_len != 0) co_return head_len;
    // The first request must start promptly; between requests the connection may idle longer.
    bool idle = !first && cbuf_.size() == 0;
    client_deadline_.arm(client_.socket(), idle ? lim.keep_alive_idle : lim.request_head);
    while (true) {
        std::size_t room = std::max<std::size_t>(lim.max_head_bytes + 1, 1024);
        room = room > cbuf_.size() ? room - cbuf_.size() : 1;
        auto [ec, n] = co_await client_.async_read_some(
            cbuf_.prepare(std::min<std::size_t>(room, 16 * 1024)), use_tuple);
        cbuf_.commit(n);
        if (ec) {
            bool expired = client_deadline_.expired();
            client_deadline_.disarm();
            if (expired && cbuf_.size() != 0) {
                head_.clear();
                request_record rec;
                co_await reject(rec, 408, "The request head was not received in time.");
                co_await graceful_close();
            } else {
                client_.close();
            }
            co_return 0;
        }
        if (idle && cbuf_.size() != 0) {
            idle = false;
            request_start_ = std::chrono::steady_clock::now();
            client_deadline_.arm(client_.socket(), lim.request_head);
        }
        head_len = find_head_end(buffered(), scanned);
        scanned = cbuf_.size() > 3 ? cbuf_.size() - 3 : 0;
        if (head_len != 0) break;
        if (cbuf_.size() > lim.max_head_bytes) {
            client_deadline_.disarm();
            head_.clear();
            request_record rec;
            co_await reject(rec, 431, "The request head is too large.");
            co_await graceful_close();
            co_return 0;
        }
    }
    client_deadline_.disarm();
    co_return head_len;
}

net::awaitable<bool> session::read_proxy_header(const config::limits& lim) {
    // Only a trusted balancer may speak first: anyone else could name any client.
    if (!config::in_any(listener_->trusted_proxies, conn_ip_)) {
        rt_.stats().connection_refused("untrusted_peer");
        spdlog::debug("connection from {} refused: not a trusted proxy", conn_remote_);
        co_return false;
    }
    std::string header(max_proxy_header, '\0');
    std::size_t have = 0, needed = proxy_v2_fixed;
    proxy_v2_header h;
    client_deadline_.arm(client_.socket(), lim.tls_handshake);
    for (;;) {
        auto [ec, n] = co_await net::async_read(
            client_.socket(), net::buffer(header.data() + have, needed - have), use_tuple);
        have += n;
        auto status = ec ? proxy_v2_status::invalid
                         : parse_proxy_v2(std::string_view(header.data(), have), h, needed);
        if (status == proxy_v2_status::complete) break;
        if (status == proxy_v2_status::invalid) {
            client_deadline_.disarm();
            rt_.stats().connection_refused("proxy_protocol");
            spdlog::debug("connection from {} refused: no valid PROXY protocol v2 header",
                          conn_remote_);
            co_return false;
        }
    }
    client_deadline_.disarm();
    if (h.proxied) {
        conn_via_ = conn_remote_;
        conn_ip_ = h.source;
        conn_remote_ip_ = ip_text(h.source);
        const bool bracket = conn_remote_ip_.find(':') != std::string::npos;
        conn_remote_ = (bracket ? "[" + conn_remote_ip_ + "]" : conn_remote_ip_) + ":" +
                       std::to_string(h.source_port);
        remote_ = conn_remote_;
        remote_ip_ = conn_remote_ip_;
    } else {
        // LOCAL, UNSPEC or UNIX: the balancer named no client. The connection stays the
        // balancer's, and its requests' X-Forwarded-For is not read: an L4 balancer passes the
        // client's own field through untouched.
        forwarded_for_closed_ = true;
    }
    co_return true;
}

bool session::attribute_client() {
    remote_ = conn_remote_;
    remote_ip_ = conn_remote_ip_;
    via_ = conn_via_;
    if (!listener_->forwarded_for || forwarded_for_closed_ ||
        !config::in_any(listener_->trusted_proxies, conn_ip_))
        return true;
    config::ip_bytes client{};
    switch (client_from_forwarded_for(head_.headers, listener_->trusted_proxies, client)) {
        case forwarded_status::absent:
            return true;
        case forwarded_status::invalid:
            return false;
        case forwarded_status::client:
            break;
    }
    via_ = conn_remote_;
    remote_ip_ = ip_text(client);
    remote_ = remote_ip_;
    return true;
}

net::awaitable<void> session::run() {
    auto snap = rt_.current();
    if (listener_->proxy_protocol && !co_await read_proxy_header(snap->config->net.limit)) {
        client_.close();
        co_return;
    }
    if (client_.is_tls()) {
        client_deadline_.arm(client_.socket(), snap->config->net.limit.tls_handshake);
        auto [ec] =
            co_await client_.tls()->async_handshake(net::ssl::stream_base::server, use_tuple);
        client_deadline_.disarm();
        if (ec) {
            spdlog::debug("TLS handshake with {} failed: {}", remote_, ec.message());
            client_.close();
            co_return;
        }
        peer_ = read_peer_identity(client_.tls()->native_handle());
    }
    bool first = true;
    while (!rt_.stopping.load()) {
        // Held for the whole read: a reload must not free the limits in use.
        auto current = rt_.current();
        std::size_t head_len = co_await read_head(current->config->net.limit, first);
        first = false;
        if (head_len == 0) co_return;
        // Shutting down: a request that arrives on an idle keep-alive connection is not started
        // (the client retries it elsewhere); only requests already in flight are drained.
        if (rt_.stopping.load()) break;
        bool keep = co_await serve_one(head_len);
        if (!keep) break;
    }
    co_await graceful_close();
}

net::awaitable<relay_end> session::read_request(request_record& rec, std::size_t head_len,
                                                const config::limits& lim) {
    std::string_view raw(static_cast<const char*>(cbuf_.data().data()), head_len);
    head_.clear();
    if (auto ec = check_request_head(raw, lim.max_head_bytes, head_))
        co_return co_await reject(rec, status_for(ec), ec.message());
    rec.method = head_.method;
    bool request_id_seen = false;
    std::size_t traceparents = 0;
    std::string_view traceparent;
    for (const auto& f : head_.headers) {
        if (!request_id_seen && f.name.size() == 12 && beast::iequals(f.name, "x-request-id")) {
            request_id_seen = true;
            if (valid_request_id(f.value)) rec.request_id = f.value;
        } else if (f.name.size() == 11 && beast::iequals(f.name, "traceparent")) {
            ++traceparents;
            traceparent = f.value;
        }
    }
    if (rec.request_id.empty()) rec.request_id = generate_request_id();
    // W3C Trace Context: one valid traceparent is passed on (as version 00) and recorded; two, or
    // one that does not parse, are dropped — the CRM starts a trace of its own.
    if (traceparents != 1 || !normalise_traceparent(traceparent, traceparent_))
        traceparent_.clear();
    if (!attribute_client()) {
        co_return co_await reject(rec, 400,
                                  "X-Forwarded-For from a trusted proxy names something that is "
                                  "not an address.");
    }
    if (auto ec = normalise_target(head_.target, target_))
        co_return co_await reject(rec, 400, ec.message());
    rec.path = target_.path;
    rec.query = target_.query;
    co_return std::nullopt;
}

net::awaitable<relay_end> session::check_route(request_record& rec, const snapshot& snap,
                                               const config::route* route,
                                               const config::upstream*& up, std::size_t head_len,
                                               bool can_keep) {
    const auto& cfg = *snap.config;
    if (route == nullptr) {
        cbuf_.consume(head_len);
        co_return co_await refuse(rec, config::reason::route_not_found,
                                  "No route matches this path.", can_keep);
    }
    rec.route = route->id;
    if (std::find(route->methods.begin(), route->methods.end(), head_.method) ==
        route->methods.end()) {
        std::string allow = "Allow: ";
        for (std::size_t i = 0; i < route->methods.size(); ++i) {
            if (i != 0) allow += ", ";
            allow += route->methods[i];
        }
        allow += "\r\n";
        cbuf_.consume(head_len);
        co_return co_await refuse(rec, config::reason::method_not_allowed,
                                  "This method is not allowed on this route.", can_keep, allow);
    }
    if (head_.framing == body_framing::content_length &&
        head_.content_length > cfg.net.limit.max_request_body_bytes)
        co_return co_await reject(rec, 413, "The request body is too large.");
    up = cfg.net.find_upstream(route->upstream_id);
    if (up == nullptr) {
        cbuf_.consume(head_len);
        co_return co_await refuse(rec, config::reason::upstream_unavailable,
                                  "The route's upstream is not configured.", can_keep);
    }
    // Fail closed: while the audit trail cannot be written, no export starts.
    if (rt_.audit != nullptr && !rt_.audit->healthy()) {
        cbuf_.consume(head_len);
        audited_ = true;  // there is nowhere to write its record
        co_return co_await refuse(rec, config::reason::audit_unavailable,
                                  "The audit trail cannot be written; nothing is exported until "
                                  "it can.",
                                  can_keep);
    }
    // Nor while the subject index cannot be opened: no record is delivered unindexed. The
    // refusal itself is audited.
    if (snap.subjects && rt_.subjects && rt_.subjects->open()) {
        cbuf_.consume(head_len);
        co_return co_await refuse(rec, config::reason::audit_unavailable,
                                  "The subject index cannot be written; nothing is exported "
                                  "until it can.",
                                  can_keep);
    }
    co_return std::nullopt;
}

net::awaitable<bool> session::serve_one(std::size_t head_len) {
    // The snapshot is taken once: a reload during this request does not affect it.
    auto snap = rt_.current();
    const auto& cfg = *snap->config;
    const auto& lim = cfg.net.limit;
    request_record rec;
    case_.reset();
    audited_ = false;
    shutdown_cut_ = false;
    pending_head_.clear();
    quota_.reset();
    late_block_ = false;
    written_records_ = 0;
    // Until this request's head is read, its client is the connection's.
    traceparent_.clear();
    remote_ = conn_remote_;
    remote_ip_ = conn_remote_ip_;
    via_ = conn_via_;
    if (auto end = co_await read_request(rec, head_len, lim)) co_return *end;
    // A refused request's body is never read: the connection stays open only without one.
    bool has_body = head_.framing == body_framing::chunked ||
                    (head_.framing == body_framing::content_length && head_.content_length > 0);
    bool can_keep = head_.keep_alive && !has_body;
    const config::route* route = config::match_route(cfg.net, target_.path);
    const config::upstream* up = nullptr;
    if (auto end = co_await check_route(rec, *snap, route, up, head_len, can_keep)) co_return *end;
    // The query guard reads the body of the languages that carry their query there (SOAP
    // query, HubSpot search): it is read whole, decided, and only its re-serialised form goes
    // upstream. A record route whose language reads no body takes none: a body would reach the
    // CRM unread.
    body_pre_read_ = false;
    query_body_.clear();
    const bool record_route = route->format != config::route_format::passthrough;
    const bool body_language = !config::query::body_media_type(route->query_language).empty();
    if (record_route && has_body && body_language) {
        // Who asks, for which purpose and to where is decided first: a body is read only for a
        // client the policy lets this far (an anonymous client cannot make exportwall hold a
        // body), then the export is decided again with the query in it.
        case_ = std::make_unique<export_case>(snap->config, *route, head_.method, target_,
                                              head_.headers, peer_, remote_, std::string_view{},
                                              true, /*body_pending=*/true);
        if (case_->refused()) {
            rec.audit_id = case_->audit_id();
            cbuf_.consume(head_len);
            std::string detail = case_->refusal_detail();
            co_return co_await refuse(rec, case_->refusal_reason(), detail, false);
        }
        case_.reset();
        std::string detail;
        unsigned status = co_await read_query_body(head_len, lim, detail);
        if (status != 0) co_return co_await reject(rec, status, detail);
        body_pre_read_ = true;
    }
    // The decision: who asks, for which purpose, to where (DESIGN.md §3).
    case_ = std::make_unique<export_case>(snap->config, *route, head_.method, target_,
                                          head_.headers, peer_, remote_, query_body_, has_body);
    rec.audit_id = case_->audit_id();
    if (case_->refused()) {
        if (!body_pre_read_) cbuf_.consume(head_len);
        std::string detail = case_->refusal_detail();
        co_return co_await refuse(rec, case_->refusal_reason(), detail,
                                  can_keep || (body_pre_read_ && head_.keep_alive));
    }

    // In flight from here to the end of its response: a stop waits for it, and cuts it at the
    // end of the grace (cut_for_shutdown, posted to this session's strand).
    auto cut = std::make_shared<cut_handle>();
    cut->owner = this;
    struct cut_release {
        cut_handle& handle;
        ~cut_release() { handle.owner = nullptr; }
    } release_cut{*cut};
    in_flight_requests::entry in_flight(rt_.in_flight(), [cut, ex = client_.get_executor()] {
        net::post(ex, [cut] {
            if (cut->owner != nullptr) cut->owner->cut_for_shutdown();
        });
    });
    const bool keep_on_late_refusal = can_keep || (body_pre_read_ && head_.keep_alive);
    if (!co_await admit_volume_and_quota(rec, head_len, keep_on_late_refusal))
        co_return late_keep_alive_;
    co_return co_await forward(rec, *snap, *route, *up, head_len);
}

net::awaitable<bool> session::admit_volume_and_quota(request_record& rec, std::size_t head_len,
                                                     bool keep_alive) {
    const config::decision& d = case_->decision();
    const config::grant* g = d.grant_ref;
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    auto refuse_late = [&](config::reason why, std::string detail,
                           std::string extra) -> net::awaitable<bool> {
        late_block_ = true;
        rt_.stats().quota_refusal(config::to_string(why));
        if (!body_pre_read_) cbuf_.consume(head_len);
        late_keep_alive_ = co_await refuse(rec, why, detail, keep_alive, extra);
        co_return false;
    };
    auto q = [](std::string_view id) { return "'" + std::string(id) + "'"; };
    // A grant a volume alert holds (on-anomaly="refuse") is refused until an operator clears it.
    if (rt_.volume && g != nullptr && g->on_anomaly == config::anomaly_action::refuse &&
        (g->volume_ceiling != 0 || g->volume_multiple != 0)) {
        auto h = co_await rt_.volume->held(d.client_id, d.purpose_id);
        if (h.error)
            co_return co_await refuse_late(
                config::reason::quota_store_unavailable,
                "The quota store cannot be reached; a grant whose volume alerts refuse is refused "
                "until it can.",
                "");
        if (h.held)
            co_return co_await refuse_late(config::reason::volume_anomaly,
                                           "A volume alert holds the grant of client " +
                                               q(d.client_id) + " for purpose " + q(d.purpose_id) +
                                               " since " + h.since + "; an operator must clear it.",
                                           "");
    }
    if (!rt_.quotas && !rt_.local_quotas) co_return true;
    const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(
                              case_->configuration_ptr()->net.continuation.lifetime)
                              .count();
    auto plan = plan_quota(d, case_->chain(), now, lifetime + 60);
    if (plan.counters.empty()) co_return true;
    const std::int64_t window_end = plan.window_end;
    quota_ = std::make_unique<export_quota>(std::move(plan), rt_.quotas, rt_.local_quotas,
                                            rt_.quota_batch);
    const auto v = co_await quota_->open(now);
    note_quota_usage();
    switch (v.refusal) {
        case config::reason::none:
            case_->track_records();
            co_return true;
        case config::reason::quota_exceeded:
            co_return co_await refuse_late(
                config::reason::quota_exceeded,
                "The quota of client " + q(d.client_id) + " for purpose " + q(d.purpose_id) +
                    " to " + q(d.destination_id) + " (" + std::to_string(g->quota) +
                    " records per " + std::string(config::to_string(g->quota_window)) +
                    ") is spent until " + utc_time(window_end) + ".",
                "Retry-After: " + std::to_string(std::max<std::uint64_t>(v.retry_after, 1)) +
                    "\r\n");
        case config::reason::record_limit_exceeded:
            co_return co_await refuse_late(config::reason::record_limit_exceeded,
                                           "This paged export already delivered its max-records (" +
                                               std::to_string(d.max_records) +
                                               ") in its earlier pages.",
                                           "");
        default:
            co_return co_await refuse_late(
                config::reason::quota_store_unavailable,
                "The quota store cannot be reached; exports of grants with a quota are refused "
                "until it can.",
                "");
    }
}

net::awaitable<std::optional<abort_reason>> session::cut_at_quota(std::string& filtered) {
    auto& marks = case_->marks();
    const std::uint64_t produced = case_->records_out();
    const std::uint64_t allowed = co_await quota_->cover(produced);
    note_quota_usage();
    if (allowed >= produced) co_return std::nullopt;
    // Everything up to the end of the last record the reservation covers goes out; nothing after.
    std::size_t cut = 0;
    std::uint64_t delivered = written_records_;
    for (const auto& m : marks) {
        if (m.records > allowed || m.end > filtered.size()) break;
        cut = m.end;
        delivered = m.records;
    }
    filtered.resize(cut);
    marks.clear();
    case_->set_delivered(delivered);
    written_records_ = delivered;
    rt_.stats().quota_refusal(config::to_string(quota_->refusal()));
    co_return quota_cut_reason(quota_->refusal());
}

void session::end_export() {
    if (!case_) return;
    const std::uint64_t delivered = case_->delivered();
    // Neither waits: the client's answer does not wait on the store.
    if (quota_ && quota_->active()) {
        auto q = std::shared_ptr<export_quota>(std::move(quota_));
        net::co_spawn(
            client_.get_executor(),
            [q, delivered, continued = case_->sealed_links()]() -> net::awaitable<void> {
                co_await q->close(delivered, continued);
            },
            net::detached);
    }
    quota_.reset();
    const config::decision& d = case_->decision();
    const config::grant* g = d.grant_ref;
    if (rt_.volume && g != nullptr && d.allowed_export() &&
        (g->volume_ceiling != 0 || g->volume_multiple != 0)) {
        // The grant lives in the snapshot: the coroutine keeps it.
        auto config = case_->configuration_ptr();
        auto volume = rt_.volume;
        const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
        net::co_spawn(
            client_.get_executor(),
            [volume, config, g, client = d.client_id, purpose = d.purpose_id, delivered,
             now]() -> net::awaitable<void> {
                co_await volume->delivered(client, purpose, *g, delivered, now, config->revision);
            },
            net::detached);
    }
}

net::awaitable<unsigned> session::read_query_body(std::size_t head_len, const config::limits& lim,
                                                  std::string& detail) {
    head_copy_.assign(static_cast<const char*>(cbuf_.data().data()), head_len);
    head_.clear();
    if (auto ec = check_request_head(head_copy_, lim.max_head_bytes, head_)) {
        detail = ec.message();
        co_return 400;
    }
    http::request_parser<http::string_body> parser;
    parser.header_limit(
        static_cast<std::uint32_t>(std::min<std::size_t>(lim.max_head_bytes + 1, 0xffffffffu)));
    parser.body_limit(std::uint64_t{lim.max_request_body_bytes});
    error_code pec;
    std::size_t used = parser.put(net::buffer(head_copy_), pec);
    if (pec || used != head_len || !parser.is_header_done()) {
        detail = "The request framing is invalid.";
        co_return 400;
    }
    cbuf_.consume(head_len);
    if (head_.expect_continue) {
        static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
        if (co_await write_client(net::buffer(continue_line), lim.client_write_idle)) {
            detail = "The client went away.";
            co_return 400;
        }
    }
    // A chunk extension or trailer that never ends is bounded (see relay_request_body).
    cbuf_.max_size(cbuf_.size() + lim.max_head_bytes + relay_buffer_size);
    const auto body_start = std::chrono::steady_clock::now();
    while (!parser.is_done()) {
        if (body_too_slow(lim, parser.get().body().size(), body_start)) {
            detail = "The request body came too slowly (request deadline or minimum rate).";
            co_return 408;
        }
        client_deadline_.arm(client_.socket(), body_wait(lim));
        auto [ec, n] = co_await http::async_read_some(client_, cbuf_, parser, use_tuple);
        const bool expired = client_deadline_.expired();
        client_deadline_.disarm();
        (void)n;
        if (ec == http::error::body_limit) {
            detail = "The request body is too large.";
            co_return 413;
        }
        if (expired) {
            detail = "The request body was not received in time.";
            co_return 408;
        }
        if (ec) {
            detail = "The request body framing is invalid.";
            co_return 400;
        }
    }
    query_body_ = std::move(parser.get().body());
    co_return 0;
}

net::awaitable<std::unique_ptr<byte_stream>> session::connect(const config::upstream& up,
                                                              const snapshot& snap,
                                                              const config::limits& lim,
                                                              upstream_fault& fault) {
    // Upstream sockets outlive this session in the pool and serve other sessions: they are bound
    // to the io_context itself, never to this session's strand (completions still run on the
    // strand of whichever coroutine awaits them).
    net::any_io_executor ex = client_.socket().get_executor();
    if (const auto* strand = ex.target<net::strand<net::io_context::executor_type>>())
        ex = strand->get_inner_executor();
    std::vector<tcp::endpoint> endpoints;
    error_code ec;
    auto address = net::ip::make_address(up.host, ec);
    if (!ec) {
        endpoints.emplace_back(address, up.port);
    } else {
        tcp::resolver resolver(ex);
        upstream_deadline_.arm(resolver, lim.upstream_connect);
        auto [rec, results] =
            co_await resolver.async_resolve(up.host, std::to_string(up.port), use_tuple);
        upstream_deadline_.disarm();
        if (rec) {
            fault = upstream_fault::connect;
            spdlog::warn("upstream '{}': cannot resolve its host: {}", up.id, rec.message());
            co_return nullptr;
        }
        for (const auto& r : results) endpoints.push_back(r.endpoint());
    }
    tcp::socket sock(ex);
    upstream_deadline_.arm(sock, lim.upstream_connect);
    auto [cec, ep] = co_await net::async_connect(sock, endpoints, use_tuple);
    bool expired = upstream_deadline_.expired();
    upstream_deadline_.disarm();
    if (cec) {
        fault = expired ? upstream_fault::timeout : upstream_fault::connect;
        spdlog::warn("upstream '{}': connect failed: {}", up.id,
                     expired ? "timed out" : cec.message());
        co_return nullptr;
    }
    (void)ep;
    sock.set_option(tcp::no_delay(true), ec);
    if (up.scheme != "https") co_return std::make_unique<byte_stream>(std::move(sock));
    auto ctx = snap.upstream_tls.find(up.id);
    if (ctx == snap.upstream_tls.end()) {
        fault = upstream_fault::tls;
        co_return nullptr;
    }
    auto stream = std::make_unique<byte_stream>(std::move(sock), *ctx->second);
    if (!prepare_upstream_ssl(stream->tls()->native_handle(), up.host)) {
        fault = upstream_fault::tls;
        co_return nullptr;
    }
    upstream_deadline_.arm(stream->socket(), lim.upstream_connect);
    auto [hec] = co_await stream->tls()->async_handshake(net::ssl::stream_base::client, use_tuple);
    expired = upstream_deadline_.expired();
    upstream_deadline_.disarm();
    if (hec) {
        fault = expired ? upstream_fault::timeout : upstream_fault::tls;
        spdlog::warn("upstream '{}': TLS handshake failed: {}", up.id,
                     expired ? "timed out" : hec.message());
        stream->close();
        co_return nullptr;
    }
    co_return stream;
}

abort_reason session::client_failure() const {
    if (client_deadline_.expired()) return abort_reason::client_write_timeout;
    return abort_reason::client_closed;
}

std::string session::upstream_request_head(const exchange& x) const {
    const config::route& route = x.route;
    const config::upstream& up = x.up;
    upstream_request ur;
    // The route's path mapping and, for an allowed record export, the field selection rewritten to
    // what the purpose allows.
    std::string target =
        case_ ? case_->upstream_target(up) : build_upstream_target(route, up, target_);
    ur.method = head_.method;
    ur.target = target;
    // X-Export-* is exportwall's own vocabulary (declaration, decision, audit id, stripped
    // fields): a client's copy never reaches the CRM, which could take it for exportwall's word.
    // A record route's body is read whole: a byte range of it would start mid-document (a CSV
    // fragment's first line becomes its header, shifting every column under another name).
    const bool records = route.format != config::route_format::passthrough;
    std::vector<header_field> client_fields;
    client_fields.reserve(head_.headers.size());
    for (const auto& f : head_.headers) {
        if (is_export_field(f.name)) continue;
        if (records && (beast::iequals(f.name, "range") || beast::iequals(f.name, "if-range")))
            continue;
        // Validators of a representation the client never sees (the unfiltered record): a 304
        // against If-None-Match or If-Modified-Since would tell when a hidden field changed.
        if (records &&
            (beast::iequals(f.name, "if-match") || beast::iequals(f.name, "if-none-match") ||
             beast::iequals(f.name, "if-modified-since") ||
             beast::iequals(f.name, "if-unmodified-since")))
            continue;
        // A body the query guard re-serialised is described by exportwall, not by the client
        // (a charset the CRM honours would read other bytes than the guard checked).
        if (body_pre_read_ && beast::iequals(f.name, "content-type")) continue;
        client_fields.push_back(f);
    }
    std::vector<header_field> own_fields;
    if (body_pre_read_) {
        const bool soap = route.query_language == config::query::language::soql;
        const std::string_view media = config::query::body_media_type(route.query_language);
        own_fields.push_back({"Content-Type", media});
        // SOAP 1.1 wants the field; empty: the operation is the one in the body the guard read,
        // never one a client names.
        if (soap) own_fields.push_back({"SOAPAction", "\"\""});
    }
    ur.client_fields = client_fields;
    ur.own_fields = own_fields;
    if (x.bearer) ur.bearer_token = *x.bearer;
    ur.extra_allowed = route.request_headers;
    ur.up = &up;
    ur.client_address = remote_ip_;
    ur.client_tls = client_.is_tls();
    ur.request_id = x.rec.request_id;
    ur.traceparent = traceparent_;
    ur.body = x.framing == body_framing::none             ? upstream_body::none
              : x.framing == body_framing::content_length ? upstream_body::content_length
                                                          : upstream_body::chunked;
    ur.content_length = head_.content_length;
    if (body_pre_read_) {
        ur.body = upstream_body::content_length;
        ur.content_length = x.pre_read_body.size();
    }
    return build_upstream_request_head(ur);
}

net::awaitable<bool> session::forward(request_record& rec, const snapshot& snap,
                                      const config::route& route, const config::upstream& up,
                                      std::size_t head_len) {
    exchange x(rec, snap, route, up);
    const auto& lim = x.lim;
    close_delimited_ = false;
    std::string_view raw(static_cast<const char*>(cbuf_.data().data()), head_len);
    x.head_request = head_.method == "HEAD";
    x.version = head_.version;
    x.client_keep_alive = head_.keep_alive;
    x.expect_continue = head_.expect_continue;
    // A body read whole before the decision goes upstream from memory (re-serialised by the query
    // guard): nothing more of it is read from the client.
    x.framing = body_pre_read_ ? body_framing::none : head_.framing;
    if (body_pre_read_ && case_) x.pre_read_body = case_->upstream_body(query_body_);
    // An upstream failure is answered on a connection that stays usable when the request had no
    // body (nothing of it is left unread).
    x.keep_on_refusal = x.client_keep_alive && x.framing == body_framing::none;

    // The body is decoded by Beast from bytes the head check approved (the head itself is fed
    // first, so Beast's parser is in the body state).
    if (x.framing != body_framing::none) {
        auto& body = x.body.emplace();
        body.header_limit(
            static_cast<std::uint32_t>(std::min<std::size_t>(lim.max_head_bytes + 1, 0xffffffffu)));
        body.body_limit(std::uint64_t{lim.max_request_body_bytes});
        body.eager(false);
        error_code pec;
        std::size_t used = body.put(net::buffer(raw.data(), raw.size()), pec);
        if (pec || used != head_len || !body.is_header_done()) {
            co_return co_await reject(rec, 400, "The request framing is invalid.");
        }
    }

    // An upstream with <oauth2>: its access token, cached and fetched by one request at a time
    // for every session. Without one nothing goes to the CRM (fail closed).
    if (auto t = snap.upstream_tokens.find(up.id); t != snap.upstream_tokens.end())
        x.tokens = t->second.get();
    if (x.tokens != nullptr) {
        auto granted = co_await x.tokens->token(rt_.stats());
        if (!granted.token) {
            if (!body_pre_read_) cbuf_.consume(head_len);
            std::string retry_after =
                "Retry-After: " + std::to_string(granted.retry_after.count()) + "\r\n";
            co_return co_await refuse(rec, config::reason::upstream_auth_unavailable,
                                      "exportwall cannot obtain an access token for the CRM.",
                                      x.keep_on_refusal, retry_after);
        }
        x.bearer = std::move(granted.token);
    }

    x.up_head = upstream_request_head(x);
    // From here on the head's views are gone: only copies are used.
    if (!body_pre_read_) cbuf_.consume(head_len);
    // Idle upstream connections are reused on the io_context (thread) that owns them only.
    x.reach_key = pool_key(up);
    x.key = x.reach_key + '#' +
            std::to_string(reinterpret_cast<std::uintptr_t>(
                &net::query(client_.get_executor(), net::execution::context)));
    x.retryable = is_idempotent_without_body(rec.method) && x.framing == body_framing::none;
    // A 401 to an OAuth2 token is answered once with a fresh token — a request that can be sent
    // again as it was: GET or HEAD, or a body already read whole (a query the guard read).
    x.auth_retryable = x.framing == body_framing::none &&
                       (rec.method == "GET" || rec.method == "HEAD" || body_pre_read_);

    if (!relay_) relay_ = std::make_unique<char[]>(relay_buffer_size);

    // The cut reaches x.conn through upstream_ while this export holds it.
    struct upstream_release {
        byte_stream*& held;
        ~upstream_release() { held = nullptr; }
    } release_upstream{upstream_};
    // Beast reads at most the buffer's free capacity (512 bytes minimum): reserve a relay buffer's
    // worth so one read moves up to 64 KiB.
    x.ubuf.reserve(relay_buffer_size);
    // Each part either goes on, ends the request (its answer given: forward's result), or asks
    // for the request to go once more on a fresh connection (x.retry).
    for (int attempt = 0;; ++attempt) {
        x.retry = false;
        if (auto end = co_await send_request(x, attempt)) co_return *end;
        if (x.retry) continue;
        if (auto end = co_await read_response_head(x)) co_return *end;
        if (x.retry) continue;
        if (x.tokens != nullptr && x.resp->get().result_int() == 401) {
            if (auto end = co_await renew_token(x)) co_return *end;
            continue;  // sent again, with a fresh token
        }
        break;
    }
    if (auto end = co_await start_response(x)) co_return *end;
    if (auto end = co_await relay_response_body(x)) co_return *end;
    co_return co_await end_response(x);
}

net::awaitable<relay_end> session::send_request(exchange& x, int attempt) {
    request_record& rec = x.rec;
    // Cut by a stop before the CRM was asked (or between attempts): it is not asked, and the
    // export, delivering nothing, ends like any cut one.
    if (shutdown_cut_) {
        if (case_) case_->set_delivered(0);
        co_return abort(rec, abort_reason::shutdown);
    }
    if (attempt == 0) {
        x.conn = rt_.pool().acquire(x.key);
    } else {
        // The cut hook must not name the connection about to be destroyed: a stop during the
        // new connect would close freed memory.
        upstream_ = nullptr;
        x.conn = nullptr;
    }
    x.reused = x.conn != nullptr;
    if (!x.conn) {
        upstream_fault fault = upstream_fault::connect;
        x.conn = co_await connect(x.up, x.snap, x.lim, fault);
        // A connect the cut cancelled says nothing about the CRM.
        if (!shutdown_cut_) rt_.pool().note_reachable(x.reach_key, x.conn != nullptr);
        if (x.conn && shutdown_cut_) x.conn->close();
        if (!x.conn) {
            upstream_error(fault);
            co_return co_await refuse(rec, config::reason::upstream_unavailable,
                                      "The upstream could not be reached.", x.keep_on_refusal);
        }
    }
    upstream_ = x.conn.get();
    // The head and a body read ahead (a query the guard read) go out in one write.
    std::array<net::const_buffer, 2> request_pieces;
    request_pieces[0] = net::buffer(x.up_head);
    request_pieces[1] = net::buffer(x.pre_read_body);
    auto ec = co_await write_upstream(*x.conn, request_pieces, x.lim.upstream_idle);
    if (ec) {
        x.conn->close();
        if (x.reused && x.retryable) {
            x.retry = true;
            co_return std::nullopt;
        }
        upstream_error(upstream_fault::reset);
        co_return co_await refuse(rec, config::reason::upstream_unavailable,
                                  "The upstream closed the connection.", false);
    }
    if (x.body && !x.body->is_done()) co_return co_await relay_request_body(x);
    co_return std::nullopt;
}

net::awaitable<relay_end> session::relay_request_body(exchange& x) {
    request_record& rec = x.rec;
    const config::limits& lim = x.lim;
    byte_stream& conn = *x.conn;
    auto& body = *x.body;
    char* buf = relay_.get();
    if (x.expect_continue) {
        static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
        if (co_await write_client(net::buffer(continue_line), lim.client_write_idle))
            co_return abort(rec, conn, client_failure());
    }
    cbuf_.reserve(relay_buffer_size);
    // Beast bounds neither a chunk extension nor a trailer: without a cap the buffer
    // grows for as long as the client sends one (Beast answers buffer_overflow, 400).
    cbuf_.max_size(cbuf_.size() + lim.max_head_bytes + relay_buffer_size);
    const auto body_start = std::chrono::steady_clock::now();
    std::uint64_t body_bytes = 0;
    while (!body.is_done()) {
        if (body_too_slow(lim, body_bytes, body_start)) {
            conn.close();
            co_return co_await reject(rec, 408,
                                      "The request body came too slowly (request "
                                      "deadline or minimum rate).");
        }
        body.get().body().data = buf;
        body.get().body().size = relay_buffer_size;
        client_deadline_.arm(client_.socket(), body_wait(lim));
        auto [rec_ec, n] = co_await http::async_read_some(client_, cbuf_, body, use_tuple);
        bool expired = client_deadline_.expired();
        client_deadline_.disarm();
        (void)n;
        if (rec_ec == http::error::need_buffer) rec_ec = {};
        std::size_t got = relay_buffer_size - body.get().body().size;
        if (rec_ec) {
            conn.close();
            if (rec_ec == http::error::body_limit)
                co_return co_await reject(rec, 413, "The request body is too large.");
            if (expired)
                co_return co_await reject(rec, 408, "The request body was not received in time.");
            if (is_http_error(rec_ec))
                co_return co_await reject(rec, 400, "The request body framing is invalid.");
            // The client went away mid-body (or a stop cut it): audited like any abort.
            co_return abort(rec, conn, abort_reason::client_closed);
        }
        rec.bytes_in += got;
        body_bytes += got;
        if (got == 0) continue;
        error_code wec;
        if (x.framing == body_framing::chunked) {
            chunk_size_line(got, scratch_);
            std::array<net::const_buffer, 3> pieces{net::buffer(scratch_), net::buffer(buf, got),
                                                    net::buffer("\r\n", 2)};
            wec = co_await write_upstream(conn, pieces, lim.upstream_idle);
        } else {
            wec = co_await write_upstream(conn, net::buffer(buf, got), lim.upstream_idle);
        }
        if (wec) {
            conn.close();
            upstream_error(upstream_fault::reset);
            co_return co_await refuse(rec, config::reason::upstream_unavailable,
                                      "The upstream closed the connection.", false);
        }
    }
    if (x.framing == body_framing::chunked) {
        if (co_await write_upstream(conn, net::buffer("0\r\n\r\n", 5), lim.upstream_idle)) {
            conn.close();
            upstream_error(upstream_fault::reset);
            co_return co_await refuse(rec, config::reason::upstream_unavailable,
                                      "The upstream closed the connection.", false);
        }
    }
    co_return std::nullopt;
}

net::awaitable<relay_end> session::read_response_head(exchange& x) {
    request_record& rec = x.rec;
    const config::limits& lim = x.lim;
    byte_stream& conn = *x.conn;
    // The response head; interim 1xx responses are skipped (exportwall answered any
    // 100-continue itself).
    x.ubuf.clear();
    for (int interim = 0;; ++interim) {
        auto& resp = x.resp.emplace();
        resp.header_limit(static_cast<std::uint32_t>(
            std::min<std::size_t>(lim.max_upstream_head_bytes, 0xffffffffu)));
        resp.body_limit(boost::none);
        if (x.head_request) resp.skip(true);
        upstream_deadline_.arm(conn.socket(), lim.upstream_response_head);
        auto [hec, n] = co_await http::async_read_header(conn, x.ubuf, resp, use_tuple);
        bool expired = upstream_deadline_.expired();
        upstream_deadline_.disarm();
        (void)n;
        if (hec) {
            conn.close();
            if (expired) {
                upstream_error(upstream_fault::timeout);
                co_return co_await refuse(rec, config::reason::upstream_timeout,
                                          "The upstream did not answer in time.",
                                          x.keep_on_refusal);
            }
            bool closed = hec == http::error::end_of_stream || hec == net::error::eof ||
                          hec == net::error::connection_reset ||
                          hec == http::error::partial_message;
            if (closed && x.reused && x.retryable && interim == 0 && x.ubuf.size() == 0) {
                x.retry = true;
                co_return std::nullopt;
            }
            if (closed) {
                upstream_error(upstream_fault::reset);
                co_return co_await refuse(rec, config::reason::upstream_unavailable,
                                          "The upstream closed the connection.", x.keep_on_refusal);
            }
            upstream_error(upstream_fault::malformed);
            co_return co_await refuse(rec, config::reason::upstream_malformed,
                                      "The upstream response head is malformed.",
                                      x.keep_on_refusal);
        }
        unsigned status = resp.get().result_int();
        if (status >= 200) co_return std::nullopt;
        if (status == 101 || interim >= 8) {
            conn.close();
            upstream_error(upstream_fault::malformed);
            co_return co_await refuse(rec, config::reason::upstream_malformed,
                                      "The upstream response head is malformed.",
                                      x.keep_on_refusal);
        }
    }
}

net::awaitable<relay_end> session::renew_token(exchange& x) {
    request_record& rec = x.rec;
    // The CRM refused the token (expired or revoked early). Nothing reached the client:
    // the 401's body is never read, the token is dropped (if no other request replaced it
    // already) and the request goes once more, on a fresh connection, with a new one.
    x.conn->close();
    x.tokens->invalidate(x.bearer);
    if (!x.auth_retried && x.auth_retryable) {
        x.auth_retried = true;
        auto granted = co_await x.tokens->token(rt_.stats());
        if (!granted.token) {
            std::string retry_after =
                "Retry-After: " + std::to_string(granted.retry_after.count()) + "\r\n";
            co_return co_await refuse(rec, config::reason::upstream_auth_unavailable,
                                      "exportwall cannot obtain an access token for the CRM.",
                                      x.keep_on_refusal, retry_after);
        }
        x.bearer = std::move(granted.token);
        if (!replace_bearer_token(x.up_head, *x.bearer))
            co_return co_await refuse(rec, config::reason::upstream_auth_unavailable,
                                      "exportwall cannot obtain an access token for the "
                                      "CRM.",
                                      x.keep_on_refusal);
        rt_.stats().upstream_auth_retry(x.up.id);
        co_return std::nullopt;
    }
    // A fresh token refused too, or a request that cannot be sent again: the CRM's 401
    // (and its WWW-Authenticate) never reaches the client, whose own credential is fine.
    if (x.auth_retried)
        spdlog::warn(
            "upstream '{}': the CRM answered 401 to request {} with a fresh "
            "access token",
            x.up.id, rec.request_id);
    else
        spdlog::warn("upstream '{}': the CRM answered 401 to request {}", x.up.id, rec.request_id);
    co_return co_await refuse(rec, config::reason::upstream_auth_unavailable,
                              "The CRM refused exportwall's access token.", x.keep_on_refusal);
}

net::awaitable<relay_end> session::start_response(exchange& x) {
    request_record& rec = x.rec;
    const config::route& route = x.route;
    auto& resp = *x.resp;
    // The response: head, then the body relayed read-by-read with back-pressure.
    const unsigned status = resp.get().result_int();
    x.status = status;
    rec.upstream_status = status;
    std::optional<std::uint64_t> length;
    if (auto cl = resp.content_length()) length = *cl;
    // A filter is attached only to a response that has a body.
    const bool has_body = choose_response_framing(x.head_request, status, length, false,
                                                  x.version) != response_framing::none;
    std::vector<header_field> fields;
    for (const auto& f : resp.get()) fields.push_back({f.name_string(), f.value()});

    // What the client gets instead of, or around, the CRM's answer.
    response_plan plan;
    if (case_) {
        const auto& listeners = x.cfg.net.listeners;
        // Assigned, not a conditional expression: with a std::string arm and "" the conditional
        // is a temporary std::string, and the view dangled into freed heap memory.
        std::string_view public_url;
        if (listener_->index < listeners.size())
            public_url = listeners[listener_->index].public_url;
        if (x.snap.subjects) case_->index_subjects(x.snap.subjects, rt_.subjects);
        plan = case_->plan_response(status, fields, x.up, public_url);
        if (plan.what == response_plan::action::replace) {
            // The CRM's body is never read: its connection cannot be reused. A redirect keeps
            // its target, mapped onto exportwall (the plan dropped the CRM's own).
            x.conn->close();
            std::string kept;
            for (const auto& [name, value] : plan.add_fields) {
                if (beast::iequals(name, "Location") || beast::iequals(name, "Content-Location") ||
                    beast::iequals(name, "Link"))
                    kept += name + ": " + value + "\r\n";
            }
            // upstream_error answers the CRM's status, not http_status(upstream_error).
            co_return co_await refuse(rec, plan.reason, plan.status, plan.detail, x.keep_on_refusal,
                                      kept);
        }
    }
    x.transforming = case_ && has_body && case_->transforms();
    const bool filtered_body = x.transforming && !case_->monitoring();
    x.out_framing =
        choose_response_framing(x.head_request, status, length, filtered_body, x.version);
    close_delimited_ = x.out_framing == response_framing::close_delimited;
    x.keep_alive = x.client_keep_alive && !rt_.draining.load() &&
                   x.out_framing != response_framing::close_delimited;

    // A record route's answer is always the filtered representation: a HEAD (or a 304) on it
    // must not describe the CRM's, whose length and validators tell about fields the purpose
    // does not keep.
    const bool described_only = route.format != config::route_format::passthrough &&
                                x.out_framing == response_framing::none;
    if (described_only) length.reset();
    if (filtered_body || described_only) {
        // A filtered body has a different length and representation.
        std::erase_if(fields, [](const header_field& f) {
            return beast::iequals(f.name, "content-length") || beast::iequals(f.name, "etag") ||
                   beast::iequals(f.name, "content-md5") || beast::iequals(f.name, "digest") ||
                   beast::iequals(f.name, "last-modified");
        });
    }
    std::erase_if(fields, [&plan](const header_field& f) {
        return std::any_of(plan.drop_fields.begin(), plan.drop_fields.end(),
                           [&f](const std::string& d) { return beast::iequals(f.name, d); });
    });
    std::vector<header_field> extra;
    for (const auto& [name, value] : plan.add_fields) extra.push_back({name, value});
    client_response cr;
    cr.status = status;
    cr.upstream_fields = fields;
    cr.framing = x.out_framing;
    cr.content_length = length;
    cr.keep_alive = x.keep_alive;
    cr.client_version = x.version;
    cr.request_id = rec.request_id;
    cr.extra_fields = extra;
    cr.extra_allowed = route.response_headers;
    std::string out_head = build_client_response_head(cr);
    rec.status = status;
    // Written with the first body bytes (write_body_piece), not alone.
    pending_head_ = std::move(out_head);
    co_return std::nullopt;
}

net::awaitable<relay_end> session::relay_response_body(exchange& x) {
    request_record& rec = x.rec;
    const config::limits& lim = x.lim;
    byte_stream& conn = *x.conn;
    beast::flat_buffer& ubuf = x.ubuf;
    std::string& filtered = x.filtered;
    const bool filtering = x.transforming;
    // The body goes from the parser's read buffer to the filter (or, relayed as is, to `filtered`)
    // without a copy in between.
    http::response_parser<sink_body>& answer = *x.resp;
    export_case* transform = nullptr;
    if (x.transforming) transform = case_.get();
    relay_sink& sink = x.sink.emplace(filtered, transform);
    answer.get().body().sink = &sink;
    // More of the CRM's answer can be read without waiting.
    bool need_more = false;  // the parser waits for bytes beyond those in ubuf
    auto upstream_ready = [&] {
        if (ubuf.size() != 0 && !need_more) return true;
        error_code aec;
        const std::size_t ready = conn.socket().available(aec);
        return !aec && ready != 0;
    };
    // The body is read in pieces of up to 256 KiB (Beast's own read_some stops at 64 KiB) and
    // parsed from the read buffer: a bulk export costs a quarter of the reads and wake-ups.
    answer.eager(true);
    while (!answer.is_done()) {
        if (need_more || ubuf.size() == 0) {
            // The client hears the head before the relay waits for the CRM.
            if (!pending_head_.empty() &&
                co_await write_body_piece({}, x.out_framing, lim.client_write_idle))
                co_return co_await abort_response(rec, conn, client_failure(),
                                                  lim.client_write_idle);
            upstream_deadline_.arm(conn.socket(), lim.upstream_idle);
            auto [rec_ec, n] =
                co_await conn.async_read_some(ubuf.prepare(body_read_bytes), use_tuple);
            const bool expired = upstream_deadline_.expired();
            upstream_deadline_.disarm();
            if (rec_ec == net::error::eof) {
                // The end of a close-delimited body; any other body is cut short.
                answer.put_eof(rec_ec);
            }
            if (rec_ec) {
                auto failure = classify_body_error(rec_ec, expired);
                upstream_error(failure.fault);
                co_return co_await abort_response(rec, conn, failure.why, lim.client_write_idle);
            }
            ubuf.commit(n);
        }
        if (ubuf.size() != 0) {
            error_code pec;
            ubuf.consume(answer.put(ubuf.data(), pec));
            need_more = pec == http::error::need_more;
            rec.upstream_bytes = sink.taken();
            if (auto failed = sink.failure())
                co_return co_await abort_response(rec, conn, *failed, lim.client_write_idle);
            if (pec && !need_more) {
                auto failure = classify_body_error(pec, false);
                upstream_error(failure.fault);
                co_return co_await abort_response(rec, conn, failure.why, lim.client_write_idle);
            }
            // Parsed eagerly, only a chunk header or the trailer can wait here for its end. One
            // longer than a response head may be is refused, before the buffer grows further
            // (Beast bounds neither chunk extensions nor trailers).
            if (need_more && ubuf.size() > lim.max_upstream_head_bytes) {
                upstream_error(upstream_fault::malformed);
                co_return co_await abort_response(rec, conn, abort_reason::upstream_malformed,
                                                  lim.client_write_idle);
            }
        }
        // `filtered` keeps what earlier reads produced until it is written; at the answer's end,
        // it goes out with the terminating chunk (end_response).
        if (filtered.empty() || answer.is_done() ||
            (filtering && filtered.size() < coalesce_bytes && upstream_ready()))
            continue;
        std::optional<abort_reason> cut;
        if (quota_ && x.transforming) cut = co_await cut_at_quota(filtered);
        if (!filtered.empty() &&
            co_await write_body_piece(filtered, x.out_framing, lim.client_write_idle))
            co_return co_await abort_response(rec, conn, client_failure(), lim.client_write_idle);
        rec.bytes_out += filtered.size();
        filtered.clear();
        if (cut) co_return co_await abort_response(rec, conn, *cut, lim.client_write_idle);
        if (quota_ && x.transforming) {
            case_->marks().clear();
            written_records_ = case_->records_out();
        }
    }
    co_return std::nullopt;
}

net::awaitable<bool> session::end_response(exchange& x) {
    request_record& rec = x.rec;
    const milliseconds idle = x.lim.client_write_idle;
    byte_stream& conn = *x.conn;
    std::string& filtered = x.filtered;
    if (x.transforming) {
        if (auto fec = case_->finish(filtered))
            co_return co_await abort_response(rec, conn, export_case::reason_for(fec), idle);
    }
    // What is left of the body (and the head, when no wait came first) goes out last, with the
    // terminating chunk, after the record: one write.
    std::optional<abort_reason> cut;
    if (quota_ && x.transforming) cut = co_await cut_at_quota(filtered);
    if (cut) {
        if (!filtered.empty() || !pending_head_.empty()) {
            if (co_await write_body_piece(filtered, x.out_framing, idle))
                co_return co_await abort_response(rec, conn, client_failure(), idle);
            rec.bytes_out += filtered.size();
        }
        co_return co_await abort_response(rec, conn, *cut, idle);
    }
    // The unused reservation goes back before the end is signalled: the client's next export —
    // on any replica — sees the quota as this one left it.
    if (quota_ && quota_->active())
        co_await quota_->close(case_->delivered(), case_->sealed_links());
    // Cut by a stop while the quota store was asked: a cut export never completes.
    if (shutdown_cut_) co_return co_await abort_response(rec, conn, abort_reason::shutdown, idle);
    if (case_ && rt_.audit != nullptr) {
        // The export's record is stored before its end is signalled: a trail that cannot be
        // written turns the export into an abort (no terminating chunk), never a silent success.
        // It counts the last piece as delivered: it is written next.
        audited_ = true;
        auto r = case_->audit_record(x.status, rec.upstream_bytes, rec.bytes_out + filtered.size());
        stamp(r);
        if (auto aec = co_await record_audit(*rt_.audit, std::move(r), false)) {
            spdlog::error("audit trail unavailable: export {} not recorded ({})", rec.request_id,
                          aec.message());
            audited_ = false;
            co_return co_await abort_response(rec, conn, abort_reason::audit_unavailable, idle);
        }
    }
    if (!filtered.empty() || !pending_head_.empty() || x.out_framing == response_framing::chunked) {
        if (co_await write_body_piece(filtered, x.out_framing, idle, true))
            co_return co_await abort_response(rec, conn, client_failure(), idle);
        rec.bytes_out += filtered.size();
    }
    // Reuse only after a complete, correctly framed response that both sides keep alive and that
    // left no stray bytes behind.
    if (x.resp->keep_alive() && x.ubuf.size() == 0 && !rt_.stopping.load())
        rt_.pool().release(x.key, std::move(x.conn));
    else
        conn.close();
    end_export();
    finish(rec);
    co_return x.keep_alive;
}

}  // namespace

net::awaitable<void> run_session(runtime& rt, std::shared_ptr<const listener_context> listener,
                                 tcp::socket socket) {
    rt.stats().connection_opened();
    {
        session s(rt, std::move(listener), std::move(socket));
        co_await s.run();
    }
    rt.stats().connection_closed();
}

}  // namespace exportwall::proxy
