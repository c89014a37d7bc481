#pragma once
// What the filters' readers of 64-byte blocks share (the JSON depth scanner,
// filters/json/json_depth_scanner.cpp; the CSV cell marks, filters/csv/csv_blocks.cpp): which
// kernel reads the blocks, and the running parity of a block's quote bits, which says which bytes
// lie inside quotes.

#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define EXPORTWALL_X86_BLOCKS 1
#endif

namespace exportwall::filters::blocks {

// How whole 64-byte blocks are read: AVX2 with PCLMUL where the CPU has them (chosen once, at
// run time), else SSE2 (every x86-64); elsewhere, and for tails, one byte at a time. `best` is the
// first of these this build and CPU can run; the others are for tests and benchmarks.
enum class kernel { best, avx2, sse2, bytes };

// Whether this build and this CPU can run `k`.
[[nodiscard]] bool supported(kernel k);
// `k`, or for `best` the fastest kernel supported().
[[nodiscard]] kernel resolve(kernel k);

// Bit i set when an odd number of bits at positions <= i are set.
[[nodiscard]] inline std::uint64_t prefix_xor(std::uint64_t x) {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

#if defined(EXPORTWALL_X86_BLOCKS)
// The same as one carry-less multiplication by all ones (AVX2 kernels only).
[[gnu::target("avx2,pclmul")]] inline std::uint64_t prefix_xor_clmul(std::uint64_t x) {
    const __m128i product =
        _mm_clmulepi64_si128(_mm_set_epi64x(0, static_cast<long long>(x)), _mm_set1_epi8(-1), 0);
    return static_cast<std::uint64_t>(_mm_cvtsi128_si64(product));
}
#endif

}  // namespace exportwall::filters::blocks
