#pragma once
// Normalisation of a request target before route matching, so that the route matched is the
// resource the CRM will serve: the normalised path is both what routes are matched against and
// exactly what is forwarded upstream. Pure function; no Asio, no Beast.

#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

#include "proxy/http/http_error.hpp"

namespace exportwall::proxy {

struct normalised_target {
    std::string path;        // starts with '/'; normalised as described at normalise_target
    std::string query;       // without the '?', byte for byte as received; empty when absent
    bool has_query = false;  // a '?' was present (even with an empty query)
};

// Normalises an origin-form target ("/path?query", e.g. request_head::target):
// - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded ("%41" → "A",
//   "%7e" → "~"); every other percent-encoding is kept with upper-case hex ("%3a" → "%3A");
// - "." and ".." segments are resolved, also when encoded ("%2e%2e"); a ".." above the root is
//   refused (path_above_root), never clamped; a trailing "." or ".." leaves a trailing '/';
// - empty segments are collapsed ("//a///b" → "/a/b");
// - refused: ';' or %3B (path_parameter), %2F (encoded_slash), %5C (encoded_backslash), raw '\'
//   (backslash_in_path), %00 (encoded_nul), other percent-encoded CTLs and DEL and any raw byte
//   that is not a pchar (control_byte_in_target / invalid_target), bad '%' escapes
//   (invalid_percent_encoding), a decoded path that is not valid UTF-8 — overlong forms such as
//   "%c0%ae", surrogates, truncated sequences (invalid_utf8);
// - a fragment ('#' and everything after it) is dropped, unread (RFC 9112 §3.2: not part of a
//   request-target; RFC 3986 §3.5: it starts at the first '#');
// - the query is kept as received after validation: visible ASCII only (no CTL, DEL, SP),
//   valid percent-escapes, no %00; a parameter named "_method" (case-insensitive, also encoded)
//   is a method override and refused (method_override).
// `out` is overwritten (its strings keep their capacity); on error its content is unspecified.
[[nodiscard]] boost::system::error_code normalise_target(std::string_view target,
                                                         normalised_target& out);

}  // namespace exportwall::proxy
