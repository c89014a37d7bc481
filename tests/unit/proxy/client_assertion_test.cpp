// The OAuth2 client assertion (proxy/client_assertion.hpp): its header and claims as the
// Microsoft identity platform reads them, and its signature verified here with OpenSSL against
// the certificate's public key (PS256 and RS256).

#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>
#include <optional>
#include <set>
#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "proxy/client_assertion.hpp"
#include "tests/unit/proxy/rsa_test_key.hpp"

namespace exportwall::proxy {
namespace {

const testing::rsa_test_key& test_key() {
    static const testing::rsa_test_key key = testing::make_rsa_test_key();
    return key;
}

std::optional<std::string> unbase64url(std::string_view s) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : s) {
        int v = -1;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        if (c >= '0' && c <= '9') v = c - '0' + 52;
        if (c == '-') v = 62;
        if (c == '_') v = 63;
        if (v < 0) return std::nullopt;  // '=', '+', '/': not base64url without padding
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xff);
        }
    }
    return out;
}

struct jws {
    boost::json::object header;
    boost::json::object payload;
    std::string signed_part;
    std::string signature;
};

std::optional<jws> split(const std::string& compact) {
    const auto d1 = compact.find('.');
    const auto d2 = compact.find('.', d1 + 1);
    if (d1 == std::string::npos || d2 == std::string::npos ||
        compact.find('.', d2 + 1) != std::string::npos)
        return std::nullopt;
    auto h = unbase64url(std::string_view(compact).substr(0, d1));
    auto p = unbase64url(std::string_view(compact).substr(d1 + 1, d2 - d1 - 1));
    auto s = unbase64url(std::string_view(compact).substr(d2 + 1));
    if (!h || !p || !s) return std::nullopt;
    jws out;
    out.header = boost::json::parse(*h).as_object();
    out.payload = boost::json::parse(*p).as_object();
    out.signed_part = compact.substr(0, d2);
    out.signature = *s;
    return out;
}

// The certificate's public key and DER thumbprint (base64url), read back from the PEM.
struct certificate_view {
    EVP_PKEY* key = nullptr;
    std::string sha1;
    std::string sha256;
    explicit certificate_view(const std::string& pem) {
        BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
        X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
        BIO_free(bio);
        if (cert == nullptr) return;
        key = X509_get_pubkey(cert);
        std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
        unsigned int n = 0;
        X509_digest(cert, EVP_sha1(), md.data(), &n);
        sha1 = base64url(std::string_view(reinterpret_cast<const char*>(md.data()), n));
        X509_digest(cert, EVP_sha256(), md.data(), &n);
        sha256 = base64url(std::string_view(reinterpret_cast<const char*>(md.data()), n));
        X509_free(cert);
    }
    ~certificate_view() { EVP_PKEY_free(key); }
    certificate_view(const certificate_view&) = delete;
    certificate_view& operator=(const certificate_view&) = delete;

    [[nodiscard]] bool verifies(const jws& t, bool pss) const {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX* pctx = nullptr;
        bool ok = EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, key) == 1;
        if (ok && pss)
            ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
                 EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
        else if (ok)
            ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
        ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(t.signature.data()),
                                    t.signature.size(),
                                    reinterpret_cast<const unsigned char*>(t.signed_part.data()),
                                    t.signed_part.size()) == 1;
        EVP_MD_CTX_free(ctx);
        return ok;
    }
};

assertion_claims claims() {
    assertion_claims c;
    c.client_id = "6731de76-14a6-49ae-97bc-6eba6914391e";
    c.audience = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token";
    c.jti = "0f9c4f57-a6a2-4f4e-9d2c-3f1b1f3f0a11";
    c.now = 1'767'225'600;
    return c;
}

TEST(ClientAssertion, IsAPs256JwtTheCertificatesPublicKeyVerifies) {
    std::string error;
    auto key =
        assertion_key::from_pem(test_key().certificate_pem, test_key().private_key_pem, error);
    ASSERT_TRUE(key) << error;
    const std::string compact = sign_client_assertion(*key, config::jwt_algorithm::ps256, claims());
    auto t = split(compact);
    ASSERT_TRUE(t) << compact;
    certificate_view cert(test_key().certificate_pem);
    ASSERT_NE(cert.key, nullptr);
    EXPECT_EQ(t->header.at("alg").as_string(), "PS256");
    EXPECT_EQ(t->header.at("typ").as_string(), "JWT");
    EXPECT_EQ(t->header.at("x5t").as_string(), cert.sha1);
    EXPECT_EQ(t->header.at("x5t#S256").as_string(), cert.sha256);
    EXPECT_EQ(t->payload.at("aud").as_string(), claims().audience);
    EXPECT_EQ(t->payload.at("iss").as_string(), claims().client_id);
    EXPECT_EQ(t->payload.at("sub").as_string(), claims().client_id);
    EXPECT_EQ(t->payload.at("jti").as_string(), claims().jti);
    EXPECT_EQ(t->payload.at("iat").as_int64(), claims().now);
    EXPECT_EQ(t->payload.at("nbf").as_int64(), claims().now);
    EXPECT_EQ(t->payload.at("exp").as_int64(), claims().now + 300);
    EXPECT_EQ(t->signature.size(), 256u);  // a 2048-bit RSA signature
    EXPECT_TRUE(cert.verifies(*t, true));
    EXPECT_FALSE(cert.verifies(*t, false)) << "a PSS signature must not pass as PKCS#1 v1.5";
}

TEST(ClientAssertion, Rs256IsPkcs1AndATamperedPayloadFailsVerification) {
    std::string error;
    auto key =
        assertion_key::from_pem(test_key().certificate_pem, test_key().private_key_pem, error);
    ASSERT_TRUE(key) << error;
    const std::string compact = sign_client_assertion(*key, config::jwt_algorithm::rs256, claims());
    auto t = split(compact);
    ASSERT_TRUE(t);
    certificate_view cert(test_key().certificate_pem);
    EXPECT_EQ(t->header.at("alg").as_string(), "RS256");
    EXPECT_TRUE(cert.verifies(*t, false));
    // RS256 is deterministic: the same claims sign to the same bytes.
    EXPECT_EQ(sign_client_assertion(*key, config::jwt_algorithm::rs256, claims()), compact);
    auto other = claims();
    other.client_id = "another-client";
    auto forged = split(sign_client_assertion(*key, config::jwt_algorithm::rs256, other));
    ASSERT_TRUE(forged);
    t->signed_part = t->signed_part.substr(0, t->signed_part.find('.') + 1) +
                     forged->signed_part.substr(forged->signed_part.find('.') + 1);
    EXPECT_FALSE(cert.verifies(*t, false));
}

TEST(ClientAssertion, ClaimValuesAreJsonEscaped) {
    std::string error;
    auto key =
        assertion_key::from_pem(test_key().certificate_pem, test_key().private_key_pem, error);
    ASSERT_TRUE(key);
    auto c = claims();
    c.client_id = "a\"b\\c";
    auto t = split(sign_client_assertion(*key, config::jwt_algorithm::ps256, c));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->payload.at("iss").as_string(), "a\"b\\c");
}

TEST(ClientAssertion, RefusesAKeyThatIsNotTheCertificatesOrNotRsa) {
    std::string error;
    const auto other = testing::make_rsa_test_key("another");
    EXPECT_FALSE(assertion_key::from_pem(test_key().certificate_pem, other.private_key_pem, error));
    EXPECT_NE(error.find("does not belong"), std::string::npos) << error;
    EVP_PKEY* ec = EVP_EC_gen("P-256");
    ASSERT_NE(ec, nullptr);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, ec, nullptr, nullptr, 0, nullptr, nullptr);
    const std::string ec_pem = testing::bio_text(bio);
    BIO_free(bio);
    EVP_PKEY_free(ec);
    error.clear();
    EXPECT_FALSE(assertion_key::from_pem(test_key().certificate_pem, ec_pem, error));
    EXPECT_NE(error.find("RSA"), std::string::npos) << error;
    error.clear();
    EXPECT_FALSE(assertion_key::from_pem("no pem", test_key().private_key_pem, error));
    EXPECT_FALSE(error.empty());
}

TEST(ClientAssertion, JtiIsAFreshVersionFourUuid) {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        const auto jti = random_jti();
        ASSERT_EQ(jti.size(), 36u);
        EXPECT_EQ(jti[14], '4');
        EXPECT_NE(std::string("89ab").find(jti[19]), std::string::npos);
        EXPECT_TRUE(seen.insert(jti).second);
    }
}

TEST(Base64url, HasNoPaddingAndTheUrlAlphabet) {
    EXPECT_EQ(base64url(""), "");
    EXPECT_EQ(base64url("f"), "Zg");
    EXPECT_EQ(base64url("fo"), "Zm8");
    EXPECT_EQ(base64url("foo"), "Zm9v");
    EXPECT_EQ(base64url("\xfb\xff\xbf"), "-_-_");
}

}  // namespace
}  // namespace exportwall::proxy
