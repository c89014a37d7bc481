#pragma once
// XML export filter (expat, streaming; DTDs refused; records in a subset read by a fast path).

#include <cstdint>
#include <memory>

#include "filters/record_filter.hpp"

namespace exportwall::filters {

// Which parser reads the records: `fast` reads a record that lies whole in the bytes fed and
// keeps to the subset of xml_record_parser.hpp itself (expat everything else); `expat` has expat
// read every byte (the reference the fast path is compared with in tests and fuzz_xml).
enum class xml_path : std::uint8_t { fast, expat };

// Records the fast path has read in this process, every filter together (tests: that it runs).
[[nodiscard]] std::uint64_t xml_fast_path_records() noexcept;

[[nodiscard]] std::unique_ptr<record_filter> make_xml_filter(filter_spec spec,
                                                             xml_path path = xml_path::fast);

}  // namespace exportwall::filters
