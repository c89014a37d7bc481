#pragma once
// Which route serves a normalised request path. Exact routes beat template routes, which beat
// prefix routes; among templates the first in the file wins, among prefix routes the longest; a
// prefix matches only whole segments ("/api/contacts" matches "/api/contacts" and
// "/api/contacts/42", never "/api/contactsX"); a template's `{name}` matches one key.

#include <string_view>

#include "config/settings.hpp"

namespace exportwall::config {

// The route for `normalised_path` (as produced by the proxy's target normaliser), or nullptr.
[[nodiscard]] const route* match_route(const settings& net, std::string_view normalised_path);

// True when `path` matches `pattern`, whose `{name}` placeholders each match 1–128 key bytes
// (A-Z a-z 0-9 _ . : -); every other byte of the pattern matches itself.
[[nodiscard]] bool template_matches(std::string_view pattern, std::string_view path);

// True when `pattern` is a valid template: at least one `{name}` (name: a-z _), no nested or
// unbalanced braces, and no two placeholders side by side.
[[nodiscard]] bool valid_template(std::string_view pattern);

}  // namespace exportwall::config
