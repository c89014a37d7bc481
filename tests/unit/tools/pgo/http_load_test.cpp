// exportwall-http-load (tools/pgo/http_load.cpp), the profile-guided build's training client, run
// as the real binary against a small HTTP/1.1 server on loopback: the training must fail when an
// answer is not the one expected, so these tests check that it does — and that it does not when
// the server closes connections between requests.

#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// Answers /ok with 200, /refused with 403 and /close with 200 and Connection: close; one
// connection at a time (the client's other connections wait in the backlog).
class tiny_server {
  public:
    tiny_server() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
        thread_ = std::thread([this] { run(); });
    }
    ~tiny_server() {
        stopping_ = true;
        boost::system::error_code ignored;
        tcp::socket wake(io_);
        wake.connect(acceptor_.local_endpoint(), ignored);  // unblocks accept()
        thread_.join();
    }
    tiny_server(const tiny_server&) = delete;
    tiny_server& operator=(const tiny_server&) = delete;

    unsigned short port() const { return acceptor_.local_endpoint().port(); }
    int connections() const { return connections_.load(); }
    int requests() const { return requests_.load(); }

  private:
    void run() {
        for (;;) {
            tcp::socket socket(io_);
            boost::system::error_code ec;
            acceptor_.accept(socket, ec);
            if (ec || stopping_) return;
            ++connections_;
            serve(socket);
        }
    }
    void serve(tcp::socket& socket) {
        boost::beast::flat_buffer buffer;
        for (;;) {
            http::request<http::string_body> req;
            boost::system::error_code ec;
            http::read(socket, buffer, req, ec);
            if (ec) return;
            ++requests_;
            const std::string target(req.target());
            http::response<http::string_body> res{
                target == "/refused" ? http::status::forbidden : http::status::ok, 11};
            res.body() = target == "/refused" ? "refused" : "a body";
            res.keep_alive(target != "/close" && req.keep_alive());
            res.prepare_payload();
            http::write(socket, res, ec);
            if (ec || !res.keep_alive()) return;
        }
    }

    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> connections_{0};
    std::atomic<int> requests_{0};
    std::thread thread_;
};

struct outcome {
    int status = -1;
    std::string output;
};

outcome run_load(const std::string& arguments) {
    outcome o;
    const std::string command = std::string(HTTP_LOAD_BINARY) + " " + arguments + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return o;
    char buf[512];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) o.output.append(buf, n);
    const int raw = ::pclose(pipe);
    o.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return o;
}

std::string port_of(const tiny_server& s) { return "--port " + std::to_string(s.port()); }

TEST(HttpLoad, EveryAnswerAsExpectedOnKeptAliveConnectionsPasses) {
    tiny_server server;
    const outcome o = run_load(port_of(server) + " --target /ok --connections 3 --requests 30");
    EXPECT_EQ(o.status, 0) << o.output;
    EXPECT_NE(o.output.find("30 answered"), std::string::npos) << o.output;
    EXPECT_NE(o.output.find("0 with another status than 200, 0 failed"), std::string::npos)
        << o.output;
    EXPECT_EQ(server.requests(), 30);
    EXPECT_EQ(server.connections(), 3);  // kept alive: one connection per thread
}

TEST(HttpLoad, AnAnswerWithAnotherStatusFailsTheRun) {
    tiny_server server;
    const outcome o = run_load(port_of(server) + " --target /refused --requests 5");
    EXPECT_EQ(o.status, 1) << o.output;
    EXPECT_NE(o.output.find("5 with another status than 200"), std::string::npos) << o.output;
}

TEST(HttpLoad, TheExpectedRefusalPasses) {
    tiny_server server;
    const outcome o = run_load(port_of(server) + " --target /refused --requests 5 --expect 403");
    EXPECT_EQ(o.status, 0) << o.output;
}

TEST(HttpLoad, AServerThatClosesEachConnectionIsReconnectedTo) {
    tiny_server server;
    const outcome o = run_load(port_of(server) + " --target /close --connections 2 --requests 10");
    EXPECT_EQ(o.status, 0) << o.output;
    EXPECT_EQ(server.requests(), 10);
    EXPECT_EQ(server.connections(), 10);
}

TEST(HttpLoad, NothingListeningFailsTheRun) {
    unsigned short port = 0;
    {
        tiny_server gone;  // a port that was free a moment ago, and is closed again
        port = gone.port();
    }
    const outcome o = run_load("--port " + std::to_string(port) + " --target /ok --requests 3");
    EXPECT_EQ(o.status, 1) << o.output;
    EXPECT_NE(o.output.find("3 failed"), std::string::npos) << o.output;
}

TEST(HttpLoad, AMalformedHeaderIsAUsageError) {
    tiny_server server;
    const outcome o = run_load(port_of(server) + " --target /ok --header NoColon");
    EXPECT_EQ(o.status, 2) << o.output;
    EXPECT_EQ(server.requests(), 0);
}

}  // namespace
