#include "config/xml_source.hpp"

#include <algorithm>

namespace exportwall::config {

std::string load_error::str() const {
    return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
           ": " + message;
}

xml_source::xml_source(std::string file, std::string text)
    : file_(std::move(file)), text_(std::move(text)) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < text_.size(); ++i) {
        if (text_[i] == '\n') line_starts_.push_back(i + 1);
    }
}

bool xml_source::parse(diagnostics& diag) {
    // parse_default keeps offsets usable by offset_debug(); no DTD is ever processed by pugixml
    // beyond skipping it, but a configuration has no business carrying one: refuse it.
    auto result = doc_.load_buffer(text_.data(), text_.size(),
                                   pugi::parse_default | pugi::parse_doctype, pugi::encoding_utf8);
    if (!result) {
        diag.error(locate_offset(result.offset),
                   std::string("XML syntax error: ") + result.description());
        return false;
    }
    for (auto child : doc_.children()) {
        if (child.type() == pugi::node_doctype) {
            diag.error(locate(child), "a DOCTYPE is not allowed in a configuration");
            return false;
        }
    }
    return true;
}

source_location xml_source::locate_offset(std::ptrdiff_t offset) const {
    auto off = static_cast<std::size_t>(std::max<std::ptrdiff_t>(offset, 0));
    off = std::min(off, text_.size());
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), off);
    auto line_index = static_cast<std::size_t>(std::distance(line_starts_.begin(), it)) - 1;
    return {file_, static_cast<int>(line_index + 1),
            static_cast<int>(off - line_starts_[line_index] + 1)};
}

source_location xml_source::locate(const pugi::xml_node& node) const {
    // offset_debug() points at the element name; step back to its '<' so the column is where
    // an editor shows the tag starting.
    auto off = node.offset_debug();
    if (off > 0 && node.type() == pugi::node_element &&
        text_[static_cast<std::size_t>(off - 1)] == '<') {
        --off;
    }
    return locate_offset(off);
}

source_location xml_source::locate(const pugi::xml_node& node,
                                   const pugi::xml_attribute& attr) const {
    // pugixml keeps no offsets for attributes: find `name=` inside the element's start tag.
    auto start = static_cast<std::size_t>(std::max<std::ptrdiff_t>(node.offset_debug(), 0));
    auto end = text_.find('>', start);
    if (end == std::string::npos) end = text_.size();
    std::string_view tag(text_.data() + start, end - start);
    std::string_view name = attr.name();
    for (std::size_t pos = tag.find(name); pos != std::string_view::npos;
         pos = tag.find(name, pos + 1)) {
        bool boundary_before = pos > 0 && (tag[pos - 1] == ' ' || tag[pos - 1] == '\t' ||
                                           tag[pos - 1] == '\n' || tag[pos - 1] == '\r');
        auto after = tag.find_first_not_of(" \t\r\n", pos + name.size());
        if (boundary_before && after != std::string_view::npos && tag[after] == '=') {
            return locate_offset(static_cast<std::ptrdiff_t>(start + pos));
        }
    }
    return locate(node);
}

bool xml_source::check_attributes(const pugi::xml_node& node,
                                  std::initializer_list<std::string_view> allowed,
                                  std::initializer_list<std::string_view> required,
                                  diagnostics& diag) const {
    bool ok = true;
    for (auto attr : node.attributes()) {
        std::string_view name = attr.name();
        if (std::find(allowed.begin(), allowed.end(), name) == allowed.end() &&
            std::find(required.begin(), required.end(), name) == required.end()) {
            diag.error(locate(node, attr),
                       "unknown attribute '" + std::string(name) + "' on <" + node.name() + ">");
            ok = false;
        }
    }
    for (auto name : required) {
        if (!node.attribute(std::string(name).c_str())) {
            diag.error(locate(node), "<" + std::string(node.name()) + "> needs the attribute '" +
                                         std::string(name) + "'");
            ok = false;
        }
    }
    return ok;
}

bool xml_source::check_children(const pugi::xml_node& node,
                                std::initializer_list<std::string_view> allowed,
                                diagnostics& diag) const {
    bool ok = true;
    for (auto child : node.children()) {
        if (child.type() == pugi::node_element) {
            std::string_view name = child.name();
            if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
                diag.error(locate(child),
                           "unknown element <" + std::string(name) + "> in <" + node.name() + ">");
                ok = false;
            }
        } else if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
            std::string_view text = child.value();
            if (text.find_first_not_of(" \t\r\n") != std::string_view::npos) {
                diag.error(locate(node),
                           "<" + std::string(node.name()) + "> takes no text content");
                ok = false;
            }
        }
    }
    return ok;
}

}  // namespace exportwall::config
