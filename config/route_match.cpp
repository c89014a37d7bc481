#include "config/route_match.hpp"

namespace exportwall::config {

namespace {

bool key_byte(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '-';
}

}  // namespace

bool template_matches(std::string_view pattern, std::string_view path) {
    while (!pattern.empty()) {
        if (pattern.front() != '{') {
            if (path.empty() || path.front() != pattern.front()) return false;
            pattern.remove_prefix(1);
            path.remove_prefix(1);
            continue;
        }
        auto close = pattern.find('}');
        if (close == std::string_view::npos) return false;
        pattern.remove_prefix(close + 1);
        // The key runs to the next byte the pattern names (never a key byte: valid_template
        // keeps placeholders apart, and a key stops at any non-key byte anyway).
        std::size_t n = 0;
        while (n < path.size() && n < 129 && key_byte(path[n])) ++n;
        if (n == 0 || n > 128) return false;
        path.remove_prefix(n);
    }
    return path.empty();
}

bool valid_template(std::string_view pattern) {
    bool any = false;
    bool after_placeholder = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '}') return false;
        if (pattern[i] != '{') {
            if (after_placeholder && key_byte(pattern[i])) return false;
            after_placeholder = false;
            continue;
        }
        if (after_placeholder) return false;
        auto close = pattern.find('}', i);
        if (close == std::string_view::npos || close == i + 1) return false;
        for (std::size_t k = i + 1; k < close; ++k)
            if (!((pattern[k] >= 'a' && pattern[k] <= 'z') || pattern[k] == '_')) return false;
        any = true;
        after_placeholder = true;
        i = close;
    }
    return any;
}

const route* match_route(const settings& net, std::string_view normalised_path) {
    const route* best = nullptr;
    for (const auto& r : net.routes)
        if (r.match == path_match::exact && normalised_path == r.path) return &r;
    for (const auto& r : net.routes)
        if (r.match == path_match::template_ && template_matches(r.path, normalised_path))
            return &r;
    for (const auto& r : net.routes) {
        std::string_view p = r.path;
        if (r.match != path_match::prefix) continue;
        bool segment_prefix = normalised_path.substr(0, p.size()) == p &&
                              (normalised_path.size() == p.size() || p.back() == '/' ||
                               normalised_path[p.size()] == '/');
        if (segment_prefix && (best == nullptr || p.size() > best->path.size())) best = &r;
    }
    return best;
}

}  // namespace exportwall::config
