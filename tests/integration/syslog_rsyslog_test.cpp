// Audit records reach the SIEM whatever happens (issue 19, item 4): the real exportwall binary
// forwards its trail to a real rsyslogd over TCP and TLS (RFC 5425, a CA made at run time). The
// collector is stopped in the middle of a run — exports refused meanwhile are audited and
// answered at once — and started again on the same port: every record of the trail arrives. A
// new exportwall process resumes from the state file beside the trail instead of sending the
// trail again. Conditions are polled with a deadline; nothing sleeps.

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/enforce_fixture.hpp"
#include "tests/integration/rsyslog_server.hpp"

namespace exportwall::itest {
namespace {

// The value of the "id" member of a JSON record line ("" when none).
std::string id_in(std::string_view line) {
    constexpr std::string_view key = "\"id\":\"";
    const auto at = line.find(key);
    if (at == std::string_view::npos) return {};
    const auto end = line.find('"', at + key.size());
    return std::string(line.substr(at + key.size(), end - at - key.size()));
}

class SyslogRsyslog : public enforce_fixture {
  protected:
    void TearDown() override {
        if (HasFailure()) std::cerr << "---- rsyslogd log ----\n" << collector_.log() << "\n";
        enforce_fixture::TearDown();
        collector_.stop();
    }

    // The <syslog> element for the collector.
    [[nodiscard]] std::string syslog_element(const std::string& protocol,
                                             const std::string& extra = {}) const {
        return "<syslog address=\"127.0.0.1\" port=\"" + std::to_string(collector_.port()) +
               "\" protocol=\"" + protocol + "\" " + extra + "/>";
    }

    // A refused export (a partner CRM is no destination of promotion e-mail): its audit id.
    std::string refused_export() {
        export_request r;
        r.target = "/api/data/v9.2/contacts";
        r.api_key = std::string(marketing_key);
        r.purpose = "promotion-email";
        r.destination = "partner-crm";
        const response resp = send(r);
        EXPECT_EQ(resp.status, 403u);
        const auto problem = problem_of(resp);
        return problem ? string_at(*problem, "audit_id") : std::string();
    }

    // The ids of every record in the trail.
    [[nodiscard]] std::vector<std::string> trail_ids() const {
        std::vector<std::string> ids;
        const std::string text = read_file(dir_.file("audit.jsonl")).value_or("");
        for (std::size_t pos = 0; pos < text.size();) {
            const auto nl = text.find('\n', pos);
            if (nl == std::string::npos) break;
            ids.push_back(id_in(std::string_view(text).substr(pos, nl - pos)));
            pos = nl + 1;
        }
        return ids;
    }

    // How often each record id reached the collector.
    [[nodiscard]] std::map<std::string, int> received() const {
        std::map<std::string, int> out;
        for (const auto& m : collector_.messages()) out[id_in(m)]++;
        return out;
    }

    // The trail's ids that have not reached the collector (yet).
    [[nodiscard]] std::vector<std::string> missing() const {
        const auto got = received();
        std::vector<std::string> out;
        for (const auto& id : trail_ids())
            if (got.count(id) == 0) out.push_back(id);
        return out;
    }

    // Polls until every record of the trail (and each of `ids`) reached the collector.
    [[nodiscard]] ::testing::AssertionResult all_arrive(const std::vector<std::string>& ids) {
        const bool ok = poll_until(
            [&] {
                const auto got = received();
                for (const auto& id : ids)
                    if (got.count(id) == 0) return false;
                return missing().empty();
            },
            30s);
        if (ok) return ::testing::AssertionSuccess();
        auto r = ::testing::AssertionFailure()
                 << missing().size() << " of " << trail_ids().size() << " records never arrived";
        return r;
    }

    rsyslog_server collector_;
};

// The done-when of issue 19 item 4: records produced while rsyslog is down arrive after it
// returns, on the same port.
TEST_F(SyslogRsyslog, RecordsProducedWhileRsyslogIsDownArriveAfterItReturns) {
    if (!rsyslog_server::available()) GTEST_SKIP() << "rsyslogd is not installed";
    ASSERT_TRUE(collector_.start(dir_)) << collector_.log();
    vendor_policy_options o;
    o.syslog = syslog_element("tcp");
    ASSERT_TRUE(start(o));

    std::vector<std::string> before;
    for (int i = 0; i < 3; ++i) before.push_back(refused_export());
    ASSERT_TRUE(all_arrive(before));

    collector_.stop();
    // While the collector is down, exports are decided and answered as ever: the records wait in
    // the trail.
    std::vector<std::string> during;
    for (int i = 0; i < 5; ++i) during.push_back(refused_export());
    for (const auto& id : during) EXPECT_FALSE(id.empty());
    EXPECT_EQ(received().count(during[0]), 0u);

    ASSERT_TRUE(collector_.restart()) << collector_.log();
    ASSERT_TRUE(all_arrive(during));
    // Each record carries its id (duplicates are possible after a reconnect, never a loss) and
    // names its replica.
    for (const auto& m : collector_.messages()) {
        if (m.find(during[0]) != std::string::npos) {
            EXPECT_NE(m.find("\"replica\":\""), std::string::npos) << m;
        }
    }
    EXPECT_NE(proxy_.log().find("records not yet delivered are sent again"), std::string::npos)
        << proxy_.log();
}

// A new exportwall process resumes after what the collector acknowledged: nothing of the first
// run is sent again.
TEST_F(SyslogRsyslog, ARestartedExportwallResumesFromTheStateFile) {
    if (!rsyslog_server::available()) GTEST_SKIP() << "rsyslogd is not installed";
    ASSERT_TRUE(collector_.start(dir_)) << collector_.log();
    vendor_policy_options o;
    o.syslog = syslog_element("tcp");
    ASSERT_TRUE(start(o));
    std::vector<std::string> first;
    for (int i = 0; i < 4; ++i) first.push_back(refused_export());
    ASSERT_TRUE(all_arrive(first));

    proxy_.process().stop();
    EXPECT_TRUE(std::filesystem::exists(dir_.file("audit.jsonl.syslog-state")));
    std::filesystem::remove(dir_.file("ports.json"));
    ASSERT_TRUE(proxy_.start(dir_, config_)) << proxy_.log();
    std::vector<std::string> second;
    for (int i = 0; i < 2; ++i) second.push_back(refused_export());
    ASSERT_TRUE(all_arrive(second));
    const auto got = received();
    for (const auto& id : trail_ids()) EXPECT_EQ(got.count(id) ? got.at(id) : 0, 1) << id;
}

TEST_F(SyslogRsyslog, DeliversOverTlsToAVerifiedCollectorAcrossAnOutage) {
    if (!rsyslog_server::tls_available()) GTEST_SKIP() << "rsyslog-openssl is not installed";
    const auto certs = mint_certs(dir_);
    ASSERT_TRUE(certs.has_value());
    ASSERT_TRUE(
        collector_.start(dir_, 0,
                         rsyslog_server::tls_files{certs->file("ca.crt"), certs->file("server.crt"),
                                                   certs->file("server.key"), false}))
        << collector_.log();
    vendor_policy_options o;
    o.syslog = syslog_element("tls", "ca-file=\"" + certs->file("ca.crt") + "\"");
    ASSERT_TRUE(start(o));
    std::vector<std::string> before{refused_export(), refused_export()};
    ASSERT_TRUE(all_arrive(before));
    collector_.stop();
    std::vector<std::string> during{refused_export(), refused_export(), refused_export()};
    ASSERT_TRUE(collector_.restart()) << collector_.log();
    ASSERT_TRUE(all_arrive(during));
}

TEST_F(SyslogRsyslog, PresentsItsClientCertificateToACollectorThatRequiresOne) {
    if (!rsyslog_server::tls_available()) GTEST_SKIP() << "rsyslog-openssl is not installed";
    const auto certs = mint_certs(dir_);
    ASSERT_TRUE(certs.has_value());
    // rsyslog trusts one CA file for its peers: the clients' CA with its own.
    const std::string trusted = dir_.file("collector-ca.pem");
    ASSERT_TRUE(write_file(trusted, read_file(certs->file("ca.crt")).value_or("") +
                                        read_file(certs->file("clients-ca.crt")).value_or("")));
    ASSERT_TRUE(collector_.start(dir_, 0,
                                 rsyslog_server::tls_files{trusted, certs->file("server.crt"),
                                                           certs->file("server.key"), true}))
        << collector_.log();
    vendor_policy_options o;
    o.syslog = syslog_element("tls", "ca-file=\"" + certs->file("ca.crt") +
                                         "\" server-name=\"localhost\" certificate-file=\"" +
                                         certs->file("erp.crt") + "\" private-key-file=\"" +
                                         certs->file("erp.key") + "\"");
    ASSERT_TRUE(start(o));
    ASSERT_TRUE(all_arrive({refused_export(), refused_export()}));
}

// RFC 5425 section 5.2: a collector whose certificate does not chain to the configured CA gets
// nothing; the records wait in the trail.
TEST_F(SyslogRsyslog, SendsNothingToACollectorItCannotVerify) {
    if (!rsyslog_server::tls_available()) GTEST_SKIP() << "rsyslog-openssl is not installed";
    const auto certs = mint_certs(dir_);
    ASSERT_TRUE(certs.has_value());
    ASSERT_TRUE(
        collector_.start(dir_, 0,
                         rsyslog_server::tls_files{certs->file("ca.crt"), certs->file("server.crt"),
                                                   certs->file("server.key"), false}))
        << collector_.log();
    vendor_policy_options o;
    o.syslog = syslog_element("tls", "ca-file=\"" + certs->file("other-ca.crt") + "\"");
    ASSERT_TRUE(start(o));
    const std::string id = refused_export();
    ASSERT_TRUE(poll_until([&] {
        return proxy_.log().find("does not verify") != std::string::npos;
    })) << proxy_.log();
    EXPECT_EQ(received().count(id), 0u);
    EXPECT_TRUE(collector_.messages().empty());
}

}  // namespace
}  // namespace exportwall::itest
