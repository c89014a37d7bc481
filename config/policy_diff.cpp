#include "config/policy_diff.hpp"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include <boost/json.hpp>

#include "config/decide.hpp"
#include "config/policy_text.hpp"

namespace exportwall::config {
namespace {

using string_list = std::vector<std::string>;

std::string collapse_space(std::string_view s) {
    std::string out;
    bool space = false;
    for (char c : s) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

std::string join(const string_list& v, std::string_view sep = " ") {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

string_list sorted(string_list v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

string_list minus(const string_list& a, const string_list& b) {
    string_list out;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    return out;
}

std::string number(std::uint64_t n) { return n == 0 ? std::string() : std::to_string(n); }
std::string flag(bool b) { return b ? "true" : "false"; }

// The attributes of one element, as (name, value) in a fixed order; compared name by name.
using attribute_list = std::vector<std::pair<std::string, std::string>>;

class differ {
  public:
    differ(const configuration& a, const configuration& b) : a_(a), b_(b) {}

    policy_diff run() {
        if (a_.rules.global_mode != b_.rules.global_mode)
            out_.attributes.push_back({"policy", "", "mode",
                                       std::string(to_string(a_.rules.global_mode)),
                                       std::string(to_string(b_.rules.global_mode))});
        compare_elements<entity>(
            "entity", a_.rules.entities, b_.rules.entities,
            [](const configuration& c, const entity& e) { return entity_attributes(c, e); });
        compare_elements<purpose>(
            "purpose", a_.rules.purposes, b_.rules.purposes,
            [](const configuration&, const purpose& p) { return purpose_attributes(p); });
        compare_elements<destination>(
            "destination", a_.rules.destinations, b_.rules.destinations,
            [](const configuration&, const destination& d) { return destination_attributes(d); });
        compare_elements<client>(
            "client", a_.rules.clients, b_.rules.clients,
            [](const configuration&, const client& c) { return client_attributes(c); });
        compare_elements<suppression_list>("suppression-list", a_.rules.suppression_lists,
                                           b_.rules.suppression_lists,
                                           [](const configuration& c, const suppression_list& l) {
                                               return list_attributes(c, l);
                                           });
        compare_elements<route>(
            "route", a_.net.routes, b_.net.routes,
            [](const configuration&, const route& r) { return route_attributes(r); });
        compare_grants();
        compare_views();
        compare_access();
        return std::move(out_);
    }

  private:
    template <typename T>
    static std::map<std::string, const T*> by_id(const std::vector<T>& v) {
        std::map<std::string, const T*> m;
        for (const auto& x : v) m.emplace(x.id, &x);
        return m;
    }

    template <typename T>
    void compare_elements(
        const std::string& element, const std::vector<T>& before, const std::vector<T>& after,
        const std::function<attribute_list(const configuration&, const T&)>& attributes) {
        const auto a = by_id(before);
        const auto b = by_id(after);
        for (const auto& [id, x] : a)
            if (!b.contains(id)) out_.elements.push_back({element, id, false});
        for (const auto& [id, x] : b)
            if (!a.contains(id)) out_.elements.push_back({element, id, true});
        for (const auto& [id, x] : a) {
            auto it = b.find(id);
            if (it == b.end()) continue;
            compare_attributes(element, id, attributes(a_, *x), attributes(b_, *it->second));
        }
    }

    void compare_attributes(const std::string& element, const std::string& id,
                            const attribute_list& before, const attribute_list& after) {
        std::map<std::string, std::string> a(before.begin(), before.end());
        std::map<std::string, std::string> b(after.begin(), after.end());
        // In the order the element lists them (after's order, then what only before has).
        for (const auto& [name, value] : after) {
            const auto it = a.find(name);
            const std::string old = it == a.end() ? std::string() : it->second;
            if (old != value) out_.attributes.push_back({element, id, name, old, value});
        }
        for (const auto& [name, value] : before)
            if (!b.contains(name) && !value.empty())
                out_.attributes.push_back({element, id, name, value, ""});
    }

    static attribute_list entity_attributes(const configuration&, const entity& e) {
        attribute_list l{{"describes", e.organisations ? "organisations" : "people"},
                         {"collected-for", join(sorted(e.collected_for))},
                         {"subject-field", e.subject_field}};
        string_list subjects;
        for (const auto& s : e.subjects)
            subjects.push_back(s.value + "=" + std::string(to_string(s.type)));
        l.emplace_back("subjects", join(sorted(subjects)));
        for (const auto& f : e.fields) {
            std::string v = f.category;
            if (f.special) v += " special";
            if (f.criminal) v += " criminal";
            if (f.consent_channel != marketing_channel::none)
                v += " consent-channel=" + std::string(to_string(f.consent_channel));
            if (!f.consent_recipient.empty()) v += " consent-recipient=" + f.consent_recipient;
            l.emplace_back("field " + f.path, v);
        }
        return l;
    }

    static attribute_list purpose_attributes(const purpose& p) {
        return {
            {"description", collapse_space(p.description)},
            {"data-use", p.data_use},
            {"basis", std::string(to_string(p.basis))},
            {"subjects", subjects_text(p.subjects)},
            {"direct-marketing", flag(p.direct_marketing)},
            {"channel", p.channel == marketing_channel::none ? std::string()
                                                             : std::string(to_string(p.channel))},
            {"legal-reference", p.legal_reference},
            {"lia", p.lia},
            {"art9-condition", p.special_condition == art9_condition::none
                                   ? std::string()
                                   : std::string(to_string(p.special_condition))},
            {"soft-opt-in", flag(p.soft_opt_in)},
            {"own-similar-products", flag(p.own_similar_products)},
            {"opt-out-at-collection", flag(p.opt_out_at_collection)},
            {"max-records", number(p.max_records)},
            {"retention", p.retention}};
    }

    static attribute_list destination_attributes(const destination& d) {
        return {{"description", collapse_space(d.description)},
                {"kind", std::string(to_string(d.kind))},
                {"organisation", d.organisation},
                {"country", d.country},
                {"transfer-mechanism", std::string(to_string(d.transfer))},
                {"dpa-ref", d.dpa_ref},
                {"dpa-expires", d.dpa_expires},
                {"purposes", join(sorted(d.purposes))},
                {"own-marketing", flag(d.own_marketing)}};
    }

    static attribute_list client_attributes(const client& c) {
        return {{"description", collapse_space(c.description)},
                {"jurisdiction", c.jurisdiction},
                {"mode", c.client_mode ? std::string(to_string(*c.client_mode)) : std::string()},
                {"api-key-sha256", join(sorted(c.api_key_sha256))},
                {"certificate-subject", join(sorted(c.certificate_subject), "; ")},
                {"certificate-sha256", join(sorted(c.certificate_sha256))}};
    }

    // A list's file by its path relative to its configuration's directory, so the same list
    // beside two copies of a policy is the same list.
    static std::string relative_file(const configuration& c, const std::string& file) {
        namespace fs = std::filesystem;
        const fs::path base = fs::path(c.path).parent_path().lexically_normal();
        const fs::path f = fs::path(file).lexically_normal();
        auto rel = f.lexically_relative(base.empty() ? fs::path(".") : base);
        return rel.empty() ? f.generic_string() : rel.generic_string();
    }

    static attribute_list list_attributes(const configuration& c, const suppression_list& l) {
        return {{"file", relative_file(c, l.file)},
                {"field", l.field},
                {"match", l.match == suppression_entries::match_kind::email ? "email" : "id"},
                {"max-age", l.max_age_text}};
    }

    static attribute_list route_attributes(const route& r) {
        string_list nested;
        for (const auto& n : r.nested) nested.push_back(n.entity + "@" + n.path);
        return {{"path", r.path},
                {"methods", join(sorted(r.methods))},
                {"entity", r.entity},
                {"nested", join(sorted(nested))},
                {"format", r.format == route_format::passthrough ? "passthrough" : "records"},
                {"open", flag(r.open)}};
    }

    static std::set<grant_key> grant_keys(const policy& p) {
        std::set<grant_key> out;
        for (const auto& c : p.clients)
            for (const auto& g : c.grants)
                for (const auto& d : g.destinations) out.insert({c.id, g.purpose, d});
        return out;
    }

    static attribute_list grant_attributes(const grant& g) {
        return {{"max-records", number(g.max_records)},
                {"quota", g.quota == 0 ? std::string()
                                       : std::to_string(g.quota) + "/" +
                                             std::string(to_string(g.quota_window))},
                {"valid-from", g.valid_from_text},
                {"valid-until", g.valid_until_text},
                {"volume-ceiling", number(g.volume_ceiling)},
                {"volume-multiple",
                 g.volume_multiple == 0 ? std::string() : std::to_string(g.volume_multiple)},
                {"on-anomaly", g.on_anomaly == anomaly_action::refuse ? "refuse" : "alert"}};
    }

    void compare_grants() {
        const auto a = grant_keys(a_.rules);
        const auto b = grant_keys(b_.rules);
        std::set_difference(b.begin(), b.end(), a.begin(), a.end(),
                            std::back_inserter(out_.grants_added));
        std::set_difference(a.begin(), a.end(), b.begin(), b.end(),
                            std::back_inserter(out_.grants_removed));
        // The limits of grants present in both (client x purpose).
        std::map<std::pair<std::string, std::string>, const grant*> before;
        for (const auto& c : a_.rules.clients)
            for (const auto& g : c.grants) before[{c.id, g.purpose}] = &g;
        std::map<std::pair<std::string, std::string>, const grant*> after;
        for (const auto& c : b_.rules.clients)
            for (const auto& g : c.grants) after[{c.id, g.purpose}] = &g;
        for (const auto& [key, g] : after) {
            auto it = before.find(key);
            if (it == before.end()) continue;
            compare_attributes("grant", key.first + "/" + key.second, grant_attributes(*it->second),
                               grant_attributes(*g));
        }
    }

    // The fields `p` keeps of entity `e` (view `v`): the allow-list and every catalogue field
    // it keeps (a kept parent keeps its children, also those the catalogue adds later).
    static string_list kept_fields(const entity& e, const purpose_view& v) {
        string_list out = v.allowed.paths();
        for (const auto& f : e.fields)
            if (v.allowed.keeps(f.path)) out.push_back(f.path);
        return sorted(std::move(out));
    }

    static std::string relative_list_text(const configuration& c, const purpose& p) {
        const suppression_list* l = c.rules.find_suppression_list(p.suppression_list);
        std::string s = "drop if on suppression list " + p.suppression_list;
        if (l != nullptr) {
            s += " (field " + l->field + ", match " +
                 (l->match == suppression_entries::match_kind::email ? "email" : "id");
            if (!l->max_age_text.empty()) s += ", max-age " + l->max_age_text;
            s += ", file " + relative_file(c, l->file) + ")";
        }
        return s;
    }

    // Every condition line of `p` for entity `e`, sorted: the order of the conditions only
    // decides which reason a dropped record is counted under, never whether it is dropped.
    static string_list condition_lines(const configuration& c, const purpose& p, const entity& e,
                                       const purpose_view& v) {
        string_list out;
        // The values of `in` are a set: the order the entity lists its subject values (or the
        // policy its values) in does not change which records pass.
        auto line = [](filters::record_condition rc) {
            std::sort(rc.values.begin(), rc.values.end());
            return condition_text(rc) + " (" + std::string(filters::drop_reason_name(rc.reason)) +
                   ")";
        };
        for (const auto& rc : v.rules.conditions) out.push_back(line(rc));
        for (const auto& [index, rules] : v.disclosure_rules) {
            const std::string to = index < c.rules.destinations.size()
                                       ? c.rules.destinations[index].id
                                       : std::to_string(index);
            for (const auto& rc : rules.conditions) {
                const bool shared = std::any_of(
                    v.rules.conditions.begin(), v.rules.conditions.end(), [&](const auto& x) {
                        return x.field == rc.field && x.op == rc.op && x.values == rc.values &&
                               x.exclude == rc.exclude && x.strict == rc.strict;
                    });
                if (!shared) out.push_back("to " + to + ": " + line(rc));
            }
        }
        if (!p.suppression_list.empty()) out.push_back(relative_list_text(c, p));
        for (const auto& t : p.transforms)
            if (t.entity == e.id)
                out.push_back("transform " + t.field + ": " + transform_text(t.kind, t.keep));
        return sorted(std::move(out));
    }

    string_list routes_of(const std::string& entity_id) const {
        string_list out;
        for (const configuration* c : {&a_, &b_})
            for (const auto& r : c->net.routes) {
                bool serves = r.entity == entity_id;
                for (const auto& n : r.nested) serves = serves || n.entity == entity_id;
                if (serves) out.push_back(r.id);
            }
        return sorted(std::move(out));
    }

    struct view_facts {
        string_list fields;
        string_list conditions;
    };

    // purpose id → entity id → what the view keeps and applies.
    static std::map<std::string, std::map<std::string, view_facts>> views_of(
        const configuration& c) {
        std::map<std::string, std::map<std::string, view_facts>> out;
        for (const auto& p : c.rules.purposes) {
            auto& m = out[p.id];
            for (const auto& v : p.views) {
                if (v.entity_index >= c.rules.entities.size()) continue;
                const entity& e = c.rules.entities[v.entity_index];
                m[e.id] = {kept_fields(e, v), condition_lines(c, p, e, v)};
            }
        }
        return out;
    }

    void compare_views() {
        const auto a = views_of(a_);
        const auto b = views_of(b_);
        std::set<std::pair<std::string, std::string>> keys;
        for (const auto* side : {&a, &b})
            for (const auto& [pid, m] : *side)
                for (const auto& [eid, facts] : m) keys.insert({pid, eid});
        static const view_facts none;
        auto find = [](const auto& side, const std::string& pid,
                       const std::string& eid) -> const view_facts& {
            auto pi = side.find(pid);
            if (pi == side.end()) return none;
            auto ei = pi->second.find(eid);
            return ei == pi->second.end() ? none : ei->second;
        };
        for (const auto& [pid, eid] : keys) {
            const auto& before = find(a, pid, eid);
            const auto& after = find(b, pid, eid);
            field_change f{pid,
                           eid,
                           {},
                           minus(after.fields, before.fields),
                           minus(before.fields, after.fields)};
            if (!f.exposed.empty() || !f.stripped.empty()) {
                f.routes = routes_of(eid);
                out_.fields.push_back(std::move(f));
            }
            condition_change cc{pid, eid, minus(after.conditions, before.conditions),
                                minus(before.conditions, after.conditions)};
            if (!cc.added.empty() || !cc.removed.empty()) out_.conditions.push_back(std::move(cc));
        }
    }

    void compare_access() {
        std::set<grant_key> keys = grant_keys(a_.rules);
        const auto b = grant_keys(b_.rules);
        keys.insert(b.begin(), b.end());
        for (const auto& k : keys) {
            const reason before = standing_refusal(a_.rules, k.client, k.purpose, k.destination);
            const reason after = standing_refusal(b_.rules, k.client, k.purpose, k.destination);
            if ((before == reason::none) != (after == reason::none))
                out_.access.push_back(
                    {k, std::string(to_string(before)), std::string(to_string(after))});
        }
    }

    const configuration& a_;
    const configuration& b_;
    policy_diff out_;
};

std::string key_text(const grant_key& k) {
    return k.client + " x " + k.purpose + " x " + k.destination;
}

std::string value_text(const std::string& v) { return v.empty() ? "(not set)" : v; }

boost::json::array strings(const string_list& v) {
    boost::json::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
}

boost::json::object key_json(const grant_key& k) {
    return {{"client", k.client}, {"purpose", k.purpose}, {"destination", k.destination}};
}

}  // namespace

policy_diff diff_policies(const configuration& before, const configuration& after) {
    return differ(before, after).run();
}

std::string render_diff_text(const policy_diff& d, const std::string& before_name,
                             const std::string& after_name) {
    std::string out;
    if (d.empty()) {
        out += before_name + " and " + after_name + " are equivalent\n";
        return out;
    }
    out += before_name + " -> " + after_name + ": the policies differ\n";
    if (!d.access.empty()) {
        out += "\nconsequence (client x purpose x destination)\n";
        for (const auto& a : d.access) {
            if (a.now_allowed())
                out += "  now allowed  " + key_text(a.key) + " (was " + a.before + ")\n";
            else
                out += "  now refused  " + key_text(a.key) + " (" + a.after + ")\n";
        }
    }
    if (!d.grants_added.empty() || !d.grants_removed.empty()) {
        out += "\ngrants\n";
        for (const auto& k : d.grants_added) out += "  + " + key_text(k) + "\n";
        for (const auto& k : d.grants_removed) out += "  - " + key_text(k) + "\n";
    }
    if (!d.elements.empty()) {
        out += "\nelements\n";
        for (const auto& e : d.elements)
            out += std::string("  ") + (e.added ? "+ " : "- ") + e.element + " " + e.id + "\n";
    }
    if (!d.attributes.empty()) {
        out += "\nattributes\n";
        for (const auto& a : d.attributes)
            out += "  " + a.element + (a.id.empty() ? std::string() : " " + a.id) + ": " +
                   a.attribute + ": " + value_text(a.before) + " -> " + value_text(a.after) + "\n";
    }
    if (!d.fields.empty()) {
        out += "\nfields kept\n";
        for (const auto& f : d.fields) {
            out += "  purpose " + f.purpose + ", entity " + f.entity;
            if (!f.routes.empty()) out += " (routes " + join(f.routes, ", ") + ")";
            out += "\n";
            for (const auto& x : f.exposed) out += "    newly exposed  " + x + "\n";
            for (const auto& x : f.stripped) out += "    newly stripped " + x + "\n";
        }
    }
    if (!d.conditions.empty()) {
        out += "\nrecord conditions and transforms\n";
        for (const auto& c : d.conditions) {
            out += "  purpose " + c.purpose + ", entity " + c.entity + "\n";
            for (const auto& x : c.added) out += "    + " + x + "\n";
            for (const auto& x : c.removed) out += "    - " + x + "\n";
        }
    }
    return out;
}

std::string render_diff_json(const policy_diff& d, const std::string& before_name,
                             const std::string& after_name) {
    boost::json::object o;
    o["old"] = before_name;
    o["new"] = after_name;
    o["equivalent"] = d.empty();
    boost::json::array access;
    for (const auto& a : d.access) {
        auto x = key_json(a.key);
        x["before"] = a.before;
        x["after"] = a.after;
        x["now_allowed"] = a.now_allowed();
        access.push_back(std::move(x));
    }
    o["access"] = std::move(access);
    boost::json::array added, removed;
    for (const auto& k : d.grants_added) added.push_back(key_json(k));
    for (const auto& k : d.grants_removed) removed.push_back(key_json(k));
    o["grants_added"] = std::move(added);
    o["grants_removed"] = std::move(removed);
    boost::json::array elements;
    for (const auto& e : d.elements)
        elements.push_back(
            {{"element", e.element}, {"id", e.id}, {"change", e.added ? "added" : "removed"}});
    o["elements"] = std::move(elements);
    boost::json::array attributes;
    for (const auto& a : d.attributes)
        attributes.push_back({{"element", a.element},
                              {"id", a.id},
                              {"attribute", a.attribute},
                              {"before", a.before},
                              {"after", a.after}});
    o["attributes"] = std::move(attributes);
    boost::json::array fields;
    for (const auto& f : d.fields)
        fields.push_back({{"purpose", f.purpose},
                          {"entity", f.entity},
                          {"routes", strings(f.routes)},
                          {"exposed", strings(f.exposed)},
                          {"stripped", strings(f.stripped)}});
    o["fields"] = std::move(fields);
    boost::json::array conditions;
    for (const auto& c : d.conditions)
        conditions.push_back({{"purpose", c.purpose},
                              {"entity", c.entity},
                              {"added", strings(c.added)},
                              {"removed", strings(c.removed)}});
    o["conditions"] = std::move(conditions);
    return boost::json::serialize(o) + "\n";
}

}  // namespace exportwall::config
