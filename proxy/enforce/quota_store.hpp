#pragma once
// Where exportwall counts what must hold across requests and replicas (issue 17): the records a
// grant delivered in its quota window, the records of a paged export (its sealed continuation
// chain), the hourly volumes of the volume alerts and their holds. Two implementations: one in
// process (a single replica) and one on Redis (shared by every replica that names the same
// server, proxy/enforce/redis_store.hpp).
//
// Fail closed: a store that cannot answer returns an error, and the caller refuses or aborts the
// export (503 quota_store_unavailable); it never guesses a count.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace exportwall::proxy {

// One counter a reservation draws on. Keys are built from configuration ids only (client,
// purpose, destination, window start; a chain id exportwall generated), never from request data.
struct quota_counter {
    std::string key;            // without the store's key prefix
    std::uint64_t limit = 0;    // the most the counter may reach
    std::int64_t ttl_seconds = 0;  // the counter is forgotten this long after it was created
};

struct reservation {
    boost::system::error_code error;  // set: the store did not answer (nothing was reserved)
    std::uint64_t granted = 0;        // ≤ wanted: min over the counters of (limit − used)
    // Which counter limited the grant when granted < wanted (an index into the counters).
    std::size_t limited_by = 0;
    // The least room any counter has left after the grant (limit − used).
    std::uint64_t room = 0;
    // Each counter's room after the grant, in the order asked (empty when nothing was asked).
    std::vector<std::uint64_t> rooms;
};

struct count_result {
    boost::system::error_code error;
    std::vector<std::uint64_t> values;  // one per key asked; 0 for a key that does not exist
};

class quota_store {
  public:
    virtual ~quota_store() = default;
    quota_store() = default;
    quota_store(const quota_store&) = delete;
    quota_store& operator=(const quota_store&) = delete;

    // Atomically, over every counter: granted = min(want, limit − used) (at least 0), and every
    // counter grows by `granted`. A counter created here expires after its ttl.
    [[nodiscard]] virtual boost::asio::awaitable<reservation> reserve(
        std::vector<quota_counter> counters, std::uint64_t want) = 0;
    // Returns `n` reserved but undelivered records to every counter (never below zero).
    [[nodiscard]] virtual boost::asio::awaitable<boost::system::error_code> release(
        std::vector<quota_counter> counters, std::uint64_t n) = 0;
    // The same without waiting: for counters far from their limit, where a return that lands a
    // moment later changes no decision. The Redis store sends it with the next command of this
    // replica (no round trip of its own), or within 50 ms on the caller's executor; the
    // in-process store returns it at once. A return that is lost leaves the records counted
    // (fail closed).
    virtual void release_soon(std::vector<quota_counter> counters, std::uint64_t n,
                              const boost::asio::any_io_executor& ex) = 0;
    // Adds `n` to one unlimited counter (created with `ttl_seconds`), returns its new value.
    [[nodiscard]] virtual boost::asio::awaitable<count_result> add(std::string key,
                                                                   std::uint64_t n,
                                                                   std::int64_t ttl_seconds) = 0;
    // The values of several counters (0 for a missing one).
    [[nodiscard]] virtual boost::asio::awaitable<count_result> read(
        std::vector<std::string> keys) = 0;
    // Sets (value > 0, no expiry) or deletes (value == 0) one counter: volume-alert holds.
    [[nodiscard]] virtual boost::asio::awaitable<boost::system::error_code> put(
        std::string key, std::uint64_t value) = 0;
    // Every key with this prefix and its value (volume-alert holds, for the admin API).
    [[nodiscard]] virtual boost::asio::awaitable<std::optional<std::vector<std::pair<std::string, std::uint64_t>>>>
    scan(std::string prefix) = 0;

    // True when every replica naming the same store shares the counts (Redis).
    [[nodiscard]] virtual bool shared() const noexcept = 0;
    // "memory" or "redis://host:port/db" (no password).
    [[nodiscard]] virtual std::string describe() const = 0;
};

// The in-process store: exact and immediate, for one replica. Thread-safe.
[[nodiscard]] std::shared_ptr<quota_store> make_memory_store();

}  // namespace exportwall::proxy
