#pragma once
// One client connection: TLS handshake, then requests read, checked, matched and relayed to the
// CRM strictly in order (keep-alive, pipelining), until either side closes. Implemented as one
// coroutine per connection (proxy/session.cpp: the connection and admission; the relay's parts
// are upstream_connector, request_relay and response_relay over proxy/exchange.hpp).

#include <cstddef>
#include <memory>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "common/shared_slot.hpp"
#include "config/address_range.hpp"

namespace boost::asio::ssl {
class context;
}

namespace exportwall::proxy {

class runtime;

// What a session needs to know about the listener that accepted it. Fixed at start-up.
struct listener_context {
    std::size_t index = 0;                           // position in <listen> order
    // The listener's TLS context (null: plain HTTP). A reload re-reads the certificate files
    // (SIGHUP: a renewed certificate needs no restart) and stores a new context here; a session
    // takes the one current at accept and keeps it to its end.
    mutable common::shared_slot<boost::asio::ssl::context> tls;
    // Who may name the client (config::listener, proxy/http/client_address.hpp); fixed at start-up.
    std::vector<config::address_range> trusted_proxies;
    bool proxy_protocol = false;
    bool forwarded_for = false;
};

// Serves `socket` until the connection ends. Never throws; every error ends in a problem
// response, an aborted response or a closed connection. `rt` and `listener` outlive it.
boost::asio::awaitable<void> run_session(runtime& rt,
                                         std::shared_ptr<const listener_context> listener,
                                         boost::asio::ip::tcp::socket socket);

}  // namespace exportwall::proxy
