#pragma once
// Strict checks of a raw HTTP/1.x request head (RFC 9112) before any of it is parsed by Beast or
// forwarded. Pure functions over bytes: no Asio, no Beast, no allocation beyond the caller-owned
// result (whose vector keeps its capacity across requests when reused).

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

#include "proxy/http/http_error.hpp"

namespace exportwall::proxy {

// How the request body is delimited.
enum class body_framing : std::uint8_t {
    none,            // no body (no Content-Length, no Transfer-Encoding)
    content_length,  // exactly request_head::content_length bytes (may be 0)
    chunked,         // Transfer-Encoding: chunked (HTTP/1.1 only)
};

// One header field as received: views into the raw head. The name keeps its case; the value has
// leading and trailing SP/HTAB removed.
struct header_field {
    std::string_view name;
    std::string_view value;
};

// What check_request_head learned, so the session need not re-parse. Every view points into the
// raw_head passed to the check and lives as long as that buffer.
struct request_head {
    std::string_view method;  // token, case kept (methods are case-sensitive)
    // The target in origin-form, ready for normalise_target: the request-target as received, or,
    // for an accepted absolute-form target, its path and query (at least "/").
    std::string_view target;
    bool absolute_form = false;  // the request-target was absolute-form (then reduced to target)
    unsigned version = 11;       // 10 or 11
    body_framing framing = body_framing::none;
    std::uint64_t content_length = 0;  // when framing == content_length
    bool keep_alive = true;  // HTTP/1.1 without "Connection: close", or HTTP/1.0 with keep-alive
    bool expect_continue = false;  // "Expect: 100-continue" (case-insensitive) present
    std::string_view host;         // the Host value (empty when absent in HTTP/1.0, or sent empty)
    std::vector<header_field> headers;  // in order received, every field (Host included)

    // Resets every member; keeps the capacity of `headers`.
    void clear() noexcept;
};

// Checks the raw bytes of one request head — request line, header lines and the empty line; it
// ends with "\r\n\r\n" — strictly against RFC 9112, and fills `out` when it passes:
// - CRLF only: a bare CR or LF anywhere is refused; no obsolete line folding; no empty line before
//   the request line (the SHOULD-ignore of RFC 9112 §2.2 is not taken).
// - request line `method SP target SP HTTP/1.x` with single spaces; method and field names are
//   tokens; no CTL/DEL in the target, names or values (HTAB allowed in values; obs-text allowed in
//   values only); no whitespace between a field name and its colon.
// - exactly one Content-Length of 1*DIGIT (no sign, list or overflow), never together with
//   Transfer-Encoding; Transfer-Encoding only in HTTP/1.1 and exactly "chunked" (case-insensitive);
//   other codings before chunked → unsupported_transfer_coding (501); not ending in chunked → 400.
// - HTTP/1.0 and HTTP/1.1, and HTTP/1.2 to 1.9 read as HTTP/1.1 (RFC 9110 §2.5; other
//   well-formed versions: 505); exactly one Host in 1.1, at most
//   one in 1.0, syntactically `host [":" port]`.
// - method-override headers refused.
// - target forms: origin-form passes; absolute-form (http/https, no userinfo) passes only when its
//   authority equals Host (case-insensitive, default port of the scheme applied to both) and is
//   then reduced to origin-form; asterisk-form and authority-form are refused.
// The target's path is NOT normalised here; call normalise_target(out.target) next.
// raw_head.size() > max_head_bytes → head_too_large. On error `out` holds partial results that
// must not be used.
// True when `name` is an HTTP token (RFC 9110 §5.6.2): a valid field name.
[[nodiscard]] bool is_field_name(std::string_view name) noexcept;

[[nodiscard]] boost::system::error_code check_request_head(std::string_view raw_head,
                                                           std::size_t max_head_bytes,
                                                           request_head& out);

// Finds the end of a request head in a buffer that is being filled. Returns the length of the
// head including its terminating empty line, or 0 when it is not complete yet. Any LF followed by
// LF or by CRLF terminates — so "\n\n" and "\r\n\n" end a head too, and check_request_head refuses
// it at once instead of waiting for the head timeout. `resume_from` lets a caller that searched a
// shorter prefix before continue from there (pass the previous buffer size; it is safe to pass 0).
// The caller enforces max_head_bytes on an incomplete buffer itself (431 when it fills up).
[[nodiscard]] std::size_t find_head_end(std::string_view buffer,
                                        std::size_t resume_from = 0) noexcept;

}  // namespace exportwall::proxy
