#pragma once
// The byte classes of an HTTP/1.1 head (RFC 9110 §5.5, §5.6.2; RFC 9112 §3.2), tested sixteen
// bytes at a time (SSE2, every x86-64): a head's names, values and target are checked byte by
// byte on every request in both directions, and a table lookup a byte was ~1,500 instructions of
// a small export (issue 20). Each function is exactly its scalar rule, written out beside it
// (tests/unit/proxy/http/field_bytes_test.cpp checks every byte at every position against it).

#include <array>
#include <cstddef>
#include <string_view>

#include <emmintrin.h>

namespace exportwall::proxy::field_bytes {

// A control byte a field value must not hold: C0 other than HTAB, or DEL. (CR and LF are C0.)
[[nodiscard]] constexpr bool is_control(unsigned char u) noexcept {
    return (u < 0x20 && u != '\t') || u == 0x7f;
}

// A byte a request target may hold: visible ASCII, 0x21 to 0x7e.
[[nodiscard]] constexpr bool is_target_byte(unsigned char u) noexcept {
    return u > 0x20 && u < 0x7f;
}

// tchar: ALPHA, DIGIT and !#$%&'*+-.^_`|~.
inline constexpr std::array<bool, 256> tchar_table = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
    return t;
}();
[[nodiscard]] constexpr bool is_tchar(unsigned char u) noexcept { return tchar_table[u]; }

// Whether `value` holds a control byte (is_control).
[[nodiscard]] inline bool has_control_byte(std::string_view value) noexcept {
    const char* p = value.data();
    const char* const end = p + value.size();
    const __m128i c0_top = _mm_set1_epi8(0x1f);
    const __m128i tab = _mm_set1_epi8('\t');
    const __m128i del = _mm_set1_epi8(0x7f);
    for (; end - p >= 16; p += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        // v <= 0x1f, unsigned: max(v, 0x1f) == 0x1f.
        const __m128i c0 = _mm_cmpeq_epi8(_mm_max_epu8(v, c0_top), c0_top);
        const __m128i bad =
            _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), c0), _mm_cmpeq_epi8(v, del));
        if (_mm_movemask_epi8(bad) != 0) return true;
    }
    for (; p != end; ++p)
        if (is_control(static_cast<unsigned char>(*p))) return true;
    return false;
}

// Whether every byte of `target` is a target byte (is_target_byte).
[[nodiscard]] inline bool all_target_bytes(std::string_view target) noexcept {
    const char* p = target.data();
    const char* const end = p + target.size();
    const __m128i space = _mm_set1_epi8(0x20);
    const __m128i del = _mm_set1_epi8(0x7f);
    for (; end - p >= 16; p += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        // Signed: 0x80..0xff are negative, so not above 0x20.
        const __m128i good = _mm_and_si128(_mm_cmpgt_epi8(v, space), _mm_cmplt_epi8(v, del));
        if (_mm_movemask_epi8(good) != 0xffff) return false;
    }
    for (; p != end; ++p)
        if (!is_target_byte(static_cast<unsigned char>(*p))) return false;
    return true;
}

// Whether `s` is a token: one or more tchar. Sixteen bytes at a time while they are letters,
// digits and '-' (nearly every field name); a block with any other byte goes by the table.
[[nodiscard]] inline bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    const char* p = s.data();
    const char* const end = p + s.size();
    const __m128i below_0 = _mm_set1_epi8('0' - 1);
    const __m128i above_9 = _mm_set1_epi8('9' + 1);
    const __m128i fold = _mm_set1_epi8(0x20);  // upper-case letters to lower-case
    const __m128i below_a = _mm_set1_epi8('a' - 1);
    const __m128i above_z = _mm_set1_epi8('z' + 1);
    const __m128i dash = _mm_set1_epi8('-');
    for (; end - p >= 16; p += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, below_0), _mm_cmplt_epi8(v, above_9));
        const __m128i lower = _mm_or_si128(v, fold);
        const __m128i letter =
            _mm_and_si128(_mm_cmpgt_epi8(lower, below_a), _mm_cmplt_epi8(lower, above_z));
        const __m128i fast = _mm_or_si128(_mm_or_si128(digit, letter), _mm_cmpeq_epi8(v, dash));
        if (_mm_movemask_epi8(fast) == 0xffff) continue;
        for (int i = 0; i < 16; ++i)
            if (!is_tchar(static_cast<unsigned char>(p[i]))) return false;
    }
    for (; p != end; ++p)
        if (!is_tchar(static_cast<unsigned char>(*p))) return false;
    return true;
}

}  // namespace exportwall::proxy::field_bytes
