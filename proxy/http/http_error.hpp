#pragma once
// Why a client request is refused before anything of it is forwarded. Produced by
// check_request_head (proxy/http/request_head.hpp) and normalise_target (proxy/http/target.hpp); the session
// answers with status_for(e) and a problem+json body of type `request_rejected` (or the 431/501/505
// kinds), then closes the connection: after a framing error nothing more on it can be trusted.
// Messages are fixed strings; they never contain bytes of the request.

#include <cstdint>
#include <type_traits>

#include <boost/system/error_code.hpp>

namespace exportwall::proxy {

enum class request_error : std::uint8_t {
    // --- raw framing (400) ---
    bare_cr = 1,         // a CR not followed by LF anywhere in the head
    bare_lf,             // an LF not preceded by CR (includes a head ended by "\n\n")
    obs_fold,            // a header line starting with SP/HTAB (obsolete line folding)
    missing_terminator,  // the head does not end with its first empty line (CRLF CRLF)
    head_too_large,      // the head is longer than max_head_bytes (431)

    // --- request line (400, 505) ---
    invalid_request_line,    // not exactly `method SP target SP version`, or empty lines before it
    invalid_method,          // the method is not a token
    invalid_version,         // the version is not `HTTP/DIGIT.DIGIT`
    unsupported_version,     // a well-formed version other than HTTP/1.0 and HTTP/1.1 (505)
    invalid_target,          // the target is not valid origin-form / absolute-form syntax
    control_byte_in_target,  // a CTL, DEL or non-ASCII byte (raw or percent-encoded) in the target
    absolute_form_other_host,  // absolute-form target whose authority differs from Host
    asterisk_form,             // `OPTIONS *`: exportwall serves exports, not server-wide OPTIONS
    authority_form,            // `CONNECT host:port`: exportwall is not a tunnel

    // --- header fields (400) ---
    invalid_header_name,           // empty name or a byte that is not a tchar
    whitespace_before_colon,       // `Name : value` (RFC 9112 §5.1 requires refusal)
    control_byte_in_header_value,  // a CTL other than HTAB, or DEL, in a field value
    missing_host,                  // HTTP/1.1 without Host
    repeated_host,                 // more than one Host field
    invalid_host,                  // Host is not `host [":" port]`
    method_override,  // X-HTTP-Method-Override, X-HTTP-Method or X-Method-Override present, or
                      // a "_method" query parameter (normalise_target)

    // --- body framing (400, 501) ---
    content_length_with_transfer_encoding,  // both present: ambiguous framing
    repeated_content_length,        // more than one Content-Length field, or a list "42, 42"
    invalid_content_length,         // not 1*DIGIT, or larger than 2^64 - 1
    transfer_encoding_not_chunked,  // the last transfer coding is not chunked, or chunked twice
    chunked_in_http10,              // any Transfer-Encoding in an HTTP/1.0 request
    unsupported_transfer_coding,    // a well-formed coding list ending in chunked, but with other
    // codings before it ("gzip, chunked"): we only implement chunked
    // alone (501)

    // --- target normalisation (400, from normalise_target) ---
    invalid_percent_encoding,  // '%' not followed by two hex digits
    encoded_slash,             // %2F in the path: would change the segment structure upstream
    encoded_backslash,         // %5C in the path
    encoded_nul,               // %00 anywhere in the target
    backslash_in_path,         // a raw '\' in the path
    path_parameter,            // ';' (raw or %3B) in the path
    path_above_root,           // ".." (also %2E%2E) climbing above "/": refused, not clamped
    invalid_utf8,              // the decoded path is not valid UTF-8 (overlong, surrogate, …)
    fragment_in_target,        // '#' in the target
};

// The category of request_error; name "exportwall.request".
[[nodiscard]] const boost::system::error_category& request_category() noexcept;

// Found by argument-dependent lookup, so `error_code ec = request_error::bare_cr;` works.
[[nodiscard]] boost::system::error_code make_error_code(request_error e) noexcept;

// The HTTP status to answer with: 431 for head_too_large, 501 for unsupported_transfer_coding,
// 505 for unsupported_version, 400 for everything else (method overrides included: the request is
// malformed for us, not a method we refuse on a route).
[[nodiscard]] unsigned status_for(request_error e) noexcept;

// The status for any error_code: status_for(e) for our category, 400 otherwise.
[[nodiscard]] unsigned status_for(const boost::system::error_code& ec) noexcept;

}  // namespace exportwall::proxy

template <>
struct boost::system::is_error_code_enum<exportwall::proxy::request_error> : std::true_type {};
