#pragma once
// The running proxy: listeners, the admin listener, signal handling (SIGTERM/SIGINT drain and
// exit, SIGHUP reload, SIGUSR1 reopen logs, SIGUSR2/SIGALRM ignored) and the io_context threads.
// Called by `exportwall serve` once the configuration has loaded.

#include <memory>
#include <string>

#include "proxy/runtime.hpp"

namespace exportwall::proxy {

struct server_options {
    std::string ports_file;  // when set: {"listeners":[…],"admin":p} written after binding
    unsigned threads = 0;    // 0: the configuration's, else the number of cores
};

// Binds every listener and the admin listener, serves until SIGTERM/SIGINT (then fails /readyz,
// keeps serving for limits.drain_delay, closes the listeners, drains in-flight requests up to
// limits.shutdown_grace and aborts — audited, reason `shutdown` — those still running) and
// returns the process exit code: 0 after a clean stop, 1 when a listener cannot be set up
// (address in use, unreadable certificate, …). Ignores SIGPIPE for the whole process.
[[nodiscard]] int run_server(runtime& rt, const server_options& options);

}  // namespace exportwall::proxy
