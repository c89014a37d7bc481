#include "proxy/response_relay.hpp"

#include <algorithm>
#include <iterator>
#include <memory>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>

#include "proxy/enforce/enforcement.hpp"
#include "proxy/enforce/export_plan.hpp"
#include "proxy/enforce/export_quota.hpp"
#include "proxy/session.hpp"

namespace exportwall::proxy {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using std::chrono::milliseconds;

// Filtered output is gathered up to this size while the CRM's next bytes are already here: a
// bulk export that keeps 1 byte in 15 would otherwise cost a client write (and a wake-up of the
// client) per upstream read. Nothing waits for it: once the CRM has nothing more ready, what is
// gathered goes out. 128 KiB rather than 32: each write also costs the subject index a chunk
// (its digests go to the file just before), and a bulk export a sendmsg (docs/benchmarks.md,
// the subject index's fifth round); a slow CRM's records still go out as they come.
constexpr std::size_t coalesce_bytes = 128 * 1024;
// The most one read of a response body takes from the CRM.
constexpr std::size_t body_read_bytes = 256 * 1024;

// Why a read of the CRM's body failed: the export's abort and the fault it counts.
struct body_failure {
    abort_reason why;
    upstream_fault fault;
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

}  // namespace

net::awaitable<error_code> record_audit(audit::sink& sink, audit::record& r, bool durable) {
    auto ex = co_await net::this_coro::executor;
    auto io = static_cast<net::io_context&>(net::query(ex, net::execution::context)).get_executor();
    // The initiation runs while this frame is suspended on it: `r` is handed over by reference
    // (Asio's argument forwarding would move the record three more times).
    auto [ec] = co_await net::async_initiate<decltype(use_tuple), void(error_code)>(
        [&sink, &r, io](auto handler, bool d) {
            using handler_type = decltype(handler);
            // std::function needs a copyable callable; the coroutine's handler is move-only.
            auto h = std::make_shared<handler_type>(std::move(handler));
            sink.append(std::move(r), d, [h, io](error_code result) mutable {
                net::post(io, [h = std::move(h), result]() mutable {
                    auto own = net::get_associated_executor(*h);  // inline on the context's own
                    net::dispatch(own,
                                  [h = std::move(h), result]() mutable { std::move (*h)(result); });
                });
            });
        },
        use_tuple, durable);
    co_return ec;
}

bool relay_sink::take(std::string_view bytes) {
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

net::awaitable<relay_outcome> response_relay::read_head() {
    exchange& x = x_;
    const config::limits& lim = x.lim;
    byte_stream& conn = *x.conn;
    io_deadline& deadline = ctx_.upstream_deadline;
    // The response head; interim 1xx responses are skipped (exportwall answered any
    // 100-continue itself).
    x.ubuf.clear();
    for (int interim = 0;; ++interim) {
        auto& resp = x.resp.emplace();
        resp.header_limit(static_cast<std::uint32_t>(
            std::min<std::size_t>(lim.max_upstream_head_bytes, 0xffffffffu)));
        resp.body_limit(boost::none);
        if (x.head_request) resp.skip(true);
        deadline.arm(conn.socket(), lim.upstream_response_head);
        auto [hec, n] = co_await http::async_read_header(conn, x.ubuf, resp, use_tuple);
        bool expired = deadline.expired();
        deadline.disarm();
        (void)n;
        if (hec) {
            conn.close();
            if (expired) {
                ctx_.upstream_error(upstream_fault::timeout);
                co_return relay_outcome::refused(config::reason::upstream_timeout,
                                                 "The upstream did not answer in time.",
                                                 x.keep_on_refusal);
            }
            bool closed = hec == http::error::end_of_stream || hec == net::error::eof ||
                          hec == net::error::connection_reset ||
                          hec == http::error::partial_message;
            if (closed && x.reused && x.retryable && interim == 0 && x.ubuf.size() == 0)
                co_return relay_outcome::send_again();
            if (closed) {
                ctx_.upstream_error(upstream_fault::reset);
                co_return relay_outcome::refused(config::reason::upstream_unavailable,
                                                 "The upstream closed the connection.",
                                                 x.keep_on_refusal);
            }
            ctx_.upstream_error(upstream_fault::malformed);
            co_return relay_outcome::refused(config::reason::upstream_malformed,
                                             "The upstream response head is malformed.",
                                             x.keep_on_refusal);
        }
        unsigned status = resp.get().result_int();
        if (status >= 200) co_return relay_outcome::go_on();
        if (status == 101 || interim >= 8) {
            conn.close();
            ctx_.upstream_error(upstream_fault::malformed);
            co_return relay_outcome::refused(config::reason::upstream_malformed,
                                             "The upstream response head is malformed.",
                                             x.keep_on_refusal);
        }
    }
}

net::awaitable<relay_outcome> response_relay::start() {
    exchange& x = x_;
    request_record& rec = x.rec;
    const config::route& route = x.route;
    export_case* const enforcement = ctx_.enforcement;
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
    fields.reserve(static_cast<std::size_t>(std::distance(resp.get().begin(), resp.get().end())));
    for (const auto& f : resp.get()) fields.push_back({f.name_string(), f.value()});

    // What the client gets instead of, or around, the CRM's answer. Built in place: a plan's
    // bounded lists have no assignment that cannot throw.
    const response_plan plan = [&] {
        if (enforcement == nullptr) return response_plan{};
        const auto& listeners = x.cfg.net.listeners;
        // Assigned, not a conditional expression: with a std::string arm and "" the conditional
        // is a temporary std::string, and the view dangled into freed heap memory.
        std::string_view public_url;
        if (ctx_.listener.index < listeners.size())
            public_url = listeners[ctx_.listener.index].public_url;
        if (x.snap.subjects) enforcement->index_subjects(x.snap.subjects, ctx_.rt.subjects);
        return enforcement->plan_response(status, fields, x.up, public_url);
    }();
    if (enforcement != nullptr) {
        if (plan.what == response_plan::action::replace) {
            // The CRM's body is never read: its connection cannot be reused. A redirect keeps
            // its target, mapped onto exportwall (the plan dropped the CRM's own).
            x.conn->close();
            std::string kept;
            for (const auto& [name, value] : plan.add_fields) {
                if (beast::iequals(name, "Location") || beast::iequals(name, "Content-Location") ||
                    beast::iequals(name, "Link"))
                    kept.append(name).append(": ").append(value).append("\r\n");
            }
            // upstream_error answers the CRM's status, not http_status(upstream_error).
            co_return relay_outcome::refused(plan.reason, plan.status, plan.detail,
                                             x.keep_on_refusal, std::move(kept));
        }
    }
    x.transforming = enforcement != nullptr && has_body && enforcement->transforms();
    const bool filtered_body = x.transforming && !enforcement->monitoring();
    x.out_framing =
        choose_response_framing(x.head_request, status, length, filtered_body, x.version);
    const bool close_delimited = x.out_framing == response_framing::close_delimited;
    x.keep_alive = x.client_keep_alive && !ctx_.rt.draining.load() && !close_delimited;

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
                           [&f](std::string_view d) { return beast::iequals(f.name, d); });
    });
    client_response cr;
    cr.status = status;
    cr.upstream_fields = fields;
    cr.framing = x.out_framing;
    cr.content_length = length;
    cr.keep_alive = x.keep_alive;
    cr.client_version = x.version;
    cr.request_id = rec.request_id;
    cr.extra_fields = plan.add_fields;
    cr.extra_allowed = route.response_headers;
    std::string out_head = build_client_response_head(cr);
    rec.status = status;
    // Written with the first body bytes (write_body_piece), not alone.
    ctx_.client.hold_response_head(std::move(out_head), close_delimited);
    co_return relay_outcome::go_on();
}

net::awaitable<relay_outcome> response_relay::pump() {
    exchange& x = x_;
    request_record& rec = x.rec;
    const config::limits& lim = x.lim;
    byte_stream& conn = *x.conn;
    beast::flat_buffer& ubuf = x.ubuf;
    std::string& filtered = x.filtered;
    const bool filtering = x.transforming;
    client_side& client = ctx_.client;
    // The body goes from the parser's read buffer to the filter (or, relayed as is, to `filtered`)
    // without a copy in between.
    http::response_parser<sink_body>& answer = *x.resp;
    export_case* transform = nullptr;
    if (x.transforming) transform = ctx_.enforcement;
    relay_sink& sink = sink_.emplace(filtered, transform);
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
            if (client.response_head_pending() &&
                co_await client.write_body_piece({}, x.out_framing, lim.client_write_idle, false))
                co_return relay_outcome::aborted(client.client_failure(), &conn);
            ctx_.upstream_deadline.arm(conn.socket(), lim.upstream_idle);
            auto [rec_ec, n] =
                co_await conn.async_read_some(ubuf.prepare(body_read_bytes), use_tuple);
            const bool expired = ctx_.upstream_deadline.expired();
            ctx_.upstream_deadline.disarm();
            if (rec_ec == net::error::eof) {
                // The end of a close-delimited body; any other body is cut short.
                answer.put_eof(rec_ec);
            }
            if (rec_ec) {
                auto failure = classify_body_error(rec_ec, expired);
                ctx_.upstream_error(failure.fault);
                co_return relay_outcome::aborted(failure.why, &conn);
            }
            ubuf.commit(n);
        }
        if (ubuf.size() != 0) {
            error_code pec;
            ubuf.consume(answer.put(ubuf.data(), pec));
            need_more = pec == http::error::need_more;
            rec.upstream_bytes = sink.taken();
            if (auto failed = sink.failure()) co_return relay_outcome::aborted(*failed, &conn);
            if (pec && !need_more) {
                auto failure = classify_body_error(pec, false);
                ctx_.upstream_error(failure.fault);
                co_return relay_outcome::aborted(failure.why, &conn);
            }
            // Parsed eagerly, only a chunk header or the trailer can wait here for its end. One
            // longer than a response head may be is refused, before the buffer grows further
            // (Beast bounds neither chunk extensions nor trailers).
            if (need_more && ubuf.size() > lim.max_upstream_head_bytes) {
                ctx_.upstream_error(upstream_fault::malformed);
                co_return relay_outcome::aborted(abort_reason::upstream_malformed, &conn);
            }
        }
        // `filtered` keeps what earlier reads produced until it is written; at the answer's end,
        // it goes out with the terminating chunk (end()).
        if (filtered.empty() || answer.is_done() ||
            (filtering && filtered.size() < coalesce_bytes && upstream_ready()))
            continue;
        std::optional<abort_reason> cut;
        if (ctx_.quota && x.transforming) cut = co_await cut_at_quota(filtered);
        // The subject index holds the digests of these records before they leave.
        if (x.transforming && !filtered.empty()) {
            if (auto iec = ctx_.enforcement->index_delivery())
                co_return relay_outcome::aborted(export_case::reason_for(iec), &conn);
        }
        if (!filtered.empty() &&
            co_await client.write_body_piece(filtered, x.out_framing, lim.client_write_idle, false))
            co_return relay_outcome::aborted(client.client_failure(), &conn);
        rec.bytes_out += filtered.size();
        filtered.clear();
        if (cut) co_return relay_outcome::aborted(*cut, &conn);
        if (ctx_.quota && x.transforming) {
            ctx_.enforcement->records_written();
            ctx_.written_records = ctx_.enforcement->records_out();
        }
    }
    co_return relay_outcome::go_on();
}

net::awaitable<std::optional<abort_reason>> response_relay::cut_at_quota(std::string& filtered) {
    export_case& enforcement = *ctx_.enforcement;
    export_quota& quota = *ctx_.quota;
    auto& marks = enforcement.marks();
    const std::uint64_t produced = enforcement.records_out();
    const std::uint64_t allowed = co_await quota.cover(produced);
    ctx_.client.note_quota_usage();
    if (allowed >= produced) co_return std::nullopt;
    // Everything up to the end of the last record the reservation covers goes out; nothing after.
    std::size_t cut = 0;
    std::size_t kept = 0;
    std::uint64_t delivered = ctx_.written_records;
    for (const auto& m : marks) {
        if (m.records > allowed || m.end > filtered.size()) break;
        cut = m.end;
        delivered = m.records;
        ++kept;
    }
    filtered.resize(cut);
    enforcement.cut_records(kept);  // the subject index lists none of the records held back
    marks.clear();
    enforcement.set_delivered(delivered);
    ctx_.written_records = delivered;
    ctx_.rt.stats().quota_refusal(config::to_string(quota.refusal()));
    co_return quota_cut_reason(quota.refusal());
}

net::awaitable<relay_outcome> response_relay::end() {
    exchange& x = x_;
    request_record& rec = x.rec;
    const milliseconds idle = x.lim.client_write_idle;
    byte_stream& conn = *x.conn;
    std::string& filtered = x.filtered;
    export_case* const enforcement = ctx_.enforcement;
    client_side& client = ctx_.client;
    if (x.transforming) {
        if (auto fec = enforcement->finish(filtered))
            co_return relay_outcome::aborted(export_case::reason_for(fec), &conn);
    }
    // What is left of the body (and the head, when no wait came first) goes out last, with the
    // terminating chunk, after the record: one write.
    std::optional<abort_reason> cut;
    if (ctx_.quota && x.transforming) cut = co_await cut_at_quota(filtered);
    // The digests of the records that go out next (after the cut: none it held back), before
    // the export's record and the write.
    if (x.transforming) {
        if (auto iec = enforcement->index_delivery())
            co_return relay_outcome::aborted(export_case::reason_for(iec), &conn);
    }
    if (cut) {
        if (!filtered.empty() || client.response_head_pending()) {
            if (co_await client.write_body_piece(filtered, x.out_framing, idle, false))
                co_return relay_outcome::aborted(client.client_failure(), &conn);
            rec.bytes_out += filtered.size();
        }
        co_return relay_outcome::aborted(*cut, &conn);
    }
    // The unused reservation goes back before the end is signalled: the client's next export —
    // on any replica — sees the quota as this one left it.
    if (ctx_.quota && ctx_.quota->active())
        co_await ctx_.quota->close(enforcement->delivered(), enforcement->sealed_links());
    // Cut by a stop while the quota store was asked: a cut export never completes.
    if (ctx_.shutdown_cut) co_return relay_outcome::aborted(abort_reason::shutdown, &conn);
    if (enforcement != nullptr && ctx_.rt.audit != nullptr) {
        // The export's record is stored before its end is signalled: a trail that cannot be
        // written turns the export into an abort (no terminating chunk), never a silent success.
        // It counts the last piece as delivered: it is written next.
        ctx_.audited = true;
        auto r = enforcement->audit_record(x.status, rec.upstream_bytes,
                                           rec.bytes_out + filtered.size());
        client.stamp(r);
        if (auto aec = co_await record_audit(*ctx_.rt.audit, r, false)) {
            spdlog::error("audit trail unavailable: export {} not recorded ({})", rec.request_id,
                          aec.message());
            ctx_.audited = false;
            co_return relay_outcome::aborted(abort_reason::audit_unavailable, &conn);
        }
    }
    if (!filtered.empty() || client.response_head_pending() ||
        x.out_framing == response_framing::chunked) {
        if (co_await client.write_body_piece(filtered, x.out_framing, idle, true))
            co_return relay_outcome::aborted(client.client_failure(), &conn);
        rec.bytes_out += filtered.size();
    }
    // Reuse only after a complete, correctly framed response that both sides keep alive and that
    // left no stray bytes behind.
    if (x.resp->keep_alive() && x.ubuf.size() == 0 && !ctx_.rt.stopping.load())
        ctx_.rt.pool().release(x.key, std::move(x.conn));
    else
        conn.close();
    co_return relay_outcome::completed(x.keep_alive);
}

}  // namespace exportwall::proxy
