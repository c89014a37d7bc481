#pragma once
// A configuration read for an operator's review rather than to serve: the commands that check,
// explain and compare configurations (check-config, explain, test-policy, policy ropa|diff) load
// files through here. No output: callers print the errors and warnings.

#include <string>
#include <vector>

#include "config/loader.hpp"

namespace exportwall::config {

// True when `file` parses as XML whose root is <policy> (a DPO's policy file, as an <include>
// names it) rather than a whole configuration.
[[nodiscard]] bool is_policy_file(const std::string& file);

// A configuration file, or a DPO's policy file alone (root <policy version="1">), loaded as
// check-config loads it (the suppression lists are not read).
[[nodiscard]] load_result load_for_review(const std::string& file);

// check-config's warnings (the configuration stays valid): grants whose valid-until has passed or
// whose valid-from has not come yet, and suppression lists whose file is already older than their
// max-age (exports that use them would be refused suppression_list_stale). Reads the clock and
// the lists' modification times.
[[nodiscard]] std::vector<load_error> review_warnings(const policy& p);

}  // namespace exportwall::config
