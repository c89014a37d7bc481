#pragma once
// The XML filter's fast path (issue 20): a record that lies whole in the bytes fed is read here
// instead of by expat, when it keeps to a subset of XML that covers what CRMs write — elements,
// attributes, text, the five predefined entities, UTF-8 — and is checked as strictly as expat
// checks it. Anything outside the subset (a comment, a processing instruction, CDATA, a
// character reference, a namespace declaration, a non-ASCII name, a carriage return, a control
// character) is not an error here: the record goes to expat, which accepts or refuses it as it
// always did. So this parser may refuse more than expat, never accept more, and for what it
// accepts reports what expat's handlers would have seen (names as namespace triplets, text
// decoded), so the filter's output does not depend on which of the two read a record.
//
// xml_record_parser::parse() reads an element and, if it keeps to the subset, leaves its events
// and its size. When it does not (or the bytes end first), element_end() finds where the element
// ends from its structure alone (tags, quotes, comments, CDATA, processing instructions),
// without checking anything: the bound of the record expat is then given, or a sign that it is
// cut.
// Written for the filter rather than taken from a library: expat (77 instructions a byte on the
// generator's SOAP export, ~120 MB/s) is the floor of every XML export today, and no library
// Debian ships parses a fragment against the namespace bindings of an enclosing document while
// reporting expat's events.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace exportwall::filters::xml_fast {

// Where the element whose start tag begins at `begin` ('<' and a name) ends.
enum class span { found, cut, unsupported };
struct element_span {
    span result = span::unsupported;
    std::size_t size = 0;  // found: one past the '>' of its end tag (or of `<…/>`), from begin
};
// cut: `bytes` ends before the element does. unsupported: a `<!` that opens no comment or CDATA
// section (a DOCTYPE, say): the caller leaves the rest to expat.
[[nodiscard]] element_span element_end(std::string_view bytes);

// Resolves a qualified name to expat's namespace triplet ("uri\x01local\x01prefix",
// "uri\x01local", "local"), NUL-terminated and stable until the bindings change; null when its
// prefix is not bound (expat's error, so the record goes to expat).
class name_resolver {
  public:
    virtual ~name_resolver() = default;
    name_resolver() = default;
    name_resolver(const name_resolver&) = delete;
    name_resolver& operator=(const name_resolver&) = delete;
    // `attribute`: an unprefixed attribute is in no namespace; an unprefixed element is in the
    // default one.
    [[nodiscard]] virtual const char* triplet(std::string_view qname, bool attribute) = 0;
    // Changes whenever a triplet returned before may no longer be valid (the bindings changed).
    [[nodiscard]] virtual std::uint64_t generation() const = 0;
};

struct xml_event {
    enum class kind : std::uint8_t { start, end, text };
    kind k = kind::text;
    const char* name = nullptr;  // start, end: the triplet
    // start: attributes [first_attribute, first_attribute + attributes) of parser.attributes()
    std::uint32_t first_attribute = 0;
    std::uint32_t attributes = 0;
    std::string_view text;  // text: decoded bytes (in the input, or a predefined entity's)
};

class xml_record_parser {
  public:
    // Reads the element `bytes` starts with (what follows it is not looked at), its names
    // resolved by `names`. Its size when it keeps to the subset and is well-formed: events()
    // then holds its events in order, attributes_of() their attributes. 0 when it does not, or
    // when `bytes` ends first: nothing may be concluded (element_end() tells which), and the
    // element goes to expat or waits for its end.
    [[nodiscard]] std::size_t parse(std::string_view bytes, name_resolver& names);

    [[nodiscard]] std::span<const xml_event> events() const { return {events_.data(), used_}; }
    // expat's `atts` for a start event: name, value, …, null.
    [[nodiscard]] const char* const* attributes_of(const xml_event& e);

  private:
    struct attribute {
        const char* name;
        std::string_view qname;
        std::uint32_t value_at;  // in values_, NUL-terminated
    };
    bool start_tag(const char*& p, const char* end, name_resolver& names);
    bool end_tag(const char*& p, const char* end);
    bool text(const char*& p, const char* end);
    bool attribute_value(const char*& p, const char* end, char quote);

    // One more event, in place: the vector only grows (GCC called push_back out of line, ~60
    // instructions an event).
    [[gnu::always_inline]] void add(const xml_event& e) {
        if (used_ == events_.size()) events_.resize(std::max<std::size_t>(64, 2 * used_));
        events_[used_++] = e;
    }

    std::vector<xml_event> events_;  // [0, used_) are this element's
    std::size_t used_ = 0;

    // The names of the last elements' start tags by position (start_tag()).
    struct predicted {
        std::string qname;
        const char* triplet = nullptr;
        std::uint64_t generation = 0;
    };
    static constexpr std::size_t max_predicted = 256;
    std::vector<predicted> predicted_;
    std::size_t starts_ = 0;  // start tags read in this element
    std::vector<attribute> attributes_;
    struct open_element {
        std::string_view qname;
        const char* name;  // its triplet
    };
    std::vector<open_element> open_;

    std::string values_;             // attribute values, each NUL-terminated
    std::vector<const char*> atts_;  // attributes_of()'s array
};

}  // namespace exportwall::filters::xml_fast
