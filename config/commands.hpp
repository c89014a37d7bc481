#pragma once
// The configuration commands of the `exportwall` binary. Each takes the arguments after the
// command name (argv[0] is the command name) and returns the process exit code.

namespace exportwall::config {

// exportwall check-config FILE: 0 valid, 1 invalid (errors as file:line:col: message), 2 usage.
[[nodiscard]] int run_check_config(int argc, char** argv);
// exportwall explain --config FILE --client C --purpose P --destination D --target T [--json]
[[nodiscard]] int run_explain(int argc, char** argv);
// exportwall test-policy --config FILE CASES: "N passed, N failed"; 1 when any case fails.
[[nodiscard]] int run_test_policy(int argc, char** argv);
// exportwall hash-suppression [--match email|id] [FILE]: the suppression-list form of each line
// (SHA-256 of the normalised value, hex), comments and blank lines kept; reads stdin without FILE.
[[nodiscard]] int run_hash_suppression(int argc, char** argv);

}  // namespace exportwall::config
