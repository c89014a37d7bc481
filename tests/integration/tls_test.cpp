// TLS: listener TLS, mutual TLS accepted and refused, upstream TLS verified against the configured
// CA — with certificates minted at test time by certs/mint-dev-certs.

#include <gtest/gtest.h>

#include <csignal>
#include <string>

#include "tests/fake_crm/generated_body.hpp"
#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

class Tls : public proxy_fixture {
  protected:
    void SetUp() override {
        auto c = mint_certs(dir_);
        ASSERT_TRUE(c.has_value()) << "certs/mint-dev-certs failed:\n"
                                   << read_file(dir_.file("mint.log")).value_or("");
        certs_ = *c;
    }

    std::string listener_tls(const std::string& client_mode) const {
        std::string t = "<tls certificate=\"" + certs_.file("server.crt") + "\" private-key=\"" +
                        certs_.file("server.key") + "\"";
        if (client_mode != "none")
            t += " client-ca=\"" + certs_.file("clients-ca.crt") + "\" client-certificate=\"" +
                 client_mode + "\"";
        return t + "/>";
    }

    dev_certs certs_;
};

TEST_F(Tls, ServesOverTls) {
    proxy_options o;
    o.listener_tls = listener_tls("none");
    ASSERT_TRUE(start_proxy(o));
    const tls_client_options client{certs_.file("ca.crt"), {}, {}};
    const response r = fetch(proxy_.port(), get_request("/api/fixed"), &client);
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, exportwall::test::fixed_body);
}

TEST_F(Tls, PlainHttpOnTlsListenerIsNotServed) {
    proxy_options o;
    o.listener_tls = listener_tls("none");
    ASSERT_TRUE(start_proxy(o));
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    EXPECT_FALSE(r.received && r.status == 200);
    EXPECT_TRUE(seen().requests.empty());
}

TEST_F(Tls, RequiredClientCertificateIsAccepted) {
    proxy_options o;
    o.listener_tls = listener_tls("required");
    ASSERT_TRUE(start_proxy(o));
    const tls_client_options client{certs_.file("ca.crt"), certs_.file("erp.crt"),
                                    certs_.file("erp.key")};
    const response r = fetch(proxy_.port(), get_request("/api/fixed"), &client);
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, exportwall::test::fixed_body);
}

TEST_F(Tls, MissingClientCertificateIsRefusedWhenRequired) {
    proxy_options o;
    o.listener_tls = listener_tls("required");
    ASSERT_TRUE(start_proxy(o));
    const tls_client_options client{certs_.file("ca.crt"), {}, {}};
    // With TLS 1.3 the client may finish its handshake before the server refuses: the refusal
    // then shows as a connection closed without a response.
    const response r = fetch(proxy_.port(), get_request("/api/fixed"), &client);
    EXPECT_FALSE(r.received);
    EXPECT_TRUE(seen().requests.empty());
}

TEST_F(Tls, ClientCertificateFromAnotherCaIsRefused) {
    proxy_options o;
    o.listener_tls = listener_tls("required");
    ASSERT_TRUE(start_proxy(o));
    // server.crt is signed by the development CA, not by the client CA.
    const tls_client_options client{certs_.file("ca.crt"), certs_.file("server.crt"),
                                    certs_.file("server.key")};
    const response r = fetch(proxy_.port(), get_request("/api/fixed"), &client);
    EXPECT_FALSE(r.received);
    EXPECT_TRUE(seen().requests.empty());
}

TEST_F(Tls, OptionalClientCertificateMayBeAbsent) {
    proxy_options o;
    o.listener_tls = listener_tls("optional");
    ASSERT_TRUE(start_proxy(o));
    const tls_client_options client{certs_.file("ca.crt"), {}, {}};
    const response r = fetch(proxy_.port(), get_request("/api/fixed"), &client);
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
}

// SIGHUP reads the listener's certificate files again (issue 19, item 2): a renewed
// certificate is served to the next connection without a restart, and one that cannot be read
// refuses the reload while the old one stays in use.
TEST_F(Tls, ReloadReadsTheListenerCertificateAgain) {
    // The listener's files, copied from the first set; the second set is another CA's.
    temp_dir renewed_dir;
    auto renewed = mint_certs(renewed_dir);
    ASSERT_TRUE(renewed.has_value());
    const std::string live_crt = dir_.file("live.crt"), live_key = dir_.file("live.key");
    ASSERT_TRUE(write_file(live_crt, read_file(certs_.file("server.crt")).value_or("")));
    ASSERT_TRUE(write_file(live_key, read_file(certs_.file("server.key")).value_or("")));
    proxy_options o;
    o.listener_tls = "<tls certificate=\"" + live_crt + "\" private-key=\"" + live_key + "\"/>";
    ASSERT_TRUE(start_proxy(o));
    const tls_client_options first{certs_.file("ca.crt"), {}, {}};
    const tls_client_options second{renewed->file("ca.crt"), {}, {}};
    EXPECT_EQ(fetch(proxy_.port(), get_request("/api/fixed"), &first).status, 200u);
    EXPECT_FALSE(fetch(proxy_.port(), get_request("/api/fixed"), &second).received);

    // Renewed: the files are replaced and SIGHUP sent.
    ASSERT_TRUE(write_file(live_crt, read_file(renewed->file("server.crt")).value_or("")));
    ASSERT_TRUE(write_file(live_key, read_file(renewed->file("server.key")).value_or("")));
    proxy_.process().signal(SIGHUP);
    EXPECT_TRUE(poll_until([&] {
        return fetch(proxy_.port(), get_request("/api/fixed"), &second).status == 200u;
    })) << proxy_.log();
    EXPECT_FALSE(fetch(proxy_.port(), get_request("/api/fixed"), &first).received);

    // A certificate file that cannot be read: the reload is refused, the renewed one stays.
    ASSERT_TRUE(write_file(live_crt, "not a certificate\n"));
    const response reload = fetch(
        proxy_.admin_port(),
        "POST /admin/reload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(reload.status, 500u) << reload.body;
    EXPECT_EQ(fetch(proxy_.port(), get_request("/api/fixed"), &second).status, 200u);
    EXPECT_NE(proxy_.log().find("listener TLS"), std::string::npos);
}

class UpstreamTls : public Tls {
  protected:
    // The fake CRM over TLS with the localhost certificate; exportwall trusts `ca`.
    ::testing::AssertionResult start_tls_upstream(const std::string& ca) {
        if (!crm_.start(dir_, certs_.file("server.crt"), certs_.file("server.key")))
            return ::testing::AssertionFailure() << "fake_crm --tls did not start:\n" << crm_.log();
        proxy_options o;
        o.upstream_url = "https://localhost:" + std::to_string(crm_.port());
        o.upstream_ca = ca;
        if (!proxy_.start(dir_, make_config(dir_, o)))
            return ::testing::AssertionFailure() << "exportwall did not start:\n" << proxy_.log();
        return ::testing::AssertionSuccess();
    }
};

TEST_F(UpstreamTls, VerifiedUpstreamIsServed) {
    ASSERT_TRUE(start_tls_upstream(certs_.file("ca.crt")));
    const response r = fetch(proxy_.port(), get_request("/api/gen?bytes=100000&chunked=1"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.body.size(), 100000u);
    EXPECT_TRUE(matches_pattern(r.body));
    auto s = crm_requests(crm_.port(), certs_.file("ca.crt"));
    ASSERT_TRUE(s.has_value());
    ASSERT_EQ(s->requests.size(), 1u);
}

TEST_F(UpstreamTls, WrongCaGives502AndNothingIsSent) {
    ASSERT_TRUE(start_tls_upstream(certs_.file("other-ca.crt")));
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 502u);
    EXPECT_NE(r.body.find("\"upstream_unavailable\""), std::string::npos) << r.body;
    auto s = crm_requests(crm_.port(), certs_.file("ca.crt"));
    ASSERT_TRUE(s.has_value());
    EXPECT_TRUE(s->requests.empty()) << "a request went to an unverified upstream";
}

}  // namespace
}  // namespace exportwall::itest
