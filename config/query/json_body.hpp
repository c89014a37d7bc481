#pragma once
// The JSON bodies of query languages that carry their query in the body (HubSpot search, Odoo
// JSON-RPC): parsed strictly — a repeated key is refused (Boost.JSON's object would keep one of
// the members, a CRM might read the other), numbers with a fraction or exponent read exactly, the
// nesting bounded — so that what the guard checks is what the CRM would read.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include "config/query/guard.hpp"

namespace exportwall::config::query {

// The value of `body`, or nullopt with `q` refused (unsupported, `parameter`, the parser's
// position): not JSON, trailing data, a repeated key, or deeper than `max_depth`. The value's
// memory comes from `storage` (the heap by default; a guard may pass a monotonic resource that
// outlives the value).
[[nodiscard]] std::optional<boost::json::value> parse_json_body(
    guarded_query& q, std::string_view parameter, std::string_view body, std::size_t max_depth,
    boost::json::storage_ptr storage = {});

// A member name as a JSON pointer token (RFC 6901) for a refusal's detail: shown only when it is
// short and plain (letters, digits, _ - . $), else "(member)" — the detail reaches logs and the
// audit trail.
[[nodiscard]] std::string pointer_token(std::string_view name);

}  // namespace exportwall::config::query
