#include "filters/json/json_key_set.hpp"

#include <cstring>

namespace exportwall::filters {
namespace {

std::uint64_t load64(const char* p) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, 8);
    return w;
}

std::uint64_t load32(const char* p) {
    std::uint32_t w = 0;
    std::memcpy(&w, p, 4);
    return w;
}

}  // namespace

std::uint64_t json_key_hash(std::uint64_t seed, std::string_view key) {
    // Multiply-xorshift over 8-byte words (the tail read as overlapping fixed-size loads, which
    // compile to plain moves), seeded with the object's scope so equal keys of different objects
    // spread out. Not keyed: the worst case is a long probe, never a wrong answer, and memory
    // stays bounded by the record size.
    constexpr std::uint64_t k = 0x9E3779B97F4A7C15ULL;
    const char* p = key.data();
    const std::size_t n = key.size();
    std::uint64_t h = (seed + 1) * k ^ n;
    std::uint64_t tail = 0;
    if (n >= 8) {
        for (std::size_t i = 0; i + 8 < n; i += 8) {
            h = (h ^ load64(p + i)) * k;
            h ^= h >> 29;
        }
        tail = load64(p + n - 8);
    } else if (n >= 4) {
        tail = load32(p) | load32(p + n - 4) << 32;
    } else if (n > 0) {
        tail = static_cast<unsigned char>(p[0]) |
               static_cast<std::uint64_t>(static_cast<unsigned char>(p[n / 2])) << 8 |
               static_cast<std::uint64_t>(static_cast<unsigned char>(p[n - 1])) << 16;
    }
    h = (h ^ tail) * k;
    h ^= h >> 32;
    return h * k ^ (h >> 29);
}

bool json_key_set::insert(std::uint64_t scope, std::string_view key) {
    if ((entries_.size() + 1) * 2 > slots_.size()) grow();
    const std::uint64_t h = json_key_hash(scope, key);
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(h) & mask;
    while (used(i)) {
        const entry& e = entries_[slots_[i].index];
        if (e.hash == h && e.scope == scope && e.length == key.size() &&
            std::memcmp(text_.data() + e.offset, key.data(), key.size()) == 0) {
            return false;
        }
        i = (i + 1) & mask;
    }
    slots_[i] = {generation_, static_cast<std::uint32_t>(entries_.size())};
    entries_.push_back({h, scope, text_.size(), key.size()});
    text_.append(key);
    return true;
}

std::size_t json_key_set::find_slot(std::size_t entry_index) const {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(entries_[entry_index].hash) & mask;
    while (!used(i) || slots_[i].index != entry_index) i = (i + 1) & mask;
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
            if (!used(j)) break;
            const std::size_t home =
                static_cast<std::size_t>(entries_[slots_[j].index].hash) & mask;
            const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
            if (stays) continue;
            slots_[hole] = slots_[j];
            hole = j;
        }
        slots_[hole].generation = 0;
        text_.resize(entries_.back().offset);
        entries_.pop_back();
    }
}

void json_key_set::clear() {
    entries_.clear();
    text_.clear();
    if (++generation_ == 0) {
        // After 2^32 clears, old slots could look current again: wipe them once.
        for (auto& s : slots_) s.generation = 0;
        generation_ = 1;
    }
}

void json_key_set::grow() {
    const std::size_t capacity = slots_.empty() ? 64 : slots_.size() * 2;
    slots_.assign(capacity, slot{});
    const std::size_t mask = capacity - 1;
    for (std::size_t k = 0; k < entries_.size(); ++k) {
        std::size_t i = static_cast<std::size_t>(entries_[k].hash) & mask;
        while (used(i)) i = (i + 1) & mask;
        slots_[i] = {generation_, static_cast<std::uint32_t>(k)};
    }
}

}  // namespace exportwall::filters
