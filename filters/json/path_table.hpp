#pragma once
// The JSON filter's path table: every path inside a record (a member key under its parent, or
// the elements of an array) is a node that remembers, per kind of value, the plan decided the
// first time it was seen (keep, strip, descend, collect for the conditions), its escaped member
// text and the scope that last used its key. Records repeat their paths, so later records replay
// the plans (filters/json/json_rewriter.hpp).

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/equal_bytes.hpp"
#include "filters/json/json_key_set.hpp"
#include "filters/json/json_record_parser.hpp"
#include "filters/json/text.hpp"
#include "filters/record_rules.hpp"

namespace exportwall::filters::json_detail {

// Distinct paths whose allow-list and rule answers are cached.
constexpr std::size_t max_cached_paths = 4096;
// Keys and paths longer than this take the slow path (bounds the path table's memory).
constexpr std::size_t max_cached_key_bytes = 64;
constexpr std::size_t max_cached_path_bytes = 256;

constexpr std::uint32_t no_transform = static_cast<std::uint32_t>(-1);

// Where a container's contents go.
enum class mode : std::uint8_t {
    envelope,    // outside the records: written to the output as it arrives
    records,     // the records array (JSON): each element is one record
    record,      // one record object: members decided by the allow-list, buffered
    filter,      // inside a record, entered because allowed fields lie below: members decided
    keep,        // inside a record, allowed whole: copied to the record buffer
    skip,        // stripped field or removed link: parsed and checked, written nowhere
    nested_set,  // the array or map of a nested record set: each element is one nested record
    element,     // one nested record, copied whole to be filtered by its set once it closes
    // A plan's only (never a frame's): a kept value at a transformed path (plan::transform). A
    // scalar is read whole and written transformed; a container is written as null and skipped.
    // Its cached plan is replayed by begin_value_slow only.
    transform,
};

// The kinds of value, in the order json_record_parser asks about them.
using value_kind = json_kind;

inline bool is_container(value_kind k) { return k == value_kind::object || k == value_kind::array; }

constexpr std::size_t value_kind_count = 5;

constexpr std::uint32_t no_node = static_cast<std::uint32_t>(-1);

// What to do with the value that is starting.
struct plan {
    mode m = mode::skip;
    bool collect = false;
    bool chain = false;
    bool ptr = false;
    bool link = false;  // a pagination link string: collected, rewritten, then written
    // A container at a path the record rules read, in a record being collected: the record holds
    // a structure where the rules expect a scalar (record_fields::mark_structured).
    bool structured = false;
    bool side = false;
    bool xform = false;  // kept whole with transforms below (frame::xform)
    std::uint16_t group = 0;
    std::uint32_t transform = no_transform;  // m == transform: which one (transform_set index)
    std::size_t base = 0;
};

// Equal keys; short keys (most of them) without a call to memcmp.
[[gnu::always_inline]] inline bool same_key(const std::string& a, std::string_view b) {
    return common::equal_bytes(a, b);
}

// A member's key as compact JSON writes it, `"key":`, for json_record_parser to compare with
// the input in place (json_rewriter::expected_key): `size` 0 when the key has a byte that JSON
// may write in more than one way (a quote, a backslash, a control, anything outside ASCII) or is
// too long; such a key is read and decoded as any other.
struct key_pattern {
    static constexpr std::size_t capacity = 32;
    std::array<char, capacity> bytes{};
    std::uint32_t mask = 0;  // bit i set for each byte i of the pattern
    std::uint8_t size = 0;

    void set(std::string_view key) {
        if (key.size() + 3 > capacity) return;
        for (const char c : key) {
            if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return;
        }
        bytes[0] = '"';
        std::memcpy(bytes.data() + 1, key.data(), key.size());
        bytes[key.size() + 1] = '"';
        bytes[key.size() + 2] = ':';
        size = static_cast<std::uint8_t>(key.size() + 3);
        mask = static_cast<std::uint32_t>((std::uint64_t{1} << size) - 1);
    }
};

// The keys of the object a member held the last time it was skipped whole
// (json_record_parser::skip_object), in order, as compact JSON writes them: the next such object
// is compared with them in place, and a run of keys that matches needs neither a scan nor the
// repeated-key check (they were distinct when learnt). Empty until learnt, and when that object
// had a key with more than one spelling or more than `most` keys.
struct key_run {
    static constexpr std::size_t most = 16;
    std::vector<key_pattern> keys;
    std::vector<key_pattern> spare;  // learnt into, then swapped: `names` may point into `keys`

    // `names`: the decoded keys of an object checked whole, distinct, in order.
    void learn(const std::string_view* names, std::size_t n) {
        spare.clear();
        if (n <= most) {
            spare.resize(n);
            for (std::size_t i = 0; i < n; ++i) {
                spare[i].set(names[i]);
                if (spare[i].size == 0) {  // no single spelling: nothing to compare in place
                    spare.clear();
                    break;
                }
            }
        }
        keys.swap(spare);
    }
};

// A plan decided once for a path and a kind of value, replayed for every later record.
struct cached_plan {
    bool valid = false;  // decided and replayed by begin_value (a transform's: see mode::transform)
    bool quiet_skip = false;  // valid, stripped whole, and no condition or link reads it
    // valid, stripped whole, read by a condition or the subject index and by no link: a scalar in
    // one piece goes straight to the record's fields (json_rewriter::replayed_quietly)
    bool quiet_collect = false;
    // valid, kept as it is (no link, transform or structure): a scalar in one piece is written
    // with its member's key straight into the record, and its place handed to the fields when a
    // rule or the subject index reads it
    bool quiet_keep = false;
    plan p;
    std::uint64_t* stripped = nullptr;  // the counter to bump when the plan strips the value
};

// One path inside a record: a member key under its parent, or the elements of an array.
struct path_node {
    std::uint32_t parent = no_node;
    bool element = false;
    std::uint64_t hash = 0;
    std::string key;                // decoded
    std::string path;               // dotted, relative to the record
    std::string member;             // `,"key":` escaped, written before a kept member's value
    std::string member_string;      // `,"key":"`: the same before a string
    key_pattern pattern;            // `"key":` as the input writes it, when it can only be so
    key_run skipped_keys;           // its object's keys, when it is skipped whole (key_run)
    std::uint64_t stamp = 0;        // scope of the object that last used this key
    std::uint32_t first = no_node;  // the member that came first last time (objects)
    std::uint32_t next = no_node;   // the member that followed this one last time
    bool link_checked = false;      // under a path-determined link pointer: `linked` is known
    bool linked = false;            // this member is a configured link field
    // Where a collected scalar at this path goes (record_fields::route), for the record base it
    // was decided for (json_rewriter::collected_route).
    record_fields::route route;
    std::size_t route_base = static_cast<std::size_t>(-1);
    std::array<cached_plan, value_kind_count> plans;  // by value_kind
};

// The path nodes of one filter, found by (parent, key) in an open-addressing table.
class path_table {
  public:
    // The slots start small and double as paths are added (at most 2 * max_cached_paths): a
    // small export's filter neither allocates nor clears the full table.
    path_table() : slots_(initial_slots, 0) {
        nodes_.reserve(64);
        nodes_.emplace_back();  // the record itself: path ""
    }
    static constexpr std::uint32_t root = 0;

    path_node& operator[](std::uint32_t i) { return nodes_[i]; }
    const path_node& operator[](std::uint32_t i) const { return nodes_[i]; }
    [[nodiscard]] std::size_t size() const { return nodes_.size(); }

    // The node of `key` under `parent` (an element when `element`), created on first use; no_node
    // once the table is full or when the key or path is too long to cache.
    std::uint32_t child(std::uint32_t parent, bool element, std::string_view key) {
        const std::uint64_t h = json_key_hash(std::uint64_t{parent} * 2 + (element ? 1 : 0), key);
        const std::size_t mask = slots_.size() - 1;
        std::size_t i = static_cast<std::size_t>(h) & mask;
        while (slots_[i] != 0) {
            const path_node& n = nodes_[slots_[i] - 1];
            if (n.hash == h && n.parent == parent && n.element == element && same_key(n.key, key)) {
                return slots_[i] - 1;
            }
            i = (i + 1) & mask;
        }
        const std::string& base = nodes_[parent].path;
        if (nodes_.size() >= max_cached_paths || key.size() > max_cached_key_bytes ||
            base.size() + key.size() + 1 > max_cached_path_bytes) {
            return no_node;
        }
        path_node n;
        n.parent = parent;
        n.element = element;
        n.hash = h;
        n.key = key;
        n.path = base;
        if (!element) {
            if (!n.path.empty()) n.path.push_back('.');
            n.path.append(key);
            n.member.append(",\"");
            common::append_json_escaped(n.member, key);
            n.member.append("\":");
            n.member_string = n.member + '"';
            n.pattern.set(key);
        }
        const auto id = static_cast<std::uint32_t>(nodes_.size());
        nodes_.push_back(std::move(n));
        slots_[i] = id + 1;
        if (2 * nodes_.size() > slots_.size()) grow();
        return id;
    }

  private:
    static constexpr std::size_t initial_slots = 256;

    // Doubles the slots (load ≤ 1/2 before, ≤ 1/4 after) and places every node again.
    void grow() {
        std::vector<std::uint32_t> bigger(2 * slots_.size(), 0);
        const std::size_t mask = bigger.size() - 1;
        for (std::size_t id = 0; id < nodes_.size(); ++id) {
            if (id == root) continue;  // the record itself is found by index, never by key
            std::size_t i = static_cast<std::size_t>(nodes_[id].hash) & mask;
            while (bigger[i] != 0) i = (i + 1) & mask;
            bigger[i] = static_cast<std::uint32_t>(id + 1);
        }
        slots_ = std::move(bigger);
    }

    std::vector<path_node> nodes_;
    std::vector<std::uint32_t> slots_;  // node index + 1; 0 is empty
};

}  // namespace exportwall::filters::json_detail
