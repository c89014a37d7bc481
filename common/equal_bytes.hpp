#pragma once
// Equality of two short byte strings without a call to memcmp: the filters compare a key or a
// field path for nearly every value they read (the JSON filter's member keys, the record rules'
// field paths), and most are 4 to 16 bytes, where two overlapping word loads decide it.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace exportwall::common {

namespace equal_bytes_detail {

// The first and the last sizeof(Word) bytes of a and b (n of them each, sizeof(Word) <= n <=
// 2 * sizeof(Word)): together they cover all n.
template <class Word>
[[nodiscard, gnu::always_inline]] inline bool ends_equal(const char* a, const char* b,
                                                         std::size_t n) {
    Word x = 0;
    Word y = 0;
    Word u = 0;
    Word v = 0;
    std::memcpy(&x, a, sizeof(Word));
    std::memcpy(&y, b, sizeof(Word));
    std::memcpy(&u, a + n - sizeof(Word), sizeof(Word));
    std::memcpy(&v, b + n - sizeof(Word), sizeof(Word));
    return x == y && u == v;
}

}  // namespace equal_bytes_detail

[[nodiscard, gnu::always_inline]] inline bool equal_bytes(std::string_view a, std::string_view b) {
    const std::size_t n = a.size();
    if (n != b.size()) return false;
    if (n <= 8 && n >= 4)
        return equal_bytes_detail::ends_equal<std::uint32_t>(a.data(), b.data(), n);
    if (n <= 16 && n > 8)
        return equal_bytes_detail::ends_equal<std::uint64_t>(a.data(), b.data(), n);
    if (n < 4) {
        // An empty view may be null: nothing is read then.
        for (std::size_t i = 0; i < n; ++i) {
            if (a[i] != b[i]) return false;
        }
        return true;
    }
    return std::memcmp(a.data(), b.data(), n) == 0;
}

}  // namespace exportwall::common
