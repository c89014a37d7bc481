#pragma once
// HubSpot CRM search (`POST /crm/v3/objects/{type}/search`): the guard of the JSON body. The
// body is parsed with Boost.JSON (depth and size bounded, duplicate keys refused), every member is
// checked against the search API's grammar, every property a filter or sort reads must be kept by
// the purpose, `properties` is the selection, and the body forwarded is re-serialised from the
// parsed form in a canonical member order. Pure string work; no I/O, no exceptions on bad input.

#include <string_view>

#include "config/query/guard.hpp"

namespace exportwall::config::query {

// Guards one search request. `raw_query` must be empty (the search API takes everything in the
// body); `body` is the JSON body as received. On forward, q.body holds
// {"filterGroups", "sorts", "query", "properties" (= q.sent), "limit", "after"} — each only when
// the client sent it, except `properties`, always written — and q.query is empty. A refusal is
// `unsupported` on "body" (position: the parser's byte offset on a syntax error, else 0, with the
// JSON pointer of the offending member in the detail) or `field_not_permitted`.
[[nodiscard]] guarded_query guard_hubspot_search(const field_policy& policy,
                                                 std::string_view raw_query, std::string_view body);

}  // namespace exportwall::config::query
