#pragma once
// The configuration commands of the `exportwall` binary. Each takes the arguments after the
// command name (argv[0] is the command name) and returns the process exit code. An unknown
// option, a missing argument or a value outside an option's set (`--format xml`) is a usage
// error: exit 2. What they compute is config/ (review.hpp, explain.hpp, policy_cases.hpp).

namespace exportwall::cli {

// exportwall check-config FILE [--format text|json] [--offline]: 0 valid, 1 invalid (errors as
// file:line:col: message), 2 usage. Text prints `revision <hex>` on a line of its own.
[[nodiscard]] int run_check_config(int argc, char** argv);
// exportwall explain --config FILE --client C --purpose P --destination D --target T
// [--format text|json] (--json = --format json): 0 allowed, 1 refused, 2 usage.
[[nodiscard]] int run_explain(int argc, char** argv);
// exportwall test-policy --config FILE CASES [--format text|json]: "N passed, N failed"; 1 when
// any case fails, 2 for a cases file that says something test-policy does not read.
[[nodiscard]] int run_test_policy(int argc, char** argv);
// exportwall hash-suppression [--match email|id] [FILE]: the suppression-list form of each line
// (SHA-256 of the normalised value, hex), comments and blank lines kept; reads stdin without FILE.
[[nodiscard]] int run_hash_suppression(int argc, char** argv);

}  // namespace exportwall::cli
