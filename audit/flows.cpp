#include "audit/flows.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace exportwall::audit {

boost::system::error_code collect_flows(const std::string& log_path, const audit_query& query,
                                        flow_summary& out) {
    out = flow_summary{};
    out.hourly = query.hourly;
    audit_query q = query;
    q.filter.decision.clear();
    q.category = record_category::any;
    using key = std::tuple<std::string, std::string, std::string>;
    std::map<key, flow> by_key;
    // bucket -> flow key -> records; folded into vectors once the flows are ordered.
    std::map<std::string, std::map<key, std::uint64_t>> by_bucket;
    const auto ec = for_each_record(log_path, q.filter, [&](const record& r) {
        if (!q.matches(r)) return true;
        const auto d = decision_of(r);
        const bool delivered =
            d == decision::allowed || d == decision::filtered || d == decision::aborted;
        const bool refused =
            (d == decision::blocked || d == decision::would_block) && is_blocked_transfer(r);
        if (!delivered && !refused) return true;  // access errors, alerts, loads, checkpoints
        if (d == decision::aborted && r.records_out == 0) return true;  // nothing left
        const key k{r.client, r.purpose, r.destination};
        const auto found = by_key.try_emplace(k);
        flow& f = found.first->second;
        if (found.second) {
            f.client = r.client;
            f.purpose = r.purpose;
            f.destination = r.destination;
        }
        if (f.destination_kind.empty()) f.destination_kind = r.destination_kind;
        if (refused) {
            ++f.refused;
            ++out.refused;
            return true;
        }
        ++f.exports;
        f.records += r.records_out;
        f.bytes += r.bytes_out;
        ++out.exports;
        out.delivered_records += r.records_out;
        // Record times are RFC 3339 UTC of one shape: the day is the first 10 characters.
        const std::string bucket = r.time.substr(0, query.hourly ? 13 : 10);
        by_bucket[bucket][k] += r.records_out;
        return true;
    });
    if (ec) return ec;
    std::vector<std::pair<key, flow>> ordered(by_key.begin(), by_key.end());
    std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
        return a.second.records != b.second.records ? a.second.records > b.second.records
                                                    : a.second.refused > b.second.refused;
    });
    std::map<key, std::size_t> index;
    for (auto& [k, f] : ordered) {
        index.emplace(k, out.flows.size());
        out.flows.push_back(std::move(f));
    }
    for (const auto& [bucket, counts] : by_bucket) {
        out.buckets.push_back(bucket);
        std::vector<std::uint64_t> row(out.flows.size(), 0);
        for (const auto& [k, n] : counts) row[index.at(k)] = n;
        out.records.push_back(std::move(row));
    }
    return {};
}

std::string render_flows(const flow_summary& s) {
    boost::json::object o;
    o["bucket"] = s.hourly ? "hour" : "day";
    o["exports"] = s.exports;
    o["records"] = s.delivered_records;
    o["refused"] = s.refused;
    boost::json::array flows;
    for (const auto& f : s.flows) {
        boost::json::object j;
        j["client"] = f.client;
        j["purpose"] = f.purpose;
        j["destination"] = f.destination;
        j["destination_kind"] = f.destination_kind;
        j["exports"] = f.exports;
        j["records"] = f.records;
        j["bytes"] = f.bytes;
        j["refused"] = f.refused;
        flows.push_back(std::move(j));
    }
    o["flows"] = std::move(flows);
    boost::json::array buckets, series;
    for (const auto& b : s.buckets) buckets.emplace_back(b);
    for (const auto& row : s.records) {
        boost::json::array counts;
        for (const auto n : row) counts.emplace_back(n);
        series.push_back(std::move(counts));
    }
    o["buckets"] = std::move(buckets);
    o["series"] = std::move(series);
    return boost::json::serialize(o);
}

}  // namespace exportwall::audit
