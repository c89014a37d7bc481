#include "tests/unit/config/policy_test_support.hpp"
#include "common/hex.hpp"

#include <algorithm>

#include <openssl/evp.h>

namespace exportwall::config::testing {

const std::string network_part =
    "<exportwall version=\"1\">\n"
    "  <listen address=\"127.0.0.1\" port=\"0\"/>\n"
    "  <audit path=\"audit.jsonl\"/>\n"
    "  <upstream id=\"crm\" url=\"http://127.0.0.1:8081\"/>\n"
    "  <route id=\"contacts\" path=\"/contacts\" upstream=\"crm\" entity=\"contact\" "
    "format=\"json\"\n"
    "         records=\"/value\" select-param=\"$select\" paging-params=\"$top\"/>\n"
    "  <route id=\"meta\" path=\"/meta\" match=\"prefix\" upstream=\"crm\" "
    "format=\"passthrough\"/>\n"
    "  <route id=\"upload\" path=\"/upload\" methods=\"POST\" upstream=\"crm\" entity=\"contact\"\n"
    "         format=\"ndjson\"/>\n";
const int network_lines = 9;

const std::string base_policy =
    R"(  <suppression-list id="dnc" file="dnc.txt" field="email" match="email"/>
  <entity id="contact" subject-field="lifecycle"
          collected-for="essential marketing functional.service.improve">
    <subject value="customer" type="customer"/>
    <subject value="lead" type="prospect"/>
    <subject value="former" type="former-customer"/>
    <field path="id" category="user.unique_id"/>
    <field path="lifecycle" category="user.account"/>
    <field path="first_name" category="user.name.first"/>
    <field path="email" category="user.contact.email"/>
    <field path="iban" category="user.financial.bank_account"/>
    <field path="vat" category="user.financial"/>
    <field path="address.city" category="user.contact.address.city"/>
    <field path="address.street" category="user.contact.address.street"/>
    <field path="quote_requested" category="user.behavior"/>
    <field path="consent.email" category="user.privacy_preferences" consent-channel="email"/>
    <field path="objection.dm" category="user.privacy_preferences"/>
    <field path="allergies" category="user.health_and_medical"/>
    <field path="religion" category="user.demographic" special="true"/>
  </entity>
  <purpose id="invoicing" data-use="essential.service.payment_processing" basis="contract" subjects="customer" max-records="500">
    <fields entity="contact">id first_name email vat address.city address.street</fields>
  </purpose>
  <purpose id="quote" data-use="essential.service.operations" basis="pre-contract" subjects="prospect">
    <fields entity="contact">id first_name email</fields>
    <request-evidence entity="contact" field="quote_requested" equals="true"/>
  </purpose>
  <purpose id="promotion" data-use="marketing.communications.email" basis="consent" subjects="customer prospect" direct-marketing="true"
           channel="email" consent-field="consent.email" objection-field="objection.dm"
           suppression-list="dnc">
    <fields entity="contact">id first_name email</fields>
    <exclude entity="contact" field="address.city" equals="Nowhere"/>
  </purpose>
  <purpose id="survey" data-use="functional.service.improve" basis="legitimate-interest"
           subjects="customer" lia="LIA-7" objection-field="objection.dm">
    <fields entity="contact">id email</fields>
  </purpose>
  <purpose id="renewal" data-use="marketing.communications" basis="legitimate-interest"
           subjects="former-customer" lia="LIA-9" direct-marketing="true" channel="post"
           objection-field="objection.dm" suppression-list="dnc">
    <fields entity="contact">id first_name address.city address.street</fields>
  </purpose>
  <destination id="billing" kind="internal" country="BE"/>
  <destination id="sales" kind="internal" country="BE"/>
  <destination id="carrier" kind="processor" purposes="invoicing" country="BE"
               dpa-ref="DPA-1"/>
  <destination id="newsletter" kind="processor" purposes="promotion" country="IE"
               dpa-ref="DPA-2"/>
  <destination id="partner-crm" kind="third-party" country="FR"/>
  <destination id="partner-leads" kind="third-party" own-marketing="true" country="BE"/>
  <client id="erp">
    <api-key sha256="ad3e9e6bdd2a7a1a9cd6d9c1ff23e8c4f7d1b0ff0ac8a1aef1a54e3e2b6d6e04"/>
    <grant purpose="invoicing" destinations="billing carrier" max-records="100"/>
    <grant purpose="quote" destinations="sales"/>
    <grant purpose="survey" destinations="billing"/>
  </client>
  <client id="marketing" mode="enforce">
    <api-key sha256="MARKETING"/>
    <certificate subject="CN=marketing,O=Example"/>
    <grant purpose="promotion" destinations="newsletter"/>
    <grant purpose="renewal" destinations="sales"/>
  </client>
  <client id="partner">
    <api-key sha256="PARTNER"/>
    <grant purpose="survey" destinations="sales"/>
  </client>
)";

std::string document(std::string_view policy) {
    std::string p(policy);
    // The base policy names keys by placeholder: the test keys are hashed here.
    auto replace = [&p](std::string_view from, const std::string& to) {
        for (auto pos = p.find(from); pos != std::string::npos; pos = p.find(from, pos))
            p.replace(pos, from.size(), to);
    };
    replace("ad3e9e6bdd2a7a1a9cd6d9c1ff23e8c4f7d1b0ff0ac8a1aef1a54e3e2b6d6e04",
            sha256_hex("erp-key"));
    replace("\"MARKETING\"", "\"" + sha256_hex("marketing-key") + "\"");
    replace("\"PARTNER\"", "\"" + sha256_hex("partner-key") + "\"");
    return network_part + p + "</exportwall>\n";
}

load_result load(std::string_view policy) {
    return load_configuration_text(document(policy), "test.xml", "/etc/exportwall");
}

std::string errors_of(const load_result& r) {
    std::string out;
    for (const auto& e : r.errors) out += e.str() + "\n";
    return out;
}

std::string where(const std::string& doc, std::string_view needle) {
    auto pos = doc.find(needle);
    if (pos == std::string::npos) return "<needle not found: " + std::string(needle) + ">";
    int line =
        1 + static_cast<int>(std::count(doc.begin(), doc.begin() + static_cast<long>(pos), '\n'));
    auto nl = doc.rfind('\n', pos);
    auto col = nl == std::string::npos ? pos + 1 : pos - nl;
    return "test.xml:" + std::to_string(line) + ":" + std::to_string(col);
}

bool has_error(const load_result& r, std::string_view prefix) {
    return std::any_of(r.errors.begin(), r.errors.end(), [prefix](const load_error& e) {
        return e.str().compare(0, prefix.size(), prefix) == 0;
    });
}

std::string sha256_hex(std::string_view data) { return common::sha256_hex(data); }

facts_builder& facts_builder::key(std::string_view api_key) {
    key_hash = api_key.empty() ? std::string() : sha256_hex(api_key);
    return *this;
}

facts_builder& facts_builder::declare(std::string purpose, std::string destination) {
    purposes = {std::move(purpose)};
    destinations = {std::move(destination)};
    return *this;
}

facts_builder& facts_builder::target(std::string p, std::string q) {
    path = std::move(p);
    query = std::move(q);
    return *this;
}

const request_facts& facts_builder::build() {
    purpose_views.assign(purposes.begin(), purposes.end());
    destination_views.assign(destinations.begin(), destinations.end());
    facts = {};
    facts.method = method;
    facts.path = path;
    facts.query = query;
    facts.credentials.api_key_sha256 = key_hash;
    facts.purpose_headers = purpose_views;
    facts.destination_headers = destination_views;
    return facts;
}

}  // namespace exportwall::config::testing
