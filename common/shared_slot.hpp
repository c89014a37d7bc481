#pragma once
// One shared object that threads read and replace: load() hands out the object current at the
// call (its holder keeps it alive whatever replaces it meanwhile), store() replaces it. The
// proxy's configuration snapshot and each listener's TLS context live in one.
//
// A mutex held for the copy of one pointer and one reference count, not
// std::atomic<std::shared_ptr>: libstdc++ 12's load() releases the atomic's internal lock with a
// relaxed store, so a load's read of the pointer is not ordered before the next store()'s write.
// By the memory model that is a data race, and ThreadSanitizer reports it (a reload against
// sessions taking the snapshot). Uncontended, the lock costs a few tens of nanoseconds per load:
// one per request.

#include <memory>
#include <mutex>
#include <utility>

namespace exportwall::common {

template <class T>
class shared_slot {
  public:
    shared_slot() = default;
    explicit shared_slot(std::shared_ptr<T> initial) : value_(std::move(initial)) {}
    shared_slot(const shared_slot&) = delete;
    shared_slot& operator=(const shared_slot&) = delete;
    ~shared_slot() = default;

    [[nodiscard]] std::shared_ptr<T> load() const {
        std::lock_guard hold(mutex_);
        return value_;
    }

    // The object replaced is released after the lock, by whoever held it last.
    void store(std::shared_ptr<T> next) {
        {
            std::lock_guard hold(mutex_);
            value_.swap(next);
        }
    }

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<T> value_;
};

}  // namespace exportwall::common
