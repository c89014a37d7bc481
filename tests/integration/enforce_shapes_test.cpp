// End to end, per CRM vendor shape (issue 5): an allowed purpose, a stripping purpose, record
// filtering and a refused third-party direct-marketing transfer, each checked in the client's
// response, the audit record and the CRM's own view of what it was asked. The Salesforce REST and
// SOAP fixtures of ../shared/testdata (restforce, soapforce) run as the CRM sends them.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <iostream>
#include <set>
#include <sstream>

#include "tests/integration/enforce_fixture.hpp"

namespace exportwall::itest {
namespace {

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    while (!s.empty()) {
        auto at = s.find(sep);
        out.emplace_back(s.substr(0, at));
        s = at == std::string_view::npos ? std::string_view{} : s.substr(at + 1);
    }
    return out;
}

bool has(std::string_view body, std::string_view marker) {
    return body.find(marker) != std::string_view::npos;
}

// Every marker of a record.
std::vector<std::string> markers(const contact& c) {
    return {c.id, c.first_name, c.last_name, c.email, c.phone, c.iban, c.notes, c.city};
}

// The SOAP request a Partner API client posts.
constexpr std::string_view soap_query =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
    "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
    "xmlns:urn=\"urn:partner.soap.sforce.com\"><soapenv:Body><urn:query><urn:queryString>"
    "SELECT Id, first_name FROM Contact</urn:queryString></urn:query></soapenv:Body>"
    "</soapenv:Envelope>";

// The same for the soapforce fixture's opportunities.
constexpr std::string_view soap_opportunity_query =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
    "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
    "xmlns:urn=\"urn:partner.soap.sforce.com\"><soapenv:Body><urn:query><urn:queryString>"
    "SELECT Id, Name, StageName FROM Opportunity</urn:queryString></urn:query></soapenv:Body>"
    "</soapenv:Envelope>";

class EnforceShape : public enforce_fixture, public ::testing::WithParamInterface<vendor_shape> {
  protected:
    vendor_shape shape() const { return GetParam(); }

    // The request for this shape, asking for `fields` (dotted names) where the route has a
    // selection parameter.
    export_request request(std::string_view key, std::string_view purpose,
                           std::string_view destination,
                           const std::vector<std::string>& fields) const {
        const shape_info si = info(shape());
        export_request r;
        r.method = si.method;
        r.target = si.path;
        r.api_key = std::string(key);
        r.purpose = std::string(purpose);
        r.destination = std::string(destination);
        if (!si.select_param.empty() && !fields.empty()) {
            r.target += "?" + si.select_param + "=";
            for (std::size_t i = 0; i < fields.size(); ++i) {
                if (i > 0) r.target += ",";
                r.target += field_name(shape(), fields[i]);
            }
            // A declared paging parameter (OData's own $top; `limit` on the others).
            r.target += shape() == vendor_shape::dataverse ? "&$top=50" : "&limit=50";
        } else if (shape() == vendor_shape::salesforce) {
            r.target += "?q=SELECT+Id,first_name+FROM+Contact";
        }
        if (si.method == "POST") r.body = std::string(soap_query);
        return r;
    }

    ::testing::AssertionResult stage_records(const std::vector<contact>& records) {
        const shape_info si = info(shape());
        return stage(si.path, si.content_type, render(shape(), records, crm_origin()));
    }

    // The names the CRM was asked for in the selection parameter (decoded), or nullopt when
    // the request carried none.
    std::optional<std::set<std::string>> crm_selection(const seen_request& s) const {
        const shape_info si = info(shape());
        auto values = query_values(s.target, si.select_param);
        if (si.select_param == "$select") {
            // The encoded name counts too: the CRM decodes it.
            for (auto& v : query_values(s.target, "%24select")) values.push_back(v);
        }
        EXPECT_LE(values.size(), 1u) << "the selection reached the CRM twice: " << s.target;
        if (values.empty()) return std::nullopt;
        std::set<std::string> names;
        for (auto& n : split(percent_decode(values.front()), ',')) names.insert(n);
        return names;
    }

    void expect_valid_document(const response& r) const {
        switch (shape()) {
            case vendor_shape::dataverse:
            case vendor_shape::hubspot:
            case vendor_shape::salesforce: {
                boost::system::error_code ec;
                auto v = boost::json::parse(r.body, ec);
                EXPECT_FALSE(ec) << "the filtered body is not JSON: " << ec.message();
                break;
            }
            case vendor_shape::ndjson:
                for (const auto& line : split(r.body, '\n')) {
                    if (line.empty()) continue;
                    boost::system::error_code ec;
                    auto v = boost::json::parse(line, ec);
                    EXPECT_FALSE(ec) << "an NDJSON line is not JSON";
                }
                break;
            case vendor_shape::salesforce_soap:
                EXPECT_TRUE(has(r.body, "</soapenv:Envelope>")) << "the envelope is not closed";
                break;
            case vendor_shape::csv:
                EXPECT_TRUE(r.body.rfind("\xEF\xBB\xBF", 0) == 0 || r.body.rfind("id", 0) == 0)
                    << "the CSV does not start with its header";
                break;
        }
    }
};

TEST_P(EnforceShape, AllowedPurposePassesEveryRecordAndField) {
    ASSERT_TRUE(start());
    const auto p = marker_prefix();
    const std::vector<contact> records{marker_contact(p, 1, "customer"),
                                       marker_contact(p, 2, "lead"),
                                       marker_contact(p, 3, "former")};
    ASSERT_TRUE(stage_records(records));

    const response r = send(request(erp_key, "crm-backup", "archive", {}));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u) << r.body;
    EXPECT_TRUE(r.complete);
    EXPECT_FALSE(r.header("Content-Length").has_value()) << "a filtered body is chunked";
    EXPECT_TRUE(r.chunked);
    EXPECT_FALSE(r.header("X-Export-Stripped-Fields").has_value());
    for (const auto& c : records)
        for (const auto& m : markers(c)) EXPECT_TRUE(has(r.body, m)) << m << " was lost";
    if (shape() == vendor_shape::dataverse) {
        EXPECT_TRUE(has(r.body, records[0].first_name + "~fmt"))
            << "the annotation sibling of a kept field was lost";
    }
    if (shape() == vendor_shape::salesforce) {
        EXPECT_TRUE(has(r.body, records[0].account_name)) << "the nested __r field was lost";
    }
    expect_valid_document(r);
    if (info(shape()).has_next_link) {
        // The pagination link points at exportwall (path-absolute: the listener has no
        // public-url). Dataverse's @odata.context names the CRM's metadata document: dropped,
        // the CRM's address never reaches the client.
        const std::string crm_host = "127.0.0.1:" + std::to_string(crm_.port());
        EXPECT_FALSE(has(r.body, crm_host)) << "the CRM's address reached the client: " << r.body;
        const std::string_view link_key = shape() == vendor_shape::dataverse ? "@odata.nextLink"
                                          : shape() == vendor_shape::hubspot ? "\"link\""
                                                                             : "nextRecordsUrl";
        const auto at = r.body.find(link_key);
        ASSERT_NE(at, std::string::npos) << "the next link was removed: " << r.body;
        const std::string link = r.body.substr(at, r.body.find('}', at) - at);
        EXPECT_FALSE(has(link, crm_host)) << "the next link still points at the CRM: " << link;
        EXPECT_TRUE(has(link, "\"" + info(shape()).path)) << link;
    }

    auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(number_at(*audit, "records_in"), 3u);
    EXPECT_EQ(number_at(*audit, "records_out"), 3u);
    EXPECT_EQ(string_at(*audit, "purpose"), "crm-backup");
    EXPECT_EQ(string_at(*audit, "client"), "erp");

    auto crm = seen_at(info(shape()).path);
    ASSERT_EQ(crm.size(), 1u);
    EXPECT_EQ(crm[0].method, info(shape()).method);
}

TEST_P(EnforceShape, StrippingPurposeStripsBodyAndSelection) {
    ASSERT_TRUE(start());
    const auto p = marker_prefix();
    const std::vector<contact> records{marker_contact(p, 1, "customer"),
                                       marker_contact(p, 2, "customer")};
    ASSERT_TRUE(stage_records(records));

    const bool selects = !info(shape()).select_param.empty();
    const response r =
        send(request(erp_key, "delivery", "warehouse", {"id", "first_name", "email", "iban"}));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u) << r.body;
    EXPECT_TRUE(r.complete);
    for (const auto& c : records) {
        EXPECT_TRUE(has(r.body, c.id));
        EXPECT_TRUE(has(r.body, c.first_name));
        EXPECT_FALSE(has(r.body, c.email)) << "e-mail is not needed for delivery";
        EXPECT_FALSE(has(r.body, c.iban)) << "the IBAN is not needed for delivery";
        EXPECT_FALSE(has(r.body, c.notes));
        if (!selects) {
            // Nothing asked: every field the purpose allows.
            EXPECT_TRUE(has(r.body, c.last_name));
            EXPECT_TRUE(has(r.body, c.city));
        }
    }
    expect_valid_document(r);

    auto crm = seen_at(info(shape()).path);
    ASSERT_EQ(crm.size(), 1u);
    if (selects) {
        const auto stripped = r.header("X-Export-Stripped-Fields").value_or("");
        EXPECT_TRUE(has(stripped, field_name(shape(), "email"))) << stripped;
        EXPECT_TRUE(has(stripped, "iban")) << stripped;
        auto asked = crm_selection(crm[0]);
        ASSERT_TRUE(asked.has_value()) << crm[0].target;
        EXPECT_TRUE(asked->count(field_name(shape(), "first_name"))) << crm[0].target;
        EXPECT_FALSE(asked->count(field_name(shape(), "email"))) << crm[0].target;
        EXPECT_FALSE(asked->count("iban")) << crm[0].target;
        EXPECT_NE(crm[0].target.find(shape() == vendor_shape::dataverse ? "$top=50" : "limit=50"),
                  std::string::npos)
            << "a declared paging parameter passes unchanged";
    }

    auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "decision"), "filtered");
    auto stripped = names_at(*audit, "fields_stripped");
    EXPECT_NE(std::find(stripped.begin(), stripped.end(), field_name(shape(), "email")),
              stripped.end());
    EXPECT_NE(std::find(stripped.begin(), stripped.end(), "iban"), stripped.end());
    EXPECT_EQ(number_at(*audit, "records_out"), 2u);
}

// Exports of two purposes in turn on one connection (one proxy thread): the filter of each starts
// from what the previous export of the same spec learnt (filters/filter_shelf.hpp), never from
// another purpose's, and counts only its own export's stripped fields.
TEST_P(EnforceShape, PurposesInTurnOnOneConnectionKeepTheirOwnFields) {
    ASSERT_TRUE(start());
    const auto p = marker_prefix();
    const std::vector<contact> records{marker_contact(p, 1, "customer"),
                                       marker_contact(p, 2, "customer")};
    ASSERT_TRUE(stage_records(records));
    http_connection c;
    std::optional<std::vector<std::string>> backup_stripped;
    std::optional<std::vector<std::string>> delivery_stripped;
    for (int round = 0; round < 3; ++round) {
        for (const bool backup : {true, false, false}) {
            SCOPED_TRACE(testing::Message()
                         << "round " << round << (backup ? ", backup" : ", delivery"));
            const response r = send_on(c, backup ? request(erp_key, "crm-backup", "archive", {})
                                                 : request(erp_key, "delivery", "warehouse", {}));
            ASSERT_TRUE(r.received);
            ASSERT_EQ(r.status, 200u) << r.body;
            EXPECT_TRUE(r.complete);
            expect_valid_document(r);
            for (const auto& rec : records) {
                EXPECT_TRUE(has(r.body, rec.first_name));
                EXPECT_EQ(has(r.body, rec.email), backup) << "e-mail is for the backup only";
                EXPECT_EQ(has(r.body, rec.iban), backup) << "the IBAN is for the backup only";
                EXPECT_EQ(has(r.body, rec.notes), backup);
            }
            auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
            ASSERT_TRUE(audit.has_value());
            EXPECT_EQ(number_at(*audit, "records_out"), 2u);
            // Each purpose's first export ran on a fresh filter: later ones list the same
            // stripped fields, none of the other purpose's.
            auto stripped = names_at(*audit, "fields_stripped");
            auto& first = backup ? backup_stripped : delivery_stripped;
            if (!first) {
                first = stripped;
            } else {
                EXPECT_EQ(stripped, *first);
            }
        }
    }
}

// An objection is absolute (R8): only an explicit "no" lets a record out. A record whose
// objection is missing, a list, an object, null or any other word never leaves, whatever the
// shape; the audit record counts why.
TEST_P(EnforceShape, ObjectionsThatAreNotAnExplicitNoNeverLeave) {
    const auto p = marker_prefix();
    std::vector<contact> promo;
    for (int n = 1; n <= 6; ++n) promo.push_back(marker_contact(p, n, "customer"));
    const bool xml = shape() == vendor_shape::salesforce_soap;
    const bool csv = shape() == vendor_shape::csv;
    promo[0].objection_raw = csv ? "no" : "false";  // kept
    promo[1].objection_absent = true;
    promo[2].objection_raw = xml ? "<sf:value>true</sf:value>" : csv ? "null" : "[true]";
    promo[3].objection_raw = xml ? "<sf:value>false</sf:value>" : csv ? "" : R"({"value":false})";
    promo[4].objection_raw = xml ? "" : csv ? "maybe" : "null";
    promo[5].objection_raw = xml ? "nee" : csv ? "2024-03-01" : "{}";
    ASSERT_TRUE(start());
    ASSERT_TRUE(stage_records(promo));
    const response r = send(
        request(marketing_key, "promotion-email", "newsletter", {"id", "first_name", "email"}));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u) << r.body;
    EXPECT_TRUE(has(r.body, promo[0].email)) << r.body;
    for (std::size_t gone = 1; gone < promo.size(); ++gone)
        for (const auto& m : markers(promo[gone]))
            EXPECT_FALSE(has(r.body, m)) << "record " << gone << " leaked " << m;
    expect_valid_document(r);
    auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(number_at(*audit, "records_out"), 1u);
    EXPECT_EQ(dropped(*audit, "objected") + dropped(*audit, "condition_unreadable"), 5u);
    // A missing field and a structure are unreadable, not objections. (CSV has no structure,
    // and its missing value is an empty cell: an objection that is not a "no".)
    if (!csv) {
        EXPECT_GE(dropped(*audit, "condition_unreadable"), xml ? 3u : 4u);
    }
}

TEST_P(EnforceShape, RecordFilteringDropsAndCountsByReason) {
    const auto p = marker_prefix();
    std::vector<contact> promo{marker_contact(p, 1, "customer"), marker_contact(p, 2, "lead"),
                               marker_contact(p, 3, "customer"), marker_contact(p, 4, "customer"),
                               marker_contact(p, 5, "customer"), marker_contact(p, 6, "former"),
                               marker_contact(p, 10, "customer")};
    promo[2].consent_email = false;
    promo[3].objected = true;
    std::string listed = promo[4].email;
    std::transform(listed.begin(), listed.end(), listed.begin(),
                   [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; });
    vendor_policy_options o;
    // One address as it is (compared without case), one as the SHA-256 of the normalised
    // address (what `exportwall hash-suppression` writes).
    std::string normalised = promo[6].email;
    std::transform(normalised.begin(), normalised.end(), normalised.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
    o.suppressed_emails = {listed, sha256_hex(normalised)};
    ASSERT_TRUE(start(o));
    ASSERT_TRUE(stage_records(promo));

    const response r = send(
        request(marketing_key, "promotion-email", "newsletter", {"id", "first_name", "email"}));
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u) << r.body;
    EXPECT_TRUE(r.complete);
    for (std::size_t kept : {0u, 1u}) {
        EXPECT_TRUE(has(r.body, promo[kept].id));
        EXPECT_TRUE(has(r.body, promo[kept].email));
        EXPECT_FALSE(has(r.body, promo[kept].iban));
    }
    for (std::size_t gone : {2u, 3u, 4u, 5u, 6u})
        for (const auto& m : markers(promo[gone]))
            EXPECT_FALSE(has(r.body, m)) << "record " << gone << " leaked " << m;
    expect_valid_document(r);

    auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "decision"), "filtered");
    EXPECT_EQ(number_at(*audit, "records_in"), 7u);
    EXPECT_EQ(number_at(*audit, "records_out"), 2u);
    EXPECT_EQ(dropped(*audit, "no_consent"), 1u);
    EXPECT_EQ(dropped(*audit, "objected"), 1u);
    EXPECT_EQ(dropped(*audit, "suppressed"), 2u);
    EXPECT_EQ(dropped(*audit, "subject_not_allowed"), 1u);

    if (!info(shape()).select_param.empty()) {
        // The fields the conditions read are asked for although the client did not ask.
        auto crm = seen_at(info(shape()).path);
        ASSERT_EQ(crm.size(), 1u);
        auto asked = crm_selection(crm[0]);
        ASSERT_TRUE(asked.has_value()) << crm[0].target;
        EXPECT_TRUE(asked->count(field_name(shape(), "consent.email"))) << crm[0].target;
        EXPECT_TRUE(asked->count(field_name(shape(), "objection.direct_marketing")))
            << crm[0].target;
        EXPECT_TRUE(asked->count("lifecycle")) << crm[0].target;
    }

    // A quote: prospects who asked for one.
    std::vector<contact> quote{marker_contact(p, 7, "lead"), marker_contact(p, 8, "lead"),
                               marker_contact(p, 9, "customer")};
    quote[0].quote_requested = true;
    quote[2].quote_requested = true;
    ASSERT_TRUE(stage_records(quote));
    const response q = send(request(erp_key, "quote", "sales", {}));
    ASSERT_TRUE(q.received);
    EXPECT_EQ(q.status, 200u) << q.body;
    EXPECT_TRUE(has(q.body, quote[0].email));
    for (std::size_t gone : {1u, 2u})
        for (const auto& m : markers(quote[gone]))
            EXPECT_FALSE(has(q.body, m)) << "record " << gone << " leaked " << m;
    auto qa = audit_record(q.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(qa.has_value());
    EXPECT_EQ(number_at(*qa, "records_out"), 1u);
    EXPECT_EQ(dropped(*qa, "no_request_evidence"), 1u);
    EXPECT_EQ(dropped(*qa, "subject_not_allowed"), 1u);
}

TEST_P(EnforceShape, ThirdPartyDirectMarketingRefusedBeforeTheCrm) {
    ASSERT_TRUE(start());
    const auto p = marker_prefix();
    ASSERT_TRUE(stage_records({marker_contact(p, 1, "customer")}));

    struct attempt {
        std::string_view key, purpose, destination;
    };
    for (const attempt& a : {attempt{marketing_key, "promotion-email", "partner-crm"},
                             attempt{marketing_key, "promotion-email", "partner-leads"},
                             attempt{erp_key, "delivery", "partner-leads"}}) {
        SCOPED_TRACE(std::string(a.purpose) + " -> " + std::string(a.destination));
        const response r =
            send(request(a.key, a.purpose, a.destination, {"id", "first_name", "email"}));
        ASSERT_TRUE(r.received);
        EXPECT_EQ(r.status, 403u);
        EXPECT_FALSE(has(r.body, p)) << "a refusal quoted data";
        auto problem = problem_of(r);
        ASSERT_TRUE(problem.has_value()) << r.body;
        EXPECT_EQ(string_at(*problem, "reason"), "third_party_direct_marketing");
        const std::string id = string_at(*problem, "audit_id");
        ASSERT_FALSE(id.empty());
        auto audit = audit_record(id);
        ASSERT_TRUE(audit.has_value()) << "no audit record for the refusal";
        EXPECT_EQ(string_at(*audit, "decision"), "blocked");
        EXPECT_EQ(string_at(*audit, "reason"), "third_party_direct_marketing");
        EXPECT_EQ(string_at(*audit, "destination_kind"), "third-party");
        EXPECT_EQ(number_at(*audit, "status"), 403u);
    }
    EXPECT_TRUE(seen().requests.empty()) << "the CRM was asked for a refused export";
}

TEST_P(EnforceShape, RecordLimitAbortsTheExportMidStream) {
    ASSERT_TRUE(start());
    const auto p = marker_prefix();
    std::vector<contact> records{marker_contact(p, 1, "customer"),
                                 marker_contact(p, 2, "customer")};
    ASSERT_TRUE(stage_records(records));
    const response within = send(request(partner_key, "delivery", "carrier", {}));
    ASSERT_EQ(within.status, 200u) << within.body;
    EXPECT_TRUE(within.complete) << "two records are within the grant's limit";

    records.push_back(marker_contact(p, 3, "customer"));
    ASSERT_TRUE(stage_records(records));
    const response over = send(request(partner_key, "delivery", "carrier", {}));
    ASSERT_TRUE(over.received);
    EXPECT_EQ(over.status, 200u);
    EXPECT_FALSE(over.complete) << "an export over the limit ended like a complete one";
    EXPECT_TRUE(over.closed);
    for (const auto& m : markers(records[2])) EXPECT_FALSE(has(over.body, m)) << m;
    auto audit = audit_record(over.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "decision"), "aborted");
    EXPECT_EQ(string_at(*audit, "reason"), "record_limit_exceeded");
}

// To an HTTP/1.0 client a filtered body is close-delimited: its end is the connection's end. A
// cut export must not end like that, so the abort resets the connection instead of closing it.
TEST_P(EnforceShape, Http10AbortResetsTheConnection) {
    ASSERT_TRUE(start());
    const auto p = marker_prefix();
    std::vector<contact> records{marker_contact(p, 1, "customer"), marker_contact(p, 2, "customer"),
                                 marker_contact(p, 3, "customer")};
    ASSERT_TRUE(stage_records(records));
    export_request r = request(partner_key, "delivery", "carrier", {});
    r.version = "HTTP/1.0";
    http_connection c;
    const response over = send_on(c, r);
    ASSERT_TRUE(over.received);
    EXPECT_EQ(over.status, 200u);
    EXPECT_FALSE(over.chunked);
    EXPECT_TRUE(c.was_reset()) << "a cut close-delimited body ended with a FIN, like a whole one";
    for (const auto& m : markers(records[2])) EXPECT_FALSE(has(over.body, m)) << m;
    auto audit = audit_record(over.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "decision"), "aborted");
    EXPECT_EQ(string_at(*audit, "reason"), "record_limit_exceeded");
}

INSTANTIATE_TEST_SUITE_P(Vendors, EnforceShape,
                         ::testing::Values(vendor_shape::dataverse, vendor_shape::hubspot,
                                           vendor_shape::salesforce, vendor_shape::salesforce_soap,
                                           vendor_shape::csv, vendor_shape::ndjson),
                         [](const ::testing::TestParamInfo<vendor_shape>& i) {
                             return std::string(shape_name(i.param));
                         });

// ---- the vendors' own fixtures (../shared/testdata) --------------------------------------------

std::optional<std::string> testdata(std::string_view relative) {
    return read_file(std::string(EXPORTWALL_SHARED_TESTDATA) + "/" + std::string(relative));
}

class EnforceVendorFixtures : public enforce_fixture {
  protected:
    void SetUp() override {
        if (!testdata("restforce/fixtures/sobject/query_success_response.json") ||
            !testdata("soapforce/fixtures/query_response.xml"))
            GTEST_SKIP() << "../shared/testdata (restforce, soapforce) is absent";
        ASSERT_TRUE(start());
    }

    response soap(std::string_view purpose) {
        export_request r;
        r.method = "POST";
        r.target = "/services/Soap/u/26.0";
        r.api_key = std::string(erp_key);
        r.purpose = std::string(purpose);
        r.destination = "archive";
        r.body = std::string(soap_opportunity_query);
        return send(r);
    }
};

std::size_t occurrences(std::string_view body, std::string_view s) {
    std::size_t n = 0;
    for (auto at = body.find(s); at != std::string_view::npos; at = body.find(s, at + 1)) ++n;
    return n;
}

TEST_F(EnforceVendorFixtures, RestforceQueryAllowedAndStripped) {
    auto body = testdata("restforce/fixtures/sobject/query_success_response.json");
    ASSERT_TRUE(body);
    ASSERT_TRUE(stage("/services/data/v26.0/query", "application/json;charset=UTF-8", *body));
    export_request req;
    req.target =
        "/services/data/v26.0/query?q=SELECT+Text_Label,ParentWhizbang__r.Name+FROM+Whizbang__c";
    req.api_key = std::string(erp_key);
    req.purpose = "crm-backup";
    req.destination = "archive";
    const response all = send(req);
    ASSERT_EQ(all.status, 200u) << all.body;
    EXPECT_TRUE(all.complete);
    boost::system::error_code ec;
    auto in = boost::json::parse(*body, ec);
    ASSERT_FALSE(ec);
    auto out = boost::json::parse(all.body, ec);
    ASSERT_FALSE(ec) << all.body;
    EXPECT_EQ(out.at("records"), in.at("records")) << "every field is in the catalogue";

    req.purpose = "archive-summary";
    const response some = send(req);
    ASSERT_EQ(some.status, 200u) << some.body;
    out = boost::json::parse(some.body, ec);
    ASSERT_FALSE(ec) << some.body;
    const auto& rec = out.at("records").at(0).as_object();
    EXPECT_EQ(rec.at("Text_Label"), "Hi there!");
    EXPECT_EQ(rec.at("ParentWhizbang__r").at("Name"), "Parent Whizbang");
    EXPECT_FALSE(rec.at("ParentWhizbang__r").as_object().contains("Text_Label"));
    EXPECT_FALSE(rec.contains("Date_Label"));
    EXPECT_FALSE(rec.contains("Whizbangs__r"));
    EXPECT_FALSE(rec.contains("attributes"));
    EXPECT_FALSE(has(some.body, "Child Whizbang"));

    auto crm = seen_at("/services/data/v26.0/query");
    ASSERT_EQ(crm.size(), 2u);
    EXPECT_EQ(percent_decode(crm[1].target),
              "/services/data/v26.0/query?q=SELECT Text_Label, ParentWhizbang__r.Name FROM "
              "Whizbang__c")
        << "the query guard's re-serialised statement reaches the CRM";
}

TEST_F(EnforceVendorFixtures, RestforceNextRecordsUrlGoesThroughTheFirewall) {
    auto first = testdata("restforce/fixtures/sobject/query_paginated_first_page_response.json");
    auto last = testdata("restforce/fixtures/sobject/query_paginated_last_page_response.json");
    ASSERT_TRUE(first && last);
    ASSERT_TRUE(stage("/services/data/v26.0/query", "application/json", *first));
    ASSERT_TRUE(stage("/services/data/v26.0/query/01gD", "application/json", *last));
    export_request req;
    req.target = "/services/data/v26.0/query?q=SELECT+Text_Label+FROM+Whizbang__c";
    req.api_key = std::string(erp_key);
    req.purpose = "archive-summary";
    req.destination = "archive";
    const response r = send(req);
    ASSERT_EQ(r.status, 200u) << r.body;
    boost::system::error_code ec;
    auto out = boost::json::parse(r.body, ec);
    ASSERT_FALSE(ec) << r.body;
    const std::string next(out.at("nextRecordsUrl").as_string());
    // exportwall's path for the same page, the CRM's query locator sealed in it.
    EXPECT_TRUE(next.starts_with("/services/data/v26.0/query/ew1.")) << next;
    EXPECT_FALSE(has(next, "01gD")) << next;
    EXPECT_EQ(out.at("records").at(0).at("Text_Label"), "First Page");

    // The same declaration follows it through exportwall; without one it is refused.
    req.target = next;
    const response page2 = send(req);
    ASSERT_EQ(page2.status, 200u) << page2.body;
    EXPECT_TRUE(has(page2.body, "Last Page"));
    EXPECT_EQ(page2.header("X-Export-Decision").value_or(""), "filtered");
    export_request bare = req;
    bare.purpose.clear();
    bare.destination.clear();
    const response refused = send(bare);
    EXPECT_EQ(refused.status, 400u);
    EXPECT_FALSE(has(refused.body, "Last Page"));
    auto crm = seen_at("/services/data/v26.0/query/01gD");
    ASSERT_EQ(crm.size(), 1u) << "the undeclared follow-up reached the CRM";
    EXPECT_EQ(crm[0].header("Authorization").value_or(""), crm_credential);
}

TEST_F(EnforceVendorFixtures, SoapforceQueryKeepsRepeatedIdsAndStrips) {
    auto body = testdata("soapforce/fixtures/query_response.xml");
    ASSERT_TRUE(body);
    ASSERT_TRUE(stage("/services/Soap/u/26.0", "text/xml; charset=utf-8", *body));
    const response all = soap("crm-backup");
    ASSERT_EQ(all.status, 200u) << all.body;
    EXPECT_TRUE(all.complete);
    EXPECT_EQ(occurrences(all.body, "006A000000LZhwNIAT"), 2u) << all.body;
    EXPECT_EQ(occurrences(all.body, "006A000000LaF4xIAF"), 2u) << all.body;
    EXPECT_TRUE(has(all.body, "Value Proposition"));
    EXPECT_TRUE(has(all.body, "</soapenv:Envelope>"));

    const response some = soap("archive-summary");
    ASSERT_EQ(some.status, 200u) << some.body;
    EXPECT_TRUE(has(some.body, "Opportunity 1"));
    EXPECT_TRUE(has(some.body, "006A000000LaF4xIAF"));
    EXPECT_FALSE(has(some.body, "Prospecting"));
    EXPECT_FALSE(has(some.body, "Value Proposition"));
    auto audit = audit_record(some.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(number_at(*audit, "records_in"), 2u);
    EXPECT_EQ(number_at(*audit, "records_out"), 2u);
    auto stripped = names_at(*audit, "fields_stripped");
    EXPECT_NE(std::find(stripped.begin(), stripped.end(), "StageName"), stripped.end());

    auto crm = seen_at("/services/Soap/u/26.0");
    ASSERT_EQ(crm.size(), 2u);
    EXPECT_EQ(crm[0].method, "POST");
    EXPECT_TRUE(has(crm[0].body, "SELECT Id, Name, StageName FROM Opportunity")) << crm[0].body;
    EXPECT_TRUE(has(crm[1].body, "SELECT Id, Name FROM Opportunity"))
        << "StageName is not kept for the summary: dropped from the SOAP query\n"
        << crm[1].body;
}

// The client writes the SOAP request, so it can call retrieve instead of query; the answer's
// record is not under the route's records path. The filter holds its output until a record
// arrives (filters/record_filter.cpp, envelope_guard), so the export is refused with nothing of
// the record sent.
TEST_F(EnforceVendorFixtures, SoapOperationOtherThanQueryLeaksNothing) {
    auto body = testdata("soapforce/fixtures/retrieve_response.xml");
    ASSERT_TRUE(body);
    ASSERT_TRUE(stage("/services/Soap/u/26.0", "text/xml; charset=utf-8", *body));
    const response r = soap("archive-summary");
    ASSERT_TRUE(r.received);
    std::cout << "  retrieve instead of query -> " << r.status << (r.complete ? "" : " (aborted)")
              << "\n";
    EXPECT_FALSE(has(r.body, "Prospecting")) << r.body;  // StageName: not in archive-summary
    EXPECT_FALSE(has(r.body, "<sf:type>")) << r.body;
}

}  // namespace
}  // namespace exportwall::itest
