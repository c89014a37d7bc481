#pragma once
// JSON:API (1.1, and SuiteCRM 8's API): the guard of the query string. Sparse fieldsets
// (`fields[type]`) are the selection, `filter[field]` / `filter[field][op]` and `sort` may read
// only fields the purpose keeps, `page[…]` passes as validated values, and `include` is refused
// (side-loaded resources are not the route's records). The query forwarded is re-serialised from
// the parsed form in a canonical order. Pure string work; no I/O.

#include <string_view>

#include "config/query/guard.hpp"

namespace exportwall::config::query {

// Guards one JSON:API query string (after '?', as received). On forward, q.query is
// `fields[<object_name>]=<q.sent>`, then `filter[operator]`, the filters in the client's order,
// `sort`, and `page[number|size|offset|limit|cursor]` in that order; the fields parameter is
// written even when the client sent none, so the CRM returns only the selection and rule fields.
// Refusals: `invalid` for a repeated parameter, a malformed percent-escape or a control byte;
// `unsupported` for anything outside the grammar; `field_not_permitted` for a filter or sort on a
// field the purpose does not keep.
[[nodiscard]] guarded_query guard_jsonapi(const field_policy& policy, std::string_view raw_query);

}  // namespace exportwall::config::query
