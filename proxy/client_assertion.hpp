#pragma once
// The signed JWT exportwall presents to an OAuth2 token endpoint instead of a client secret
// (RFC 7523 §2.2, "private_key_jwt"; Microsoft identity platform certificate credentials). Pure:
// a key, claims and a clock value in, a compact JWS out. OpenSSL only, no sockets. The assertion
// is a credential: it is never logged.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/settings.hpp"

using EVP_PKEY = struct evp_pkey_st;

namespace exportwall::proxy {

// An RSA private key and the thumbprints of the certificate it belongs to, parsed once from PEM.
// Immutable; shared by every token request of an upstream.
class assertion_key {
  public:
    // Null with `error` set (no secret in it) unless `cert_pem` holds a certificate and `key_pem`
    // its unencrypted RSA key.
    [[nodiscard]] static std::shared_ptr<const assertion_key> from_pem(std::string_view cert_pem,
                                                                       std::string_view key_pem,
                                                                       std::string& error);
    ~assertion_key();
    assertion_key(const assertion_key&) = delete;
    assertion_key& operator=(const assertion_key&) = delete;

    // base64url (no padding) of the SHA-1 / SHA-256 of the certificate's DER encoding: the JWS
    // header's `x5t` and `x5t#S256`, by which the token endpoint finds the registered certificate.
    [[nodiscard]] const std::string& x5t() const noexcept { return x5t_; }
    [[nodiscard]] const std::string& x5t_s256() const noexcept { return x5t_s256_; }
    [[nodiscard]] EVP_PKEY* key() const noexcept { return key_; }

  private:
    assertion_key() = default;
    EVP_PKEY* key_ = nullptr;
    std::string x5t_;
    std::string x5t_s256_;
};

// The claims of one assertion.
struct assertion_claims {
    std::string_view client_id;   // `iss` and `sub`
    std::string_view audience;    // `aud`: the token endpoint's URL
    std::string_view jti;         // unique per assertion (random_jti)
    std::int64_t now = 0;         // seconds since the epoch: `iat` and `nbf`
    std::int64_t lifetime = 300;  // `exp` = now + lifetime (Microsoft accepts up to 10 minutes)
};

// The compact JWS `header.payload.signature` (base64url without padding), header
// {"alg","typ":"JWT","x5t","x5t#S256"}, signed PS256 (RSASSA-PSS, SHA-256, MGF1-SHA-256, salt of
// 32 bytes) or RS256 (PKCS#1 v1.5, SHA-256). Empty when OpenSSL refuses to sign.
[[nodiscard]] std::string sign_client_assertion(const assertion_key& key, config::jwt_algorithm alg,
                                                const assertion_claims& claims);

// A fresh `jti`: 16 random bytes as a version-4 UUID ("2f1c…-…").
[[nodiscard]] std::string random_jti();

// base64url without padding (RFC 7515 §2).
[[nodiscard]] std::string base64url(std::string_view bytes);

}  // namespace exportwall::proxy
