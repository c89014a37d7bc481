#pragma once
// XML export filter (expat, streaming; DTDs refused).

#include <memory>

#include "filters/record_filter.hpp"

namespace exportwall::filters {

[[nodiscard]] std::unique_ptr<record_filter> make_xml_filter(filter_spec spec);

}  // namespace exportwall::filters
