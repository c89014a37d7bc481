// Differential libFuzzer target for the JSON filter's fast path
// (filters/json/json_record_parser.hpp) and for the filters started from a memory
// (filters/filter_shelf.hpp): every input runs through the JSON and NDJSON filters with the same
// chunking, once with json_path::fast (what make_filter builds) and once with
// json_path::basic_parser (the reference: every byte through Boost.JSON), and the two must agree:
// the same output, counters and record marks, or both fail with the same filter_error (but for one
// ordering, see string_checked_whole_first). Then the fast path runs again started from a memory
// (record_filter::take_memory, filters/filter_shelf.hpp) and must agree with its fresh run exactly
// (no ordering excepted): from what the fresh run itself learnt from the input (when it passed),
// and, for one JSON and one NDJSON spec per input, from what a filter of the spec learnt from a
// small valid export of its own (named_spec::learning_export), so that an input is also met by
// plans decided for other records: the paths of its first record replayed, stripped members skipped
// quietly from the first record on, refusals met there.
//
// Input: three bytes of chunking, then the body. Bytes 0 and 1 pick two cut points (the body is fed
// as three chunks, maybe empty, then finish()). Byte 2, when it is 1 modulo 8, puts the JSON
// filter's 16 KiB slice boundary at its fraction (of 256) of the body by prefixing whitespace, so a
// record lies across two slices without a 16 KiB input (one input in eight: the whitespace costs
// more than the body); its upper five bits pick the JSON spec and the NDJSON spec run from their
// learning export's memory (modulo their numbers: learning costs a whole export, more than most
// inputs, so not every spec learns for every input). The JSON specs are json_fuzz_specs.hpp's
// fuzz_json shapes with records arrays (the single-record GETs never take the fast path) and an
// OData-like export with most members stripped unread (records at /value, and a top-level array),
// each as the conformance tests configure the filter and with strict_envelope and make_filter's
// envelope hold as the proxy does, plus the nested shape with its contacts set where its records
// hold it (see json_specs); the NDJSON specs are fuzz_ndjson's and the export's, with and without
// a link inside each line.
//
// Every spec also keeps a subject index (record_rules::subject_fields, and the nested sets' own):
// the id and the e-mail address, a field a condition or the suppression check reads too, and a
// transformed one. What every `decided` call hears — kept or not, values() and subjects() — is
// recorded and compared like the output, on every run above: a filter started from a memory
// replays the routes cached on its path nodes. Each call is also checked on its own: no subject
// index past subject_fields, no value in values() the rules do not read, and a subject field the
// rules read holds the same values in both lists. Both paths read a scalar that arrives whole back
// from the record's text (record_fields::add_in_text), so the values are also compared with a run
// that copies them all: every spec is fed the body one byte at a time (basic_parser), which must
// hear the same and write the same when it passes.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
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
using exportwall::filters::filter_memory;
using exportwall::filters::filter_spec;
using exportwall::filters::json_path;
using exportwall::filters::make_error_code;
using exportwall::filters::make_json_filter;
using exportwall::filters::make_ndjson_filter;
using exportwall::filters::record_fields;
using exportwall::filters::record_mark;
using exportwall::filters::record_rules;
using exportwall::filters::fuzzing::export_shape;
using exportwall::filters::fuzzing::export_spec;
using exportwall::filters::fuzzing::fuzz_spec;
using exportwall::filters::fuzzing::ndjson_spec;
using exportwall::filters::fuzzing::same_counts;
using exportwall::filters::fuzzing::variant;

// The JSON filter parses its input in slices of this size (filters/json/json_filter.cpp).
constexpr std::size_t slice_bytes = 16 * 1024;

// A spec, and a small export it passes whose records hold most of the spec's paths in several
// kinds of value (kept, stripped, read by the rules, transformed, links, nested sets): what a
// filter learns from it is the memory each input is also run from.
struct named_spec {
    std::string name;
    filter_spec spec;
    std::string learning_export;
};

// `spec` with a subject index on `fields` (main records) and on the id and e-mail address of each
// nested set that is kept; the callbacks are inert here (run() records them), present so that a
// memory learnt with them serves the runs (same_decisions compares their presence).
filter_spec indexed(filter_spec spec, std::vector<std::string> fields) {
    const auto inert = [](const record_fields&, bool) {};
    spec.rules.subject_fields = std::move(fields);
    spec.rules.decided = inert;
    for (auto& set : spec.nested) {
        if (!set.keep) continue;
        set.rules.subject_fields = {"id", "email"};
        set.rules.decided = inert;
    }
    return spec;
}

// fuzz_spec(variant::page): HubSpot-like records under `properties`, a link and a paging token.
constexpr std::string_view page_export =
    R"({"results":[{"id":"1","properties":{"id":"7","email":"a@x","consent":"true",)"
    R"("address":{"city":"Bern","zip":"3000"},"objection":"","notes":{"x":[1,2,{"y":null}]},)"
    R"("contacts":[{"name":"n","email":"c@x"}]}},{"id":"2","properties":{"email":"suppressed@x",)"
    R"("consent":"true","address":{"city":3},"objection":"yes","id":null}},{"id":"3",)"
    R"("properties":{"email":["e"],"consent":false,"address":"none","notes":"n"},"x":[]}],)"
    R"("paging":{"next":{"after":"2","link":"https://crm/p?after=2"},"total":2},"id":"p"})";

// fuzz_spec(variant::nested): JSON:API records under `attributes`, contacts inside each record,
// included[] by type, a related_objects map and a set dropped whole.
constexpr std::string_view nested_export =
    R"({"data":[{"type":"contacts","id":"1","attributes":{"email":"a@x","consent":true,)"
    R"("objection":null,"address":{"city":"Bern"},"contacts":[{"name":"1999-01-02",)"
    R"("email":"c@x","phone":"1"},{"name":"x","email":"suppressed@x"}]}},{"type":"contacts",)"
    R"("id":"2","attributes":{"email":"b@x","consent":true,"contacts":[],"notes":[1]}},)"
    R"({"type":"contacts","id":"3","attributes":{"consent":false,"objection":"yes"}}],)"
    R"("included":[{"type":"accounts","id":"9","attributes":{"name":"Acme",)"
    R"("address":{"city":"Bern","zip":"3000"},"objection":""}},{"type":"users","id":"3"}],)"
    R"("related_objects":{"person":{"5":{"id":5,"email":"p@x","consent":true,"phone":"2"}}},)"
    R"("meta":{"a":{"x":1}},"links":{"next":"https://crm/next"}})";

// export_spec: OData-like records, three members kept, a rule under `consent`; record 2 is
// dropped.
std::string export_record(int i) {
    return R"({"@odata.etag":"W/\")" + std::to_string(i) + R"(\"","id":")" + std::to_string(i) +
           R"(","first_name":"Ann","last_name":"Lee","email":"a@x.example","consent":{"email":)" +
           (i == 2 ? "false" : "true") +
           R"(,"sms":false},"address":{"street":"Main","geo":{"lat":47.3}},)"
           R"("objection":{"reason":null,"at":[]},"tags":["vip",{"k":"v"},[1,2]],)"
           R"("score":-0.0125,"active":true,"notes":"line\nbreak"})";
}

std::string export_records() {
    return export_record(1) + "," + export_record(2) + "," + export_record(3);
}

// The same records as NDJSON lines, with a link inside each line when `link`.
std::string export_lines(bool link) {
    std::string lines;
    for (int i = 1; i <= 3; ++i) {
        std::string r = export_record(i);
        if (link) r.insert(r.size() - 1, R"(,"@odata.nextLink":"https://crm/n")");
        lines += r + "\n";
    }
    return lines;
}

// ndjson_spec: fields under `properties`, a link inside each line.
constexpr std::string_view ndjson_export =
    R"({"properties":{"id":"1","email":"a@x","address":{"city":"Bern","zip":"1"},)"
    R"("consent":"true","lifecycle":"lead","@odata.etag":"W/1","notes":"n"},)"
    R"("links":{"next":"crm:2","self":"s"}})"
    "\n"
    R"({"properties":{"id":"2","email":5,"address":{"city":["x"]},"consent":"true",)"
    R"("lifecycle":"customer"},"links":{"next":"https://crm/3"},"x":{"y":[1]}})"
    "\n"
    R"({"properties":{"consent":false,"lifecycle":"lead"},"links":[]})"
    "\n";

const std::vector<named_spec>& json_specs() {
    static const std::vector<named_spec> all = [] {
        std::vector<named_spec> v;
        // The id (masked) and the address (pseudonymised, read by the suppression check),
        // the consent a condition reads, a truncated city nobody else reads, and the addresses
        // of the record's contacts (the nested spec: read while each element is copied).
        const std::vector<std::string> page_subjects = {"id", "email", "consent", "address.city",
                                                        "contacts.email"};
        // The address pseudonymised in some shapes, the consent's flag a condition reads.
        const std::vector<std::string> export_subjects = {"email", "id", "consent.email"};
        for (bool strict : {false, true}) {
            const std::string s = strict ? " strict" : "";
            v.push_back({"page" + s, indexed(fuzz_spec(variant::page, strict), page_subjects),
                         std::string(page_export)});
            v.push_back({"nested" + s, indexed(fuzz_spec(variant::nested, strict), page_subjects),
                         std::string(nested_export)});
            v.push_back({"export" + s,
                         indexed(export_spec(export_shape::odata, strict), export_subjects),
                         R"({"@odata.count":3,"value":[)" + export_records() +
                             R"(],"@odata.nextLink":"https://crm/n"})"});
            v.push_back({"export_array" + s,
                         indexed(export_spec(export_shape::root_array, strict), export_subjects),
                         "[" + export_records() + "]"});
        }
        // The nested shape with its contacts set where the records hold it: a set's path inside
        // a record is relative to the record, not to field_root, so fuzz_nested's "contacts"
        // names no member of a record whose fields are under `attributes`. Its elements are then
        // filtered by the set, and the main index reads their addresses while each is copied.
        filter_spec contacts_in_attributes = fuzz_spec(variant::nested, false);
        for (auto& set : contacts_in_attributes.nested) {
            if (set.in_record) set.path = "attributes.contacts";
        }
        v.push_back({"nested contacts", indexed(std::move(contacts_in_attributes), page_subjects),
                     std::string(nested_export)});
        return v;
    }();
    return all;
}

const std::vector<named_spec>& ndjson_specs() {
    static const std::vector<named_spec> all = [] {
        // ndjson_spec: the address pseudonymised, the lifecycle a condition reads, the city
        // masked.
        const std::vector<std::string> ndjson_subjects = {"email", "id", "lifecycle",
                                                          "address.city"};
        const std::vector<std::string> export_subjects = {"id", "email", "consent.email"};
        return std::vector<named_spec>{
            {"ndjson", indexed(ndjson_spec(), ndjson_subjects), std::string(ndjson_export)},
            {"export_ndjson", indexed(export_spec(export_shape::ndjson, false), export_subjects),
             export_lines(true)},
            {"export_ndjson_bare",
             indexed(export_spec(export_shape::ndjson_bare, false), export_subjects),
             export_lines(false)},
        };
    }();
    return all;
}

// What one `decided` call heard: whose callback (-1: the main records', else the nested set's
// index), kept or not, and the record's values() and subjects(), copied.
struct decision {
    int set = -1;
    bool kept = false;
    std::vector<std::pair<std::string, std::string>> values;
    std::vector<std::pair<std::size_t, std::string>> subjects;
    bool operator==(const decision&) const = default;
};

[[noreturn]] void misrouted(const char* why, const record_rules& rules, const decision& d) {
    std::fprintf(stderr, "fuzz_json_fast_path: %s (set %d, %s)\n", why, d.set,
                 d.kept ? "kept" : "dropped");
    for (const auto& [path, value] : d.values) {
        std::fprintf(stderr, "  value %s = %.200s\n", path.c_str(), value.c_str());
    }
    for (const auto& [index, value] : d.subjects) {
        std::fprintf(
            stderr, "  subject %zu (%s) = %.200s\n", index,
            index < rules.subject_fields.size() ? rules.subject_fields[index].c_str() : "?",
            value.c_str());
    }
    std::abort();
}

// True when a condition or the suppression check reads `path` (record_rules, evaluate()).
bool rules_read(const record_rules& rules, const std::string& path) {
    for (const auto& c : rules.conditions) {
        if (c.field == path) return true;
    }
    return rules.suppressed &&
           std::find(rules.suppression_fields.begin(), rules.suppression_fields.end(), path) !=
               rules.suppression_fields.end();
}

// Checks one call on its own (see the file comment); aborts when it is misrouted.
void check_routing(const record_rules& rules, const decision& d) {
    const auto& names = rules.subject_fields;
    for (const auto& [path, value] : d.values) {
        const bool subject = std::find(names.begin(), names.end(), path) != names.end();
        if (subject && !rules_read(rules, path)) {
            misrouted("a subject field no rule reads is in values()", rules, d);
        }
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (!rules_read(rules, names[i])) continue;
        std::vector<std::string> in_values;
        std::vector<std::string> in_subjects;
        for (const auto& [path, value] : d.values) {
            if (path == names[i]) in_values.push_back(value);
        }
        for (const auto& [index, value] : d.subjects) {
            if (index == i) in_subjects.push_back(value);
        }
        if (in_values != in_subjects) {
            misrouted("a subject field the rules read differs between the lists", rules, d);
        }
    }
    for (const auto& [index, value] : d.subjects) {
        if (index >= names.size()) misrouted("a subject index past subject_fields", rules, d);
    }
}

// A `decided` callback that checks and records each call into `to`.
std::function<void(const record_fields&, bool)> recorder(const record_rules& rules, int set,
                                                         std::vector<decision>* to) {
    return [&rules, set, to](const record_fields& f, bool kept) {
        decision d;
        d.set = set;
        d.kept = kept;
        for (const auto [path, value] : f.values()) d.values.emplace_back(path, value);
        for (const auto [index, value] : f.subjects()) d.subjects.emplace_back(index, value);
        check_routing(rules, d);
        to->push_back(std::move(d));
    };
}

struct outcome {
    std::string output;
    boost::system::error_code error;
    filter_counters counters;
    std::vector<record_mark> marks;
    std::vector<decision> decided;  // every `decided` call, main and nested, in order
};

// Runs the filter make_filter would build for `spec`, on `path`, started from `memory` when one is
// given; what the filter learnt goes to `learnt` when given (null unless it finished without
// error). make_filter wraps a JSON filter with strict_envelope in an envelope hold
// (filters/record_filter.cpp); what the hold decides is reproduced here from the inner filter's
// output and counters after each feed: it releases once a main record started, and refuses
// (records_not_found) once more than max_record_bytes are held without one. Otherwise the hold
// only delays the same bytes.
outcome run(const filter_spec& spec, json_path path, const std::vector<std::string_view>& chunks,
            std::unique_ptr<filter_memory> memory = nullptr,
            std::unique_ptr<filter_memory>* learnt = nullptr) {
    outcome o;
    const bool json = spec.format == body_format::json;
    // The spec's callbacks replaced by recorders (their rules are `spec`'s, which outlives the
    // filter).
    filter_spec heard = spec;
    if (heard.rules.decided) heard.rules.decided = recorder(spec.rules, -1, &o.decided);
    for (std::size_t i = 0; i < heard.nested.size(); ++i) {
        auto& rules = heard.nested[i].rules;
        if (rules.decided)
            rules.decided = recorder(spec.nested[i].rules, static_cast<int>(i), &o.decided);
    }
    auto filter = json ? make_json_filter(std::move(heard), path, std::move(memory))
                       : make_ndjson_filter(std::move(heard), path, std::move(memory));
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
    if (learnt != nullptr) *learnt = filter->take_memory();
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
    if (fast.error) {
        if (fast.error != reference.error) return "different errors";
        // The records decided before the fault are the same ones, heard the same.
        return fast.decided == reference.decided ? nullptr
                                                 : "different decided records before the error";
    }
    if (fast.output != reference.output) return "different output";
    if (!same_counts(fast.counters, reference.counters)) return "different counters";
    const filter_counters& a = fast.counters;
    const filter_counters& b = reference.counters;
    if (a.bytes_in != b.bytes_in || a.bytes_out != b.bytes_out ||
        a.links_rewritten != b.links_rewritten || a.links_removed != b.links_removed) {
        return "different byte or link counters";
    }
    if (!same_marks(fast.marks, reference.marks)) return "different record marks";
    if (fast.decided != reference.decided) return "different decided records (subject index)";
    return nullptr;
}

void describe(const char* side, const outcome& o) {
    std::fprintf(stderr, "  %s: error %s (%d); output %zu bytes; records in %llu out %llu\n", side,
                 o.error ? o.error.message().c_str() : "none", o.error.value(), o.output.size(),
                 static_cast<unsigned long long>(o.counters.records_in),
                 static_cast<unsigned long long>(o.counters.records_out));
    std::fprintf(stderr, "  %s output: %.400s\n", side, o.output.c_str());
    std::fprintf(stderr, "  %s decided %zu records\n", side, o.decided.size());
    for (std::size_t i = 0; i < o.decided.size() && i < 8; ++i) {
        const decision& d = o.decided[i];
        std::fprintf(stderr, "    set %d %s:", d.set, d.kept ? "kept" : "dropped");
        for (const auto& [index, value] : d.subjects) {
            std::fprintf(stderr, " %zu=%.60s", index, value.c_str());
        }
        std::fprintf(stderr, " |");
        for (const auto& [path, value] : d.values) {
            std::fprintf(stderr, " %s=%.60s", path.c_str(), value.c_str());
        }
        std::fprintf(stderr, "\n");
    }
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

[[noreturn]] void report(const char* why, const named_spec& s,
                         const std::vector<std::string_view>& chunks, const char* side,
                         const outcome& a, const char* reference_side, const outcome& reference) {
    std::fprintf(stderr, "fuzz_json_fast_path: %s with spec '%s', chunks of", why, s.name.c_str());
    for (std::string_view c : chunks) std::fprintf(stderr, " %zu", c.size());
    std::fprintf(stderr, " bytes\n");
    describe(side, a);
    describe(reference_side, reference);
    std::abort();
}

// What a filter of the spec learns from its learning export. Fed whole: a body the fuzzer does not
// choose, so it must pass.
std::unique_ptr<filter_memory> learnt_from_export(const named_spec& s) {
    const bool json = s.spec.format == body_format::json;
    auto filter = json ? make_json_filter(s.spec) : make_ndjson_filter(s.spec);
    std::string out;
    auto error = filter->feed(s.learning_export, out);
    if (!error) error = filter->finish(out);
    auto memory = filter->take_memory();
    if (error || memory == nullptr) {
        std::fprintf(stderr, "fuzz_json_fast_path: the learning export of spec '%s' %s\n",
                     s.name.c_str(), error ? error.message().c_str() : "taught nothing");
        std::abort();
    }
    return memory;
}

// `body` cut into single bytes.
std::vector<std::string_view> bytes_of(std::string_view body) {
    std::vector<std::string_view> bytes;
    bytes.reserve(body.size());
    for (std::size_t i = 0; i < body.size(); ++i) bytes.push_back(body.substr(i, 1));
    return bytes;
}

// `from_learning_export`: also run from the memory of the spec's learning export. When the fast
// run passed, `body` (the chunks' text without the slice padding) is also fed one byte at a time
// on basic_parser: every string and number then reaches the filter in parts and is copied into
// the record's fields, none read back from its text, so `decided` must hear the same, and the
// output be the same (when that run passes too: the envelope hold's refusal depends on where the
// chunks end).
void compare(const named_spec& s, std::string_view body,
             const std::vector<std::string_view>& chunks, bool from_learning_export) {
    std::unique_ptr<filter_memory> learnt;
    const outcome fast = run(s.spec, json_path::fast, chunks, nullptr, &learnt);
    const outcome reference = run(s.spec, json_path::basic_parser, chunks);
    const char* why = disagreement(fast, reference);
    if (why != nullptr && !string_checked_whole_first(s, chunks, fast, reference)) {
        report(why, s, chunks, "fast", fast, "basic_parser", reference);
    }
    // A filter started from a memory behaves as a fresh one: no ordering is excepted.
    if (learnt != nullptr) {
        const outcome again = run(s.spec, json_path::fast, chunks, std::move(learnt));
        if (const char* w = disagreement(again, fast)) {
            report(w, s, chunks, "from its own memory", again, "fresh", fast);
        }
    }
    if (from_learning_export) {
        const outcome warm = run(s.spec, json_path::fast, chunks, learnt_from_export(s));
        if (const char* w = disagreement(warm, fast)) {
            report(w, s, chunks, "from the learning export's memory", warm, "fresh", fast);
        }
    }
    if (fast.error) return;
    const outcome bytewise = run(s.spec, json_path::basic_parser, bytes_of(body));
    if (bytewise.error) return;
    if (bytewise.decided != fast.decided) {
        report("different decided records (subject index) fed one byte at a time", s, chunks,
               "fast", fast, "byte by byte", bytewise);
    }
    if (bytewise.output != fast.output) {
        report("different output fed one byte at a time", s, chunks, "fast", fast, "byte by byte",
               bytewise);
    }
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
    const std::size_t learner = data[2] / 8u;
    const std::vector<named_spec>& json = json_specs();
    for (std::size_t i = 0; i < json.size(); ++i) {
        compare(json[i], body, json_chunks, i == learner % json.size());
    }

    const std::vector<std::string_view> ndjson_chunks = three_chunks(body, 0, data[0], data[1]);
    const std::vector<named_spec>& ndjson = ndjson_specs();
    for (std::size_t i = 0; i < ndjson.size(); ++i) {
        compare(ndjson[i], body, ndjson_chunks, i == learner % ndjson.size());
    }
    return 0;
}
