#include "proxy/http/target.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "common/percent.hpp"
#include "common/utf8.hpp"

namespace exportwall::proxy {

namespace {

using boost::system::error_code;

// Validates UTF-8 one byte at a time, by common/utf8.hpp's rule (no overlong forms, no
// surrogates, nothing above U+10FFFF).
class utf8_validator {
  public:
    [[nodiscard]] bool feed(unsigned char b) noexcept {
        if (need_ == 0) {
            const common::utf8_lead& lead = common::utf8_lead_of(b);
            if (lead.length == 1) return true;
            if (lead.length == 0) return false;  // a stray continuation byte, 0xc0, 0xc1, 0xf5..
            return expect(lead.length - 1, lead.low, lead.high);
        }
        if (b < low_ || b > high_) return false;
        --need_;
        low_ = 0x80;
        high_ = 0xbf;
        return true;
    }

    // True when no multi-byte sequence is left open.
    [[nodiscard]] bool complete() const noexcept { return need_ == 0; }

  private:
    bool expect(int need, unsigned char low, unsigned char high) noexcept {
        need_ = need;
        low_ = low;
        high_ = high;
        return true;
    }

    int need_ = 0;
    unsigned char low_ = 0x80;
    unsigned char high_ = 0xbf;
};

bool is_ctl_or_del(unsigned char u) noexcept { return u < 0x20 || u == 0x7f; }

// Appends one segment (raw, between two '/') to `path` as "/segment", decoded and re-encoded
// canonically. Dot-segment and empty-segment handling is left to the caller.
error_code append_segment(std::string_view raw, std::string& path, utf8_validator& utf8) {
    path.push_back('/');
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const char c = raw[i];
        const auto u = static_cast<unsigned char>(c);
        if (c == '%') {
            const int decoded = common::percent_escape_value(raw, i);
            if (decoded < 0) return request_error::invalid_percent_encoding;
            i += 2;
            const auto b = static_cast<unsigned char>(decoded);
            switch (b) {
                case 0x00:
                    return request_error::encoded_nul;
                case '/':
                    return request_error::encoded_slash;
                case '\\':
                    return request_error::encoded_backslash;
                case ';':
                    // Some servers split path parameters after decoding: refuse the encoded form
                    // too, so no upstream can see a parameter the route match did not.
                    return request_error::path_parameter;
                default:
                    break;
            }
            if (is_ctl_or_del(b)) return request_error::control_byte_in_target;
            if (!utf8.feed(b)) return request_error::invalid_utf8;
            if (boost::urls::unreserved_chars(b)) {
                path.push_back(static_cast<char>(b));
            } else {
                common::append_percent_escape(path, b);
            }
            continue;
        }
        if (c == ';') return request_error::path_parameter;
        if (c == '\\') return request_error::backslash_in_path;
        if (u <= 0x20 || u >= 0x7f) return request_error::control_byte_in_target;
        if (!boost::urls::pchars(u)) return request_error::invalid_target;
        if (!utf8.feed(u)) return request_error::invalid_utf8;  // an ASCII byte mid-sequence
        path.push_back(c);
    }
    // A multi-byte sequence may not straddle a '/'.
    if (!utf8.complete()) return request_error::invalid_utf8;
    return {};
}

// True when a query parameter name, percent-decoded, is "_method" (ASCII case-insensitive): the
// method override of Rails, Laravel and Symfony forms. Escapes are valid (checked before).
bool is_method_override_name(std::string_view name) noexcept {
    constexpr std::string_view expected = "_method";
    std::size_t matched = 0;
    for (std::size_t i = 0; i < name.size(); ++i, ++matched) {
        int c = static_cast<unsigned char>(name[i]);
        if (c == '%') {
            c = common::percent_escape_value(name, i);
            i += 2;
        }
        if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
        if (matched >= expected.size() || c != expected[matched]) return false;
    }
    return matched == expected.size();
}

error_code validate_query(std::string_view query) noexcept {
    for (std::size_t i = 0; i < query.size(); ++i) {
        const auto u = static_cast<unsigned char>(query[i]);
        if (u == '%') {
            const int decoded = common::percent_escape_value(query, i);
            if (decoded < 0) return request_error::invalid_percent_encoding;
            if (decoded == 0) return request_error::encoded_nul;
            i += 2;
        } else if (u <= 0x20 || u >= 0x7f) {
            return request_error::control_byte_in_target;
        }
    }
    // Parameters are separated by '&'; a name ends at '='.
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto parameter = query.substr(0, amp);
        if (is_method_override_name(parameter.substr(0, parameter.find('=')))) {
            return request_error::method_override;
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return {};
}

}  // namespace

error_code normalise_target(std::string_view target, normalised_target& out) {
    out.path.clear();
    out.query.clear();
    out.has_query = false;
    if (target.empty() || target.front() != '/') return request_error::invalid_target;
    // A fragment is not part of a request-target (RFC 9112 §3.2) and names nothing on the
    // server: everything from the first '#' is dropped, unread and never forwarded (RFC 3986
    // §3.5 leaves no doubt where it starts).
    if (auto hash = target.find('#'); hash != std::string_view::npos) {
        target = target.substr(0, hash);
        if (target.empty()) return request_error::invalid_target;
    }

    const auto question = target.find('?');
    const auto raw_path = target.substr(0, question);
    if (question != std::string_view::npos) {
        const auto query = target.substr(question + 1);
        if (auto ec = validate_query(query)) return ec;
        out.query.assign(query.data(), query.size());
        out.has_query = true;
    }

    out.path.reserve(raw_path.size() + 1);
    utf8_validator utf8;
    // out.path holds "/seg/seg" while segments are added; the root is the empty string.
    bool trailing_slash = false;
    std::size_t start = 1;  // raw_path[0] == '/'
    while (true) {
        const auto slash = raw_path.find('/', start);
        const auto raw_segment = raw_path.substr(start, slash - start);
        const bool last = slash == std::string_view::npos;
        const auto mark = out.path.size();
        if (auto ec = append_segment(raw_segment, out.path, utf8)) return ec;
        const auto segment = std::string_view(out.path).substr(mark + 1);
        if (segment.empty() || segment == ".") {
            out.path.resize(mark);  // "//" collapses, "/./" disappears
            trailing_slash = last;
        } else if (segment == "..") {
            out.path.resize(mark);
            if (out.path.empty()) return request_error::path_above_root;
            out.path.resize(out.path.rfind('/'));
            trailing_slash = last;
        } else {
            trailing_slash = false;
        }
        if (last) break;
        start = slash + 1;
    }
    if (out.path.empty() || trailing_slash) out.path.push_back('/');

    // By construction the result is RFC 3986 origin-form; Boost.URL's grammar confirms it, so a
    // gap in the rules above fails closed instead of forwarding something unparseable.
    if (!boost::urls::parse_origin_form(out.path)) return request_error::invalid_target;
    return {};
}

}  // namespace exportwall::proxy
