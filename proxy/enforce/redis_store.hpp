#pragma once
// The quota store on Redis (<quota-store url="redis://…"/>): counts shared by every replica that
// names the same server. Replies are parsed and commands formatted by hiredis (Debian's
// libhiredis, the RESP reference implementation); the bytes travel over Asio — plain TCP or TLS
// (rediss://, with the operator's CA) — so nothing blocks an io thread. hiredis 0.14 (Debian 12)
// has no TLS of its own and its async API wants an event-loop adapter Asio does not have: only
// its protocol layer is used.
//
// Every reservation is one Lua script (EVAL), atomic on the server: the counters of a grant's
// window and of a paged export are read, the grant computed and added in one step, so replicas
// never both take the last records; the scripts are loaded once per connection and run by their
// digest (EVALSHA). A command runs on the caller's own io thread, on a connection pooled for that
// thread's io_context (no hop to another thread); each is bounded by the configured timeout,
// after which its connection is dropped and the command fails (the caller refuses: 503
// quota_store_unavailable). The password is never logged.

#include <memory>

#include "config/settings.hpp"
#include "proxy/enforce/quota_store.hpp"

namespace exportwall::proxy {

// Null with `error` set when the TLS context cannot be built (an unreadable CA file). No
// connection is made here: the first command connects.
[[nodiscard]] std::shared_ptr<quota_store> make_redis_store(
    const config::quota_store_settings& settings, std::string& error);

}  // namespace exportwall::proxy
