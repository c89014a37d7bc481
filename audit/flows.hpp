#pragma once
// The flows of the review page: which client sent data for which purpose to which destination,
// and how much over time, folded from the audit trail. Plain functions; /admin/flows serves
// render_flows() as JSON and the page draws it (inline SVG).

#include <cstdint>
#include <string>
#include <vector>

#include <boost/system/error_code.hpp>

#include "audit/query.hpp"

namespace exportwall::audit {

// One client → purpose → destination flow. Exports that delivered data (allowed, filtered, and
// aborted ones for what they delivered before the cut) count in exports, records and bytes;
// blocked transfers of the same declaration count in refused.
struct flow {
    std::string client, purpose, destination, destination_kind;
    std::uint64_t exports = 0;
    std::uint64_t records = 0;  // records_out, summed
    std::uint64_t bytes = 0;    // bytes_out, summed
    std::uint64_t refused = 0;  // decision blocked (or would-block), no access error
};

struct flow_summary {
    std::vector<flow> flows;           // by records, largest first
    std::vector<std::string> buckets;  // UTC days "YYYY-MM-DD" or hours "YYYY-MM-DDTHH", in order
    // records[b][f]: records flow f delivered in bucket b.
    std::vector<std::vector<std::uint64_t>> records;
    bool hourly = false;
    std::uint64_t exports = 0, delivered_records = 0, refused = 0;
};

// Folds the records matching `query` (its decision list and category are ignored: a flow is
// what was delivered and what was refused of the same declarations) into `out`.
[[nodiscard]] boost::system::error_code collect_flows(const std::string& log_path,
                                                      const audit_query& query, flow_summary& out);

// {"bucket":"day"|"hour","exports":n,"records":n,"refused":n,"flows":[{"client","purpose",
// "destination","destination_kind","exports","records","bytes","refused"}],"buckets":["…"],
// "series":[[n per flow] per bucket]}
[[nodiscard]] std::string render_flows(const flow_summary& flows);

}  // namespace exportwall::audit
