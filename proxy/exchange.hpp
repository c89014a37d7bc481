#pragma once
// What the parts of the relay share (README.md, "The relay"): one request's `exchange` with the
// CRM, the `relay_outcome` each part returns, and what they reach of their session — the
// `client_side` operations it implements and the `relay_context` of references into it. The
// parts are upstream_connector (connect, token, request head), request_relay (the client's body)
// and response_relay (the CRM's head and body, the end of the response); session::forward runs
// them and session::conclude turns their outcome into a refusal, an abort or a complete export.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include "config/decide.hpp"
#include "proxy/abort_reason.hpp"
#include "proxy/forward.hpp"
#include "proxy/http/request_head.hpp"
#include "proxy/runtime.hpp"
#include "proxy/sink_body.hpp"
#include "proxy/stream.hpp"

namespace exportwall::proxy {

class export_case;
class export_quota;
class upstream_token_source;
struct listener_context;

inline constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// The relay buffer: one read from the client's body, one write to the CRM. It bounds the memory
// of a request body together with the client's read buffer, whatever the body size.
inline constexpr std::size_t relay_buffer_size = 64 * 1024;

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

// A Beast error of HTTP itself (framing, limits), not of the connection under it.
[[nodiscard]] inline bool is_http_error(const boost::system::error_code& ec) {
    static const boost::system::error_code sample = boost::beast::http::error::bad_version;
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
[[nodiscard]] constexpr std::string_view kind_name(upstream_fault f) noexcept {
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

// What a part of the relay tells the relay: go on with the next part, send the request again on
// a fresh connection, or end the request. An end is carried out by session::conclude, the one
// place that maps it: `refuse` before any byte of an answer went out (session::refuse: audit
// record, problem document, access log), `abort` once the client's response may have begun
// (session::abort_response: the held head, the CRM connection closed, the aborted record), and
// `complete` after the response's last write (the export's end and its access-log line).
struct relay_outcome {
    enum class kind : std::uint8_t {
        next,      // go on with the next part
        retry,     // send the request again on a fresh connection (the current one is closed)
        refuse,    // answer a problem document with `reason`, `status`, `detail`
        abort,     // cut the response short with `why`, closing `upstream`
        complete,  // the response is complete; `keep_alive` says whether the connection stays
    };
    kind what = kind::next;
    config::reason reason = config::reason::none;
    unsigned status = 0;
    std::string detail;
    std::string extra_fields;  // header lines of the problem answer ("Retry-After: 1\r\n")
    bool keep_alive = false;   // refuse and complete: the client's connection stays open
    abort_reason why = abort_reason::client_closed;
    byte_stream* upstream = nullptr;  // abort: the CRM connection to close (null: none is open)

    // The request has ended (refused, aborted or complete): nothing more of the relay runs.
    [[nodiscard]] bool ends() const noexcept { return what != kind::next && what != kind::retry; }

    [[nodiscard]] static relay_outcome go_on() { return {}; }
    [[nodiscard]] static relay_outcome send_again() {
        relay_outcome o;
        o.what = kind::retry;
        return o;
    }
    // A refusal with the status of its reason (config::http_status).
    [[nodiscard]] static relay_outcome refused(config::reason r, std::string text, bool keep,
                                               std::string extra = {}) {
        return refused(r, config::http_status(r), std::move(text), keep, std::move(extra));
    }
    // A refusal with the status given: only for the reasons whose status is not fixed —
    // request_rejected (rejected()) and upstream_error, which answers the CRM's own status.
    [[nodiscard]] static relay_outcome refused(config::reason r, unsigned answer_status,
                                               std::string text, bool keep,
                                               std::string extra = {}) {
        relay_outcome o;
        o.what = kind::refuse;
        o.reason = r;
        o.status = answer_status;
        o.detail = std::move(text);
        o.extra_fields = std::move(extra);
        o.keep_alive = keep;
        return o;
    }
    // request_rejected with its status (400, 408, 413): the connection closes.
    [[nodiscard]] static relay_outcome rejected(unsigned answer_status, std::string text) {
        return refused(config::reason::request_rejected, answer_status, std::move(text), false);
    }
    [[nodiscard]] static relay_outcome aborted(abort_reason cause, byte_stream* to_close) {
        relay_outcome o;
        o.what = kind::abort;
        o.why = cause;
        o.upstream = to_close;
        return o;
    }
    [[nodiscard]] static relay_outcome completed(bool keep) {
        relay_outcome o;
        o.what = kind::complete;
        o.keep_alive = keep;
        return o;
    }
};

// One request's way to the CRM and back: what session::forward prepares and the parts of the
// relay share. It lives in forward()'s frame and ends with it.
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
    std::optional<boost::beast::http::request_parser<boost::beast::http::buffer_body>> body;

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
    std::unique_ptr<byte_stream> conn;
    bool reused = false;  // conn came from the pool

    // The CRM's response and the client's.
    boost::beast::flat_buffer ubuf;
    std::optional<boost::beast::http::response_parser<sink_body>> resp;
    unsigned status = 0;
    response_framing out_framing = response_framing::none;
    bool keep_alive = false;    // the client's connection after a complete response
    bool transforming = false;  // the body goes through the export's filter (export_case)
    std::string filtered;       // the filter's output not written yet
};

// What the relay asks of the client's side of its session (session implements it; it outlives
// every relay it runs). Called on the session's thread only.
class client_side {
  public:
    client_side() = default;
    client_side(const client_side&) = delete;
    client_side& operator=(const client_side&) = delete;

    // Writes `bytes` to the client within `idle`; fails at once after a stop's cut.
    virtual boost::asio::awaitable<boost::system::error_code> write_to_client(
        boost::asio::const_buffer bytes, std::chrono::milliseconds idle) = 0;
    // Writes one piece of a response body in the client's framing (a chunk when chunked), after
    // the held response head, and with the terminating chunk when `last`: one gathered write.
    virtual boost::asio::awaitable<boost::system::error_code> write_body_piece(
        std::string_view piece, response_framing framing, std::chrono::milliseconds idle,
        bool last) = 0;
    // Holds the client's response head until the first body bytes (or the response's end) go
    // out with it; `close_delimited`: the response ends with the connection.
    virtual void hold_response_head(std::string head, bool close_delimited) = 0;
    // The held response head has not been written yet.
    [[nodiscard]] virtual bool response_head_pending() const = 0;
    // Why a write to the client failed: it stopped reading, or it went away.
    [[nodiscard]] virtual abort_reason client_failure() const = 0;
    // How long a read of the request body may wait: the idle limit, or what is left of the
    // request deadline.
    [[nodiscard]] virtual std::chrono::milliseconds body_wait(const config::limits& lim) const = 0;
    // The request body came too slowly: past the request deadline, or under the minimum rate
    // after its first second.
    [[nodiscard]] virtual bool body_too_slow(
        const config::limits& lim, std::uint64_t bytes,
        std::chrono::steady_clock::time_point body_start) const = 0;
    // Sets the balancer and trace id of the request on an audit record it writes.
    virtual void stamp(audit::record& r) const = 0;
    // The grant's quota window in /metrics, as the last reservation left it.
    virtual void note_quota_usage() = 0;

  protected:
    ~client_side() = default;
};

// The state of the current request the relay reads and updates: references into its session,
// which outlives every relay it runs. Given explicitly, so a relay touches nothing else.
struct relay_context {
    runtime& rt;
    client_side& client;
    const listener_context& listener;
    byte_stream& client_stream;                // read for the request body
    boost::beast::flat_buffer& client_buffer;  // the client's bytes read ahead
    io_deadline& client_deadline;
    io_deadline& upstream_deadline;
    byte_stream*& upstream;    // the CRM connection a stop's cut closes (null when none is held)
    const bool& shutdown_cut;  // a stop cut the request short (session::cut_for_shutdown)
    export_case* enforcement;  // the request's export_case (null before a route matched)
    std::unique_ptr<export_quota>& quota;  // its quota accounting (null when nothing counts it)
    std::uint64_t& written_records;        // records of the output already written
    bool& audited;                         // the request's audit record has been written
    char* relay_buffer;                    // relay_buffer_size bytes
    std::string& scratch;                  // a chunk-size line

    // Counts an upstream failure in the metrics, unless it is the cut's own doing.
    void upstream_error(upstream_fault fault) const {
        if (!shutdown_cut) rt.stats().upstream_error(kind_name(fault));
    }
};

// Writes `buffers` to the CRM's connection `up` within `idle` (taken by value: a buffer sequence
// is a few pointers, and the coroutine then holds no reference to a caller's temporary).
template <class Buffers>
boost::asio::awaitable<boost::system::error_code> write_upstream(io_deadline& deadline,
                                                                 byte_stream& up, Buffers buffers,
                                                                 std::chrono::milliseconds idle) {
    deadline.arm(up.socket(), idle);
    auto [ec, n] = co_await net::async_write(up, buffers, use_tuple);
    deadline.disarm();
    (void)n;
    co_return ec;
}

}  // namespace exportwall::proxy
