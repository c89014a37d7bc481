#include "filters/json/json_depth_scanner.hpp"

#include <bit>
#include <cstring>

#include "filters/blocks.hpp"

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

#if defined(EXPORTWALL_X86_BLOCKS)
constexpr std::size_t block_bytes = 64;

// Bit i of each mask describes byte i of a 64-byte block.
struct block_masks {
    std::uint64_t quotes = 0;
    std::uint64_t brackets = 0;  // '{', '[', '}' or ']'
    bool backslash = false;      // the block holds a backslash
};

// Four 16-byte lanes (every x86-64 has SSE2).
struct sse2_blocks {
    static std::uint64_t mask(__m128i eq, int shift) {
        return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm_movemask_epi8(eq)))
               << shift;
    }
    static __m128i load(const char* p) {
        return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    }
    static void lane(const char* p, int shift, block_masks& m, __m128i& any_backslash) {
        const __m128i v = load(p);
        // '[' | 0x20 == '{' and ']' | 0x20 == '}', and no other byte maps onto either.
        const __m128i folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
        m.quotes |= mask(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), shift);
        m.brackets |= mask(_mm_or_si128(_mm_cmpeq_epi8(folded, _mm_set1_epi8('{')),
                                        _mm_cmpeq_epi8(folded, _mm_set1_epi8('}'))),
                           shift);
        any_backslash = _mm_or_si128(any_backslash, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    }
    static block_masks classify(const char* p) {
        block_masks m;
        __m128i any_backslash = _mm_setzero_si128();
        lane(p, 0, m, any_backslash);
        lane(p + 16, 16, m, any_backslash);
        lane(p + 32, 32, m, any_backslash);
        lane(p + 48, 48, m, any_backslash);
        m.backslash = _mm_movemask_epi8(any_backslash) != 0;
        return m;
    }
    // The backslashes of a block (only asked for when it has one).
    static std::uint64_t backslashes(const char* p) {
        const __m128i b = _mm_set1_epi8('\\');
        return mask(_mm_cmpeq_epi8(load(p), b), 0) | mask(_mm_cmpeq_epi8(load(p + 16), b), 16) |
               mask(_mm_cmpeq_epi8(load(p + 32), b), 32) |
               mask(_mm_cmpeq_epi8(load(p + 48), b), 48);
    }
    static std::uint64_t prefix_xor(std::uint64_t x) { return blocks::prefix_xor(x); }
};

// Two 32-byte lanes, and the prefix parity as one carry-less multiplication by all ones.
struct avx2_blocks {
    [[gnu::target("avx2,pclmul")]] static std::uint64_t mask(__m256i eq, int shift) {
        return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(eq)))
               << shift;
    }
    [[gnu::target("avx2,pclmul")]] static __m256i load(const char* p) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    }
    [[gnu::target("avx2,pclmul")]] static block_masks classify(const char* p) {
        const __m256i lo = load(p);
        const __m256i hi = load(p + 32);
        const __m256i quote = _mm256_set1_epi8('"');
        const __m256i open = _mm256_set1_epi8('{');
        const __m256i close = _mm256_set1_epi8('}');
        const __m256i fold = _mm256_set1_epi8(0x20);
        const __m256i backslash = _mm256_set1_epi8('\\');
        const __m256i flo = _mm256_or_si256(lo, fold);
        const __m256i fhi = _mm256_or_si256(hi, fold);
        block_masks m;
        m.quotes = mask(_mm256_cmpeq_epi8(lo, quote), 0) | mask(_mm256_cmpeq_epi8(hi, quote), 32);
        m.brackets =
            mask(_mm256_or_si256(_mm256_cmpeq_epi8(flo, open), _mm256_cmpeq_epi8(flo, close)), 0) |
            mask(_mm256_or_si256(_mm256_cmpeq_epi8(fhi, open), _mm256_cmpeq_epi8(fhi, close)), 32);
        m.backslash = !_mm256_testz_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(lo, backslash), _mm256_cmpeq_epi8(hi, backslash)),
            _mm256_set1_epi8(-1));
        return m;
    }
    [[gnu::target("avx2,pclmul")]] static std::uint64_t backslashes(const char* p) {
        const __m256i b = _mm256_set1_epi8('\\');
        return mask(_mm256_cmpeq_epi8(load(p), b), 0) |
               mask(_mm256_cmpeq_epi8(load(p + 32), b), 32);
    }
    [[gnu::target("avx2,pclmul")]] static std::uint64_t prefix_xor(std::uint64_t x) {
        return blocks::prefix_xor_clmul(x);
    }
};

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
#endif

}  // namespace

#if defined(EXPORTWALL_X86_BLOCKS)
// Whole 64-byte blocks of [p, end); returns where the tail starts. The quotes that are not
// escaped delimit strings, so which bytes lie inside strings is a running parity of them; only
// brackets outside strings are visited one by one. (A backslash outside a string is not JSON:
// the parser refuses it.)
template <class Blocks>
const char* scan_blocks(json_depth_scanner& s, const char* p, const char* end, const char* begin,
                        std::uint64_t offset, std::vector<std::uint64_t>& marks) {
    while (static_cast<std::size_t>(end - p) >= block_bytes) {
        const block_masks m = Blocks::classify(p);
        std::uint64_t quotes = m.quotes;
        if (m.backslash || s.escaped_)
            quotes &= ~escaped_positions(Blocks::backslashes(p), s.escaped_);
        std::uint64_t inside = Blocks::prefix_xor(quotes);
        if (s.in_string_) inside = ~inside;
        std::uint64_t brackets = m.brackets & ~inside;
        while (brackets != 0) {
            const int i = std::countr_zero(brackets);
            if ((p[i] | 0x20) == '{') {
                s.open(p + i, begin, offset, marks);
            } else {
                s.close(p + i, begin, offset, marks);
            }
            brackets &= brackets - 1;
        }
        // The next block starts inside a string when an odd number of quotes here changed it:
        // a parity, not the last bit of `inside`, so the carry-less multiplication above is off
        // the chain from one block to the next and blocks overlap.
        s.in_string_ = s.in_string_ != ((std::popcount(quotes) & 1) != 0);
        p += block_bytes;
    }
    return p;
}

namespace {

// Each kernel compiled as one function, its block reader inlined.
[[gnu::flatten]] const char* scan_sse2(json_depth_scanner& s, const char* p, const char* end,
                                       const char* begin, std::uint64_t offset,
                                       std::vector<std::uint64_t>& marks) {
    return scan_blocks<sse2_blocks>(s, p, end, begin, offset, marks);
}

[[gnu::target("avx2,pclmul"), gnu::flatten]] const char* scan_avx2(
    json_depth_scanner& s, const char* p, const char* end, const char* begin, std::uint64_t offset,
    std::vector<std::uint64_t>& marks) {
    return scan_blocks<avx2_blocks>(s, p, end, begin, offset, marks);
}

}  // namespace
#endif

bool json_depth_scanner::supported(kernel k) { return blocks::supported(k); }

json_depth_scanner::json_depth_scanner(std::size_t depth, kernel k)
    : target_(depth), kernel_(blocks::resolve(k)) {}

void json_depth_scanner::scan(std::string_view bytes, std::uint64_t offset,
                              std::vector<std::uint64_t>& marks) {
    const char* const begin = bytes.data();
    const char* const end = begin + bytes.size();
    const char* p = begin;
#if defined(EXPORTWALL_X86_BLOCKS)
    if (kernel_ == kernel::avx2) {
        p = scan_avx2(*this, p, end, begin, offset, marks);
    } else if (kernel_ == kernel::sse2) {
        p = scan_sse2(*this, p, end, begin, offset, marks);
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
