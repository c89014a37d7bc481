#include "proxy/http/http_error.hpp"

#include <string>

namespace exportwall::proxy {

namespace {

// boost::system::error_category has a protected non-virtual destructor by design (categories are
// never deleted through a base pointer); GCC's -Wnon-virtual-dtor flags every derived category.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class request_category_impl final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "exportwall.request"; }

    std::string message(int ev) const override { return describe(ev); }

    char const* message(int ev, char*, std::size_t) const noexcept override { return describe(ev); }

  private:
    static const char* describe(int ev) noexcept {
        switch (static_cast<request_error>(ev)) {
            case request_error::bare_cr:
                return "bare CR in the request head";
            case request_error::bare_lf:
                return "bare LF in the request head";
            case request_error::obs_fold:
                return "obsolete line folding in a header field";
            case request_error::missing_terminator:
                return "request head does not end with an empty line";
            case request_error::head_too_large:
                return "request head too large";
            case request_error::invalid_request_line:
                return "invalid request line";
            case request_error::invalid_method:
                return "invalid method";
            case request_error::invalid_version:
                return "invalid HTTP version";
            case request_error::unsupported_version:
                return "unsupported HTTP version";
            case request_error::invalid_target:
                return "invalid request target";
            case request_error::control_byte_in_target:
                return "control or non-ASCII byte in the request target";
            case request_error::absolute_form_other_host:
                return "absolute-form target names another host than Host";
            case request_error::asterisk_form:
                return "asterisk-form target refused";
            case request_error::authority_form:
                return "authority-form target (CONNECT) refused";
            case request_error::invalid_header_name:
                return "invalid header field name";
            case request_error::whitespace_before_colon:
                return "whitespace between header field name and colon";
            case request_error::control_byte_in_header_value:
                return "control byte in a header field value";
            case request_error::missing_host:
                return "Host header missing";
            case request_error::repeated_host:
                return "Host header repeated";
            case request_error::invalid_host:
                return "invalid Host header";
            case request_error::method_override:
                return "method-override header refused";
            case request_error::content_length_with_transfer_encoding:
                return "Content-Length together with Transfer-Encoding";
            case request_error::repeated_content_length:
                return "Content-Length repeated";
            case request_error::invalid_content_length:
                return "invalid Content-Length";
            case request_error::transfer_encoding_not_chunked:
                return "Transfer-Encoding does not end in a single chunked";
            case request_error::chunked_in_http10:
                return "Transfer-Encoding in an HTTP/1.0 request";
            case request_error::unsupported_transfer_coding:
                return "transfer coding not implemented";
            case request_error::invalid_percent_encoding:
                return "invalid percent-encoding in the request target";
            case request_error::encoded_slash:
                return "encoded slash in the request path";
            case request_error::encoded_backslash:
                return "encoded backslash in the request path";
            case request_error::encoded_nul:
                return "encoded NUL in the request target";
            case request_error::backslash_in_path:
                return "backslash in the request path";
            case request_error::path_parameter:
                return "path parameter (';') in the request path";
            case request_error::path_above_root:
                return "dot segment above the root of the request path";
            case request_error::invalid_utf8:
                return "request path is not valid UTF-8";
            case request_error::fragment_in_target:
                return "fragment in the request target";
        }
        return "unknown request error";
    }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& request_category() noexcept {
    static const request_category_impl category;
    return category;
}

boost::system::error_code make_error_code(request_error e) noexcept {
    return {static_cast<int>(e), request_category()};
}

unsigned status_for(request_error e) noexcept {
    switch (e) {
        case request_error::head_too_large:
            return 431;
        case request_error::unsupported_transfer_coding:
            return 501;
        case request_error::unsupported_version:
            return 505;
        default:
            return 400;
    }
}

unsigned status_for(const boost::system::error_code& ec) noexcept {
    if (ec.category() == request_category()) {
        return status_for(static_cast<request_error>(ec.value()));
    }
    return 400;
}

}  // namespace exportwall::proxy
