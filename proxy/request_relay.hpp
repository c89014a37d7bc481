#pragma once
// The client's request body on its way to the CRM (proxy/exchange.hpp): `Expect: 100-continue`
// answered by exportwall, the body decoded by Beast from the client's buffer into the relay
// buffer and written to the CRM as it came (content-length) or re-chunked (chunked), bounded by
// max-request-body-bytes, request-body-idle, the request deadline and the minimum rate.

#include <boost/asio/awaitable.hpp>

#include "proxy/exchange.hpp"

namespace exportwall::proxy {

// Streams one exchange's request body (x.body, not done yet) to its connection x.conn. Lives in
// the relay's frame, with the context and the exchange it refers to.
class request_relay {
  public:
    request_relay(relay_context& ctx, exchange& x) : ctx_(ctx), x_(x) {}

    // The body, through the relay buffer: next once it is all written; a rejection (400, 408,
    // 413) of the client's body, an abort when the client went away, or 502
    // upstream_unavailable when the CRM closed.
    [[nodiscard]] net::awaitable<relay_outcome> relay_body();

  private:
    relay_context& ctx_;
    exchange& x_;
};

}  // namespace exportwall::proxy
