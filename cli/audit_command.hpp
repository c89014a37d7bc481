#pragma once
// `exportwall audit list|show|stats|verify|report …`: argv[0] is "audit". Returns the exit code:
// 0 success (verify: chain intact), 1 verify found the chain broken or show found no such record,
// 2 usage error or the trail could not be read. Errors are one line on stderr. (`audit subject`
// and `audit replay` are cli/subject_command.hpp and cli/replay_command.hpp.)

#include <iosfwd>

namespace exportwall::cli {

[[nodiscard]] int run_audit(int argc, char** argv);

// The same, writing to `out` and `err` (tests run the commands in-process).
[[nodiscard]] int run_audit(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace exportwall::cli
