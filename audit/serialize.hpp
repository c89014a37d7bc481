#pragma once
// The audit record on disk: one JSON object per line, keys in the fixed order of DESIGN.md §3, and
// the hash chain over its canonical bytes (docs/audit-trail.md, "Canonical serialisation").
//
// line      = canonical-without-closing-brace + ',"hash":"' + 64 hex + '"}' + '\n'
// canonical = the line without ',"hash":"…"' and without '\n'
// hash      = lowercase hex SHA-256(prev_hash as 64 ASCII hex bytes || canonical)

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include <boost/json/parser.hpp>
#include <boost/system/error_code.hpp>

#include "audit/record.hpp"

namespace exportwall::audit {

// 64 ASCII zeros: the prev_hash of the first record ever written.
inline constexpr std::string_view genesis_hash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Length of the hash member and the closing brace at the end of every line:
// ',"hash":"' (9) + 64 hex + '"}' (2).
inline constexpr std::size_t hash_suffix_size = 75;

// Appends the canonical bytes of `r` (every field except "hash", fixed key order) to `out`.
// Optional members are written only when set, each in its fixed place: "replica" after "id"
// (when not empty); "rule_id","legal_reference"
// after "reason" (when rule_id is not empty); "via" and then "trace_id" after "remote" (each only
// when not empty); "fields_transformed" and then "transform_failed"
// after "fields_stripped" (each only when not empty, keys sorted like "records_dropped");
// "subject_keys","subject_index" after "records_dropped" (when subject_index is not empty); and
// "shadow_decision","shadow_reason","shadow_fields_stripped" after "policy_revision" (when
// shadow_decision is not empty), then "policy_trigger","policy_files","suppression_lists" (when
// policy_trigger is not empty; file path -> digest, keys sorted), then "checkpoint_seq",
// "checkpoint_hash","checkpoint_key_id","checkpoint_signature" (when checkpoint_signature is not
// empty), just before "prev_hash".
// Strings are escaped by common::append_json_string (quote, backslash, control bytes; invalid
// UTF-8 becomes U+FFFD) so the line always parses and re-serialises to the same bytes.
void append_canonical(const record& r, std::string& out);

// Appends the complete line of `r` (canonical bytes with r.hash spliced in before the closing
// brace, then '\n') to `out`.
void append_line(const record& r, std::string& out);

// SHA-256 over (prev_hash || canonical), reusing one digest context. Not thread-safe: one per
// thread.
class chain_hasher {
  public:
    chain_hasher();
    ~chain_hasher();
    chain_hasher(const chain_hasher&) = delete;
    chain_hasher& operator=(const chain_hasher&) = delete;

    // Lowercase hex hash of the record whose canonical bytes are `head` followed by `tail`
    // (two pieces so the reader can hash a line in place without copying).
    [[nodiscard]] std::string hash(std::string_view prev_hash, std::string_view head,
                                   std::string_view tail = {});

    // The same hash written as 64 lowercase hex characters into `out` (no terminator, no
    // allocation): the per-record path of the writer and of verify.
    void hash_hex(std::string_view prev_hash, std::string_view head, std::string_view tail,
                  char* out);

  private:
    void* ctx_;  // EVP_MD_CTX
    void* md_;   // EVP_MD (fetched once)
};

// Errors of the audit component's own making (system errors keep their errno category).
enum class audit_error {
    unparsable_line = 1,  // a line is not a well-formed audit record
    queue_full,           // the writer's queue is at max_queue: the append is refused
    corrupt_log,          // start-up found damage other than a torn last line
    shut_down,            // the writer is stopping and takes no more records
    no_log,               // no audit log file exists at the given path
};
[[nodiscard]] const boost::system::error_category& audit_category() noexcept;
[[nodiscard]] boost::system::error_code make_error_code(audit_error e) noexcept;

// Parses one line (without its '\n') into `out`, reusing `parser`. Unknown keys, missing keys or
// wrong types are errors: only lines this writer produced parse. An optional group the line
// lacks leaves its members of `out` empty.
[[nodiscard]] boost::system::error_code parse_line(std::string_view line,
                                                   boost::json::parser& parser, record& out);

}  // namespace exportwall::audit

template <>
struct boost::system::is_error_code_enum<exportwall::audit::audit_error> : std::true_type {};
