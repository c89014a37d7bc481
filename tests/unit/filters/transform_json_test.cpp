// Field transforms in the JSON and NDJSON filters: kept values written transformed, in every
// chunking (splits inside strings, escapes and UTF-8 sequences), with each record shape listed
// twice so both the first decision for a path and its replay from the path cache are checked.

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "filters/record_filter.hpp"
#include "filters/transform.hpp"
#include "tests/unit/filters/transform_test_support.hpp"

namespace exportwall::filters {
namespace {

using testing::count_of;
using testing::pseudonym;
using testing::run_every_chunking;
using testing::transforms;

filter_spec json_spec(std::vector<std::string> allowed, std::vector<field_transform> list) {
    filter_spec spec;
    spec.format = body_format::json;
    spec.records = "/value";
    spec.allowed = field_set(std::move(allowed));
    spec.transforms = transforms(std::move(list));
    return spec;
}

// `{"value":[…]}` with `records` listed twice.
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

std::string q(std::string_view s) { return '"' + std::string(s) + '"'; }

const std::vector<field_transform> contact_transforms = {
    {"email", transform_kind::pseudonymise, 0},  {"postcode", transform_kind::truncate_chars, 2},
    {"birthdate", transform_kind::year, 0},      {"iban", transform_kind::mask, 4},
    {"city", transform_kind::truncate_chars, 3},
};

const std::vector<std::string> contact_records = {
    R"({"id":1,"email":"ann@example.org","postcode":"1000","birthdate":"1985-03-02",)"
    R"("iban":"NL91ABNA0417161234","city":"Zoë Ångström","phone":"+32 2 555"})",
    R"({"id":2,"email":"bob@example.org","postcode":"2000AB","birthdate":"1990-12-31T23:59:59Z",)"
    R"("iban":"DE89370400440532013000","city":"€uro","phone":"+32 2 556"})",
};

// The original values of contact_records that must never reach the output.
const std::vector<std::string_view> contact_originals = {"ann@example.org",
                                                         "bob@example.org",
                                                         "1000",
                                                         "2000AB",
                                                         "1985-03-02",
                                                         "1990-12-31",
                                                         "NL91ABNA0417161234",
                                                         "ABNA",
                                                         "Ångström",
                                                         "€uro",
                                                         "DE89370400440532013000",
                                                         "+32 2 555"};

void expect_absent(std::string_view output, const std::vector<std::string_view>& originals) {
    for (std::string_view o : originals) {
        EXPECT_EQ(output.find(o), std::string_view::npos) << "original " << o << " in output";
    }
}

TEST(JsonTransform, WritesEachTransformAsAString) {
    const filter_spec spec =
        json_spec({"id", "email", "postcode", "birthdate", "iban", "city"}, contact_transforms);
    const auto r = run_every_chunking(spec, twice(contact_records));
    ASSERT_FALSE(r.error) << r.error.message();
    const std::string first = R"({"id":1,"email":)" + q(pseudonym("ann@example.org")) +
                              R"(,"postcode":"10","birthdate":"1985",)"
                              R"("iban":"**************1234","city":"Zoë"})";
    const std::string second = R"({"id":2,"email":)" + q(pseudonym("bob@example.org")) +
                               R"(,"postcode":"20","birthdate":"1990",)"
                               R"("iban":"******************3000","city":"€ur"})";
    EXPECT_EQ(r.output, R"({"value":[)" + first + ',' + second + ',' + first + ',' + second + "]}");
    for (const auto& t : contact_transforms) {
        EXPECT_EQ(count_of(r.counters.transformed_fields, t.path), 4u) << t.path;
    }
    EXPECT_TRUE(r.counters.transform_failed.empty());
    EXPECT_EQ(count_of(r.counters.stripped_fields, "phone"), 4u);
    expect_absent(r.output, contact_originals);
}

TEST(JsonTransform, NdjsonWritesEachTransformAsAString) {
    filter_spec spec =
        json_spec({"id", "email", "postcode", "birthdate", "iban", "city"}, contact_transforms);
    spec.format = body_format::ndjson;
    std::string body;
    for (int pass = 0; pass < 2; ++pass) {
        for (const auto& record : contact_records) body += record + "\n";
    }
    const auto r = run_every_chunking(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    const std::string first = R"({"id":1,"email":)" + q(pseudonym("ann@example.org")) +
                              R"(,"postcode":"10","birthdate":"1985",)"
                              R"("iban":"**************1234","city":"Zoë"})";
    const std::string second = R"({"id":2,"email":)" + q(pseudonym("bob@example.org")) +
                               R"(,"postcode":"20","birthdate":"1990",)"
                               R"("iban":"******************3000","city":"€ur"})";
    EXPECT_EQ(r.output, first + "\n" + second + "\n" + first + "\n" + second + "\n");
    EXPECT_EQ(count_of(r.counters.transformed_fields, "email"), 4u);
    expect_absent(r.output, contact_originals);
}

TEST(JsonTransform, WritesNullWhereTheTransformCannotRead) {
    const filter_spec spec = json_spec(
        {"id", "birthdate", "email"},
        {{"birthdate", transform_kind::year, 0}, {"email", transform_kind::pseudonymise, 0}});
    const auto r = run_every_chunking(
        spec, twice({R"({"id":1,"birthdate":"soon","email":null})",
                     R"({"id":2,"birthdate":{"y":"1985-03-02","secret":"s3cr3t"},"email":[]})",
                     R"({"id":3,"birthdate":["1985-03-02","s3cr3t"],"email":{}})",
                     R"({"id":4,"birthdate":null,"email":[{"value":"s3cr3t@x"}]})",
                     R"({"id":5,"birthdate":19850302})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    const std::string records = R"({"id":1,"birthdate":null,"email":null},)"
                                R"({"id":2,"birthdate":null,"email":null},)"
                                R"({"id":3,"birthdate":null,"email":null},)"
                                R"({"id":4,"birthdate":null,"email":null},)"
                                R"({"id":5,"birthdate":null})";
    EXPECT_EQ(r.output, R"({"value":[)" + records + ',' + records + "]}");
    EXPECT_EQ(count_of(r.counters.transform_failed, "birthdate"), 10u);
    EXPECT_EQ(count_of(r.counters.transform_failed, "email"), 8u);
    EXPECT_TRUE(r.counters.transformed_fields.empty());
    expect_absent(r.output, {"soon", "1985", "s3cr3t"});
}

TEST(JsonTransform, NumbersAndLiteralsAreTransformedFromTheirLexeme) {
    const filter_spec spec =
        json_spec({"amount", "zip", "flag", "n"}, {{"amount", transform_kind::pseudonymise, 0},
                                                   {"zip", transform_kind::truncate_chars, 3},
                                                   {"flag", transform_kind::mask, 1},
                                                   {"n", transform_kind::truncate_chars, 2}});
    const auto r = run_every_chunking(
        spec, twice({R"({"amount":12.50,"zip":12345,"flag":true,"n":-0.5e10})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    const std::string record =
        R"({"amount":)" + q(pseudonym("12.50")) + R"(,"zip":"123","flag":"***e","n":"-0"})";
    EXPECT_EQ(r.output, R"({"value":[)" + record + ',' + record + "]}");
}

TEST(JsonTransform, TransformedTextIsEscaped) {
    const filter_spec spec = json_spec({"a", "b", "c"}, {{"a", transform_kind::truncate_chars, 6},
                                                         {"b", transform_kind::mask, 1},
                                                         {"c", transform_kind::truncate_chars, 2}});
    const auto r = run_every_chunking(
        spec, twice({R"({"a":"a\"b\\c\u0001d","b":"x\"","c":"\u00e9\ud83d\ude00z"})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    const std::string record = R"({"a":"a\"b\\c\u0001","b":"*\"","c":"é😀"})";
    EXPECT_EQ(r.output, R"({"value":[)" + record + ',' + record + "]}");
}

TEST(JsonTransform, RulesReadTheOriginalValue) {
    filter_spec spec = json_spec(
        {"id", "birthdate", "email"},
        {{"birthdate", transform_kind::year, 0}, {"email", transform_kind::pseudonymise, 0}});
    spec.rules.conditions.push_back(
        {"birthdate", condition_op::in_set, {"1985-03-02"}, false, drop_reason::condition});
    spec.rules.suppression_fields = {"email"};
    spec.rules.suppressed = [](const record_fields& f) { return f.find("email") == "gone@x"; };
    const auto r =
        run_every_chunking(spec, twice({R"({"id":1,"birthdate":"1985-03-02","email":"kept@x"})",
                                        R"({"id":2,"birthdate":"1985-07-07","email":"kept@x"})",
                                        R"({"id":3,"birthdate":"1985-03-02","email":"gone@x"})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    const std::string record =
        R"({"id":1,"birthdate":"1985","email":)" + q(pseudonym("kept@x")) + "}";
    EXPECT_EQ(r.output, R"({"value":[)" + record + ',' + record + "]}");
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::condition)], 2u);
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::suppressed)], 2u);
    // Only values written count: the dropped records' were transformed while they were buffered.
    EXPECT_EQ(r.counters.transformed_fields,
              (std::map<std::string, std::uint64_t, std::less<>>{{"birthdate", 2}, {"email", 2}}));
}

TEST(JsonTransform, ReachesInsideAKeptObjectAndAList) {
    const filter_spec spec = json_spec({"id", "address", "emails"},
                                       {{"address.postcode", transform_kind::truncate_chars, 2},
                                        {"emails.value", transform_kind::pseudonymise, 0}});
    const auto r = run_every_chunking(
        spec, twice({R"({"id":1,"address":{"city":"Gent","postcode":"9000",)"
                     R"("postcode@display":"9000 Gent"},)"
                     R"("emails":[{"value":"a@x","primary":true},{"value":"b@x"}]})",
                     R"({"id":2,"address":{"postcode":{"zip":"9000"}},"emails":[]})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    const std::string records =
        R"({"id":1,"address":{"city":"Gent","postcode":"90"},"emails":[{"value":)" +
        q(pseudonym("a@x")) + R"(,"primary":true},{"value":)" + q(pseudonym("b@x")) +
        "}]},"
        R"({"id":2,"address":{"postcode":null},"emails":[]})";
    EXPECT_EQ(r.output, R"({"value":[)" + records + ',' + records + "]}");
    EXPECT_EQ(count_of(r.counters.transformed_fields, "address.postcode"), 2u);
    EXPECT_EQ(count_of(r.counters.transform_failed, "address.postcode"), 2u);
    EXPECT_EQ(count_of(r.counters.transformed_fields, "emails.value"), 4u);
    // The annotation would show the original: stripped with the field it annotates transformed.
    EXPECT_EQ(count_of(r.counters.stripped_fields, "address.postcode@display"), 2u);
    expect_absent(r.output, {"9000", "a@x", "b@x"});
}

TEST(JsonTransform, ReachesAFieldUnderADescendedObject) {
    const filter_spec spec =
        json_spec({"id", "address.postcode"}, {{"address.postcode", transform_kind::mask, 2}});
    const auto r = run_every_chunking(
        spec, twice({R"({"id":1,"address":{"city":"Gent","postcode":"9000"}})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    const std::string record = R"({"id":1,"address":{"postcode":"**00"}})";
    EXPECT_EQ(r.output, R"({"value":[)" + record + ',' + record + "]}");
}

TEST(JsonTransform, ContainerAtATransformedPathIsNullEvenWhenItsMembersAreAllowed) {
    // `address` is entered for address.city, but a transform reads `address` as one value.
    const filter_spec spec =
        json_spec({"id", "address.city"}, {{"address", transform_kind::pseudonymise, 0}});
    const auto r = run_every_chunking(
        spec, twice({R"({"id":1,"address":{"city":"Gent"}})", R"({"id":2,"address":"Gent"})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    // The scalar at `address` is neither kept nor entered: stripped as before.
    const std::string records = R"({"id":1,"address":null},{"id":2})";
    EXPECT_EQ(r.output, R"({"value":[)" + records + ',' + records + "]}");
    EXPECT_EQ(count_of(r.counters.transform_failed, "address"), 2u);
}

TEST(JsonTransform, AnnotationOfATransformedFieldIsStripped) {
    const filter_spec spec = json_spec({"emailaddress1", "birthdate"},
                                       {{"emailaddress1", transform_kind::pseudonymise, 0}});
    const auto r = run_every_chunking(
        spec, twice({R"({"emailaddress1":"a@x",)"
                     R"("emailaddress1@OData.Community.Display.V1.FormattedValue":"a@x",)"
                     R"("birthdate":"1985-03-02",)"
                     R"("birthdate@OData.Community.Display.V1.FormattedValue":"3/2/1985"})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    const std::string record =
        R"({"emailaddress1":)" + q(pseudonym("a@x")) +
        R"(,"birthdate":"1985-03-02","birthdate@OData.Community.Display.V1.FormattedValue":)"
        R"("3/2/1985"})";
    EXPECT_EQ(r.output, R"({"value":[)" + record + ',' + record + "]}");
    EXPECT_EQ(count_of(r.counters.stripped_fields,
                       "emailaddress1@OData.Community.Display.V1.FormattedValue"),
              2u);
}

TEST(JsonTransform, KeyWithADotBelowATransformedPathIsStripped) {
    // "email.x" has the path of something inside `email`: part of the transformed value, never
    // written as received, even where the allow-list names it.
    const filter_spec spec =
        json_spec({"id", "contact", "email", "email.x"},
                  {{"contact.email", transform_kind::mask, 0}, {"email", transform_kind::mask, 0}});
    const auto r =
        run_every_chunking(spec, twice({R"({"id":1,"contact":{"email":"a@x","email.x":"a@x"},)"
                                        R"("email":"b@x","email.x":"b@x"})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    const std::string record = R"({"id":1,"contact":{"email":"***"},"email":"***"})";
    EXPECT_EQ(r.output, R"({"value":[)" + record + ',' + record + "]}");
    EXPECT_EQ(count_of(r.counters.stripped_fields, "contact.email.x"), 2u);
    EXPECT_EQ(count_of(r.counters.stripped_fields, "email.x"), 2u);
    expect_absent(r.output, {"a@x", "b@x"});
}

TEST(JsonTransform, PathsAreRelativeToTheFieldRoot) {
    filter_spec spec = json_spec({"email"}, {{"email", transform_kind::pseudonymise, 0}});
    spec.records = "/results";
    spec.field_root = "properties";
    const auto r = run_every_chunking(
        spec, R"({"results":[{"id":"1","properties":{"email":"a@x","phone":"1"}},)"
              R"({"id":"2","properties":{"email":"b@x"}}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"results":[{"properties":{"email":)" + q(pseudonym("a@x")) +
                            R"(}},{"properties":{"email":)" + q(pseudonym("b@x")) + "}}]}");
}

TEST(JsonTransform, SingleRecordIsTransformed) {
    filter_spec spec = json_spec({"id", "email"}, {{"email", transform_kind::mask, 2}});
    spec.records = "/data";
    spec.single_record = true;
    const auto r = run_every_chunking(spec, R"({"data":{"id":7,"email":"a@xy"}})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":{"id":7,"email":"**xy"}})");
}

TEST(JsonTransform, KeysTooLongToCacheAreTransformedToo) {
    const std::string key(100, 'k');
    const filter_spec spec = json_spec(
        {"id", key, "obj"},
        {{key, transform_kind::truncate_chars, 1}, {"obj." + key, transform_kind::mask, 0}});
    const auto r = run_every_chunking(
        spec, twice({R"({"id":1,")" + key + R"(":"abc","obj":{")" + key + R"(":"xy"}})",
                     R"({"id":2,")" + key + R"(":{"a":1}})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    const std::string records = R"({"id":1,")" + key + R"(":"a","obj":{")" + key +
                                R"(":"**"}},{"id":2,")" + key + R"(":null})";
    EXPECT_EQ(r.output, R"({"value":[)" + records + ',' + records + "]}");
}

TEST(JsonTransform, NestedSetsUseTheirOwnTransforms) {
    filter_spec spec = json_spec(
        {"id", "name", "contacts"},
        {{"name", transform_kind::truncate_chars, 1}, {"contacts.email", transform_kind::mask, 0}});
    spec.records = "/data";
    spec.strict_envelope = true;
    nested_record_set contacts;
    contacts.path = "contacts";
    contacts.in_record = true;
    contacts.allowed = field_set({"id", "email"});
    contacts.transforms = transforms({{"email", transform_kind::pseudonymise, 0}});
    nested_record_set people;
    people.path = "/included";
    people.discriminator = "type";
    people.discriminator_value = "people";
    people.field_root = "attributes";
    people.allowed = field_set({"email"});
    people.transforms = transforms({{"email", transform_kind::truncate_chars, 3}});
    spec.nested = {contacts, people};
    // A lead the main rules drop takes its contacts with it: their values are not counted.
    spec.rules.conditions.push_back(
        {"status", condition_op::equals, {"open"}, true, drop_reason::condition});
    const auto r = run_every_chunking(
        spec, R"({"data":[{"id":"l1","name":"Acme","contacts":[{"id":"c1","email":"a@x"},)"
              R"({"id":"c2","email":"b@x"}]},)"
              R"({"id":"l2","name":"Open","status":"open","contacts":[{"id":"c3","email":"c@x"}]})"
              R"(],"included":[)"
              R"({"type":"people","id":"9","attributes":{"email":"ann@x"}}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":[{"id":"l1","name":"A","contacts":[{"id":"c1","email":)" +
                            q(pseudonym("a@x")) + R"(},{"id":"c2","email":)" + q(pseudonym("b@x")) +
                            R"(}]}],"included":[{"type":"people","attributes":{"email":"ann"}}]})");
    EXPECT_EQ(r.counters.transformed_fields,
              (std::map<std::string, std::uint64_t, std::less<>>{
                  {"contacts.email", 2}, {"included[people].email", 1}, {"name", 1}}));
}

TEST(JsonTransform, NoTransformOnAKeptPathLeavesTheOutputAsItWas) {
    // A transform on a stripped field changes nothing: the field is gone anyway.
    const std::string body = twice(contact_records);
    const auto plain = run_every_chunking(json_spec({"id", "email"}, {}), body);
    const auto with = run_every_chunking(
        json_spec({"id", "email"}, {{"phone", transform_kind::pseudonymise, 0}}), body);
    ASSERT_FALSE(plain.error);
    ASSERT_FALSE(with.error);
    EXPECT_EQ(with.output, plain.output);
    EXPECT_TRUE(with.counters.transformed_fields.empty());
    EXPECT_TRUE(with.counters.transform_failed.empty());
}

TEST(JsonTransform, WithoutAKeyPseudonymsAreNull) {
    filter_spec spec = json_spec({"id", "email"}, {});
    spec.transforms = transform_set({{"email", transform_kind::pseudonymise, 0}}, nullptr);
    const auto r = run_every_chunking(spec, twice({R"({"id":1,"email":"a@x"})"}));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"value":[{"id":1,"email":null},{"id":1,"email":null}]})");
    EXPECT_EQ(count_of(r.counters.transform_failed, "email"), 2u);
}

}  // namespace
}  // namespace exportwall::filters
