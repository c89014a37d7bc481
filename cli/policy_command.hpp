#pragma once
// `exportwall policy ropa|diff …` (argv[0] is "policy"): the DPO's views of a policy.
//
//   policy ropa --config FILE [--format html|json|csv] [--log TRAIL [--since T] [--until T]]
//       The record of processing activities (GDPR art. 30) the policy holds (config/ropa.hpp);
//       with --log, what flowed per purpose x destination in the period, read from the audit
//       trail (a trail's active file, or the directory holding it).
//   policy diff OLD NEW [--format text|json]
//       What changes between two configurations (config/policy_diff.hpp), compared after
//       loading, so reordering and comments make no difference.
//
// The builders are pure and live in config/ (ropa --log reads the audit trail through audit/).
// Exit codes: ropa 0 success; diff 0 equivalent, 1 they differ; both 2 for a usage error, a
// configuration that does not load (errors as file:line:col: message) or an unreadable trail.

#include <iosfwd>

namespace exportwall::cli {

[[nodiscard]] int run_policy(int argc, char** argv);
// The same, writing to `out` and `err` (tests run the command in-process).
[[nodiscard]] int run_policy(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace exportwall::cli
