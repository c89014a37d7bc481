// TLS: listener TLS, mutual TLS accepted and refused, upstream TLS verified against the configured
// CA — with certificates minted at test time by certs/mint-dev-certs.

#include <gtest/gtest.h>

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
