#pragma once
// What every `exportwall` command shares: the exit codes `exportwall --help` and the docs
// promise, and one way to parse a command line and report a usage error. Only cli/ parses
// arguments (CLI11); config/, audit/ and proxy/ are handed values.

#include <iosfwd>
#include <optional>

namespace CLI {
class App;
}  // namespace CLI

namespace exportwall::cli {

// The exit codes of every command (a command's --help names what 1 means for it).
inline constexpr int exit_success = 0;  // done; the answer is yes (valid, allowed, intact)
inline constexpr int exit_failure = 1;  // the answer is no (invalid, refused, broken, they differ)
inline constexpr int exit_usage = 2;    // usage error: unknown option, missing argument or value

// Parses argv (argv[0] is the command's name) into `app`. nullopt: parsed, run the command.
// Otherwise the exit code to return at once: exit_success after --help (printed to `out`),
// exit_usage after a usage error, reported on `err` in one line, the same for every command:
// "<app name>: <message> (see --help)".
[[nodiscard]] std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv,
                                                    std::ostream& out, std::ostream& err);

}  // namespace exportwall::cli
