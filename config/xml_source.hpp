#pragma once
// A configuration file held in memory with pugixml, plus the means to report problems as
// `file:line:col: message` and to refuse unknown elements and attributes.

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "config/settings.hpp"

namespace exportwall::config {

struct load_error {
    source_location where;
    std::string message;
    // "file:line:col: message"
    [[nodiscard]] std::string str() const;
};

class diagnostics {
  public:
    void error(source_location where, std::string message) {
        errors_.push_back({std::move(where), std::move(message)});
    }
    [[nodiscard]] bool ok() const { return errors_.empty(); }
    [[nodiscard]] const std::vector<load_error>& errors() const { return errors_; }

  private:
    std::vector<load_error> errors_;
};

class xml_source {
  public:
    xml_source(std::string file, std::string text);

    // Parses the text. A syntax error is reported with its position; false then.
    [[nodiscard]] bool parse(diagnostics& diag);

    [[nodiscard]] const pugi::xml_document& document() const { return doc_; }
    [[nodiscard]] const std::string& file() const { return file_; }
    [[nodiscard]] const std::string& text() const { return text_; }

    // Position of an element's start tag, or of an attribute inside it.
    [[nodiscard]] source_location locate(const pugi::xml_node& node) const;
    [[nodiscard]] source_location locate(const pugi::xml_node& node,
                                         const pugi::xml_attribute& attr) const;
    [[nodiscard]] source_location locate_offset(std::ptrdiff_t offset) const;

    // Reports every attribute of `node` not in `allowed` and every missing one in `required`.
    // Returns false when anything was reported.
    bool check_attributes(const pugi::xml_node& node,
                          std::initializer_list<std::string_view> allowed,
                          std::initializer_list<std::string_view> required,
                          diagnostics& diag) const;
    // Reports every child element of `node` whose name is not in `allowed`, and any text content.
    bool check_children(const pugi::xml_node& node, std::initializer_list<std::string_view> allowed,
                        diagnostics& diag) const;

  private:
    std::string file_;
    std::string text_;
    std::vector<std::size_t> line_starts_;
    pugi::xml_document doc_;
};

}  // namespace exportwall::config
