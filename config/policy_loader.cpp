#include "config/policy_loader.hpp"

// Placeholder until the policy model lands: accepts no policy element.
namespace exportwall::config {

bool is_policy_element(std::string_view) { return false; }

void load_policy(const xml_source&, const pugi::xml_node&, const settings&, const std::string&,
                 policy&, diagnostics&) {}

}  // namespace exportwall::config
