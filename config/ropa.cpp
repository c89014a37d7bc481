#include "config/ropa.hpp"

#include <algorithm>
#include <iterator>
#include <set>

#include <boost/json.hpp>

#include "common/markup_text.hpp"
#include "config/policy_text.hpp"
#include "config/rules.hpp"
#include "config/taxonomy.hpp"

namespace exportwall::config {
namespace {

ropa_recipient recipient_of(const destination& d) {
    ropa_recipient r;
    r.destination = d.id;
    r.description = d.description;
    r.kind = std::string(to_string(d.kind));
    r.organisation = d.organisation;
    r.country = d.country;
    r.outside_eea = d.outside_eea();
    r.transfer_mechanism = std::string(to_string(d.transfer));
    r.dpa_ref = d.dpa_ref;
    r.dpa_expires = d.dpa_expires;
    return r;
}

void add_rule(std::vector<legal_rule>& rules, legal_rule r) {
    if (std::find(rules.begin(), rules.end(), r) == rules.end()) rules.push_back(r);
}

// The rules exportwall applies to the purpose (docs/policy-guide.md §3), from what the policy
// says of it: its basis, data use, channel, kept categories and recipients.
std::vector<ropa_rule> rules_of(const purpose& pu, const ropa_purpose& out,
                                const std::vector<const destination*>& recipients) {
    std::vector<legal_rule> rules;
    switch (pu.basis) {
        case legal_basis::contract:
            add_rule(rules, legal_rule::r1_contract_necessity);
            if ((pu.subjects & subject_bit(subject_type::former_customer)) != 0)
                add_rule(rules, legal_rule::r3_related_activities);
            break;
        case legal_basis::pre_contract:
            add_rule(rules, legal_rule::r5_pre_contract_request);
            break;
        case legal_basis::consent:
            add_rule(rules, legal_rule::r9_consent_withdrawal);
            break;
        case legal_basis::legitimate_interest:
            add_rule(rules, legal_rule::r6_legitimate_interest);
            break;
        case legal_basis::legal_obligation:
            add_rule(rules, legal_rule::legal_obligation);
            break;
    }
    if (pu.direct_marketing) {
        if (pu.channel == marketing_channel::email || pu.channel == marketing_channel::sms)
            add_rule(rules, legal_rule::r7_electronic_marketing);
        add_rule(rules, legal_rule::r8_objection_absolute);
        add_rule(rules, legal_rule::r13_marketing_scope);
    }
    for (const destination* d : recipients) {
        if (d->kind == destination_kind::third_party) {
            add_rule(rules, legal_rule::r10_third_party_sharing);
            if (pu.basis == legal_basis::consent)
                add_rule(rules, legal_rule::r11_recipient_consent);
        }
    }
    add_rule(rules, legal_rule::r15_purpose_limitation);
    if (std::any_of(out.categories.begin(), out.categories.end(),
                    [](const ropa_category& c) { return c.special; }))
        add_rule(rules, legal_rule::special_categories);
    for (const destination* d : recipients) {
        if (d->kind == destination_kind::processor) add_rule(rules, legal_rule::processor_contract);
        if (d->outside_eea()) add_rule(rules, legal_rule::international_transfer);
    }
    std::sort(rules.begin(), rules.end());
    std::vector<ropa_rule> out_rules;
    for (auto r : rules) {
        const auto i = info(r);
        out_rules.push_back({std::string(i.id), std::string(i.reference)});
    }
    return out_rules;
}

std::vector<ropa_reference> references_of(const purpose& pu) {
    std::vector<ropa_reference> out;
    if (!pu.legal_reference.empty()) out.push_back({"legal-reference", pu.legal_reference});
    if (!pu.lia.empty()) out.push_back({"lia", pu.lia});
    if (!pu.consent_field.empty()) out.push_back({"consent-field", pu.consent_field});
    for (const auto& e : pu.evidence)
        out.push_back({"request-evidence", e.entity + ": " + condition_text(e.condition)});
    if (pu.special_condition != art9_condition::none)
        out.push_back({"art9-condition", std::string(to_string(pu.special_condition))});
    if (pu.soft_opt_in)
        out.push_back({"soft-opt-in",
                       std::string("existing customers") +
                           (pu.own_similar_products ? ", own similar products" : "") +
                           (pu.opt_out_at_collection ? ", opt-out offered at collection" : "")});
    if (!pu.objection_field.empty()) out.push_back({"objection-field", pu.objection_field});
    if (!pu.suppression_list.empty()) out.push_back({"suppression-list", pu.suppression_list});
    return out;
}

ropa_purpose purpose_of(const policy& p, const purpose& pu) {
    ropa_purpose out;
    out.id = pu.id;
    out.description = pu.description;
    out.data_use = pu.data_use;
    if (const auto* e = taxonomy::find(taxonomy::kind::data_use, pu.data_use))
        out.data_use_name = std::string(e->name);
    out.basis = std::string(to_string(pu.basis));
    out.basis_article = std::string(basis_article(pu.basis));
    out.references = references_of(pu);
    out.direct_marketing = pu.direct_marketing;
    if (pu.channel != marketing_channel::none) out.channel = std::string(to_string(pu.channel));
    for (auto t : {subject_type::customer, subject_type::prospect, subject_type::former_customer})
        if ((pu.subjects & subject_bit(t)) != 0) out.subjects.emplace_back(to_string(t));
    out.retention = pu.retention;
    if (pu.retention_duration) out.retention_words = to_words(*pu.retention_duration);

    std::map<std::string, ropa_category> categories;
    for (const auto& v : pu.views) {
        if (v.entity_index >= p.entities.size()) continue;
        const entity& e = p.entities[v.entity_index];
        out.entities.push_back({e.id, e.organisations ? "organisations" : "people"});
        for (const auto& f : e.fields) {
            if (!v.allowed.keeps(f.path)) continue;
            auto& c = categories[f.category];
            c.category = f.category;
            c.special = c.special || f.special || f.criminal || is_special_category(f.category) ||
                        is_criminal_category(f.category);
            c.fields.push_back(e.id + "." + f.path);
            if (const auto* t = v.transforms.find(f.path))
                out.transforms.push_back({e.id, f.path, transform_text(t->kind, t->keep)});
        }
    }
    for (auto& [key, c] : categories) {
        if (const auto* t = taxonomy::find(taxonomy::kind::data_category, key))
            c.name = std::string(t->name);
        std::sort(c.fields.begin(), c.fields.end());
        out.categories.push_back(std::move(c));
    }

    // Recipients: every destination a grant names for the purpose, with the clients holding it.
    std::map<std::string, std::set<std::string>> clients_by_destination;
    std::set<std::string> clients;
    for (const auto& c : p.clients) {
        for (const auto& g : c.grants) {
            if (g.purpose != pu.id) continue;
            clients.insert(c.id);
            for (const auto& d : g.destinations) clients_by_destination[d].insert(c.id);
        }
    }
    out.clients.assign(clients.begin(), clients.end());
    std::vector<const destination*> recipients;
    for (const auto& [id, holders] : clients_by_destination) {
        const destination* d = p.find_destination(id);
        ropa_recipient r;
        if (d != nullptr) {
            r = recipient_of(*d);
            recipients.push_back(d);
        } else {
            r.destination = id;
        }
        r.clients.assign(holders.begin(), holders.end());
        out.recipients.push_back(std::move(r));
    }
    out.rules = rules_of(pu, out, recipients);
    return out;
}

}  // namespace

record_of_processing build_ropa(const policy& p, std::string source, std::string revision) {
    record_of_processing r;
    r.source = std::move(source);
    r.revision = std::move(revision);
    for (const auto& pu : p.purposes) r.purposes.push_back(purpose_of(p, pu));
    return r;
}

void add_flows(record_of_processing& ropa, const policy& p, const ropa_flow_table& flows,
               ropa_period period) {
    ropa.period = std::move(period);
    ropa.unlisted_flows.clear();
    for (auto& pu : ropa.purposes)
        for (auto& r : pu.recipients) r.flow = ropa_flow{};
    for (const auto& [key, flow] : flows) {
        // Named references, not a structured binding: clang 14 (the fuzz build) cannot capture
        // a binding in a lambda.
        const std::string& purpose_id = key.first;
        const std::string& destination_id = key.second;
        auto pu = std::find_if(ropa.purposes.begin(), ropa.purposes.end(),
                               [&](const ropa_purpose& x) { return x.id == purpose_id; });
        if (pu == ropa.purposes.end()) {
            ropa.unlisted_flows.push_back({purpose_id, destination_id, flow});
            continue;
        }
        auto r =
            std::find_if(pu->recipients.begin(), pu->recipients.end(),
                         [&](const ropa_recipient& x) { return x.destination == destination_id; });
        if (r == pu->recipients.end()) {
            ropa_recipient added;
            if (const destination* d = p.find_destination(destination_id))
                added = recipient_of(*d);
            else
                added.destination = destination_id;
            added.granted = false;
            pu->recipients.push_back(std::move(added));
            r = std::prev(pu->recipients.end());
        }
        r->flow = flow;
    }
    for (auto& pu : ropa.purposes)
        std::sort(pu.recipients.begin(), pu.recipients.end(),
                  [](const ropa_recipient& a, const ropa_recipient& b) {
                      return a.destination < b.destination;
                  });
}

// ---------------------------------------------------------------------------------------------
// JSON

namespace {

boost::json::array strings(const std::vector<std::string>& v) {
    boost::json::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
}

boost::json::object flow_json(const ropa_flow& f) {
    return {{"exports", f.exports}, {"records", f.records}};
}

}  // namespace

std::string render_ropa_json(const record_of_processing& ropa) {
    boost::json::object doc;
    doc["source"] = ropa.source;
    doc["revision"] = ropa.revision;
    if (ropa.period) {
        doc["period"] = {{"log", ropa.period->log},
                         {"since", ropa.period->since},
                         {"until", ropa.period->until},
                         {"audit_records", ropa.period->audit_records}};
    }
    boost::json::array purposes;
    for (const auto& pu : ropa.purposes) {
        boost::json::object o;
        o["id"] = pu.id;
        o["description"] = pu.description;
        o["data_use"] = pu.data_use;
        o["data_use_name"] = pu.data_use_name;
        o["basis"] = pu.basis;
        o["basis_article"] = pu.basis_article;
        boost::json::array refs;
        for (const auto& r : pu.references) refs.push_back({{"kind", r.kind}, {"value", r.value}});
        o["references"] = std::move(refs);
        boost::json::array rules;
        for (const auto& r : pu.rules) rules.push_back({{"id", r.id}, {"reference", r.reference}});
        o["rules"] = std::move(rules);
        o["direct_marketing"] = pu.direct_marketing;
        o["channel"] = pu.channel;
        o["data_subjects"] = strings(pu.subjects);
        boost::json::array entities;
        for (const auto& e : pu.entities)
            entities.push_back({{"id", e.id}, {"describes", e.describes}});
        o["entities"] = std::move(entities);
        boost::json::array categories;
        for (const auto& c : pu.categories)
            categories.push_back({{"category", c.category},
                                  {"name", c.name},
                                  {"special", c.special},
                                  {"fields", strings(c.fields)}});
        o["data_categories"] = std::move(categories);
        boost::json::array transforms;
        for (const auto& t : pu.transforms)
            transforms.push_back({{"entity", t.entity}, {"field", t.field}, {"text", t.text}});
        o["transforms"] = std::move(transforms);
        if (pu.retention.empty())
            o["retention"] = nullptr;
        else
            o["retention"] = pu.retention;
        o["retention_words"] = pu.retention_words;
        o["clients"] = strings(pu.clients);
        boost::json::array recipients;
        for (const auto& r : pu.recipients) {
            boost::json::object ro;
            ro["destination"] = r.destination;
            ro["description"] = r.description;
            ro["kind"] = r.kind;
            ro["organisation"] = r.organisation;
            ro["country"] = r.country;
            ro["outside_eea"] = r.outside_eea;
            ro["transfer_mechanism"] = r.transfer_mechanism;
            ro["dpa_ref"] = r.dpa_ref;
            ro["dpa_expires"] = r.dpa_expires;
            ro["clients"] = strings(r.clients);
            ro["granted"] = r.granted;
            if (r.flow) ro["flow"] = flow_json(*r.flow);
            recipients.push_back(std::move(ro));
        }
        o["recipients"] = std::move(recipients);
        purposes.push_back(std::move(o));
    }
    doc["purposes"] = std::move(purposes);
    if (ropa.period) {
        boost::json::array unlisted;
        for (const auto& u : ropa.unlisted_flows)
            unlisted.push_back({{"purpose", u.purpose},
                                {"destination", u.destination},
                                {"flow", flow_json(u.flow)}});
        doc["unlisted_flows"] = std::move(unlisted);
    }
    return boost::json::serialize(doc) + "\n";
}

// ---------------------------------------------------------------------------------------------
// CSV

namespace {

std::string csv_cell(std::string_view s) {
    if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string joined(const std::vector<std::string>& v, std::string_view sep = "; ") {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

std::string references_text(const ropa_purpose& pu) {
    std::vector<std::string> v;
    for (const auto& r : pu.references) v.push_back(r.kind + ": " + r.value);
    return joined(v);
}

std::string rules_text(const ropa_purpose& pu) {
    std::vector<std::string> v;
    for (const auto& r : pu.rules) v.push_back(r.id);
    return joined(v, " ");
}

std::string entities_text(const ropa_purpose& pu) {
    std::vector<std::string> v;
    for (const auto& e : pu.entities) v.push_back(e.id + " (" + e.describes + ")");
    return joined(v);
}

std::string categories_text(const ropa_purpose& pu, bool special_only) {
    std::vector<std::string> v;
    for (const auto& c : pu.categories)
        if (!special_only || c.special) v.push_back(c.category);
    return joined(v);
}

std::string transforms_text(const ropa_purpose& pu) {
    std::vector<std::string> v;
    for (const auto& t : pu.transforms) v.push_back(t.entity + "." + t.field + " " + t.text);
    return joined(v);
}

std::string retention_text(const ropa_purpose& pu) {
    if (pu.retention.empty()) return {};
    if (pu.retention_words.empty()) return pu.retention;
    return pu.retention + " (" + pu.retention_words + ")";
}

void csv_row(std::string& out, const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (i != 0) out += ',';
        out += csv_cell(cells[i]);
    }
    out += "\r\n";
}

}  // namespace

std::string render_ropa_csv(const record_of_processing& ropa) {
    std::vector<std::string> header{"purpose",
                                    "description",
                                    "data_use",
                                    "basis",
                                    "basis_article",
                                    "references",
                                    "rules",
                                    "direct_marketing",
                                    "channel",
                                    "data_subjects",
                                    "entities",
                                    "data_categories",
                                    "special_categories",
                                    "transforms",
                                    "retention",
                                    "clients",
                                    "destination",
                                    "destination_kind",
                                    "organisation",
                                    "country",
                                    "outside_eea",
                                    "transfer_mechanism",
                                    "dpa_ref",
                                    "dpa_expires",
                                    "granted_clients",
                                    "granted"};
    if (ropa.period) {
        header.insert(header.end(), {"exports", "records"});
    }
    std::string out;
    csv_row(out, header);
    auto flow_cells = [&](const std::optional<ropa_flow>& f, std::vector<std::string>& row) {
        if (!ropa.period) return;
        row.push_back(f ? std::to_string(f->exports) : "");
        row.push_back(f ? std::to_string(f->records) : "");
    };
    for (const auto& pu : ropa.purposes) {
        const std::vector<std::string> head{pu.id,
                                            pu.description,
                                            pu.data_use,
                                            pu.basis,
                                            pu.basis_article,
                                            references_text(pu),
                                            rules_text(pu),
                                            pu.direct_marketing ? "true" : "false",
                                            pu.channel,
                                            joined(pu.subjects),
                                            entities_text(pu),
                                            categories_text(pu, false),
                                            categories_text(pu, true),
                                            transforms_text(pu),
                                            retention_text(pu),
                                            joined(pu.clients)};
        if (pu.recipients.empty()) {
            auto row = head;
            row.resize(header.size() - (ropa.period ? 2 : 0));
            flow_cells(std::nullopt, row);
            csv_row(out, row);
        }
        for (const auto& r : pu.recipients) {
            auto row = head;
            row.insert(row.end(),
                       {r.destination, r.kind, r.organisation, r.country,
                        r.outside_eea ? "true" : "false", r.transfer_mechanism, r.dpa_ref,
                        r.dpa_expires, joined(r.clients), r.granted ? "true" : "false"});
            flow_cells(r.flow, row);
            csv_row(out, row);
        }
    }
    for (const auto& u : ropa.unlisted_flows) {
        std::vector<std::string> row(header.size() - 2);
        row[0] = u.purpose;
        row[1] = "(not in the policy)";
        row[16] = u.destination;
        row[25] = "false";
        flow_cells(u.flow, row);
        csv_row(out, row);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// HTML

namespace {

std::string esc(std::string_view s) { return common::html_escaped(s); }

std::string or_dash(std::string_view s) { return s.empty() ? "&#8211;" : esc(s); }

constexpr std::string_view page_style = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b}
body{margin:2rem auto;max-width:70rem;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .3rem}
h2{font-size:1.25rem;margin:2rem 0 .4rem;border-bottom:2px solid #333;padding-bottom:.2rem}
h3{font-size:1rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;width:100%;margin:.3rem 0 .8rem}
th,td{border:1px solid #bbb;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#eee;font-weight:600}
table.facts th{width:14rem}
.meta{color:#555}.special{font-weight:600;color:#8a1c1c}.warn{color:#8a1c1c}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}
td.n{text-align:right;font-variant-numeric:tabular-nums}
section.purpose{page-break-inside:avoid;break-inside:avoid}
@media print{body{margin:0;max-width:none;font-size:11px}a{color:inherit;text-decoration:none}}
)";

std::string list_html(const std::vector<std::string>& v) {
    if (v.empty()) return "&#8211;";
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += ", ";
        out += "<code>" + esc(s) + "</code>";
    }
    return out;
}

void fact(std::string& out, std::string_view label, const std::string& html) {
    out += "<tr><th>";
    out += esc(label);
    out += "</th><td>" + html + "</td></tr>\n";
}

// The page's head and title, and where its facts come from: the policy's file and revision, and
// with a period the audit trail the flows were counted in.
void append_page_head(std::string& out, const record_of_processing& ropa) {
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    out += "<title>Record of processing activities</title>\n<style>";
    out += page_style;
    out += "</style>\n</head>\n<body>\n";
    out += "<h1>Record of processing activities (GDPR art. 30)</h1>\n";
    out += "<p class=\"meta\">Exports through exportwall, from the policy <code>" +
           esc(ropa.source) + "</code>, revision <code>" + esc(ropa.revision) + "</code>.";
    if (ropa.period) {
        out += " Flows read from the audit trail <code>" + esc(ropa.period->log) + "</code>, " +
               (ropa.period->since.empty() ? std::string("from its start")
                                           : "from " + esc(ropa.period->since)) +
               (ropa.period->until.empty() ? std::string(" to its end")
                                           : " until " + esc(ropa.period->until)) +
               " (" + std::to_string(ropa.period->audit_records) + " audit records).";
    }
    out += "</p>\n";
}

// The overview: one row per purpose, linking to its section.
void append_purpose_overview(std::string& out, const record_of_processing& ropa) {
    out +=
        "<h2>Purposes</h2>\n<table>\n<tr><th>purpose</th><th>data use</th><th>legal "
        "basis</th><th>data subjects</th><th>recipients</th><th>retention</th></tr>\n";
    for (const auto& pu : ropa.purposes) {
        std::vector<std::string> recipients;
        for (const auto& r : pu.recipients) recipients.push_back(r.destination);
        out += "<tr><td><a href=\"#purpose-" + esc(pu.id) + "\"><code>" + esc(pu.id) +
               "</code></a></td><td><code>" + esc(pu.data_use) + "</code></td><td>" +
               esc(pu.basis) + " (" + esc(pu.basis_article) + ")</td><td>" +
               list_html(pu.subjects) + "</td><td>" + list_html(recipients) + "</td><td>" +
               (pu.retention.empty() ? std::string("<span class=\"warn\">not declared</span>")
                                     : esc(retention_text(pu))) +
               "</td></tr>\n";
    }
    out += "</table>\n";
}

// A purpose's facts (art. 30(1)(b)–(c), (f)): its data use, legal basis and what it rests on, the
// rules exportwall enforces for it, marketing, data subjects, retention and the clients granted.
void append_purpose_facts(std::string& out, const ropa_purpose& pu) {
    out += "<table class=\"facts\">\n";
    fact(out, "data use",
         "<code>" + esc(pu.data_use) + "</code>" +
             (pu.data_use_name.empty() ? std::string() : " (" + esc(pu.data_use_name) + ")"));
    fact(out, "legal basis", esc(pu.basis) + " (" + esc(pu.basis_article) + ")");
    std::string refs;
    for (const auto& r : pu.references)
        refs += (refs.empty() ? "" : "<br>") + esc(r.kind) + ": " + esc(r.value);
    fact(out, "basis references", refs.empty() ? "&#8211;" : refs);
    std::string rules;
    for (const auto& r : pu.rules)
        rules +=
            (rules.empty() ? "" : "<br>") + ("<code>" + esc(r.id) + "</code> ") + esc(r.reference);
    fact(out, "rules enforced", rules.empty() ? "&#8211;" : rules);
    fact(out, "direct marketing",
         pu.direct_marketing
             ? "yes" + (pu.channel.empty() ? std::string() : ", by " + esc(pu.channel))
             : std::string("no"));
    std::string entities;
    for (const auto& e : pu.entities)
        entities += (entities.empty() ? "" : ", ") + ("<code>" + esc(e.id) + "</code> (") +
                    esc(e.describes) + ")";
    fact(out, "data subjects",
         list_html(pu.subjects) + (entities.empty() ? std::string() : "<br>" + entities));
    fact(out, "retention",
         pu.retention.empty() ? std::string("<span class=\"warn\">not declared</span>")
                              : esc(retention_text(pu)));
    fact(out, "clients with a grant", list_html(pu.clients));
    out += "</table>\n";
}

// The categories of personal data a purpose keeps (special ones marked), and the fields it
// exports in a derived form.
void append_data_categories(std::string& out, const ropa_purpose& pu) {
    out += "<h3>Data categories</h3>\n";
    if (pu.categories.empty()) {
        out += "<p>&#8211;</p>\n";
    } else {
        out += "<table>\n<tr><th>category</th><th>name</th><th>fields</th></tr>\n";
        for (const auto& c : pu.categories) {
            out += "<tr><td><code>" + esc(c.category) + "</code>" +
                   (c.special ? " <span class=\"special\">special (art. 9/10)</span>"
                              : std::string()) +
                   "</td><td>" + or_dash(c.name) + "</td><td>" + list_html(c.fields) +
                   "</td></tr>\n";
        }
        out += "</table>\n";
    }
    if (!pu.transforms.empty()) {
        out += "<h3>Fields exported in a derived form</h3>\n<ul>\n";
        for (const auto& t : pu.transforms)
            out +=
                "<li><code>" + esc(t.entity + "." + t.field) + "</code> " + esc(t.text) + "</li>\n";
        out += "</ul>\n";
    }
}

// A purpose's recipients (art. 30(1)(d)–(e)): kind, organisation, country and transfer,
// processor agreement, the clients granted, and with a period what reached each.
void append_recipients(std::string& out, const ropa_purpose& pu, bool with_flows) {
    out += "<h3>Recipients</h3>\n";
    if (pu.recipients.empty()) {
        out += "<p>No grant names a destination for this purpose.</p>\n";
        return;
    }
    out +=
        "<table>\n<tr><th>destination</th><th>kind</th><th>organisation</th>"
        "<th>country</th><th>transfer</th><th>processor agreement</th>"
        "<th>clients</th>";
    if (with_flows) out += "<th>exports</th><th>records</th>";
    out += "</tr>\n";
    for (const auto& r : pu.recipients) {
        std::string dpa = or_dash(r.dpa_ref);
        if (!r.dpa_expires.empty()) dpa += ", until " + esc(r.dpa_expires);
        out +=
            "<tr><td><code>" + esc(r.destination) + "</code>" +
            (r.granted ? std::string() : " <span class=\"warn\">(no grant in this policy)</span>") +
            (r.description.empty() ? std::string() : "<br>" + esc(r.description)) + "</td><td>" +
            or_dash(r.kind) + "</td><td>" + or_dash(r.organisation) + "</td><td>" +
            or_dash(r.country) + (r.outside_eea ? " (outside the EEA)" : "") + "</td><td>" +
            or_dash(r.transfer_mechanism) + "</td><td>" + dpa + "</td><td>" + list_html(r.clients) +
            "</td>";
        if (with_flows) {
            out += "<td class=\"n\">" + (r.flow ? std::to_string(r.flow->exports) : "") +
                   "</td><td class=\"n\">" + (r.flow ? std::to_string(r.flow->records) : "") +
                   "</td>";
        }
        out += "</tr>\n";
    }
    out += "</table>\n";
}

// What the trail shows reaching destinations for purposes the current policy does not have.
void append_unlisted_flows(std::string& out, const record_of_processing& ropa) {
    if (!ropa.period || ropa.unlisted_flows.empty()) return;
    out +=
        "<h2>Flows of purposes not in this policy</h2>\n<table>\n<tr><th>purpose</th>"
        "<th>destination</th><th>exports</th><th>records</th></tr>\n";
    for (const auto& u : ropa.unlisted_flows)
        out += "<tr><td><code>" + esc(u.purpose) + "</code></td><td><code>" + esc(u.destination) +
               "</code></td><td class=\"n\">" + std::to_string(u.flow.exports) +
               "</td><td class=\"n\">" + std::to_string(u.flow.records) + "</td></tr>\n";
    out += "</table>\n";
}

}  // namespace

std::string render_ropa_html(const record_of_processing& ropa) {
    std::string out;
    append_page_head(out, ropa);
    append_purpose_overview(out, ropa);
    for (const auto& pu : ropa.purposes) {
        out += "<section class=\"purpose\" id=\"purpose-" + esc(pu.id) + "\">\n";
        out += "<h2>Purpose <code>" + esc(pu.id) + "</code></h2>\n";
        if (!pu.description.empty()) out += "<p>" + esc(pu.description) + "</p>\n";
        append_purpose_facts(out, pu);
        append_data_categories(out, pu);
        append_recipients(out, pu, ropa.period.has_value());
        out += "</section>\n";
    }
    append_unlisted_flows(out, ropa);
    out += "</body>\n</html>\n";
    return out;
}

}  // namespace exportwall::config
