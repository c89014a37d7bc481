#pragma once
// The record of processing activities (GDPR art. 30(1)) that a loaded policy already holds: per
// purpose its data use and legal basis, the data subjects and data categories it reads, its
// recipients (kind, organisation, country, transfer mechanism, processor agreement), the clients
// that hold grants and the retention period. Optionally, what actually flowed in a period
// (exports and records delivered per purpose x destination), counted from the audit trail by the
// caller (`exportwall policy ropa --log`, cli/policy_command.cpp): config/ never reads the
// trail itself.
//
// build_ropa() is a pure function of the policy; the renderers are pure functions of the value.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/policy.hpp"

namespace exportwall::config {

// What reached one destination for one purpose in the period.
struct ropa_flow {
    // Exports that delivered data: decisions allowed, filtered and would-block, and aborted ones
    // that had sent at least one record.
    std::uint64_t exports = 0;
    std::uint64_t records = 0;  // records delivered (records_out summed)
};

// purpose id, destination id → flow.
using ropa_flow_table = std::map<std::pair<std::string, std::string>, ropa_flow>;

// The period the flows were counted in. Empty since / until: open.
struct ropa_period {
    std::string log;                  // the audit trail read
    std::string since;                // as given (RFC 3339 or a date), inclusive
    std::string until;                // exclusive
    std::uint64_t audit_records = 0;  // records of the trail in the period
};

// One recipient of a purpose: a destination some grant names for it, or (granted == false) one
// the trail shows data reached without a grant in the current policy.
struct ropa_recipient {
    std::string destination;
    std::string description;
    std::string kind;  // internal | processor | third-party; "" when not in the policy
    std::string organisation;
    std::string country;  // ISO 3166-1 alpha-2
    bool outside_eea = false;
    std::string transfer_mechanism;    // none | adequacy | scc | bcr | derogation
    std::string dpa_ref;               // processors: the art. 28 agreement
    std::string dpa_expires;           // YYYY-MM-DD; "" = no end date
    std::vector<std::string> clients;  // clients whose grant names this destination, sorted
    bool granted = true;
    std::optional<ropa_flow> flow;  // with a period: what reached it (zero when nothing)
};

// A data category the purpose keeps, with the fields that hold it.
struct ropa_category {
    std::string category;             // fideslang key, "user.contact.email"
    std::string name;                 // fideslang name, "User Contact Email"; "" when unknown
    bool special = false;             // GDPR art. 9 or art. 10
    std::vector<std::string> fields;  // "entity.path", sorted
};

// An entity the purpose reads: whose data it is.
struct ropa_entity {
    std::string id;
    std::string describes;  // people | organisations
};

// A reference the basis rests on, as the policy writes it.
struct ropa_reference {
    std::string kind;  // legal-reference | lia | consent-field | art9-condition | …
    std::string value;
};

// A legal rule (LEGAL-RULES.md id, or the GDPR article of a structural check) that governs the
// purpose in exportwall.
struct ropa_rule {
    std::string id;         // "R1", "GDPR-28"
    std::string reference;  // "GDPR art. 6(1)(b); EDPB Guidelines 2/2019 §2.4–2.5"
};

struct ropa_transform {
    std::string entity;
    std::string field;
    std::string text;  // "written as its year"
};

struct ropa_purpose {
    std::string id;
    std::string description;
    std::string data_use;       // fideslang key
    std::string data_use_name;  // fideslang name; "" when unknown
    std::string basis;          // contract | pre-contract | consent | legitimate-interest | …
    std::string basis_article;  // "GDPR art. 6(1)(b)"
    std::vector<ropa_reference> references;
    std::vector<ropa_rule> rules;  // in rule order
    bool direct_marketing = false;
    std::string channel;                // email | sms | phone | post; "" for none
    std::vector<std::string> subjects;  // customer | prospect | former-customer
    std::vector<ropa_entity> entities;
    std::vector<ropa_category> categories;  // sorted by category
    std::vector<ropa_transform> transforms;
    std::string retention;                   // as written; "" = not declared
    std::string retention_words;             // a duration in words ("2 years"); "" for a sentence
    std::vector<std::string> clients;        // every client with a grant for the purpose, sorted
    std::vector<ropa_recipient> recipients;  // sorted by destination
};

// Flows the trail shows for a purpose the current policy does not have.
struct ropa_unlisted_flow {
    std::string purpose;
    std::string destination;
    ropa_flow flow;
};

struct record_of_processing {
    std::string source;                  // the configuration file
    std::string revision;                // its revision (configuration::revision)
    std::vector<ropa_purpose> purposes;  // in policy order
    std::optional<ropa_period> period;   // set by add_flows
    std::vector<ropa_unlisted_flow> unlisted_flows;
};

// The record of processing of `p`.
[[nodiscard]] record_of_processing build_ropa(const policy& p, std::string source,
                                              std::string revision);

// Adds what flowed in `period`: every recipient gets its flow (zero when nothing reached it);
// a destination the trail shows for a purpose but no grant names becomes a recipient with
// granted == false; a purpose the policy does not have goes to unlisted_flows.
void add_flows(record_of_processing& ropa, const policy& p, const ropa_flow_table& flows,
               ropa_period period);

// One JSON document (docs/policy-guide.md, "Record of processing"), with a trailing newline.
[[nodiscard]] std::string render_ropa_json(const record_of_processing& ropa);
// RFC 4180: a header row, then one row per purpose x recipient (a purpose without recipients
// has one row with the recipient columns empty); lists joined with "; "; CRLF line ends.
[[nodiscard]] std::string render_ropa_csv(const record_of_processing& ropa);
// A self-contained printable HTML page: inline CSS, no scripts, no external assets, every text
// escaped.
[[nodiscard]] std::string render_ropa_html(const record_of_processing& ropa);

}  // namespace exportwall::config
