#include "audit/syslog_forwarder.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "audit/reader.hpp"
#include "tests/unit/audit/audit_test_support.hpp"

namespace exportwall::audit {
namespace {

using namespace std::chrono_literals;

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

// The "id" member of the JSON record inside a syslog message ("" when there is none).
std::string id_in(std::string_view msg) {
    constexpr std::string_view key = "\"id\":\"";
    const auto at = msg.find(key);
    if (at == std::string_view::npos) return {};
    const auto end = msg.find('"', at + key.size());
    return std::string(msg.substr(at + key.size(), end - at - key.size()));
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

// A syslog collector played by the test over TCP: its port is bound at once (so it stays this
// test's) and listens only once listen() is called — before that, connections are refused. It
// reads RFC 6587 octet-counted frames from every connection it accepts, and can close each
// connection after a number of messages (a collector that dies with them in its buffers).
class test_collector {
  public:
    test_collector() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            std::abort();
        port_ = ntohs(a.sin_port);
    }
    ~test_collector() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        for (auto& c : conns_) ::close(c.fd);
        ::close(fd_);
    }
    test_collector(const test_collector&) = delete;
    test_collector& operator=(const test_collector&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }
    // Accepts from now on; each connection is closed after `close_after` messages (0: never).
    void listen(std::size_t close_after = 0) {
        close_after_ = close_after;
        ASSERT_EQ(::listen(fd_, 16), 0);
        thread_ = std::thread([this] { run(); });
    }
    // The messages of each connection, in the order accepted.
    [[nodiscard]] std::vector<std::vector<std::string>> connections() const {
        std::lock_guard lk(mutex_);
        return messages_;
    }
    // Messages received over all connections so far.
    [[nodiscard]] std::size_t total() const {
        std::size_t n = 0;
        for (const auto& conn : connections()) n += conn.size();
        return n;
    }
    // How often each record id arrived, over all connections.
    [[nodiscard]] std::map<std::string, int> ids() const {
        std::map<std::string, int> out;
        for (const auto& conn : connections())
            for (const auto& m : conn) out[id_in(m)]++;
        return out;
    }

  private:
    struct connection {
        int fd;
        std::size_t index;
        std::string buffer;
        std::size_t messages = 0;
    };

    void run() {
        while (!stop_) {
            std::vector<pollfd> fds{{fd_, POLLIN, 0}};
            for (const auto& c : conns_) fds.push_back({c.fd, POLLIN, 0});
            if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
            if ((fds[0].revents & POLLIN) != 0) {
                const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
                if (c >= 0) {
                    std::lock_guard lk(mutex_);
                    messages_.emplace_back();
                    conns_.push_back({c, messages_.size() - 1, {}});
                }
            }
            for (std::size_t i = 0; i < conns_.size();) {
                if (i + 1 >= fds.size() || (fds[i + 1].revents & (POLLIN | POLLHUP)) == 0) {
                    ++i;
                    continue;
                }
                if (!read_from(conns_[i])) {
                    ::close(conns_[i].fd);
                    conns_.erase(conns_.begin() + static_cast<std::ptrdiff_t>(i));
                    fds.erase(fds.begin() + static_cast<std::ptrdiff_t>(i) + 1);
                    continue;
                }
                ++i;
            }
        }
    }
    // False when the connection ends (the peer closed, or close_after was reached).
    bool read_from(connection& c) {
        char buf[65536];
        const auto n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n <= 0) return false;
        c.buffer.append(buf, static_cast<std::size_t>(n));
        for (;;) {
            const auto sp = c.buffer.find(' ');
            if (sp == std::string::npos) break;
            const std::size_t len = std::stoul(c.buffer.substr(0, sp));
            if (c.buffer.size() < sp + 1 + len) break;
            {
                std::lock_guard lk(mutex_);
                messages_[c.index].push_back(c.buffer.substr(sp + 1, len));
            }
            c.buffer.erase(0, sp + 1 + len);
            if (close_after_ != 0 && ++c.messages >= close_after_) return false;
        }
        return true;
    }

    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::size_t close_after_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::vector<connection> conns_;  // the collector thread's
    mutable std::mutex mutex_;
    std::vector<std::vector<std::string>> messages_;
};

// A trail in a temporary directory and its writer.
struct trail {
    test::temp_dir dir;
    std::string path = dir.file("audit.jsonl");
    std::shared_ptr<file_writer> writer;

    explicit trail(std::uint64_t rotate_bytes = 256ull << 20) {
        writer_options wo;
        wo.path = path;
        wo.sync = sync_policy::none;
        wo.rotate_bytes = rotate_bytes;
        wo.replica = "replica-a";
        writer = std::make_shared<file_writer>(wo);
        if (writer->start()) std::abort();
    }
    // Appends n sample records; their ids.
    std::vector<std::string> append(int n, int from = 0) {
        std::vector<std::string> ids;
        for (int i = from; i < from + n; ++i) {
            record r = test::sample_record(i);
            ids.push_back(r.id);
            if (test::append_wait(*writer, std::move(r))) std::abort();
        }
        return ids;
    }
    // Forwarder options for this trail: TCP to `port`, settled at once, quick retries.
    [[nodiscard]] syslog_options options(std::uint16_t port) const {
        syslog_options so;
        so.trail_path = path;
        auto w = writer;
        so.committed = [w] { return w->committed(); };
        so.transport = syslog_transport::tcp;
        so.port = port;
        so.settle = 0ms;
        so.retry_initial = 10ms;
        so.retry_max = 50ms;
        so.poll_interval = 50ms;
        return so;
    }
    // A forwarder whose writer wakes it.
    std::shared_ptr<syslog_forwarder> forward(syslog_options so) {
        auto f = std::make_shared<syslog_forwarder>(std::move(so));
        std::weak_ptr<syslog_forwarder> weak = f;
        writer->set_on_commit([weak] {
            if (auto s = weak.lock()) s->notify();
        });
        return f;
    }
};

void expect_records_arrive(bool tcp) {
    if (::access(rsyslogd, X_OK) != 0) GTEST_SKIP() << "rsyslogd is not installed";
    test::temp_dir rdir;
    rsyslog_collector collector(rdir);
    ASSERT_TRUE(collector.start()) << "rsyslogd did not start";

    trail t;
    auto so = t.options(tcp ? collector.tcp_port() : collector.udp_port());
    so.transport = tcp ? syslog_transport::tcp : syslog_transport::udp;
    if (!tcp) {
        // UDP has no handshake: wait until rsyslog's UDP input takes messages at all.
        syslog_connection probe;
        std::string error;
        ASSERT_TRUE(
            probe.open("127.0.0.1", collector.udp_port(), syslog_transport::udp, {}, 1s, error))
            << error;
        ASSERT_TRUE(eventually([&] {
            (void)probe.write_some("<14>1 - - probe - - {\"probe\":true}", error);
            return !collector.received().empty();
        }));
    }
    const std::size_t before = collector.received().size();
    auto forwarder = t.forward(so);
    const auto written = t.append(20);
    const std::set<std::string> ids(written.begin(), written.end());
    ASSERT_TRUE(forwarder->flush(10s));
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
        EXPECT_EQ(v.at("replica").as_string(), "replica-a");
    }
    EXPECT_EQ(got, ids);
    const auto c = forwarder->counters();
    EXPECT_EQ(c.lost, 0u);
    EXPECT_EQ(c.sent, 20u);
    EXPECT_EQ(c.records_pending, 0u);
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

// The file is the record of truth: a collector that is down delays records, never an export,
// and nothing is dropped — the records wait in the trail, counted as pending.
TEST(AuditSyslog, ClosedPortNeverBlocksAppendsAndKeepsRecordsPending) {
    test_collector down;  // bound, not listening: connections are refused
    trail t;
    auto forwarder = t.forward(t.options(down.port()));
    t.append(50);
    EXPECT_TRUE(t.writer->healthy());
    EXPECT_FALSE(forwarder->flush(200ms));
    const auto c = forwarder->counters();
    EXPECT_EQ(c.sent, 0u);
    EXPECT_EQ(c.lost, 0u);
    EXPECT_EQ(c.records_pending, 50u);
    EXPECT_GT(c.bytes_pending, 0u);
    EXPECT_GT(c.errors, 0u);
}

// The done-when of issue 19 item 4 in small: records written while the collector is down
// arrive once it listens, each exactly once over a connection that stays up.
TEST(AuditSyslog, RecordsWrittenWhileTheCollectorIsDownArriveWhenItListens) {
    test_collector collector;
    trail t;
    auto forwarder = t.forward(t.options(collector.port()));
    const auto ids = t.append(10);
    EXPECT_FALSE(forwarder->flush(100ms));
    collector.listen();
    ASSERT_TRUE(forwarder->flush(10s));
    // Acknowledged by the collector's kernel: its thread reads them soon after.
    ASSERT_TRUE(eventually([&] { return collector.total() >= 10; }));
    const auto got = collector.ids();
    for (const auto& id : ids) EXPECT_EQ(got.count(id) ? got.at(id) : 0, 1) << id;
    EXPECT_EQ(forwarder->counters().sent, 10u);
    EXPECT_EQ(forwarder->counters().records_pending, 0u);
}

// A new process resumes after what the collector acknowledged (the state file beside the
// trail), without sending the trail again.
TEST(AuditSyslog, ResumesFromTheStateFileWithoutSendingAgain) {
    test_collector collector;
    collector.listen();
    trail t;
    const auto first = t.append(5);
    {
        auto forwarder = t.forward(t.options(collector.port()));
        ASSERT_TRUE(forwarder->flush(10s));
    }
    const auto state = read_small_file(syslog_state_path(t.path));
    ASSERT_TRUE(state.has_value());
    const auto saved = parse_syslog_state(*state);
    ASSERT_TRUE(saved.has_value()) << *state;
    EXPECT_EQ(saved->seq, 5u);
    const auto second = t.append(3, 5);
    auto forwarder = t.forward(t.options(collector.port()));
    ASSERT_TRUE(forwarder->flush(10s));
    ASSERT_TRUE(eventually([&] { return collector.total() >= 8; }));
    const auto conns = collector.connections();
    ASSERT_EQ(conns.size(), 2u);
    ASSERT_EQ(conns[0].size(), 5u);
    for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(id_in(conns[0][i]), first[i]);
    ASSERT_EQ(conns[1].size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(id_in(conns[1][i]), second[i]);
    EXPECT_EQ(forwarder->counters().sent, 3u);
}

// A collector that dies with records read but perhaps not processed: whatever was acknowledged
// less than `settle` before the connection was lost is sent again over the next one.
TEST(AuditSyslog, ResendsWhatWasNotSettledWhenTheCollectorDropsTheConnection) {
    test_collector collector;
    collector.listen(/*close_after=*/3);
    trail t;
    auto so = t.options(collector.port());
    so.settle = 10min;  // nothing settles during the test
    auto forwarder = t.forward(so);
    const auto ids = t.append(3);
    // Every connection carries the three records and is closed: they keep coming back.
    ASSERT_TRUE(eventually([&] { return collector.connections().size() >= 4; }));
    // Every connection but the newest is over (the forwarder opened the next one after it).
    const auto conns = collector.connections();
    for (std::size_t c = 0; c + 1 < conns.size(); ++c) {
        ASSERT_EQ(conns[c].size(), 3u);
        for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(id_in(conns[c][i]), ids[i]);
    }
    EXPECT_GE(forwarder->counters().resent, 3u);
    EXPECT_EQ(forwarder->delivered().seq, 0u);
}

// Rotated files are followed in order, each record sent once.
TEST(AuditSyslog, FollowsRotatedFilesInOrder) {
    test_collector collector;
    collector.listen();
    trail t(/*rotate_bytes=*/3000);
    const auto ids = t.append(30);
    ASSERT_GT(find_log_files(t.path).size(), 3u);
    auto forwarder = t.forward(t.options(collector.port()));
    ASSERT_TRUE(forwarder->flush(10s));
    ASSERT_TRUE(eventually([&] { return collector.total() >= ids.size(); }));
    const auto conns = collector.connections();
    ASSERT_EQ(conns.size(), 1u);
    ASSERT_EQ(conns[0].size(), ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(id_in(conns[0][i]), ids[i]);
    EXPECT_EQ(forwarder->delivered().seq, 30u);
}

// Shipped rotated files are pruned by the budget; the trail still verifies from the first
// record kept, and an unshipped file is never pruned.
TEST(AuditSyslog, PrunesOnlyShippedFilesByTheBudget) {
    test_collector down;
    trail t(/*rotate_bytes=*/3000);
    auto so = t.options(down.port());
    so.retention.keep_bytes = 4000;
    {
        auto forwarder = t.forward(so);
        t.append(30);
        EXPECT_FALSE(forwarder->flush(300ms));
        EXPECT_TRUE(eventually([&] { return forwarder->counters().files_kept_unshipped > 0; }));
        EXPECT_EQ(forwarder->counters().files_pruned, 0u);
    }
    const auto before = find_log_files(t.path).size();
    down.listen();
    auto forwarder = t.forward(so);
    ASSERT_TRUE(forwarder->flush(10s));
    t.append(1, 30);  // a rotation later, the delivered position is in the newest file
    ASSERT_TRUE(forwarder->flush(10s));
    EXPECT_TRUE(eventually([&] { return forwarder->counters().files_pruned > 0; }));
    EXPECT_LT(find_log_files(t.path).size(), before);
    const auto res = verify_chain(t.path);
    EXPECT_TRUE(res.ok) << res.detail();
    EXPECT_GT(res.first_seq, 1u);
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

// The next connection waiting on `listener`, or -1 when none comes within 10 s.
int accept_within(int listener) {
    pollfd p{listener, POLLIN, 0};
    if (::poll(&p, 1, 10'000) != 1) return -1;
    return ::accept(listener, nullptr, nullptr);
}

// SIGUSR1 (logrotate's postrotate) asks for a reconnect: the forwarder drops its connection and
// the next record goes over a new one.
TEST(AuditSyslog, ReconnectSendsTheNextRecordOverANewConnection) {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(listener, 8), 0);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
    trail t;
    auto forwarder = t.forward(t.options(ntohs(a.sin_port)));
    const auto before = t.append(1);
    ASSERT_TRUE(forwarder->flush(10s));
    const int first = accept_within(listener);  // queued: connected by the send
    ASSERT_GE(first, 0);
    forwarder->reconnect();
    const auto after = t.append(1, 1);
    ASSERT_TRUE(forwarder->flush(10s));
    const int second = accept_within(listener);
    ASSERT_GE(second, 0);
    // The first connection carries the first record only and is closed by the reconnect.
    const std::string on_first = read_until_closed(first);
    EXPECT_NE(on_first.find(before[0]), std::string::npos) << on_first;
    EXPECT_EQ(on_first.find(after[0]), std::string::npos) << on_first;
    char byte = 0;
    timeval tv{5, 0};
    ::setsockopt(second, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string on_second;
    while (on_second.find(after[0]) == std::string::npos && ::recv(second, &byte, 1, 0) == 1)
        on_second.push_back(byte);
    EXPECT_NE(on_second.find(after[0]), std::string::npos) << on_second;
    EXPECT_EQ(on_second.find(before[0]), std::string::npos) << on_second;
    const auto c = forwarder->counters();
    EXPECT_EQ(c.sent, 2u);
    EXPECT_EQ(c.reconnects, 1u);
    ::close(first);
    ::close(second);
    ::close(listener);
}

}  // namespace
}  // namespace exportwall::audit
