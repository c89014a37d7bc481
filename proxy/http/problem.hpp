#pragma once
// Refusals before any byte of an answer was sent: an `application/problem+json` body (RFC 9457)
// with the stable reason codes of DESIGN.md §3. Pure functions: no sockets. A problem never echoes
// request data (target, header values): its detail is one of our fixed strings.

#include <string>
#include <string_view>

#include "config/decide.hpp"

namespace exportwall::proxy {

// One refusal. Every view must outlive the call that renders it.
struct problem {
    unsigned status = 400;
    config::reason reason = config::reason::request_rejected;
    std::string_view detail;    // a fixed sentence of ours, never request bytes
    std::string_view audit_id;  // audit::new_record_id() of the decision
};

// The human title of a reason code ("Route not found"); a generic title for reason::none.
[[nodiscard]] std::string_view problem_title(config::reason reason) noexcept;

// The standard reason phrase of an HTTP status ("Not Found"), "Unknown" when we have none.
[[nodiscard]] std::string_view status_reason(unsigned status) noexcept;

// The JSON body: {"type":"https://exportwall.dev/reasons/<reason>","title","status","detail",
// "reason","rule_id","legal_reference","audit_id"}. "rule_id" and "legal_reference" (the legal
// rule the refusal rests on, config::rule_of) are there only for a reason that names one: a
// policy refusal such as third_party_direct_marketing, never request_rejected or an upstream
// failure.
[[nodiscard]] std::string problem_body(const problem& p);

// A complete HTTP/1.1 response carrying problem_body(p): status line, Content-Type,
// Content-Length, Cache-Control: no-store, X-Request-Id (when not empty), X-Export-Audit-Id, and
// `Connection: close` unless `keep_alive` (then `Connection: keep-alive` for an HTTP/1.0 client,
// see `client_version`). `head_request`: the body is omitted (the length still describes it).
// `extra_fields`: complete header lines of ours ("Allow: GET\r\n"), or empty.
[[nodiscard]] std::string problem_response(const problem& p, bool keep_alive,
                                           unsigned client_version, std::string_view request_id,
                                           bool head_request = false,
                                           std::string_view extra_fields = {});

}  // namespace exportwall::proxy
