#include "proxy/forward.hpp"

#include <array>
#include <charconv>
#include <cstring>
#include <random>

#include "common/ascii.hpp"
#include "common/hex.hpp"
#include "config/decide.hpp"
#include "proxy/http/field_bytes.hpp"
#include "proxy/http/problem.hpp"
#include "proxy/http/request_head.hpp"

namespace exportwall::proxy {
namespace {

[[nodiscard]] bool in_list(std::string_view name, std::span<const std::string_view> list) noexcept {
    for (auto n : list)
        if (common::iequals_ascii(name, n)) return true;
    return false;
}

[[nodiscard]] std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// `name: value` CRLF, in one step.
void write_field(std::string& out, std::string_view name, std::string_view value) {
    const std::size_t at = out.size();
    out.resize(at + name.size() + value.size() + 4);
    char* p = out.data() + at;
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = ':';
    *p++ = ' ';
    if (!value.empty()) std::memcpy(p, value.data(), value.size());
    p += value.size();
    *p++ = '\r';
    *p = '\n';
}

// Every header field exportwall writes, in either direction, goes through here: a name that is
// not a token, or a value with CR, LF, NUL or another control byte (HTAB aside), is never
// written — the field is left out, so nothing a client or the CRM wrote can add a header or a
// response (response splitting).
void append_field(std::string& out, std::string_view name, std::string_view value) {
    if (!is_field_name(name) || field_bytes::has_control_byte(value)) return;
    write_field(out, name, value);
}

// A field name exportwall writes itself, as a literal: a name that is not a token does not
// compile, so its fields need no check of the name per request (a head's ten of them cost ~1,000
// instructions in is_field_name).
class own_name {
  public:
    template <std::size_t N>
    consteval own_name(const char (&name)[N])  // NOLINT(google-explicit-constructor): literals
        : name_(name, N - 1) {
        constexpr std::string_view specials = "!#$%&'*+-.^_`|~";
        if (N < 2) throw "a field name is not empty";
        for (std::size_t i = 0; i + 1 < N; ++i) {
            const char c = name[i];
            const bool alnum =
                (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (!alnum && specials.find(c) == std::string_view::npos)
                throw "a field name is a token (RFC 9110 section 5.1)";
        }
    }
    [[nodiscard]] constexpr std::string_view view() const { return name_; }

  private:
    std::string_view name_;
};

// One of exportwall's own fields: its value still goes through the control-byte check.
void append_own_field(std::string& out, own_name name, std::string_view value) {
    if (field_bytes::has_control_byte(value)) return;
    write_field(out, name.view(), value);
}

[[nodiscard]] bool is_ipv6_literal(std::string_view host) noexcept {
    return host.find(':') != std::string_view::npos;
}

}  // namespace

bool is_hop_by_hop(std::string_view name) noexcept {
    static constexpr std::array<std::string_view, 9> names{
        "connection",        "keep-alive",        "proxy-connection", "te",
        "trailer",           "transfer-encoding", "upgrade",          "proxy-authorization",
        "proxy-authenticate"};
    return in_list(name, names);
}

bool is_withheld_from_upstream(std::string_view name) noexcept {
    static constexpr std::array<std::string_view, 16> names{"authorization",
                                                            "cookie",
                                                            "x-export-purpose",
                                                            "x-export-destination",
                                                            "host",
                                                            "forwarded",
                                                            "x-forwarded-for",
                                                            "x-forwarded-host",
                                                            "x-forwarded-proto",
                                                            "x-real-ip",
                                                            "x-request-id",
                                                            "accept-encoding",
                                                            "content-length",
                                                            "expect",
                                                            "traceparent",
                                                            "tracestate"};
    return in_list(name, names);
}

namespace {

bool in_names(std::string_view name, std::span<const std::string> names) noexcept {
    return std::any_of(names.begin(), names.end(),
                       [name](const std::string& n) { return common::iequals_ascii(n, name); });
}

}  // namespace

bool forwarded_to_upstream(std::string_view name,
                           std::span<const std::string> extra_allowed) noexcept {
    static constexpr std::array<std::string_view, 8> names{
        "accept",        "accept-language",   "content-type",        "if-match",
        "if-none-match", "if-modified-since", "if-unmodified-since", "prefer"};
    return in_list(name, names) || in_names(name, extra_allowed);
}

std::string prefer_for_upstream(std::string_view value) {
    std::string out;
    while (!value.empty()) {
        auto comma = value.find(',');
        std::string_view p = trim(value.substr(0, comma));
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        auto eq = p.find('=');
        std::string_view name = trim(p.substr(0, eq));
        std::string_view v =
            eq == std::string_view::npos ? std::string_view{} : trim(p.substr(eq + 1));
        bool ok = false;
        if (common::iequals_ascii(name, "odata.maxpagesize")) {
            ok = !v.empty() && v.size() <= 9 &&
                 std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
        } else if (common::iequals_ascii(name, "odata.include-annotations")) {
            ok = v.size() >= 3 && v.front() == '"' && v.back() == '"' &&
                 std::all_of(v.begin() + 1, v.end() - 1, [](char c) {
                     return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '.' || c == '*' || c == '-' ||
                            c == ',' || c == '_';
                 });
        }
        if (!ok) continue;
        if (!out.empty()) out += ',';
        out += common::iequals_ascii(name, "odata.maxpagesize") ? "odata.maxpagesize"
                                                                : "odata.include-annotations";
        out += '=';
        out += v;
    }
    return out;
}

bool forwarded_to_client(std::string_view name, unsigned status,
                         std::span<const std::string> extra_allowed) noexcept {
    static constexpr std::array<std::string_view, 10> names{"content-type",
                                                            "content-encoding",
                                                            "content-language",
                                                            "cache-control",
                                                            "expires",
                                                            "etag",
                                                            "last-modified",
                                                            "date",
                                                            "vary",
                                                            "age"};
    if (in_list(name, names) || in_names(name, extra_allowed)) return true;
    return common::iequals_ascii(name, "retry-after") && (status == 429 || status == 503);
}

bool named_by_connection(std::string_view name, std::span<const header_field> fields) noexcept {
    for (const auto& f : fields) {
        if (!common::iequals_ascii(f.name, "connection")) continue;
        std::string_view rest = f.value;
        while (!rest.empty()) {
            auto comma = rest.find(',');
            auto token = trim(rest.substr(0, comma));
            if (!token.empty() && common::iequals_ascii(token, name)) return true;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return false;
}

bool valid_request_id(std::string_view id) noexcept {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

std::string build_upstream_target(const config::route& r, const config::upstream& u,
                                  const normalised_target& t) {
    // The path is mapped where every other upstream target is (config::upstream_path, behind
    // export_case::upstream_target and `exportwall explain`); a passthrough route adds the query
    // as received.
    std::string out = config::upstream_path(r, &u, t.path);
    if (out.front() != '/') out.insert(out.begin(), '/');
    if (t.has_query) {
        out += '?';
        out += t.query;
    }
    return out;
}

std::string upstream_host_field(const config::upstream& u) {
    std::string out;
    if (is_ipv6_literal(u.host)) {
        out += '[';
        out += u.host;
        out += ']';
    } else {
        out += u.host;
    }
    bool default_port =
        (u.scheme == "https" && u.port == 443) || (u.scheme == "http" && u.port == 80);
    if (!default_port) {
        out += ':';
        out += std::to_string(u.port);
    }
    return out;
}

std::string build_upstream_request_head(const upstream_request& req) {
    std::string out;
    out.reserve(512);
    out += req.method;
    out += ' ';
    out += req.target;
    out += " HTTP/1.1\r\n";
    append_own_field(out, "Host", req.up != nullptr ? upstream_host_field(*req.up) : std::string());
    for (const auto& f : req.client_fields) {
        if (is_hop_by_hop(f.name) || is_withheld_from_upstream(f.name) ||
            named_by_connection(f.name, req.client_fields) ||
            !forwarded_to_upstream(f.name, req.extra_allowed))
            continue;
        if (req.up != nullptr) {
            // A configured field replaces the client's field of the same name.
            bool configured = false;
            for (const auto& h : req.up->headers)
                configured = configured || common::iequals_ascii(h.name, f.name);
            if (configured) continue;
        }
        if (common::iequals_ascii(f.name, "prefer")) {
            std::string prefer = prefer_for_upstream(f.value);
            if (!prefer.empty()) append_own_field(out, "Prefer", prefer);
            continue;
        }
        append_field(out, f.name, f.value);
    }
    if (req.up != nullptr)
        for (const auto& h : req.up->headers) append_field(out, h.name, h.value);
    if (!req.bearer_token.empty()) {
        std::string bearer = "Bearer ";
        bearer += req.bearer_token;
        append_own_field(out, "Authorization", bearer);
    }
    for (const auto& f : req.own_fields) append_field(out, f.name, f.value);
    append_own_field(out, "Accept-Encoding", "identity");
    std::string forwarded = "for=";
    if (is_ipv6_literal(req.client_address)) {
        forwarded += "\"[";
        forwarded += req.client_address;
        forwarded += "]\"";
    } else {
        forwarded += req.client_address;
    }
    forwarded += req.client_tls ? ";proto=https" : ";proto=http";
    append_own_field(out, "Forwarded", forwarded);
    append_own_field(out, "X-Forwarded-For", req.client_address);
    append_own_field(out, "X-Request-Id", req.request_id);
    if (!req.traceparent.empty()) append_own_field(out, "traceparent", req.traceparent);
    switch (req.body) {
        case upstream_body::none:
            break;
        case upstream_body::content_length:
            append_own_field(out, "Content-Length", std::to_string(req.content_length));
            break;
        case upstream_body::chunked:
            append_own_field(out, "Transfer-Encoding", "chunked");
            break;
    }
    out += "\r\n";
    return out;
}

bool replace_bearer_token(std::string& head, std::string_view token) {
    static constexpr std::string_view field = "\r\nAuthorization: Bearer ";
    const auto at = head.find(field);
    if (at == std::string::npos) return false;
    const auto start = at + field.size();
    const auto end = head.find("\r\n", start);
    if (end == std::string::npos) return false;
    head.replace(start, end - start, token);
    return true;
}

response_framing choose_response_framing(bool head_request, unsigned status,
                                         std::optional<std::uint64_t> upstream_length,
                                         bool filtered, unsigned client_version) noexcept {
    if (head_request || (status >= 100 && status < 200) || status == 204 || status == 304)
        return response_framing::none;
    if (upstream_length && !filtered) return response_framing::content_length;
    return client_version >= 11 ? response_framing::chunked : response_framing::close_delimited;
}

std::string build_client_response_head(const client_response& resp) {
    std::string out;
    out.reserve(512);
    out += "HTTP/1.1 ";
    out += std::to_string(resp.status);
    out += ' ';
    out += status_reason(resp.status);
    out += "\r\n";
    for (const auto& f : resp.upstream_fields) {
        if (is_hop_by_hop(f.name) || common::iequals_ascii(f.name, "content-length") ||
            common::iequals_ascii(f.name, "x-request-id") ||
            named_by_connection(f.name, resp.upstream_fields) ||
            !forwarded_to_client(f.name, resp.status, resp.extra_allowed))
            continue;
        append_field(out, f.name, f.value);
    }
    append_own_field(out, "X-Request-Id", resp.request_id);
    for (const auto& f : resp.extra_fields) append_field(out, f.name, f.value);
    bool keep_alive = resp.keep_alive && resp.framing != response_framing::close_delimited;
    switch (resp.framing) {
        case response_framing::none:
            // HEAD and 304 describe the representation's length; 1xx and 204 carry none.
            if (resp.content_length && resp.status != 204 && resp.status >= 200)
                append_own_field(out, "Content-Length", std::to_string(*resp.content_length));
            break;
        case response_framing::content_length:
            append_own_field(out, "Content-Length",
                             std::to_string(resp.content_length.value_or(0)));
            break;
        case response_framing::chunked:
            append_own_field(out, "Transfer-Encoding", "chunked");
            break;
        case response_framing::close_delimited:
            break;
    }
    if (!keep_alive)
        append_own_field(out, "Connection", "close");
    else if (resp.client_version == 10)
        append_own_field(out, "Connection", "keep-alive");
    out += "\r\n";
    return out;
}

void chunk_size_line(std::uint64_t size, std::string& out) {
    std::array<char, 24> buf{};
    char* end = std::to_chars(buf.data(), buf.data() + 16, size, 16).ptr;  // lower-case hex
    *end++ = '\r';
    *end++ = '\n';
    out.assign(buf.data(), end);
}

std::string generate_request_id() {
    thread_local std::mt19937_64 gen{std::random_device{}()};
    // Two 64-bit draws, most significant byte first: 32 lower-case hex digits.
    std::array<unsigned char, 16> bytes{};
    for (std::size_t half = 0; half < 2; ++half) {
        std::uint64_t v = gen();
        for (std::size_t i = 8; i-- > 0; v >>= 8)
            bytes[half * 8 + i] = static_cast<unsigned char>(v);
    }
    return common::to_hex(bytes.data(), bytes.size());
}

std::string query_parameter_names(std::string_view query) {
    std::string out;
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        auto name = pair.substr(0, pair.find('='));
        if (!name.empty()) {
            if (!out.empty()) out += ',';
            out += name;
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return out;
}

}  // namespace exportwall::proxy
