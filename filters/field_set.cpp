#include "filters/field_set.hpp"

#include <algorithm>

namespace exportwall::filters {

field_set::field_set(std::vector<std::string> paths) {
    std::sort(paths.begin(), paths.end());
    paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
    paths_ = std::make_shared<const std::vector<std::string>>(std::move(paths));
}

const std::shared_ptr<const std::vector<std::string>>& field_set::empty_paths() {
    static const auto empty = std::make_shared<const std::vector<std::string>>();
    return empty;
}

bool field_set::keeps(std::string_view path) const {
    const auto& paths = *paths_;
    // Check the path and each ancestor ("a.b.c", "a.b", "a"): at most depth lookups.
    for (;;) {
        if (std::binary_search(paths.begin(), paths.end(), path)) return true;
        auto dot = path.rfind('.');
        if (dot == std::string_view::npos) return false;
        path = path.substr(0, dot);
    }
}

bool field_set::descends(std::string_view path) const {
    const auto& paths = *paths_;
    // The first allowed path not less than "path." decides: sorted order puts every descendant
    // of `path` right after that key. "path." is compared piecewise, never built.
    auto below_prefix = [path](const std::string& e, std::nullptr_t) {
        const std::string_view head = std::string_view(e).substr(0, path.size());
        if (head != path) return head < path;
        // As std::string orders: bytes compare unsigned.
        return e.size() == path.size() || static_cast<unsigned char>(e[path.size()]) < '.';
    };
    auto it = std::lower_bound(paths.begin(), paths.end(), nullptr, below_prefix);
    return it != paths.end() && it->size() > path.size() &&
           std::string_view(*it).substr(0, path.size()) == path && (*it)[path.size()] == '.';
}

}  // namespace exportwall::filters
