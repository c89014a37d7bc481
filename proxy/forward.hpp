#pragma once
// The pure rules of forwarding (no sockets): which target and head the CRM receives for a client
// request, and how the CRM's answer is framed for the client. The relay (proxy/session.cpp) calls
// these; tests/unit/proxy/forward_test.cpp checks them without a network.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/settings.hpp"
#include "proxy/http/request_head.hpp"
#include "proxy/http/target.hpp"

namespace exportwall::proxy {

// Fields that describe one connection, never the message (RFC 9110 §7.6.1): Connection,
// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding (the relay re-frames), Upgrade,
// Proxy-Authorization and Proxy-Authenticate. Case-insensitive.
[[nodiscard]] bool is_hop_by_hop(std::string_view name) noexcept;

// Client fields never forwarded to the CRM: credentials (Authorization, Cookie), the export
// declaration (X-Export-Purpose, X-Export-Destination), fields exportwall sets itself (Host,
// Forwarded, X-Forwarded-*, X-Request-Id, Accept-Encoding, Content-Length) and Expect (exportwall
// answers 100-continue itself), and the trace context (traceparent, sent checked as exportwall's
// own field; tracestate). Case-insensitive.
[[nodiscard]] bool is_withheld_from_upstream(std::string_view name) noexcept;

// True when `name` is one of the comma-separated tokens of any `Connection` field in `fields`:
// such a field is hop-by-hop for this message.
[[nodiscard]] bool named_by_connection(std::string_view name,
                                       std::span<const header_field> fields) noexcept;

// A client-supplied X-Request-Id is kept only when it is 1 to 64 of [A-Za-z0-9-_].
[[nodiscard]] bool valid_request_id(std::string_view id) noexcept;

// The origin-form target sent to the CRM for a passthrough request matched by `r` on `u`: the
// path as config::upstream_path maps it (the route's upstream_path replaces the matched prefix,
// or the whole path of an exact route; the upstream's base_path is prefixed), and the query as
// received. Record routes take export_case::upstream_target, over the same mapping.
[[nodiscard]] std::string build_upstream_target(const config::route& r, const config::upstream& u,
                                                const normalised_target& t);

// The Host field value for the upstream: host[:port], the port omitted when it is the scheme's
// default, IPv6 literals in brackets.
[[nodiscard]] std::string upstream_host_field(const config::upstream& u);

// How a request body travels to the CRM.
enum class upstream_body : std::uint8_t {
    none,            // no body: no Content-Length, no Transfer-Encoding
    content_length,  // the client's Content-Length, bytes relayed as they are
    chunked,         // re-chunked: each piece read from the client becomes one chunk
};

// Everything the upstream request head is made from.
struct upstream_request {
    std::string_view method;
    std::string_view target;  // from build_upstream_target
    std::span<const header_field> client_fields;
    const config::upstream* up = nullptr;
    std::string_view client_address;  // the client's IP address, no port
    bool client_tls = false;          // proto=https in Forwarded
    std::string_view request_id;
    // The client's W3C trace context, checked and written as version 00 (normalise_traceparent);
    // empty: none is sent. The client's own traceparent and tracestate fields never pass.
    std::string_view traceparent;
    upstream_body body = upstream_body::none;
    std::uint64_t content_length = 0;  // when body == content_length
    // Names the route lets through beside the default allow-list (`request-headers`).
    std::span<const std::string> extra_allowed;
    // exportwall's own fields for this request (the Content-Type and SOAPAction of a body the
    // query guard re-serialised), written as they are.
    std::span<const header_field> own_fields;
    // The upstream's OAuth2 access token (proxy/upstream_token.hpp), sent as
    // `Authorization: Bearer …` where the configured fields go; "" for none.
    std::string_view bearer_token;
};

// The client's header fields the CRM may see (an allow-list, docs/security-model.md): Accept,
// Accept-Language, Content-Type (of a body), the conditional fields If-Match, If-None-Match,
// If-Modified-Since and If-Unmodified-Since, Prefer (reduced by prefer_for_upstream), and the
// names in `extra_allowed`. Everything else — rewrite and identity headers (X-Original-URL,
// X-Remote-User, True-Client-IP …), cookies, credentials, the declaration — is dropped;
// exportwall adds Host, the upstream's credentials, Accept-Encoding, Forwarded and the framing.
[[nodiscard]] bool forwarded_to_upstream(std::string_view name,
                                         std::span<const std::string> extra_allowed) noexcept;

// The Prefer preferences a CRM may see: OData's odata.maxpagesize=N and
// odata.include-annotations="…" (a list of annotation names or *); "" when none is left.
[[nodiscard]] std::string prefer_for_upstream(std::string_view value);

// The CRM's header fields a client may see (an allow-list): Content-Type, Content-Encoding (a
// passthrough body's; a filtered body's is removed), Content-Language, Cache-Control, Expires,
// ETag, Last-Modified, Date, Vary, Retry-After (on 429 and 503 only) and the names in
// `extra_allowed` (`response-headers`: vendor rate-limit fields). Set-Cookie, Refresh, CORS,
// server banners, Content-Disposition, a forged X-Export-* … never; Location, Content-Location
// and Link only as exportwall rewrites them (extra fields).
[[nodiscard]] bool forwarded_to_client(std::string_view name, unsigned status,
                                       std::span<const std::string> extra_allowed) noexcept;

// The complete HTTP/1.1 request head for the CRM (ends with the empty line): the client's
// end-to-end fields minus hop-by-hop, Connection-named and withheld ones, then Host, the
// upstream's configured fields (credentials), Accept-Encoding: identity, Forwarded,
// X-Forwarded-For, X-Request-Id and the body framing. The client's own Forwarded and
// X-Forwarded-For are replaced, not extended: exportwall is the edge and a client could forge them.
[[nodiscard]] std::string build_upstream_request_head(const upstream_request& req);

// Puts `token` in place of the access token of the `Authorization: Bearer` field that
// build_upstream_request_head wrote into `head` (the retry after a 401 sends a fresh token). False
// when `head` has no such field.
[[nodiscard]] bool replace_bearer_token(std::string& head, std::string_view token);

// How the response body is framed towards the client.
enum class response_framing : std::uint8_t {
    none,             // no body (HEAD, 1xx, 204, 304)
    content_length,   // the upstream's Content-Length passes through; bytes relayed as they are
    chunked,          // each piece written as one chunk, ended by the terminating 0-chunk
    close_delimited,  // HTTP/1.0 client without a known length: the body ends when we close
};

// The framing for a response. A filter changes the length, so it always drops Content-Length.
[[nodiscard]] response_framing choose_response_framing(bool head_request, unsigned status,
                                                       std::optional<std::uint64_t> upstream_length,
                                                       bool filtered,
                                                       unsigned client_version) noexcept;

// Everything the client response head is made from.
struct client_response {
    unsigned status = 200;
    std::span<const header_field> upstream_fields;  // as received from the CRM
    response_framing framing = response_framing::chunked;
    std::optional<std::uint64_t> content_length;  // the upstream's, for content_length / HEAD
    bool keep_alive = true;  // the client connection stays open after this response
    unsigned client_version = 11;
    std::string_view request_id;
    std::span<const header_field> extra_fields;  // exportwall's own (X-Export-Decision, …)
    std::span<const std::string> extra_allowed;   // the route's `response-headers`
};

// The complete response head for the client: status line, the CRM's end-to-end fields (minus
// hop-by-hop, Connection-named, Content-Length and Transfer-Encoding, which exportwall sets
// for the framing it chose), X-Request-Id, the extra fields and the connection management.
[[nodiscard]] std::string build_client_response_head(const client_response& resp);

// The chunk-size line for a chunk of `size` bytes ("1a2b\r\n"), written into `out`.
void chunk_size_line(std::uint64_t size, std::string& out);

// A fresh request id: 32 lower-case hex digits from a fast per-thread generator (an identifier,
// not a secret).
[[nodiscard]] std::string generate_request_id();

// The names of the query parameters of `query` (raw, without '?'), comma-separated, for logs: the
// values never appear. "a=1&b=2&a" → "a,b,a".
[[nodiscard]] std::string query_parameter_names(std::string_view query);

}  // namespace exportwall::proxy
