#pragma once
// The filter specs the JSON and NDJSON fuzz targets run (fuzz_json, fuzz_ndjson and the
// differential fuzz_json_fast_path), over the same dictionary as their seeds: a HubSpot-like page
// with transforms, conditions, links, a paging token and envelope metadata; the same page with
// nested record sets (JSON:API included[] by type, a Pipedrive related_objects map, contacts
// inside each record, sets dropped whole) and as single-record GETs; an NDJSON spec; and an
// OData-like export where most members of a record are stripped unread (the JSON filter's quiet
// skip, filters/json/json_record_parser.hpp). Each target includes this header once.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/record_filter.hpp"

namespace exportwall::filters::fuzzing {

// Field transforms on kept fields (a test key): the targets' properties hold for them too.
inline transform_set fuzz_transforms(std::vector<field_transform> list) {
    static const auto key = std::make_shared<const std::vector<unsigned char>>(16, 0x5a);
    return transform_set(std::move(list), key);
}

// Rewrites the CRM's links (https://crm/...) to exportwall's (https://ew/...); removes others.
inline std::optional<std::string> rewrite_crm_link(std::string_view url) {
    if (url.substr(0, 12) != "https://crm/") return std::nullopt;
    return "https://ew/" + std::string(url.substr(12));
}

inline bool names_suppressed_email(const record_fields& f) {
    auto email = f.find("email");
    return email && email->find("suppressed") != std::string_view::npos;
}

inline filter_spec hubspot_spec(bool strict) {
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
    spec.rules.suppressed = names_suppressed_email;
    spec.link_fields = {"/paging/next/link", "/@odata.nextLink"};
    spec.rewrite_link = rewrite_crm_link;
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

inline nested_record_set nested_set(std::string path, std::vector<std::string> allowed) {
    nested_record_set set;
    set.path = std::move(path);
    set.allowed = field_set(std::move(allowed));
    return set;
}

// Nested sets: included[] by `type`, a related_objects map, contacts inside each record, and sets
// the purpose reads nothing of.
inline std::vector<nested_record_set> fuzz_nested() {
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
    contacts.rules.suppressed = names_suppressed_email;
    sets.push_back(contacts);
    nested_record_set meta = nested_set("/meta", {});
    meta.map = true;
    meta.keep = false;
    sets.push_back(meta);
    return sets;
}

// fuzz_json's shapes: the HubSpot-like page, the page with nested sets at /data, and
// single-record GETs at /data and at the document root (with the same sets).
enum class variant { page, nested, single_data, single_root };

inline filter_spec fuzz_spec(variant v, bool strict) {
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

// fuzz_ndjson's spec: a line per record, fields under `properties`, a link inside each line.
inline filter_spec ndjson_spec() {
    filter_spec spec;
    spec.format = body_format::ndjson;
    spec.field_root = "properties";
    spec.allowed = field_set({"id", "email", "address.city", "@odata.etag"});
    spec.transforms = fuzz_transforms(
        {{"email", transform_kind::pseudonymise, 0}, {"address.city", transform_kind::mask, 2}});
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

// Where an export's records are.
enum class export_shape {
    odata,       // JSON: {"value":[...],"@odata.nextLink":...}
    root_array,  // JSON: [...]
    ndjson,      // a record per line, a link inside each line (an NDJSON link field)
    ndjson_bare  // a record per line, no link field
};

// A real export's shape: three of many members kept, a condition under `consent`, and stripped
// members nobody reads (`address`, `objection`, `tags`, the rest) skipped quietly from the second
// record on, containers included. The top-level array and the NDJSON lines with a link
// pseudonymise `email` (a transformed record may be longer than the one received). Small limits
// (depth, size, records) so the fuzzer reaches them.
inline filter_spec export_spec(export_shape shape, bool strict) {
    filter_spec spec;
    spec.strict_envelope = strict;
    spec.format = shape == export_shape::odata || shape == export_shape::root_array
                      ? body_format::json
                      : body_format::ndjson;
    spec.records = shape == export_shape::odata ? "/value" : "";
    spec.allowed = field_set({"id", "first_name", "email"});
    spec.rules.conditions.push_back(
        {"consent.email", condition_op::is_true, {}, false, drop_reason::no_consent});
    if (shape != export_shape::ndjson_bare) spec.link_fields = {"/@odata.nextLink"};
    spec.rewrite_link = rewrite_crm_link;
    if (shape == export_shape::root_array || shape == export_shape::ndjson) {
        spec.transforms = fuzz_transforms({{"email", transform_kind::pseudonymise, 0}});
    }
    spec.max_record_bytes = 1024;
    spec.max_depth = 10;
    spec.max_records = 6;
    return spec;
}

// Every count of what the filter did to the records and fields (not bytes, not links).
inline bool same_counts(const filter_counters& a, const filter_counters& b) {
    return a.records_in == b.records_in && a.records_out == b.records_out &&
           a.dropped == b.dropped && a.nested_in == b.nested_in && a.nested_out == b.nested_out &&
           a.nested_discarded == b.nested_discarded && a.stripped_fields == b.stripped_fields &&
           a.transformed_fields == b.transformed_fields && a.transform_failed == b.transform_failed;
}

}  // namespace exportwall::filters::fuzzing
