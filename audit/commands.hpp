#pragma once
// `exportwall audit list|show|stats|verify|report …`: argv[0] is "audit". Returns the exit code.

namespace exportwall::audit {

[[nodiscard]] int run_audit(int argc, char** argv);

}  // namespace exportwall::audit
