#include "proxy/upstream_token.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "common/ascii.hpp"
#include "common/base64.hpp"
#include "common/clock.hpp"
#include "common/percent.hpp"
#include "proxy/client_assertion.hpp"
#include "proxy/ops/metrics.hpp"
#include "proxy/stream.hpp"
#include "proxy/tls.hpp"

namespace exportwall::proxy {

namespace {

namespace http = boost::beast::http;
using boost::system::error_code;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

constexpr std::size_t max_token_bytes = 16 * 1024;
constexpr std::chrono::seconds max_token_lifetime{24 * 3600};
constexpr std::chrono::seconds first_backoff{1};
constexpr std::chrono::seconds max_backoff{60};

// application/x-www-form-urlencoded (the unreserved characters stay, a space is '+').
std::string form_encode(std::string_view s) {
    static constexpr common::percent_plain unreserved = common::unreserved_and("");
    std::string out;
    common::append_percent_encoded(out, s, unreserved, common::plus_sign::space);
    return out;
}

// An OAuth2 error code (RFC 6749 §5.2: invalid_client, unauthorized_client …) is a word of the
// protocol, safe for the log; anything else the endpoint wrote is not repeated.
bool is_error_code(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || c == '_';
    });
}

bool same_bytes(const std::shared_ptr<const std::string>& a,
                const std::shared_ptr<const std::string>& b) {
    if (!a || !b) return !a && !b;
    return *a == *b;
}

std::string host_field(const config::oauth2_settings& o) {
    std::string out = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    const bool default_port =
        (o.scheme == "https" && o.port == 443) || (o.scheme == "http" && o.port == 80);
    if (!default_port) out += ":" + std::to_string(o.port);
    return out;
}

}  // namespace

// ---- the token endpoint's language (pure) ------------------------------------------------------

token_answer parse_token_response(unsigned status, std::string_view body) {
    token_answer out;
    error_code ec;
    const auto v = boost::json::parse(boost::json::string_view(body.data(), body.size()), ec);
    const auto* o = ec ? nullptr : v.if_object();
    if (status != 200) {
        out.failure = "the token endpoint answered " + std::to_string(status);
        const auto* e = o != nullptr ? o->if_contains("error") : nullptr;
        if (e != nullptr && e->is_string() && is_error_code(e->get_string()))
            out.failure += " (" + std::string(e->get_string()) + ")";
        return out;
    }
    if (o == nullptr) {
        out.failure = "the token endpoint's answer is not a JSON object";
        return out;
    }
    const auto* token = o->if_contains("access_token");
    if (token == nullptr || !token->is_string() || token->get_string().empty() ||
        token->get_string().size() > max_token_bytes ||
        !std::all_of(token->get_string().begin(), token->get_string().end(),
                     [](char c) { return c > 0x20 && c < 0x7f; })) {
        out.failure = "the token endpoint's answer has no usable access_token";
        return out;
    }
    if (const auto* type = o->if_contains("token_type");
        type != nullptr &&
        (!type->is_string() || !common::iequals_ascii(type->get_string(), "bearer"))) {
        out.failure = "the token endpoint's token_type is not Bearer";
        return out;
    }
    std::chrono::seconds lifetime = default_token_lifetime;
    if (const auto* e = o->if_contains("expires_in"); e != nullptr) {
        std::int64_t seconds = -1;
        if (e->is_int64()) {
            seconds = e->get_int64();
        } else if (e->is_uint64()) {
            seconds = static_cast<std::int64_t>(std::min<std::uint64_t>(e->get_uint64(), 1u << 30));
        } else if (e->is_double() && e->get_double() >= 1 && e->get_double() < 1e9) {
            seconds = static_cast<std::int64_t>(e->get_double());
        } else if (e->is_string() && !e->get_string().empty() && e->get_string().size() <= 9 &&
                   std::all_of(e->get_string().begin(), e->get_string().end(),
                               [](char c) { return c >= '0' && c <= '9'; })) {
            seconds = std::stoll(std::string(e->get_string()));
        }
        if (seconds < 1) {
            out.failure = "the token endpoint's expires_in is not a positive number of seconds";
            return out;
        }
        lifetime = std::min(std::chrono::seconds(seconds), max_token_lifetime);
    }
    out.token = issued_token{std::string(token->get_string()), lifetime};
    return out;
}

std::string token_request(const config::oauth2_settings& o, std::string_view assertion) {
    std::string body = "grant_type=client_credentials";
    const std::string secret = o.client_secret ? *o.client_secret : std::string();
    if (o.auth != config::oauth2_client_auth::secret_basic) {
        body += "&client_id=" + form_encode(o.client_id);
    }
    if (o.auth == config::oauth2_client_auth::secret_post) {
        body += "&client_secret=" + form_encode(secret);
    } else if (o.auth == config::oauth2_client_auth::certificate) {
        body += "&client_assertion_type=" +
                form_encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        body += "&client_assertion=" + form_encode(assertion);
    }
    if (!o.scope.empty()) body += "&scope=" + form_encode(o.scope);
    std::string out = "POST " + o.target + " HTTP/1.1\r\nHost: " + host_field(o) + "\r\n";
    if (o.auth == config::oauth2_client_auth::secret_basic) {
        // RFC 6749 §2.3.1: the id and the secret are form-encoded before Basic's base64.
        out += "Authorization: Basic " +
               common::base64(form_encode(o.client_id) + ":" + form_encode(secret),
                              common::base64_form::standard_padded) +
               "\r\n";
    }
    out +=
        "User-Agent: exportwall\r\nAccept: application/json\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    out += body;
    return out;
}

std::chrono::milliseconds refresh_after(std::chrono::seconds lifetime) {
    using std::chrono::milliseconds;
    const milliseconds whole = lifetime;
    const milliseconds four_fifths = whole * 4 / 5;
    const milliseconds minute_early = whole - std::chrono::seconds(60);
    return std::max(std::min(four_fifths, minute_early), whole / 2);
}

// ---- token_cache ---------------------------------------------------------------------------

token_cache::lookup token_cache::look_up(clock::time_point now) {
    lookup out;
    if (token_ && now < expires_) {
        out.token = token_;
        if (now >= refresh_at_ && !fetching_ && now >= retry_at_) {
            fetching_ = true;
            out.start_fetch = true;
        }
        return out;
    }
    token_.reset();
    if (fetching_) {
        out.wait = true;
    } else if (now < retry_at_) {
        out.retry_after = retry_at_ - now;
    } else {
        fetching_ = true;
        out.start_fetch = true;
        out.wait = true;
    }
    return out;
}

void token_cache::fetched(token_ptr token, std::chrono::seconds lifetime,
                          clock::time_point requested_at) {
    token_ = std::move(token);
    expires_ = requested_at + lifetime;
    refresh_at_ = requested_at + refresh_after(lifetime);
    retry_at_ = {};
    failures_ = 0;
    fetching_ = false;
}

void token_cache::failed(clock::time_point now) {
    fetching_ = false;
    failures_ = std::min(failures_ + 1, 16u);
    auto backoff = first_backoff * (1u << std::min(failures_ - 1, 6u));
    retry_at_ = now + std::min<clock::duration>(backoff, max_backoff);
}

bool token_cache::invalidate(const token_ptr& used) {
    if (!token_ || token_ != used) return false;
    token_.reset();
    return true;
}

// ---- upstream_token_source -------------------------------------------------------------------

upstream_token_source::upstream_token_source(std::string upstream_id, fetcher fetch,
                                             std::function<clock::time_point()> now)
    : upstream_id_(std::move(upstream_id)), fetch_(std::move(fetch)), now_(std::move(now)) {}

net::awaitable<token_result> upstream_token_source::token(metrics& stats) {
    // Not a coroutine itself: the initiation (and the shared_ptr it holds) lives in the awaitable
    // Asio makes of it (GCC 12 destroyed a lambda temporary of `co_return co_await` twice).
    return net::async_initiate<decltype(net::use_awaitable), void(token_result)>(
        [self = shared_from_this(), &stats](auto handler) {
            using handler_type = decltype(handler);
            auto ex = net::get_associated_executor(handler);
            // std::function needs a copyable callable; the coroutine's handler is move-only.
            auto h = std::make_shared<handler_type>(std::move(handler));
            self->request(
                [h](token_result r) {
                    auto target = net::get_associated_executor(*h);
                    net::post(target, [h, r = std::move(r)]() mutable { std::move (*h)(r); });
                },
                ex, stats);
        },
        net::use_awaitable);
}

void upstream_token_source::request(waiter w, net::any_io_executor ex, metrics& stats) {
    std::unique_lock lock(mutex_);
    const auto now = now_();
    const auto look = cache_.look_up(now);
    if (look.wait) {
        waiters_.push_back(std::move(w));
        lock.unlock();
    } else {
        lock.unlock();
        token_result r;
        r.token = look.token;
        if (!look.token)
            r.retry_after = std::max(std::chrono::seconds(1),
                                     std::chrono::ceil<std::chrono::seconds>(look.retry_after));
        w(std::move(r));
    }
    if (!look.start_fetch) return;
    // The fetch belongs to no session: it runs on a strand of its own on the same io_context.
    // When the io_context stops with it in flight, its completion is destroyed uncalled: the
    // guard then drops the waiters (coroutine handlers of sessions that go with the io_context)
    // and frees the cache for the next fetch.
    struct fetch_guard {
        std::shared_ptr<upstream_token_source> source;
        bool done = false;
        fetch_guard(const fetch_guard&) = delete;
        fetch_guard& operator=(const fetch_guard&) = delete;
        explicit fetch_guard(std::shared_ptr<upstream_token_source> s) : source(std::move(s)) {}
        ~fetch_guard() {
            if (!done) source->abandon();
        }
    };
    auto guard = std::make_shared<fetch_guard>(shared_from_this());
    auto& io = static_cast<net::io_context&>(net::query(ex, net::execution::context));
    net::co_spawn(net::make_strand(io), fetch_(),
                  [guard, now, &stats](const std::exception_ptr& e, token_answer answer) {
                      guard->done = true;
                      if (e) {
                          answer = {};
                          answer.failure = "the token request failed";
                      }
                      guard->source->complete(std::move(answer), now, stats);
                  });
}

void upstream_token_source::abandon() {
    std::vector<waiter> dropped;
    std::lock_guard lock(mutex_);
    cache_.abandoned();
    dropped.swap(waiters_);
}

void upstream_token_source::complete(token_answer answer, clock::time_point requested_at,
                                     metrics& stats) {
    token_result result;
    std::vector<waiter> ready;
    bool fallback = false;
    {
        std::lock_guard lock(mutex_);
        if (answer.token) {
            result.token =
                std::make_shared<const std::string>(std::move(answer.token->access_token));
            cache_.fetched(result.token, answer.token->lifetime, requested_at);
        } else {
            const auto now = now_();
            cache_.failed(now);
            result.retry_after =
                std::max(std::chrono::seconds(1),
                         std::chrono::ceil<std::chrono::seconds>(cache_.retry_at() - now));
            fallback = waiters_.empty();
        }
        ready.swap(waiters_);
    }
    stats.upstream_token_request(upstream_id_, result.token != nullptr);
    if (!result.token) {
        if (fallback)
            spdlog::warn(
                "upstream '{}': token refresh failed ({}); the cached token serves until it "
                "expires, next attempt in {} s",
                upstream_id_, answer.failure, result.retry_after.count());
        else
            spdlog::warn(
                "upstream '{}': token request failed ({}); its exports are refused "
                "(upstream_auth_unavailable), next attempt in {} s",
                upstream_id_, answer.failure, result.retry_after.count());
    }
    for (auto& w : ready) w(result);
}

void upstream_token_source::invalidate(const std::shared_ptr<const std::string>& used) {
    std::lock_guard lock(mutex_);
    cache_.invalidate(used);
}

// ---- the token endpoint over the network --------------------------------------------------------

net::awaitable<token_answer> request_token(const config::oauth2_settings& o, net::ssl::context* tls,
                                           const assertion_key* key,
                                           std::chrono::milliseconds connect_limit,
                                           std::chrono::milliseconds answer_limit) {
    token_answer out;
    std::string assertion;
    if (o.auth == config::oauth2_client_auth::certificate) {
        const std::string jti = random_jti();
        assertion_claims claims;
        claims.client_id = o.client_id;
        claims.audience = o.token_url;
        claims.jti = jti;
        claims.now = common::seconds_now();
        if (key != nullptr && !jti.empty())
            assertion = sign_client_assertion(*key, o.algorithm, claims);
        if (assertion.empty()) {
            out.failure = "the client assertion could not be signed";
            co_return out;
        }
    }
    const std::string request = token_request(o, assertion);
    auto ex = co_await net::this_coro::executor;
    io_deadline deadline(ex);
    std::vector<tcp::endpoint> endpoints;
    error_code ec;
    const auto address = net::ip::make_address(o.host, ec);
    if (!ec) {
        endpoints.emplace_back(address, o.port);
    } else {
        tcp::resolver resolver(ex);
        deadline.arm(resolver, connect_limit);
        auto [rec, results] =
            co_await resolver.async_resolve(o.host, std::to_string(o.port), use_tuple);
        deadline.disarm();
        if (rec) {
            out.failure = "cannot resolve the token endpoint's host";
            co_return out;
        }
        for (const auto& r : results) endpoints.push_back(r.endpoint());
    }
    tcp::socket sock(ex);
    deadline.arm(sock, connect_limit);
    auto [cec, ep] = co_await net::async_connect(sock, endpoints, use_tuple);
    deadline.disarm();
    (void)ep;
    if (cec) {
        if (deadline.expired())
            out.failure = "connecting to the token endpoint timed out";
        else
            out.failure = "cannot connect to the token endpoint";
        co_return out;
    }
    std::unique_ptr<byte_stream> stream;
    if (o.scheme == "https") {
        if (tls == nullptr) {
            out.failure = "no TLS context for the token endpoint";
            co_return out;
        }
        stream = std::make_unique<byte_stream>(std::move(sock), *tls);
        if (!prepare_upstream_ssl(stream->tls()->native_handle(), o.host)) {
            out.failure = "TLS set-up for the token endpoint failed";
            co_return out;
        }
        deadline.arm(stream->socket(), connect_limit);
        auto [hec] =
            co_await stream->tls()->async_handshake(net::ssl::stream_base::client, use_tuple);
        deadline.disarm();
        if (hec) {
            stream->close();
            out.failure = "the TLS handshake with the token endpoint failed";
            co_return out;
        }
    } else {
        stream = std::make_unique<byte_stream>(std::move(sock));
    }
    deadline.arm(stream->socket(), answer_limit);
    auto [wec, written] = co_await net::async_write(*stream, net::buffer(request), use_tuple);
    (void)written;
    if (wec) {
        deadline.disarm();
        stream->close();
        out.failure = "the token request could not be sent";
        co_return out;
    }
    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(std::uint64_t{64 * 1024});
    auto [rec, read] = co_await http::async_read(*stream, buffer, parser, use_tuple);
    (void)read;
    const bool expired = deadline.expired();
    deadline.disarm();
    stream->close();
    if (rec) {
        if (expired)
            out.failure = "the token endpoint did not answer in time";
        else
            out.failure = "the token endpoint's answer is unreadable";
        co_return out;
    }
    co_return parse_token_response(parser.get().result_int(), parser.get().body());
}

std::shared_ptr<upstream_token_source> make_token_source(const config::upstream& u,
                                                         const config::limits& lim,
                                                         std::string& error) {
    if (!u.oauth2) {
        error = "no <oauth2>";
        return nullptr;
    }
    const auto settings = std::make_shared<const config::oauth2_settings>(*u.oauth2);
    std::shared_ptr<net::ssl::context> tls;
    if (settings->scheme == "https") {
        config::upstream endpoint;
        endpoint.ca_file = settings->ca_file;
        tls = make_upstream_context(endpoint, error);
        if (!tls) {
            error = "token endpoint: " + error;
            return nullptr;
        }
    }
    std::shared_ptr<const assertion_key> key;
    if (settings->auth == config::oauth2_client_auth::certificate) {
        if (!settings->certificate_pem || !settings->private_key_pem) {
            error = "the client certificate and key were not read";
            return nullptr;
        }
        key =
            assertion_key::from_pem(*settings->certificate_pem, *settings->private_key_pem, error);
        if (!key) return nullptr;
    } else if (!settings->client_secret) {
        error = "the client secret was not read";
        return nullptr;
    }
    const auto connect_limit = lim.upstream_connect;
    const auto answer_limit = lim.upstream_response_head;
    upstream_token_source::fetcher fetch = [settings, tls, key, connect_limit, answer_limit]() {
        return request_token(*settings, tls.get(), key.get(), connect_limit, answer_limit);
    };
    return std::make_shared<upstream_token_source>(u.id, std::move(fetch));
}

bool same_token_settings(const config::upstream& before, const config::limits& before_limits,
                         const config::upstream& now, const config::limits& now_limits) {
    if (!before.oauth2 || !now.oauth2) return false;
    const auto& a = *before.oauth2;
    const auto& b = *now.oauth2;
    return before.id == now.id && a.token_url == b.token_url && a.ca_file == b.ca_file &&
           a.client_id == b.client_id && a.scope == b.scope && a.auth == b.auth &&
           a.algorithm == b.algorithm && a.client_secret_file == b.client_secret_file &&
           a.certificate_file == b.certificate_file && a.private_key_file == b.private_key_file &&
           same_bytes(a.client_secret, b.client_secret) &&
           same_bytes(a.certificate_pem, b.certificate_pem) &&
           same_bytes(a.private_key_pem, b.private_key_pem) &&
           before_limits.upstream_connect == now_limits.upstream_connect &&
           before_limits.upstream_response_head == now_limits.upstream_response_head;
}

}  // namespace exportwall::proxy
