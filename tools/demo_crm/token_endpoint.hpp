#pragma once
// The demo CRM's OAuth2 token endpoint (`POST /oauth2/token`), without the sockets: the
// client-credentials grant (RFC 6749 §4.4) as the Microsoft identity platform and Salesforce answer
// it, for exportwall's <oauth2> tests and demo.
//
// - A client authenticates with its secret, in the form body (client_secret_post) or as HTTP
//   Basic (client_secret_basic; the id and secret form-encoded first, RFC 6749 §2.3.1), or with a
//   signed JWT client assertion (RFC 7523 §2.2) verified against a configured certificate: PS256
//   or RS256, the certificate found by `x5t#S256` or `x5t`, `aud` the token endpoint's URL,
//   `iss` = `sub` = the client id, not expired, not used before (`jti`).
// - It issues opaque random bearer tokens ("demo-at-" and 32 hex digits) with `expires_in` the
//   configured lifetime. A token stops being accepted when it expires, after a configured number
//   of requests (`uses`: a deterministic expiry for tests, no clock needed), or when every token
//   is revoked (`POST /oauth2/_revoke`).
//
// The secret file is read again at every token request, so a test (or an operator trying a
// rotation) changes it under a running demo CRM. Nothing here logs a secret, an assertion or a
// token.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace exportwall::demo_crm {

struct oauth2_options {
    std::string client_id;          // empty: no token endpoint, records need no issued token
    std::string secret_file;        // the client secret (a trailing newline is not part of it)
    std::string certificate_file;   // PEM: client assertions are verified against it
    std::uint64_t lifetime = 3600;  // seconds: expires_in, and when a token stops being accepted
    std::uint64_t uses = 0;         // requests a token serves; 0 = until it expires
};

class token_issuer {
  public:
    // `token_url`: this endpoint's URL as clients reach it (an assertion's `aud`).
    token_issuer(oauth2_options options, std::string token_url);

    [[nodiscard]] bool enabled() const { return !options_.client_id.empty(); }

    struct reply {
        unsigned status = 200;
        std::string body;  // application/json
        // For the request log: how the client authenticated (client_secret_post,
        // client_secret_basic, private_key_jwt) or why it was refused — never a value.
        std::string note;
    };
    // A token request: `authorization` is the request's Authorization field ("" when none),
    // `body` its application/x-www-form-urlencoded body.
    [[nodiscard]] reply issue(std::string_view authorization, std::string_view body);

    // Whether `authorization` is "Bearer T" for a token this issuer gave that is still valid; a
    // valid one is counted as used once.
    [[nodiscard]] bool admit(std::string_view authorization);

    // Every token issued so far stops being accepted.
    void revoke_all();

  private:
    struct token_state {
        std::chrono::steady_clock::time_point expires;
        std::uint64_t uses_left = 0;  // 0 with options_.uses == 0: unlimited
    };
    [[nodiscard]] std::string verify_assertion(std::string_view assertion);

    const oauth2_options options_;
    const std::string token_url_;
    std::mutex mutex_;
    std::map<std::string, token_state> tokens_;  // guarded by mutex_
    std::set<std::string> seen_jti_;             // guarded by mutex_
};

}  // namespace exportwall::demo_crm
