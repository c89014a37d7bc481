#pragma once
// The decision engine: a pure function of an immutable configuration snapshot and the facts of
// one request (DESIGN.md §3–4). The proxy calls it before any byte goes upstream; `explain` and
// `test-policy` call it without a network.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/continuation.hpp"
#include "config/policy.hpp"
#include "config/route_match.hpp"
#include "config/settings.hpp"
#include "filters/field_set.hpp"
#include "filters/record_rules.hpp"

namespace exportwall::config {

struct configuration;

// Stable reason codes (DESIGN.md §3), the `reason` of audit records and problem responses.
enum class reason : std::uint8_t {
    none,                                   // allowed
    route_not_found,                        // 404: no route serves the path
    method_not_allowed,                     // 405: the route does not take the method
    unauthenticated,                        // 401: no credential, or an unknown one
    declaration_missing,                    // 400: no X-Export-Purpose / -Destination header
    declaration_invalid,                    // 400: repeated, empty, list-valued or malformed
    purpose_unknown,                        // 403: the declared purpose is not configured
    purpose_not_granted,                    // 403: the client may not export for it (here)
    destination_unknown,                    // 403: the declared destination is not configured
    destination_not_granted,                // 403: the grant does not list the destination
    destination_not_permitted_for_purpose,  // 403: a processor not contracted for the purpose
    third_party_direct_marketing,           // 403: marketing to a third party, or own-marketing one
    record_limit_exceeded,  // 403: more records than max-records (proxy, mid-stream)
    request_rejected,       // 400: malformed or ambiguous HTTP (proxy)
    upstream_unavailable,   // 502 (proxy)
    upstream_timeout,       // 504 (proxy)
    upstream_malformed,     // 502: a body the filter cannot parse (proxy)
    upstream_unsupported,   // 502: content type or encoding (proxy)
    upstream_error,         // the CRM's non-2xx status, body replaced (proxy)
    audit_unavailable,      // 503: the audit record cannot be written (proxy)
    query_unsupported,      // 400: a query the route's language guard cannot parse or force
    query_field_not_permitted,  // 403: the query reads a field the purpose does not keep
    continuation_invalid,   // 400: a paging token exportwall did not seal for this declaration
    disclosure_not_permitted,     // 403: to another controller on a basis that cannot carry it
    processor_agreement_expired,  // 403: the processor's dpa-expires date has passed
    grant_not_valid,          // 403: outside the grant's valid-from / valid-until window
    quota_exceeded,           // 429: the grant's quota for the current window is spent (proxy)
    quota_store_unavailable,  // 503: a grant with a quota, and the quota store cannot answer
    suppression_list_stale,   // 503: direct marketing, and the suppression list is older than
                              //      its max-age (or could not be read)
    volume_anomaly,           // 403: a volume alert holds the grant until an operator clears it
    upstream_auth_unavailable,  // 503: no OAuth2 access token for the CRM, or the CRM refused
                                //      a fresh one (proxy)
};
inline constexpr std::size_t reason_count = 31;

// "purpose_unknown" …; "ok" for none.
[[nodiscard]] std::string_view to_string(reason r);
[[nodiscard]] std::optional<reason> parse_reason(std::string_view s);
// The HTTP status a refusal with this reason answers (200 for none, 502 for upstream_error).
[[nodiscard]] unsigned http_status(reason r);

// The legal rule a refusal rests on (LEGAL-RULES.md id and legal reference), for the
// problem+json body, the audit record and `explain`; empty views for reasons that are not legal
// (a malformed request, an unavailable CRM).
struct refusal_rule {
    std::string_view rule_id;          // "R10", "GDPR-28"
    std::string_view legal_reference;  // "GDPR art. 28(3)"
};
[[nodiscard]] refusal_rule rule_of(reason r);
[[nodiscard]] refusal_rule rule_of(std::string_view reason_code);

enum class outcome : std::uint8_t { allow, refuse };
[[nodiscard]] std::string_view to_string(outcome o);

// How the client proved who it is. Empty views mean "not presented".
struct client_credentials {
    std::string_view api_key_sha256;       // hex SHA-256 of the bearer key, as the proxy computed
    std::string_view certificate_subject;  // verified peer certificate subject
    std::string_view certificate_sha256;   // verified peer certificate SHA-256 (hex, ':' allowed)
};

// The facts of one request. Views: the caller keeps them alive for the call only.
struct request_facts {
    // The route the proxy matched, by id; empty: decide() matches `path` itself (match_route).
    std::string_view route_id;
    std::string_view method = "GET";
    std::string_view path;   // normalised by the proxy (no dot segments, no escapes left)
    std::string_view query;  // raw query string after '?', as received; "" for none
    std::string_view body;   // the request body, read whole, for languages that carry a query in it
    bool body_present = false;  // the request has a body (read or not)
    // The body is not read yet: decide() stops before the query guard (route, identity,
    // declaration, legal refusals and grants only). The proxy reads a body only when this
    // passes, then decides again with it.
    bool body_pending = false;
    // Seconds since the epoch, for the expiry of sealed continuation tokens, processor
    // agreements and grants, and the age of suppression lists; 0: read the clock.
    std::int64_t now = 0;
    client_credentials credentials;
    // Every X-Export-Purpose / X-Export-Destination header value as received (one per header
    // line; a comma-joined line is one value, and invalid).
    std::span<const std::string_view> purpose_headers;
    std::span<const std::string_view> destination_headers;
    std::string_view remote;  // peer address, for the audit record only
};

// The outcome of decide(). Pointers refer into the configuration snapshot passed to decide():
// valid while the caller holds that snapshot (the proxy keeps its shared_ptr per request).
struct decision {
    outcome result = outcome::refuse;
    reason why = reason::none;
    unsigned status = 0;
    std::string detail;  // for a human; names and ids only, never a field value
    mode effective_mode = mode::enforce;

    std::string client_id;                      // "" when unauthenticated
    std::string purpose_id;                     // as declared (when well-formed), even if unknown
    legal_basis basis = legal_basis::contract;  // meaningful when purpose_ref != nullptr
    std::string destination_id;                 // as declared (when well-formed), even if unknown
    destination_kind kind = destination_kind::internal;  // meaningful when destination_ref
    const route* matched_route = nullptr;
    const client* client_ref = nullptr;
    const purpose* purpose_ref = nullptr;
    const destination* destination_ref = nullptr;
    const grant* grant_ref = nullptr;  // the grant that allowed the export (quota, volume)
    // A page reached through a sealed link: the export it continues (its first page's chain).
    std::optional<continuation_chain> chain;

    // Allowed exports of a record route: what the filter applies. Null for passthrough routes.
    const filters::field_set* allowed = nullptr;
    const filters::record_rules* rules = nullptr;
    const suppression_list* suppression = nullptr;  // the list the rules consult, if any
    // Kept fields written in a derived form; null or empty when none.
    const filters::transform_set* transforms = nullptr;
    std::uint64_t max_records = 0;                  // min of grant and purpose; 0 = unlimited

    std::vector<std::string> fields_requested;  // from the selection parameter
    std::vector<std::string> fields_kept;       // allowed and asked for (all allowed if none asked)
    std::vector<std::string> fields_stripped;   // requested but not allowed
    std::vector<std::string> fields_selected;   // sent upstream in the selection parameter
    std::string upstream_query;                 // the query string to forward (without '?')
    // Body languages (SOAP query, HubSpot search): the request body to forward, re-serialised by
    // the query guard; empty when the route's language reads no body.
    std::string upstream_body;
    bool body_rewritten = false;
    // A soql prefix route's queryMore locator, opened from the sealed token the client brought
    // in the path (…/query/ew1.…): the path tail forwarded instead of the client's.
    std::string upstream_path_tail;
    // What a paging token sealed into this answer's body (a route's continuation-fields, a SOAP
    // queryLocator) is bound to besides the declaration, route and path: the request's other
    // query parameters (continuation_query_form), or a body language's body without its token.
    std::string continuation_binding;
    // A SOAP call's operation (query, queryAll, queryMore): the answer's records are under
    // <operation>Response where the route names queryResponse.
    std::string soap_operation;

    [[nodiscard]] bool allowed_export() const { return result == outcome::allow; }
};

// Order of checks: route, method, unauthenticated, declaration (missing, invalid), purpose
// unknown, destination unknown, then the legal refusals that hold whatever the grants say —
// third_party_direct_marketing, destination_not_permitted_for_purpose — then purpose_not_granted
// and destination_not_granted, then grant_not_valid (outside the grant's valid-from /
// valid-until) and suppression_list_stale (the purpose's list is older than its max-age, or
// unread). (The legal refusals come before the grants: the load-time rules
// forbid granting such exports, so checked after the grants they could never show; the audit
// trail must name the legal reason a DPO reviews.) In monitor mode a refusal is still `refuse`,
// with effective_mode monitor: the proxy turns it into would-block.
// `continuation`: the key that opens sealed paging tokens (configuration::continuation); null
// refuses every sealed token.
[[nodiscard]] decision decide(const policy& p, const settings& net, const request_facts& facts,
                              const continuation_key* continuation = nullptr);
[[nodiscard]] decision decide(const configuration& config, const request_facts& facts);

// The refusal every export by `client_id` for `purpose_id` to `destination_id` meets, whatever
// the request and the clock: decide()'s checks from purpose_unknown to destination_not_granted
// (client unknown: unauthenticated), in decide()'s order; reason::none when such an export can be
// allowed. Routes, queries, grant windows, processor agreement ends and list ages are not
// considered. For `policy diff`, which compares what two policies allow.
[[nodiscard]] reason standing_refusal(const policy& p, std::string_view client_id,
                                      std::string_view purpose_id, std::string_view destination_id);

// An age for a person: its largest unit and the next, rounded down ("3d 2h", "24h", "1m 30s");
// a negative age is "0s".
[[nodiscard]] std::string age_text(std::int64_t seconds);

// Compares two byte strings in time independent of where they differ (CRYPTO_memcmp).
[[nodiscard]] bool constant_time_equals(std::string_view a, std::string_view b);

// The path forwarded upstream: the upstream's base path, then `path` with the route's path
// replaced by its upstream-path (prefix routes keep the rest of the path).
[[nodiscard]] std::string upstream_path(const route& r, const upstream* up, std::string_view path);

}  // namespace exportwall::config
