#include "config/rules.hpp"

#include <algorithm>
#include <string>

#include "config/taxonomy.hpp"

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


// --- what a data use is (fideslang keys; see docs/policy-guide.md) ----------------------------

using taxonomy::within;

// R8, R13: direct marketing, whatever a flag says.
bool marketing_use(std::string_view use) {
    return within(use, "marketing") || within(use, "sales") ||
           within(use, "third_party_sharing.marketing");
}
// R4: never the contract.
bool not_contract_use(std::string_view use) {
    return marketing_use(use) || within(use, "essential.fraud_detection") ||
           within(use, "functional.service.improve") ||
           within(use, "essential.service.operations.improve") ||
           within(use, "essential.service.upgrades") || within(use, "train_ai_system");
}
// R2: a profile of tastes and lifestyle is not necessary for a contract.
bool profile_use(std::string_view use) {
    return within(use, "analytics") || within(use, "personalize");
}
// R1–R3: what 6(1)(b) carries — delivery and service operations, support, invoicing and
// payment (reminders, notices of default), service notices.
bool contract_use(std::string_view use) {
    return (within(use, "essential.service.operations") &&
            !within(use, "essential.service.operations.improve")) ||
           within(use, "essential.service.payment_processing") ||
           within(use, "essential.service.notifications");
}
// R5: steps at the prospect's request (a quote, an availability check).
bool pre_contract_use(std::string_view use) {
    return within(use, "essential.service.operations") &&
           !within(use, "essential.service.operations.improve");
}
// R3: invoicing, payment and notices of default reach former customers too.
bool survives_contract(std::string_view use) {
    return within(use, "essential.service.payment_processing");
}
marketing_channel implied_channel(std::string_view use) {
    if (within(use, "marketing.communications.email") ||
        within(use, "essential.service.notifications.email"))
        return marketing_channel::email;
    if (within(use, "marketing.communications.sms") ||
        within(use, "essential.service.notifications.sms"))
        return marketing_channel::sms;
    return marketing_channel::none;
}
// R14: a purpose that contacts people for something other than the service or the law (a
// satisfaction survey); the DE rule pack treats it as direct marketing.
bool survey_like(const purpose& pu) {
    return pu.channel != marketing_channel::none && !pu.direct_marketing &&
           !within(pu.data_use, "essential.service") &&
           !within(pu.data_use, "essential.legal_obligation");
}

bool condition_fits(art9_condition c, legal_basis b) {
    using enum legal_basis;
    switch (c) {
        case art9_condition::none:
            return false;
        case art9_condition::explicit_consent:
            return b == consent;
        case art9_condition::employment_law:
        case art9_condition::substantial_public_interest:
        case art9_condition::public_health:
        case art9_condition::official_authority:
            return b == legal_obligation;
        case art9_condition::vital_interests:
        case art9_condition::legal_claims:
        case art9_condition::archiving_research:
            return b == legal_obligation || b == legitimate_interest;
        case art9_condition::made_public:
            return true;
        case art9_condition::health_care:
            return b == contract || b == legal_obligation;
    }
    return false;
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
        seen.reserve(items.size());
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
            e.index_fields();
            for (std::size_t i = 1; i < e.fields.size(); ++i) {
                if (e.fields[i].path == e.fields[i - 1].path)
                    diag_.error(e.fields[i].where, "entity " + quoted(e.id) + " lists field " +
                                                       quoted(e.fields[i].path) + " twice");
            }
            for (auto& f : e.fields) {
                check_category(f);
                if (is_special_category(f.category)) f.special = true;
                if (is_criminal_category(f.category)) f.criminal = true;
                if (!f.consent_recipient.empty() && p_.find_destination(f.consent_recipient) == nullptr)
                    fail(f.where, legal_rule::references,
                         "field " + quoted(f.path) + " of entity " + quoted(e.id) +
                             " names unknown consent-recipient " + quoted(f.consent_recipient));
            }
            if (!e.subject_field.empty() && e.find_field(e.subject_field) == nullptr)
                fail(e.where, legal_rule::references,
                     "subject field " + quoted(e.subject_field) + " of entity " + quoted(e.id) +
                         " is not in its catalogue");
            if (e.subject_field.empty() && !e.subjects.empty())
                diag_.error(e.where, "entity " + quoted(e.id) +
                                         " maps subject values but names no subject-field");
            if (e.organisations) {
                check_organisation(e);
                continue;
            }
            if (e.collected_for.empty())
                fail(e.where, legal_rule::r15_purpose_limitation,
                     "entity " + quoted(e.id) +
                         " must name the data uses its subjects were told of at collection "
                         "(collected-for)");
            for (const auto& use : e.collected_for) check_data_use(e.where, use, "collected-for");
        }
    }

    // An entity about companies carries no rule for data subjects, so it may hold only what
    // describes a company: its identifiers, its contact details, system data.
    void check_organisation(const entity& e) {
        if (!e.subject_field.empty())
            fail(e.where, legal_rule::references,
                 "entity " + quoted(e.id) +
                     " describes organisations and cannot map subject types (subject-field)");
        for (const auto& f : e.fields) {
            const std::string& c = f.category;
            if (taxonomy::within(c, "system") || taxonomy::within(c, "user.contact") ||
                taxonomy::within(c, "user.unique_id"))
                continue;
            fail(f.where, legal_rule::references,
                 "entity " + quoted(e.id) + " describes organisations, but field " +
                     quoted(f.path) + " (" + c +
                     ") describes a person: catalogue people in an entity of their own");
        }
    }

    // A fideslang data category; a typo is an error with the nearest name.
    void check_category(const catalogue_field& f) {
        if (taxonomy::find(taxonomy::kind::data_category, f.category) != nullptr) return;
        std::string message = "field " + quoted(f.path) + " has unknown data category " +
                              quoted(f.category) + " (not in the fideslang taxonomy)";
        auto near = taxonomy::nearest(taxonomy::kind::data_category, f.category);
        if (!near.empty()) message += "; did you mean " + quoted(near) + "?";
        fail(f.where, legal_rule::references, message);
    }

    bool check_data_use(const source_location& where, std::string_view use,
                        std::string_view what) {
        const auto* e = taxonomy::find(taxonomy::kind::data_use, use);
        if (e == nullptr) {
            std::string message = std::string(what) + " names unknown data use " + quoted(use) +
                                  " (not in the fideslang taxonomy)";
            auto near = taxonomy::nearest(taxonomy::kind::data_use, use);
            if (!near.empty()) message += "; did you mean " + quoted(near) + "?";
            fail(where, legal_rule::references, message);
            return false;
        }
        if (e->deprecated) {
            std::string message =
                std::string(what) + " names deprecated data use " + quoted(use);
            if (!e->replaced_by.empty()) message += "; use " + quoted(e->replaced_by);
            fail(where, legal_rule::references, message);
            return false;
        }
        return true;
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
        const std::string& use = pu.data_use;
        bool use_known = false;
        if (use.empty())
            fail(pu.where, legal_rule::references,
                 "purpose " + quoted(pu.id) +
                     " must name its data-use (a fideslang data use, e.g. "
                     "'essential.service.operations' or 'marketing.communications.email')");
        else
            use_known = check_data_use(pu.where, use, "purpose " + quoted(pu.id));
        // R13: direct marketing is what the data use says; a flag can only agree.
        const bool dm = use_known && marketing_use(use);
        pu.direct_marketing = dm;
        if (use_known && pu.direct_marketing_flag && *pu.direct_marketing_flag != dm)
            fail(pu.where, legal_rule::r13_marketing_scope,
                 "purpose " + quoted(pu.id) + " says direct-marketing=\"" +
                     (*pu.direct_marketing_flag ? "true" : "false") + "\" but its data use " +
                     quoted(use) + (dm ? " is" : " is not") +
                     " direct marketing; the data use decides");
        if (use_known) check_basis(pu, dm);
        if (pu.subjects == 0)
            diag_.error(pu.where, "purpose " + quoted(pu.id) + " names no data subjects");
        if (pu.basis != legal_basis::pre_contract && !pu.evidence.empty())
            diag_.error(pu.evidence.front().where,
                        "<request-evidence> belongs to pre-contract purposes only (purpose " +
                            quoted(pu.id) + " is " + std::string(to_string(pu.basis)) + ")");
        if (pu.basis != legal_basis::legal_obligation && !pu.legal_reference.empty())
            diag_.error(pu.where, "legal-reference belongs to legal-obligation purposes (purpose " +
                                      quoted(pu.id) + " is " + std::string(to_string(pu.basis)) +
                                      ")");
        if (use_known) check_channel(pu, dm);

        const suppression_list* list = nullptr;
        if (!pu.suppression_list.empty()) {
            list = p_.find_suppression_list(pu.suppression_list);
            if (list == nullptr)
                fail(pu.where, legal_rule::references,
                     "purpose " + quoted(pu.id) + " names unknown suppression-list " +
                         quoted(pu.suppression_list));
        }

        bool exports_special = false;
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
                if (cf->special || cf->criminal) {
                    exports_special = true;
                    check_special(pu, view, *cf, dm);
                }
            }
            // R15: only for a use the subjects were told of when the data was collected.
            if (!pu.data_use.empty() && !e.collected_for.empty() &&
                std::none_of(e.collected_for.begin(), e.collected_for.end(),
                             [&pu](const std::string& u) {
                                 return taxonomy::within(pu.data_use, u);
                             }))
                fail(view.where, legal_rule::r15_purpose_limitation,
                     "purpose " + quoted(pu.id) + " (data use " + quoted(pu.data_use) +
                         ") reads entity " + quoted(e.id) +
                         ", whose subjects were told of other uses at collection (collected-for)");
            check_consent_channel(pu, view, e, dm);
            compile_view(pu, view, e, list);
        }
        if (pu.special_condition != art9_condition::none && !exports_special)
            diag_.error(pu.where, "purpose " + quoted(pu.id) +
                                      " names an art9-condition but exports no special-category "
                                      "field");
        for (const auto& t : pu.transforms) {
            auto idx = p_.entity_by_id.find(t.entity);
            if (!idx || pu.find_view(*idx) == nullptr)
                fail(t.where, legal_rule::references,
                     "transform of purpose " + quoted(pu.id) + " names entity " + quoted(t.entity) +
                         ", for which the purpose lists no fields");
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


    // The legal basis against the data use (R1–R9, art. 6(1)(c)).
    void check_basis(const purpose& pu, bool dm) {
        const std::string& use = pu.data_use;
        const std::string basis(to_string(pu.basis));
        const subject_set customer = subject_bit(subject_type::customer);
        const subject_set former = subject_bit(subject_type::former_customer);
        const subject_set prospect = subject_bit(subject_type::prospect);
        switch (pu.basis) {
            case legal_basis::contract:
                if (not_contract_use(use))
                    fail(pu.where, legal_rule::r4_not_contract,
                         "purpose " + quoted(pu.id) + " (data use " + quoted(use) +
                             ") cannot rest on basis 'contract': fraud prevention, service "
                             "improvement and marketing are not necessary for a contract");
                else if (profile_use(use))
                    fail(pu.where, legal_rule::r2_contract_scope,
                         "purpose " + quoted(pu.id) + " (data use " + quoted(use) +
                             ") cannot rest on basis 'contract': analytics, profiling and "
                             "personalisation are not necessary for a contract");
                else if (!contract_use(use))
                    fail(pu.where, legal_rule::r1_contract_necessity,
                         "purpose " + quoted(pu.id) + " (data use " + quoted(use) +
                             ") cannot rest on basis 'contract', which covers delivery, "
                             "invoicing and payment, service notices and support of the "
                             "contracted service only");
                if ((pu.subjects & ~(customer | former)) != 0)
                    fail(pu.where, legal_rule::r1_contract_necessity,
                         "contract purpose " + quoted(pu.id) +
                             " may touch customers (and former customers) only, not " +
                             quoted(subjects_text(pu.subjects)));
                else if ((pu.subjects & former) != 0 && !survives_contract(use))
                    fail(pu.where, legal_rule::r3_related_activities,
                         "contract purpose " + quoted(pu.id) + " (data use " + quoted(use) +
                             ") may not touch former customers: only invoicing, payment and "
                             "notices of default survive the contract "
                             "(essential.service.payment_processing)");
                break;
            case legal_basis::pre_contract:
                if (not_contract_use(use) || profile_use(use))
                    fail(pu.where, legal_rule::r4_not_contract,
                         "purpose " + quoted(pu.id) + " (data use " + quoted(use) +
                             ") cannot rest on basis 'pre-contract'");
                else if (!pre_contract_use(use))
                    fail(pu.where, legal_rule::r5_pre_contract_request,
                         "purpose " + quoted(pu.id) + " (data use " + quoted(use) +
                             ") cannot rest on basis 'pre-contract', which covers steps the "
                             "prospect asked for (essential.service.operations) only");
                if (pu.subjects != prospect)
                    fail(pu.where, legal_rule::r5_pre_contract_request,
                         "pre-contract purpose " + quoted(pu.id) + " may touch prospects only, not " +
                             quoted(subjects_text(pu.subjects)));
                if (pu.evidence.empty())
                    fail(pu.where, legal_rule::r5_pre_contract_request,
                         "pre-contract purpose " + quoted(pu.id) +
                             " needs a <request-evidence> condition showing the prospect asked");
                break;
            case legal_basis::consent:
                if (pu.consent_field.empty())
                    fail(pu.where, legal_rule::r9_consent_withdrawal,
                         "consent purpose " + quoted(pu.id) + " must name its consent-field");
                break;
            case legal_basis::legitimate_interest:
                if (pu.lia.empty())
                    fail(pu.where, legal_rule::r6_legitimate_interest,
                         "legitimate-interest purpose " + quoted(pu.id) +
                             " must name its balancing test (lia)");
                if (pu.objection_field.empty())
                    fail(pu.where, legal_rule::r6_legitimate_interest,
                         "legitimate-interest purpose " + quoted(pu.id) +
                             " must name an objection-field: subjects may object (art. 21(1))");
                break;
            case legal_basis::legal_obligation:
                if (pu.legal_reference.empty())
                    fail(pu.where, legal_rule::legal_obligation,
                         "legal-obligation purpose " + quoted(pu.id) +
                             " must name the law that requires it (legal-reference)");
                if (dm)
                    fail(pu.where, legal_rule::legal_obligation,
                         "purpose " + quoted(pu.id) + " (data use " + quoted(use) +
                             ") is direct marketing, which no law requires; basis "
                             "'legal-obligation' cannot carry it");
                break;
        }
        if (!dm) return;
        // R8: an objection to direct marketing is absolute, whatever the basis.
        if (pu.objection_field.empty())
            fail(pu.where, legal_rule::r8_objection_absolute,
                 "direct-marketing purpose " + quoted(pu.id) + " must name an objection-field");
        if (pu.suppression_list.empty() && !p_.suppression_lists.empty())
            fail(pu.where, legal_rule::r8_objection_absolute,
                 "direct-marketing purpose " + quoted(pu.id) +
                     " must name a suppression-list: the policy keeps one");
    }

    // Channels: the data use's, the purpose's and the consent's must agree; electronic direct
    // marketing needs consent or the soft opt-in with its conditions (R7).
    void check_channel(purpose& pu, bool dm) {
        const auto implied = implied_channel(pu.data_use);
        if (implied != marketing_channel::none) {
            if (pu.channel == marketing_channel::none)
                pu.channel = implied;
            else if (pu.channel != implied)
                fail(pu.where, legal_rule::r7_electronic_marketing,
                     "purpose " + quoted(pu.id) + " names channel " +
                         quoted(to_string(pu.channel)) + " but its data use " +
                         quoted(pu.data_use) + " is " + std::string(to_string(implied)));
        }
        if (dm && pu.channel == marketing_channel::none &&
            !taxonomy::within(pu.data_use, "marketing.advertising"))
            fail(pu.where, legal_rule::r7_electronic_marketing,
                 "direct-marketing purpose " + quoted(pu.id) +
                     " must name its channel (email, sms, phone or post)");
        const bool electronic =
            pu.channel == marketing_channel::email || pu.channel == marketing_channel::sms;
        if (pu.soft_opt_in || pu.own_similar_products || pu.opt_out_at_collection) {
            if (!dm || !electronic)
                fail(pu.where, legal_rule::r7_electronic_marketing,
                     "soft opt-in applies to e-mail and SMS direct marketing only (purpose " +
                         quoted(pu.id) + ")");
        }
        if (!dm || !electronic) return;
        if (pu.basis == legal_basis::consent) return;
        if (!pu.soft_opt_in) {
            fail(pu.where, legal_rule::r7_electronic_marketing,
                 "direct marketing by " + std::string(to_string(pu.channel)) + " (purpose " +
                     quoted(pu.id) +
                     ") needs basis 'consent', or the soft opt-in for existing customers "
                     "(soft-opt-in, own-similar-products, opt-out-at-collection)");
            return;
        }
        if (!pu.own_similar_products || !pu.opt_out_at_collection)
            fail(pu.where, legal_rule::r7_electronic_marketing,
                 "soft opt-in of purpose " + quoted(pu.id) +
                     " needs own-similar-products=\"true\" and opt-out-at-collection=\"true\"");
        if (pu.subjects != subject_bit(subject_type::customer))
            fail(pu.where, legal_rule::r7_electronic_marketing,
                 "soft opt-in of purpose " + quoted(pu.id) +
                     " reaches existing customers only, not " +
                     quoted(subjects_text(pu.subjects)));
        if (pu.basis != legal_basis::legitimate_interest)
            fail(pu.where, legal_rule::r7_electronic_marketing,
                 "soft opt-in of purpose " + quoted(pu.id) + " rests on legitimate-interest");
    }

    // The consent field read for a direct-marketing purpose was given for its channel.
    void check_consent_channel(const purpose& pu, const purpose_view& view, const entity& e,
                               bool dm) {
        if (!dm || pu.basis != legal_basis::consent || pu.consent_field.empty()) return;
        const std::string& name = view.consent_field.empty() ? pu.consent_field : view.consent_field;
        const catalogue_field* cf = e.find_field(name);
        if (cf == nullptr) return;  // reported by compile_view
        if (cf->consent_channel != pu.channel)
            fail(view.where, legal_rule::r7_electronic_marketing,
                 "consent field " + quoted(name) + " of entity " + quoted(e.id) +
                     (cf->consent_channel == marketing_channel::none
                          ? std::string(" declares no consent-channel")
                          : " was given for " + std::string(to_string(cf->consent_channel))) +
                     ", but purpose " + quoted(pu.id) + " markets by " +
                     std::string(to_string(pu.channel)));
        if (!cf->consent_recipient.empty())
            fail(view.where, legal_rule::r11_recipient_consent,
                 "consent field " + quoted(name) + " names recipient " +
                     quoted(cf->consent_recipient) + "; it is not our own consent for purpose " +
                     quoted(pu.id));
    }

    // Art. 9 and 10: a special-category field needs an art. 9(2) condition that fits the basis.
    void check_special(const purpose& pu, const purpose_view& view, const catalogue_field& cf,
                       bool dm) {
        const art9_condition c = pu.special_condition;
        std::string what = "special-category field " + quoted(cf.path) + " (" + cf.category + ")";
        if (c == art9_condition::none) {
            fail(view.where, legal_rule::special_categories,
                 what + " may not be exported for purpose " + quoted(pu.id) +
                     " unless it names an art9-condition that fits its basis");
            return;
        }
        if (cf.criminal && c != art9_condition::official_authority)
            fail(view.where, legal_rule::special_categories,
                 what + " is criminal data (art. 10): only art9-condition "
                        "'official-authority' with basis 'legal-obligation'");
        if (dm && c != art9_condition::explicit_consent)
            fail(view.where, legal_rule::special_categories,
                 what + " may be used for direct marketing (purpose " + quoted(pu.id) +
                     ") only with explicit consent");
        if (!condition_fits(c, pu.basis))
            fail(view.where, legal_rule::special_categories,
                 "art9-condition " + quoted(to_string(c)) + " of purpose " + quoted(pu.id) +
                     " does not fit basis " + quoted(to_string(pu.basis)));
    }

    void compile_view(const purpose& pu, purpose_view& view, const entity& e,
                      const suppression_list* list) {
        using filters::condition_op;
        using filters::drop_reason;
        auto& conds = view.rules.conditions;
        conds.clear();
        view.rules.suppressed = nullptr;
        view.rules.suppression_fields.clear();
        if (e.organisations) {
            // No data subject: only the custom conditions apply.
            for (const auto& c : pu.conditions) {
                if (c.entity != e.id) continue;
                if (!field_known(e, c.condition.field, c.where, "condition field", pu)) continue;
                auto cond = c.condition;
                cond.reason = drop_reason::condition;
                conds.push_back(std::move(cond));
            }
            view.allowed = filters::field_set(view.fields);
            view.rule_fields = view.rules.needed_fields();
            compile_transforms(pu, view, e);
            return;
        }
        // 1. Subject type: contract and pre-contract always, others when they narrow the subjects.
        const bool needs_subject = pu.basis == legal_basis::contract ||
                                   pu.basis == legal_basis::pre_contract ||
                                   (pu.subjects != all_subjects && pu.subjects != 0);
        if (needs_subject) {
            if (e.subject_field.empty()) {
                fail(view.where,
                     pu.basis == legal_basis::contract || pu.basis == legal_basis::pre_contract
                         ? legal_rule::r1_contract_necessity
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
                                 drop_reason::subject_not_allowed, true});
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
            cond.strict = true;
            conds.push_back(std::move(cond));
        }
        if (pu.basis == legal_basis::pre_contract && !pu.evidence.empty() && !has_evidence)
            fail(view.where, legal_rule::r5_pre_contract_request,
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
            conds.push_back(
                {consent, condition_op::is_true, {}, false, drop_reason::no_consent, true});
        // 4. Objection (art. 21): the record passes only when the field is there and reads as
        // "no objection" (false, 0, no, n, off); any other value is an objection.
        if (!pu.objection_field.empty() &&
            field_known(e, objection, view.where, "objection-field", pu))
            conds.push_back(
                {objection, condition_op::is_no, {}, false, drop_reason::objected, true});
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
                view.rules.suppression_fields = entries->read_paths();
            }
        }
        view.allowed = filters::field_set(view.fields);
        view.rule_fields = view.rules.needed_fields();
        compile_transforms(pu, view, e);
    }

    // The purpose's transforms of this entity: on kept fields only, one per field; the
    // pseudonymisation key comes from the operator's <pseudonymisation key-file>.
    void compile_transforms(const purpose& pu, purpose_view& view, const entity& e) {
        std::vector<filters::field_transform> list;
        std::vector<std::string> paths;
        for (const auto& t : pu.transforms) {
            if (t.entity != e.id) continue;
            if (std::find(view.fields.begin(), view.fields.end(), t.field) == view.fields.end()) {
                fail(t.where, legal_rule::references,
                     "transform of field " + quoted(t.field) + " of purpose " + quoted(pu.id) +
                         ": the purpose does not keep it for entity " + quoted(e.id));
                continue;
            }
            if (std::find(paths.begin(), paths.end(), t.field) != paths.end()) {
                diag_.error(t.where, "field " + quoted(t.field) + " of purpose " + quoted(pu.id) +
                                         " is transformed twice");
                continue;
            }
            if (t.kind == filters::transform_kind::pseudonymise && !net_.pseudonymisation.key)
                diag_.error(t.where, "kind=\"pseudonymise\" needs the operator's "
                                     "<pseudonymisation key-file=\"…\"/>");
            paths.push_back(t.field);
            list.push_back({t.field, t.kind, t.keep});
        }
        if (list.empty()) return;
        view.transforms = filters::transform_set(std::move(list), net_.pseudonymisation.key);
        view.transformed = filters::field_set(std::move(paths));
    }

    void check_destination(destination& d) {
        if (d.own_marketing && d.kind != destination_kind::third_party)
            fail(d.where, legal_rule::r10_third_party_sharing,
                 "own-marketing is a property of third-party destinations; destination " +
                     quoted(d.id) + " is " + std::string(to_string(d.kind)));
        if (!d.purposes.empty() && d.kind != destination_kind::processor)
            diag_.error(d.where, "destination " + quoted(d.id) +
                                     " lists purposes, which only a processor does");
        for (const auto& pid : d.purposes)
            if (p_.find_purpose(pid) == nullptr)
                fail(d.where, legal_rule::references,
                     "processor " + quoted(d.id) + " names unknown purpose " + quoted(pid));
        if (d.kind == destination_kind::processor && d.dpa_ref.empty())
            fail(d.where, legal_rule::processor_contract,
                 "processor " + quoted(d.id) +
                     " must name its data processing agreement (dpa-ref)");
        if (d.kind != destination_kind::processor && (!d.dpa_ref.empty() || d.dpa_expires_day != 0))
            diag_.error(d.where, "destination " + quoted(d.id) + " is " +
                                     std::string(to_string(d.kind)) +
                                     "; dpa-ref and dpa-expires belong to processors");
        if (d.country.empty()) {
            fail(d.where, legal_rule::international_transfer,
                 "destination " + quoted(d.id) +
                     " must name the country the data goes to (country, ISO 3166-1 alpha-2)");
        } else if (d.outside_eea()) {
            if (d.transfer == transfer_mechanism::none)
                fail(d.where, legal_rule::international_transfer,
                     "destination " + quoted(d.id) + " is outside the EEA (" + d.country +
                         ") and must name its transfer-mechanism (adequacy, scc, bcr, derogation)");
            else if (d.transfer == transfer_mechanism::adequacy && !has_adequacy_decision(d.country))
                fail(d.where, legal_rule::international_transfer,
                     "destination " + quoted(d.id) + ": no adequacy decision covers " + d.country +
                         "; name scc, bcr or derogation");
        } else if (d.transfer != transfer_mechanism::none) {
            diag_.error(d.where, "destination " + quoted(d.id) + " is in the EEA (" + d.country +
                                     "); transfer-mechanism is for countries outside it");
        }
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
            purpose& pu = p_.purposes[*pi];
            check_jurisdiction(c, g, pu);
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
                if (d.own_marketing)
                    fail(g.where, legal_rule::r10_third_party_sharing,
                         "grant of purpose " + quoted(pu.id) + " to destination " + quoted(d.id) +
                             " is not allowed: it uses what it receives for its own marketing");
                else if (d.kind == destination_kind::third_party)
                    check_disclosure(g, pu, d, *di);
                if (d.kind == destination_kind::processor && !d.permits(pu.id))
                    fail(g.where, legal_rule::processor_contract,
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

    // R14: under the DE rule pack a satisfaction survey is direct marketing (DSK 2018).
    void check_jurisdiction(const client& c, const grant& g, const purpose& pu) {
        if (c.jurisdiction != "DE" || !survey_like(pu)) return;
        if (pu.objection_field.empty())
            fail(g.where, legal_rule::r14_surveys,
                 "client " + quoted(c.id) + " is under the DE rule pack, where purpose " +
                     quoted(pu.id) + " (contacting people for " + quoted(pu.data_use) +
                     ") is direct marketing: it must name an objection-field");
        const bool electronic =
            pu.channel == marketing_channel::email || pu.channel == marketing_channel::sms;
        if (electronic && pu.basis != legal_basis::consent)
            fail(g.where, legal_rule::r14_surveys,
                 "client " + quoted(c.id) + " is under the DE rule pack, where purpose " +
                     quoted(pu.id) + " by " + std::string(to_string(pu.channel)) +
                     " is direct marketing and needs basis 'consent'");
    }

    // R10, R11: handing data to another controller. Denied unless the basis can carry a
    // disclosure: consent naming this recipient (per record), or a legal obligation. Direct
    // marketing by the recipient on our customers is refused whatever the flags say.
    void check_disclosure(const grant& g, purpose& pu, const destination& d, std::size_t di) {
        std::string what = "grant of purpose " + quoted(pu.id) + " to third-party destination " +
                           quoted(d.id);
        if (pu.direct_marketing) {
            fail(g.where, legal_rule::r10_third_party_sharing,
                 what + " is not allowed: no customer list goes to another controller for "
                        "direct marketing");
            return;
        }
        switch (pu.basis) {
            case legal_basis::contract:
            case legal_basis::pre_contract:
                fail(g.where, legal_rule::r10_third_party_sharing,
                     what + " is not allowed: the basis '" + std::string(to_string(pu.basis)) +
                         "' cannot carry a disclosure to another controller (use a processor, "
                         "or consent naming the recipient)");
                return;
            case legal_basis::legitimate_interest:
                fail(g.where, legal_rule::r10_third_party_sharing,
                     what + " is not allowed: disclosure to another controller needs consent "
                            "naming the recipient, or a legal obligation");
                return;
            case legal_basis::legal_obligation:
                return;  // the legal-reference is checked on the purpose
            case legal_basis::consent:
                break;
        }
        // Consent: every entity the purpose reads has a consent field naming this recipient.
        for (auto& view : pu.views) {
            const entity& e = p_.entities[view.entity_index];
            const catalogue_field* recipient = nullptr;
            for (const auto& f : e.fields)
                if (f.consent_recipient == d.id) recipient = &f;
            if (recipient == nullptr) {
                fail(g.where, legal_rule::r11_recipient_consent,
                     what + " needs a consent field in entity " + quoted(e.id) +
                         " that names the recipient (consent-recipient=\"" + d.id + "\")");
                continue;
            }
            bool compiled = false;
            for (const auto& [index, rules] : view.disclosure_rules) compiled = compiled || index == di;
            if (compiled) continue;
            filters::record_rules rules = view.rules;
            rules.conditions.insert(
                rules.conditions.begin(),
                {recipient->path, filters::condition_op::is_true, {}, false,
                 filters::drop_reason::no_consent, true});
            view.disclosure_rules.emplace_back(di, std::move(rules));
            if (std::find(view.rule_fields.begin(), view.rule_fields.end(), recipient->path) ==
                view.rule_fields.end()) {
                view.rule_fields.push_back(recipient->path);
                std::sort(view.rule_fields.begin(), view.rule_fields.end());
            }
        }
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

rule_info info(legal_rule r) {
    switch (r) {
        case legal_rule::r1_contract_necessity:
            return {"R1", "GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §2.4–2.5"};
        case legal_rule::r2_contract_scope:
            return {"R2", "GDPR art. 6(1)(b); EDPB Guidelines 2/2019"};
        case legal_rule::r3_related_activities:
            return {"R3", "GDPR art. 6(1)(b); EDPB Guidelines 2/2019"};
        case legal_rule::r4_not_contract:
            return {"R4", "GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §3"};
        case legal_rule::r5_pre_contract_request:
            return {"R5", "GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §2.7"};
        case legal_rule::r6_legitimate_interest:
            return {"R6", "GDPR art. 6(1)(f), recital 47, art. 21(1)"};
        case legal_rule::r7_electronic_marketing:
            return {"R7", "ePrivacy Directive art. 13(1)-(2); Belgian CEL art. XII.13"};
        case legal_rule::r8_objection_absolute:
            return {"R8", "GDPR art. 21(2)-(3)"};
        case legal_rule::r9_consent_withdrawal:
            return {"R9", "GDPR art. 6(1)(a), art. 7(3)"};
        case legal_rule::r10_third_party_sharing:
            return {"R10", "GDPR art. 6(1), art. 21; CNIL guidance on partner transfers"};
        case legal_rule::r11_recipient_consent:
            return {"R11", "GDPR art. 4(11), art. 7; CNIL (Canal+ 2023)"};
        case legal_rule::r13_marketing_scope:
            return {"R13", "Belgian DPA Recommendation 01/2020"};
        case legal_rule::r14_surveys:
            return {"R14", "DSK Orientierungshilfe Direktwerbung (2018); Belgian DPA Rec. 01/2020"};
        case legal_rule::r15_purpose_limitation:
            return {"R15", "GDPR art. 5(1)(b), recital 47"};
        case legal_rule::legal_obligation:
            return {"GDPR-6-1-c", "GDPR art. 6(1)(c), art. 6(3)"};
        case legal_rule::special_categories:
            return {"GDPR-9", "GDPR art. 9(1)-(2), art. 10"};
        case legal_rule::processor_contract:
            return {"GDPR-28", "GDPR art. 28(3)"};
        case legal_rule::international_transfer:
            return {"GDPR-44", "GDPR art. 44-49"};
        case legal_rule::references:
            return {"GDPR-5", "GDPR art. 5(1)(b)-(c)"};
    }
    return {"?", ""};
}

std::string rule_prefix(legal_rule r) {
    auto i = info(r);
    return std::string(i.id) + " (" + std::string(i.reference) + ")";
}

void check_and_compile(policy& out, const settings& net, diagnostics& diag) {
    rule_checker(out, net, diag).run();
}

}  // namespace exportwall::config
