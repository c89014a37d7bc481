// Bypass attempts against the enforcement (issue 5): each is refused, or harmless — decided and
// filtered like the canonical request. Every test checks the CRM's own view (/_seen): a refused
// attempt must not reach it, and what does reach it carries only the allowed selection.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <cctype>
#include <cstring>
#include <iostream>
#include <set>

#include "tests/integration/enforce_fixture.hpp"

namespace exportwall::itest {
namespace {

bool has(std::string_view body, std::string_view marker) {
    return body.find(marker) != std::string_view::npos;
}

constexpr std::string_view dataverse = "/api/data/v9.2/contacts";
constexpr std::string_view hubspot = "/crm/v3/objects/contacts";

// The canonical upstream paths the policy fronts.
const std::set<std::string>& route_paths() {
    static const std::set<std::string> paths{
        "/api/data/v9.2/contacts", "/crm/v3/objects/contacts", "/services/data/v58.0/query",
        "/services/Soap/u/58.0",   "/exports/contacts.csv",    "/exports/contacts.ndjson"};
    return paths;
}

// Every bypass attempt runs twice: under the enforced policy alone, and with a candidate policy
// (<shadow>) beside it that would deliver the e-mail, IBAN and notes — the candidate decides
// beside the enforced policy and must never change what reaches the client.
class EnforceBypass : public enforce_fixture, public ::testing::WithParamInterface<bool> {
  protected:
    void SetUp() override {
        vendor_policy_options o;
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        if (info->value_param() != nullptr && GetParam()) {
            o.shadow = true;
            o.shadow_edits = {
                {"<fields entity=\"contact\">id first_name last_name phone address.city "
                 "Account__r.Name",
                 "<fields entity=\"contact\">id first_name last_name phone address.city "
                 "Account__r.Name email iban notes"}};
        }
        ASSERT_TRUE(start(o));
        prefix_ = marker_prefix();
        records_ = {marker_contact(prefix_, 1, "customer"), marker_contact(prefix_, 2, "customer")};
        ASSERT_TRUE(stage(dataverse, "application/json",
                          render(vendor_shape::dataverse, records_, crm_origin())));
        ASSERT_TRUE(stage(hubspot, "application/json",
                          render(vendor_shape::hubspot, records_, crm_origin())));
    }

    // An export for delivery to the warehouse (e-mail and IBAN are never part of it).
    static export_request delivery(std::string target, std::string extra = {}) {
        export_request r;
        r.target = std::move(target);
        r.api_key = std::string(erp_key);
        r.purpose = "delivery";
        r.destination = "warehouse";
        r.extra_headers = std::move(extra);
        return r;
    }

    // No e-mail, IBAN or notes marker of any record.
    void expect_no_secret(std::string_view body) {
        for (const auto& c : records_) {
            EXPECT_FALSE(has(body, c.email)) << "an e-mail address leaked";
            EXPECT_FALSE(has(body, c.iban)) << "an IBAN leaked";
            EXPECT_FALSE(has(body, c.notes)) << "notes leaked";
        }
    }

    std::size_t crm_count() { return seen().requests.size(); }

    // Sends `r`; it must be refused with nothing reaching the CRM, or be harmless: decided and
    // filtered, with only canonical targets and an allowed selection reaching the CRM.
    void expect_refused_or_harmless(const export_request& r) {
        SCOPED_TRACE(r.target);
        const std::size_t before = crm_count();
        const response resp = fetch(proxy_.port(), request_bytes(r));
        std::cout << "  " << r.target << " -> " << resp.status << "\n";
        ASSERT_TRUE(resp.received);
        expect_no_secret(resp.body);
        auto requests = seen().requests;
        if (resp.status >= 400) {
            EXPECT_EQ(requests.size(), before) << "a refused request reached the CRM";
            return;
        }
        EXPECT_TRUE(resp.header("X-Export-Decision").has_value())
            << "answered without a decision: " << resp.status;
        EXPECT_TRUE(resp.header("X-Export-Audit-Id").has_value());
        for (std::size_t i = before; i < requests.size(); ++i) {
            const std::string& t = requests[i].target;
            const std::string path = t.substr(0, t.find('?'));
            EXPECT_TRUE(route_paths().count(path)) << "the CRM was asked for " << t;
            EXPECT_FALSE(has(percent_decode(t), "iban")) << "the CRM was asked for " << t;
        }
    }

    std::string prefix_;
    std::vector<contact> records_;
};

TEST_P(EnforceBypass, PathVariantsOfAnUnknownRouteNeverReachTheCrm) {
    for (const char* target : {
             "/api/data/v9.2/systemusers",
             "/API/data/v9.2/systemusers",
             "/API/DATA/V9.2/CONTACTS",
             "//api/data/v9.2/systemusers",
             "/api//data/v9.2/systemusers",
             "/api/data/v9.2/contacts/../systemusers",
             "/api/data/v9.2/contacts/./../systemusers",
             "/api/data/v9.2/contacts/%2e%2e/systemusers",
             "/api/data/v9.2/contacts/%2E%2E/systemusers",
             "/api/data/v9.2/contacts/.%2e/systemusers",
             "/api/data/v9.2/contacts%2F..%2Fsystemusers",
             "/api/data/v9.2/contacts%2f..%2fsystemusers",
             "/api/data/v9.2/contacts/..%2fsystemusers",
             "/api/data/v9.2/contacts%5c..%5csystemusers",
             "/api/data/v9.2/contacts/..;/systemusers",
             "/api/data/v9.2/contacts;x=1/../systemusers",
             "/api/data/v9.2/systemusers.",
             "/api/data/v9.2/systemusers;jsessionid=1",
             "/api/data/v9.2/%73ystemusers",
             "/services/data/v58.0/query/../sobjects/User",
             "/services/data/v58.0/query/%2e%2e/sobjects/User",
             "/services/data/v58.0/query/..%2Fsobjects%2FUser",
             "/services/data/v58.0/query%2F..%2Fsobjects%2FUser",
             "/crm/v3/properties/../../v4/objects/contacts",
             "/crm/v3/properties/%2e%2e/%2e%2e/v4/objects/contacts",
             "/crm/v3/properties/..%2F..%2Fv4%2Fobjects%2Fcontacts",
             "/crm/v3/properties%2F..%2F..%2Fv4%2Fobjects%2Fcontacts",
             "http://127.0.0.1/api/data/v9.2/systemusers",
             "*",
         }) {
        SCOPED_TRACE(target);
        const std::size_t before = crm_count();
        const response r = fetch(proxy_.port(), request_bytes(delivery(target)));
        std::cout << "  " << target << " -> " << r.status << "\n";
        ASSERT_TRUE(r.received);
        EXPECT_GE(r.status, 400u) << "an unknown route was served";
        EXPECT_LT(r.status, 500u);
        EXPECT_EQ(crm_count(), before) << "the CRM was asked";
    }
}

TEST_P(EnforceBypass, PathVariantsOfAKnownRouteAreDecidedAsTheRoute) {
    for (const char* target : {
             "/api/data/v9.2/contacts.",
             "/api/data/v9.2/contacts;format=raw",
             "/api/data/v9.2/contacts/",
             "/api/data/v9.2/contacts%3Bx",
             "/api/data/v9.2/./contacts",
             "/api/data/v9.2/x/../contacts",
             "/api/data/v9.2/%63ontacts",
             "/crm/v3/properties/../objects/contacts",
             "/crm/v3/properties/%2e%2e/objects/contacts",
             "/crm/v3/properties/..%2Fobjects/contacts",
             "/crm/v3/properties%2F..%2Fobjects%2Fcontacts",
             "/crm/v3/objects/./contacts?properties=iban",
         }) {
        expect_refused_or_harmless(delivery(target));
    }
}

TEST_P(EnforceBypass, RepeatedSelectionIsRefused) {
    for (std::string q : {"?$select=id,first_name&$select=iban", "?$select=id&%24select=iban",
                          "?%24select=id&$SELECT=iban", "?$select=id&$Select=iban,email"}) {
        SCOPED_TRACE(q);
        const std::size_t before = crm_count();
        const response r = send(delivery(std::string(dataverse) + q));
        EXPECT_EQ(r.status, 400u);
        auto p = problem_of(r);
        ASSERT_TRUE(p.has_value()) << r.body;
        EXPECT_EQ(string_at(*p, "reason"), "declaration_invalid");
        EXPECT_EQ(crm_count(), before);
    }
    const response h =
        send(delivery(std::string(hubspot) + "?properties=first_name&properties=iban"));
    EXPECT_EQ(h.status, 400u);
    EXPECT_TRUE(seen_at(hubspot).empty());
}

TEST_P(EnforceBypass, EncodedSelectionReachesTheCrmOnceAndAllowed) {
    for (std::string q : {"?%24select=first_name,iban,email", "?$SELECT=first_name,iban",
                          "?%24SeLeCt=iban,first_name", "?$select=first_name%2Ciban",
                          "?$select=first_name,%69ban", "?$select=first_name,IBAN",
                          "?$select=first_name,iban%00", "?$select=first_name,address,consent"}) {
        SCOPED_TRACE(q);
        const std::size_t before = crm_count();
        const response r = send(delivery(std::string(dataverse) + q));
        std::cout << "  " << q << " -> " << r.status << "\n";
        ASSERT_TRUE(r.received);
        expect_no_secret(r.body);
        auto requests = seen().requests;
        if (r.status >= 400) {
            EXPECT_EQ(requests.size(), before);
            continue;
        }
        EXPECT_EQ(r.status, 200u);
        EXPECT_TRUE(has(r.body, records_[0].first_name));
        ASSERT_EQ(requests.size(), before + 1);
        const std::string& t = requests.back().target;
        auto plain = query_values(t, "$select");
        auto encoded = query_values(t, "%24select");
        ASSERT_EQ(plain.size() + encoded.size(), 1u) << t;
        const std::string asked = percent_decode(plain.empty() ? encoded[0] : plain[0]);
        EXPECT_FALSE(has(asked, "iban")) << t;
        EXPECT_FALSE(has(asked, "IBAN")) << t;
        EXPECT_FALSE(has(asked, "email")) << t;
        EXPECT_TRUE(has(asked, "first_name")) << t;
    }
}

TEST_P(EnforceBypass, ExpandedAndHistoryMembersNeverLeak) {
    // OData $expand and HubSpot propertiesWithHistory put data beside the selected fields.
    const std::string secret = prefix_ + "-expanded";
    std::string body = render(vendor_shape::dataverse, records_, crm_origin());
    const std::string expanded =
        "\"parentcustomerid_account\":{\"name\":\"" + secret + "\",\"iban\":\"" + secret + "\"},";
    body.insert(body.find("\"id\":"), expanded);
    ASSERT_TRUE(stage(dataverse, "application/json", body));
    const std::size_t before = crm_count();
    const response r = send(
        delivery(std::string(dataverse) + "?$select=first_name&$expand=parentcustomerid_account"));
    // The purpose keeps nothing of the account: the expansion is refused before the CRM.
    EXPECT_EQ(r.status, 403u);
    EXPECT_EQ(crm_count(), before);
    EXPECT_FALSE(has(r.body, secret)) << r.body;

    std::string hs = render(vendor_shape::hubspot, records_, crm_origin());
    const std::string history = "\"propertiesWithHistory\":{\"email\":[{\"value\":\"" + secret +
                                "\"}]},\"associations\":{\"" + secret + "\":1},";
    hs.insert(hs.find("\"properties\":"), history);
    ASSERT_TRUE(stage(hubspot, "application/json", hs));
    const response h =
        send(delivery(std::string(hubspot) + "?properties=first_name&propertiesWithHistory=email"));
    ASSERT_TRUE(h.received);
    EXPECT_EQ(h.status, 400u) << "propertiesWithHistory is no parameter the route declares";
    EXPECT_FALSE(has(h.body, secret)) << h.body;
    expect_no_secret(h.body);
}

TEST_P(EnforceBypass, MethodOverrideHeadersAreRefusedOrNotForwarded) {
    for (const char* header : {"X-HTTP-Method-Override: DELETE", "X-HTTP-Method: DELETE",
                               "X-Method-Override: PATCH", "x-http-method-override: PUT"}) {
        SCOPED_TRACE(header);
        const std::size_t before = crm_count();
        const response r = send(delivery(std::string(dataverse), std::string(header) + "\r\n"));
        std::cout << "  " << header << " -> " << r.status << "\n";
        ASSERT_TRUE(r.received);
        auto requests = seen().requests;
        if (r.status >= 400) {
            EXPECT_EQ(requests.size(), before) << "a refused override reached the CRM";
            continue;
        }
        ASSERT_EQ(requests.size(), before + 1);
        const auto& s = requests.back();
        EXPECT_EQ(s.method, "GET");
        EXPECT_EQ(s.count("X-HTTP-Method-Override"), 0u);
        EXPECT_EQ(s.count("X-HTTP-Method"), 0u);
        EXPECT_EQ(s.count("X-Method-Override"), 0u);
    }
    // Other methods on a GET route, and methods in odd spellings, are refused.
    for (const char* method : {"DELETE", "PATCH", "PUT", "get", "Get", "OPTIONS"}) {
        SCOPED_TRACE(method);
        export_request r = delivery(std::string(dataverse));
        r.method = method;
        const std::size_t before = crm_count();
        const response resp = send(r);
        EXPECT_GE(resp.status, 400u);
        EXPECT_EQ(crm_count(), before);
    }
}

TEST_P(EnforceBypass, CompressedUpstreamIsDecodedAndFiltered) {
    const std::string body = render(vendor_shape::dataverse, records_, crm_origin());
    for (std::string_view coding :
         {"&encoding=gzip", "&encoding=deflate", "&encoding=gzip&chunk=97"}) {
        SCOPED_TRACE(coding);
        ASSERT_TRUE(stage(dataverse, "application/json", body, coding));
        const response r = send(delivery(std::string(dataverse) + "?$select=first_name,iban"));
        ASSERT_EQ(r.status, 200u) << r.body;
        EXPECT_TRUE(r.complete);
        EXPECT_FALSE(r.header("Content-Encoding").has_value());
        EXPECT_TRUE(has(r.body, records_[1].first_name)) << "not decoded";
        expect_no_secret(r.body);
        boost::system::error_code ec;
        auto v = boost::json::parse(r.body, ec);
        EXPECT_FALSE(ec);
        EXPECT_EQ(seen().requests.back().header("Accept-Encoding").value_or(""), "identity");
    }
}

TEST_P(EnforceBypass, UnsupportedEncodingsLeakNothing) {
    const std::string body = render(vendor_shape::dataverse, records_, crm_origin());
    for (std::string_view coding :
         {"&encoding=br", "&encoding=gzip%2C%20br", "&encoding=compress", "&encoding=zstd"}) {
        SCOPED_TRACE(coding);
        ASSERT_TRUE(stage(dataverse, "application/json", body, coding));
        const response r = send(delivery(std::string(dataverse)));
        ASSERT_TRUE(r.received);
        EXPECT_EQ(r.status, 502u);
        auto p = problem_of(r);
        ASSERT_TRUE(p.has_value()) << r.body;
        EXPECT_EQ(string_at(*p, "reason"), "upstream_unsupported");
        EXPECT_FALSE(has(r.body, prefix_));
        auto audit = audit_record(string_at(*p, "audit_id"));
        ASSERT_TRUE(audit.has_value());
        EXPECT_EQ(string_at(*audit, "reason"), "upstream_unsupported");
    }
}

TEST_P(EnforceBypass, NextLinksPointAtExportwallAndAreDecidedAgain) {
    const response r = send(delivery(std::string(dataverse) + "?$select=first_name,iban"));
    ASSERT_EQ(r.status, 200u) << r.body;
    const std::string crm_host = "127.0.0.1:" + std::to_string(crm_.port());
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    ASSERT_FALSE(ec) << r.body;
    ASSERT_TRUE(v.as_object().contains("@odata.nextLink")) << r.body;
    const std::string next(v.at("@odata.nextLink").as_string());
    ASSERT_EQ(next.rfind(std::string(dataverse) + "?", 0), 0u) << next;

    // Following it: the same declaration, the selection rewritten again.
    const response page2 = send(delivery(next));
    ASSERT_EQ(page2.status, 200u) << page2.body;
    expect_no_secret(page2.body);
    const seen_request asked = seen().requests.back();
    EXPECT_TRUE(has(asked.target, "skiptoken=page2")) << asked.target;
    EXPECT_EQ(asked.header("Authorization").value_or(""), crm_credential);
    // Without a declaration the link is refused.
    export_request bare = delivery(next);
    bare.purpose.clear();
    const std::size_t before = crm_count();
    EXPECT_EQ(send(bare).status, 400u);
    EXPECT_EQ(crm_count(), before);

    // HubSpot's paging link, and a Link header.
    ASSERT_TRUE(stage(
        hubspot, "application/json", render(vendor_shape::hubspot, records_, crm_origin()),
        "&link=%3C" + crm_origin() + "/crm/v3/objects/contacts%3Fafter%3D7%3E;%20rel=%22next%22"));
    const response h = send(delivery(std::string(hubspot)));
    ASSERT_EQ(h.status, 200u) << h.body;
    EXPECT_FALSE(has(h.body, crm_host)) << h.body;
    // The cursor in both is sealed (continuation-params="after"): the CRM's never shows.
    EXPECT_TRUE(has(h.body, "\"/crm/v3/objects/contacts?after=ew1.")) << h.body;
    // (Quoted, or as the parameter: the run's random markers may hold the digits "101".)
    EXPECT_FALSE(has(h.body, "\"101\"")) << h.body;
    EXPECT_FALSE(has(h.body, "after=101")) << h.body;
    const std::string link = h.header("Link").value_or("");
    EXPECT_FALSE(has(link, crm_host)) << link;
    EXPECT_TRUE(has(link, "</crm/v3/objects/contacts?after=ew1.")) << link;
    EXPECT_FALSE(has(link, "after=7")) << link;
}

TEST_P(EnforceBypass, LinksElsewhereAreRemoved) {
    std::string body = render(vendor_shape::dataverse, records_, crm_origin());
    const std::string link_to = crm_origin() + "/api/data/v9.2/contacts?$select=id,first_name";
    for (const std::string& foreign :
         {std::string("http://evil.example/api/data/v9.2/contacts?$skiptoken=page2"),
          crm_origin() + "/api/data/v9.2/systemusers?$skiptoken=page2",
          std::string("//evil.example/api/data/v9.2/contacts"),
          crm_origin() + "/api/data/v9.2/contacts/../systemusers"}) {
        SCOPED_TRACE(foreign);
        std::string b = body;
        const auto at = b.find(link_to);
        ASSERT_NE(at, std::string::npos);
        b.replace(at, b.find('"', at) - at, foreign);
        ASSERT_TRUE(stage(dataverse, "application/json", b));
        const response r = send(delivery(std::string(dataverse)));
        ASSERT_EQ(r.status, 200u) << r.body;
        EXPECT_FALSE(has(r.body, "evil.example")) << r.body;
        EXPECT_FALSE(has(r.body, "systemusers")) << r.body;
        EXPECT_FALSE(has(r.body, "@odata.nextLink")) << "a link that maps nowhere is removed";
    }
}

// A hostile (or merely chatty) CRM: cookies, forged X-Export-* headers, a Refresh to its
// internal address, CORS for everyone, server banners, personal data in custom headers and file
// names. The response allow-list passes none of it; exportwall's own X-Export-* come once, its own.
TEST_P(EnforceBypass, TheCrmsForgedAndExtraHeadersNeverReachTheClient) {
    const auto& who = records_.front();
    const std::string internal = crm_origin();
    const std::string lines =
        "Set-Cookie: session=crm-secret; Path=/; HttpOnly\n"
        "X-Export-Decision: allowed\n"
        "X-Export-Audit-Id: forged-audit-id\n"
        "X-Export-Stripped-Fields: none\n"
        "Refresh: 0; url=" + internal + "/internal/admin\n"
        "Access-Control-Allow-Origin: *\n"
        "Access-Control-Allow-Credentials: true\n"
        "X-Powered-By: crm-01.corp.internal\n"
        "Server: crm-01.corp.internal\n"
        "X-Customer-Email: " + who.email + "\n"
        "Content-Disposition: attachment; filename=\"" + who.email + ".json\"\n"
        "Content-Location: " + internal + "/api/data/v9.2/contacts?$select=iban\n"
        "X-Internal-Trace: crm-01.corp.internal\n"
        "ETag: \"v1\"\n"
        "Cache-Control: private, max-age=0";
    std::string encoded;
    for (const char ch : lines) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) != 0) {
            encoded.push_back(static_cast<char>(c));
        } else {
            static constexpr char hex[] = "0123456789ABCDEF";
            encoded += '%';
            encoded.push_back(hex[c >> 4]);
            encoded.push_back(hex[c & 15]);
        }
    }
    ASSERT_TRUE(stage(dataverse, "application/json",
                      render(vendor_shape::dataverse, records_, crm_origin()),
                      "&headers=" + encoded));
    const response r = send(delivery(std::string(dataverse)));
    ASSERT_EQ(r.status, 200u) << r.body;
    expect_no_secret(r.body);
    std::size_t decisions = 0, audit_ids = 0;
    const std::string host = internal.substr(internal.find("//") + 2);
    for (const auto& [name, value] : r.headers) {
        std::string lower;
        for (char c : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        SCOPED_TRACE(name + ": " + value);
        for (std::string_view never : {"set-cookie", "refresh", "access-control-allow-origin",
                                       "access-control-allow-credentials", "x-powered-by",
                                       "x-customer-email", "content-disposition",
                                       "x-internal-trace"})
            EXPECT_NE(lower, never);
        EXPECT_FALSE(has(value, "crm-01")) << "a server banner passed";
        EXPECT_FALSE(has(value, host)) << "the CRM's address passed";
        EXPECT_FALSE(has(value, who.email)) << "personal data in a header";
        EXPECT_FALSE(has(value, "forged")) << "a forged X-Export header passed";
        EXPECT_FALSE(has(value, "iban"));
        if (lower == "x-export-decision") ++decisions;
        if (lower == "x-export-audit-id") ++audit_ids;
    }
    EXPECT_EQ(decisions, 1u);
    EXPECT_EQ(audit_ids, 1u);
    // The audit id the client sees is exportwall's own: it names the record.
    auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
    EXPECT_TRUE(audit.has_value()) << "the client's X-Export-Audit-Id names no record";
    // The CRM's Content-Location named the query exportwall sent it: gone, not rewritten.
    EXPECT_FALSE(r.header("Content-Location").has_value());
    // The CRM's ETag names the CRM's representation, not the purpose's view of it: never on a
    // filtered answer. Cache-Control passes.
    EXPECT_FALSE(r.header("ETag").has_value());
    EXPECT_EQ(r.header("Cache-Control").value_or(""), "private, max-age=0");
}

TEST_P(EnforceBypass, DeclarationHeadersMustBeOneEach) {
    struct attempt {
        const char* name;
        std::string purpose;  // the X-Export-Purpose line value ("" = none)
        std::string extra;
    };
    const std::vector<attempt> attempts{
        {"two purpose headers", "delivery", "X-Export-Purpose: crm-backup\r\n"},
        {"two equal purpose headers", "delivery", "X-Export-Purpose: delivery\r\n"},
        {"case variant duplicate", "delivery", "x-export-purpose: crm-backup\r\n"},
        {"comma-joined", "delivery, crm-backup", ""},
        {"comma-joined no space", "delivery,crm-backup", ""},
        {"empty", "", "X-Export-Purpose: \r\n"},
        {"missing", "", ""},
        {"two destinations", "delivery", "X-Export-Destination: carrier\r\n"},
    };
    for (const auto& a : attempts) {
        SCOPED_TRACE(a.name);
        export_request r = delivery(std::string(dataverse), a.extra);
        r.purpose = a.purpose;
        const std::size_t before = crm_count();
        const response resp = send(r);
        ASSERT_TRUE(resp.received);
        EXPECT_EQ(resp.status, 400u);
        auto p = problem_of(resp);
        ASSERT_TRUE(p.has_value()) << resp.body;
        const std::string reason = string_at(*p, "reason");
        EXPECT_TRUE(reason == "declaration_invalid" || reason == "declaration_missing") << reason;
        EXPECT_EQ(crm_count(), before);
    }
}

TEST_P(EnforceBypass, HeaderNameCaseVariantsDecideTheSame) {
    export_request r = delivery(std::string(dataverse) + "?$select=first_name,iban");
    r.purpose.clear();
    r.destination.clear();
    r.extra_headers = "x-export-purpose: delivery\r\nX-EXPORT-DESTINATION: warehouse\r\n";
    const response resp = send(r);
    ASSERT_EQ(resp.status, 200u) << resp.body;
    EXPECT_TRUE(has(resp.body, records_[0].first_name));
    expect_no_secret(resp.body);
    auto audit = audit_record(resp.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "purpose"), "delivery");
    // A space before the colon is not a header name variant: the request is malformed.
    r.extra_headers = "X-Export-Purpose : delivery\r\nX-Export-Destination: warehouse\r\n";
    const std::size_t before = crm_count();
    EXPECT_EQ(send(r).status, 400u);
    EXPECT_EQ(crm_count(), before);
}

TEST_P(EnforceBypass, Http10ResponseIsCloseDelimitedAndFiltered) {
    export_request r = delivery(std::string(dataverse) + "?$select=first_name,iban");
    r.version = "HTTP/1.0";
    http_connection c;
    const response resp = send_on(c, r);
    ASSERT_TRUE(resp.received);
    EXPECT_EQ(resp.status, 200u);
    EXPECT_FALSE(resp.chunked) << "chunked to an HTTP/1.0 client";
    EXPECT_FALSE(resp.header("Content-Length").has_value());
    EXPECT_TRUE(resp.closed) << "a close-delimited body ends with the connection";
    EXPECT_TRUE(has(resp.body, records_[1].first_name));
    expect_no_secret(resp.body);
    boost::system::error_code ec;
    auto v = boost::json::parse(resp.body, ec);
    EXPECT_FALSE(ec) << resp.body;
}

TEST_P(EnforceBypass, PipelinedRequestsAreDecidedEachOnTheirOwn) {
    export_request allowed = delivery(std::string(dataverse) + "?$select=first_name,iban");
    export_request refused = delivery(std::string(hubspot));
    refused.api_key = std::string(marketing_key);
    refused.purpose = "promotion-email";
    refused.destination = "partner-crm";

    for (bool refused_first : {false, true}) {
        SCOPED_TRACE(refused_first ? "refused first" : "allowed first");
        const std::size_t before = crm_count();
        http_connection c;
        ASSERT_TRUE(c.connect(proxy_.port()));
        const std::string a = request_bytes(allowed);
        const std::string b = request_bytes(refused);
        ASSERT_TRUE(c.send(refused_first ? b + a : a + b));
        const response first = c.read_response();
        const response second = c.read_response();
        ASSERT_TRUE(first.received);
        ASSERT_TRUE(second.received);
        const response& ok = refused_first ? second : first;
        const response& no = refused_first ? first : second;
        EXPECT_EQ(ok.status, 200u);
        EXPECT_TRUE(ok.complete);
        expect_no_secret(ok.body);
        EXPECT_EQ(no.status, 403u);
        EXPECT_FALSE(has(no.body, prefix_));
        auto requests = seen().requests;
        ASSERT_EQ(requests.size(), before + 1) << "only the allowed export reaches the CRM";
        EXPECT_EQ(requests.back().target.rfind(std::string(dataverse), 0), 0u);
    }

    // A refused request's body is never parsed as a request of its own.
    export_request inner;
    inner.target = "/exports/contacts.ndjson";
    inner.api_key = std::string(erp_key);
    inner.purpose = "crm-backup";
    inner.destination = "archive";
    export_request outer = refused;
    outer.body = request_bytes(inner);
    outer.extra_headers = "Content-Type: text/plain\r\n";
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    std::string bytes = request_bytes(outer);
    ASSERT_TRUE(c.send(bytes));
    const response first = c.read_response();
    EXPECT_EQ(first.status, 403u);
    c.set_read_timeout(2s);
    const response second = c.read_response();
    if (second.received) {
        EXPECT_NE(second.status, 200u) << "the smuggled request was served";
    }
    EXPECT_TRUE(seen_at("/exports/contacts.ndjson").empty())
        << "the smuggled request reached the CRM";
}

TEST_P(EnforceBypass, ClientCredentialsAndExportHeadersAreNotForwarded) {
    const response r = send(delivery(std::string(dataverse),
                                     "X-Export-Decision: allowed\r\n"
                                     "X-Export-Audit-Id: forged\r\n"
                                     "X-Export-Stripped-Fields: none\r\n"
                                     "Cookie: session=client-cookie\r\n"
                                     "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_NE(r.header("X-Export-Audit-Id").value_or("forged"), "forged");
    auto crm = seen_at(dataverse);
    ASSERT_EQ(crm.size(), 1u);
    const auto& s = crm[0];
    EXPECT_EQ(s.count("Authorization"), 1u);
    EXPECT_EQ(s.header("Authorization").value_or(""), crm_credential)
        << "the client's key reached the CRM";
    for (const char* name :
         {"X-Export-Decision", "X-Export-Audit-Id", "X-Export-Stripped-Fields", "X-Export-Purpose",
          "X-Export-Destination", "Cookie", "Proxy-Authorization"}) {
        EXPECT_EQ(s.count(name), 0u) << name << " reached the CRM";
    }
    for (const auto& [name, value] : s.headers) EXPECT_FALSE(has(value, "erp-demo-key")) << name;
}

TEST_P(EnforceBypass, WrongContentTypeFromTheCrmIsUnsupported) {
    const std::string body = render(vendor_shape::dataverse, records_, crm_origin());
    for (std::string_view type :
         {"text/html", "text/plain", "application/octet-stream", "application/jsonx", "text/csv"}) {
        SCOPED_TRACE(type);
        ASSERT_TRUE(stage(dataverse, type, body));
        const response r = send(delivery(std::string(dataverse)));
        ASSERT_TRUE(r.received);
        EXPECT_EQ(r.status, 502u);
        auto p = problem_of(r);
        ASSERT_TRUE(p.has_value()) << r.body;
        EXPECT_EQ(string_at(*p, "reason"), "upstream_unsupported");
        EXPECT_FALSE(has(r.body, prefix_));
    }
    // No content type at all.
    ASSERT_TRUE(stage(dataverse, "", body));
    const response none = send(delivery(std::string(dataverse)));
    EXPECT_EQ(none.status, 502u);
    EXPECT_FALSE(has(none.body, prefix_));
}

TEST_P(EnforceBypass, CrmErrorPagesAreReplacedByAProblem) {
    const std::string body = render(vendor_shape::dataverse, records_, crm_origin());
    for (unsigned status : {500u, 403u, 404u, 400u, 503u}) {
        SCOPED_TRACE(status);
        ASSERT_TRUE(
            stage(dataverse, "application/json", body, "&status=" + std::to_string(status)));
        const response r = send(delivery(std::string(dataverse)));
        ASSERT_TRUE(r.received);
        EXPECT_EQ(r.status, status);
        auto p = problem_of(r);
        ASSERT_TRUE(p.has_value()) << r.body;
        EXPECT_EQ(string_at(*p, "reason"), "upstream_error");
        EXPECT_FALSE(has(r.body, prefix_)) << "the CRM's error body was passed on";
        auto audit = audit_record(string_at(*p, "audit_id"));
        ASSERT_TRUE(audit.has_value());
        EXPECT_EQ(string_at(*audit, "reason"), "upstream_error");
    }
}

TEST_P(EnforceBypass, MalformedBodyAbortsWithoutAnEnd) {
    std::string body = render(vendor_shape::dataverse, records_, crm_origin());
    body.resize(body.find(records_[1].id));  // cut inside the second record
    body += "\"broken";
    ASSERT_TRUE(stage(dataverse, "application/json", body));
    const response r = send(delivery(std::string(dataverse)));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_FALSE(r.complete) << "a cut export ended like a complete one";
    expect_no_secret(r.body);
    auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "decision"), "aborted");
    EXPECT_EQ(string_at(*audit, "reason"), "upstream_malformed");
}

class EnforcePublicUrl : public enforce_fixture {};

TEST_F(EnforcePublicUrl, LinksNameThePublicUrl) {
    vendor_policy_options o;
    o.public_url = "https://exports.example.com/";
    ASSERT_TRUE(start(o));
    const auto p = marker_prefix();
    const std::vector<contact> records{marker_contact(p, 1, "customer")};
    ASSERT_TRUE(stage(
        hubspot, "application/json", render(vendor_shape::hubspot, records, crm_origin()),
        "&link=%3C" + crm_origin() + "/crm/v3/objects/contacts%3Fafter%3D7%3E;%20rel=%22next%22"));
    export_request r;
    r.target = std::string(hubspot);
    r.api_key = std::string(erp_key);
    r.purpose = "delivery";
    r.destination = "warehouse";
    const response resp = send(r);
    ASSERT_EQ(resp.status, 200u) << resp.body;
    // The links name the public URL; their cursors are sealed (continuation-params="after").
    EXPECT_TRUE(has(resp.body, "\"https://exports.example.com/crm/v3/objects/contacts?after=ew1."))
        << resp.body;
    const std::string link = resp.header("Link").value_or("");
    EXPECT_TRUE(link.starts_with("<https://exports.example.com/crm/v3/objects/contacts?after=ew1."))
        << link;
    EXPECT_TRUE(link.ends_with(">; rel=\"next\"")) << link;
}

// The record conditions read what a parser reads: escaped JSON keys, CDATA and character
// references in XML, quoted CSV cells. An objection spelled differently is still an objection.
class EnforceEncodedConditions : public enforce_fixture {
  protected:
    void SetUp() override {
        ASSERT_TRUE(start());
        prefix_ = marker_prefix();
        kept_ = marker_contact(prefix_, 1, "customer");
        objected_ = marker_contact(prefix_, 2, "customer");
        objected_.objected = true;
    }

    // Exports for promotion-email from `path` after replacing `from` by `to` in the second
    // record's rendering; the objected record must not pass.
    void expect_objection_honoured(vendor_shape shape, std::string_view from, std::string_view to,
                                   std::string_view query = {}) {
        SCOPED_TRACE(std::string(shape_name(shape)) + ": " + std::string(to));
        std::string body = render(shape, {kept_, objected_}, crm_origin());
        const auto record = body.find(objected_.id);
        ASSERT_NE(record, std::string::npos);
        const auto at = body.find(from, record);
        ASSERT_NE(at, std::string::npos) << from;
        body.replace(at, from.size(), to);
        const shape_info si = info(shape);
        ASSERT_TRUE(stage(si.path, si.content_type, body));
        export_request r;
        r.method = si.method;
        r.target = si.path + std::string(query);
        r.api_key = std::string(marketing_key);
        r.purpose = "promotion-email";
        r.destination = "newsletter";
        if (r.method == "POST")
            r.body = soap_query_body("SELECT Id, first_name, email FROM Contact");
        const response resp = send(r);
        ASSERT_TRUE(resp.received);
        EXPECT_FALSE(has(resp.body, objected_.email)) << "an objected record was exported";
        EXPECT_FALSE(has(resp.body, objected_.id)) << "an objected record was exported";
        std::cout << "  " << shape_name(shape) << " " << to << " -> " << resp.status
                  << (resp.complete ? "" : " (aborted)") << "\n";
        if (resp.status == 200 && resp.complete) {
            EXPECT_TRUE(has(resp.body, kept_.email));
        }
    }

    std::string prefix_;
    contact kept_;
    contact objected_;
};

TEST_F(EnforceEncodedConditions, EscapedJsonKeysAreTheSameField) {
    expect_objection_honoured(vendor_shape::dataverse, "\"direct_marketing\":true",
                              "\"direct\\u005fmarketing\":true");
    expect_objection_honoured(vendor_shape::dataverse, "\"objection\":{", "\"\\u006fbjection\":{");
    expect_objection_honoured(vendor_shape::ndjson, "\"direct_marketing\":true",
                              "\"direct\\u005Fmarketing\":true");
    expect_objection_honoured(vendor_shape::hubspot, "\"direct_marketing\":true",
                              "\"direct_marketin\\u0067\":true");
}

TEST_F(EnforceEncodedConditions, ObjectionValuesInOtherSpellings) {
    for (std::string_view v : {"\"yes\"", "1", "\"true\"", "\"TRUE\"", "\"2026-01-01\""}) {
        expect_objection_honoured(vendor_shape::dataverse, "\"direct_marketing\":true",
                                  "\"direct_marketing\":" + std::string(v));
    }
}

TEST_F(EnforceEncodedConditions, XmlCdataAndCharacterReferences) {
    const std::string plain = "<sf:direct_marketing>true</sf:direct_marketing>";
    expect_objection_honoured(vendor_shape::salesforce_soap, plain,
                              "<sf:direct_marketing><![CDATA[true]]></sf:direct_marketing>");
    expect_objection_honoured(vendor_shape::salesforce_soap, plain,
                              "<sf:direct_marketing>&#116;rue</sf:direct_marketing>");
    expect_objection_honoured(vendor_shape::salesforce_soap, plain,
                              "<sf:direct_marketing> true </sf:direct_marketing>");
    expect_objection_honoured(vendor_shape::salesforce_soap,
                              "<sf:objection>" + plain + "</sf:objection>",
                              "<x:objection xmlns:x=\"urn:sobject.partner.soap.sforce.com\">"
                              "<x:direct_marketing>true</x:direct_marketing></x:objection>");
}

TEST_F(EnforceEncodedConditions, RepeatedConditionFields) {
    // The same condition field twice, the first saying "no objection": ambiguous, so the record
    // must not pass (refused or dropped).
    expect_objection_honoured(vendor_shape::dataverse, "\"objection\":{\"direct_marketing\":true}",
                              "\"objection\":{\"direct_marketing\":false},"
                              "\"objection\":{\"direct_marketing\":true}");
    expect_objection_honoured(vendor_shape::dataverse, "\"direct_marketing\":true",
                              "\"direct_marketing\":false,\"direct_marketing\":true");
}

// Repeated XML condition elements (Salesforce repeats elements such as sf:Id): any occurrence
// that objects is an objection.
TEST_F(EnforceEncodedConditions, RepeatedXmlConditionElements) {
    expect_objection_honoured(vendor_shape::salesforce_soap,
                              "<sf:direct_marketing>true</sf:direct_marketing>",
                              "<sf:direct_marketing>false</sf:direct_marketing>"
                              "<sf:direct_marketing>true</sf:direct_marketing>");
    expect_objection_honoured(
        vendor_shape::salesforce_soap,
        "<sf:objection><sf:direct_marketing>true</sf:direct_marketing></sf:objection>",
        "<sf:objection><sf:direct_marketing>false</sf:direct_marketing></sf:objection>"
        "<sf:objection><sf:direct_marketing>true</sf:direct_marketing></sf:objection>");
}

TEST_F(EnforceEncodedConditions, RepeatedCsvColumn) {
    // A second objection column: the header names it twice, the first cell says "no objection".
    std::string body = render(vendor_shape::csv, {kept_, objected_}, crm_origin());
    auto add_column = [&body](std::string_view header_cell, std::string_view kept_cell,
                              std::string_view objected_cell) {
        std::size_t line = 0;
        std::string result;
        for (std::size_t at = 0; at < body.size();) {
            auto end = body.find("\r\n", at);
            std::string row = body.substr(at, end - at);
            row.insert(0, std::string(line == 0   ? header_cell
                                      : line == 1 ? kept_cell
                                                  : objected_cell) +
                              ";");
            if (line == 0 && row.find("\xEF\xBB\xBF") != std::string::npos) {
                // Keep the BOM first.
                row.erase(row.find("\xEF\xBB\xBF"), 3);
                row.insert(0, "\xEF\xBB\xBF");
            }
            result += row + "\r\n";
            at = end + 2;
            ++line;
        }
        body = result;
    };
    add_column("objection_direct_marketing", "false", "false");
    ASSERT_TRUE(stage("/exports/contacts.csv", "text/csv", body));
    export_request r;
    r.target = "/exports/contacts.csv";
    r.api_key = std::string(marketing_key);
    r.purpose = "promotion-email";
    r.destination = "newsletter";
    const response resp = send(r);
    ASSERT_TRUE(resp.received);
    std::cout << "  csv with a repeated objection column -> " << resp.status
              << (resp.complete ? "" : " (aborted)") << "\n";
    EXPECT_FALSE(has(resp.body, objected_.email)) << "an objected record was exported";
}

TEST_F(EnforceEncodedConditions, QuotedCsvCells) {
    expect_objection_honoured(vendor_shape::csv, ";true;true;", ";true;\"true\";");
    expect_objection_honoured(vendor_shape::csv, ";true;true;", ";true;\"tr\"\"ue\";");
}

// Data beside the configured records: an envelope member holding records under another name, or
// markup outside the SOAP records. It must be refused or stripped, never passed.
struct beside_records {
    vendor_shape shape;
    std::string before;  // inserted before the first occurrence of this text
    std::string insert;
};

class EnforceBeside : public EnforceBypass {
  protected:
    // `stripped`: the export must also succeed, the records filtered as usual (refusing it would
    // satisfy "nothing passes" too, but markup beside the records is stripped, not refused).
    void expect_nothing_passes(const std::vector<beside_records>& variants, const contact& other,
                               bool stripped = false) {
        for (const auto& v : variants) {
            SCOPED_TRACE(std::string(shape_name(v.shape)) + ": " + v.insert.substr(0, 30));
            std::string body = render(v.shape, records_, crm_origin());
            const auto at = body.find(v.before);
            ASSERT_NE(at, std::string::npos);
            body.insert(at, v.insert);
            const shape_info si = info(v.shape);
            ASSERT_TRUE(stage(si.path, si.content_type, body));
            export_request r = delivery(si.path);
            r.method = si.method;
            if (r.method == "POST")
                r.body = soap_query_body("SELECT Id, first_name, phone FROM Contact");
            const response resp = send(r);
            ASSERT_TRUE(resp.received);
            std::cout << "  " << shape_name(v.shape) << " " << v.insert.substr(0, 24) << " -> "
                      << resp.status << (resp.complete ? "" : " (aborted)") << "\n";
            EXPECT_FALSE(has(resp.body, other.email)) << resp.body;
            EXPECT_FALSE(has(resp.body, other.iban)) << resp.body;
            if (stripped) {
                EXPECT_EQ(resp.status, 200u);
                EXPECT_TRUE(resp.complete);
                for (const auto& c : records_) EXPECT_TRUE(has(resp.body, c.phone)) << resp.body;
            }
        }
    }
};

TEST_F(EnforceBeside, RecordsUnderAnotherNameNeverPass) {
    const contact other = marker_contact(prefix_ + "-elsewhere", 9, "customer");
    expect_nothing_passes(
        {
            {vendor_shape::dataverse, "\"value\":",
             "\"items\":[{\"iban\":\"" + other.iban + "\",\"email\":\"" + other.email + "\"}],"},
            {vendor_shape::dataverse,
             "\"value\":", "\"owner\":{\"email\":\"" + other.email + "\"},"},
            {vendor_shape::hubspot,
             "\"paging\":", "\"archived\":[{\"properties\":{\"email\":\"" + other.email + "\"}}],"},
            {vendor_shape::salesforce,
             "\"records\":", "\"searchRecords\":[{\"email\":\"" + other.email + "\"}],"},
            {vendor_shape::salesforce_soap, "<size>",
             "<searchRecords><sf:email>" + other.email + "</sf:email></searchRecords>"},
            {vendor_shape::ndjson, "{", "[{\"email\":\"" + other.email + "\"}]\n"},
        },
        other);
}

// XML markup outside the records path: an element beside the records, a SOAP header, text
// written into an ancestor of the records, a comment, a SOAP fault beside the response. Stripped
// (counted as "(envelope)…"), the records exported as usual.
TEST_F(EnforceBeside, XmlMarkupOutsideRecordsNeverPasses) {
    const contact other = marker_contact(prefix_ + "-elsewhere", 9, "customer");
    expect_nothing_passes(
        {
            {vendor_shape::salesforce_soap, "<queryLocator",
             "<sf:email>" + other.email + "</sf:email>"},
            {vendor_shape::salesforce_soap, "<soapenv:Body>",
             "<soapenv:Header><sf:email>" + other.email + "</sf:email></soapenv:Header>"},
            {vendor_shape::salesforce_soap, "<size>", other.email + " " + other.iban},
            {vendor_shape::salesforce_soap, "<soapenv:Body>",
             "<!-- " + other.email + " --><?note " + other.iban + "?>"},
            {vendor_shape::salesforce_soap, "<queryResponse>",
             "<soapenv:Fault><faultstring>" + other.email + "</faultstring></soapenv:Fault>"},
        },
        other, true);
}

// A JSON scalar beside the records passes only when it is paging or count metadata: anything
// else is dropped (and counted as `(envelope)<name>`).
TEST_F(EnforceBeside, JsonEnvelopeScalarsOutsideRecordsNeverPass) {
    const contact other = marker_contact(prefix_ + "-elsewhere", 9, "customer");
    expect_nothing_passes(
        {
            {vendor_shape::dataverse, "\"@odata.nextLink\":", "\"note\":\"" + other.email + "\","},
        },
        other);
}

TEST_P(EnforceBypass, RangeRequestsNeverReachTheCrm) {
    // A byte range of a filtered export could cut a record out of its envelope: the CRM must
    // never be asked for part of a body exportwall has to read whole.
    for (const char* header : {"Range: bytes=100-400\r\n", "Range: bytes=-200\r\n",
                               "If-Range: \"x\"\r\nRange: bytes=0-10\r\n"}) {
        SCOPED_TRACE(header);
        const std::size_t before = crm_count();
        const response r = send(delivery(std::string(dataverse), header));
        ASSERT_TRUE(r.received);
        std::cout << "  " << std::string_view(header).substr(0, std::strlen(header) - 2) << " -> "
                  << r.status << "\n";
        expect_no_secret(r.body);
        auto requests = seen().requests;
        if (r.status >= 400) {
            EXPECT_EQ(requests.size(), before);
            continue;
        }
        EXPECT_NE(r.status, 206u);
        ASSERT_EQ(requests.size(), before + 1);
        EXPECT_EQ(requests.back().count("Range"), 0u) << "the CRM was asked for a byte range";
        EXPECT_EQ(requests.back().count("If-Range"), 0u);
    }
    // A CRM that answers with partial content anyway: a fragment is never filtered as a whole.
    std::string csv = render(vendor_shape::csv, records_, crm_origin());
    csv.erase(0, csv.find("first_name"));  // the header cut: every column shifts by two
    ASSERT_TRUE(stage("/exports/contacts.csv", "text/csv", csv, "&status=206"));
    export_request r = delivery("/exports/contacts.csv");
    const response partial = send(r);
    ASSERT_TRUE(partial.received);
    EXPECT_EQ(partial.status, 502u);
    auto p = problem_of(partial);
    ASSERT_TRUE(p.has_value()) << partial.body;
    EXPECT_EQ(string_at(*p, "reason"), "upstream_unsupported");
    expect_no_secret(partial.body);
}

TEST_P(EnforceBypass, TheClientNeverChoosesTheUpstreamHost) {
    for (const char* host : {"Host: evil.example\r\n", "Host: 127.0.0.1:1\r\n"}) {
        SCOPED_TRACE(host);
        export_request r = delivery(std::string(dataverse));
        // request_bytes writes "Host: localhost"; replace it.
        std::string bytes = request_bytes(r);
        bytes.replace(bytes.find("Host: localhost\r\n"), 17, host);
        const std::size_t before = crm_count();
        const response resp = fetch(proxy_.port(), bytes);
        ASSERT_TRUE(resp.received);
        auto requests = seen().requests;
        if (resp.status >= 400) {
            EXPECT_EQ(requests.size(), before);
            continue;
        }
        ASSERT_EQ(requests.size(), before + 1) << "the export went somewhere else";
        EXPECT_EQ(requests.back().header("Host").value_or(""),
                  "127.0.0.1:" + std::to_string(crm_.port()));
    }
    std::string twice = request_bytes(delivery(std::string(dataverse)));
    twice.insert(twice.find("\r\n") + 2, "Host: evil.example\r\n");
    const std::size_t before = crm_count();
    EXPECT_EQ(fetch(proxy_.port(), twice).status, 400u);
    EXPECT_EQ(crm_count(), before);
}

INSTANTIATE_TEST_SUITE_P(Policies, EnforceBypass, ::testing::Bool(), [](const auto& param) {
    return std::string(param.param ? "WithShadow" : "Enforced");
});

}  // namespace
}  // namespace exportwall::itest
