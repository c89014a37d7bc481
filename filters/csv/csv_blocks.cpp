#include "filters/csv/csv_blocks.hpp"

#include <bit>
#include <cstring>

namespace exportwall::filters::csv_blocks {
namespace {

constexpr std::size_t block_bytes = 64;

// A block's quote characters and its delimiters, CRs and LFs (inside quotes or not).
struct block_bits {
    std::uint64_t quotes;
    std::uint64_t separators;
};

struct byte_blocks {
    static block_bits classify(const char* p, char delimiter, char quote) {
        block_bits b{0, 0};
        for (std::size_t i = 0; i < block_bytes; ++i) {
            const std::uint64_t bit = std::uint64_t{1} << i;
            if (p[i] == quote) b.quotes |= bit;
            if (p[i] == delimiter || p[i] == '\r' || p[i] == '\n') b.separators |= bit;
        }
        return b;
    }
    static std::uint64_t parity(std::uint64_t x) { return blocks::prefix_xor(x); }
};

#if defined(EXPORTWALL_X86_BLOCKS)
// Four 16-byte lanes (every x86-64 has SSE2).
struct sse2_blocks {
    static std::uint64_t mask(__m128i eq, int shift) {
        return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm_movemask_epi8(eq)))
               << shift;
    }
    static void lane(const char* p, int shift, __m128i delimiter, __m128i quote, block_bits& b) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        b.quotes |= mask(_mm_cmpeq_epi8(v, quote), shift);
        b.separators |= mask(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, delimiter),
                                                       _mm_cmpeq_epi8(v, _mm_set1_epi8('\r'))),
                                          _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
                             shift);
    }
    static block_bits classify(const char* p, char delimiter, char quote) {
        const __m128i d = _mm_set1_epi8(delimiter);
        const __m128i q = _mm_set1_epi8(quote);
        block_bits b{0, 0};
        lane(p, 0, d, q, b);
        lane(p + 16, 16, d, q, b);
        lane(p + 32, 32, d, q, b);
        lane(p + 48, 48, d, q, b);
        return b;
    }
    static std::uint64_t parity(std::uint64_t x) { return blocks::prefix_xor(x); }
};

// Two 32-byte lanes, and the parity as one carry-less multiplication by all ones.
struct avx2_blocks {
    [[gnu::target("avx2,pclmul")]] static std::uint64_t mask(__m256i eq, int shift) {
        return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(eq)))
               << shift;
    }
    [[gnu::target("avx2,pclmul")]] static std::uint64_t separators(__m256i v, __m256i d) {
        return static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(v, d), _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\r'))),
            _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\n')))));
    }
    [[gnu::target("avx2,pclmul")]] static block_bits classify(const char* p, char delimiter,
                                                              char quote) {
        const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
        const __m256i d = _mm256_set1_epi8(delimiter);
        const __m256i q = _mm256_set1_epi8(quote);
        block_bits b{};
        b.quotes = mask(_mm256_cmpeq_epi8(lo, q), 0) | mask(_mm256_cmpeq_epi8(hi, q), 32);
        b.separators = separators(lo, d) | separators(hi, d) << 32;
        return b;
    }
    [[gnu::target("avx2,pclmul")]] static std::uint64_t parity(std::uint64_t x) {
        return blocks::prefix_xor_clmul(x);
    }
};
#endif

template <class Blocks>
void mark_blocks(const char* p, const char* end, char delimiter, char quote, bool& inside,
                 word* out) {
    std::uint64_t carry = inside ? ~std::uint64_t{0} : 0;
    while (p != end) {
        const auto left = static_cast<std::size_t>(end - p);
        block_bits b{};
        if (left >= block_bytes) {
            b = Blocks::classify(p, delimiter, quote);
            p += block_bytes;
        } else {
            // The tail from a copy; its bits past `end` are cleared, whatever the copy held.
            char tail[block_bytes] = {};
            std::memcpy(tail, p, left);
            b = Blocks::classify(tail, delimiter, quote);
            const std::uint64_t valid = (std::uint64_t{1} << left) - 1;
            b.quotes &= valid;
            b.separators &= valid;
            p = end;
        }
        const std::uint64_t quoted = Blocks::parity(b.quotes) ^ carry;
        *out++ = word{b.quotes, b.separators & ~quoted};
        // The next block starts inside quotes when an odd number of quotes here changed the
        // state: a parity, not the last bit of `quoted`, so the multiplication above is off the
        // chain from one block to the next and blocks overlap.
        if ((std::popcount(b.quotes) & 1) != 0) carry = ~carry;
    }
    inside = carry != 0;
}

#if defined(EXPORTWALL_X86_BLOCKS)
[[gnu::flatten]] void mark_sse2(const char* p, const char* end, char delimiter, char quote,
                                bool& inside, word* out) {
    mark_blocks<sse2_blocks>(p, end, delimiter, quote, inside, out);
}

[[gnu::target("avx2,pclmul"), gnu::flatten]] void mark_avx2(const char* p, const char* end,
                                                            char delimiter, char quote,
                                                            bool& inside, word* out) {
    mark_blocks<avx2_blocks>(p, end, delimiter, quote, inside, out);
}
#endif

}  // namespace

void mark(const char* p, const char* end, char delimiter, char quote, bool& inside, word* out,
          kernel k) {
    switch (blocks::resolve(k)) {
#if defined(EXPORTWALL_X86_BLOCKS)
        case kernel::avx2:
            mark_avx2(p, end, delimiter, quote, inside, out);
            return;
        case kernel::sse2:
            mark_sse2(p, end, delimiter, quote, inside, out);
            return;
#endif
        default:
            mark_blocks<byte_blocks>(p, end, delimiter, quote, inside, out);
            return;
    }
}

}  // namespace exportwall::filters::csv_blocks
