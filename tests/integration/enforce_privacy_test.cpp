// Privacy of the trail (issue 6, item 5): records whose every value is a unique marker go through
// allowed, stripping, filtering, refused, aborted, failed and monitored exports, with the audit
// records also forwarded as syslog over UDP to a socket this test listens on. No marker may appear
// in the audit file, the syslog datagrams, exportwall's own log or the access log.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <sstream>

#include "tests/integration/enforce_fixture.hpp"

namespace exportwall::itest {
namespace {

// A UDP socket on 127.0.0.1, port 0, collecting datagrams.
class udp_listener {
  public:
    udp_listener() {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
        socklen_t len = sizeof addr;
        if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
            port_ = ntohs(addr.sin_port);
    }
    ~udp_listener() {
        if (fd_ >= 0) ::close(fd_);
    }
    udp_listener(const udp_listener&) = delete;
    udp_listener& operator=(const udp_listener&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }

    // Reads what has arrived, waiting up to `wait` for the first datagram.
    void drain(std::chrono::milliseconds wait) {
        pollfd p{fd_, POLLIN, 0};
        int timeout = static_cast<int>(wait.count());
        while (::poll(&p, 1, timeout) > 0) {
            char buf[65536];
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) break;
            datagrams_.emplace_back(buf, static_cast<std::size_t>(n));
            timeout = 0;
        }
    }
    [[nodiscard]] const std::vector<std::string>& datagrams() const { return datagrams_; }

  private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::vector<std::string> datagrams_;
};

std::size_t lines(std::string_view text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

class EnforcePrivacy : public enforce_fixture {};

TEST_F(EnforcePrivacy, NoMarkerReachesAuditSyslogOrLogs) {
    udp_listener syslog;
    ASSERT_NE(syslog.port(), 0);
    const std::string p = marker_prefix();
    std::vector<contact> records;
    for (int i = 1; i <= 4; ++i) records.push_back(marker_contact(p, i, "customer"));
    records.push_back(marker_contact(p, 5, "lead"));
    records[1].consent_email = false;
    records[2].objected = true;

    vendor_policy_options o;
    o.syslog = "<syslog address=\"127.0.0.1\" port=\"" + std::to_string(syslog.port()) +
               "\" protocol=\"udp\"/>";
    o.suppressed_emails = {records[3].email};
    ASSERT_TRUE(start(o));

    const std::string origin = crm_origin();
    std::string dataverse_body = render(vendor_shape::dataverse, records, origin);
    // A member the catalogue does not know, whose name is itself a value (a map keyed by data).
    dataverse_body.insert(dataverse_body.find("\"id\":"),
                          "\"" + p + "-keyed\":{\"" + p + "-inner\":1},");
    ASSERT_TRUE(stage("/api/data/v9.2/contacts", "application/json", dataverse_body));
    ASSERT_TRUE(stage("/crm/v3/objects/contacts", "application/json",
                      render(vendor_shape::hubspot, records, origin)));
    ASSERT_TRUE(
        stage("/exports/contacts.csv", "text/csv", render(vendor_shape::csv, records, origin)));
    ASSERT_TRUE(stage("/services/Soap/u/58.0", "text/xml",
                      render(vendor_shape::salesforce_soap, records, origin)));
    std::string broken = render(vendor_shape::ndjson, records, origin);
    broken.insert(broken.find('\n') + 1, "{\"id\":\"" + p + "-broken\",\"email\":");
    ASSERT_TRUE(stage("/exports/contacts.ndjson", "application/x-ndjson", broken));
    ASSERT_TRUE(stage("/services/data/v58.0/query", "application/json",
                      render(vendor_shape::salesforce, records, origin), "&status=500"));

    // A marker in query values too: a $filter can quote a field value.
    const std::string filter = "$filter=email%20eq%20%27" + records[0].email + "%27";
    struct step {
        const char* what;
        std::string key;
        const char* purpose;
        const char* destination;
        std::string target;
        const char* method;
    };
    const std::vector<step> steps{
        {"allowed", std::string(erp_key), "crm-backup", "archive",
         "/api/data/v9.2/contacts?" + filter, "GET"},
        {"stripping", std::string(erp_key), "delivery", "warehouse",
         "/crm/v3/objects/contacts?properties=first_name,email,iban," + p +
             "-prop&after=" + records[0].id,
         "GET"},
        {"filtering", std::string(marketing_key), "promotion-email", "newsletter",
         "/exports/contacts.csv?columns=id,email", "GET"},
        {"refused", std::string(marketing_key), "promotion-email", "partner-crm",
         "/api/data/v9.2/contacts?" + filter, "GET"},
        {"not granted", std::string(erp_key), "promotion-email", "newsletter",
         "/api/data/v9.2/contacts?" + filter, "GET"},
        {"aborted", std::string(erp_key), "crm-backup", "archive",
         "/exports/contacts.ndjson?fields=id,email", "GET"},
        {"crm error", std::string(erp_key), "crm-backup", "archive",
         "/services/data/v58.0/query?q=SELECT+Id+FROM+Contact+WHERE+Email=%27" + records[0].email +
             "%27",
         "GET"},
        {"monitored", std::string(rollout_key), "delivery", "warehouse", "/services/Soap/u/58.0",
         "POST"},
        {"monitored refusal", std::string(rollout_key), "promotion-email", "partner-leads",
         "/exports/contacts.csv", "GET"},
        {"unauthenticated", p + "-key", "delivery", "warehouse", "/api/data/v9.2/contacts", "GET"},
    };
    std::size_t answered = 0;
    for (const auto& s : steps) {
        SCOPED_TRACE(s.what);
        export_request r;
        r.method = s.method;
        r.target = s.target;
        r.api_key = std::string(s.key);
        r.purpose = s.purpose;
        r.destination = s.destination;
        if (r.method == "POST") r.body = "<query>" + records[0].email + "</query>";
        const response resp = send(r);
        ASSERT_TRUE(resp.received);
        ++answered;
        const std::string id =
            resp.header("X-Export-Audit-Id")
                .value_or(problem_of(resp) ? string_at(*problem_of(resp), "audit_id") : "");
        EXPECT_TRUE(audit_record(id).has_value()) << "no audit record for " << s.what;
    }

    // Every record was forwarded: wait (bounded) for as many datagrams as audit lines.
    const std::string audit = read_file(dir_.file("audit.jsonl")).value_or("");
    ASSERT_GE(lines(audit), answered);
    (void)poll_until(
        [&] {
            syslog.drain(50ms);
            return syslog.datagrams().size() >= lines(audit);
        },
        10s);
    EXPECT_GE(syslog.datagrams().size(), lines(audit)) << "syslog forwarding lost records";

    // Stop exportwall so its logs are complete.
    proxy_.process().stop();
    const std::string log = proxy_.log();
    const std::string access = read_file(dir_.file("access.log")).value_or("");
    EXPECT_GE(lines(access), answered) << "the access log is missing requests";

    auto no_marker = [&](std::string_view where, std::string_view text) {
        const auto at = text.find(p);
        EXPECT_EQ(at, std::string_view::npos)
            << "a field value reached " << where << ": ..."
            << text.substr(at == std::string_view::npos ? 0 : (at > 80 ? at - 80 : 0), 200);
    };
    no_marker("the audit file", audit);
    for (const auto& d : syslog.datagrams()) no_marker("a syslog datagram", d);
    no_marker("exportwall's log", log);
    no_marker("the access log", access);
}

}  // namespace
}  // namespace exportwall::itest
