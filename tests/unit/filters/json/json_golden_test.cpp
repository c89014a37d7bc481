// Golden tests on realistic export shapes (Dataverse OData, HubSpot v3, Salesforce REST), each fed
// in every chunking: whole, one byte at a time, every two-piece split and random splits.

#include <gtest/gtest.h>

#include <string>

#include "filters/json/json_filter.hpp"
#include "tests/unit/filters/json/json_test_support.hpp"

namespace exportwall::filters {
namespace {

using testing::fields;
using testing::read_file;
using testing::run_every_chunking;
using testing::shared_testdata;

std::size_t dropped(const filter_counters& c, drop_reason r) {
    return c.dropped[static_cast<std::size_t>(r)];
}

std::size_t stripped(const filter_counters& c, const std::string& name) {
    auto it = c.stripped_fields.find(name);
    return it == c.stripped_fields.end() ? 0 : it->second;
}

// Maps the CRM's host to exportwall's public URL; any other host is unknown (removed).
std::optional<std::string> public_url(std::string_view url) {
    constexpr std::string_view crm = "https://org.crm.dynamics.com/";
    if (url.substr(0, crm.size()) != crm) return std::nullopt;
    return "https://exports.example.com/" + std::string(url.substr(crm.size()));
}

// A Dataverse Web API page: value[], OData annotations, a next link, a consent flag that is
// read by the rules but not exported, and the splitting hazards (escapes, a surrogate pair,
// multi-byte UTF-8 and exponent numbers).
constexpr std::string_view dataverse_page = R"({
  "@odata.context": "https://org.crm.dynamics.com/api/data/v9.2/$metadata#contacts",
  "value": [
    {
      "@odata.etag": "W/\"4711\"",
      "contactid": "0f1e2d3c-0000-0000-0000-000000000001",
      "fullname": "Zo\u00eb \"Zed\" D\u00fcpont \ud83d\ude00",
      "emailaddress1": "zoe@example.com",
      "emailaddress1@OData.Community.Display.V1.FormattedValue": "zoe@example.com",
      "telephone1": "+32 2 555 01 01",
      "birthdate": "1980-01-01",
      "donotbulkemail": false,
      "donotbulkemail@OData.Community.Display.V1.FormattedValue": "Allow",
      "creditlimit": 1.0E+2,
      "creditlimit@OData.Community.Display.V1.FormattedValue": "€100.00",
      "address1_city": "Gent",
      "_parentcustomerid_value": "9a8b7c6d-0000-0000-0000-000000000002",
      "_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account"
    },
    {
      "@odata.etag": "W/\"4712\"",
      "contactid": "0f1e2d3c-0000-0000-0000-000000000003",
      "fullname": "Ana\tLine\nBreak \\ back",
      "emailaddress1": "ana@example.com",
      "telephone1": null,
      "donotbulkemail": true,
      "donotbulkemail@OData.Community.Display.V1.FormattedValue": "Do Not Allow",
      "creditlimit": -0.5e-3
    },
    {
      "@odata.etag": "W/\"4713\"",
      "contactid": "0f1e2d3c-0000-0000-0000-000000000004",
      "fullname": "Łukasz Żółć",
      "emailaddress1": null,
      "donotbulkemail": false,
      "creditlimit": 12345678901234567890123
    }
  ],
  "@odata.nextLink": "https://org.crm.dynamics.com/api/data/v9.2/contacts?$select=fullname&$skiptoken=%3Ccookie%20pagenumber=%222%22%3E"
})";

filter_spec dataverse_spec() {
    filter_spec spec;
    spec.format = body_format::json;
    spec.records = "/value";
    spec.allowed = fields({"contactid", "fullname", "emailaddress1", "creditlimit"});
    spec.rules.conditions.push_back(
        {"donotbulkemail", condition_op::equals, {"false"}, false, drop_reason::no_consent});
    spec.link_fields = {"/@odata.nextLink"};
    spec.rewrite_link = public_url;
    return spec;
}

TEST(JsonGolden, DataverseKeepsAllowedFieldsAndTheirAnnotations) {
    auto r = run_every_chunking(dataverse_spec(), dataverse_page);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(
        r.output,
        R"({"@odata.context":"https://org.crm.dynamics.com/api/data/v9.2/$metadata#contacts",)"
        R"("value":[{"contactid":"0f1e2d3c-0000-0000-0000-000000000001",)"
        "\"fullname\":\"Zo\xC3\xAB \\\"Zed\\\" D\xC3\xBCpont \xF0\x9F\x98\x80\","
        R"("emailaddress1":"zoe@example.com",)"
        R"("emailaddress1@OData.Community.Display.V1.FormattedValue":"zoe@example.com",)"
        R"("creditlimit":1.0E+2,)"
        R"("creditlimit@OData.Community.Display.V1.FormattedValue":"€100.00"},)"
        R"({"contactid":"0f1e2d3c-0000-0000-0000-000000000004","fullname":"Łukasz Żółć",)"
        R"("emailaddress1":null,"creditlimit":12345678901234567890123}],)"
        R"("@odata.nextLink":"https://exports.example.com/api/data/v9.2/contacts?$select=fullname&$skiptoken=%3Ccookie%20pagenumber=%222%22%3E"})");
    EXPECT_EQ(r.counters.records_in, 3u);
    EXPECT_EQ(r.counters.records_out, 2u);
    EXPECT_EQ(dropped(r.counters, drop_reason::no_consent), 1u);
    EXPECT_EQ(r.counters.links_rewritten, 1u);
    EXPECT_EQ(stripped(r.counters, "telephone1"), 2u);
    EXPECT_EQ(stripped(r.counters, "donotbulkemail"), 3u);
    EXPECT_EQ(stripped(r.counters, "@odata.etag"), 3u);
    EXPECT_EQ(
        stripped(r.counters, "_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"),
        1u);
    EXPECT_EQ(r.counters.bytes_in, dataverse_page.size());
    EXPECT_EQ(r.counters.bytes_out, r.output.size());
}

TEST(JsonGolden, DataverseEtagPassesOnlyWhenAllowedLiterally) {
    auto spec = dataverse_spec();
    spec.allowed = fields({"contactid", "@odata.etag"});
    spec.rules = {};
    auto r = run_every_chunking(spec, dataverse_page);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_NE(r.output.find(R"({"@odata.etag":"W/\"4711\"","contactid":)"), std::string::npos)
        << r.output;

    spec.allowed = fields({"contactid", "@odata"});  // an ancestor is not a literal entry
    r = run_every_chunking(spec, dataverse_page);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output.find("etag"), std::string::npos) << r.output;
}

// A HubSpot CRM v3 page: results[], the fields under `properties`, record members outside it
// checked by their own name, and a paging link to a host exportwall does not front.
constexpr std::string_view hubspot_page = R"({
  "results": [
    {
      "id": "512",
      "properties": {
        "createdate": "2024-01-02T10:00:00.000Z",
        "email": "bh@hubspot.com",
        "firstname": "Brian",
        "lastname": "Halligan",
        "hs_object_id": "512",
        "marketing_consent": "true",
        "address": {"city": "Cambridge", "zip": "02141"}
      },
      "createdAt": "2024-01-02T10:00:00.000Z",
      "archived": false
    },
    {
      "id": "513",
      "properties": {"email": "nobody@example.com", "firstname": "No", "marketing_consent": "false"},
      "archived": false
    },
    {
      "id": "514",
      "properties": {"firstname": "Missing", "email": "missing@example.com"},
      "archived": false
    }
  ],
  "paging": {
    "next": {
      "after": "NTI1Cg%3D%3D",
      "link": "https://api.hubapi.com/crm/v3/objects/contacts?after=NTI1Cg%3D%3D"
    }
  }
})";

TEST(JsonGolden, HubSpotFiltersUnderPropertiesAndRemovesForeignLink) {
    filter_spec spec;
    spec.records = "/results";
    spec.field_root = "properties";
    spec.allowed = fields({"id", "email", "firstname", "address.city"});
    spec.rules.conditions.push_back(
        {"marketing_consent", condition_op::is_true, {}, false, drop_reason::no_consent});
    spec.link_fields = {"/paging/next/link"};
    spec.rewrite_link = public_url;
    auto r = run_every_chunking(spec, hubspot_page);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"results":[{"id":"512","properties":{"email":"bh@hubspot.com",)"
                        R"("firstname":"Brian","address":{"city":"Cambridge"}}}],)"
                        R"("paging":{"next":{"after":"NTI1Cg%3D%3D"}}})");
    EXPECT_EQ(r.counters.records_in, 3u);
    EXPECT_EQ(r.counters.records_out, 1u);
    EXPECT_EQ(dropped(r.counters, drop_reason::no_consent), 2u);
    EXPECT_EQ(r.counters.links_removed, 1u);
    EXPECT_EQ(stripped(r.counters, "createdAt"), 1u);
    EXPECT_EQ(stripped(r.counters, "archived"), 3u);
    EXPECT_EQ(stripped(r.counters, "marketing_consent"), 2u);
    EXPECT_EQ(stripped(r.counters, "address.zip"), 1u);
    EXPECT_EQ(stripped(r.counters, "properties.email"), 0u);
}

TEST(JsonGolden, HubSpotWithoutRewriterRemovesLink) {
    filter_spec spec;
    spec.records = "/results";
    spec.field_root = "properties";
    spec.allowed = fields({"id"});
    spec.link_fields = {"/paging/next/link"};
    auto r = run_every_chunking(spec, hubspot_page);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              R"({"results":[{"id":"512","properties":{}},{"id":"513","properties":{}},)"
              R"({"id":"514","properties":{}}],"paging":{"next":{"after":"NTI1Cg%3D%3D"}}})");
    EXPECT_EQ(r.counters.links_removed, 1u);
}

class SalesforceFixtures : public ::testing::Test {
  protected:
    std::string fixture(const std::string& name) {
        auto text = read_file(shared_testdata() + "/restforce/fixtures/sobject/" + name);
        if (!text) ADD_FAILURE() << "missing fixture " << name;
        return text.value_or("");
    }
    void SetUp() override {
        if (!read_file(shared_testdata() +
                       "/restforce/fixtures/sobject/query_success_response.json")) {
            GTEST_SKIP() << "restforce fixtures not found under " << shared_testdata()
                         << " (../shared/testdata is absent)";
        }
    }
};

TEST_F(SalesforceFixtures, NestedRelationshipAndSubqueryRecordsAreFiltered) {
    filter_spec spec;
    spec.records = "/records";
    spec.allowed = fields({"Text_Label", "ParentWhizbang__r.Name", "Whizbangs__r.records.Name"});
    auto r = run_every_chunking(spec, fixture("query_success_response.json"));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"totalSize":1,"done":true,"records":[{"Text_Label":"Hi there!",)"
                        R"("ParentWhizbang__r":{"Name":"Parent Whizbang"},)"
                        R"("Whizbangs__r":{"records":[{"Name":"Child Whizbang"}]}}]})");
    EXPECT_EQ(stripped(r.counters, "attributes"), 1u);
    EXPECT_EQ(stripped(r.counters, "ParentWhizbang__r.attributes"), 1u);
    EXPECT_EQ(stripped(r.counters, "Whizbangs__r.records.attributes"), 1u);
    EXPECT_EQ(stripped(r.counters, "Whizbangs__r.totalSize"), 1u);
    EXPECT_EQ(stripped(r.counters, "Checkbox_Label"), 1u);
    EXPECT_EQ(r.counters.records_out, 1u);
}

TEST_F(SalesforceFixtures, AttributesPassOnlyWhenAllowed) {
    filter_spec spec;
    spec.records = "/records";
    spec.allowed = fields({"attributes", "Id"});
    auto r = run_every_chunking(spec, fixture("org_query_response.json"));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              R"({"totalSize":1,"done":true,"records":[{"attributes":{"type":"Organization",)"
              R"("url":"/services/data/v20.0/sobjects/Organization/00Dx0000000BV7z"},)"
              R"("Id":"00Dx0000000BV7z"}]})");
}

TEST_F(SalesforceFixtures, NextRecordsUrlIsRewritten) {
    filter_spec spec;
    spec.records = "/records";
    spec.allowed = fields({"Text_Label"});
    spec.link_fields = {"/nextRecordsUrl"};
    spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
        return "https://exports.example.com" + std::string(url);
    };
    auto r = run_every_chunking(spec, fixture("query_paginated_first_page_response.json"));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              R"({"totalSize":2,"done":false,)"
              R"("nextRecordsUrl":"https://exports.example.com/services/data/v26.0/query/01gD",)"
              R"("records":[{"Text_Label":"First Page"}]})");
    EXPECT_EQ(r.counters.links_rewritten, 1u);
}

TEST_F(SalesforceFixtures, AggregateNumbersKeepTheirLexemes) {
    filter_spec spec;
    spec.records = "/records";
    spec.allowed = fields({"CampaignId", "expr0"});
    spec.rules.conditions.push_back(
        {"CampaignId", condition_op::not_empty, {}, false, drop_reason::condition});
    auto r = run_every_chunking(spec, fixture("query_aggregate_success_response.json"));
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              R"({"totalSize":3,"done":true,"records":[{"CampaignId":"701E0000000JuFHIA0",)"
              R"("expr0":300.0},{"CampaignId":"701E00000005ZqAIAU","expr0":100.0}]})");
    EXPECT_EQ(dropped(r.counters, drop_reason::condition), 1u);
}

TEST_F(SalesforceFixtures, EmptyPageAndLastPagePassThrough) {
    filter_spec spec;
    spec.records = "/records";
    spec.allowed = fields({"Text_Label"});
    auto empty = run_every_chunking(spec, fixture("query_empty_response.json"));
    ASSERT_FALSE(empty.error) << empty.error.message();
    EXPECT_EQ(empty.output, R"({"totalSize":0,"done":true,"records":[]})");
    auto last = run_every_chunking(spec, fixture("query_paginated_last_page_response.json"));
    ASSERT_FALSE(last.error) << last.error.message();
    EXPECT_EQ(last.output, R"({"totalSize":2,"done":true,"records":[{"Text_Label":"Last Page"}]})");
}

TEST_F(SalesforceFixtures, ResponseWithoutRecordsIsRefused) {
    filter_spec spec;
    spec.records = "/records";
    spec.allowed = fields({"Id"});
    auto r = testing::run_whole(spec, fixture("sobject_find_success_response.json"));
    EXPECT_EQ(r.error, make_error_code(filter_error::records_not_found));
}

}  // namespace
}  // namespace exportwall::filters
