#pragma once
// Test helper: whether a document is well-formed, namespace-aware XML according to expat.

#include <string_view>

#include <expat.h>

namespace exportwall::filters::testing {

inline bool well_formed_xml(std::string_view doc) {
    XML_Parser p = XML_ParserCreateNS("UTF-8", '\x01');
    const bool ok =
        XML_Parse(p, doc.data(), static_cast<int>(doc.size()), XML_TRUE) == XML_STATUS_OK;
    XML_ParserFree(p);
    return ok;
}

}  // namespace exportwall::filters::testing
