#include "config/rules.hpp"

#include <algorithm>
#include <string>

namespace exportwall::config {
namespace {

constexpr subject_set all_subjects = subject_bit(subject_type::customer) |
                                     subject_bit(subject_type::prospect) |
                                     subject_bit(subject_type::former_customer);

std::string quoted(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out.push_back('\'');
    out.append(s);
    out.push_back('\'');
    return out;
}

std::string subjects_text(subject_set s) {
    std::string out;
    for (auto t : {subject_type::customer, subject_type::prospect, subject_type::former_customer}) {
        if ((s & subject_bit(t)) == 0) continue;
        if (!out.empty()) out += ' ';
        out += to_string(t);
    }
    return out.empty() ? std::string("none") : out;
}

class rule_checker {
  public:
    rule_checker(policy& p, const settings& net, diagnostics& diag)
        : p_(p), net_(net), diag_(diag) {}

    void run() {
        p_.build_indexes();
        check_duplicates();
        check_entities();
        check_suppression_lists();
        for (auto& pu : p_.purposes) check_purpose(pu);
        for (auto& d : p_.destinations) check_destination(d);
        for (auto& c : p_.clients) check_client(c);
        check_routes();
    }

  private:
    void fail(const source_location& where, legal_rule r, const std::string& message) {
        diag_.error(where, rule_prefix(r) + ": " + message);
    }

    template <typename T>
    void duplicates_in(const std::vector<T>& items, std::string_view what) {
        std::vector<std::pair<std::string_view, const T*>> seen;
        for (const auto& item : items) seen.emplace_back(item.id, &item);
        std::stable_sort(seen.begin(), seen.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        for (std::size_t i = 1; i < seen.size(); ++i) {
            if (seen[i].first == seen[i - 1].first)
                diag_.error(seen[i].second->where, std::string("duplicate ") + std::string(what) +
                                                       " id " + quoted(seen[i].first));
        }
    }

    void check_duplicates() {
        duplicates_in(p_.entities, "entity");
        duplicates_in(p_.purposes, "purpose");
        duplicates_in(p_.destinations, "destination");
        duplicates_in(p_.clients, "client");
        duplicates_in(p_.suppression_lists, "suppression-list");
        // One identity, one client: otherwise the key or certificate would be ambiguous.
        auto check_identity = [this](std::vector<std::string> client::*member,
                                     std::string_view what) {
            std::vector<std::pair<std::string_view, const client*>> seen;
            for (const auto& c : p_.clients)
                for (const auto& k : c.*member) seen.emplace_back(k, &c);
            std::stable_sort(seen.begin(), seen.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
            for (std::size_t i = 1; i < seen.size(); ++i) {
                if (seen[i].first == seen[i - 1].first)
                    diag_.error(seen[i].second->where,
                                std::string("client ") + quoted(seen[i].second->id) +
                                    " reuses the " + std::string(what) + " of client " +
                                    quoted(seen[i - 1].second->id));
            }
        };
        check_identity(&client::api_key_sha256, "api-key");
        check_identity(&client::certificate_subject, "certificate subject");
        check_identity(&client::certificate_sha256, "certificate fingerprint");
    }

    void check_entities() {
        for (auto& e : p_.entities) {
            std::sort(
                e.fields.begin(), e.fields.end(),
                [](const catalogue_field& a, const catalogue_field& b) { return a.path < b.path; });
            for (std::size_t i = 1; i < e.fields.size(); ++i) {
                if (e.fields[i].path == e.fields[i - 1].path)
                    diag_.error(e.fields[i].where, "entity " + quoted(e.id) + " lists field " +
                                                       quoted(e.fields[i].path) + " twice");
            }
            for (auto& f : e.fields)
                if (is_special_category(f.category)) f.special = true;
            if (!e.subject_field.empty() && e.find_field(e.subject_field) == nullptr)
                fail(e.where, legal_rule::references,
                     "subject field " + quoted(e.subject_field) + " of entity " + quoted(e.id) +
                         " is not in its catalogue");
            if (e.subject_field.empty() && !e.subjects.empty())
                diag_.error(e.where, "entity " + quoted(e.id) +
                                         " maps subject values but names no subject-field");
        }
    }

    void check_suppression_lists() {
        for (auto& l : p_.suppression_lists)
            l.entries = std::make_shared<suppression_entries>(l.field, l.match);
    }

    // Values of the entity's subject field that mean one of `allowed`.
    static std::vector<std::string> subject_values(const entity& e, subject_set allowed) {
        std::vector<std::string> out;
        for (const auto& s : e.subjects)
            if ((allowed & subject_bit(s.type)) != 0) out.push_back(s.value);
        return out;
    }

    bool field_known(const entity& e, const std::string& field, const source_location& where,
                     std::string_view role, const purpose& pu) {
        if (e.find_field(field) != nullptr) return true;
        fail(where, legal_rule::references,
             std::string(role) + " " + quoted(field) + " of purpose " + quoted(pu.id) +
                 " is not in the catalogue of entity " + quoted(e.id));
        return false;
    }

    void check_purpose(purpose& pu) {
        const bool dm = pu.direct_marketing;
        // Rule 1.
        if (dm && (pu.basis == legal_basis::contract || pu.basis == legal_basis::pre_contract))
            fail(pu.where, legal_rule::no_marketing_on_contract,
                 "direct-marketing purpose " + quoted(pu.id) + " cannot rest on basis " +
                     quoted(to_string(pu.basis)) + "; use consent or legitimate-interest");
        // Rule 2.
        if (pu.basis == legal_basis::contract && pu.subjects != subject_bit(subject_type::customer))
            fail(pu.where, legal_rule::contract_subjects,
                 "contract purpose " + quoted(pu.id) + " may touch customers only, not " +
                     quoted(subjects_text(pu.subjects)));
        if (pu.basis == legal_basis::pre_contract) {
            if (pu.subjects != subject_bit(subject_type::prospect))
                fail(pu.where, legal_rule::contract_subjects,
                     "pre-contract purpose " + quoted(pu.id) + " may touch prospects only, not " +
                         quoted(subjects_text(pu.subjects)));
            if (pu.evidence.empty())
                fail(pu.where, legal_rule::contract_subjects,
                     "pre-contract purpose " + quoted(pu.id) +
                         " needs a <request-evidence> condition showing the prospect asked");
        }
        if (pu.basis != legal_basis::pre_contract && !pu.evidence.empty())
            diag_.error(pu.evidence.front().where,
                        "<request-evidence> belongs to pre-contract purposes only (purpose " +
                            quoted(pu.id) + " is " + std::string(to_string(pu.basis)) + ")");
        // Rule 3.
        if (pu.basis == legal_basis::consent && pu.consent_field.empty())
            fail(pu.where, legal_rule::consent_and_objection,
                 "consent purpose " + quoted(pu.id) + " must name its consent-field");
        if (dm && pu.objection_field.empty() && pu.suppression_list.empty())
            fail(pu.where, legal_rule::consent_and_objection,
                 "direct-marketing purpose " + quoted(pu.id) +
                     " must name an objection-field or a suppression-list");
        // Rule 8 (ePrivacy): electronic marketing to prospects needs consent.
        if (dm && pu.channel == marketing_channel::none)
            fail(pu.where, legal_rule::electronic_marketing_consent,
                 "direct-marketing purpose " + quoted(pu.id) +
                     " must name its channel (email, sms, phone or post)");
        if (dm && pu.basis == legal_basis::legitimate_interest &&
            (pu.channel == marketing_channel::email || pu.channel == marketing_channel::sms) &&
            (pu.subjects & subject_bit(subject_type::prospect)) != 0)
            fail(pu.where, legal_rule::electronic_marketing_consent,
                 "legitimate-interest direct marketing by " + std::string(to_string(pu.channel)) +
                     " to prospects (purpose " + quoted(pu.id) + ") needs consent instead");
        if (!dm && pu.channel != marketing_channel::none)
            diag_.error(pu.where, "purpose " + quoted(pu.id) +
                                      " names a channel but is not direct-marketing");
        if (pu.subjects == 0)
            diag_.error(pu.where, "purpose " + quoted(pu.id) + " names no data subjects");

        const suppression_list* list = nullptr;
        if (!pu.suppression_list.empty()) {
            list = p_.find_suppression_list(pu.suppression_list);
            if (list == nullptr)
                fail(pu.where, legal_rule::references,
                     "purpose " + quoted(pu.id) + " names unknown suppression-list " +
                         quoted(pu.suppression_list));
        }

        std::vector<bool> seen(p_.entities.size(), false);
        for (auto& view : pu.views) {
            const entity& e = p_.entities[view.entity_index];
            if (seen[view.entity_index])
                diag_.error(view.where, "purpose " + quoted(pu.id) + " lists fields of entity " +
                                            quoted(e.id) + " twice");
            seen[view.entity_index] = true;
            for (const auto& f : view.fields) {
                const catalogue_field* cf = e.find_field(f);
                if (cf == nullptr) {
                    fail(view.where, legal_rule::references,
                         "field " + quoted(f) + " of purpose " + quoted(pu.id) +
                             " is not in the catalogue of entity " + quoted(e.id));
                    continue;
                }
                if (dm && cf->special)
                    fail(view.where, legal_rule::no_special_marketing,
                         "special-category field " + quoted(f) + " (" + cf->category +
                             ") may not be exported for direct-marketing purpose " + quoted(pu.id));
            }
            compile_view(pu, view, e, list);
        }
        for (const auto* group : {&pu.evidence, &pu.conditions}) {
            for (const auto& c : *group) {
                auto idx = p_.entity_by_id.find(c.entity);
                if (!idx) {
                    fail(c.where, legal_rule::references,
                         "condition of purpose " + quoted(pu.id) + " names unknown entity " +
                             quoted(c.entity));
                } else if (pu.find_view(*idx) == nullptr) {
                    fail(c.where, legal_rule::references,
                         "condition of purpose " + quoted(pu.id) + " is on entity " +
                             quoted(c.entity) + ", for which the purpose lists no fields");
                }
            }
        }
    }

    void compile_view(const purpose& pu, purpose_view& view, const entity& e,
                      const suppression_list* list) {
        using filters::condition_op;
        using filters::drop_reason;
        auto& conds = view.rules.conditions;
        conds.clear();
        // 1. Subject type: contract and pre-contract always, others when they narrow the subjects.
        const bool needs_subject = pu.basis == legal_basis::contract ||
                                   pu.basis == legal_basis::pre_contract ||
                                   (pu.subjects != all_subjects && pu.subjects != 0);
        if (needs_subject) {
            if (e.subject_field.empty()) {
                fail(view.where,
                     pu.basis == legal_basis::contract || pu.basis == legal_basis::pre_contract
                         ? legal_rule::contract_subjects
                         : legal_rule::references,
                     "purpose " + quoted(pu.id) + " is limited to " + subjects_text(pu.subjects) +
                         " but entity " + quoted(e.id) + " names no subject-field");
            } else {
                auto values = subject_values(e, pu.subjects);
                if (values.empty())
                    fail(view.where, legal_rule::references,
                         "entity " + quoted(e.id) + " maps no subject value to " +
                             subjects_text(pu.subjects) + " (purpose " + quoted(pu.id) + ")");
                conds.push_back({e.subject_field, condition_op::in_set, std::move(values), false,
                                 drop_reason::subject_not_allowed});
            }
        }
        // 2. Evidence of the prospect's request (pre-contract).
        bool has_evidence = false;
        for (const auto& c : pu.evidence) {
            if (c.entity != e.id) continue;
            has_evidence = true;
            if (!field_known(e, c.condition.field, c.where, "evidence field", pu)) continue;
            auto cond = c.condition;
            cond.reason = drop_reason::no_request_evidence;
            cond.exclude = false;
            conds.push_back(std::move(cond));
        }
        if (pu.basis == legal_basis::pre_contract && !pu.evidence.empty() && !has_evidence)
            fail(view.where, legal_rule::contract_subjects,
                 "pre-contract purpose " + quoted(pu.id) +
                     " needs a <request-evidence> condition on entity " + quoted(e.id));
        // 3. Consent (the <fields> element may rename the field for its entity).
        if (!view.consent_field.empty() && pu.consent_field.empty())
            diag_.error(view.where,
                        "consent-field on <fields> needs one on purpose " + quoted(pu.id));
        if (!view.objection_field.empty() && pu.objection_field.empty())
            diag_.error(view.where,
                        "objection-field on <fields> needs one on purpose " + quoted(pu.id));
        const std::string& consent =
            view.consent_field.empty() ? pu.consent_field : view.consent_field;
        const std::string& objection =
            view.objection_field.empty() ? pu.objection_field : view.objection_field;
        if (!pu.consent_field.empty() && field_known(e, consent, view.where, "consent-field", pu))
            conds.push_back({consent, condition_op::is_true, {}, false, drop_reason::no_consent});
        // 4. Objection (art. 21): any set value means objected; fail closed on odd values.
        if (!pu.objection_field.empty() &&
            field_known(e, objection, view.where, "objection-field", pu))
            conds.push_back({objection, condition_op::is_set, {}, true, drop_reason::objected});
        // 5. Custom conditions.
        for (const auto& c : pu.conditions) {
            if (c.entity != e.id) continue;
            if (!field_known(e, c.condition.field, c.where, "condition field", pu)) continue;
            auto cond = c.condition;
            cond.reason = drop_reason::condition;
            conds.push_back(std::move(cond));
        }
        // 6. Suppression list, evaluated after the conditions by filters::evaluate.
        view.rules.suppressed = nullptr;
        view.rules.suppression_fields.clear();
        if (list != nullptr && list->entries) {
            if (field_known(e, list->field, pu.where, "suppression-list field", pu)) {
                // A raw pointer: the entries live as long as the snapshot that holds these rules,
                // and a pointer-sized capture keeps the std::function free of allocation.
                const suppression_entries* entries = list->entries.get();
                view.rules.suppressed = [entries](const filters::record_fields& r) {
                    return entries->suppresses(r);
                };
                view.rules.suppression_fields.push_back(list->field);
            }
        }
        view.allowed = filters::field_set(view.fields);
        view.rule_fields = view.rules.needed_fields();
    }

    void check_destination(destination& d) {
        if (d.own_marketing && d.kind != destination_kind::third_party)
            fail(d.where, legal_rule::no_third_party_marketing,
                 "own-marketing is a property of third-party destinations; destination " +
                     quoted(d.id) + " is " + std::string(to_string(d.kind)));
        if (!d.purposes.empty() && d.kind != destination_kind::processor)
            diag_.error(d.where, "destination " + quoted(d.id) +
                                     " lists purposes, which only a processor does");
        for (const auto& pid : d.purposes)
            if (p_.find_purpose(pid) == nullptr)
                fail(d.where, legal_rule::references,
                     "processor " + quoted(d.id) + " names unknown purpose " + quoted(pid));
    }

    void check_client(client& c) {
        if (c.api_key_sha256.empty() && c.certificate_subject.empty() &&
            c.certificate_sha256.empty())
            diag_.error(c.where,
                        "client " + quoted(c.id) + " has no identity (api-key or certificate)");
        for (auto& g : c.grants) {
            auto pi = p_.purpose_by_id.find(g.purpose);
            if (!pi) {
                fail(g.where, legal_rule::references,
                     "grant of client " + quoted(c.id) + " names unknown purpose " +
                         quoted(g.purpose));
                continue;
            }
            g.purpose_index = *pi;
            const purpose& pu = p_.purposes[*pi];
            g.destination_indices.clear();
            for (const auto& did : g.destinations) {
                auto di = p_.destination_by_id.find(did);
                if (!di) {
                    fail(g.where, legal_rule::references,
                         "grant of client " + quoted(c.id) + " names unknown destination " +
                             quoted(did));
                    continue;
                }
                g.destination_indices.push_back(*di);
                const destination& d = p_.destinations[*di];
                if (d.kind == destination_kind::third_party && pu.direct_marketing)
                    fail(g.where, legal_rule::no_third_party_marketing,
                         "grant of direct-marketing purpose " + quoted(pu.id) +
                             " to third-party destination " + quoted(d.id) + " is not allowed");
                else if (d.own_marketing)
                    fail(g.where, legal_rule::no_third_party_marketing,
                         "grant of purpose " + quoted(pu.id) + " to destination " + quoted(d.id) +
                             " is not allowed: it uses what it receives for its own marketing");
                if (d.kind == destination_kind::processor && !d.permits(pu.id))
                    fail(g.where, legal_rule::processor_purposes,
                         "processor " + quoted(d.id) + " is not contracted for purpose " +
                             quoted(pu.id));
            }
        }
        // One grant per purpose keeps max-records unambiguous.
        for (std::size_t i = 0; i < c.grants.size(); ++i)
            for (std::size_t j = 0; j < i; ++j)
                if (c.grants[i].purpose == c.grants[j].purpose)
                    diag_.error(c.grants[i].where, "client " + quoted(c.id) + " grants purpose " +
                                                       quoted(c.grants[i].purpose) + " twice");
    }

    void check_routes() {
        for (const auto& r : net_.routes) {
            if (r.format == route_format::passthrough) {
                if (!r.entity.empty() && p_.find_entity(r.entity) == nullptr)
                    fail(r.where, legal_rule::references,
                         "route " + quoted(r.id) + " names unknown entity " + quoted(r.entity));
                continue;
            }
            if (r.entity.empty())
                fail(r.where, legal_rule::references,
                     "route " + quoted(r.id) + " carries records and must name its entity");
            else if (p_.find_entity(r.entity) == nullptr)
                fail(r.where, legal_rule::references,
                     "route " + quoted(r.id) + " names unknown entity " + quoted(r.entity));
            for (const auto& set : r.nested)
                if (p_.find_entity(set.entity) == nullptr)
                    fail(set.where, legal_rule::references,
                         "route " + quoted(r.id) + " nests unknown entity " + quoted(set.entity));
        }
    }

    policy& p_;
    const settings& net_;
    diagnostics& diag_;
};

}  // namespace

std::string rule_prefix(legal_rule r) {
    switch (r) {
        case legal_rule::no_marketing_on_contract:
            return "rule 1 (GDPR art. 6(1)(b), art. 21)";
        case legal_rule::contract_subjects:
            return "rule 2 (GDPR art. 6(1)(b))";
        case legal_rule::consent_and_objection:
            return "rule 3 (GDPR art. 6(1)(a), art. 7, art. 21)";
        case legal_rule::no_third_party_marketing:
            return "rule 4 (GDPR art. 6(1), art. 21)";
        case legal_rule::processor_purposes:
            return "rule 5 (GDPR art. 28(3)(a))";
        case legal_rule::references:
            return "rule 6 (GDPR art. 5(1)(c))";
        case legal_rule::no_special_marketing:
            return "rule 7 (GDPR art. 9(1))";
        case legal_rule::electronic_marketing_consent:
            return "rule 8 (ePrivacy Directive art. 13(1), GDPR art. 6(1)(a))";
    }
    return "rule";
}

void check_and_compile(policy& out, const settings& net, diagnostics& diag) {
    rule_checker(out, net, diag).run();
}

}  // namespace exportwall::config
