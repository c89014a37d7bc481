#pragma once
// `exportwall audit ARGS…` run in process, for the tests of the audit commands (tests/unit/cli)
// and the audit tests that check a command's view of what they wrote.

#include <sstream>
#include <string>
#include <vector>

#include "cli/audit_command.hpp"

namespace exportwall::audit::test {

// `exportwall audit ARGS…` in process: its exit code and what it printed.
struct cli_outcome {
    int code;
    std::string out, err;
};

inline cli_outcome run_cli(std::vector<std::string> args) {
    args.insert(args.begin(), "audit");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    std::ostringstream out, err;
    const int code = cli::run_audit(static_cast<int>(argv.size()), argv.data(), out, err);
    return {code, out.str(), err.str()};
}

}  // namespace exportwall::audit::test
