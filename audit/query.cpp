#include "audit/query.hpp"

#include <charconv>
#include <deque>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

namespace exportwall::audit {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            const int h = hex_value(s[i + 1]);
            const int l = hex_value(s[i + 2]);
            if (h < 0 || l < 0) return std::nullopt;
            out.push_back(static_cast<char>(h * 16 + l));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

template <class Int>
bool parse_uint(const std::string& s, Int& out) {
    auto res = std::from_chars(s.data(), s.data() + s.size(), out);
    return res.ec == std::errc{} && res.ptr == s.data() + s.size() && !s.empty();
}

}  // namespace

std::optional<audit_query> parse_audit_query(std::string_view qs, std::string& error) {
    audit_query q;
    if (!qs.empty() && qs.front() == '?') qs.remove_prefix(1);
    while (!qs.empty()) {
        const auto amp = qs.find('&');
        const std::string_view pair = qs.substr(0, amp);
        qs.remove_prefix(amp == std::string_view::npos ? qs.size() : amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        const auto key = percent_decode(pair.substr(0, eq));
        const auto value =
            percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        if (!key || !value) {
            error = "malformed percent-encoding";
            return std::nullopt;
        }
        const std::string& k = *key;
        const std::string& v = *value;
        if (k == "decision")
            q.filter.decision = split_list(v);
        else if (k == "reason")
            q.filter.reason = split_list(v);
        else if (k == "client")
            q.filter.client = split_list(v);
        else if (k == "purpose")
            q.filter.purpose = split_list(v);
        else if (k == "destination")
            q.filter.destination = split_list(v);
        else if (k == "since" || k == "until") {
            if (v.empty()) continue;
            const auto t = parse_rfc3339(v);
            if (!t) {
                error = "parameter " + k + " is not an RFC 3339 date-time";
                return std::nullopt;
            }
            (k == "since" ? q.filter.since_ms : q.filter.until_ms) = *t;
        } else if (k == "limit") {
            if (!parse_uint(v, q.limit) || q.limit == 0 || q.limit > audit_query::max_limit) {
                error = "parameter limit must be 1.." + std::to_string(audit_query::max_limit);
                return std::nullopt;
            }
        } else if (k == "cursor") {
            if (v.empty()) continue;
            std::uint64_t c = 0;
            if (!parse_uint(v, c)) {
                error = "parameter cursor must be a seq";
                return std::nullopt;
            }
            q.cursor = c;
        } else if (k == "offset") {
            if (!parse_uint(v, q.offset)) {
                error = "parameter offset must be a number";
                return std::nullopt;
            }
        } else if (k == "order") {
            if (v != "asc" && v != "desc") {
                error = "parameter order must be asc or desc";
                return std::nullopt;
            }
            q.newest_first = v == "desc";
        } else if (k == "token") {
            continue;  // never in the URL, but harmless: the proxy checks the header
        } else {
            error = "unknown parameter";
            return std::nullopt;
        }
    }
    return q;
}

boost::system::error_code read_audit_page(const std::string& log_path, const audit_query& q,
                                          audit_page& out) {
    out = audit_page{};
    std::size_t skipped = 0;
    std::deque<record> window;  // newest_first: the last offset+limit+1 matches
    const std::size_t keep = q.offset + q.limit + 1;
    auto ec = for_each_record(log_path, q.filter, [&](const record& r) {
        if (q.cursor && (q.newest_first ? r.seq >= *q.cursor : r.seq <= *q.cursor)) {
            // Ascending: not there yet. Descending: every later record is past the cursor too.
            return !q.newest_first;
        }
        if (q.newest_first) {
            window.push_back(r);
            if (window.size() > keep) window.pop_front();
            return true;
        }
        if (skipped < q.offset) {
            ++skipped;
            return true;
        }
        out.records.push_back(r);
        return out.records.size() <= q.limit;
    });
    if (ec) return ec;
    if (q.newest_first) {
        std::vector<record> desc(window.rbegin(), window.rend());
        for (std::size_t i = q.offset; i < desc.size(); ++i)
            out.records.push_back(std::move(desc[i]));
    }
    if (out.records.size() > q.limit) {
        out.records.resize(q.limit);
        out.next = out.records.back().seq;
    }
    return {};
}

boost::json::object record_to_json(const record& r) {
    boost::json::object o;
    o["seq"] = r.seq;
    o["id"] = r.id;
    o["time"] = r.time;
    o["mode"] = r.mode;
    o["decision"] = r.decision;
    o["reason"] = r.reason;
    if (!r.rule_id.empty()) {
        o["rule_id"] = r.rule_id;
        o["legal_reference"] = r.legal_reference;
    }
    o["client"] = r.client;
    o["purpose"] = r.purpose;
    o["basis"] = r.basis;
    o["destination"] = r.destination;
    o["destination_kind"] = r.destination_kind;
    o["route"] = r.route;
    o["method"] = r.method;
    o["path"] = r.path;
    o["status"] = r.status;
    boost::json::array requested, stripped;
    for (const auto& f : r.fields_requested) requested.emplace_back(f);
    for (const auto& f : r.fields_stripped) stripped.emplace_back(f);
    o["fields_requested"] = std::move(requested);
    o["fields_stripped"] = std::move(stripped);
    // Only when not empty, as in the line.
    const std::pair<const char*, const std::map<std::string, std::uint64_t>*> transforms[] = {
        {"fields_transformed", &r.fields_transformed}, {"transform_failed", &r.transform_failed}};
    for (const auto& [key, counts] : transforms) {
        if (counts->empty()) continue;
        boost::json::object by_field;
        for (const auto& [k, v] : *counts) by_field[k] = v;
        o[key] = std::move(by_field);
    }
    o["records_in"] = r.records_in;
    o["records_out"] = r.records_out;
    boost::json::object dropped;
    for (const auto& [k, v] : r.records_dropped) dropped[k] = v;
    o["records_dropped"] = std::move(dropped);
    if (!r.subject_index.empty()) {
        o["subject_keys"] = r.subject_keys;
        o["subject_index"] = r.subject_index;
    }
    o["bytes_in"] = r.bytes_in;
    o["bytes_out"] = r.bytes_out;
    o["duration_ms"] = r.duration_ms;
    o["remote"] = r.remote;
    o["policy_revision"] = r.policy_revision;
    if (!r.volume_hour.empty()) {
        o["volume_hour"] = r.volume_hour;
        o["volume_records"] = r.volume_records;
        o["volume_threshold"] = r.volume_threshold;
        o["volume_bound"] = r.volume_bound;
        o["volume_median"] = r.volume_median;
        o["volume_action"] = r.volume_action;
    }
    // The candidate policy's decision (<shadow>), as the line holds it: a DPO reviewing one
    // record sees what signing the candidate would change.
    if (!r.shadow_decision.empty()) {
        o["shadow_decision"] = r.shadow_decision;
        o["shadow_reason"] = r.shadow_reason;
        boost::json::array candidate_stripped;
        for (const auto& f : r.shadow_fields_stripped) candidate_stripped.emplace_back(f);
        o["shadow_fields_stripped"] = std::move(candidate_stripped);
    }
    if (!r.policy_trigger.empty()) {
        o["policy_trigger"] = r.policy_trigger;
        const std::pair<const char*, const std::map<std::string, std::string>*> digests[] = {
            {"policy_files", &r.policy_files}, {"suppression_lists", &r.suppression_lists}};
        for (const auto& [key, by_path] : digests) {
            boost::json::object files;
            for (const auto& [path, digest] : *by_path) files[path] = digest;
            o[key] = std::move(files);
        }
    }
    if (!r.checkpoint_signature.empty()) {
        o["checkpoint_seq"] = r.checkpoint_seq;
        o["checkpoint_hash"] = r.checkpoint_hash;
        o["checkpoint_key_id"] = r.checkpoint_key_id;
        o["checkpoint_signature"] = r.checkpoint_signature;
    }
    o["prev_hash"] = r.prev_hash;
    o["hash"] = r.hash;
    return o;
}

std::string render_audit_page(const audit_page& page, const verify_result& chain) {
    boost::json::object o;
    boost::json::array records;
    for (const auto& r : page.records) records.emplace_back(record_to_json(r));
    o["records"] = std::move(records);
    if (page.next)
        o["next"] = std::to_string(*page.next);
    else
        o["next"] = nullptr;
    boost::json::object c;
    c["ok"] = chain.ok;
    c["detail"] = chain.detail();
    if (!chain.ok && chain.first_broken_seq != 0) c["first_broken_seq"] = chain.first_broken_seq;
    o["chain"] = std::move(c);
    return boost::json::serialize(o);
}

}  // namespace exportwall::audit
