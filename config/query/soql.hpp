#pragma once
// The SOQL guard (Salesforce): a small recursive-descent parser for the documented SELECT grammar,
// a checker against the purpose's field policy, and a re-serialiser that writes the statement
// from the parsed form (never the client's text, except literal values, which are re-escaped).
//
// Accepted: SELECT fieldList FROM object [USING SCOPE s] [WHERE c] [WITH SECURITY_ENFORCED |
// USER_MODE | SYSTEM_MODE] [GROUP BY …] [HAVING c] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], …]
// [LIMIT n] [OFFSET n]; select items are field paths, FIELDS(ALL|STANDARD|CUSTOM), toLabel /
// convertCurrency / FORMAT of a field, one level of child-relationship subqueries, TYPEOF, and
// (only when the record rules read no field) aggregates, date functions and aliases.
// Refused as `unsupported`: SOSL, semi-joins, bind variables, FOR VIEW / REFERENCE / UPDATE,
// UPDATE TRACKING / VIEWSTAT, WITH DATA CATEGORY, GROUP BY ROLLUP / CUBE, anything else the
// parser does not know, statements over 20,000 bytes or nested deeper than 32 levels.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/query/guard.hpp"

namespace exportwall::config::query {

// REST: the query string of GET /services/data/vXX.X/query (or /queryAll): exactly one `q`
// parameter, nothing else. An empty query string is a queryMore continuation: forwarded as "".
// On forward, q.query is `q=<re-serialised SOQL>`, percent-encoded.
[[nodiscard]] guarded_query guard_soql_rest(const field_policy& policy, std::string_view raw_query);

// SOAP: the body of a Partner / Enterprise API call: an Envelope whose Body holds exactly one of
// query / queryAll (with one queryString) or queryMore (with one queryLocator); the Header may
// hold SessionHeader/sessionId and QueryOptions/batchSize only. On forward, q.body is the envelope
// written afresh and q.query is empty. An unsupported position inside the statement is reported
// with parameter "queryString"; a structural refusal with parameter "body".
[[nodiscard]] guarded_query guard_soql_soap(const field_policy& policy, std::string_view body);

// The parsed and checked statement, re-serialised. On forward, q.query holds the SOQL statement
// itself (not a query string); `parameter` names where it came from in a refusal ("q",
// "queryString").
[[nodiscard]] guarded_query guard_soql_statement(const field_policy& policy, std::string_view soql,
                                                 std::string_view parameter);

// One field reference of a parsed statement, as written (dotted; a child subquery's fields and a
// TYPEOF's fields prefixed with the relationship or polymorphic field). `top_selection` marks the
// plain fields of the outer SELECT list (which may name an object the purpose descends into, or
// a forced rule field); every other reference reads a value.
struct soql_reference {
    std::string path;
    use how = use::select;
    bool top_selection = false;
};

// The field references of `soql`, parsed without a policy; nullopt when it does not parse. For
// tests and fuzzing: a forwarded statement must only reference what the purpose keeps.
[[nodiscard]] std::optional<std::vector<soql_reference>> soql_references(std::string_view soql);

}  // namespace exportwall::config::query
