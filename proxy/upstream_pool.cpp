#include "proxy/upstream_pool.hpp"

#include <utility>
#include <vector>

namespace exportwall::proxy {

std::string pool_key(const config::upstream& u) {
    std::string key;
    key.reserve(u.scheme.size() + u.host.size() + u.ca_file.size() + 3 + 1 + 5 + 1);
    key += u.scheme;
    key += "://";
    key += u.host;
    key += ':';
    key += std::to_string(u.port);
    key += '|';
    key += u.ca_file;
    return key;
}

std::unique_ptr<byte_stream> upstream_pool::acquire(const std::string& key) {
    std::vector<std::unique_ptr<byte_stream>> dead;  // (an empty deque allocates: a vector not)
    std::unique_ptr<byte_stream> found;
    {
        std::lock_guard lock(mutex_);
        auto it = idle_.find(key);
        if (it == idle_.end()) return nullptr;
        auto& list = it->second;
        while (!list.empty()) {
            auto c = std::move(list.back());
            list.pop_back();
            if (c->idle_and_open()) {
                found = std::move(c);
                break;
            }
            dead.push_back(std::move(c));
        }
    }
    for (auto& c : dead) c->close();
    return found;
}

void upstream_pool::release(const std::string& key, std::unique_ptr<byte_stream> c) {
    std::unique_ptr<byte_stream> evicted;
    {
        std::lock_guard lock(mutex_);
        if (max_idle_ == 0) {
            evicted = std::move(c);
        } else {
            auto& list = idle_[key];
            if (list.size() >= max_idle_) {
                evicted = std::move(list.front());
                list.pop_front();
            }
            list.push_back(std::move(c));
        }
    }
    if (evicted) evicted->close();
}

void upstream_pool::clear() {
    std::map<std::string, std::deque<std::unique_ptr<byte_stream>>, std::less<>> all;
    {
        std::lock_guard lock(mutex_);
        all.swap(idle_);
    }
    for (auto& [key, list] : all)
        for (auto& c : list) c->close();
}

void upstream_pool::set_max_idle(std::size_t n) {
    std::lock_guard lock(mutex_);
    max_idle_ = n;
}

std::size_t upstream_pool::idle(const std::string& key) const {
    std::lock_guard lock(mutex_);
    auto it = idle_.find(key);
    return it == idle_.end() ? 0 : it->second.size();
}

void upstream_pool::note_reachable(const std::string& key, bool ok) {
    std::lock_guard lock(mutex_);
    reachable_[key] = ok;
}

bool upstream_pool::reachable(const std::string& key) const {
    std::lock_guard lock(mutex_);
    auto it = reachable_.find(key);
    return it == reachable_.end() || it->second;
}

}  // namespace exportwall::proxy
