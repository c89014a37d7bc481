#include "audit/syslog_forwarder.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "tests/unit/audit/audit_test_support.hpp"

namespace exportwall::audit {
namespace {

constexpr const char* rsyslogd = "/usr/sbin/rsyslogd";

// A free loopback port (bound on port 0, then released) for rsyslog's imudp, which cannot
// report the port it picked itself.
std::uint16_t free_port(int type) {
    const int fd = ::socket(AF_INET, type, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

// Polls `done` every few milliseconds, at most ~10 s.
template <class F>
bool eventually(F&& done) {
    for (int i = 0; i < 1000; ++i) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
}

// A real rsyslogd on loopback with its own configuration, writing each message's MSG part to
// a file.
class rsyslog_collector {
  public:
    explicit rsyslog_collector(const test::temp_dir& dir) : dir_(dir) {}
    ~rsyslog_collector() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    rsyslog_collector(const rsyslog_collector&) = delete;
    rsyslog_collector& operator=(const rsyslog_collector&) = delete;

    // Starts rsyslogd; false when it does not come up.
    bool start() {
        udp_port_ = free_port(SOCK_DGRAM);
        const std::string d = dir_.path().string();
        test::write_file(
            dir_.file("rsyslog.conf"),
            "global(workDirectory=\"" + d +
                "\")\n"
                "module(load=\"imtcp\")\nmodule(load=\"imudp\")\n"
                "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"0\" listenPortFileName=\"" +
                d +
                "/tcp.port\")\n"
                "input(type=\"imudp\" address=\"127.0.0.1\" port=\"" +
                std::to_string(udp_port_) +
                "\")\n"
                "template(name=\"msgonly\" type=\"string\" string=\"%msg%\\n\")\n"
                "action(type=\"omfile\" file=\"" +
                d + "/received.log\" template=\"msgonly\")\n");
        pid_ = ::fork();
        if (pid_ == 0) {
            const std::string conf = dir_.file("rsyslog.conf"), pid = dir_.file("rsyslog.pid");
            ::execl(rsyslogd, rsyslogd, "-n", "-f", conf.c_str(), "-i", pid.c_str(),
                    static_cast<char*>(nullptr));
            ::_exit(127);
        }
        if (pid_ < 0) return false;
        return eventually([&] {
            const std::string port = test::read_file(dir_.file("tcp.port"));
            if (port.empty()) return false;
            tcp_port_ = static_cast<std::uint16_t>(std::stoi(port));
            return true;
        });
    }
    [[nodiscard]] std::uint16_t tcp_port() const { return tcp_port_; }
    [[nodiscard]] std::uint16_t udp_port() const { return udp_port_; }
    [[nodiscard]] std::vector<std::string> received() const {
        std::vector<std::string> out;
        const std::string data = test::read_file(dir_.file("received.log"));
        std::size_t pos = 0;
        while (pos < data.size()) {
            const auto nl = data.find('\n', pos);
            if (nl == std::string::npos) break;
            out.push_back(data.substr(pos, nl - pos));
            pos = nl + 1;
        }
        return out;
    }

  private:
    const test::temp_dir& dir_;
    pid_t pid_ = -1;
    std::uint16_t tcp_port_ = 0, udp_port_ = 0;
};

void expect_records_arrive(bool tcp) {
    if (::access(rsyslogd, X_OK) != 0) GTEST_SKIP() << "rsyslogd is not installed";
    test::temp_dir dir;
    rsyslog_collector collector(dir);
    ASSERT_TRUE(collector.start()) << "rsyslogd did not start";

    syslog_options so;
    so.tcp = tcp;
    so.port = tcp ? collector.tcp_port() : collector.udp_port();
    auto forwarder = std::make_shared<syslog_forwarder>(so);
    if (!tcp) {
        // UDP has no handshake: wait until rsyslog's UDP input takes messages at all.
        const std::string probe = "{\"probe\":true}";
        ASSERT_TRUE(eventually([&] {
            forwarder->forward(probe);
            forwarder->flush();
            return !collector.received().empty();
        }));
    }
    const std::size_t before = collector.received().size();

    writer_options wo;
    wo.path = dir.file("audit.jsonl");
    wo.sync = sync_policy::none;
    auto file = std::make_shared<file_writer>(wo);
    tee_sink tee(file, forwarder);
    ASSERT_FALSE(file->start());
    std::set<std::string> ids;
    for (int i = 0; i < 20; ++i) {
        record r = test::sample_record(i);
        ids.insert(r.id);
        ASSERT_FALSE(test::append_wait(tee, std::move(r)));
    }
    file->flush();
    forwarder->flush();
    // Late UDP probes may still trickle in: count record lines only.
    auto records_received = [&] {
        const auto lines = collector.received();
        return static_cast<std::size_t>(
            std::count_if(lines.begin() + static_cast<std::ptrdiff_t>(before), lines.end(),
                          [](const std::string& l) { return l.find("\"hash\"") != l.npos; }));
    };
    ASSERT_TRUE(eventually([&] { return records_received() >= 20; }))
        << "received " << records_received() << " of 20";
    std::set<std::string> got;
    const auto lines = collector.received();
    for (std::size_t i = before; i < lines.size(); ++i) {
        std::string_view line = lines[i];
        while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        boost::system::error_code ec;
        const auto v = boost::json::parse(line, ec);
        ASSERT_FALSE(ec) << "line " << i << " is not JSON";
        ASSERT_TRUE(v.is_object());
        if (v.as_object().contains("probe")) continue;
        got.insert(std::string(v.at("id").as_string()));
        EXPECT_EQ(v.at("hash").as_string().size(), 64u);
    }
    EXPECT_EQ(got, ids);
    EXPECT_EQ(forwarder->counters().lost, 0u);
}

TEST(AuditSyslog, DeliversRecordsToRsyslogOverTcp) { expect_records_arrive(true); }

TEST(AuditSyslog, DeliversRecordsToRsyslogOverUdp) { expect_records_arrive(false); }

TEST(AuditSyslog, FormatsRfc5424WithDecisionSeverity) {
    syslog_options so;
    so.facility = 13;
    const std::string msg = syslog_forwarder::format_message(
        so,
        "{\"seq\":1,\"id\":\"x\",\"time\":\"t\",\"mode\":\"enforce\",\"decision\":\"blocked\"}\n");
    EXPECT_EQ(msg.rfind("<108>1 ", 0), 0u);  // 13 * 8 + warning (4)
    EXPECT_NE(msg.find(" exportwall "), std::string::npos);
    EXPECT_NE(msg.find(" blocked - {\"seq\":1"), std::string::npos);
    EXPECT_EQ(msg.back(), '}');
}

// The file is the record of truth: a collector that is down costs syslog messages (counted),
// never an export.
TEST(AuditSyslog, ClosedPortNeverBlocksAppendsAndCountsLostMessages) {
    test::temp_dir dir;
    syslog_options so;
    so.tcp = true;
    so.port = free_port(SOCK_STREAM);  // nothing listens there
    auto forwarder = std::make_shared<syslog_forwarder>(so);
    writer_options wo;
    wo.path = dir.file("audit.jsonl");
    wo.sync = sync_policy::none;
    auto file = std::make_shared<file_writer>(wo);
    tee_sink tee(file, forwarder);
    ASSERT_FALSE(file->start());
    for (int i = 0; i < 50; ++i) ASSERT_FALSE(test::append_wait(tee, test::sample_record(i)));
    EXPECT_TRUE(tee.healthy());
    file->flush();
    forwarder->flush();
    const auto c = forwarder->counters();
    EXPECT_EQ(c.sent, 0u);
    EXPECT_EQ(c.lost, 50u);
}

// Everything a peer sends on `fd` until it closes (or a read waits more than 5 s).
std::string read_until_closed(int fd) {
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    char buf[4096];
    for (;;) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

// SIGUSR1 (logrotate's postrotate) asks for a reconnect: the forwarder drops its connection and
// the next message goes over a new one.
TEST(AuditSyslog, ReconnectSendsTheNextMessageOverANewConnection) {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(listener, 8), 0);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
    syslog_options so;
    so.tcp = true;
    so.port = ntohs(a.sin_port);
    syslog_forwarder forwarder(so);
    forwarder.forward(R"({"seq":1,"id":"before-reconnect","decision":"allowed"})");
    forwarder.flush();
    const int first = ::accept(listener, nullptr, nullptr);  // queued: connected by the send
    ASSERT_GE(first, 0);
    forwarder.reconnect();
    forwarder.forward(R"({"seq":2,"id":"after-reconnect","decision":"allowed"})");
    forwarder.flush();
    const int second = ::accept(listener, nullptr, nullptr);
    ASSERT_GE(second, 0);
    // The first connection carries the first message only and is closed by the reconnect.
    const std::string on_first = read_until_closed(first);
    EXPECT_NE(on_first.find("before-reconnect"), std::string::npos) << on_first;
    EXPECT_EQ(on_first.find("after-reconnect"), std::string::npos) << on_first;
    char byte = 0;
    timeval tv{5, 0};
    ::setsockopt(second, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string on_second;
    while (on_second.find("after-reconnect") == std::string::npos &&
           ::recv(second, &byte, 1, 0) == 1)
        on_second.push_back(byte);
    EXPECT_NE(on_second.find("after-reconnect"), std::string::npos) << on_second;
    const auto c = forwarder.counters();
    EXPECT_EQ(c.sent, 2u);
    EXPECT_EQ(c.reconnects, 1u);
    ::close(first);
    ::close(second);
    ::close(listener);
}

}  // namespace
}  // namespace exportwall::audit
