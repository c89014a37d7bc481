#pragma once
// The OData v4 guard (docs/query-languages.md#odata): the system query options of a collection
// request ($select, $filter, $orderby, $top, $skip, $count, $expand with nested options, $search,
// $compute, $apply, $skiptoken) and Dataverse's fetchXml, parsed with the grammar of the OData
// ABNF (a subset, named in the docs), every field reference checked, the query re-serialised.

#include <string_view>

#include "config/query/guard.hpp"

namespace exportwall::config::query {

[[nodiscard]] guarded_query guard_odata(const field_policy& policy, std::string_view raw_query);

}  // namespace exportwall::config::query
