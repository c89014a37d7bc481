#pragma once
// Percent-decoding (RFC 3986 §2.1): one home for reading %XX escapes — query strings, the query
// guard's parameters, the audit query's parameters, request targets. Only the decoding: what a
// caller then refuses (control bytes, an encoded '/' or NUL) stays with the caller, and so does
// re-encoding (the request target is normalised in proxy/http/target.cpp).

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

}  // namespace exportwall::common
