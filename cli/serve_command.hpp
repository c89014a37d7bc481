#pragma once
// `exportwall serve --config FILE [--ports-file F] [--threads N]`: argv[0] is "serve". Parses the
// command line and runs the proxy (proxy/serve.hpp). Exit codes: 0 clean stop, 1 invalid
// configuration or listener failure, 2 usage error.

namespace exportwall::cli {

[[nodiscard]] int run_serve(int argc, char** argv);

}  // namespace exportwall::cli
