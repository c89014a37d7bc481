#include "audit/subject_index.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <immintrin.h>
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

#include "audit/serialize.hpp"
#include "common/hex.hpp"

namespace exportwall::audit {
namespace {

constexpr std::string_view magic = "EWSI";
constexpr unsigned char version_set = 1;  // format 1: a coded set per chunk
constexpr unsigned char version_ordinals = 2;
constexpr unsigned char kind_dictionary = 0;
constexpr unsigned char kind_list = 1;
// A damaged tail no longer than this is what a crash leaves (the appends in flight): set aside and
// cut off at start-up. Damage further from the end needs an operator.
constexpr std::uint64_t max_torn_tail = std::uint64_t{1} << 20;

EVP_MD_CTX* as_ctx(void* p) { return static_cast<EVP_MD_CTX*>(p); }

[[noreturn]] void crypto_failed() { throw std::runtime_error("OpenSSL SHA-256 unavailable"); }

const EVP_MD* sha256() {
    static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (md == nullptr) crypto_failed();
    return md;
}

// The value reduced to [0, range): the high half of the 128-bit product (no modulo bias worth
// the name, no division).
__extension__ using uint128 = unsigned __int128;  // GCC and clang; -Wpedantic knows it not
std::uint64_t reduce(std::uint64_t hash, std::uint64_t range) {
    return static_cast<std::uint64_t>((static_cast<uint128>(hash) * range) >> 64);
}

// Bits most significant first, through a 64-bit accumulator.
class bit_writer {
  public:
    explicit bit_writer(std::string& out) : out_(out) {}
    // `count` ≤ 32 bits of `v`.
    void bits(std::uint64_t v, unsigned count) {
        if (count == 0) return;
        acc_ = (acc_ << count) | (v & ((std::uint64_t{1} << count) - 1));
        used_ += count;
        while (used_ >= 8) {
            used_ -= 8;
            out_.push_back(static_cast<char>((acc_ >> used_) & 0xffu));
        }
    }
    void bit(bool b) { bits(b ? 1u : 0u, 1); }
    void ones(std::uint64_t count) {
        for (; count >= 32; count -= 32) bits(0xffffffffu, 32);
        bits((std::uint64_t{1} << count) - 1, static_cast<unsigned>(count));
    }
    // A run of `run` ones, the zero that ends it, then the `count` (≤ 32) low bits of `low`:
    // one shift into the accumulator when they fit (a list's codes mostly take a few bits;
    // three calls each flushing cost more than the choice of code).
    void run_then(std::uint64_t run, std::uint64_t low, unsigned count) {
        if (run + count == 0) {  // a single zero: a gap of 1 in gamma or Rice with k = 0
            acc_ <<= 1;
            if (++used_ == 8) {
                used_ = 0;
                out_.push_back(static_cast<char>(acc_ & 0xffu));
            }
            return;
        }
        if (run + 1 + count <= 56) {
            const auto width = static_cast<unsigned>(run + 1 + count);
            const std::uint64_t unary = ((std::uint64_t{1} << run) - 1) << (count + 1);
            acc_ = (acc_ << width) | unary | (low & ((std::uint64_t{1} << count) - 1));
            used_ += width;
            while (used_ >= 8) {
                used_ -= 8;
                out_.push_back(static_cast<char>((acc_ >> used_) & 0xffu));
            }
            return;
        }
        ones(run);
        bit(false);
        bits(low, count);
    }
    void finish() {
        if (used_ > 0) out_.push_back(static_cast<char>((acc_ << (8 - used_)) & 0xffu));
        used_ = 0;
    }

  private:
    std::string& out_;
    std::uint64_t acc_ = 0;
    unsigned used_ = 0;  // bits in acc_ not yet written (< 8 between calls)
};

// Bits most significant first, eight bytes at a time: a unary run is counted with one
// count-leading-zeros, a remainder taken with one shift (lookups over a large index decode
// every chunk up to the digest looked for).
class bit_reader {
  public:
    explicit bit_reader(std::string_view in) : in_(in) {}
    // The length of a run of ones and the zero that ends it; false at the end of the input.
    bool unary(std::uint64_t& ones) {
        ones = 0;
        for (;;) {
            if (avail_ == 0 && !refill()) return false;
            // The zeros of the available bits, as ones (the unavailable low bits cleared).
            const std::uint64_t inverted = ~acc_ & ~((std::uint64_t{1} << (64 - avail_)) - 1);
            if (inverted == 0) {  // every available bit is a one
                ones += avail_;
                avail_ = 0;
                continue;
            }
            const auto run = static_cast<unsigned>(__builtin_clzll(inverted));
            ones += run;
            consume(run + 1);
            return true;
        }
    }
    // `count` (≤ 32) bits as a number; false at the end of the input.
    bool bits(unsigned count, std::uint64_t& v) {
        v = 0;
        while (count > 0) {
            if (avail_ == 0 && !refill()) return false;
            const unsigned take = std::min(count, avail_);
            v = (v << take) | (acc_ >> (64 - take));
            consume(take);
            count -= take;
        }
        return true;
    }

  private:
    // acc_ holds avail_ unread bits at its top. Called with none left; true when it loaded
    // some (1 ≤ avail_ ≤ 64 afterwards, so the shifts by 64 - avail_ and 64 - take stay < 64).
    bool refill() {
        acc_ = 0;
        avail_ = 0;
        while (avail_ < 64 && pos_ < in_.size()) {
            acc_ |= static_cast<std::uint64_t>(static_cast<unsigned char>(in_[pos_++]))
                    << (56 - avail_);
            avail_ += 8;
        }
        return avail_ != 0;
    }
    void consume(unsigned n) {
        acc_ = n >= 64 ? 0 : acc_ << n;
        avail_ -= n;
    }
    std::string_view in_;
    std::size_t pos_ = 0;
    std::uint64_t acc_ = 0;
    unsigned avail_ = 0;
};

void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

std::uint32_t get_u32(const unsigned char* p) {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

}  // namespace

// ---- subject_hasher -------------------------------------------------------------------------

namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct sip_state {
    std::uint64_t v0, v1, v2, v3;
    sip_state(std::uint64_t k0, std::uint64_t k1)
        : v0(k0 ^ 0x736f6d6570736575ULL),
          v1(k1 ^ 0x646f72616e646f6dULL),
          v2(k0 ^ 0x6c7967656e657261ULL),
          v3(k1 ^ 0x7465646279746573ULL) {}
    void round() {
        v0 += v1;
        v1 = rotl(v1, 13);
        v1 ^= v0;
        v0 = rotl(v0, 32);
        v2 += v3;
        v3 = rotl(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = rotl(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = rotl(v1, 17);
        v1 ^= v2;
        v2 = rotl(v2, 32);
    }
    void absorb(std::uint64_t m) {
        v3 ^= m;
        round();
        round();
        v0 ^= m;
    }
    std::uint64_t finish(std::uint64_t last_word) {
        absorb(last_word);
        v2 ^= 0xff;
        round();
        round();
        round();
        round();
        return v0 ^ v1 ^ v2 ^ v3;
    }
};

std::uint64_t load_le64(const unsigned char* p) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, 8);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    return v;
}

void store_le64(unsigned char* p, std::uint64_t v) {
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    std::memcpy(p, &v, 8);
}

// What an export's digest covers after each of its list chunks: the dictionary's size (u32 LE)
// and chain where the chunk lies.
void dictionary_state(std::uint64_t size, const dictionary_chain& chain,
                      std::array<unsigned char, 20>& out) {
    for (int i = 0; i < 4; ++i)
        out[static_cast<std::size_t>(i)] = static_cast<unsigned char>((size >> (8 * i)) & 0xffu);
    std::memcpy(out.data() + 4, chain.data(), chain.size());
}

// SipHash-2-4 of contiguous bytes: whole words loaded at once (the pieces' version below goes
// byte by byte wherever a piece ends inside a word).
std::uint64_t siphash24_bytes(std::uint64_t k0, std::uint64_t k1, const unsigned char* p,
                              std::size_t len) {
    sip_state s(k0, k1);
    const std::size_t words = len / 8;
    for (std::size_t i = 0; i < words; ++i) s.absorb(load_le64(p + 8 * i));
    std::uint64_t last = static_cast<std::uint64_t>(len & 0xffu) << 56;
    for (std::size_t i = 8 * words, shift = 0; i < len; ++i, shift += 8)
        last |= static_cast<std::uint64_t>(p[i]) << shift;
    return s.finish(last);
}

}  // namespace

std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1,
                        std::span<const std::string_view> pieces) {
    sip_state s(k0, k1);
    std::uint64_t word = 0;
    unsigned filled = 0;  // bytes in `word`
    std::uint64_t total = 0;
    for (std::string_view piece : pieces) {
        total += piece.size();
        const auto* p = reinterpret_cast<const unsigned char*>(piece.data());
        std::size_t left = piece.size();
        // Whole little-endian words straight from the piece while `word` is empty.
        while (filled == 0 && left >= 8) {
            s.absorb(load_le64(p));
            p += 8;
            left -= 8;
        }
        for (; left > 0; ++p, --left) {
            word |= static_cast<std::uint64_t>(*p) << (8 * filled);
            if (++filled == 8) {
                s.absorb(word);
                word = 0;
                filled = 0;
            }
        }
    }
    return s.finish(word | ((total & 0xffu) << 56));
}

subject_hasher::subject_hasher(std::span<const unsigned char> key) {
    static constexpr std::string_view label = "exportwall subject index v1";
    std::array<unsigned char, EVP_MAX_MD_SIZE> k{};
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(label.data()), label.size(), k.data(),
             &len) == nullptr ||
        len < 16)
        crypto_failed();
    k0_ = load_le64(k.data());
    k1_ = load_le64(k.data() + 8);
    OPENSSL_cleanse(k.data(), k.size());
}

std::uint64_t subject_hasher::digest(std::string_view kind, std::string_view entity,
                                     std::string_view value) const {
    // kind 0 entity 0 value, contiguous on the stack when it fits (every id and address does).
    std::array<unsigned char, 256> text;
    const std::size_t len = kind.size() + entity.size() + value.size() + 2;
    if (len <= text.size()) {
        unsigned char* p = text.data();
        std::memcpy(p, kind.data(), kind.size());
        p += kind.size();
        *p++ = 0;
        if (!entity.empty()) std::memcpy(p, entity.data(), entity.size());
        p += entity.size();
        *p++ = 0;
        if (!value.empty()) std::memcpy(p, value.data(), value.size());
        // Not cleansed: the value sits in the filter's buffers as long anyway.
        return siphash24_bytes(k0_, k1_, text.data(), len);
    }
    static constexpr char zero[1] = {'\0'};
    const std::array<std::string_view, 5> pieces{kind, std::string_view(zero, 1), entity,
                                                 std::string_view(zero, 1), value};
    return siphash24(k0_, k1_, pieces);
}

namespace {

// kind 0 entity 0 value into `out` (at least 256 bytes); its length, or 0 when it does not fit.
std::size_t subject_message(const subject_hasher::keyed_value& k, unsigned char* out) {
    const std::string_view kind = k.email ? "email" : "id";
    const std::string_view entity = k.email ? std::string_view{} : k.entity;
    const std::size_t len = kind.size() + entity.size() + k.value.size() + 2;
    if (len > 256) return 0;
    unsigned char* p = out;
    std::memcpy(p, kind.data(), kind.size());
    p += kind.size();
    *p++ = 0;
    if (!entity.empty()) std::memcpy(p, entity.data(), entity.size());
    p += entity.size();
    *p++ = 0;
    if (!k.value.empty()) std::memcpy(p, k.value.data(), k.value.size());
    return len;
}

// Two SipHash-2-4 at once: their rounds interleave, so the core runs both chains side by side.
void siphash24_pair(std::uint64_t k0, std::uint64_t k1, const unsigned char* a, std::size_t la,
                    const unsigned char* b, std::size_t lb, std::uint64_t& da, std::uint64_t& db) {
    sip_state s(k0, k1), t(k0, k1);
    const std::size_t wa = la / 8, wb = lb / 8, common = std::min(wa, wb);
    for (std::size_t i = 0; i < common; ++i) {
        const std::uint64_t ma = load_le64(a + 8 * i), mb = load_le64(b + 8 * i);
        s.v3 ^= ma;
        t.v3 ^= mb;
        s.round();
        t.round();
        s.round();
        t.round();
        s.v0 ^= ma;
        t.v0 ^= mb;
    }
    for (std::size_t i = common; i < wa; ++i) s.absorb(load_le64(a + 8 * i));
    for (std::size_t i = common; i < wb; ++i) t.absorb(load_le64(b + 8 * i));
    std::uint64_t last_a = static_cast<std::uint64_t>(la & 0xffu) << 56;
    for (std::size_t i = 8 * wa, shift = 0; i < la; ++i, shift += 8)
        last_a |= static_cast<std::uint64_t>(a[i]) << shift;
    std::uint64_t last_b = static_cast<std::uint64_t>(lb & 0xffu) << 56;
    for (std::size_t i = 8 * wb, shift = 0; i < lb; ++i, shift += 8)
        last_b |= static_cast<std::uint64_t>(b[i]) << shift;
    s.v3 ^= last_a;
    t.v3 ^= last_b;
    s.round();
    t.round();
    s.round();
    t.round();
    s.v0 ^= last_a;
    t.v0 ^= last_b;
    s.v2 ^= 0xff;
    t.v2 ^= 0xff;
    for (int r = 0; r < 4; ++r) {
        s.round();
        t.round();
    }
    da = s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
    db = t.v0 ^ t.v1 ^ t.v2 ^ t.v3;
}

// Sixteen SipHash-2-4 side by side, one message a lane, in GCC's generic vectors of eight: two
// vectors, so that one's round runs while the other's waits on its last instruction. AVX-512 runs
// a round of eight lanes in a few instructions (its rotates are single instructions), AVX2 in two
// halves, the baseline (SSE2) in four. The same body is built three times and the best the
// processor has is picked once (subject_hasher::lanes). `words` holds block b of lane i at
// [16b + i] for b < blocks; lane i's last block (its length in the top byte) is block last[i],
// after which its state stays as it is (the blend), and all sixteen are finished together.
using u64x8 = std::uint64_t __attribute__((vector_size(64)));
using i64x8 = std::int64_t __attribute__((vector_size(64)));
constexpr std::size_t sip_lanes = 16;

// One SipRound on eight lanes (rotates written out: a helper returning a vector would change
// the ABI between the builds).
[[gnu::always_inline]] inline void round8(u64x8& v0, u64x8& v1, u64x8& v2, u64x8& v3) {
    v0 += v1;
    v1 = (v1 << 13) | (v1 >> 51);
    v1 ^= v0;
    v0 = (v0 << 32) | (v0 >> 32);
    v2 += v3;
    v3 = (v3 << 16) | (v3 >> 48);
    v3 ^= v2;
    v0 += v3;
    v3 = (v3 << 21) | (v3 >> 43);
    v3 ^= v0;
    v2 += v1;
    v1 = (v1 << 17) | (v1 >> 47);
    v1 ^= v2;
    v2 = (v2 << 32) | (v2 >> 32);
}

// Lanes 0-7 in p*, 8-15 in q*, written out one beside the other rather than in arrays and loops:
// GCC keeps arrays of vectors in memory.
[[gnu::always_inline]] inline void siphash24_x16(std::uint64_t k0, std::uint64_t k1,
                                                 const std::uint64_t* words, std::size_t blocks,
                                                 const std::uint64_t* last, std::uint64_t* out) {
    const u64x8 c0 = u64x8{} + std::uint64_t{k0 ^ 0x736f6d6570736575ULL};
    const u64x8 c1 = u64x8{} + std::uint64_t{k1 ^ 0x646f72616e646f6dULL};
    const u64x8 c2 = u64x8{} + std::uint64_t{k0 ^ 0x6c7967656e657261ULL};
    const u64x8 c3 = u64x8{} + std::uint64_t{k1 ^ 0x7465646279746573ULL};
    u64x8 p0 = c0, p1 = c1, p2 = c2, p3 = c3;
    u64x8 q0 = c0, q1 = c1, q2 = c2, q3 = c3;
    u64x8 p_last, q_last;
    std::memcpy(&p_last, last, sizeof p_last);
    std::memcpy(&q_last, last + 8, sizeof q_last);
    for (std::size_t b = 0; b < blocks; ++b) {
        u64x8 pm, qm;
        std::memcpy(&pm, words + sip_lanes * b, sizeof pm);
        std::memcpy(&qm, words + sip_lanes * b + 8, sizeof qm);
        u64x8 a0 = p0, a1 = p1, a2 = p2, a3 = p3 ^ pm;
        u64x8 e0 = q0, e1 = q1, e2 = q2, e3 = q3 ^ qm;
        round8(a0, a1, a2, a3);
        round8(e0, e1, e2, e3);
        round8(a0, a1, a2, a3);
        round8(e0, e1, e2, e3);
        a0 ^= pm;
        e0 ^= qm;
        const u64x8 at = u64x8{} + b;
        const i64x8 p_live = at <= p_last;  // lanes whose message goes on
        const i64x8 q_live = at <= q_last;
        p0 = p_live ? a0 : p0;
        p1 = p_live ? a1 : p1;
        p2 = p_live ? a2 : p2;
        p3 = p_live ? a3 : p3;
        q0 = q_live ? e0 : q0;
        q1 = q_live ? e1 : q1;
        q2 = q_live ? e2 : q2;
        q3 = q_live ? e3 : q3;
    }
    p2 ^= 0xff;
    q2 ^= 0xff;
    for (int r = 0; r < 4; ++r) {
        round8(p0, p1, p2, p3);
        round8(q0, q1, q2, q3);
    }
    const u64x8 pd = p0 ^ p1 ^ p2 ^ p3;
    const u64x8 qd = q0 ^ q1 ^ q2 ^ q3;
    std::memcpy(out, &pd, sizeof pd);
    std::memcpy(out + 8, &qd, sizeof qd);
}

// With AVX-512 the lanes' words are gathered from the messages where they are, a block of eight
// lanes a gather and a store, rather than moved a word at a time (a load and a store each, which
// cost about what the rounds do). Lane i's message is at base + i * sizeof(message); lanes at or
// past n read nothing and stay zero. A lane's last block gets its length's low byte in its top
// byte; the bytes after a message are zeros (message::bytes), and the blocks past its last are
// read but never digested (the blend in siphash24_x16). Little-endian loads, as load_le64.
static_assert(std::endian::native == std::endian::little,
              "a gathered word is a little-endian load");
[[gnu::target("avx512f")]] void gather_words_avx512(const subject_hasher::message* messages,
                                                    std::size_t n, std::size_t blocks,
                                                    const std::uint64_t* last,
                                                    std::uint64_t* words) {
    const auto* base = messages->bytes.data();
    const auto stride = static_cast<long long>(sizeof(subject_hasher::message));
    std::array<long long, sip_lanes> offset{};
    std::array<std::uint64_t, sip_lanes> length{};
    for (std::size_t lane = 0; lane < n; ++lane) {
        offset[lane] = static_cast<long long>(lane) * stride;
        length[lane] = static_cast<std::uint64_t>(messages[lane].size & 0xffu) << 56;
    }
    const auto p_mask = static_cast<__mmask8>(((1U << n) - 1) & 0xffu);
    const auto q_mask = static_cast<__mmask8>((((1U << n) - 1) >> 8) & 0xffu);
    __m512i p_at = _mm512_loadu_si512(offset.data());
    __m512i q_at = _mm512_loadu_si512(offset.data() + 8);
    const __m512i p_last = _mm512_loadu_si512(last);
    const __m512i q_last = _mm512_loadu_si512(last + 8);
    const __m512i p_length = _mm512_loadu_si512(length.data());
    const __m512i q_length = _mm512_loadu_si512(length.data() + 8);
    const __m512i step = _mm512_set1_epi64(8);
    for (std::size_t b = 0; b < blocks; ++b) {
        const __m512i here = _mm512_set1_epi64(static_cast<long long>(b));
// Unoptimised builds spell the gather as a macro whose mask argument converts to char.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
        __m512i p = _mm512_mask_i64gather_epi64(_mm512_setzero_si512(), p_mask, p_at, base, 1);
        __m512i q = _mm512_mask_i64gather_epi64(_mm512_setzero_si512(), q_mask, q_at, base, 1);
#pragma GCC diagnostic pop
        p = _mm512_mask_or_epi64(p, _mm512_cmpeq_epi64_mask(here, p_last), p, p_length);
        q = _mm512_mask_or_epi64(q, _mm512_cmpeq_epi64_mask(here, q_last), q, q_length);
        _mm512_storeu_si512(words + sip_lanes * b, p);
        _mm512_storeu_si512(words + sip_lanes * b + 8, q);
        p_at = _mm512_add_epi64(p_at, step);
        q_at = _mm512_add_epi64(q_at, step);
    }
}

[[gnu::target("avx512f")]] void siphash24_x16_avx512(std::uint64_t k0, std::uint64_t k1,
                                                     const std::uint64_t* words, std::size_t blocks,
                                                     const std::uint64_t* last,
                                                     std::uint64_t* out) {
    siphash24_x16(k0, k1, words, blocks, last, out);
}
[[gnu::target("avx2")]] void siphash24_x16_avx2(std::uint64_t k0, std::uint64_t k1,
                                                const std::uint64_t* words, std::size_t blocks,
                                                const std::uint64_t* last, std::uint64_t* out) {
    siphash24_x16(k0, k1, words, blocks, last, out);
}
void siphash24_x16_baseline(std::uint64_t k0, std::uint64_t k1, const std::uint64_t* words,
                            std::size_t blocks, const std::uint64_t* last, std::uint64_t* out) {
    siphash24_x16(k0, k1, words, blocks, last, out);
}

}  // namespace

void subject_hasher::keys(std::span<const keyed_value> values, std::span<std::uint64_t> out) const {
    std::array<unsigned char, 256> a, b;
    std::size_t i = 0;
    for (; i + 1 < values.size(); i += 2) {
        const std::size_t la = subject_message(values[i], a.data());
        const std::size_t lb = subject_message(values[i + 1], b.data());
        if (la == 0 || lb == 0) {  // a value too long for the stack: one at a time
            for (std::size_t j = i; j < i + 2; ++j)
                out[j] = values[j].email ? email_key(values[j].value)
                                         : id_key(values[j].entity, values[j].value);
            continue;
        }
        siphash24_pair(k0_, k1_, a.data(), la, b.data(), lb, out[i], out[i + 1]);
    }
    if (i < values.size())
        out[i] = values[i].email ? email_key(values[i].value)
                                 : id_key(values[i].entity, values[i].value);
}

subject_hasher::lanes subject_hasher::best_lanes() {
    static const lanes best = [] {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) return lanes::avx512;
        if (__builtin_cpu_supports("avx2")) return lanes::avx2;
        return lanes::baseline;
    }();
    return best;
}

bool subject_hasher::supported(lanes l) {
    switch (l) {
        case lanes::avx512:
            return best_lanes() == lanes::avx512;
        case lanes::avx2:
            return best_lanes() != lanes::baseline;
        default:
            return true;
    }
}

void subject_hasher::digest_messages(std::span<const message> messages,
                                     std::span<std::uint64_t> out) const {
    digest_messages(messages, out, best_lanes());
}

void subject_hasher::digest_messages(std::span<const message> messages,
                                     std::span<std::uint64_t> out, lanes use) const {
    constexpr std::size_t max_blocks = max_message / 8 + 1;
    std::size_t i = 0;
    // Sixteen at a time; a last group of three or more too (the lanes past the messages digest
    // nothing and are thrown away: three side by side already cost less than three in turn).
    while (messages.size() - i >= 3) {
        const std::size_t n = std::min(sip_lanes, messages.size() - i);
        std::array<std::uint64_t, sip_lanes> last{};
        std::size_t blocks = 1;
        for (std::size_t lane = 0; lane < n; ++lane) {
            last[lane] = messages[i + lane].size / 8;
            blocks = std::max<std::size_t>(blocks, last[lane] + 1);
        }
        std::array<std::uint64_t, sip_lanes> digests;
        std::array<std::uint64_t, sip_lanes * max_blocks> words;
        if (use == lanes::avx512) {
            gather_words_avx512(&messages[i], n, blocks, last.data(), words.data());
            siphash24_x16_avx512(k0_, k1_, words.data(), blocks, last.data(), digests.data());
            std::copy_n(digests.begin(), n, &out[i]);
            i += n;
            continue;
        }
        for (std::size_t lane = 0; lane < sip_lanes; ++lane) {
            if (lane >= n) {
                for (std::size_t b = 0; b < blocks; ++b) words[sip_lanes * b + lane] = 0;
                continue;
            }
            const message& m = messages[i + lane];
            const std::size_t k = last[lane];
            for (std::size_t b = 0; b < k; ++b)
                words[sip_lanes * b + lane] = load_le64(&m.bytes[8 * b]);
            // The last block: the message's tail (zeros after it) and its length's low byte.
            words[sip_lanes * k + lane] =
                load_le64(&m.bytes[8 * k]) | (static_cast<std::uint64_t>(m.size & 0xffu) << 56);
            for (std::size_t b = k + 1; b < blocks; ++b) words[sip_lanes * b + lane] = 0;
        }
        switch (use) {
            case lanes::avx2:
                siphash24_x16_avx2(k0_, k1_, words.data(), blocks, last.data(), digests.data());
                break;
            default:
                siphash24_x16_baseline(k0_, k1_, words.data(), blocks, last.data(), digests.data());
                break;
        }
        std::copy_n(digests.begin(), n, &out[i]);
        i += n;
    }
    for (; i < messages.size(); ++i)
        out[i] = siphash24_bytes(k0_, k1_, messages[i].bytes.data(), messages[i].size);
}

std::uint64_t subject_hasher::id_key(std::string_view entity, std::string_view id) const {
    return digest("id", entity, id);
}

std::uint64_t subject_hasher::email_key(std::string_view email) const {
    return digest("email", {}, email);
}

// ---- format 1: the coded set ----------------------------------------------------------------

std::string encode_subject_set(std::vector<std::uint64_t>& hashes, unsigned k) {
    const std::uint64_t range = static_cast<std::uint64_t>(hashes.size()) << k;
    for (auto& h : hashes) h = reduce(h, range);
    std::sort(hashes.begin(), hashes.end());
    std::string out;
    out.reserve(hashes.size() * (k + 2) / 8 + 1);
    bit_writer w(out);
    std::uint64_t previous = 0;
    for (std::uint64_t v : hashes) {
        const std::uint64_t delta = v - previous;
        previous = v;
        w.run_then(delta >> k, delta, k);
    }
    w.finish();
    return out;
}

bool subject_set_contains(std::string_view payload, std::uint32_t n, unsigned k,
                          std::uint64_t hash) {
    if (n == 0 || k > 32) return false;
    const std::uint64_t target = reduce(hash, static_cast<std::uint64_t>(n) << k);
    bit_reader r(payload);
    std::uint64_t value = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
        std::uint64_t q = 0;
        if (!r.unary(q)) return false;
        std::uint64_t low = 0;
        if (!r.bits(k, low)) return false;
        value += (q << k) | low;
        if (value == target) return true;
        if (value > target) return false;
    }
    return false;
}

namespace {

std::array<unsigned char, 16> parse_export_id(std::string_view export_id) {
    std::array<unsigned char, 16> id{};
    for (std::size_t i = 0; i < id.size() && 2 * i + 1 < export_id.size(); ++i) {
        const int hi = common::hex_value(export_id[2 * i]);
        const int lo = common::hex_value(export_id[2 * i + 1]);
        id[i] = static_cast<unsigned char>(((hi < 0 ? 0 : hi) << 4) | (lo < 0 ? 0 : lo));
    }
    return id;
}

}  // namespace

std::string encode_subject_chunk_v1(std::string_view export_id, std::vector<std::uint64_t> hashes,
                                    unsigned k) {
    const auto id = parse_export_id(export_id);
    std::string chunk;
    chunk.append(magic);
    chunk.push_back(static_cast<char>(version_set));
    chunk.push_back(static_cast<char>(k));
    chunk.append(2, '\0');
    chunk.append(reinterpret_cast<const char*>(id.data()), id.size());
    put_u32(chunk, static_cast<std::uint32_t>(hashes.size()));
    const std::string payload = encode_subject_set(hashes, k);
    put_u32(chunk, static_cast<std::uint32_t>(payload.size()));
    chunk.append(payload);
    return chunk;
}

// ---- format 2: ordinals ---------------------------------------------------------------------

namespace {

unsigned floor_log2(std::uint64_t v) { return 63U - static_cast<unsigned>(__builtin_clzll(v)); }

// Elias-gamma as N ones, a zero, then the N bits of the gap below its leading one.
void put_gamma(bit_writer& w, std::uint64_t gap) {
    const unsigned n = floor_log2(gap);
    w.run_then(n, gap, n);
}

bool get_gap(bit_reader& r, unsigned code, std::uint64_t& gap) {
    std::uint64_t q = 0;
    if (!r.unary(q)) return false;
    std::uint64_t low = 0;
    if (code == 0) {
        if (q > 32 || !r.bits(static_cast<unsigned>(q), low)) return false;
        gap = (std::uint64_t{1} << q) | low;
        return true;
    }
    const unsigned k = code - 1;
    if (q > 0xffffffffULL || !r.bits(k, low)) return false;
    gap = ((q << k) | low) + 1;
    return true;
}

}  // namespace

unsigned encode_ordinals(std::span<const std::uint32_t> sorted, std::string& out) {
    if (sorted.size() < 2) return 0;
    const std::uint64_t span = sorted.back() - sorted.front();
    if (span == sorted.size() - 1) {
        // Every gap is 1 (a repeated export of the same persons in the CRM's order): the loops
        // below would choose gamma, one zero bit a gap; written as whole zero bytes at once.
        out.append((span + 7) / 8, '\0');
        return 0;
    }
    // The mean gap names the Rice parameters worth trying; gamma suits gaps of mixed sizes.
    const std::uint64_t mean = span / (sorted.size() - 1);
    const unsigned centre = mean <= 1 ? 0 : floor_log2(mean);
    const unsigned lowest = centre == 0 ? 0 : centre - 1;
    std::array<std::uint64_t, 3> rice{};
    std::uint64_t gamma = 0;
    for (std::size_t i = 1; i < sorted.size(); ++i) {
        const std::uint64_t gap = sorted[i] - sorted[i - 1];
        gamma += 2 * floor_log2(gap) + 1;
        for (unsigned j = 0; j < rice.size(); ++j) {
            const unsigned k = lowest + j;
            rice[j] += ((gap - 1) >> k) + 1 + k;
        }
    }
    unsigned code = 0;
    std::uint64_t best = gamma;
    for (unsigned j = 0; j < rice.size(); ++j) {
        if (rice[j] < best && lowest + j <= 31) {
            best = rice[j];
            code = 1 + lowest + j;
        }
    }
    out.reserve(out.size() + best / 8 + 1);
    bit_writer w(out);
    for (std::size_t i = 1; i < sorted.size(); ++i) {
        const std::uint64_t gap = sorted[i] - sorted[i - 1];
        if (code == 0) {
            put_gamma(w, gap);
        } else {
            const unsigned k = code - 1;
            w.run_then((gap - 1) >> k, gap - 1, k);
        }
    }
    w.finish();
    return code;
}

bool decode_ordinals(std::string_view payload, std::uint32_t n, unsigned code, std::uint32_t first,
                     std::vector<std::uint32_t>& out) {
    if (n == 0 || code > 32) return n == 0;
    bit_reader r(payload);
    std::uint64_t value = first;
    out.push_back(first);
    for (std::uint32_t i = 1; i < n; ++i) {
        std::uint64_t gap = 0;
        if (!get_gap(r, code, gap)) return false;
        value += gap;
        if (value > 0xffffffffULL) return false;
        out.push_back(static_cast<std::uint32_t>(value));
    }
    return true;
}

bool ordinal_list_contains(std::string_view payload, std::uint32_t n, unsigned code,
                           std::uint32_t first, std::uint32_t target) {
    if (n == 0 || code > 32 || target < first) return false;
    if (target == first) return true;
    bit_reader r(payload);
    std::uint64_t value = first;
    for (std::uint32_t i = 1; i < n; ++i) {
        std::uint64_t gap = 0;
        if (!get_gap(r, code, gap)) return false;
        value += gap;
        if (value == target) return true;
        if (value > target) return false;
    }
    return false;
}

dictionary_chain next_dictionary_chain(const dictionary_chain& previous, std::string_view header16,
                                       std::string_view digests) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    std::array<unsigned char, EVP_MAX_MD_SIZE> d{};
    unsigned int len = 0;
    if (!ctx || EVP_DigestInit_ex(ctx.get(), sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), previous.data(), previous.size()) != 1 ||
        EVP_DigestUpdate(ctx.get(), header16.data(), header16.size()) != 1 ||
        EVP_DigestUpdate(ctx.get(), digests.data(), digests.size()) != 1 ||
        EVP_DigestFinal_ex(ctx.get(), d.data(), &len) != 1)
        crypto_failed();
    dictionary_chain out{};
    std::memcpy(out.data(), d.data(), out.size());
    return out;
}

// ---- the dictionary in memory ---------------------------------------------------------------

subject_dictionary::table_memory::table_memory(std::size_t words) : size_(words) {
    const std::size_t bytes = words * sizeof(std::uint32_t);
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    if (bytes >= (std::size_t{4} << 20)) ::madvise(p, bytes, MADV_HUGEPAGE);  // a hint only
    words_ = static_cast<std::uint32_t*>(p);
}

subject_dictionary::table_memory::~table_memory() {
    if (words_ != nullptr) ::munmap(words_, size_ * sizeof(std::uint32_t));
}

std::uint64_t subject_dictionary::key_at(std::size_t i) const {
    std::uint64_t k = 0;
    std::memcpy(&k, &slots_[3 * i], 8);
    return k;
}

void subject_dictionary::set(std::size_t i, std::uint64_t digest, std::uint32_t ordinal) {
    std::memcpy(&slots_[3 * i], &digest, 8);
    slots_[3 * i + 2] = ordinal;
}

std::optional<std::uint32_t> subject_dictionary::find(std::uint64_t digest) const {
    if (digest == 0) return zero_;
    if (slots_.empty()) return std::nullopt;
    for (std::size_t i = slot_of(digest);; i = (i + 1) & mask_) {
        const std::uint64_t k = key_at(i);
        if (k == digest) return slots_[3 * i + 2];
        if (k == 0) return std::nullopt;
    }
}

void subject_dictionary::touch(std::span<const std::uint64_t> digests) const {
    if (slots_.empty()) return;
    std::uint64_t seen = 0;
    for (std::uint64_t d : digests) {
        const std::size_t i = slot_of(d);
        seen += key_at(i) + slots_[3 * i + 2];
    }
    touched_ = seen;  // keeps the loads
}

void subject_dictionary::insert(std::uint64_t digest, std::uint32_t ordinal) {
    ++size_;
    if (digest == 0) {
        zero_ = ordinal;
        return;
    }
    if (size_ * 4 > capacity() * 3) grow();
    std::size_t i = slot_of(digest);
    while (key_at(i) != 0) i = (i + 1) & mask_;
    set(i, digest, ordinal);
}

void subject_dictionary::grow() {
    const std::size_t old = capacity();
    const std::size_t capacity = old == 0 ? 1024 : 2 * old;
    table_memory slots(3 * capacity);
    slots.swap(slots_);
    mask_ = capacity - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
    for (std::size_t j = 0; j < old; ++j) {
        std::uint64_t k = 0;
        std::memcpy(&k, &slots[3 * j], 8);
        if (k == 0) continue;
        std::size_t i = slot_of(k);
        while (key_at(i) != 0) i = (i + 1) & mask_;
        set(i, k, slots[3 * j + 2]);
    }
}

void subject_dictionary::erase(std::uint64_t digest) {
    if (digest == 0) {
        if (zero_) --size_;
        zero_.reset();
        return;
    }
    if (slots_.empty()) return;
    std::size_t i = slot_of(digest);
    while (key_at(i) != digest) {
        if (key_at(i) == 0) return;
        i = (i + 1) & mask_;
    }
    // Backward shift: a later entry of the run moves into the hole unless its home slot lies
    // cyclically after the hole (it would then be found before reaching its home).
    for (std::size_t j = (i + 1) & mask_; key_at(j) != 0; j = (j + 1) & mask_) {
        const std::size_t home = slot_of(key_at(j));
        if (((j - home) & mask_) >= ((j - i) & mask_)) {
            set(i, key_at(j), slots_[3 * j + 2]);
            i = j;
        }
    }
    set(i, 0, 0);
    --size_;
}

// ---- reading chunks -------------------------------------------------------------------------

namespace {

enum class parse_status : std::uint8_t { ok, torn, bad };

// The chunk at `at` (< bytes.size()). torn: the bytes end inside a chunk that may be whole once
// written; bad: no chunk starts there.
parse_status parse_chunk(std::string_view bytes, std::size_t at, subject_chunk& c) {
    const auto* h = reinterpret_cast<const unsigned char*>(bytes.data()) + at;
    const std::size_t left = bytes.size() - at;
    if (std::memcmp(h, magic.data(), std::min(left, magic.size())) != 0) return parse_status::bad;
    if (left < 6) return parse_status::torn;
    std::size_t header = chunk_header_size;
    std::uint64_t payload = 0;
    if (h[4] == version_set) {
        if (left < header) return parse_status::torn;
        if (h[5] > 32) return parse_status::bad;
        c.kind = subject_chunk::type::set_v1;
        c.k = h[5];
        std::memcpy(c.export_id.data(), h + 8, c.export_id.size());
        c.n = get_u32(h + 24);
        payload = get_u32(h + 28);
    } else if (h[4] == version_ordinals && h[5] == kind_dictionary) {
        if (left < header) return parse_status::torn;
        if (h[6] != 0 || h[7] != 0) return parse_status::bad;
        c.kind = subject_chunk::type::dictionary;
        c.first = get_u32(h + 8);
        c.n = get_u32(h + 12);
        if (c.n == 0 || static_cast<std::uint64_t>(c.first) + c.n > 0xffffffffULL)
            return parse_status::bad;
        std::memcpy(c.chain.data(), h + 16, c.chain.size());
        payload = std::uint64_t{8} * c.n;
    } else if (h[4] == version_ordinals && h[5] == kind_list) {
        header = list_header_size;
        if (left < header) return parse_status::torn;
        if (h[6] > 32 || h[7] != 0) return parse_status::bad;
        c.kind = subject_chunk::type::list;
        c.code = h[6];
        std::memcpy(c.export_id.data(), h + 8, c.export_id.size());
        c.n = get_u32(h + 24);
        payload = get_u32(h + 28);
        c.first = get_u32(h + 32);
        c.last = get_u32(h + 36);
        // n distinct ordinals in [first, last].
        if (c.n == 0 || c.last < c.first || c.last - c.first < c.n - 1 ||
            (c.n == 1 && c.last != c.first))
            return parse_status::bad;
    } else {
        return parse_status::bad;
    }
    if (left - header < payload) return parse_status::torn;
    c.payload = bytes.substr(at + header, static_cast<std::size_t>(payload));
    c.bytes = bytes.substr(at, header + static_cast<std::size_t>(payload));
    return parse_status::ok;
}

// A read-only map of a file, unmapped on destruction.
class mapped_file {
  public:
    mapped_file() = default;
    // A copy would unmap the same pages twice.
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    // `fd` stays the caller's.
    boost::system::error_code map(int fd) {
        struct stat st {};
        if (::fstat(fd, &st) != 0) return {errno, boost::system::system_category()};
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ == 0) return {};
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            size_ = 0;
            return {errno, boost::system::system_category()};
        }
        map_ = p;
        ::madvise(map_, size_, MADV_SEQUENTIAL);
        return {};
    }
    ~mapped_file() {
        if (map_ != nullptr) ::munmap(map_, size_);
    }
    [[nodiscard]] std::string_view bytes() const {
        return map_ == nullptr ? std::string_view{}
                               : std::string_view(static_cast<const char*>(map_), size_);
    }

  private:
    void* map_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace

boost::system::error_code for_each_subject_chunk(
    const std::string& path, const std::function<bool(const subject_chunk&)>& visit) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return audit_error::no_log;
        return {errno, boost::system::system_category()};
    }
    mapped_file map;
    auto ec = map.map(fd);
    ::close(fd);
    if (ec) return ec;
    return for_each_subject_chunk_in(map.bytes(), visit);
}

boost::system::error_code for_each_subject_chunk_in(
    std::string_view bytes, const std::function<bool(const subject_chunk&)>& visit) {
    for (std::size_t at = 0; at < bytes.size();) {
        subject_chunk c;
        const auto status = parse_chunk(bytes, at, c);
        if (status == parse_status::torn) break;  // a torn last chunk
        if (status == parse_status::bad) return audit_error::corrupt_log;
        at += c.bytes.size();
        if (!visit(c)) break;
    }
    return {};
}

// ---- the index file -------------------------------------------------------------------------

std::string subject_index_path(std::string_view audit_path) {
    return std::string(audit_path) + ".subjects";
}

subject_index_file::subject_index_file(std::string path, std::uint32_t max_digests)
    : path_(std::move(path)), max_digests_(std::min(max_digests, 0xfffffffeU)) {}

subject_index_file::~subject_index_file() {
    if (fd_ >= 0) ::close(fd_);
}

boost::system::error_code subject_index_file::open() {
    std::lock_guard lock(mutex_);
    if (auto ec = open_locked()) return ec;
    // Full: no export starts that the index could not name.
    if (ordinals_ >= max_digests_) return make_error_code(boost::system::errc::no_buffer_space);
    return {};
}

std::uint64_t subject_index_file::torn_bytes() const {
    std::lock_guard lock(mutex_);
    return torn_;
}

std::size_t subject_index_file::digests() const {
    std::lock_guard lock(mutex_);
    return ordinals_;
}

std::size_t subject_index_file::memory_bytes() const {
    std::lock_guard lock(mutex_);
    return dictionary_.memory_bytes() + by_ordinal_.capacity() * sizeof(std::uint64_t);
}

boost::system::error_code subject_index_file::open_locked() {
    if (fd_ < 0) {
        fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd_ < 0) return {errno, boost::system::system_category()};
        loaded_ = false;
    }
    if (!loaded_) {
        if (auto ec = load_locked()) {
            ::close(fd_);
            fd_ = -1;
            return ec;
        }
        loaded_ = true;
    }
    return {};
}

boost::system::error_code subject_index_file::load_locked() {
    dictionary_ = subject_dictionary{};
    by_ordinal_.clear();
    ordinals_ = 0;
    chain_ = {};
    size_ = 0;
    mapped_file map;
    if (auto ec = map.map(fd_)) return ec;
    const std::string_view bytes = map.bytes();
    std::size_t at = 0;
    while (at < bytes.size()) {
        subject_chunk c;
        if (parse_chunk(bytes, at, c) != parse_status::ok) break;
        if (c.kind == subject_chunk::type::dictionary) {
            // A dictionary chunk continues the chain and adds only digests not seen yet, or the
            // file ends before it.
            if (c.first != ordinals_ ||
                next_dictionary_chain(chain_, c.bytes.substr(0, 16), c.payload) != c.chain)
                break;
            const auto* p = reinterpret_cast<const unsigned char*>(c.payload.data());
            std::uint32_t added = 0;
            for (; added < c.n; ++added) {
                const std::uint64_t d = load_le64(p + 8 * std::size_t{added});
                if (dictionary_.find(d)) break;
                dictionary_.insert(d, ordinals_ + added);
            }
            if (added < c.n) {
                for (std::uint32_t j = 0; j < added; ++j)
                    dictionary_.erase(load_le64(p + 8 * std::size_t{j}));
                break;
            }
            for (std::uint32_t j = 0; j < c.n; ++j)
                by_ordinal_.push_back(load_le64(p + 8 * std::size_t{j}));
            ordinals_ += c.n;
            chain_ = c.chain;
        }
        at += c.bytes.size();
    }
    size_ = at;
    torn_ = bytes.size() - at;
    if (torn_ == 0) return {};
    // What a crash left: set aside for whoever investigates, then cut off so appends continue
    // from a whole chunk. Damage further from the end is not a crash's: refuse.
    if (torn_ > max_torn_tail) return audit_error::corrupt_log;
    const std::string aside = path_ + ".torn-" + std::to_string(at);
    const int out = ::open(aside.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (out < 0) return {errno, boost::system::system_category()};
    std::string_view tail = bytes.substr(at);
    while (!tail.empty()) {
        const ssize_t n = ::write(out, tail.data(), tail.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int e = n < 0 ? errno : EIO;
            ::close(out);
            return {e, boost::system::system_category()};
        }
        tail.remove_prefix(static_cast<std::size_t>(n));
    }
    ::close(out);
    if (::ftruncate(fd_, static_cast<off_t>(at)) != 0)
        return {errno, boost::system::system_category()};
    return {};
}

boost::system::error_code subject_index_file::write_locked(std::string_view bytes) {
    const char* p = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
        const ssize_t n = ::write(fd_, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const boost::system::error_code ec{n < 0 ? errno : EIO,
                                               boost::system::system_category()};
            // Whatever part of the chunk reached the file goes again; if it cannot, the file is
            // read again (its torn tail set aside) before the next append.
            if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
                ::close(fd_);
                fd_ = -1;
            }
            return ec;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    size_ += bytes.size();
    return {};
}

boost::system::error_code subject_index_file::assign(std::span<const std::uint64_t> digests,
                                                     std::vector<std::uint32_t>& ordinals,
                                                     std::uint32_t& next) {
    ordinals.resize(digests.size());
    std::lock_guard lock(mutex_);
    if (auto ec = open_locked()) return ec;
    // First the guesses, in ordinal order (sequential memory): the digest at `next`, or a few
    // past it (a person the CRM no longer exports, or one this export leaves out).
    constexpr std::uint32_t window = 4;
    const auto known = static_cast<std::uint32_t>(by_ordinal_.size());
    std::vector<std::uint32_t>& misses = misses_;  // indexes into `digests`
    misses.clear();
    for (std::size_t i = 0; i < digests.size(); ++i) {
        std::uint32_t o = next;
        const std::uint32_t end = next < known - std::min(known, window) ? next + window : known;
        while (o < end && by_ordinal_[o] != digests[i]) ++o;
        if (o < end) {
            ordinals[i] = o;
            next = o + 1;
        } else {
            misses.push_back(static_cast<std::uint32_t>(i));
        }
    }
    if (misses.empty()) return {};
    // The rest through the table, which outgrows the caches: their home slots are read first,
    // all at once (independent loads overlap; a probe loop's branches would wait for each one in
    // turn).
    missed_.clear();
    for (std::uint32_t i : misses) missed_.push_back(digests[i]);
    dictionary_.touch(missed_);
    fresh_.clear();
    auto forget_fresh = [this] {
        for (std::uint64_t d : fresh_) dictionary_.erase(d);
        by_ordinal_.resize(ordinals_);
    };
    for (std::uint32_t i : misses) {
        if (auto o = dictionary_.find(digests[i])) {
            ordinals[i] = *o;
            continue;
        }
        if (ordinals_ + fresh_.size() >= max_digests_) {
            forget_fresh();
            return make_error_code(boost::system::errc::no_buffer_space);
        }
        const auto o = static_cast<std::uint32_t>(ordinals_ + fresh_.size());
        dictionary_.insert(digests[i], o);
        by_ordinal_.push_back(digests[i]);
        fresh_.push_back(digests[i]);
        ordinals[i] = o;
    }
    // The next call guesses on from this call's last digest, whichever way it was found.
    next = ordinals.back() + 1;
    if (fresh_.empty()) return {};
    chunk_.assign(chunk_header_size + 8 * fresh_.size(), '\0');
    auto* h = reinterpret_cast<unsigned char*>(chunk_.data());
    std::memcpy(h, magic.data(), magic.size());
    h[4] = version_ordinals;
    h[5] = kind_dictionary;
    const auto n = static_cast<std::uint32_t>(fresh_.size());
    for (int i = 0; i < 4; ++i) {
        h[8 + i] = static_cast<unsigned char>((ordinals_ >> (8 * i)) & 0xffu);
        h[12 + i] = static_cast<unsigned char>((n >> (8 * i)) & 0xffu);
    }
    for (std::size_t i = 0; i < fresh_.size(); ++i)
        store_le64(h + chunk_header_size + 8 * i, fresh_[i]);
    const std::string_view view(chunk_);
    const dictionary_chain chain =
        next_dictionary_chain(chain_, view.substr(0, 16), view.substr(chunk_header_size));
    std::memcpy(h + 16, chain.data(), chain.size());
    if (auto ec = write_locked(chunk_)) {
        forget_fresh();
        return ec;
    }
    ordinals_ += n;
    chain_ = chain;
    return {};
}

boost::system::error_code subject_index_file::append_list(
    std::string_view chunk, std::array<unsigned char, 20>& dictionary) {
    std::lock_guard lock(mutex_);
    if (auto ec = open_locked()) return ec;
    dictionary_state(ordinals_, chain_, dictionary);
    return write_locked(chunk);
}

// ---- one export's collector -----------------------------------------------------------------

subject_collector::subject_collector(std::shared_ptr<subject_index_file> file,
                                     std::string_view export_id,
                                     std::shared_ptr<const subject_hasher> hasher)
    : file_(std::move(file)), hasher_(std::move(hasher)), id_(parse_export_id(export_id)) {}

void subject_collector::digest_queue() {
    std::array<std::uint64_t, std::tuple_size_v<decltype(queue_)>> digests;
    hasher_->digest_messages({queue_.data(), queued_}, {digests.data(), queued_});
    const std::size_t n = queued_;
    queued_ = 0;
    for (std::size_t i = 0; i < n; ++i) push(digests[i]);
}

void subject_collector::commit_tentative() {
    // After the keys queued before them: pending_ keeps the order they were handed over in,
    // which retract() counts back.
    if (queued_ > 0) digest_queue();
    for (std::uint64_t d : tentative_) push(d);
    taken_ += tentative_.size();
    tentative_.clear();
}

bool subject_collector::retract(std::uint64_t taken) {
    if (taken >= taken_) return true;
    if (taken < written_) return false;
    std::uint64_t excess = taken_ - taken;
    const auto from_queue = static_cast<std::size_t>(std::min<std::uint64_t>(excess, queued_));
    queued_ -= from_queue;  // the newest are queued; older ones are digested already
    excess -= from_queue;
    pending_.resize(pending_.size() - static_cast<std::size_t>(excess));
    taken_ = taken;
    return true;
}

void subject_collector::drop_pending() {
    queued_ = 0;
    pending_.clear();
    tentative_.clear();
    written_ = taken_;
}

void subject_collector::flush(std::span<const std::uint64_t> digests) {
    if (digests.empty() || error_) return;
    error_ = file_->assign(digests, ordinals_, next_ordinal_);
    if (error_) return;
    // First-seen ordinals of a CRM's stable order mostly increase already.
    if (!std::is_sorted(ordinals_.begin(), ordinals_.end()))
        std::sort(ordinals_.begin(), ordinals_.end());
    ordinals_.erase(std::unique(ordinals_.begin(), ordinals_.end()), ordinals_.end());
    const auto n = static_cast<std::uint32_t>(ordinals_.size());
    chunk_.assign(list_header_size, '\0');
    const unsigned code = encode_ordinals(ordinals_, chunk_);
    auto* h = reinterpret_cast<unsigned char*>(chunk_.data());
    std::memcpy(h, magic.data(), magic.size());
    h[4] = version_ordinals;
    h[5] = kind_list;
    h[6] = static_cast<unsigned char>(code);
    std::memcpy(h + 8, id_.data(), id_.size());
    const auto payload = static_cast<std::uint32_t>(chunk_.size() - list_header_size);
    for (int i = 0; i < 4; ++i) {
        const int s = 8 * i;
        h[24 + i] = static_cast<unsigned char>((n >> s) & 0xffu);
        h[28 + i] = static_cast<unsigned char>((payload >> s) & 0xffu);
        h[32 + i] = static_cast<unsigned char>((ordinals_.front() >> s) & 0xffu);
        h[36 + i] = static_cast<unsigned char>((ordinals_.back() >> s) & 0xffu);
    }
    std::array<unsigned char, 20> dictionary{};
    error_ = file_->append_list(chunk_, dictionary);
    if (error_) return;
    if (!sha_) {
        sha_ = std::shared_ptr<void>(EVP_MD_CTX_new(), [](void* p) { EVP_MD_CTX_free(as_ctx(p)); });
        if (!sha_ || EVP_DigestInit_ex(as_ctx(sha_.get()), sha256(), nullptr) != 1) crypto_failed();
    }
    if (EVP_DigestUpdate(as_ctx(sha_.get()), chunk_.data(), chunk_.size()) != 1 ||
        EVP_DigestUpdate(as_ctx(sha_.get()), dictionary.data(), dictionary.size()) != 1)
        crypto_failed();
    wrote_ = true;
    keys_ += n;
}

boost::system::error_code subject_collector::write_pending() {
    if (queued_ > 0) digest_queue();
    for (std::size_t at = 0; at < pending_.size(); at += chunk_capacity)
        flush(std::span<const std::uint64_t>(pending_).subspan(
            at, std::min(chunk_capacity, pending_.size() - at)));
    pending_.clear();
    written_ = taken_;
    return error_;
}

std::string subject_collector::digest_hex() const {
    if (!wrote_) return {};
    EVP_MD_CTX* copy = EVP_MD_CTX_new();
    std::array<unsigned char, EVP_MAX_MD_SIZE> d{};
    unsigned int len = 0;
    if (copy == nullptr || EVP_MD_CTX_copy_ex(copy, as_ctx(sha_.get())) != 1 ||
        EVP_DigestFinal_ex(copy, d.data(), &len) != 1) {
        EVP_MD_CTX_free(copy);
        crypto_failed();
    }
    EVP_MD_CTX_free(copy);
    return common::to_hex(d.data(), len);
}

// ---- the lookup -----------------------------------------------------------------------------

std::string export_id_hex(const std::array<unsigned char, 16>& id) {
    return common::to_hex(id.data(), id.size());
}

boost::system::error_code find_subject_exports(const std::string& path,
                                               std::span<const std::uint64_t> digests,
                                               subject_search& out) {
    out = subject_search{};
    using id_type = std::array<unsigned char, 16>;
    std::vector<id_type> ids;             // the matches, in the order of their first chunk
    std::vector<id_type> unfaithful;      // exports with a list chunk that misnames the dictionary
    std::vector<std::uint32_t> ordinals;  // the digests' ordinals
    dictionary_chain chain{};
    std::vector<dictionary_chain> chains;  // after each dictionary chunk, for the second pass
    std::uint64_t size = 0;
    auto seen = [](const std::vector<id_type>& v, const id_type& id) {
        return std::find(v.begin(), v.end(), id) != v.end();
    };
    std::uint64_t walked = 0;  // the second pass reads no further: the file may grow meanwhile
    auto ec = for_each_subject_chunk(path, [&](const subject_chunk& c) {
        walked += c.bytes.size();
        switch (c.kind) {
            case subject_chunk::type::dictionary: {
                const dictionary_chain next =
                    next_dictionary_chain(chain, c.bytes.substr(0, 16), c.payload);
                if (c.first != size || next != c.chain) out.dictionary_intact = false;
                chain = next;
                chains.push_back(next);
                const auto* p = reinterpret_cast<const unsigned char*>(c.payload.data());
                for (std::uint32_t i = 0; i < c.n; ++i) {
                    const std::uint64_t d = load_le64(p + 8 * std::size_t{i});
                    for (std::uint64_t want : digests)
                        if (d == want) ordinals.push_back(static_cast<std::uint32_t>(size + i));
                }
                size += c.n;
                return true;
            }
            case subject_chunk::type::list: {
                if (c.last >= size) {
                    out.dictionary_intact = false;
                    if (!seen(unfaithful, c.export_id)) unfaithful.push_back(c.export_id);
                }
                if (seen(ids, c.export_id)) return true;
                for (std::uint32_t o : ordinals) {
                    if (o < c.first || o > c.last) continue;
                    if (ordinal_list_contains(c.payload, c.n, c.code, c.first, o)) {
                        ids.push_back(c.export_id);
                        break;
                    }
                }
                return true;
            }
            case subject_chunk::type::set_v1:
                if (seen(ids, c.export_id)) return true;
                for (std::uint64_t d : digests) {
                    if (subject_set_contains(c.payload, c.n, c.k, d)) {
                        ids.push_back(c.export_id);
                        break;
                    }
                }
                return true;
        }
        return true;
    });
    if (ec || ids.empty()) return ec;
    struct hashing {
        id_type id;
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{nullptr, &EVP_MD_CTX_free};
    };
    std::vector<hashing> states;
    for (const auto& id : ids) {
        hashing h{id, {EVP_MD_CTX_new(), &EVP_MD_CTX_free}};
        if (!h.ctx || EVP_DigestInit_ex(h.ctx.get(), sha256(), nullptr) != 1) crypto_failed();
        states.push_back(std::move(h));
    }
    // The matches' chunks again, each list chunk followed by the dictionary's size and chain
    // where it lies, as the collector hashed them.
    std::size_t dictionaries = 0;
    size = 0;
    ec = for_each_subject_chunk(path, [&](const subject_chunk& c) {
        if (walked < c.bytes.size()) return false;
        walked -= c.bytes.size();
        if (c.kind == subject_chunk::type::dictionary) {
            size += c.n;
            ++dictionaries;
            return true;
        }
        for (auto& h : states) {
            if (h.id != c.export_id) continue;
            if (EVP_DigestUpdate(h.ctx.get(), c.bytes.data(), c.bytes.size()) != 1) crypto_failed();
            if (c.kind == subject_chunk::type::list) {
                std::array<unsigned char, 20> state{};
                const dictionary_chain none{};
                dictionary_state(size, dictionaries == 0 ? none : chains[dictionaries - 1], state);
                if (EVP_DigestUpdate(h.ctx.get(), state.data(), state.size()) != 1) crypto_failed();
            }
            break;
        }
        return true;
    });
    if (ec) return ec;
    for (auto& h : states) {
        std::array<unsigned char, EVP_MAX_MD_SIZE> d{};
        unsigned int len = 0;
        if (EVP_DigestFinal_ex(h.ctx.get(), d.data(), &len) != 1) crypto_failed();
        subject_match m;
        m.export_id = export_id_hex(h.id);
        m.chunks_sha256 = common::to_hex(d.data(), len);
        m.dictionary_matches = !seen(unfaithful, h.id);
        out.exports.push_back(std::move(m));
    }
    return {};
}

boost::system::error_code find_subject_exports(const std::string& path,
                                               std::span<const std::uint64_t> digests,
                                               std::vector<subject_match>& out) {
    subject_search search;
    auto ec = find_subject_exports(path, digests, search);
    out = std::move(search.exports);
    return ec;
}

}  // namespace exportwall::audit
