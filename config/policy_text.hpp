#pragma once
// Policy elements in words, as `explain`, `policy diff` and the record of processing print them:
// one wording everywhere, so a condition reads the same in a decision and in a review of a
// policy change.

#include <string>
#include <string_view>

#include "config/policy.hpp"
#include "filters/record_rules.hpp"
#include "filters/transform.hpp"

namespace exportwall::config {

// "keep if lifecycle in {customer}; missing, structured or conflicting -> condition_unreadable"
[[nodiscard]] std::string condition_text(const filters::record_condition& c);

// The legal rule behind a drop reason ("R9" for no_consent); "" for a custom condition.
[[nodiscard]] std::string_view drop_rule(filters::drop_reason r);

// "written as a keyed pseudonym (ps_…)", "written as its first 2 characters" …
[[nodiscard]] std::string transform_text(filters::transform_kind kind, std::size_t keep);

// The GDPR article of a legal basis: "GDPR art. 6(1)(b)".
[[nodiscard]] std::string_view basis_article(legal_basis b);

// "customer former-customer" (the policy's spelling, in enum order).
[[nodiscard]] std::string subjects_text(subject_set s);

}  // namespace exportwall::config
