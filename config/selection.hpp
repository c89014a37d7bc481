#pragma once
// Query strings as written: decoding and the one walk over their pairs. The field selection and
// every other parameter are the query guard's (config/query/). Pure string work; no I/O.

#include <cstddef>
#include <string>
#include <string_view>

namespace exportwall::config {

// Decodes %XX escapes and '+' (as a space: query strings are read as forms) into `out`, with
// common::append_percent_decoded. False on a malformed escape; `out` is then undefined.
[[nodiscard]] bool percent_decode(std::string_view in, std::string& out);

// One `name=value` pair of a raw query string, as written: `value` is empty and `has_value`
// false for a bare name.
struct raw_query_pair {
    std::string_view pair;  // the whole pair
    std::string_view name;
    std::string_view value;
    bool has_value = false;
};

// Calls `visit(raw_query_pair)` for each non-empty pair of `raw` (split at '&'), in order; stops
// early when `visit` returns false. The one place a query string is split.
template <class Visit>
void for_each_query_pair(std::string_view raw, Visit&& visit) {
    std::size_t pos = 0;
    while (pos <= raw.size()) {
        auto amp = raw.find('&', pos);
        if (amp == std::string_view::npos) amp = raw.size();
        std::string_view pair = raw.substr(pos, amp - pos);
        pos = amp + 1;
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        raw_query_pair p{pair, pair.substr(0, eq),
                         eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1),
                         eq != std::string_view::npos};
        if (!visit(p)) return;
    }
}

}  // namespace exportwall::config
