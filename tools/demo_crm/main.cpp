// demo_crm — a small CRM look-alike for exportwall's demo, quick start and tests.
//
//   demo_crm [--address 127.0.0.1] [--port 8081] [--port-file F] [--public-url URL]
//            [--records N] [--seed S] [--page-size P] [--token T] [--cache-mib M]
//            [--oauth2-client-id ID [--oauth2-secret-file F] [--oauth2-certificate F]
//             [--token-lifetime S] [--token-uses N]]
//
// Serves tools/generator's deterministic contacts in the shapes of Dataverse OData, HubSpot v3,
// Salesforce REST and SOAP, Pipedrive, SuiteCRM 8, Close, Odoo JSON-RPC, semicolon CSV and NDJSON
// (tools/demo_crm/vendor_shapes.hpp), lists with pagination and single records by id. --port 0 lets
// the OS pick; --port-file writes the bound port (temp file + rename).
// --public-url is the CRM's URL as exportwall reaches it (absolute pagination links); default
// http://ADDRESS:PORT. With --token every request but /healthz needs `Authorization: Bearer T`:
// exportwall adds it, clients never hold it.
//
// --oauth2-client-id turns on the OAuth2 token endpoint (tools/demo_crm/token_endpoint.hpp):
// `POST /oauth2/token` grants client_credentials to that client id, authenticated with the secret
// in --oauth2-secret-file (form body or HTTP Basic; the file is read at every request) or a JWT
// client assertion verified against --oauth2-certificate. Every record endpoint then needs
// `Authorization: Bearer` with an issued token (or the --token), 401 otherwise. Tokens live
// --token-lifetime seconds (expires_in, default 3600) and, with --token-uses N, serve N requests
// only; `POST /oauth2/_revoke` revokes every token issued so far (tests: expiry without a clock).
// One line per request on stderr: method, path, the
// query parameter names (never values), the body member names a search or JSON-RPC call read,
// the field selection served, the record count.
//
// A demo tool: one thread per connection, HTTP/1.1 keep-alive, bodies chunked and generated in
// batches (never built whole). Runs until SIGTERM/SIGINT.
//
// --cache-mib M (benchmarks; default 0, off): the first answer to each distinct method and target
// is kept whole in memory while the cached bodies total at most M MiB, and repeated requests are
// served from there, in the same framing. The generator makes ~130 MB/s on one core, slower than
// the proxies a benchmark puts in front of it; a cached body costs only the socket writes.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "tools/demo_crm/token_endpoint.hpp"
#include "tools/demo_crm/vendor_shapes.hpp"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

struct options {
    std::string address = "127.0.0.1";
    std::uint16_t port = 8081;
    std::string port_file;
    std::string public_url;
    std::string token;
    std::uint64_t cache_mib = 0;
    exportwall::demo_crm::dataset data;
    exportwall::demo_crm::oauth2_options oauth2;
};

constexpr const char* usage =
    "usage: demo_crm [--address 127.0.0.1] [--port 8081] [--port-file F] [--public-url URL]\n"
    "                [--records N] [--seed S] [--page-size P] [--token T] [--cache-mib M]\n"
    "                [--oauth2-client-id ID [--oauth2-secret-file F] [--oauth2-certificate F]\n"
    "                 [--token-lifetime S] [--token-uses N]]\n";

std::mutex log_mutex;

void log_line(const std::string& line) {
    std::lock_guard lock(log_mutex);
    std::fputs(line.c_str(), stderr);
    std::fputc('\n', stderr);
}

std::string list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (const auto& item : items) {
        if (out.size() > 1) out.push_back(',');
        out += item;
    }
    return out + "]";
}

// The request log: names only. The path is the target up to '?'; the query's values never
// appear (a CRM query can carry an e-mail address in a filter), nor do a request body's: a
// search or JSON-RPC call shows the names of the members it read.
void log_request(std::string_view method, std::string_view target, unsigned status,
                 const exportwall::demo_crm::answer& a) {
    std::string line = "demo_crm: " + std::string(method) + " " +
                       std::string(target.substr(0, target.find('?'))) +
                       " status=" + std::to_string(status);
    if (!a.endpoint.empty()) line += " endpoint=" + a.endpoint;
    line += " params=" + list(a.parameter_names);
    if (!a.body_members.empty()) line += " body=" + list(a.body_members);
    if (!a.selection.empty()) line += " served=" + list(a.selection);
    if (a.stream || a.records != 0) line += " records=" + std::to_string(a.records);
    log_line(line);
}

bool authorized(const http::request<http::string_body>& req, const std::string& token,
                exportwall::demo_crm::token_issuer& issuer) {
    if (token.empty() && !issuer.enabled()) return true;
    auto it = req.find(http::field::authorization);
    if (it == req.end()) return false;
    if (!token.empty() && it->value() == "Bearer " + token) return true;
    return issuer.enabled() && issuer.admit(it->value());
}

// Writes a whole small body with Content-Length. True when the connection stays open.
bool write_small(tcp::socket& socket, unsigned version, bool keep_alive, unsigned status,
                 const std::string& content_type, const std::string& body, bool head_only) {
    http::response<http::string_body> res{static_cast<http::status>(status), version};
    res.set(http::field::server, "demo_crm");
    res.set(http::field::content_type, content_type);
    if (status == 401) res.set(http::field::www_authenticate, "Bearer");
    res.keep_alive(keep_alive);
    res.body() = body;
    res.prepare_payload();
    beast::error_code ec;
    if (head_only) {
        http::response_serializer<http::string_body> sr{res};
        http::write_header(socket, sr, ec);
    } else {
        http::write(socket, res, ec);
    }
    return !ec && keep_alive;
}

// Streams a generated body: chunked to HTTP/1.1, close-delimited to HTTP/1.0. True when the
// connection stays open.
bool write_stream(tcp::socket& socket, unsigned version, bool keep_alive,
                  const exportwall::demo_crm::answer& a, bool head_only) {
    http::response<http::empty_body> res{static_cast<http::status>(a.status), version};
    res.set(http::field::server, "demo_crm");
    res.set(http::field::content_type, a.content_type);
    const bool chunked = version >= 11;
    res.keep_alive(chunked && keep_alive);
    if (chunked) res.chunked(true);
    beast::error_code ec;
    http::response_serializer<http::empty_body> sr{res};
    http::write_header(socket, sr, ec);
    if (ec) return false;
    if (head_only) return chunked && keep_alive;
    a.stream([&](std::string_view piece) {
        if (ec) return false;
        if (chunked) {
            net::write(socket, http::make_chunk(net::const_buffer(piece.data(), piece.size())), ec);
        } else {
            net::write(socket, net::const_buffer(piece.data(), piece.size()), ec);
        }
        return !ec;
    });
    if (ec) return false;
    if (!chunked) return false;  // the close ends the body
    net::write(socket, http::make_chunk_last(), ec);
    return !ec && keep_alive;
}

// Whole generated bodies by "METHOD target", within a byte budget shared by all connections.
// Bodies are never evicted: the first answers that fit stay for the life of the process.
class body_cache {
  public:
    explicit body_cache(std::uint64_t budget_bytes) : budget_(budget_bytes) {}

    [[nodiscard]] bool enabled() const { return budget_ > 0; }

    // The cached body for `key`, or null.
    [[nodiscard]] std::shared_ptr<const std::string> find(const std::string& key) const {
        std::lock_guard lock(mutex_);
        auto it = bodies_.find(key);
        return it == bodies_.end() ? nullptr : it->second;
    }

    // Bytes still free; a body being captured stops growing past this.
    [[nodiscard]] std::uint64_t room() const {
        std::lock_guard lock(mutex_);
        return budget_ - used_;
    }

    // Keeps `body` for `key` when it still fits (two connections may render the same answer).
    void insert(const std::string& key, std::string body) {
        std::lock_guard lock(mutex_);
        if (bodies_.count(key) != 0 || body.size() > budget_ - used_) return;
        used_ += body.size();
        bodies_.emplace(key, std::make_shared<const std::string>(std::move(body)));
    }

  private:
    const std::uint64_t budget_;
    mutable std::mutex mutex_;
    std::uint64_t used_ = 0;
    std::map<std::string, std::shared_ptr<const std::string>> bodies_;
};

// Writes a cached body in the framing write_stream would use, in 256 KiB pieces.
bool write_cached(tcp::socket& socket, unsigned version, bool keep_alive,
                  const exportwall::demo_crm::answer& a, const std::string& body, bool head_only) {
    constexpr std::size_t piece_bytes = 256 * 1024;
    exportwall::demo_crm::answer replay;
    replay.status = a.status;
    replay.content_type = a.content_type;
    replay.stream = [&body](const exportwall::demo_crm::body_sink& sink) {
        for (std::size_t at = 0; at < body.size(); at += piece_bytes) {
            if (!sink(std::string_view(body).substr(at, piece_bytes))) return;
        }
    };
    return write_stream(socket, version, keep_alive, replay, head_only);
}

// Streams a generated answer and keeps a copy of its body in `cache` when it completes and
// fits.
bool write_and_cache(tcp::socket& socket, unsigned version, bool keep_alive,
                     const exportwall::demo_crm::answer& a, bool head_only, body_cache& cache,
                     const std::string& key) {
    if (head_only) return write_stream(socket, version, keep_alive, a, head_only);
    std::string copy;
    bool fits = true;
    bool complete = true;
    const std::uint64_t room = cache.room();
    exportwall::demo_crm::answer capture = a;
    capture.stream = [&](const exportwall::demo_crm::body_sink& sink) {
        a.stream([&](std::string_view piece) {
            if (fits && copy.size() + piece.size() > room) {
                fits = false;
                std::string().swap(copy);
            }
            if (fits) copy += piece;
            complete = sink(piece);
            return complete;
        });
    };
    const bool keep = write_stream(socket, version, keep_alive, capture, head_only);
    if (fits && complete) cache.insert(key, std::move(copy));
    return keep;
}

void serve_connection(tcp::socket socket, const options& opt, const std::string& base_url,
                      body_cache& cache, exportwall::demo_crm::token_issuer& issuer) {
    // A chunked answer is several writes (head, chunks, last chunk): without TCP_NODELAY the
    // last small one waits for the client's delayed ACK, ~40 ms per keep-alive request.
    beast::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    beast::flat_buffer buffer;
    while (true) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(1 << 20);  // SOAP, search and JSON-RPC bodies are small queries
        beast::error_code ec;
        http::read(socket, buffer, parser, ec);
        if (ec) {
            if (ec != http::error::end_of_stream && ec != net::error::eof &&
                ec != net::error::connection_reset) {
                log_line("demo_crm: unreadable request (" + ec.message() + ")");
                (void)write_small(socket, 11, false, 400, "text/plain", "bad request\n", false);
            }
            break;
        }
        const auto& req = parser.get();
        std::string method(req.method_string());
        std::string target(req.target());
        const bool head_only = req.method() == http::verb::head;
        const bool keep_alive = req.keep_alive();
        const bool health = target == "/healthz" || target.rfind("/healthz?", 0) == 0;
        const std::string_view path = std::string_view(target).substr(0, target.find('?'));
        bool keep = false;
        if (issuer.enabled() && path == "/oauth2/token" && req.method() == http::verb::post) {
            auto auth = req.find(http::field::authorization);
            auto reply = issuer.issue(
                auth == req.end() ? std::string_view{} : std::string_view(auth->value()),
                req.body());
            log_line("demo_crm: POST /oauth2/token status=" + std::to_string(reply.status) +
                     " endpoint=oauth2-token auth=" + reply.note);
            keep = write_small(socket, req.version(), keep_alive, reply.status, "application/json",
                               reply.body, false);
        } else if (issuer.enabled() && path == "/oauth2/_revoke" &&
                   req.method() == http::verb::post) {
            issuer.revoke_all();
            log_line("demo_crm: POST /oauth2/_revoke status=204 endpoint=oauth2-revoke");
            keep = write_small(socket, req.version(), keep_alive, 204, "text/plain", "", false);
        } else if (!health && !authorized(req, opt.token, issuer)) {
            exportwall::demo_crm::answer refused;
            refused.endpoint = "auth";
            log_request(method, target, 401, refused);
            keep = write_small(socket, req.version(), keep_alive, 401, "application/json",
                               "{\"error\":{\"code\":\"unauthorized\"}}", head_only);
        } else {
            auto a = exportwall::demo_crm::answer_request(
                opt.data, head_only ? std::string_view("GET") : std::string_view(method), target,
                base_url, req.body());
            log_request(method, target, a.status, a);
            // A search or JSON-RPC answer depends on the body too.
            std::string key = method;
            key += ' ';
            key += target;
            if (!req.body().empty()) key += "\n" + req.body();
            std::shared_ptr<const std::string> cached;
            if (a.stream && cache.enabled()) cached = cache.find(key);
            if (cached) {
                keep = write_cached(socket, req.version(), keep_alive, a, *cached, head_only);
            } else if (a.stream && cache.enabled()) {
                keep = write_and_cache(socket, req.version(), keep_alive, a, head_only, cache, key);
            } else if (a.stream) {
                keep = write_stream(socket, req.version(), keep_alive, a, head_only);
            } else {
                keep = write_small(socket, req.version(), keep_alive, a.status, a.content_type,
                                   a.small_body, head_only);
            }
        }
        if (!keep) break;
    }
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

template <typename T>
bool parse_number(std::string_view s, T& out, T min) {
    T value{};
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size() || value < min) return false;
    out = value;
    return true;
}

bool parse_options(int argc, char** argv, options& opt) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(usage, stdout);
            std::exit(0);  // NOLINT(concurrency-mt-unsafe): main parses before any thread starts
        }
        if (i + 1 >= argc) return false;
        std::string_view value = argv[++i];
        bool ok = true;
        if (arg == "--address") {
            opt.address = value;
        } else if (arg == "--port") {
            ok = parse_number<std::uint16_t>(value, opt.port, 0);
        } else if (arg == "--port-file") {
            opt.port_file = value;
        } else if (arg == "--public-url") {
            opt.public_url = value;
            while (!opt.public_url.empty() && opt.public_url.back() == '/')
                opt.public_url.pop_back();
        } else if (arg == "--records") {
            ok = parse_number<std::uint64_t>(value, opt.data.records, 0);
        } else if (arg == "--seed") {
            ok = parse_number<std::uint64_t>(value, opt.data.seed, 0);
        } else if (arg == "--page-size") {
            ok = parse_number<std::uint64_t>(value, opt.data.page_size, 1);
        } else if (arg == "--token") {
            opt.token = value;
        } else if (arg == "--oauth2-client-id") {
            opt.oauth2.client_id = value;
        } else if (arg == "--oauth2-secret-file") {
            opt.oauth2.secret_file = value;
        } else if (arg == "--oauth2-certificate") {
            opt.oauth2.certificate_file = value;
        } else if (arg == "--token-lifetime") {
            ok = parse_number<std::uint64_t>(value, opt.oauth2.lifetime, 1);
        } else if (arg == "--token-uses") {
            ok = parse_number<std::uint64_t>(value, opt.oauth2.uses, 0);
        } else if (arg == "--cache-mib") {
            ok = parse_number<std::uint64_t>(value, opt.cache_mib, 0) &&
                 opt.cache_mib <= (std::uint64_t{1} << 20);
        } else {
            return false;
        }
        if (!ok) return false;
    }
    return true;
}

bool write_port_file(const std::string& file, std::uint16_t port) {
    const std::string tmp = file + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) return false;
    bool ok = std::fprintf(f, "%u\n", static_cast<unsigned>(port)) > 0;
    ok = std::fclose(f) == 0 && ok;
    return ok && std::rename(tmp.c_str(), file.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
    options opt;
    if (!parse_options(argc, argv, opt)) {
        std::fputs(usage, stderr);
        return 2;
    }
    net::io_context io;
    beast::error_code ec;
    auto address = net::ip::make_address(opt.address, ec);
    if (ec) {
        std::fprintf(stderr, "demo_crm: '%s' is not an IP address\n", opt.address.c_str());
        return 2;
    }
    tcp::acceptor acceptor(io);
    tcp::endpoint endpoint(address, opt.port);
    if (acceptor.open(endpoint.protocol(), ec); !ec) {
        acceptor.set_option(net::socket_base::reuse_address(true), ec);
        if (acceptor.bind(endpoint, ec); !ec)
            acceptor.listen(net::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        std::fprintf(stderr, "demo_crm: cannot listen on %s port %u: %s\n", opt.address.c_str(),
                     static_cast<unsigned>(opt.port), ec.message().c_str());
        return 1;
    }
    const std::uint16_t port = acceptor.local_endpoint().port();
    std::string host = address.is_v6() ? "[" + opt.address + "]" : opt.address;
    const std::string base_url =
        opt.public_url.empty() ? "http://" + host + ":" + std::to_string(port) : opt.public_url;
    if (!opt.port_file.empty() && !write_port_file(opt.port_file, port)) {
        std::fprintf(stderr, "demo_crm: cannot write the port file %s\n", opt.port_file.c_str());
        return 1;
    }
    log_line("demo_crm: listening on " + host + ":" + std::to_string(port) + " (" +
             std::to_string(opt.data.records) + " records, seed " + std::to_string(opt.data.seed) +
             ", pages of " + std::to_string(opt.data.page_size) +
             (opt.token.empty() ? ", no token)" : ", bearer token required)"));
    body_cache cache(opt.cache_mib * 1024 * 1024);
    exportwall::demo_crm::token_issuer issuer(opt.oauth2, base_url + "/oauth2/token");
    if (issuer.enabled())
        log_line("demo_crm: OAuth2 token endpoint at " + base_url +
                 "/oauth2/token; record endpoints need an issued bearer token");
    while (true) {
        tcp::socket socket(io);
        acceptor.accept(socket, ec);
        if (ec) {
            log_line("demo_crm: accept failed (" + ec.message() + ")");
            continue;
        }
        std::thread(serve_connection, std::move(socket), std::cref(opt), std::cref(base_url),
                    std::ref(cache), std::ref(issuer))
            .detach();
    }
}
