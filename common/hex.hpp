#pragma once
// Lower-case hex of bytes, and the SHA-256 of bytes in hex: one home for what revisions, chain
// hashes, record ids, fingerprints and script names are written as.

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace exportwall::common {

// Appends the lower-case hex of bytes[0, n) to `out`.
inline void append_hex(std::string& out, const unsigned char* bytes, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    const std::size_t at = out.size();
    out.resize(at + 2 * n);
    for (std::size_t i = 0; i < n; ++i) {
        out[at + 2 * i] = digits[bytes[i] >> 4];
        out[at + 2 * i + 1] = digits[bytes[i] & 0x0f];
    }
}

[[nodiscard]] inline std::string to_hex(const unsigned char* bytes, std::size_t n) {
    std::string out;
    append_hex(out, bytes, n);
    return out;
}

// Any contiguous container of unsigned char (std::array, std::vector).
template <class Bytes>
[[nodiscard]] std::string to_hex(const Bytes& bytes) {
    return to_hex(bytes.data(), bytes.size());
}

// The SHA-256 of `bytes` in hex (64 digits); "" if OpenSSL failed.
[[nodiscard]] inline std::string sha256_hex(std::string_view bytes) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr) != 1)
        return {};
    return to_hex(md.data(), len);
}

}  // namespace exportwall::common
