#pragma once
// The small files kept beside an audit trail, one line each, always replaced whole (write a
// temporary file, fsync, rename, fsync the directory): the syslog forwarder's position
// (`<trail>.syslog-state`: where the collector has acknowledged up to, so that a restart resumes
// there) and the pruning anchor (`<trail>.pruned`: the last record retention removed, so that
// `audit verify` tells a pruned beginning from a removed one).
//
//   exportwall-syslog-state 1 <file_first_seq> <offset> <seq> <hash or ->
//   exportwall-audit-pruned 1 <through_seq> <hash>
//
// Numbers are decimal without sign or leading zeros; hashes are 64 lowercase hex digits.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

namespace exportwall::audit {

// A place in the trail between two lines, named so that it survives rotation (a rotated file
// keeps its first seq in its name) and a restart.
struct trail_position {
    std::uint64_t file_first_seq = 0;  // the first seq of the file it is in; 0: none known yet
    std::uint64_t offset = 0;          // bytes of whole lines of that file before it
    std::uint64_t seq = 0;             // the seq of the line just before it; 0: none
    std::string hash;                  // that line's hash (64 hex); "" when seq is 0
    bool operator==(const trail_position&) const = default;
};

// What retention removed last: every record up to through_seq, the last of which had `hash`.
struct pruned_anchor {
    std::uint64_t through_seq = 0;
    std::string hash;
    bool operator==(const pruned_anchor&) const = default;
};

[[nodiscard]] std::string syslog_state_path(std::string_view trail_path);  // "<trail>.syslog-state"
[[nodiscard]] std::string pruned_anchor_path(std::string_view trail_path);  // "<trail>.pruned"

// The line of each file ('\n' included), and its parser: nullopt for anything else than exactly
// such a line (a newline at the end optional) — a damaged file is never half believed.
[[nodiscard]] std::string format_syslog_state(const trail_position& p);
[[nodiscard]] std::optional<trail_position> parse_syslog_state(std::string_view text);
[[nodiscard]] std::string format_pruned_anchor(const pruned_anchor& a);
[[nodiscard]] std::optional<pruned_anchor> parse_pruned_anchor(std::string_view text);

// Replaces `path` with `bytes` atomically and durably: `<path>.tmp`, fsync, rename, fsync of the
// directory. Errors: the failing call's errno.
[[nodiscard]] boost::system::error_code replace_file(const std::string& path,
                                                     std::string_view bytes);

// Reads a whole small file (at most 4 KiB); nullopt when it does not exist or cannot be read.
[[nodiscard]] std::optional<std::string> read_small_file(const std::string& path);

}  // namespace exportwall::audit
