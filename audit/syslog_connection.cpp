#include "audit/syslog_connection.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace exportwall::audit {

namespace {

using steady = std::chrono::steady_clock;

int remaining_ms(steady::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    return left <= 0 ? 0 : left > 60'000 ? 60'000 : static_cast<int>(left);
}

// Waits for `events` on `fd` until `deadline`; false on timeout or error.
bool wait_for(int fd, short events, steady::time_point deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        const int rc = ::poll(&p, 1, remaining_ms(deadline));
        if (rc < 0 && errno == EINTR) continue;
        return rc == 1 && (p.revents & (events | POLLERR | POLLHUP)) != 0;
    }
}

std::string openssl_error(std::string_view what) {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return std::string(what);
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return std::string(what) + ": " + buf;
}

// Counts every byte the TLS engine hands to the socket: the acknowledged position of the
// plaintext is then exact (records and handshake included), not a guess from plaintext sizes.
long count_written(BIO* bio, int oper, const char*, std::size_t, int, long, int ret,
                   // NOLINTNEXTLINE(readability-non-const-parameter): BIO_callback_fn_ex's type
                   std::size_t* processed) {
    if (oper == (BIO_CB_WRITE | BIO_CB_RETURN) && ret > 0 && processed != nullptr) {
        auto* conn = reinterpret_cast<syslog_connection*>(BIO_get_callback_arg(bio));
        if (conn != nullptr) conn->wire_written_ += *processed;
    }
    return ret;
}

// An SSL_CTX for a client that verifies the collector (RFC 5425 section 5.2).
SSL_CTX* make_context(const syslog_tls_options& tls, std::string& error) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == nullptr) {
        error = openssl_error("TLS context");
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    const bool cas = tls.ca_file.empty()
                         ? SSL_CTX_set_default_verify_paths(ctx) == 1
                         : SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr) == 1;
    if (!cas) {
        error = openssl_error("cannot load the CA certificates " + tls.ca_file);
        SSL_CTX_free(ctx);
        return nullptr;
    }
    if (!tls.certificate_file.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx, tls.certificate_file.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, tls.private_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            error = openssl_error("cannot use the client certificate " + tls.certificate_file);
            SSL_CTX_free(ctx);
            return nullptr;
        }
    }
    return ctx;
}

}  // namespace

syslog_connection::~syslog_connection() { close(); }

void syslog_connection::close() {
    if (ssl_ != nullptr) {
        // A best-effort close_notify: the socket is non-blocking, so this never waits.
        (void)SSL_shutdown(static_cast<SSL*>(ssl_));
        SSL_free(static_cast<SSL*>(ssl_));
        ssl_ = nullptr;
    }
    if (ctx_ != nullptr) {
        SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
        ctx_ = nullptr;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    wire_written_ = 0;
    ERR_clear_error();
}

bool syslog_connection::open(const std::string& host, std::uint16_t port,
                             syslog_transport transport, const syslog_tls_options& tls,
                             std::chrono::milliseconds timeout, std::string& error) {
    close();
    transport_ = transport;
    const auto deadline = steady::now() + timeout;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = transport == syslog_transport::udp ? SOCK_DGRAM : SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string service = std::to_string(port);
    if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
        error = "cannot resolve " + host + ": " + ::gai_strerror(rc);
        return false;
    }
    error = "cannot connect to " + host + ":" + service;
    for (addrinfo* ai = res; ai != nullptr && fd_ < 0; ai = ai->ai_next) {
        const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                                ai->ai_protocol);
        if (fd < 0) continue;
        int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            int err = 0;
            socklen_t len = sizeof err;
            rc = wait_for(fd, POLLOUT, deadline) &&
                         ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0
                     ? 0
                     : -1;
            if (rc != 0 && err != 0) error += ": " + std::generic_category().message(err);
        } else if (rc != 0) {
            error += ": " + std::generic_category().message(errno);
        }
        if (rc == 0) {
            fd_ = fd;
        } else {
            ::close(fd);
        }
    }
    ::freeaddrinfo(res);
    if (fd_ < 0) return false;
    error.clear();
    if (transport == syslog_transport::udp) return true;

    int one = 1;
    (void)::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Data the collector does not acknowledge for this long fails the connection, so a
    // collector that vanished without a reset is noticed and its records are sent again.
    unsigned user_timeout = 30'000;
    (void)::setsockopt(fd_, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
    (void)::setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    if (transport == syslog_transport::tcp) return true;

    auto* ctx = make_context(tls, error);
    if (ctx == nullptr) {
        close();
        return false;
    }
    ctx_ = ctx;
    SSL* ssl = SSL_new(ctx);
    ssl_ = ssl;
    const std::string name = tls.server_name.empty() ? host : tls.server_name;
    in6_addr ip{};
    const bool is_ip = ::inet_pton(AF_INET, name.c_str(), &ip) == 1 ||
                       ::inet_pton(AF_INET6, name.c_str(), &ip) == 1;
    X509_VERIFY_PARAM* param = ssl != nullptr ? SSL_get0_param(ssl) : nullptr;
    const bool named =
        param != nullptr &&
        (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
               : SSL_set1_host(ssl, name.c_str()) == 1 &&
                     // SSL_set_tlsext_host_name without its C cast: the name as SNI.
                     SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                              const_cast<char*>(name.c_str())) == 1);
    if (!named || SSL_set_fd(ssl, fd_) != 1) {
        error = openssl_error("TLS setup for " + name);
        close();
        return false;
    }
    BIO* wbio = SSL_get_wbio(ssl);
    BIO_set_callback_arg(wbio, reinterpret_cast<char*>(this));
    BIO_set_callback_ex(wbio, count_written);
    for (;;) {
        const int rc = SSL_connect(ssl);
        if (rc == 1) return true;
        const int e = SSL_get_error(ssl, rc);
        const short want = e == SSL_ERROR_WANT_READ    ? short{POLLIN}
                           : e == SSL_ERROR_WANT_WRITE ? short{POLLOUT}
                                                       : short{0};
        if (want != 0 && wait_for(fd_, want, deadline)) continue;
        const long verify = SSL_get_verify_result(ssl);
        if (want != 0) {
            error = "TLS handshake with " + host + " timed out";
        } else if (verify != X509_V_OK) {
            error = "the certificate of " + host + " does not verify (" +
                    X509_verify_cert_error_string(verify) + ")";
        } else {
            error = openssl_error("TLS handshake with " + host);
        }
        ERR_clear_error();
        close();
        return false;
    }
}

std::optional<std::size_t> syslog_connection::write_some(std::string_view bytes,
                                                         std::string& error) {
    if (fd_ < 0) {
        error = "not connected";
        return std::nullopt;
    }
    if (bytes.empty()) return 0;
    if (ssl_ != nullptr) {
        auto* ssl = static_cast<SSL*>(ssl_);
        const int chunk = bytes.size() > (1u << 20) ? (1 << 20) : static_cast<int>(bytes.size());
        const int rc = SSL_write(ssl, bytes.data(), chunk);
        if (rc > 0) return static_cast<std::size_t>(rc);
        const int e = SSL_get_error(ssl, rc);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return 0;
        error = e == SSL_ERROR_SYSCALL
                    ? "TLS write failed: " + std::generic_category().message(errno)
                    : openssl_error("TLS write failed");
        return std::nullopt;
    }
    for (;;) {
        const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            wire_written_ +=
                transport_ == syslog_transport::udp ? 0 : static_cast<std::uint64_t>(n);
            return static_cast<std::size_t>(n);
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        error = "send failed: " + std::generic_category().message(errno);
        return std::nullopt;
    }
}

void syslog_connection::wait_writable(std::chrono::milliseconds timeout) const {
    if (fd_ >= 0) (void)wait_for(fd_, POLLOUT, steady::now() + timeout);
}

std::uint64_t syslog_connection::wire_acknowledged() const {
    if (fd_ < 0 || transport_ == syslog_transport::udp) return 0;
    // Linux: SIOCOUTQ is write_seq - snd_una, the bytes sent or queued that the peer has not
    // acknowledged yet (SIOCOUTQNSD would be the unsent ones only).
    int unacked = 0;
    if (::ioctl(fd_, SIOCOUTQ, &unacked) != 0 || unacked < 0) return 0;
    const auto u = static_cast<std::uint64_t>(unacked);
    return u >= wire_written_ ? 0 : wire_written_ - u;
}

bool syslog_connection::peer_gone(std::string& error) {
    if (fd_ < 0 || transport_ == syslog_transport::udp) return false;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
        error = "connection failed: " + std::generic_category().message(err);
        return true;
    }
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) != 1) return false;
    if ((p.revents & (POLLERR | POLLHUP | POLLRDHUP)) != 0 && (p.revents & POLLIN) == 0) {
        error = "the collector closed the connection";
        return true;
    }
    char scratch[4096];
    if (ssl_ != nullptr) {
        auto* ssl = static_cast<SSL*>(ssl_);
        for (int i = 0; i < 16; ++i) {
            const int rc = SSL_read(ssl, scratch, sizeof scratch);
            if (rc > 0) continue;  // a collector has nothing to say: dropped
            const int e = SSL_get_error(ssl, rc);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return false;
            error = e == SSL_ERROR_ZERO_RETURN ? "the collector closed the TLS session"
                                               : openssl_error("the TLS session failed");
            return true;
        }
        return false;
    }
    for (int i = 0; i < 16; ++i) {
        const auto n = ::recv(fd_, scratch, sizeof scratch, MSG_DONTWAIT);
        if (n > 0) continue;
        if (n == 0) {
            error = "the collector closed the connection";
            return true;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        error = "connection failed: " + std::generic_category().message(errno);
        return true;
    }
    return false;
}

}  // namespace exportwall::audit
