#include "filters/xml/expat_parse.hpp"

#include "filters/record_filter.hpp"

namespace exportwall::filters {

boost::system::error_code expat_parse(XML_Parser parser, std::string_view in, bool final,
                                      std::uint64_t& fed, std::uint64_t max_token_bytes,
                                      const boost::system::error_code& pending) {
    fed += in.size();
    const auto status = XML_Parse(parser, in.data(), static_cast<int>(in.size()),
                                  final ? XML_TRUE : XML_FALSE);
    if (status == XML_STATUS_ERROR) {
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
    if (pending) return pending;
    const XML_Index at = XML_GetCurrentByteIndex(parser);
    if (at >= 0 && fed - static_cast<std::uint64_t>(at) > max_token_bytes)
        return filter_error::record_too_large;
    return {};
}

}  // namespace exportwall::filters
