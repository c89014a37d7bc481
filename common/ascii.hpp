#pragma once
// ASCII case folding: one home for the case-insensitive comparisons of protocol words — HTTP
// field names and tokens, media types, content codings, query keywords, XML-RPC and SOAP names.
// Never locale-dependent: a byte past ASCII, or any byte that is not a letter, compares as itself
// (std::tolower's locale lookup per byte also showed in profiles of filtered exports, where the
// record rules compare every record's consent and objection words).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace exportwall::common {

[[nodiscard]] constexpr char to_lower_ascii(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

[[nodiscard]] constexpr bool iequals_ascii(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i] && to_lower_ascii(a[i]) != to_lower_ascii(b[i])) return false;
    }
    return true;
}

// True when no byte of `s` is in A-Z nor past ASCII: to_lower_ascii leaves it as it is, and so
// does any folding a byte past ASCII might need. Eight bytes at a time (the subject index asks
// it of every address it digests): a byte past ASCII has its top bit set; a byte below 0x80 gets
// it from adding 0x3f when it is 'A' or more, and from adding 0x25 when it is '[' or more
// (neither sum carries into the next byte; a byte past ASCII may, and fails anyway). The bytes
// after the last whole word: the last eight bytes again (a string of eight or more), or read into
// a zeroed word.
[[nodiscard]] inline bool lower_ascii_only(std::string_view s) noexcept {
    constexpr std::uint64_t each = 0x0101010101010101ULL;
    auto flags = [](std::uint64_t x) { return x | ((x + each * 0x3f) & ~(x + each * 0x25)); };
    std::uint64_t seen = 0;
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t x = 0;
        std::memcpy(&x, s.data() + i, 8);
        seen |= flags(x);
    }
    std::uint64_t tail = 0;
    if (i < s.size() && s.size() >= 8) {
        // The last eight bytes, some of them checked already (checking again changes nothing).
        std::memcpy(&tail, s.data() + s.size() - 8, 8);
    } else {
        for (std::size_t j = 0; i + j < s.size(); ++j)
            tail |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[i + j])) << (8 * j);
    }
    return ((seen | flags(tail)) & each * 0x80) == 0;
}

}  // namespace exportwall::common
