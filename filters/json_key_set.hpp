#pragma once
// The keys of the JSON objects currently open, to refuse a key an object repeats. Objects nest,
// so their keys form a stack: an object's keys are the entries added since its mark(), and
// closing it truncates back to that mark. A hash index keeps each check O(1) on average, so a
// record with many keys costs linear time. Memory holds only the keys of open objects.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exportwall::filters {

class json_key_set {
  public:
    // Adds `key` to the object identified by `scope` (unique per open object). False when that
    // object already has the key (nothing is added then).
    [[nodiscard]] bool insert(std::uint64_t scope, std::string_view key);
    // The position to truncate back to when the object opened now closes.
    [[nodiscard]] std::size_t mark() const { return entries_.size(); }
    // Removes every key added since `mark`.
    void truncate(std::size_t mark);
    // Bytes of key text held.
    [[nodiscard]] std::size_t bytes() const { return text_.size(); }

  private:
    struct entry {
        std::uint64_t hash;
        std::uint64_t scope;
        std::size_t offset;  // into text_
        std::size_t length;
    };

    [[nodiscard]] std::size_t find_slot(std::size_t entry_index) const;
    void grow();

    std::vector<entry> entries_;
    std::string text_;
    std::vector<std::uint32_t> slots_;  // 0: empty; otherwise an index into entries_ plus one
};

}  // namespace exportwall::filters
