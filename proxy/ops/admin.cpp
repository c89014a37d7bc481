#include "proxy/ops/admin.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include <array>
#include <cctype>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/ascii.hpp"
#include "common/clock.hpp"
#include "common/hex.hpp"
#include "common/json_text.hpp"
#include "proxy/enforce/volume_monitor.hpp"

namespace exportwall::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t max_admin_body = 64 * 1024;
constexpr std::size_t max_admin_head = 8 * 1024;
constexpr auto admin_io_timeout = std::chrono::seconds(10);

bool is_hex64(std::string_view s) {
    if (s.size() != 64) return false;
    for (const char c : s)
        if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return false;
    return true;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Constant-time comparison of the presented token's hash with the configured one.
bool token_matches(std::string_view authorization, const std::string& expected_hex) {
    constexpr std::string_view scheme = "bearer ";
    if (authorization.size() <= scheme.size() ||
        !common::iequals_ascii(authorization.substr(0, scheme.size()), scheme))
        return false;
    std::string_view token = authorization.substr(scheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (token.empty()) return false;
    const std::string presented = common::sha256_hex(token);
    const std::string wanted = lower(expected_hex);
    return presented.size() == wanted.size() &&
           CRYPTO_memcmp(presented.data(), wanted.data(), presented.size()) == 0;
}

admin_response text(unsigned status, std::string body) {
    return admin_response{status, "text/plain; charset=utf-8", std::move(body)};
}

admin_response problem(unsigned status, std::string_view title) {
    std::string body = R"({"type":"about:blank","title":)";
    body += common::json_string(title);
    body += R"(,"status":)";
    body += std::to_string(status);
    body += '}';
    return admin_response{status, "application/problem+json", std::move(body)};
}

bool authorised(const admin_hooks& hooks, std::string_view authorization) {
    return hooks.token_sha256.empty() || token_matches(authorization, hooks.token_sha256);
}

bool is_volume_path(std::string_view path) {
    return path == "/admin/volume-holds" || path == "/admin/volume-holds/clear";
}

std::string hold_json(const volume_hold& h) {
    return R"({"client":)" + common::json_string(h.client) + R"(,"purpose":)" +
           common::json_string(h.purpose) + R"(,"since":)" + common::json_string(h.since) + "}";
}

// The volume-alert holds: they live in the quota store, whose calls are awaited (with Redis, a
// round trip), so these routes run in the connection's coroutine rather than in dispatch().
// Called after authentication.
net::awaitable<admin_response> volume_holds_endpoint(const admin_hooks& hooks,
                                                     const admin_request& req,
                                                     std::string_view path) {
    if (path == "/admin/volume-holds") {
        if (req.method != "GET") co_return problem(405, "Method Not Allowed");
        if (!hooks.volume) co_return problem(501, "Not Implemented");
        const auto list = co_await hooks.volume->holds();
        if (list.error) co_return problem(503, "Quota store unavailable");
        std::string body = R"({"holds":[)";
        for (std::size_t i = 0; i < list.holds.size(); ++i) {
            if (i != 0) body += ',';
            body += hold_json(list.holds[i]);
        }
        body += "]}";
        co_return admin_response{200, "application/json", std::move(body)};
    }
    if (req.method != "POST") co_return problem(405, "Method Not Allowed");
    if (!hooks.volume) co_return problem(501, "Not Implemented");
    // Exactly client and purpose, once each. Their values are never echoed: the answer names the
    // hold found in the store.
    std::optional<std::string> client, purpose;
    bool malformed = false;
    if (auto url = boost::urls::parse_origin_form(req.target)) {
        for (const auto& p : url->params()) {
            std::optional<std::string>* slot = nullptr;
            if (p.key == "client") slot = &client;
            if (p.key == "purpose") slot = &purpose;
            if (slot == nullptr || slot->has_value() || !p.has_value || p.value.empty())
                malformed = true;
            else
                *slot = p.value;
        }
    } else {
        malformed = true;
    }
    if (malformed || !client || !purpose)
        co_return problem(400, "Bad Request: give client and purpose, once each");
    const auto now = common::seconds_now();
    // Named, not a temporary of a conditional inside the co_await expression: GCC 12 destroys
    // such a temporary twice.
    std::string revision;
    if (hooks.revision) revision = hooks.revision();
    const auto r = co_await hooks.volume->clear(*client, *purpose, revision, now);
    if (r.error)
        co_return problem(503,
                          r.audit_failed ? "Audit trail unavailable" : "Quota store unavailable");
    if (!r.cleared) co_return problem(404, "No volume hold for this client and purpose");
    co_return admin_response{200, "application/json", R"({"cleared":)" + hold_json(r.hold) + "}"};
}

// Routes one admin request. Pure apart from the hooks it calls.
admin_response dispatch(const admin_hooks& hooks, const admin_request& req,
                        std::string_view authorization) {
    const std::string_view target = req.target;
    const std::string_view path = target.substr(0, target.find('?'));
    const bool is_get = req.method == "GET";

    if (path == "/healthz") return is_get ? text(200, "ok\n") : problem(405, "Method Not Allowed");

    if (hooks.metrics_only) {
        if (path != "/metrics") return problem(404, "Not Found");
        if (!is_get) return problem(405, "Method Not Allowed");
        return admin_response{200, "text/plain; version=0.0.4; charset=utf-8",
                              hooks.m != nullptr ? hooks.m->render() : std::string()};
    }
    if (!authorised(hooks, authorization)) return problem(401, "Unauthorized");

    if (path == "/readyz") {
        if (!is_get) return problem(405, "Method Not Allowed");
        const bool ready = !hooks.ready || hooks.ready();
        // The configuration revision (SHA-256 of the file) tells which policy this replica
        // enforces: after a rollout every replica should report the same one.
        const std::string revision = hooks.revision ? " revision " + hooks.revision() : "";
        return ready ? text(200, "ready" + revision + "\n")
                     : text(503, "not ready" + revision + "\n");
    }
    if (path == "/metrics") {
        if (!is_get) return problem(405, "Method Not Allowed");
        return admin_response{200, "text/plain; version=0.0.4; charset=utf-8",
                              hooks.m != nullptr ? hooks.m->render() : std::string()};
    }
    if (path == "/admin/reload") {
        if (req.method != "POST") return problem(405, "Method Not Allowed");
        if (!hooks.reload) return problem(501, "Not Implemented");
        std::string out;
        if (hooks.reload(out)) {
            return admin_response{
                200, "application/json",
                R"({"reloaded":true,"revision":)" + common::json_string(out) + "}"};
        }
        // Only a count goes over the wire; the errors themselves are in the operational log.
        std::string errors = "0";
        if (!out.empty() && out.find_first_not_of("0123456789") == std::string::npos) errors = out;
        return admin_response{500, "application/json",
                              R"({"reloaded":false,"errors":)" + errors + "}"};
    }
    if (hooks.extension) {
        if (auto r = hooks.extension(req)) return std::move(*r);
    }
    return problem(404, "Not Found");
}

net::awaitable<void> serve_admin_connection(tcp::socket socket,
                                            std::shared_ptr<const admin_hooks> hooks_ptr) {
    const admin_hooks& hooks = *hooks_ptr;
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer(max_admin_head + max_admin_body);
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(max_admin_head));
    parser.body_limit(max_admin_body);

    stream.expires_after(admin_io_timeout);
    auto [ec, n] =
        co_await http::async_read(stream, buffer, parser, net::as_tuple(net::use_awaitable));
    (void)n;

    admin_response response;
    if (ec == http::error::body_limit) {
        response = problem(413, "Payload Too Large");
    } else if (ec == http::error::header_limit) {
        response = problem(431, "Request Header Fields Too Large");
    } else if (ec) {
        // Timeout, reset or garbage: nothing worth answering.
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        co_return;
    } else {
        const auto& msg = parser.get();
        admin_request req;
        req.method = std::string(msg.method_string());
        req.target = std::string(msg.target());
        std::string authorization;
        for (const auto& field : msg) {
            if (field.name() == http::field::authorization) {
                authorization = std::string(field.value());
                continue;  // the token never reaches an extension
            }
            req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        }
        req.body = msg.body();
        const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
        if (!hooks.metrics_only && is_volume_path(path) && authorised(hooks, authorization))
            response = co_await volume_holds_endpoint(hooks, req, path);
        else
            response = dispatch(hooks, req, authorization);
    }

    http::response<http::string_body> res{static_cast<http::status>(response.status), 11};
    res.set(http::field::server, "exportwall-admin");
    res.set(http::field::content_type, response.content_type);
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.set("X-Frame-Options", "DENY");
    for (const auto& extra : response.headers) res.set(extra.first, extra.second);
    if (response.status == 401) res.set(http::field::www_authenticate, "Bearer");
    res.keep_alive(false);
    res.body() = std::move(response.body);
    res.prepare_payload();

    stream.expires_after(admin_io_timeout);
    auto [wec, wn] = co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
    (void)wn;
    if (!wec) {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
}

bool is_loopback_name(const std::string& address) {
    if (address == "localhost") return true;
    boost::system::error_code ec;
    const auto a = net::ip::make_address(address, ec);
    return !ec && a.is_loopback();
}

}  // namespace

std::optional<std::string> check_admin_settings(const config::admin_listener& admin) {
    if (!admin.token_sha256.empty() && !is_hex64(admin.token_sha256))
        return "admin token-sha256 must be 64 hexadecimal digits (the SHA-256 of the token)";
    if (admin.token_sha256.empty() && !is_loopback_name(admin.address))
        return "admin address " + admin.address +
               " is not loopback: a token (token-sha256) is required";
    return std::nullopt;
}

net::awaitable<void> run_admin(tcp::acceptor acceptor, admin_hooks hooks) {
    boost::system::error_code ec;
    const auto local = acceptor.local_endpoint(ec);
    if (ec) {
        spdlog::error("admin listener: not bound ({})", ec.message());
        co_return;
    }
    if (hooks.token_sha256.empty() && !hooks.metrics_only && !local.address().is_loopback()) {
        spdlog::error(
            "admin listener on a non-loopback address without a token: refusing to serve");
        acceptor.close(ec);
        co_return;
    }
    const auto executor = co_await net::this_coro::executor;
    // The hooks outlive every connection: the connections hold a shared copy.
    const auto shared = std::make_shared<const admin_hooks>(std::move(hooks));
    for (;;) {
        auto [aec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
        if (aec == net::error::operation_aborted || !acceptor.is_open()) co_return;
        if (aec) {
            // Out of descriptors and the like: keep serving, the next accept may succeed.
            spdlog::warn("admin listener: accept failed ({})", aec.message());
            net::steady_timer backoff(executor, std::chrono::milliseconds(100));
            co_await backoff.async_wait(net::as_tuple(net::use_awaitable));
            continue;
        }
        net::co_spawn(executor, serve_admin_connection(std::move(socket), shared), net::detached);
    }
}

}  // namespace exportwall::proxy
