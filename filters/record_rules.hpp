#pragma once
// Record conditions: which records an export may contain. A filter collects the values of the
// fields the rules read (needed_fields()) while it buffers one record, then asks evaluate()
// whether the record is kept or dropped, and why. Pure: no I/O, no allocation beyond the result.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/equal_bytes.hpp"

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

struct record_rules;

// The scalar values of one record, by dotted path (array indices omitted). Strings are
// unescaped, booleans and null are their JSON literals, numbers their lexeme as received.
// A path may occur more than once (arrays, repeated XML elements).
//
// Two lists: the values the rules read (values(), what evaluate() and the suppression check see)
// and the values of the subject index's fields (subjects(), by their index in
// record_rules::subject_fields, what the `decided` callback reads). A filter adds a value by
// path and read_for() routes it to one list or both; the JSON filter routes a path once and
// replays the route (add_routed).
class record_fields {
    struct entry;

  public:
    // One value: its path and the value, both views valid until the record's fields change.
    using field = std::pair<std::string_view, std::string_view>;
    // One subject key: its index in record_rules::subject_fields and its value.
    using subject_field = std::pair<std::size_t, std::string_view>;

    // Where a path's values go: `subject` its index in subject_fields plus one (0: none);
    // `rules` whether the rules read it. A path not named by either goes to the rules' list.
    struct route {
        std::uint8_t subject = 0;
        bool rules = true;
    };

    // Routes the fields `rules` names: the subject fields to subjects(), and to values() too
    // when a condition or the suppression check reads them. Without it every value goes to
    // values().
    void read_for(const record_rules& rules);
    [[nodiscard]] static record_fields reading_for(const record_rules& rules) {
        record_fields f;
        f.read_for(rules);
        return f;
    }
    [[nodiscard]] route route_of(std::string_view path) const;

    // Forgets the values; their storage is kept for the next record (no allocation per record).
    void clear() {
        used_ = 0;
        subjects_used_ = 0;
        structured_used_ = 0;
        text_ = {};
    }
    void add(std::string_view path, std::string_view value) {
        add_routed(subject_paths_.empty() ? route{} : route_of(path), path, value);
    }
    // `path` is read only when the rules read it (r.rules).
    [[gnu::always_inline]] void add_routed(route r, std::string_view path, std::string_view value) {
        if (r.subject != 0) copy(next_subject(r.subject - 1), value);
        if (r.rules) copy(slot(path), value);
    }
    // A value the filter wrote unchanged into the record's text (its buffered output): kept as
    // its place there, `size` bytes from `at`, not copied. The filter names the text with
    // in_text() once the record is complete, before the rules or the subject index read it; a
    // record dropped reads nothing, so most of its values never cost a copy.
    [[gnu::always_inline]] void add_in_text(route r, std::string_view path, std::size_t at,
                                            std::size_t size) {
        if (r.subject != 0) place(next_subject(r.subject - 1), at, size);
        if (r.rules) place(slot(path), at, size);
    }
    // The text add_in_text() places point into: the whole record, unchanged until the fields
    // are read.
    void in_text(std::string_view text) { text_ = text; }

    // The first value at `path`, or nullopt when the record has none.
    [[nodiscard]] std::optional<std::string_view> find(std::string_view path) const;

    // Index-based views over a list (values() or subjects()).
    template <typename Value, Value (record_fields::*At)(std::size_t) const>
    class list {
      public:
        class iterator {
          public:
            using value_type = Value;
            using difference_type = std::ptrdiff_t;
            iterator() = default;
            iterator(const record_fields* owner, std::size_t i) : owner_(owner), i_(i) {}
            Value operator*() const { return (owner_->*At)(i_); }
            iterator& operator++() {
                ++i_;
                return *this;
            }
            iterator operator++(int) {
                iterator old = *this;
                ++i_;
                return old;
            }
            bool operator==(const iterator& o) const { return i_ == o.i_; }

          private:
            const record_fields* owner_ = nullptr;
            std::size_t i_ = 0;
        };
        list(const record_fields* owner, std::size_t n) : owner_(owner), n_(n) {}
        [[nodiscard]] iterator begin() const { return {owner_, 0}; }
        [[nodiscard]] iterator end() const { return {owner_, n_}; }
        [[nodiscard]] std::size_t size() const { return n_; }

      private:
        const record_fields* owner_;
        std::size_t n_;
    };
    // The values the rules read, in the order added.
    [[nodiscard]] auto values() const { return list<field, &record_fields::value_at>(this, used_); }
    // The subject keys, in the order added.
    [[nodiscard]] auto subjects() const {
        return list<subject_field, &record_fields::subject_at>(this, subjects_used_);
    }
    [[nodiscard]] field value_at(std::size_t i) const {
        const entry& e = values_[i];
        return {e.path, value_of(e)};
    }
    // The same list by index, the path and the value apart: evaluate() reads a value only where
    // the path is the one a rule asks for.
    [[nodiscard]] std::size_t value_count() const { return used_; }
    [[nodiscard]] std::string_view path_at(std::size_t i) const { return values_[i].path; }
    [[nodiscard]] std::string_view value_only_at(std::size_t i) const {
        return value_of(values_[i]);
    }
    [[nodiscard]] subject_field subject_at(std::size_t i) const {
        const entry& e = subjects_[i];
        return {e.subject, value_of(e)};
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
    // Whether any path of this record holds a structure (nearly never: no need to ask per path).
    [[nodiscard]] bool any_structured() const { return structured_used_ != 0; }
    // Bytes of storage held, used or not (a filter keeps small storage between exports).
    [[nodiscard]] std::size_t capacity_bytes() const {
        std::size_t n = (values_.capacity() + subjects_.capacity()) * sizeof(entry) +
                        structured_.capacity() * sizeof(std::string);
        for (const auto& e : values_) n += e.path.capacity() + e.value.capacity();
        for (const auto& e : subjects_) n += e.value.capacity();
        for (const auto& p : structured_) n += p.capacity();
        return n;
    }

  private:
    struct entry {
        static constexpr std::size_t copied = static_cast<std::size_t>(-1);
        std::string path;         // values(): the path
        std::size_t subject = 0;  // subjects(): the subject field's index
        std::string value;        // a copied value (at == copied)
        std::size_t at = copied;  // or its place in the text
        std::size_t size = 0;
    };
    [[nodiscard]] std::string_view value_of(const entry& e) const {
        if (e.at == entry::copied) return e.value;
        // A place outside the text is a filter's bug: it throws, and the export fails closed
        // rather than reading a rule's value as empty or cut short.
        if (e.at > text_.size() || e.size > text_.size() - e.at)
            throw std::out_of_range("record_fields: a value placed outside the record's text");
        return text_.substr(e.at, e.size);
    }
    static void copy(entry& e, std::string_view value) {
        // clear() and append(), not assign(): `value` is the filter's, never this object's own
        // storage, so assign()'s overlap handling is not needed on this per-field path.
        e.value.clear();
        e.value.append(value);
        e.at = entry::copied;
    }
    static void place(entry& e, std::size_t at, std::size_t size) {
        e.at = at;
        e.size = size;
    }
    entry& slot(std::string_view path) {
        if (used_ == values_.size()) values_.emplace_back();
        entry& e = values_[used_++];
        // A filter adds a record's fields in the order of the record, so the slot nearly always
        // held this same path in the previous record: compared, not copied again.
        if (!common::equal_bytes(e.path, path)) e.path.assign(path);
        return e;
    }
    [[gnu::always_inline]] entry& next_subject(std::size_t subject) {
        if (subjects_used_ == subjects_.size()) subjects_.emplace_back();
        entry& e = subjects_[subjects_used_++];
        e.subject = subject;
        return e;
    }

    std::vector<entry> values_;
    std::size_t used_ = 0;
    std::vector<entry> subjects_;
    std::size_t subjects_used_ = 0;
    std::vector<std::string> structured_;
    std::size_t structured_used_ = 0;
    std::string_view text_;
    // read_for(): the subject fields, and whether the rules read each.
    std::vector<std::string> subject_paths_;
    std::vector<bool> subject_read_by_rules_;
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
    // `decided` hears of kept records only: set when a dropped record leaves it nothing to do
    // (the subject index's main entity with no nested record waiting on it), which saves a call
    // for every record the rules drop (two in three of a consent-bound bulk export).
    bool decided_kept_only = false;

    [[nodiscard]] bool empty() const { return conditions.empty() && !suppressed && !decided; }
    // Tells `decided` (when set) what became of a record.
    void report(const record_fields& record, bool kept) const {
        if (decided && (kept || !decided_kept_only)) decided(record, kept);
    }
    // Every field path the rules read, sorted and unique.
    [[nodiscard]] std::vector<std::string> needed_fields() const;
};

// nullopt: keep the record; otherwise the reason it is dropped.
[[nodiscard]] std::optional<drop_reason> evaluate(const record_rules& rules,
                                                  const record_fields& record);

}  // namespace exportwall::filters
