#include "tests/integration/enforce_fixture.hpp"
#include "common/hex.hpp"

#include <sys/wait.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <sstream>
#include <tuple>

namespace exportwall::itest {

namespace {

std::string hex(const unsigned char* p, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(digits[p[i] >> 4]);
        out.push_back(digits[p[i] & 0x0f]);
    }
    return out;
}

std::string b(bool v) { return v ? "true" : "false"; }

// The catalogue of a contact entity; `flat`: nested fields flattened with '_' (CSV); `id`: the
// name of the record id field (SOAP: "Id").
std::string contact_fields(bool flat, std::string_view id, bool salesforce_relation) {
    auto path = [flat](std::string p) {
        if (flat)
            for (auto& c : p)
                if (c == '.') c = '_';
        return p;
    };
    std::string x;
    auto field = [&](const std::string& p, std::string_view category, bool special = false,
                     std::string_view extra = {}) {
        x += "    <field path=\"" + path(p) + "\" category=\"" + std::string(category) + "\"" +
             (special ? " special=\"true\"" : "") + std::string(extra) + "/>\n";
    };
    field(std::string(id), "user.unique_id");
    field("lifecycle", "user.account");
    field("first_name", "user.name.first");
    field("last_name", "user.name.last");
    field("email", "user.contact.email");
    field("phone", "user.contact.phone_number");
    field("iban", "user.financial.bank_account");
    field("quote_requested", "user.behavior");
    field("consent.email", "user.privacy_preferences", false, " consent-channel=\"email\"");
    field("objection.direct_marketing", "user.privacy_preferences");
    field("address.city", "user.contact.address.city");
    field("notes", "user.content.private");
    field("health_notes", "user.health_and_medical", true);
    if (salesforce_relation) field("Account__r.Name", "system.operations");
    return x;
}

std::string subjects() {
    return "    <subject value=\"customer\" type=\"customer\"/>\n"
           "    <subject value=\"lead\" type=\"prospect\"/>\n"
           "    <subject value=\"former\" type=\"former-customer\"/>\n";
}

std::string json_contact(const contact& c, bool annotations, bool relation) {
    std::string x = "{";
    if (annotations) x += R"("@odata.etag":"W/\"7\"",)";
    x += "\"id\":\"" + c.id + "\",\"lifecycle\":\"" + c.lifecycle + "\",";
    x += "\"first_name\":\"" + c.first_name + "\",";
    if (annotations)
        x += "\"first_name@OData.Community.Display.V1.FormattedValue\":\"" + c.first_name +
             "~fmt\",";
    x += "\"last_name\":\"" + c.last_name + "\",\"email\":\"" + c.email + "\",";
    x += "\"phone\":\"" + c.phone + "\",\"iban\":\"" + c.iban + "\",";
    if (annotations)
        x += "\"iban@OData.Community.Display.V1.FormattedValue\":\"" + c.iban + "~fmt\",";
    x += "\"notes\":\"" + c.notes + "\",\"quote_requested\":" + b(c.quote_requested) + ",";
    x += "\"consent\":{\"email\":" + b(c.consent_email) + "},";
    if (!c.objection_absent)
        x +=
            "\"objection\":{\"direct_marketing\":" + c.objection_raw.value_or(b(c.objected)) + "},";
    x += "\"address\":{\"city\":\"" + c.city + "\"}";
    if (relation) {
        x += ",\"Account__r\":{\"attributes\":{\"type\":\"Account\"},\"Name\":\"" + c.account_name +
             "\"}";
    }
    x += "}";
    return x;
}

std::string xml_contact(const contact& c) {
    auto el = [](std::string_view name, std::string_view v) {
        return "<sf:" + std::string(name) + ">" + std::string(v) + "</sf:" + std::string(name) +
               ">";
    };
    std::string x = "<records xsi:type=\"sf:sObject\">";
    x += el("type", "Contact") + el("Id", c.id) + el("Id", c.id);
    x += el("lifecycle", c.lifecycle) + el("first_name", c.first_name) +
         el("last_name", c.last_name) + el("email", c.email) + el("phone", c.phone) +
         el("iban", c.iban) + el("notes", c.notes) + el("quote_requested", b(c.quote_requested));
    x += "<sf:consent>" + el("email", b(c.consent_email)) + "</sf:consent>";
    if (!c.objection_absent)
        x += "<sf:objection>" + el("direct_marketing", c.objection_raw.value_or(b(c.objected))) +
             "</sf:objection>";
    x += "<sf:address>" + el("city", c.city) + "</sf:address>";
    x += "</records>\n";
    return x;
}

}  // namespace

std::string sha256_hex(std::string_view s) { return common::sha256_hex(s); }

std::string vendor_config(const temp_dir& dir, const vendor_policy_options& o) {
    std::string list = "# direct-marketing objections\n";
    for (const auto& e : o.suppressed_emails) list += e + "\n";
    (void)write_file(dir.file("do-not-contact.txt"), list);

    std::string x = "<?xml version=\"1.0\"?>\n<exportwall version=\"1\" mode=\"" + o.mode + "\">\n";
    x += "  <listen address=\"127.0.0.1\" port=\"0\"";
    if (!o.public_url.empty()) x += " public-url=\"" + o.public_url + "\"";
    x += "/>\n";
    x += "  <admin address=\"127.0.0.1\" port=\"0\"/>\n";
    x += "  <limits request-head=\"10s\" upstream-response-head=\"10s\"/>\n";
    x += "  <log level=\"info\" access-log=\"" + dir.file("access.log") + "\"/>\n";
    x += "  <audit path=\"" + dir.file("audit.jsonl") + "\" sync=\"blocked\">" + o.syslog +
         "</audit>\n";
    x += "  <upstream id=\"crm\" url=\"" + o.upstream_url + "\">\n";
    x += "    <header name=\"Authorization\" value=\"" + std::string(crm_credential) + "\"/>\n";
    x += "  </upstream>\n";
    x += R"(
  <route id="dataverse-contacts" path="/api/data/v9.2/contacts" methods="GET HEAD" upstream="crm"
         entity="contact" format="json" records="/value" select-param="$select" query-language="odata" object="contact"
         link-fields="/@odata.nextLink"/>
  <route id="hubspot-contacts" path="/crm/v3/objects/contacts" methods="GET" upstream="crm"
         entity="contact" format="json" records="/results" field-root="properties"
         select-param="properties" paging-params="limit archived"
         continuation-params="after" continuation-fields="/paging/next/after"
         link-fields="/paging/next/link"/>
  <route id="hubspot-search" path="/crm/v3/objects/contacts/search" methods="POST" upstream="crm"
         entity="contact" format="json" records="/results" field-root="properties"
         query-language="hubspot-search" search-fields="first_name email"
         link-fields="/paging/next/link"/>
  <route id="salesforce-query" path="/services/data/v58.0/query" match="prefix" methods="GET"
         upstream="crm" entity="contact" format="json" query-language="soql" object="Contact"
         records="/records"
         link-fields="/nextRecordsUrl"/>
  <route id="salesforce-fixture" path="/services/data/v26.0/query" match="prefix" methods="GET"
         upstream="crm" entity="whizbang" format="json" records="/records"
         query-language="soql" object="Whizbang__c"
         link-fields="/nextRecordsUrl"/>
  <route id="salesforce-soap" path="/services/Soap/u/58.0" methods="POST" upstream="crm"
         entity="contact-soap" query-language="soql" object="Contact"
         format="xml" records="/Envelope/Body/queryResponse/result/records"/>
  <route id="soap-fixture" path="/services/Soap/u/26.0" methods="POST" upstream="crm"
         entity="opportunity-soap" format="xml" query-language="soql" object="Opportunity"
         records="/Envelope/Body/queryResponse/result/records"/>
  <route id="contacts-csv" path="/exports/contacts.csv" methods="GET" upstream="crm"
         entity="contact-csv" format="csv" csv-delimiter=";" select-param="columns"
         paging-params="limit offset"/>
  <route id="contacts-ndjson" path="/exports/contacts.ndjson" methods="GET" upstream="crm"
         entity="contact" format="ndjson" select-param="fields"
         paging-params="limit offset"/>
  <route id="hubspot-properties" path="/crm/v3/properties" match="prefix" methods="GET"
         upstream="crm" format="passthrough"/>

  <suppression-list id="do-not-contact" file="do-not-contact.txt" field="email" match="email"/>
)";
    x += "  <entity id=\"contact\" subject-field=\"lifecycle\" collected-for=\"essential "
         "marketing\">\n" +
         subjects() + contact_fields(false, "id", true) + "  </entity>\n";
    x += "  <entity id=\"contact-csv\" subject-field=\"lifecycle\" collected-for=\"essential "
         "marketing\">\n" +
         subjects() + contact_fields(true, "id", false) + "  </entity>\n";
    x += "  <entity id=\"contact-soap\" subject-field=\"lifecycle\" collected-for=\"essential "
         "marketing\">\n" +
         subjects() + contact_fields(false, "Id", false) + "  </entity>\n";
    x += R"(  <entity id="whizbang" collected-for="essential">
    <field path="attributes" category="system.operations"/>
    <field path="Checkbox_Label" category="system.operations"/>
    <field path="Text_Label" category="user.content"/>
    <field path="Date_Label" category="system.operations"/>
    <field path="DateTime_Label" category="system.operations"/>
    <field path="Picklist_Multiselect_Label" category="user.content"/>
    <field path="ParentWhizbang__r.Name" category="user.content"/>
    <field path="ParentWhizbang__r.Text_Label" category="user.content"/>
    <field path="ParentWhizbang__r.attributes" category="system.operations"/>
    <field path="Whizbangs__r" category="user.content"/>
  </entity>
  <entity id="opportunity-soap" collected-for="essential">
    <field path="type" category="system.operations"/>
    <field path="Id" category="user.unique_id"/>
    <field path="Name" category="user.content"/>
    <field path="StageName" category="system.operations"/>
  </entity>

  <purpose id="delivery" data-use="essential.service.operations" basis="contract" subjects="customer">
    <fields entity="contact">id first_name last_name phone address.city Account__r.Name</fields>
    <fields entity="contact-csv">id first_name last_name phone address_city</fields>
    <fields entity="contact-soap">Id first_name last_name phone address.city</fields>
  </purpose>
  <purpose id="quote" data-use="essential.service.operations" basis="pre-contract" subjects="prospect">
    <fields entity="contact">id first_name last_name email phone</fields>
    <fields entity="contact-csv">id first_name last_name email phone</fields>
    <fields entity="contact-soap">Id first_name last_name email phone</fields>
    <request-evidence entity="contact" field="quote_requested" equals="true"/>
    <request-evidence entity="contact-csv" field="quote_requested" equals="true"/>
    <request-evidence entity="contact-soap" field="quote_requested" equals="true"/>
  </purpose>
  <purpose id="promotion-email" data-use="marketing.communications.email" basis="consent" subjects="customer prospect" direct-marketing="true"
           channel="email" consent-field="consent.email" objection-field="objection.direct_marketing"
           suppression-list="do-not-contact" max-records="50000">
    <fields entity="contact">id first_name email</fields>
    <fields entity="contact-csv" consent-field="consent_email"
            objection-field="objection_direct_marketing">id first_name email</fields>
    <fields entity="contact-soap">Id first_name email</fields>
  </purpose>
  <purpose id="crm-backup" data-use="essential.legal_obligation" basis="legal-obligation" subjects="customer prospect former-customer"
           legal-reference="Belgian Code of Economic Law art. III.88">
    <fields entity="contact">id lifecycle first_name last_name email phone iban quote_requested consent.email objection.direct_marketing address.city notes Account__r.Name</fields>
    <fields entity="contact-csv">id lifecycle first_name last_name email phone iban quote_requested consent_email objection_direct_marketing address_city notes</fields>
    <fields entity="contact-soap">Id lifecycle first_name last_name email phone iban quote_requested consent.email objection.direct_marketing address.city notes</fields>
    <fields entity="whizbang">attributes Checkbox_Label Text_Label Date_Label DateTime_Label Picklist_Multiselect_Label ParentWhizbang__r.Name ParentWhizbang__r.Text_Label ParentWhizbang__r.attributes Whizbangs__r</fields>
    <fields entity="opportunity-soap">type Id Name StageName</fields>
  </purpose>
  <purpose id="archive-summary" data-use="essential.legal_obligation" basis="legal-obligation" subjects="customer prospect former-customer"
           legal-reference="Belgian Code of Economic Law art. III.88">
    <fields entity="whizbang">Text_Label ParentWhizbang__r.Name</fields>
    <fields entity="opportunity-soap">Id Name</fields>
  </purpose>

  <destination id="warehouse" kind="internal" country="BE"/>
  <destination id="sales" kind="internal" country="BE"/>
  <destination id="archive" kind="internal" country="BE"/>
  <destination id="carrier" kind="processor" purposes="delivery" country="BE" dpa-ref="DPA-1"/>
  <destination id="newsletter" kind="processor" purposes="promotion-email" country="BE"
               dpa-ref="DPA-2"/>
  <destination id="partner-crm" kind="third-party" country="FR"/>
  <destination id="partner-leads" kind="third-party" own-marketing="true" country="BE"/>
)";
    x += "  <client id=\"erp\"><api-key sha256=\"" + sha256_hex(erp_key) + "\"/>\n";
    x += R"(    <grant purpose="delivery" destinations="warehouse carrier"/>
    <grant purpose="quote" destinations="sales"/>
    <grant purpose="crm-backup" destinations="archive"/>
    <grant purpose="archive-summary" destinations="archive"/>
  </client>
)";
    x +=
        "  <client id=\"marketing-tool\"><api-key sha256=\"" + sha256_hex(marketing_key) + "\"/>\n";
    x += R"(    <grant purpose="promotion-email" destinations="newsletter" max-records="20000"/>
  </client>
)";
    x += "  <client id=\"partner-gateway\"><api-key sha256=\"" + sha256_hex(partner_key) + "\"/>\n";
    x += "    <grant purpose=\"delivery\" destinations=\"carrier\" max-records=\"2\"/>\n";
    x += "  </client>\n";
    x += "  <client id=\"rollout-tool\"><api-key sha256=\"" + sha256_hex(rollout_key) + "\"/>\n";
    x += R"(    <grant purpose="delivery" destinations="warehouse"/>
    <grant purpose="promotion-email" destinations="newsletter"/>
  </client>
</exportwall>
)";
    return x;
}

std::string soap_query_body(std::string_view soql) {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
           "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
           "xmlns:urn=\"urn:partner.soap.sforce.com\"><soapenv:Body><urn:query>"
           "<urn:queryString>" +
           std::string(soql) + "</urn:queryString></urn:query></soapenv:Body></soapenv:Envelope>";
}

std::string marker_prefix() {
    static std::atomic<unsigned> counter{0};
    std::array<unsigned char, 6> r{};
    (void)RAND_bytes(r.data(), static_cast<int>(r.size()));
    return "MARKER" + hex(r.data(), r.size()) + "x" + std::to_string(++counter);
}

contact marker_contact(std::string_view prefix, int n, std::string lifecycle) {
    const std::string p = std::string(prefix) + "-" + std::to_string(n) + "-";
    contact c;
    c.id = p + "id";
    c.lifecycle = std::move(lifecycle);
    c.first_name = p + "first";
    c.last_name = p + "last";
    c.email = std::string(prefix) + "-" + std::to_string(n) + "@example.test";
    c.phone = p + "phone";
    c.iban = p + "iban";
    c.notes = p + "notes";
    c.city = p + "city";
    c.account_name = p + "account";
    return c;
}

std::string_view shape_name(vendor_shape s) {
    switch (s) {
        case vendor_shape::dataverse:
            return "Dataverse";
        case vendor_shape::hubspot:
            return "HubSpot";
        case vendor_shape::salesforce:
            return "SalesforceRest";
        case vendor_shape::salesforce_soap:
            return "SalesforceSoap";
        case vendor_shape::csv:
            return "SemicolonCsv";
        case vendor_shape::ndjson:
            return "Ndjson";
    }
    return "unknown";
}

shape_info info(vendor_shape s) {
    switch (s) {
        case vendor_shape::dataverse:
            return {"/api/data/v9.2/contacts", "GET", "application/json; odata.metadata=minimal",
                    "$select", true};
        case vendor_shape::hubspot:
            return {"/crm/v3/objects/contacts", "GET", "application/json;charset=utf-8",
                    "properties", true};
        case vendor_shape::salesforce:
            return {"/services/data/v58.0/query", "GET", "application/json;charset=UTF-8", "",
                    true};
        case vendor_shape::salesforce_soap:
            return {"/services/Soap/u/58.0", "POST", "text/xml; charset=utf-8", "", false};
        case vendor_shape::csv:
            return {"/exports/contacts.csv", "GET", "text/csv; charset=utf-8", "columns", false};
        case vendor_shape::ndjson:
            return {"/exports/contacts.ndjson", "GET", "application/x-ndjson", "fields", false};
    }
    return {};
}

std::string field_name(vendor_shape s, std::string_view dotted) {
    std::string out(dotted);
    if (s == vendor_shape::csv)
        for (auto& c : out)
            if (c == '.') c = '_';
    if (s == vendor_shape::salesforce_soap && out == "id") out = "Id";
    // OData writes a path into a complex property with '/'.
    if (s == vendor_shape::dataverse)
        for (auto& c : out)
            if (c == '.') c = '/';
    return out;
}

std::string render(vendor_shape s, const std::vector<contact>& records,
                   std::string_view crm_origin) {
    std::string x;
    switch (s) {
        case vendor_shape::dataverse: {
            x = "{\"@odata.context\":\"" + std::string(crm_origin) +
                "/api/data/v9.2/$metadata#contacts\",\"value\":[";
            for (std::size_t i = 0; i < records.size(); ++i) {
                if (i > 0) x += ",";
                x += json_contact(records[i], true, false);
            }
            x += "],\"@odata.nextLink\":\"" + std::string(crm_origin) +
                 "/api/data/v9.2/contacts?$select=id,first_name&$skiptoken=page2\"}";
            return x;
        }
        case vendor_shape::hubspot: {
            x = "{\"results\":[";
            for (std::size_t i = 0; i < records.size(); ++i) {
                if (i > 0) x += ",";
                x += "{\"id\":\"" + records[i].id +
                     "\",\"properties\":" + json_contact(records[i], false, false) +
                     ",\"createdAt\":\"2026-01-01T00:00:00Z\",\"archived\":false}";
            }
            x += "],\"paging\":{\"next\":{\"after\":\"101\",\"link\":\"" + std::string(crm_origin) +
                 "/crm/v3/objects/contacts?after=101\"}}}";
            return x;
        }
        case vendor_shape::salesforce: {
            x = "{\"totalSize\":" + std::to_string(records.size() * 2) +
                ",\"done\":false,\"nextRecordsUrl\":\"/services/data/v58.0/query/01gD-2000\","
                "\"records\":[";
            for (std::size_t i = 0; i < records.size(); ++i) {
                if (i > 0) x += ",";
                std::string rec = json_contact(records[i], false, true);
                // The record's own attributes first, as Salesforce sends them.
                rec.insert(1,
                           "\"attributes\":{\"type\":\"Contact\",\"url\":"
                           "\"/services/data/v58.0/sobjects/Contact/" +
                               records[i].id + "\"},");
                x += rec;
            }
            x += "]}";
            return x;
        }
        case vendor_shape::salesforce_soap: {
            x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
                "xmlns=\"urn:partner.soap.sforce.com\" "
                "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                "xmlns:sf=\"urn:sobject.partner.soap.sforce.com\">\n<soapenv:Body>"
                "<queryResponse><result xsi:type=\"QueryResult\"><done>true</done>"
                "<queryLocator xsi:nil=\"true\"/>\n";
            for (const auto& r : records) x += xml_contact(r);
            x += "<size>" + std::to_string(records.size()) +
                 "</size></result></queryResponse></soapenv:Body></soapenv:Envelope>\n";
            return x;
        }
        case vendor_shape::csv: {
            x = "\xEF\xBB\xBF";
            x += "id;lifecycle;first_name;last_name;email;phone;iban;notes;quote_requested;"
                 "consent_email;objection_direct_marketing;address_city\r\n";
            for (const auto& r : records) {
                x +=
                    r.id + ";" + r.lifecycle + ";" + r.first_name + ";" + r.last_name + ";" +
                    r.email + ";" + r.phone + ";" + r.iban + ";" + r.notes + ";" +
                    b(r.quote_requested) + ";" + b(r.consent_email) + ";" +
                    (r.objection_absent ? std::string() : r.objection_raw.value_or(b(r.objected))) +
                    ";" + r.city + "\r\n";
            }
            return x;
        }
        case vendor_shape::ndjson: {
            for (const auto& r : records) x += json_contact(r, false, false) + "\n";
            return x;
        }
    }
    return x;
}

std::string request_bytes(const export_request& r) {
    std::string x = r.method + " " + r.target + " " + r.version + "\r\nHost: localhost\r\n";
    if (!r.api_key.empty()) x += "Authorization: Bearer " + r.api_key + "\r\n";
    if (!r.purpose.empty()) x += "X-Export-Purpose: " + r.purpose + "\r\n";
    if (!r.destination.empty()) x += "X-Export-Destination: " + r.destination + "\r\n";
    x += r.extra_headers;
    if (!r.body.empty() || r.method == "POST")
        x += "Content-Type: text/xml\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n";
    x += "\r\n";
    x += r.body;
    return x;
}

std::string run_exportwall(const std::vector<std::string>& args) {
    return run_exportwall_status(args).first;
}

std::pair<std::string, int> run_exportwall_status(const std::vector<std::string>& args) {
    std::string cmd = exportwall_binary();
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return {out, -1};
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    const int status = ::pclose(p);
    return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

subject_lookup_result subject_lookup(const std::string& config,
                                     const std::vector<std::string>& args) {
    std::vector<std::string> all{"audit", "subject", "--config", config, "--format", "json"};
    all.insert(all.end(), args.begin(), args.end());
    subject_lookup_result r;
    std::tie(r.output, r.status) = run_exportwall_status(all);
    // stdout's one JSON line; a warning on stderr may come before it.
    const auto start = r.output.find("{\"found\"");
    const auto line = start == std::string::npos
                          ? std::string()
                          : r.output.substr(start, r.output.find('\n', start) - start);
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    if (!ec && v.is_object()) {
        r.intact = v.as_object().at("index_intact").as_bool();
        for (const auto& e : v.as_object().at("exports").as_array())
            r.ids.emplace_back(e.as_object().at("audit_id").as_string());
    }
    return r;
}

::testing::AssertionResult enforce_fixture::start(vendor_policy_options o) {
    if (dir_.path().empty()) return ::testing::AssertionFailure() << "no temp dir";
    if (!crm_.start(dir_))
        return ::testing::AssertionFailure() << "fake_crm did not start:\n" << crm_.log();
    if (o.upstream_url.empty()) o.upstream_url = crm_origin();
    std::string config = vendor_config(dir_, o);
    for (const auto& [from, to] : o.edits) {
        auto at = config.find(from);
        if (at == std::string::npos)
            return ::testing::AssertionFailure() << "configuration edit not found: " << from;
        config.replace(at, from.size(), to);
    }
    if (!o.network.empty()) config.insert(config.find("  <upstream id="), o.network);
    if (o.shadow) {
        std::string candidate = config;
        for (const auto& [from, to] : o.shadow_edits) {
            auto at = candidate.find(from);
            if (at == std::string::npos)
                return ::testing::AssertionFailure() << "shadow edit not found: " << from;
            candidate.replace(at, from.size(), to);
        }
        if (!write_file(dir_.file("candidate.xml"), candidate))
            return ::testing::AssertionFailure() << "cannot write the candidate policy";
        const std::string shadow = "  <shadow file=\"" + dir_.file("candidate.xml") + "\"/>\n";
        config.insert(config.find("  <upstream id="), shadow);
    }
    config_ = config;
    if (!proxy_.start(dir_, config))
        return ::testing::AssertionFailure() << "exportwall did not start:\n" << proxy_.log();
    return ::testing::AssertionSuccess();
}

void enforce_fixture::TearDown() {
    if (HasFailure()) {
        std::cerr << "---- exportwall log ----\n"
                  << proxy_.log().substr(0, 20000) << "\n---- fake_crm log ----\n"
                  << crm_.log().substr(0, 4000) << "\n";
    }
    proxy_.process().stop();
    crm_.process().stop();
}

std::string enforce_fixture::crm_origin() const {
    return "http://127.0.0.1:" + std::to_string(crm_.port());
}

::testing::AssertionResult enforce_fixture::stage(std::string_view path,
                                                  std::string_view content_type,
                                                  std::string_view body,
                                                  std::string_view extra_query) {
    std::string type;
    for (char c : content_type) {
        if (c == ' ')
            type += "%20";
        else if (c == ';')
            type += "%3B";
        else if (c == '=')
            type += "%3D";
        else
            type.push_back(c);
    }
    std::string req = "POST /_stage?path=" + std::string(path) + "&type=" + type +
                      std::string(extra_query) +
                      " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
    response r = fetch(crm_.port(), req);
    if (!r.received || r.status != 200)
        return ::testing::AssertionFailure() << "staging " << path << " failed: " << r.status;
    return ::testing::AssertionSuccess();
}

response enforce_fixture::send(const export_request& r) {
    return fetch(proxy_.port(), request_bytes(r));
}

response enforce_fixture::send_on(http_connection& c, const export_request& r) {
    if (!c.connect(proxy_.port()) || !c.send(request_bytes(r))) return {};
    return c.read_response();
}

crm_seen enforce_fixture::seen() {
    auto s = crm_requests(crm_.port());
    EXPECT_TRUE(s.has_value()) << "the fake CRM's /_seen did not answer";
    return s.value_or(crm_seen{});
}

std::vector<seen_request> enforce_fixture::seen_at(std::string_view path) {
    std::vector<seen_request> out;
    for (auto& r : seen().requests)
        if (r.target.rfind(path, 0) == 0) out.push_back(std::move(r));
    return out;
}

std::optional<boost::json::object> audit_record_in(const std::string& path, const std::string& id) {
    std::optional<boost::json::object> found;
    if (id.empty()) return found;
    const std::string needle = "\"id\":\"" + id + "\"";
    (void)poll_until(
        [&] {
            auto text = read_file(path);
            if (!text) return false;
            std::istringstream lines(*text);
            std::string line;
            while (std::getline(lines, line)) {
                if (line.find(needle) == std::string::npos) continue;
                boost::system::error_code ec;
                auto v = boost::json::parse(line, ec);
                if (!ec && v.is_object()) found = v.as_object();
                return true;
            }
            return false;
        },
        10s);
    return found;
}

std::optional<boost::json::object> enforce_fixture::audit_record(const std::string& id) {
    return audit_record_in(dir_.file("audit.jsonl"), id);
}

std::optional<boost::json::object> problem_of(const response& r) {
    auto type = r.header("Content-Type");
    if (!type || type->find("application/problem+json") == std::string::npos) return std::nullopt;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return v.as_object();
}

std::uint64_t dropped(const boost::json::object& audit, std::string_view reason) {
    const auto* d = audit.if_contains("records_dropped");
    if (d == nullptr || !d->is_object()) return 0;
    const auto* n = d->as_object().if_contains(reason);
    if (n == nullptr) return 0;
    return n->to_number<std::uint64_t>();
}

std::string string_at(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) return {};
    return std::string(v->as_string());
}

std::uint64_t number_at(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_number()) return 0;
    return v->to_number<std::uint64_t>();
}

std::vector<std::string> names_at(const boost::json::object& o, std::string_view key) {
    std::vector<std::string> out;
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_array()) return out;
    for (const auto& e : v->as_array())
        if (e.is_string()) out.emplace_back(e.as_string());
    return out;
}

std::vector<std::string> query_values(std::string_view target, std::string_view name) {
    std::vector<std::string> out;
    auto q = target.find('?');
    if (q == std::string_view::npos) return out;
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        auto amp = rest.find('&');
        std::string_view param = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        auto eq = param.find('=');
        if (param.substr(0, eq) == name)
            out.emplace_back(eq == std::string_view::npos ? "" : param.substr(eq + 1));
    }
    return out;
}

std::string percent_decode(std::string_view s) {
    auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && digit(s[i + 1]) >= 0 && digit(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(digit(s[i + 1]) * 16 + digit(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

}  // namespace exportwall::itest
