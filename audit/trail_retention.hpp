#pragma once
// Retention of the audit trail's rotated files: a size and an age budget, applied oldest file
// first, never to the active file and never to a file the SIEM forwarder has not shipped yet.
// Before a file goes, the pruning anchor (audit/trail_marks.hpp) names its last record, so that
// `audit verify` accepts a trail that starts there and still fails one whose first files were
// removed by anything else.

#include <cstdint>
#include <ctime>
#include <limits>
#include <string>

#include <boost/system/error_code.hpp>

namespace exportwall::audit {

// <audit keep-bytes keep-days>. Zero: no such budget.
struct retention_policy {
    std::uint64_t keep_bytes = 0;  // the trail's files (rotated and active) together
    std::uint32_t keep_days = 0;   // rotated files last written longer ago than this many days
    [[nodiscard]] bool enabled() const { return keep_bytes != 0 || keep_days != 0; }
};

// Every rotated file counts as shipped (no forwarder).
inline constexpr std::uint64_t all_shipped = std::numeric_limits<std::uint64_t>::max();

struct prune_result {
    std::uint64_t files_removed = 0;
    std::uint64_t bytes_removed = 0;
    // Rotated files over a budget that stay because the forwarder has not shipped them yet.
    std::uint64_t files_kept_unshipped = 0;
    boost::system::error_code error;  // the first failure (listing, reading, anchor, unlink)
};

// Removes the oldest rotated files of the trail whose active file is `active_path` while the
// trail is larger than policy.keep_bytes or the oldest was last written more than
// policy.keep_days before `now`. Stops at the first file that is not shipped: a rotated file is
// shipped when its first seq is below `shipped_before` (the first seq of the file the
// forwarder's acknowledged position is in; all_shipped without a forwarder). Writes the pruning
// anchor before each removal. Never touches the active file, so a writer may rotate meanwhile.
[[nodiscard]] prune_result prune_trail(const std::string& active_path,
                                       const retention_policy& policy, std::uint64_t shipped_before,
                                       std::time_t now);

}  // namespace exportwall::audit
