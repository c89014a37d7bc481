// The query guard end to end (issue 14): queries that read a field the purpose does not keep —
// oracles, renames, aggregates, searches — never reach the CRM, in every language a route speaks;
// queries that leave out a condition field reach it with that field forced back in; what reaches
// the CRM is the guard's re-serialised query. Every test checks the CRM's own view (/_seen).

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <array>
#include <cstdio>
#include <iostream>

#include "tests/integration/enforce_fixture.hpp"

namespace exportwall::itest {
namespace {

constexpr std::string_view dataverse = "/api/data/v9.2/contacts";
constexpr std::string_view hubspot = "/crm/v3/objects/contacts";
constexpr std::string_view salesforce = "/services/data/v58.0/query";
constexpr std::string_view soap = "/services/Soap/u/58.0";
constexpr std::string_view ndjson = "/exports/contacts.ndjson";

bool has(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }


class EnforceQuery : public enforce_fixture {
  protected:
    void SetUp() override {
        ASSERT_TRUE(start());
        prefix_ = marker_prefix();
        records_ = {marker_contact(prefix_, 1, "customer"), marker_contact(prefix_, 2, "customer")};
        ASSERT_TRUE(stage(dataverse, "application/json",
                          render(vendor_shape::dataverse, records_, crm_origin())));
        ASSERT_TRUE(stage(hubspot, "application/json",
                          render(vendor_shape::hubspot, records_, crm_origin())));
        ASSERT_TRUE(stage(salesforce, "application/json",
                          render(vendor_shape::salesforce, records_, crm_origin())));
        ASSERT_TRUE(stage(ndjson, "application/x-ndjson",
                          render(vendor_shape::ndjson, records_, crm_origin())));
    }

    // Delivery to the warehouse keeps id, names, phone, city: never e-mail, IBAN or notes.
    static export_request delivery(std::string target) {
        export_request r;
        r.target = std::move(target);
        r.api_key = std::string(erp_key);
        r.purpose = "delivery";
        r.destination = "warehouse";
        return r;
    }

    // E-mail promotion to the newsletter processor: consent, objection and the suppression list
    // decide each record.
    static export_request promotion(std::string target) {
        export_request r;
        r.target = std::move(target);
        r.api_key = std::string(marketing_key);
        r.purpose = "promotion-email";
        r.destination = "newsletter";
        return r;
    }

    // `r` is refused with `status` and `reason`, and nothing reaches the CRM.
    void expect_refused(const export_request& r, unsigned status, std::string_view reason) {
        SCOPED_TRACE(r.target);
        const std::size_t before = seen().requests.size();
        const response resp = send(r);
        std::cout << "  " << r.target << " -> " << resp.status << "\n";
        ASSERT_TRUE(resp.received);
        EXPECT_EQ(resp.status, status);
        auto problem = problem_of(resp);
        ASSERT_TRUE(problem.has_value()) << resp.body;
        EXPECT_EQ(problem->at("reason").as_string(), reason);
        EXPECT_EQ(seen().requests.size(), before) << "a refused query reached the CRM";
        for (const auto& c : records_) EXPECT_FALSE(has(resp.body, c.iban));
    }

    // `r` is answered 200 and the CRM received exactly one request; returns it.
    seen_request expect_forwarded(const export_request& r) {
        const std::size_t before = seen().requests.size();
        const response resp = send(r);
        EXPECT_EQ(resp.status, 200u) << r.target << "\n" << resp.body;
        auto requests = seen().requests;
        EXPECT_EQ(requests.size(), before + 1);
        if (requests.size() != before + 1) return {};
        return requests.back();
    }

    std::string prefix_;
    std::vector<contact> records_;
};

TEST_F(EnforceQuery, OdataOraclesOnAStrippedFieldNeverReachTheCrm) {
    for (const char* q : {
             "?$select=id&$filter=startswith(iban,'BE71')",
             "?$filter=contains(tolower(notes),'debt')",
             "?$filter=iban%20eq%20'BE71096123456769'",
             "?$filter=length(iban)%20gt%2010",
             "?$orderby=iban%20desc",
             "?$orderby=email",
             "?$filter=first_name%20eq%20'a'%20or%20substring(iban,0,4)%20eq%20'BE71'",
             "?$filter=not%20(email%20eq%20null)",
             "?%24filter=endswith(email,'.be')",
             "?$filter=IBAN%20eq%20'x'",
         }) {
        expect_refused(delivery(std::string(dataverse) + q), 403, "query_field_not_permitted");
    }
}

TEST_F(EnforceQuery, OdataRenamesAndAggregatesOfAStrippedFieldNeverReachTheCrm) {
    expect_refused(delivery(std::string(dataverse) + "?$select=id,phone&$compute=iban%20as%20phone"),
                   403, "query_field_not_permitted");
    expect_refused(delivery(std::string(dataverse) + "?$compute=first_name%20as%20phone"), 403,
                   "query_field_not_permitted");
    expect_refused(delivery(std::string(dataverse) + "?$compute=first_name%20as%20Consent"), 403,
                   "query_field_not_permitted");
    // Aggregated rows are no person's record: the record rules could not run on them.
    expect_refused(
        delivery(std::string(dataverse) +
                 "?$apply=groupby((id,lifecycle),aggregate(iban%20with%20max%20as%20phone))"),
        400, "query_unsupported");
    expect_refused(delivery(std::string(dataverse) + "?$apply=aggregate($count%20as%20n)"), 400,
                   "query_unsupported");
}

TEST_F(EnforceQuery, OdataWhatTheGuardDoesNotUnderstandIsRefused) {
    for (const char* q : {
             "?$search=BE71",
             "?$filter=iban%20eq%20@p&@p='x'",
             "?$filter=Microsoft.Dynamics.CRM.Like(PropertyName='iban',PropertyValue='BE%25')",
             "?$filter=cast(iban,Edm.String)%20eq%20'x'",
             "?$format=csv",
             "?filter=first_name%20eq%20'a'",
             "?$select=id&debug=1",
             "?$filter=first_name%20eq",
             "?$filter=first_name%20eq%20'unterminated",
             "?$expand=parentcustomerid_account($levels=2)",
         }) {
        SCOPED_TRACE(q);
        const std::size_t before = seen().requests.size();
        const response resp = send(delivery(std::string(dataverse) + q));
        EXPECT_GE(resp.status, 400u);
        EXPECT_LT(resp.status, 500u);
        EXPECT_EQ(seen().requests.size(), before) << "a query the guard refused reached the CRM";
    }
    expect_refused(delivery(std::string(dataverse) + "?$search=BE71"), 400, "query_unsupported");
    expect_refused(delivery(std::string(dataverse) + "?$select=id&$select=iban"), 400,
                   "declaration_invalid");
}

TEST_F(EnforceQuery, OdataQueryIsForwardedReSerialisedWithTheConditionFieldsForced) {
    seen_request r = expect_forwarded(delivery(
        std::string(dataverse) +
        "?$select=id,iban,first_name&$filter=first_name%20eq%20'O''Neil'%20and%20address/city%20ne%20null"
        "&$orderby=last_name%20desc&$top=5"));
    const std::string t = percent_decode(r.target);
    EXPECT_FALSE(has(t, "iban")) << t;
    // The subject type decides a delivery record: asked for although the client left it out.
    EXPECT_TRUE(has(t, "$select=first_name,id,lifecycle")) << t;
    EXPECT_TRUE(has(t, "$filter=first_name eq 'O''Neil' and address/city ne null")) << t;
    EXPECT_TRUE(has(t, "$orderby=last_name desc")) << t;
    EXPECT_TRUE(has(t, "$top=5")) << t;

    seen_request m = expect_forwarded(promotion(std::string(dataverse) + "?$select=id,first_name"));
    const std::string mt = percent_decode(m.target);
    for (const char* forced : {"consent/email", "objection/direct_marketing", "email", "lifecycle"})
        EXPECT_TRUE(has(mt, forced)) << forced << " was not forced into " << mt;
}

TEST_F(EnforceQuery, ExplainShowsTheGuardsRefusal) {
    // explain runs decide() without a network: the same guard, the same reason.
    std::string out = run_exportwall({"explain", "--config", proxy_.config_path(), "--client",
                                      "erp", "--purpose", "delivery", "--destination",
                                      "warehouse", "--target",
                                      std::string(dataverse) + "?$filter=startswith(iban,0)"});
    EXPECT_TRUE(has(out, "query_field_not_permitted")) << out;
    EXPECT_TRUE(has(out, "iban")) << out;
}

TEST_F(EnforceQuery, RouteWithoutALanguageTakesOnlyItsSelectionAndPagingParameters) {
    expect_refused(delivery(std::string(ndjson) + "?fields=id&filter=iban"), 400,
                   "query_unsupported");
    expect_refused(delivery(std::string(ndjson) + "?$filter=startswith(iban,'BE')"), 400,
                   "query_unsupported");
    seen_request r = expect_forwarded(delivery(std::string(ndjson) + "?fields=id,iban"));
    EXPECT_EQ(percent_decode(r.target), std::string(ndjson) + "?fields=id,lifecycle");
    // HubSpot's list API: its paging parameters are declared, anything else is refused; its
    // cursor (`after`) is one exportwall sealed, never one the client wrote.
    seen_request h = expect_forwarded(promotion(std::string(hubspot) + "?limit=10"));
    EXPECT_TRUE(has(h.target, "limit=10")) << h.target;
    expect_refused(promotion(std::string(hubspot) + "?limit=10&after=20"), 400,
                   "continuation_invalid");
    expect_refused(promotion(std::string(hubspot) + "?limit=10&propertiesWithHistory=email"), 400,
                   "query_unsupported");
}

TEST_F(EnforceQuery, SoqlOraclesAndAliasesNeverReachTheCrm) {
    for (const char* soql : {
             "SELECT+id,first_name+FROM+Contact+WHERE+iban+LIKE+'BE71%25'",
             "SELECT+id+FROM+Contact+ORDER+BY+notes",
             "SELECT+MAX(iban)+phone+FROM+Contact",
         }) {
        SCOPED_TRACE(soql);
        const std::size_t before = seen().requests.size();
        const response resp = send(delivery(std::string(salesforce) + "?q=" + soql));
        EXPECT_GE(resp.status, 400u);
        EXPECT_LT(resp.status, 500u);
        EXPECT_EQ(seen().requests.size(), before);
    }
    expect_refused(delivery(std::string(salesforce) +
                            "?q=SELECT+id+FROM+Contact+WHERE+iban+LIKE+'BE71%25'"),
                   403, "query_field_not_permitted");
    expect_refused(delivery(std::string(salesforce) + "?q=SELECT+id+FROM+User"), 400,
                   "query_unsupported");
    expect_refused(delivery(std::string(salesforce) + "?q=FIND+%7BBE71%7D"), 400,
                   "query_unsupported");
}

TEST_F(EnforceQuery, BelowASoqlRouteOnlyASealedQueryLocatorMayFollow) {
    // The first page's nextRecordsUrl carries the CRM's locator sealed: the client follows
    // exportwall's path, and the CRM gets its own locator back.
    const response first = send(delivery(std::string(salesforce) + "?q=SELECT+id+FROM+Contact"));
    ASSERT_EQ(first.status, 200u) << first.body;
    const std::string next(boost::json::parse(first.body).at("nextRecordsUrl").as_string());
    EXPECT_FALSE(has(next, "01gD")) << "the CRM's query locator reached the client: " << next;
    ASSERT_TRUE(has(next, std::string(salesforce) + "/ew1.")) << next;
    ASSERT_TRUE(stage(std::string(salesforce) + "/01gD-2000", "application/json",
                      render(vendor_shape::salesforce, records_, crm_origin())));
    seen_request r = expect_forwarded(delivery(next));
    EXPECT_EQ(r.target, std::string(salesforce) + "/01gD-2000");

    // The CRM's locator written by the client, another declaration, an altered token: refused.
    expect_refused(delivery(std::string(salesforce) + "/01gD-2000"), 400, "continuation_invalid");
    expect_refused(promotion(next), 400, "continuation_invalid");
    std::string altered = next;
    altered.back() = altered.back() == 'A' ? 'B' : 'A';
    expect_refused(delivery(altered), 400, "continuation_invalid");
    // Anything else below the route, or a query beside a locator: not understood.
    for (const std::string tail : {"/01gD/iban", "/Contact.iban"})
        expect_refused(delivery(std::string(salesforce) + tail), 400, "continuation_invalid");
    expect_refused(delivery(next + "?q=x"), 400, "query_unsupported");
}

TEST_F(EnforceQuery, HubspotListCursorIsSealedInTheBodyAndInTheLink) {
    const response first = send(delivery(std::string(hubspot) + "?limit=2&properties=first_name"));
    ASSERT_EQ(first.status, 200u) << first.body;
    auto doc = boost::json::parse(first.body);
    const std::string after(doc.at("paging").at("next").at("after").as_string());
    const std::string link(doc.at("paging").at("next").at("link").as_string());
    // The CRM's cursor is "101"; a sealed token is random and may hold those digits by chance
    // (this test once failed so), so the cursor is looked for where the CRM writes it.
    EXPECT_FALSE(has(first.body, "\"101\"")) << "the CRM's cursor reached the client: " << first.body;
    EXPECT_FALSE(has(link, "after=101")) << link;
    ASSERT_TRUE(after.starts_with("ew1.")) << after;
    ASSERT_TRUE(has(link, "after=ew1.")) << link;

    // The cursor from the body, with the same other parameters: the CRM gets its own back.
    seen_request r = expect_forwarded(
        delivery(std::string(hubspot) + "?limit=2&properties=first_name&after=" + after));
    EXPECT_TRUE(has(r.target, "after=101")) << r.target;
    // With other parameters, under another declaration, or the CRM's own: refused.
    expect_refused(delivery(std::string(hubspot) + "?limit=3&properties=first_name&after=" + after),
                   400, "continuation_invalid");
    expect_refused(promotion(std::string(hubspot) + "?limit=2&properties=first_name&after=" + after),
                   400, "continuation_invalid");
    expect_refused(delivery(std::string(hubspot) + "?limit=2&properties=first_name&after=101"), 400,
                   "continuation_invalid");
}

TEST_F(EnforceQuery, HubspotSearchCursorIsSealedAndBoundToTheSearch) {
    constexpr std::string_view search = "/crm/v3/objects/contacts/search";
    ASSERT_TRUE(stage(search, "application/json",
                      render(vendor_shape::hubspot, records_, crm_origin())));
    auto post = [](export_request r, std::string body) {
        r.method = "POST";
        r.extra_headers = "Content-Type: application/json\r\n";
        r.body = std::move(body);
        return r;
    };
    const std::string body = R"({"sorts":["first_name"],"properties":["first_name"],"limit":2)";
    const response first = send(post(delivery(std::string(search)), body + "}"));
    ASSERT_EQ(first.status, 200u) << first.body;
    const std::string after(
        boost::json::parse(first.body).at("paging").at("next").at("after").as_string());
    EXPECT_FALSE(has(first.body, "\"101\"")) << first.body;
    ASSERT_TRUE(after.starts_with("ew1.")) << after;

    // The same search with the sealed cursor: the CRM gets its own cursor.
    seen_request r =
        expect_forwarded(post(delivery(std::string(search)), body + R"(,"after":")" + after + "\"}"));
    EXPECT_TRUE(has(r.body, R"("after":"101")")) << r.body;
    EXPECT_FALSE(has(r.body, "ew1.")) << r.body;
    // Another search, another declaration, the CRM's cursor written by the client, a number.
    expect_refused(post(delivery(std::string(search)),
                        R"({"sorts":["-first_name"],"properties":["first_name"],"limit":2,"after":")" +
                            after + "\"}"),
                   400, "continuation_invalid");
    expect_refused(post(promotion(std::string(search)), body + R"(,"after":")" + after + "\"}"),
                   400, "continuation_invalid");
    expect_refused(post(delivery(std::string(search)), body + R"(,"after":"101"})"), 400,
                   "continuation_invalid");
    expect_refused(post(delivery(std::string(search)), body + R"(,"after":101})"), 400,
                   "continuation_invalid");
}

TEST_F(EnforceQuery, SoapQueryLocatorIsSealedAndOpenedForQueryMore) {
    std::string page = render(vendor_shape::salesforce_soap, records_, crm_origin());
    const std::string nil = "<done>true</done><queryLocator xsi:nil=\"true\"/>";
    ASSERT_NE(page.find(nil), std::string::npos);
    page.replace(page.find(nil), nil.size(),
                 "<done>false</done><queryLocator>01gD0000002HU6KIAW-500</queryLocator>");
    ASSERT_TRUE(stage(soap, "text/xml", page));
    export_request q = delivery(std::string(soap));
    q.method = "POST";
    q.extra_headers = "Content-Type: text/xml\r\n";
    q.body = soap_query_body("SELECT Id, first_name FROM Contact");
    const response first = send(q);
    ASSERT_EQ(first.status, 200u) << first.body;
    EXPECT_FALSE(has(first.body, "01gD")) << "the CRM's locator reached the client: " << first.body;
    const auto open = first.body.find("<queryLocator>");
    ASSERT_NE(open, std::string::npos) << first.body;
    const auto from = open + std::string_view("<queryLocator>").size();
    const std::string locator = first.body.substr(from, first.body.find('<', from) - from);
    ASSERT_TRUE(locator.starts_with("ew1.")) << locator;

    auto more = [&q](std::string_view loc) {
        export_request m = q;
        m.body = "<?xml version=\"1.0\"?><soapenv:Envelope "
                 "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
                 "xmlns:urn=\"urn:partner.soap.sforce.com\"><soapenv:Body><urn:queryMore>"
                 "<urn:queryLocator>" + std::string(loc) +
                 "</urn:queryLocator></urn:queryMore></soapenv:Body></soapenv:Envelope>";
        return m;
    };
    // Salesforce answers queryMore in a queryMoreResponse (queryAll in a queryAllResponse): the
    // same route filters it as the query's page.
    std::string more_page = render(vendor_shape::salesforce_soap, records_, crm_origin());
    for (const std::string tag : {"<queryResponse>", "</queryResponse>"}) {
        ASSERT_NE(more_page.find(tag), std::string::npos);
        more_page.replace(more_page.find(tag), tag.size(),
                          tag.substr(0, tag.size() - 1) == "<queryResponse" ? "<queryMoreResponse>"
                                                                           : "</queryMoreResponse>");
    }
    ASSERT_TRUE(stage(soap, "text/xml", more_page));
    const std::size_t before = seen().requests.size();
    const response page2 = send(more(locator));
    ASSERT_EQ(page2.status, 200u) << page2.body;
    EXPECT_TRUE(has(page2.body, "<queryMoreResponse>")) << page2.body;
    EXPECT_TRUE(has(page2.body, records_[0].first_name)) << page2.body;
    for (const auto& c : records_) EXPECT_FALSE(has(page2.body, c.iban)) << page2.body;
    auto requests = seen().requests;
    ASSERT_EQ(requests.size(), before + 1);
    const seen_request& r = requests.back();
    EXPECT_TRUE(has(r.body, ">01gD0000002HU6KIAW-500<")) << r.body;
    expect_refused(more("01gD0000002HU6KIAW-500"), 400, "continuation_invalid");
    export_request other = more(locator);
    other.destination = "carrier";  // the same client and purpose, another destination
    expect_refused(other, 400, "continuation_invalid");
}

TEST_F(EnforceQuery, SoqlThatLeavesOutTheObjectionFieldGetsItForced) {
    // The issue's reproduction: an objected contact would pass a marketing export whose SELECT
    // leaves the objection field out.
    seen_request r = expect_forwarded(promotion(
        std::string(salesforce) +
        "?q=SELECT+id,first_name,email,lifecycle,consent.email+FROM+Contact"));
    const std::string t = percent_decode(r.target);
    EXPECT_TRUE(has(t, "objection.direct_marketing")) << t;
    EXPECT_TRUE(has(t, "FROM Contact")) << t;
}

TEST_F(EnforceQuery, SoapQueryBodyIsCheckedAndForwardedReSerialised) {
    ASSERT_TRUE(stage(soap, "text/xml", render(vendor_shape::salesforce_soap, records_, crm_origin())));
    export_request bad = delivery(std::string(soap));
    bad.method = "POST";
    bad.extra_headers = "Content-Type: text/xml\r\n";
    bad.body = soap_query_body("SELECT Id FROM Contact WHERE iban LIKE 'BE71%'");
    expect_refused(bad, 403, "query_field_not_permitted");

    export_request junk = bad;
    junk.body = "<not-soap/>";
    expect_refused(junk, 400, "query_unsupported");

    export_request ok = bad;
    ok.body = soap_query_body("SELECT Id, first_name, iban FROM Contact");
    // The client's description of the body and its validators never reach the CRM: the body is
    // exportwall's, and a 304 would tell when a hidden field changed.
    ok.extra_headers =
        "Content-Type: text/xml; charset=utf-7\r\nIf-None-Match: \"v1\"\r\nSOAPAction: retrieve\r\n";
    seen_request r = expect_forwarded(ok);
    EXPECT_EQ(r.header("Content-Type").value_or(""), "text/xml; charset=utf-8");
    EXPECT_EQ(r.count("Content-Type"), 1u);
    EXPECT_EQ(r.header("SOAPAction").value_or("none"), "\"\"");
    EXPECT_FALSE(r.header("If-None-Match").has_value());
    EXPECT_FALSE(has(r.body, "iban")) << r.body;
    EXPECT_TRUE(has(r.body, "lifecycle")) << r.body;  // the subject rule's field, forced
    EXPECT_EQ(r.body_bytes, r.body.size());
}

TEST_F(EnforceQuery, PagingTokensAreSealedForTheDeclarationThatStartedTheExport) {
    const response first = send(delivery(std::string(dataverse) + "?$select=id,first_name"));
    ASSERT_EQ(first.status, 200u) << first.body;
    auto doc = boost::json::parse(first.body).as_object();
    const std::string next(doc.at("@odata.nextLink").as_string());
    EXPECT_FALSE(has(next, "page2")) << "the CRM's paging token reached the client: " << next;
    ASSERT_TRUE(has(next, "$skiptoken=ew1.")) << next;
    const std::string target = next.substr(next.find("/api/"));

    // The same declaration follows the link: the CRM gets its own token back.
    seen_request r = expect_forwarded(delivery(target));
    EXPECT_TRUE(has(r.target, "$skiptoken=page2")) << r.target;

    // Another declaration, an altered token, or the CRM's token written by the client: refused
    // before the CRM.
    export_request other = promotion(target);
    expect_refused(other, 400, "continuation_invalid");
    std::string altered = target;
    altered.back() = altered.back() == 'A' ? 'B' : 'A';
    expect_refused(delivery(altered), 400, "continuation_invalid");
    expect_refused(delivery(std::string(dataverse) + "?$select=id,first_name&$skiptoken=page2"),
                   400, "continuation_invalid");
    // In another letter case or encoding the guard reads the same option: still a paging token.
    for (const char* spelling : {"$SKIPTOKEN", "$SkipToken", "%24skipToken"})
        expect_refused(delivery(std::string(dataverse) + "?$select=id,first_name&" + spelling +
                                "=page2"),
                       400, "continuation_invalid");
    expect_refused(delivery(std::string(dataverse) +
                            "?$skiptoken=%3Ccookie%20pagenumber=%222%22%3E%3Ciban%20last=%22BE%22/%3E"),
                   400, "continuation_invalid");
    // Another selection than the link's: the token is bound to the query it was issued for.
    std::string widened = target;
    widened.replace(widened.find("first_name"), 10, "last_name");
    expect_refused(delivery(widened), 400, "continuation_invalid");
}

TEST_F(EnforceQuery, HubspotSearchBodyIsCheckedAndForwardedReSerialised) {
    constexpr std::string_view search = "/crm/v3/objects/contacts/search";
    ASSERT_TRUE(stage(search, "application/json",
                      render(vendor_shape::hubspot, records_, crm_origin())));
    auto post = [](export_request r, std::string body) {
        r.method = "POST";
        r.extra_headers = "Content-Type: application/json\r\n";
        r.body = std::move(body);
        return r;
    };
    // A filter or a sort on the IBAN is an oracle; a search over e-mail addresses reads a field
    // the delivery does not keep; an unknown member is not understood.
    expect_refused(post(delivery(std::string(search)),
                        R"({"filterGroups":[{"filters":[{"propertyName":"iban","operator":)"
                        R"("CONTAINS_TOKEN","value":"BE71*"}]}]})"),
                   403, "query_field_not_permitted");
    expect_refused(post(delivery(std::string(search)), R"({"sorts":["-iban"]})"), 403,
                   "query_field_not_permitted");
    expect_refused(post(delivery(std::string(search)), R"({"query":"BE71"})"), 403,
                   "query_field_not_permitted");
    expect_refused(post(delivery(std::string(search)), R"({"associations":["companies"]})"), 400,
                   "query_unsupported");
    expect_refused(post(delivery(std::string(search)), R"({"properties":["id"],"properties":[]})"),
                   400, "query_unsupported");

    // Leaving the objection out of the properties: forced back in.
    seen_request r = expect_forwarded(post(
        promotion(std::string(search)),
        R"({"query":"ann","properties":["first_name","email"],"limit":10})"));
    EXPECT_TRUE(has(r.body, "objection.direct_marketing")) << r.body;
    EXPECT_TRUE(has(r.body, "consent.email")) << r.body;
    EXPECT_TRUE(has(r.body, R"("query":"ann")")) << r.body;
    EXPECT_EQ(r.body_bytes, r.body.size());
    EXPECT_EQ(r.header("Content-Length").value_or(""), std::to_string(r.body.size()));
}

TEST_F(EnforceQuery, ABodyIsReadOnlyForAClientThePolicyLetsThatFar) {
    // An anonymous client announces a large SOAP body and sends a few bytes of it: it is
    // refused at once, its body unread (no waiting for it, nothing held for it).
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    ASSERT_TRUE(c.send("POST " + std::string(soap) +
                       " HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
                       "X-Export-Purpose: delivery\r\nX-Export-Destination: warehouse\r\n"
                       "Content-Length: 500000\r\n\r\n<soapenv:Envelope"));
    const response r = c.read_response();
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 401u);
    EXPECT_TRUE(c.peer_closed());
    EXPECT_TRUE(seen_at(soap).empty());
}

TEST_F(EnforceQuery, BodyOnARouteWhoseLanguageReadsNoneIsRefused) {
    export_request r = delivery(std::string(ndjson));
    r.method = "GET";
    r.body = "{\"filter\":\"iban\"}";
    expect_refused(r, 400, "query_unsupported");
}

}  // namespace
}  // namespace exportwall::itest
