#pragma once
// The requests in flight — from the decision that lets an export start to the end of its
// response — each with the function that cuts it short when a stop's shutdown-grace is over.
// Shared by every session (they enter and leave on their own threads) and the drain (which waits
// for the set to empty, then cuts what is left). No Asio: a cut function posts to its session's
// executor itself.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace exportwall::proxy {

class in_flight_requests {
  public:
    // Called from any thread; must not block (a session's cut posts to its own strand).
    using cut_function = std::function<void()>;

    in_flight_requests() = default;
    ~in_flight_requests() = default;
    in_flight_requests(const in_flight_requests&) = delete;
    in_flight_requests& operator=(const in_flight_requests&) = delete;

    // One request in flight for as long as it lives (RAII): entered with its cut function, left
    // on every way out.
    class entry {
      public:
        entry(in_flight_requests& set, cut_function cut)
            : set_(set), id_(set.enter(std::move(cut))) {}
        ~entry() { set_.leave(id_); }
        entry(const entry&) = delete;
        entry& operator=(const entry&) = delete;

      private:
        in_flight_requests& set_;
        std::uint64_t id_;
    };

    [[nodiscard]] std::size_t count() const;

    // Calls `idle` once, when no request is in flight: at once (on this thread) when none is,
    // else on the thread of the request that leaves last. One waiter at a time; an empty
    // function withdraws it (after which it is never called).
    void when_idle(std::function<void()> idle);

    // Calls the cut function of every request in flight (outside the lock); how many.
    std::size_t cut_all();

  private:
    [[nodiscard]] std::uint64_t enter(cut_function cut);
    void leave(std::uint64_t id);

    mutable std::mutex mutex_;
    std::uint64_t next_id_ = 0;
    std::map<std::uint64_t, cut_function> requests_;
    std::function<void()> idle_;
};

}  // namespace exportwall::proxy
