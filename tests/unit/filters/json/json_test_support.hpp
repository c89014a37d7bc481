#pragma once
// Helpers for the JSON and NDJSON filter tests: run a filter over a body in a given chunking and
// check that every chunking gives the same result.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

#include "filters/record_filter.hpp"

namespace exportwall::filters::testing {

// The result of one run: output, the first error (feed or finish), and the counters.
struct run_result {
    std::string output;
    boost::system::error_code error;
    filter_counters counters;
};

// Runs a fresh filter for `spec` over `body` cut at `cuts` (sorted offsets), then finish().
[[nodiscard]] run_result run_chunks(const filter_spec& spec, std::string_view body,
                                    const std::vector<std::size_t>& cuts);

// The whole body in one feed.
[[nodiscard]] run_result run_whole(const filter_spec& spec, std::string_view body);

// The chunkings every golden test uses: whole, one byte at a time, every two-piece split
// (so each split inside a string, an escape, a UTF-8 sequence and a number), and `random_runs`
// random multi-piece splits from a fixed seed.
[[nodiscard]] std::vector<std::vector<std::size_t>> chunkings(std::size_t body_size,
                                                              int random_runs = 40);

// Runs every chunking and ADD_FAILUREs (naming the cuts) where the error differs from the
// whole-body run, or, for a run without error, the output or counters differ; returns the
// whole-body run.
run_result run_every_chunking(const filter_spec& spec, std::string_view body);

// Reads a file of test data; nullopt when it is absent.
[[nodiscard]] std::optional<std::string> read_file(const std::string& path);

// The shared test data folder (EXPORTWALL_SHARED_TESTDATA).
[[nodiscard]] std::string shared_testdata();

// A field_set from a list.
[[nodiscard]] field_set fields(std::vector<std::string> paths);

// The number lexemes of a JSON text, in document order (nullopt when it does not parse).
[[nodiscard]] std::optional<std::vector<std::string>> number_lexemes(std::string_view json);

}  // namespace exportwall::filters::testing
