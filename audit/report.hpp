#pragma once
// Aggregates over the audit trail for `audit stats` and the DPO's HTML evidence report.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <boost/system/error_code.hpp>

#include "audit/checkpoint.hpp"
#include "audit/query.hpp"
#include "audit/reader.hpp"

namespace exportwall::audit {

// One blocked transfer as the report lists it: when, which record, who, for what, to whom, why.
struct listed_refusal {
    std::uint64_t seq = 0;
    std::string id, time, decision, client, purpose, destination, destination_kind, reason, rule_id,
        legal_reference;
    int status = 0;
};

// The report lists at most this many blocked transfers (the first of the period) and says how
// many more there are: memory stays bounded on any trail, and a narrower --since/--until lists
// the rest.
inline constexpr std::size_t max_listed_refusals = 2000;

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
    // name -> {records, blocked transfers, aborted, would-block, access errors}: "blocked"
    // leaves out the access errors (is_access_error), which have their own column.
    std::map<std::string, std::array<std::uint64_t, 5>> by_client, by_purpose, by_destination;
    // UTC day "YYYY-MM-DD" -> {blocked, aborted, would-block} (access errors left out)
    std::map<std::string, std::array<std::uint64_t, 3>> refusals_by_day;
    // The blocked transfers (decision blocked or would-block, no access error): the first
    // max_listed_refusals of them, how many there are, and per UTC day and reason (the chart).
    std::vector<listed_refusal> refusals;
    std::uint64_t refusals_total = 0;
    std::map<std::string, std::map<std::string, std::uint64_t>> refusals_by_day_reason;
    // Access errors (401, 404, 400…: no export was declared and decided) by reason, and their
    // HTTP statuses.
    std::uint64_t access_errors = 0;
    std::map<std::string, std::uint64_t> access_errors_by_reason;
    std::map<std::string, std::set<int>> access_error_statuses;
    // Records decided by a candidate policy too (<shadow>): (enforced decision, candidate's
    // decision) -> records, and the records where the two differ (a refusal on one side only, or
    // fields the candidate would strip that the enforced export delivered).
    std::map<std::pair<std::string, std::string>, std::uint64_t> shadow_pairs;
    std::uint64_t shadow_records = 0;
    std::uint64_t shadow_differ = 0;
};

// Folds every record matching `filter` into `s` (reset first).
[[nodiscard]] boost::system::error_code collect_stats(const std::string& log_path,
                                                      const record_filter& filter, trail_stats& s);
// The same for an admin query (its patterns and category too; paging is ignored).
[[nodiscard]] boost::system::error_code collect_stats(const std::string& log_path,
                                                      const audit_query& query, trail_stats& s);

// What anchors the report: the chain's head, and the trail's last signed checkpoint.
struct report_anchor {
    verify_result chain;
    bool checkpoint_found = false;            // the trail holds a checkpoint record
    std::uint64_t checkpoint_record_seq = 0;  // the checkpoint record itself
    std::uint64_t signed_seq = 0;             // the head it signs
    std::string signed_hash, key_id;
    std::uint64_t checkpoints = 0;  // checkpoint records in the trail
    // With public keys: every checkpoint verified (the last one above is then a verified one);
    // without: signatures not checked.
    bool signatures_checked = false;
    bool signatures_ok = false;
    std::vector<std::string> errors;  // what did not verify, one sentence each
};

// Verifies the chain at `log_path` and finds its last checkpoint; with `keys` not empty, checks
// every checkpoint's signature (verify_signed) and reports the last verified one.
[[nodiscard]] report_anchor anchor_trail(const std::string& log_path, const checkpoint_keys& keys);

// A self-contained HTML document (inline CSS and SVG, no scripts, no external assets, print CSS
// for A4): the period, the chain's integrity with its last hash and last signed checkpoint,
// counts by decision, blocked transfers per day by reason (SVG; the legend sits below the bars
// and wraps, so it never covers one), every blocked transfer (up to max_listed_refusals: time,
// audit id, client, purpose, destination, reason, rule and article), the access errors apart,
// tables by client, purpose, destination and reason, dropped records and stripped fields.
// `scope` says which records it covers ("all records", the filters), HTML-escaped here.
[[nodiscard]] std::string render_html_report(const trail_stats& stats, const report_anchor& anchor,
                                             const std::string& log_path,
                                             std::string_view scope = {});
// The same with a chain result alone (no checkpoint looked for).
[[nodiscard]] std::string render_html_report(const trail_stats& stats, const verify_result& chain,
                                             const std::string& log_path);

// The chart of the report alone: blocked transfers per day (per month beyond 92 days) stacked by
// reason, the legend below the axis in rows. Bars are `rect class="bar"`, legend entries
// `g class="legend-item"`.
[[nodiscard]] std::string refusals_chart_svg(const trail_stats& stats);

// A reason as `audit stats` and the report list it: "third_party_direct_marketing (R10)", the
// reason alone when its records name no rule.
[[nodiscard]] std::string reason_with_rule(const trail_stats& stats, const std::string& reason);

}  // namespace exportwall::audit
