#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "filters/record_filter.hpp"
#include "tests/unit/filters/chunked_run.hpp"
#include "tests/unit/filters/xml/xml_check.hpp"

namespace exportwall::filters {
namespace {

using testing::chunkings;
using testing::run_cut;
using testing::run_result;
using testing::run_whole;

filter_spec xmlrpc_spec(std::vector<std::string> allowed) {
    filter_spec spec;
    spec.format = body_format::xmlrpc;
    spec.allowed = field_set(std::move(allowed));
    return spec;
}

// Every chunking gives the same output, counters and error as the whole body.
run_result run_all(const filter_spec& spec, const std::string& body) {
    run_result whole = run_whole(spec, body);
    for (const auto& cuts : chunkings(body.size())) {
        run_result r = run_cut(spec, body, cuts);
        EXPECT_EQ(r.error, whole.error) << "cuts: " << cuts.size();
        if (!whole.error) {
            EXPECT_EQ(r.output, whole.output) << "cuts: " << cuts.size();
            EXPECT_TRUE(testing::same_counters(r.counters, whole.counters));
        }
        if (::testing::Test::HasFailure()) break;
    }
    return whole;
}

std::uint64_t dropped(const run_result& r, drop_reason reason) {
    return r.counters.dropped[static_cast<std::size_t>(reason)];
}

// Odoo's answer as Python's xmlrpc.client writes it.
const std::string response_head =
    "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n";
const std::string response_tail =
    "</data></array></value>\n</param>\n</params>\n</methodResponse>\n";
// What the filter writes around the records.
const std::string output_head =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse><params><param><value><array>"
    "<data>";
const std::string output_tail = "</data></array></value></param></params></methodResponse>\n";

std::string member(std::string_view name, std::string_view value) {
    return "<member>\n<name>" + std::string(name) + "</name>\n" + std::string(value) +
           "</member>\n";
}
std::string text(std::string_view s) {
    return "<value><string>" + std::string(s) + "</string></value>\n";
}
std::string integer(int n) { return "<value><int>" + std::to_string(n) + "</int></value>\n"; }
std::string boolean(bool b) {
    return std::string("<value><boolean>") + (b ? "1" : "0") + "</boolean></value>\n";
}
std::string many2one(int id, std::string_view name) {
    return "<value><array><data>\n" + integer(id) + text(name) + "</data></array></value>\n";
}
std::string record(const std::vector<std::string>& members) {
    std::string r = "<value><struct>\n";
    for (const auto& m : members) r += m;
    return r + "</struct></value>\n";
}
std::string response(const std::vector<std::string>& records) {
    std::string r = response_head;
    for (const auto& x : records) r += x;
    return r + response_tail;
}

// An Odoo partner: Odoo writes false for an empty char field.
std::string partner(int id, std::string_view email, bool consent, bool objection,
                    std::string_view lifecycle = "customer") {
    return record(
        {member("id", integer(id)), member("name", text("Jan &amp; Co")),
         member("email", email.empty() ? boolean(false) : text(email)),
         member("x_iban", text("BE71 0961")), member("country_id", many2one(20, "Belgium")),
         member("x_consent_email", boolean(consent)), member("x_objection", boolean(objection)),
         member("x_lifecycle", lifecycle.empty() ? boolean(false) : text(lifecycle))});
}

record_condition consent_required() {
    record_condition c;
    c.field = "x_consent_email";
    c.op = condition_op::is_true;
    c.reason = drop_reason::no_consent;
    c.strict = true;
    return c;
}
record_condition no_objection() {
    record_condition c;
    c.field = "x_objection";
    c.op = condition_op::is_set;
    c.exclude = true;
    c.reason = drop_reason::objected;
    c.strict = true;
    return c;
}
record_condition customers_only(std::string field = "x_lifecycle") {
    record_condition c;
    c.field = std::move(field);
    c.op = condition_op::in_set;
    c.values = {"customer"};
    c.reason = drop_reason::subject_not_allowed;
    c.strict = true;
    return c;
}

TEST(XmlRpcFilter, StripsMembersAndDropsRecordsInEveryChunking) {
    const std::string body = response({partner(1, "jan@example.be", true, false),
                                       partner(2, "piet@example.be", false, false),
                                       partner(3, "an@example.be", true, true)});
    filter_spec spec = xmlrpc_spec({"id", "name", "email", "country_id"});
    spec.rules.conditions = {consent_required(), no_objection()};
    auto r = run_all(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, output_head +
                            "<value><struct>"
                            "<member><name>id</name><value><int>1</int></value></member>"
                            "<member><name>name</name><value><string>Jan &amp; Co</string>"
                            "</value></member>"
                            "<member><name>email</name><value><string>jan@example.be</string>"
                            "</value></member>"
                            "<member><name>country_id</name><value><array><data>"
                            "<value><int>20</int></value><value><string>Belgium</string></value>"
                            "</data></array></value></member>"
                            "</struct></value>" +
                            output_tail);
    EXPECT_TRUE(testing::well_formed_xml(r.output));
    EXPECT_EQ(r.counters.records_in, 3u);
    EXPECT_EQ(r.counters.records_out, 1u);
    EXPECT_EQ(dropped(r, drop_reason::no_consent), 1u);
    EXPECT_EQ(dropped(r, drop_reason::objected), 1u);
    // Every removed occurrence counts, in the dropped records too.
    const std::map<std::string, std::uint64_t, std::less<>> stripped{
        {"x_consent_email", 3}, {"x_iban", 3}, {"x_lifecycle", 3}, {"x_objection", 3}};
    EXPECT_EQ(r.counters.stripped_fields, stripped);
    EXPECT_EQ(r.counters.bytes_in, body.size());
    EXPECT_EQ(r.counters.bytes_out, r.output.size());
    EXPECT_EQ(r.output.find("BE71"), std::string::npos);
}

TEST(XmlRpcFilter, ReadsFalseForAnEmptyFieldAsOdooWritesIt) {
    // The subject type is a char field: empty, Odoo writes false, which is no customer.
    const std::string body =
        response({partner(1, "", true, false, ""), partner(2, "", true, false, "lead"),
                  partner(3, "", true, false, "customer")});
    filter_spec spec = xmlrpc_spec({"id", "email"});
    spec.rules.conditions = {customers_only(), consent_required()};
    auto r = run_all(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(dropped(r, drop_reason::subject_not_allowed), 2u);
    EXPECT_EQ(r.counters.records_out, 1u);
    EXPECT_NE(r.output.find("<member><name>id</name><value><int>3</int></value></member>"
                            "<member><name>email</name><value><boolean>0</boolean></value>"
                            "</member>"),
              std::string::npos)
        << r.output;
}

TEST(XmlRpcFilter, DropsARecordWhoseRuleFieldIsMissingOrAList) {
    const std::string missing = record({member("id", integer(1))});
    const std::string listed =
        record({member("id", integer(2)), member("x_consent_email", many2one(1, "yes")),
                member("x_objection", boolean(false))});
    filter_spec spec = xmlrpc_spec({"id"});
    spec.rules.conditions = {consent_required(), no_objection()};
    auto r = run_all(spec, response({missing, listed}));
    ASSERT_FALSE(r.error);
    EXPECT_EQ(dropped(r, drop_reason::condition_unreadable), 2u);
    EXPECT_EQ(r.output, output_head + output_tail);
}

TEST(XmlRpcFilter, ReadsNumbersStringsAndNilAsTheRulesExpect) {
    auto one = [](std::string_view value) {
        return response({record({member("id", integer(1)), member("score", value)})});
    };
    record_condition c;
    c.field = "score";
    c.op = condition_op::equals;
    filter_spec spec = xmlrpc_spec({"id"});
    for (auto [value, expected] : std::vector<std::pair<std::string, std::string>>{
             {"<value><int>7</int></value>", "7"},
             {"<value><i4>-7</i4></value>", "-7"},
             {"<value><double>2.50</double></value>", "2.50"},
             {"<value>untyped</value>", "untyped"},
             {"<value><string>a&lt;b</string></value>", "a<b"},
             {"<value><nil/></value>", "null"},
             {"<value><boolean>1</boolean></value>", "true"}}) {
        c.values = {expected};
        spec.rules.conditions = {c};
        auto r = run_all(spec, one(value));
        ASSERT_FALSE(r.error) << value;
        EXPECT_EQ(r.counters.records_out, 1u) << value;
        c.values = {"other"};
        spec.rules.conditions = {c};
        EXPECT_EQ(run_whole(spec, one(value)).counters.records_out, 0u) << value;
    }
}

TEST(XmlRpcFilter, WritesAnUntypedValueAsAString) {
    auto r = run_all(xmlrpc_spec({"name"}),
                     response({record({member("name", "<value>Jan  </value>\n")})}));
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, output_head +
                            "<value><struct><member><name>name</name><value><string>Jan  "
                            "</string></value></member></struct></value>" +
                            output_tail);
}

TEST(XmlRpcFilter, EntersStructsAndArraysForAllowedPathsBelow) {
    const std::string address = "<value><struct>\n" + member("city", text("Gent")) +
                                member("street", text("Kouter 1")) + "</struct></value>\n";
    const std::string contacts = "<value><array><data>\n" +
                                 record({member("name", text("An")), member("iban", text("X1"))}) +
                                 record({member("name", text("Bo")), member("iban", text("X2"))}) +
                                 integer(5) + "</data></array></value>\n";
    const std::string body =
        response({record({member("address", address), member("contacts", contacts),
                          member("country_id", many2one(20, "Belgium"))})});
    auto r = run_all(xmlrpc_spec({"address.city", "contacts.name", "country_id.name"}), body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              output_head +
                  "<value><struct>"
                  "<member><name>address</name><value><struct><member><name>city</name><value>"
                  "<string>Gent</string></value></member></struct></value></member>"
                  "<member><name>contacts</name><value><array><data>"
                  "<value><struct><member><name>name</name><value><string>An</string></value>"
                  "</member></struct></value>"
                  "<value><struct><member><name>name</name><value><string>Bo</string></value>"
                  "</member></struct></value>"
                  "</data></array></value></member>"
                  "<member><name>country_id</name><value><array><data></data></array></value>"
                  "</member>"
                  "</struct></value>" +
                  output_tail);
    const std::map<std::string, std::uint64_t, std::less<>> stripped{
        {"address.street", 1}, {"contacts", 1}, {"contacts.iban", 2}, {"country_id", 2}};
    EXPECT_EQ(r.counters.stripped_fields, stripped);
}

TEST(XmlRpcFilter, PassesADottedMemberNameOnlyWhenNamedExactly) {
    const std::string body =
        response({record({member("email.secret", text("s")), member("a.b", text("k"))})});
    auto r = run_all(xmlrpc_spec({"email", "a.b"}), body);
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output.find("secret"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("<name>a.b</name>"), std::string::npos) << r.output;
}

TEST(XmlRpcFilter, AnswersAnEmptyResultAsAnEmptyList) {
    auto r = run_all(xmlrpc_spec({"id"}), response({}));
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, output_head + output_tail);
    EXPECT_EQ(r.counters.records_in, 0u);
}

// Odoo answers a bad login or a failed call with HTTP 200 and a fault, whose faultString may
// quote the data (a traceback): nothing of it passes.
TEST(XmlRpcFilter, RefusesAFaultWithoutWritingAByte) {
    const std::string fault =
        "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n" +
        member("faultCode", integer(3)) + member("faultString", text("Access Denied x_iban=BE71")) +
        "</struct></value>\n</fault>\n</methodResponse>\n";
    filter_spec spec = xmlrpc_spec({"faultString", "faultCode"});
    auto r = run_all(spec, fault);
    EXPECT_EQ(r.error, make_error_code(filter_error::records_not_found));
    spec.strict_envelope = true;
    r = run_all(spec, fault);
    EXPECT_EQ(r.error, make_error_code(filter_error::records_not_found));
    EXPECT_TRUE(r.output.empty()) << r.output;
}

TEST(XmlRpcFilter, RefusesAResultThatIsNoListOfStructs) {
    for (std::string_view result :
         {"<value><int>12</int></value>", "<value><struct></struct></value>", "<value>text</value>",
          "<value><array><data><value><int>1</int></value></data>"
          "</array></value>",
          "<value><array><data><value></value></data></array></value>"}) {
        const std::string body = "<methodResponse><params><param>" + std::string(result) +
                                 "</param></params></methodResponse>";
        auto r = run_all(xmlrpc_spec({"id"}), body);
        EXPECT_EQ(r.error, make_error_code(filter_error::records_not_found)) << result;
    }
}

TEST(XmlRpcFilter, RefusesAnythingItDoesNotUnderstand) {
    const std::string ok = response({partner(1, "jan@example.be", true, false)});
    auto replaced = [&ok](std::string_view what, std::string_view with) {
        std::string b = ok;
        b.replace(b.find(what), what.size(), with);
        return b;
    };
    const std::vector<std::pair<std::string, filter_error>> cases{
        {replaced("<methodResponse>", "<methodResponse a=\"1\">"), filter_error::malformed},
        {replaced("<methodResponse>", "<methodResponse xmlns=\"urn:x\">"), filter_error::malformed},
        {replaced("<name>id</name>", "<name>id</name><!-- c -->"), filter_error::malformed},
        {replaced("<params>", "<params><?pi x?>"), filter_error::malformed},
        {replaced("<member>\n<name>id", "junk<member>\n<name>id"), filter_error::malformed},
        {replaced("<int>1</int>", "<int>1.5</int>"), filter_error::malformed},
        {replaced("<boolean>1</boolean>", "<boolean>true</boolean>"), filter_error::malformed},
        {replaced("<int>1</int>", "<float>1</float>"), filter_error::malformed},
        {replaced("<int>1</int>", "<ex:i8>1</ex:i8>"), filter_error::malformed},
        {replaced("<name>id</name>\n", ""), filter_error::malformed},
        {replaced("<name>id</name>", "<name></name>"), filter_error::malformed},
        {replaced("<name>id</name>", "<name>i<b/>d</name>"), filter_error::malformed},
        {replaced("<name>name</name>", "<name>id</name>"), filter_error::duplicate_key},
        {replaced("<value><int>1</int></value>", "<value><int>1</int><int>2</int></value>"),
         filter_error::malformed},
        {replaced("<value><int>1</int></value>", "<value>x<int>1</int></value>"),
         filter_error::malformed},
        {replaced("</param>\n", "</param>\n<param><value>1</value></param>"),
         filter_error::malformed},
        {replaced("</data></array></value>\n</param>",
                  "</data><data></data></array></value>\n</param>"),
         filter_error::malformed},
        {replaced("<value><string>Belgium</string></value>", "<value><nil>x</nil></value>"),
         filter_error::malformed},
        {"<?xml version='1.0'?>\n<!DOCTYPE m [<!ENTITY x 'y'>]>\n" +
             ok.substr(ok.find("<methodResponse")),
         filter_error::dtd_refused},
        {replaced("Jan &amp; Co", "&ext;"), filter_error::malformed},
        {replaced("<?xml version='1.0'?>", "<?xml version='1.0' encoding='ISO-8859-1'?>"),
         filter_error::malformed},
        {ok.substr(0, ok.size() - 20), filter_error::truncated},
        {replaced("<methodResponse>", "<methodResponse><x/>"), filter_error::malformed},
    };
    for (const auto& [body, expected] : cases) {
        auto r = run_all(xmlrpc_spec({"id", "name", "email", "country_id"}), body);
        EXPECT_EQ(r.error, make_error_code(expected)) << body;
        if (::testing::Test::HasFailure()) break;
    }
}

TEST(XmlRpcFilter, RefusesARecordLargerThanTheLimitAndNestingTooDeep) {
    filter_spec spec = xmlrpc_spec({"id"});
    spec.max_record_bytes = 256;
    const std::string big =
        record({member("id", integer(1)), member("x", text(std::string(400, 'a')))});
    auto r = run_all(spec, response({partner(1, "a@b.be", true, false), big}));
    EXPECT_EQ(r.error, make_error_code(filter_error::record_too_large));
    spec = xmlrpc_spec({"id"});
    spec.max_depth = 16;
    std::string deep = integer(1);
    for (int i = 0; i < 10; ++i) deep = "<value><array><data>" + deep + "</data></array></value>";
    r = run_all(spec, response({record({member("id", deep)})}));
    EXPECT_EQ(r.error, make_error_code(filter_error::too_deep));
}

TEST(XmlRpcFilter, StopsAtTheRecordLimit) {
    filter_spec spec = xmlrpc_spec({"id"});
    spec.max_records = 1;
    auto r = run_all(
        spec, response({record({member("id", integer(1))}), record({member("id", integer(2))})}));
    EXPECT_EQ(r.error, make_error_code(filter_error::record_limit_exceeded));
}

TEST(XmlRpcFilter, WritesTransformedValuesAsStringsAndUnreadableOnesAsFalse) {
    filter_spec spec = xmlrpc_spec({"id", "email", "country_id", "x_lifecycle"});
    spec.transforms = transform_set({{"email", transform_kind::mask, 3},
                                     {"country_id", transform_kind::mask, 1},
                                     {"id", transform_kind::truncate_chars, 1}},
                                    nullptr);
    auto r = run_all(spec, response({partner(12, "jan@example.be", true, false)}));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_NE(r.output.find("<member><name>id</name><value><string>1</string></value></member>"
                            "<member><name>email</name><value><string>***********.be</string>"
                            "</value></member>"
                            "<member><name>country_id</name><value><boolean>0</boolean></value>"
                            "</member>"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(r.output.find("Belgium"), std::string::npos);
    EXPECT_EQ(r.counters.transformed_fields.at("email"), 1u);
    EXPECT_EQ(r.counters.transform_failed.at("country_id"), 1u);
}

TEST(XmlRpcFilter, HoldsTheEnvelopeUntilTheFirstRecordAndMarksEachRecord) {
    filter_spec spec = xmlrpc_spec({"id"});
    spec.strict_envelope = true;
    const std::string body =
        response({record({member("id", integer(1))}), record({member("id", integer(2))})});
    auto filter = make_filter(spec);
    std::vector<record_mark> marks;
    filter->set_record_marks(&marks);
    std::string out;
    ASSERT_FALSE(filter->feed(body.substr(0, response_head.size()), out));
    EXPECT_TRUE(out.empty());  // the envelope is held: no record was reached yet
    ASSERT_FALSE(filter->feed(body.substr(response_head.size()), out));
    ASSERT_FALSE(filter->finish(out));
    ASSERT_EQ(marks.size(), 2u);
    EXPECT_EQ(out.substr(0, marks[0].end), output_head +
                                               "<value><struct><member><name>id</name><value><int>"
                                               "1</int></value></member></struct></value>");
    EXPECT_EQ(marks[1].records, 2u);
    EXPECT_EQ(out.substr(marks[1].end), output_tail);
}

}  // namespace
}  // namespace exportwall::filters
