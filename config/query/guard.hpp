#pragma once
// The query guard's contract (docs/query-languages.md): a route declares the query language its
// CRM speaks; the guard parses what the client wrote with that language's grammar, checks every
// field reference against what the purpose keeps, forces the fields the record rules read into the
// selection, and hands back a query re-serialised from the parsed form. Nothing the parser did not
// understand is forwarded: an unknown option, function or clause is `unsupported`, with the byte
// position where parsing stopped. Pure string work; no I/O.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "filters/field_set.hpp"

namespace exportwall::config::query {

// The query languages a route may declare (`query-language="…"`).
enum class language : std::uint8_t {
    none,            // no language: only the selection parameter and declared paging parameters
    params,          // named parameters: the selection, declared filter parameters, paging
    odata,           // OData v4 system query options (Dataverse, Dynamics, SAP, Business Central)
    soql,            // Salesforce SOQL: REST `q=`, SOAP query / queryMore / queryAll bodies
    hubspot_search,  // HubSpot CRM search: a POST body with filterGroups, sorts, properties …
    jsonapi,         // JSON:API: fields[type], filter[…], sort, include, page[…]
    odoo_rpc,        // Odoo's external JSON-RPC: execute_kw search_read, in the POST body
    odoo_xmlrpc,     // Odoo's external XML-RPC: execute_kw search_read, a methodCall POST body
};
[[nodiscard]] std::string_view to_string(language l);
[[nodiscard]] std::optional<language> parse_language(std::string_view s);

// The media type of the body a language reads its query from and forwards re-serialised (SOAP
// query and Odoo XML-RPC: text/xml; HubSpot search and Odoo JSON-RPC: application/json); empty
// for a language that reads no body (a body on its record routes is refused, never relayed).
[[nodiscard]] std::string_view body_media_type(language l);

// A filter parameter of a `params` route: `?status=active` filters on field `lifecycle`.
struct filter_param {
    std::string name;   // the query parameter as the client writes it
    std::string field;  // the catalogue field it filters on
};

// Opens a paging token a client brings back inside a body (HubSpot search's `after`, a SOAP
// queryMore's queryLocator): exportwall sealed it into an earlier answer (config/continuation.hpp)
// for this declaration and `binding` — the body's other content, canonical. decide() supplies
// one; without one every such token is refused.
class token_opener {
  public:
    virtual ~token_opener() = default;
    // The CRM's token; nullopt with `why` set (naming no value) when it does not open.
    virtual std::optional<std::string> open(std::string_view token, std::string_view binding,
                                            std::string& why) = 0;
};

// What the guard checks a query against. Built by decide() from the route and the purpose's view
// of the route's entity; every view refers to the configuration snapshot.
struct field_policy {
    // The fields the purpose keeps (dotted catalogue paths, "address.city"). A reference is
    // permitted when allowed->keeps(path); a selection may also name an object the purpose
    // descends into (allowed->descends(path)): the response filter strips below it.
    const filters::field_set* allowed = nullptr;
    // Every field of the entity's catalogue: a refusal names a reference by its catalogue path
    // only when it is one of these.
    const filters::field_set* catalogue = nullptr;
    // Kept fields the response carries in a derived form (a pseudonym, a prefix, a year): a
    // selection may name them, any other reference (filter, order, search …) would read the
    // original value and is refused.
    const filters::field_set* transformed = nullptr;
    // The fields the record rules read (consent, objection, subject type, evidence, suppression
    // match field): forced into every selection, stripped from the answer by the response filter.
    std::span<const std::string> rule_fields;
    // The route's field-selection parameter ("$select", "properties", "columns") and separator:
    // `none` and `params` routes; odata uses $select, soql its SELECT list whatever this says.
    std::string_view select_param;
    char select_separator = ',';
    // A CSV route whose header names have spaces (csv-header-spaces): the catalogue writes this
    // byte for a space; the selection sent to the CRM names its columns with spaces again.
    char header_space = 0;
    // Paging parameters a `none` / `params` route accepts as opaque values ("after", "page").
    std::span<const std::string> paging_params;
    // A `params` route's filter parameters.
    std::span<const filter_param> filter_params;
    // The fields a full-text search reads (`search-fields`): empty means full-text search
    // ($search, HubSpot `query`, SOSL) is refused; otherwise it passes only when the purpose keeps
    // every one of them.
    std::span<const std::string> search_fields;
    // The CRM's name for the route's records (`object="…"` on the route): SOQL's FROM object
    // ("Contact", compared case-insensitively), JSON:API's resource type (`fields[contacts]`).
    // Empty: a query naming any object or type is refused.
    std::string_view object_name;
    // SOAP bodies: the SessionHeader exportwall writes (the upstream's credential); a client's
    // own SessionHeader is never forwarded. Empty: the envelope carries none.
    std::string_view soap_session;
    // Odoo JSON-RPC and XML-RPC: the database, user id and password exportwall logs in with (the
    // upstream's rpc-login); the client's are never forwarded. Empty: every call is refused.
    std::string_view rpc_database;
    std::string_view rpc_user;  // the numeric uid, as written
    std::string_view rpc_password;
    // Body languages' paging tokens (HubSpot `after`, SOAP queryLocator). Null: refused.
    token_opener* tokens = nullptr;
};

// What the guard decided.
enum class verdict : std::uint8_t {
    forward,              // the re-serialised query may go to the CRM
    unsupported,          // 400 query_unsupported: not parsed, not understood, or not forceable
    field_not_permitted,  // 403 query_field_not_permitted: a reference to a field not kept
    invalid,              // 400 declaration_invalid: repeated parameter or malformed escape
    continuation_invalid, // 400 continuation_invalid: a paging token in the body did not open
};

// How a field was referenced (for the detail and the audit; never a value).
enum class use : std::uint8_t {
    select, filter, order, compute, aggregate, group, expand, search, alias,
};
[[nodiscard]] std::string_view to_string(use u);

struct guarded_query {
    verdict result = verdict::forward;
    // unsupported: which parameter (or "body") and the byte offset in its decoded value where
    // the parser stopped.
    std::string parameter;
    std::size_t position = 0;
    // field_not_permitted: the field as a catalogue path when it is one, else "(not in
    // catalogue)" — a name the client made up is never spelled back.
    std::string field;
    use field_use = use::filter;
    std::string detail;  // for a human: names, clauses and positions, never a value

    std::vector<std::string> requested;  // catalogue paths the client selected, in order
    std::vector<std::string> kept;       // requested ∩ allowed, or every allowed field
    std::vector<std::string> stripped;   // selected but not allowed (dropped from the selection)
    std::vector<std::string> sent;       // kept ∪ rule fields: the selection the CRM receives

    std::string query;  // the query string to forward (without '?'), re-serialised
    std::string body;   // body languages: the body to forward, re-serialised
    // Body languages with a paging token: the client's body without it, canonical — what a token
    // sealed into the answer is bound to (decision::continuation_binding).
    std::string continuation_binding;
    // SOAP: the operation called (query, queryAll, queryMore); its answer is <operation>Response.
    std::string operation;

    [[nodiscard]] bool forwarded() const { return result == verdict::forward; }
};

// The name a refusal may show for a field reference: the catalogue path when `path` is in the
// catalogue view the policy knows of (allowed, or a rule field), else "(not in catalogue)".
inline constexpr std::string_view not_in_catalogue = "(not in catalogue)";

// Runs the guard of `lang` over the client's query string (after '?', as received) and, for body
// languages (hubspot_search, soql over SOAP), the request body. Defined in guard.cpp.
[[nodiscard]] guarded_query guard(language lang, const field_policy& policy,
                                  std::string_view raw_query, std::string_view body);

}  // namespace exportwall::config::query
