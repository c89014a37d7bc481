// Field transforms in the CSV and XML filters, in every chunking (splits inside quoted cells,
// CRLF pairs, UTF-8 sequences, tags and character references).

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "filters/record_filter.hpp"
#include "filters/transform.hpp"
#include "tests/unit/filters/transform_test_support.hpp"

namespace exportwall::filters {
namespace {

using counter_map = std::map<std::string, std::uint64_t, std::less<>>;
using testing::count_of;
using testing::pseudonym;
using testing::run_every_chunking;
using testing::transforms;

void expect_absent(std::string_view output, const std::vector<std::string_view>& originals) {
    for (std::string_view o : originals) {
        EXPECT_EQ(output.find(o), std::string_view::npos) << "original " << o << " in output";
    }
}

const std::vector<field_transform> contact_transforms = {
    {"email", transform_kind::pseudonymise, 0},  {"postcode", transform_kind::truncate_chars, 2},
    {"birthdate", transform_kind::year, 0},      {"iban", transform_kind::mask, 4},
    {"city", transform_kind::truncate_chars, 3},
};

const std::vector<std::string_view> contact_originals = {"ann@example.org",
                                                         "bob@example.org",
                                                         "1000",
                                                         "1985-03-02",
                                                         "1990-12-31",
                                                         "NL91ABNA0417161234",
                                                         "ABNA",
                                                         "Ångström",
                                                         "€uro",
                                                         "+32 2 555"};

// --- CSV -----------------------------------------------------------------------------------------

filter_spec csv_spec(std::vector<std::string> allowed, std::vector<field_transform> list) {
    filter_spec spec;
    spec.format = body_format::csv;
    spec.allowed = field_set(std::move(allowed));
    spec.transforms = transforms(std::move(list));
    return spec;
}

TEST(CsvTransform, WritesEachTransformAsACell) {
    const filter_spec spec =
        csv_spec({"id", "email", "postcode", "birthdate", "iban", "city"}, contact_transforms);
    const auto r = run_every_chunking(
        spec,
        "id,email,postcode,birthdate,iban,city,phone\r\n"
        "1,ann@example.org,1000,1985-03-02,NL91ABNA0417161234,Zoë Ångström,+32 2 555\r\n"
        "2,\"bob@example.org\",2000AB,1990-12-31T23:59:59Z,\"NL91ABNA0417161234\",€uro,+32 2 "
        "555\r\n");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "id,email,postcode,birthdate,iban,city\r\n"
              "1," +
                  pseudonym("ann@example.org") +
                  ",10,1985,**************1234,Zoë\r\n"
                  "2," +
                  pseudonym("bob@example.org") + ",20,1990,**************1234,€ur\r\n");
    for (const auto& t : contact_transforms) {
        EXPECT_EQ(count_of(r.counters.transformed_fields, t.path), 2u) << t.path;
    }
    EXPECT_TRUE(r.counters.transform_failed.empty());
    expect_absent(r.output, contact_originals);
}

TEST(CsvTransform, UnreadableCellIsWrittenEmptyAndEmptyStaysEmpty) {
    const filter_spec spec = csv_spec(
        {"id", "birthdate", "name"},
        {{"birthdate", transform_kind::year, 0}, {"name", transform_kind::truncate_chars, 1}});
    const auto r = run_every_chunking(spec,
                                      "id,birthdate,name\n"
                                      "1,soon,\xff\xfe\n"
                                      "2,,\n"
                                      "3,1985-02-30,\"\"\n");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, "id,birthdate,name\n1,,\n2,,\n3,,\n");
    EXPECT_EQ(r.counters.transform_failed, (counter_map{{"birthdate", 2}, {"name", 1}}));
    EXPECT_EQ(r.counters.transformed_fields, (counter_map{{"birthdate", 1}, {"name", 2}}));
    expect_absent(r.output, {"soon", "\xff", "1985"});
}

TEST(CsvTransform, TransformedCellIsQuotedAndGuardedLikeAnyOther) {
    const filter_spec spec =
        csv_spec({"note", "tags", "quote"}, {{"note", transform_kind::truncate_chars, 2},
                                             {"tags", transform_kind::truncate_chars, 3},
                                             {"quote", transform_kind::mask, 2}});
    const auto r = run_every_chunking(spec,
                                      "note,tags,quote\r\n"
                                      "-123,\"a,b,c\",\"ab\"\"c\"\"\"\r\n"
                                      "\"=HYPERLINK(\"\"x\"\")\",abcd,xyz\r\n");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "note,tags,quote\r\n"
              "'-1,\"a,b\",\"***c\"\"\"\r\n"
              "'=H,abc,*yz\r\n");
}

TEST(CsvTransform, RulesReadTheOriginalCell) {
    filter_spec spec = csv_spec({"id", "birthdate"}, {{"birthdate", transform_kind::year, 0}});
    spec.rules.conditions.push_back(
        {"birthdate", condition_op::in_set, {"1985-03-02"}, false, drop_reason::condition});
    const auto r = run_every_chunking(spec, "id,birthdate\n1,1985-03-02\n2,1985-07-07\n");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, "id,birthdate\n1,1985\n");
    EXPECT_EQ(r.counters.transformed_fields, (counter_map{{"birthdate", 1}}));
}

TEST(CsvTransform, HeaderNamesAreNeverTransformed) {
    const filter_spec spec = csv_spec({"email"}, {{"email", transform_kind::mask, 0}});
    const auto r = run_every_chunking(spec, "email\na@x\n");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, "email\n***\n");
}

// --- XML -----------------------------------------------------------------------------------------

constexpr std::string_view xsi = R"( xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance")";

filter_spec xml_spec(std::vector<std::string> allowed, std::vector<field_transform> list) {
    filter_spec spec;
    spec.format = body_format::xml;
    spec.records = "/export/record";
    spec.allowed = field_set(std::move(allowed));
    spec.transforms = transforms(std::move(list));
    return spec;
}

std::string xml_export(const std::vector<std::string>& records) {
    std::string body = "<export" + std::string(xsi) + ">";
    for (const auto& r : records) body += r;
    return body + "</export>";
}

TEST(XmlTransform, WritesEachTransformAsElementText) {
    std::vector<field_transform> list = contact_transforms;
    list.push_back({"@id", transform_kind::pseudonymise, 0});
    const filter_spec spec =
        xml_spec({"@id", "email", "postcode", "birthdate", "iban", "city"}, list);
    const std::string record =
        R"(<record id="C-1001"><email>ann@example.org</email><postcode>1000</postcode>)"
        R"(<birthdate>1985-03-02T10:00:00Z</birthdate><iban>NL91ABNA0417161234</iban>)"
        R"(<city>Zoë Ångström</city><phone>+32 2 555</phone></record>)";
    const auto r = run_every_chunking(spec, xml_export({record, record}));
    ASSERT_FALSE(r.error) << r.error.message();
    const std::string expected = R"(<record id=")" + pseudonym("C-1001") + R"("><email>)" +
                                 pseudonym("ann@example.org") +
                                 R"(</email><postcode>10</postcode><birthdate>1985</birthdate>)"
                                 R"(<iban>**************1234</iban><city>Zoë</city></record>)";
    EXPECT_EQ(r.output, xml_export({expected, expected}));
    EXPECT_EQ(count_of(r.counters.transformed_fields, "@id"), 2u);
    for (const auto& t : contact_transforms) {
        EXPECT_EQ(count_of(r.counters.transformed_fields, t.path), 2u) << t.path;
    }
    expect_absent(r.output, contact_originals);
    expect_absent(r.output, {"C-1001"});
}

TEST(XmlTransform, TextSplitByReferencesIsTransformedWhole) {
    const filter_spec spec = xml_spec({"note", "m"}, {{"note", transform_kind::truncate_chars, 5},
                                                      {"m", transform_kind::mask, 1}});
    const auto r = run_every_chunking(
        spec, xml_export({"<record><note>a&amp;b&lt;&#233;d</note><m>x&amp;&#x20AC;</m></record>",
                          "<record><note><![CDATA[<x>&]]>tail</note><m>ab</m></record>"}));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, xml_export({"<record><note>a&amp;b&lt;é</note><m>**€</m></record>",
                                    "<record><note>&lt;x&gt;&amp;t</note><m>*b</m></record>"}));
}

TEST(XmlTransform, ElementTheTransformCannotReadIsWrittenEmpty) {
    const filter_spec spec =
        xml_spec({"id", "birthdate"}, {{"birthdate", transform_kind::year, 0}});
    const auto r = run_every_chunking(
        spec,
        xml_export({"<record><id>1</id><birthdate>soon</birthdate></record>",
                    "<record><id>2</id><birthdate><y>1985-03-02</y></birthdate></record>",
                    "<record><id>3</id><birthdate>1985-03-02<b>s3cr3t</b></birthdate></record>",
                    R"(<record><id>4</id><birthdate xsi:nil="true"/></record>)",
                    R"(<record><id>5</id><birthdate kind="dob">1985-03-02</birthdate></record>)"}));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, xml_export({"<record><id>1</id><birthdate/></record>",
                                    "<record><id>2</id><birthdate/></record>",
                                    "<record><id>3</id><birthdate/></record>",
                                    R"(<record><id>4</id><birthdate xsi:nil="true"/></record>)",
                                    "<record><id>5</id><birthdate>1985</birthdate></record>"}));
    EXPECT_EQ(r.counters.transform_failed, (counter_map{{"birthdate", 4}}));
    EXPECT_EQ(r.counters.transformed_fields, (counter_map{{"birthdate", 1}}));
    // An attribute of a transformed element could repeat its value: stripped.
    EXPECT_EQ(count_of(r.counters.stripped_fields, "birthdate.@kind"), 1u);
    expect_absent(r.output, {"soon", "03-02", "s3cr3t", "dob"});
}

TEST(XmlTransform, ReachesInsideAKeptElementAndItsAttributes) {
    const filter_spec spec =
        xml_spec({"address"}, {{"address.postcode", transform_kind::truncate_chars, 2},
                               {"address.@code", transform_kind::mask, 0}});
    const auto r =
        run_every_chunking(spec, xml_export({R"(<record><address code="BE-9000"><city>Gent</city>)"
                                             R"(<postcode>9000</postcode></address></record>)"}));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, xml_export({R"(<record><address code="*******"><city>Gent</city>)"
                                    R"(<postcode>90</postcode></address></record>)"}));
}

TEST(XmlTransform, ElementOnlyEnteredForItsMembersIsWrittenEmpty) {
    // `address` is entered for address.city; its own text is not kept, so not written in any form.
    const filter_spec spec =
        xml_spec({"address.city"}, {{"address", transform_kind::pseudonymise, 0}});
    const auto r = run_every_chunking(
        spec, xml_export({"<record><address>Main St 1<city>Gent</city></address></record>",
                          "<record><address>Main St 1</address></record>"}));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, xml_export({"<record><address/></record>", "<record><address/></record>"}));
    EXPECT_EQ(r.counters.transform_failed, (counter_map{{"address", 2}}));
    expect_absent(r.output, {"Main", "Gent", "ps_"});
}

TEST(XmlTransform, ElementNameWithADotBelowATransformedPathIsStripped) {
    const filter_spec spec =
        xml_spec({"contact", "email", "email.x"},
                 {{"contact.email", transform_kind::mask, 0}, {"email", transform_kind::mask, 0}});
    const auto r = run_every_chunking(
        spec, xml_export({"<record><contact><email>a@x</email><email.x>a@x</email.x></contact>"
                          "<email>b@x</email><email.x>b@x</email.x></record>"}));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(
        r.output,
        xml_export({"<record><contact><email>***</email></contact><email>***</email></record>"}));
    EXPECT_EQ(count_of(r.counters.stripped_fields, "contact.email.x"), 1u);
    EXPECT_EQ(count_of(r.counters.stripped_fields, "email.x"), 1u);
    expect_absent(r.output, {"a@x", "b@x"});
}

TEST(XmlTransform, RulesReadTheOriginalText) {
    filter_spec spec = xml_spec({"id", "birthdate"}, {{"birthdate", transform_kind::year, 0}});
    spec.rules.conditions.push_back(
        {"birthdate", condition_op::in_set, {"1985-03-02"}, false, drop_reason::condition});
    const auto r = run_every_chunking(
        spec, xml_export({"<record><id>1</id><birthdate>1985-03-02</birthdate></record>",
                          "<record><id>2</id><birthdate>1985-07-07</birthdate></record>"}));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, xml_export({"<record><id>1</id><birthdate>1985</birthdate></record>"}));
    // The dropped record's value was transformed while it was buffered: not counted.
    EXPECT_EQ(r.counters.transformed_fields, (counter_map{{"birthdate", 1}}));
}

TEST(XmlTransform, PathsAreRelativeToTheFieldRoot) {
    filter_spec spec = xml_spec({"email"}, {{"email", transform_kind::pseudonymise, 0}});
    spec.field_root = "fields";
    const auto r = run_every_chunking(
        spec, xml_export({"<record><fields><email>a@x</email><phone>1</phone></fields></record>"}));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, xml_export({"<record><fields><email>" + pseudonym("a@x") +
                                    "</email></fields></record>"}));
    EXPECT_EQ(r.counters.transformed_fields, (counter_map{{"email", 1}}));
}

}  // namespace
}  // namespace exportwall::filters
