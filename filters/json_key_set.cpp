#include "filters/json_key_set.hpp"

#include <cstring>

namespace exportwall::filters {
namespace {

std::uint64_t hash_key(std::uint64_t scope, std::string_view key) {
    // FNV-1a, seeded with the object's scope so equal keys of different objects spread out.
    std::uint64_t h = 14695981039346656037ULL ^ (scope * 0x9E3779B97F4A7C15ULL);
    for (char c : key) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

}  // namespace

bool json_key_set::insert(std::uint64_t scope, std::string_view key) {
    if ((entries_.size() + 1) * 2 > slots_.size()) grow();
    const std::uint64_t h = hash_key(scope, key);
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(h) & mask;
    while (slots_[i] != 0) {
        const entry& e = entries_[slots_[i] - 1];
        if (e.hash == h && e.scope == scope && e.length == key.size() &&
            std::memcmp(text_.data() + e.offset, key.data(), key.size()) == 0) {
            return false;
        }
        i = (i + 1) & mask;
    }
    entries_.push_back({h, scope, text_.size(), key.size()});
    text_.append(key);
    slots_[i] = static_cast<std::uint32_t>(entries_.size());
    return true;
}

std::size_t json_key_set::find_slot(std::size_t entry_index) const {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(entries_[entry_index].hash) & mask;
    while (slots_[i] != entry_index + 1) i = (i + 1) & mask;
    return i;
}

void json_key_set::truncate(std::size_t mark) {
    const std::size_t mask = slots_.size() - 1;
    while (entries_.size() > mark) {
        // Backward-shift deletion keeps linear probing correct without tombstones.
        std::size_t hole = find_slot(entries_.size() - 1);
        std::size_t j = hole;
        for (;;) {
            j = (j + 1) & mask;
            if (slots_[j] == 0) break;
            const std::size_t home = static_cast<std::size_t>(entries_[slots_[j] - 1].hash) & mask;
            const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
            if (stays) continue;
            slots_[hole] = slots_[j];
            hole = j;
        }
        slots_[hole] = 0;
        text_.resize(entries_.back().offset);
        entries_.pop_back();
    }
}

void json_key_set::grow() {
    const std::size_t capacity = slots_.empty() ? 64 : slots_.size() * 2;
    slots_.assign(capacity, 0);
    const std::size_t mask = capacity - 1;
    for (std::size_t k = 0; k < entries_.size(); ++k) {
        std::size_t i = static_cast<std::size_t>(entries_[k].hash) & mask;
        while (slots_[i] != 0) i = (i + 1) & mask;
        slots_[i] = static_cast<std::uint32_t>(k + 1);
    }
}

}  // namespace exportwall::filters
