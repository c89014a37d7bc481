#include "proxy/in_flight.hpp"

#include <utility>
#include <vector>

namespace exportwall::proxy {

std::uint64_t in_flight_requests::enter(cut_function cut) {
    std::lock_guard lock(mutex_);
    const std::uint64_t id = next_id_++;
    requests_.emplace(id, std::move(cut));
    return id;
}

void in_flight_requests::leave(std::uint64_t id) {
    std::function<void()> idle;
    {
        std::lock_guard lock(mutex_);
        requests_.erase(id);
        if (requests_.empty()) idle = std::exchange(idle_, nullptr);
    }
    if (idle) idle();
}

std::size_t in_flight_requests::count() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
}

void in_flight_requests::when_idle(std::function<void()> idle) {
    {
        std::lock_guard lock(mutex_);
        if (!idle || !requests_.empty()) {
            idle_ = std::move(idle);
            return;
        }
        idle_ = nullptr;
    }
    idle();
}

std::size_t in_flight_requests::cut_all() {
    std::vector<cut_function> cuts;
    {
        std::lock_guard lock(mutex_);
        cuts.reserve(requests_.size());
        for (const auto& [id, cut] : requests_) cuts.push_back(cut);
    }
    for (const auto& cut : cuts)
        if (cut) cut();
    return cuts.size();
}

}  // namespace exportwall::proxy
