#pragma once
// The legal rules (../shared/LEGAL-RULES.md R1–R15, plus the GDPR articles they rest on) checked
// when a policy loads, and the compilation of what the decision engine needs. A policy that
// breaks a rule is a configuration error naming the rule id and its legal reference; a compliant
// one leaves every purpose with its allow-lists and record rules pre-built, the legal conditions
// first (the law is not optional):
//   subject type → request evidence → consent → recipient consent → objection
//   → custom require / exclude (→ suppression list, evaluated last by filters::evaluate).
// The legal conditions are strict: a field they read that is missing, not a scalar or repeated
// with different values drops the record as condition_unreadable (fail closed).

#include <string>
#include <string_view>

#include "config/policy.hpp"
#include "config/settings.hpp"
#include "config/xml_source.hpp"

namespace exportwall::config {

// Stable rule ids. R1–R15 are ../shared/LEGAL-RULES.md's; the others name the GDPR article a
// structural check rests on.
enum class legal_rule : unsigned char {
    r1_contract_necessity,       // R1: contract only for what the contract needs
    r2_contract_scope,           // R2: delivery/payment yes; a profile of tastes no
    r3_related_activities,       // R3: reminders, notices of default; former customers
    r4_not_contract,             // R4: fraud, service improvement, marketing never contract
    r5_pre_contract_request,     // R5: pre-contract only at the prospect's request
    r6_legitimate_interest,      // R6: LI needs an LIA reference and an objection mechanism
    r7_electronic_marketing,     // R7: e-mail/SMS marketing needs consent or soft opt-in
    r8_objection_absolute,       // R8: an objection to direct marketing is absolute
    r9_consent_withdrawal,       // R9: a consent purpose reads consent per record
    r10_third_party_sharing,     // R10: disclosure to another controller denied by default
    r11_recipient_consent,       // R11: consent must name the recipient
    r13_marketing_scope,         // R13: direct marketing is what the data use says, not a flag
    r14_surveys,                 // R14: satisfaction surveys under a jurisdiction's rule pack
    r15_purpose_limitation,      // R15: only purposes declared at collection, only as granted
    legal_obligation,            // GDPR art. 6(1)(c), 6(3): a legal obligation names its law
    special_categories,          // GDPR art. 9(2), art. 10
    processor_contract,          // GDPR art. 28(3)
    international_transfer,      // GDPR art. 44–49
    references,                  // GDPR art. 5(1)(b)–(c): names, catalogue, data uses
};

struct rule_info {
    std::string_view id;         // "R4", "GDPR-9"
    std::string_view reference;  // "GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §3"
};
[[nodiscard]] rule_info info(legal_rule r);

// "R4 (GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §3)"
[[nodiscard]] std::string rule_prefix(legal_rule r);

// Resolves references, checks every rule, and compiles purpose views and indexes. Errors go to
// `diag`; `out` is only meaningful when no error was reported.
void check_and_compile(policy& out, const settings& net, diagnostics& diag);

}  // namespace exportwall::config
