#include "audit/commands.hpp"

#include <cstdio>

// Placeholder until the audit commands land.
namespace exportwall::audit {

int run_audit(int, char**) {
    std::fputs("exportwall audit: not available in this build\n", stderr);
    return 2;
}

}  // namespace exportwall::audit
