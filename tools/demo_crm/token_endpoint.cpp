#include "tools/demo_crm/token_endpoint.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>
#include <fstream>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "common/base64.hpp"
#include "common/hex.hpp"
#include "common/percent.hpp"

namespace exportwall::demo_crm {

namespace {

// application/x-www-form-urlencoded: '+' is a space, %XX a byte. nullopt when malformed.
std::optional<std::string> form_decode(std::string_view s) {
    std::string out;
    if (!common::append_percent_decoded(out, s, common::plus_sign::space)) return std::nullopt;
    return out;
}

// The form's parameters; nullopt when one is malformed or repeated (RFC 6749 §3.2).
std::optional<std::map<std::string, std::string>> parse_form(std::string_view body) {
    std::map<std::string, std::string> out;
    while (!body.empty()) {
        const auto amp = body.find('&');
        const std::string_view pair = body.substr(0, amp);
        body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        auto name = form_decode(pair.substr(0, eq));
        auto value =
            form_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        if (!name || !value || !out.emplace(std::move(*name), std::move(*value)).second)
            return std::nullopt;
    }
    return out;
}

// Standard (Basic) or URL-safe (JWT) base64, in the form exportwall writes (common/base64.hpp).
std::optional<std::string> base64_decode(std::string_view s, bool url) {
    return common::base64_decode(
        s, url ? common::base64_form::url_unpadded : common::base64_form::standard_padded);
}

std::string base64url(const unsigned char* data, std::size_t size) {
    std::string out;
    common::append_base64(out, data, size, common::base64_form::url_unpadded);
    return out;
}

std::optional<std::string> read_secret(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r')) bytes.pop_back();
    return bytes;
}

bool same_secret(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string error_body(std::string_view code) {
    boost::json::object o;
    o["error"] = code;
    return boost::json::serialize(o);
}

std::string new_token() {
    std::array<unsigned char, 16> b{};
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) return {};
    std::string out = "demo-at-";
    common::append_hex(out, b.data(), b.size());
    return out;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

const boost::json::value* member(const boost::json::object& o, std::string_view name) {
    return o.if_contains(name);
}

bool string_is(const boost::json::object& o, std::string_view name, std::string_view expected) {
    const auto* v = member(o, name);
    return v != nullptr && v->is_string() && v->get_string() == expected;
}

std::optional<std::int64_t> number_of(const boost::json::object& o, std::string_view name) {
    const auto* v = member(o, name);
    if (v == nullptr) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
    return std::nullopt;
}

// The certificate's x5t (SHA-1) and x5t#S256 thumbprints and public key; false when unreadable.
struct client_certificate {
    std::string x5t;
    std::string x5t_s256;
    EVP_PKEY* key = nullptr;
    client_certificate() = default;
    client_certificate(const client_certificate&) = delete;
    client_certificate& operator=(const client_certificate&) = delete;
    ~client_certificate() { EVP_PKEY_free(key); }

    bool load(const std::string& path) {
        const auto pem = read_secret(path);
        if (!pem) return false;
        const std::string& text = *pem;
        BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
        X509* cert = bio != nullptr ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
        BIO_free(bio);
        if (cert == nullptr) return false;
        key = X509_get_pubkey(cert);
        unsigned char* der = nullptr;
        const int len = i2d_X509(cert, &der);
        if (len > 0) {
            std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
            unsigned int n = 0;
            EVP_Digest(der, static_cast<std::size_t>(len), md.data(), &n, EVP_sha1(), nullptr);
            x5t = base64url(md.data(), n);
            EVP_Digest(der, static_cast<std::size_t>(len), md.data(), &n, EVP_sha256(), nullptr);
            x5t_s256 = base64url(md.data(), n);
        }
        OPENSSL_free(der);
        X509_free(cert);
        return key != nullptr && len > 0;
    }
};

}  // namespace

token_issuer::token_issuer(oauth2_options options, std::string token_url)
    : options_(std::move(options)), token_url_(std::move(token_url)) {}

std::string token_issuer::verify_assertion(std::string_view assertion) {
    const auto dot1 = assertion.find('.');
    const auto dot2 = dot1 == std::string_view::npos ? dot1 : assertion.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos) return "assertion_malformed";
    const std::string_view signed_part = assertion.substr(0, dot2);
    auto header_json = base64_decode(assertion.substr(0, dot1), true);
    auto payload_json = base64_decode(assertion.substr(dot1 + 1, dot2 - dot1 - 1), true);
    auto signature = base64_decode(assertion.substr(dot2 + 1), true);
    if (!header_json || !payload_json || !signature) return "assertion_malformed";
    boost::system::error_code ec;
    auto header = boost::json::parse(*header_json, ec);
    if (ec || !header.is_object()) return "assertion_malformed";
    auto payload = boost::json::parse(*payload_json, ec);
    if (ec || !payload.is_object()) return "assertion_malformed";
    const auto& h = header.get_object();
    const auto& p = payload.get_object();
    const bool pss = string_is(h, "alg", "PS256");
    if (!pss && !string_is(h, "alg", "RS256")) return "assertion_algorithm";
    client_certificate cert;
    if (options_.certificate_file.empty() || !cert.load(options_.certificate_file))
        return "no_client_certificate";
    const auto* s256 = member(h, "x5t#S256");
    const auto* s1 = member(h, "x5t");
    if ((s256 == nullptr && s1 == nullptr) ||
        (s256 != nullptr && !string_is(h, "x5t#S256", cert.x5t_s256)) ||
        (s1 != nullptr && !string_is(h, "x5t", cert.x5t)))
        return "assertion_thumbprint";
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    bool valid =
        ctx != nullptr && EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, cert.key) == 1;
    if (valid && pss) {
        valid = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
                EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
    } else if (valid) {
        valid = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    }
    const std::string& sig = *signature;
    valid = valid &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(signed_part.data()),
                             signed_part.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!valid) return "assertion_signature";
    if (!string_is(p, "aud", token_url_)) return "assertion_audience";
    if (!string_is(p, "iss", options_.client_id) || !string_is(p, "sub", options_.client_id))
        return "assertion_issuer";
    const std::int64_t now = unix_now();
    const auto exp = number_of(p, "exp");
    const auto nbf = number_of(p, "nbf");
    if (!exp || *exp <= now || *exp > now + 3600) return "assertion_expired";
    if (nbf && *nbf > now + 60) return "assertion_not_yet_valid";
    const auto* jti = member(p, "jti");
    if (jti == nullptr || !jti->is_string() || jti->get_string().empty()) return "assertion_jti";
    std::lock_guard lock(mutex_);
    if (!seen_jti_.emplace(jti->get_string()).second) return "assertion_replayed";
    return {};
}

token_issuer::reply token_issuer::issue(std::string_view authorization, std::string_view body) {
    reply r;
    auto form = parse_form(body);
    if (!form) {
        r.status = 400;
        r.body = error_body("invalid_request");
        r.note = "malformed_form";
        return r;
    }
    auto param = [&form](const char* name) -> const std::string* {
        auto it = form->find(name);
        return it == form->end() ? nullptr : &it->second;
    };
    const std::string* grant = param("grant_type");
    if (grant == nullptr || *grant != "client_credentials") {
        r.status = 400;
        r.body = error_body("unsupported_grant_type");
        r.note = "grant_type";
        return r;
    }
    // Exactly one way of authenticating the client (RFC 6749 §2.3).
    std::string client_id;
    std::string secret;
    std::string method;
    const bool basic = authorization.size() > 6 && (authorization.substr(0, 6) == "Basic " ||
                                                    authorization.substr(0, 6) == "basic ");
    const std::string* body_secret = param("client_secret");
    const std::string* assertion = param("client_assertion");
    int methods =
        (basic ? 1 : 0) + (body_secret != nullptr ? 1 : 0) + (assertion != nullptr ? 1 : 0);
    if (methods != 1) {
        r.status = 400;
        r.body = error_body("invalid_request");
        r.note = methods == 0 ? "no_client_authentication" : "several_client_authentications";
        return r;
    }
    if (basic) {
        method = "client_secret_basic";
        auto decoded = base64_decode(authorization.substr(6), false);
        const auto colon = decoded ? decoded->find(':') : std::string::npos;
        auto id = colon == std::string::npos
                      ? std::nullopt
                      : form_decode(std::string_view(*decoded).substr(0, colon));
        auto pw = colon == std::string::npos
                      ? std::nullopt
                      : form_decode(std::string_view(*decoded).substr(colon + 1));
        if (!id || !pw) {
            r.status = 401;
            r.body = error_body("invalid_client");
            r.note = method + " malformed";
            return r;
        }
        client_id = *id;
        secret = *pw;
    } else if (body_secret != nullptr) {
        method = "client_secret_post";
        const std::string* id = param("client_id");
        client_id = id != nullptr ? *id : std::string();
        secret = *body_secret;
    } else {
        method = "private_key_jwt";
        const std::string* id = param("client_id");
        client_id = id != nullptr ? *id : std::string();
        const std::string* type = param("client_assertion_type");
        if (type == nullptr || *type != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
            r.status = 400;
            r.body = error_body("invalid_request");
            r.note = method + " assertion_type";
            return r;
        }
    }
    r.note = method;
    if (client_id != options_.client_id) {
        r.status = 401;
        r.body = error_body("invalid_client");
        r.note += " unknown_client";
        return r;
    }
    if (method == "private_key_jwt") {
        std::string problem = verify_assertion(*assertion);
        if (!problem.empty()) {
            r.status = 401;
            r.body = error_body("invalid_client");
            r.note += " " + problem;
            return r;
        }
    } else {
        auto expected =
            options_.secret_file.empty() ? std::nullopt : read_secret(options_.secret_file);
        if (!expected || expected->empty() || !same_secret(*expected, secret)) {
            r.status = 401;
            r.body = error_body("invalid_client");
            r.note += " wrong_secret";
            return r;
        }
    }
    const std::string token = new_token();
    if (token.empty()) {
        r.status = 500;
        r.body = error_body("server_error");
        return r;
    }
    {
        std::lock_guard lock(mutex_);
        tokens_[token] =
            token_state{std::chrono::steady_clock::now() + std::chrono::seconds(options_.lifetime),
                        options_.uses};
    }
    boost::json::object o;
    o["access_token"] = token;
    o["token_type"] = "Bearer";
    o["expires_in"] = options_.lifetime;
    if (param("scope") != nullptr) r.note += " scope";
    r.body = boost::json::serialize(o);
    return r;
}

bool token_issuer::admit(std::string_view authorization) {
    if (authorization.size() <= 7 || authorization.substr(0, 7) != "Bearer ") return false;
    const std::string token(authorization.substr(7));
    std::lock_guard lock(mutex_);
    auto it = tokens_.find(token);
    if (it == tokens_.end()) return false;
    if (std::chrono::steady_clock::now() >= it->second.expires) {
        tokens_.erase(it);
        return false;
    }
    if (options_.uses != 0) {
        if (it->second.uses_left == 0) return false;
        --it->second.uses_left;
    }
    return true;
}

void token_issuer::revoke_all() {
    std::lock_guard lock(mutex_);
    tokens_.clear();
}

}  // namespace exportwall::demo_crm
