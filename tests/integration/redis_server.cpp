#include "tests/integration/redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>

namespace exportwall::itest {
namespace {

constexpr const char* redis_binary = "/usr/bin/redis-server";

// One short TCP exchange with 127.0.0.1:port: sends `bytes`, reads until `enough` says so, the
// peer closes, or a second passes.
std::string talk(std::uint16_t port, const std::string& bytes) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return {};
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
        char buf[4096];
        // Every command here is followed by QUIT: the server closes after answering.
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    return out;
}

}  // namespace

bool redis_server::available() { return std::filesystem::exists(redis_binary); }

bool redis_server::start(const temp_dir& dir, std::uint16_t port,
                         const std::vector<std::string>& extra) {
    // redis-server cannot report a port it chose: take one that was free a moment ago, and try
    // again with another if it was taken meanwhile.
    for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = port != 0 ? port : unused_port();
        log_file_ = dir.file("redis-" + std::to_string(port_) + ".log");
        std::vector<std::string> argv{redis_binary,     "--port",       std::to_string(port_),
                                      "--bind",         "127.0.0.1",    "--save",
                                      "",               "--appendonly", "no",
                                      "--dir",          dir.path(),     "--daemonize",
                                      "no",             "--protected-mode", "no"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        if (!process_.start(argv, log_file_)) return false;
        std::string password;
        for (std::size_t i = 0; i + 1 < extra.size(); ++i)
            if (extra[i] == "--requirepass") password = extra[i + 1];
        const bool up = poll_until(
            [&] {
                if (!process_.running()) return true;
                return command("PING", password).find("PONG") != std::string::npos;
            },
            10s);
        if (up && process_.running()) return true;
        process_.stop();
        if (port != 0) return false;
    }
    return false;
}

void redis_server::kill() {
    process_.signal(SIGKILL);
    (void)process_.wait_exit(5s);
}

void redis_server::stop() { process_.stop(); }

std::string redis_server::command(const std::string& line, const std::string& password) const {
    std::string bytes;
    if (!password.empty()) bytes += "AUTH " + password + "\r\n";
    bytes += line + "\r\nQUIT\r\n";
    return talk(port_, bytes);
}

std::string redis_server::log() const { return read_file(log_file_).value_or(""); }

}  // namespace exportwall::itest
