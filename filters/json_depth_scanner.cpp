#include "filters/json_depth_scanner.hpp"

#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace exportwall::filters {
namespace {

// The first '"' or '\\' in [p, end), or end. Eight bytes at a time where the layout allows.
const char* next_quote_or_backslash(const char* p, const char* end) {
    if constexpr (std::endian::native == std::endian::little) {
        constexpr std::uint64_t ones = 0x0101010101010101ULL;
        constexpr std::uint64_t highs = 0x8080808080808080ULL;
        while (end - p >= 8) {
            std::uint64_t w = 0;
            std::memcpy(&w, p, 8);
            const std::uint64_t q = w ^ (ones * '"');
            const std::uint64_t b = w ^ (ones * '\\');
            // A byte of q or b is zero where w has the character; the lowest flagged byte is
            // exact (borrows only flag bytes above a real match).
            const std::uint64_t hit = (((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
            if (hit != 0) return p + std::countr_zero(hit) / 8;
            p += 8;
        }
    }
    while (p < end && *p != '"' && *p != '\\') ++p;
    return p;
}

#if defined(__SSE2__)
constexpr std::size_t block_bytes = 64;

// Bit i of each mask describes byte i of a 64-byte block.
struct block_masks {
    std::uint64_t quotes = 0;
    std::uint64_t brackets = 0;  // '{', '[', '}' or ']'
    bool backslash = false;      // the block holds a backslash
};

[[gnu::always_inline]] inline std::uint64_t movemask(__m128i eq, int shift) {
    return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm_movemask_epi8(eq))) << shift;
}

[[gnu::always_inline]] inline __m128i load(const char* p) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// One 16-byte lane of a block, its masks shifted into place; its backslashes are or-ed into
// `any_backslash`.
[[gnu::always_inline]] inline void classify_lane(const char* p, int shift, block_masks& m,
                                                 __m128i& any_backslash) {
    const __m128i v = load(p);
    // '[' | 0x20 == '{' and ']' | 0x20 == '}', and no other byte maps onto either.
    const __m128i folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
    m.quotes |= movemask(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), shift);
    m.brackets |= movemask(_mm_or_si128(_mm_cmpeq_epi8(folded, _mm_set1_epi8('{')),
                                        _mm_cmpeq_epi8(folded, _mm_set1_epi8('}'))),
                           shift);
    any_backslash = _mm_or_si128(any_backslash, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
}

[[gnu::always_inline]] inline block_masks classify(const char* p) {
    block_masks m;
    __m128i any_backslash = _mm_setzero_si128();
    classify_lane(p, 0, m, any_backslash);
    classify_lane(p + 16, 16, m, any_backslash);
    classify_lane(p + 32, 32, m, any_backslash);
    classify_lane(p + 48, 48, m, any_backslash);
    m.backslash = _mm_movemask_epi8(any_backslash) != 0;
    return m;
}

// The backslashes of a block (only asked for when it has one).
std::uint64_t backslashes(const char* p) {
    const __m128i backslash = _mm_set1_epi8('\\');
    return movemask(_mm_cmpeq_epi8(load(p), backslash), 0) |
           movemask(_mm_cmpeq_epi8(load(p + 16), backslash), 16) |
           movemask(_mm_cmpeq_epi8(load(p + 32), backslash), 32) |
           movemask(_mm_cmpeq_epi8(load(p + 48), backslash), 48);
}

// The positions a backslash escapes, given the block's backslashes and whether its first byte is
// escaped by the previous block (`carry`, updated for the next block). A run of backslashes
// escapes every other byte after its start; which ones depends on the parity of where the run
// starts, found with one addition (the technique of simdjson's find_escaped_branchless).
std::uint64_t escaped_positions(std::uint64_t backslashes, bool& carry) {
    const std::uint64_t prev = carry ? 1 : 0;
    backslashes &= ~prev;  // an escaped backslash escapes nothing
    const std::uint64_t follows_escape = backslashes << 1 | prev;
    constexpr std::uint64_t even_bits = 0x5555555555555555ULL;
    const std::uint64_t odd_starts = backslashes & ~even_bits & ~follows_escape;
    std::uint64_t even_start_runs = 0;
    carry = __builtin_add_overflow(odd_starts, backslashes, &even_start_runs);
    return (even_bits ^ (even_start_runs << 1)) & follows_escape;
}

// Bit i set when an odd number of bits at positions <= i are set.
std::uint64_t prefix_xor(std::uint64_t x) {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}
#endif

}  // namespace

void json_depth_scanner::scan(std::string_view bytes, std::uint64_t offset,
                              std::vector<std::uint64_t>& marks) {
    const char* const begin = bytes.data();
    const char* const end = begin + bytes.size();
    const char* p = begin;
#if defined(__SSE2__)
    // Whole 64-byte blocks: the quotes that are not escaped delimit strings, so which bytes lie
    // inside strings is a running parity of them; only brackets outside strings are visited one
    // by one. (A backslash outside a string is not JSON: the parser refuses it.)
    while (static_cast<std::size_t>(end - p) >= block_bytes) {
        const block_masks m = classify(p);
        std::uint64_t quotes = m.quotes;
        if (m.backslash || escaped_) quotes &= ~escaped_positions(backslashes(p), escaped_);
        std::uint64_t inside = prefix_xor(quotes);
        if (in_string_) inside = ~inside;
        std::uint64_t brackets = m.brackets & ~inside;
        while (brackets != 0) {
            const int i = std::countr_zero(brackets);
            if ((p[i] | 0x20) == '{') {
                open(p + i, begin, offset, marks);
            } else {
                close(p + i, begin, offset, marks);
            }
            brackets &= brackets - 1;
        }
        in_string_ = (inside >> 63) != 0;
        p += block_bytes;
    }
#endif
    scan_bytes(p, end, begin, offset, marks);
}

void json_depth_scanner::scan_bytes(const char* p, const char* end, const char* begin,
                                    std::uint64_t offset, std::vector<std::uint64_t>& marks) {
    while (p < end) {
        if (in_string_) {
            if (escaped_) {
                escaped_ = false;
                ++p;
                continue;
            }
            p = next_quote_or_backslash(p, end);
            if (p == end) break;
            if (*p == '\\') {
                escaped_ = true;
            } else {
                in_string_ = false;
            }
            ++p;
            continue;
        }
        switch (*p) {
            case '"':
                in_string_ = true;
                break;
            case '{':
            case '[':
                open(p, begin, offset, marks);
                break;
            case '}':
            case ']':
                close(p, begin, offset, marks);
                break;
            default:
                break;
        }
        ++p;
    }
}

}  // namespace exportwall::filters
