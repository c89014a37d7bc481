// The contact generator (tools/generator) that benchmarks, the demo CRM and tests share: the same
// seed gives the same bytes, whatever the piece sizes; every format is well formed and holds the
// records asked for.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "tools/generator/contact_generator.hpp"

namespace exportwall::bench {
namespace {

std::string generated(std::string_view format, const contact_export_options& o) {
    std::string out;
    generate_contacts(format, o, [&](std::string_view piece) { out.append(piece); });
    return out;
}

std::size_t count(std::string_view s, std::string_view part) {
    std::size_t n = 0;
    for (auto at = s.find(part); at != std::string_view::npos; at = s.find(part, at + 1)) ++n;
    return n;
}

TEST(ContactGenerator, TheSameSeedGivesTheSameBytesAndAnotherSeedOthers) {
    contact_export_options o;
    o.records = 300;
    for (const char* format : {"json", "ndjson", "csv", "xml"}) {
        const std::string a = generated(format, o);
        EXPECT_EQ(a, generated(format, o)) << format;
        o.seed = 43;
        EXPECT_NE(a, generated(format, o)) << format;
        o.seed = 42;
    }
    const contact c = make_contact(42, 7);
    EXPECT_EQ(c.id, make_contact(42, 7).id);
    EXPECT_EQ(c.email, make_contact(42, 7).email);
}

TEST(ContactGenerator, JsonShapesHoldTheRecordsAskedForUnderTheirVendorsKeys) {
    contact_export_options o;
    o.records = 57;
    o.next_link = "https://crm.example/next";
    const struct {
        json_shape shape;
        const char* array_key;
    } shapes[] = {{json_shape::odata, "value"},
                  {json_shape::hubspot, "results"},
                  {json_shape::salesforce, "records"}};
    for (const auto& s : shapes) {
        o.shape = s.shape;
        const boost::json::value v = boost::json::parse(generated("json", o));
        ASSERT_TRUE(v.is_object()) << s.array_key;
        const auto* records = v.as_object().if_contains(s.array_key);
        ASSERT_NE(records, nullptr) << s.array_key;
        EXPECT_EQ(records->as_array().size(), 57u) << s.array_key;
    }
}

TEST(ContactGenerator, NdjsonCsvAndXmlHoldOneRecordPerLineRowOrElement) {
    contact_export_options o;
    o.records = 41;
    const std::string nd = generated("ndjson", o);
    EXPECT_EQ(count(nd, "\n"), 41u);
    std::size_t start = 0;
    for (int i = 0; i < 41; ++i) {
        const auto end = nd.find('\n', start);
        EXPECT_TRUE(boost::json::parse(nd.substr(start, end - start)).is_object());
        start = end + 1;
    }
    // CSV: a header row and one row per record, each ended by CRLF (a note's own line break is
    // a bare LF inside its quoted field).
    const std::string csv = generated("csv", o);
    EXPECT_EQ(count(csv, "\r\n"), 42u);
    EXPECT_EQ(csv.rfind("id,", 0), 0u);
    const std::string xml = generated("xml", o);
    EXPECT_EQ(count(xml, "<records"), 41u);
    EXPECT_NE(xml.find("queryResponse"), std::string::npos);
}

TEST(ContactGenerator, PaginationStartsAtTheFirstIndexAsked) {
    contact_export_options o;
    o.records = 5;
    o.first = 10;
    const std::string page = generated("ndjson", o);
    EXPECT_NE(page.find(make_contact(o.seed, 10).id), std::string::npos);
    EXPECT_NE(page.find(make_contact(o.seed, 14).id), std::string::npos);
    EXPECT_EQ(page.find(make_contact(o.seed, 15).id), std::string::npos);
}

}  // namespace
}  // namespace exportwall::bench
