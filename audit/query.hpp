#pragma once
// /admin/audit for the admin listener: the CLI's filters from URL query parameters, and the JSON
// page {"records":[…],"next":…,"chain":{"ok":…,"detail":…}}. The proxy owns HTTP; these are
// plain functions over the trail's files.

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

struct audit_query {
    record_filter filter;
    std::size_t limit = 100;              // at most max_limit
    std::optional<std::uint64_t> cursor;  // continue after this seq (in the page's order)
    std::size_t offset = 0;               // skip this many matching records first
    bool newest_first = true;             // order=desc (default) | asc
    static constexpr std::size_t max_limit = 1000;
};

// Parses "decision=blocked,aborted&client=erp&since=2026-11-01T00:00:00Z&limit=50&cursor=120".
// Parameters: decision, reason, client, purpose, destination (comma-separated lists), since,
// until (RFC 3339), limit, cursor, offset, order. Percent-decoding and '+' as space apply.
// Unknown parameters or malformed values: nullopt and `error` says which parameter (not its value).
[[nodiscard]] std::optional<audit_query> parse_audit_query(std::string_view query_string,
                                                           std::string& error);

struct audit_page {
    std::vector<record> records;
    std::optional<std::uint64_t> next;  // the cursor for the next page, if there is one
};

// Reads one page of matching records from the trail at `log_path`.
[[nodiscard]] boost::system::error_code read_audit_page(const std::string& log_path,
                                                        const audit_query& query, audit_page& out);

// The record as a JSON object with the §3 field names ("rule_id" and "legal_reference" after
// "reason" only when the record names a rule; "fields_transformed" and "transform_failed" after
// "fields_stripped" only when not empty; as in the line).
[[nodiscard]] boost::json::object record_to_json(const record& r);

// {"records":[…],"next":"<seq>"|null,"chain":{"ok":bool,"detail":"…"}}
[[nodiscard]] std::string render_audit_page(const audit_page& page, const verify_result& chain);

}  // namespace exportwall::audit
