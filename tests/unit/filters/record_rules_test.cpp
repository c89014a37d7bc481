#include "filters/record_rules.hpp"

#include <gtest/gtest.h>

namespace exportwall::filters {
namespace {

record_rules promotion_rules() {
    record_rules r;
    r.conditions.push_back({"lifecycle",
                            condition_op::in_set,
                            {"customer", "former"},
                            false,
                            drop_reason::subject_not_allowed});
    r.conditions.push_back(
        {"consent.email", condition_op::is_true, {}, false, drop_reason::no_consent});
    r.conditions.push_back(
        {"objection.direct_marketing", condition_op::is_set, {}, true, drop_reason::objected});
    return r;
}

TEST(RecordRules, KeepsRecordThatMeetsEveryCondition) {
    record_fields f;
    f.add("lifecycle", "customer");
    f.add("consent.email", "true");
    EXPECT_EQ(evaluate(promotion_rules(), f), std::nullopt);
}

TEST(RecordRules, MissingConsentDropsAsNoConsent) {
    record_fields f;
    f.add("lifecycle", "customer");
    EXPECT_EQ(evaluate(promotion_rules(), f), drop_reason::no_consent);
}

TEST(RecordRules, ConsentIsCaseInsensitiveButNeverGuessed) {
    record_fields yes;
    yes.add("lifecycle", "former");
    yes.add("consent.email", "YES");
    EXPECT_EQ(evaluate(promotion_rules(), yes), std::nullopt);
    record_fields maybe;
    maybe.add("lifecycle", "former");
    maybe.add("consent.email", "pending");
    EXPECT_EQ(evaluate(promotion_rules(), maybe), drop_reason::no_consent);
}

TEST(RecordRules, AnyObjectionValueThatIsNotFalseDrops) {
    for (const char* v : {"true", "2024-03-01", "x"}) {
        record_fields f;
        f.add("lifecycle", "customer");
        f.add("consent.email", "true");
        f.add("objection.direct_marketing", v);
        EXPECT_EQ(evaluate(promotion_rules(), f), drop_reason::objected) << v;
    }
    for (const char* v : {"false", "", "null", "0"}) {
        record_fields f;
        f.add("lifecycle", "customer");
        f.add("consent.email", "true");
        f.add("objection.direct_marketing", v);
        EXPECT_EQ(evaluate(promotion_rules(), f), std::nullopt) << v;
    }
}

TEST(RecordRules, FirstFailingConditionGivesTheReason) {
    record_fields f;
    f.add("lifecycle", "lead");
    EXPECT_EQ(evaluate(promotion_rules(), f), drop_reason::subject_not_allowed);
}

TEST(RecordRules, SuppressionCallbackDropsAfterConditions) {
    record_rules r = promotion_rules();
    r.suppression_fields = {"email"};
    r.suppressed = [](const record_fields& f) { return f.find("email") == "gone@example.com"; };
    record_fields f;
    f.add("lifecycle", "customer");
    f.add("consent.email", "true");
    f.add("email", "gone@example.com");
    EXPECT_EQ(evaluate(r, f), drop_reason::suppressed);
    auto needed = r.needed_fields();
    EXPECT_EQ(needed, (std::vector<std::string>{"consent.email", "email", "lifecycle",
                                                "objection.direct_marketing"}));
}

TEST(RecordRules, EqualsAndNotEmpty) {
    record_rules r;
    r.conditions.push_back({"quote_requested",
                            condition_op::equals,
                            {"true"},
                            false,
                            drop_reason::no_request_evidence});
    r.conditions.push_back({"email", condition_op::not_empty, {}, false, drop_reason::condition});
    record_fields f;
    f.add("quote_requested", "true");
    f.add("email", "");
    EXPECT_EQ(evaluate(r, f), drop_reason::condition);
    record_fields g;
    g.add("quote_requested", "false");
    EXPECT_EQ(evaluate(r, g), drop_reason::no_request_evidence);
    EXPECT_EQ(drop_reason_name(drop_reason::no_request_evidence), "no_request_evidence");
}

TEST(RecordRules, RepeatedFieldFailsClosed) {
    // An objection repeated with different values is an objection, whichever comes first.
    for (auto order : {std::pair{"false", "true"}, std::pair{"true", "false"}}) {
        record_fields f;
        f.add("lifecycle", "customer");
        f.add("consent.email", "true");
        f.add("objection.direct_marketing", order.first);
        f.add("objection.direct_marketing", order.second);
        EXPECT_EQ(evaluate(promotion_rules(), f), drop_reason::objected) << order.first;
    }
    // Consent repeated: every occurrence must say yes.
    record_fields mixed;
    mixed.add("lifecycle", "customer");
    mixed.add("consent.email", "true");
    mixed.add("consent.email", "false");
    EXPECT_EQ(evaluate(promotion_rules(), mixed), drop_reason::no_consent);
    record_fields agreed;
    agreed.add("lifecycle", "customer");
    agreed.add("lifecycle", "former");
    agreed.add("consent.email", "true");
    agreed.add("consent.email", "yes");
    EXPECT_EQ(evaluate(promotion_rules(), agreed), std::nullopt);
}

// The legal conditions as config/rules.cpp compiles them: strict, objection as an explicit "no".
record_rules legal_rules() {
    record_rules r;
    r.conditions.push_back({"lifecycle",
                            condition_op::in_set,
                            {"customer", "former"},
                            false,
                            drop_reason::subject_not_allowed,
                            true});
    r.conditions.push_back(
        {"consent.email", condition_op::is_true, {}, false, drop_reason::no_consent, true});
    r.conditions.push_back({"objection.direct_marketing", condition_op::is_no, {}, false,
                            drop_reason::objected, true});
    return r;
}

record_fields lawful_record() {
    record_fields f;
    f.add("lifecycle", "customer");
    f.add("consent.email", "true");
    f.add("objection.direct_marketing", "false");
    return f;
}

TEST(LegalRecordRules, ExplicitNoObjectionPasses) {
    EXPECT_EQ(evaluate(legal_rules(), lawful_record()), std::nullopt);
    for (const char* no : {"false", "FALSE", "0", "no", "N", "off"}) {
        record_fields f;
        f.add("lifecycle", "customer");
        f.add("consent.email", "true");
        f.add("objection.direct_marketing", no);
        EXPECT_EQ(evaluate(legal_rules(), f), std::nullopt) << no;
    }
}

TEST(LegalRecordRules, ObjectionIsAbsoluteOnEveryOtherValue) {
    // Empty, null and anything not a documented "no" are objections (fail closed).
    for (const char* v : {"true", "", "null", "2024-03-01", "maybe", "nein", "1"}) {
        record_fields f;
        f.add("lifecycle", "customer");
        f.add("consent.email", "true");
        f.add("objection.direct_marketing", v);
        EXPECT_EQ(evaluate(legal_rules(), f), drop_reason::objected) << v;
    }
}

TEST(LegalRecordRules, MissingLegalFieldIsUnreadable) {
    for (std::string_view missing : {"lifecycle", "consent.email", "objection.direct_marketing"}) {
        const record_fields lawful = lawful_record();
        record_fields f;
        for (const auto& [path, value] : lawful.values())
            if (path != missing) f.add(path, value);
        EXPECT_EQ(evaluate(legal_rules(), f), drop_reason::condition_unreadable) << missing;
    }
    EXPECT_EQ(drop_reason_name(drop_reason::condition_unreadable), "condition_unreadable");
}

TEST(LegalRecordRules, StructuredValueIsUnreadable) {
    // [true], {"value": true}, {}: the filter marks the path; the rule cannot read it.
    for (std::string_view path : {"lifecycle", "consent.email", "objection.direct_marketing"}) {
        record_fields f = lawful_record();
        f.mark_structured(path);
        EXPECT_EQ(evaluate(legal_rules(), f), drop_reason::condition_unreadable) << path;
    }
    // A custom condition cannot read a structure either.
    record_rules custom;
    custom.conditions.push_back(
        {"segment", condition_op::equals, {"vip"}, true, drop_reason::condition});
    record_fields f;
    f.mark_structured("segment");
    EXPECT_EQ(evaluate(custom, f), drop_reason::condition_unreadable);
    f.clear();
    EXPECT_EQ(evaluate(custom, f), std::nullopt);  // missing: an exclusion passes
}

TEST(LegalRecordRules, ConflictingRepeatsAreUnreadableAgreeingOnesAreNot) {
    record_fields f = lawful_record();
    f.add("objection.direct_marketing", "no");
    EXPECT_EQ(evaluate(legal_rules(), f), drop_reason::condition_unreadable);
    record_fields g = lawful_record();
    g.add("consent.email", "true");
    EXPECT_EQ(evaluate(legal_rules(), g), std::nullopt);
}

TEST(LegalRecordRules, SuppressionNeedsAValueToCheck) {
    record_rules r = legal_rules();
    r.suppression_fields = {"email", "email.value"};
    r.suppressed = [](const record_fields& f) {
        for (const auto& [path, value] : f.values())
            if ((path == "email" || path == "email.value") && value == "gone@example.com")
                return true;
        return false;
    };
    record_fields none = lawful_record();
    EXPECT_EQ(evaluate(r, none), drop_reason::condition_unreadable);
    record_fields null = lawful_record();
    null.add("email", "null");
    EXPECT_EQ(evaluate(r, null), drop_reason::condition_unreadable);
    record_fields listed = lawful_record();
    listed.add("email.value", "kept@example.com");
    listed.add("email.value", "gone@example.com");
    EXPECT_EQ(evaluate(r, listed), drop_reason::suppressed);
    record_fields fine = lawful_record();
    fine.add("email", "kept@example.com");
    EXPECT_EQ(evaluate(r, fine), std::nullopt);
}

}  // namespace
}  // namespace exportwall::filters
