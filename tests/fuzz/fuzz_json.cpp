// libFuzzer target for the JSON export filter. The first input byte picks where the body is cut
// into two chunks; the rest is the body. Each input runs with the specs of json_fuzz_specs.hpp's
// `variant` — a HubSpot-like page, a JSON:API/Pipedrive-like page with nested record sets
// (included[] by type, a related_objects map, contacts inside each record, a set dropped whole),
// and single-record GETs (at /data and at the root) with the same sets — each twice: as the
// conformance tests configure the filter, and with strict_envelope as the proxy does.
// Properties: no crash; the cut changes nothing (an error either way, or the same output and
// counters); a body that passes yields JSON (checked by boost::json::parse) and balanced counters
// (records_in == records_out + dropped), and so does — without strict_envelope, which holds it
// back — a complete body whose only fault is that the records were not found.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <string_view>

#include <boost/json/parse.hpp>

#include "filters/record_filter.hpp"
#include "tests/fuzz/json_fuzz_specs.hpp"

namespace {

using exportwall::filters::filter_error;
using exportwall::filters::make_error_code;
using exportwall::filters::make_filter;
using exportwall::filters::fuzzing::fuzz_spec;
using exportwall::filters::fuzzing::same_counts;
using exportwall::filters::fuzzing::variant;

struct outcome {
    std::string output;
    boost::system::error_code error;
    bool finish_error = false;  // the error came from finish(): the whole body was parsed
    exportwall::filters::filter_counters counters;
};

bool balanced(const exportwall::filters::filter_counters& c) {
    return c.records_in == c.records_out + std::accumulate(c.dropped.begin(), c.dropped.end(),
                                                           std::uint64_t{0}) &&
           c.nested_out <= c.nested_in && c.nested_in <= c.records_in;
}

outcome run(std::string_view body, std::size_t cut, variant v, bool strict) {
    outcome o;
    auto filter = make_filter(fuzz_spec(v, strict));
    o.error = filter->feed(body.substr(0, cut), o.output);
    if (!o.error) o.error = filter->feed(body.substr(cut), o.output);
    if (!o.error) {
        o.error = filter->finish(o.output);
        o.finish_error = static_cast<bool>(o.error);
    }
    if (filter->counters().bytes_out != o.output.size()) std::abort();
    o.counters = filter->counters();
    return o;
}

bool parses(const std::string& s) {
    boost::json::parse_options opt;
    opt.max_depth = 64;
    boost::system::error_code ec;
    boost::json::parse(s, ec, {}, opt);
    return !ec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::size_t cut = body.size() * data[0] / 255;
    for (variant v : {variant::page, variant::nested, variant::single_data, variant::single_root}) {
        for (bool strict : {false, true}) {
            const outcome split = run(body, cut, v, strict);
            const outcome whole = run(body, body.size(), v, strict);
            if (static_cast<bool>(split.error) != static_cast<bool>(whole.error)) std::abort();
            if (!split.error && split.output != whole.output) std::abort();
            if (!split.error && !same_counts(split.counters, whole.counters)) std::abort();
            if (!split.error && !parses(split.output)) std::abort();
            if (!split.error && !balanced(split.counters)) std::abort();
            if (!strict && split.finish_error &&
                split.error == make_error_code(filter_error::records_not_found) &&
                !parses(split.output)) {
                std::abort();
            }
        }
    }
    return 0;
}
