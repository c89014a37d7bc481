#pragma once
// Reads the policy elements (entity, purpose, destination, client, suppression lists …) of a
// configuration document and checks the load-time legal rules. Called by the loader after the
// network part is read, so routes and upstreams are known.

#include <pugixml.hpp>

#include "config/policy.hpp"
#include "config/settings.hpp"
#include "config/xml_source.hpp"

namespace exportwall::config {

// The element names of <exportwall> children that the policy loader owns.
[[nodiscard]] bool is_policy_element(std::string_view name);

// Reads every policy element under `root` into `out`, then checks the legal rules against
// `net` (routes name entities). Problems go to `diag`. `base_dir` resolves relative file paths.
// Why mode="monitor" is refused at load (globally or per client).
inline constexpr std::string_view monitor_mode_refused =
    "mode=\"monitor\" passed unauthenticated requests and unfiltered data and is no longer "
    "accepted; evaluate a candidate policy beside the enforced one with <shadow file=\"…\"/>";

void load_policy(const xml_source& src, const pugi::xml_node& root, const settings& net,
                 const std::string& base_dir, policy& out, diagnostics& diag);

// Reads every suppression list's file into its entries (suppression_entries::load). Call once on
// a freshly loaded configuration, before it is published; a list left unloaded suppresses every
// record (fail closed). Returns one error per unreadable file, at the list's position.
[[nodiscard]] std::vector<load_error> load_suppression_lists(const policy& rules);

}  // namespace exportwall::config
