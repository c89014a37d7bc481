#pragma once
// `exportwall serve --config FILE`: argv[0] is "serve". Returns the process exit code.

namespace exportwall::proxy {

[[nodiscard]] int run_serve(int argc, char** argv);

}  // namespace exportwall::proxy
