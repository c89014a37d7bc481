// exportwall-http-load: the client of the profile-guided build's training run (scripts/pgo-train).
// Sends the same request over several keep-alive connections, one thread each, reads every
// answer whole and checks its status: a workload that was refused or failed would train the
// compiler on the wrong paths, so an unexpected status, a broken connection or a malformed
// answer fails the run (exit status 1) instead of going unnoticed.
//
//   exportwall-http-load --port P --target T [--method GET] [--body B] [--header "N: v"]...
//                        [--connections 4] [--requests 1000] [--expect 200]
//
// Loopback only (127.0.0.1). Written here rather than wrk or curl because the image's build
// stage, which runs the training, installs nothing but the compiler and the libraries.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

struct options {
    unsigned short port = 0;
    std::string target;
    std::string method = "GET";
    std::string body;
    std::vector<std::string> headers;
    unsigned connections = 4;
    unsigned requests = 1000;
    unsigned expect = 200;
};

struct totals {
    std::atomic<std::uint64_t> answered{0};
    std::atomic<std::uint64_t> body_bytes{0};
    std::atomic<std::uint64_t> unexpected{0};
    std::atomic<std::uint64_t> failures{0};
};

http::request<http::string_body> make_request(const options& o) {
    http::request<http::string_body> req;
    req.method_string(o.method);
    req.target(o.target);
    req.version(11);
    req.set(http::field::host, "127.0.0.1:" + std::to_string(o.port));
    for (const std::string& h : o.headers) {
        const auto colon = h.find(':');
        if (colon == std::string::npos || colon == 0)
            throw std::invalid_argument("--header wants \"Name: value\"");
        std::size_t start = colon + 1;
        while (start < h.size() && h[start] == ' ') ++start;
        req.insert(h.substr(0, colon), h.substr(start));
    }
    if (!o.body.empty()) req.body() = o.body;
    req.prepare_payload();
    return req;
}

// One connection's share of the requests, sent one after the other on a kept-alive connection
// (a new one when the server closes it).
void run_connection(const options& o, unsigned count, totals& t) {
    asio::io_context io;
    const tcp::endpoint server(asio::ip::make_address("127.0.0.1"), o.port);
    const auto req = make_request(o);
    tcp::socket socket(io);
    boost::beast::flat_buffer buffer;
    for (unsigned i = 0; i < count; ++i) {
        try {
            if (!socket.is_open()) {
                buffer.clear();
                socket.connect(server);
            }
            http::write(socket, req);
            http::response_parser<http::string_body> parser;
            parser.body_limit(std::uint64_t{1} << 30);
            http::read(socket, buffer, parser);
            const auto& res = parser.get();
            t.answered.fetch_add(1, std::memory_order_relaxed);
            t.body_bytes.fetch_add(res.body().size(), std::memory_order_relaxed);
            if (res.result_int() != o.expect) t.unexpected.fetch_add(1, std::memory_order_relaxed);
            if (!res.keep_alive()) {
                boost::system::error_code ignored;
                socket.shutdown(tcp::socket::shutdown_both, ignored);
                socket.close(ignored);
            }
        } catch (const std::exception&) {
            t.failures.fetch_add(1, std::memory_order_relaxed);
            boost::system::error_code ignored;
            socket.close(ignored);
        }
    }
}

int run(int argc, char** argv) {
    options o;
    CLI::App app{
        "exportwall-http-load: the same request over keep-alive connections, statuses checked"};
    app.add_option("--port", o.port, "exportwall's port on 127.0.0.1")->required();
    app.add_option("--target", o.target, "request target, e.g. /api/data/v9.2/contacts?$top=4")
        ->required();
    app.add_option("--method", o.method, "request method");
    app.add_option("--body", o.body, "request body");
    app.add_option("--header", o.headers, "a request header, \"Name: value\" (repeatable)");
    app.add_option("--connections", o.connections, "connections, one thread each")
        ->check(CLI::Range(1u, 256u));
    app.add_option("--requests", o.requests, "requests in all")->check(CLI::Range(1u, 10'000'000u));
    app.add_option("--expect", o.expect, "the status every answer must have")
        ->check(CLI::Range(100u, 599u));
    CLI11_PARSE(app, argc, argv);

    try {
        (void)make_request(o);  // a malformed --header fails here, before any thread starts
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exportwall-http-load: %s\n", e.what());
        return 2;
    }
    totals t;
    std::vector<std::thread> threads;
    const unsigned connections = std::min(o.connections, o.requests);
    for (unsigned c = 0; c < connections; ++c) {
        const unsigned share = o.requests / connections + (c < o.requests % connections ? 1 : 0);
        threads.emplace_back([&o, share, &t] { run_connection(o, share, t); });
    }
    for (auto& th : threads) th.join();
    std::printf(
        "%s %s: %llu answered, %llu body bytes, %llu with another status than %u, %llu failed\n",
        o.method.c_str(), o.target.c_str(), static_cast<unsigned long long>(t.answered.load()),
        static_cast<unsigned long long>(t.body_bytes.load()),
        static_cast<unsigned long long>(t.unexpected.load()), o.expect,
        static_cast<unsigned long long>(t.failures.load()));
    return t.unexpected.load() == 0 && t.failures.load() == 0 && t.answered.load() == o.requests
               ? 0
               : 1;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exportwall-http-load: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "exportwall-http-load: unexpected error\n");
    }
    return 2;
}
