#include "cli/serve_command.hpp"

#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/command_line.hpp"
#include "proxy/serve.hpp"

namespace exportwall::cli {

int run_serve(int argc, char** argv) {
    CLI::App app{"Run the exportwall proxy.", "exportwall serve"};
    std::string config_path;
    proxy::server_options options;
    app.add_option("--config", config_path, "configuration file (XML)")->required();
    app.add_option("--ports-file", options.ports_file,
                   "write the bound ports as {\"listeners\":[…],\"admin\":p} to this file");
    app.add_option("--threads", options.threads,
                   "io threads (default: the configuration's, else the CPUs the process may use)");
    app.footer(
        "Signals: SIGTERM/SIGINT fail /readyz, keep serving for the drain delay, then stop\n"
        "accepting and drain in-flight requests up to the shutdown grace (exports still running\n"
        "then are aborted and audited), then exit 0; SIGHUP reloads the configuration (an invalid\n"
        "one is refused and the old one stays); SIGUSR1 reopens the access log file and\n"
        "reconnects to syslog (logrotate); SIGUSR2 and SIGALRM are logged and ignored.\n"
        "Exit codes: 0 clean stop, 1 invalid configuration or listener failure, 2 usage error.");
    if (auto code = parse_command_line(app, argc, argv, std::cout, std::cerr)) return *code;
    return proxy::serve(config_path, options);
}

}  // namespace exportwall::cli
