#pragma once
// The relay's way to the CRM (proxy/exchange.hpp): an <oauth2> upstream's access token, a pooled
// connection or a new one (resolve, connect, TLS handshake, each within upstream-connect), and the
// request head (with a body read ahead) written on it. Every failure is a relay_outcome: a
// refusal (502 upstream_unavailable, 503 upstream_auth_unavailable), or a retry on a fresh
// connection when a reused one closed under the request.

#include <memory>

#include <boost/asio/awaitable.hpp>

#include "proxy/exchange.hpp"

namespace exportwall::proxy {

// Connects one exchange to its CRM. Lives in session::forward's frame, with the context and the
// exchange it refers to.
class upstream_connector {
  public:
    upstream_connector(relay_context& ctx, exchange& x) : ctx_(ctx), x_(x) {}

    // An <oauth2> upstream's access token into x.bearer (x.tokens set): next, or 503
    // upstream_auth_unavailable with Retry-After while there is none (nothing goes to the CRM).
    [[nodiscard]] net::awaitable<relay_outcome> obtain_token();
    // A pooled connection on the first attempt, else a new one; then the head (and a body read
    // ahead) in one write. Retry when a reused connection was closed under it; an abort
    // (`shutdown`) once a stop cut the request before the CRM was asked.
    [[nodiscard]] net::awaitable<relay_outcome> send_request(int attempt);
    // The CRM answered 401 to the token: next (send again with a fresh token, on a new
    // connection) once, else 503 upstream_auth_unavailable. The 401 never reaches the client.
    [[nodiscard]] net::awaitable<relay_outcome> renew_token();

  private:
    // A connection to the CRM, or null with `fault` set.
    net::awaitable<std::unique_ptr<byte_stream>> connect(upstream_fault& fault);

    relay_context& ctx_;
    exchange& x_;
};

}  // namespace exportwall::proxy
