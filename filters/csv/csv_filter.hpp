#pragma once
// CSV export filter (RFC 4180 streaming state machine).

#include <memory>

#include "filters/record_filter.hpp"

namespace exportwall::filters {

[[nodiscard]] std::unique_ptr<record_filter> make_csv_filter(filter_spec spec);

}  // namespace exportwall::filters
