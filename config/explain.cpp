#include "config/explain.hpp"

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string_view>

#include <boost/json.hpp>

#include "common/clock.hpp"
#include "config/policy_text.hpp"

namespace exportwall::config {
namespace {

// "from A until B" as written (UTC where no offset is given); "" for a grant without a window.
std::string window_text(const grant& g) {
    std::string out;
    if (g.valid_from) out += "from " + g.valid_from_text;
    if (g.valid_until) out += std::string(out.empty() ? "" : " ") + "until " + g.valid_until_text;
    return out;
}

// The client's grant for a purpose, or null.
const grant* grant_for(const client* c, std::string_view purpose_id) {
    if (c == nullptr) return nullptr;
    for (const auto& g : c->grants)
        if (g.purpose == purpose_id) return &g;
    return nullptr;
}

std::string drop_text(filters::drop_reason r) {
    std::string s = "  -> drop reason " + std::string(filters::drop_reason_name(r));
    auto rule = drop_rule(r);
    if (!rule.empty()) s += " (" + std::string(rule) + ")";
    return s;
}

// Why one field of the route's entity is kept or stripped.
field_line field_line_of(const catalogue_field& f, const decision& d, bool requested) {
    field_line l{f.path, false, {}};
    const bool read_by_rules =
        d.rules != nullptr &&
        (std::any_of(d.rules->conditions.begin(), d.rules->conditions.end(),
                     [&](const auto& c) { return c.field == f.path; }) ||
         std::find(d.rules->suppression_fields.begin(), d.rules->suppression_fields.end(),
                   f.path) != d.rules->suppression_fields.end());
    if (!d.allowed->keeps(f.path)) {
        l.why = read_by_rules ? "read by the record conditions, never exported"
                              : "not needed by purpose " + d.purpose_id;
    } else if (!d.fields_requested.empty() && !requested) {
        l.why = "not requested";
    } else {
        l.kept = true;
        l.why = "needed by purpose " + d.purpose_id;
        if (d.transforms != nullptr)
            if (const auto* t = d.transforms->find(f.path))
                l.why += ", " + transform_text(t->kind, t->keep);
    }
    if (requested && !l.kept) l.why += " (requested)";
    return l;
}

// Every field of the route's entity plus every requested one, with why it is kept or stripped.
std::vector<field_line> field_lines(const configuration& cfg, const decision& d) {
    std::vector<field_line> out;
    if (d.matched_route == nullptr || d.allowed == nullptr) return out;
    const entity* e = cfg.rules.find_entity(d.matched_route->entity);
    if (e == nullptr) return out;
    auto requested = [&](const std::string& f) {
        return std::find(d.fields_requested.begin(), d.fields_requested.end(), f) !=
               d.fields_requested.end();
    };
    for (const auto& f : e->fields) out.push_back(field_line_of(f, d, requested(f.path)));
    for (const auto& r : d.fields_requested)
        if (e->find_field(r) == nullptr) out.push_back({r, false, "not in catalogue (requested)"});
    return out;
}

std::string target_of(const configuration& cfg, const decision& d, std::string_view path) {
    if (d.matched_route == nullptr) return {};
    const upstream* up = cfg.net.find_upstream(d.matched_route->upstream_id);
    std::string t;
    if (up != nullptr) t = up->scheme + "://" + up->host + ":" + std::to_string(up->port);
    t += upstream_path(*d.matched_route, up, path);
    if (!d.upstream_query.empty()) t += "?" + d.upstream_query;
    return t;
}

// The record conditions in words, in order, then the suppression list's.
std::vector<std::string> condition_lines(const decision& d) {
    std::vector<std::string> out;
    if (d.rules == nullptr) return out;
    for (const auto& rc : d.rules->conditions)
        out.push_back(condition_text(rc) + drop_text(rc.reason));
    if (d.suppression != nullptr)
        out.push_back("drop if " + d.suppression->field + " (or " + d.suppression->field +
                      ".value) is on suppression list " + d.suppression->id +
                      ", condition_unreadable if it has none" +
                      drop_text(filters::drop_reason::suppressed));
    return out;
}

// "id (file, max-age 24h, last changed 3h ago)".
std::string list_text_of(const suppression_list& list) {
    std::string text = list.id + " (" + list.file;
    if (list.max_age_seconds > 0) {
        text += ", max-age " + list.max_age_text;
        const suppression_entries* e = list.entries.get();
        if (e != nullptr && e->loaded() && e->modified() != 0)
            text += ", last changed " + age_text(common::seconds_now() - e->modified()) + " ago";
        else
            text += ", not read";
    }
    return text + ")";
}

std::string pad(std::string s, std::size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
}

std::string purpose_text(const decision& d) {
    std::string pu = d.purpose_id.empty() ? "-" : d.purpose_id;
    if (d.purpose_ref != nullptr) {
        pu += " (" + std::string(to_string(d.basis)) + ", data use " + d.purpose_ref->data_use;
        if (d.purpose_ref->direct_marketing)
            pu += ", direct marketing by " + std::string(to_string(d.purpose_ref->channel));
        pu += ")";
    }
    return pu;
}

std::string destination_text(const decision& d) {
    std::string de = d.destination_id.empty() ? "-" : d.destination_id;
    if (d.destination_ref != nullptr) {
        de += " (" + std::string(to_string(d.kind));
        if (!d.destination_ref->organisation.empty()) de += ", " + d.destination_ref->organisation;
        if (!d.destination_ref->country.empty()) de += ", " + d.destination_ref->country;
        if (d.destination_ref->transfer != transfer_mechanism::none)
            de += " under " + std::string(to_string(d.destination_ref->transfer));
        if (!d.destination_ref->dpa_ref.empty()) de += ", DPA " + d.destination_ref->dpa_ref;
        de += ")";
    }
    return de;
}

// The rows from "decision" to "suppression": what was decided, for whom, under which rule.
void write_decision_rows(const explanation& e, std::ostream& out) {
    const decision& d = e.verdict;
    auto row = [&out](std::string_view k, const std::string& v) {
        out << pad(std::string(k), 14) << ' ' << v << '\n';
    };
    row("decision", std::string(to_string(d.result)) + " (" +
                        std::string(to_string(d.effective_mode)) + " mode" +
                        (d.effective_mode == mode::monitor && d.result == outcome::refuse
                             ? ": would-block, data passes unmodified"
                             : "") +
                        ")");
    row("reason", std::string(to_string(d.why)) + " (HTTP " + std::to_string(d.status) + ")");
    if (!d.detail.empty()) row("detail", d.detail);
    if (auto rule = rule_of(d.why); !rule.rule_id.empty())
        row("rule", std::string(rule.rule_id) + " (" + std::string(rule.legal_reference) + ")");
    row("client", d.client_id.empty() ? "-" : d.client_id);
    row("purpose", purpose_text(d));
    row("destination", destination_text(d));
    if (d.matched_route != nullptr)
        row("route", d.matched_route->id + (d.matched_route->entity.empty()
                                                ? std::string()
                                                : " (entity " + d.matched_route->entity + ")"));
    if (!e.window.empty()) row("grant valid", e.window + " (UTC unless an offset is given)");
    if (e.list != nullptr) row("suppression", e.list_text);
}

// The rows of an allowed export: where it goes and how much of it may.
void write_export_rows(const explanation& e, std::ostream& out) {
    const decision& d = e.verdict;
    const grant* g = e.declared_grant;
    auto row = [&out](std::string_view k, const std::string& v) {
        out << pad(std::string(k), 14) << ' ' << v << '\n';
    };
    row("upstream", e.method + " " + e.upstream);
    row("max records", d.max_records == 0 ? "unlimited"
                                          : std::to_string(d.max_records) +
                                                " (the pages of a paged export together)");
    if (g != nullptr && g->quota != 0)
        row("quota", std::to_string(g->quota) + " records per " +
                         std::string(to_string(g->quota_window)) +
                         " (UTC window; client x purpose x destination)");
}

}  // namespace

void credentials_of(const client& c, client_credentials& credentials) {
    if (!c.api_key_sha256.empty())
        credentials.api_key_sha256 = c.api_key_sha256.front();
    else if (!c.certificate_sha256.empty())
        credentials.certificate_sha256 = c.certificate_sha256.front();
    else if (!c.certificate_subject.empty())
        credentials.certificate_subject = c.certificate_subject.front();
}

std::optional<explanation> explain(const configuration& config, const explain_request& request) {
    const client* c = config.rules.find_client(request.client_id);
    if (c == nullptr) return std::nullopt;
    request_facts facts;
    const auto qm = request.target.find('?');
    const std::string path = request.target.substr(0, qm);
    const std::string query =
        qm == std::string::npos ? std::string() : request.target.substr(qm + 1);
    facts.path = path;
    facts.query = query;
    facts.method = request.method;
    facts.body = request.body;
    credentials_of(*c, facts.credentials);
    std::vector<std::string_view> purposes, destinations;
    if (!request.purpose_id.empty()) purposes.push_back(request.purpose_id);
    if (!request.destination_id.empty()) destinations.push_back(request.destination_id);
    facts.purpose_headers = purposes;
    facts.destination_headers = destinations;

    explanation e;
    e.method = request.method;
    e.verdict = decide(config, facts);
    const decision& d = e.verdict;
    e.fields = field_lines(config, d);
    if (d.allowed_export()) e.upstream = target_of(config, d, path);
    e.conditions = condition_lines(d);
    // The grant the declaration names (also when it is refused for its window) and the age
    // limit of the purpose's suppression list.
    e.declared_grant = grant_for(d.client_ref, d.purpose_id);
    if (e.declared_grant != nullptr) e.window = window_text(*e.declared_grant);
    if (d.purpose_ref != nullptr && !d.purpose_ref->suppression_list.empty())
        e.list = config.rules.find_suppression_list(d.purpose_ref->suppression_list);
    if (e.list != nullptr) e.list_text = list_text_of(*e.list);
    return e;
}

void write_explanation_text(const explanation& e, std::ostream& out) {
    write_decision_rows(e, out);
    if (e.verdict.allowed_export()) write_export_rows(e, out);
    if (!e.fields.empty()) {
        out << "\nfields\n";
        for (const auto& l : e.fields)
            out << "  " << pad(l.kept ? "kept" : "stripped", 9) << ' ' << pad(l.name, 30) << ' '
                << l.why << '\n';
    }
    if (!e.conditions.empty()) {
        out << "\nrecord conditions (in order; the first a record fails drops it)\n";
        for (const auto& s : e.conditions) out << "  " << s << '\n';
    }
}

void write_explanation_json(const explanation& e, std::ostream& out) {
    const decision& d = e.verdict;
    const grant* g = e.declared_grant;
    boost::json::object o;
    o["outcome"] = to_string(d.result);
    o["reason"] = to_string(d.why);
    o["status"] = d.status;
    o["mode"] = to_string(d.effective_mode);
    o["detail"] = d.detail;
    if (auto rule = rule_of(d.why); !rule.rule_id.empty()) {
        o["rule_id"] = rule.rule_id;
        o["legal_reference"] = rule.legal_reference;
    }
    o["client"] = d.client_id;
    o["purpose"] = d.purpose_id;
    if (d.purpose_ref != nullptr) {
        o["basis"] = to_string(d.basis);
        o["data_use"] = d.purpose_ref->data_use;
    }
    o["destination"] = d.destination_id;
    if (d.destination_ref != nullptr) o["destination_kind"] = to_string(d.kind);
    if (d.matched_route != nullptr) o["route"] = d.matched_route->id;
    o["max_records"] = d.max_records;
    if (g != nullptr && g->valid_from) o["grant_valid_from"] = g->valid_from_text;
    if (g != nullptr && g->valid_until) o["grant_valid_until"] = g->valid_until_text;
    if (g != nullptr && g->quota != 0)
        o["quota"] = std::to_string(g->quota) + "/" + std::string(to_string(g->quota_window));
    if (e.list != nullptr) {
        o["suppression_list"] = e.list->id;
        if (e.list->max_age_seconds > 0) o["suppression_list_max_age"] = e.list->max_age_text;
    }
    boost::json::array kept, stripped;
    for (const auto& l : e.fields) {
        boost::json::object f{{"field", l.name}, {"reason", l.why}};
        (l.kept ? kept : stripped).push_back(std::move(f));
    }
    o["fields_kept"] = std::move(kept);
    o["fields_stripped"] = std::move(stripped);
    boost::json::array req, conds;
    for (const auto& r : d.fields_requested) req.push_back(boost::json::string(r));
    for (const auto& s : e.conditions) conds.push_back(boost::json::string(s));
    o["fields_requested"] = std::move(req);
    o["record_conditions"] = std::move(conds);
    o["upstream_target"] = e.upstream;
    out << boost::json::serialize(o) << "\n";
}

}  // namespace exportwall::config
