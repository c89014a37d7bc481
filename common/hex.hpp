#pragma once
// Lower-case hex of bytes, and the SHA-256 of bytes in hex: one home for what revisions, chain
// hashes, record ids, fingerprints and script names are written as, and for reading hex back
// (digests, signatures, percent-escapes).

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace exportwall::common {

// Writes the lower-case hex of bytes[0, n) to out[0, 2n) (no terminating NUL).
inline void write_hex(char* out, const unsigned char* bytes, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    for (std::size_t i = 0; i < n; ++i) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
}

// Appends the lower-case hex of bytes[0, n) to `out`.
inline void append_hex(std::string& out, const unsigned char* bytes, std::size_t n) {
    const std::size_t at = out.size();
    out.resize(at + 2 * n);
    write_hex(out.data() + at, bytes, n);
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

// The value of the hex digit `c`: '0'-'9', 'a'-'f' and 'A'-'F'; -1 for any other character.
[[nodiscard]] constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// As hex_value, for lower-case digits only (what append_hex writes): -1 for 'A'-'F' too. For
// text exportwall wrote itself, where an upper-case digit means the text is not what it wrote.
[[nodiscard]] constexpr int lower_hex_value(char c) noexcept {
    return c >= 'A' && c <= 'F' ? -1 : hex_value(c);
}

namespace hex_detail {

template <int (*Value)(char) noexcept>
[[nodiscard]] constexpr bool decode(std::string_view hex, unsigned char* out,
                                    std::size_t n) noexcept {
    if (hex.size() != 2 * n) return false;
    for (std::size_t i = 0; i < n; ++i) {
        const int hi = Value(hex[2 * i]);
        const int lo = Value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    return true;
}

}  // namespace hex_detail

// Decodes `hex`, exactly 2n hex digits of either case, into out[0, n). False when `hex` has
// another length or holds a character that is no hex digit; out[0, n) is then partly written.
[[nodiscard]] constexpr bool from_hex(std::string_view hex, unsigned char* out,
                                      std::size_t n) noexcept {
    return hex_detail::decode<hex_value>(hex, out, n);
}

// As from_hex, for lower-case digits only (what append_hex writes).
[[nodiscard]] constexpr bool from_lower_hex(std::string_view hex, unsigned char* out,
                                            std::size_t n) noexcept {
    return hex_detail::decode<lower_hex_value>(hex, out, n);
}

namespace hex_detail {

// SHA-256 fetched from the provider once, and a digest context per thread. EVP_Digest with
// EVP_sha256() looks the algorithm up in OpenSSL 3's method store and allocates a context on
// every call: ~700 ns for a bearer key with two I/O threads hashing at once (each export
// hashes its key; a suppression list hashes every kept record's address), ~75 ns this way
// (issue 20).
struct sha256_context {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    sha256_context() = default;
    sha256_context(const sha256_context&) = delete;
    sha256_context& operator=(const sha256_context&) = delete;
    ~sha256_context() { EVP_MD_CTX_free(ctx); }
};

inline const EVP_MD* sha256_md() {
    static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
}

}  // namespace hex_detail

// The SHA-256 of `bytes` into `out`; false (and `out` unspecified) if OpenSSL failed.
[[nodiscard]] inline bool sha256(std::string_view bytes, std::array<unsigned char, 32>& out) {
    thread_local hex_detail::sha256_context c;
    unsigned int len = 0;
    return c.ctx != nullptr && EVP_DigestInit_ex2(c.ctx, hex_detail::sha256_md(), nullptr) == 1 &&
           EVP_DigestUpdate(c.ctx, bytes.data(), bytes.size()) == 1 &&
           EVP_DigestFinal_ex(c.ctx, out.data(), &len) == 1 && len == out.size();
}

// The SHA-256 of `bytes` in hex (64 digits); "" if OpenSSL failed.
[[nodiscard]] inline std::string sha256_hex(std::string_view bytes) {
    std::array<unsigned char, 32> md{};
    if (!sha256(bytes, md)) return {};
    return to_hex(md.data(), md.size());
}

}  // namespace exportwall::common
