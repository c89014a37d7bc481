#include "filters/xml/xml_record_parser.hpp"

#include <array>
#include <cstring>

#include "common/equal_bytes.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace exportwall::filters::xml_fast {
namespace {

// ASCII name characters of the subset: NCName's without its non-ASCII ranges.
constexpr std::array<bool, 256> make_table(bool start) {
    std::array<bool, 256> t{};
    for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
    t['_'] = true;
    if (!start) {
        for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
        t['.'] = true;
        t['-'] = true;
    }
    return t;
}
constexpr std::array<bool, 256> name_start = make_table(true);
constexpr std::array<bool, 256> name_char = make_table(false);

[[nodiscard]] inline unsigned char byte(const char* p) { return static_cast<unsigned char>(*p); }

// Whitespace inside a tag: the subset leaves a carriage return (line-end normalisation) to expat.
[[nodiscard]] inline bool tag_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

// One NCName of the subset at p; false when there is none.
[[nodiscard]] inline bool nc_name(const char*& p, const char* end) {
    if (p == end || !name_start[byte(p)]) return false;
    ++p;
    while (p != end && name_char[byte(p)]) ++p;
    return true;
}

// A qualified name: NCName, or NCName ':' NCName.
[[nodiscard]] inline bool q_name(const char*& p, const char* end, std::string_view& out) {
    const char* begin = p;
    if (!nc_name(p, end)) return false;
    if (p != end && *p == ':') {
        ++p;
        if (!nc_name(p, end)) return false;
    }
    out = std::string_view(begin, static_cast<std::size_t>(p - begin));
    return true;
}

[[nodiscard]] inline bool in(unsigned char c, unsigned char lo, unsigned char hi) {
    return c >= lo && c <= hi;
}

// One UTF-8 sequence of a character XML allows, starting with a byte >= 0x80: the shortest
// form, no surrogate, nothing past U+10FFFF, not U+FFFE or U+FFFF. Advances past it.
[[nodiscard]] bool utf8_char(const char*& p, const char* end) {
    const unsigned char c = byte(p);
    const auto left = static_cast<std::size_t>(end - p);
    if (in(c, 0xC2, 0xDF)) {
        if (left < 2 || !in(byte(p + 1), 0x80, 0xBF)) return false;
        p += 2;
        return true;
    }
    if (in(c, 0xE0, 0xEF)) {
        if (left < 3) return false;
        const unsigned char c1 = byte(p + 1);
        const unsigned char c2 = byte(p + 2);
        const bool ok1 = c == 0xE0   ? in(c1, 0xA0, 0xBF)
                         : c == 0xED ? in(c1, 0x80, 0x9F)
                                     : in(c1, 0x80, 0xBF);
        if (!ok1 || !in(c2, 0x80, 0xBF)) return false;
        if (c == 0xEF && c1 == 0xBF && (c2 == 0xBE || c2 == 0xBF)) return false;
        p += 3;
        return true;
    }
    if (in(c, 0xF0, 0xF4)) {
        if (left < 4) return false;
        const unsigned char c1 = byte(p + 1);
        const bool ok1 = c == 0xF0   ? in(c1, 0x90, 0xBF)
                         : c == 0xF4 ? in(c1, 0x80, 0x8F)
                                     : in(c1, 0x80, 0xBF);
        if (!ok1 || !in(byte(p + 2), 0x80, 0xBF) || !in(byte(p + 3), 0x80, 0xBF)) return false;
        p += 4;
        return true;
    }
    return false;
}

// The five predefined entities at p ('&'): the character, advancing past ';'. 0: anything
// else (a character reference, an undeclared entity) — expat's to read.
[[nodiscard]] char entity(const char*& p, const char* end) {
    const auto left = static_cast<std::size_t>(end - p);
    const auto is = [&](std::string_view e) {
        return left >= e.size() && std::memcmp(p, e.data(), e.size()) == 0;
    };
    char c = 0;
    std::size_t n = 0;
    if (is("&lt;")) {
        c = '<', n = 4;
    } else if (is("&gt;")) {
        c = '>', n = 4;
    } else if (is("&amp;")) {
        c = '&', n = 5;
    } else if (is("&quot;")) {
        c = '"', n = 6;
    } else if (is("&apos;")) {
        c = '\'', n = 6;
    }
    p += n;
    return c;
}

// The text between markup stops at these: '<', '&', ']' (for "]]>"), and every byte below 0x20
// or from 0x80 (a control, a tab or line feed, a UTF-8 sequence) for a closer look.
[[nodiscard]] inline const char* next_special(const char* p, const char* end) {
#if defined(__SSE2__)
    const __m128i lt = _mm_set1_epi8('<');
    const __m128i amp = _mm_set1_epi8('&');
    const __m128i bracket = _mm_set1_epi8(']');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        // Signed: bytes from 0x80 are negative, below 0x20 too.
        const __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, lt), _mm_cmpeq_epi8(v, amp)),
                         _mm_or_si128(_mm_cmpeq_epi8(v, bracket), _mm_cmplt_epi8(v, space)));
        const int mask = _mm_movemask_epi8(hit);
        if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
        p += 16;
    }
#endif
    while (p != end) {
        const unsigned char c = byte(p);
        if (c == '<' || c == '&' || c == ']' || c < 0x20 || c >= 0x80) return p;
        ++p;
    }
    return p;
}

// Where `needle` next occurs in [p, end), or null.
[[nodiscard]] const char* find(const char* p, const char* end, std::string_view needle) {
    while (p != end) {
        const void* hit = std::memchr(p, needle.front(), static_cast<std::size_t>(end - p));
        if (hit == nullptr) return nullptr;
        p = static_cast<const char*>(hit);
        if (static_cast<std::size_t>(end - p) < needle.size()) return nullptr;
        if (std::memcmp(p, needle.data(), needle.size()) == 0) return p;
        ++p;
    }
    return nullptr;
}

}  // namespace

element_span element_end(std::string_view bytes) {
    const char* const begin = bytes.data();
    const char* const end = begin + bytes.size();
    const char* p = begin;
    std::size_t depth = 0;
    const auto found = [&](const char* after) {
        return element_span{span::found, static_cast<std::size_t>(after - begin)};
    };
    for (;;) {
        const void* lt = std::memchr(p, '<', static_cast<std::size_t>(end - p));
        if (lt == nullptr) return {span::cut, 0};
        p = static_cast<const char*>(lt);
        if (end - p < 2) return {span::cut, 0};
        const char c = p[1];
        if (c == '/') {
            const void* gt = std::memchr(p, '>', static_cast<std::size_t>(end - p));
            if (gt == nullptr) return {span::cut, 0};
            p = static_cast<const char*>(gt) + 1;
            if (depth == 0) return {span::unsupported, 0};  // an end tag before any start
            if (--depth == 0) return found(p);
        } else if (c == '?') {
            const char* close = find(p + 2, end, "?>");
            if (close == nullptr) return {span::cut, 0};
            p = close + 2;
        } else if (c == '!') {
            const auto left = static_cast<std::size_t>(end - p);
            if (left >= 4 && std::memcmp(p, "<!--", 4) == 0) {
                const char* close = find(p + 4, end, "-->");
                if (close == nullptr) return {span::cut, 0};
                p = close + 3;
            } else if (left >= 9 && std::memcmp(p, "<![CDATA[", 9) == 0) {
                const char* close = find(p + 9, end, "]]>");
                if (close == nullptr) return {span::cut, 0};
                p = close + 3;
            } else if (left < 9 && (std::memcmp(p, "<!--", std::min<std::size_t>(left, 4)) == 0 ||
                                    std::memcmp(p, "<![CDATA[", left) == 0)) {
                return {span::cut, 0};
            } else {
                return {span::unsupported, 0};
            }
        } else {
            // A start tag: its '>' is the first outside a quoted attribute value.
            const char* q = p + 1;
            char quote = 0;
            for (;; ++q) {
                if (q == end) return {span::cut, 0};
                const char b = *q;
                if (quote != 0) {
                    if (b == quote) quote = 0;
                } else if (b == '"' || b == '\'') {
                    quote = b;
                } else if (b == '>') {
                    break;
                }
            }
            const bool empty = q[-1] == '/' && q - 1 > p + 1;
            p = q + 1;
            if (!empty) {
                ++depth;
            } else if (depth == 0) {
                return found(p);
            }
        }
        if (depth == 0) return {span::unsupported, 0};  // markup after the element: not one
    }
}

std::size_t xml_record_parser::parse(std::string_view bytes, name_resolver& names) {
    used_ = 0;
    starts_ = 0;
    attributes_.clear();
    open_.clear();
    values_.clear();
    const char* const begin = bytes.data();
    const char* p = begin;
    const char* const end = p + bytes.size();
    if (p == end || *p != '<') return 0;
    if (!start_tag(p, end, names)) return 0;
    while (!open_.empty()) {
        if (p == end) return 0;
        if (*p == '<') {
            if (end - p < 2) return 0;
            if (p[1] == '/') {
                if (!end_tag(p, end)) return 0;
            } else if (!start_tag(p, end, names)) {
                return 0;
            }
        } else if (!text(p, end)) {
            return 0;
        }
    }
    return static_cast<std::size_t>(p - begin);
}

bool xml_record_parser::start_tag(const char*& p, const char* end, name_resolver& names) {
    ++p;  // '<'
    std::string_view qname;
    const char* name = nullptr;
    // Records repeat their structure: the n-th start tag of this element most often has the name
    // the n-th had in the last one. When the bytes say so (and no other name character follows),
    // that name and its triplet are taken without scanning and looking it up again.
    const std::size_t ordinal = starts_++;
    if (ordinal < predicted_.size()) {
        const predicted& guess = predicted_[ordinal];
        const std::size_t n = guess.qname.size();
        if (guess.generation == names.generation() && static_cast<std::size_t>(end - p) > n &&
            common::equal_bytes(std::string_view(p, n), guess.qname) && !name_char[byte(p + n)] &&
            p[n] != ':') {
            qname = std::string_view(p, n);
            name = guess.triplet;
            p += n;
        }
    }
    if (name == nullptr) {
        if (!q_name(p, end, qname)) return false;  // also '!' and '?': comments, CDATA, PIs
        if (qname.substr(0, 4) == "xml:" || qname.substr(0, 6) == "xmlns:") return false;
        name = names.triplet(qname, false);
        if (name == nullptr) return false;
        if (ordinal < max_predicted) {
            if (ordinal >= predicted_.size()) predicted_.resize(ordinal + 1);
            predicted& guess = predicted_[ordinal];
            guess.qname.assign(qname);
            guess.triplet = name;
            guess.generation = names.generation();
        }
    }
    xml_event e;
    e.k = xml_event::kind::start;
    e.name = name;
    e.first_attribute = static_cast<std::uint32_t>(attributes_.size());
    for (;;) {
        const char* before = p;
        while (p != end && tag_space(*p)) ++p;
        if (p == end) return false;
        if (*p == '>') {
            ++p;
            e.attributes = static_cast<std::uint32_t>(attributes_.size()) - e.first_attribute;
            add(e);
            open_.push_back({qname, name});
            return true;
        }
        if (*p == '/') {
            if (end - p < 2 || p[1] != '>') return false;
            p += 2;
            e.attributes = static_cast<std::uint32_t>(attributes_.size()) - e.first_attribute;
            add(e);
            xml_event close;
            close.k = xml_event::kind::end;
            close.name = name;
            add(close);
            return true;
        }
        if (p == before) return false;  // attributes are separated by whitespace
        std::string_view aname;
        if (!q_name(p, end, aname)) return false;
        // Namespace declarations (and the reserved xml prefix) are expat's to handle.
        if (aname == "xmlns" || aname.substr(0, 6) == "xmlns:" || aname.substr(0, 4) == "xml:")
            return false;
        for (std::uint32_t i = e.first_attribute; i < attributes_.size(); ++i) {
            if (attributes_[i].qname == aname) return false;  // repeated
        }
        const char* triplet = names.triplet(aname, true);
        if (triplet == nullptr) return false;
        if (aname.find(':') != std::string_view::npos) {
            // Two prefixes bound to one namespace make the same expanded name: expat refuses it.
            const char* sep = std::strrchr(triplet, '\x01');
            const std::size_t expanded =
                sep != nullptr ? static_cast<std::size_t>(sep - triplet) : std::strlen(triplet);
            for (std::uint32_t i = e.first_attribute; i < attributes_.size(); ++i) {
                const char* other = attributes_[i].name;
                if (std::strncmp(other, triplet, expanded) == 0 &&
                    (other[expanded] == '\x01' || other[expanded] == '\0'))
                    return false;
            }
        }
        while (p != end && tag_space(*p)) ++p;
        if (p == end || *p != '=') return false;
        ++p;
        while (p != end && tag_space(*p)) ++p;
        if (p == end || (*p != '"' && *p != '\'')) return false;
        const char quote = *p++;
        attributes_.push_back({triplet, aname, static_cast<std::uint32_t>(values_.size())});
        if (!attribute_value(p, end, quote)) return false;
    }
}

// The value up to `quote`, decoded into values_ (NUL-terminated): entities replaced, a tab or
// line feed normalised to a space as XML normalises attribute values.
bool xml_record_parser::attribute_value(const char*& p, const char* end, char quote) {
    for (;;) {
        const char* run = p;
        while (p != end) {
            const unsigned char c = byte(p);
            if (c == static_cast<unsigned char>(quote) || c == '<' || c == '&' || c < 0x20 ||
                c >= 0x80)
                break;
            ++p;
        }
        values_.append(run, static_cast<std::size_t>(p - run));
        if (p == end) return false;
        const unsigned char c = byte(p);
        if (c == static_cast<unsigned char>(quote)) {
            ++p;
            values_.push_back('\0');
            return true;
        }
        if (c == '&') {
            const char decoded = entity(p, end);
            if (decoded == 0) return false;
            values_.push_back(decoded);
        } else if (c == '\t' || c == '\n') {
            values_.push_back(' ');
            ++p;
        } else if (c >= 0x80) {
            const char* at = p;
            if (!utf8_char(p, end)) return false;
            values_.append(at, static_cast<std::size_t>(p - at));
        } else {
            return false;  // '<', a carriage return, another control
        }
    }
}

bool xml_record_parser::end_tag(const char*& p, const char* end) {
    p += 2;  // "</"
    // The open element's name, compared as bytes (a longer name fails at the next byte).
    const std::string_view qname = open_.back().qname;
    if (static_cast<std::size_t>(end - p) < qname.size() ||
        !common::equal_bytes(std::string_view(p, qname.size()), qname))
        return false;
    p += qname.size();
    while (p != end && tag_space(*p)) ++p;
    if (p == end || *p != '>') return false;
    ++p;
    xml_event e;
    e.k = xml_event::kind::end;
    e.name = open_.back().name;
    add(e);
    open_.pop_back();
    return true;
}

bool xml_record_parser::text(const char*& p, const char* end) {
    const char* run = p;
    const auto flush = [&](const char* to) {
        if (to != run) {
            xml_event e;
            e.k = xml_event::kind::text;
            e.text = std::string_view(run, static_cast<std::size_t>(to - run));
            add(e);
        }
    };
    for (;;) {
        p = next_special(p, end);
        if (p == end || *p == '<') {
            flush(p);
            return true;
        }
        const unsigned char c = byte(p);
        if (c == '&') {
            flush(p);
            const char decoded = entity(p, end);
            if (decoded == 0) return false;
            static constexpr std::string_view literals = "<>&\"'";
            xml_event e;
            e.k = xml_event::kind::text;
            e.text = literals.substr(literals.find(decoded), 1);
            add(e);
            run = p;
        } else if (c == ']') {
            if (end - p >= 3 && p[1] == ']' && p[2] == '>') return false;  // "]]>" in text
            ++p;
        } else if (c == '\t' || c == '\n') {
            ++p;
        } else if (c >= 0x80) {
            if (!utf8_char(p, end)) return false;
        } else {
            return false;  // a carriage return, another control
        }
    }
}

const char* const* xml_record_parser::attributes_of(const xml_event& e) {
    atts_.clear();
    for (std::uint32_t i = e.first_attribute; i < e.first_attribute + e.attributes; ++i) {
        atts_.push_back(attributes_[i].name);
        atts_.push_back(values_.data() + attributes_[i].value_at);
    }
    atts_.push_back(nullptr);
    return atts_.data();
}

}  // namespace exportwall::filters::xml_fast
