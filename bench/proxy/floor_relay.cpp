// exportwall-floor-relay — the least a keep-alive HTTP/1.1 relay built from what exportwall is
// built from (Asio, C++20 coroutines, one io_context per thread) does per request, as a yardstick
// for issue 20 (bench/proxy/compare-floor): read a GET head, send it unchanged on the
// connection's own upstream connection, relay the answer as it is read (Content-Length or chunked
// framing followed, nothing parsed beyond it), write one access-log line a request — and with
// --audit, one stand-in audit record a request: a line of the size of exportwall's, chained with
// SHA-256 to the one before and written with one pwrite under a lock shared by the threads, as
// exportwall's audit writer does. No policy, no decision, no filter, no HTTP library: what is
// left between this and exportwall is exportwall's own work per request.
//
// Not a proxy to run: GET without a body only (anything else is answered 501 and closed), no
// timeouts, no header checks. Loopback only.
//
//   exportwall-floor-relay --port-file FILE --upstream-port N [--threads N]
//                          [--access-log FILE] [--audit FILE]
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t max_head = 65536;
constexpr std::size_t audit_line_bytes = 944;  // an exportwall record of a small export

int access_log_fd = -1;
unsigned short upstream_port = 0;

// The stand-in audit trail: each line carries the previous line's digest, as exportwall's chain.
struct audit_trail {
    int fd = -1;
    std::mutex mutex;
    std::uint64_t seq = 0;
    off_t offset = 0;
    std::array<unsigned char, 32> head{};
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    audit_trail() = default;
    audit_trail(const audit_trail&) = delete;
    audit_trail& operator=(const audit_trail&) = delete;
    audit_trail(audit_trail&&) = delete;
    audit_trail& operator=(audit_trail&&) = delete;
    ~audit_trail() { EVP_MD_CTX_free(ctx); }

    void append(std::size_t bytes_out) {
        std::array<char, audit_line_bytes> line{};
        std::lock_guard lock(mutex);
        int n =
            std::snprintf(line.data(), line.size(), "{\"seq\":%llu,\"bytes_out\":%zu,\"prev\":\"",
                          static_cast<unsigned long long>(++seq), bytes_out);
        for (unsigned char b : head) n += std::snprintf(line.data() + n, 3, "%02x", b);
        std::memset(line.data() + n, ' ', line.size() - static_cast<std::size_t>(n) - 2);
        line[line.size() - 2] = '}';
        line[line.size() - 1] = '\n';
        unsigned int len = 0;
        EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
        EVP_DigestUpdate(ctx, line.data(), line.size());
        EVP_DigestFinal_ex(ctx, head.data(), &len);
        if (::pwrite(fd, line.data(), line.size(), offset) == static_cast<ssize_t>(line.size()))
            offset += static_cast<off_t>(line.size());
    }
};
audit_trail* trail = nullptr;

bool iequals_prefix(std::string_view line, std::string_view name) {
    if (line.size() < name.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if ((line[i] | 0x20) != (name[i] | 0x20)) return false;
    return true;
}

// The framing of an answer, from its head: chunked, a length, or until the upstream closes.
struct framing {
    enum class kind { length, chunked, close } how = kind::close;
    std::uint64_t left = 0;  // length: body bytes still to come
    // chunked: 0 size digits, 1 rest of the size line, 2 data, 3 CRLF after data, 4 trailer line
    int state = 0;
    bool line_empty = true;
    bool done = false;

    static framing of(std::string_view head) {
        framing f;
        std::size_t at = head.find("\r\n");
        while (at != std::string_view::npos && at + 2 < head.size()) {
            const std::size_t end = head.find("\r\n", at + 2);
            const std::string_view line = head.substr(at + 2, end - at - 2);
            if (iequals_prefix(line, "transfer-encoding:") &&
                line.find("chunked") != std::string_view::npos) {
                f.how = kind::chunked;
            } else if (iequals_prefix(line, "content-length:") && f.how != kind::chunked) {
                f.how = kind::length;
                f.left = std::strtoull(line.data() + 15, nullptr, 10);
            }
            at = end;
        }
        f.done = f.how == kind::length && f.left == 0;
        return f;
    }

    // Follows the body through `bytes`; returns how many belong to this answer.
    std::size_t take(std::string_view bytes) {
        if (how == kind::close) return bytes.size();
        if (how == kind::length) {
            const std::size_t n = std::min<std::uint64_t>(left, bytes.size());
            left -= n;
            done = left == 0;
            return n;
        }
        std::size_t i = 0;
        while (i < bytes.size() && !done) {
            const char c = bytes[i];
            switch (state) {
                case 0:
                case 1:
                    if (c == '\n') {
                        state = left == 0 ? 4 : 2;
                        line_empty = true;
                    } else if (state == 0 && std::isxdigit(static_cast<unsigned char>(c))) {
                        left = left * 16 + static_cast<std::uint64_t>(
                                               std::isdigit(static_cast<unsigned char>(c))
                                                   ? c - '0'
                                                   : (c | 0x20) - 'a' + 10);
                    } else {
                        state = 1;
                    }
                    ++i;
                    break;
                case 2: {
                    const std::size_t n = std::min<std::uint64_t>(left, bytes.size() - i);
                    left -= n;
                    i += n;
                    if (left == 0) state = 3;
                    break;
                }
                case 3:
                    if (c == '\n') state = 0;
                    ++i;
                    break;
                default:  // trailer lines until an empty one
                    if (c == '\n') {
                        if (line_empty) done = true;
                        line_empty = true;
                    } else if (c != '\r') {
                        line_empty = false;
                    }
                    ++i;
                    break;
            }
        }
        return i;
    }
};

net::awaitable<void> session(tcp::socket client) {
    auto ex = co_await net::this_coro::executor;
    tcp::socket upstream(ex);
    std::string in;
    std::vector<char> buf(65536);
    boost::system::error_code ec;
    auto tuple = net::as_tuple(net::use_awaitable);
    client.set_option(tcp::no_delay(true), ec);
    for (;;) {
        std::size_t head_end = 0;
        while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
            if (in.size() > max_head) co_return;
            auto [rec, n] = co_await client.async_read_some(net::buffer(buf), tuple);
            if (rec) co_return;
            in.append(buf.data(), n);
        }
        head_end += 4;
        const std::string_view head(in.data(), head_end);
        if (!head.starts_with("GET ") || framing::of(head).how != framing::kind::close) {
            static constexpr std::string_view refused =
                "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            co_await net::async_write(client, net::buffer(refused), tuple);
            co_return;
        }
        if (!upstream.is_open()) {
            auto [cec] = co_await upstream.async_connect(
                tcp::endpoint(net::ip::address_v4::loopback(), upstream_port), tuple);
            if (cec) co_return;
            upstream.set_option(tcp::no_delay(true), ec);
        }
        if (auto [wec, w] =
                co_await net::async_write(upstream, net::buffer(in.data(), head_end), tuple);
            wec)
            co_return;
        in.erase(0, head_end);
        // The answer: its head (bounded), then its body as framed, each read written on.
        std::string answer;
        framing f;
        std::size_t body_from = std::string::npos;
        std::size_t sent = 0;
        for (;;) {
            auto [rec, n] = co_await upstream.async_read_some(net::buffer(buf), tuple);
            if (rec && f.how != framing::kind::close) co_return;
            std::string_view got(buf.data(), rec ? 0 : n);
            if (body_from == std::string::npos) {
                answer.append(got);
                const std::size_t e = answer.find("\r\n\r\n");
                if (e == std::string::npos) {
                    if (answer.size() > max_head) co_return;
                    continue;
                }
                body_from = e + 4;
                f = framing::of(std::string_view(answer).substr(0, body_from));
                const std::size_t used = f.take(std::string_view(answer).substr(body_from));
                answer.resize(body_from + used);
                got = answer;
            } else {
                got = got.substr(0, f.take(got));
            }
            const bool end = f.done || rec;
            if (!got.empty()) {
                auto [wec, w] = co_await net::async_write(client, net::buffer(got), tuple);
                if (wec) co_return;
                sent += w;
            }
            if (end) break;
        }
        std::array<char, 160> line{};
        const int len = std::snprintf(line.data(), line.size(), "127.0.0.1 GET 200 %zu\n", sent);
        if (access_log_fd >= 0)
            (void)!::write(access_log_fd, line.data(), static_cast<std::size_t>(len));
        if (trail != nullptr) trail->append(sent);
        if (f.how == framing::kind::close) co_return;
    }
}

net::awaitable<void> listen(tcp::acceptor& acceptor) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
        if (ec) co_return;
        net::co_spawn(acceptor.get_executor(), session(std::move(socket)), net::detached);
    }
}

int run(int argc, char** argv) {
    CLI::App app(
        "exportwall-floor-relay: the least relay, a yardstick (bench/proxy/compare-floor)");
    std::string port_file, access_log, audit;
    unsigned threads = 2;
    app.add_option("--port-file", port_file, "where the listening port is written")->required();
    app.add_option("--upstream-port", upstream_port, "the CRM on 127.0.0.1")->required();
    app.add_option("--threads", threads, "I/O threads, each with its own acceptor")
        ->check(CLI::Range(1U, 64U));
    app.add_option("--access-log", access_log, "a line a request (default: none)");
    app.add_option("--audit", audit, "stand-in audit records, chained (default: none)");
    CLI11_PARSE(app, argc, argv);
    if (!access_log.empty())
        access_log_fd = ::open(access_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    audit_trail audit_state;
    if (!audit.empty()) {
        audit_state.fd = ::open(audit.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (audit_state.fd < 0) {
            std::perror(audit.c_str());
            return 1;
        }
        trail = &audit_state;
    }
    std::vector<std::unique_ptr<net::io_context>> contexts;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    unsigned short port = 0;
    for (unsigned i = 0; i < threads; ++i) {
        contexts.push_back(std::make_unique<net::io_context>(1));
        auto acceptor = std::make_unique<tcp::acceptor>(*contexts.back());
        const tcp::endpoint at(net::ip::address_v4::loopback(), port);
        acceptor->open(at.protocol());
        int one = 1;
        ::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        acceptor->bind(at);
        acceptor->listen();
        port = acceptor->local_endpoint().port();
        net::co_spawn(*contexts.back(), listen(*acceptor), net::detached);
        acceptors.push_back(std::move(acceptor));
    }
    net::signal_set stop(*contexts.front(), SIGINT, SIGTERM);
    stop.async_wait([&](const boost::system::error_code&, int) {
        for (auto& c : contexts) c->stop();
    });
    {
        std::ofstream(port_file + ".tmp") << port << '\n';
        std::rename((port_file + ".tmp").c_str(), port_file.c_str());
    }
    std::vector<std::thread> pool;
    for (std::size_t i = 1; i < contexts.size(); ++i)
        pool.emplace_back([c = contexts[i].get()] { c->run(); });
    contexts.front()->run();
    for (auto& t : pool) t.join();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exportwall-floor-relay: %s\n", e.what());
    } catch (...) {
        std::fputs("exportwall-floor-relay: unknown error\n", stderr);
    }
    return 1;
}
