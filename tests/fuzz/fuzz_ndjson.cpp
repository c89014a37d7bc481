// libFuzzer target for the NDJSON export filter. The first input byte picks where the body is
// cut into two chunks; the rest is the body. Properties: no crash; the cut changes nothing (an
// error either way, or the same output); a body that passes yields lines that each parse as one
// JSON object, every line ended by '\n'.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/json/parse.hpp>

#include "filters/record_filter.hpp"
#include "tests/fuzz/json_fuzz_specs.hpp"

namespace {

using exportwall::filters::make_filter;
using exportwall::filters::fuzzing::ndjson_spec;

struct outcome {
    std::string output;
    boost::system::error_code error;
};

outcome run(std::string_view body, std::size_t cut) {
    outcome o;
    auto filter = make_filter(ndjson_spec());
    o.error = filter->feed(body.substr(0, cut), o.output);
    if (!o.error) o.error = filter->feed(body.substr(cut), o.output);
    if (!o.error) o.error = filter->finish(o.output);
    if (filter->counters().bytes_out != o.output.size()) std::abort();
    return o;
}

bool every_line_is_an_object(std::string_view s) {
    boost::json::parse_options opt;
    opt.max_depth = 64;
    while (!s.empty()) {
        const std::size_t nl = s.find('\n');
        if (nl == std::string_view::npos) return false;
        boost::system::error_code ec;
        const auto v = boost::json::parse(s.substr(0, nl), ec, {}, opt);
        if (ec || !v.is_object()) return false;
        s.remove_prefix(nl + 1);
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::size_t cut = body.size() * data[0] / 255;
    const outcome split = run(body, cut);
    const outcome whole = run(body, body.size());
    if (static_cast<bool>(split.error) != static_cast<bool>(whole.error)) std::abort();
    if (!split.error && split.output != whole.output) std::abort();
    if (!split.error && !every_line_is_an_object(split.output)) std::abort();
    return 0;
}
