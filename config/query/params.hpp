#pragma once
// The guard of routes that speak no query language (`none`) and of `params` routes: named
// parameters only — the route's field-selection parameter, its declared paging parameters
// (opaque values) and, for `params`, its declared filter parameters, each filtering on one field
// the purpose must keep. Any other parameter is refused.

#include <string_view>

#include "config/query/guard.hpp"

namespace exportwall::config::query {

[[nodiscard]] guarded_query guard_params(const field_policy& policy, std::string_view raw_query,
                                         bool filters_allowed);

}  // namespace exportwall::config::query
