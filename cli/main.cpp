// The `exportwall` binary: one command per operator task (DESIGN.md §3).

#include <cstdio>
#include <cstring>
#include <string_view>

#include "cli/audit_command.hpp"
#include "cli/command_line.hpp"
#include "cli/config_commands.hpp"
#include "cli/policy_command.hpp"
#include "cli/replay_command.hpp"
#include "cli/serve_command.hpp"
#include "cli/subject_command.hpp"
#include "cli/volume_command.hpp"

namespace {

constexpr const char* usage =
    "usage: exportwall COMMAND [ARGS]\n"
    "\n"
    "A purpose-bound firewall for CRM exports.\n"
    "\n"
    "commands:\n"
    "  serve --config FILE       run the proxy\n"
    "  check-config FILE         validate a configuration (errors as file:line:col: message)\n"
    "  explain --config FILE …   show the decision for one export request\n"
    "  test-policy --config FILE CASES   run an operator's policy test cases\n"
    "  policy ropa --config FILE [--format html|json|csv] [--log TRAIL]   record of processing\n"
    "  policy diff OLD NEW [--format text|json]   what a policy change changes (1: they differ)\n"
    "  hash-suppression [--match email|id] [FILE]   suppression-list entries (SHA-256)\n"
    "  audit list|show|stats|verify|report …   review the audit trail\n"
    "  audit subject --config FILE --id ID | --email ADDRESS   exports that delivered a person\n"
    "  audit replay --config NEW [LOG]   what the recorded exports would meet under NEW\n"
    "  volume-holds [list|clear --client C --purpose P]   grants held by a volume alert\n"
    "\n"
    "Run 'exportwall COMMAND --help' for a command's options; check-config, explain and\n"
    "test-policy take --format text|json.\n"
    "Exit codes: 0 success, 1 failure (invalid configuration, failed check), 2 usage error.\n";

}  // namespace

int main(int argc, char** argv) {
    using namespace exportwall::cli;
    if (argc < 2) {
        std::fputs(usage, stderr);
        return exit_usage;
    }
    std::string_view command = argv[1];
    if (command == "--help" || command == "-h" || command == "help") {
        std::fputs(usage, stdout);
        return exit_success;
    }
    if (command == "--version") {
        std::puts("exportwall " EXPORTWALL_VERSION "\nbuild: " EXPORTWALL_BUILD);
        return exit_success;
    }
    int sub_argc = argc - 1;
    char** sub_argv = argv + 1;
    if (command == "serve") return run_serve(sub_argc, sub_argv);
    if (command == "check-config") return run_check_config(sub_argc, sub_argv);
    if (command == "explain") return run_explain(sub_argc, sub_argv);
    if (command == "test-policy") return run_test_policy(sub_argc, sub_argv);
    if (command == "hash-suppression") return run_hash_suppression(sub_argc, sub_argv);
    // `audit subject` and `audit replay` read the configuration as well as the trail.
    if (command == "audit" && argc > 2 && std::string_view(argv[2]) == "subject")
        return run_audit_subject(argc - 2, argv + 2);
    if (command == "audit" && argc > 2 && std::string_view(argv[2]) == "replay")
        return run_audit_replay(argc - 2, argv + 2);
    if (command == "audit") return run_audit(sub_argc, sub_argv);
    if (command == "policy") return run_policy(sub_argc, sub_argv);
    if (command == "volume-holds") return run_volume_holds(sub_argc, sub_argv);
    std::fprintf(stderr, "exportwall: unknown command '%s' (see exportwall --help)\n", argv[1]);
    return exit_usage;
}
