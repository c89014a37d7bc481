#include "proxy/upstream_health.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include "proxy/runtime.hpp"
#include "proxy/stream.hpp"
#include "proxy/tls.hpp"

namespace exportwall::proxy {

namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// The request line and head of a health probe (built outside the coroutine).
std::string probe_request(const config::upstream& up) {
    std::string r = "GET " + up.health_path + " HTTP/1.1\r\nHost: " + up.host;
    const bool default_port =
        (up.scheme == "https" && up.port == 443) || (up.scheme == "http" && up.port == 80);
    if (!default_port) r += ":" + std::to_string(up.port);
    r += "\r\nUser-Agent: exportwall-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    return r;
}

// One probe: connect (and handshake), and with a health path its answer's status. Every step is
// bounded by the upstream-connect limit. Returns "" when healthy, else what failed.
net::awaitable<std::string> probe(const config::upstream& up, const snapshot& snap,
                                  std::chrono::milliseconds limit) {
    auto ex = co_await net::this_coro::executor;
    io_deadline deadline(ex);
    std::vector<tcp::endpoint> endpoints;
    error_code ec;
    auto address = net::ip::make_address(up.host, ec);
    if (!ec) {
        endpoints.emplace_back(address, up.port);
    } else {
        tcp::resolver resolver(ex);
        deadline.arm(resolver, limit);
        auto [rec, results] =
            co_await resolver.async_resolve(up.host, std::to_string(up.port), use_tuple);
        deadline.disarm();
        if (rec) co_return std::string("cannot resolve its host");
        for (const auto& r : results) endpoints.push_back(r.endpoint());
    }
    tcp::socket sock(ex);
    deadline.arm(sock, limit);
    auto [cec, ep] = co_await net::async_connect(sock, endpoints, use_tuple);
    deadline.disarm();
    (void)ep;
    if (cec) co_return std::string(deadline.expired() ? "connect timed out" : "connect failed");
    std::unique_ptr<byte_stream> stream;
    if (up.scheme == "https") {
        auto ctx = snap.upstream_tls.find(up.id);
        if (ctx == snap.upstream_tls.end()) co_return std::string("no TLS context");
        stream = std::make_unique<byte_stream>(std::move(sock), *ctx->second);
        if (!prepare_upstream_ssl(stream->tls()->native_handle(), up.host))
            co_return std::string("TLS set-up failed");
        deadline.arm(stream->socket(), limit);
        auto [hec] =
            co_await stream->tls()->async_handshake(net::ssl::stream_base::client, use_tuple);
        deadline.disarm();
        if (hec) co_return std::string("TLS handshake failed");
    } else {
        stream = std::make_unique<byte_stream>(std::move(sock));
    }
    if (up.health_path.empty()) {
        stream->close();
        co_return std::string();
    }
    const std::string request = probe_request(up);
    deadline.arm(stream->socket(), limit);
    auto [wec, written] = co_await net::async_write(*stream, net::buffer(request), use_tuple);
    (void)written;
    if (wec) {
        deadline.disarm();
        stream->close();
        co_return std::string("the probe request could not be sent");
    }
    boost::beast::flat_buffer buffer;
    http::response_parser<http::empty_body> parser;
    parser.header_limit(16 * 1024);
    auto [rec, read] = co_await http::async_read_header(*stream, buffer, parser, use_tuple);
    (void)read;
    const bool expired = deadline.expired();
    deadline.disarm();
    stream->close();
    if (rec) co_return std::string(expired ? "no answer in time" : "no readable answer");
    const unsigned status = parser.get().result_int();
    if (status < 200 || status >= 400)
        co_return "GET " + up.health_path + " answered " + std::to_string(status);
    co_return std::string();
}

struct upstream_state {
    std::chrono::steady_clock::time_point due{};
    unsigned failures = 0;
    bool marked_down = false;
};

net::awaitable<void> run_checks(runtime& rt) {
    auto ex = co_await net::this_coro::executor;
    net::steady_timer timer(ex);
    std::map<std::string, upstream_state> states;  // by upstream id
    while (!rt.stopping.load()) {
        const auto snap = rt.current();
        const auto now = std::chrono::steady_clock::now();
        // Reloads: forget upstreams that are gone; new ones are due at once.
        for (auto it = states.begin(); it != states.end();) {
            const auto& ups = snap->config->net.upstreams;
            const bool kept = std::any_of(ups.begin(), ups.end(), [&](const config::upstream& u) {
                return u.id == it->first;
            });
            it = kept ? std::next(it) : states.erase(it);
        }
        auto next = now + std::chrono::seconds(1);  // at least this often: reloads are seen
        for (const auto& up : snap->config->net.upstreams) {
            if (up.health_interval.count() == 0) continue;
            auto& st = states[up.id];
            if (st.due > now) {
                next = std::min(next, st.due);
                continue;
            }
            std::string failure =
                co_await probe(up, *snap, snap->config->net.limit.upstream_connect);
            if (rt.stopping.load()) co_return;
            st.due = std::chrono::steady_clock::now() + up.health_interval;
            next = std::min(next, st.due);
            if (failure.empty()) {
                if (st.marked_down) spdlog::info("upstream '{}': health check passes again", up.id);
                st.failures = 0;
                st.marked_down = false;
                rt.pool().note_reachable(pool_key(up), true);
                continue;
            }
            ++st.failures;
            if (st.failures >= up.health_threshold) {
                if (!st.marked_down)
                    spdlog::warn(
                        "upstream '{}': health check failed {} time(s) in a row ({}); "
                        "/readyz fails until it passes",
                        up.id, st.failures, failure);
                st.marked_down = true;
                rt.pool().note_reachable(pool_key(up), false);
            }
        }
        timer.expires_at(next);
        auto [ec] = co_await timer.async_wait(use_tuple);
        (void)ec;
    }
}

}  // namespace

void start_health_checks(runtime& rt, net::io_context& ioc) {
    net::co_spawn(ioc, run_checks(rt), net::detached);
}

}  // namespace exportwall::proxy
