#pragma once
// `exportwall serve` once its command line is parsed (cli/serve_command.cpp): loads the
// configuration, opens the access log, the audit trail and its SIEM forwarder, runs the server
// until it stops, then closes the trail. Errors that stop the start are printed on stderr
// (file:line:col: message for the configuration).

#include <string>

#include "proxy/server.hpp"

namespace exportwall::proxy {

// Returns the process exit code: 0 after a clean stop, 1 for an invalid configuration, an access
// log or signing key that cannot be opened, a damaged audit trail or a listener failure.
[[nodiscard]] int serve(const std::string& config_path, const server_options& options);

}  // namespace exportwall::proxy
