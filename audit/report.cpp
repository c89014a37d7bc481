#include "audit/report.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

#include <boost/json/parser.hpp>

#include "audit/serialize.hpp"
#include "common/markup_text.hpp"

namespace exportwall::audit {

namespace {

void add_row(std::map<std::string, std::array<std::uint64_t, 5>>& table, const std::string& key,
             const record& r) {
    auto& row = table[key];
    row[0]++;
    if (is_access_error(r.reason)) {
        row[4]++;
        return;
    }
    const auto d = decision_of(r);
    if (d == decision::blocked) row[1]++;
    if (d == decision::aborted) row[2]++;
    if (d == decision::would_block) row[3]++;
}

std::string num(std::uint64_t v) { return std::to_string(v); }

std::string fixed(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

void table_html(std::string& out, const std::string& title, const std::string& column,
                const std::map<std::string, std::array<std::uint64_t, 5>>& rows) {
    out += "<h2>" + common::html_escaped(title) + "</h2>\n<table class=\"counts\"><thead><tr><th>" +
           common::html_escaped(column) +
           "</th><th>records</th><th>blocked transfers</th><th>aborted</th><th>would-block</th>"
           "<th>access errors</th></tr></thead><tbody>\n";
    for (const auto& [name, c] : rows) {
        out += "<tr><td>" + common::html_escaped(name.empty() ? "(none)" : name) + "</td><td>" +
               num(c[0]) + "</td><td>" + num(c[1]) + "</td><td>" + num(c[2]) + "</td><td>" +
               num(c[3]) + "</td><td>" + num(c[4]) + "</td></tr>\n";
    }
    if (rows.empty()) out += "<tr><td colspan=\"6\">no records</td></tr>\n";
    out += "</tbody></table>\n";
}

// Days as "YYYY-MM-DD" from Unix epoch milliseconds, and back.
std::string day_of(std::int64_t ms) {
    const auto t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

// The chart's x axis: every day from the first to the last blocked transfer, or every month
// when that spans more than 92 days (a bar per day would be thinner than a pixel in print).
std::vector<std::string> chart_buckets(const trail_stats& s, bool& monthly) {
    std::vector<std::string> out;
    monthly = false;
    if (s.refusals_by_day_reason.empty()) return out;
    const auto first = parse_rfc3339(s.refusals_by_day_reason.begin()->first);
    const auto last = parse_rfc3339(s.refusals_by_day_reason.rbegin()->first);
    if (!first || !last) {  // not a date: list the keys as they are
        for (const auto& [day, counts] : s.refusals_by_day_reason) out.push_back(day);
        return out;
    }
    constexpr std::int64_t day_ms = 86400000;
    monthly = (*last - *first) / day_ms > 92;
    for (std::int64_t t = *first; t <= *last; t += day_ms) {
        std::string key = day_of(t);
        if (monthly) key.resize(7);
        if (out.empty() || out.back() != key) out.push_back(std::move(key));
    }
    return out;
}

// Fill colours of the chart's categories: distinct hues on the golden angle, darker every other
// turn, so neighbours in the legend never look alike.
std::string category_colour(std::size_t i) {
    static constexpr const char* palette[] = {"#b2182b", "#2166ac", "#e08214", "#1b7837",
                                              "#762a83", "#8c510a", "#01665e", "#c51b7d",
                                              "#4d4d4d", "#7f3b08"};
    constexpr std::size_t n = sizeof palette / sizeof palette[0];
    if (i < n) return palette[i];
    const auto hue = static_cast<double>((i * 137) % 360);
    const int light = (i / n) % 2 == 0 ? 38 : 55;
    char buf[48];
    std::snprintf(buf, sizeof buf, "hsl(%.0f,65%%,%d%%)", hue, light);
    return buf;
}

// The advance width of a character in em, a little above DejaVu Sans' (the widest of the common
// sans-serif faces): the legend's layout is computed here, without the reader's fonts.
double char_em(unsigned char c) {
    if ((c & 0xC0) == 0x80) return 0;  // a continuation byte: its character is counted once
    if (c >= 0xC0) return 1.0;         // the first byte of another script's character
    const auto in = [c](std::string_view set) {
        return set.find(static_cast<char>(c)) != std::string_view::npos;
    };
    if (in("ilj!|.,:;'")) return 0.3;
    if (in("ftrI -()")) return 0.42;
    if (in("mw")) return 0.98;
    if (in("MW")) return 1.0;
    if (c == '_') return 0.5;
    if (c >= 'A' && c <= 'Z') return 0.75;
    return 0.64;  // digits, the other lower-case letters and punctuation
}

double text_em(std::string_view s) {
    double w = 0;
    for (const char c : s) w += char_em(static_cast<unsigned char>(c));
    return w;
}

// A legend label no wider than `max_em`: a long name ends in an ellipsis (the full name is in
// the entry's <title>), cut between characters, never inside one.
std::string legend_label(const std::string& name, double max_em) {
    if (text_em(name) <= max_em) return name;
    constexpr std::string_view ellipsis = "\xE2\x80\xA6";  // …
    const double room = max_em - 1.0;                      // the ellipsis, generously
    std::string out;
    double w = 0;
    for (std::size_t i = 0; i < name.size();) {
        std::size_t len = 1;
        while (i + len < name.size() && (static_cast<unsigned char>(name[i + len]) & 0xC0) == 0x80)
            ++len;
        const double cw = text_em(std::string_view(name).substr(i, len));
        if (w + cw > room) break;
        out.append(name, i, len);
        w += cw;
        i += len;
    }
    return out + std::string(ellipsis);
}

}  // namespace

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

namespace {

bool fold_record(trail_stats& s, const record& r) {
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
    if (is_access_error(r.reason)) {
        s.access_errors++;
        s.access_errors_by_reason[r.reason]++;
        s.access_error_statuses[r.reason].insert(r.status);
        return true;
    }
    const auto d = decision_of(r);
    if (d == decision::blocked || d == decision::aborted || d == decision::would_block) {
        auto& day = s.refusals_by_day[r.time.substr(0, 10)];
        day[d == decision::blocked ? 0 : d == decision::aborted ? 1 : 2]++;
    }
    if (r.decision == "blocked" || r.decision == "would-block") {
        s.refusals_total++;
        s.refusals_by_day_reason[r.time.substr(0, 10)][r.reason]++;
        if (s.refusals.size() < max_listed_refusals) {
            listed_refusal l;
            l.seq = r.seq;
            l.id = r.id;
            l.time = r.time;
            l.decision = r.decision;
            l.client = r.client;
            l.purpose = r.purpose;
            l.destination = r.destination;
            l.destination_kind = r.destination_kind;
            l.reason = r.reason;
            l.rule_id = r.rule_id;
            l.legal_reference = r.legal_reference;
            l.status = r.status;
            s.refusals.push_back(std::move(l));
        }
    }
    return true;
}

}  // namespace

boost::system::error_code collect_stats(const std::string& log_path, const record_filter& filter,
                                        trail_stats& s) {
    s = trail_stats{};
    return for_each_record(log_path, filter, [&](const record& r) { return fold_record(s, r); });
}

boost::system::error_code collect_stats(const std::string& log_path, const audit_query& query,
                                        trail_stats& s) {
    s = trail_stats{};
    return for_each_record(log_path, query.filter,
                           [&](const record& r) { return !query.matches(r) || fold_record(s, r); });
}

report_anchor anchor_trail(const std::string& log_path, const checkpoint_keys& keys) {
    report_anchor a;
    if (!keys.empty()) {
        const auto v = verify_signed(log_path, keys);
        a.chain = v.chain;
        a.signatures_checked = true;
        a.signatures_ok = v.ok;
        a.errors = v.errors;
        a.checkpoints = v.checkpoints;
        if (v.checkpoints > 0) {
            a.checkpoint_found = true;
            a.signed_seq = v.last_signed_seq;
            a.signed_hash = v.last_signed_hash;
            a.checkpoint_record_seq = v.last_signed_seq + 1;  // it signs the record before it
        }
        return a;
    }
    std::vector<std::string> lines;
    a.chain = verify_chain(log_path, false, &lines);
    a.checkpoints = lines.size();
    boost::json::parser parser;
    record r;
    // The last one that is a well-formed checkpoint (verify_signed judges the others).
    // NOLINTNEXTLINE(modernize-loop-convert): clang-tidy 14 cannot parse std::views::reverse here
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
        if (parse_line(*it, parser, r) || decision_of(r) != decision::checkpoint) continue;
        a.checkpoint_found = true;
        a.checkpoint_record_seq = r.seq;
        a.signed_seq = r.checkpoint_seq;
        a.signed_hash = r.checkpoint_hash;
        a.key_id = r.checkpoint_key_id;
        break;
    }
    return a;
}

std::string refusals_chart_svg(const trail_stats& s) {
    // Categories: the reasons, most frequent first (their legend order and stacking order).
    std::map<std::string, std::uint64_t> totals;
    for (const auto& [day, by_reason] : s.refusals_by_day_reason)
        for (const auto& [reason, n] : by_reason) totals[reason] += n;
    std::vector<std::pair<std::string, std::uint64_t>> categories(totals.begin(), totals.end());
    std::stable_sort(categories.begin(), categories.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    bool monthly = false;
    const auto buckets = chart_buckets(s, monthly);
    // bucket -> reason -> count
    std::map<std::string, std::map<std::string, std::uint64_t>> stacked;
    for (const auto& [day, by_reason] : s.refusals_by_day_reason) {
        auto& b = stacked[monthly ? day.substr(0, 7) : day];
        for (const auto& [reason, n] : by_reason) b[reason] += n;
    }
    std::uint64_t max = 1;
    for (const auto& [bucket, by_reason] : stacked) {
        std::uint64_t sum = 0;
        for (const auto& [reason, n] : by_reason) sum += n;
        max = std::max(max, sum);
    }

    // Geometry (user units of the viewBox). The legend starts below the rotated axis labels, so
    // no legend entry can cover a bar whatever the names; its rows wrap within the width. The
    // reader's fonts are unknown here: each label's width is estimated (char_em) and imposed
    // with textLength, so an entry takes exactly the room it was given in any font.
    constexpr double width = 720, left = 44, right = 12, top = 14, plot_h = 170;
    constexpr double label_band = 62;  // rotated date labels under the axis
    constexpr double font = 11, swatch = 10, row_h = 17, gap = 16;
    const double plot_w = width - left - right;
    const double base = top + plot_h;
    const double legend_top = base + label_band;
    const double max_em = (width - left - right - swatch - 6) / font;
    struct entry {
        double x, y, text_w;
        std::string label, full, colour;
    };
    std::vector<entry> legend;
    double x = left, y = legend_top;
    for (std::size_t i = 0; i < categories.size(); ++i) {
        const std::string full =
            reason_with_rule(s, categories[i].first) + ": " + num(categories[i].second);
        std::string label = legend_label(full, max_em);
        const double text_w = text_em(label) * font;
        const double w = swatch + 6 + text_w;
        if (x > left && x + w > width - right) {
            x = left;
            y += row_h;
        }
        legend.push_back({x, y, text_w, std::move(label), full, category_colour(i)});
        x += w + gap;
    }
    const double height = categories.empty() ? base + label_band : y + row_h + 4;

    std::string out =
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"refusals-chart\" "
        "viewBox=\"0 0 720 " +
        fixed(height) + "\" width=\"720\" height=\"" + fixed(height) +
        "\" role=\"img\" aria-label=\"blocked transfers per " +
        std::string(monthly ? "month" : "day") + ", by reason\">\n";
    // Axis and scale: 0, half and the maximum.
    std::vector<std::uint64_t> ticks{0, max / 2, max};
    ticks.erase(std::unique(ticks.begin(), ticks.end()), ticks.end());
    for (const std::uint64_t tick : ticks) {
        const double ty = base - plot_h * static_cast<double>(tick) / static_cast<double>(max);
        out += "<line class=\"grid\" x1=\"" + fixed(left) + "\" y1=\"" + fixed(ty) + "\" x2=\"" +
               fixed(width - right) + "\" y2=\"" + fixed(ty) + "\" stroke=\"" +
               (tick == 0 ? "#333" : "#ddd") + "\"/>\n";
        out += "<text class=\"tick\" x=\"" + fixed(left - 4) + "\" y=\"" + fixed(ty + 4) +
               "\" font-size=\"10\" text-anchor=\"end\">" + num(tick) + "</text>\n";
    }
    const std::size_t n = std::max<std::size_t>(buckets.size(), 1);
    const double slot = plot_w / static_cast<double>(n);
    const std::size_t label_every = n <= 31 ? 1 : n / 24 + 1;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        const double bx = left + slot * static_cast<double>(i) + slot * 0.12;
        const double bw = std::max(slot * 0.76, 0.5);
        double stack = base;
        const auto found = stacked.find(buckets[i]);
        for (std::size_t c = 0; found != stacked.end() && c < categories.size(); ++c) {
            const auto k = found->second.find(categories[c].first);
            if (k == found->second.end() || k->second == 0) continue;
            const double h = plot_h * static_cast<double>(k->second) / static_cast<double>(max);
            stack -= h;
            out += "<rect class=\"bar\" x=\"" + fixed(bx) + "\" y=\"" + fixed(stack) +
                   "\" width=\"" + fixed(bw) + "\" height=\"" + fixed(h) + "\" fill=\"" +
                   category_colour(c) + "\"><title>" + common::html_escaped(buckets[i]) + ": " +
                   num(k->second) + " " +
                   common::html_escaped(reason_with_rule(s, categories[c].first)) +
                   "</title></rect>\n";
        }
        if (i % label_every == 0) {
            const double lx = bx + bw / 2;
            out += "<text class=\"axis-label\" x=\"" + fixed(lx) + "\" y=\"" + fixed(base + 12) +
                   "\" font-size=\"9\" text-anchor=\"end\" transform=\"rotate(-45 " + fixed(lx) +
                   " " + fixed(base + 12) + ")\">" + common::html_escaped(buckets[i]) + "</text>\n";
        }
    }
    if (categories.empty())
        out += "<text x=\"" + fixed(width / 2) + "\" y=\"" + fixed(top + plot_h / 2) +
               "\" text-anchor=\"middle\" font-size=\"12\">no blocked transfers in this "
               "period</text>\n";
    for (const auto& e : legend) {
        out += "<g class=\"legend-item\"><title>" + common::html_escaped(e.full) +
               "</title><rect x=\"" + fixed(e.x) + "\" y=\"" + fixed(e.y) +
               "\" width=\"10\" height=\"10\" fill=\"" + e.colour + "\"/><text x=\"" +
               fixed(e.x + swatch + 6) + "\" y=\"" + fixed(e.y + 9.5) +
               "\" font-size=\"11\" textLength=\"" + fixed(e.text_w) +
               "\" lengthAdjust=\"spacing\">" + common::html_escaped(e.label) + "</text></g>\n";
    }
    out += "</svg>\n";
    return out;
}

namespace {

// The document's head and style sheet, then the page's title.
void head_html(std::string& out) {
    out +=
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>exportwall audit evidence report</title>\n<style>\n"
        "@page{size:A4;margin:14mm 12mm}\n"
        "body{font-family:sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222;"
        "line-height:1.35}\n"
        "h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.4em 0 .4em}\n"
        "table{border-collapse:collapse;margin:.4em 0 1.2em;max-width:100%}\n"
        "th,td{border:1px solid #bbb;padding:.2em .5em;text-align:left;vertical-align:top;"
        "overflow-wrap:anywhere}\n"
        "table.counts td:not(:first-child){text-align:right}\n"
        "table.refusals{width:100%;font-size:.85em}\n"
        "code,.id{font-family:monospace;word-break:break-all}\n"
        "dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.5em "
        "0}\n"
        "dl.summary dt{font-weight:bold}dl.summary dd{margin:0}\n"
        ".ok{color:#161}.broken{color:#b11;font-weight:bold}\n"
        ".note{color:#555;font-size:.9em}\n"
        "svg.chart{max-width:100%;height:auto;display:block}\n"
        "@media print{body{margin:0;max-width:none;padding:0;font-size:9pt}"
        "h2{break-after:avoid}tr,svg.chart,dl.summary{break-inside:avoid}"
        "thead{display:table-header-group}}\n"
        "</style></head><body>\n<h1>Audit evidence report</h1>\n";
}

// What the report covers: the trail, when it was generated, the period and the totals.
void summary_html(std::string& out, const trail_stats& s, const std::string& log_path,
                  std::string_view scope) {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char generated[32];
    std::strftime(generated, sizeof generated, "%Y-%m-%dT%H:%M:%SZ", &tm);

    out +=
        "<dl class=\"summary\" id=\"summary\">\n<dt>Audit trail</dt><dd><code>" +
        common::html_escaped(log_path) + "</code></dd>\n<dt>Generated</dt><dd>" + generated +
        " (UTC)</dd>\n" +
        (scope.empty()
             ? std::string()
             : "<dt>Covers</dt><dd id=\"scope\">" + common::html_escaped(scope) + "</dd>\n") +
        "<dt>Period</dt><dd>" +
        (s.records ? common::html_escaped(s.first_time) + " to " + common::html_escaped(s.last_time)
                   : std::string("no records")) +
        "</dd>\n<dt>Records</dt><dd>" + num(s.records) +
        (s.records ? " (seq " + num(s.first_seq) + " to " + num(s.last_seq) + ")" : "") +
        "</dd>\n<dt>Blocked transfers</dt><dd id=\"blocked-total\">" + num(s.refusals_total) +
        "</dd>\n<dt>Access errors</dt><dd>" + num(s.access_errors) +
        " (401, 404, 400…: no export was declared and decided; not blocked transfers)</dd>\n"
        "</dl>\n";
}

// The chain's verdict, the hashes to keep elsewhere and the last signed checkpoint.
void integrity_html(std::string& out, const report_anchor& a) {
    const verify_result& chain = a.chain;
    out += "<h2>Integrity of the trail</h2>\n<p class=\"" +
           std::string(chain.ok ? "ok" : "broken") + "\" id=\"chain\">" +
           common::html_escaped(chain.detail()) + "</p>\n<dl class=\"summary\" id=\"anchor\">\n";
    if (chain.ok && !chain.last_hash.empty()) {
        out += "<dt>Last hash</dt><dd>seq " + num(chain.last_seq) + ": <code id=\"last-hash\">" +
               common::html_escaped(chain.last_hash) + "</code></dd>\n";
    } else {
        out += "<dt>Last hash</dt><dd>none: the chain does not verify</dd>\n";
    }
    out += "<dt>Last signed checkpoint</dt><dd id=\"checkpoint\">";
    if (a.checkpoint_found) {
        out += "record seq " + num(a.checkpoint_record_seq) + " signs seq " + num(a.signed_seq) +
               ", hash <code id=\"signed-hash\">" + common::html_escaped(a.signed_hash) + "</code>";
        if (!a.key_id.empty()) out += ", key " + common::html_escaped(a.key_id);
        if (a.signatures_checked)
            out += a.signatures_ok ? "; every checkpoint's signature verified with the public "
                                     "key given"
                                   : "; <span class=\"broken\">not every checkpoint verified"
                                     "</span>";
        else
            out +=
                "; signature not checked here (exportwall audit verify --public-key, or "
                "audit report --public-key)";
    } else if (a.signatures_checked) {
        out += "<span class=\"broken\">none verified</span>";
    } else {
        out += "none in the trail (no &lt;audit signing-key-file&gt;)";
    }
    out += "</dd>\n";
    if (a.signatures_checked && a.checkpoint_found && chain.ok)
        out += "<dt>Not yet signed</dt><dd>" + num(chain.last_seq - a.checkpoint_record_seq) +
               " records after the last checkpoint</dd>\n";
    out += "</dl>\n";
    for (const auto& e : a.errors)
        out += "<p class=\"broken\">" + common::html_escaped(e) + "</p>\n";
    out +=
        "<p class=\"note\">Every record carries the SHA-256 of its predecessor; editing, "
        "removing, reordering or truncating a record breaks the chain at that record. Keep the "
        "last hash (or the last signed one) elsewhere: a later verification must find it "
        "again.</p>\n";
}

// Records per decision, then the chart of blocked transfers per day (or month) by reason.
void decisions_html(std::string& out, const trail_stats& s) {
    out +=
        "<h2>Decisions</h2>\n<table class=\"counts\"><thead><tr><th>decision</th><th>records"
        "</th></tr></thead><tbody>\n";
    for (const auto& [d, n] : s.by_decision)
        out += "<tr><td>" + common::html_escaped(d) + "</td><td>" + num(n) + "</td></tr>\n";
    if (s.by_decision.empty()) out += "<tr><td colspan=\"2\">no records</td></tr>\n";
    out += "</tbody></table>\n";
    if (s.access_errors != 0)
        out += "<p class=\"note\">Of the blocked records, " + num(s.access_errors) +
               " are access errors (listed apart below), not blocked transfers.</p>\n";

    bool monthly = false;
    (void)chart_buckets(s, monthly);
    out += std::string("<h2>Blocked transfers per ") + (monthly ? "month" : "day") +
           ", by reason</h2>\n";
    out += refusals_chart_svg(s);
}

// The blocked transfers one by one (the first ones of a long period).
void refusals_html(std::string& out, const trail_stats& s) {
    out += "<h2>Blocked transfers</h2>\n";
    if (s.refusals.empty()) {
        out += "<p id=\"refusals-none\">No blocked transfer in this period.</p>\n";
    } else {
        out +=
            "<table class=\"refusals\" id=\"refusals\"><thead><tr><th>time (UTC)</th><th>audit "
            "id</th><th>client</th><th>purpose</th><th>destination</th><th>reason</th>"
            "<th>rule and article</th></tr></thead><tbody>\n";
        for (const auto& r : s.refusals) {
            std::string destination =
                common::html_escaped(r.destination.empty() ? "-" : r.destination);
            if (!r.destination_kind.empty())
                destination += " (" + common::html_escaped(r.destination_kind) + ")";
            std::string rule =
                r.rule_id.empty() ? std::string("-") : common::html_escaped(r.rule_id);
            if (!r.legal_reference.empty()) rule += ": " + common::html_escaped(r.legal_reference);
            out += "<tr><td>" + common::html_escaped(r.time) + "</td><td class=\"id\">" +
                   common::html_escaped(r.id) + "</td><td>" +
                   common::html_escaped(r.client.empty() ? "-" : r.client) + "</td><td>" +
                   common::html_escaped(r.purpose.empty() ? "-" : r.purpose) + "</td><td>" +
                   destination;
            out += "</td><td>" + common::html_escaped(r.reason);
            if (parse_decision(r.decision) == decision::would_block)
                out += " (would-block: not enforced)";
            out += "</td><td>" + rule + "</td></tr>\n";
        }
        out += "</tbody></table>\n";
        if (s.refusals_total > s.refusals.size())
            out += "<p class=\"note\" id=\"refusals-more\">The first " + num(s.refusals.size()) +
                   " of " + num(s.refusals_total) +
                   " blocked transfers are listed; a shorter period (--since, --until) lists the "
                   "rest.</p>\n";
    }
}

// Requests refused before an export was decided, by reason with their statuses.
void access_errors_html(std::string& out, const trail_stats& s) {
    out +=
        "<h2>Access errors (not transfers)</h2>\n<p class=\"note\">Requests refused before an "
        "export was declared and decided: no credentials, no route, malformed HTTP or "
        "declaration.</p>\n<table class=\"counts\" id=\"access-errors\"><thead><tr><th>reason"
        "</th><th>status</th><th>requests</th></tr></thead><tbody>\n";
    for (const auto& [reason, n] : s.access_errors_by_reason) {
        std::string statuses;
        const auto st = s.access_error_statuses.find(reason);
        if (st != s.access_error_statuses.end())
            for (const int code : st->second)
                statuses += (statuses.empty() ? "" : ", ") + std::to_string(code);
        out += "<tr><td>" + common::html_escaped(reason) + "</td><td>" + statuses + "</td><td>" +
               num(n) + "</td></tr>\n";
    }
    if (s.access_errors_by_reason.empty()) out += "<tr><td colspan=\"3\">none</td></tr>\n";
    out += "</tbody></table>\n";
}

// The candidate policy's decisions beside the enforced ones, when a <shadow> decided some.
void shadow_html(std::string& out, const trail_stats& s) {
    if (s.shadow_records != 0) {
        out += "<h2>Candidate policy (shadow)</h2>\n<p>" + num(s.shadow_records) +
               " exports were decided by the candidate policy too; its decision differs for " +
               num(s.shadow_differ) +
               ". Only the enforced policy decided what left.</p>\n<table class=\"counts\">"
               "<thead><tr><th>enforced</th><th>candidate</th><th>exports</th></tr></thead>"
               "<tbody>\n";
        for (const auto& [pair, n] : s.shadow_pairs)
            out += "<tr><td>" + common::html_escaped(pair.first) + "</td><td>" +
                   common::html_escaped(pair.second) + "</td><td>" + num(n) + "</td></tr>\n";
        out += "</tbody></table>\n";
    }
}

// Counts by client, purpose, destination and reason; records dropped and fields stripped.
void breakdowns_html(std::string& out, const trail_stats& s) {
    table_html(out, "By client", "client", s.by_client);
    table_html(out, "By purpose", "purpose", s.by_purpose);
    table_html(out, "By destination", "destination", s.by_destination);
    out +=
        "<h2>By reason</h2>\n<table class=\"counts\"><thead><tr><th>reason</th><th>records</th>"
        "</tr></thead><tbody>\n";
    std::vector<std::pair<std::string, std::uint64_t>> reasons(s.by_reason.begin(),
                                                               s.by_reason.end());
    std::stable_sort(reasons.begin(), reasons.end(),
                     [](const auto& x, const auto& y) { return x.second > y.second; });
    for (const auto& [reason, n] : reasons)
        out += "<tr><td>" + common::html_escaped(reason_with_rule(s, reason)) + "</td><td>" +
               num(n) + "</td></tr>\n";
    if (reasons.empty()) out += "<tr><td colspan=\"2\">no refusals</td></tr>\n";
    out +=
        "</tbody></table>\n<h2>Records dropped inside allowed exports</h2>\n<table "
        "class=\"counts\"><thead><tr><th>reason</th><th>records</th></tr></thead><tbody>\n";
    for (const auto& [reason, n] : s.dropped_by_reason)
        out += "<tr><td>" + common::html_escaped(reason) + "</td><td>" + num(n) + "</td></tr>\n";
    if (s.dropped_by_reason.empty()) out += "<tr><td colspan=\"2\">none</td></tr>\n";
    out +=
        "</tbody></table>\n<h2>Fields stripped (data minimisation)</h2>\n<table "
        "class=\"counts\"><thead><tr><th>field</th><th>exports</th></tr></thead><tbody>\n";
    for (const auto& [field, n] : s.stripped_fields)
        out += "<tr><td>" + common::html_escaped(field) + "</td><td>" + num(n) + "</td></tr>\n";
    if (s.stripped_fields.empty()) out += "<tr><td colspan=\"2\">none</td></tr>\n";
    out +=
        "</tbody></table>\n<p class=\"note\">The trail holds no field values: names, counts and "
        "identifiers only.</p>\n</body></html>\n";
}

}  // namespace

std::string render_html_report(const trail_stats& s, const report_anchor& anchor,
                               const std::string& log_path, std::string_view scope) {
    std::string out;
    head_html(out);
    summary_html(out, s, log_path, scope);
    integrity_html(out, anchor);
    decisions_html(out, s);
    refusals_html(out, s);
    access_errors_html(out, s);
    shadow_html(out, s);
    breakdowns_html(out, s);
    return out;
}

std::string render_html_report(const trail_stats& s, const verify_result& chain,
                               const std::string& log_path) {
    report_anchor a;
    a.chain = chain;
    return render_html_report(s, a, log_path);
}

}  // namespace exportwall::audit
