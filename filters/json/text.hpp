#pragma once
// JSON text for the JSON filter (filters/json/json_filter.cpp and its parts in filters/json/): JSON
// pointer tokens, whitespace. Strings are escaped by common::append_json_escaped
// (common/json_text.hpp), as every JSON string exportwall writes.

#include <algorithm>
#include <string>
#include <string_view>

#include <boost/json/string_view.hpp>
#include <boost/system/error_code.hpp>

#include "common/json_text.hpp"

namespace exportwall::filters::json_detail {

using error_code = boost::system::error_code;
using json_sv = boost::json::string_view;

inline std::string_view sv(json_sv s) { return {s.data(), s.size()}; }

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
