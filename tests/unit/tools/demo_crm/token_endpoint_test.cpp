// The demo CRM's token endpoint (tools/demo_crm/token_endpoint.hpp) as the OAuth2 tests rely on
// it: it grants only what a real identity provider would — the right secret by one method, an
// assertion signed by the registered certificate for this endpoint, once — and its tokens stop
// after their uses or a revocation. Assertions are made by exportwall's own signer.

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "proxy/client_assertion.hpp"
#include "tests/unit/proxy/rsa_test_key.hpp"
#include "tools/demo_crm/token_endpoint.hpp"

namespace exportwall::demo_crm {
namespace {

constexpr const char* token_url = "http://127.0.0.1:8081/oauth2/token";

const testing::rsa_test_key& client_key() {
    static const testing::rsa_test_key key = testing::make_rsa_test_key();
    return key;
}

class DemoTokenEndpoint : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("demo_token_endpoint_test." + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        std::ofstream(dir_ / "secret") << "s3cret\n";
        std::ofstream(dir_ / "client.crt") << client_key().certificate_pem;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    [[nodiscard]] oauth2_options options(std::uint64_t uses = 0) const {
        oauth2_options o;
        o.client_id = "app";
        o.secret_file = (dir_ / "secret").string();
        o.certificate_file = (dir_ / "client.crt").string();
        o.uses = uses;
        return o;
    }

    [[nodiscard]] static std::string assertion(std::string_view audience, std::int64_t skew = 0,
                                               const std::string& jti = proxy::random_jti()) {
        std::string error;
        auto key = proxy::assertion_key::from_pem(client_key().certificate_pem,
                                                  client_key().private_key_pem, error);
        EXPECT_TRUE(key) << error;
        proxy::assertion_claims c;
        c.client_id = "app";
        c.audience = audience;
        c.jti = jti;
        c.now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count() +
                skew;
        return proxy::sign_client_assertion(*key, config::jwt_algorithm::ps256, c);
    }

    static std::string assertion_form(const std::string& jwt) {
        return "grant_type=client_credentials&client_id=app&client_assertion_type=urn%3Aietf%"
               "3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" +
               jwt;
    }

    static std::string token_of(const token_issuer::reply& r) {
        auto v = boost::json::parse(r.body);
        return std::string(v.at("access_token").as_string());
    }

    std::filesystem::path dir_;
};

TEST_F(DemoTokenEndpoint, GrantsTheSecretByOneMethodOnly) {
    token_issuer issuer(options(), token_url);
    auto post =
        issuer.issue("", "grant_type=client_credentials&client_id=app&client_secret=s3cret");
    EXPECT_EQ(post.status, 200u) << post.note;
    EXPECT_EQ(post.note, "client_secret_post");
    auto basic = issuer.issue("Basic YXBwOnMzY3JldA==", "grant_type=client_credentials");
    EXPECT_EQ(basic.status, 200u) << basic.note;
    auto both = issuer.issue("Basic YXBwOnMzY3JldA==",
                             "grant_type=client_credentials&client_id=app&client_secret=s3cret");
    EXPECT_EQ(both.status, 400u);
    auto wrong = issuer.issue("", "grant_type=client_credentials&client_id=app&client_secret=x");
    EXPECT_EQ(wrong.status, 401u);
    EXPECT_EQ(wrong.body, R"({"error":"invalid_client"})");
    auto other = issuer.issue("", "grant_type=client_credentials&client_id=b&client_secret=s3cret");
    EXPECT_EQ(other.status, 401u);
    auto grant = issuer.issue("", "grant_type=password&client_id=app&client_secret=s3cret");
    EXPECT_EQ(grant.status, 400u);
}

TEST_F(DemoTokenEndpoint, GrantsAnAssertionOnceForThisEndpointWhileValid) {
    token_issuer issuer(options(), token_url);
    const std::string jwt = assertion(token_url);
    auto ok = issuer.issue("", assertion_form(jwt));
    EXPECT_EQ(ok.status, 200u) << ok.note;
    EXPECT_EQ(ok.note, "private_key_jwt");
    auto replayed = issuer.issue("", assertion_form(jwt));
    EXPECT_EQ(replayed.status, 401u);
    EXPECT_EQ(replayed.note, "private_key_jwt assertion_replayed");
    auto elsewhere = issuer.issue("", assertion_form(assertion("https://idp.example/token")));
    EXPECT_EQ(elsewhere.note, "private_key_jwt assertion_audience");
    auto expired = issuer.issue("", assertion_form(assertion(token_url, -3600)));
    EXPECT_EQ(expired.note, "private_key_jwt assertion_expired");
    std::string forged = assertion(token_url);
    forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
    EXPECT_EQ(issuer.issue("", assertion_form(forged)).note, "private_key_jwt assertion_signature");
    std::ofstream(dir_ / "client.crt")
        << testing::make_rsa_test_key("another").certificate_pem;  // re-registered
    EXPECT_EQ(issuer.issue("", assertion_form(assertion(token_url))).note,
              "private_key_jwt assertion_thumbprint");
}

TEST_F(DemoTokenEndpoint, TokensServeTheirUsesUntilRevoked) {
    token_issuer issuer(options(2), token_url);
    const auto form = "grant_type=client_credentials&client_id=app&client_secret=s3cret";
    const std::string a = token_of(issuer.issue("", form));
    EXPECT_EQ(a.rfind("demo-at-", 0), 0u);
    EXPECT_TRUE(issuer.admit("Bearer " + a));
    EXPECT_TRUE(issuer.admit("Bearer " + a));
    EXPECT_FALSE(issuer.admit("Bearer " + a));  // used up
    const std::string b = token_of(issuer.issue("", form));
    EXPECT_NE(a, b);
    EXPECT_FALSE(issuer.admit("Bearer other"));
    EXPECT_FALSE(issuer.admit(b));
    issuer.revoke_all();
    EXPECT_FALSE(issuer.admit("Bearer " + b));
}

}  // namespace
}  // namespace exportwall::demo_crm
