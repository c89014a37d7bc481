#pragma once
// Aggregates over the audit trail for `audit stats` and the DPO's HTML evidence report.

#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include <boost/system/error_code.hpp>

#include "audit/reader.hpp"

namespace exportwall::audit {

struct trail_stats {
    std::uint64_t records = 0;
    std::string first_time, last_time;  // the period covered (earliest, latest record time)
    std::uint64_t first_seq = 0, last_seq = 0;
    // (client, purpose, decision) -> records. This and every breakdown below leave out the
    // records that are no export nor alert (policy_loaded, checkpoint): they count in `records`
    // and `by_decision` only.
    std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> by_client_purpose;
    std::map<std::string, std::uint64_t> by_decision;
    std::map<std::string, std::uint64_t> by_reason;           // non-empty reasons only
    std::map<std::string, std::uint64_t> stripped_fields;     // field name -> exports it left
    std::map<std::string, std::uint64_t> transformed_fields;  // field name -> values, summed
    std::map<std::string, std::uint64_t> dropped_by_reason;   // records dropped, summed
    // reason -> the rule ids its records name (as the proxy wrote them; empty for none)
    std::map<std::string, std::set<std::string>> rules_by_reason;
    // name -> {records, blocked, aborted, would-block}
    std::map<std::string, std::array<std::uint64_t, 4>> by_client, by_purpose, by_destination;
    // UTC day "YYYY-MM-DD" -> {blocked, aborted, would-block}
    std::map<std::string, std::array<std::uint64_t, 3>> refusals_by_day;
    // Records decided by a candidate policy too (<shadow>): (enforced decision, candidate's
    // decision) -> records, and the records where the two differ (a refusal on one side only, or
    // fields the candidate would strip that the enforced export delivered).
    std::map<std::pair<std::string, std::string>, std::uint64_t> shadow_pairs;
    std::uint64_t shadow_records = 0;
    std::uint64_t shadow_differ = 0;
};

// Folds every record matching `filter` into `out`.
[[nodiscard]] boost::system::error_code collect_stats(const std::string& log_path,
                                                      const record_filter& filter,
                                                      trail_stats& out);

// A self-contained HTML document (inline CSS and SVG, no scripts, no external assets): period,
// blocked and aborted transfers over time, tables by client, purpose, destination and reason,
// and the chain verification result.
[[nodiscard]] std::string render_html_report(const trail_stats& stats, const verify_result& chain,
                                             const std::string& log_path);

// A reason as `audit stats` and the report list it: "third_party_direct_marketing (R10)", the
// reason alone when its records name no rule.
[[nodiscard]] std::string reason_with_rule(const trail_stats& stats, const std::string& reason);

// Escapes &, <, >, " and ' for HTML text and attribute values.
[[nodiscard]] std::string html_escape(std::string_view s);

}  // namespace exportwall::audit
