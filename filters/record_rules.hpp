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
    // A field a rule reads is missing (legal rules only), not a scalar (an object, an array, an
    // XML element with children), or repeated with different values; or the suppression list's
    // match field holds no value. The rule cannot be read, so the record is not exported.
    condition_unreadable,
};
inline constexpr std::size_t drop_reason_count = 7;
[[nodiscard]] std::string_view drop_reason_name(drop_reason r);

// The scalar values of one record, by dotted path (array indices omitted). Strings are
// unescaped, booleans and null are their JSON literals, numbers their lexeme as received.
// A path may occur more than once (arrays, repeated XML elements).
class record_fields {
  public:
    // Forgets the values; their storage is kept for the next record (no allocation per record).
    void clear() {
        used_ = 0;
        structured_used_ = 0;
    }
    void add(std::string_view path, std::string_view value) {
        if (used_ == values_.size()) values_.emplace_back();
        auto& [p, v] = values_[used_++];
        // A filter adds a record's fields in the order of the record, so the slot nearly always
        // held this same path in the previous record: compared, not copied again.
        if (std::string_view(p) != path) p.assign(path);
        // clear() and append(), not assign(): `value` is the filter's, never this object's own
        // storage, so assign()'s overlap handling is not needed on this per-field path.
        v.clear();
        v.append(value);
    }
    // The first value at `path`, or nullopt when the record has none.
    [[nodiscard]] std::optional<std::string_view> find(std::string_view path) const;
    [[nodiscard]] std::span<const std::pair<std::string, std::string>> values() const {
        return {values_.data(), used_};
    }
    // The record holds a structure where a rule expects a scalar: a JSON object or array, or an
    // XML element with child elements, at `path`. Filters call this for every path in
    // record_rules::needed_fields() whose value is not a scalar, and for every JSON array on the
    // way to one (a list of objects holding the field); the scalars inside may still be add()ed.
    // evaluate() then treats a condition on that path, or below it, as unreadable.
    void mark_structured(std::string_view path) {
        if (structured_used_ == structured_.size()) structured_.emplace_back();
        structured_[structured_used_++].assign(path);
    }
    [[nodiscard]] bool structured(std::string_view path) const;
    // Bytes of storage held, used or not (a filter keeps small storage between exports).
    [[nodiscard]] std::size_t capacity_bytes() const {
        std::size_t n =
            values_.capacity() * sizeof(values_[0]) + structured_.capacity() * sizeof(std::string);
        for (const auto& [p, v] : values_) n += p.capacity() + v.capacity();
        for (const auto& p : structured_) n += p.capacity();
        return n;
    }

  private:
    std::vector<std::pair<std::string, std::string>> values_;
    std::size_t used_ = 0;
    std::vector<std::string> structured_;
    std::size_t structured_used_ = 0;
};

enum class condition_op : std::uint8_t {
    equals,     // value == values[0]
    in_set,     // value is one of values
    not_empty,  // present, not null and not ""
    is_true,    // true, 1, yes, y, on (case-insensitive)
    is_set,  // present and not one of: "", null, false, 0, no, n, off (fail closed for objections)
    is_no,   // one of the "no" words: false, 0, no, n, off (case-insensitive); not "" nor null
};

// One condition. `exclude == false`: the record is kept only if the condition holds for every
// value of the field (a missing field fails it). `exclude == true`: the record is dropped if the
// condition holds for any value of the field (a missing field passes it).
//
// Whatever the condition, a field that holds a structure (record_fields::mark_structured) drops
// the record as condition_unreadable. A `strict` condition (the legal rules: subject type,
// request evidence, consent, objection) also drops it as condition_unreadable when the field is
// missing or repeated with different values: the rule cannot tell what the record says.
struct record_condition {
    std::string field;
    condition_op op = condition_op::equals;
    std::vector<std::string> values;
    bool exclude = false;
    drop_reason reason = drop_reason::condition;
    bool strict = false;
};

struct record_rules {
    // Evaluated in order; the first that fails gives the drop reason.
    std::vector<record_condition> conditions;
    // Optional suppression-list check (direct marketing): true means the record is suppressed.
    std::function<bool(const record_fields&)> suppressed;
    // Fields the suppression check reads (e.g. "email", "id", and "email.value" for a list of
    // {"value": …} objects). A record with no value in any of them cannot be checked against the
    // list and is dropped as condition_unreadable before the callback runs.
    std::vector<std::string> suppression_fields;
    // The subject index (who received whose data, GDPR art. 15): the fields naming the data
    // subject (the entity's id and e-mail fields), collected like the rules' fields, and a
    // callback the filter calls once for every record the rules decided: `kept` true once the
    // record is written to the output (after max_records), false when it is dropped. Either may
    // be empty; the callback never sees a record that was not decided (a malformed one).
    std::vector<std::string> subject_fields;
    std::function<void(const record_fields&, bool kept)> decided;

    [[nodiscard]] bool empty() const { return conditions.empty() && !suppressed && !decided; }
    // Tells `decided` (when set) what became of a record.
    void report(const record_fields& record, bool kept) const {
        if (decided) decided(record, kept);
    }
    // Every field path the rules read, sorted and unique.
    [[nodiscard]] std::vector<std::string> needed_fields() const;
};

// nullopt: keep the record; otherwise the reason it is dropped.
[[nodiscard]] std::optional<drop_reason> evaluate(const record_rules& rules,
                                                  const record_fields& record);

}  // namespace exportwall::filters
