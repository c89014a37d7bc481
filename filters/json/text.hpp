#pragma once
// JSON text for the JSON filter (filters/json_filter.cpp and its parts in filters/json/): string
// escaping as the filter writes it, JSON pointer tokens, whitespace.

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include <boost/json/string_view.hpp>
#include <boost/system/error_code.hpp>

namespace exportwall::filters::json_detail {

using error_code = boost::system::error_code;
using json_sv = boost::json::string_view;

inline std::string_view sv(json_sv s) { return {s.data(), s.size()}; }

// Characters a JSON string must escape: '"', '\\' and the C0 controls.
constexpr std::array<bool, 256> make_escape_table() {
    std::array<bool, 256> t{};
    for (std::size_t c = 0; c < 0x20; ++c) t[c] = true;
    t['"'] = true;
    t['\\'] = true;
    return t;
}
inline constexpr std::array<bool, 256> escape_table = make_escape_table();

inline void append_escaped(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    const char* run = s.data();
    const char* const end = run + s.size();
    for (const char* p = run; p < end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        if (!escape_table[c]) continue;
        out.append(run, p);
        run = p + 1;
        switch (c) {
            case '"':
                out.append("\\\"");
                break;
            case '\\':
                out.append("\\\\");
                break;
            case '\n':
                out.append("\\n");
                break;
            case '\r':
                out.append("\\r");
                break;
            case '\t':
                out.append("\\t");
                break;
            case '\b':
                out.append("\\b");
                break;
            case '\f':
                out.append("\\f");
                break;
            default: {
                const char u[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
                out.append(u, sizeof u);
            }
        }
    }
    out.append(run, end);
}

// A JSON pointer reference token: '~' as "~0", '/' as "~1" (RFC 6901).
inline void append_pointer_token(std::string& out, std::string_view key) {
    for (char c : key) {
        if (c == '~') {
            out.append("~0");
        } else if (c == '/') {
            out.append("~1");
        } else {
            out.push_back(c);
        }
    }
}

inline bool is_json_whitespace(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

}  // namespace exportwall::filters::json_detail
