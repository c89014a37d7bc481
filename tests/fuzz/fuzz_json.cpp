// libFuzzer target for the JSON export filter. The first input byte picks where the body is cut
// into two chunks; the rest is the body. Each input runs twice: as the conformance tests configure
// the filter, and with strict_envelope as the proxy does. Properties: no crash; the cut changes
// nothing (an error either way, or the same output); a body that passes yields JSON (checked by
// boost::json::parse), and so does — without strict_envelope, which holds it back — a complete
// body whose only fault is that the records were not found.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/parse.hpp>

#include "filters/record_filter.hpp"

namespace {

using exportwall::filters::body_format;
using exportwall::filters::condition_op;
using exportwall::filters::drop_reason;
using exportwall::filters::field_set;
using exportwall::filters::filter_error;
using exportwall::filters::filter_spec;
using exportwall::filters::make_error_code;
using exportwall::filters::make_filter;
using exportwall::filters::record_fields;

filter_spec fuzz_spec(bool strict) {
    filter_spec spec;
    spec.strict_envelope = strict;
    spec.format = body_format::json;
    spec.records = "/results";
    spec.field_root = "properties";
    spec.allowed = field_set({"id", "email", "address.city", "contacts.name"});
    spec.rules.conditions.push_back(
        {"consent", condition_op::is_true, {}, false, drop_reason::no_consent});
    spec.rules.conditions.push_back(
        {"objection", condition_op::is_set, {}, true, drop_reason::objected});
    spec.rules.suppression_fields = {"email"};
    spec.rules.suppressed = [](const record_fields& f) {
        auto email = f.find("email");
        return email && email->find("suppressed") != std::string_view::npos;
    };
    spec.link_fields = {"/paging/next/link", "/@odata.nextLink"};
    spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
        if (url.substr(0, 12) != "https://crm/") return std::nullopt;
        return "https://ew/" + std::string(url.substr(12));
    };
    spec.max_record_bytes = 4096;
    spec.max_depth = 32;
    spec.max_records = 1000;
    return spec;
}

struct outcome {
    std::string output;
    boost::system::error_code error;
    bool finish_error = false;  // the error came from finish(): the whole body was parsed
};

outcome run(std::string_view body, std::size_t cut, bool strict) {
    outcome o;
    auto filter = make_filter(fuzz_spec(strict));
    o.error = filter->feed(body.substr(0, cut), o.output);
    if (!o.error) o.error = filter->feed(body.substr(cut), o.output);
    if (!o.error) {
        o.error = filter->finish(o.output);
        o.finish_error = static_cast<bool>(o.error);
    }
    if (filter->counters().bytes_out != o.output.size()) std::abort();
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
    for (bool strict : {false, true}) {
        const outcome split = run(body, cut, strict);
        const outcome whole = run(body, body.size(), strict);
        if (static_cast<bool>(split.error) != static_cast<bool>(whole.error)) std::abort();
        if (!split.error && split.output != whole.output) std::abort();
        if (!split.error && !parses(split.output)) std::abort();
        if (!strict && split.finish_error &&
            split.error == make_error_code(filter_error::records_not_found) &&
            !parses(split.output)) {
            std::abort();
        }
    }
    return 0;
}
