#pragma once
// Well-formed UTF-8 (RFC 3629 §4): one home for what exportwall takes as UTF-8 — the audit
// chain's strings and every JSON string it writes (common/json_text.hpp), the strings the JSON
// filter reads, the code points a truncating transform counts, and SOQL string literals.

#include <array>
#include <cstddef>
#include <cstdint>

namespace exportwall::common {

// What a first byte asks of the bytes after it: the sequence's length (0: it starts none) and
// the range of its second byte, narrower than a continuation byte's (80..BF) after E0 and F0
// (overlong forms), ED (surrogates) and F4 (past U+10FFFF).
struct utf8_lead {
    std::uint8_t length;
    std::uint8_t low;
    std::uint8_t high;
};

namespace utf8_detail {

// A table: one load instead of a chain of comparisons per character of non-ASCII text.
inline constexpr std::array<utf8_lead, 256> leads = [] {
    std::array<utf8_lead, 256> t{};
    for (std::size_t b = 0; b < 0x100; ++b) t[b] = {0, 0x80, 0xbf};
    for (std::size_t b = 0x00; b < 0x80; ++b) t[b].length = 1;
    for (std::size_t b = 0xc2; b <= 0xdf; ++b) t[b].length = 2;
    for (std::size_t b = 0xe0; b <= 0xef; ++b) t[b].length = 3;
    for (std::size_t b = 0xf0; b <= 0xf4; ++b) t[b].length = 4;
    t[0xe0].low = 0xa0;
    t[0xed].high = 0x9f;
    t[0xf0].low = 0x90;
    t[0xf4].high = 0x8f;
    return t;  // 80..C1 (continuation bytes, overlong leads) and F5..FF start nothing
}();

}  // namespace utf8_detail

// The rule for a sequence starting with byte `b` (for validators fed one byte at a time).
[[nodiscard]] constexpr const utf8_lead& utf8_lead_of(unsigned char b) noexcept {
    return utf8_detail::leads[b];
}

// The length (1 to 4) of the well-formed UTF-8 sequence that starts at `p` (p < end), or 0 when
// none does: a stray continuation byte, an overlong form, a surrogate (U+D800..U+DFFF), a code
// point past U+10FFFF, or a sequence cut short by `end`.
[[nodiscard]] constexpr std::size_t utf8_sequence_length(const char* p, const char* end) noexcept {
    const utf8_lead& lead = utf8_lead_of(static_cast<unsigned char>(p[0]));
    const std::size_t n = lead.length;
    if (n <= 1) return n;
    if (static_cast<std::size_t>(end - p) < n) return 0;
    const auto second = static_cast<unsigned char>(p[1]);
    if (second < lead.low || second > lead.high) return 0;
    if (n >= 3 && (static_cast<unsigned char>(p[2]) & 0xc0) != 0x80) return 0;
    if (n == 4 && (static_cast<unsigned char>(p[3]) & 0xc0) != 0x80) return 0;
    return n;
}

// The code point of the well-formed sequence of `n` bytes at `p` (n from utf8_sequence_length).
[[nodiscard]] constexpr std::uint32_t utf8_code_point(const char* p, std::size_t n) noexcept {
    constexpr std::array<std::uint8_t, 5> lead_bits{0, 0x7f, 0x1f, 0x0f, 0x07};
    std::uint32_t cp = static_cast<unsigned char>(p[0]) & lead_bits[n];
    for (std::size_t i = 1; i < n; ++i) cp = (cp << 6) | (static_cast<unsigned char>(p[i]) & 0x3fu);
    return cp;
}

}  // namespace exportwall::common
