// libFuzzer target for the XML filter. The first input byte picks where the body is cut into two
// chunks; the rest is the body. Each input runs twice: as the conformance tests configure the
// filter, and with strict_envelope as the proxy does (envelope allow-list, output held until the
// first record). Properties: no crash; the cut changes nothing (same output and error as one
// chunk); a body that passes yields well-formed, namespace-correct XML; and the fast path
// (records in its subset read by xml_record_parser, what make_filter builds) agrees with expat
// reading every byte (xml_path::expat) on the output, the counters, the record marks and the
// error, whole and cut (issue 20) — also under a record limit the inputs reach.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <expat.h>

#include "filters/record_filter.hpp"
#include "filters/xml/xml_filter.hpp"

namespace {

using exportwall::filters::body_format;
using exportwall::filters::condition_op;
using exportwall::filters::field_set;
using exportwall::filters::filter_spec;
using exportwall::filters::make_filter;
using exportwall::filters::record_condition;

// Field transforms on kept fields (a test key): the properties below hold for them too.
exportwall::filters::transform_set fuzz_transforms(
    std::vector<exportwall::filters::field_transform> list) {
    static const auto key = std::make_shared<const std::vector<unsigned char>>(16, 0x5a);
    return exportwall::filters::transform_set(std::move(list), key);
}

filter_spec fuzz_spec(bool strict, std::size_t max_record_bytes = 4096) {
    filter_spec spec;
    spec.strict_envelope = strict;
    spec.format = body_format::xml;
    spec.records = "/r/rec";
    spec.allowed = field_set({"a", "b.c", "@x", "b.@y"});
    spec.transforms = fuzz_transforms({{"b.c", exportwall::filters::transform_kind::mask, 1},
                                       {"@x", exportwall::filters::transform_kind::pseudonymise, 0},
                                       {"b.@y", exportwall::filters::transform_kind::year, 0}});
    record_condition objection;
    objection.field = "d";
    objection.op = condition_op::is_set;
    objection.exclude = true;
    spec.rules.conditions.push_back(objection);
    spec.link_fields = {"/r/next", "/r/p/next"};
    spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
        if (url.substr(0, 1) == "h") return "https://exports.example.com/<&>";
        return std::nullopt;
    };
    spec.max_record_bytes = max_record_bytes;
    spec.max_depth = 32;
    spec.max_records = 1000;
    return spec;
}

struct outcome {
    std::string output;
    boost::system::error_code error;
    exportwall::filters::filter_counters counters;
    std::vector<exportwall::filters::record_mark> marks;
};

// `path` absent: the filter the proxy builds (make_filter: the fast path, behind the envelope
// hold under strict_envelope). Present: the XML filter alone on that path, so that the two paths
// are compared with nothing around them.
outcome run(std::string_view body, std::size_t cut, bool strict,
            std::optional<exportwall::filters::xml_path> path = std::nullopt,
            std::size_t max_record_bytes = 4096) {
    outcome o;
    auto filter =
        path ? exportwall::filters::make_xml_filter(fuzz_spec(strict, max_record_bytes), *path)
             : make_filter(fuzz_spec(strict, max_record_bytes));
    filter->set_record_marks(&o.marks);
    o.error = filter->feed(body.substr(0, cut), o.output);
    if (!o.error) o.error = filter->feed(body.substr(cut), o.output);
    if (!o.error) o.error = filter->finish(o.output);
    o.counters = filter->counters();
    return o;
}

// The fast path and expat: the same answer. After an error only the error is compared (the
// export is aborted; what was written before it is never sent).
bool same(const outcome& a, const outcome& b) {
    if (a.error != b.error) return false;
    if (a.error) return true;
    const auto& x = a.counters;
    const auto& y = b.counters;
    return a.output == b.output && x.records_in == y.records_in && x.records_out == y.records_out &&
           x.dropped == y.dropped && x.stripped_fields == y.stripped_fields &&
           x.transformed_fields == y.transformed_fields &&
           x.transform_failed == y.transform_failed && x.bytes_in == y.bytes_in &&
           x.bytes_out == y.bytes_out && x.links_rewritten == y.links_rewritten &&
           x.links_removed == y.links_removed && a.marks.size() == b.marks.size() &&
           std::equal(a.marks.begin(), a.marks.end(), b.marks.begin(),
                      [](const auto& m, const auto& n) {
                          return m.end == n.end && m.records == n.records;
                      });
}

bool well_formed(std::string_view doc) {
    XML_Parser p = XML_ParserCreateNS("UTF-8", '\x01');
    const bool ok =
        XML_Parse(p, doc.data(), static_cast<int>(doc.size()), XML_TRUE) == XML_STATUS_OK;
    XML_ParserFree(p);
    return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::size_t cut = body.size() * data[0] / 255;
    for (bool strict : {false, true}) {
        const outcome whole = run(body, 0, strict);
        const outcome split = run(body, cut, strict);
        using exportwall::filters::xml_path;
        for (const std::size_t at : {std::size_t{0}, cut}) {
            if (!same(run(body, at, strict, xml_path::fast),
                      run(body, at, strict, xml_path::expat)))
                std::abort();
        }
        // A record limit the inputs reach (48 to 175 bytes). Both paths must answer alike, with
        // one exception: a body with a token past the limit and a malformation later in the same
        // token (a text node with "]]>", an attribute value with '<') is refused either way, and
        // which of the two is reported first depends on where expat is handed the bytes — by
        // the caller's pieces with expat alone, by the fast path's parts too. Both refuse.
        const std::size_t small = 48 + body.size() % 128;
        for (const std::size_t at : {std::size_t{0}, cut}) {
            const outcome fast = run(body, at, strict, xml_path::fast, small);
            const outcome expat = run(body, at, strict, xml_path::expat, small);
            if (same(fast, expat)) continue;
            using exportwall::filters::filter_error;
            const auto competing = [](const boost::system::error_code& e) {
                return e == filter_error::record_too_large || e == filter_error::malformed;
            };
            if (!(competing(fast.error) && competing(expat.error))) std::abort();
        }
        if (whole.error != split.error) std::abort();
        if (whole.error) continue;
        if (whole.output != split.output) std::abort();
        if (!well_formed(whole.output)) std::abort();
    }
    return 0;
}
