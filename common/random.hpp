#pragma once
// Random bytes for values that must be unguessable but are no secret: audit record ids, paging
// token nonces, continuation chain ids. One RAND_bytes call (OpenSSL 3: a provider dispatch, a
// fork check and the DRBG's lock, ~0.7 µs) cost more than the rest of an export's id; each
// thread draws 4 KiB at once and hands out a few bytes at a time, each once (and wiped from the
// pool as it goes). exportwall does not fork, so no two processes share a pool. A key is not
// drawn here: it takes RAND_priv_bytes, whose DRBG is kept apart from the public one.

#include <openssl/rand.h>

#include <array>
#include <cstddef>
#include <cstring>

namespace exportwall::common {

// Fills out[0, n) with random bytes; false when OpenSSL's DRBG failed (the caller fails closed).
[[nodiscard]] inline bool random_bytes(unsigned char* out, std::size_t n) noexcept {
    struct pool {
        std::array<unsigned char, 4096> bytes{};
        std::size_t used = sizeof(bytes);
    };
    constexpr std::size_t max_pooled = 64;
    if (n > max_pooled) return RAND_bytes(out, static_cast<int>(n)) == 1;
    thread_local pool p;
    if (p.used + n > p.bytes.size()) {
        if (RAND_bytes(p.bytes.data(), static_cast<int>(p.bytes.size())) != 1) return false;
        p.used = 0;
    }
    std::memcpy(out, p.bytes.data() + p.used, n);
    std::memset(p.bytes.data() + p.used, 0, n);
    p.used += n;
    return true;
}

}  // namespace exportwall::common
