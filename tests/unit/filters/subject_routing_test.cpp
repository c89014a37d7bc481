// The subject index's keys (record_rules::subject_fields) reach the `decided` callback in
// record_fields::subjects(), by their index in subject_fields, apart from the values the rules
// read (values()): record_fields routes a path to one list or both (read_for), and every filter
// hands it the record's values — the JSON filter partly as places in the record's text
// (add_in_text) and with routes cached on its path nodes. A subject value missing, misplaced,
// read from the wrong text or from a transformed copy is a record missing from, or wrong in, an
// art. 15 answer; a subject field missing from values() when a rule reads it is a rule misread.
//
// The tests assert the values themselves (decoded, by index), for every format, fed whole, one
// byte at a time, seven bytes at a time and in every two-piece split.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "filters/record_filter.hpp"
#include "filters/record_rules.hpp"
#include "tests/unit/filters/chunked_run.hpp"

namespace exportwall::filters {
namespace {

using boost::system::error_code;
using cuts_list = std::vector<std::size_t>;

// --- what the callback hears ------------------------------------------------------------------

using subject_list = std::vector<std::pair<std::size_t, std::string>>;  // (index, value)
using value_list = std::vector<std::pair<std::string, std::string>>;    // (path, value)

// One `decided` call's arguments, copied.
struct report {
    bool kept = false;
    subject_list subjects;
    value_list values;
    bool operator==(const report&) const = default;
};

void PrintTo(const report& r, std::ostream* os) {
    *os << (r.kept ? "kept" : "dropped") << " subjects {";
    for (const auto& [index, value] : r.subjects) *os << " " << index << "=\"" << value << "\"";
    *os << " } values {";
    for (const auto& [path, value] : r.values) *os << " " << path << "=\"" << value << "\"";
    *os << " }";
}

subject_list subjects_of(const record_fields& f) {
    subject_list out;
    for (const auto [index, value] : f.subjects()) out.emplace_back(index, std::string(value));
    return out;
}

value_list values_of(const record_fields& f) {
    value_list out;
    for (const auto [path, value] : f.values()) out.emplace_back(path, value);
    return out;
}

report heard(const record_fields& f, bool kept) { return {kept, subjects_of(f), values_of(f)}; }

// --- record_fields ----------------------------------------------------------------------------

record_rules indexed_rules() {
    record_rules rules;
    rules.subject_fields = {"id", "email"};
    rules.conditions.push_back(
        {"consent", condition_op::is_true, {}, false, drop_reason::no_consent});
    return rules;
}

TEST(SubjectRouting, WithoutReadForEveryValueGoesToTheRulesList) {
    record_fields f;
    f.add("id", "c-1");
    f.add("email", "a@x.example");
    f.add("consent", "true");
    EXPECT_EQ(values_of(f),
              (value_list{{"id", "c-1"}, {"email", "a@x.example"}, {"consent", "true"}}));
    EXPECT_TRUE(subjects_of(f).empty());
    EXPECT_EQ(f.route_of("id").subject, 0u);
    EXPECT_TRUE(f.route_of("id").rules);
}

TEST(SubjectRouting, SubjectFieldsGoToSubjectsOnlyByTheirIndex) {
    auto f = record_fields::reading_for(indexed_rules());
    f.add("id", "c-1");
    f.add("email", "a@x.example");
    f.add("consent", "true");
    EXPECT_EQ(subjects_of(f), (subject_list{{0, "c-1"}, {1, "a@x.example"}}));
    EXPECT_EQ(values_of(f), (value_list{{"consent", "true"}}));
    // The rules no longer find a subject field they do not read.
    EXPECT_EQ(f.find("id"), std::nullopt);
    EXPECT_EQ(f.find("consent"), "true");
    EXPECT_EQ(f.route_of("id").subject, 1u);
    EXPECT_FALSE(f.route_of("id").rules);
    EXPECT_EQ(f.route_of("email").subject, 2u);
    EXPECT_FALSE(f.route_of("email").rules);
    EXPECT_EQ(f.route_of("consent").subject, 0u);
    EXPECT_TRUE(f.route_of("consent").rules);
}

TEST(SubjectRouting, SubjectIndexIsThePlaceInSubjectFieldsNotTheOrderOfArrival) {
    auto f = record_fields::reading_for(indexed_rules());
    f.add("email", "a@x.example");
    f.add("consent", "true");
    f.add("id", "42");
    f.add("email", "b@x.example");  // repeated (an array of addresses)
    EXPECT_EQ(subjects_of(f), (subject_list{{1, "a@x.example"}, {0, "42"}, {1, "b@x.example"}}));
    EXPECT_EQ(values_of(f), (value_list{{"consent", "true"}}));
}

TEST(SubjectRouting, SubjectFieldAConditionReadsGoesToBothLists) {
    record_rules rules = indexed_rules();
    rules.conditions.push_back(
        {"email", condition_op::not_empty, {}, false, drop_reason::condition});
    auto f = record_fields::reading_for(rules);
    f.add("id", "c-1");
    f.add("email", "a@x.example");
    f.add("consent", "true");
    EXPECT_EQ(subjects_of(f), (subject_list{{0, "c-1"}, {1, "a@x.example"}}));
    EXPECT_EQ(values_of(f), (value_list{{"email", "a@x.example"}, {"consent", "true"}}));
    EXPECT_EQ(evaluate(rules, f), std::nullopt);
    // Without the address the condition fails: it reads the rules' list.
    f.clear();
    f.add("id", "c-1");
    f.add("consent", "true");
    EXPECT_EQ(evaluate(rules, f), drop_reason::condition);
}

TEST(SubjectRouting, SubjectFieldTheSuppressionCheckReadsGoesToBothLists) {
    record_rules rules = indexed_rules();
    rules.suppression_fields = {"email"};
    std::string checked;
    rules.suppressed = [&checked](const record_fields& r) {
        checked = std::string(r.find("email").value_or("(none)"));
        return checked == "gone@x.example";
    };
    auto f = record_fields::reading_for(rules);
    f.add("id", "c-1");
    f.add("email", "a@x.example");
    f.add("consent", "true");
    EXPECT_EQ(subjects_of(f), (subject_list{{0, "c-1"}, {1, "a@x.example"}}));
    EXPECT_EQ(values_of(f), (value_list{{"email", "a@x.example"}, {"consent", "true"}}));
    EXPECT_EQ(evaluate(rules, f), std::nullopt);
    EXPECT_EQ(checked, "a@x.example");
    f.clear();
    f.add("email", "gone@x.example");
    f.add("consent", "true");
    EXPECT_EQ(evaluate(rules, f), drop_reason::suppressed);
    EXPECT_TRUE(f.route_of("email").rules);
    EXPECT_FALSE(f.route_of("id").rules);
}

TEST(SubjectRouting, SuppressionFieldsWithoutASuppressionCheckDoNotRouteToTheRules) {
    record_rules rules = indexed_rules();
    rules.suppression_fields = {"email", "id"};  // no `suppressed`: nothing reads them
    auto f = record_fields::reading_for(rules);
    f.add("id", "c-1");
    f.add("email", "a@x.example");
    f.add("consent", "true");
    EXPECT_EQ(subjects_of(f), (subject_list{{0, "c-1"}, {1, "a@x.example"}}));
    EXPECT_EQ(values_of(f), (value_list{{"consent", "true"}}));
}

TEST(SubjectRouting, ReadForAgainReplacesTheRoutes) {
    // A JSON filter started from a memory takes the last filter's record_fields and routes it
    // for its own rules.
    auto f = record_fields::reading_for(indexed_rules());
    record_rules other;
    other.subject_fields = {"email"};
    f.read_for(other);
    f.add("id", "c-1");
    f.add("email", "a@x.example");
    EXPECT_EQ(subjects_of(f), (subject_list{{0, "a@x.example"}}));
    EXPECT_EQ(values_of(f), (value_list{{"id", "c-1"}}));
    f.read_for(record_rules{});
    f.clear();
    f.add("id", "c-2");
    f.add("email", "b@x.example");
    EXPECT_TRUE(subjects_of(f).empty());
    EXPECT_EQ(values_of(f), (value_list{{"id", "c-2"}, {"email", "b@x.example"}}));
}

// A record's text and the place of each value in it, as the JSON filter writes it.
struct placed_record {
    std::string text = R"({"id":"c-1","email":"a@x.example","consent":true,"n":-1.5e3})";
    std::size_t at(std::string_view value) const { return text.find(value); }
};

TEST(SubjectRouting, ValuesInTheRecordTextAreReadThroughIt) {
    record_rules rules = indexed_rules();
    rules.conditions.push_back(
        {"email", condition_op::not_empty, {}, false, drop_reason::condition});
    auto f = record_fields::reading_for(rules);
    const placed_record r;
    f.add_in_text(f.route_of("id"), "id", r.at("c-1"), 3);
    f.add_in_text(f.route_of("email"), "email", r.at("a@x.example"), 11);
    f.add_in_text(f.route_of("consent"), "consent", r.at("true"), 4);
    f.add_in_text(f.route_of("n"), "n", r.at("-1.5e3"), 6);
    f.in_text(r.text);
    EXPECT_EQ(subjects_of(f), (subject_list{{0, "c-1"}, {1, "a@x.example"}}));
    EXPECT_EQ(values_of(f),
              (value_list{{"email", "a@x.example"}, {"consent", "true"}, {"n", "-1.5e3"}}));
    EXPECT_EQ(f.find("email"), "a@x.example");
    EXPECT_EQ(evaluate(rules, f), std::nullopt);
}

TEST(SubjectRouting, CopiedAndInTextValuesMixInOneRecord) {
    auto f = record_fields::reading_for(indexed_rules());
    const placed_record r;
    // The id arrived escaped (copied), the address whole (in the text), the consent split
    // across two chunks (copied); a stripped value is always copied.
    f.add("id", "x\"y");
    f.add_in_text(f.route_of("email"), "email", r.at("a@x.example"), 11);
    f.add_routed(f.route_of("consent"), "consent", "true");
    f.add_in_text(f.route_of("id"), "id", r.at("c-1"), 3);
    f.in_text(r.text);
    EXPECT_EQ(subjects_of(f), (subject_list{{0, "x\"y"}, {1, "a@x.example"}, {0, "c-1"}}));
    EXPECT_EQ(values_of(f), (value_list{{"consent", "true"}}));
}

TEST(SubjectRouting, AValuePlacedInTheTextIsReadFromTheTextOfItsRecord) {
    // A slot reused for a copied value after holding a place (and the reverse) reads the right
    // one: the next record's values replace the last one's slots.
    auto f = record_fields::reading_for(indexed_rules());
    const placed_record first;
    f.add_in_text(f.route_of("id"), "id", first.at("c-1"), 3);
    f.add("email", "copied@x.example");
    f.in_text(first.text);
    EXPECT_EQ(subjects_of(f), (subject_list{{0, "c-1"}, {1, "copied@x.example"}}));
    f.clear();
    const std::string second = R"({"email":"b@y.example","id":"c-22"})";
    f.add_in_text(f.route_of("email"), "email", second.find("b@y"), 11);
    f.add("id", "c-22");
    f.in_text(second);
    EXPECT_EQ(subjects_of(f), (subject_list{{1, "b@y.example"}, {0, "c-22"}}));
}

TEST(SubjectRouting, ClearForgetsBothLists) {
    auto f = record_fields::reading_for(indexed_rules());
    const placed_record r;
    f.add("id", "c-1");
    f.add_in_text(f.route_of("email"), "email", r.at("a@x.example"), 11);
    f.add("consent", "true");
    f.in_text(r.text);
    ASSERT_EQ(f.subjects().size(), 2u);
    ASSERT_EQ(f.values().size(), 1u);
    f.clear();
    EXPECT_EQ(f.subjects().size(), 0u);
    EXPECT_EQ(f.values().size(), 0u);
    EXPECT_EQ(f.find("consent"), std::nullopt);
    f.add("email", "b@x.example");
    EXPECT_EQ(subjects_of(f), (subject_list{{1, "b@x.example"}}));
    EXPECT_TRUE(values_of(f).empty());
}

TEST(SubjectRouting, PlaceBeyondTheRecordTextThrowsWhenRead) {
    auto f = record_fields::reading_for(indexed_rules());
    const placed_record r;
    f.add_in_text(f.route_of("id"), "id", r.text.size() + 1, 3);
    f.add_in_text(f.route_of("consent"), "consent", r.text.size() + 5, 4);
    f.in_text(r.text);
    EXPECT_THROW((void)f.subject_at(0), std::out_of_range);
    EXPECT_THROW((void)f.value_at(0), std::out_of_range);
    EXPECT_THROW((void)subjects_of(f), std::out_of_range);
    // Without in_text() (a filter that forgot to name the text) the text is empty.
    f.clear();
    f.add_in_text(f.route_of("email"), "email", 5, 11);
    EXPECT_THROW((void)f.subject_at(0), std::out_of_range);
    // A place that starts inside the text and runs past its end is not read cut short.
    f.clear();
    f.add_in_text(f.route_of("id"), "id", r.text.size() - 2, 3);
    f.in_text(r.text);
    EXPECT_THROW((void)f.subject_at(0), std::out_of_range);
}

// --- the filters ------------------------------------------------------------------------------

// Records of every format below, as the callback must hear them. Paths and values are the same
// in every format: `id`, `first_name`, `email`, `consent`.
//   c-1  Ann   ann@x.example  consent true   kept
//   c-2  Bob   bob@x.example  consent false  dropped (no consent)
//   x"y  Cy    a@b.example    consent true   kept; both escaped in the input where the format
//                                            escapes (JSON "x\"y", "a\u0040b.example", and
//                                            the key "em\u0061il")
//   42   Dee   d@x.example    consent true   kept; a number where the format has numbers, the
//                                            address before the id
//
// The order a record's values are added in: the record's own (JSON, XML, XML-RPC), or the order
// of the rules' paths, sorted (CSV adds a row's cells by record_rules::needed_fields()).
enum class field_order : std::uint8_t { record, rule_paths };

report contact_report(field_order order, bool kept, std::pair<std::string, std::string> subject,
                      bool email_first, std::string consent, bool email_read) {
    const auto& [id, email] = subject;
    report r;
    r.kept = kept;
    if (email_first || order == field_order::rule_paths) {
        r.subjects = {{1, email}, {0, id}};
    } else {
        r.subjects = {{0, id}, {1, email}};
    }
    r.values.emplace_back("consent", std::move(consent));
    // "consent" < "email"; in every record the address comes before the consent.
    if (email_read) {
        r.values.insert(order == field_order::rule_paths ? r.values.end() : r.values.begin(),
                        {"email", email});
    }
    return r;
}

// `email_read`: a rule reads the address too, so it is in values() as well.
std::vector<report> expected_contacts(field_order order, bool email_read = false) {
    return {
        contact_report(order, true, {"c-1", "ann@x.example"}, false, "true", email_read),
        contact_report(order, false, {"c-2", "bob@x.example"}, false, "false", email_read),
        contact_report(order, true, {"x\"y", "a@b.example"}, false, "true", email_read),
        contact_report(order, true, {"42", "d@x.example"}, true, "true", email_read),
    };
}

const std::vector<std::string>& json_contacts() {
    static const std::vector<std::string> all = {
        R"({"id":"c-1","first_name":"Ann","address":{"city":"Gent","lines":["a",1]},)"
        R"("email":"ann@x.example","consent":true})",
        R"({"id":"c-2","first_name":"Bob","email":"bob@x.example","consent":false})",
        R"({"id":"x\"y","first_name":"Cy","em\u0061il":"a\u0040b.example","consent":true})",
        R"({"email":"d@x.example","first_name":"Dee","id":42,"consent":true})",
    };
    return all;
}

std::string json_page(const std::vector<std::string>& records) {
    std::string s = R"({"@odata.context":"https://crm/$metadata#contacts","value":[)";
    for (std::size_t i = 0; i < records.size(); ++i) s += (i == 0 ? "" : ",") + records[i];
    return s + "]}";
}

std::string ndjson_lines(const std::vector<std::string>& records) {
    std::string s;
    for (const auto& r : records) s += r + "\n";
    return s;
}

// The address after the id as the header names them: the filter adds a row's cells in the
// rules' path order (field_order::rule_paths) whatever the columns' order.
const std::string csv_contacts =
    "id,first_name,email,consent\r\n"
    "c-1,Ann,ann@x.example,true\r\n"
    "c-2,\"Bob\",bob@x.example,false\r\n"
    "\"x\"\"y\",Cy,\"a@b.example\",true\r\n"
    "42,Dee,d@x.example,true\r\n";

const std::string xml_contacts =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<export xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><contacts>"
    "<contact><id>c-1</id><first_name>Ann</first_name><address><city>Gent</city></address>"
    "<email>ann@x.example</email><consent>true</consent></contact>"
    "<contact><id>c-2</id><first_name>Bob</first_name><email>bob@x.example</email>"
    "<consent>false</consent></contact>"
    "<contact><id>x&quot;y</id><first_name>Cy</first_name><email>a&#64;b.<![CDATA[example]]>"
    "</email><consent>true</consent></contact>"
    "<contact><email>d@x.example</email><first_name>Dee</first_name><id>42</id>"
    "<consent>true</consent></contact>"
    "</contacts></export>";

std::string xmlrpc_member(std::string_view name, std::string_view value) {
    return "<member>\n<name>" + std::string(name) + "</name>\n<value>" + std::string(value) +
           "</value>\n</member>\n";
}
std::string xmlrpc_string(std::string_view s) { return "<string>" + std::string(s) + "</string>"; }
std::string xmlrpc_boolean(bool b) { return b ? "<boolean>1</boolean>" : "<boolean>0</boolean>"; }

const std::string& xmlrpc_contacts() {
    static const std::string body = [] {
        auto rec = [](std::vector<std::string> members) {
            std::string r = "<value><struct>\n";
            for (const auto& m : members) r += m;
            return r + "</struct></value>\n";
        };
        std::string s =
            "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n";
        s += rec({xmlrpc_member("id", xmlrpc_string("c-1")),
                  xmlrpc_member("first_name", xmlrpc_string("Ann")),
                  xmlrpc_member("email", xmlrpc_string("ann@x.example")),
                  xmlrpc_member("consent", xmlrpc_boolean(true))});
        s += rec({xmlrpc_member("id", xmlrpc_string("c-2")),
                  xmlrpc_member("first_name", xmlrpc_string("Bob")),
                  xmlrpc_member("email", xmlrpc_string("bob@x.example")),
                  xmlrpc_member("consent", xmlrpc_boolean(false))});
        s += rec({xmlrpc_member("id", xmlrpc_string("x&quot;y")),
                  xmlrpc_member("first_name", xmlrpc_string("Cy")),
                  xmlrpc_member("email", xmlrpc_string("a&#64;b.example")),
                  xmlrpc_member("consent", xmlrpc_boolean(true))});
        s += rec({xmlrpc_member("email", xmlrpc_string("d@x.example")),
                  xmlrpc_member("first_name", xmlrpc_string("Dee")),
                  xmlrpc_member("id", "<int>42</int>"),
                  xmlrpc_member("consent", xmlrpc_boolean(true))});
        return s + "</data></array></value>\n</param>\n</params>\n</methodResponse>\n";
    }();
    return body;
}

// An export of the contacts above in one format, with the spec that reads it.
struct format_case {
    std::string name;
    body_format format;
    std::string records;  // filter_spec::records
    std::string body;
    field_order order = field_order::record;
};

std::vector<format_case> format_cases() {
    return {
        {"JSON page", body_format::json, "/value", json_page(json_contacts())},
        {"JSON top-level array", body_format::json, "",
         "[" + json_contacts()[0] + "," + json_contacts()[1] + "," + json_contacts()[2] + "," +
             json_contacts()[3] + "]"},
        {"NDJSON", body_format::ndjson, "", ndjson_lines(json_contacts())},
        {"CSV", body_format::csv, "", csv_contacts, field_order::rule_paths},
        {"XML", body_format::xml, "/export/contacts/contact", xml_contacts},
        {"XML-RPC", body_format::xmlrpc, "", xmlrpc_contacts()},
    };
}

// The contacts' spec: `allowed` kept, a consent rule, the subject index on id and e-mail.
filter_spec contacts_spec(const format_case& c, std::vector<std::string> allowed) {
    filter_spec spec;
    spec.format = c.format;
    spec.records = c.records;
    spec.allowed = field_set(std::move(allowed));
    spec.rules.conditions.push_back(
        {"consent", condition_op::is_true, {}, false, drop_reason::no_consent});
    spec.rules.subject_fields = {"id", "email"};
    return spec;
}

// One run: the output, the error and every `decided` call, in order.
struct heard_run {
    std::string output;
    error_code error;
    std::vector<report> decided;
};

// Runs `spec` (its `decided` replaced by a recorder) over `body` cut at `cuts`, on a filter
// started from `memory` when one is given.
heard_run run_heard(filter_spec spec, std::string_view body, const cuts_list& cuts,
                    std::unique_ptr<filter_memory> memory = nullptr) {
    heard_run r;
    std::vector<report> decided;
    spec.rules.decided = [&decided](const record_fields& f, bool kept) {
        decided.push_back(heard(f, kept));
    };
    auto filter = make_filter(std::move(spec), std::move(memory));
    r.error = testing::feed_cut(*filter, body, cuts, r.output);
    r.decided = std::move(decided);
    return r;
}

cuts_list every(std::size_t step, std::size_t size) {
    cuts_list cuts;
    for (std::size_t at = step; at < size; at += step) cuts.push_back(at);
    return cuts;
}

std::string describe(const cuts_list& cuts) {
    if (cuts.empty()) return "whole body";
    return std::to_string(cuts.size() + 1) + " chunks, the first cut at " +
           std::to_string(cuts.front());
}

// What `decided` hears of `body` fed whole; ADD_FAILUREs where one byte at a time, seven bytes
// at a time, a two-piece split or a random chunking hears anything else (or writes other output).
std::vector<report> heard_in_every_chunking(const filter_spec& spec, std::string_view body,
                                            const std::string& label) {
    const heard_run whole = run_heard(spec, body, {});
    EXPECT_FALSE(whole.error) << label << ": " << whole.error.message();
    std::vector<cuts_list> all = {every(1, body.size()), every(7, body.size())};
    for (cuts_list& cuts : testing::chunkings(body.size())) all.push_back(std::move(cuts));
    for (const cuts_list& cuts : all) {
        const heard_run r = run_heard(spec, body, cuts);
        EXPECT_EQ(r.error, whole.error) << label << ", " << describe(cuts);
        EXPECT_EQ(r.output, whole.output) << label << ", " << describe(cuts);
        EXPECT_EQ(r.decided, whole.decided) << label << ", " << describe(cuts);
        if (::testing::Test::HasFailure()) break;
    }
    return whole.decided;
}

TEST(SubjectRouting, EveryFormatReportsKeptAndDroppedRecordsSubjectsByIndex) {
    // The id and the address kept (in the record's text in JSON), stripped (copied), or one of
    // each: the callback hears the same.
    const std::vector<std::vector<std::string>> allowed_sets = {
        {"id", "first_name", "email"},
        {"id", "first_name"},
        {"first_name", "email"},
        {"first_name"},
    };
    for (const format_case& c : format_cases()) {
        for (const auto& allowed : allowed_sets) {
            const std::string label = c.name + " keeping " + std::to_string(allowed.size()) +
                                      " fields, first " + allowed.front();
            const auto decided = heard_in_every_chunking(contacts_spec(c, allowed), c.body, label);
            EXPECT_EQ(decided, expected_contacts(c.order)) << label;
            if (HasFailure()) return;
        }
    }
}

TEST(SubjectRouting, EveryFormatTellsACallbackForKeptRecordsOnlyOfThem) {
    // record_rules::decided_kept_only: the subject index's main entity when no nested record
    // waits on it. The kept records' reports, the same as without it; the dropped, none.
    for (const format_case& c : format_cases()) {
        filter_spec spec = contacts_spec(c, {"first_name", "email"});
        spec.rules.decided_kept_only = true;
        std::vector<report> kept_only;
        for (const report& r : expected_contacts(c.order))
            if (r.kept) kept_only.push_back(r);
        ASSERT_LT(kept_only.size(), expected_contacts(c.order).size());
        EXPECT_EQ(heard_in_every_chunking(spec, c.body, c.name), kept_only) << c.name;
        if (HasFailure()) return;
    }
}

TEST(SubjectRouting, EveryFormatGivesASubjectFieldARuleReadsToBothLists) {
    for (const format_case& c : format_cases()) {
        for (bool kept : {true, false}) {
            filter_spec spec = contacts_spec(
                c, kept ? std::vector<std::string>{"id", "email"} : std::vector<std::string>{"id"});
            spec.rules.conditions.push_back(
                {"email", condition_op::not_empty, {}, false, drop_reason::condition});
            const std::string label = c.name + (kept ? ", address kept" : ", address stripped");
            EXPECT_EQ(heard_in_every_chunking(spec, c.body, label),
                      expected_contacts(c.order, true))
                << label;
            if (HasFailure()) return;
        }
    }
}

TEST(SubjectRouting, EveryFormatLetsTheSuppressionCheckReadASubjectField) {
    for (const format_case& c : format_cases()) {
        filter_spec spec = contacts_spec(c, {"id", "email"});
        spec.rules.suppression_fields = {"email"};
        spec.rules.suppressed = [](const record_fields& f) {
            return f.find("email") == "a@b.example";
        };
        auto expected = expected_contacts(c.order, true);
        expected[2].kept = false;  // x"y: its address, decoded, is on the list
        EXPECT_EQ(heard_in_every_chunking(spec, c.body, c.name), expected) << c.name;
        if (HasFailure()) return;
    }
}

TEST(SubjectRouting, EveryFormatReportsTheValueReceivedNotItsTransformedForm) {
    for (const format_case& c : format_cases()) {
        filter_spec spec = contacts_spec(c, {"id", "first_name", "email"});
        spec.transforms = transform_set(
            {{"email", transform_kind::pseudonymise, 0}, {"id", transform_kind::mask, 1}},
            std::make_shared<const std::vector<unsigned char>>(32, 0x42));
        const auto decided = heard_in_every_chunking(spec, c.body, c.name);
        EXPECT_EQ(decided, expected_contacts(c.order)) << c.name;
        if (HasFailure()) return;
    }
}

// What a filter of `spec` learns from `body` fed whole (record_filter::take_memory).
std::unique_ptr<filter_memory> learnt(const filter_spec& spec, std::string_view body) {
    auto filter = make_filter(spec);
    std::string out;
    if (filter->feed(body, out) || filter->finish(out)) return nullptr;
    return filter->take_memory();
}

TEST(SubjectRouting, JsonFilterStartedFromAMemoryRoutesForItsOwnSubjectFields) {
    // The JSON filters cache a path's route on its path node; a memory carries the nodes to the
    // next filter of a spec with the same decisions (filters/filter_shelf.hpp), never to one that
    // indexes other fields.
    for (const format_case& c : format_cases()) {
        if (c.format != body_format::json && c.format != body_format::ndjson) continue;
        filter_spec spec = contacts_spec(c, {"id", "email"});
        spec.rules.decided = [](const record_fields&, bool) {};
        filter_spec swapped = spec;
        swapped.rules.subject_fields = {"email", "id"};
        std::vector<report> swapped_expected = expected_contacts(c.order);
        for (report& r : swapped_expected) {
            for (auto& [index, value] : r.subjects) index = 1 - index;
        }
        for (const cuts_list& cuts :
             {cuts_list{}, every(1, c.body.size()), every(7, c.body.size())}) {
            const std::string label = c.name + ", " + describe(cuts);
            auto memory = learnt(spec, c.body);
            ASSERT_NE(memory, nullptr) << label;
            EXPECT_EQ(run_heard(spec, c.body, cuts, std::move(memory)).decided,
                      expected_contacts(c.order))
                << label << ", from its own spec's memory";
            EXPECT_EQ(run_heard(swapped, c.body, cuts, learnt(spec, c.body)).decided,
                      swapped_expected)
                << label << ", from the memory of a spec indexing id first";
            EXPECT_EQ(run_heard(spec, c.body, cuts, learnt(swapped, c.body)).decided,
                      expected_contacts(c.order))
                << label << ", from the memory of a spec indexing the address first";
            if (HasFailure()) return;
        }
    }
}

TEST(SubjectRouting, JsonNullAndLiteralSubjectsAreTheirLiterals) {
    filter_spec spec;
    spec.records = "/value";
    spec.allowed = field_set({"id", "email"});
    spec.rules.subject_fields = {"id", "email"};
    const std::string body =
        json_page({R"({"id":-0.5e2,"email":null})", R"({"id":true,"email":""})",
                   R"({"id":"","email":"\ud83d\ude00@x"})"});
    const auto decided = heard_in_every_chunking(spec, body, "literals");
    ASSERT_EQ(decided.size(), 3u);
    EXPECT_EQ(decided[0].subjects, (subject_list{{0, "-0.5e2"}, {1, "null"}}));
    EXPECT_EQ(decided[1].subjects, (subject_list{{0, "true"}, {1, ""}}));
    EXPECT_EQ(decided[2].subjects, (subject_list{{0, ""}, {1, "\xF0\x9F\x98\x80@x"}}));
    for (const report& r : decided) {
        EXPECT_TRUE(r.kept);
        EXPECT_TRUE(r.values.empty());
    }
}

TEST(SubjectRouting, JsonStrippedValuesReadAlikeWhenTheirPlanIsReplayed) {
    // The id, the address and the consent flag stripped but read: from the second record of a
    // shape on, a value in one piece goes straight to the fields (json_rewriter's
    // replayed_quietly); one with an escape, or split across a feed, the long way. Each kind of
    // value comes both first (its plan decided) and again (replayed).
    filter_spec spec;
    spec.records = "/value";
    spec.allowed = field_set({"first_name"});
    spec.rules.subject_fields = {"id", "email"};
    spec.rules.conditions.push_back(
        {"consent", condition_op::is_true, {}, false, drop_reason::no_consent});
    const std::string body = json_page({
        R"({"id":"c-1","first_name":"Ann","email":"ann@x.example","consent":true})",
        R"({"id":"c-2","first_name":"Bob","email":"bob@x.example","consent":false})",
        R"({"id":"x\"y","first_name":"Cy","email":"a\u0040b.example","consent":"true"})",
        R"({"id":42,"first_name":"Dee","email":null,"consent":true})",
        R"({"id":"","first_name":"Eve","email":"e@x.example","consent":"tru\u0065"})",
        R"({"id":7e1,"first_name":"Fay","email":"f@x.example","consent":"true"})",
    });
    const auto decided = heard_in_every_chunking(spec, body, "stripped subjects");
    const value_list consented = {{"consent", "true"}};
    EXPECT_EQ(decided, (std::vector<report>{
                           {true, {{0, "c-1"}, {1, "ann@x.example"}}, consented},
                           {false, {{0, "c-2"}, {1, "bob@x.example"}}, {{"consent", "false"}}},
                           {true, {{0, "x\"y"}, {1, "a@b.example"}}, consented},
                           {true, {{0, "42"}, {1, "null"}}, consented},
                           {true, {{0, ""}, {1, "e@x.example"}}, consented},
                           {true, {{0, "7e1"}, {1, "f@x.example"}}, consented},
                       }));
    const heard_run whole = run_heard(spec, body, {});
    EXPECT_EQ(whole.output.find("ann@"), std::string::npos) << whole.output;
    EXPECT_EQ(whole.output.find("c-1"), std::string::npos) << whole.output;
}

TEST(SubjectRouting, JsonRecordUnderAFieldRootReportsItsFieldsThere) {
    // HubSpot: the fields under `properties`; the id beside them, at the record's own level.
    filter_spec spec;
    spec.records = "/results";
    spec.field_root = "properties";
    spec.allowed = field_set({"id", "email"});
    spec.rules.subject_fields = {"id", "email"};
    spec.rules.conditions.push_back(
        {"consent", condition_op::is_true, {}, false, drop_reason::no_consent});
    const std::string body =
        R"({"results":[{"id":"101","properties":{"email":"a@x.example","consent":"true",)"
        R"("firstname":"Ann"},"archived":false},{"id":"102","properties":{"consent":"false",)"
        R"("email":"b\u0040x.example"}}],"paging":{"next":{"after":"2"}}})";
    const auto decided = heard_in_every_chunking(spec, body, "HubSpot page");
    EXPECT_EQ(decided, (std::vector<report>{
                           {true, {{0, "101"}, {1, "a@x.example"}}, {{"consent", "true"}}},
                           {false, {{0, "102"}, {1, "b@x.example"}}, {{"consent", "false"}}},
                       }));
}

TEST(SubjectRouting, JsonSingleRecordReportsItsSubjectsKeptOrDropped) {
    for (const std::string records : {"/data", ""}) {
        filter_spec spec;
        spec.records = records;
        spec.single_record = true;
        spec.allowed = field_set({"id", "email"});
        spec.rules.subject_fields = {"id", "email"};
        spec.rules.conditions.push_back(
            {"consent", condition_op::is_true, {}, false, drop_reason::no_consent});
        const auto wrap = [&](const std::string& record) {
            return records.empty() ? record : R"({"data":)" + record + R"(,"meta":{}})";
        };
        const std::string label = records.empty() ? "root record" : "record at /data";
        EXPECT_EQ(heard_in_every_chunking(
                      spec, wrap(R"({"id":"x\"y","email":"ann@x.example","consent":true})"),
                      label + ", kept"),
                  (std::vector<report>{
                      {true, {{0, "x\"y"}, {1, "ann@x.example"}}, {{"consent", "true"}}}}));
        EXPECT_EQ(heard_in_every_chunking(
                      spec, wrap(R"({"email":"a\u0040b.example","consent":false,"id":42})"),
                      label + ", dropped"),
                  (std::vector<report>{
                      {false, {{1, "a@b.example"}, {0, "42"}}, {{"consent", "false"}}}}));
    }
}

// --- nested record sets -----------------------------------------------------------------------

// Close: contacts inside each lead. The set's elements are copied (into a buffer of their own,
// the lead's parked) between the lead's id and its address.
filter_spec leads_spec(std::vector<std::string> allowed, std::vector<report>* contacts_heard) {
    filter_spec spec;
    spec.records = "/data";
    spec.allowed = field_set(std::move(allowed));
    spec.rules.subject_fields = {"id", "email"};
    spec.rules.conditions.push_back(
        {"consent", condition_op::is_true, {}, false, drop_reason::no_consent});
    nested_record_set contacts;
    contacts.path = "contacts";
    contacts.in_record = true;
    contacts.allowed = field_set({"name", "email"});
    contacts.rules.conditions.push_back(
        {"unsubscribed", condition_op::is_set, {}, true, drop_reason::objected});
    contacts.rules.subject_fields = {"email", "id"};
    contacts.rules.decided = [contacts_heard](const record_fields& f, bool kept) {
        contacts_heard->push_back(heard(f, kept));
    };
    spec.nested = {contacts};
    return spec;
}

const std::string leads_body =
    R"({"has_more":false,"data":[)"
    R"({"id":"lead-1","name":"Acme","contacts":[{"id":"ct-1","name":"Ann Long-Name",)"
    R"("email":"ann@c.example","title":"a title long enough to move every later offset"},)"
    R"({"id":"ct-2","name":"Bob","unsubscribed":true,"email":"bob\u0040c.example"}],)"
    R"("email":"lead1@x.example","consent":true},)"
    R"({"id":"lead-2","contacts":[{"email":"cy@c.example","id":7}],"email":"lead\u0032@x.example",)"
    R"("consent":false},)"
    R"({"email":"lead3@x.example","contacts":[],"id":3,"consent":true}]})";

TEST(SubjectRouting, NestedElementBetweenIdAndAddressLeavesTheMainSubjectsRight) {
    for (const auto& allowed :
         {std::vector<std::string>{"id", "email", "contacts"}, std::vector<std::string>{"contacts"},
          std::vector<std::string>{"id", "contacts"}}) {
        std::vector<report> contacts;
        const filter_spec spec = leads_spec(allowed, &contacts);
        const std::string label = "keeping " + std::to_string(allowed.size()) + " lead fields";
        const auto leads = heard_in_every_chunking(spec, leads_body, label);
        EXPECT_EQ(leads,
                  (std::vector<report>{
                      {true, {{0, "lead-1"}, {1, "lead1@x.example"}}, {{"consent", "true"}}},
                      {false, {{0, "lead-2"}, {1, "lead2@x.example"}}, {{"consent", "false"}}},
                      {true, {{1, "lead3@x.example"}, {0, "3"}}, {{"consent", "true"}}},
                  }))
            << label;
        // The set's own index: its subject_fields name the address first. Every run (every
        // chunking) hears the same three contacts.
        ASSERT_GE(contacts.size(), 3u) << label;
        ASSERT_EQ(contacts.size() % 3, 0u) << label;
        EXPECT_EQ(contacts[0].subjects, (subject_list{{1, "ct-1"}, {0, "ann@c.example"}})) << label;
        EXPECT_TRUE(contacts[0].kept) << label;
        EXPECT_EQ(contacts[1],
                  (report{false, {{1, "ct-2"}, {0, "bob@c.example"}}, {{"unsubscribed", "true"}}}))
            << label;
        EXPECT_EQ(contacts[2].subjects, (subject_list{{0, "cy@c.example"}, {1, "7"}})) << label;
        for (std::size_t i = 3; i < contacts.size(); ++i) {
            EXPECT_EQ(contacts[i], contacts[i % 3]) << label << ", run " << i / 3;
            if (HasFailure()) return;
        }
        if (HasFailure()) return;
    }
}

TEST(SubjectRouting, NestedElementFieldsTheMainRulesReadAreCollectedFromTheCopy) {
    // The lead's index also names its contacts' addresses: collected while each element is
    // copied, from the copy, not from the lead's text.
    std::vector<report> contacts;
    filter_spec spec = leads_spec({"id", "email", "contacts"}, &contacts);
    spec.rules.subject_fields = {"id", "email", "contacts.email"};
    const auto leads = heard_in_every_chunking(spec, leads_body, "contacts' addresses");
    ASSERT_EQ(leads.size(), 3u);
    EXPECT_EQ(
        leads[0].subjects,
        (subject_list{
            {0, "lead-1"}, {2, "ann@c.example"}, {2, "bob@c.example"}, {1, "lead1@x.example"}}));
    EXPECT_EQ(leads[1].subjects,
              (subject_list{{0, "lead-2"}, {2, "cy@c.example"}, {1, "lead2@x.example"}}));
    EXPECT_EQ(leads[2].subjects, (subject_list{{1, "lead3@x.example"}, {0, "3"}}));
    EXPECT_EQ(leads[0].values, (value_list{{"consent", "true"}}));
}

TEST(SubjectRouting, DocumentLevelSetCopiedBetweenRecordsLeavesTheirSubjectsRight) {
    // JSON:API: the records at /data, people side-loaded in /included before and after them.
    std::vector<report> people;
    filter_spec spec;
    spec.records = "/data";
    spec.field_root = "attributes";
    spec.allowed = field_set({"email"});
    spec.rules.subject_fields = {"id", "email"};
    nested_record_set set;
    set.path = "/included";
    set.discriminator = "type";
    set.discriminator_value = "people";
    set.field_root = "attributes";
    set.allowed = field_set({"name"});
    set.rules.subject_fields = {"id", "email"};
    set.rules.decided = [&people](const record_fields& f, bool kept) {
        people.push_back(heard(f, kept));
    };
    spec.nested = {set};
    const std::string body =
        R"({"included":[{"type":"people","id":"p-1","attributes":{"email":"p1@x.example",)"
        R"("name":"P"}}],"data":[{"type":"leads","id":"l-1","attributes":{"email":"l1@x.example"}},)"
        R"({"type":"leads","attributes":{"email":"l\u0032@x.example"},"id":"l-2"}],)"
        R"("meta":{},"links":{}})";
    const auto leads = heard_in_every_chunking(spec, body, "JSON:API");
    EXPECT_EQ(leads, (std::vector<report>{{true, {{0, "l-1"}, {1, "l1@x.example"}}, {}},
                                          {true, {{1, "l2@x.example"}, {0, "l-2"}}, {}}}));
    ASSERT_FALSE(people.empty());
    for (const report& r : people) {
        EXPECT_EQ(r, (report{true, {{0, "p-1"}, {1, "p1@x.example"}}, {}}));
        if (HasFailure()) return;
    }
}

}  // namespace
}  // namespace exportwall::filters
