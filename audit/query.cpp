#include "audit/query.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <deque>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "common/percent.hpp"

namespace exportwall::audit {

namespace {

constexpr std::array<std::string_view, 7> access_error_reasons{
    "unauthenticated",     "route_not_found",  "method_not_allowed", "declaration_missing",
    "declaration_invalid", "request_rejected", "query_unsupported"};

// A query parameter as a form writes it ('+' a space); nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    if (!common::append_percent_decoded(out, s, common::plus_sign::space)) return std::nullopt;
    return out;
}

template <class Int>
bool parse_uint(const std::string& s, Int& out) {
    auto res = std::from_chars(s.data(), s.data() + s.size(), out);
    return res.ec == std::errc{} && res.ptr == s.data() + s.size() && !s.empty();
}

// A text filter's terms: all exact go to the reader's list (it skips lines by them), any
// pattern keeps them all as patterns.
bool set_text_filter(const std::string& name, const std::string& value,
                     std::vector<std::string>& exact, text_terms& patterns, std::string& error) {
    auto terms = parse_text_terms(value);
    if (!terms) {
        error = "parameter " + name + ": a '*' may only start or end a term";
        return false;
    }
    exact.clear();
    patterns.clear();
    const bool all_exact = std::all_of(terms->begin(), terms->end(), [](const text_term& t) {
        return t.how == text_term::match::equals;
    });
    if (all_exact) {
        for (auto& t : *terms) exact.push_back(std::move(t.text));
    } else {
        patterns = std::move(*terms);
    }
    return true;
}

}  // namespace

bool is_known_decision(std::string_view decision) {
    return parse_decision(decision).has_value();
}

bool is_access_error(std::string_view reason) {
    return std::find(access_error_reasons.begin(), access_error_reasons.end(), reason) !=
           access_error_reasons.end();
}

bool is_blocked_transfer(const record& r) {
    const auto d = decision_of(r);
    return (d == decision::blocked || d == decision::aborted || d == decision::would_block) &&
           !is_access_error(r.reason);
}

bool text_term::matches(std::string_view value) const {
    switch (how) {
        case match::equals:
            return value == text;
        case match::prefix:
            return value.substr(0, text.size()) == text;
        case match::suffix:
            return value.size() >= text.size() && value.substr(value.size() - text.size()) == text;
        case match::contains:
            return value.find(text) != std::string_view::npos;
    }
    return false;
}

bool matches_any(const text_terms& terms, std::string_view value) {
    if (terms.empty()) return true;
    return std::any_of(terms.begin(), terms.end(),
                       [value](const text_term& t) { return t.matches(value); });
}

std::optional<text_terms> parse_text_terms(std::string_view list) {
    text_terms out;
    for (const auto& item : split_list(list)) {
        std::string_view s = item;
        const bool lead = s.front() == '*';
        const bool trail = s.back() == '*';
        if (lead) s.remove_prefix(1);
        if (trail && !s.empty()) s.remove_suffix(1);
        if (s.empty() || s.find('*') != std::string_view::npos) return std::nullopt;
        text_term t;
        t.text = std::string(s);
        t.how = lead && trail ? text_term::match::contains
                : lead        ? text_term::match::suffix
                : trail       ? text_term::match::prefix
                              : text_term::match::equals;
        out.push_back(std::move(t));
    }
    return out;
}

bool audit_query::matches(const record& r) const {
    if (category == record_category::blocked_transfer && !is_blocked_transfer(r)) return false;
    if (category == record_category::access_error && !is_access_error(r.reason)) return false;
    return matches_any(reason, r.reason) && matches_any(client, r.client) &&
           matches_any(purpose, r.purpose) && matches_any(destination, r.destination) &&
           matches_any(id, r.id);
}

namespace {

std::string term_text(const text_term& t) {
    switch (t.how) {
        case text_term::match::equals:
            return t.text;
        case text_term::match::prefix:
            return t.text + "*";
        case text_term::match::suffix:
            return "*" + t.text;
        case text_term::match::contains:
            return "*" + t.text + "*";
    }
    return t.text;
}

std::string instant_text(std::int64_t ms) {
    const auto t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

std::string describe_query(const audit_query& q) {
    std::string out;
    auto add = [&out](std::string_view name, const std::string& value) {
        if (value.empty()) return;
        if (!out.empty()) out += "; ";
        out += name;
        out += ' ';
        out += value;
    };
    auto list = [](const std::vector<std::string>& exact, const text_terms& patterns) {
        std::string v;
        for (const auto& e : exact) v += (v.empty() ? "" : ",") + e;
        for (const auto& t : patterns) v += (v.empty() ? "" : ",") + term_text(t);
        return v;
    };
    if (q.category == record_category::blocked_transfer) add("category", "blocked-transfer");
    if (q.category == record_category::access_error) add("category", "access-error");
    add("decision", list(q.filter.decision, {}));
    add("reason", list(q.filter.reason, q.reason));
    add("client", list(q.filter.client, q.client));
    add("purpose", list(q.filter.purpose, q.purpose));
    add("destination", list(q.filter.destination, q.destination));
    add("id", list(q.filter.id, q.id));
    if (q.filter.since_ms) add("since", instant_text(*q.filter.since_ms));
    if (q.filter.until_ms) add("until", instant_text(*q.filter.until_ms));
    return out.empty() ? std::string("all records") : out;
}

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
        if (k == "decision") {
            q.filter.decision = split_list(v);
            for (const auto& d : q.filter.decision) {
                if (!is_known_decision(d)) {
                    error =
                        "parameter decision: not a decision (allowed, filtered, blocked, "
                        "aborted, would-block, volume_alert, volume_alert_cleared, "
                        "policy_loaded, checkpoint)";
                    return std::nullopt;
                }
            }
        } else if (k == "reason") {
            if (!set_text_filter(k, v, q.filter.reason, q.reason, error)) return std::nullopt;
        } else if (k == "client") {
            if (!set_text_filter(k, v, q.filter.client, q.client, error)) return std::nullopt;
        } else if (k == "purpose") {
            if (!set_text_filter(k, v, q.filter.purpose, q.purpose, error)) return std::nullopt;
        } else if (k == "destination") {
            if (!set_text_filter(k, v, q.filter.destination, q.destination, error))
                return std::nullopt;
        } else if (k == "id") {
            if (!set_text_filter(k, v, q.filter.id, q.id, error)) return std::nullopt;
        } else if (k == "category") {
            if (v == "blocked-transfer") {
                q.category = record_category::blocked_transfer;
            } else if (v == "access-error") {
                q.category = record_category::access_error;
            } else if (v.empty() || v == "any") {
                q.category = record_category::any;
            } else {
                error = "parameter category must be blocked-transfer, access-error or any";
                return std::nullopt;
            }
        } else if (k == "bucket") {
            if (v != "day" && v != "hour") {
                error = "parameter bucket must be day or hour";
                return std::nullopt;
            }
            q.hourly = v == "hour";
        } else if (k == "since" || k == "until") {
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
    // Every match is counted, so the page can say "n of m"; the scan reads the whole trail
    // either way (newest first keeps a window to the end).
    auto ec = for_each_record(log_path, q.filter, [&](const record& r) {
        if (!q.matches(r)) return true;
        ++out.matched;
        out.newest_seq = std::max(out.newest_seq, r.seq);
        if (q.cursor && (q.newest_first ? r.seq >= *q.cursor : r.seq <= *q.cursor)) return true;
        if (q.newest_first) {
            window.push_back(r);
            if (window.size() > keep) window.pop_front();
            return true;
        }
        if (skipped < q.offset) {
            ++skipped;
            return true;
        }
        if (out.records.size() <= q.limit) out.records.push_back(r);
        return true;
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
    if (!r.replica.empty()) o["replica"] = r.replica;
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
    if (!r.via.empty()) o["via"] = r.via;
    if (!r.trace_id.empty()) o["trace_id"] = r.trace_id;
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

boost::json::object chain_status_json(const chain_status& chain) {
    const verify_result& v = chain.result;
    boost::json::object c;
    c["ok"] = v.ok;
    c["detail"] = v.detail();
    c["records"] = v.records;
    c["last_seq"] = v.last_seq;
    if (v.ok)
        c["last_hash"] = v.last_hash;
    else
        c["last_hash"] = nullptr;
    if (!v.ok && v.first_broken_seq != 0) c["first_broken_seq"] = v.first_broken_seq;
    if (chain.verified_at.empty())
        c["verified_at"] = nullptr;
    else
        c["verified_at"] = chain.verified_at;
    c["age_seconds"] = chain.age_seconds;
    c["max_age_seconds"] = chain.max_age_seconds;
    return c;
}

std::string render_audit_page(const audit_page& page, const chain_status& chain) {
    boost::json::object o;
    boost::json::array records;
    for (const auto& r : page.records) records.emplace_back(record_to_json(r));
    o["records"] = std::move(records);
    if (page.next)
        o["next"] = std::to_string(*page.next);
    else
        o["next"] = nullptr;
    o["matched"] = page.matched;
    o["newest_seq"] = page.newest_seq;
    o["chain"] = chain_status_json(chain);
    return boost::json::serialize(o);
}

std::string render_audit_page(const audit_page& page, const verify_result& chain) {
    chain_status status;
    status.result = chain;
    return render_audit_page(page, status);
}

}  // namespace exportwall::audit
