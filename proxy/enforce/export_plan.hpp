#pragma once
// The pure half of enforcement (issue 5): how a decision becomes a streaming filter, how CRM
// pagination links become exportwall links, which content types a route may carry, and what the
// audit record of an export says. No sockets: the session calls these.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/record.hpp"
#include "config/decide.hpp"
#include "config/settings.hpp"
#include "filters/record_filter.hpp"

namespace exportwall::proxy {

// Maps URLs that point at one upstream back to exportwall. A link is rewritten when it names
// the upstream (same scheme, host and port; or a path-absolute reference, which the CRM means
// relative to itself) and its path lies under a route of that upstream: the route's upstream
// path is replaced by the route's client path, under `public_url` (or path-absolute when the
// listener has none). Everything else maps to nullopt: the link is removed, so a client can never
// follow it around the firewall.
//
// A link to a route with continuation parameters ($skiptoken…) has each of their values sealed
// (config/continuation.hpp) for the export's declaration: the CRM's token never reaches the
// client, and only the same declaration with the same other parameters can follow the link.
struct continuation_sealing {
    const config::continuation_key* key = nullptr;  // null: links with a token are removed
    std::string client;
    std::string purpose;
    std::string destination;
    std::int64_t expires_at = 0;  // seconds since the epoch
    // The export the links continue (its first page's chain), sealed into every token.
    config::continuation_chain chain{};
    // A token in the body (seal_token): the request's route, normalised path and binding
    // (config::decision::continuation_binding) — what the client's next request repeats.
    std::string route;
    std::string path;
    std::string binding;
};

class link_mapper {
  public:
    link_mapper(const config::settings& net, const config::upstream& up, std::string public_url,
                continuation_sealing sealing = {});

    [[nodiscard]] std::optional<std::string> map(std::string_view url) const;

    // A `Link` header value (RFC 8288): every <URI> mapped; entries that map nowhere are
    // dropped. nullopt when nothing is left.
    [[nodiscard]] std::optional<std::string> map_link_header(std::string_view value) const;

    // A paging token the CRM wrote in the body (a route's continuation-fields, a SOAP
    // queryLocator), sealed for the request that brings it back; nullopt when it cannot be.
    [[nodiscard]] std::optional<std::string> seal_token(std::string_view crm_token) const;

    // Paging tokens sealed so far: the client can continue this export.
    [[nodiscard]] std::uint64_t sealed() const { return sealed_; }

  private:
    // The query with the route's continuation values sealed; nullopt when one cannot be.
    [[nodiscard]] std::optional<std::string> seal_query(const config::route& r,
                                                        std::string_view path,
                                                        std::string_view query) const;

    const config::settings& net_;
    const config::upstream& up_;
    std::string public_url_;
    continuation_sealing sealing_;
    mutable std::uint64_t sealed_ = 0;
};

// True when a 2xx response's Content-Type may be filtered as the route's format (parameters such
// as charset are ignored; the media type compares case-insensitively). Passthrough routes
// accept any type.
[[nodiscard]] bool content_type_matches(config::route_format format,
                                        std::string_view content_type) noexcept;

// The filter for an allowed export of a record route. `rewrite` may be empty (links removed).
// `rules` (the snapshot's policy) gives the purpose's view of each nested entity of the route;
// without it, or without a view, a nested set is dropped whole.
[[nodiscard]] filters::filter_spec make_filter_spec(const config::decision& d,
                                                    const config::route& r,
                                                    const config::limits& limits,
                                                    filters::link_rewriter rewrite,
                                                    const config::policy* rules = nullptr);

// What one export did, for its audit record.
struct export_outcome {
    // An export's: allowed | filtered | blocked | aborted | would_block.
    audit::decision decision = audit::decision::allowed;
    std::string reason;    // reason code; "" when allowed or filtered
    unsigned status = 0;   // HTTP status sent to the client
    const filters::filter_counters* counters = nullptr;  // null before a body was filtered
    std::uint64_t bytes_in = 0;                          // from the CRM
    std::uint64_t bytes_out = 0;                         // to the client
    double duration_ms = 0;
};

// How an audit record names a requested or stripped field that is not in the route entity's
// catalogue: such a name may itself be data, so it never enters the trail.
inline constexpr std::string_view unlisted_field = "(not in catalogue)";

// The audit record of one export (DESIGN.md §3): names, counts and ids only — never a value.
// Field names outside the route entity's catalogue are recorded as `unlisted_field`.
// `id` and `time` come from the caller (the id is in the response headers already).
// What the candidate policy (<shadow>) would have decided, written into `rec`: shadow_decision
// (allowed, filtered — it would strip fields the enforced decision keeps, or fields the request
// asked for — or blocked), shadow_reason, and shadow_fields_stripped (the fields it would strip
// that reach the client under the enforced policy, plus those it strips from the request).
void add_shadow(audit::record& rec, const config::decision& enforced,
                const config::decision& shadow);

// Names the legal rule rec.reason rests on (config::rule_of) in rec.rule_id and
// rec.legal_reference; empties them for a reason that is not a legal rule (upstream_timeout,
// request_rejected) and for a record without a reason. make_audit_record calls it.
void add_refusal_rule(audit::record& rec);

[[nodiscard]] audit::record make_audit_record(const config::decision& d,
                                              const config::configuration& config,
                                              std::string_view method, std::string_view path,
                                              std::string_view query, std::string_view remote,
                                              const export_outcome& outcome, std::string id,
                                              std::string time);

// The decision of a finished export: filtered when fields were stripped or records dropped, else
// allowed (monitor mode: would_block when the filter would have changed something is decided by
// the caller).
[[nodiscard]] audit::decision finished_decision(const config::decision& d,
                                                const filters::filter_counters* counters) noexcept;

// RFC 3339 UTC time with milliseconds, for audit records: "2026-11-29T19:04:12.345Z".
[[nodiscard]] std::string audit_time_now();

}  // namespace exportwall::proxy
