#include "filters/filter_shelf.hpp"

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exportwall::filters {
namespace {

// same_decisions compares every member of these types: one added must be compared there too (or
// said there why not). The sizes are this platform's (GCC and Clang with libstdc++, x86-64).
static_assert(sizeof(filter_spec) == 464, "a new filter_spec member: compare it in same_decisions");
static_assert(sizeof(nested_record_set) == 336, "a new nested_record_set member: compare it");
static_assert(sizeof(record_rules) == 144, "a new record_rules member: compare it");
static_assert(sizeof(record_condition) == 72, "a new record_condition member: compare it");
static_assert(sizeof(csv_options) == 4, "a new csv_options member: compare it");
static_assert(sizeof(field_transform) == 48, "a new field_transform member: compare it");

bool same_fields(const field_set& a, const field_set& b) {
    // A purpose's set is shared by its copies: the same vector, most of the time.
    return &a.paths() == &b.paths() || a.paths() == b.paths();
}

bool same_conditions(const record_condition& a, const record_condition& b) {
    return a.field == b.field && a.op == b.op && a.values == b.values && a.exclude == b.exclude &&
           a.reason == b.reason && a.strict == b.strict;
}

bool same_rules(const record_rules& a, const record_rules& b) {
    return std::equal(a.conditions.begin(), a.conditions.end(), b.conditions.begin(),
                      b.conditions.end(), same_conditions) &&
           static_cast<bool>(a.suppressed) == static_cast<bool>(b.suppressed) &&
           a.suppression_fields == b.suppression_fields && a.subject_fields == b.subject_fields &&
           static_cast<bool>(a.decided) == static_cast<bool>(b.decided) &&
           a.decided_kept_only == b.decided_kept_only;
}

bool has_key(const transform_set& t) { return t.key() != nullptr && !t.key()->empty(); }

bool same_transforms(const transform_set& a, const transform_set& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const field_transform& x = a[i];
        const field_transform& y = b[i];
        if (x.path != y.path || x.kind != y.kind || x.keep != y.keep) return false;
    }
    return has_key(a) == has_key(b);
}

// The same transforms with a stand-in key where `t` has one.
transform_set keyless(const transform_set& t) {
    if (!has_key(t)) return t;
    static const auto stand_in = std::make_shared<const std::vector<unsigned char>>(1, 0);
    std::vector<field_transform> all;
    all.reserve(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) all.push_back(t[i]);
    return {std::move(all), stand_in};
}

void make_inert(record_rules& r) {
    if (r.suppressed) r.suppressed = [](const record_fields&) { return true; };
    if (r.decided) r.decided = [](const record_fields&, bool) {};
}

bool same_nested(const nested_record_set& a, const nested_record_set& b) {
    return a.path == b.path && a.in_record == b.in_record && a.map == b.map &&
           a.discriminator == b.discriminator && a.discriminator_value == b.discriminator_value &&
           a.field_root == b.field_root && a.keep == b.keep && same_fields(a.allowed, b.allowed) &&
           same_rules(a.rules, b.rules) && same_transforms(a.transforms, b.transforms);
}

// A thread's shelf, most recent first. Exports run side by side on a thread (a connection's
// next request, the other connections'), each taking a memory off the shelf while it runs: the
// shelf holds several of the same spec, up to 64 memories and 8,192 units of weight (JSON paths
// and facts: ~400 bytes each, so ~3 MiB at most; an export of 4 contacts learns ~40).
constexpr std::size_t shelf_places = 64;
constexpr std::size_t shelf_weight = 8192;

thread_local std::vector<std::unique_ptr<filter_memory>> shelf;
thread_local std::size_t shelf_held = 0;  // the weight on it

}  // namespace

bool same_decisions(const filter_spec& a, const filter_spec& b) {
    // max_records is left out: the plans do not read it (an export's remaining quota, compared
    // with records_out where a record is written, from the filter's own spec).
    return a.format == b.format && a.single_record == b.single_record &&
           a.strict_envelope == b.strict_envelope && a.max_record_bytes == b.max_record_bytes &&
           a.max_depth == b.max_depth && a.records == b.records && a.field_root == b.field_root &&
           same_fields(a.allowed, b.allowed) && same_rules(a.rules, b.rules) &&
           same_transforms(a.transforms, b.transforms) && a.link_fields == b.link_fields &&
           static_cast<bool>(a.rewrite_link) == static_cast<bool>(b.rewrite_link) &&
           a.token_fields == b.token_fields &&
           static_cast<bool>(a.seal_token) == static_cast<bool>(b.seal_token) &&
           a.envelope_fields == b.envelope_fields && a.csv.delimiter == b.csv.delimiter &&
           a.csv.quote == b.csv.quote && a.csv.formula_guard == b.csv.formula_guard &&
           a.csv.header_space == b.csv.header_space &&
           std::equal(a.nested.begin(), a.nested.end(), b.nested.begin(), b.nested.end(),
                      same_nested);
}

filter_spec decisions_only(const filter_spec& spec) {
    filter_spec c = spec;
    if (c.rewrite_link) c.rewrite_link = [](std::string_view) { return std::nullopt; };
    if (c.seal_token) c.seal_token = [](std::string_view) { return std::nullopt; };
    make_inert(c.rules);
    c.transforms = keyless(c.transforms);
    for (auto& n : c.nested) {
        make_inert(n.rules);
        n.transforms = keyless(n.transforms);
    }
    return c;
}

std::unique_ptr<record_filter> make_filter_remembering(filter_spec spec) {
    for (auto it = shelf.begin(); it != shelf.end(); ++it) {
        if (!same_decisions((*it)->spec, spec)) continue;
        std::unique_ptr<filter_memory> memory = std::move(*it);
        shelf.erase(it);
        shelf_held -= memory->weight;
        return make_filter(std::move(spec), std::move(memory));
    }
    return make_filter(std::move(spec));
}

void remember(record_filter& filter) noexcept {
    try {
        std::unique_ptr<filter_memory> memory = filter.take_memory();
        if (!memory || memory->weight > shelf_weight) return;
        while (!shelf.empty() &&
               (shelf.size() >= shelf_places || shelf_held + memory->weight > shelf_weight)) {
            shelf_held -= shelf.back()->weight;
            shelf.pop_back();
        }
        const std::size_t weight = memory->weight;
        shelf.insert(shelf.begin(), std::move(memory));
        shelf_held += weight;
    } catch (...) {
        // Out of memory while shelving: the next export decides its paths again.
    }
}

std::size_t shelved_memories() { return shelf.size(); }

void clear_shelf() {
    shelf.clear();
    shelf_held = 0;
}

}  // namespace exportwall::filters
