// Differential libFuzzer target for the JSON filter's fast path (filters/json/json_record_parser.hpp):
// every input runs through the JSON and NDJSON filters twice with the same chunking, once with
// json_path::fast (what make_filter builds) and once with json_path::basic_parser (the reference:
// every byte through Boost.JSON), and the two must agree: the same output, counters and record
// marks, or both fail with the same filter_error (but for one ordering, see
// string_checked_whole_first).
//
// Input: three bytes of chunking, then the body. Bytes 0 and 1 pick two cut points (the body is
// fed as three chunks, maybe empty, then finish()). Byte 2, when it is 1 modulo 8, puts the JSON
// filter's 16 KiB slice boundary at its fraction (of 256) of the body by prefixing whitespace, so
// a record lies across two slices without a 16 KiB input (one input in eight: the whitespace
// costs more than the body). The JSON specs are json_fuzz_specs.hpp's fuzz_json shapes with
// records arrays (the single-record GETs never take the fast path) and an OData-like export with
// most members stripped unread (records at /value, and a top-level array), each as the
// conformance tests configure the filter and with strict_envelope and make_filter's envelope hold
// as the proxy does; the NDJSON specs are fuzz_ndjson's and the export's, with and without a link
// inside each line.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "filters/json/json_filter.hpp"
#include "filters/record_filter.hpp"
#include "tests/fuzz/json_fuzz_specs.hpp"

namespace {

using exportwall::filters::body_format;
using exportwall::filters::filter_counters;
using exportwall::filters::filter_error;
using exportwall::filters::filter_spec;
using exportwall::filters::json_path;
using exportwall::filters::make_error_code;
using exportwall::filters::make_json_filter;
using exportwall::filters::make_ndjson_filter;
using exportwall::filters::record_mark;
using exportwall::filters::fuzzing::export_shape;
using exportwall::filters::fuzzing::export_spec;
using exportwall::filters::fuzzing::fuzz_spec;
using exportwall::filters::fuzzing::ndjson_spec;
using exportwall::filters::fuzzing::same_counts;
using exportwall::filters::fuzzing::variant;

// The JSON filter parses its input in slices of this size (filters/json/json_filter.cpp).
constexpr std::size_t slice_bytes = 16 * 1024;

struct named_spec {
    std::string name;
    filter_spec spec;
};

const std::vector<named_spec>& json_specs() {
    static const std::vector<named_spec> all = [] {
        std::vector<named_spec> v;
        for (bool strict : {false, true}) {
            const std::string s = strict ? " strict" : "";
            v.push_back({"page" + s, fuzz_spec(variant::page, strict)});
            v.push_back({"nested" + s, fuzz_spec(variant::nested, strict)});
            v.push_back({"export" + s, export_spec(export_shape::odata, strict)});
            v.push_back({"export_array" + s, export_spec(export_shape::root_array, strict)});
        }
        return v;
    }();
    return all;
}

const std::vector<named_spec>& ndjson_specs() {
    static const std::vector<named_spec> all = {
        {"ndjson", ndjson_spec()},
        {"export_ndjson", export_spec(export_shape::ndjson, false)},
        {"export_ndjson_bare", export_spec(export_shape::ndjson_bare, false)},
    };
    return all;
}

struct outcome {
    std::string output;
    boost::system::error_code error;
    filter_counters counters;
    std::vector<record_mark> marks;
};

// Runs the filter make_filter would build for `spec`, on `path`. make_filter wraps a JSON filter
// with strict_envelope in an envelope hold (filters/record_filter.cpp); what the hold decides is
// reproduced here from the inner filter's output and counters after each feed: it releases once a
// main record started, and refuses (records_not_found) once more than max_record_bytes are held
// without one. Otherwise the hold only delays the same bytes.
outcome run(const filter_spec& spec, json_path path, const std::vector<std::string_view>& chunks) {
    outcome o;
    const bool json = spec.format == body_format::json;
    auto filter = json ? make_json_filter(spec, path) : make_ndjson_filter(spec, path);
    filter->set_record_marks(&o.marks);
    bool held = json && spec.strict_envelope;
    for (std::string_view chunk : chunks) {
        o.error = filter->feed(chunk, o.output);
        if (o.error) break;
        if (!held) continue;
        const filter_counters& c = filter->counters();
        if (c.records_in > c.nested_in) {
            held = false;
        } else if (o.output.size() > spec.max_record_bytes) {
            o.error = make_error_code(filter_error::records_not_found);
            break;
        }
    }
    if (!o.error) o.error = filter->finish(o.output);
    o.counters = filter->counters();
    return o;
}

bool same_marks(const std::vector<record_mark>& a, const std::vector<record_mark>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const record_mark& x, const record_mark& y) {
                          return x.end == y.end && x.records == y.records;
                      });
}

// Why the two runs disagree, or null when they agree.
const char* disagreement(const outcome& fast, const outcome& reference) {
    if (static_cast<bool>(fast.error) != static_cast<bool>(reference.error)) {
        return "one path fails, the other passes";
    }
    if (fast.error) return fast.error == reference.error ? nullptr : "different errors";
    if (fast.output != reference.output) return "different output";
    if (!same_counts(fast.counters, reference.counters)) return "different counters";
    const filter_counters& a = fast.counters;
    const filter_counters& b = reference.counters;
    if (a.bytes_in != b.bytes_in || a.bytes_out != b.bytes_out ||
        a.links_rewritten != b.links_rewritten || a.links_removed != b.links_removed) {
        return "different byte or link counters";
    }
    if (!same_marks(fast.marks, reference.marks)) return "different record marks";
    return nullptr;
}

void describe(const char* side, const outcome& o) {
    std::fprintf(stderr, "  %s: error %s (%d); output %zu bytes; records in %llu out %llu\n", side,
                 o.error ? o.error.message().c_str() : "none", o.error.value(), o.output.size(),
                 static_cast<unsigned long long>(o.counters.records_in),
                 static_cast<unsigned long long>(o.counters.records_out));
    std::fprintf(stderr, "  %s output: %.400s\n", side, o.output.c_str());
}

// The one ordering the two paths may differ in: the fast path fails `malformed`, the reference
// `record_too_large`, on a string (or key) that is longer than the record limit and malformed
// further on. basic_parser hands the filter a string's run before an escape (and each 4 KiB after
// one) as a part, and the filter checks sizes at every part of a key or of a value it writes;
// json_record_parser hands over a string whole once it checked all of it, so it finds the fault
// first. Tolerated when the reference, with the size limit lifted, fails `malformed` too (the
// body is malformed, and too large where the reference looked first).
bool string_checked_whole_first(const named_spec& s, const std::vector<std::string_view>& chunks,
                                const outcome& fast, const outcome& reference) {
    if (fast.error != make_error_code(filter_error::malformed) ||
        reference.error != make_error_code(filter_error::record_too_large)) {
        return false;
    }
    filter_spec lifted = s.spec;
    lifted.max_record_bytes = std::size_t{1} << 24;
    return run(lifted, json_path::basic_parser, chunks).error == fast.error;
}

void compare(const named_spec& s, const std::vector<std::string_view>& chunks) {
    const outcome fast = run(s.spec, json_path::fast, chunks);
    const outcome reference = run(s.spec, json_path::basic_parser, chunks);
    const char* why = disagreement(fast, reference);
    if (why == nullptr || string_checked_whole_first(s, chunks, fast, reference)) return;
    std::fprintf(stderr, "fuzz_json_fast_path: %s with spec '%s', chunks of", why, s.name.c_str());
    for (std::string_view c : chunks) std::fprintf(stderr, " %zu", c.size());
    std::fprintf(stderr, " bytes\n");
    describe("fast", fast);
    describe("basic_parser", reference);
    std::abort();
}

// `text` as three chunks: cut at the fractions `a` and `b` (of 255) of the part after `skip`.
std::vector<std::string_view> three_chunks(std::string_view text, std::size_t skip, std::uint8_t a,
                                           std::uint8_t b) {
    const std::size_t length = text.size() - skip;
    std::size_t first = skip + length * a / 255;
    std::size_t second = skip + length * b / 255;
    if (first > second) std::swap(first, second);
    return {text.substr(0, first), text.substr(first, second - first), text.substr(second)};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 3), size - 3);

    // JSON: whitespace before the document moves the slice boundary to `data[2]` / 256 of it.
    std::string padded;
    std::size_t pad = 0;
    if (data[2] % 8 == 1) {
        const std::size_t boundary = body.size() * data[2] / 256;
        pad = (slice_bytes - boundary % slice_bytes) % slice_bytes;
        padded.assign(pad, ' ');
    }
    padded.append(body);
    const std::vector<std::string_view> json_chunks = three_chunks(padded, pad, data[0], data[1]);
    for (const named_spec& s : json_specs()) compare(s, json_chunks);

    const std::vector<std::string_view> ndjson_chunks = three_chunks(body, 0, data[0], data[1]);
    for (const named_spec& s : ndjson_specs()) compare(s, ndjson_chunks);
    return 0;
}
