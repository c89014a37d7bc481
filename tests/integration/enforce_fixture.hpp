#pragma once
// The end-to-end enforcement suite's shared parts (issue 5): a policy modelled on
// config/examples/belgian-retailer.xml whose routes front the fake CRM, contact records rendered in
// each CRM vendor's shape with a unique marker in every value, and a fixture that starts the fake
// CRM and exportwall, stages bodies, sends declared exports and reads the audit trail.
//
// Assertions look for markers, never parse a value back: a marker present in a body means the
// field passed, absent means it was stripped or its record dropped.

#include <gtest/gtest.h>

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/integration/harness.hpp"

namespace exportwall::itest {

// The demo API keys of the policy (the configuration holds their SHA-256).
inline constexpr std::string_view erp_key = "erp-demo-key";
inline constexpr std::string_view marketing_key = "marketing-demo-key";
inline constexpr std::string_view rollout_key = "rollout-demo-key";  // a monitor-mode client
inline constexpr std::string_view partner_key = "partner-demo-key";  // delivery, at most 2 records
// What the policy's upstream sends the CRM as its own credential.
inline constexpr std::string_view crm_credential = "Bearer crm-upstream-secret";

struct vendor_policy_options {
    std::string upstream_url;      // the fake CRM
    std::string mode = "enforce";  // global mode
    std::string syslog;            // a whole <syslog …/> element inside <audit>, or empty
    std::vector<std::string> suppressed_emails;  // the do-not-contact list: addresses or digests
    std::string public_url;                      // the listener's public-url, or none
    // A candidate policy: the generated document with every (from, to) replacement applied,
    // written beside the configuration and named by <shadow file>. Empty: no shadow.
    std::vector<std::pair<std::string, std::string>> shadow_edits;
    bool shadow = false;
    // Replacements in the configuration itself (a grant's quota…), applied in order; and network
    // elements (<quota-store>, <continuation>) inserted before the first <upstream>.
    std::vector<std::pair<std::string, std::string>> edits;
    std::string network;
};

// Runs `exportwall ARGS…` and returns what it printed on stdout and stderr.
[[nodiscard]] std::string run_exportwall(const std::vector<std::string>& args);
// The same, with its exit status (-1 when it did not exit normally).
[[nodiscard]] std::pair<std::string, int> run_exportwall_status(
    const std::vector<std::string>& args);

// `exportwall audit subject --config CONFIG --format json ARGS…` (issue 18's lookup): its exit
// status, the audit ids it listed, whether it found the index intact, and all it printed.
struct subject_lookup_result {
    int status = -1;
    std::vector<std::string> ids;
    bool intact = false;
    std::string output;
};
[[nodiscard]] subject_lookup_result subject_lookup(const std::string& config,
                                                   const std::vector<std::string>& args);

// SHA-256 of `s`, lower-case hex (API keys, suppression-list digests).
[[nodiscard]] std::string sha256_hex(std::string_view s);

// The configuration document (network part and policy). Writes the suppression list file into
// `dir` too.
[[nodiscard]] std::string vendor_config(const temp_dir& dir, const vendor_policy_options& o);

// One CRM contact. Every string value is a marker unique to the run, the record and the field.
struct contact {
    std::string id;
    std::string lifecycle;  // customer | lead | former
    std::string first_name;
    std::string last_name;
    std::string email;
    std::string phone;
    std::string iban;
    std::string notes;
    std::string city;
    std::string account_name;  // Salesforce `Account__r.Name` (JSON shapes)
    bool consent_email = true;
    bool objected = false;
    bool quote_requested = false;
    // The objection value exactly as the CRM writes it, in place of `objected`: raw JSON
    // (`[true]`, `{"value":false}`, `null`), raw XML element content, or a CSV cell. `absent`:
    // the record has no objection field at all (CSV: an empty cell).
    std::optional<std::string> objection_raw;
    bool objection_absent = false;
};

// A contact whose values are markers "<prefix>-<n>-<field>" (e-mail: "<prefix>-<n>@example.test").
[[nodiscard]] contact marker_contact(std::string_view prefix, int n, std::string lifecycle);
// A prefix unique to this process and call: "MARKER" plus random hex.
[[nodiscard]] std::string marker_prefix();

// The CRM export shapes of the suite.
enum class vendor_shape : std::uint8_t {
    dataverse,        // OData: value[], @odata.nextLink, FormattedValue annotation siblings
    hubspot,          // v3: results[].properties, paging.next.link
    salesforce,       // REST query: records[], attributes, nested Account__r, nextRecordsUrl
    salesforce_soap,  // Partner API queryResponse, POST, repeated sf:Id
    csv,              // semicolon-separated, UTF-8 BOM, nested fields flattened with '_'
    ndjson,           // one object per line
};
[[nodiscard]] std::string_view shape_name(vendor_shape s);

struct shape_info {
    std::string path;          // client path = upstream path
    std::string method;        // GET or POST
    std::string content_type;  // what the CRM labels it
    std::string select_param;  // "" when the route has none
    bool has_next_link = false;
};
[[nodiscard]] shape_info info(vendor_shape s);

// The body the CRM serves for `records`. `crm_origin` ("http://127.0.0.1:N") makes the next
// link an absolute CRM URL where the vendor uses one.
[[nodiscard]] std::string render(vendor_shape s, const std::vector<contact>& records,
                                 std::string_view crm_origin);

// The field names of the record, in the shape's naming (csv: "address_city", else
// "address.city"), for select parameters.
[[nodiscard]] std::string field_name(vendor_shape s, std::string_view dotted);

// A request with a declaration. Empty key/purpose/destination: that header is left out.
struct export_request {
    std::string method = "GET";
    std::string target;
    std::string api_key;
    std::string purpose;
    std::string destination;
    std::string extra_headers;  // "Name: value\r\n" lines
    std::string body;           // sent with Content-Length when not empty
    std::string version = "HTTP/1.1";
};
[[nodiscard]] std::string request_bytes(const export_request& r);

class enforce_fixture : public ::testing::Test {
  protected:
    // Starts the fake CRM and exportwall with the vendor policy (upstream_url filled in).
    [[nodiscard]] ::testing::AssertionResult start(vendor_policy_options o = {});
    void TearDown() override;

    // Stages what `path` serves (POST /_stage). `extra_query`: "&encoding=gzip" etc.
    [[nodiscard]] ::testing::AssertionResult stage(std::string_view path,
                                                   std::string_view content_type,
                                                   std::string_view body,
                                                   std::string_view extra_query = {});
    [[nodiscard]] response send(const export_request& r);
    // The same on `c`, which stays open for the caller to look at (a reset, a second request).
    [[nodiscard]] response send_on(http_connection& c, const export_request& r);
    [[nodiscard]] crm_seen seen();
    // The CRM's requests whose target starts with `path`.
    [[nodiscard]] std::vector<seen_request> seen_at(std::string_view path);
    // The audit record with this id, polled for (records of allowed exports are written after
    // the response); nullopt when it does not appear.
    [[nodiscard]] std::optional<boost::json::object> audit_record(const std::string& id);
    [[nodiscard]] std::string crm_origin() const;

    temp_dir dir_;
    fake_crm crm_;
    exportwall_server proxy_;
    std::string config_;  // the configuration proxy_ was started with
};

// The body a Salesforce Partner API client posts for `soql` (a SOAP query operation).
[[nodiscard]] std::string soap_query_body(std::string_view soql);

// The audit record with this id in the trail at `path`, polled for (records of allowed exports
// are written after the response); nullopt when it does not appear.
[[nodiscard]] std::optional<boost::json::object> audit_record_in(const std::string& path,
                                                                 const std::string& id);

// The JSON object of a problem+json body; nullopt when it is not one.
[[nodiscard]] std::optional<boost::json::object> problem_of(const response& r);
// records_dropped[reason] of an audit record (0 when absent).
[[nodiscard]] std::uint64_t dropped(const boost::json::object& audit, std::string_view reason);
[[nodiscard]] std::string string_at(const boost::json::object& o, std::string_view key);
[[nodiscard]] std::uint64_t number_at(const boost::json::object& o, std::string_view key);
// The names in a JSON array member.
[[nodiscard]] std::vector<std::string> names_at(const boost::json::object& o, std::string_view key);
// The value of query parameter `name` in a target (raw, not decoded); every occurrence.
[[nodiscard]] std::vector<std::string> query_values(std::string_view target, std::string_view name);
[[nodiscard]] std::string percent_decode(std::string_view s);

}  // namespace exportwall::itest
