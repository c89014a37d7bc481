#include "proxy/request_relay.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

#include <boost/beast/http/read.hpp>

namespace exportwall::proxy {

namespace http = boost::beast::http;

net::awaitable<relay_outcome> request_relay::relay_body() {
    exchange& x = x_;
    request_record& rec = x.rec;
    const config::limits& lim = x.lim;
    byte_stream& conn = *x.conn;
    auto& body = *x.body;
    char* buf = ctx_.relay_buffer;
    boost::beast::flat_buffer& cbuf = ctx_.client_buffer;
    if (x.expect_continue) {
        static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
        if (co_await ctx_.client.write_to_client(net::buffer(continue_line), lim.client_write_idle))
            co_return relay_outcome::aborted(ctx_.client.client_failure(), &conn);
    }
    cbuf.reserve(relay_buffer_size);
    // Beast bounds neither a chunk extension nor a trailer: without a cap the buffer
    // grows for as long as the client sends one (Beast answers buffer_overflow, 400).
    cbuf.max_size(cbuf.size() + lim.max_head_bytes + relay_buffer_size);
    const auto body_start = std::chrono::steady_clock::now();
    std::uint64_t body_bytes = 0;
    while (!body.is_done()) {
        if (ctx_.client.body_too_slow(lim, body_bytes, body_start)) {
            conn.close();
            co_return relay_outcome::rejected(408,
                                              "The request body came too slowly (request "
                                              "deadline or minimum rate).");
        }
        body.get().body().data = buf;
        body.get().body().size = relay_buffer_size;
        ctx_.client_deadline.arm(ctx_.client_stream.socket(), ctx_.client.body_wait(lim));
        auto [rec_ec, n] =
            co_await http::async_read_some(ctx_.client_stream, cbuf, body, use_tuple);
        bool expired = ctx_.client_deadline.expired();
        ctx_.client_deadline.disarm();
        (void)n;
        if (rec_ec == http::error::need_buffer) rec_ec = {};
        std::size_t got = relay_buffer_size - body.get().body().size;
        if (rec_ec) {
            conn.close();
            if (rec_ec == http::error::body_limit)
                co_return relay_outcome::rejected(413, "The request body is too large.");
            if (expired)
                co_return relay_outcome::rejected(408,
                                                  "The request body was not received in time.");
            if (is_http_error(rec_ec))
                co_return relay_outcome::rejected(400, "The request body framing is invalid.");
            // The client went away mid-body (or a stop cut it): audited like any abort.
            co_return relay_outcome::aborted(abort_reason::client_closed, &conn);
        }
        rec.bytes_in += got;
        body_bytes += got;
        if (got == 0) continue;
        boost::system::error_code wec;
        if (x.framing == body_framing::chunked) {
            chunk_size_line(got, ctx_.scratch);
            std::array<net::const_buffer, 3> pieces{net::buffer(ctx_.scratch),
                                                    net::buffer(buf, got), net::buffer("\r\n", 2)};
            wec = co_await write_upstream(ctx_.upstream_deadline, conn, pieces, lim.upstream_idle);
        } else {
            wec = co_await write_upstream(ctx_.upstream_deadline, conn, net::buffer(buf, got),
                                          lim.upstream_idle);
        }
        if (wec) {
            conn.close();
            ctx_.upstream_error(upstream_fault::reset);
            co_return relay_outcome::refused(config::reason::upstream_unavailable,
                                             "The upstream closed the connection.", false);
        }
    }
    if (x.framing == body_framing::chunked) {
        if (co_await write_upstream(ctx_.upstream_deadline, conn, net::buffer("0\r\n\r\n", 5),
                                    lim.upstream_idle)) {
            conn.close();
            ctx_.upstream_error(upstream_fault::reset);
            co_return relay_outcome::refused(config::reason::upstream_unavailable,
                                             "The upstream closed the connection.", false);
        }
    }
    co_return relay_outcome::go_on();
}

}  // namespace exportwall::proxy
