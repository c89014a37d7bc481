#include "config/policy_text.hpp"

namespace exportwall::config {
namespace {

std::string_view op_text(filters::condition_op op) {
    switch (op) {
        case filters::condition_op::equals:
            return "equals";
        case filters::condition_op::in_set:
            return "in";
        case filters::condition_op::not_empty:
            return "is not empty";
        case filters::condition_op::is_true:
            return "is true";
        case filters::condition_op::is_set:
            return "is set";
        case filters::condition_op::is_no:
            return "is a no (false, 0, no, n, off)";
    }
    return "?";
}

}  // namespace

std::string condition_text(const filters::record_condition& c) {
    std::string s =
        (c.exclude ? "drop if " : "keep if ") + c.field + " " + std::string(op_text(c.op));
    if (!c.values.empty()) {
        s += " {";
        for (std::size_t i = 0; i < c.values.size(); ++i) s += (i == 0 ? "" : ", ") + c.values[i];
        s += "}";
    }
    if (c.strict) s += "; missing, structured or conflicting -> condition_unreadable";
    return s;
}

std::string_view drop_rule(filters::drop_reason r) {
    switch (r) {
        case filters::drop_reason::no_consent:
            return "R9";
        case filters::drop_reason::objected:
        case filters::drop_reason::suppressed:
            return "R8";
        case filters::drop_reason::subject_not_allowed:
            return "R1";
        case filters::drop_reason::no_request_evidence:
            return "R5";
        case filters::drop_reason::condition:
        case filters::drop_reason::condition_unreadable:
            return "";
    }
    return "";
}

std::string transform_text(filters::transform_kind kind, std::size_t keep) {
    switch (kind) {
        case filters::transform_kind::pseudonymise:
            return "written as a keyed pseudonym (ps_…)";
        case filters::transform_kind::truncate_chars:
            return "written as its first " + std::to_string(keep) + " characters";
        case filters::transform_kind::year:
            return "written as its year";
        case filters::transform_kind::mask:
            return "written masked but its last " + std::to_string(keep) + " characters";
    }
    return "transformed";
}

std::string_view basis_article(legal_basis b) {
    switch (b) {
        case legal_basis::contract:
        case legal_basis::pre_contract:
            return "GDPR art. 6(1)(b)";
        case legal_basis::consent:
            return "GDPR art. 6(1)(a)";
        case legal_basis::legitimate_interest:
            return "GDPR art. 6(1)(f)";
        case legal_basis::legal_obligation:
            return "GDPR art. 6(1)(c)";
    }
    return "";
}

std::string subjects_text(subject_set s) {
    std::string out;
    for (auto t : {subject_type::customer, subject_type::prospect, subject_type::former_customer}) {
        if ((s & subject_bit(t)) == 0) continue;
        if (!out.empty()) out += ' ';
        out += to_string(t);
    }
    return out;
}

}  // namespace exportwall::config
