#pragma once
// JSON and NDJSON export filters (Boost.JSON's incremental basic_parser).

#include <memory>

#include "filters/record_filter.hpp"

namespace exportwall::filters {

[[nodiscard]] std::unique_ptr<record_filter> make_json_filter(filter_spec spec);
[[nodiscard]] std::unique_ptr<record_filter> make_ndjson_filter(filter_spec spec);

}  // namespace exportwall::filters
