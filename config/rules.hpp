#pragma once
// The load-time legal rules (DESIGN.md §3) and the compilation of what the decision engine needs.
// A policy that breaks a rule is a configuration error naming the rule and the GDPR article; a
// compliant one leaves every purpose with its allow-lists and record rules pre-built, the legal
// conditions first (the law is not optional):
//   subject type → request evidence → consent → objection → custom require / exclude
//   (→ suppression list, evaluated last by filters::evaluate).

#include <string_view>

#include "config/policy.hpp"
#include "config/settings.hpp"
#include "config/xml_source.hpp"

namespace exportwall::config {

// The rule numbers used in messages ("rule 4 (GDPR art. 6(1), art. 21): …").
enum class legal_rule : unsigned char {
    no_marketing_on_contract = 1,  // rule 1: direct marketing never rests on (pre-)contract
    contract_subjects = 2,  // rule 2: contract → customers; pre-contract → prospects + evidence
    consent_and_objection = 3,         // rule 3: consent field; objection field or suppression list
    no_third_party_marketing = 4,      // rule 4: no direct-marketing grant to a third party
    processor_purposes = 5,            // rule 5: a processor only for the purposes it lists
    references = 6,                    // rule 6: every name exists; allowed fields are catalogued
    no_special_marketing = 7,          // rule 7: no art. 9 field for a direct-marketing purpose
    electronic_marketing_consent = 8,  // rule 8: email/sms marketing to prospects needs consent
};

// "rule N (GDPR art. …)"
[[nodiscard]] std::string rule_prefix(legal_rule r);

// Resolves references, checks every rule, and compiles purpose views and indexes. Errors go to
// `diag`; `out` is only meaningful when no error was reported.
void check_and_compile(policy& out, const settings& net, diagnostics& diag);

}  // namespace exportwall::config
