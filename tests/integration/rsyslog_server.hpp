#pragma once
// A real rsyslogd (Debian's package, with rsyslog-openssl for TLS) as the SIEM's collector in the
// audit forwarding tests: its own configuration in the test's temporary directory, a TCP or TLS
// (RFC 5425) listener on loopback, every message's MSG part written to a file. Stopped and
// started again on the same port by the tests, so records are produced while it is down.
// Skips are the caller's: available() / tls_available() say whether it is installed.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

namespace exportwall::itest {

class rsyslog_server {
  public:
    // The listener's TLS side: its certificate and key, the CAs it trusts for client
    // certificates, and whether it requires one (x509/certvalid) or takes anyone (anon).
    struct tls_files {
        std::string ca_file;
        std::string certificate_file;
        std::string key_file;
        bool require_client_certificate = false;
    };

    [[nodiscard]] static bool available();
    [[nodiscard]] static bool tls_available();

    // Starts it listening on 127.0.0.1:`port` (0: it picks one and reports it), plain TCP or
    // TLS. Waits (bounded poll) until it accepts connections.
    [[nodiscard]] bool start(const temp_dir& dir, std::uint16_t port = 0,
                             std::optional<tls_files> tls = std::nullopt);
    // Starts it again after stop(), on the same port with the same settings.
    [[nodiscard]] bool restart();
    void stop();  // SIGTERM; waits for it to exit (its queue written out)
    [[nodiscard]] std::uint16_t port() const { return port_; }
    // The MSG of every message received so far, in order (leading spaces trimmed).
    [[nodiscard]] std::vector<std::string> messages() const;
    [[nodiscard]] std::string log() const;

  private:
    child_process process_;
    const temp_dir* dir_ = nullptr;
    std::optional<tls_files> tls_;
    std::uint16_t port_ = 0;
    int starts_ = 0;
};

}  // namespace exportwall::itest
