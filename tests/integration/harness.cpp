#include "tests/integration/harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/fake_crm/generated_body.hpp"

extern char** environ;

namespace exportwall::itest {

namespace fs = std::filesystem;

// EXPORTWALL_UNDER_TEST names another exportwall binary to run instead of this build's own:
// scripts/test runs the integration tests against the image's, built from a profile.
std::string exportwall_binary() {
    const char* other = std::getenv("EXPORTWALL_UNDER_TEST");
    return other != nullptr && *other != '\0' ? std::string(other) : std::string(EXPORTWALL_BINARY);
}
std::string fake_crm_binary() { return FAKE_CRM_BINARY; }
std::string mint_certs_script() {
    return std::string(EXPORTWALL_SOURCE_DIR) + "/certs/mint-dev-certs";
}

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::optional<std::string> find_header(
    const std::vector<std::pair<std::string, std::string>>& headers, std::string_view name) {
    for (const auto& [n, v] : headers)
        if (iequals(n, name)) return v;
    return std::nullopt;
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return std::string(s);
}

}  // namespace

// ---- files and directories -------------------------------------------------------------------

temp_dir::temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/exportwall-itest-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) != nullptr) path_ = buf.data();
}

temp_dir::~temp_dir() {
    if (path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
}

std::string temp_dir::file(std::string_view name) const { return path_ + "/" + std::string(name); }

bool write_file(const std::string& path, std::string_view content) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        if (!out) return false;
    }
    return std::rename(tmp.c_str(), path.c_str()) == 0;
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool poll_until(const std::function<bool()>& ready, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (ready()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(5ms);  // a poll interval, not a synchronisation
    }
}

// ---- child processes -------------------------------------------------------------------------

child_process::~child_process() { stop(); }

bool child_process::start(const std::vector<std::string>& argv, const std::string& log_file) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_file.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return false;
    pid_ = pid;
    status_.reset();
    return true;
}

bool child_process::running() {
    if (pid_ <= 0 || status_) return false;
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return false;
    }
    return r == 0;
}

void child_process::signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return std::nullopt;
    if (status_) return status_;
    (void)poll_until([&] { return !running(); }, limit);
    return status_;
}

void child_process::stop() {
    if (pid_ <= 0) return;
    if (running()) {
        signal(SIGTERM);
        if (!wait_exit(10s)) {
            signal(SIGKILL);
            (void)wait_exit(10s);
        }
    }
    pid_ = -1;
}

std::uint64_t rss_kib(pid_t pid) {
    auto status = read_file("/proc/" + std::to_string(pid) + "/status");
    if (!status) return 0;
    const auto at = status->find("VmRSS:");
    if (at == std::string::npos) return 0;
    return std::strtoull(status->c_str() + at + 6, nullptr, 10);
}

std::uint16_t unused_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        socklen_t len = sizeof addr;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
            port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
}

std::optional<dev_certs> mint_certs(const temp_dir& dir) {
    const std::string out = dir.file("certs");
    child_process p;
    if (!p.start({"/bin/bash", mint_certs_script(), out}, dir.file("mint.log")))
        return std::nullopt;
    auto rc = p.wait_exit(60s);
    if (!rc || *rc != 0) return std::nullopt;
    return dev_certs{out};
}

// ---- fake CRM --------------------------------------------------------------------------------

bool fake_crm::start(const temp_dir& dir, const std::string& tls_cert, const std::string& tls_key) {
    const std::string port_file = dir.file("crm.port");
    log_file_ = dir.file("crm.log");
    std::vector<std::string> argv{fake_crm_binary(), "--port-file", port_file};
    if (!tls_cert.empty()) {
        argv.insert(argv.end(), {"--tls", tls_cert, tls_key});
    }
    if (!process_.start(argv, log_file_)) return false;
    std::optional<std::string> text;
    if (!poll_until(
            [&] { return (text = read_file(port_file)).has_value() || !process_.running(); }))
        return false;
    if (!text) return false;
    port_ = static_cast<std::uint16_t>(std::strtoul(text->c_str(), nullptr, 10));
    return port_ != 0;
}

std::string fake_crm::log() const { return read_file(log_file_).value_or(""); }

std::optional<std::string> seen_request::header(std::string_view name) const {
    return find_header(headers, name);
}

std::size_t seen_request::count(std::string_view name) const {
    return static_cast<std::size_t>(std::count_if(
        headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); }));
}

std::optional<probe_state> crm_seen::probe(std::string_view id) const {
    for (const auto& [name, p] : probes)
        if (name == id) return p;
    return std::nullopt;
}

std::optional<crm_seen> crm_requests(std::uint16_t port, const std::string& ca) {
    tls_client_options tls{ca, {}, {}};
    response r =
        fetch(port, get_request("/_seen", "Connection: close\r\n"), ca.empty() ? nullptr : &tls);
    if (!r.received || r.status != 200) return std::nullopt;
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(r.body, ec);
    if (ec || !v.is_object()) return std::nullopt;
    crm_seen out;
    const auto& o = v.as_object();
    for (const auto& item : o.at("requests").as_array()) {
        const auto& req = item.as_object();
        seen_request s;
        s.connection = req.at("connection").to_number<std::uint64_t>();
        s.method = std::string(req.at("method").as_string());
        s.target = std::string(req.at("target").as_string());
        for (const auto& h : req.at("headers").as_array()) {
            const auto& pair = h.as_array();
            s.headers.emplace_back(std::string(pair.at(0).as_string()),
                                   std::string(pair.at(1).as_string()));
        }
        s.body_bytes = req.at("body_bytes").to_number<std::uint64_t>();
        if (const auto* b = req.if_contains("body"); b != nullptr && b->is_string())
            s.body = std::string(b->as_string());
        out.requests.push_back(std::move(s));
    }
    out.parse_errors = o.at("parse_errors").to_number<std::uint64_t>();
    for (const auto& [id, value] : o.at("probes").as_object()) {
        const auto& p = value.as_object();
        probe_state ps;
        ps.written = p.at("written").to_number<std::uint64_t>();
        ps.done = p.at("done").as_bool();
        ps.write_pending = p.at("write_pending").as_bool();
        ps.pending_ms = p.at("pending_ms").to_number<std::int64_t>();
        out.probes.emplace_back(std::string(id), ps);
    }
    return out;
}

bool crm_control(std::uint16_t port, std::string_view target, const std::string& ca) {
    tls_client_options tls{ca, {}, {}};
    response r =
        fetch(port, get_request(target, "Connection: close\r\n"), ca.empty() ? nullptr : &tls);
    return r.received && r.status == 200;
}

// ---- exportwall ------------------------------------------------------------------------------

std::string make_config(const temp_dir& dir, const proxy_options& o) {
    std::string x = R"(<?xml version="1.0"?>
<exportwall version="1" mode="enforce">
  <listen address="127.0.0.1" port="0")";
    if (!o.listener_attributes.empty()) x += " " + o.listener_attributes;
    x += ">";
    x += o.listener_tls;
    x += "</listen>\n  <admin address=\"127.0.0.1\" port=\"0\"";
    if (!o.admin_token_sha256.empty()) x += " token-sha256=\"" + o.admin_token_sha256 + "\"";
    if (!o.admin_attributes.empty()) x += " " + o.admin_attributes;
    x += "/>\n  <limits " + o.limits + "/>\n";
    x += "  <log level=\"info\" access-log=\"" + dir.file("access.log") + "\"";
    if (!o.log_attributes.empty()) x += " " + o.log_attributes;
    x += "/>\n";
    x += "  <audit path=\"" + dir.file("audit.jsonl") + "\"/>\n";
    x += "  <upstream id=\"crm\" url=\"" + o.upstream_url + "\"";
    if (!o.upstream_ca.empty()) x += " ca=\"" + o.upstream_ca + "\"";
    if (!o.upstream_attributes.empty()) x += " " + o.upstream_attributes;
    x += "/>\n";
    x += "  <route id=\"api\" path=\"" + o.route_path + "\" match=\"prefix\" methods=\"" +
         o.methods + "\" upstream=\"crm\" format=\"passthrough\" open=\"true\"/>\n";
    x += o.extra;
    x += "</exportwall>\n";
    return x;
}

bool exportwall_server::start(const temp_dir& dir, const std::string& config_xml) {
    config_path_ = dir.file("exportwall.xml");
    log_file_ = dir.file("exportwall.log");
    const std::string ports_file = dir.file("ports.json");
    if (!write_file(config_path_, config_xml)) return false;
    if (!process_.start(
            {exportwall_binary(), "serve", "--config", config_path_, "--ports-file", ports_file},
            log_file_))
        return false;
    std::optional<std::string> text;
    if (!poll_until(
            [&] { return (text = read_file(ports_file)).has_value() || !process_.running(); }))
        return false;
    if (!text) return false;
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(*text, ec);
    if (ec || !v.is_object()) return false;
    const auto& o = v.as_object();
    const auto* listeners = o.if_contains("listeners");
    const auto* admin = o.if_contains("admin");
    if (listeners == nullptr || !listeners->is_array() || listeners->as_array().empty())
        return false;
    port_ = listeners->as_array().at(0).to_number<std::uint16_t>();
    if (admin != nullptr && !admin->is_null()) admin_port_ = admin->to_number<std::uint16_t>();
    if (const auto* m = o.if_contains("metrics"); m != nullptr && !m->is_null())
        metrics_port_ = m->to_number<std::uint16_t>();
    return port_ != 0;
}

std::string exportwall_server::log() const { return read_file(log_file_).value_or(""); }

// ---- HTTP client -----------------------------------------------------------------------------

struct http_connection::tls_state {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    ~tls_state() {
        if (ssl != nullptr) SSL_free(ssl);
        if (ctx != nullptr) SSL_CTX_free(ctx);
    }
};

http_connection::http_connection() = default;
http_connection::~http_connection() { close(); }

void http_connection::close() {
    tls_.reset();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool http_connection::connect(std::uint16_t port, const tls_client_options* tls) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (rcvbuf_ > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof rcvbuf_);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close();
        return false;
    }
    if (tls == nullptr) return true;

    tls_ = std::make_unique<tls_state>();
    tls_->ctx = SSL_CTX_new(TLS_client_method());
    if (tls_->ctx == nullptr) return false;
    SSL_CTX_set_min_proto_version(tls_->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(tls_->ctx, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(tls_->ctx, tls->ca_file.c_str(), nullptr) != 1) return false;
    if (!tls->cert_file.empty()) {
        if (SSL_CTX_use_certificate_chain_file(tls_->ctx, tls->cert_file.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(tls_->ctx, tls->key_file.c_str(), SSL_FILETYPE_PEM) != 1)
            return false;
    }
    tls_->ssl = SSL_new(tls_->ctx);
    SSL_set_fd(tls_->ssl, fd_);
    static char sni_name[] = "localhost";
    // SSL_set_tlsext_host_name is a macro with an old-style cast.
    SSL_ctrl(tls_->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, sni_name);
    SSL_set1_host(tls_->ssl, "localhost");
    timeval tv{static_cast<time_t>(read_timeout_.count() / 1000),
               static_cast<suseconds_t>((read_timeout_.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    handshake_ok_ = SSL_connect(tls_->ssl) == 1;
    ERR_clear_error();
    return true;  // the caller looks at tls_handshake_ok(): a refused handshake is a test outcome
}

bool http_connection::send(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = 0;
        if (tls_) {
            const int w = SSL_write(tls_->ssl, bytes.data(), static_cast<int>(bytes.size()));
            if (w <= 0) {
                ERR_clear_error();
                return false;
            }
            n = w;
        } else {
            n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool http_connection::fill() {
    if (fd_ < 0 || eof_) return false;
    if (pos_ > 0 && pos_ == buffer_.size()) {
        buffer_.clear();
        pos_ = 0;
    } else if (pos_ > (1u << 20)) {
        buffer_.erase(0, pos_);
        pos_ = 0;
    }
    char chunk[65536];
    if (tls_) {
        if (SSL_pending(tls_->ssl) == 0) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(read_timeout_.count())) <= 0) return false;
        }
        const int r = SSL_read(tls_->ssl, chunk, sizeof chunk);
        if (r <= 0) {
            ERR_clear_error();
            eof_ = true;
            return false;
        }
        buffer_.append(chunk, static_cast<std::size_t>(r));
        return true;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(read_timeout_.count())) <= 0) return false;
    const ssize_t r = ::recv(fd_, chunk, sizeof chunk, 0);
    if (r <= 0) {
        if (r < 0 && errno == ECONNRESET) reset_ = true;
        eof_ = true;
        return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(r));
    return true;
}

bool http_connection::read_line(std::string& line) {
    for (;;) {
        const auto end = buffer_.find("\r\n", pos_);
        if (end != std::string::npos) {
            line.assign(buffer_, pos_, end - pos_);
            pos_ = end + 2;
            return true;
        }
        if (buffer_.size() - pos_ > (1u << 20)) return false;
        if (!fill()) return false;
    }
}

bool http_connection::read_exact(std::uint64_t n, const std::function<void(std::string_view)>& sink,
                                 std::string* out) {
    while (n > 0) {
        if (pos_ == buffer_.size() && !fill()) return false;
        const std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(n, buffer_.size() - pos_));
        const std::string_view piece(buffer_.data() + pos_, take);
        if (sink)
            sink(piece);
        else if (out != nullptr)
            out->append(piece);
        pos_ += take;
        n -= take;
    }
    return true;
}

response http_connection::read_response(bool head_only,
                                        const std::function<void(std::string_view)>& sink) {
    response r;
    std::string line;
    if (!read_line(line)) {
        r.closed = eof_;
        return r;
    }
    // "HTTP/1.1 200 OK"
    if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0) return r;
    r.status = static_cast<unsigned>(std::strtoul(line.c_str() + 9, nullptr, 10));
    for (;;) {
        if (!read_line(line)) {
            r.closed = eof_;
            return r;
        }
        if (line.empty()) break;
        const auto colon = line.find(':');
        if (colon == std::string::npos) return r;
        r.headers.emplace_back(line.substr(0, colon),
                               trim(std::string_view(line).substr(colon + 1)));
    }
    r.received = true;
    auto counting_sink = [&](std::string_view piece) {
        r.body_bytes += piece.size();
        if (sink)
            sink(piece);
        else
            r.body.append(piece);
    };
    if (head_only || r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200)) {
        r.complete = true;
        return r;
    }
    const auto te = r.header("Transfer-Encoding");
    const auto cl = r.header("Content-Length");
    if (te && iequals(*te, "chunked")) {
        r.chunked = true;
        for (;;) {
            if (!read_line(line)) {
                r.closed = eof_;
                return r;
            }
            const std::uint64_t size = std::strtoull(line.c_str(), nullptr, 16);
            if (size == 0) {
                // Trailers, then the empty line.
                for (;;) {
                    if (!read_line(line)) {
                        r.closed = eof_;
                        return r;
                    }
                    if (line.empty()) break;
                }
                r.complete = true;
                return r;
            }
            if (!read_exact(size, counting_sink, nullptr) || !read_line(line) || !line.empty()) {
                r.closed = eof_;
                return r;
            }
        }
    }
    if (cl) {
        const std::uint64_t n = std::strtoull(cl->c_str(), nullptr, 10);
        r.complete = read_exact(n, counting_sink, nullptr);
        if (!r.complete) r.closed = eof_;
        return r;
    }
    // Close-delimited.
    for (;;) {
        if (pos_ < buffer_.size()) {
            counting_sink(std::string_view(buffer_).substr(pos_));
            pos_ = buffer_.size();
        }
        if (!fill()) break;
    }
    r.closed = eof_;
    r.complete = eof_;
    return r;
}

bool http_connection::peer_closed() {
    if (pos_ < buffer_.size()) return false;
    if (fill()) return false;
    return eof_;
}

std::optional<std::string> response::header(std::string_view name) const {
    return find_header(headers, name);
}

std::string get_request(std::string_view target, std::string_view extra) {
    std::string r = "GET ";
    r += target;
    r += " HTTP/1.1\r\nHost: localhost\r\n";
    r += extra;
    r += "\r\n";
    return r;
}

response fetch(std::uint16_t port, std::string_view request_bytes, const tls_client_options* tls) {
    http_connection c;
    if (!c.connect(port, tls)) return {};
    if (tls != nullptr && !c.tls_handshake_ok()) return {};
    if (!c.send(request_bytes)) return {};
    return c.read_response();
}

bool matches_pattern(std::string_view body, std::uint64_t offset) {
    for (std::size_t i = 0; i < body.size();) {
        const std::size_t phase =
            static_cast<std::size_t>((offset + i) % exportwall::test::generated_period);
        const std::size_t n = std::min(body.size() - i, exportwall::test::generated_period - phase);
        if (std::memcmp(body.data() + i, exportwall::test::generated_pattern.data() + phase, n) !=
            0)
            return false;
        i += n;
    }
    return true;
}

bool replace_once(std::string& text, std::string_view from, std::string_view to) {
    auto at = text.find(from);
    if (at == std::string::npos || text.find(from, at + 1) != std::string::npos) return false;
    text.replace(at, from.size(), to);
    return true;
}

bool replace_all(std::string& text, std::string_view from, std::string_view to) {
    bool any = false;
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
        any = true;
    }
    return any;
}

}  // namespace exportwall::itest
