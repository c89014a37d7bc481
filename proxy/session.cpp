#include "proxy/session.hpp"

#include <algorithm>
#include <array>
#include <charconv>
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
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "audit/record.hpp"
#include "common/clock.hpp"
#include "config/decide.hpp"
#include "config/route_match.hpp"
#include "proxy/abort_reason.hpp"
#include "proxy/enforce/enforcement.hpp"
#include "proxy/enforce/export_plan.hpp"
#include "proxy/enforce/export_quota.hpp"
#include "proxy/enforce/volume_monitor.hpp"
#include "proxy/exchange.hpp"
#include "proxy/forward.hpp"
#include "proxy/http/client_address.hpp"
#include "proxy/http/problem.hpp"
#include "proxy/http/request_head.hpp"
#include "proxy/http/target.hpp"
#include "proxy/in_flight.hpp"
#include "proxy/request_relay.hpp"
#include "proxy/response_relay.hpp"
#include "proxy/runtime.hpp"
#include "proxy/stream.hpp"
#include "proxy/tls.hpp"
#include "proxy/upstream_connector.hpp"
#include "proxy/upstream_token.hpp"

namespace exportwall::proxy {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using std::chrono::milliseconds;

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

// Seconds since the epoch as an RFC 3339 UTC time ("2026-12-05T00:00:00Z").
std::string utc_time(std::int64_t seconds) {
    const auto t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// What a step of serve_one() tells it: nothing (go on), or that the request has ended — its
// refusal is given — with serve_one()'s result (the client's connection stays open).
using relay_end = std::optional<bool>;

class session;

// Where a stop's cut reaches a session: its owner is set while a request is in flight and
// cleared when it ends. Read and written on the session's thread only (its io_context's); shared
// with the cut function in runtime::in_flight(), which may outlive the request (and the session).
struct cut_handle {
    session* owner = nullptr;
};

// One client connection and the admission of its requests; the client side of the relay, which
// runs in upstream_connector, request_relay and response_relay (proxy/exchange.hpp).
class session final : public client_side {
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
    void note_quota_usage() override {
        if (!quota_ || !case_) return;
        if (auto u = quota_->grant_usage()) {
            const config::decision& d = case_->decision();
            rt_.stats().quota_usage(d.client_id, d.purpose_id, d.destination_id, u->used, u->limit);
        }
    }
    void stamp(audit::record& r) const override {
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
    // Relays one admitted request to the CRM and its response back (README.md, "The relay"): it
    // prepares the `exchange` from the client's head, then relay_exchange runs the parts and
    // conclude() carries out the outcome that ended the request.
    net::awaitable<bool> forward(request_record& rec, const snapshot& snap,
                                 const config::route& route, const config::upstream& up,
                                 std::size_t head_len);
    // The one place a relay's end becomes the request's (relay_outcome): `refuse` answers the
    // problem document (refuse()), `abort` cuts the response (abort_response()), `complete` ends
    // the export (end_export()) and writes its access-log line (finish()). Returns whether the
    // client's connection stays open.
    net::awaitable<bool> conclude(exchange& x, relay_outcome end);
    // What the relay reaches of this session for the current request.
    [[nodiscard]] relay_context relay_state();
    // The CRM's request head (the client's head is still in cbuf_: its views are read here).
    [[nodiscard]] std::string upstream_request_head(const exchange& x) const;
    // client_side: the client's connection, as the relay sees it.
    net::awaitable<error_code> write_to_client(net::const_buffer bytes, milliseconds idle) override;
    net::awaitable<error_code> write_body_piece(std::string_view piece, response_framing framing,
                                                milliseconds idle, bool last) override;
    void hold_response_head(std::string head, bool close_delimited) override {
        close_delimited_ = close_delimited;
        pending_head_ = std::move(head);
    }
    [[nodiscard]] bool response_head_pending() const override { return !pending_head_.empty(); }
    [[nodiscard]] abort_reason client_failure() const override;
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
    void finish(request_record& rec);
    // abort() for an export whose response head may still be pending: the head goes out first
    // (a cut export's client sees its status, then a body without its end, as if the head had not
    // waited for the body), then the export ends like any cut one.
    // The CRM's connection `up` (null: none is open) is closed after the head, before abort().
    net::awaitable<bool> abort_response(request_record& rec, byte_stream* up, abort_reason why,
                                        milliseconds idle);
    // Ends an export that cannot complete: the client's connection closes without the response's
    // end (never complete a cut export; nothing goes back to the pool), the audit record says
    // `aborted` with the reason (`shutdown` once a stop cut the session), the access log gets its
    // line.
    bool abort(request_record& rec, abort_reason why);
    // A stop's shutdown-grace is over and this request is still in flight: whatever it waits for
    // fails now (the client's pending operation is cancelled, the CRM's connection closed, a
    // connect in progress cancelled) and nothing more is written to the client, so it ends in
    // abort() with reason `shutdown`. A request whose audit record is already stored (complete
    // but for its last bytes, or a refusal being written) finishes as it is.
    void cut_for_shutdown();

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
    [[nodiscard]] std::chrono::milliseconds body_wait(const config::limits& lim) const override {
        auto left = lim.request_deadline - std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - request_start_);
        return std::max(std::chrono::milliseconds(1), std::min(lim.request_body_idle, left));
    }
    // The body came too slowly: past the request deadline, or under the minimum rate after its
    // first second.
    [[nodiscard]] bool body_too_slow(
        const config::limits& lim, std::uint64_t bytes,
        std::chrono::steady_clock::time_point body_start) const override {
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

net::awaitable<error_code> session::write_to_client(net::const_buffer bytes, milliseconds idle) {
    // A coroutine of its own: write_client's frame refers to `bytes`, which lives in this one.
    co_return co_await write_client(bytes, idle);
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

net::awaitable<bool> session::abort_response(request_record& rec, byte_stream* up, abort_reason why,
                                             milliseconds idle) {
    // Pending only while no write to the client was tried: this one cannot wait on a failed one.
    if (!pending_head_.empty()) {
        std::string head = std::move(pending_head_);
        pending_head_.clear();
        (void)co_await write_client(net::buffer(head), idle);
    }
    // Never complete a cut export: the client's response ends without its terminating chunk
    // (or short of its Content-Length) and both connections close; nothing goes back to the pool.
    if (up != nullptr) up->close();
    co_return abort(rec, why);
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
        if (auto aec = co_await record_audit(*rt_.audit, r, durable)) {
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
    // In flight from its complete head to its access-log line, refusals too: a stop waits for it,
    // and cuts it at the end of the grace (cut_for_shutdown, posted to this session's executor). A
    // refusal answered just before a stop would otherwise lose its access-log line when the
    // event loops stop before its write's completion runs.
    auto cut = std::make_shared<cut_handle>();
    cut->owner = this;
    struct cut_release {  // a copy would clear the owner twice
        cut_handle& handle;
        explicit cut_release(cut_handle& h) : handle(h) {}
        cut_release(const cut_release&) = delete;
        cut_release& operator=(const cut_release&) = delete;
        ~cut_release() { handle.owner = nullptr; }
    } release_cut{*cut};
    in_flight_requests::entry in_flight(rt_.in_flight(), [cut, ex = client_.get_executor()] {
        net::post(ex, [cut] {
            if (cut->owner != nullptr) cut->owner->cut_for_shutdown();
        });
    });
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

    const bool keep_on_late_refusal = can_keep || (body_pre_read_ && head_.keep_alive);
    if (!co_await admit_volume_and_quota(rec, head_len, keep_on_late_refusal))
        co_return late_keep_alive_;
    co_return co_await forward(rec, *snap, *route, *up, head_len);
}

net::awaitable<bool> session::admit_volume_and_quota(request_record& rec, std::size_t head_len,
                                                     bool keep_alive) {
    const config::decision& d = case_->decision();
    const config::grant* g = d.grant_ref;
    const std::int64_t now = common::seconds_now();
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
        const std::int64_t now = common::seconds_now();
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
    // A chunk extension or trailer that never ends is bounded (see request_relay::relay_body).
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

// The relay's parts in order over one exchange (README.md, "The relay"): the request to the CRM —
// sent once more on a fresh connection when a reused one closed under it, or after a 401 to its
// token — and its body, then the response. Returns the outcome that ended the request.
net::awaitable<relay_outcome> relay_exchange(relay_context& ctx, upstream_connector& connector,
                                             exchange& x) {
    request_relay request(ctx, x);
    response_relay response(ctx, x);
    for (int attempt = 0;; ++attempt) {
        relay_outcome sent = co_await connector.send_request(attempt);
        if (sent.what == relay_outcome::kind::retry) continue;
        if (sent.ends()) co_return sent;
        if (x.body && !x.body->is_done()) {
            relay_outcome body = co_await request.relay_body();
            if (body.ends()) co_return body;
        }
        relay_outcome head = co_await response.read_head();
        if (head.what == relay_outcome::kind::retry) continue;
        if (head.ends()) co_return head;
        if (x.tokens != nullptr && x.resp->get().result_int() == 401) {
            relay_outcome renewed = co_await connector.renew_token();
            if (renewed.ends()) co_return renewed;
            continue;  // sent again, with a fresh token
        }
        break;
    }
    relay_outcome started = co_await response.start();
    if (started.ends()) co_return started;
    relay_outcome pumped = co_await response.pump();
    if (pumped.ends()) co_return pumped;
    co_return co_await response.end();
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
        if (pec || used != head_len || !body.is_header_done())
            co_return co_await conclude(
                x, relay_outcome::rejected(400, "The request framing is invalid."));
    }

    if (!relay_) relay_ = std::make_unique<char[]>(relay_buffer_size);
    relay_context ctx = relay_state();
    upstream_connector connector(ctx, x);
    if (auto t = snap.upstream_tokens.find(up.id); t != snap.upstream_tokens.end())
        x.tokens = t->second.get();
    if (x.tokens != nullptr) {
        relay_outcome token = co_await connector.obtain_token();
        if (token.ends()) {
            if (!body_pre_read_) cbuf_.consume(head_len);
            co_return co_await conclude(x, std::move(token));
        }
    }

    x.up_head = upstream_request_head(x);
    // From here on the head's views are gone: only copies are used.
    if (!body_pre_read_) cbuf_.consume(head_len);
    // Idle upstream connections are reused on the io_context (thread) that owns them only.
    x.reach_key = pool_key(up);
    {
        std::array<char, 24> context{};
        const auto id = reinterpret_cast<std::uintptr_t>(
            &net::query(client_.get_executor(), net::execution::context));
        const auto digits = std::to_chars(context.data(), context.data() + context.size(), id).ptr;
        x.key.reserve(x.reach_key.size() + 1 + static_cast<std::size_t>(digits - context.data()));
        x.key.assign(x.reach_key).push_back('#');
        x.key.append(context.data(), digits);
    }
    x.retryable = is_idempotent_without_body(rec.method) && x.framing == body_framing::none;
    // A 401 to an OAuth2 token is answered once with a fresh token — a request that can be sent
    // again as it was: GET or HEAD, or a body already read whole (a query the guard read).
    x.auth_retryable = x.framing == body_framing::none &&
                       (rec.method == "GET" || rec.method == "HEAD" || body_pre_read_);

    // The cut reaches x.conn through upstream_ while this export holds it.
    struct upstream_release {  // a copy would clear the pointer twice
        byte_stream*& held;
        explicit upstream_release(byte_stream*& h) : held(h) {}
        upstream_release(const upstream_release&) = delete;
        upstream_release& operator=(const upstream_release&) = delete;
        ~upstream_release() { held = nullptr; }
    } release_upstream{upstream_};
    // Beast reads at most the buffer's free capacity (512 bytes minimum): reserve a relay buffer's
    // worth so one read moves up to 64 KiB.
    x.ubuf.reserve(relay_buffer_size);
    relay_outcome end = co_await relay_exchange(ctx, connector, x);
    co_return co_await conclude(x, std::move(end));
}

relay_context session::relay_state() {
    return relay_context{
        .rt = rt_,
        .client = *this,
        .listener = *listener_,
        .client_stream = client_,
        .client_buffer = cbuf_,
        .client_deadline = client_deadline_,
        .upstream_deadline = upstream_deadline_,
        .upstream = upstream_,
        .shutdown_cut = shutdown_cut_,
        .enforcement = case_.get(),
        .quota = quota_,
        .written_records = written_records_,
        .audited = audited_,
        .relay_buffer = relay_.get(),
        .scratch = scratch_,
    };
}

net::awaitable<bool> session::conclude(exchange& x, relay_outcome end) {
    request_record& rec = x.rec;
    switch (end.what) {
        case relay_outcome::kind::refuse:
            co_return co_await refuse(rec, end.reason, end.status, end.detail, end.keep_alive,
                                      end.extra_fields);
        case relay_outcome::kind::complete:
            end_export();
            finish(rec);
            co_return end.keep_alive;
        case relay_outcome::kind::abort:
        case relay_outcome::kind::next:  // never: relay_exchange returns an end (fail closed)
        case relay_outcome::kind::retry:
            break;
    }
    co_return co_await abort_response(rec, end.upstream, end.why, x.lim.client_write_idle);
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
