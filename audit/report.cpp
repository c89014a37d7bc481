#include "audit/report.hpp"

#include <algorithm>
#include <ctime>
#include <vector>

namespace exportwall::audit {

namespace {

void add_row(std::map<std::string, std::array<std::uint64_t, 4>>& table, const std::string& key,
             const record& r) {
    auto& row = table[key];
    row[0]++;
    if (r.decision == "blocked") row[1]++;
    if (r.decision == "aborted") row[2]++;
    if (r.decision == "would-block") row[3]++;
}

std::string num(std::uint64_t v) { return std::to_string(v); }

void table_html(std::string& out, const std::string& title, const std::string& column,
                const std::map<std::string, std::array<std::uint64_t, 4>>& rows) {
    out += "<h2>" + html_escape(title) + "</h2>\n<table><thead><tr><th>" + html_escape(column) +
           "</th><th>exports</th><th>blocked</th><th>aborted</th><th>would-block</th></tr>"
           "</thead><tbody>\n";
    for (const auto& [name, c] : rows) {
        out += "<tr><td>" + html_escape(name.empty() ? "(none)" : name) + "</td><td>" + num(c[0]) +
               "</td><td>" + num(c[1]) + "</td><td>" + num(c[2]) + "</td><td>" + num(c[3]) +
               "</td></tr>\n";
    }
    if (rows.empty()) out += "<tr><td colspan=\"5\">no records</td></tr>\n";
    out += "</tbody></table>\n";
}

// Stacked bars per day: blocked (dark) and aborted (light); would-block as a thin line marker.
std::string svg_chart(const trail_stats& s) {
    const auto& days = s.refusals_by_day;
    const std::size_t n = days.empty() ? 1 : days.size();
    std::uint64_t max = 1;
    for (const auto& [d, c] : days) max = std::max<std::uint64_t>(max, c[0] + c[1]);
    const double width = 720, height = 220, left = 48, bottom = 40, top = 10;
    const double plot_w = width - left - 10, plot_h = height - bottom - top;
    const double bar_w = plot_w / static_cast<double>(n);
    std::string out =
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"220\" "
        "role=\"img\" aria-label=\"blocked and aborted transfers per day\">\n";
    out += "<line x1=\"48\" y1=\"170\" x2=\"710\" y2=\"170\" stroke=\"#333\"/>\n";
    out += "<text x=\"4\" y=\"20\" font-size=\"11\">" + num(max) + "</text>\n";
    out += "<text x=\"4\" y=\"170\" font-size=\"11\">0</text>\n";
    std::size_t i = 0;
    for (const auto& [day, c] : days) {
        const double x = left + bar_w * static_cast<double>(i) + bar_w * 0.1;
        const double w = bar_w * 0.8;
        const double hb = plot_h * static_cast<double>(c[0]) / static_cast<double>(max);
        const double ha = plot_h * static_cast<double>(c[1]) / static_cast<double>(max);
        const double base = top + plot_h;
        char buf[512];
        std::snprintf(buf, sizeof buf,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#b22\">"
                      "<title>%s: %llu blocked</title></rect>\n"
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#e89\">"
                      "<title>%s: %llu aborted</title></rect>\n",
                      x, base - hb, w, hb, day.c_str(), static_cast<unsigned long long>(c[0]), x,
                      base - hb - ha, w, ha, day.c_str(), static_cast<unsigned long long>(c[1]));
        out += buf;
        if (n <= 31 || i % (n / 15 + 1) == 0) {
            std::snprintf(buf, sizeof buf,
                          "<text x=\"%.1f\" y=\"185\" font-size=\"9\" "
                          "transform=\"rotate(45 %.1f 185)\">%s</text>\n",
                          x, x, day.c_str());
            out += buf;
        }
        ++i;
    }
    if (days.empty()) out += "<text x=\"300\" y=\"100\">no refusals in this period</text>\n";
    out +=
        "<rect x=\"560\" y=\"8\" width=\"10\" height=\"10\" fill=\"#b22\"/>"
        "<text x=\"574\" y=\"17\" font-size=\"11\">blocked</text>"
        "<rect x=\"630\" y=\"8\" width=\"10\" height=\"10\" fill=\"#e89\"/>"
        "<text x=\"644\" y=\"17\" font-size=\"11\">aborted</text>\n</svg>\n";
    return out;
}

}  // namespace

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out.push_back(c);
        }
    }
    return out;
}

std::string reason_with_rule(const trail_stats& s, const std::string& reason) {
    const auto found = s.rules_by_reason.find(reason);
    if (found == s.rules_by_reason.end() || found->second.empty()) return reason;
    std::string out = reason;
    std::string_view separator = " (";
    for (const auto& id : found->second) {
        out += separator;
        out += id;
        separator = ", ";
    }
    return out + ")";
}

boost::system::error_code collect_stats(const std::string& log_path, const record_filter& filter,
                                        trail_stats& s) {
    s = trail_stats{};
    return for_each_record(log_path, filter, [&](const record& r) {
        // Record times are RFC 3339 UTC of one fixed shape: they order as strings.
        if (s.records == 0 || r.time < s.first_time) s.first_time = r.time;
        if (s.records == 0 || r.time > s.last_time) s.last_time = r.time;
        if (s.records == 0) s.first_seq = r.seq;
        s.records++;
        s.last_seq = r.seq;
        s.by_decision[r.decision]++;
        // A configuration load or a checkpoint is no export: counted by decision only.
        if (r.decision == "policy_loaded" || r.decision == "checkpoint") return true;
        s.by_client_purpose[{r.client, r.purpose, r.decision}]++;
        if (!r.reason.empty()) {
            s.by_reason[r.reason]++;
            auto& rules = s.rules_by_reason[r.reason];
            if (!r.rule_id.empty()) rules.insert(r.rule_id);
        }
        for (const auto& f : r.fields_stripped) s.stripped_fields[f]++;
        for (const auto& [f, n] : r.fields_transformed) s.transformed_fields[f] += n;
        for (const auto& [why, n] : r.records_dropped) s.dropped_by_reason[why] += n;
        add_row(s.by_client, r.client, r);
        add_row(s.by_purpose, r.purpose, r);
        add_row(s.by_destination, r.destination, r);
        if (!r.shadow_decision.empty()) {
            s.shadow_records++;
            s.shadow_pairs[{r.decision, r.shadow_decision}]++;
            const bool enforced_blocked = r.decision == "blocked";
            const bool candidate_blocked = r.shadow_decision == "blocked";
            if (enforced_blocked != candidate_blocked ||
                (!candidate_blocked && !r.shadow_fields_stripped.empty()) ||
                (enforced_blocked && candidate_blocked && r.reason != r.shadow_reason))
                s.shadow_differ++;
        }
        if (r.decision == "blocked" || r.decision == "aborted" || r.decision == "would-block") {
            auto& day = s.refusals_by_day[r.time.substr(0, 10)];
            day[r.decision == "blocked" ? 0 : r.decision == "aborted" ? 1 : 2]++;
        }
        return true;
    });
}

std::string render_html_report(const trail_stats& s, const verify_result& chain,
                               const std::string& log_path) {
    std::string out;
    out +=
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<title>exportwall audit evidence report</title>\n<style>\n"
        "body{font-family:sans-serif;margin:2em;max-width:60em;color:#222}\n"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}\n"
        "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left}\n"
        "td:not(:first-child){text-align:right}\n"
        ".ok{color:#161}.broken{color:#b11;font-weight:bold}\n"
        "</style></head><body>\n<h1>Audit evidence report</h1>\n";
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char generated[32];
    std::strftime(generated, sizeof generated, "%Y-%m-%dT%H:%M:%SZ", &tm);
    out += "<p>Audit trail: <code>" + html_escape(log_path) + "</code><br>Generated: " + generated +
           "<br>Period: " +
           (s.records ? html_escape(s.first_time) + " to " + html_escape(s.last_time)
                      : std::string("no records")) +
           "<br>Records: " + num(s.records) +
           (s.records ? " (seq " + num(s.first_seq) + " to " + num(s.last_seq) + ")" : "") +
           "</p>\n";
    out += "<h2>Integrity of the trail</h2>\n<p class=\"" +
           std::string(chain.ok ? "ok" : "broken") + "\">" + html_escape(chain.detail()) +
           "</p>\n<p>Every record carries the SHA-256 of its predecessor; editing, removing, "
           "reordering or truncating a record breaks the chain at that record.</p>\n";
    out +=
        "<h2>Decisions</h2>\n<table><thead><tr><th>decision</th><th>exports</th></tr></thead>"
        "<tbody>\n";
    for (const auto& [d, n] : s.by_decision)
        out += "<tr><td>" + html_escape(d) + "</td><td>" + num(n) + "</td></tr>\n";
    out += "</tbody></table>\n";
    if (s.shadow_records != 0) {
        out += "<h2>Candidate policy (shadow)</h2>\n<p>" + num(s.shadow_records) +
               " exports were decided by the candidate policy too; its decision differs for " +
               num(s.shadow_differ) +
               ". Only the enforced policy decided what left.</p>\n<table><thead><tr><th>enforced"
               "</th><th>candidate</th><th>exports</th></tr></thead><tbody>\n";
        for (const auto& [pair, n] : s.shadow_pairs)
            out += "<tr><td>" + html_escape(pair.first) + "</td><td>" + html_escape(pair.second) +
                   "</td><td>" + num(n) + "</td></tr>\n";
        out += "</tbody></table>\n";
    }
    out += "<h2>Blocked and aborted transfers over time</h2>\n";
    out += svg_chart(s);
    table_html(out, "By client", "client", s.by_client);
    table_html(out, "By purpose", "purpose", s.by_purpose);
    table_html(out, "By destination", "destination", s.by_destination);
    out +=
        "<h2>By reason</h2>\n<table><thead><tr><th>reason</th><th>exports</th></tr></thead>"
        "<tbody>\n";
    std::vector<std::pair<std::string, std::uint64_t>> reasons(s.by_reason.begin(),
                                                               s.by_reason.end());
    std::stable_sort(reasons.begin(), reasons.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& [reason, n] : reasons)
        out += "<tr><td>" + html_escape(reason_with_rule(s, reason)) + "</td><td>" + num(n) +
               "</td></tr>\n";
    if (reasons.empty()) out += "<tr><td colspan=\"2\">no refusals</td></tr>\n";
    out +=
        "</tbody></table>\n<h2>Records dropped inside allowed exports</h2>\n<table><thead><tr>"
        "<th>reason</th><th>records</th></tr></thead><tbody>\n";
    for (const auto& [reason, n] : s.dropped_by_reason)
        out += "<tr><td>" + html_escape(reason) + "</td><td>" + num(n) + "</td></tr>\n";
    if (s.dropped_by_reason.empty()) out += "<tr><td colspan=\"2\">none</td></tr>\n";
    out +=
        "</tbody></table>\n<h2>Fields stripped (data minimisation)</h2>\n<table><thead><tr>"
        "<th>field</th><th>exports</th></tr></thead><tbody>\n";
    for (const auto& [field, n] : s.stripped_fields)
        out += "<tr><td>" + html_escape(field) + "</td><td>" + num(n) + "</td></tr>\n";
    if (s.stripped_fields.empty()) out += "<tr><td colspan=\"2\">none</td></tr>\n";
    out +=
        "</tbody></table>\n<p>The trail holds no field values: names, counts and "
        "identifiers only.</p>\n</body></html>\n";
    return out;
}

}  // namespace exportwall::audit
