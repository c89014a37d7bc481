#include "filters/xml/xml_escape.hpp"

namespace exportwall::filters {
namespace {

// Appends `s` with every byte `replacement` names replaced by its reference.
template <typename Replacement>
void escape(std::string& out, std::string_view s, Replacement replacement) {
    std::size_t run = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const std::string_view rep = replacement(s[i]);
        if (rep.empty()) continue;
        out.append(s.substr(run, i - run));
        out.append(rep);
        run = i + 1;
    }
    out.append(s.substr(run));
}

std::string_view text_reference(char c) {
    switch (c) {
        case '&':
            return "&amp;";
        case '<':
            return "&lt;";
        case '>':
            return "&gt;";
        case '\r':
            return "&#13;";
        default:
            return {};
    }
}

std::string_view attribute_reference(char c) {
    switch (c) {
        case '"':
            return "&quot;";
        case '\t':
            return "&#9;";
        case '\n':
            return "&#10;";
        default:
            return text_reference(c);
    }
}

}  // namespace

void escape_xml_text(std::string& out, std::string_view s) { escape(out, s, text_reference); }

void escape_xml_attribute(std::string& out, std::string_view s) {
    escape(out, s, attribute_reference);
}

}  // namespace exportwall::filters
