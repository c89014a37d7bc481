#pragma once
// Base64 (RFC 4648): one home for the two forms exportwall writes and reads — the URL-safe
// alphabet without padding (§5; JWS compact serialisation, RFC 7515 §2: sealed continuation
// tokens, pseudonyms, client assertions and certificate thumbprints) and the standard alphabet
// with padding (§4; HTTP Basic credentials).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace exportwall::common {

enum class base64_form : std::uint8_t {
    url_unpadded,     // A-Z a-z 0-9 - _, no '='
    standard_padded,  // A-Z a-z 0-9 + /, '=' to a multiple of four
};

namespace base64_detail {

inline constexpr std::string_view url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
inline constexpr std::string_view standard_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

inline constexpr std::uint8_t not_in_alphabet = 0xff;

// A character's 6-bit value in `alphabet`, or not_in_alphabet.
constexpr std::array<std::uint8_t, 256> values_of(std::string_view alphabet) {
    std::array<std::uint8_t, 256> v{};
    v.fill(not_in_alphabet);
    for (std::size_t i = 0; i < alphabet.size(); ++i)
        v[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
    return v;
}
inline constexpr auto url_values = values_of(url_alphabet);
inline constexpr auto standard_values = values_of(standard_alphabet);

}  // namespace base64_detail

// Appends the base64 of bytes[0, n) in `form`.
inline void append_base64(std::string& out, const unsigned char* bytes, std::size_t n,
                          base64_form form) {
    const std::string_view a = form == base64_form::url_unpadded ? base64_detail::url_alphabet
                                                                 : base64_detail::standard_alphabet;
    out.reserve(out.size() + (n + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        const unsigned v =
            (unsigned{bytes[i]} << 16) | (unsigned{bytes[i + 1]} << 8) | bytes[i + 2];
        const char quad[] = {a[(v >> 18) & 63], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
        out.append(quad, 4);
    }
    const std::size_t left = n - i;
    if (left == 0) return;
    unsigned v = unsigned{bytes[i]} << 16;
    if (left == 2) v |= unsigned{bytes[i + 1]} << 8;
    out.push_back(a[(v >> 18) & 63]);
    out.push_back(a[(v >> 12) & 63]);
    if (left == 2) out.push_back(a[(v >> 6) & 63]);
    if (form == base64_form::standard_padded) out.append(left == 2 ? 1 : 2, '=');
}

[[nodiscard]] inline std::string base64(std::string_view bytes, base64_form form) {
    std::string out;
    append_base64(out, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), form);
    return out;
}

// The bytes `in` encodes in `form`, or nullopt unless `in` is exactly what append_base64 writes
// for them: a character outside the alphabet, a length no encoding has, padding where the form
// has none (or missing where it has), or bits set past the last byte (so one byte string has
// one spelling, and an altered last character never decodes to the same bytes).
[[nodiscard]] inline std::optional<std::string> base64_decode(std::string_view in,
                                                              base64_form form) {
    const auto& values = form == base64_form::url_unpadded ? base64_detail::url_values
                                                           : base64_detail::standard_values;
    if (form == base64_form::standard_padded) {
        if (in.size() % 4 != 0) return std::nullopt;
        for (int pad = 0; pad < 2 && !in.empty() && in.back() == '='; ++pad) in.remove_suffix(1);
    }
    if (in.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(in.size() * 3 / 4);
    unsigned acc = 0;
    int bits = 0;
    for (char c : in) {
        const std::uint8_t v = values[static_cast<unsigned char>(c)];
        if (v == base64_detail::not_in_alphabet) return std::nullopt;
        acc = ((acc << 6) | v) & 0xffffu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xffu));
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

}  // namespace exportwall::common
