// Every vendor shape of the demo CRM end to end (issue 14, item 6): the real demo_crm binary
// (tools/demo_crm) and the real exportwall serving config/examples/vendor-shapes.xml, both on port
// 0, the example rewritten only where a test must (ports, the audit and access log paths). Each
// test fetches the CRM's own answer directly, then the same export through exportwall, and
// checks what the purpose keeps, what it strips (the stripped value itself, taken from the CRM's
// answer, is nowhere in the filtered body), the records of other entities in the same body, and
// that a refused request reaches no CRM.
//
// The demo CRM neither checks nor logs an Odoo password, so the login exportwall writes into a
// JSON-RPC call is checked against the fake CRM (tests/fake_crm), whose /_seen shows the bodies it
// received: the test adds one route that forwards to it, with the example's own Odoo route
// attributes.

#include <gtest/gtest.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/harness.hpp"

namespace exportwall::itest {
namespace {

namespace json = boost::json;

constexpr std::string_view erp_key = "erp-demo-key";
constexpr std::string_view marketing_key = "marketing-demo-key";
constexpr std::string_view partner_key = "partner-demo-key";
// The example's public-url: pagination links are rewritten onto it.
constexpr std::string_view public_url = "http://127.0.0.1:8080";
// The example's Odoo login (vendor-shapes.xml, upstream "odoo").
constexpr std::string_view odoo_database = "ardennes";
constexpr std::int64_t odoo_uid = 2;
constexpr std::string_view odoo_password = "odoo-demo-password";
// The demo CRM's data set: 12 contacts (leads, customers, former customers), pages of 5.
constexpr int records = 12;
constexpr int page_size = 5;

std::string example_path() {
    return std::string(EXPORTWALL_SOURCE_DIR) + "/config/examples/vendor-shapes.xml";
}

bool contains(std::string_view body, std::string_view value) {
    return body.find(value) != std::string_view::npos;
}

std::optional<json::value> parse(std::string_view body) {
    boost::system::error_code ec;
    auto v = json::parse(json::string_view(body.data(), body.size()), ec);
    if (ec) return std::nullopt;
    return v;
}

std::string text_at(const json::value& v, std::string_view key) {
    const auto* o = v.if_object();
    const auto* m = o == nullptr ? nullptr : o->if_contains(key);
    return m != nullptr && m->is_string() ? std::string(m->get_string()) : std::string();
}

// A declared export: the API key, X-Export-Purpose and X-Export-Destination; a body when given.
std::string declared(std::string_view method, std::string_view target, std::string_view key,
                     std::string_view purpose, std::string_view destination,
                     std::string_view body = {}) {
    std::string r = std::string(method) + " " + std::string(target) +
                    " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    if (!key.empty()) r += "Authorization: Bearer " + std::string(key) + "\r\n";
    if (!purpose.empty()) r += "X-Export-Purpose: " + std::string(purpose) + "\r\n";
    if (!destination.empty()) r += "X-Export-Destination: " + std::string(destination) + "\r\n";
    if (!body.empty() || method == "POST") {
        r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    }
    r += "\r\n";
    r += body;
    return r;
}

// An Odoo execute_kw search_read call with the client's own (bogus) login.
std::string odoo_call(std::string_view domain, std::string_view kwargs) {
    return R"({"jsonrpc":"2.0","method":"call","id":7,"params":{"service":"object",)"
           R"("method":"execute_kw","args":["client-db",99,"client-bogus-password",)"
           R"("res.partner","search_read",[)" +
           std::string(domain) + "]," + std::string(kwargs) + "]}}";
}

class VendorShapes : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::string port_file = dir_.file("demo_crm.port");
        demo_log_ = dir_.file("demo_crm.log");
        ASSERT_TRUE(
            crm_.start({DEMO_CRM_BINARY, "--port", "0", "--port-file", port_file, "--records",
                        std::to_string(records), "--page-size", std::to_string(page_size)},
                       demo_log_));
        std::optional<std::string> port_text;
        ASSERT_TRUE(poll_until(
            [&] { return (port_text = read_file(port_file)).has_value() || !crm_.running(); }));
        ASSERT_TRUE(port_text) << "demo_crm did not start: " << demo_log();
        crm_port_ = static_cast<std::uint16_t>(std::strtoul(port_text->c_str(), nullptr, 10));
        ASSERT_NE(crm_port_, 0);
        ASSERT_TRUE(observer_.start(dir_));

        auto config = read_file(example_path());
        ASSERT_TRUE(config) << example_path();
        std::string x = *config;
        const std::string crm_url = "http://127.0.0.1:" + std::to_string(crm_port_);
        ASSERT_TRUE(replace_once(x, R"(<listen address="127.0.0.1" port="8080")",
                                 R"(<listen address="127.0.0.1" port="0")"));
        ASSERT_TRUE(replace_once(x, R"(<admin address="127.0.0.1" port="9901")",
                                 R"(<admin address="127.0.0.1" port="0")"));
        ASSERT_TRUE(
            replace_once(x, R"(path="audit.jsonl")", "path=\"" + dir_.file("audit.jsonl") + "\""));
        ASSERT_TRUE(
            replace_once(x, R"(access-log="-")", "access-log=\"" + dir_.file("access.log") + "\""));
        ASSERT_TRUE(replace_all(x, "http://127.0.0.1:8081", crm_url));
        // The Odoo route once more, in front of the fake CRM that shows what it received.
        ASSERT_TRUE(contains(x, "rpc-database=\"" + std::string(odoo_database) + "\" rpc-user=\"" +
                                    std::to_string(odoo_uid) + "\" rpc-password=\"" +
                                    std::string(odoo_password) + "\""));
        const std::string observed =
            "  <upstream id=\"observer\" url=\"http://127.0.0.1:" +
            std::to_string(observer_.port()) + "\" rpc-database=\"" + std::string(odoo_database) +
            "\" rpc-user=\"" + std::to_string(odoo_uid) + "\" rpc-password=\"" +
            std::string(odoo_password) +
            "\"/>\n"
            "  <route id=\"odoo-observed\" path=\"/observed/jsonrpc\" upstream-path=\"/jsonrpc\" "
            "methods=\"POST\" upstream=\"observer\" entity=\"odoo-partner\" format=\"json\" "
            "records=\"/result\" query-language=\"odoo-rpc\" object=\"res.partner\"/>\n"
            "</exportwall>";
        ASSERT_TRUE(replace_once(x, "</exportwall>", observed));
        ASSERT_TRUE(proxy_.start(dir_, x)) << proxy_.log();
    }

    void TearDown() override {
        if (HasFailure()) {
            std::cerr << "--- exportwall log ---\n"
                      << proxy_.log() << "--- demo_crm log ---\n"
                      << demo_log() << "--- fake CRM log ---\n"
                      << observer_.log();
        }
        proxy_.process().stop();
        crm_.stop();
    }

    [[nodiscard]] std::string demo_log() const { return read_file(demo_log_).value_or(""); }

    // The requests the demo CRM logged (one line each, written before it answers).
    [[nodiscard]] std::vector<std::string> demo_requests() const {
        std::vector<std::string> out;
        std::string log = demo_log();
        std::size_t at = 0;
        while (at < log.size()) {
            auto end = log.find('\n', at);
            std::string line = log.substr(at, end == std::string::npos ? end : end - at);
            if (line.rfind("demo_crm: ", 0) == 0 && line.rfind("demo_crm: listening", 0) != 0)
                out.push_back(line);
            if (end == std::string::npos) break;
            at = end + 1;
        }
        return out;
    }

    // The demo CRM's own answer, fetched directly (no exportwall).
    [[nodiscard]] response direct(std::string_view method, std::string_view target,
                                  std::string_view body = {}) const {
        return fetch(crm_port_, declared(method, target, {}, {}, {}, body));
    }
    [[nodiscard]] json::value direct_json(std::string_view target) const {
        auto r = direct("GET", target);
        EXPECT_EQ(r.status, 200u) << target;
        auto v = parse(r.body);
        EXPECT_TRUE(v) << "the demo CRM's answer is no JSON: " << r.body;
        return v.value_or(json::value());
    }

    [[nodiscard]] response through(std::string_view method, std::string_view target,
                                   std::string_view key, std::string_view purpose,
                                   std::string_view destination, std::string_view body = {}) {
        return fetch(proxy_.port(), declared(method, target, key, purpose, destination, body));
    }
    // An allowed export: 200 and a complete JSON body.
    [[nodiscard]] json::value export_json(std::string_view target, std::string_view key,
                                          std::string_view purpose, std::string_view destination,
                                          std::string* raw = nullptr) {
        auto r = through("GET", target, key, purpose, destination);
        EXPECT_EQ(r.status, 200u) << target << ": " << r.body;
        EXPECT_TRUE(r.complete) << target;
        EXPECT_TRUE(r.header("X-Export-Audit-Id")) << target;
        if (raw != nullptr) *raw = r.body;
        auto v = parse(r.body);
        EXPECT_TRUE(v) << "the filtered body is no JSON: " << r.body;
        return v.value_or(json::value());
    }

    // The first customer's and the first prospect's ids (Dataverse, HubSpot, Salesforce and
    // SuiteCRM share the generator's ids), from the CRM's first page.
    void find_subjects() {
        auto page = direct_json("/api/data/v9.2/contacts?$select=id,lifecycle");
        for (const auto& r : page.at("value").as_array()) {
            auto lifecycle = text_at(r, "lifecycle");
            if (lifecycle == "customer" && customer_.empty()) customer_ = text_at(r, "id");
            if (lifecycle == "lead" && prospect_.empty()) prospect_ = text_at(r, "id");
        }
        ASSERT_FALSE(customer_.empty());
        ASSERT_FALSE(prospect_.empty());
    }

    temp_dir dir_;
    child_process crm_;
    std::string demo_log_;
    std::uint16_t crm_port_ = 0;
    fake_crm observer_;
    exportwall_server proxy_;
    std::string customer_;
    std::string prospect_;
};

// --- single-record GETs --------------------------------------------------------------------

TEST_F(VendorShapes, HubSpotContactKeepsTheInvoiceFieldsAndNotTheIban) {
    find_subjects();
    const std::string target = "/crm/v3/objects/contacts/" + customer_;
    auto crm = direct_json(target);
    const std::string iban = text_at(crm.at("properties"), "iban");
    const std::string phone = text_at(crm.at("properties"), "phone");
    ASSERT_FALSE(iban.empty());
    std::string raw;
    auto v = export_json(target, erp_key, "invoicing", "billing", &raw);
    ASSERT_TRUE(v.is_object()) << raw;
    EXPECT_EQ(text_at(v, "id"), customer_);
    const auto& p = v.at("properties");
    EXPECT_EQ(text_at(p, "email"), text_at(crm.at("properties"), "email"));
    EXPECT_TRUE(p.as_object().contains("vat_number"));
    EXPECT_TRUE(p.at("address").as_object().contains("city"));
    EXPECT_FALSE(p.as_object().contains("iban"));
    EXPECT_FALSE(p.as_object().contains("lifecycle"));  // read by the rules, never exported
    EXPECT_FALSE(contains(raw, iban));
    EXPECT_FALSE(contains(raw, phone));
    // Record-level members beside "properties" are catalogue fields: invoicing keeps none of them.
    EXPECT_FALSE(v.as_object().contains("createdAt"));
    EXPECT_FALSE(v.as_object().contains("archived"));
}

TEST_F(VendorShapes, HubSpotRecordLevelFieldsPassBesidePropertiesWhenThePurposeKeepsThem) {
    find_subjects();
    auto v = export_json("/crm/v3/objects/contacts/" + customer_, erp_key, "account-management",
                         "sales");
    ASSERT_TRUE(v.is_object());
    EXPECT_TRUE(v.as_object().contains("updatedAt"));
    EXPECT_TRUE(v.as_object().contains("archived"));
    EXPECT_FALSE(v.as_object().contains("createdAt"));
    EXPECT_TRUE(v.at("properties").as_object().contains("phone"));
    EXPECT_FALSE(v.at("properties").as_object().contains("vat_number"));
}

TEST_F(VendorShapes, SingleRecordTheRulesDropAnswersNull) {
    find_subjects();
    // Invoicing is a contract purpose: customers only. A prospect's record is dropped.
    for (const std::string& target : {"/crm/v3/objects/contacts/" + prospect_,
                                      "/services/data/v58.0/sobjects/Contact/" + prospect_,
                                      "/api/data/v9.2/contacts(" + prospect_ + ")"}) {
        ASSERT_EQ(direct("GET", target).status, 200u) << target;
        auto r = through("GET", target, erp_key, "invoicing", "billing");
        EXPECT_EQ(r.status, 200u) << target;
        EXPECT_TRUE(r.complete) << target;
        EXPECT_EQ(r.body, "null") << target;
        EXPECT_EQ(r.header("X-Export-Decision"), "filtered") << target;
    }
}

TEST_F(VendorShapes, SalesforceContactKeepsItsIdAndStripsAttributesAndTheIban) {
    find_subjects();
    const std::string target = "/services/data/v58.0/sobjects/Contact/" + customer_;
    auto crm = direct_json(target);
    const std::string iban = text_at(crm, "iban");
    ASSERT_FALSE(iban.empty());
    ASSERT_TRUE(crm.as_object().contains("attributes"));
    std::string raw;
    auto v = export_json(target, erp_key, "invoicing", "billing", &raw);
    ASSERT_TRUE(v.is_object()) << raw;
    EXPECT_EQ(text_at(v, "Id"), customer_);
    EXPECT_EQ(text_at(v, "email"), text_at(crm, "email"));
    EXPECT_FALSE(v.as_object().contains("attributes"));
    EXPECT_FALSE(v.as_object().contains("iban"));
    EXPECT_FALSE(contains(raw, iban));
}

TEST_F(VendorShapes, DataverseContactStripsTheAnnotationsAndTheIbanItAskedFor) {
    find_subjects();
    const std::string target = "/api/data/v9.2/contacts(" + customer_ + ")?$select=email,iban";
    auto crm = direct_json("/api/data/v9.2/contacts(" + customer_ + ")");
    const std::string iban = text_at(crm, "iban");
    ASSERT_FALSE(iban.empty());
    auto r = through("GET", target, erp_key, "invoicing", "billing");
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.header("X-Export-Stripped-Fields"), "iban");
    auto v = parse(r.body);
    ASSERT_TRUE(v && v->is_object()) << r.body;
    EXPECT_EQ(v->as_object().size(), 1u) << r.body;
    EXPECT_EQ(text_at(*v, "email"), text_at(crm, "email"));
    EXPECT_FALSE(contains(r.body, iban));
    EXPECT_FALSE(contains(r.body, "@odata"));
    // The CRM was asked for the e-mail and the subject type, never the IBAN.
    auto log = demo_requests();
    ASSERT_FALSE(log.empty());
    EXPECT_TRUE(contains(log.back(), "served=[email,lifecycle]")) << log.back();
}

// --- Pipedrive --------------------------------------------------------------------------------

TEST_F(VendorShapes, PipedrivePersonKeepsItsOrganisationAndDropsItsOwner) {
    auto crm = direct_json("/v1/persons/1");
    const std::string iban = text_at(crm.at("data"), "iban");
    const std::string owner_email = text_at(crm.at("related_objects").at("user").at("2"), "email");
    const std::string dropbox = text_at(crm.at("additional_data"), "dropbox_email");
    ASSERT_FALSE(iban.empty());
    ASSERT_FALSE(owner_email.empty());
    ASSERT_FALSE(dropbox.empty());
    std::string raw;
    auto v = export_json("/v1/persons/1", erp_key, "account-management", "sales", &raw);
    ASSERT_TRUE(v.is_object()) << raw;
    const auto& person = v.at("data");
    EXPECT_EQ(text_at(person, "name"), text_at(crm.at("data"), "name"));
    EXPECT_FALSE(person.as_object().contains("iban"));
    EXPECT_FALSE(person.as_object().contains("owner_id"));  // the owner's e-mail is in it
    EXPECT_FALSE(contains(raw, iban));
    // The organisation is filtered as an organisation: id, name and address, nothing else.
    const auto& organisations = v.at("related_objects").at("organization").as_object();
    ASSERT_EQ(organisations.size(), 1u) << raw;
    const auto& organisation = organisations.at("1");
    EXPECT_EQ(text_at(organisation, "name"), "Demo Retail NV");
    EXPECT_TRUE(organisation.as_object().contains("address"));
    EXPECT_FALSE(organisation.as_object().contains("cc_email"));
    EXPECT_FALSE(organisation.as_object().contains("people_count"));
    // No purpose reads the CRM's users, nor its bookkeeping beside the records.
    EXPECT_TRUE(v.at("related_objects").at("user").as_object().empty()) << raw;
    EXPECT_TRUE(v.at("additional_data").as_object().empty()) << raw;
    EXPECT_FALSE(contains(raw, owner_email));
    EXPECT_FALSE(contains(raw, dropbox));
}

TEST_F(VendorShapes, PipedrivePersonOfAnotherSubjectIsNullAndTheInvoiceReadsNoOrganisation) {
    auto crm = direct_json("/v1/persons/1");
    ASSERT_EQ(text_at(crm.at("data"), "lifecycle"), "lead");
    std::string raw;
    auto v = export_json("/v1/persons/1", erp_key, "invoicing", "billing", &raw);
    ASSERT_TRUE(v.is_object()) << raw;
    EXPECT_TRUE(v.at("data").is_null()) << raw;
    EXPECT_TRUE(v.at("related_objects").at("organization").as_object().empty()) << raw;
    EXPECT_FALSE(contains(raw, "Demo Retail NV"));
}

TEST_F(VendorShapes, PipedrivePersonsListKeepsOnlyCustomersForTheInvoice) {
    const std::string target = "/v1/persons?start=0&limit=5";
    auto crm = direct_json(target);
    std::set<std::int64_t> customers;
    std::vector<std::string> ibans;
    for (const auto& p : crm.at("data").as_array()) {
        if (text_at(p, "lifecycle") == "customer") customers.insert(p.at("id").as_int64());
        ibans.push_back(text_at(p, "iban"));
    }
    ASSERT_FALSE(customers.empty());
    ASSERT_LT(customers.size(), crm.at("data").as_array().size());
    std::string raw;
    auto v = export_json(target, erp_key, "invoicing", "billing", &raw);
    ASSERT_TRUE(v.is_object()) << raw;
    std::set<std::int64_t> kept;
    for (const auto& p : v.at("data").as_array()) {
        kept.insert(p.at("id").as_int64());
        EXPECT_TRUE(p.as_object().contains("vat_number"));
        EXPECT_FALSE(p.as_object().contains("email"));  // invoicing reads primary_email
    }
    EXPECT_EQ(kept, customers);
    for (const auto& iban : ibans) EXPECT_FALSE(contains(raw, iban)) << iban;
    // The list's pagination passes as declared page metadata (envelope-fields), member by member.
    const auto& crm_page = crm.at("additional_data").at("pagination").as_object();
    ASSERT_TRUE(crm_page.contains("more_items_in_collection")) << crm_page;
    const auto& page = v.at("additional_data").at("pagination").as_object();
    for (const char* name : {"start", "limit", "more_items_in_collection", "next_start"}) {
        ASSERT_EQ(crm_page.contains(name), page.contains(name)) << name << ": " << raw;
        if (crm_page.contains(name)) {
            EXPECT_EQ(page.at(name), crm_page.at(name)) << name;
        }
    }
    for (const auto& member : page) {
        EXPECT_TRUE(crm_page.contains(member.key())) << member.key();
    }
    EXPECT_FALSE(v.as_object().contains("success")) << raw;
}

// --- Zoho CRM v3 --------------------------------------------------------------------------------

TEST_F(VendorShapes, ZohoContactsPageOnWithSealedTokensAndKeepOnlyWhatTheInvoiceReads) {
    const std::string query = "fields=First_Name,Email,IBAN,Lifecycle_Stage&per_page=5";
    auto crm = direct_json("/crm/v3/Contacts?" + query);
    std::set<std::string> customers;
    std::vector<std::string> ibans;
    for (const auto& c : crm.at("data").as_array()) {
        if (text_at(c, "Lifecycle_Stage") == "customer") customers.insert(text_at(c, "id"));
        ibans.push_back(text_at(c, "IBAN"));
    }
    const auto& crm_info = crm.at("info").as_object();
    const std::string crm_token(crm_info.at("next_page_token").as_string());
    ASSERT_FALSE(customers.empty());

    std::string raw;
    auto v = export_json("/crm/v3/Contacts?" + query, erp_key, "invoicing", "billing", &raw);
    ASSERT_TRUE(v.is_object()) << raw;
    std::set<std::string> kept;
    for (const auto& c : v.at("data").as_array()) {
        kept.insert(text_at(c, "id"));
        EXPECT_FALSE(c.as_object().contains("Lifecycle_Stage")) << raw;
    }
    EXPECT_EQ(kept, customers);
    for (const auto& iban : ibans) EXPECT_FALSE(contains(raw, iban)) << iban;
    // info: the declared page metadata as the CRM wrote it, the page token sealed, the rest
    // (sort_by, sort_order) stripped.
    const auto& info = v.at("info").as_object();
    for (const char* name : {"per_page", "count", "page", "more_records", "page_token_expiry"}) {
        ASSERT_TRUE(info.contains(name)) << name << ": " << raw;
        EXPECT_EQ(info.at(name), crm_info.at(name)) << name;
    }
    EXPECT_FALSE(info.contains("sort_by")) << raw;
    EXPECT_FALSE(contains(raw, crm_token)) << "the CRM's page token reached the client: " << raw;
    const std::string token(info.at("next_page_token").as_string());
    ASSERT_TRUE(token.starts_with("ew1.")) << token;

    // The next page: the sealed token opens to the CRM's, which answers the CRM's next page.
    auto crm_next = direct_json("/crm/v3/Contacts?" + query + "&page_token=" + crm_token);
    auto next = export_json("/crm/v3/Contacts?" + query + "&page_token=" + token, erp_key,
                            "invoicing", "billing");
    ASSERT_TRUE(next.is_object());
    EXPECT_EQ(next.at("info").at("page"), crm_next.at("info").at("page"));
    // The CRM's token written by the client, or the sealed one with another selection: refused.
    for (const std::string& bad : {"/crm/v3/Contacts?" + query + "&page_token=" + crm_token,
                                   "/crm/v3/Contacts?fields=First_Name&per_page=5&page_token=" + token}) {
        auto r = through("GET", bad, erp_key, "invoicing", "billing");
        EXPECT_EQ(r.status, 400u) << bad << ": " << r.body;
        EXPECT_TRUE(contains(r.body, "continuation_invalid")) << r.body;
    }
}

// --- SuiteCRM (JSON:API) ----------------------------------------------------------------------

TEST_F(VendorShapes, SuiteCrmContactFiltersItsIncludedAccountAsAnAccount) {
    find_subjects();
    const std::string target = "/Api/V8/module/Contacts/" + customer_;
    auto crm = direct_json(target);
    const std::string iban = text_at(crm.at("data").at("attributes"), "iban_c");
    const auto& account = crm.at("included").as_array().at(0);
    const std::string account_city = text_at(account.at("attributes"), "billing_address_city");
    ASSERT_FALSE(iban.empty());
    ASSERT_FALSE(account_city.empty());
    std::string raw;
    auto v = export_json(target, erp_key, "account-management", "sales", &raw);
    ASSERT_TRUE(v.is_object()) << raw;
    EXPECT_EQ(text_at(v.at("data"), "type"), "Contacts");
    EXPECT_EQ(text_at(v.at("data"), "id"), customer_);
    const auto& attributes = v.at("data").at("attributes").as_object();
    EXPECT_TRUE(attributes.contains("email1"));
    EXPECT_TRUE(attributes.contains("account_name"));
    EXPECT_FALSE(attributes.contains("iban_c"));
    EXPECT_FALSE(contains(raw, iban));
    // The account keeps its type, id and name; its city is no field the purpose reads.
    const auto& included = v.at("included").as_array();
    ASSERT_EQ(included.size(), 1u) << raw;
    EXPECT_EQ(text_at(included[0], "type"), "Accounts");
    EXPECT_EQ(text_at(included[0], "id"), text_at(account, "id"));
    EXPECT_EQ(text_at(included[0].at("attributes"), "name"),
              text_at(account.at("attributes"), "name"));
    EXPECT_FALSE(included[0].at("attributes").as_object().contains("billing_address_city"));
    // links.self points at exportwall, meta is dropped.
    EXPECT_EQ(text_at(v.at("links"), "self").rfind(std::string(public_url) + "/", 0), 0u) << raw;
    EXPECT_TRUE(v.at("meta").as_object().empty()) << raw;
}

TEST_F(VendorShapes, SuiteCrmContactsForTheInvoiceDropEveryAccount) {
    const std::string target = "/Api/V8/module/Contacts?page%5Bsize%5D=5";
    auto crm = direct_json(target);
    std::set<std::string> customers;
    for (const auto& c : crm.at("data").as_array())
        if (text_at(c.at("attributes"), "lifecycle_c") == "customer")
            customers.insert(text_at(c, "id"));
    ASSERT_FALSE(customers.empty());
    ASSERT_FALSE(crm.at("included").as_array().empty());
    std::string raw;
    auto v = export_json(target, erp_key, "invoicing", "billing", &raw);
    ASSERT_TRUE(v.is_object()) << raw;
    std::set<std::string> kept;
    for (const auto& c : v.at("data").as_array()) {
        kept.insert(text_at(c, "id"));
        EXPECT_FALSE(c.at("attributes").as_object().contains("iban_c"));
        EXPECT_FALSE(c.as_object().contains("relationships"));
    }
    EXPECT_EQ(kept, customers);
    // Invoicing reads no accounts: the side-load is emptied, never passed under the contact's
    // allow-list.
    EXPECT_TRUE(v.at("included").as_array().empty()) << raw;
    for (const auto& a : crm.at("included").as_array())
        EXPECT_FALSE(contains(raw, text_at(a.at("attributes"), "name")));
    const std::string next = text_at(v.at("links"), "next");
    EXPECT_EQ(next.rfind(std::string(public_url) + "/Api/V8/module/Contacts?", 0), 0u) << raw;
}

// --- Close ------------------------------------------------------------------------------------

TEST_F(VendorShapes, CloseDropsOptedOutContactsFromTheBrochureAndKeepsTheirLeads) {
    auto crm = direct_json("/api/v1/lead/");
    std::set<std::string> leads, opted_out, other_contacts, leads_of_opted_out;
    std::vector<std::string> ibans;
    for (const auto& lead : crm.at("data").as_array()) {
        leads.insert(text_at(lead, "id"));
        for (const auto& c : lead.at("contacts").as_array()) {
            ibans.push_back(text_at(c, "custom.iban"));
            if (c.at("custom.opt_out").as_bool()) {
                opted_out.insert(text_at(c, "id"));
                leads_of_opted_out.insert(text_at(lead, "id"));
            } else {
                other_contacts.insert(text_at(c, "id"));
            }
        }
    }
    ASSERT_FALSE(opted_out.empty()) << "the data set holds no opted-out contact";
    std::string raw;
    auto v = export_json("/api/v1/lead/", marketing_key, "brochure-post", "print-shop", &raw);
    ASSERT_TRUE(v.is_object()) << raw;
    std::set<std::string> kept_leads, kept_contacts;
    for (const auto& lead : v.at("data").as_array()) {
        kept_leads.insert(text_at(lead, "id"));
        EXPECT_TRUE(lead.as_object().contains("addresses"));
        EXPECT_FALSE(lead.as_object().contains("status_label"));
        for (const auto& c : lead.at("contacts").as_array()) {
            kept_contacts.insert(text_at(c, "id"));
            EXPECT_EQ(c.as_object().size(), 2u) << "a contact keeps its id and name only: " << raw;
        }
    }
    EXPECT_EQ(kept_leads, leads);  // every lead stays, those of the opted-out contacts too
    for (const auto& lead : leads_of_opted_out) EXPECT_EQ(kept_leads.count(lead), 1u);
    EXPECT_EQ(kept_contacts, other_contacts);
    for (const auto& c : opted_out) EXPECT_FALSE(contains(raw, c)) << c;
    for (const auto& iban : ibans) EXPECT_FALSE(contains(raw, iban)) << iban;
}

// --- Odoo JSON-RPC ----------------------------------------------------------------------------

TEST_F(VendorShapes, OdooCallIsFilteredAndAsksTheCrmOnlyForWhatThePurposeReads) {
    const std::string call = odoo_call(R"([["email","ilike","example.be"]])",
                                       R"({"fields":["name","email","x_iban"],"limit":5})");
    // The CRM's own answer, with the subject type the rules read.
    auto crm_answer =
        direct("POST", "/jsonrpc",
               odoo_call("[]", R"({"fields":["name","email","x_iban","x_lifecycle"],"limit":5})"));
    ASSERT_EQ(crm_answer.status, 200u);
    auto crm = parse(crm_answer.body);
    ASSERT_TRUE(crm && crm->as_object().contains("result")) << crm_answer.body;
    std::set<std::int64_t> customers;
    std::vector<std::string> ibans;
    for (const auto& p : crm->at("result").as_array()) {
        if (text_at(p, "x_lifecycle") == "customer") customers.insert(p.at("id").as_int64());
        ibans.push_back(text_at(p, "x_iban"));
    }
    ASSERT_FALSE(customers.empty());
    const auto before = demo_requests().size();
    auto r = through("POST", "/jsonrpc", erp_key, "invoicing", "billing", call);
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.header("X-Export-Stripped-Fields"), "x_iban");
    auto v = parse(r.body);
    ASSERT_TRUE(v && v->is_object()) << r.body;
    // A JSON-RPC client matches the answer to its call: jsonrpc and id pass (envelope-fields).
    EXPECT_EQ(v->at("jsonrpc"), "2.0") << r.body;
    EXPECT_EQ(v->at("id"), 7) << r.body;
    std::set<std::int64_t> kept;
    for (const auto& p : v->at("result").as_array()) {
        kept.insert(p.at("id").as_int64());
        EXPECT_FALSE(p.as_object().contains("x_iban"));
        EXPECT_FALSE(p.as_object().contains("x_lifecycle"));
    }
    EXPECT_EQ(kept, customers);
    for (const auto& iban : ibans) EXPECT_FALSE(contains(r.body, iban)) << iban;
    // The CRM was asked for the kept fields and the subject type, never the IBAN (and the client's
    // bogus db, uid and password did not matter).
    auto log = demo_requests();
    ASSERT_EQ(log.size(), before + 1);
    EXPECT_TRUE(contains(log.back(), "endpoint=odoo")) << log.back();
    EXPECT_TRUE(contains(log.back(), "served=[name,email,x_lifecycle]")) << log.back();
}

TEST_F(VendorShapes, OdooCallReachesTheCrmWithExportwallsLoginNeverTheClients) {
    ASSERT_TRUE(crm_control(observer_.port(), "/_reset"));
    const std::string staged = R"({"jsonrpc":"2.0","id":7,"result":[]})";
    const std::string stage =
        "POST /_stage?path=/jsonrpc&type=application/json HTTP/1.1\r\n"
        "Host: localhost\r\nConnection: close\r\nContent-Length: " +
        std::to_string(staged.size()) + "\r\n\r\n" + staged;
    ASSERT_EQ(fetch(observer_.port(), stage).status, 200u);
    auto r = through("POST", "/observed/jsonrpc", erp_key, "invoicing", "billing",
                     odoo_call("[]", R"({"fields":["name"]})"));
    ASSERT_EQ(r.status, 200u) << r.body;
    auto seen = crm_requests(observer_.port());
    ASSERT_TRUE(seen);
    ASSERT_EQ(seen->requests.size(), 1u);
    const auto& call = seen->requests[0];
    EXPECT_EQ(call.target, "/jsonrpc");
    EXPECT_FALSE(call.header("Authorization"));
    EXPECT_FALSE(call.header("X-Export-Purpose"));
    EXPECT_FALSE(contains(call.body, "client-bogus-password"));
    EXPECT_FALSE(contains(call.body, "client-db"));
    auto body = parse(call.body);
    ASSERT_TRUE(body) << call.body;
    const auto& args = body->at("params").at("args").as_array();
    ASSERT_EQ(args.size(), 7u) << call.body;
    EXPECT_EQ(args[0].as_string(), odoo_database);
    EXPECT_EQ(args[1].to_number<std::int64_t>(), odoo_uid);
    EXPECT_EQ(args[2].as_string(), odoo_password);
    EXPECT_EQ(args[3].as_string(), "res.partner");
}

// --- CSV with spaced header names -------------------------------------------------------------

TEST_F(VendorShapes, CsvWithSpacedHeaderNamesKeepsFirstNameAndTheCrmsHeader) {
    auto crm = direct("GET", "/exports/contacts-spaces.csv");
    ASSERT_EQ(crm.status, 200u);
    ASSERT_TRUE(contains(crm.body, "First Name;Last Name"));
    // Column 8 (IBAN) of every row the CRM sent, and the number of customer rows.
    std::vector<std::string> ibans;
    std::size_t customers = 0;
    std::size_t at = crm.body.find("\r\n") + 2;
    while (at < crm.body.size()) {
        auto end = crm.body.find("\r\n", at);
        std::string row = crm.body.substr(at, end - at);
        std::vector<std::string> cells;
        for (std::size_t c = 0; c <= row.size();) {
            auto semi = row.find(';', c);
            cells.push_back(row.substr(c, semi == std::string::npos ? semi : semi - c));
            if (semi == std::string::npos) break;
            c = semi + 1;
        }
        if (cells.size() > 7) {
            ibans.push_back(cells[7]);
            if (cells[1] == "customer") ++customers;
        }
        if (end == std::string::npos) break;
        at = end + 2;
    }
    ASSERT_EQ(ibans.size(), static_cast<std::size_t>(records));
    ASSERT_GT(customers, 0u);
    auto r = through("GET", "/exports/contacts-spaces.csv", erp_key, "invoicing", "billing");
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_TRUE(r.complete);
    const std::string header = r.body.substr(0, r.body.find("\r\n"));
    // The route selects the columns the purpose keeps (named with spaces again, as the CRM
    // knows them); the demo CRM answers them in the order asked, the catalogue's.
    EXPECT_EQ(header,
              "\xEF\xBB\xBF"
              "City;Contact Id;Country;E-mail Address;First Name;Last Name;Postcode;Street;"
              "VAT Number");
    std::size_t rows = 0;
    for (auto p = r.body.find("\r\n"); p != std::string::npos; p = r.body.find("\r\n", p + 2))
        ++rows;
    EXPECT_EQ(rows, customers + 1);  // the header and one row per customer
    for (const auto& iban : ibans) EXPECT_FALSE(contains(r.body, iban)) << iban;
}

// --- refusals ---------------------------------------------------------------------------------

TEST_F(VendorShapes, RefusedRequestsReachNoCrm) {
    find_subjects();
    ASSERT_TRUE(crm_control(observer_.port(), "/_reset"));
    const auto before = demo_requests().size();
    struct refusal {
        std::string method, target, key, purpose, destination, body;
        unsigned status;
        std::string reason;
    };
    const std::vector<refusal> refusals{
        {"GET", "/crm/v3/objects/contacts/" + customer_, "guessed-key", "invoicing", "billing", "",
         401, "unauthenticated"},
        {"GET", "/services/data/v58.0/sobjects/Contact/" + customer_, std::string(marketing_key),
         "invoicing", "billing", "", 403, "purpose_not_granted"},
        {"GET", "/api/data/v9.2/contacts(" + customer_ + ")?$filter=startswith(iban,'BE')",
         std::string(erp_key), "invoicing", "billing", "", 403, "query_field_not_permitted"},
        {"GET", "/v1/persons/1", std::string(partner_key), "account-management", "partner-leads",
         "", 403, "third_party_direct_marketing"},
        {"GET", "/Api/V8/module/Contacts?include=accounts", std::string(erp_key),
         "account-management", "sales", "", 400, "query_unsupported"},
        {"GET", "/api/v1/lead/", std::string(marketing_key), "brochure-post", "partner-leads", "",
         403, "third_party_direct_marketing"},
        {"POST", "/jsonrpc", std::string(erp_key), "invoicing", "billing",
         odoo_call(R"([["x_iban","=like","BE07%"]])", "{}"), 403, "query_field_not_permitted"},
        {"POST", "/observed/jsonrpc", std::string(erp_key), "invoicing", "billing",
         odoo_call("[]", R"({"fields":["name"],"context":{"lang":"nl_BE"}})"), 400,
         "query_unsupported"},
        {"GET", "/exports/contacts-spaces.csv", std::string(erp_key), "invoicing", "", "", 400,
         "declaration_missing"},
    };
    for (const auto& x : refusals) {
        auto r = through(x.method, x.target, x.key, x.purpose, x.destination, x.body);
        EXPECT_EQ(r.status, x.status) << x.target << ": " << r.body;
        auto problem = parse(r.body);
        ASSERT_TRUE(problem && problem->is_object()) << x.target << ": " << r.body;
        EXPECT_EQ(text_at(*problem, "reason"), x.reason) << x.target;
        EXPECT_FALSE(text_at(*problem, "audit_id").empty()) << x.target;
    }
    EXPECT_EQ(demo_requests().size(), before) << demo_log();
    auto seen = crm_requests(observer_.port());
    ASSERT_TRUE(seen);
    EXPECT_TRUE(seen->requests.empty());
}

}  // namespace
}  // namespace exportwall::itest
