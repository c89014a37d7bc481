#pragma once
// JSON and NDJSON export filters: Boost.JSON's incremental basic_parser, with a fast path for
// the records that lie whole in the bytes at hand (filters/json/json_record_parser.hpp).

#include <cstdint>
#include <memory>

#include "filters/record_filter.hpp"

namespace exportwall::filters {

// How the filter parses. `fast` (what make_filter builds): a record (an NDJSON line) that lies
// whole in the bytes being filtered is parsed by json_record_parser, which skips unread
// stripped values; everything else by basic_parser. `basic_parser`: every byte by basic_parser,
// the reference the differential fuzz target (tests/fuzz/fuzz_json_fast_path.cpp) and the
// benchmarks compare the fast path with. Both accept the same input and write the same output.
enum class json_path : std::uint8_t { fast, basic_parser };

// `memory`: another JSON (NDJSON) filter's take_memory(), used only when it was learnt for a spec
// with the same decisions (filters/filter_shelf.hpp); the filter's take_memory() hands on its
// path table (filters/json/path_table.hpp) and the plans decided in it.
[[nodiscard]] std::unique_ptr<record_filter> make_json_filter(
    filter_spec spec, json_path path = json_path::fast,
    std::unique_ptr<filter_memory> memory = nullptr);
[[nodiscard]] std::unique_ptr<record_filter> make_ndjson_filter(
    filter_spec spec, json_path path = json_path::fast,
    std::unique_ptr<filter_memory> memory = nullptr);

}  // namespace exportwall::filters
