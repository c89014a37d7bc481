#pragma once
// Reading the audit trail back: the rotated set in seq order, filters for review, and the chain
// verification that proves nothing was edited, removed, reordered or truncated.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

#include "audit/record.hpp"

namespace exportwall::audit {

// One file of the trail: a rotated file `<stem>-<YYYYMMDDTHHMMSSZ>-<firstseq>.jsonl`, or the
// active file itself (always last).
struct log_file {
    std::string path;
    std::uint64_t first_seq = 0;  // from the rotated name; 0 for the active file
    bool active = false;
};

// The files of the trail whose active file is `active_path`, oldest first. The active file is
// listed only when it exists; torn-line files (`<path>.torn-*`) are not part of the trail.
[[nodiscard]] std::vector<log_file> find_log_files(const std::string& active_path);

// The seq and hash of a line as the writer wrote it (`{"seq":N,…,"hash":"<64 hex>"}`, without
// its '\n'), read without parsing the rest; nullopt when it does not look like an audit record.
struct line_head {
    std::uint64_t seq = 0;
    std::string_view hash;  // into the line
};
[[nodiscard]] std::optional<line_head> read_line_head(std::string_view line);

// The replica a line names (`,"replica":"…"` after its id), "" when it names none.
[[nodiscard]] std::string_view read_line_replica(std::string_view line);

// Which records a review wants. Empty lists match everything; a list matches when the record's
// value equals one of its items. since/until are RFC 3339 instants (inclusive / exclusive).
struct record_filter {
    std::vector<std::string> decision, reason, client, purpose, destination;
    std::optional<std::int64_t> since_ms, until_ms;  // Unix epoch milliseconds
    std::vector<std::string> id;                     // record ids (`audit show`)

    [[nodiscard]] bool matches(const record& r) const;
};

// Parses an RFC 3339 date-time ("2026-11-29T18:59:20.123Z", offsets allowed) to Unix epoch
// milliseconds; nullopt when malformed.
[[nodiscard]] std::optional<std::int64_t> parse_rfc3339(std::string_view s);

// Sets f.since_ms / f.until_ms from the --since / --until of a command ("" = open). False, with
// `error` naming the option, when one is not an RFC 3339 date-time or date.
[[nodiscard]] bool set_period(record_filter& f, std::string_view since, std::string_view until,
                              std::string& error);

// Splits "a,b,c" into its non-empty items.
[[nodiscard]] std::vector<std::string> split_list(std::string_view s);

// Calls `visit` for every record matching `filter`, in file order (seq order in an intact
// trail); `visit` returns false to stop. Unparsable lines are skipped (verify reports them).
// Errors: the trail cannot be opened or read (no_log when no file exists).
[[nodiscard]] boost::system::error_code for_each_record(
    const std::string& active_path, const record_filter& filter,
    const std::function<bool(const record&)>& visit);

// What broke the chain first.
enum class chain_problem {
    none,                // intact
    hash_mismatch,       // the record's bytes do not hash to its "hash" (edited)
    prev_hash_mismatch,  // "prev_hash" is not the previous record's hash (inserted or replaced)
    seq_gap,             // records are missing (deleted line or file)
    duplicate,           // a seq appears twice
    reordered,           // a seq appears later than where it belongs (swapped lines)
    unparsable,          // a line is not an audit record
    truncated,           // a file ends in the middle of a line
    no_log,              // no file of the trail exists
    io_error,            // a file could not be read
};

[[nodiscard]] std::string_view to_string(chain_problem p);

struct verify_result {
    bool ok = false;
    chain_problem problem = chain_problem::none;
    std::uint64_t first_broken_seq = 0;  // the seq where the chain breaks (0 when ok)
    std::uint64_t records = 0;           // records checked (all when ok)
    std::uint64_t bytes = 0;             // bytes read
    std::uint64_t last_seq = 0;          // last seq of an intact chain
    std::string last_hash;               // hash of the last record of an intact chain
    std::string file;                    // the file and line where it breaks
    std::uint64_t line = 0;
    // Where the chain starts: seq 1 (over the genesis hash), or just after the records retention
    // pruned (the pruning anchor's through_seq, audit/trail_marks.hpp), then pruned_through > 0.
    std::uint64_t first_seq = 0;
    std::uint64_t pruned_through = 0;
    std::string replica;  // the replica the first record names ("" when none)
    // One sentence naming the first broken seq and why; never a field value.
    [[nodiscard]] std::string detail() const;
};

// Recomputes the chain across every file of the trail: seq 1 with 64-zero prev_hash — or, when
// retention pruned the oldest files, any record up to the one after the pruning anchor
// (`<trail>.pruned`), the anchor's record then in the chain with the anchor's hash — each seq one
// more than the last, each prev_hash the previous hash, each hash recomputed from the canonical
// bytes. A trail whose first files are gone without an anchor naming them fails (seq_gap at 1).
// Reads each file once, hashing lines in place. `live`: the writer may be appending right
// now, so an unterminated last line of the active file is not counted as truncation (the admin
// page uses this; `audit verify` does not). `checkpoint_lines`, when given, receives every line
// whose decision member reads "checkpoint" as written (`,"decision":"checkpoint"`), in order; they
// are hashed with the rest, so they are the trail's own when the result is ok.
[[nodiscard]] verify_result verify_chain(const std::string& active_path, bool live = false,
                                         std::vector<std::string>* checkpoint_lines = nullptr);

}  // namespace exportwall::audit
