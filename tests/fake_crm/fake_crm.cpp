// fake_crm — a test upstream for exportwall's integration tests and benchmarks.
//
//   fake_crm [--tls CERT KEY] [--port-file FILE] [--address ADDR]
//
// Listens on ADDR (default 127.0.0.1) port 0 and writes the bound port to FILE (atomically: temp
// file + rename) or, without --port-file, as the first line of stdout. Runs until SIGTERM/SIGINT.
// HTTP/1.1 with keep-alive and pipelining; plain or TLS.
//
// Endpoints are chosen by the LAST path segment, so that any route prefix the proxy maps works
// ("/api/v1/gen" is "gen"); query parameters tune them:
//   fixed                      the JSON body generated_body.hpp's fixed_body (Content-Length);
//                              chunked=1 sends it chunked
//   gen?bytes=N                N bytes of the deterministic pattern (generated_body.hpp);
//                              chunked=1 (chunk=K bytes per chunk, default 16384) or
//                              Content-Length; probe=ID records the bytes whose writes completed
//                              under ID
//   slow?id=ID&chunks=N&size=S chunked; the first chunk at once, each further chunk only after a
//                              GET /_release?id=ID (n=K releases K chunks) on another connection
//   misframed?kind=K           short_cl: Content-Length larger than the bytes sent, then close;
//                              bad_chunk: a valid chunk, then an invalid chunk size;
//                              close_mid: chunked, some chunks, then close without the last chunk;
//                              long_ext / long_trailer: one 1 KiB chunk, then a chunk extension
//                              or a trailer field of junk=N bytes (default 1 MiB) that never
//                              ends, then close;
//                              bytes=N (default 100000) sets how much is sent before the fault
//   hang                       reads the request, never answers (until the peer closes)
//   drop                       closes the connection without answering
//   status?code=C              status C with a small JSON body
//   echo                       200 with the request body as its body
//   anything else              200 {"endpoint":"default"} (the desync cases' /foo/bar)
// Control endpoints (exact paths, never recorded):
//   /_seen     JSON: every request parsed on a non-control connection (connection id, method,
//              target, headers, body bytes), the number of parse errors, and the probes
//              ({"ID":{"written":W,"done":B,"write_pending":B,"pending_ms":M}})
//   /_reset    forgets the requests, parse errors and probes
//   /_release  see slow
//   /_stage    POST /_stage?path=P&type=T[&encoding=E][&status=C][&chunk=K][&link=L][&location=U]:
//              the request body becomes what GET/POST/HEAD of exactly path P serves (its query
//              string is ignored, so every $select variant gets the same body; the request is still
//              recorded with its full target). Status C (default 200), Content-Type T.
//              encoding=gzip or deflate compresses the body (zlib) and labels it so; any other
//              encoding (e.g. br) only labels it (Content-Encoding: E, bytes as staged). chunk=K
//              sends it chunked in K-byte chunks (default: Content-Length); link=L adds a `Link`
//              header with value L, location=U a `Location` header (redirects), headers=H
//              more header lines as they are (H percent-encoded, lines separated by LF: a hostile
//              CRM's forged and extra headers). Staging the same path again replaces it.
//
// A test tool: it trusts its client; it is not hardened and never faces anything but loopback.

#include <zlib.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fake_crm/generated_body.hpp"

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

struct seen_request {
    std::uint64_t connection = 0;
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::uint64_t body_bytes = 0;
    std::string body;  // the first 64 KiB (a query language's body, as exportwall forwarded it)
};

struct probe {
    std::uint64_t written = 0;
    bool done = false;
    bool write_pending = false;
    clock_type::time_point pending_since{};
};

// A body staged with /_stage, served for one exact path.
struct staged_response {
    unsigned status = 200;
    std::string content_type;
    std::string content_encoding;  // "" = identity
    std::string link;              // a Link header value, "" = none
    std::string location;          // a Location header value, "" = none
    std::string extra_headers;     // more "Name: value" lines, LF-separated, "" = none
    std::size_t chunk = 0;         // 0 = Content-Length, else chunked in pieces of this size
    std::string body;              // already encoded
};

// zlib-compressed `in`: gzip wrapper (windowBits 31) or zlib wrapper (15). Empty on failure.
std::optional<std::string> compress(std::string_view in, bool gzip) {
    z_stream z{};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 31 : 15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return std::nullopt;
    std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 64, '\0');
    // zlib's interface is not const-correct; deflate only reads next_in.
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&z, Z_FINISH);
    const auto produced = out.size() - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) return std::nullopt;
    out.resize(produced);
    return out;
}

struct slow_gate {
    explicit slow_gate(const net::any_io_executor& ex) : timer(ex) {
        timer.expires_at(clock_type::time_point::max());
    }
    std::uint64_t credits = 0;
    net::steady_timer timer;
};

// Everything the endpoints share. One io_context on one thread: no locks.
struct crm_state {
    std::vector<seen_request> seen;
    std::uint64_t parse_errors = 0;
    std::uint64_t next_connection = 0;
    std::map<std::string, probe> probes;
    std::map<std::string, std::unique_ptr<slow_gate>> gates;
    std::map<std::string, staged_response> staged;  // exact path -> what it serves

    slow_gate& gate(const std::string& id, const net::any_io_executor& ex) {
        auto& g = gates[id];
        if (!g) g = std::make_unique<slow_gate>(ex);
        return *g;
    }
};

struct query_view {
    std::map<std::string, std::string> params;

    [[nodiscard]] std::string get(const std::string& key, std::string fallback = {}) const {
        auto it = params.find(key);
        return it == params.end() ? fallback : it->second;
    }
    [[nodiscard]] std::uint64_t number(const std::string& key, std::uint64_t fallback) const {
        auto it = params.find(key);
        if (it == params.end() || it->second.empty()) return fallback;
        std::uint64_t v = 0;
        for (char c : it->second) {
            if (c < '0' || c > '9') return fallback;
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
        }
        return v;
    }
};

std::pair<std::string, query_view> split_target(std::string_view target) {
    query_view q;
    std::string path(target.substr(0, target.find('?')));
    auto parsed = boost::urls::parse_origin_form(target);
    if (parsed) {
        for (auto param : parsed->params()) q.params[param.key] = param.value;
    }
    return {path, q};
}

std::string last_segment(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string hex(std::uint64_t v) {
    std::array<char, 20> buf{};
    int n = std::snprintf(buf.data(), buf.size(), "%llx", static_cast<unsigned long long>(v));
    return std::string(buf.data(), static_cast<std::size_t>(n));
}

std::string head(unsigned status, std::string_view reason, std::string_view content_type,
                 std::optional<std::uint64_t> content_length, bool keep_alive) {
    std::string h = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
    h += "Server: fake-crm\r\n";
    if (!content_type.empty()) h += "Content-Type: " + std::string(content_type) + "\r\n";
    if (content_length)
        h += "Content-Length: " + std::to_string(*content_length) + "\r\n";
    else
        h += "Transfer-Encoding: chunked\r\n";
    if (!keep_alive) h += "Connection: close\r\n";
    h += "\r\n";
    return h;
}

// A buffer holding the pattern from any phase: pattern_buffer().data() + (offset % period) has at
// least max_write bytes of the pattern starting at `offset`.
constexpr std::size_t max_write = 64 * 1024;
const std::vector<char>& pattern_buffer() {
    static const std::vector<char> buf = [] {
        std::vector<char> b(exportwall::test::generated_period + max_write);
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = exportwall::test::generated_byte(i);
        return b;
    }();
    return buf;
}

net::const_buffer pattern_slice(std::uint64_t offset, std::size_t n) {
    const auto& buf = pattern_buffer();
    return net::buffer(buf.data() + (offset % exportwall::test::generated_period),
                       std::min(n, max_write));
}

std::string render_seen(const crm_state& st) {
    json::object root;
    json::array requests;
    for (const auto& r : st.seen) {
        json::object o;
        o["connection"] = r.connection;
        o["method"] = r.method;
        o["target"] = r.target;
        json::array headers;
        for (const auto& [name, value] : r.headers) headers.push_back(json::array{name, value});
        o["headers"] = std::move(headers);
        o["body_bytes"] = r.body_bytes;
        o["body"] = r.body;
        requests.push_back(std::move(o));
    }
    root["requests"] = std::move(requests);
    root["parse_errors"] = st.parse_errors;
    json::object probes;
    const auto now = clock_type::now();
    for (const auto& [id, p] : st.probes) {
        json::object o;
        o["written"] = p.written;
        o["done"] = p.done;
        o["write_pending"] = p.write_pending;
        o["pending_ms"] =
            p.write_pending
                ? std::chrono::duration_cast<std::chrono::milliseconds>(now - p.pending_since)
                      .count()
                : std::int64_t{0};
        probes[id] = std::move(o);
    }
    root["probes"] = std::move(probes);
    return json::serialize(root);
}

template <class Stream>
class connection {
  public:
    connection(Stream stream, crm_state& st) : stream_(std::move(stream)), state_(st) {}

    net::awaitable<void> run() {
        const std::uint64_t id = ++state_.next_connection;
        bool control = false;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(64 * 1024);
            parser.body_limit(std::uint64_t{1} << 32);
            auto [ec, n] = co_await http::async_read(stream_, buffer_, parser, tuple_awaitable);
            (void)n;
            if (ec) {
                if (ec != http::error::end_of_stream && parser.got_some() && !control)
                    ++state_.parse_errors;
                co_return;
            }
            const auto& req = parser.get();
            const std::string target(req.target());
            auto [path, query] = split_target(target);
            const bool keep_alive = req.keep_alive();
            head_request_ = req.method() == http::verb::head;
            if (path.rfind("/_", 0) == 0) {
                control = true;
                if (!co_await answer_control(path, query, req.body(), keep_alive)) co_return;
            } else {
                seen_request r;
                r.connection = id;
                r.method = std::string(req.method_string());
                r.target = target;
                for (const auto& f : req)
                    r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
                r.body_bytes = req.body().size();
                r.body = req.body().substr(0, 64 * 1024);
                state_.seen.push_back(std::move(r));
                if (auto it = state_.staged.find(path); it != state_.staged.end()) {
                    // A copy: the staged entry may be replaced while this one is written.
                    if (!co_await serve_staged(staged_response(it->second), keep_alive)) co_return;
                } else if (!co_await answer(last_segment(path), query, req.body(), keep_alive)) {
                    co_return;
                }
            }
            if (!keep_alive) {
                co_await close();
                co_return;
            }
        }
    }

  private:
    // Each answer returns false when the connection must end (closed, error, misframed on
    // purpose).
    net::awaitable<bool> write(std::string data) {
        auto [ec, n] = co_await net::async_write(stream_, net::buffer(data), tuple_awaitable);
        (void)n;
        co_return !ec;
    }

    net::awaitable<void> close() {
        beast::error_code ignored;
        beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
        beast::get_lowest_layer(stream_).socket().close(ignored);
        co_return;
    }

    net::awaitable<bool> simple(unsigned status, std::string_view reason,
                                std::string_view content_type, std::string body, bool keep_alive) {
        std::string out = head(status, reason, content_type, body.size(), keep_alive);
        if (!head_request_) out += body;  // HEAD: the head says the length, no body follows
        co_return co_await write(std::move(out));
    }

    net::awaitable<bool> answer_control(const std::string& path, const query_view& q,
                                        const std::string& body, bool keep_alive) {
        if (path == "/_seen")
            co_return co_await simple(200, "OK", "application/json", render_seen(state_),
                                      keep_alive);
        if (path == "/_reset") {
            state_.seen.clear();
            state_.parse_errors = 0;
            state_.probes.clear();
            co_return co_await simple(200, "OK", "text/plain", "reset\n", keep_alive);
        }
        if (path == "/_release") {
            auto& g = state_.gate(q.get("id"), stream_.get_executor());
            g.credits += q.number("n", 1);
            g.timer.cancel();
            co_return co_await simple(200, "OK", "text/plain", "released\n", keep_alive);
        }
        if (path == "/_stage") {
            co_return co_await simple(stage(q, body) ? 200 : 400, "Stage", "text/plain", "staged\n",
                                      keep_alive);
        }
        co_return co_await simple(404, "Not Found", "text/plain", "no such control\n", keep_alive);
    }

    bool stage(const query_view& q, const std::string& body) {
        const std::string path = q.get("path");
        if (path.empty() || path.front() != '/') return false;
        staged_response s;
        s.status = static_cast<unsigned>(q.number("status", 200));
        s.content_type = q.get("type");
        s.content_encoding = q.get("encoding");
        s.link = q.get("link");
        s.location = q.get("location");
        s.extra_headers = q.get("headers");
        s.chunk = static_cast<std::size_t>(q.number("chunk", 0));
        if (s.content_encoding == "gzip" || s.content_encoding == "deflate") {
            auto packed = compress(body, s.content_encoding == "gzip");
            if (!packed) return false;
            s.body = std::move(*packed);
        } else {
            s.body = body;
        }
        state_.staged[path] = std::move(s);
        return true;
    }

    net::awaitable<bool> serve_staged(staged_response s, bool keep_alive) {
        std::optional<std::uint64_t> length;
        if (s.chunk == 0) length = s.body.size();
        std::string out = head(s.status, "Staged", s.content_type, length, keep_alive);
        // Extra fields go before the blank line that ends the head.
        std::string extra;
        if (!s.content_encoding.empty())
            extra += "Content-Encoding: " + s.content_encoding + "\r\n";
        if (!s.link.empty()) extra += "Link: " + s.link + "\r\n";
        if (!s.location.empty()) extra += "Location: " + s.location + "\r\n";
        for (std::size_t at = 0; at < s.extra_headers.size();) {
            auto nl = std::min(s.extra_headers.find('\n', at), s.extra_headers.size());
            extra += s.extra_headers.substr(at, nl - at) + "\r\n";
            at = nl + 1;
        }
        out.insert(out.size() - 2, extra);
        if (!head_request_) {
            if (s.chunk == 0) {
                out += s.body;
            } else {
                for (std::size_t at = 0; at < s.body.size(); at += s.chunk) {
                    const std::size_t n = std::min(s.chunk, s.body.size() - at);
                    out += hex(n) + "\r\n";
                    out.append(s.body, at, n);
                    out += "\r\n";
                }
                out += "0\r\n\r\n";
            }
        }
        co_return co_await write(std::move(out));
    }

    net::awaitable<bool> answer(const std::string& endpoint, const query_view& q,
                                const std::string& body, bool keep_alive) {
        if (endpoint == "fixed") {
            const std::string_view b = exportwall::test::fixed_body;
            if (q.get("chunked") == "1") {
                std::string out = head(200, "OK", "application/json", std::nullopt, keep_alive);
                out += hex(b.size()) + "\r\n" + std::string(b) + "\r\n0\r\n\r\n";
                co_return co_await write(std::move(out));
            }
            co_return co_await simple(200, "OK", "application/json", std::string(b), keep_alive);
        }
        if (endpoint == "gen") co_return co_await generated(q, keep_alive);
        if (endpoint == "slow") co_return co_await slow(q, keep_alive);
        if (endpoint == "misframed") co_return co_await misframed(q);
        if (endpoint == "hang") {
            // Wait for the peer to go away; never answer.
            std::array<char, 512> sink{};
            for (;;) {
                auto [ec, n] = co_await stream_.async_read_some(net::buffer(sink), tuple_awaitable);
                (void)n;
                if (ec) co_return false;
            }
        }
        if (endpoint == "drop") {
            co_await close();
            co_return false;
        }
        if (endpoint == "status") {
            const auto code = static_cast<unsigned>(q.number("code", 500));
            co_return co_await simple(code, "Status", "application/json",
                                      R"({"error":"as requested"})", keep_alive);
        }
        if (endpoint == "echo")
            co_return co_await simple(200, "OK", "application/octet-stream", body, keep_alive);
        co_return co_await simple(200, "OK", "application/json", R"({"endpoint":"default"})",
                                  keep_alive);
    }

    net::awaitable<bool> generated(const query_view& q, bool keep_alive) {
        const std::uint64_t total = q.number("bytes", 1024);
        const bool chunked = q.get("chunked") == "1";
        const std::size_t chunk = static_cast<std::size_t>(
            std::clamp<std::uint64_t>(q.number("chunk", 16384), 1, max_write));
        const std::string probe_id = q.get("probe");
        probe* p = probe_id.empty() ? nullptr : &state_.probes[probe_id];
        if (p) *p = probe{};

        std::optional<std::uint64_t> length;
        if (!chunked) length = total;
        if (!co_await write(head(200, "OK", "application/octet-stream", length, keep_alive)))
            co_return false;
        std::uint64_t offset = 0;
        while (offset < total) {
            const std::size_t n = static_cast<std::size_t>(
                std::min<std::uint64_t>(total - offset, chunked ? chunk : max_write));
            if (p) {
                p->write_pending = true;
                p->pending_since = clock_type::now();
            }
            boost::system::error_code ec;
            if (chunked) {
                const std::string size_line = hex(n) + "\r\n";
                const std::array<net::const_buffer, 3> bufs{
                    net::buffer(size_line), pattern_slice(offset, n), net::buffer("\r\n", 2)};
                std::tie(ec, std::ignore) =
                    co_await net::async_write(stream_, bufs, tuple_awaitable);
            } else {
                std::tie(ec, std::ignore) =
                    co_await net::async_write(stream_, pattern_slice(offset, n), tuple_awaitable);
            }
            // The probe may have been reset meanwhile: look it up again.
            p = probe_id.empty() ? nullptr : &state_.probes[probe_id];
            if (p) p->write_pending = false;
            if (ec) co_return false;
            offset += n;
            if (p) p->written = offset;
        }
        if (chunked && !co_await write("0\r\n\r\n")) co_return false;
        if (p) p->done = true;
        co_return true;
    }

    net::awaitable<bool> slow(const query_view& q, bool keep_alive) {
        const std::string id = q.get("id");
        const std::uint64_t chunks = q.number("chunks", 3);
        const std::size_t size = static_cast<std::size_t>(
            std::clamp<std::uint64_t>(q.number("size", 1024), 1, max_write));
        if (!co_await write(head(200, "OK", "application/octet-stream", std::nullopt, keep_alive)))
            co_return false;
        std::uint64_t offset = 0;
        for (std::uint64_t i = 0; i < chunks; ++i) {
            if (i > 0) {
                auto& g = state_.gate(id, stream_.get_executor());
                while (g.credits == 0) {
                    g.timer.expires_at(clock_type::time_point::max());
                    auto [ec] = co_await g.timer.async_wait(tuple_awaitable);
                    (void)ec;  // cancelled by /_release
                }
                --g.credits;
            }
            const std::string size_line = hex(size) + "\r\n";
            const std::array<net::const_buffer, 3> bufs{
                net::buffer(size_line), pattern_slice(offset, size), net::buffer("\r\n", 2)};
            auto [ec, n] = co_await net::async_write(stream_, bufs, tuple_awaitable);
            (void)n;
            if (ec) co_return false;
            offset += size;
        }
        co_return co_await write("0\r\n\r\n");
    }

    net::awaitable<bool> misframed(const query_view& q) {
        const std::string kind = q.get("kind", "short_cl");
        const std::uint64_t bytes = q.number("bytes", 100000);
        std::string out;
        if (kind == "short_cl") {
            out = head(200, "OK", "application/octet-stream", bytes * 2, true);
            for (std::uint64_t i = 0; i < bytes; ++i) out += exportwall::test::generated_byte(i);
        } else if (kind == "bad_chunk" || kind == "close_mid") {
            out = head(200, "OK", "application/octet-stream", std::nullopt, true);
            std::uint64_t offset = 0;
            while (offset < bytes) {
                const std::uint64_t n = std::min<std::uint64_t>(bytes - offset, 8192);
                out += hex(n) + "\r\n";
                for (std::uint64_t i = 0; i < n; ++i)
                    out += exportwall::test::generated_byte(offset + i);
                out += "\r\n";
                offset += n;
            }
            if (kind == "bad_chunk") out += "zz\r\nnot a chunk\r\n";
        } else if (kind == "long_ext" || kind == "long_trailer") {
            out = head(200, "OK", "application/octet-stream", std::nullopt, true);
            out += "400\r\n";
            for (std::uint64_t i = 0; i < 1024; ++i) out += exportwall::test::generated_byte(i);
            out += "\r\n";
            out += kind == "long_ext" ? "1;" : "0\r\nX-Trailer: ";
            out.append(q.number("junk", 1 << 20), 'e');
        } else {
            co_return co_await simple(400, "Bad Request", "text/plain", "unknown kind\n", false);
        }
        co_await write(std::move(out));
        co_await close();
        co_return false;
    }

    Stream stream_;
    crm_state& state_;
    bool head_request_ = false;
    beast::flat_buffer buffer_;
};

net::awaitable<void> serve_plain(tcp::socket socket, crm_state& st) {
    connection<beast::tcp_stream> c(beast::tcp_stream(std::move(socket)), st);
    co_await c.run();
}

net::awaitable<void> serve_tls(tcp::socket socket, ssl::context& ctx, crm_state& st) {
    ssl::stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), ctx);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, tuple_awaitable);
    if (ec) co_return;  // a client that does not trust us: the wrong-CA tests
    connection<ssl::stream<beast::tcp_stream>> c(std::move(stream), st);
    co_await c.run();
}

net::awaitable<void> accept_loop(tcp::acceptor acceptor, ssl::context* tls, crm_state& st) {
    auto ex = co_await net::this_coro::executor;
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(tuple_awaitable);
        if (ec) {
            if (ec == net::error::operation_aborted) co_return;
            continue;
        }
        socket.set_option(tcp::no_delay(true), ec);
        if (tls)
            net::co_spawn(ex, serve_tls(std::move(socket), *tls, st), net::detached);
        else
            net::co_spawn(ex, serve_plain(std::move(socket), st), net::detached);
    }
}

int usage() {
    std::cerr << "usage: fake_crm [--tls CERT KEY] [--port-file FILE] [--address ADDR]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string cert;
    std::string key;
    std::string port_file;
    std::string address = "127.0.0.1";
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--tls" && i + 2 < argc) {
            cert = argv[++i];
            key = argv[++i];
        } else if (a == "--port-file" && i + 1 < argc) {
            port_file = argv[++i];
        } else if (a == "--address" && i + 1 < argc) {
            address = argv[++i];
        } else {
            return usage();
        }
    }

    net::io_context ioc(1);
    std::optional<ssl::context> tls;
    boost::system::error_code ec;
    if (!cert.empty()) {
        tls.emplace(ssl::context::tls_server);
        tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
        tls->use_certificate_chain_file(cert, ec);
        if (!ec) tls->use_private_key_file(key, ssl::context::pem, ec);
        if (ec) {
            std::cerr << "fake_crm: cannot load certificate or key: " << ec.message() << "\n";
            return 1;
        }
    }

    const auto addr = net::ip::make_address(address, ec);
    if (ec) {
        std::cerr << "fake_crm: bad address\n";
        return 2;
    }
    tcp::acceptor acceptor(ioc);
    const tcp::endpoint ep(addr, 0);
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        std::cerr << "fake_crm: cannot listen: " << ec.message() << "\n";
        return 1;
    }
    const auto port = acceptor.local_endpoint().port();

    if (port_file.empty()) {
        std::cout << port << std::endl;
    } else {
        const std::string tmp = port_file + ".tmp";
        {
            std::ofstream out(tmp, std::ios::trunc);
            out << port << "\n";
            if (!out) {
                std::cerr << "fake_crm: cannot write " << tmp << "\n";
                return 1;
            }
        }
        if (std::rename(tmp.c_str(), port_file.c_str()) != 0) {
            std::cerr << "fake_crm: cannot rename the port file\n";
            return 1;
        }
    }

    crm_state state;
    net::signal_set signals(ioc, SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });
    net::co_spawn(ioc, accept_loop(std::move(acceptor), tls ? &*tls : nullptr, state),
                  net::detached);
    ioc.run();
    return 0;
}
