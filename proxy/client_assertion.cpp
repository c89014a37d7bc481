#include "proxy/client_assertion.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>
#include <cstdio>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "common/base64.hpp"

namespace exportwall::proxy {

namespace {

std::string digest_of(const std::vector<unsigned char>& der, const EVP_MD* md) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int len = 0;
    if (EVP_Digest(der.data(), der.size(), out.data(), &len, md, nullptr) != 1) return {};
    return base64url(std::string_view(reinterpret_cast<const char*>(out.data()), len));
}

}  // namespace

std::string base64url(std::string_view bytes) {
    return common::base64(bytes, common::base64_form::url_unpadded);
}

std::shared_ptr<const assertion_key> assertion_key::from_pem(std::string_view cert_pem,
                                                             std::string_view key_pem,
                                                             std::string& error) {
    BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
    X509* cert =
        cert_bio != nullptr ? PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(cert_bio);
    if (cert == nullptr) {
        error = "the certificate file holds no PEM certificate";
        return nullptr;
    }
    std::shared_ptr<assertion_key> out(new assertion_key());
    BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
    auto no_passphrase = [](char*, int, int, void*) { return 0; };
    out->key_ = key_bio != nullptr
                    ? PEM_read_bio_PrivateKey(key_bio, nullptr, no_passphrase, nullptr)
                    : nullptr;
    BIO_free(key_bio);
    std::vector<unsigned char> der;
    const int der_len = i2d_X509(cert, nullptr);
    if (der_len > 0) {
        der.resize(static_cast<std::size_t>(der_len));
        unsigned char* p = der.data();
        i2d_X509(cert, &p);
    }
    const bool matches = out->key_ != nullptr && X509_check_private_key(cert, out->key_) == 1;
    X509_free(cert);
    if (out->key_ == nullptr) {
        error = "the private key file holds no unencrypted PEM private key";
        return nullptr;
    }
    if (EVP_PKEY_get_base_id(out->key_) != EVP_PKEY_RSA) {
        error = "the private key is not an RSA key (PS256 and RS256 need one)";
        return nullptr;
    }
    if (!matches || der.empty()) {
        error = "the private key does not belong to the certificate";
        return nullptr;
    }
    out->x5t_ = digest_of(der, EVP_sha1());
    out->x5t_s256_ = digest_of(der, EVP_sha256());
    return out;
}

assertion_key::~assertion_key() { EVP_PKEY_free(key_); }

std::string sign_client_assertion(const assertion_key& key, config::jwt_algorithm alg,
                                  const assertion_claims& claims) {
    boost::json::object header;
    header["alg"] = alg == config::jwt_algorithm::ps256 ? "PS256" : "RS256";
    header["typ"] = "JWT";
    header["x5t"] = key.x5t();
    header["x5t#S256"] = key.x5t_s256();
    boost::json::object payload;
    payload["aud"] = claims.audience;
    payload["iss"] = claims.client_id;
    payload["sub"] = claims.client_id;
    payload["jti"] = claims.jti;
    payload["nbf"] = claims.now;
    payload["iat"] = claims.now;
    payload["exp"] = claims.now + claims.lifetime;
    std::string input = base64url(boost::json::serialize(header));
    input += '.';
    input += base64url(boost::json::serialize(payload));

    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) return {};
    EVP_PKEY_CTX* pctx = nullptr;
    std::vector<unsigned char> signature;
    bool ok = EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), nullptr, key.key()) == 1;
    if (ok && alg == config::jwt_algorithm::ps256) {
        // RFC 7518 §3.5: MGF1 with SHA-256 and a salt as long as the hash.
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
    } else if (ok) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    }
    std::size_t len = 0;
    ok = ok &&
         EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                        input.size()) == 1;
    if (ok) {
        signature.resize(len);
        ok =
            EVP_DigestSign(ctx, signature.data(), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
        signature.resize(len);
    }
    EVP_MD_CTX_free(ctx);
    if (!ok) return {};
    input += '.';
    input += base64url(
        std::string_view(reinterpret_cast<const char*>(signature.data()), signature.size()));
    return input;
}

std::string random_jti() {
    std::array<unsigned char, 16> b{};
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) return {};
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
    std::array<char, 37> out{};
    std::snprintf(out.data(), out.size(),
                  "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                  b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                  b[14], b[15]);
    return {out.data(), 36};
}

}  // namespace exportwall::proxy
