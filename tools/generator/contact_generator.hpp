#pragma once
// A deterministic generator of CRM contact exports: customers, prospects and former customers
// with consent and objection flags, quote requests, and fields no purpose should need (birth
// date, IBAN, notes). The same seed gives the same bytes, so benchmarks, the demo CRM and tests
// agree on what an export holds. Records are ~400 bytes with 15 top-level fields.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace exportwall::bench {

// The vendor shape a JSON export takes.
enum class json_shape : std::uint8_t {
    odata,  // Dataverse: {"@odata.context":…,"value":[…],"@odata.nextLink":…}
    hubspot,  // HubSpot v3: {"results":[{"id":…,"properties":{…}}],"paging":{"next":{"link":…}}}
    salesforce,  // Salesforce REST: {"totalSize":…,"done":…,"nextRecordsUrl":…,"records":[…]}
};

struct contact_export_options {
    std::uint64_t records = 1000;
    std::uint64_t seed = 42;
    std::uint64_t first = 0;  // index of the first record (pagination)
    json_shape shape = json_shape::odata;
    char csv_delimiter = ',';
    bool csv_bom = false;
    std::string next_link;  // pagination link to embed; "" for none
};

// One generated contact as plain values (the formats below serialise it).
struct contact {
    std::string id, lifecycle, first_name, last_name, email, phone, birth_date, iban, vat_number;
    bool quote_requested = false;
    bool consent_email = false, consent_sms = false, objection_direct_marketing = false;
    std::string street, postcode, city, country, notes, created_at;
};

// The contact at `index` for `seed`.
[[nodiscard]] contact make_contact(std::uint64_t seed, std::uint64_t index);

// Streams an export in `format` ("json", "ndjson", "csv" or "xml") to `out` in pieces of a few
// KiB. CSV columns flatten nested fields with '_' (consent_email, address_city); XML is a
// Salesforce-Partner-like SOAP queryResponse with records at
// /Envelope/Body/queryResponse/result/records and nested elements for consent, objection and
// address.
void generate_contacts(std::string_view format, const contact_export_options& options,
                       const std::function<void(std::string_view)>& out);

// Shorthand with default options.
void generate_contacts(std::string_view format, std::uint64_t records, std::uint64_t seed,
                       const std::function<void(std::string_view)>& out);

}  // namespace exportwall::bench
