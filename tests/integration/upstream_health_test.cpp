// The active health check behind /readyz (issue 19, item 3): /readyz fails once the CRM cannot
// be reached and passes again by itself once it can — no export has to try — and with a
// health-path the CRM's answer decides.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

using namespace std::chrono_literals;

// A listening socket on 127.0.0.1 that accepts nothing: connections complete in its backlog,
// which is all a connect-only health check needs. reopen() listens on the same port again.
class bare_listener {
  public:
    bare_listener() { open(0); }
    ~bare_listener() { close(); }
    bare_listener(const bare_listener&) = delete;
    bare_listener& operator=(const bare_listener&) = delete;

    bool open(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) return false;
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 512) != 0)
            return false;
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        return true;
    }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    [[nodiscard]] std::uint16_t port() const { return port_; }

  private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

class UpstreamHealth : public proxy_fixture {
  protected:
    unsigned readyz() { return fetch(proxy_.admin_port(), get_request("/readyz")).status; }
    bool readyz_becomes(unsigned status) {
        return poll_until([&] { return readyz() == status; }, 15s);
    }
};

TEST_F(UpstreamHealth, ReadyzFollowsTheCrmWithoutAnExport) {
    bare_listener crm;
    ASSERT_NE(crm.port(), 0);
    proxy_options o;
    o.upstream_url = "http://127.0.0.1:" + std::to_string(crm.port());
    o.upstream_attributes = R"(health-interval="100ms" health-threshold="2")";
    ASSERT_TRUE(proxy_.start(dir_, make_config(dir_, o))) << proxy_.log();
    EXPECT_TRUE(readyz_becomes(200u));

    crm.close();  // the CRM goes away: connections are refused
    EXPECT_TRUE(readyz_becomes(503u)) << "/readyz still passes with the CRM gone";
    ASSERT_TRUE(crm.open(crm.port()));  // and comes back on its address
    EXPECT_TRUE(readyz_becomes(200u)) << "/readyz did not recover by itself";
    EXPECT_NE(proxy_.log().find("health check passes again"), std::string::npos);
    // No export was needed: the access log has no request line.
    EXPECT_EQ(read_file(dir_.file("access.log")).value_or(""), "");
}

TEST_F(UpstreamHealth, AHealthPathMustAnswerSuccess) {
    ASSERT_TRUE(crm_.start(dir_)) << crm_.log();
    auto stage = [&](unsigned status) {
        const std::string req =
            "POST /_stage?path=/health&type=text/plain&status=" + std::to_string(status) +
            " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            "Content-Length: 2\r\n\r\nok";
        return fetch(crm_.port(), req).status;
    };
    ASSERT_EQ(stage(503), 200u);
    proxy_options o;
    o.upstream_url = "http://127.0.0.1:" + std::to_string(crm_.port());
    o.upstream_attributes = R"(health-interval="100ms" health-threshold="1" health-path="/health")";
    ASSERT_TRUE(proxy_.start(dir_, make_config(dir_, o))) << proxy_.log();
    EXPECT_TRUE(readyz_becomes(503u)) << "a 503 health answer left /readyz passing";
    ASSERT_EQ(stage(200), 200u);
    EXPECT_TRUE(readyz_becomes(200u)) << "/readyz did not follow the health path's 200";
    // The probe carries no credential and asks for the path as configured.
    bool probed = false;
    for (const auto& r : seen().requests)
        if (r.target == "/health") {
            probed = true;
            EXPECT_FALSE(r.header("Authorization").has_value());
        }
    EXPECT_TRUE(probed);
}

TEST(UpstreamHealthConfig, ABadHealthPathIsRefusedWithItsPosition) {
    temp_dir dir;
    proxy_options o;
    o.upstream_url = "http://127.0.0.1:1";
    o.upstream_attributes = R"(health-path="health check")";
    const std::string path = dir.file("bad.xml");
    ASSERT_TRUE(write_file(path, make_config(dir, o)));
    const std::string out_file = dir.file("out.txt");
    const std::string cmd =
        exportwall_binary() + " check-config '" + path + "' >'" + out_file + "' 2>&1";
    EXPECT_NE(std::system(cmd.c_str()), 0);
    const std::string out = read_file(out_file).value_or("");
    EXPECT_NE(out.find("bad.xml:"), std::string::npos) << out;
    EXPECT_NE(out.find("health-path"), std::string::npos) << out;
}

}  // namespace
}  // namespace exportwall::itest
