// libFuzzer target for the JSON export filter. The first input byte picks where the body is cut
// into two chunks; the rest is the body. Each input runs with three specs — a HubSpot-like page,
// a JSON:API/Pipedrive-like page with nested record sets (included[] by type, a related_objects
// map, contacts inside each record, a set dropped whole), and single-record GETs (at /data and at
// the root) with the same sets — each twice: as the conformance tests configure the filter, and
// with strict_envelope as the proxy does. Properties: no crash; the cut changes nothing (an error
// either way, or the same output and counters); a body that passes yields JSON (checked by
// boost::json::parse) and balanced counters (records_in == records_out + dropped), and so does —
// without strict_envelope, which holds it back — a complete body whose only fault is that the
// records were not found.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <numeric>
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
using exportwall::filters::filter_error;
using exportwall::filters::filter_spec;
using exportwall::filters::make_error_code;
using exportwall::filters::make_filter;
using exportwall::filters::nested_record_set;
using exportwall::filters::record_fields;

enum class variant { page, nested, single_data, single_root };
using exportwall::filters::transform_kind;

// Field transforms on kept fields (a test key): the properties below hold for them too.
exportwall::filters::transform_set fuzz_transforms(
    std::vector<exportwall::filters::field_transform> list) {
    static const auto key = std::make_shared<const std::vector<unsigned char>>(16, 0x5a);
    return exportwall::filters::transform_set(std::move(list), key);
}

filter_spec hubspot_spec(bool strict) {
    filter_spec spec;
    spec.strict_envelope = strict;
    spec.format = body_format::json;
    spec.records = "/results";
    spec.field_root = "properties";
    spec.allowed = field_set({"id", "email", "address.city", "contacts.name"});
    spec.transforms = fuzz_transforms({{"email", transform_kind::pseudonymise, 0},
                                       {"address.city", transform_kind::truncate_chars, 2},
                                       {"id", transform_kind::mask, 1}});
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
    // A paging token beside the link (sealed: the CRM's value never passes as written) and
    // declared page metadata (scalars pass, a container refuses).
    spec.token_fields = {"/paging/next/after"};
    spec.seal_token = [](std::string_view token) -> std::optional<std::string> {
        if (token.empty()) return std::nullopt;
        return "ew1.sealed";
    };
    spec.envelope_fields = {"/paging/total", "/id"};
    spec.max_record_bytes = 4096;
    spec.max_depth = 32;
    spec.max_records = 1000;
    return spec;
}

nested_record_set nested_set(std::string path, std::vector<std::string> allowed) {
    nested_record_set set;
    set.path = std::move(path);
    set.allowed = field_set(std::move(allowed));
    return set;
}

// Nested sets over the same dictionary as the seeds: included[] by `type`, a related_objects
// map, contacts inside each record, and a set the purpose reads nothing of.
std::vector<nested_record_set> fuzz_nested() {
    std::vector<nested_record_set> sets;
    nested_record_set accounts = nested_set("/included", {"id", "name", "address.city"});
    accounts.discriminator = "type";
    accounts.discriminator_value = "accounts";
    accounts.field_root = "attributes";
    accounts.rules.conditions.push_back(
        {"objection", condition_op::is_set, {}, true, drop_reason::objected});
    sets.push_back(accounts);
    nested_record_set users = nested_set("/included", {});
    users.discriminator = "type";
    users.discriminator_value = "users";
    users.keep = false;
    sets.push_back(users);
    nested_record_set persons = nested_set("/related_objects/person", {"id", "email"});
    persons.map = true;
    persons.rules.conditions.push_back(
        {"consent", condition_op::is_true, {}, false, drop_reason::no_consent});
    sets.push_back(persons);
    nested_record_set contacts = nested_set("contacts", {"name", "email"});
    contacts.in_record = true;
    contacts.transforms = fuzz_transforms({{"name", transform_kind::year, 0}});
    contacts.rules.suppression_fields = {"email"};
    contacts.rules.suppressed = [](const record_fields& f) {
        auto email = f.find("email");
        return email && email->find("suppressed") != std::string_view::npos;
    };
    sets.push_back(contacts);
    nested_record_set meta = nested_set("/meta", {});
    meta.map = true;
    meta.keep = false;
    sets.push_back(meta);
    return sets;
}

filter_spec fuzz_spec(variant v, bool strict) {
    filter_spec spec = hubspot_spec(strict);
    if (v == variant::page) return spec;
    spec.nested = fuzz_nested();
    spec.field_root = "attributes";
    spec.link_fields = {"/links/next", "/@odata.nextLink"};
    if (v == variant::nested) {
        spec.records = "/data";
    } else {
        spec.single_record = true;
        spec.records = v == variant::single_data ? "/data" : "";
    }
    return spec;
}

struct outcome {
    std::string output;
    boost::system::error_code error;
    bool finish_error = false;  // the error came from finish(): the whole body was parsed
    exportwall::filters::filter_counters counters;
};

bool same_counts(const exportwall::filters::filter_counters& a,
                 const exportwall::filters::filter_counters& b) {
    return a.records_in == b.records_in && a.records_out == b.records_out &&
           a.dropped == b.dropped && a.nested_in == b.nested_in && a.nested_out == b.nested_out &&
           a.nested_discarded == b.nested_discarded && a.stripped_fields == b.stripped_fields &&
           a.transformed_fields == b.transformed_fields && a.transform_failed == b.transform_failed;
}

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
