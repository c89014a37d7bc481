// A record whose rules read a scalar where the record holds an object or an array is not exported
// (drop_reason::condition_unreadable): the JSON filter marks the structure
// (record_fields::mark_structured) wherever the rules read, as the records are streamed. Each
// shape occurs in more than one record, so both the first decision for a path and its replay from
// the path cache are checked, in every chunking.

#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "filters/json/json_filter.hpp"
#include "tests/unit/filters/json/json_test_support.hpp"

namespace exportwall::filters {
namespace {

using testing::fields;
using testing::run_every_chunking;

std::uint64_t dropped(const filter_counters& c, drop_reason r) {
    return c.dropped[static_cast<std::size_t>(r)];
}

void expect_balanced(const filter_counters& c) {
    EXPECT_EQ(c.records_in, c.records_out + std::accumulate(c.dropped.begin(), c.dropped.end(),
                                                            std::uint64_t{0}));
}

// The legal rules as the policy builds them: strict, so a missing field is unreadable too.
record_rules legal_rules() {
    record_rules rules;
    rules.conditions.push_back(
        {"objection", condition_op::is_no, {}, false, drop_reason::objected, true});
    rules.conditions.push_back(
        {"consent.email", condition_op::is_true, {}, false, drop_reason::no_consent, true});
    return rules;
}

// Configured conditions (not strict): a missing field passes an exclusion and fails a
// requirement with the condition's own reason, so only the marking makes a structure unreadable.
record_rules configured_rules() {
    record_rules rules;
    rules.conditions.push_back(
        {"do_not_contact", condition_op::is_set, {}, true, drop_reason::objected});
    rules.conditions.push_back(
        {"consent.email", condition_op::is_true, {}, false, drop_reason::no_consent});
    return rules;
}

filter_spec value_spec(std::vector<std::string> allowed, record_rules rules) {
    filter_spec spec;
    spec.format = body_format::json;
    spec.records = "/value";
    spec.allowed = fields(std::move(allowed));
    spec.rules = std::move(rules);
    return spec;
}

// `{"value":[…]}` with `records` listed twice: the second time every path's plan is replayed.
std::string twice(const std::vector<std::string>& records) {
    std::string body = R"({"value":[)";
    for (int pass = 0; pass < 2; ++pass) {
        for (std::size_t i = 0; i < records.size(); ++i) {
            if (pass != 0 || i != 0) body += ',';
            body += records[i];
        }
    }
    return body + "]}";
}

const std::vector<std::string> legal_records = {
    R"({"id":1,"objection":false,"consent":{"email":true}})",
    R"({"id":2,"objection":[true],"consent":{"email":true}})",
    R"({"id":3,"objection":{"value":true},"consent":{"email":true}})",
    R"({"id":4,"objection":{},"consent":{"email":true}})",
    R"({"id":5,"objection":[],"consent":{"email":true}})",
    R"({"id":6,"objection":[false],"consent":{"email":true}})",
    R"({"id":7,"objection":{"value":{"value":false}},"consent":{"email":true}})",
    R"({"id":8,"objection":[[false]],"consent":{"email":true}})",
    R"({"id":9,"objection":false,"consent":{"email":[true]}})",
    R"({"id":10,"objection":false,"consent":{"email":{"value":true}}})",
    R"({"id":11,"consent":{"email":true}})",
    R"({"id":12,"objection":false})",
    R"({"id":13,"objection":true,"consent":{"email":true}})",
    R"({"id":14,"objection":"no","consent":{"email":false}})",
    R"({"id":15,"consent":{"email":true},"objection":"false"})",
};

TEST(JsonUnreadable, StructureOrMissingFieldWhereALegalRuleReadsDropsTheRecord) {
    // Stripped fields (the conditions read values nobody exports), and kept whole: each path is
    // then decided by another branch of the filter.
    for (const auto& allowed :
         {std::vector<std::string>{"id"}, std::vector<std::string>{"id", "objection", "consent"}}) {
        const auto r = run_every_chunking(value_spec(allowed, legal_rules()), twice(legal_records));
        ASSERT_FALSE(r.error) << r.error.message();
        EXPECT_EQ(r.counters.records_in, 30u);
        EXPECT_EQ(r.counters.records_out, 4u);                                   // 1 and 15, twice
        EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 22u);  // 2-12
        EXPECT_EQ(dropped(r.counters, drop_reason::objected), 2u);               // 13
        EXPECT_EQ(dropped(r.counters, drop_reason::no_consent), 2u);             // 14
        expect_balanced(r.counters);
        if (allowed.size() == 1) {
            EXPECT_EQ(r.output, R"({"value":[{"id":1},{"id":15},{"id":1},{"id":15}]})");
        }
    }
}

TEST(JsonUnreadable, StructureWhereAnExclusionReadsNoLongerPassesIt) {
    // Without the marking, {"value":true} held no value at `do_not_contact`, so the exclusion
    // passed and the record was exported.
    const std::vector<std::string> records = {
        R"({"id":1,"consent":{"email":true}})",
        R"({"id":2,"do_not_contact":false,"consent":{"email":true}})",
        R"({"id":3,"do_not_contact":{"value":true},"consent":{"email":true}})",
        R"({"id":4,"do_not_contact":[true],"consent":{"email":true}})",
        R"({"id":5,"do_not_contact":{},"consent":{"email":true}})",
        R"({"id":6,"do_not_contact":[],"consent":{"email":true}})",
        R"({"id":7,"do_not_contact":[false],"consent":{"email":true}})",
        R"({"id":8,"do_not_contact":{"since":{"date":"2024-01-01"}},"consent":{"email":true}})",
        R"({"id":9,"do_not_contact":[{"value":true}],"consent":{"email":true}})",
        R"({"id":10,"consent":{"email":{"value":true}}})",
        R"({"id":11,"consent":{"email":[true]}})",
        R"({"id":12,"do_not_contact":true,"consent":{"email":true}})",
        R"({"id":13,"consent":{}})",
    };
    for (const auto& allowed : {std::vector<std::string>{"id"},
                                std::vector<std::string>{"id", "do_not_contact", "consent"}}) {
        const auto r = run_every_chunking(value_spec(allowed, configured_rules()), twice(records));
        ASSERT_FALSE(r.error) << r.error.message();
        EXPECT_EQ(r.counters.records_out, 4u);                                   // 1, 2
        EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 18u);  // 3-11
        EXPECT_EQ(dropped(r.counters, drop_reason::objected), 2u);               // 12
        EXPECT_EQ(dropped(r.counters, drop_reason::no_consent), 2u);             // 13
        expect_balanced(r.counters);
    }
}

TEST(JsonUnreadable, ListOnTheWayToARuleFieldDropsTheRecord) {
    // `consent` is a list of objects: each element's `email` would be collected at
    // consent.email, and one `true` among them is no answer to "did this person consent".
    const std::vector<std::string> records = {
        R"({"id":1,"objection":false,"consent":[{"email":true}]})",
        R"({"id":2,"objection":false,"consent":{"email":true}})",
        R"({"id":3,"objection":false,"consent":[{"email":true},{"email":false}]})",
        R"({"id":4,"objection":false,"consent":[]})",
        R"({"id":5,"objection":false,"consent":[[{"email":true}]]})",
        R"({"id":6,"objection":false,"consent":{"email":true},"x":[{"consent":true}]})",
    };
    for (const auto& allowed :
         {std::vector<std::string>{"id"}, std::vector<std::string>{"id", "consent"}}) {
        for (const auto& rules : {legal_rules(), configured_rules()}) {
            const auto r = run_every_chunking(value_spec(allowed, rules), twice(records));
            ASSERT_FALSE(r.error) << r.error.message();
            EXPECT_EQ(r.counters.records_out, 4u);                                  // 2, 6
            EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 8u);  // 1, 3-5
            expect_balanced(r.counters);
            if (allowed.size() == 1) {
                EXPECT_EQ(r.output, R"({"value":[{"id":2},{"id":6},{"id":2},{"id":6}]})");
            }
        }
    }
}

TEST(JsonUnreadable, ListDeeperOnTheWayToARuleFieldDropsTheRecord) {
    // The list is one level further up: inside a kept object, and under the field root.
    record_rules rules;
    rules.conditions.push_back(
        {"prefs.consent.email", condition_op::is_true, {}, false, drop_reason::no_consent});
    for (const auto& allowed :
         {std::vector<std::string>{"id"}, std::vector<std::string>{"id", "prefs"}}) {
        filter_spec spec = value_spec(allowed, rules);
        spec.records = "/results";
        spec.field_root = "properties";
        const auto r = run_every_chunking(
            spec, R"({"results":[)"
                  R"({"id":1,"properties":{"prefs":{"consent":[{"email":true}]}}},)"
                  R"({"id":2,"properties":{"prefs":{"consent":{"email":true}}}},)"
                  R"({"id":3,"properties":{"prefs":[{"consent":{"email":true}}]}},)"
                  R"({"id":4,"properties":{"prefs":{"consent":[{"email":true}]}}},)"
                  R"({"id":5,"properties":{"prefs":{"consent":{"email":true}}}}]})");
        ASSERT_FALSE(r.error) << r.error.message();
        EXPECT_EQ(r.counters.records_out, 2u);  // 2, 5
        EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 3u);
        expect_balanced(r.counters);
    }
}

TEST(JsonUnreadable, ObjectOnTheWayToARuleFieldIsOrdinaryNesting) {
    const auto r = run_every_chunking(value_spec({"id"}, configured_rules()),
                                      twice({R"({"id":1,"consent":{"email":true}})",
                                             R"({"id":2,"consent":{"other":[1],"email":true}})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"value":[{"id":1},{"id":2},{"id":1},{"id":2}]})");
    EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 0u);
}

TEST(JsonUnreadable, StructureUnderTheFieldRootIsMarkedAtItsFieldPath) {
    filter_spec spec = value_spec({"id"}, configured_rules());
    spec.records = "/results";
    spec.field_root = "properties";
    // Members beside the field root are read at their own path (HubSpot's `archived`).
    spec.rules.conditions.push_back(
        {"archived", condition_op::equals, {"false"}, false, drop_reason::condition});
    const std::string body =
        R"({"results":[)"
        R"({"id":"1","properties":{"consent":{"email":"true"}},"archived":false},)"
        R"({"id":"2","properties":{"consent":{"email":"true"},"do_not_contact":{"v":1}},)"
        R"("archived":false},)"
        R"({"id":"3","properties":{"consent":{"email":["true"]}},"archived":false},)"
        R"({"id":"4","properties":{"consent":{"email":"true"}},"archived":[false]},)"
        R"({"id":"5","properties":{"consent":{"email":"true"}},"archived":false},)"
        R"({"id":"6","properties":{"consent":{"email":"true"},"do_not_contact":[]},)"
        R"("archived":false}]})";
    const auto r = run_every_chunking(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"results":[{"id":"1","properties":{}},{"id":"5","properties":{}}]})");
    EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 4u);
    expect_balanced(r.counters);
}

TEST(JsonUnreadable, StructureAtAPathTooLongToCacheIsMarkedToo) {
    // Keys past the path table's bound take the uncached path.
    const std::string key(100, 'k');
    filter_spec spec = value_spec({"id"}, {});
    spec.rules.conditions.push_back({key, condition_op::is_set, {}, true, drop_reason::objected});
    const std::string body = R"({"value":[{"id":1,")" + key + R"(":false},{"id":2,")" + key +
                             R"(":{"value":true}},{"id":3,")" + key + R"(":[true]},{"id":4}]})";
    const auto r = run_every_chunking(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"value":[{"id":1},{"id":4}]})");
    EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 2u);
}

TEST(JsonUnreadable, SingleRecordWithAStructureBecomesNull) {
    filter_spec spec = value_spec({"id"}, configured_rules());
    spec.records = "/data";
    spec.single_record = true;
    const auto r = run_every_chunking(
        spec, R"({"data":{"id":1,"consent":{"email":true},"do_not_contact":{"value":true}}})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":null})");
    EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 1u);
}

// --- nested record sets ----------------------------------------------------------------------

filter_spec close_spec() {
    filter_spec spec = value_spec({"id", "contacts"}, {});
    spec.records = "/data";
    spec.strict_envelope = true;
    nested_record_set contacts;
    contacts.path = "contacts";
    contacts.in_record = true;
    contacts.allowed = fields({"id"});
    contacts.rules.conditions.push_back(
        {"unsubscribed", condition_op::is_set, {}, true, drop_reason::objected});
    spec.nested = {contacts};
    return spec;
}

TEST(JsonUnreadable, NestedRecordWithAStructureIsDroppedByItsOwnRules) {
    const auto r = run_every_chunking(
        close_spec(),
        R"({"data":[{"id":"l1","contacts":[{"id":"c1","unsubscribed":false},)"
        R"({"id":"c2","unsubscribed":{"at":"2024-01-01"}},{"id":"c3","unsubscribed":[true]},)"
        R"({"id":"c4"}]},{"id":"l2","contacts":[{"id":"c5","unsubscribed":{}}]}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":[{"id":"l1","contacts":[{"id":"c1"},{"id":"c4"}]},)"
                        R"({"id":"l2","contacts":[]}]})");
    EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 3u);
    expect_balanced(r.counters);
}

TEST(JsonUnreadable, MainRulesReadingInsideNestedRecordsMarkStructuresThere) {
    filter_spec spec = close_spec();
    spec.nested.front().rules = {};
    spec.rules.conditions.push_back(
        {"contacts.unsubscribed", condition_op::is_set, {}, true, drop_reason::objected});
    const auto r = run_every_chunking(
        spec, R"({"data":[{"id":"l1","contacts":[{"id":"c1","unsubscribed":false}]},)"
              R"({"id":"l2","contacts":[{"id":"c2"},{"id":"c3","unsubscribed":{"at":1}}]},)"
              R"({"id":"l3","contacts":[{"id":"c4","unsubscribed":[]}]},)"
              R"({"id":"l4","contacts":[{"id":"c5","unsubscribed":false}]}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":[{"id":"l1","contacts":[{"id":"c1"}]},)"
                        R"({"id":"l4","contacts":[{"id":"c5"}]}]})");
    // Each lead with its kept contacts.
    EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 5u);
    expect_balanced(r.counters);
}

TEST(JsonUnreadable, IncludedRecordWithAStructureUnderItsFieldRootIsDropped) {
    filter_spec spec = value_spec({"id", "type"}, {});
    spec.records = "/data";
    spec.strict_envelope = true;
    nested_record_set people;
    people.path = "/included";
    people.discriminator = "type";
    people.discriminator_value = "people";
    people.field_root = "attributes";
    people.allowed = fields({"name"});
    people.rules.conditions.push_back(
        {"unsubscribed", condition_op::is_set, {}, true, drop_reason::objected});
    spec.nested = {people};
    const auto r = run_every_chunking(
        spec, R"({"data":[{"id":"1","type":"articles"}],"included":[)"
              R"({"type":"people","id":"9","attributes":{"name":"Ann","unsubscribed":false}},)"
              R"({"type":"people","id":"8","attributes":{"name":"Bob","unsubscribed":{"a":1}}},)"
              R"({"type":"people","id":"7","attributes":{"name":"Cy","unsubscribed":[1]}}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":[{"id":"1","type":"articles"}],"included":[)"
                        R"({"type":"people","attributes":{"name":"Ann"}}]})");
    EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 2u);
    expect_balanced(r.counters);
}

// --- suppression list ------------------------------------------------------------------------

// True when any value at a suppression field is listed (b@y is).
bool lists_b(const record_fields& f) {
    for (const auto& [path, value] : f.values()) {
        if ((path == "email" || path == "email.value") && value == "b@y") return true;
    }
    return false;
}

TEST(JsonUnreadable, ListShapedSuppressionFieldIsCheckedValueByValue) {
    filter_spec spec = value_spec({"id"}, {});
    spec.rules.suppression_fields = {"email", "email.value"};
    spec.rules.suppressed = lists_b;
    const std::vector<std::string> records = {
        R"({"id":1,"email":"a@x"})",
        R"({"id":2,"email":["a@x","b@y"]})",
        R"({"id":3,"email":[{"value":"b@y","primary":true}]})",
        R"({"id":4,"email":[{"value":"a@x","primary":true},{"value":"c@z"}]})",
        R"({"id":5})",
        R"({"id":6,"email":"b@y"})",
        R"({"id":7,"email":[]})",
        R"({"id":8,"email":{"value":"b@y"}})",
        R"({"id":9,"email":["a@x"]})",
        R"({"id":10,"email":null})",
    };
    const auto r = run_every_chunking(spec, twice(records));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"value":[{"id":1},{"id":4},{"id":9},{"id":1},{"id":4},{"id":9}]})");
    EXPECT_EQ(dropped(r.counters, drop_reason::suppressed), 8u);            // 2, 3, 6, 8
    EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 6u);  // 5, 7, 10
    expect_balanced(r.counters);
}

TEST(JsonUnreadable, ListOfObjectsAtASuppressionFieldIsStillMatched) {
    // The list on the way to email.value is marked, but the suppression check reads values, not
    // structure: the element's value must still reach it.
    filter_spec spec = value_spec({"id"}, {});
    spec.rules.suppression_fields = {"email", "email.value"};
    spec.rules.suppressed = [](const record_fields& f) {
        for (const auto& [path, value] : f.values()) {
            if ((path == "email" || path == "email.value") && value == "gone@x") return true;
        }
        return false;
    };
    const auto r = run_every_chunking(spec, twice({R"({"id":1,"email":[{"value":"gone@x"}]})",
                                                   R"({"id":2,"email":[{"value":"kept@x"}]})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"value":[{"id":2},{"id":2}]})");
    EXPECT_EQ(dropped(r.counters, drop_reason::suppressed), 2u);
    expect_balanced(r.counters);
}

TEST(JsonUnreadable, ArrayAtASuppressionFieldGivesEachElementAsAValue) {
    // No "email.value" listed: the elements are still values at "email".
    filter_spec spec = value_spec({"id"}, {});
    spec.rules.suppression_fields = {"email"};
    spec.rules.suppressed = lists_b;
    const auto r = run_every_chunking(
        spec, twice({R"({"id":1,"email":["a@x","b@y"]})", R"({"id":2,"email":["a@x"]})",
                     R"({"id":3,"email":[{"value":"a@x"}]})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"value":[{"id":2},{"id":2}]})");
    EXPECT_EQ(dropped(r.counters, drop_reason::suppressed), 2u);
    EXPECT_EQ(dropped(r.counters, drop_reason::condition_unreadable), 2u);
}

}  // namespace
}  // namespace exportwall::filters
