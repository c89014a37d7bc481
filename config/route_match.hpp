#pragma once
// Which route serves a normalised request path. Exact routes beat prefix routes; among prefix
// routes the longest wins; a prefix matches only whole segments ("/api/contacts" matches
// "/api/contacts" and "/api/contacts/42", never "/api/contactsX").

#include <string_view>

#include "config/settings.hpp"

namespace exportwall::config {

// The route for `normalised_path` (as produced by the proxy's target normaliser), or nullptr.
[[nodiscard]] const route* match_route(const settings& net, std::string_view normalised_path);

}  // namespace exportwall::config
