#pragma once
// The streaming body filter contract shared by every export format. A filter is fed the upstream
// body chunk by chunk and appends the filtered bytes to an output string; it never performs I/O
// (the proxy's relay loop owns reading and writing). Memory is bounded by the largest record
// (filter_spec::max_record_bytes), never by the size of the export.
//
// Fail closed: once feed() or finish() returns an error the filter is dead, and the caller must
// abort the client's response (no clean end of document may follow the bytes already produced).

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/system/error_code.hpp>

#include "filters/field_set.hpp"
#include "filters/record_rules.hpp"
#include "filters/transform.hpp"

namespace exportwall::filters {

// xmlrpc: an XML-RPC methodResponse whose result is an array of structs, one per record (Odoo's
// search_read over XML-RPC; filters/xml/xmlrpc_filter.hpp).
enum class body_format : std::uint8_t { json, ndjson, csv, xml, xmlrpc };

// Why a filter aborted. Every value maps to the `upstream_malformed` reason code unless noted.
enum class filter_error {
    malformed = 1,          // not well-formed in the declared format
    record_too_large,       // one record exceeds filter_spec::max_record_bytes
    too_deep,               // nesting deeper than filter_spec::max_depth
    duplicate_key,          // a JSON object repeats a key (ambiguous: refused)
    dtd_refused,            // XML DOCTYPE or entity declaration (never expanded)
    ragged_row,             // CSV row with a different number of cells than the header
    records_not_found,      // the configured record location is absent or not a list
    record_limit_exceeded,  // more records than filter_spec::max_records (reason
                            // `record_limit_exceeded`)
    truncated,              // finish() before the document was complete
};
[[nodiscard]] const boost::system::error_category& filter_category() noexcept;
[[nodiscard]] boost::system::error_code make_error_code(filter_error e) noexcept;

// What a filter did, for the audit record and metrics. Never holds a field value.
// records_in counts every record read: the main records and the nested ones (filter_spec::nested),
// so records_in == records_out + the sum of dropped (once the filter ended without error). A
// nested record that matches no set of its path, or whose set is not kept, counts as dropped for
// `condition`; nested records inside a main record that is dropped count as dropped for the main
// record's reason.
struct filter_counters {
    std::uint64_t records_in = 0;
    std::uint64_t records_out = 0;
    std::array<std::uint64_t, drop_reason_count> dropped{};
    std::uint64_t nested_in = 0;         // of records_in: nested records
    std::uint64_t nested_out = 0;        // of records_out: nested records
    std::uint64_t nested_discarded = 0;  // of dropped[condition]: nested records of no kept set
    std::map<std::string, std::uint64_t, std::less<>> stripped_fields;  // field name -> times
    // Values written in a transformed form (filter_spec::transforms), by the transform's field
    // path; and values a transform could not read, written as nothing (JSON null, an empty CSV
    // cell or XML element). Only values of records written count. Nested sets' transforms count
    // as "<set label>.<path>", as stripped_fields names their fields.
    std::map<std::string, std::uint64_t, std::less<>> transformed_fields;  // field name -> times
    std::map<std::string, std::uint64_t, std::less<>> transform_failed;    // field name -> times
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t links_rewritten = 0;
    std::uint64_t links_removed = 0;
};

// Maps a pagination link that points at the CRM to exportwall's public URL. nullopt removes the
// link (it points somewhere exportwall does not front), and the filter counts it.
using link_rewriter = std::function<std::optional<std::string>(std::string_view url)>;

struct csv_options {
    char delimiter = ',';  // ',', ';', '\t' or '|'
    char quote = '"';
    bool formula_guard = true;  // prefix cells starting with = + - @ TAB CR with a '
    // A header name's spaces are read as this byte when matched against field paths ("First
    // Name" is field First_Name with '_'); 0: names are matched as written. The output header
    // keeps the CRM's names.
    char header_space = 0;
};

// A set of records of another entity in the same document (JSON and NDJSON): side-loaded
// records (JSON:API `included`, Pipedrive `related_objects`) or records inside each main record
// (Close's `contacts` in a lead). Each element is filtered as a record of its own: its own
// allow-list, field_root and rules, buffered and bounded by max_record_bytes like a main record;
// or, when `keep` is false or it matches no set of its path, dropped whole. Nothing of a nested
// element ever passes under the main record's allow-list.
struct nested_record_set {
    // JSON pointer from the document root ("/included", "/related_objects/person") when
    // `in_record` is false (JSON only: unused in NDJSON); a dotted path relative to each main
    // record ("contacts") when true. An in-record set appears only where the main allow-list keeps
    // or descends into `path`; its elements' fields are then decided by `allowed`, not by the main
    // allow-list, and they go with their main record when that record is dropped.
    std::string path;
    bool in_record = false;
    // The value at `path`: an array of records, or (map == true) an object whose member values are
    // records keyed by id (Pipedrive related_objects). A value of another type at `path` is
    // refused (records_not_found) at the document level and stripped inside a record.
    bool map = false;
    // Only elements whose top-level member `discriminator` (e.g. "type") is a string equal to
    // `discriminator_value` belong to this set ("" = every element). Several sets may share one
    // path with different values (the first that matches wins); an element matching no set of its
    // path is dropped (counted). The discriminator member is always kept, so a JSON:API resource
    // stays one. Elements must be objects, unless every set of the path is not kept.
    std::string discriminator;
    std::string discriminator_value;
    std::string field_root;  // fields inside each nested record ("attributes"); "" = own members
    bool keep = true;        // false: every element is dropped (the purpose reads nothing of it)
    field_set allowed;
    record_rules rules;
    transform_set transforms;  // as filter_spec::transforms, relative to this set's field_root
};

// Everything a filter needs, built by the proxy from a decision and a route.
struct filter_spec {
    body_format format = body_format::json;
    // Where the records are. JSON: a JSON pointer ("/value", "/results", "/records"), "" for a
    // top-level array. XML: an element path of local names ("/Envelope/Body/queryResponse/result/
    // records"). NDJSON and CSV: unused (a record per line / per row).
    std::string records;
    // Where the fields sit inside a record, as a dotted path ("properties" for HubSpot); "" when
    // the fields are the record's own members.
    std::string field_root;
    // Fields kept; everything else is stripped (and counted by name).
    field_set allowed;
    // Records kept; everything else is dropped (and counted by reason).
    record_rules rules;
    // Kept fields written in a derived form, by the allow-list's relative path (field_transform).
    // Only what is written changes: the rules read the original values. A value at a transformed
    // path is written transformed or as nothing, never as received: a JSON object or array there
    // is written as null, an XML element with child elements as an empty element; a JSON
    // annotation sibling of it (`email@OData.Community.Display.V1.FormattedValue`) and an XML
    // attribute of it (other than xsi:nil) are stripped. An XML attribute is transformed at its
    // own path ("@id", "phone.@ext"). Inside a nested record set only the set's own transforms
    // apply. Link fields are never transformed.
    transform_set transforms;
    // Pagination link fields, located from the document root. JSON and NDJSON: JSON pointers
    // ("/@odata.nextLink", "/nextRecordsUrl", "/paging/next/link", "/links/next"); for NDJSON
    // they are looked up inside each line's object. XML: element paths of local names. CSV:
    // unused.
    std::vector<std::string> link_fields;
    link_rewriter rewrite_link;  // may be empty: then link fields are removed
    // JSON: envelope members (JSON pointers) that hold the CRM's paging token itself (HubSpot's
    // "/paging/next/after"): a string there is replaced by seal_token's answer, anything else (or
    // a token seal_token refuses) is removed and counted as a removed link. XML: the envelope
    // metadata element queryLocator (Salesforce SOAP) is such a token whenever seal_token is set,
    // and removed when it is not.
    std::vector<std::string> token_fields;
    link_rewriter seal_token;
    // JSON: envelope scalars (JSON pointers) that pass as written beside the records (declared
    // page or call metadata: "/additional_data/pagination/start", "/id"). Only with
    // strict_envelope; a container at one of them is refused like any other.
    std::vector<std::string> envelope_fields;
    csv_options csv;
    // JSON: an object or array in the envelope that neither holds the records nor leads to a
    // link field is refused (records_not_found) instead of passed: it may be records under
    // another name. JSON and XML: no output leaves make_filter()'s filter until the first record
    // is reached or the document ends complete (at most max_record_bytes held), so a document
    // without the records (a single object, another SOAP operation) leaks nothing before it is
    // refused. The proxy always sets it; the lexer's conformance tests do not.
    bool strict_envelope = false;
    // Records of other entities in the same document (see nested_record_set). With
    // strict_envelope a document-level set's path is filtered, not refused; an object that leads
    // only to such paths (`related_objects`) has its other members stripped, not refused. Link
    // fields are not looked for inside a nested set. Main record rules do not read inside a map
    // set. max_records counts nested records kept as well as main ones.
    std::vector<nested_record_set> nested;
    // JSON: `records` points at one object (a single-record GET), not an array. The object is the
    // one record (through field_root), with the same strictness as an array element; a missing
    // object or one of another type is records_not_found. `records` "" with single_record means
    // the document root is the record (its link fields are then looked up as in NDJSON). When the
    // rules drop the record, `null` stands in its place (`{"data":null}`; a dropped root record is
    // the document `null`) and the drop is counted. NDJSON: unused.
    bool single_record = false;
    std::size_t max_record_bytes = 1 << 20;
    std::size_t max_depth = 64;
    std::uint64_t max_records = 0;  // 0: unlimited
};

// Where a written record ends in the output: `end` is the size the caller's output string had
// right after the record was appended (an offset into the string passed to feed()/finish(),
// counting what it already held before the call), `records` is counters().records_out after it.
// The output up to `end` holds exactly `records` complete records (the ones counted in
// records_out: nested records kept inside a main record count with it) and no byte of a later
// record, so the caller may cut it there and abort the rest (export quotas).
struct record_mark {
    std::size_t end = 0;
    std::uint64_t records = 0;
};

// What a filter learnt about its spec while it ran (the JSON filters: the plan decided for each
// path), handed to the next filter of an equal spec on the same thread so that it starts where
// this one ended (filters/filter_shelf.hpp). Holds the spec it was learnt for, without callbacks;
// the rest is the format's own.
class filter_memory {
  public:
    virtual ~filter_memory() = default;
    filter_memory() = default;
    filter_memory(const filter_memory&) = delete;
    filter_memory& operator=(const filter_memory&) = delete;
    filter_spec spec;  // filters::decisions_only of the filter's spec
    // What keeping it costs, in the format's units (the JSON filters: paths and facts held);
    // the shelf bounds the sum.
    std::size_t weight = 1;
};

class record_filter {
  public:
    virtual ~record_filter() = default;
    record_filter() = default;
    record_filter(const record_filter&) = delete;
    record_filter& operator=(const record_filter&) = delete;

    // Consumes all of `in` and appends filtered output to `out`. An error aborts the export.
    [[nodiscard]] virtual boost::system::error_code feed(std::string_view in, std::string& out) = 0;
    // The body ended: flushes what remains. An incomplete document is `truncated`.
    [[nodiscard]] virtual boost::system::error_code finish(std::string& out) = 0;
    [[nodiscard]] virtual const filter_counters& counters() const = 0;
    // The counters for a caller that follows the export while it runs (records and bytes, after
    // every piece): a filter may leave `stripped_fields` out of date here, which counters()
    // brings up to date (the JSON filters do: reporting the stripped names walks all of them).
    [[nodiscard]] virtual const filter_counters& progress() const { return counters(); }
    // From now on, appends a mark for every main record written to the output (nullptr: stop).
    // The caller owns the vector and clears it together with the output string it cuts. Marks are
    // cumulative (neither `end` nor `records` decreases); a dropped record makes none. A filter
    // may mark more places (make_filter()'s JSON filter marks each record of a document-level
    // nested set) but never inside a record. The default marks nothing: the caller can then only
    // cut before everything.
    virtual void set_record_marks([[maybe_unused]] std::vector<record_mark>* marks) {}
    // Once finish() returned no error: what this filter learnt, for a later filter of an equal
    // spec (filters/filter_shelf.hpp); null when it has nothing to hand on, or did not end so.
    // The filter is spent afterwards: only its destructor may follow.
    [[nodiscard]] virtual std::unique_ptr<filter_memory> take_memory() { return nullptr; }
};

// A filter for spec.format. Never null.
[[nodiscard]] std::unique_ptr<record_filter> make_filter(filter_spec spec);
// The same, starting from `memory` (another filter's take_memory(), filters/filter_shelf.hpp)
// when a filter of spec.format can use it and it was learnt for a spec with the same decisions
// (same_decisions); otherwise `memory` is dropped and the filter starts afresh.
[[nodiscard]] std::unique_ptr<record_filter> make_filter(filter_spec spec,
                                                         std::unique_ptr<filter_memory> memory);

}  // namespace exportwall::filters

namespace boost::system {
template <>
struct is_error_code_enum<exportwall::filters::filter_error> : std::true_type {};
}  // namespace boost::system
