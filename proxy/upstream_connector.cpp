#include "proxy/upstream_connector.hpp"

#include <array>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "proxy/enforce/enforcement.hpp"
#include "proxy/tls.hpp"
#include "proxy/upstream_token.hpp"

namespace exportwall::proxy {

net::awaitable<relay_outcome> upstream_connector::obtain_token() {
    exchange& x = x_;
    // An upstream with <oauth2>: its access token, cached and fetched by one request at a time
    // for every session. Without one nothing goes to the CRM (fail closed).
    auto granted = co_await x.tokens->token(ctx_.rt.stats());
    if (!granted.token) {
        std::string retry_after =
            "Retry-After: " + std::to_string(granted.retry_after.count()) + "\r\n";
        co_return relay_outcome::refused(config::reason::upstream_auth_unavailable,
                                         "exportwall cannot obtain an access token for the CRM.",
                                         x.keep_on_refusal, std::move(retry_after));
    }
    x.bearer = std::move(granted.token);
    co_return relay_outcome::go_on();
}

net::awaitable<relay_outcome> upstream_connector::send_request(int attempt) {
    exchange& x = x_;
    // Cut by a stop before the CRM was asked (or between attempts): it is not asked, and the
    // export, delivering nothing, ends like any cut one.
    if (ctx_.shutdown_cut) {
        if (ctx_.enforcement != nullptr) ctx_.enforcement->set_delivered(0);
        co_return relay_outcome::aborted(abort_reason::shutdown, nullptr);
    }
    if (attempt == 0) {
        x.conn = ctx_.rt.pool().acquire(x.key);
    } else {
        // The cut hook must not name the connection about to be destroyed: a stop during the
        // new connect would close freed memory.
        ctx_.upstream = nullptr;
        x.conn = nullptr;
    }
    x.reused = x.conn != nullptr;
    if (!x.conn) {
        upstream_fault fault = upstream_fault::connect;
        x.conn = co_await connect(fault);
        // A connect the cut cancelled says nothing about the CRM.
        if (!ctx_.shutdown_cut) ctx_.rt.pool().note_reachable(x.reach_key, x.conn != nullptr);
        if (x.conn && ctx_.shutdown_cut) x.conn->close();
        if (!x.conn) {
            ctx_.upstream_error(fault);
            co_return relay_outcome::refused(config::reason::upstream_unavailable,
                                             "The upstream could not be reached.",
                                             x.keep_on_refusal);
        }
    }
    ctx_.upstream = x.conn.get();
    // The head and a body read ahead (a query the guard read) go out in one write.
    std::array<net::const_buffer, 2> request_pieces;
    request_pieces[0] = net::buffer(x.up_head);
    request_pieces[1] = net::buffer(x.pre_read_body);
    auto ec = co_await write_upstream(ctx_.upstream_deadline, *x.conn, request_pieces,
                                      x.lim.upstream_idle);
    if (ec) {
        x.conn->close();
        if (x.reused && x.retryable) co_return relay_outcome::send_again();
        ctx_.upstream_error(upstream_fault::reset);
        co_return relay_outcome::refused(config::reason::upstream_unavailable,
                                         "The upstream closed the connection.", false);
    }
    co_return relay_outcome::go_on();
}

net::awaitable<relay_outcome> upstream_connector::renew_token() {
    exchange& x = x_;
    request_record& rec = x.rec;
    // The CRM refused the token (expired or revoked early). Nothing reached the client:
    // the 401's body is never read, the token is dropped (if no other request replaced it
    // already) and the request goes once more, on a fresh connection, with a new one.
    x.conn->close();
    x.tokens->invalidate(x.bearer);
    if (!x.auth_retried && x.auth_retryable) {
        x.auth_retried = true;
        auto granted = co_await x.tokens->token(ctx_.rt.stats());
        if (!granted.token) {
            std::string retry_after =
                "Retry-After: " + std::to_string(granted.retry_after.count()) + "\r\n";
            co_return relay_outcome::refused(
                config::reason::upstream_auth_unavailable,
                "exportwall cannot obtain an access token for the CRM.", x.keep_on_refusal,
                std::move(retry_after));
        }
        x.bearer = std::move(granted.token);
        if (!replace_bearer_token(x.up_head, *x.bearer))
            co_return relay_outcome::refused(config::reason::upstream_auth_unavailable,
                                             "exportwall cannot obtain an access token for the "
                                             "CRM.",
                                             x.keep_on_refusal);
        ctx_.rt.stats().upstream_auth_retry(x.up.id);
        co_return relay_outcome::go_on();
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
    co_return relay_outcome::refused(config::reason::upstream_auth_unavailable,
                                     "The CRM refused exportwall's access token.",
                                     x.keep_on_refusal);
}

net::awaitable<std::unique_ptr<byte_stream>> upstream_connector::connect(upstream_fault& fault) {
    const config::upstream& up = x_.up;
    const snapshot& snap = x_.snap;
    const config::limits& lim = x_.lim;
    io_deadline& deadline = ctx_.upstream_deadline;
    // Upstream sockets outlive this session in the pool and serve other sessions: they are bound
    // to the io_context itself, never to a strand (a session's executor is its context's own
    // since the tenth round; a strand is unwrapped for callers that still hand one in).
    net::any_io_executor ex = ctx_.client_stream.socket().get_executor();
    if (const auto* strand = ex.target<net::strand<net::io_context::executor_type>>())
        ex = strand->get_inner_executor();
    std::vector<tcp::endpoint> endpoints;
    boost::system::error_code ec;
    auto address = net::ip::make_address(up.host, ec);
    if (!ec) {
        endpoints.emplace_back(address, up.port);
    } else {
        tcp::resolver resolver(ex);
        deadline.arm(resolver, lim.upstream_connect);
        auto [rec, results] =
            co_await resolver.async_resolve(up.host, std::to_string(up.port), use_tuple);
        deadline.disarm();
        if (rec) {
            fault = upstream_fault::connect;
            spdlog::warn("upstream '{}': cannot resolve its host: {}", up.id, rec.message());
            co_return nullptr;
        }
        for (const auto& r : results) endpoints.push_back(r.endpoint());
    }
    tcp::socket sock(ex);
    deadline.arm(sock, lim.upstream_connect);
    auto [cec, ep] = co_await net::async_connect(sock, endpoints, use_tuple);
    bool expired = deadline.expired();
    deadline.disarm();
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
    deadline.arm(stream->socket(), lim.upstream_connect);
    auto [hec] = co_await stream->tls()->async_handshake(net::ssl::stream_base::client, use_tuple);
    expired = deadline.expired();
    deadline.disarm();
    if (hec) {
        fault = expired ? upstream_fault::timeout : upstream_fault::tls;
        spdlog::warn("upstream '{}': TLS handshake failed: {}", up.id,
                     expired ? "timed out" : hec.message());
        stream->close();
        co_return nullptr;
    }
    co_return stream;
}

}  // namespace exportwall::proxy
