// libFuzzer target for the NDJSON export filter. The first input byte picks where the body is
// cut into two chunks; the rest is the body. Properties: no crash; the cut changes nothing (an
// error either way, or the same output); a body that passes yields lines that each parse as one
// JSON object, every line ended by '\n'.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/parse.hpp>

#include "filters/record_filter.hpp"

namespace {

using exportwall::filters::body_format;
using exportwall::filters::condition_op;
using exportwall::filters::drop_reason;
using exportwall::filters::field_set;
using exportwall::filters::filter_spec;
using exportwall::filters::make_filter;

// Field transforms on kept fields (a test key): the properties below hold for them too.
exportwall::filters::transform_set fuzz_transforms(
    std::vector<exportwall::filters::field_transform> list) {
    static const auto key = std::make_shared<const std::vector<unsigned char>>(16, 0x5a);
    return exportwall::filters::transform_set(std::move(list), key);
}

filter_spec fuzz_spec() {
    filter_spec spec;
    spec.format = body_format::ndjson;
    spec.field_root = "properties";
    spec.allowed = field_set({"id", "email", "address.city", "@odata.etag"});
    spec.transforms =
        fuzz_transforms({{"email", exportwall::filters::transform_kind::pseudonymise, 0},
                         {"address.city", exportwall::filters::transform_kind::mask, 2}});
    spec.rules.conditions.push_back(
        {"consent", condition_op::is_true, {}, false, drop_reason::no_consent});
    spec.rules.conditions.push_back({"lifecycle",
                                     condition_op::in_set,
                                     {"customer", "lead"},
                                     false,
                                     drop_reason::subject_not_allowed});
    spec.link_fields = {"/links/next"};
    spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
        if (url.substr(0, 4) != "crm:") return std::nullopt;
        return "ew:" + std::string(url.substr(4));
    };
    spec.max_record_bytes = 2048;
    spec.max_depth = 32;
    spec.max_records = 1000;
    return spec;
}

struct outcome {
    std::string output;
    boost::system::error_code error;
};

outcome run(std::string_view body, std::size_t cut) {
    outcome o;
    auto filter = make_filter(fuzz_spec());
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
