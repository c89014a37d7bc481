#pragma once
// The demo CRM's endpoints without the sockets: which vendor shape a request asks for, and the
// body it gets, streamed in pieces from tools/generator's deterministic contacts. The server
// (tools/demo_crm/main.cpp) only reads requests and writes what this answers.
//
// Endpoints (every JSON list paginated; CSV, NDJSON and SOAP are one whole export). Record ids
// are the generator's (36 characters, ending in the record index) unless said otherwise:
//   GET  /api/data/v9.2/contacts      Dataverse OData ($select, $top, $skiptoken)
//   GET  /api/data/v9.2/contacts(ID)  Dataverse single entity ($select)
//   GET  /crm/v3/objects/contacts     HubSpot v3 (properties, limit, after)
//   GET  /crm/v3/objects/contacts/ID  HubSpot single object (properties)
//   POST /crm/v3/objects/contacts/search  HubSpot search (body: properties, limit, after)
//   GET  /services/data/v58.0/query   Salesforce REST (q ignored); next pages at
//   GET  /services/data/v58.0/query/<locator>-<offset>
//   GET  /services/data/v58.0/sobjects/Contact/ID  Salesforce record
//   POST /services/Soap/u/58.0        Salesforce SOAP (Partner API) queryResponse
//   GET  /v1/persons, /v1/persons/N   Pipedrive v1 (start, limit; N = record index + 1)
//   GET  /Api/V8/module/Contacts[/ID] SuiteCRM 8 JSON:API (page[number], page[size],
//                                     fields[Contacts])
//   GET  /api/v1/lead/                Close leads of 2-3 consecutive contacts (_skip, _limit,
//                                     _fields)
//   GET  /crm/v3/Contacts             Zoho CRM v3 (fields required, per_page, page or
//                                     page_token; info with next_page_token)
//   POST /jsonrpc                     Odoo external JSON-RPC: res.partner search_read (fields,
//                                     limit, offset; id = record index + 1)
//   POST /xmlrpc/2/object             the same over XML-RPC (methodCall execute_kw); a login
//                                     other than vendor-shapes.xml's is a <fault> (code 3)
//   GET  /exports/contacts.csv        semicolon CSV, UTF-8 BOM, CRLF (columns= is logged only)
//   GET  /exports/contacts-spaces.csv the same rows under header names with spaces ("First
//                                     Name"); columns= selects by those names
//   GET  /exports/contacts.ndjson     NDJSON (fields= honoured like $select)
//   GET  /healthz                     200

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace exportwall::demo_crm {

// The generated data set a demo CRM serves.
struct dataset {
    std::uint64_t records = 1000;  // contacts 0 … records-1
    std::uint64_t seed = 42;
    std::uint64_t page_size = 100;  // records per page of the paginated JSON shapes
};

// Receives the body in pieces; returns false when the client is gone (generation then stops at
// the next batch boundary).
using body_sink = std::function<bool(std::string_view)>;

// What the server answers to one request.
struct answer {
    unsigned status = 200;
    std::string content_type;
    std::string endpoint;  // "dataverse", "hubspot", … or "" when nothing matched
    // What the request log shows: the query parameter NAMES (never their values), the field
    // selection served (field names), and the number of records in the body.
    std::vector<std::string> parameter_names;
    std::vector<std::string> selection;
    // The request body's member names the endpoint read (HubSpot search: its top-level members;
    // Odoo: the execute_kw keyword arguments), never their values.
    std::vector<std::string> body_members;
    std::uint64_t records = 0;
    std::string small_body;  // errors, single records and /healthz: the whole body
    // Paginated and bulk exports: writes the body in pieces of a few KiB. Empty for small_body.
    std::function<void(const body_sink&)> stream;
};

// Answers `method` `target` (origin form, "/path?query") with the request `body` (read by
// HubSpot search and Odoo's JSON-RPC and XML-RPC only). `base_url` is the CRM's own URL as its
// clients reach it ("http://127.0.0.1:8081"), used in absolute links.
[[nodiscard]] answer answer_request(const dataset& data, std::string_view method,
                                    std::string_view target, const std::string& base_url,
                                    std::string_view body = {});

// Keeps only the selected top-level members of one JSON record (a selection item "address.city"
// keeps "address" whole). `member` non-empty: filter inside that object member instead
// (HubSpot's "properties"). Returns the record unchanged when `selection` is empty.
[[nodiscard]] std::string select_fields(std::string_view record_json,
                                        const std::vector<std::string>& selection,
                                        std::string_view member = {});

}  // namespace exportwall::demo_crm
