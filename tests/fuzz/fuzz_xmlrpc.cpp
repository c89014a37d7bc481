// libFuzzer target for the XML-RPC answer filter. The first input byte picks where the body is
// cut into two chunks; the rest is the body. Each input runs with and without strict_envelope
// (as the proxy runs it: output held until the first record). Properties: no crash; the cut
// changes nothing (same output and error as one chunk); a body that passes yields well-formed
// XML, and filtering that output again gives it back unchanged with the same records (the filter
// is idempotent on its own writing: no member it should strip, no record its rules drop, passed
// the first time); a strict run that fails before a record is written writes no record.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <expat.h>

#include "filters/record_filter.hpp"

namespace {

using exportwall::filters::body_format;
using exportwall::filters::condition_op;
using exportwall::filters::field_set;
using exportwall::filters::filter_spec;
using exportwall::filters::make_filter;
using exportwall::filters::record_condition;

// `record_limit`: the output of a record is larger than its input where an untyped value gains
// its <string>, so the second pass allows more.
filter_spec fuzz_spec(bool strict, std::size_t record_limit = 4096) {
    filter_spec spec;
    spec.strict_envelope = strict;
    spec.format = body_format::xmlrpc;
    spec.allowed = field_set({"id", "name", "a.b", "c.d"});
    record_condition objection;
    objection.field = "obj";
    objection.op = condition_op::is_set;
    objection.exclude = true;
    spec.rules.conditions.push_back(objection);
    spec.max_record_bytes = record_limit;
    spec.max_depth = 32;
    spec.max_records = 1000;
    return spec;
}

struct outcome {
    std::string output;
    boost::system::error_code error;
    std::uint64_t records_out = 0;
};

outcome run(std::string_view body, std::size_t cut, bool strict, std::size_t record_limit = 4096) {
    outcome o;
    auto filter = make_filter(fuzz_spec(strict, record_limit));
    o.error = filter->feed(body.substr(0, cut), o.output);
    if (!o.error) o.error = filter->feed(body.substr(cut), o.output);
    if (!o.error) o.error = filter->finish(o.output);
    o.records_out = filter->counters().records_out;
    return o;
}

bool well_formed(std::string_view doc) {
    XML_Parser p = XML_ParserCreate("UTF-8");
    const bool ok =
        XML_Parse(p, doc.data(), static_cast<int>(doc.size()), XML_TRUE) == XML_STATUS_OK;
    XML_ParserFree(p);
    return ok;
}

void require(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::size_t cut = body.empty() ? 0 : data[0] % (body.size() + 1);
    for (bool strict : {false, true}) {
        const outcome whole = run(body, body.size(), strict);
        const outcome split = run(body, cut, strict);
        require(whole.error == split.error);
        if (whole.error) {
            // Held until the first record: a body refused before one reached it leaks nothing.
            if (strict && whole.records_out == 0)
                require(split.output.find("<struct>") == std::string::npos);
            continue;
        }
        require(whole.output == split.output);
        require(well_formed(whole.output));
        const outcome again = run(whole.output, whole.output.size(), strict, 16 * 4096);
        require(!again.error);
        require(again.output == whole.output);
        require(again.records_out == whole.records_out);
    }
    return 0;
}
