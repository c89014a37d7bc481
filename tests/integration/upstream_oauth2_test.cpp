// OAuth2 to the CRM end to end (issue 19, item 6): the real exportwall binary in front of the real
// demo_crm binary (tools/demo_crm) with its token endpoint turned on, both on port 0, serving
// config/examples/vendor-shapes.xml whose `crm` upstream gets an <oauth2> element. The demo CRM's
// record endpoints then answer 401 without a token it issued.
//
// Expiry without a clock: `--token-uses N` makes every token serve N requests, and
// `POST /oauth2/_revoke` revokes every token at once; the demo CRM's request log (one line per
// request, written before it answers) counts the token requests and the 401s.
//
// The https token endpoint (CA verification) is the TLS fake CRM (tests/fake_crm) serving a
// staged token answer.

#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "tests/fake_crm/generated_body.hpp"
#include "tests/integration/harness.hpp"
#include "tests/unit/proxy/rsa_test_key.hpp"

namespace exportwall::itest {
namespace {

namespace json = boost::json;

constexpr std::string_view erp_key = "erp-demo-key";
constexpr std::string_view client_id = "exportwall-demo";
constexpr std::string_view secret = "S3cr3t~Only.In-A-File";
// Every token the demo CRM issues starts so: none may appear in a log, the trail or a response.
constexpr std::string_view issued_token_prefix = "demo-at-";

std::string example_path() {
    return std::string(EXPORTWALL_SOURCE_DIR) + "/config/examples/vendor-shapes.xml";
}

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

std::size_t count_of(std::string_view text, std::string_view part) {
    std::size_t n = 0;
    for (auto at = text.find(part); at != std::string_view::npos; at = text.find(part, at + 1)) ++n;
    return n;
}

// A declared export of the example's Pipedrive person list (invoicing keeps no IBAN).
std::string persons_export() {
    return "GET /v1/persons HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
           "Authorization: Bearer " +
           std::string(erp_key) +
           "\r\nX-Export-Purpose: invoicing\r\nX-Export-Destination: billing\r\n\r\n";
}

std::optional<json::object> json_object(std::string_view text) {
    boost::system::error_code ec;
    auto v = json::parse(json::string_view(text.data(), text.size()), ec);
    if (ec || !v.is_object()) return std::nullopt;
    return v.as_object();
}

std::string text_at(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

class UpstreamOAuth2 : public ::testing::Test {
  protected:
    // Starts the demo CRM with its token endpoint for `client_id` (secret from a file) and
    // `extra` arguments.
    void start_demo(const std::vector<std::string>& extra = {}) {
        ASSERT_TRUE(write_file(demo_secret_, std::string(secret) + "\n"));
        const std::string port_file = dir_.file("demo_crm.port");
        std::vector<std::string> argv{DEMO_CRM_BINARY,
                                      "--port",
                                      "0",
                                      "--port-file",
                                      port_file,
                                      "--records",
                                      "12",
                                      "--page-size",
                                      "5",
                                      "--oauth2-client-id",
                                      std::string(client_id),
                                      "--oauth2-secret-file",
                                      demo_secret_};
        argv.insert(argv.end(), extra.begin(), extra.end());
        ASSERT_TRUE(demo_.start(argv, demo_log_));
        std::optional<std::string> port_text;
        ASSERT_TRUE(poll_until(
            [&] { return (port_text = read_file(port_file)).has_value() || !demo_.running(); }));
        ASSERT_TRUE(port_text) << "demo_crm did not start: " << demo_log();
        demo_port_ = static_cast<std::uint16_t>(std::strtoul(port_text->c_str(), nullptr, 10));
        ASSERT_NE(demo_port_, 0);
    }

    [[nodiscard]] std::string token_url() const {
        return "http://127.0.0.1:" + std::to_string(demo_port_) + "/oauth2/token";
    }

    // exportwall with the example configuration; the `crm` upstream holds `oauth2` (an element).
    void start_proxy(const std::string& oauth2) {
        auto example = read_file(example_path());
        ASSERT_TRUE(example) << example_path();
        std::string x = *example;
        const std::string crm_url = "http://127.0.0.1:" + std::to_string(demo_port_);
        ASSERT_TRUE(replace_once(x, R"(<listen address="127.0.0.1" port="8080")",
                                 R"(<listen address="127.0.0.1" port="0")"));
        ASSERT_TRUE(replace_once(x, R"(<admin address="127.0.0.1" port="9901")",
                                 R"(<admin address="127.0.0.1" port="0")"));
        ASSERT_TRUE(replace_once(x, R"(path="audit.jsonl")", "path=\"" + audit_path_ + "\""));
        ASSERT_TRUE(replace_once(x, R"(access-log="-")", "access-log=\"" + access_path_ + "\""));
        ASSERT_TRUE(
            replace_once(x, R"(<upstream id="crm" url="http://127.0.0.1:8081"/>)",
                         "<upstream id=\"crm\" url=\"" + crm_url + "\">" + oauth2 + "</upstream>"));
        ASSERT_TRUE(replace_all(x, "http://127.0.0.1:8081", crm_url));
        // A restart must not read the last run's ports.
        std::remove(dir_.file("ports.json").c_str());
        ASSERT_TRUE(proxy_.start(dir_, x)) << proxy_.log();
    }

    // <oauth2> with the client secret in exportwall's own secret file.
    [[nodiscard]] std::string secret_oauth2(std::string_view more = {}) {
        EXPECT_TRUE(write_file(proxy_secret_, std::string(secret) + "\n"));
        return "<oauth2 token-url=\"" + token_url() + "\" client-id=\"" + std::string(client_id) +
               "\" client-secret-file=\"" + proxy_secret_ + "\" " + std::string(more) + "/>";
    }

    void TearDown() override {
        if (HasFailure()) {
            std::cerr << "--- exportwall log ---\n"
                      << proxy_.log().substr(0, 20000) << "--- demo_crm log ---\n"
                      << demo_log().substr(0, 20000);
        }
        proxy_.process().stop();
        demo_.stop();
    }

    [[nodiscard]] std::string demo_log() const { return read_file(demo_log_).value_or(""); }
    // The demo CRM's token requests so far (granted or not), and those it granted.
    [[nodiscard]] std::size_t token_requests() const {
        return count_of(demo_log(), "demo_crm: POST /oauth2/token ");
    }
    [[nodiscard]] std::size_t tokens_granted() const {
        return count_of(demo_log(), "demo_crm: POST /oauth2/token status=200 ");
    }
    [[nodiscard]] std::size_t record_requests(std::string_view status) const {
        return count_of(demo_log(), "demo_crm: GET /v1/persons status=" + std::string(status));
    }

    // An export through exportwall that must come back allowed and filtered.
    void expect_filtered_export(const std::string& context) {
        const response r = fetch(proxy_.port(), persons_export());
        ASSERT_EQ(r.status, 200u) << context << ": " << r.body;
        EXPECT_TRUE(r.complete) << context;
        EXPECT_EQ(r.header("X-Export-Decision"), "filtered") << context;
        auto body = json_object(r.body);
        ASSERT_TRUE(body) << context << ": " << r.body;
        ASSERT_TRUE(body->contains("data")) << context;
        EXPECT_FALSE(body->at("data").as_array().empty()) << context;
        EXPECT_FALSE(contains(r.body, "\"iban\"")) << context << ": the IBAN passed";
        // The same export every time: the same filtered body, whichever token carried it.
        if (filtered_body_.empty()) filtered_body_ = r.body;
        EXPECT_EQ(r.body, filtered_body_) << context;
        for (const auto& [name, value] : r.headers)
            EXPECT_FALSE(contains(value, issued_token_prefix)) << context << ": " << name;
    }

    // The audit record with `id`, polled for.
    [[nodiscard]] std::optional<json::object> audit_record(const std::string& id) const {
        std::optional<json::object> found;
        (void)poll_until([&] {
            const std::string trail = read_file(audit_path_).value_or("");
            const auto at = trail.find("\"id\":\"" + id + "\"");
            if (at == std::string::npos) return false;
            const auto start = trail.rfind('\n', at);
            const auto end = trail.find('\n', at);
            found = json_object(std::string_view(trail).substr(
                start == std::string::npos ? 0 : start + 1,
                end == std::string::npos ? std::string::npos
                                         : end - (start == std::string::npos ? 0 : start + 1)));
            return found.has_value();
        });
        return found;
    }

    [[nodiscard]] std::string metrics_text() const {
        return fetch(proxy_.admin_port(), get_request("/metrics", "Connection: close\r\n")).body;
    }

    temp_dir dir_;
    child_process demo_;
    std::uint16_t demo_port_ = 0;
    exportwall_server proxy_;
    std::string filtered_body_;  // the first export's
    const std::string demo_log_ = dir_.file("demo_crm.log");
    const std::string demo_secret_ = dir_.file("demo-crm-client-secret");
    const std::string proxy_secret_ = dir_.file("crm-client-secret");
    const std::string audit_path_ = dir_.file("audit.jsonl");
    const std::string access_path_ = dir_.file("access.log");
};

TEST_F(UpstreamOAuth2, ExportsWithAClientSecretPostedInTheForm) {
    start_demo();
    start_proxy(secret_oauth2());
    // Without exportwall's token the demo CRM refuses.
    EXPECT_EQ(fetch(demo_port_, "GET /v1/persons HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                  .status,
              401u);
    expect_filtered_export("first export");
    expect_filtered_export("second export");
    EXPECT_EQ(token_requests(), 1u) << "the token is cached";
    EXPECT_TRUE(contains(demo_log(),
                         "POST /oauth2/token status=200 endpoint=oauth2-token "
                         "auth=client_secret_post"));
    EXPECT_EQ(record_requests("200"), 2u);
}

TEST_F(UpstreamOAuth2, ExportsWithAClientSecretSentAsHttpBasic) {
    start_demo();
    start_proxy(secret_oauth2("client-auth=\"basic\" scope=\"api\""));
    expect_filtered_export("basic");
    EXPECT_TRUE(contains(demo_log(),
                         "status=200 endpoint=oauth2-token "
                         "auth=client_secret_basic scope"));
}

TEST_F(UpstreamOAuth2, ExportsWithASignedCertificateAssertion) {
    const auto key = exportwall::testing::make_rsa_test_key();
    ASSERT_FALSE(key.private_key_pem.empty());
    ASSERT_TRUE(write_file(dir_.file("client.crt"), key.certificate_pem));
    ASSERT_TRUE(write_file(dir_.file("client.key"), key.private_key_pem));
    start_demo({"--oauth2-certificate", dir_.file("client.crt")});
    for (const char* algorithm : {"PS256", "RS256"}) {
        proxy_.process().stop();
        start_proxy("<oauth2 token-url=\"" + token_url() + "\" client-id=\"" +
                    std::string(client_id) + "\" certificate-file=\"" + dir_.file("client.crt") +
                    "\" private-key-file=\"" + dir_.file("client.key") +
                    "\" assertion-algorithm=\"" + algorithm + "\"/>");
        expect_filtered_export(algorithm);
    }
    EXPECT_EQ(count_of(demo_log(), "status=200 endpoint=oauth2-token auth=private_key_jwt"), 2u)
        << demo_log();
    EXPECT_EQ(tokens_granted(), 2u);
}

TEST_F(UpstreamOAuth2, KeepsExportingAcrossTokenExpiry) {
    // Every token serves three requests: the fourth gets a 401, exportwall fetches a new token
    // and sends the request again; the client never sees the 401.
    start_demo({"--token-uses", "3"});
    start_proxy(secret_oauth2());
    for (int i = 0; i < 10; ++i) expect_filtered_export("export " + std::to_string(i));
    EXPECT_EQ(tokens_granted(), 4u) << "one token per three exports";
    EXPECT_EQ(record_requests("401"), 3u);
    EXPECT_EQ(record_requests("200"), 10u);
    const std::string m = metrics_text();
    EXPECT_TRUE(
        contains(m, "exportwall_upstream_token_requests_total{upstream=\"crm\",result=\"ok\"} 4\n"))
        << m;
    EXPECT_TRUE(contains(m, "exportwall_upstream_auth_retries_total{upstream=\"crm\"} 3\n")) << m;
}

TEST_F(UpstreamOAuth2, ConcurrentExportsAfterARevocationShareOneNewToken) {
    start_demo();
    start_proxy(secret_oauth2());
    expect_filtered_export("before the revocation");
    ASSERT_EQ(tokens_granted(), 1u);
    const response revoked =
        fetch(demo_port_,
              "POST /oauth2/_revoke HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
              "Connection: close\r\n\r\n");
    ASSERT_EQ(revoked.status, 204u);
    constexpr int exports = 8;
    std::vector<response> responses(exports);
    std::vector<std::thread> clients;
    for (int i = 0; i < exports; ++i)
        clients.emplace_back([&, i] {
            responses[static_cast<std::size_t>(i)] = fetch(proxy_.port(), persons_export());
        });
    for (auto& t : clients) t.join();
    for (const auto& r : responses) {
        EXPECT_EQ(r.status, 200u) << r.body;
        EXPECT_TRUE(r.complete);
        EXPECT_FALSE(contains(r.body, "\"iban\""));
    }
    // Each 401 drops the revoked token only while it is still the cached one: one new token.
    EXPECT_EQ(tokens_granted(), 2u) << demo_log();
}

TEST_F(UpstreamOAuth2, ABrokenTokenEndpointRefusesTheExportFailClosedAndAudited) {
    start_demo();
    std::string oauth2 = secret_oauth2();
    ASSERT_TRUE(write_file(proxy_secret_, "not-the-secret\n"));
    start_proxy(oauth2);
    const response r = fetch(proxy_.port(), persons_export());
    EXPECT_EQ(r.status, 503u) << r.body;
    EXPECT_TRUE(r.header("Retry-After")) << "the backoff is announced";
    auto problem = json_object(r.body);
    ASSERT_TRUE(problem) << r.body;
    EXPECT_EQ(text_at(*problem, "reason"), "upstream_auth_unavailable");
    const std::string id = text_at(*problem, "audit_id");
    ASSERT_FALSE(id.empty());
    auto record = audit_record(id);
    ASSERT_TRUE(record) << "no audit record " << id;
    EXPECT_EQ(text_at(*record, "reason"), "upstream_auth_unavailable");
    EXPECT_EQ(text_at(*record, "client"), "erp");
    EXPECT_EQ(record->at("status").to_number<int>(), 503);
    // Nothing reached the record endpoint: no request without a token.
    EXPECT_EQ(record_requests(""), 0u);
    EXPECT_TRUE(contains(demo_log(),
                         "status=401 endpoint=oauth2-token auth=client_secret_post "
                         "wrong_secret"));
    EXPECT_TRUE(poll_until([&] {
        return contains(read_file(access_path_).value_or(""), "upstream_auth_unavailable");
    }));
    EXPECT_TRUE(contains(proxy_.log(),
                         "token request failed (the token endpoint answered 401 "
                         "(invalid_client))"));
    const std::string m = metrics_text();
    EXPECT_TRUE(contains(
        m, "exportwall_upstream_token_requests_total{upstream=\"crm\",result=\"error\"} 1\n"))
        << m;
}

TEST_F(UpstreamOAuth2, NoSecretTokenOrAssertionReachesALogTheTrailOrTheMetrics) {
    const auto key = exportwall::testing::make_rsa_test_key();
    ASSERT_TRUE(write_file(dir_.file("client.crt"), key.certificate_pem));
    ASSERT_TRUE(write_file(dir_.file("client.key"), key.private_key_pem));
    // The certificate the identity provider has registered for the client.
    ASSERT_TRUE(write_file(dir_.file("registered.crt"), key.certificate_pem));
    start_demo({"--oauth2-certificate", dir_.file("registered.crt"), "--token-uses", "2"});
    start_proxy("<oauth2 token-url=\"" + token_url() + "\" client-id=\"" + std::string(client_id) +
                "\" certificate-file=\"" + dir_.file("client.crt") + "\" private-key-file=\"" +
                dir_.file("client.key") + "\"/>");
    for (int i = 0; i < 5; ++i) expect_filtered_export("export " + std::to_string(i));
    ASSERT_GE(record_requests("401"), 1u) << "a retry happened";
    // A refusal too: the identity provider now has another certificate registered.
    ASSERT_TRUE(write_file(dir_.file("registered.crt"),
                           exportwall::testing::make_rsa_test_key("x").certificate_pem));
    ASSERT_EQ(fetch(demo_port_,
                    "POST /oauth2/_revoke HTTP/1.1\r\nHost: x\r\nContent-Length: "
                    "0\r\nConnection: close\r\n\r\n")
                  .status,
              204u);
    EXPECT_EQ(fetch(proxy_.port(), persons_export()).status, 503u);
    ASSERT_TRUE(
        poll_until([&] { return count_of(read_file(access_path_).value_or(""), "\n") >= 6; }));
    const std::string places[] = {read_file(audit_path_).value_or(""),
                                  read_file(access_path_).value_or(""), proxy_.log(),
                                  metrics_text()};
    for (const auto& text : places) {
        ASSERT_FALSE(text.empty());
        EXPECT_FALSE(contains(text, issued_token_prefix)) << text.substr(0, 2000);
        EXPECT_FALSE(contains(text, "eyJ")) << "a JWT: " << text.substr(0, 2000);
        EXPECT_FALSE(contains(text, "BEGIN")) << text.substr(0, 2000);
        EXPECT_FALSE(contains(text, secret));
    }
    // And the demo CRM, which logs names only, never logged one either.
    EXPECT_FALSE(contains(demo_log(), issued_token_prefix));
    EXPECT_FALSE(contains(demo_log(), "eyJ"));
}

TEST_F(UpstreamOAuth2, SighupRereadsARotatedSecretAndStartsAFreshTokenCache) {
    start_demo();
    start_proxy(secret_oauth2());
    expect_filtered_export("before the rotation");
    // The CRM's identity provider rotates the secret and revokes what it issued: exportwall's
    // old secret is refused (and the backoff holds the token endpoint off).
    ASSERT_TRUE(write_file(demo_secret_, "rotated-S3cr3t\n"));
    ASSERT_EQ(fetch(demo_port_,
                    "POST /oauth2/_revoke HTTP/1.1\r\nHost: x\r\nContent-Length: "
                    "0\r\nConnection: close\r\n\r\n")
                  .status,
              204u);
    const response refused = fetch(proxy_.port(), persons_export());
    EXPECT_EQ(refused.status, 503u) << refused.body;
    EXPECT_TRUE(contains(refused.body, "upstream_auth_unavailable"));
    // The Kubernetes secret mounted for exportwall changes too; SIGHUP reads it again.
    ASSERT_TRUE(write_file(proxy_secret_, "rotated-S3cr3t\n"));
    proxy_.process().signal(SIGHUP);
    ASSERT_TRUE(poll_until([&] { return contains(proxy_.log(), "configuration reloaded"); }))
        << proxy_.log();
    EXPECT_TRUE(contains(proxy_.log(), "upstream 'crm': OAuth2 settings or secret files changed"));
    // A fresh cache: no backoff inherited, the new secret at once.
    expect_filtered_export("after the reload");
    EXPECT_EQ(tokens_granted(), 2u);
    EXPECT_EQ(count_of(demo_log(), "wrong_secret"), 1u);
}

// ---- an https token endpoint ----------------------------------------------------------------

class UpstreamOAuth2Tls : public ::testing::Test {
  protected:
    void SetUp() override {
        auto c = mint_certs(dir_);
        ASSERT_TRUE(c.has_value()) << read_file(dir_.file("mint.log")).value_or("");
        certs_ = *c;
        // One TLS fake CRM is both the CRM and its token endpoint.
        ASSERT_TRUE(crm_.start(dir_, certs_.file("server.crt"), certs_.file("server.key")))
            << crm_.log();
        const std::string token =
            R"({"access_token":"staged-access-token-1","token_type":"Bearer","expires_in":3600})";
        const std::string stage =
            "POST /_stage?path=/oauth2/token&type=application/json HTTP/1.1\r\nHost: localhost\r\n"
            "Content-Length: " +
            std::to_string(token.size()) + "\r\nConnection: close\r\n\r\n" + token;
        const tls_client_options tls{certs_.file("ca.crt"), {}, {}};
        ASSERT_EQ(fetch(crm_.port(), stage, &tls).status, 200u);
        ASSERT_TRUE(write_file(dir_.file("crm-client-secret"), std::string(secret)));
    }

    void start(const std::string& token_ca) {
        proxy_options o;
        o.upstream_url = "https://localhost:" + std::to_string(crm_.port());
        o.upstream_ca = certs_.file("ca.crt");
        std::string x = make_config(dir_, o);
        const auto at = x.find("<upstream id=\"crm\"");
        ASSERT_NE(at, std::string::npos);
        const auto end = x.find("/>", at);
        x.replace(end, 2,
                  "><oauth2 token-url=\"https://localhost:" + std::to_string(crm_.port()) +
                      "/oauth2/token\" ca-file=\"" + token_ca + "\" client-id=\"" +
                      std::string(client_id) + "\" client-secret-file=\"" +
                      dir_.file("crm-client-secret") + "\"/></upstream>");
        ASSERT_TRUE(proxy_.start(dir_, x)) << proxy_.log();
    }

    [[nodiscard]] crm_seen seen() const {
        return crm_requests(crm_.port(), certs_.file("ca.crt")).value_or(crm_seen{});
    }

    void TearDown() override {
        if (HasFailure()) std::cerr << "--- exportwall log ---\n" << proxy_.log().substr(0, 20000);
        proxy_.process().stop();
        crm_.process().stop();
    }

    temp_dir dir_;
    dev_certs certs_;
    fake_crm crm_;
    exportwall_server proxy_;
};

TEST_F(UpstreamOAuth2Tls, FetchesTheTokenOverVerifiedTlsAndSendsItAsBearer) {
    start(certs_.file("ca.crt"));
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.body, exportwall::test::fixed_body);
    const auto s = seen();
    const seen_request* token_request = nullptr;
    const seen_request* record_request = nullptr;
    for (const auto& q : s.requests) {
        if (q.target == "/oauth2/token") token_request = &q;
        if (q.target == "/api/fixed") record_request = &q;
    }
    ASSERT_NE(token_request, nullptr);
    EXPECT_EQ(token_request->method, "POST");
    EXPECT_EQ(token_request->header("Content-Type"), "application/x-www-form-urlencoded");
    EXPECT_EQ(token_request->body,
              "grant_type=client_credentials&client_id=exportwall-demo"
              "&client_secret=S3cr3t~Only.In-A-File");
    ASSERT_NE(record_request, nullptr);
    EXPECT_EQ(record_request->header("Authorization"), "Bearer staged-access-token-1");
    EXPECT_EQ(record_request->count("Authorization"), 1u);
}

TEST_F(UpstreamOAuth2Tls, ATokenEndpointWhoseCertificateDoesNotVerifyGetsNoSecret) {
    start(certs_.file("other-ca.crt"));
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    EXPECT_EQ(r.status, 503u) << r.body;
    EXPECT_TRUE(contains(r.body, "upstream_auth_unavailable"));
    EXPECT_TRUE(seen().requests.empty()) << "the secret went to an unverified endpoint";
    EXPECT_TRUE(contains(proxy_.log(), "TLS handshake with the token endpoint failed"));
}

}  // namespace
}  // namespace exportwall::itest
