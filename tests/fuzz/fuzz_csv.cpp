// libFuzzer target for the CSV filter. The first input byte picks where the body is cut into two
// chunks; the rest is the body. Properties: no crash; the cut changes nothing (same output and
// error as one chunk); a body that passes yields CSV whose rows all have the header's cell count;
// the fast path (whole rows split at block-marked cell ends, what make_filter builds) and the
// byte-by-byte state machine (csv_path::state_machine) agree on the output, the counters and the
// error, whole and cut (issue 20).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/csv/csv_filter.hpp"
#include "filters/record_filter.hpp"

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

filter_spec fuzz_spec() {
    filter_spec spec;
    spec.format = body_format::csv;
    spec.allowed = field_set({"a", "c", "email"});
    spec.transforms =
        fuzz_transforms({{"c", exportwall::filters::transform_kind::truncate_chars, 1},
                         {"email", exportwall::filters::transform_kind::pseudonymise, 0}});
    record_condition consent;
    consent.field = "consent";
    consent.op = condition_op::is_set;
    consent.exclude = true;
    spec.rules.conditions.push_back(consent);
    spec.max_record_bytes = 4096;
    spec.max_records = 1000;
    return spec;
}

struct outcome {
    std::string output;
    boost::system::error_code error;
    exportwall::filters::filter_counters counters;
};

outcome run_filter(exportwall::filters::record_filter& filter, std::string_view body,
                   std::size_t cut) {
    outcome o;
    o.error = filter.feed(body.substr(0, cut), o.output);
    if (!o.error) o.error = filter.feed(body.substr(cut), o.output);
    if (!o.error) o.error = filter.finish(o.output);
    o.counters = filter.counters();
    return o;
}

outcome run(std::string_view body, std::size_t cut) {
    return run_filter(*make_filter(fuzz_spec()), body, cut);
}

outcome run_state_machine(std::string_view body, std::size_t cut) {
    return run_filter(*exportwall::filters::make_csv_filter(
                          fuzz_spec(), exportwall::filters::csv_path::state_machine),
                      body, cut);
}

bool same(const outcome& a, const outcome& b) {
    const auto& x = a.counters;
    const auto& y = b.counters;
    return a.error == b.error && a.output == b.output && x.records_in == y.records_in &&
           x.records_out == y.records_out && x.dropped == y.dropped &&
           x.stripped_fields == y.stripped_fields && x.transformed_fields == y.transformed_fields &&
           x.transform_failed == y.transform_failed && x.bytes_in == y.bytes_in &&
           x.bytes_out == y.bytes_out;
}

// Cell counts of every row of RFC 4180 CSV (comma, double quote); nullopt if it does not parse.
std::optional<std::vector<std::size_t>> row_widths(std::string_view s) {
    std::vector<std::size_t> widths;
    std::size_t cells = 1;
    bool row_open = false;
    std::size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (c == '"') {
            ++i;
            for (;;) {
                if (i >= s.size()) return std::nullopt;
                if (s[i] == '"') {
                    if (i + 1 < s.size() && s[i + 1] == '"') {
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                ++i;
            }
            if (i < s.size() && s[i] != ',' && s[i] != '\r' && s[i] != '\n') return std::nullopt;
            row_open = true;
        } else if (c == ',') {
            ++cells;
            row_open = true;
            ++i;
        } else if (c == '\n' || (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n')) {
            widths.push_back(cells);
            cells = 1;
            row_open = false;
            i += c == '\r' ? 2 : 1;
        } else if (c == '\r') {
            return std::nullopt;
        } else {
            row_open = true;
            ++i;
        }
    }
    if (row_open) widths.push_back(cells);
    return widths;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::size_t cut = body.size() * data[0] / 255;
    const outcome whole = run(body, 0);
    const outcome split = run(body, cut);
    if (!same(whole, run_state_machine(body, 0))) std::abort();
    if (!same(split, run_state_machine(body, cut))) std::abort();
    if (whole.error != split.error) std::abort();
    if (whole.error) return 0;
    if (whole.output != split.output) std::abort();
    std::string_view out = whole.output;
    if (out.substr(0, 3) == "\xEF\xBB\xBF") out.remove_prefix(3);
    const auto widths = row_widths(out);
    if (!widths) std::abort();
    for (std::size_t w : *widths) {
        if (w != widths->front()) std::abort();
    }
    return 0;
}
