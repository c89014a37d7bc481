#pragma once
// Percent-encoding (RFC 3986 §2.1): one home for reading %XX escapes — query strings, the query
// guard's parameters, the audit query's parameters, request targets — and for writing them: the
// query rewriters' parameters, the canonical request target, the OAuth 2 token request's form,
// the demo CRM's links. What a caller refuses (control bytes, an encoded '/' or NUL) and which
// bytes it writes as they are stay with the caller.

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/hex.hpp"

namespace exportwall::common {

// What a '+' stands for.
enum class plus_sign : bool {
    literal,  // itself (RFC 3986: paths, and query strings read as URIs)
    space,    // a space (application/x-www-form-urlencoded: query strings read as forms)
};

// The byte that the escape at s[at] (a '%') stands for: two hex digits of either case follow
// it. -1 when fewer than two characters follow ("%4" at the end) or either is no hex digit.
[[nodiscard]] constexpr int percent_escape_value(std::string_view s, std::size_t at) noexcept {
    if (at + 2 >= s.size()) return -1;
    const int hi = hex_value(s[at + 1]);
    const int lo = hex_value(s[at + 2]);
    if (hi < 0 || lo < 0) return -1;
    return hi * 16 + lo;
}

// Appends `in` percent-decoded to `out`: every %XX as its byte ("%00" too), '+' as `plus` says,
// every other byte as it is. False on a malformed escape (see percent_escape_value); `out` then
// holds what came before it, decoded. Written through a pointer into room for the longest result
// (decoding never lengthens), then cut to length: no capacity check per byte, and `out` does not
// reallocate when the caller reserved room for `in`.
[[nodiscard]] inline bool append_percent_decoded(std::string& out, std::string_view in,
                                                 plus_sign plus) {
    const std::size_t start = out.size();
    out.resize(start + in.size());
    char* w = out.data() + start;
    bool ok = true;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '%') {
            const int byte = percent_escape_value(in, i);
            if (byte < 0) {
                ok = false;
                break;
            }
            *w++ = static_cast<char>(byte);
            i += 2;
        } else if (c == '+' && plus == plus_sign::space) {
            *w++ = ' ';
        } else {
            *w++ = c;
        }
    }
    out.resize(static_cast<std::size_t>(w - out.data()));
    return ok;
}

// Which bytes percent-encoding writes as they are (true) rather than as %XX.
using percent_plain = std::array<bool, 256>;

// The unreserved characters of RFC 3986 §2.3 (ALPHA DIGIT "-" "." "_" "~") and the bytes of
// `also`.
[[nodiscard]] constexpr percent_plain unreserved_and(std::string_view also) noexcept {
    percent_plain plain{};
    for (int c = 'a'; c <= 'z'; ++c) plain[static_cast<std::size_t>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c) plain[static_cast<std::size_t>(c)] = true;
    for (int c = '0'; c <= '9'; ++c) plain[static_cast<std::size_t>(c)] = true;
    for (char c : std::string_view("-._~")) plain[static_cast<unsigned char>(c)] = true;
    for (char c : also) plain[static_cast<unsigned char>(c)] = true;
    return plain;
}

// Appends the escape of `b`: '%' and two upper-case hex digits (RFC 3986 §2.1 "should").
inline void append_percent_escape(std::string& out, unsigned char b) {
    static constexpr char digits[] = "0123456789ABCDEF";
    const char escape[3] = {'%', digits[b >> 4], digits[b & 0x0f]};
    out.append(escape, 3);
}

// Appends `in` percent-encoded: the bytes `plain` names as they are, every other byte as %XX —
// a space as '+' when `plus` is plus_sign::space (application/x-www-form-urlencoded) and `plain`
// does not name it. Written through a pointer into room for the longest result, then cut to
// length: no capacity check per byte.
inline void append_percent_encoded(std::string& out, std::string_view in,
                                   const percent_plain& plain,
                                   plus_sign plus = plus_sign::literal) {
    static constexpr char digits[] = "0123456789ABCDEF";
    const std::size_t start = out.size();
    out.resize(start + 3 * in.size());
    char* w = out.data() + start;
    for (char c : in) {
        const auto u = static_cast<unsigned char>(c);
        if (plain[u]) {
            *w++ = c;
        } else if (c == ' ' && plus == plus_sign::space) {
            *w++ = '+';
        } else {
            *w++ = '%';
            *w++ = digits[u >> 4];
            *w++ = digits[u & 0x0f];
        }
    }
    out.resize(static_cast<std::size_t>(w - out.data()));
}

}  // namespace exportwall::common
