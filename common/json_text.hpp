#pragma once
// JSON string escaping: one home for every JSON string exportwall writes — the audit chain's
// canonical lines, the operational and access logs, the admin endpoint's answers and the JSON
// filter's output. The audit chain hashes these bytes: any change to the rule below changes the
// hash of every record that holds a byte it touches, so it does not change.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/utf8.hpp"

namespace exportwall::common {

namespace json_text_detail {

enum byte_kind : std::uint8_t {
    plain,      // written as it is
    escaped,    // '"', '\\' and the C0 controls
    non_ascii,  // 0x80..0xff: as it is inside well-formed UTF-8, else U+FFFD
};

inline constexpr std::array<std::uint8_t, 256> byte_kinds = [] {
    std::array<std::uint8_t, 256> kinds{};
    for (std::size_t c = 0; c < 0x20; ++c) kinds[c] = escaped;
    kinds['"'] = escaped;
    kinds['\\'] = escaped;
    for (std::size_t c = 0x80; c < 0x100; ++c) kinds[c] = non_ascii;
    return kinds;
}();

// The first byte from `p` on that is not plain (or `end`): 16 bytes at a time where SSE2 is
// there (every x86-64), the rest by the table. A byte is plain when it is from 0x20 to 0x7f and
// neither '"' nor '\\': as a signed byte, not below 0x20 (0x80..0xff are negative).
[[nodiscard]] inline const char* skip_plain(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(0x20);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i special =
            _mm_or_si128(_mm_cmplt_epi8(v, space),
                         _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
        const auto mask = static_cast<unsigned>(_mm_movemask_epi8(special));
        if (mask != 0) return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    while (p != end && byte_kinds[static_cast<unsigned char>(*p)] == plain) ++p;
    return p;
}

}  // namespace json_text_detail

// Appends `s` escaped as the inside of a JSON string (no quotes) to `out`:
//   - '"' and '\\' as \" and \\; backspace, form feed, line feed, carriage return and tab as
//     \b \f \n \r \t; every other byte below 0x20 as \u00XX with lower-case hex digits;
//   - every other byte below 0x80 as it is: '/' and DEL (0x7f) are not escaped;
//   - a well-formed UTF-8 sequence (common/utf8.hpp) as it is, never as \uXXXX; any other byte
//     from 0x80 up as U+FFFD (EF BF BD), one for each such byte, so the result is always valid
//     JSON text and parses back to the same string.
// Runs of bytes written as they are go out in one append: most strings are one run.
inline void append_json_escaped(std::string& out, std::string_view s) {
    using namespace json_text_detail;
    static constexpr char hex[] = "0123456789abcdef";
    const char* p = s.data();
    const char* const end = p + s.size();
    const char* run = p;  // the first byte not yet written
    while (p != end) {
        p = skip_plain(p, end);
        if (p == end) break;
        const auto c = static_cast<unsigned char>(*p);
        if (byte_kinds[c] == non_ascii) {
            const std::size_t n = utf8_sequence_length(p, end);
            if (n != 0) {  // well-formed: stays in the run
                p += n;
                continue;
            }
            out.append(run, static_cast<std::size_t>(p - run));
            out.append("\xef\xbf\xbd");
            run = ++p;
            continue;
        }
        out.append(run, static_cast<std::size_t>(p - run));
        run = ++p;
        switch (c) {
            case '"':
                out.append("\\\"");
                break;
            case '\\':
                out.append("\\\\");
                break;
            case '\b':
                out.append("\\b");
                break;
            case '\f':
                out.append("\\f");
                break;
            case '\n':
                out.append("\\n");
                break;
            case '\r':
                out.append("\\r");
                break;
            case '\t':
                out.append("\\t");
                break;
            default: {
                const char u[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0x0f]};
                out.append(u, sizeof u);
            }
        }
    }
    out.append(run, static_cast<std::size_t>(end - run));
}

// Appends `s` as a JSON string, quotes included, escaped as append_json_escaped does.
inline void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    append_json_escaped(out, s);
    out.push_back('"');
}

// `s` as a JSON string, quotes included.
[[nodiscard]] inline std::string json_string(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    append_json_string(out, s);
    return out;
}

}  // namespace exportwall::common
