#include "filters/xml/expat_parse.hpp"

#include "filters/record_filter.hpp"

namespace exportwall::filters {

namespace {

boost::system::error_code failure(XML_Parser parser, bool final,
                                  const boost::system::error_code& pending) {
    if (pending) return pending;
    switch (XML_GetErrorCode(parser)) {
        case XML_ERROR_NO_ELEMENTS:
        case XML_ERROR_UNCLOSED_TOKEN:
        case XML_ERROR_PARTIAL_CHAR:
        case XML_ERROR_UNCLOSED_CDATA_SECTION:
            return final ? filter_error::truncated : filter_error::malformed;
        default:
            return filter_error::malformed;
    }
}

[[nodiscard]] std::uint64_t held(XML_Parser parser, std::uint64_t fed) {
    const XML_Index at = XML_GetCurrentByteIndex(parser);
    return at >= 0 ? fed - static_cast<std::uint64_t>(at) : 0;
}

}  // namespace

boost::system::error_code expat_parse(XML_Parser parser, std::string_view in, bool final,
                                      std::uint64_t& fed, std::uint64_t max_token_bytes,
                                      const boost::system::error_code& pending) {
    fed += in.size();
    const auto status = XML_Parse(parser, in.data(), static_cast<int>(in.size()),
                                  final ? XML_TRUE : XML_FALSE);
    if (status == XML_STATUS_ERROR) return failure(parser, final, pending);
    if (pending) return pending;
    if (held(parser, fed) > max_token_bytes) {
        // Reparse deferral (expat 2.6's, in Debian 12's security updates) holds back what
        // follows an unfinished token until twice as many bytes have arrived: the bytes held
        // may be several complete tokens, not one too large. Before calling it one, expat
        // reads what it holds, once, without deferral (at most once per max_token_bytes held:
        // no quadratic reparsing). Whether a body is refused then no longer depends on where
        // it was cut.
        XML_SetReparseDeferralEnabled(parser, XML_FALSE);
        const auto again = XML_ParseBuffer(parser, 0, final ? XML_TRUE : XML_FALSE);
        XML_SetReparseDeferralEnabled(parser, XML_TRUE);
        if (again == XML_STATUS_ERROR) return failure(parser, final, pending);
        if (pending) return pending;
        if (held(parser, fed) > max_token_bytes) return filter_error::record_too_large;
    }
    return {};
}

}  // namespace exportwall::filters
