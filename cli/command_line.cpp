#include "cli/command_line.hpp"

#include <ostream>

#include <CLI/CLI.hpp>

namespace exportwall::cli {

std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv, std::ostream& out,
                                      std::ostream& err, usage_errors style) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help (and CLI11's other successful exits) print through CLI11 in either style.
        if (e.get_exit_code() == 0 || style == usage_errors::cli11)
            return app.exit(e, out, err) == 0 ? exit_success : exit_usage;
        // CLI11 puts the help hint on a second line; keep errors to one line.
        err << app.get_name() << ": " << e.what() << " (see --help)\n";
        return exit_usage;
    }
    return std::nullopt;
}

}  // namespace exportwall::cli
