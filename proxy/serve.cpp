#include "proxy/serve.hpp"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "config/loader.hpp"
#include "proxy/access_log.hpp"
#include "proxy/runtime.hpp"
#include "proxy/server.hpp"

namespace exportwall::proxy {

int run_serve(int argc, char** argv) {
    CLI::App app{"Run the exportwall proxy.", "exportwall serve"};
    std::string config_path;
    server_options options;
    app.add_option("--config", config_path, "configuration file (XML)")->required();
    app.add_option("--ports-file", options.ports_file,
                   "write the bound ports as {\"listeners\":[…],\"admin\":p} to this file");
    app.add_option("--threads", options.threads,
                   "io threads (default: the configuration's, else the number of cores)");
    app.footer(
        "Signals: SIGTERM/SIGINT stop accepting and drain in-flight requests up to the shutdown\n"
        "grace, then exit 0; SIGHUP reloads the configuration (an invalid one is refused and the\n"
        "old one stays). Exit codes: 0 clean stop, 1 invalid configuration or listener failure,\n"
        "2 usage error.");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? 0 : 2;
    }

    auto loaded = config::load_configuration_file(config_path);
    if (!loaded) {
        for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
        return 1;
    }
    std::vector<std::string> errors;
    auto snap = prepare_snapshot(loaded.config, errors);
    if (!snap) {
        for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
        return 1;
    }
    const auto& net_cfg = snap->config->net;
    setup_operational_log(net_cfg.log.level);
    std::string log_error;
    auto log = std::make_unique<access_log>(net_cfg.log, log_error);
    if (!log_error.empty()) {
        std::fprintf(stderr, "%s: cannot open the access log: %s\n", net_cfg.log.access_log.c_str(),
                     log_error.c_str());
        return 1;
    }
    runtime rt(config_path, std::move(snap), std::move(log));
    return run_server(rt, options);
}

}  // namespace exportwall::proxy
