#pragma once
// The keys of JSON objects, to refuse a key an object repeats. Each object has a scope (a number
// unique among the objects tracked together). Objects nest, so keys form a stack: truncate() to a
// mark() forgets the keys of the objects closed since; clear() forgets everything at once (a
// record's objects, when the record ends). A hash index keeps each check O(1) on average, so an
// object with many keys costs linear time.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exportwall::filters {

// A fast hash of a short key, seeded (with an object's scope, a parent's identity). Not keyed:
// callers must stay correct, only slower, when upstream chooses colliding keys.
[[nodiscard]] std::uint64_t json_key_hash(std::uint64_t seed, std::string_view key);

class json_key_set {
  public:
    // Adds `key` to the object `scope`. False when that object already has the key (nothing is
    // added then).
    [[nodiscard]] bool insert(std::uint64_t scope, std::string_view key);
    // The position to truncate back to when the object opened now closes.
    [[nodiscard]] std::size_t mark() const { return entries_.size(); }
    // Removes every key added since `mark`.
    void truncate(std::size_t mark);
    // Removes every key, in constant time.
    void clear();
    // Bytes of key text held.
    [[nodiscard]] std::size_t bytes() const { return text_.size(); }
    // Bytes of storage held, used or not.
    [[nodiscard]] std::size_t capacity_bytes() const {
        return entries_.capacity() * sizeof(entry) + text_.capacity() +
               slots_.capacity() * sizeof(slot);
    }

  private:
    struct entry {
        std::uint64_t hash;
        std::uint64_t scope;
        std::size_t offset;  // into text_
        std::size_t length;
    };
    // A slot is empty unless its generation is the current one.
    struct slot {
        std::uint32_t generation = 0;
        std::uint32_t index = 0;  // into entries_
    };

    [[nodiscard]] bool used(std::size_t i) const { return slots_[i].generation == generation_; }
    [[nodiscard]] std::size_t find_slot(std::size_t entry_index) const;
    void grow();

    std::vector<entry> entries_;
    std::string text_;
    std::vector<slot> slots_;
    std::uint32_t generation_ = 1;
};

}  // namespace exportwall::filters
