#pragma once
// Feeding expat, for the filters that read XML (xml_filter, xmlrpc_filter): one chunk in, what
// its status means for a filter out. Internal to filters/.

#include <cstdint>
#include <string_view>

#include <boost/system/error_code.hpp>
#include <expat.h>

namespace exportwall::filters {

// Parses `in` (`final`: the body's last chunk) and adds its size to `fed`. `pending` is the error
// the filter's handlers stopped the parser with; it is read after the call and wins. A document
// cut short is `truncated` at its end and `malformed` before it; an incomplete token (a start
// tag, a name, a comment) that expat holds in its own buffer beyond `max_token_bytes` is
// `record_too_large`, so memory stays bounded like a record. Bytes expat holds back by reparse
// deferral are read without it before that is concluded: only one token over the limit is.
[[nodiscard]] boost::system::error_code expat_parse(XML_Parser parser, std::string_view in,
                                                   bool final, std::uint64_t& fed,
                                                   std::uint64_t max_token_bytes,
                                                   const boost::system::error_code& pending);

}  // namespace exportwall::filters
