#pragma once
// Record conditions: which records an export may contain. A filter collects the values of the
// fields the rules read (needed_fields()) while it buffers one record, then asks evaluate()
// whether the record is kept or dropped, and why. Pure: no I/O, no allocation beyond the result.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exportwall::filters {

// Why a record was dropped. Stable names (drop_reason_name) appear in audit records.
enum class drop_reason : std::uint8_t {
    no_consent,           // consent field absent or not true
    objected,             // objection field set (GDPR art. 21)
    suppressed,           // matched the suppression list
    subject_not_allowed,  // subject type outside the purpose's data subjects
    no_request_evidence,  // pre-contract export without evidence of the subject's request
    condition,            // any other configured require / exclude condition
};
inline constexpr std::size_t drop_reason_count = 6;
[[nodiscard]] std::string_view drop_reason_name(drop_reason r);

// The scalar values of one record, by dotted path (array indices omitted). Strings are
// unescaped, booleans and null are their JSON literals, numbers their lexeme as received.
// A path may occur more than once (arrays, repeated XML elements).
class record_fields {
  public:
    // Forgets the values; their storage is kept for the next record (no allocation per record).
    void clear() { used_ = 0; }
    void add(std::string_view path, std::string_view value) {
        if (used_ == values_.size()) values_.emplace_back();
        auto& [p, v] = values_[used_++];
        p.assign(path);
        v.assign(value);
    }
    // The first value at `path`, or nullopt when the record has none.
    [[nodiscard]] std::optional<std::string_view> find(std::string_view path) const;
    [[nodiscard]] std::span<const std::pair<std::string, std::string>> values() const {
        return {values_.data(), used_};
    }

  private:
    std::vector<std::pair<std::string, std::string>> values_;
    std::size_t used_ = 0;
};

enum class condition_op : std::uint8_t {
    equals,     // value == values[0]
    in_set,     // value is one of values
    not_empty,  // present, not null and not ""
    is_true,    // true, 1, yes, y, on (case-insensitive)
    is_set,  // present and not one of: "", null, false, 0, no, n, off (fail closed for objections)
};

// One condition. `exclude == false`: the record is kept only if the condition holds for every
// value of the field (a missing field fails it). `exclude == true`: the record is dropped if the
// condition holds for any value of the field (a missing field passes it).
struct record_condition {
    std::string field;
    condition_op op = condition_op::equals;
    std::vector<std::string> values;
    bool exclude = false;
    drop_reason reason = drop_reason::condition;
};

struct record_rules {
    // Evaluated in order; the first that fails gives the drop reason.
    std::vector<record_condition> conditions;
    // Optional suppression-list check (direct marketing): true means the record is suppressed.
    std::function<bool(const record_fields&)> suppressed;
    // Fields the suppression check reads (e.g. "email", "id").
    std::vector<std::string> suppression_fields;

    [[nodiscard]] bool empty() const { return conditions.empty() && !suppressed; }
    // Every field path the rules read, sorted and unique.
    [[nodiscard]] std::vector<std::string> needed_fields() const;
};

// nullopt: keep the record; otherwise the reason it is dropped.
[[nodiscard]] std::optional<drop_reason> evaluate(const record_rules& rules,
                                                  const record_fields& record);

}  // namespace exportwall::filters
