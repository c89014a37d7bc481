#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "filters/record_filter.hpp"
#include "filters/xml/xml_external_entities.hpp"
#include "tests/unit/filters/chunked_run.hpp"
#include "tests/unit/filters/xml/xml_check.hpp"

namespace exportwall::filters {
namespace {

using testing::chunkings;
using testing::run_cut;
using testing::run_result;
using testing::run_whole;

constexpr const char* query_records = "/Envelope/Body/queryResponse/result/records";

filter_spec xml_spec(std::vector<std::string> allowed, std::string records = query_records) {
    filter_spec spec;
    spec.format = body_format::xml;
    spec.records = std::move(records);
    spec.allowed = field_set(std::move(allowed));
    return spec;
}

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

const std::string envelope_head =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
    "xmlns=\"urn:partner.soap.sforce.com\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
    "xmlns:sf=\"urn:sobject.partner.soap.sforce.com\">"
    "<soapenv:Body><queryResponse><result xsi:type=\"QueryResult\"><done>true</done>"
    "<queryLocator>01gD0000002HU6KIAW-2000</queryLocator>";
const std::string envelope_tail =
    "<size>2</size></result></queryResponse></soapenv:Body></soapenv:Envelope>";

std::string contact(std::string_view id, std::string_view consent) {
    std::string r = "<records xsi:type=\"sf:sObject\"><sf:type>Contact</sf:type>";
    r.append("<sf:Id>").append(id).append("</sf:Id><sf:Id>").append(id).append("</sf:Id>");
    r.append(
        "<sf:Email>jan&amp;co@example.com</sf:Email><sf:Phone>+32 2 555</sf:Phone>"
        "<sf:Consent__c>");
    r.append(consent);
    r.append(
        "</sf:Consent__c><sf:Account xsi:type=\"sf:sObject\"><sf:type>Account</sf:type>"
        "<sf:Name>Janssens &lt;BV&gt; &#233;</sf:Name><sf:Iban>BE71</sf:Iban></sf:Account>"
        "<sf:Notes><![CDATA[a <b> & \"c\" ]]]></sf:Notes></records>");
    return r;
}

record_condition consent_required() {
    record_condition c;
    c.field = "Consent__c";
    c.op = condition_op::is_true;
    c.reason = drop_reason::no_consent;
    return c;
}

TEST(XmlFilter, StripsFieldsAndDropsRecordsInEveryChunking) {
    const std::string body =
        envelope_head + contact("003A", "true") + contact("003B", "false") + envelope_tail;
    filter_spec spec = xml_spec({"Id", "Email", "Account.Name", "Notes"});
    spec.rules.conditions.push_back(consent_required());
    auto r = run_all(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              envelope_head +
                  "<records><sf:Id>003A</sf:Id><sf:Id>003A</sf:Id>"
                  "<sf:Email>jan&amp;co@example.com</sf:Email>"
                  "<sf:Account><sf:Name>Janssens &lt;BV&gt; \xC3\xA9</sf:Name></sf:Account>"
                  "<sf:Notes>a &lt;b&gt; &amp; \"c\" ]</sf:Notes></records>" +
                  envelope_tail);
    EXPECT_TRUE(testing::well_formed_xml(r.output));
    EXPECT_EQ(r.counters.records_in, 2u);
    EXPECT_EQ(r.counters.records_out, 1u);
    EXPECT_EQ(dropped(r, drop_reason::no_consent), 1u);
    // Every removed occurrence counts, in the dropped record too.
    const std::map<std::string, std::uint64_t, std::less<>> stripped{
        {"@type", 2},      {"Account.@type", 2}, {"Account.Iban", 2}, {"Account.type", 2},
        {"Consent__c", 2}, {"Phone", 2},         {"type", 2}};
    EXPECT_EQ(r.counters.stripped_fields, stripped);
    EXPECT_EQ(r.counters.bytes_in, body.size());
    EXPECT_EQ(r.counters.bytes_out, r.output.size());
}

// Expat may hold back bytes until more arrive (2.6's reparse deferral, in Debian 12's security
// updates); a NUL ends the body, and what expat held before it is read first: the refusal of a
// records' sibling with child elements, not the NUL, whatever the chunking (found by fuzz_xml).
TEST(XmlFilter, AFaultBeforeANulIsReportedFirstInEveryChunking) {
    const filter_spec spec = xml_spec({"a"}, "/r/rec");
    const std::string body("<r xnsp=\"U\"><p><a>\0", 19);
    const run_result whole = run_whole(spec, body);
    EXPECT_EQ(whole.error, filter_error::records_not_found);
    for (std::size_t cut = 0; cut <= body.size(); ++cut)
        EXPECT_EQ(run_cut(spec, body, {cut}).error, whole.error) << "cut at " << cut;
    // A body whose bytes before the NUL hold no fault fails at the NUL.
    const std::string clean("<r><rec><a>1</a></rec>\0", 23);
    for (std::size_t cut = 0; cut <= clean.size(); ++cut)
        EXPECT_EQ(run_cut(spec, clean, {cut}).error, filter_error::malformed) << "cut at " << cut;
}

TEST(XmlFilter, KeepsAttributesTheAllowListNames) {
    const std::string body = envelope_head + contact("003A", "true") + envelope_tail;
    auto r = run_all(xml_spec({"@type", "Account"}), body);
    ASSERT_FALSE(r.error);
    EXPECT_NE(r.output.find("<records xsi:type=\"sf:sObject\"><sf:Account xsi:type=\"sf:sObject\">"
                            "<sf:type>Account</sf:type>"),
              std::string::npos);
    EXPECT_EQ(r.output.find("sf:Email"), std::string::npos);
    EXPECT_TRUE(testing::well_formed_xml(r.output));
}

TEST(XmlFilter, DropsWhitespaceBeforeStrippedFields) {
    const std::string body =
        "<Envelope><Body><queryResponse><result>\n"
        "  <records>\n"
        "    <Id>1</Id>\n"
        "    <Email>a@example.com</Email>\n"
        "    <Name>A</Name>\n"
        "  </records>\n"
        "</result></queryResponse></Body></Envelope>";
    auto r = run_all(xml_spec({"Id", "Name"}), body);
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output,
              "<Envelope><Body><queryResponse><result>\n"
              "  <records>\n"
              "    <Id>1</Id>\n"
              "    <Name>A</Name>\n"
              "  </records>\n"
              "</result></queryResponse></Body></Envelope>");
}

TEST(XmlFilter, ConditionsReadStrippedNestedFieldsAndAttributes) {
    const std::string body =
        "<Envelope><Body><queryResponse><result>"
        "<records kind=\"customer\"><Id>1</Id><Privacy><Consent>true</Consent></Privacy></records>"
        "<records kind=\"lead\"><Id>2</Id><Privacy><Consent>true</Consent></Privacy></records>"
        "<records kind=\"customer\"><Id>3</Id><Privacy><Consent>no</Consent></Privacy></records>"
        "<records kind=\"customer\"><Id>4</Id><Privacy><Objected>true</Objected>"
        "<Consent>true</Consent></Privacy></records>"
        "</result></queryResponse></Body></Envelope>";
    filter_spec spec = xml_spec({"Id"});
    record_condition subject;
    subject.field = "@kind";
    subject.op = condition_op::in_set;
    subject.values = {"customer"};
    subject.reason = drop_reason::subject_not_allowed;
    record_condition consent = consent_required();
    consent.field = "Privacy.Consent";
    record_condition objection;
    objection.field = "Privacy.Objected";
    objection.op = condition_op::is_set;
    objection.exclude = true;
    objection.reason = drop_reason::objected;
    spec.rules.conditions = {subject, consent, objection};
    auto r = run_all(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "<Envelope><Body><queryResponse><result><records><Id>1</Id></records>"
              "</result></queryResponse></Body></Envelope>");
    EXPECT_EQ(dropped(r, drop_reason::subject_not_allowed), 1u);
    EXPECT_EQ(dropped(r, drop_reason::no_consent), 1u);
    EXPECT_EQ(dropped(r, drop_reason::objected), 1u);
    EXPECT_EQ(r.counters.stripped_fields.at("Privacy"), 4u);
    EXPECT_EQ(r.counters.stripped_fields.at("@kind"), 4u);
}

TEST(XmlFilter, NilElementReadsAsNull) {
    const std::string body =
        "<r xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><records>"
        "<Id>1</Id><Email xsi:nil=\"true\"/></records></r>";
    filter_spec spec = xml_spec({"Id", "Email"}, "/r/records");
    record_condition email;
    email.field = "Email";
    email.op = condition_op::not_empty;
    spec.rules.conditions.push_back(email);
    auto r = run_all(spec, body);
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.counters.records_out, 0u);
    EXPECT_EQ(dropped(r, drop_reason::condition), 1u);
}

TEST(XmlFilter, PreservesPrefixesDefaultNamespacesAndUndeclarations) {
    const std::string body =
        "<a:root xmlns:a=\"urn:a\"><a:list><rec xmlns=\"urn:d\" xmlns:b=\"urn:b\" b:x=\"1\">"
        "<b:keep>k</b:keep><inner xmlns=\"\"><v>1</v></inner><b:drop/></rec></a:list></a:root>";
    auto r = run_all(xml_spec({"keep", "inner", "@x"}, "/root/list/rec"), body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "<a:root xmlns:a=\"urn:a\"><a:list><rec xmlns=\"urn:d\" xmlns:b=\"urn:b\" "
              "b:x=\"1\"><b:keep>k</b:keep><inner xmlns=\"\"><v>1</v></inner></rec></a:list>"
              "</a:root>");
    EXPECT_TRUE(testing::well_formed_xml(r.output));
}

TEST(XmlFilter, EscapesEnvelopeTextAttributesAndPassesCommentsThrough) {
    const std::string body =
        "<?xml version=\"1.0\"?><!-- export --><?app go?>"
        "<root note=\"a&quot;b&lt;&#10;c\" t='x\"y'>1 &lt; 2 &amp;&amp; 3 &gt; 2 &#13;"
        "<![CDATA[<raw>]]><records><!-- in record --><?pi x?><Id>1</Id></records></root>";
    auto r = run_all(xml_spec({"Id"}, "/root/records"), body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "<?xml version=\"1.0\"?>\n<!-- export --><?app go?>"
              "<root note=\"a&quot;b&lt;&#10;c\" t=\"x&quot;y\">1 &lt; 2 &amp;&amp; 3 &gt; 2 "
              "&#13;&lt;raw&gt;<records><Id>1</Id></records></root>");
}

TEST(XmlFilter, RewritesOrRemovesLinkFields) {
    const std::string body =
        "<page><next>https://crm.internal/q?cursor=2&amp;x=1</next><gone>https://other/x</gone>"
        "<records><Id>1</Id></records><empty/></page>";
    filter_spec spec = xml_spec({"Id"}, "/page/records");
    spec.link_fields = {"/page/next", "/page/gone", "/page/empty"};
    spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
        constexpr std::string_view upstream = "https://crm.internal/";
        if (url.substr(0, upstream.size()) != upstream) return std::nullopt;
        return "https://exports.example.com/" + std::string(url.substr(upstream.size()));
    };
    auto r = run_all(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "<page><next>https://exports.example.com/q?cursor=2&amp;x=1</next><gone/>"
              "<records><Id>1</Id></records><empty/></page>");
    EXPECT_EQ(r.counters.links_rewritten, 1u);
    EXPECT_EQ(r.counters.links_removed, 1u);

    spec.rewrite_link = nullptr;
    auto removed = run_all(spec, body);
    ASSERT_FALSE(removed.error);
    EXPECT_EQ(removed.output, "<page><next/><gone/><records><Id>1</Id></records><empty/></page>");
    EXPECT_EQ(removed.counters.links_removed, 2u);
}

TEST(XmlFilter, RefusesElementsInsideALinkField) {
    filter_spec spec = xml_spec({"Id"}, "/page/records");
    spec.link_fields = {"/page/next"};
    EXPECT_EQ(run_whole(spec, "<page><next>x<b>y</b></next><records/></page>").error,
              filter_error::malformed);
}

TEST(XmlFilter, RefusesMalformedAndTruncatedDocuments) {
    filter_spec spec = xml_spec({"Id"}, "/r/records");
    EXPECT_EQ(run_all(spec, "<r><records><Id>1</Id></records></x>").error, filter_error::malformed);
    EXPECT_EQ(run_all(spec, "<r><records><Id>1</Id></records></r><r/>").error,
              filter_error::malformed);
    EXPECT_EQ(run_all(spec, "<r><records><Id>&undefined;</Id></records></r>").error,
              filter_error::malformed);
    EXPECT_EQ(run_all(spec, "<r><p:records/></r>").error, filter_error::malformed)
        << "unbound prefix";
    EXPECT_EQ(run_all(spec, "<r><records><Id>1</Id></records>").error, filter_error::truncated);
    EXPECT_EQ(run_all(spec, "<r><records><Id>1</Id></rec").error, filter_error::truncated);
    EXPECT_EQ(run_all(spec, "<r><records><![CDATA[abc").error, filter_error::truncated);
    EXPECT_EQ(run_whole(spec, "").error, filter_error::truncated);
    EXPECT_EQ(run_all(spec, "<r>\xC3</r>").error, filter_error::malformed) << "bad UTF-8";
    EXPECT_EQ(run_all(spec, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>\xE9</r>").error,
              filter_error::malformed)
        << "only UTF-8 bodies are filtered";
    EXPECT_EQ(run_all(spec, "<?xml version=\"1.0\" encoding=\"UTF-16\"?><r><records/></r>").error,
              filter_error::malformed)
        << "a body declared in another encoding would be mislabelled";
    const std::string utf16 = std::string("\xFF\xFE<\0r\0/\0>\0", 10);
    EXPECT_EQ(run_all(spec, utf16).error, filter_error::malformed) << "UTF-16 is not converted";
    EXPECT_EQ(run_all(spec, std::string("<\0r\0/\0>\0", 8)).error, filter_error::malformed);
    EXPECT_FALSE(
        run_all(spec, "<?xml version=\"1.0\" encoding=\"utf-8\"?><r><records/></r>").error);
}

TEST(XmlFilter, RefusesDoctypeInAnyChunking) {
    const std::uint64_t before = xml_external_entity_requests();
    filter_spec spec = xml_spec({"Id"}, "/r/records");
    EXPECT_EQ(run_all(spec,
                      "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e SYSTEM "
                      "\"file:///etc/passwd\">]><r><records><Id>&e;</Id></records></r>")
                  .error,
              filter_error::dtd_refused);
    EXPECT_EQ(run_all(spec, "<!DOCTYPE r SYSTEM \"http://127.0.0.1:1/x.dtd\"><r/>").error,
              filter_error::dtd_refused);
    EXPECT_EQ(xml_external_entity_requests(), before);
}

TEST(XmlFilter, RefusesMissingRecordLocation) {
    EXPECT_EQ(run_all(xml_spec({"Id"}, "/r/list/records"), "<r><other/></r>").error,
              filter_error::records_not_found);
    EXPECT_EQ(run_whole(xml_spec({"Id"}, ""), "<r/>").error, filter_error::records_not_found);
    auto empty_list = run_all(xml_spec({"Id"}, "/r/list/records"), "<r><list/></r>");
    EXPECT_FALSE(empty_list.error) << "a parent without records is an empty export";
    EXPECT_EQ(empty_list.output, "<r><list/></r>");
}

TEST(XmlFilter, RefusesRecordsUnderAnotherNameBesideTheRecordLocation) {
    // The CRM renamed its records: they sit where records belong, under another name. Passing
    // them as envelope would export every field unfiltered.
    const std::string renamed =
        "<r><list><size>1</size><items><Id>1</Id><Email>a@example.be</Email></items></list></r>";
    auto result = run_all(xml_spec({"Id"}, "/r/list/records"), renamed);
    EXPECT_EQ(result.error, filter_error::records_not_found);
    EXPECT_EQ(result.output.find("a@example.be"), std::string::npos);
    // Text-only siblings (done, size, queryLocator) remain envelope.
    auto fine = run_all(xml_spec({"Id"}, "/r/list/records"),
                        "<r><list><done>true</done><records><Id>1</Id><Email>x</Email></records>"
                        "<size>1</size></list></r>");
    EXPECT_FALSE(fine.error);
    EXPECT_EQ(fine.output.find("<Email>"), std::string::npos);
}

TEST(XmlFilter, TheQueryLocatorIsSealedOrRemovedNeverPassedAsTheCrmWroteIt) {
    const std::string body = envelope_head + contact("003A", "true") + envelope_tail;
    filter_spec spec = xml_spec({"Id"});
    spec.strict_envelope = true;
    spec.seal_token = [](std::string_view t) -> std::optional<std::string> {
        return "ew1.sealed<" + std::string(t) + ">";
    };
    auto sealed = run_all(spec, body);
    ASSERT_FALSE(sealed.error) << sealed.error.message();
    EXPECT_NE(sealed.output.find("<queryLocator>ew1.sealed&lt;01gD0000002HU6KIAW-2000&gt;"
                                 "</queryLocator>"),
              std::string::npos)
        << sealed.output;
    EXPECT_EQ(sealed.counters.links_rewritten, 1u);

    spec.seal_token = nullptr;
    auto removed = run_all(spec, body);
    ASSERT_FALSE(removed.error) << removed.error.message();
    EXPECT_EQ(removed.output.find("01gD"), std::string::npos) << removed.output;
    EXPECT_EQ(removed.counters.links_removed, 1u);

    // Markup inside the locator is not a locator.
    std::string nested = body;
    nested.replace(nested.find("01gD0000002HU6KIAW-2000"), 23, "<sf:Email>x@example.be</sf:Email>");
    auto refused = run_all(spec, nested);
    EXPECT_TRUE(refused.error);
    EXPECT_EQ(refused.output.find("x@example.be"), std::string::npos);
}

// Outside the records an attribute is no field an allow-list names: on the records' ancestors
// and on metadata only xsi:* passes (a CRM's `loc="01g…"` on <result> never does).
TEST(XmlFilter, AttributesOutsideTheRecordsPassOnlyAsXsi) {
    std::string body = envelope_head + contact("003A", "true") + envelope_tail;
    body.replace(body.find("<soapenv:Body>"), 14, "<soapenv:Body leak=\"B-ATTR\">");
    body.replace(body.find("<result xsi:type"), 16, "<result loc=\"01gATTR-200\" xsi:type");
    body.replace(body.find("<size>"), 6, "<size sf:n=\"S-ATTR\">");
    filter_spec spec = xml_spec({"Id"});
    spec.strict_envelope = true;
    auto r = run_all(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    for (const char* leak : {"B-ATTR", "01gATTR", "S-ATTR"})
        EXPECT_EQ(r.output.find(leak), std::string::npos) << leak << ": " << r.output;
    EXPECT_NE(r.output.find("<result xsi:type=\"QueryResult\">"), std::string::npos) << r.output;
}

// done, size and totalSize pass as what their names say: a flag, a count. Other text there (a
// value the CRM put in a metadata element) is stripped and counted.
TEST(XmlFilter, PageMetadataPassesOnlyAsAFlagOrACount) {
    const std::string body = envelope_head + contact("003A", "true") + envelope_tail;
    filter_spec spec = xml_spec({"Id"});
    spec.strict_envelope = true;
    auto fine = run_all(spec, body);
    ASSERT_FALSE(fine.error) << fine.error.message();
    EXPECT_NE(fine.output.find("<done>true</done>"), std::string::npos) << fine.output;
    EXPECT_NE(fine.output.find("<size>2</size>"), std::string::npos) << fine.output;
    std::string odd = body;
    odd.replace(odd.find("<done>true</done>"), 17, "<done>x@example.be</done>");
    odd.replace(odd.find("<size>2</size>"), 14, "<size> 2 BE71 </size>");
    auto r = run_all(spec, odd);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output.find("example.be"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("BE71"), std::string::npos) << r.output;
    EXPECT_EQ(r.counters.stripped_fields.count("(envelope)done"), 1u);
    EXPECT_EQ(r.counters.stripped_fields.count("(envelope)size"), 1u);
}

TEST(XmlFilter, EnforcesDepthSizeAndRecordLimits) {
    filter_spec deep = xml_spec({"Id"}, "/r/records");
    deep.max_depth = 4;
    EXPECT_FALSE(run_all(deep, "<r><records><a><b/></a></records></r>").error);
    EXPECT_EQ(run_all(deep, "<r><records><a><b><c/></b></a></records></r>").error,
              filter_error::too_deep);

    filter_spec small = xml_spec({"Id"}, "/r/records");
    small.max_record_bytes = 40;
    EXPECT_FALSE(run_all(small, "<r><records><Id>1</Id></records></r>").error);
    EXPECT_EQ(run_all(small, "<r><records><Id>1</Id><Junk>" + std::string(64, 'x') +
                                 "</Junk></records></r>")
                  .error,
              filter_error::record_too_large);
    EXPECT_EQ(run_whole(small, "<r><records><Id a=\"" + std::string(64, 'x')).error,
              filter_error::record_too_large)
        << "an unfinished tag expat is holding counts too";

    filter_spec limited = xml_spec({"Id"}, "/r/records");
    limited.max_records = 1;
    EXPECT_FALSE(run_all(limited, "<r><records><Id>1</Id></records></r>").error);
    EXPECT_EQ(run_all(limited, "<r><records/><records/></r>").error,
              filter_error::record_limit_exceeded);
}

TEST(XmlFilter, RefusesATokenLargerThanTheRecordLimitHoweverItIsFed) {
    // One text node or attribute value past max_record_bytes, in the envelope or in a record:
    // refused whether expat gets it in one piece (a complete token) or byte by byte (an
    // unfinished token it holds).
    filter_spec small = xml_spec({"Id", "Big", "@a"}, "/r/records");
    small.max_record_bytes = 40;
    const std::string big(64, 'x');
    for (const std::string& body : {"<r><note>" + big + "</note><records><Id>1</Id></records></r>",
                                    "<r note=\"" + big + "\"><records><Id>1</Id></records></r>",
                                    "<r><records><Id>1</Id></records><tail>" + big + "</tail></r>",
                                    "<r><records a=\"" + big + "\"><Id>1</Id></records></r>",
                                    "<r><records><Big>" + big + "</Big></records></r>",
                                    "<r><note><![CDATA[" + big + "]]></note><records/></r>",
                                    "<r><!--" + big + "--><records/></r>"}) {
        std::vector<std::size_t> bytes;
        for (std::size_t i = 1; i < body.size(); ++i) bytes.push_back(i);
        EXPECT_EQ(run_whole(small, body).error, filter_error::record_too_large) << body;
        EXPECT_EQ(run_cut(small, body, bytes).error, filter_error::record_too_large) << body;
        EXPECT_EQ(run_cut(small, body, {body.size() / 2}).error, filter_error::record_too_large)
            << body;
    }
    // Text split by newlines or references is still one text node: the limit holds for it too.
    const std::string lines = "<r><note>" + std::string(30, 'x') + "\n" + std::string(30, 'y') +
                              "&amp;" + std::string(30, 'z') + "</note><records/></r>";
    EXPECT_EQ(run_whole(small, lines).error, filter_error::record_too_large);
    // Many small tokens never trip it, however large the envelope grows.
    std::string many = "<r>";
    for (int i = 0; i < 200; ++i) many += "<n a=\"1234\">" + std::string(20, 'x') + "</n>\n";
    many += "<records><Id>1</Id></records></r>";
    EXPECT_FALSE(run_all(small, many).error);
}

TEST(XmlFilter, FiltersFieldsUnderTheFieldRoot) {
    const std::string body =
        "<r><records><meta>m</meta><properties><email>e</email><phone>p</phone>"
        "<consent>true</consent></properties></records></r>";
    filter_spec spec = xml_spec({"email"}, "/r/records");
    spec.field_root = "properties";
    record_condition c = consent_required();
    c.field = "consent";
    spec.rules.conditions.push_back(c);
    auto r = run_all(spec, body);
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, "<r><records><properties><email>e</email></properties></records></r>");
    EXPECT_EQ(r.counters.stripped_fields.at("phone"), 1u);
    EXPECT_EQ(r.counters.stripped_fields.at("meta"), 1u);
}

TEST(XmlFilter, CapsTheStrippedNameTableAgainstHostileElementNames) {
    std::string body = "<r><records><Id>1</Id>";
    for (int i = 0; i < 5000; ++i) body += "<f" + std::to_string(i) + "/>";
    body += "</records></r>";
    auto r = run_whole(xml_spec({"Id"}, "/r/records"), body);
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, "<r><records><Id>1</Id></records></r>");
    EXPECT_EQ(r.counters.stripped_fields.size(), 257u);
    EXPECT_EQ(r.counters.stripped_fields.at("f0"), 1u);
    EXPECT_EQ(r.counters.stripped_fields.at("*"), 5000u - 256u);
}

// strict_envelope (the proxy always sets it): nothing beside the records leaves the document.
filter_spec strict_spec(std::vector<std::string> allowed, std::string records = query_records) {
    filter_spec spec = xml_spec(std::move(allowed), std::move(records));
    spec.strict_envelope = true;
    return spec;
}

std::uint64_t stripped(const run_result& r, const std::string& name) {
    auto it = r.counters.stripped_fields.find(name);
    return it == r.counters.stripped_fields.end() ? 0 : it->second;
}

const std::string soap_open =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
    "xmlns=\"urn:partner.soap.sforce.com\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
    "xmlns:sf=\"urn:sobject.partner.soap.sforce.com\">\n";
const std::string soap_body_open =
    "<soapenv:Body>\n<queryResponse>\n  <result xsi:type=\"QueryResult\">\n    <done>true</done>\n"
    "    <queryLocator xsi:nil=\"true\"/>\n";
const std::string soap_record =
    "    <records xsi:type=\"sf:sObject\"><sf:Id>003A</sf:Id><sf:Email>a@example.be</sf:Email>"
    "</records>\n";
const std::string soap_kept_record = "    <records><sf:Id>003A</sf:Id></records>\n";
const std::string soap_close =
    "    <size>1</size>\n  </result>\n</queryResponse>\n</soapenv:Body>\n</soapenv:Envelope>";

TEST(XmlFilter, StrictEnvelopeDropsHeadersFaultsAndElementsBesideTheRecords) {
    const std::string body =
        soap_open +
        "<soapenv:Header><sf:SessionHeader><sf:email>leak@example.be</sf:email>"
        "</sf:SessionHeader></soapenv:Header>\n" +
        "<soapenv:Body>\n<queryResponse>\n  <result xsi:type=\"QueryResult\">\n"
        "    <done>true</done>\n    <sf:email>leak@example.be</sf:email>\n"
        "    <queryLocator xsi:nil=\"true\"/>\n" +
        soap_record + "    <Phone/>\n" + soap_close;
    auto r = run_all(strict_spec({"Id"}), body);
    ASSERT_FALSE(r.error) << r.error.message();
    // The ancestors pass as written, the metadata leaves too; whitespace before a dropped element
    // goes with it.
    EXPECT_EQ(r.output, soap_open + soap_body_open + soap_kept_record + soap_close);
    EXPECT_EQ(r.output.find("leak"), std::string::npos);
    EXPECT_TRUE(testing::well_formed_xml(r.output));
    EXPECT_EQ(stripped(r, "(envelope)Header"), 1u) << "counted once, its subtree with it";
    EXPECT_EQ(stripped(r, "(envelope)SessionHeader"), 0u);
    EXPECT_EQ(stripped(r, "(envelope)email"), 1u);
    EXPECT_EQ(stripped(r, "(envelope)Phone"), 1u);
    EXPECT_EQ(stripped(r, "Email"), 1u);

    // A SOAP fault beside the query response is not metadata either.
    const std::string fault = soap_open +
                              "<soapenv:Body><soapenv:Fault><faultcode>sf:X</faultcode>"
                              "<faultstring>leak@example.be</faultstring></soapenv:Fault>" +
                              soap_body_open.substr(std::string("<soapenv:Body>").size()) +
                              soap_record + soap_close;
    auto f = run_all(strict_spec({"Id"}), fault);
    ASSERT_FALSE(f.error) << f.error.message();
    EXPECT_EQ(f.output.find("leak"), std::string::npos);
    EXPECT_EQ(f.output.find("Fault"), std::string::npos);
    EXPECT_EQ(stripped(f, "(envelope)Fault"), 1u);
    EXPECT_EQ(stripped(f, "(envelope)faultstring"), 0u);

    // Without strict_envelope (the lexer's own tests) the envelope passes as it always did.
    auto lexer = run_whole(xml_spec({"Id"}), body);
    ASSERT_FALSE(lexer.error);
    EXPECT_NE(lexer.output.find("<soapenv:Header>"), std::string::npos);
}

TEST(XmlFilter, StrictEnvelopeRefusesADocumentOfOnlyAFaultWithNothingSent) {
    const std::string body =
        soap_open +
        "<soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_FIELD</faultcode>"
        "<faultstring>No such column 'leak@example.be'</faultstring></soapenv:Fault>"
        "</soapenv:Body></soapenv:Envelope>";
    auto r = run_all(strict_spec({"Id"}), body);
    EXPECT_EQ(r.error, filter_error::records_not_found);
    EXPECT_TRUE(r.output.empty()) << r.output;
}

TEST(XmlFilter, StrictEnvelopeDropsTextInsideTheAncestorsOfTheRecords) {
    // Mixed content: data written directly into Envelope, Body or result, as text or CDATA, or
    // split by a character reference; indentation (even written as a reference) stays.
    const std::string body = soap_open +
                             "leak@example.be\n<soapenv:Body>\n<queryResponse>&#10;  <result>\n"
                             "    <done>true</done> lea&#107;@example.be <![CDATA[more]]>\n" +
                             soap_record + "<![CDATA[leak@example.be]]>" + soap_close;
    auto r = run_all(strict_spec({"Id"}), body);
    ASSERT_FALSE(r.error) << r.error.message();
    // A text node is dropped whole, its indentation with it.
    EXPECT_EQ(r.output, soap_open.substr(0, soap_open.size() - 1) +
                            "<soapenv:Body>\n<queryResponse>\n  <result>\n    <done>true</done>"
                            "<records><sf:Id>003A</sf:Id></records><size>1</size>\n  </result>\n"
                            "</queryResponse>\n</soapenv:Body>\n</soapenv:Envelope>");
    EXPECT_EQ(r.output.find("leak"), std::string::npos);
    EXPECT_EQ(r.output.find("more"), std::string::npos);
    EXPECT_EQ(stripped(r, "(envelope)#text"), 3u) << "one per text node, however it is cut";
}

TEST(XmlFilter, StrictEnvelopeKeepsMetadataLeavesWithTheirXsiAttributesOnly) {
    const std::string body =
        "<Envelope xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><Body><queryResponse>"
        "<totalSize note=\"leak@example.be\">1<email>leak@example.be</email></totalSize><result>"
        "<done>true</done><queryLocator xsi:nil=\"true\" xsi:type=\"xsd:string\" "
        "owner=\"leak@example.be\"/><records><Id>1</Id></records><size>1</size></result>"
        "</queryResponse></Body></Envelope>";
    auto r = run_all(strict_spec({"Id"}), body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "<Envelope xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><Body>"
              "<queryResponse><totalSize>1</totalSize><result><done>true</done>"
              "<queryLocator xsi:nil=\"true\" xsi:type=\"xsd:string\"/><records><Id>1</Id>"
              "</records><size>1</size></result></queryResponse></Body></Envelope>");
    EXPECT_EQ(stripped(r, "(envelope)totalSize.@note"), 1u);
    EXPECT_EQ(stripped(r, "(envelope)queryLocator.@owner"), 1u);
    EXPECT_EQ(stripped(r, "(envelope)email"), 1u);
    // Beside the records a metadata element holding elements is records under another name.
    EXPECT_EQ(run_all(strict_spec({"Id"}, "/r/list/records"),
                      "<r><list><size><Id>1</Id></size><records/></list></r>")
                  .error,
              filter_error::records_not_found);
}

TEST(XmlFilter, StrictEnvelopeStillRefusesRecordsUnderAnotherNameBesideTheRecords) {
    const std::string body = soap_open + soap_body_open +
                             "<searchRecords><sf:Email>leak@example.be</sf:Email></searchRecords>" +
                             soap_record + soap_close;
    auto r = run_all(strict_spec({"Id"}), body);
    EXPECT_EQ(r.error, filter_error::records_not_found);
    EXPECT_EQ(r.output.find("leak"), std::string::npos);
}

TEST(XmlFilter, StrictEnvelopeDropsCommentsAndProcessingInstructions) {
    const std::string body =
        "<?xml version=\"1.0\"?><!-- leak@example.be --><?app leak?>"
        "<r><!--leak--><records><!-- in record --><Id>1</Id></records><?pi leak?>"
        "<Header><!-- inside a dropped element --></Header></r>";
    auto r = run_all(strict_spec({"Id"}, "/r/records"), body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, "<?xml version=\"1.0\"?>\n<r><records><Id>1</Id></records></r>");
    EXPECT_EQ(stripped(r, "(envelope)#comment"), 2u);
    EXPECT_EQ(stripped(r, "(envelope)#processing-instruction"), 2u);
    EXPECT_EQ(stripped(r, "(envelope)Header"), 1u);
}

TEST(XmlFilter, StrictEnvelopeKeepsLinkFieldsAndTheElementsThatLeadToThem) {
    const std::string body =
        "<page><paging><next>https://crm.internal/q?c=2</next><prev>leak@example.be</prev>"
        "leak<first>https://crm.internal/q?c=0</first></paging>"
        "<more>https://crm.internal/q?c=3</more><records><Id>1</Id><Email>e</Email></records>"
        "<paging><old><next>https://crm.internal/leak</next></old></paging></page>";
    filter_spec spec = strict_spec({"Id"}, "/page/records");
    spec.link_fields = {"/page/paging/next", "/page/more"};
    spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
        return "https://exports.example.com/" + std::string(url.substr(21));
    };
    auto r = run_all(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "<page><paging><next>https://exports.example.com/q?c=2</next></paging>"
              "<more>https://exports.example.com/q?c=3</more><records><Id>1</Id></records>"
              "<paging/></page>");
    EXPECT_EQ(r.counters.links_rewritten, 2u);
    EXPECT_EQ(stripped(r, "(envelope)prev"), 1u);
    EXPECT_EQ(stripped(r, "(envelope)first"), 1u);
    EXPECT_EQ(stripped(r, "(envelope)#text"), 1u);
    EXPECT_EQ(stripped(r, "(envelope)old"), 1u) << "a link field's name elsewhere is no link";
}

TEST(XmlFilter, StrictEnvelopeCountsDroppedNamesWithinTheStrippedNameCap) {
    std::string body = "<r>";
    for (int i = 0; i < 1000; ++i)
        body += "<h" + std::to_string(i) + ">x</h" + std::to_string(i) + ">";
    body += "<records><Id>1</Id></records></r>";
    auto r = run_whole(strict_spec({"Id"}, "/r/records"), body);
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, "<r><records><Id>1</Id></records></r>");
    EXPECT_EQ(r.counters.stripped_fields.size(), 257u);
    EXPECT_EQ(r.counters.stripped_fields.at("*"), 1000u - 256u);
}

// The legal rules (strict: a missing field is unreadable too) and an exclusion configured for the
// purpose (not strict: a missing field passes it, an element with children must not).
record_rules unreadable_rules() {
    record_rules rules;
    rules.conditions.push_back(
        {"objection", condition_op::is_no, {}, false, drop_reason::objected, true});
    rules.conditions.push_back(
        {"consent.email", condition_op::is_true, {}, false, drop_reason::no_consent, true});
    rules.conditions.push_back(
        {"do_not_contact", condition_op::is_set, {}, true, drop_reason::condition});
    return rules;
}

// One record per entry: its Id, then `fields` (inside <properties> when `root`).
std::string unreadable_body(bool root) {
    const std::vector<std::string> fields = {
        "<objection>false</objection><consent><email>true</email></consent>",
        "<objection><value>true</value></objection><consent><email>true</email></consent>",
        // Before its child, the element's own text reads "false".
        "<objection>false<note>x</note></objection><consent><email>true</email></consent>",
        "<objection><value>false</value></objection><consent><email>true</email></consent>",
        "<objection>false</objection><consent><email><value>true</value></email></consent>",
        "<consent><email>true</email></consent>",
        "<objection>false</objection><consent><email>true</email></consent>"
        "<do_not_contact><flag>true</flag></do_not_contact>",
        "<objection>true</objection><consent><email>true</email></consent>",
        "<objection>false</objection><objection>false</objection>"
        "<consent><email>true</email></consent>",
        "<objection><value/></objection><consent><email>true</email></consent>",
        "<objection>\n  <a><b>false</b></a>\n</objection><consent><email>true</email></consent>",
        // An empty element is the empty string, which is no "no": a value, not a structure.
        "<objection/><consent><email>true</email></consent>",
        "<objection kind=\"x\">false</objection><consent><email>true</email></consent>",
    };
    std::string body = "<r>";
    // Twice: the second time every path's decision comes from the cache.
    for (int pass = 0; pass < 2; ++pass) {
        for (std::size_t i = 0; i < fields.size(); ++i) {
            body += "<records><Id>" + std::to_string(i + 1) + "</Id>";
            body += root ? "<properties>" + fields[i] + "</properties>" : fields[i];
            body += "</records>";
        }
    }
    return body + "</r>";
}

void expect_unreadable_counts(const run_result& r) {
    EXPECT_EQ(r.counters.records_in, 26u);
    EXPECT_EQ(r.counters.records_out, 6u);                          // 1, 9, 13
    EXPECT_EQ(dropped(r, drop_reason::condition_unreadable), 16u);  // 2-7, 10, 11
    EXPECT_EQ(dropped(r, drop_reason::objected), 4u);               // 8, 12
}

TEST(XmlFilter, ElementWithChildrenWhereARuleReadsAScalarDropsTheRecord) {
    for (const auto& allowed :
         {std::vector<std::string>{"Id"},
          std::vector<std::string>{"Id", "objection", "consent", "do_not_contact"}}) {
        filter_spec spec = xml_spec(allowed, "/r/records");
        spec.rules = unreadable_rules();
        auto r = run_all(spec, unreadable_body(false));
        ASSERT_FALSE(r.error) << r.error.message();
        expect_unreadable_counts(r);
        if (allowed.size() == 1) {
            EXPECT_EQ(r.output,
                      "<r><records><Id>1</Id></records><records><Id>9</Id></records>"
                      "<records><Id>13</Id></records><records><Id>1</Id></records>"
                      "<records><Id>9</Id></records><records><Id>13</Id></records></r>");
        }
    }
}

TEST(XmlFilter, ElementWithChildrenUnderTheFieldRootIsMarkedAtItsFieldPath) {
    filter_spec spec = xml_spec({"objection"}, "/r/records");
    spec.field_root = "properties";
    spec.rules = unreadable_rules();
    auto r = run_all(spec, unreadable_body(true));
    ASSERT_FALSE(r.error) << r.error.message();
    expect_unreadable_counts(r);
}

TEST(XmlFilter, RepeatedSuppressionElementsAreEachAValue) {
    filter_spec spec = xml_spec({"Id"}, "/r/records");
    spec.rules.suppression_fields = {"email", "email.value"};
    spec.rules.suppressed = [](const record_fields& f) {
        for (const auto& [path, value] : f.values()) {
            if ((path == "email" || path == "email.value") && value == "b@y") return true;
        }
        return false;
    };
    auto r = run_all(spec,
                     "<r><records><Id>1</Id><email>a@x</email><email>b@y</email></records>"
                     "<records><Id>2</Id><email><value>b@y</value><primary>true</primary>"
                     "</email></records>"
                     "<records><Id>3</Id><email><value>a@x</value></email></records>"
                     "<records><Id>4</Id></records></r>");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, "<r><records><Id>3</Id></records></r>");
    EXPECT_EQ(dropped(r, drop_reason::suppressed), 2u);
    EXPECT_EQ(dropped(r, drop_reason::condition_unreadable), 1u);
}

TEST(XmlFilter, StaysDeadAfterAnError) {
    auto filter = make_filter(xml_spec({"Id"}, "/r/records"));
    std::string out;
    EXPECT_EQ(filter->feed("<r></x>", out), filter_error::malformed);
    EXPECT_EQ(filter->feed("<r/>", out), filter_error::malformed);
    EXPECT_EQ(filter->finish(out), filter_error::malformed);
}

}  // namespace
}  // namespace exportwall::filters
