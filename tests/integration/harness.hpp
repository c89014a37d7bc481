#pragma once
// Integration-test harness: child processes (the real `exportwall` binary and `fake_crm`) started
// with posix_spawn on port 0, their ports read from port files by a bounded poll, and a tiny
// blocking HTTP/1.1 client over raw sockets (optionally TLS) so tests send exact bytes.
//
// Test support: failures are reported as gtest failures or empty optionals, never exceptions.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exportwall::itest {

using namespace std::chrono_literals;

// Paths baked in by CMake.
[[nodiscard]] std::string exportwall_binary();
[[nodiscard]] std::string fake_crm_binary();
[[nodiscard]] std::string mint_certs_script();

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class temp_dir {
  public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    [[nodiscard]] const std::string& path() const { return path_; }
    [[nodiscard]] std::string file(std::string_view name) const;

  private:
    std::string path_;
};

[[nodiscard]] bool write_file(const std::string& path, std::string_view content);
[[nodiscard]] std::optional<std::string> read_file(const std::string& path);

// Polls `ready()` every few milliseconds until it returns true or `limit` passes.
[[nodiscard]] bool poll_until(const std::function<bool()>& ready,
                              std::chrono::milliseconds limit = 20s);

// A child process; killed (SIGTERM, then SIGKILL after a bounded wait) on destruction.
class child_process {
  public:
    child_process() = default;
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    // Spawns argv[0] with stdout and stderr appended to `log_file`. False when it cannot start.
    [[nodiscard]] bool start(const std::vector<std::string>& argv, const std::string& log_file);
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] bool running();
    void signal(int sig) const;
    // Waits up to `limit` for the process to exit; its exit status (or 128+signal), or nullopt.
    [[nodiscard]] std::optional<int> wait_exit(std::chrono::milliseconds limit = 20s);
    void stop();  // SIGTERM, bounded wait, SIGKILL

  private:
    pid_t pid_ = -1;
    std::optional<int> status_;
};

// Resident set size of a process in KiB (VmRSS of /proc/<pid>/status); 0 when unreadable.
[[nodiscard]] std::uint64_t rss_kib(pid_t pid);

// A port that was free a moment ago (bound to port 0, then closed): for "upstream refused".
[[nodiscard]] std::uint16_t unused_port();

// Certificates minted by certs/mint-dev-certs into a temporary directory.
struct dev_certs {
    std::string dir;
    [[nodiscard]] std::string file(std::string_view name) const {
        return dir + "/" + std::string(name);
    }
};
[[nodiscard]] std::optional<dev_certs> mint_certs(const temp_dir& dir);

// The fake CRM (tests/fake_crm).
class fake_crm {
  public:
    // Starts it (plain, or TLS with the given certificate and key); false when it did not come up.
    [[nodiscard]] bool start(const temp_dir& dir, const std::string& tls_cert = {},
                             const std::string& tls_key = {});
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] std::string log() const;
    child_process& process() { return process_; }

  private:
    child_process process_;
    std::uint16_t port_ = 0;
    std::string log_file_;
};

// One request as the fake CRM parsed it.
struct seen_request {
    std::uint64_t connection = 0;
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::uint64_t body_bytes = 0;
    std::string body;  // its first 64 KiB
    [[nodiscard]] std::optional<std::string> header(std::string_view name) const;  // first match
    [[nodiscard]] std::size_t count(std::string_view name) const;
};
struct probe_state {
    std::uint64_t written = 0;
    bool done = false;
    bool write_pending = false;
    std::int64_t pending_ms = 0;
};
struct crm_seen {
    std::vector<seen_request> requests;
    std::uint64_t parse_errors = 0;
    std::vector<std::pair<std::string, probe_state>> probes;
    [[nodiscard]] std::optional<probe_state> probe(std::string_view id) const;
};
// GET /_seen (plain or TLS with `ca`) on a connection of its own.
[[nodiscard]] std::optional<crm_seen> crm_requests(std::uint16_t port, const std::string& ca = {});
[[nodiscard]] bool crm_control(std::uint16_t port, std::string_view target,
                               const std::string& ca = {});

// What a test's configuration needs.
struct proxy_options {
    std::string upstream_url;         // e.g. "http://127.0.0.1:1234"
    std::string upstream_ca;          // https upstreams
    std::string upstream_attributes;  // more attributes of <upstream id="crm">, e.g. health-path
    std::string route_path = "/api";  // prefix route "api" → upstream "crm", passthrough
    std::string methods = "GET POST PUT";
    std::string limits;  // extra attributes of <limits>, e.g. R"(upstream-response-head="200ms")"
    std::string listener_tls;  // a whole <tls …/> element, or empty for plain
    std::string listener_attributes;  // more attributes of <listen>, e.g. trusted-proxies
    std::string log_attributes;       // more attributes of <log>, e.g. format="json"
    std::string admin_token_sha256;
    std::string admin_attributes;  // more attributes of <admin>, e.g. metrics-address
    std::string extra;  // more elements inside <exportwall> (upstreams, routes)
};
[[nodiscard]] std::string make_config(const temp_dir& dir, const proxy_options& o);

// exportwall serve, started on port 0 with --ports-file.
class exportwall_server {
  public:
    [[nodiscard]] bool start(const temp_dir& dir, const std::string& config_xml);
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] std::uint16_t admin_port() const { return admin_port_; }
    // The token-free metrics listener's port (<admin metrics-address>); 0 without one.
    [[nodiscard]] std::uint16_t metrics_port() const { return metrics_port_; }
    [[nodiscard]] std::string config_path() const { return config_path_; }
    [[nodiscard]] std::string log() const;
    child_process& process() { return process_; }

  private:
    child_process process_;
    std::uint16_t port_ = 0;
    std::uint16_t admin_port_ = 0;
    std::uint16_t metrics_port_ = 0;
    std::string config_path_;
    std::string log_file_;
};

// TLS settings of a client connection.
struct tls_client_options {
    std::string ca_file;    // verify the server against it (host name "localhost")
    std::string cert_file;  // client certificate (mTLS), optional
    std::string key_file;
};

// A parsed response. `complete` is true only when the body ended as its framing says
// (Content-Length reached, or the terminating chunk read); `closed` when the peer closed.
struct response {
    bool received = false;  // a status line and head were read
    unsigned status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  // empty when a body sink consumed it
    std::uint64_t body_bytes = 0;
    bool chunked = false;
    bool complete = false;
    bool closed = false;
    [[nodiscard]] std::optional<std::string> header(std::string_view name) const;
};

// A blocking client connection to 127.0.0.1. Every read waits at most `read_timeout` (a bound
// against hanging tests, not a synchronisation).
class http_connection {
  public:
    http_connection();
    ~http_connection();
    http_connection(const http_connection&) = delete;
    http_connection& operator=(const http_connection&) = delete;

    [[nodiscard]] bool connect(std::uint16_t port, const tls_client_options* tls = nullptr);
    [[nodiscard]] bool tls_handshake_ok() const { return handshake_ok_; }
    [[nodiscard]] bool send(std::string_view bytes);
    // Reads one response. `head_only`: no body (HEAD). A non-null `sink` receives the body bytes
    // instead of response::body.
    [[nodiscard]] response read_response(bool head_only = false,
                                         const std::function<void(std::string_view)>& sink = {});
    // True when the peer closed (EOF or reset) with no more bytes; false if bytes arrived or the
    // wait ran out.
    [[nodiscard]] bool peer_closed();
    // True once a read failed with ECONNRESET: the peer reset the connection instead of
    // closing it.
    [[nodiscard]] bool was_reset() const { return reset_; }
    // Sets the kernel receive buffer (before connect) to keep back-pressure tests small.
    void set_receive_buffer(int bytes) { rcvbuf_ = bytes; }
    void set_read_timeout(std::chrono::milliseconds t) { read_timeout_ = t; }
    void close();

  private:
    bool fill();  // reads more into buffer_; false on EOF/error/timeout
    bool read_line(std::string& line);
    bool read_exact(std::uint64_t n, const std::function<void(std::string_view)>& sink,
                    std::string* out);

    int fd_ = -1;
    struct tls_state;
    std::unique_ptr<tls_state> tls_;
    bool handshake_ok_ = false;
    bool eof_ = false;
    bool reset_ = false;
    int rcvbuf_ = 0;
    std::chrono::milliseconds read_timeout_ = 20s;
    std::string buffer_;
    std::size_t pos_ = 0;
};

// "GET target HTTP/1.1\r\nHost: h\r\n<extra>\r\n" — extra is a list of "Name: value\r\n" lines.
[[nodiscard]] std::string get_request(std::string_view target, std::string_view extra = {});

// One request on a fresh connection; the response (received=false on failure).
[[nodiscard]] response fetch(std::uint16_t port, std::string_view request_bytes,
                             const tls_client_options* tls = nullptr);

// Replaces the one occurrence of `from` in `text` (a configuration a test edits); false when it
// is not there exactly once.
[[nodiscard]] bool replace_once(std::string& text, std::string_view from, std::string_view to);
// Replaces every occurrence; false when there was none.
[[nodiscard]] bool replace_all(std::string& text, std::string_view from, std::string_view to);

// True when `body` is bytes [offset, offset+size) of the generated pattern.
[[nodiscard]] bool matches_pattern(std::string_view body, std::uint64_t offset = 0);

}  // namespace exportwall::itest
