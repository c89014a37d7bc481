// <oauth2> in an <upstream> (issue 19, item 6): what the loader accepts, the secrets it reads
// from files (never from the text, never when loading offline), and the file:line:col of what it
// refuses.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/loader.hpp"
#include "tests/unit/proxy/rsa_test_key.hpp"

namespace exportwall::config {
namespace {

std::string errors_of(const load_result& r) {
    std::string out;
    for (const auto& e : r.errors) out += e.str() + "\n";
    return out;
}

// A document whose upstream holds `oauth2` (line 4 starts with it).
std::string document(const std::string& oauth2, const std::string& headers = {}) {
    return "<exportwall version=\"1\">\n"
           "  <listen address=\"127.0.0.1\" port=\"0\"/>\n"
           "  <audit path=\"audit.jsonl\"/>\n"
           "  <upstream id=\"crm\" url=\"https://org.crm.dynamics.com\">" +
           oauth2 + headers +
           "</upstream>\n"
           "  <route id=\"meta\" path=\"/api/meta\" upstream=\"crm\" format=\"passthrough\"/>\n"
           "</exportwall>\n";
}

class LoaderOAuth2 : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("oauth2_loader_test." + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        write("crm-secret", "Xy7~Q.s3cr3t-value\n");
        // Made once: an RSA key takes a while.
        static const auto key = testing::make_rsa_test_key();
        static const auto other = testing::make_rsa_test_key("other");
        write("client.crt", key.certificate_pem);
        write("client.key", key.private_key_pem);
        write("other.key", other.private_key_pem);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    void write(const std::string& name, const std::string& text) {
        std::ofstream(dir_ / name, std::ios::binary) << text;
    }
    [[nodiscard]] load_result load(const std::string& text) const {
        return load_configuration_text(text, "crm.xml", dir_.string());
    }

    std::filesystem::path dir_;
};

constexpr const char* token_url =
    "token-url=\"https://login.microsoftonline.com/contoso/oauth2/v2.0/token\" ";

TEST_F(LoaderOAuth2, ReadsTheClientSecretFromItsFile) {
    auto r = load(document(std::string("<oauth2 ") + token_url +
                           "client-id=\"6731de76\" client-secret-file=\"crm-secret\" "
                           "scope=\"https://org.crm.dynamics.com/.default\"/>"));
    ASSERT_TRUE(r) << errors_of(r);
    const auto& o = r.config->net.upstreams.at(0).oauth2;
    ASSERT_TRUE(o);
    EXPECT_EQ(o->scheme, "https");
    EXPECT_EQ(o->host, "login.microsoftonline.com");
    EXPECT_EQ(o->port, 443);
    EXPECT_EQ(o->target, "/contoso/oauth2/v2.0/token");
    EXPECT_EQ(o->client_id, "6731de76");
    EXPECT_EQ(o->scope, "https://org.crm.dynamics.com/.default");
    EXPECT_EQ(o->auth, oauth2_client_auth::secret_post);
    EXPECT_EQ(o->client_secret_file, (dir_ / "crm-secret").string());
    ASSERT_TRUE(o->client_secret);
    EXPECT_EQ(*o->client_secret, "Xy7~Q.s3cr3t-value");  // the file's trailing newline is not
    EXPECT_FALSE(o->certificate_pem);
}

TEST_F(LoaderOAuth2, TakesHttpBasicAndASecretPathFromTheEnvironment) {
    ::setenv("EXPORTWALL_TEST_SECRET_PATH", (dir_ / "crm-secret").c_str(), 1);
    auto r = load(
        document("<oauth2 token-url=\"https://example.my.salesforce.com/services/oauth2/token\" "
                 "client-id=\"3MVG9\" client-secret-file=\"${EXPORTWALL_TEST_SECRET_PATH}\" "
                 "client-auth=\"basic\"/>"));
    ::unsetenv("EXPORTWALL_TEST_SECRET_PATH");
    ASSERT_TRUE(r) << errors_of(r);
    const auto& o = *r.config->net.upstreams.at(0).oauth2;
    EXPECT_EQ(o.auth, oauth2_client_auth::secret_basic);
    EXPECT_TRUE(o.scope.empty());
    EXPECT_EQ(*o.client_secret, "Xy7~Q.s3cr3t-value");
}

TEST_F(LoaderOAuth2, ReadsACertificateAndTheKeyThatBelongsToIt) {
    auto r = load(document(std::string("<oauth2 ") + token_url +
                           "client-id=\"6731de76\" certificate-file=\"client.crt\" "
                           "private-key-file=\"client.key\" assertion-algorithm=\"RS256\"/>"));
    ASSERT_TRUE(r) << errors_of(r);
    const auto& o = *r.config->net.upstreams.at(0).oauth2;
    EXPECT_EQ(o.auth, oauth2_client_auth::certificate);
    EXPECT_EQ(o.algorithm, jwt_algorithm::rs256);
    ASSERT_TRUE(o.certificate_pem && o.private_key_pem);
    EXPECT_NE(o.private_key_pem->find("PRIVATE KEY"), std::string::npos);
    EXPECT_FALSE(o.client_secret);
}

TEST_F(LoaderOAuth2, RefusesALiteralSecretAtItsAttributeWithoutRepeatingIt) {
    auto r = load(document(std::string("<oauth2 ") + token_url +
                           "client-id=\"6731de76\" client-secret=\"hunter2-literal\"/>"));
    ASSERT_FALSE(r);
    const auto all = errors_of(r);
    // Line 4, the attribute's column.
    const auto column = document(std::string("<oauth2 ") + token_url +
                                 "client-id=\"6731de76\" client-secret=\"x\"/>")
                            .find("client-secret=");
    const auto line_start = document("").find("  <upstream");
    EXPECT_NE(all.find("crm.xml:4:" + std::to_string(column - line_start + 1) +
                       ": 'client-secret' would put a secret in the configuration text"),
              std::string::npos)
        << all;
    EXPECT_EQ(all.find("hunter2-literal"), std::string::npos) << all;
    EXPECT_EQ(all.find("unknown attribute 'client-secret'"), std::string::npos) << all;
}

TEST_F(LoaderOAuth2, RefusesAnHttpTokenEndpointUnlessOnLoopback) {
    for (const char* url : {"http://127.0.0.1:8081/oauth2/token", "http://localhost/oauth2/token",
                            "http://[::1]:9000/oauth2/token"}) {
        auto r = load(document(std::string("<oauth2 token-url=\"") + url +
                               "\" client-id=\"demo\" client-secret-file=\"crm-secret\"/>"));
        EXPECT_TRUE(r) << url << "\n" << errors_of(r);
    }
    auto r = load(
        document("<oauth2 token-url=\"http://login.example.com/oauth2/token\" client-id=\"demo\" "
                 "client-secret-file=\"crm-secret\"/>"));
    ASSERT_FALSE(r);
    EXPECT_NE(errors_of(r).find("crm.xml:4:"), std::string::npos);
    EXPECT_NE(errors_of(r).find("'token-url' must be https"), std::string::npos) << errors_of(r);
    auto ca = load(
        document("<oauth2 token-url=\"http://127.0.0.1:1/t\" ca-file=\"x.pem\" client-id=\"demo\" "
                 "client-secret-file=\"crm-secret\"/>"));
    EXPECT_NE(errors_of(ca).find("'ca-file' only applies to an https token-url"), std::string::npos)
        << errors_of(ca);
}

TEST_F(LoaderOAuth2, NamesEveryMisuseWhereItIsWritten) {
    struct refusal {
        std::string oauth2;
        std::string headers;
        std::string message;
    };
    const std::string t = token_url;
    const std::vector<refusal> refusals{
        {"<oauth2 " + t + "client-id=\"a\"/>", "", "needs either client-secret-file or"},
        {"<oauth2 " + t +
             "client-id=\"a\" client-secret-file=\"crm-secret\" "
             "certificate-file=\"client.crt\" private-key-file=\"client.key\"/>",
         "", "needs either client-secret-file or"},
        {"<oauth2 " + t + "client-id=\"a\" certificate-file=\"client.crt\"/>", "",
         "needs both certificate-file and private-key-file"},
        {"<oauth2 " + t + "client-id=\"a\" client-secret-file=\"missing\"/>", "",
         "cannot read the client secret file"},
        {"<oauth2 " + t +
             "client-id=\"a\" certificate-file=\"client.crt\" "
             "private-key-file=\"other.key\"/>",
         "", "does not belong to the certificate"},
        {"<oauth2 " + t +
             "client-id=\"a\" certificate-file=\"crm-secret\" "
             "private-key-file=\"client.key\"/>",
         "", "'certificate-file' holds no PEM certificate"},
        {"<oauth2 " + t + "client-id=\"a\" client-secret-file=\"crm-secret\" client-auth=\"jwt\"/>",
         "", "'client-auth' must be post or basic"},
        {"<oauth2 " + t +
             "client-id=\"a\" client-secret-file=\"crm-secret\" "
             "assertion-algorithm=\"PS256\"/>",
         "", "'assertion-algorithm' applies to certificate-file only"},
        {"<oauth2 " + t + "client-id=\"a\" client-secret-file=\"crm-secret\"/>",
         "<header name=\"authorization\" value=\"Bearer x\"/>",
         "sends the access token as its Authorization header"},
        {"<oauth2 " + t + "client-id=\"a\" client-secret-file=\"crm-secret\"/><oauth2 " + t +
             "client-id=\"b\" client-secret-file=\"crm-secret\"/>",
         "", "at most one <oauth2>"},
        {"<oauth2 client-id=\"a\" client-secret-file=\"crm-secret\"/>", "",
         "needs the attribute 'token-url'"},
        {"<oauth2 token-url=\"ftp://x/t\" client-id=\"a\" client-secret-file=\"crm-secret\"/>", "",
         "'token-url' must be an absolute https URL"},
    };
    for (const auto& x : refusals) {
        auto r = load(document(x.oauth2, x.headers));
        const auto all = errors_of(r);
        EXPECT_FALSE(r) << x.oauth2;
        EXPECT_NE(all.find(x.message), std::string::npos) << x.oauth2 << "\n" << all;
        EXPECT_NE(all.find("crm.xml:4:"), std::string::npos) << all;
    }
}

TEST_F(LoaderOAuth2, OfflineLoadingReadsNoSecretFile) {
    const auto text = document(std::string("<oauth2 ") + token_url +
                               "client-id=\"a\" client-secret-file=\"/run/secrets/not-here\"/>");
    EXPECT_FALSE(load(text)) << "online, the secret must be readable";
    offline_loading offline;
    auto r = load(text);
    ASSERT_TRUE(r) << errors_of(r);
    const auto& o = *r.config->net.upstreams.at(0).oauth2;
    EXPECT_FALSE(o.client_secret);
    auto cert = load(document(std::string("<oauth2 ") + token_url +
                              "client-id=\"a\" certificate-file=\"/run/secrets/none.crt\" "
                              "private-key-file=\"/run/secrets/none.key\"/>"));
    ASSERT_TRUE(cert) << errors_of(cert);
    EXPECT_FALSE(cert.config->net.upstreams.at(0).oauth2->private_key_pem);
}

}  // namespace
}  // namespace exportwall::config
