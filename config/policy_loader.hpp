#pragma once
// Reads the policy elements (entity, purpose, destination, client, suppression lists …) of a
// configuration document and checks the load-time legal rules. Called by the loader after the
// network part is read, so routes and upstreams are known.

#include <memory>
#include <span>
#include <string>
#include <vector>

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

// One document holding policy elements: the main file's <exportwall>, or the <policy> root of a
// file it includes. Entities are read from every source before the purposes that name them.
struct policy_source {
    const xml_source* src = nullptr;
    pugi::xml_node root;
    std::string base_dir;  // resolves the source's relative file paths (suppression lists)
};
void load_policy(std::span<const policy_source> sources, const settings& net, policy& out,
                 diagnostics& diag);

// The files <include file="…"/> elements of `root` name (the DPO's policy in a file of its own):
// each is read, parsed and checked to be a <policy version="1"> of policy elements only (no
// include of its own), and appended to `sources` after the including document. `owned` keeps
// the parsed files alive; `material` collects every included file's bytes, length-prefixed, for
// the configuration's revision.
void read_includes(const xml_source& src, const pugi::xml_node& root, const std::string& base_dir,
                   std::vector<std::unique_ptr<xml_source>>& owned,
                   std::vector<policy_source>& sources, std::string& material, diagnostics& diag);

// Checks the root of a policy file (<policy version="1">): its attributes and that every child
// is a policy element. `include` children are refused: an included file includes nothing.
void check_policy_root(const xml_source& src, const pugi::xml_node& root, diagnostics& diag);

// Reads every suppression list's file into its entries (suppression_entries::load). Call once on
// a freshly loaded configuration, before it is published; a list left unloaded suppresses every
// record (fail closed). Returns one error per unreadable file, at the list's position.
[[nodiscard]] std::vector<load_error> load_suppression_lists(const policy& rules);

}  // namespace exportwall::config
