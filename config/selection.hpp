#pragma once
// The field-selection query parameter of a route ("$select", "properties", "fields"): what the
// client asked for, what the purpose allows, and the query string sent upstream instead.
// Pure string work; no I/O.

#include <string>
#include <string_view>
#include <vector>

#include "filters/field_set.hpp"

namespace exportwall::config {

// Decodes %XX escapes and '+' (as a space). False on a malformed escape; `out` is then undefined.
[[nodiscard]] bool percent_decode(std::string_view in, std::string& out);

struct selection {
    bool invalid = false;                // repeated or undecodable parameter: declaration_invalid
    std::string detail;                  // why invalid (no field value: only parameter names)
    bool present = false;                // the client sent the selection parameter
    std::vector<std::string> requested;  // field names the client asked for, decoded, in order
    std::vector<std::string> kept;       // requested ∩ allowed, or every allowed field
    std::vector<std::string> stripped;   // requested but not allowed
    std::vector<std::string> sent;       // kept ∪ the fields the record rules read
    std::string query;                   // rewritten query string, without the '?'
};

// Resolves the selection for one request. `raw_query` is the target's query (after '?', as
// received). The parameter name is compared after percent-decoding and case-insensitively, so
// `%24select` and `$SELECT` are the parameter too; sending it twice is invalid. Other parameters
// are passed unchanged. An empty `param` leaves the query as it is.
// `rule_fields` are always added to the upstream selection: a record rule must see its field
// (a consent or objection column the CRM did not return would drop, or worse keep, a record);
// the response filter strips them again unless allowed.
[[nodiscard]] selection resolve_selection(std::string_view raw_query, std::string_view param,
                                          char separator, const filters::field_set& allowed,
                                          const std::vector<std::string>& rule_fields);

}  // namespace exportwall::config
