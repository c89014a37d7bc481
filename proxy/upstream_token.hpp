#pragma once
// OAuth2 access tokens for an upstream (<oauth2> in an <upstream>): the client-credentials grant
// (RFC 6749 §4.4) against the Microsoft identity platform (Dataverse) or Salesforce, with a client
// secret or a certificate's signed assertion (proxy/client_assertion.hpp).
//
// - token_cache: the pure schedule — when a cached token is used, refreshed, waited for or
//   refused — fed with time points, so its rules are tested without a clock or a socket.
// - upstream_token_source: the cache of one upstream behind a mutex, with one fetch in flight at
//   a time; requests that need a token while it runs wait for it without blocking a thread.
// - request_token: one POST to the token endpoint (its own connection, bounded by the limits).
//
// An access token, a client secret and an assertion are credentials: none of them reaches a log
// line, an audit record, a metric label or a response to a client.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "config/settings.hpp"

namespace boost::asio::ssl {
class context;
}

namespace exportwall::proxy {

class assertion_key;
class metrics;

// A token endpoint's successful answer (RFC 6749 §5.1).
struct issued_token {
    std::string access_token;
    std::chrono::seconds lifetime{0};  // expires_in, or default_token_lifetime
};

// A token endpoint's answer: the token, or why there is none (a phrase for the operational log:
// a status, an OAuth2 error code, never a value of the answer).
struct token_answer {
    std::optional<issued_token> token;
    std::string failure;
};

// What a token without expires_in (Salesforce's client-credentials answer has none: its lifetime
// is the org's session timeout, at least 15 minutes) is taken to live; a 401 replaces it earlier.
inline constexpr std::chrono::seconds default_token_lifetime{900};

// Parses the token endpoint's answer: 200 with a JSON object whose access_token is 1–16384
// visible ASCII characters, token_type (when present) Bearer, expires_in (when present) a
// positive number of seconds (a number or a string of digits; capped at a day).
[[nodiscard]] token_answer parse_token_response(unsigned status, std::string_view body);

// The complete HTTP/1.1 request (head and application/x-www-form-urlencoded body) for the
// token endpoint of `o`: grant_type=client_credentials, scope when set, and the client's proof —
// client_id and client_secret in the body (post), HTTP Basic of the form-encoded id and secret
// (basic), or client_id with client_assertion_type jwt-bearer and `assertion` (certificate).
[[nodiscard]] std::string token_request(const config::oauth2_settings& o,
                                        std::string_view assertion);

// How long after it was requested a token of `lifetime` is replaced: min(0.8·L, L − 60 s), and
// never before L/2 (a short-lived token is not refreshed at every request).
[[nodiscard]] std::chrono::milliseconds refresh_after(std::chrono::seconds lifetime);

// The token schedule of one upstream. Not thread-safe (upstream_token_source locks around it).
class token_cache {
  public:
    using clock = std::chrono::steady_clock;
    using token_ptr = std::shared_ptr<const std::string>;

    // What a request that needs a token does now.
    struct lookup {
        token_ptr token;           // use this one (null: none usable)
        bool start_fetch = false;  // the caller starts the one fetch (recorded as in flight)
        bool wait = false;         // no usable token: wait for the fetch in flight
        // With neither a token nor a wait: the last fetch failed; the next is allowed after this.
        clock::duration retry_after{};
    };

    // A cached token is used until it expires; once its refresh is due, the first caller also
    // starts a fetch (unless one runs or the backoff after a failure lasts). Without a usable
    // token a caller waits for the fetch in flight, starts one, or — during the backoff — is
    // refused.
    [[nodiscard]] lookup look_up(clock::time_point now);
    // The fetch requested at `requested_at` brought `token` (its lifetime counts from the request,
    // not the answer). The backoff is over.
    void fetched(token_ptr token, std::chrono::seconds lifetime, clock::time_point requested_at);
    // The fetch failed at `now`: no other fetch before 1 s, 2 s, 4 s … up to 60 s after it (by
    // consecutive failures). A token still valid stays in use meanwhile.
    void failed(clock::time_point now);
    // The fetch ended without an answer (the io_context stopped): nothing is in flight.
    void abandoned() noexcept { fetching_ = false; }
    // A 401 from the CRM to a request that sent `used`: the cached token is dropped if it is
    // still `used` (a request that sent an older one does not drop the newer). True if dropped.
    bool invalidate(const token_ptr& used);

    [[nodiscard]] bool fetching() const noexcept { return fetching_; }
    [[nodiscard]] clock::time_point retry_at() const noexcept { return retry_at_; }

  private:
    token_ptr token_;
    clock::time_point expires_{};
    clock::time_point refresh_at_{};
    clock::time_point retry_at_{};
    unsigned failures_ = 0;
    bool fetching_ = false;
};

// What upstream_token_source::token() answers.
struct token_result {
    std::shared_ptr<const std::string> token;  // null: no token (refuse, fail closed)
    std::chrono::seconds retry_after{0};       // with no token: when a fetch is tried again
};

// The access tokens of one upstream, shared by every session (any thread). The snapshot holds it;
// a reload keeps it while the upstream's <oauth2> and its secret files are unchanged.
class upstream_token_source : public std::enable_shared_from_this<upstream_token_source> {
  public:
    using clock = token_cache::clock;
    // One request to the token endpoint, run on a strand of the io_context of the session that
    // started it.
    using fetcher = std::function<boost::asio::awaitable<token_answer>()>;

    upstream_token_source(std::string upstream_id, fetcher fetch,
                          std::function<clock::time_point()> now = &clock::now);

    // The token for the next upstream request (see token_cache::look_up). The fetch runs once
    // however many requests wait for it; it is counted in `stats`
    // (exportwall_upstream_token_requests_total) and a failure is logged without any value.
    // Completes on the caller's executor, never inline.
    [[nodiscard]] boost::asio::awaitable<token_result> token(metrics& stats);
    // The CRM answered 401 to `used` (see token_cache::invalidate).
    void invalidate(const std::shared_ptr<const std::string>& used);

    [[nodiscard]] const std::string& upstream_id() const noexcept { return upstream_id_; }

  private:
    using waiter = std::function<void(token_result)>;
    void request(waiter w, boost::asio::any_io_executor ex, metrics& stats);
    // The fetch requested at `requested_at` ended: the cache learns its outcome and every waiter
    // hears it.
    void complete(token_answer answer, clock::time_point requested_at, metrics& stats);
    // The fetch in flight will never end (its io_context stopped): its waiters are dropped.
    void abandon();

    const std::string upstream_id_;
    const fetcher fetch_;
    const std::function<clock::time_point()> now_;
    std::mutex mutex_;
    token_cache cache_;            // guarded by mutex_
    std::vector<waiter> waiters_;  // guarded by mutex_: requests waiting for the fetch in flight
};

// One token request for `o` on its own connection (Connection: close): resolve and connect within
// `connect_limit` (and the TLS handshake for https, verified against `tls`), the answer within
// `answer_limit`. A certificate's assertion is signed for this request alone.
[[nodiscard]] boost::asio::awaitable<token_answer> request_token(
    const config::oauth2_settings& o, boost::asio::ssl::context* tls, const assertion_key* key,
    std::chrono::milliseconds connect_limit, std::chrono::milliseconds answer_limit);

// The token source of `u` (which has <oauth2>): the TLS context of an https token endpoint and
// the assertion key of a certificate, built at load. Null with `error` set (no secret in it).
[[nodiscard]] std::shared_ptr<upstream_token_source> make_token_source(const config::upstream& u,
                                                                       const config::limits& lim,
                                                                       std::string& error);

// Whether `now` obtains its tokens exactly as `before` did — the same <oauth2> attributes, the
// same secret, certificate and key bytes, the same connect and answer limits — so a reload keeps
// the cached token. Any change (a rotated secret) starts a fresh cache.
[[nodiscard]] bool same_token_settings(const config::upstream& before,
                                       const config::limits& before_limits,
                                       const config::upstream& now,
                                       const config::limits& now_limits);

}  // namespace exportwall::proxy
