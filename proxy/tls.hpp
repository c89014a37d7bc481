#pragma once
// TLS contexts: one per TLS listener (server side, optional client certificates) and one per https
// upstream (client side, CA verification). TLS 1.2 is the minimum everywhere; there is no switch
// to turn verification off. Control plane: errors are returned as messages, never thrown.

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "config/settings.hpp"

namespace exportwall::proxy {

// What the listener learned about a client certificate during the handshake.
struct peer_identity {
    bool verified = false;    // a certificate was presented and verified against client_ca
    std::string subject;      // RFC 2253 string of the verified certificate's subject
    std::string fingerprint;  // SHA-256 of its DER encoding, lower-case hex
};

// A server context for a TLS listener, or null with `error` set (a file that cannot be read, a key
// that does not match the certificate, a missing client CA).
[[nodiscard]] std::shared_ptr<boost::asio::ssl::context> make_server_context(
    const config::tls_settings& tls, std::string& error);

// A client context for an https upstream: the upstream's CA bundle, or the system store when
// none is configured. Null with `error` set on failure.
[[nodiscard]] std::shared_ptr<boost::asio::ssl::context> make_upstream_context(
    const config::upstream& u, std::string& error);

// Prepares an upstream TLS connection before its handshake: SNI (host names only) and host-name
// (or IP address) verification against the certificate. False when OpenSSL refuses the name.
[[nodiscard]] bool prepare_upstream_ssl(SSL* ssl, const std::string& host);

// The verified client certificate of a finished server handshake (empty when none was sent).
[[nodiscard]] peer_identity read_peer_identity(SSL* ssl);

}  // namespace exportwall::proxy
