#include "config/route_match.hpp"

namespace exportwall::config {

const route* match_route(const settings& net, std::string_view normalised_path) {
    const route* best = nullptr;
    for (const auto& r : net.routes) {
        std::string_view p = r.path;
        if (r.match == path_match::exact) {
            if (normalised_path == p) return &r;
            continue;
        }
        bool segment_prefix = normalised_path.substr(0, p.size()) == p &&
                              (normalised_path.size() == p.size() || p.back() == '/' ||
                               normalised_path[p.size()] == '/');
        if (segment_prefix && (best == nullptr || p.size() > best->path.size())) best = &r;
    }
    return best;
}

}  // namespace exportwall::config
