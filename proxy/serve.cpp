#include "proxy/serve.hpp"

#include <cstdio>

// Placeholder until the proxy core lands.
namespace exportwall::proxy {

int run_serve(int, char**) {
    std::fputs("exportwall serve: not available in this build\n", stderr);
    return 2;
}

}  // namespace exportwall::proxy
