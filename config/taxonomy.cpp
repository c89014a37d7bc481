#include "config/taxonomy.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace exportwall::config::taxonomy {

namespace {

#include "config/fideslang_taxonomy.inc"

constexpr bool strictly_sorted(std::span<const entry> table) {
    return std::adjacent_find(table.begin(), table.end(), [](const entry& a, const entry& b) {
               return !(a.key < b.key);
           }) == table.end();
}

// find() binary-searches; a hand edit of the generated file must not break that silently.
static_assert(strictly_sorted(data_use_entries), "data uses must be sorted and unique by key");
static_assert(strictly_sorted(data_category_entries), "data categories must be sorted and unique");
static_assert(strictly_sorted(data_subject_entries), "data subjects must be sorted and unique");

std::string_view last_segment(std::string_view key) {
    auto dot = key.rfind('.');
    return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

// Optimal string alignment distance (Damerau–Levenshtein where no substring is edited twice):
// insertions, deletions, substitutions and transpositions of adjacent bytes each cost 1.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> before(b.size() + 1);    // row i - 2
    std::vector<std::size_t> previous(b.size() + 1);  // row i - 1
    std::vector<std::size_t> current(b.size() + 1);   // row i
    for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        current[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                current[j] = std::min(current[j], before[j - 2] + 1);
            }
        }
        std::swap(before, previous);
        std::swap(previous, current);
    }
    return previous[b.size()];
}

// Rule 1: the one entry that completes `key`'s last segment ("user.health" + "_and_medical").
std::string_view completion(std::span<const entry> table, std::string_view key) {
    std::string_view found;
    for (const auto& e : table) {
        if (e.deprecated || e.key.size() <= key.size() + 1 || !e.key.starts_with(key) ||
            e.key[key.size()] != '_' || e.key.find('.', key.size()) != std::string_view::npos) {
            continue;
        }
        if (!found.empty()) return {};
        found = e.key;
    }
    return found;
}

// Rule 2: the one entry whose last segment is `key`'s last segment.
std::string_view same_leaf(std::span<const entry> table, std::string_view key) {
    auto leaf = last_segment(key);
    if (leaf.empty()) return {};
    std::string_view found;
    for (const auto& e : table) {
        if (e.deprecated || last_segment(e.key) != leaf) continue;
        if (!found.empty()) return {};
        found = e.key;
    }
    return found;
}

// Rule 3: the closest spelling within max(2, key.size() / 4) edits. The table is sorted, so
// keeping the first of equally good candidates breaks the last tie lexicographically.
std::string_view closest_spelling(std::span<const entry> table, std::string_view key) {
    const std::size_t limit = std::max<std::size_t>(2, key.size() / 4);
    std::string_view best;
    std::size_t best_distance = limit + 1;
    for (const auto& e : table) {
        if (e.deprecated) continue;
        // The length difference is a lower bound on the distance: this also keeps the work for
        // an absurdly long key bounded, since no entry is within reach of it.
        std::size_t gap =
            e.key.size() > key.size() ? e.key.size() - key.size() : key.size() - e.key.size();
        if (gap > best_distance) continue;
        auto d = edit_distance(key, e.key);
        if (d < best_distance ||
            (d == best_distance && !best.empty() && e.key.size() < best.size())) {
            best = e.key;
            best_distance = d;
        }
    }
    return best;
}

}  // namespace

std::span<const entry> entries(kind k) {
    switch (k) {
        case kind::data_use:
            return data_use_entries;
        case kind::data_category:
            return data_category_entries;
        case kind::data_subject:
            return data_subject_entries;
    }
    return {};
}

const entry* find(kind k, std::string_view key) {
    auto table = entries(k);
    auto it =
        std::lower_bound(table.begin(), table.end(), key,
                         [](const entry& e, std::string_view wanted) { return e.key < wanted; });
    return it != table.end() && it->key == key ? &*it : nullptr;
}

bool within(std::string_view key, std::string_view ancestor) {
    return key == ancestor || (key.size() > ancestor.size() && key.starts_with(ancestor) &&
                               key[ancestor.size()] == '.');
}

std::string_view nearest(kind k, std::string_view key) {
    if (key.empty()) return {};
    if (const entry* e = find(k, key)) return e->key;
    auto table = entries(k);
    if (auto s = completion(table, key); !s.empty()) return s;
    if (auto s = same_leaf(table, key); !s.empty()) return s;
    return closest_spelling(table, key);
}

}  // namespace exportwall::config::taxonomy
