#pragma once
// ASCII case folding: one home for the case-insensitive comparisons of protocol words — HTTP
// field names and tokens, media types, content codings, query keywords, XML-RPC and SOAP names.
// Never locale-dependent: a byte past ASCII, or any byte that is not a letter, compares as itself
// (std::tolower's locale lookup per byte also showed in profiles of filtered exports, where the
// record rules compare every record's consent and objection words).

#include <cstddef>
#include <string_view>

namespace exportwall::common {

[[nodiscard]] constexpr char to_lower_ascii(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

[[nodiscard]] constexpr bool iequals_ascii(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i] && to_lower_ascii(a[i]) != to_lower_ascii(b[i])) return false;
    }
    return true;
}

}  // namespace exportwall::common
