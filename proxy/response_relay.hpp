#pragma once
// The CRM's answer on its way to the client (proxy/exchange.hpp): the response head (interim 1xx
// skipped), the plan (relay, filter or replace) and the client's head, the pump — reads of the
// CRM's body through the export's filter, written with back-pressure and cut at the last record
// the quota covers — and the end: the filter's last output, the audit record, the last write with
// the terminating chunk, and the CRM connection back to the pool.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "audit/record.hpp"
#include "proxy/abort_reason.hpp"
#include "proxy/exchange.hpp"
#include "proxy/sink_body.hpp"

namespace exportwall::proxy {

class export_case;

// Appends `r` to the audit trail and resumes on the caller's executor once it is stored (durably
// when asked); the error when it could not be. The sink may complete on its own thread: it posts
// to the session's io_context, whose one thread resumes the coroutine. `r` is the awaiting
// coroutine's own (a local it co_awaits this with), handed to the sink by reference and spent
// afterwards: a record is ~45 members, and one taken by value made this frame too large for Asio's
// frame recycling besides the move.
[[nodiscard]] net::awaitable<boost::system::error_code> record_audit(audit::sink& sink,
                                                                     audit::record& r,
                                                                     bool durable);

// Where the CRM's body bytes go: through the export's filter (or monitor-mode transform) into
// `out`, or into `out` as they are when nothing filters them.
class relay_sink final : public body_sink {
  public:
    relay_sink(std::string& out, export_case* transform) : out_(out), transform_(transform) {}

    bool take(std::string_view bytes) override;
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

// Relays one exchange's response, part by part, in this order. Lives in the relay's frame, with
// the context and the exchange it refers to (and the sink the parser hands the body to).
class response_relay {
  public:
    response_relay(relay_context& ctx, exchange& x) : ctx_(ctx), x_(x) {}

    // The CRM's response head into x.resp, interim 1xx skipped: next; retry when a reused
    // connection closed before answering; else 502 upstream_unavailable or upstream_malformed,
    // 504 upstream_timeout.
    [[nodiscard]] net::awaitable<relay_outcome> read_head();
    // The response plan and the client's response head, held by the client side until the first
    // body bytes: next, or the plan's refusal (the CRM's answer replaced).
    [[nodiscard]] net::awaitable<relay_outcome> start();
    // The body's pieces: read from the CRM, filtered, cut at the quota, written to the client
    // with back-pressure. Next at the body's end (its last output still in x.filtered), else an
    // abort.
    [[nodiscard]] net::awaitable<relay_outcome> pump();
    // The response's end: the filter's last output, the quota's cut or return, the audit record,
    // the last write (with the terminating chunk) and the CRM connection back to the pool:
    // complete, or an abort.
    [[nodiscard]] net::awaitable<relay_outcome> end();

  private:
    // Cuts `filtered` at the last record the quota covers; the abort's reason when it cut.
    net::awaitable<std::optional<abort_reason>> cut_at_quota(std::string& filtered);

    relay_context& ctx_;
    exchange& x_;
    // Where the parser hands the body's bytes; it lives as long as the relay, which outlives
    // every read of the parser that points to it.
    std::optional<relay_sink> sink_;
};

}  // namespace exportwall::proxy
