#include "proxy/http/request_head.hpp"

#include "common/ascii.hpp"
#include "proxy/http/field_bytes.hpp"

#include <array>
#include <cstring>
#include <limits>

#include <boost/url/authority_view.hpp>
#include <boost/url/grammar/hexdig_chars.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/sub_delim_chars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>

namespace exportwall::proxy {

namespace {

using boost::system::error_code;

// tchar of RFC 9110 §5.6.2 (proxy/http/field_bytes.hpp).
bool is_tchar(char c) noexcept { return field_bytes::is_tchar(static_cast<unsigned char>(c)); }

bool is_token(std::string_view s) noexcept { return field_bytes::is_token(s); }

// Length of the first line of `s` without its CRLF. `s` ends with CRLF and every LF in it
// follows a CR (checked before).
std::size_t line_length(std::string_view s) noexcept {
    const auto* lf = static_cast<const char*>(std::memchr(s.data(), '\n', s.size()));
    return static_cast<std::size_t>(lf - s.data()) - 1;
}

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

// Calls f(element) for each non-empty, OWS-trimmed element of a comma-separated list (RFC 9110
// §5.6.1: empty elements are ignored). Stops and returns false when f returns false.
template <typename F>
bool for_each_list_element(std::string_view list, F&& f) {
    while (true) {
        const auto comma = list.find(',');
        const auto element = trim_ows(list.substr(0, comma));
        if (!element.empty() && !f(element)) return false;
        if (comma == std::string_view::npos) return true;
        list.remove_prefix(comma + 1);
    }
}

// Which of the fields that need attention a name is; `other` for everything else.
enum class field_kind : std::uint8_t {
    other,
    host,
    content_length,
    transfer_encoding,
    connection,
    expect,
    method_override,
};

field_kind classify(std::string_view name) noexcept {
    // Dispatch on the length first: most fields are none of these and cost one switch.
    switch (name.size()) {
        case 4:
            return common::iequals_ascii(name, "host") ? field_kind::host : field_kind::other;
        case 6:
            return common::iequals_ascii(name, "expect") ? field_kind::expect : field_kind::other;
        case 10:
            return common::iequals_ascii(name, "connection") ? field_kind::connection
                                                             : field_kind::other;
        case 13:
            return common::iequals_ascii(name, "x-http-method") ? field_kind::method_override
                                                                : field_kind::other;
        case 14:
            return common::iequals_ascii(name, "content-length") ? field_kind::content_length
                                                                 : field_kind::other;
        case 17:
            if (common::iequals_ascii(name, "transfer-encoding"))
                return field_kind::transfer_encoding;
            return common::iequals_ascii(name, "x-method-override") ? field_kind::method_override
                                                                    : field_kind::other;
        case 22:
            return common::iequals_ascii(name, "x-http-method-override")
                       ? field_kind::method_override
                       : field_kind::other;
        default:
            return field_kind::other;
    }
}

// Content-Length = 1*DIGIT, without overflow of std::uint64_t.
error_code parse_content_length(std::string_view value, std::uint64_t& out) noexcept {
    if (value.empty()) return request_error::invalid_content_length;
    // A list ("42, 42" or "42,42") is what an upstream combiner produces from repeated fields.
    if (value.find(',') != std::string_view::npos) return request_error::repeated_content_length;
    std::uint64_t n = 0;
    for (char c : value) {
        if (c < '0' || c > '9') return request_error::invalid_content_length;
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (n > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
            return request_error::invalid_content_length;
        }
        n = n * 10 + digit;
    }
    out = n;
    return {};
}

// The transfer codings seen so far, over every Transfer-Encoding field in order.
struct transfer_coding_state {
    bool present = false;
    bool malformed = false;   // an element that is not `token *( OWS ";" ... )`
    bool any_coding = false;  // at least one non-empty element
    bool last_is_chunked = false;
    bool chunked_has_parameters = false;
    bool other_codings = false;  // a coding other than chunked anywhere in the list
    unsigned chunked_count = 0;

    void add_field(std::string_view value) {
        present = true;
        (void)for_each_list_element(value, [this](std::string_view element) {
            std::size_t name_end = 0;
            while (name_end < element.size() && is_tchar(element[name_end])) ++name_end;
            const auto name = element.substr(0, name_end);
            const auto rest = trim_ows(element.substr(name_end));
            if (name.empty() || (!rest.empty() && rest.front() != ';')) {
                malformed = true;
                return false;
            }
            any_coding = true;
            if (common::iequals_ascii(name, "chunked")) {
                ++chunked_count;
                last_is_chunked = true;
                chunked_has_parameters = !rest.empty();
            } else {
                other_codings = true;
                last_is_chunked = false;
            }
            return true;
        });
    }

    // The framing verdict once every field is seen (HTTP/1.1, no Content-Length).
    [[nodiscard]] error_code verdict() const noexcept {
        if (malformed || !any_coding || !last_is_chunked || chunked_count != 1) {
            return request_error::transfer_encoding_not_chunked;
        }
        // RFC 9112 allows codings before chunked; exportwall implements chunked alone.
        if (other_codings || chunked_has_parameters) {
            return request_error::unsupported_transfer_coding;
        }
        return {};
    }
};

// `host [":" port]` split and normalised for comparison.
struct authority_key {
    std::string_view host;  // compared case-insensitively
    unsigned port = 0;
};

// Splits an authority without userinfo; an absent or empty port takes `default_port`. Returns
// false when the port is not 1*5DIGIT within 0..65535 or the shape is wrong.
bool split_authority(std::string_view authority, unsigned default_port, authority_key& out) {
    std::string_view host = authority;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return false;
        host = authority.substr(0, close + 1);
        const auto rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return false;
            port = rest.substr(1);
        }
    } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty()) return false;
    out.host = host;
    if (port.empty()) {
        out.port = default_port;
        return true;
    }
    unsigned n = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + static_cast<unsigned>(c - '0');
        if (n > 65535) return false;
    }
    out.port = n;
    return true;
}

// The Host field: `uri-host [":" port]` (RFC 9110 §7.2) without userinfo. An empty value is
// allowed (RFC 9112 §3.2). An IP-literal goes through Boost.URL's authority grammar; a reg-name or
// IPv4 address is checked here, because Boost.URL 1.81 does not fall back to reg-name after an
// IPv4-looking prefix ("0.0.0.0=5000" is a valid reg-name it refuses).
bool is_valid_host(std::string_view value) {
    if (value.empty()) return true;
    authority_key key;
    if (!split_authority(value, 0, key)) return false;
    if (key.host.front() == '[') {
        const auto parsed = boost::urls::parse_authority(value);
        return parsed && !parsed->has_userinfo();
    }
    constexpr auto reg_name_chars = boost::urls::unreserved_chars + boost::urls::sub_delim_chars;
    const auto host = key.host;
    for (std::size_t i = 0; i < host.size(); ++i) {
        if (host[i] == '%') {
            if (i + 2 >= host.size() || boost::urls::grammar::hexdig_value(host[i + 1]) < 0 ||
                boost::urls::grammar::hexdig_value(host[i + 2]) < 0) {
                return false;
            }
            i += 2;
        } else if (!reg_name_chars(static_cast<unsigned char>(host[i]))) {
            return false;
        }
    }
    return true;
}

// Request line: method SP request-target SP HTTP-version.
error_code parse_request_line(std::string_view line, request_head& out) noexcept {
    const auto first_sp = line.find(' ');
    const auto last_sp = line.rfind(' ');
    if (first_sp == std::string_view::npos || first_sp == last_sp) {
        return request_error::invalid_request_line;
    }
    const auto method = line.substr(0, first_sp);
    const auto target = line.substr(first_sp + 1, last_sp - first_sp - 1);
    const auto version = line.substr(last_sp + 1);
    if (method.empty() || target.empty() || target.find(' ') != std::string_view::npos) {
        return request_error::invalid_request_line;
    }
    if (!is_token(method)) return request_error::invalid_method;

    // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
        return request_error::invalid_version;
    }
    // A later minor version of HTTP/1 is read as HTTP/1.1 (RFC 9110 §2.5: a recipient processes
    // it as the highest minor version it conforms to); the answer says HTTP/1.1.
    if (version[5] != '1') return request_error::unsupported_version;
    out.version = version[7] == '0' ? 10 : 11;

    if (!field_bytes::all_target_bytes(target)) return request_error::control_byte_in_target;
    out.method = method;
    out.target = target;
    return {};
}

// Classifies the target's form. Origin-form stays as is; absolute-form is reduced to its path and
// query, with its authority returned for the comparison with Host once the fields are read.
error_code classify_target(request_head& out, std::string_view& absolute_authority,
                           unsigned& default_port) {
    const auto target = out.target;
    if (out.method == "CONNECT") return request_error::authority_form;
    if (target.front() == '/') return {};
    if (target == "*") return request_error::asterisk_form;

    const auto parsed = boost::urls::parse_absolute_uri(target);
    if (!parsed) return request_error::invalid_target;
    const auto& url = *parsed;
    const auto scheme = url.scheme_id();
    if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) {
        return request_error::invalid_target;
    }
    if (!url.has_authority() || url.has_userinfo() || url.encoded_host().empty()) {
        return request_error::invalid_target;
    }
    // The path and query must follow "scheme://authority" directly and the path must start with
    // '/': Boost.URL 1.81 accepts "http://h:'x" as authority "h:" with the path "'x".
    const auto authority = url.encoded_authority();
    const auto path = url.encoded_path();
    const auto rest_at = url.scheme().size() + 3 + authority.size();
    if (target.substr(url.scheme().size(), 3) != "://" || rest_at > target.size()) {
        return request_error::invalid_target;
    }
    const auto rest = target.substr(rest_at);
    if (path.empty()) {
        // "http://h" is "/"; "http://h?q" would need "/?q", which no view of the target holds:
        // refused rather than allocating for a form no real client sends.
        if (!rest.empty()) return request_error::invalid_target;
        out.target = "/";
    } else {
        if (rest.empty() || rest.data() != path.data() || rest.front() != '/') {
            return request_error::invalid_target;
        }
        out.target = rest;
    }
    out.absolute_form = true;
    absolute_authority = std::string_view(authority.data(), authority.size());
    default_port = scheme == boost::urls::scheme::https ? 443 : 80;
    return {};
}

bool same_authority(std::string_view a, std::string_view b, unsigned default_port) {
    authority_key ka;
    authority_key kb;
    if (!split_authority(a, default_port, ka) || !split_authority(b, default_port, kb)) {
        return false;
    }
    return ka.port == kb.port && common::iequals_ascii(ka.host, kb.host);
}

}  // namespace

void request_head::clear() noexcept {
    method = {};
    target = {};
    absolute_form = false;
    version = 11;
    framing = body_framing::none;
    content_length = 0;
    keep_alive = true;
    expect_continue = false;
    host = {};
    headers.clear();
}

std::size_t find_head_end(std::string_view buffer, std::size_t resume_from) noexcept {
    const auto n = buffer.size();
    // A terminator (LF [CR] LF) found now ends at or after the old end: start 3 bytes back.
    std::size_t i = resume_from > n ? n : resume_from;
    i = i >= 3 ? i - 3 : 0;
    while (i < n) {
        const void* hit = std::memchr(buffer.data() + i, '\n', n - i);
        if (hit == nullptr) return 0;
        const auto lf = static_cast<std::size_t>(static_cast<const char*>(hit) - buffer.data());
        if (lf + 1 < n && buffer[lf + 1] == '\n') return lf + 2;
        if (lf + 2 < n && buffer[lf + 1] == '\r' && buffer[lf + 2] == '\n') return lf + 3;
        i = lf + 1;
    }
    return 0;
}

error_code check_request_head(std::string_view raw_head, std::size_t max_head_bytes,
                              request_head& out) {
    out.clear();
    if (raw_head.size() > max_head_bytes) return request_error::head_too_large;

    // Line endings first, over the whole head: every CR is followed by LF and every LF preceded
    // by CR. After this, every LF ends a line and the CR before it belongs to the line ending.
    {
        const char* const begin = raw_head.data();
        const char* const end = begin + raw_head.size();
        for (const char* p = begin; p != end; p += 2) {
            p = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(end - p)));
            if (p == nullptr) break;
            if (p + 1 == end || p[1] != '\n') return request_error::bare_cr;
        }
        for (const char* p = begin; p != end; ++p) {
            p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
            if (p == nullptr) break;
            if (p == begin || p[-1] != '\r') return request_error::bare_lf;
        }
    }
    if (raw_head.size() < 4 || raw_head.substr(raw_head.size() - 4) != "\r\n\r\n") {
        return request_error::missing_terminator;
    }

    std::string_view rest = raw_head.substr(0, raw_head.size() - 2);  // drop the empty line
    const auto line_end = line_length(rest);
    if (line_end == 0) return request_error::invalid_request_line;  // empty line(s) before it
    if (auto ec = parse_request_line(rest.substr(0, line_end), out)) return ec;
    rest.remove_prefix(line_end + 2);

    std::string_view absolute_authority;
    unsigned default_port = 80;
    if (auto ec = classify_target(out, absolute_authority, default_port)) return ec;

    unsigned host_count = 0;
    unsigned content_length_count = 0;
    bool connection_close = false;
    bool connection_keep_alive = false;
    transfer_coding_state codings;

    // Each remaining line is a header field, and each ends with CRLF.
    while (!rest.empty()) {
        const auto end = line_length(rest);
        const auto line = rest.substr(0, end);
        rest.remove_prefix(end + 2);
        if (line.empty()) return request_error::missing_terminator;  // bytes after the head
        if (is_ows(line.front())) return request_error::obs_fold;

        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            return request_error::invalid_header_name;
        }
        const auto name = line.substr(0, colon);
        if (is_ows(name.back())) return request_error::whitespace_before_colon;
        if (!is_token(name)) return request_error::invalid_header_name;
        // A '_' is a token byte, but servers behind a CGI-style gateway read Transfer_Encoding as
        // Transfer-Encoding (nginx and Envoy refuse or drop such names too): refused.
        if (name.find('_') != std::string_view::npos) return request_error::invalid_header_name;
        const auto raw_value = line.substr(colon + 1);
        // Field values: HTAB, SP, VCHAR and obs-text (CR and LF were refused before).
        if (field_bytes::has_control_byte(raw_value))
            return request_error::control_byte_in_header_value;
        const auto value = trim_ows(raw_value);
        out.headers.push_back({name, value});

        switch (classify(name)) {
            case field_kind::other:
                break;
            case field_kind::host:
                if (++host_count > 1) return request_error::repeated_host;
                if (!is_valid_host(value)) return request_error::invalid_host;
                out.host = value;
                break;
            case field_kind::content_length:
                if (++content_length_count > 1) return request_error::repeated_content_length;
                if (auto ec = parse_content_length(value, out.content_length)) return ec;
                break;
            case field_kind::transfer_encoding:
                codings.add_field(value);
                break;
            case field_kind::connection:
                (void)for_each_list_element(value, [&](std::string_view option) {
                    if (common::iequals_ascii(option, "close")) connection_close = true;
                    if (common::iequals_ascii(option, "keep-alive")) connection_keep_alive = true;
                    return true;
                });
                break;
            case field_kind::expect:
                if (common::iequals_ascii(value, "100-continue")) out.expect_continue = true;
                break;
            case field_kind::method_override:
                return request_error::method_override;
        }
    }

    if (codings.present) {
        if (content_length_count != 0) {
            return request_error::content_length_with_transfer_encoding;
        }
        // RFC 9112 §6.1: Transfer-Encoding in a 1.0 message is faulty framing.
        if (out.version == 10) return request_error::chunked_in_http10;
        if (auto ec = codings.verdict()) return ec;
        out.framing = body_framing::chunked;
    } else if (content_length_count != 0) {
        out.framing = body_framing::content_length;
    }

    if (out.version == 11 && host_count == 0) return request_error::missing_host;
    if (out.absolute_form &&
        (host_count == 0 || !same_authority(absolute_authority, out.host, default_port))) {
        return request_error::absolute_form_other_host;
    }

    out.keep_alive =
        out.version == 11 ? !connection_close : (connection_keep_alive && !connection_close);
    return {};
}

bool is_field_name(std::string_view name) noexcept { return is_token(name); }

}  // namespace exportwall::proxy
