#pragma once
// /admin/audit for the admin listener: the CLI's filters from URL query parameters (plus prefix,
// suffix and substring patterns and the blocked-transfer / access-error split), and the JSON
// page {"records":[…],"next":…,"matched":…,"newest_seq":…,"chain":{…}}. The proxy owns HTTP;
// these are plain functions over the trail's files.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/system/error_code.hpp>

#include "audit/reader.hpp"
#include "audit/record.hpp"

namespace exportwall::audit {

// True for the text of a decision a record can carry (audit::decision, to_string). A filter on
// another value is a typo, never "nothing found": the CLI exits 2 and /admin/audit answers 400.
[[nodiscard]] bool is_known_decision(std::string_view decision);

// True for the reason codes of requests that never were a declared, authenticated export the
// policy could decide: unauthenticated (401), route_not_found (404), method_not_allowed (405),
// declaration_missing, declaration_invalid, request_rejected and query_unsupported (400, and
// request_rejected's 408/413/431/501/505). The review page and the report count them as access
// errors, apart from the blocked transfers.
[[nodiscard]] bool is_access_error(std::string_view reason);

// A refused or cut transfer: decision blocked, aborted or would-block, for a reason that is not
// an access error.
[[nodiscard]] bool is_blocked_transfer(const record& r);

// Which records a review shows before the other filters apply.
enum class record_category : std::uint8_t {
    any,               // every record
    blocked_transfer,  // is_blocked_transfer()
    access_error,      // is_access_error(reason), whatever the decision
};

// One term of a text filter: "erp" equals, "web*" starts with, "*shop" ends with, "*sho*"
// contains. Case-sensitive, as the ids are.
struct text_term {
    enum class match : std::uint8_t { equals, prefix, suffix, contains };
    match how = match::equals;
    std::string text;
    [[nodiscard]] bool matches(std::string_view value) const;
};

// The terms of one field, any of which may match; empty matches everything.
using text_terms = std::vector<text_term>;
[[nodiscard]] bool matches_any(const text_terms& terms, std::string_view value);

// Parses a comma-separated list of terms ("erp,web*,*shop*"). nullopt when a term has a '*'
// anywhere but at its ends or nothing but stars.
[[nodiscard]] std::optional<text_terms> parse_text_terms(std::string_view list);

struct audit_query {
    // Exact values, decisions and the period: what the reader can skip lines by.
    record_filter filter;
    // The text filters holding a pattern (a field whose terms are all exact goes to `filter`).
    text_terms reason, client, purpose, destination, id;
    record_category category = record_category::any;
    std::size_t limit = 100;              // at most max_limit
    std::optional<std::uint64_t> cursor;  // continue after this seq (in the page's order)
    std::size_t offset = 0;               // skip this many matching records first
    bool newest_first = true;             // order=desc (default) | asc
    bool hourly = false;                  // bucket=hour (the flows' time axis); day by default
    static constexpr std::size_t max_limit = 1000;

    // The patterns and the category (`filter` is the reader's to check).
    [[nodiscard]] bool matches(const record& r) const;
};

// Parses "decision=blocked,aborted&client=web*&since=2026-11-01T00:00:00Z&limit=50&cursor=120".
// Parameters: decision (is_known_decision), reason, client, purpose, destination, id (lists of
// text terms), category (blocked-transfer | access-error), since, until (RFC 3339 or a date),
// limit, cursor, offset, order (desc | asc), bucket (day | hour). Percent-decoding and '+' as
// space apply. Unknown parameters or malformed values: nullopt and `error` says which parameter
// (never its value).
[[nodiscard]] std::optional<audit_query> parse_audit_query(std::string_view qs, std::string& error);

// The query's filters in words, for a report's "covers" line: "category blocked-transfer;
// decision blocked; client web*; since 2026-11-01T00:00:00Z"; "all records" without filters.
[[nodiscard]] std::string describe_query(const audit_query& query);

struct audit_page {
    std::vector<record> records;
    std::optional<std::uint64_t> next;  // the cursor for the next page, if there is one
    std::uint64_t matched = 0;          // records of the whole trail matching the query
    std::uint64_t newest_seq = 0;       // the highest seq among them (0: none)
};

// Reads one page of matching records from the trail at `log_path`, counting every match.
[[nodiscard]] boost::system::error_code read_audit_page(const std::string& log_path,
                                                        const audit_query& query, audit_page& out);

// The record as a JSON object with the §3 field names ("rule_id" and "legal_reference" after
// "reason" only when the record names a rule; "fields_transformed" and "transform_failed" after
// "fields_stripped" only when not empty; as in the line).
[[nodiscard]] boost::json::object record_to_json(const record& r);

// A chain verification and when it ran: the admin listener keeps the result for a while
// (verifying reads the whole trail) and says so.
struct chain_status {
    verify_result result;
    std::string verified_at;           // RFC 3339 UTC, seconds; "" when unknown
    std::int64_t age_seconds = 0;      // how long ago, when served
    std::int64_t max_age_seconds = 0;  // served from the cache for at most this long
};

// {"ok","detail","records","last_seq","last_hash"(null when broken),"first_broken_seq"(broken
// only),"verified_at","age_seconds","max_age_seconds"}
[[nodiscard]] boost::json::object chain_status_json(const chain_status& chain);

// {"records":[…],"next":"<seq>"|null,"matched":n,"newest_seq":n,"chain":{…}}
[[nodiscard]] std::string render_audit_page(const audit_page& page, const chain_status& chain);
// The same with a chain result of unknown time.
[[nodiscard]] std::string render_audit_page(const audit_page& page, const verify_result& chain);

}  // namespace exportwall::audit
