#pragma once
// XML escaping for the filters that write XML (xml_filter, xmlrpc_filter): one home, so both
// write character data and attribute values the same way.

#include <string>
#include <string_view>

namespace exportwall::filters {

// Character data: & < > always, and CR as a reference (a literal CR would be normalised away).
void escape_xml_text(std::string& out, std::string_view s);

// Attribute values: also the quote and the whitespace that attribute normalisation would fold.
void escape_xml_attribute(std::string& out, std::string_view s);

}  // namespace exportwall::filters
