#pragma once
// CSV export filter (RFC 4180 streaming state machine, with a fast path for whole rows).

#include <cstdint>
#include <memory>

#include "filters/record_filter.hpp"

namespace exportwall::filters {

// How the filter reads rows. `fast` (what make_filter builds): a data row that lies whole in the
// bytes fed is split at the cell ends marked 64 bytes at a time (filters/csv/csv_blocks.hpp);
// the header, a row cut by the end of the bytes fed and a row the fast path leaves alone (a
// quote out of place, a bare CR, more cells than the header) go through the state machine.
// `state_machine`: every byte through the state machine, the reference the fuzz target
// (tests/fuzz/fuzz_csv.cpp) and the benchmarks compare the fast path with. Both accept the same
// input and write the same output.
enum class csv_path : std::uint8_t { fast, state_machine };

[[nodiscard]] std::unique_ptr<record_filter> make_csv_filter(filter_spec spec,
                                                             csv_path path = csv_path::fast);

}  // namespace exportwall::filters
