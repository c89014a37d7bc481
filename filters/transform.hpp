#pragma once
// Field transforms: a purpose that needs less than a field's value receives a derived form of it
// (a keyed pseudonym, a prefix, a year, a masked string) in place of the original, written by the
// streaming filters as a record is emitted. Rules always read the original value; only what is
// written changes. A value a transform cannot read is written as nothing (JSON null, an empty CSV
// cell or XML element), never as the original. Nothing here logs or keeps a value.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace exportwall::filters {

enum class transform_kind : std::uint8_t {
    // "ps_" + base64url (no padding) of the first 16 bytes of HMAC-SHA-256(key, value): the same
    // value under the same key always gives the same pseudonym; without the key it cannot be
    // reversed or recomputed. No key (or an empty one): every value fails.
    pseudonymise,
    // The first `keep` Unicode code points (a UTF-8 sequence is never cut). Not UTF-8: fails.
    truncate_chars,
    // The four-digit year of an ISO 8601 calendar date `YYYY-MM-DD` (a valid day of that month),
    // alone or followed by `T`, `t` or a space and a time `hh:mm…`. Anything else fails.
    year,
    // Every code point but the last `keep` replaced by `*` ("**************1234"). Not UTF-8:
    // fails.
    mask,
};

// One transform of a purpose, on a field path relative to field_root, spelled as the allow-list
// spells it ("email", "address.postcode", "@id" for an XML attribute of the record).
struct field_transform {
    std::string path;
    transform_kind kind = transform_kind::pseudonymise;
    std::size_t keep = 0;  // truncate_chars, mask: code points kept
};

// A purpose's transforms for one entity. Immutable once built and cheap to copy (filter_spec is
// copied into each filter); the key is shared, never copied. One transform per path: a later
// duplicate of a path is ignored.
class transform_set {
  public:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    transform_set() = default;
    transform_set(std::vector<field_transform> transforms,
                  std::shared_ptr<const std::vector<unsigned char>> key);

    [[nodiscard]] bool empty() const { return transforms_ == nullptr; }
    [[nodiscard]] std::size_t size() const;
    // The transform at exactly `path`, or nullptr.
    [[nodiscard]] const field_transform* find(std::string_view path) const;
    // Its index (for index-based lookups: operator[], field_transformer::apply), or npos.
    [[nodiscard]] std::size_t index_of(std::string_view path) const;
    // Some transform's path lies strictly below `path` (every path lies below "").
    [[nodiscard]] bool below(std::string_view path) const;
    // Some transform's path lies strictly above `path` (is a dotted ancestor of it): a value there
    // is part of a transformed one. Only a key or element name with a dot in it reaches such a
    // path ("email.x" beside a transformed "email").
    [[nodiscard]] bool above(std::string_view path) const;
    [[nodiscard]] const field_transform& operator[](std::size_t i) const;
    // The same transforms with `prefix` before every path, and no key: for lookups by a longer
    // path (XML prefixes field_root). A common prefix keeps the order, so an index in the result
    // is the same transform's index here.
    [[nodiscard]] transform_set under(std::string_view prefix) const;
    // The pseudonymisation key; null or empty when none was given.
    [[nodiscard]] const std::shared_ptr<const std::vector<unsigned char>>& key() const {
        return key_;
    }

  private:
    std::shared_ptr<const std::vector<field_transform>> transforms_;  // sorted by path; null: none
    std::shared_ptr<const std::vector<unsigned char>> key_;
};

// Per-field counters, as filter_counters keeps them (field name -> times).
using field_counter_map = std::map<std::string, std::uint64_t, std::less<>>;

// Applies a transform_set inside one filter and counts what it did. Owns the filter's MAC context
// (reused for every value: no allocation of ours per value), so it belongs to one filter and one
// thread. `set`, the counter maps and `outer` must outlive it.
//
// Counts are of values written: they wait for end_record(), which adds them to the maps when the
// record is written and forgets them when it is dropped (a filter may transform a value while it
// buffers a record its rules then drop).
class field_transformer {
  public:
    // Counts go to `transformed` and `failed` under each transform's path after `prefix` (a
    // nested record set's label, "included[people]."). Null maps count nothing. With `outer` (a
    // record nested in another record: it goes with that one), a written record's counts join
    // `outer`'s current record instead of the maps.
    field_transformer(const transform_set& set, field_counter_map* transformed,
                      field_counter_map* failed, std::string prefix = {},
                      field_transformer* outer = nullptr);
    ~field_transformer();
    field_transformer(const field_transformer&) = delete;
    field_transformer& operator=(const field_transformer&) = delete;

    // Appends the transformed form of `value` (the unescaped string, or a number or boolean
    // lexeme as received) to `out` as raw text: the caller quotes and escapes it for its format.
    // The empty value stays empty (nothing to hide). False when the value cannot be transformed:
    // nothing is appended and the failure is counted; the caller writes its format's nothing.
    [[nodiscard]] bool apply(std::size_t index, std::string_view value, std::string& out);
    // Counts a value of transform `index` that is no scalar (a JSON object, array or null; an XML
    // element with child elements): the caller writes its format's nothing.
    void count_failed(std::size_t index);
    // The record whose values were transformed since the last call is written (its counts are
    // kept) or not (they are forgotten).
    void end_record(bool written);

  private:
    // A count waiting for its record's end: of `owner`'s transform `index` (this transformer's,
    // or a nested record's that joined this one's record).
    struct pending_count {
        field_transformer* owner;
        std::size_t index;
        bool failed;
        std::uint64_t n;
    };

    bool pseudonymise(std::string_view value, std::string& out);
    void count(const pending_count& c);
    void commit(const pending_count& c);

    const transform_set& set_;
    field_counter_map* transformed_;
    field_counter_map* failed_;
    std::string prefix_;
    field_transformer* outer_;
    std::vector<std::uint64_t*> transformed_at_;  // by index: the counter, once created
    std::vector<std::uint64_t*> failed_at_;
    std::vector<pending_count> pending_;  // the current record's (it touches few fields)
    struct mac_state;
    std::unique_ptr<mac_state> mac_;  // created on the first pseudonymised value
};

}  // namespace exportwall::filters
