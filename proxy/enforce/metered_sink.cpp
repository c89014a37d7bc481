#include "proxy/enforce/metered_sink.hpp"

#include <string_view>
#include <utility>

#include "audit/record.hpp"
#include "proxy/runtime.hpp"

namespace exportwall::proxy {

namespace {

constexpr std::string_view none = "_none";
constexpr std::string_view unknown = "_unknown";

// An export's record that /metrics counts (monitor mode's would-block is not counted).
bool is_export(std::string_view text) {
    const auto d = audit::parse_decision(text);
    return d == audit::decision::allowed || d == audit::decision::filtered ||
           d == audit::decision::blocked || d == audit::decision::aborted;
}

std::string_view bounded(std::string_view declared, bool known) {
    if (declared.empty()) return none;
    return known ? declared : unknown;
}

}  // namespace

void metered_sink::append(audit::record&& r, bool durable, completion done) {
    if (is_export(r.decision)) {
        const auto snap = rt_.current();
        const config::policy& p = snap->config->rules;
        metrics::export_figures e;
        e.decision = r.decision;
        e.reason = r.reason;  // exportwall's own codes (refusals, drops, aborts): a bounded set
        e.client = bounded(r.client, p.find_client(r.client) != nullptr);
        e.purpose = bounded(r.purpose, p.find_purpose(r.purpose) != nullptr);
        e.destination = bounded(r.destination, p.find_destination(r.destination) != nullptr);
        e.records_in = r.records_in;
        e.records_out = r.records_out;
        rt_.stats().export_recorded(e);
        for (const auto& [reason, n] : r.records_dropped) rt_.stats().records_dropped(reason, n);
        if (!r.shadow_decision.empty()) {
            metrics::shadow_figures s;
            s.decision = r.decision;
            s.shadow_decision = r.shadow_decision;
            s.shadow_reason = r.shadow_reason;  // exportwall's codes, "" when none
            s.client = e.client;
            s.purpose = e.purpose;
            rt_.stats().shadow_recorded(s);
        }
    }
    trail_.append(std::move(r), durable, std::move(done));
}

}  // namespace exportwall::proxy
