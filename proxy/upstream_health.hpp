#pragma once
// The active health check of every upstream (issue 19, item 3): /readyz follows the CRM, failing
// when it cannot be reached and passing again once it can, without waiting for an export to try
// (a pod that is not ready gets no exports, so it would never find out). Every upstream's
// `health-interval` (0: not checked) a connection is opened — TLS-handshaken and verified like an
// export's for https — and, with `health-path`, `GET health-path` must answer 200-399 within
// the upstream-connect limit. `health-threshold` failures in a row mark the upstream unreachable
// (runtime::ready() fails); one success marks it reachable. No credential is sent: the path must
// answer without one. Upstreams added by a reload are checked from then on.

namespace boost::asio {
class io_context;
}

namespace exportwall::proxy {

class runtime;

// Starts the checks on `ioc`; they run until it stops.
void start_health_checks(runtime& rt, boost::asio::io_context& ioc);

}  // namespace exportwall::proxy
