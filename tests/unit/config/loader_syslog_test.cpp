// <audit replica keep-bytes keep-days> and <syslog protocol="tls" …>: what the loader accepts,
// and the file:line:col of what it refuses (issue 19, item 4).

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "config/loader.hpp"

namespace exportwall::config {
namespace {

namespace fs = std::filesystem;

std::string document(const std::string& audit) {
    return R"(<exportwall version="1">
  <listen address="127.0.0.1" port="0"/>
  )" + audit +
           R"(
  <upstream id="crm" url="http://127.0.0.1:8081"/>
  <route id="meta" path="/api/meta" upstream="crm" format="passthrough"/>
</exportwall>
)";
}

std::string errors_of(const load_result& r) {
    std::string out;
    for (const auto& e : r.errors) out += e.str() + "\n";
    return out;
}

// A directory with a self-signed certificate and its key, and a key of another pair.
class SyslogTls : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string t = (fs::temp_directory_path() / "ew-syslog-XXXXXX").string();
        ASSERT_NE(::mkdtemp(t.data()), nullptr);
        dir_ = t;
        EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        EVP_PKEY* other = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        X509* cert = X509_new();
        ASSERT_TRUE(key && other && cert);
        X509_set_version(cert, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), 0);
        X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
        X509_set_pubkey(cert, key);
        X509_NAME* name = X509_get_subject_name(cert);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("collector"), -1, -1, 0);
        X509_set_issuer_name(cert, name);
        ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
        write_pem("cert.pem", [&](BIO* b) { return PEM_write_bio_X509(b, cert); });
        write_pem("key.pem", [&](BIO* b) {
            return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
        });
        write_pem("other.key", [&](BIO* b) {
            return PEM_write_bio_PrivateKey(b, other, nullptr, nullptr, 0, nullptr, nullptr);
        });
        X509_free(cert);
        EVP_PKEY_free(key);
        EVP_PKEY_free(other);
        std::ofstream(dir_ / "garbage.pem") << "not a certificate\n";
    }
    void TearDown() override { fs::remove_all(dir_); }

    template <class F>
    void write_pem(const std::string& name, F&& write) {
        BIO* bio = BIO_new_file((dir_ / name).c_str(), "w");
        ASSERT_NE(bio, nullptr);
        ASSERT_EQ(write(bio), 1);
        BIO_free(bio);
    }
    load_result load(const std::string& audit) {
        return load_configuration_text(document(audit), "syslog.xml", dir_.string());
    }

    fs::path dir_;
};

TEST_F(SyslogTls, ReadsTlsWithItsDefaultPortAndFiles) {
    const auto r =
        load(R"(<audit path="audit.jsonl" replica="pod-7" keep-bytes="2GiB" keep-days="30">
    <syslog address="siem.example.internal" protocol="tls" ca-file="cert.pem"
            certificate-file="cert.pem" private-key-file="key.pem" server-name="collector"/>
  </audit>)");
    ASSERT_TRUE(r) << errors_of(r);
    const auto& a = r.config->net.audit;
    EXPECT_EQ(a.replica, "pod-7");
    EXPECT_EQ(a.keep_bytes, 2ull << 30);
    EXPECT_EQ(a.keep_days, 30u);
    EXPECT_TRUE(a.syslog.tls);
    EXPECT_TRUE(a.syslog.tcp);
    EXPECT_EQ(a.syslog.port, 6514);
    EXPECT_EQ(a.syslog.ca_file, (dir_ / "cert.pem").string());
    EXPECT_EQ(a.syslog.certificate_file, (dir_ / "cert.pem").string());
    EXPECT_EQ(a.syslog.private_key_file, (dir_ / "key.pem").string());
    EXPECT_EQ(a.syslog.server_name, "collector");

    const auto plain = load(
        R"(<audit path="audit.jsonl"><syslog address="h" protocol="tcp" port="601"/></audit>)");
    ASSERT_TRUE(plain) << errors_of(plain);
    EXPECT_FALSE(plain.config->net.audit.syslog.tls);
    EXPECT_EQ(plain.config->net.audit.syslog.port, 601);
    EXPECT_EQ(plain.config->net.audit.replica, "");  // the default is taken at start-up
    EXPECT_EQ(plain.config->net.audit.keep_bytes, 0u);
}

TEST_F(SyslogTls, RefusesWhatCannotWorkAtItsAttribute) {
    struct bad_case {
        const char* element;
        const char* error;
    };
    const bad_case cases[] = {
        {R"(<audit path="a" replica="pod 7"/>)", "syslog.xml:3:19: 'replica' must be 1 to 64"},
        {R"(<audit path="a" keep-days="0"/>)", "syslog.xml:3:19: 'keep-days' must be a whole"},
        {R"(<audit path="a" keep-bytes="lots"/>)", "syslog.xml:3:19: 'keep-bytes' must be a"},
        {R"(<audit path="a"><syslog address="h" protocol="relp"/></audit>)",
         "syslog.xml:3:39: 'protocol' must be udp, tcp or tls"},
        {R"(<audit path="a"><syslog address="h" protocol="tcp" ca-file="cert.pem"/></audit>)",
         "syslog.xml:3:54: 'ca-file' applies only with protocol=\"tls\""},
        {R"(<audit path="a"><syslog address="h" protocol="tls" ca-file="garbage.pem"/></audit>)",
         "syslog.xml:3:54: 'ca-file' must name a readable PEM file of CA certificates"},
        {R"(<audit path="a"><syslog address="h" protocol="tls" ca-file="missing.pem"/></audit>)",
         "syslog.xml:3:54: 'ca-file' must name a readable PEM file"},
        {R"(<audit path="a"><syslog address="h" protocol="tls" certificate-file="cert.pem"/></audit>)",
         "syslog.xml:3:19: 'certificate-file' and 'private-key-file' go together"},
        {R"(<audit path="a"><syslog address="h" protocol="tls" certificate-file="cert.pem" private-key-file="other.key"/></audit>)",
         "syslog.xml:3:82: 'private-key-file' is not the key of 'certificate-file'"},
        {R"(<audit path="a"><syslog address="h" protocol="tls" certificate-file="cert.pem" private-key-file="garbage.pem"/></audit>)",
         "syslog.xml:3:82: 'private-key-file' must name a readable, unencrypted PEM"},
        {R"(<audit path="a"><syslog address="h" protocol="tls" server-name=""/></audit>)",
         "syslog.xml:3:54: 'server-name' must be a host name or IP address"},
    };
    for (const auto& c : cases) {
        const auto r = load(c.element);
        EXPECT_FALSE(r) << c.element;
        EXPECT_NE(errors_of(r).find(c.error), std::string::npos) << c.element << "\n"
                                                                 << errors_of(r);
    }
}

TEST_F(SyslogTls, OfflineChecksNeedNoFiles) {
    offline_loading offline;
    const auto r = load(
        R"(<audit path="a"><syslog address="h" protocol="tls" ca-file="/run/secrets/siem-ca.pem" certificate-file="/run/secrets/c.pem" private-key-file="/run/secrets/k.pem"/></audit>)");
    EXPECT_TRUE(r) << errors_of(r);
}

}  // namespace
}  // namespace exportwall::config
