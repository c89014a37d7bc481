// The `exportwall` binary: one command per operator task (DESIGN.md §3).

#include <cstdio>
#include <cstring>
#include <string_view>

#include "audit/commands.hpp"
#include "config/commands.hpp"
#include "proxy/serve.hpp"
#include "proxy/volume_command.hpp"

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
    "  hash-suppression [--match email|id] [FILE]   suppression-list entries (SHA-256)\n"
    "  audit list|show|stats|verify|report …   review the audit trail\n"
    "  volume-holds [list|clear --client C --purpose P]   grants held by a volume alert\n"
    "\n"
    "Run 'exportwall COMMAND --help' for a command's options.\n"
    "Exit codes: 0 success, 1 failure (invalid configuration, failed check), 2 usage error.\n";

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fputs(usage, stderr);
        return 2;
    }
    std::string_view command = argv[1];
    if (command == "--help" || command == "-h" || command == "help") {
        std::fputs(usage, stdout);
        return 0;
    }
    if (command == "--version") {
        std::puts("exportwall " EXPORTWALL_VERSION);
        return 0;
    }
    int sub_argc = argc - 1;
    char** sub_argv = argv + 1;
    if (command == "serve") return exportwall::proxy::run_serve(sub_argc, sub_argv);
    if (command == "check-config") return exportwall::config::run_check_config(sub_argc, sub_argv);
    if (command == "explain") return exportwall::config::run_explain(sub_argc, sub_argv);
    if (command == "test-policy") return exportwall::config::run_test_policy(sub_argc, sub_argv);
    if (command == "hash-suppression")
        return exportwall::config::run_hash_suppression(sub_argc, sub_argv);
    if (command == "audit") return exportwall::audit::run_audit(sub_argc, sub_argv);
    if (command == "volume-holds") return exportwall::proxy::run_volume_holds(sub_argc, sub_argv);
    std::fprintf(stderr, "exportwall: unknown command '%s' (see exportwall --help)\n", argv[1]);
    return 2;
}
