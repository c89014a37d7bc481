#pragma once
// One connection to a syslog collector — UDP, TCP, or TLS over TCP (RFC 5425: the server's
// certificate verified against a CA and its name or address, an optional client certificate) —
// with what the forwarder needs to know what arrived: the bytes written to the socket (TLS
// records included) and, from the kernel (Linux SIOCOUTQ), how many of them the peer's TCP has
// acknowledged. Non-blocking throughout: every wait is bounded by the caller's timeout.
//
// One thread uses a connection. Errors are sentences that never name a record's contents.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace exportwall::audit {

enum class syslog_transport : std::uint8_t {
    udp,  // one message per datagram; best effort
    tcp,  // RFC 6587 octet counting
    tls,  // RFC 5425: octet counting inside TLS (1.2 or later)
};

struct syslog_tls_options {
    std::string ca_file;           // PEM CAs the collector's certificate must chain to; "": system
    std::string certificate_file;  // PEM client certificate chain (mutual TLS); "": none
    std::string private_key_file;  // its unencrypted private key (PEM)
    // The name (or IP address) the collector's certificate must carry; "": the host connected to.
    std::string server_name;
};

class syslog_connection {
  public:
    syslog_connection() = default;
    ~syslog_connection();
    syslog_connection(const syslog_connection&) = delete;
    syslog_connection& operator=(const syslog_connection&) = delete;

    // Resolves `host`, connects and (TLS) handshakes and verifies, within `timeout`. The TLS
    // files are read on every open, so a renewed certificate is used from the next connection on.
    // False with `error` set when it fails.
    [[nodiscard]] bool open(const std::string& host, std::uint16_t port, syslog_transport transport,
                            const syslog_tls_options& tls, std::chrono::milliseconds timeout,
                            std::string& error);
    [[nodiscard]] bool is_open() const { return fd_ >= 0; }

    // Writes as much of `bytes` as the socket takes without waiting (UDP: the whole datagram, or
    // nothing). Returns the bytes taken; nullopt, with `error` set, when the connection failed.
    // TLS: a write that was only partly taken must be repeated with the same bytes first.
    [[nodiscard]] std::optional<std::size_t> write_some(std::string_view bytes, std::string& error);

    // Waits up to `timeout` until the socket can take more bytes (or failed).
    void wait_writable(std::chrono::milliseconds timeout) const;

    // TCP and TLS: bytes written to the socket since open() (TLS: the encrypted records,
    // handshake included), and how many of them the peer acknowledged. UDP: both 0.
    [[nodiscard]] std::uint64_t wire_written() const { return wire_written_; }
    [[nodiscard]] std::uint64_t wire_acknowledged() const;

    // TCP and TLS: whether the collector closed or reset the connection (it never sends
    // anything; a TLS session ticket is read and dropped). Sets `error` when it did.
    [[nodiscard]] bool peer_gone(std::string& error);

    void close();

    // Counted by the TLS write callback (public for that C callback only).
    std::uint64_t wire_written_ = 0;

  private:
    int fd_ = -1;
    syslog_transport transport_ = syslog_transport::udp;
    void* ctx_ = nullptr;  // SSL_CTX
    void* ssl_ = nullptr;  // SSL
};

}  // namespace exportwall::audit
