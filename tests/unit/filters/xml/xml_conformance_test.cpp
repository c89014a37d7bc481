// XML filter against shared test data: defusedxml's attack files are refused without expansion
// or external access; soapforce's Salesforce Partner SOAP envelopes filter correctly.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "filters/record_filter.hpp"
#include "filters/xml/xml_external_entities.hpp"
#include "tests/unit/filters/chunked_run.hpp"
#include "tests/unit/filters/xml/xml_check.hpp"

namespace exportwall::filters {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::size_t count(std::string_view haystack, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = haystack.find(needle); at != std::string_view::npos;
         at = haystack.find(needle, at + 1)) {
        ++n;
    }
    return n;
}

TEST(XmlDefusedxml, RefusesEveryAttackAndPassesBenignFiles) {
    const fs::path dir = fs::path(EXPORTWALL_SHARED_TESTDATA) / "defusedxml" / "xmltestdata";
    if (!fs::is_directory(dir)) {
        GTEST_SKIP() << "defusedxml test data not found at " << dir << " (../shared/testdata)";
    }
    const std::uint64_t requests_before = xml_external_entity_requests();
    int attacks = 0;
    int benign = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        SCOPED_TRACE(name);
        const std::string body = read_file(entry.path());
        filter_spec spec;
        spec.format = body_format::xml;
        spec.allowed = field_set({"@key"});
        spec.records = entry.path().extension() == ".xsd" ? "/schema/import" : "/root/element";
        if (body.find("<!DOCTYPE") != std::string::npos) {
            ++attacks;
            // Whole, byte by byte and in two halves: refused before any entity is declared.
            std::vector<std::vector<std::size_t>> cuts{{}, {body.size() / 2}};
            std::vector<std::size_t> bytes;
            for (std::size_t i = 1; i < body.size(); ++i) bytes.push_back(i);
            cuts.push_back(std::move(bytes));
            for (const auto& c : cuts) {
                auto r = testing::run_cut(spec, body, c);
                EXPECT_TRUE(r.error == filter_error::dtd_refused ||
                            r.error == filter_error::malformed)
                    << r.error.message();
                // Nothing of the document body (let alone an expansion) was written.
                EXPECT_LT(r.output.size(), 64u);
                EXPECT_EQ(r.counters.records_in, 0u);
            }
        } else {
            ++benign;
            auto r = testing::run_whole(spec, body);
            ASSERT_FALSE(r.error) << r.error.message();
            EXPECT_TRUE(testing::well_formed_xml(r.output));
            EXPECT_GE(r.counters.records_in, 1u);
            for (const auto& c : testing::chunkings(body.size())) {
                auto chunked = testing::run_cut(spec, body, c);
                ASSERT_FALSE(chunked.error);
                ASSERT_EQ(chunked.output, r.output);
            }
            if (name == "simple.xml" || name == "simple-ns.xml") {
                EXPECT_NE(r.output.find("<element key=\"value\"/>"), std::string::npos);
                EXPECT_NE(r.output.find("tail"), std::string::npos) << "envelope text stays";
                EXPECT_EQ(r.output.find(">text<"), std::string::npos) << "record text stripped";
            }
        }
    }
    EXPECT_GE(attacks, 8);
    EXPECT_GE(benign, 2);
    EXPECT_EQ(xml_external_entity_requests(), requests_before)
        << "expat was never allowed to ask for an external entity";
}

TEST(XmlSoapforce, FiltersPartnerQueryResponses) {
    const fs::path dir = fs::path(EXPORTWALL_SHARED_TESTDATA) / "soapforce" / "fixtures";
    if (!fs::is_directory(dir)) {
        GTEST_SKIP() << "soapforce fixtures not found at " << dir << " (../shared/testdata)";
    }
    const std::vector<std::pair<std::string, std::string>> pages{
        {"query_response.xml", "queryResponse"},
        {"query_all_response.xml", "queryAllResponse"},
        {"query_more_response.xml", "queryMoreResponse"}};
    for (const auto& [file, response] : pages) {
        SCOPED_TRACE(file);
        const std::string body = read_file(dir / file);
        filter_spec spec;
        spec.format = body_format::xml;
        spec.records = "/Envelope/Body/" + response + "/result/records";
        spec.allowed = field_set({"Id", "Name"});
        auto r = testing::run_whole(spec, body);
        ASSERT_FALSE(r.error) << r.error.message();
        EXPECT_TRUE(testing::well_formed_xml(r.output));
        EXPECT_EQ(r.counters.records_in, 2u);
        EXPECT_EQ(r.counters.records_out, 2u);
        // Repeated <sf:Id> kept, every occurrence; other fields gone.
        EXPECT_EQ(count(r.output, "<sf:Id>006A000000LZhwNIAT</sf:Id>"), 2u);
        EXPECT_EQ(count(r.output, "<sf:Id>006A000000LaF4xIAF</sf:Id>"), 2u);
        EXPECT_EQ(count(r.output, "<sf:Name>"), 2u);
        EXPECT_EQ(r.output.find("StageName"), std::string::npos);
        EXPECT_EQ(r.output.find("sf:type"), std::string::npos);
        EXPECT_EQ(r.output.find("Prospecting"), std::string::npos);
        EXPECT_EQ(r.counters.stripped_fields.at("StageName"), 2u);
        EXPECT_EQ(r.counters.stripped_fields.at("type"), 2u);
        EXPECT_EQ(r.counters.stripped_fields.at("@type"), 2u);
        // The envelope is intact, prefixes and declarations as written.
        EXPECT_NE(
            r.output.find(
                "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
                "xmlns=\"urn:partner.soap.sforce.com\" "
                "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                "xmlns:sf=\"urn:sobject.partner.soap.sforce.com\">"),
            std::string::npos);
        EXPECT_NE(r.output.find("<result xsi:type=\"QueryResult\">"), std::string::npos);
        EXPECT_NE(r.output.find("<queryLocator xsi:nil=\"true\"/>"), std::string::npos);
        EXPECT_NE(r.output.find("<size>2</size>"), std::string::npos);
        EXPECT_NE(r.output.find("</" + response + ">\n</soapenv:Body>\n</soapenv:Envelope>"),
                  std::string::npos);
        for (const auto& c : testing::chunkings(body.size())) {
            auto chunked = testing::run_cut(spec, body, c);
            ASSERT_FALSE(chunked.error);
            ASSERT_EQ(chunked.output, r.output);
        }

        // With every field allowed, the records come through with the same fields.
        spec.allowed = field_set({"type", "Id", "Name", "StageName", "@type"});
        auto all = testing::run_whole(spec, body);
        ASSERT_FALSE(all.error);
        EXPECT_EQ(count(all.output, "<sf:StageName>"), 2u);
        EXPECT_EQ(count(all.output, "<records xsi:type=\"sf:sObject\">"), 2u);
        EXPECT_TRUE(all.counters.stripped_fields.empty());
    }

    // A page of another shape has no queryResponse result: fail closed.
    filter_spec spec;
    spec.format = body_format::xml;
    spec.records = "/Envelope/Body/queryResponse/result/records";
    spec.allowed = field_set({"Id"});
    EXPECT_EQ(testing::run_whole(spec, read_file(dir / "retrieve_response.xml")).error,
              filter_error::records_not_found);
}

// With strict_envelope, as the proxy runs it: every query page filters exactly as before (its
// envelope holds nothing but the ancestors of the records and done, queryLocator, size), and no
// other operation's response leaks a byte through a query route.
TEST(XmlSoapforce, StrictEnvelopeFiltersEveryQueryFixtureAndLeaksNothingOfTheOthers) {
    const fs::path dir = fs::path(EXPORTWALL_SHARED_TESTDATA) / "soapforce" / "fixtures";
    if (!fs::is_directory(dir)) {
        GTEST_SKIP() << "soapforce fixtures not found at " << dir << " (../shared/testdata)";
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() == ".xml") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    int queries = 0;
    int others = 0;
    for (const auto& file : files) {
        SCOPED_TRACE(file.filename().string());
        const std::string body = read_file(file);
        std::string response;
        for (const char* r : {"queryResponse", "queryAllResponse", "queryMoreResponse"}) {
            if (body.find(std::string("<") + r + ">") != std::string::npos) response = r;
        }
        filter_spec spec;
        spec.format = body_format::xml;
        spec.records =
            "/Envelope/Body/" + (response.empty() ? "queryResponse" : response) + "/result/records";
        spec.allowed = field_set({"Id", "Name"});
        spec.strict_envelope = true;
        auto strict = testing::run_whole(spec, body);
        if (response.empty()) {
            ++others;
            EXPECT_EQ(strict.error, filter_error::records_not_found);
            EXPECT_TRUE(strict.output.empty()) << strict.output;
            continue;
        }
        ++queries;
        ASSERT_FALSE(strict.error) << strict.error.message();
        spec.strict_envelope = false;
        auto lexer = testing::run_whole(spec, body);
        ASSERT_FALSE(lexer.error);
        EXPECT_EQ(strict.output, lexer.output);
        EXPECT_TRUE(testing::same_counters(strict.counters, lexer.counters));
        EXPECT_GE(strict.counters.records_out, 1u);
        for (const auto& [name, n] : strict.counters.stripped_fields) {
            EXPECT_NE(name.substr(0, 10), "(envelope)") << name;
        }
        spec.strict_envelope = true;
        for (const auto& c : testing::chunkings(body.size())) {
            auto chunked = testing::run_cut(spec, body, c);
            ASSERT_FALSE(chunked.error);
            ASSERT_EQ(chunked.output, strict.output);
        }
    }
    EXPECT_EQ(queries, 4) << "query, queryAll, queryMore and the organisation id query";
    EXPECT_GE(others, 15);

    // A route whose records are a retrieve's results: the envelope around them passes, no more.
    filter_spec retrieve;
    retrieve.format = body_format::xml;
    retrieve.records = "/Envelope/Body/retrieveResponse/result";
    retrieve.allowed = field_set({"Id", "Name"});
    retrieve.strict_envelope = true;
    auto r = testing::run_whole(retrieve, read_file(dir / "retrieve_response.xml"));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.counters.records_out, 1u);
    EXPECT_NE(r.output.find("<sf:Name>SOAPForce Opportunity</sf:Name>"), std::string::npos);
    EXPECT_EQ(r.output.find("Prospecting"), std::string::npos);
}

TEST(XmlSoapforce, FiltersNestedAccountsBySubPath) {
    const std::string body =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        "xmlns=\"urn:partner.soap.sforce.com\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
        "xmlns:sf=\"urn:sobject.partner.soap.sforce.com\">\n"
        "<soapenv:Body><queryResponse><result xsi:type=\"QueryResult\"><done>true</done>\n"
        "<records xsi:type=\"sf:sObject\"><sf:type>Contact</sf:type><sf:Id>003X</sf:Id>"
        "<sf:Id>003X</sf:Id><sf:Email>x@example.com</sf:Email>"
        "<sf:Account xsi:type=\"sf:sObject\"><sf:type>Account</sf:type><sf:Id xsi:nil=\"true\"/>"
        "<sf:Name>Acme</sf:Name><sf:AnnualRevenue>1</sf:AnnualRevenue></sf:Account>"
        "</records>\n<size>1</size></result></queryResponse></soapenv:Body>"
        "</soapenv:Envelope>";
    filter_spec spec;
    spec.format = body_format::xml;
    spec.records = "/Envelope/Body/queryResponse/result/records";
    spec.allowed = field_set({"Id", "Account.Name", "Account.Id"});
    auto r = testing::run_whole(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_NE(r.output.find("<records><sf:Id>003X</sf:Id><sf:Id>003X</sf:Id><sf:Account>"
                            "<sf:Id xsi:nil=\"true\"/><sf:Name>Acme</sf:Name></sf:Account>"
                            "</records>"),
              std::string::npos);
    EXPECT_EQ(r.output.find("AnnualRevenue"), std::string::npos);
    EXPECT_EQ(r.counters.stripped_fields.at("Account.AnnualRevenue"), 1u);
    EXPECT_TRUE(testing::well_formed_xml(r.output));
}

}  // namespace
}  // namespace exportwall::filters
