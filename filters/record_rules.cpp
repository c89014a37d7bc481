#include "filters/record_rules.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "common/ascii.hpp"
#include "common/equal_bytes.hpp"

namespace exportwall::filters {
namespace {

bool one_of(std::string_view v, std::initializer_list<std::string_view> words) {
    return std::any_of(words.begin(), words.end(),
                       [v](std::string_view w) { return common::iequals_ascii(v, w); });
}

// A value, never an optional: evaluate() asks only of a value the record holds, and an optional
// built for the call cost a store-forwarding stall per record (its two halves stored apart, then
// read as one: 13.6 % of the CSV filter's time, perf annotate, issue 20).
bool holds(const record_condition& c, std::string_view value) {
    switch (c.op) {
        case condition_op::equals:
            return !c.values.empty() && value == c.values.front();
        case condition_op::in_set:
            return std::find(c.values.begin(), c.values.end(), value) != c.values.end();
        case condition_op::not_empty:
            return !value.empty() && value != "null";
        // JSON literals first: nearly every consent and objection flag is one.
        case condition_op::is_true:
            if (value == "true") return true;
            if (value == "false") return false;
            return one_of(value, {"true", "1", "yes", "y", "on"});
        case condition_op::is_set:
            if (value == "false") return false;
            if (value == "true") return true;
            return !one_of(value, {"", "null", "false", "0", "no", "n", "off"});
        case condition_op::is_no:
            if (value == "false") return true;
            return one_of(value, {"false", "0", "no", "n", "off"});
    }
    return false;
}

}  // namespace

std::string_view drop_reason_name(drop_reason r) {
    static constexpr std::array<std::string_view, drop_reason_count> names{
        "no_consent",          "objected", "suppressed", "subject_not_allowed",
        "no_request_evidence", "condition", "condition_unreadable"};
    return names[static_cast<std::size_t>(r)];
}

void record_fields::read_for(const record_rules& rules) {
    if (rules.subject_fields.size() > 255) throw std::length_error("more than 255 subject fields");
    subject_paths_ = rules.subject_fields;
    subject_read_by_rules_.clear();
    for (const auto& path : subject_paths_) {
        const bool condition =
            std::any_of(rules.conditions.begin(), rules.conditions.end(),
                        [&](const record_condition& c) { return c.field == path; });
        const bool suppression =
            rules.suppressed &&
            std::find(rules.suppression_fields.begin(), rules.suppression_fields.end(), path) !=
                rules.suppression_fields.end();
        subject_read_by_rules_.push_back(condition || suppression);
    }
}

record_fields::route record_fields::route_of(std::string_view path) const {
    for (std::size_t i = 0; i < subject_paths_.size(); ++i) {
        if (subject_paths_[i] == path)
            return {static_cast<std::uint8_t>(i + 1), subject_read_by_rules_[i]};
    }
    return {};
}

std::optional<std::string_view> record_fields::find(std::string_view path) const {
    for (const auto [p, v] : values()) {
        if (p == path) return v;
    }
    return std::nullopt;
}

bool record_fields::structured(std::string_view path) const {
    // The path itself, or a list on the way to it ("consent": [{"email": true}] for
    // consent.email): either way no single value answers the rule.
    for (std::size_t i = 0; i < structured_used_; ++i) {
        const std::string& s = structured_[i];
        if (path.size() >= s.size() && path.compare(0, s.size(), s) == 0 &&
            (path.size() == s.size() || path[s.size()] == '.'))
            return true;
    }
    return false;
}

std::vector<std::string> record_rules::needed_fields() const {
    std::vector<std::string> out;
    for (const auto& c : conditions) out.push_back(c.field);
    out.insert(out.end(), suppression_fields.begin(), suppression_fields.end());
    out.insert(out.end(), subject_fields.begin(), subject_fields.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::optional<drop_reason> evaluate(const record_rules& rules, const record_fields& record) {
    const std::size_t n = record.value_count();
    const bool structured = record.any_structured();
    for (const auto& c : rules.conditions) {
        if (structured && record.structured(c.field)) return drop_reason::condition_unreadable;
        // A field that occurs more than once (a repeated XML element, an array) fails closed: an
        // exclusion holds when any occurrence holds it, a requirement only when every one does —
        // so <objection>false</objection><objection>true</objection> is an objection. A strict
        // (legal) condition refuses to choose between different values at all.
        bool any = false;
        bool all = true;
        bool present = false;
        std::string_view first;
        bool conflicting = false;
        for (std::size_t i = 0; i < n; ++i) {
            if (!common::equal_bytes(record.path_at(i), c.field)) continue;
            const std::string_view value = record.value_only_at(i);
            if (!present) {
                present = true;
                first = value;
            } else if (value != first) {
                conflicting = true;
            }
            bool h = holds(c, value);
            any = any || h;
            all = all && h;
        }
        if (c.strict && (!present || conflicting)) return drop_reason::condition_unreadable;
        bool h = c.exclude ? any : (present && all);
        if (c.exclude ? h : !h) return c.reason;
    }
    if (rules.suppressed) {
        bool readable = false;
        for (std::size_t i = 0; i < n && !readable; ++i) {
            const std::string_view path = record.path_at(i);
            if (std::find(rules.suppression_fields.begin(), rules.suppression_fields.end(), path) ==
                rules.suppression_fields.end())
                continue;
            const std::string_view value = record.value_only_at(i);
            readable = !value.empty() && value != "null";
        }
        if (!readable) return drop_reason::condition_unreadable;
        if (rules.suppressed(record)) return drop_reason::suppressed;
    }
    return std::nullopt;
}

}  // namespace exportwall::filters
