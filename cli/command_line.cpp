#include "cli/command_line.hpp"

#include <ostream>

#include <CLI/CLI.hpp>

namespace exportwall::cli {

std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv, std::ostream& out,
                                      std::ostream& err) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help (and CLI11's other successful exits) print through CLI11.
        if (e.get_exit_code() == 0) return app.exit(e, out, err) == 0 ? exit_success : exit_usage;
        // CLI11 would put the help hint on a second line; every command keeps errors to one.
        err << app.get_name() << ": " << e.what() << " (see --help)\n";
        return exit_usage;
    }
    return std::nullopt;
}

}  // namespace exportwall::cli
