#include "config/commands.hpp"

#include <cstdio>

#include "config/loader.hpp"

namespace exportwall::config {

int run_check_config(int argc, char** argv) {
    if (argc != 2) {
        std::fputs("usage: exportwall check-config FILE\n", stderr);
        return 2;
    }
    auto result = load_configuration_file(argv[1]);
    for (const auto& e : result.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    if (!result) return 1;
    std::printf("%s: ok (revision %s)\n", argv[1], result.config->revision.c_str());
    return 0;
}

int run_explain(int, char**) {
    std::fputs("exportwall explain: not available in this build\n", stderr);
    return 2;
}

int run_test_policy(int, char**) {
    std::fputs("exportwall test-policy: not available in this build\n", stderr);
    return 2;
}

}  // namespace exportwall::config
