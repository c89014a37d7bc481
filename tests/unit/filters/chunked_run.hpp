#pragma once
// Runs a filter over a body cut into chunks, so tests can assert that every chunking of the same
// body gives the same output, counters and error.

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "filters/record_filter.hpp"

namespace exportwall::filters::testing {

// What one run produced. `error` is the first error of feed() or finish().
struct run_result {
    std::string output;
    boost::system::error_code error;
    filter_counters counters;
};

// Feeds `body` cut at `cuts` (sorted offsets) to `filter`, then finishes it: the first error.
inline boost::system::error_code feed_cut(record_filter& filter, std::string_view body,
                                          const std::vector<std::size_t>& cuts,
                                          std::string& output) {
    boost::system::error_code error;
    std::size_t at = 0;
    for (std::size_t i = 0; i <= cuts.size() && !error; ++i) {
        const std::size_t next = i < cuts.size() ? cuts[i] : body.size();
        error = filter.feed(body.substr(at, next - at), output);
        at = next;
    }
    if (!error) error = filter.finish(output);
    return error;
}

// Feeds `body` cut at `cuts` (sorted offsets), then finishes.
inline run_result run_cut(const filter_spec& spec, std::string_view body,
                          const std::vector<std::size_t>& cuts) {
    run_result r;
    auto filter = make_filter(spec);
    r.error = feed_cut(*filter, body, cuts, r.output);
    r.counters = filter->counters();
    return r;
}

inline run_result run_whole(const filter_spec& spec, std::string_view body) {
    return run_cut(spec, body, {});
}

// Every chunking a test should agree on: byte by byte, every split into two pieces (which covers
// splits inside quotes, CRLF pairs, UTF-8 sequences, tags, entity references and CDATA) for
// bodies up to `exhaustive_limit` bytes, and seeded random splits.
inline std::vector<std::vector<std::size_t>> chunkings(std::size_t size,
                                                       std::size_t exhaustive_limit = 4096) {
    std::vector<std::vector<std::size_t>> out;
    std::vector<std::size_t> bytes;
    for (std::size_t i = 1; i < size; ++i) bytes.push_back(i);
    out.push_back(std::move(bytes));
    if (size <= exhaustive_limit) {
        for (std::size_t i = 1; i < size; ++i) out.push_back({i});
    }
    for (std::uint32_t seed = 1; seed <= 8; ++seed) {
        std::mt19937 rng(seed);
        std::uniform_int_distribution<std::size_t> step(1, 17);
        std::vector<std::size_t> cuts;
        for (std::size_t at = step(rng); at < size; at += step(rng)) cuts.push_back(at);
        out.push_back(std::move(cuts));
    }
    return out;
}

inline bool same_counters(const filter_counters& a, const filter_counters& b) {
    return a.records_in == b.records_in && a.records_out == b.records_out &&
           a.dropped == b.dropped && a.stripped_fields == b.stripped_fields &&
           a.transformed_fields == b.transformed_fields &&
           a.transform_failed == b.transform_failed && a.bytes_in == b.bytes_in &&
           a.bytes_out == b.bytes_out && a.links_rewritten == b.links_rewritten &&
           a.links_removed == b.links_removed;
}

}  // namespace exportwall::filters::testing
