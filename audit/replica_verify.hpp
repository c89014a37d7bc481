#pragma once
// Verifying every replica's chain from files where their records are mixed: a central store's
// export of what several replicas forwarded (`audit verify --merged`). Each replica keeps its own
// chain (record::replica); in an export its lines may be interleaved with other replicas', in any
// order, repeated (syslog delivery is at least once: a record resent after a connection loss
// arrives twice), and each may stand behind a syslog header (the record is the line from its
// `{"seq":`). The records of each replica are put in seq order, exact repeats counted and
// dropped, and the chain checked from the first record the export holds — which is seq 1 only
// when the store kept everything, so each result says where it starts.

#include <cstdint>
#include <string>
#include <vector>

namespace exportwall::audit {

struct replica_chain {
    std::string replica;  // "" for records that name none (trails from before replica names)
    bool ok = false;
    std::uint64_t records = 0;     // distinct records
    std::uint64_t duplicates = 0;  // lines repeating a record exactly
    std::uint64_t first_seq = 0;   // where the chain starts in the export
    std::uint64_t last_seq = 0;
    std::string last_hash;  // of the last record (when ok)
    // When not ok: one sentence naming the first problem in seq order and where (file:line);
    // never a field value.
    std::string problem;
};

struct merged_verify_result {
    bool ok = false;                      // every replica's chain is whole, and a record was found
    std::vector<replica_chain> replicas;  // by replica name
    std::uint64_t lines = 0;
    std::uint64_t other_lines = 0;  // lines holding no audit record (other syslog messages)
    std::string io_error;           // "<file>: <error>" when a file cannot be read
};

// Reads every line of `files` (each a merged export or one replica's trail file).
[[nodiscard]] merged_verify_result verify_merged(const std::vector<std::string>& files);

}  // namespace exportwall::audit
