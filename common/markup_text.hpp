#pragma once
// XML and HTML escaping: one home for every piece of markup exportwall writes — the XML and
// XML-RPC filters' output, the SOAP and XML-RPC bodies the query rewriters send upstream, the
// review and RoPA pages, and the demo CRM's and contact generator's XML.

#include <string>
#include <string_view>

namespace exportwall::common {

namespace markup_text_detail {

// Appends `s` with every byte `reference` names replaced by that reference; runs of bytes written
// as they are go out in one append. Callers pass a lambda, not the function itself: a function
// pointer was called per byte, not inlined (~16 instructions a byte of every XML text written).
template <typename Reference>
void append_escaped(std::string& out, std::string_view s, Reference reference) {
    std::size_t run = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const std::string_view rep = reference(s[i]);
        if (rep.empty()) continue;
        out.append(s.substr(run, i - run));
        out.append(rep);
        run = i + 1;
    }
    out.append(s.substr(run));
}

// What XML and HTML both escape everywhere.
constexpr std::string_view markup_reference(char c) {
    switch (c) {
        case '&':
            return "&amp;";
        case '<':
            return "&lt;";
        case '>':
            return "&gt;";
        default:
            return {};
    }
}

constexpr std::string_view xml_text_reference(char c) {
    // A literal CR would be read back as LF (XML 1.0 §2.11).
    return c == '\r' ? "&#13;" : markup_reference(c);
}

constexpr std::string_view xml_attribute_reference(char c) {
    switch (c) {
        case '"':
            return "&quot;";
        case '\t':  // attribute-value normalisation (XML 1.0 §3.3.3) would fold these to spaces
            return "&#9;";
        case '\n':
            return "&#10;";
        default:
            return xml_text_reference(c);
    }
}

constexpr std::string_view html_reference(char c) {
    switch (c) {
        case '"':
            return "&quot;";
        case '\'':
            return "&#39;";
        default:
            return markup_reference(c);
    }
}

}  // namespace markup_text_detail

// XML character data: & < > always, and CR as a character reference.
inline void append_xml_text(std::string& out, std::string_view s) {
    markup_text_detail::append_escaped(
        out, s, [](char c) { return markup_text_detail::xml_text_reference(c); });
}

// An XML attribute value in double quotes: also '"', and TAB and LF as references.
inline void append_xml_attribute(std::string& out, std::string_view s) {
    markup_text_detail::append_escaped(
        out, s, [](char c) { return markup_text_detail::xml_attribute_reference(c); });
}

// HTML text or a quoted attribute value: & < > " and '.
inline void append_html_escaped(std::string& out, std::string_view s) {
    markup_text_detail::append_escaped(
        out, s, [](char c) { return markup_text_detail::html_reference(c); });
}

[[nodiscard]] inline std::string html_escaped(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    append_html_escaped(out, s);
    return out;
}

[[nodiscard]] inline std::string xml_text_escaped(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    append_xml_text(out, s);
    return out;
}

}  // namespace exportwall::common
