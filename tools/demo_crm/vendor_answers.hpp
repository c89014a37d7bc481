#pragma once
// The demo CRM's answers by vendor, for the router in vendor_shapes.cpp. Each takes what it
// reads of the request (the id from the path, the query, the body) and returns the whole answer:
// status, content type, log names and the body. Internal to tools/demo_crm.

#include <string>
#include <string_view>

#include "tools/demo_crm/answer_parts.hpp"
#include "tools/demo_crm/vendor_shapes.hpp"

namespace exportwall::demo_crm::vendors {

// record_shapes.cpp: single records and search of the vendors the list endpoints serve.
[[nodiscard]] answer hubspot_record(const dataset& data, std::string_view id,
                                    const parts::query_params& q);
[[nodiscard]] answer hubspot_search(const dataset& data, std::string_view body,
                                    const std::string& base_url);
[[nodiscard]] answer salesforce_record(const dataset& data, std::string_view id);
[[nodiscard]] answer dataverse_record(const dataset& data, std::string_view id,
                                      const parts::query_params& q, const std::string& base_url);

// pipedrive_shape.cpp: `id` is the decimal person id (record index + 1).
[[nodiscard]] answer pipedrive_person(const dataset& data, std::string_view id);
[[nodiscard]] answer pipedrive_persons(const dataset& data, const parts::query_params& q);

// suitecrm_shape.cpp
[[nodiscard]] answer suitecrm_contact(const dataset& data, std::string_view id,
                                      const parts::query_params& q, const std::string& base_url);
[[nodiscard]] answer suitecrm_contacts(const dataset& data, const parts::query_params& q,
                                       const std::string& base_url);

// close_shape.cpp
[[nodiscard]] answer close_leads(const dataset& data, const parts::query_params& q);

// zoho_shape.cpp: Zoho CRM v3 contacts, `fields` required, paged by page or page_token.
[[nodiscard]] answer zoho_contacts(const dataset& data, const parts::query_params& q);

// odoo_shape.cpp: one JSON-RPC call; protocol errors are JSON-RPC error objects with status 200.
[[nodiscard]] answer odoo_jsonrpc(const dataset& data, std::string_view body);
// The same call over XML-RPC (POST /xmlrpc/2/object); errors are <fault>s with status 200, a
// login other than the demo's is fault 3 (Access Denied).
[[nodiscard]] answer odoo_xmlrpc(const dataset& data, std::string_view body);

}  // namespace exportwall::demo_crm::vendors
