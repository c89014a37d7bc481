#include "filters/field_set.hpp"

#include <algorithm>

namespace exportwall::filters {

field_set::field_set(std::vector<std::string> paths) : paths_(std::move(paths)) {
    std::sort(paths_.begin(), paths_.end());
    paths_.erase(std::unique(paths_.begin(), paths_.end()), paths_.end());
}

bool field_set::keeps(std::string_view path) const {
    // Check the path and each ancestor ("a.b.c", "a.b", "a"): at most depth lookups.
    for (;;) {
        if (std::binary_search(paths_.begin(), paths_.end(), path)) return true;
        auto dot = path.rfind('.');
        if (dot == std::string_view::npos) return false;
        path = path.substr(0, dot);
    }
}

bool field_set::descends(std::string_view path) const {
    // The first allowed path not less than "path." decides: sorted order puts every descendant
    // of `path` right after that key.
    std::string prefix;
    prefix.reserve(path.size() + 1);
    prefix.append(path).push_back('.');
    auto it = std::lower_bound(paths_.begin(), paths_.end(), prefix);
    return it != paths_.end() && std::string_view(*it).substr(0, prefix.size()) == prefix;
}

}  // namespace exportwall::filters
