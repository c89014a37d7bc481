#pragma once
// Idle upstream connections, per upstream. A connection enters the pool only after a complete,
// correctly framed response with keep-alive on both sides; anything else is closed by the relay.
// Thread-safe (a short mutex per acquire/release: once per request, never per byte).

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "config/settings.hpp"
#include "proxy/stream.hpp"

namespace exportwall::proxy {

// Connections are shared only between requests to the same origin with the same trust anchors:
// the key is scheme, host, port and CA file, so a reload that changes an upstream's URL never
// reuses a connection to the old one.
[[nodiscard]] std::string pool_key(const config::upstream& u);

class upstream_pool {
  public:
    explicit upstream_pool(std::size_t max_idle_per_upstream) : max_idle_(max_idle_per_upstream) {}
    ~upstream_pool() = default;
    upstream_pool(const upstream_pool&) = delete;
    upstream_pool& operator=(const upstream_pool&) = delete;

    // The most recently released idle connection to `key` that is still open (dead ones found on
    // the way are closed), or null.
    [[nodiscard]] std::unique_ptr<byte_stream> acquire(const std::string& key);
    // Keeps `c` for reuse; the oldest idle connection is closed when the pool for `key` is full.
    void release(const std::string& key, std::unique_ptr<byte_stream> c);
    // Closes every idle connection (shutdown, reload of the pool size).
    void clear();
    void set_max_idle(std::size_t n);
    [[nodiscard]] std::size_t idle(const std::string& key) const;

    // Last connect outcome per key, for /readyz: unknown keys count as reachable.
    void note_reachable(const std::string& key, bool ok);
    [[nodiscard]] bool reachable(const std::string& key) const;

  private:
    mutable std::mutex mutex_;
    std::size_t max_idle_;
    std::map<std::string, std::deque<std::unique_ptr<byte_stream>>, std::less<>> idle_;
    std::map<std::string, bool, std::less<>> reachable_;
};

}  // namespace exportwall::proxy
