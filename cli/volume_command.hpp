#pragma once
// `exportwall volume-holds [list | clear --client C --purpose P] [--admin URL] [--token-file F]`:
// the volume alerts' holds, through a running proxy's admin listener (GET /admin/volume-holds,
// POST /admin/volume-holds/clear). argv[0] is "volume-holds". The bearer token comes from
// --token-file or the EXPORTWALL_ADMIN_TOKEN environment variable, never from the command line.
// Exit codes: 0 success, 1 failure (no such hold, the listener unreachable or refusing), 2 usage.

#include <iosfwd>

namespace exportwall::cli {

[[nodiscard]] int run_volume_holds(int argc, char** argv);
// The same, writing to `out` and `err` (tests run the command in-process).
[[nodiscard]] int run_volume_holds(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace exportwall::cli
