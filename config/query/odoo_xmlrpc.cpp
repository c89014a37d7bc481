#include "config/query/odoo_xmlrpc.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <pugixml.hpp>

#include "common/ascii.hpp"
#include "common/markup_text.hpp"
#include "common/utf8.hpp"
#include "config/query/guard_support.hpp"
#include "config/query/odoo_call.hpp"

namespace exportwall::config::query {
namespace {

namespace json = boost::json;

constexpr std::size_t max_body_bytes = std::size_t{256} * 1024;  // as the JSON-RPC guard
constexpr std::size_t max_depth = 32;  // arrays and structs inside one another
constexpr std::string_view body_parameter = "body";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool all_space(std::string_view s) {
    for (char c : s)
        if (!is_space(c)) return false;
    return true;
}

// A code point XML 1.0 lets a document carry (production [2] Char).
bool xml_char(std::uint32_t cp) {
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
           (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

// The offset of the first byte that is not part of well-formed UTF-8 encoding an XML character,
// or npos.
std::size_t bad_character(std::string_view s) {
    const char* const end = s.data() + s.size();
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = common::utf8_sequence_length(s.data() + i, end);
        if (n == 0 || !xml_char(common::utf8_code_point(s.data() + i, n))) return i;
        i += n;
    }
    return std::string_view::npos;
}

// An entity or character reference at body[at] == '&' that pugixml and expat read alike: one of
// the five predefined entities, or a character reference to an XML character.
bool known_reference(std::string_view body, std::size_t at) {
    const auto semi = body.find(';', at);
    if (semi == std::string_view::npos || semi - at > 12) return false;
    const std::string_view name = body.substr(at + 1, semi - at - 1);
    if (name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "apos")
        return true;
    if (name.size() < 2 || name.front() != '#') return false;
    const bool hex = name[1] == 'x';
    const std::string_view digits = name.substr(hex ? 2 : 1);
    std::uint32_t cp = 0;
    auto [end, err] =
        std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
    return !digits.empty() && err == std::errc() && end == digits.data() + digits.size() &&
           xml_char(cp);
}

// What pugixml would read differently from Odoo's parser (expat), or not at all, refused before
// it parses: bytes that are no UTF-8 XML characters, a document type declaration, and references
// other than the predefined and character ones (pugixml leaves `&name;` as text; expat refuses
// it). CDATA sections are text: their '&' is no reference.
bool scan(guarded_query& q, std::string_view body) {
    if (auto bad = bad_character(body); bad != std::string_view::npos)
        return fail_unsupported(q, body_parameter, bad,
                                "a byte that is not UTF-8 or not an XML character");
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] == '<' && body.substr(i, 9) == "<![CDATA[") {
            const auto end = body.find("]]>", i + 9);
            if (end == std::string_view::npos) break;  // pugixml refuses it
            i = end + 2;
        } else if (body[i] == '<' && common::iequals_ascii(body.substr(i, 9), "<!DOCTYPE")) {
            return fail_unsupported(q, body_parameter, i,
                                    "a document type declaration is not accepted");
        } else if (body[i] == '&' && !known_reference(body, i)) {
            return fail_unsupported(q, body_parameter, i,
                                    "only the predefined entities and character references");
        }
    }
    return true;
}

std::size_t offset_of(const pugi::xml_node& n) {
    const std::ptrdiff_t off = n.offset_debug();
    return off < 0 ? 0 : static_cast<std::size_t>(off);
}

// Reads XML-RPC values into JSON values; every refusal points at the element it is about.
class value_reader {
  public:
    explicit value_reader(guarded_query& q) : q_(q) {}

    // `n` is a <value>.
    std::optional<json::value> read(const pugi::xml_node& n, std::size_t depth) {
        if (n.first_attribute()) return refuse(n, "XML-RPC elements take no attributes");
        pugi::xml_node typed;
        std::string text;
        for (pugi::xml_node c : n.children()) {
            if (c.type() == pugi::node_element) {
                if (typed) return refuse(c, "a <value> holds one typed element");
                typed = c;
            } else if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
                text += c.value();
            } else {
                return refuse(c, "comments and processing instructions are not accepted");
            }
        }
        if (!typed) return json::value(json::string(text));  // an untyped value is a string
        if (!all_space(text)) return refuse(n, "text beside a typed element");
        if (typed.first_attribute()) return refuse(typed, "XML-RPC elements take no attributes");
        const std::string_view type = typed.name();
        if (type == "array" || type == "struct") {
            if (depth >= max_depth) return refuse(typed, "arrays and structs nested too deeply");
            return type == "array" ? read_array(typed, depth + 1) : read_struct(typed, depth + 1);
        }
        std::optional<std::string> content = leaf_text(typed);
        if (!content) return std::nullopt;
        const std::string& s = *content;
        if (type == "string") return json::value(json::string(s));
        if (type == "int" || type == "i4" || type == "i8") {
            const std::size_t sign = !s.empty() && (s.front() == '+' || s.front() == '-') ? 1 : 0;
            const bool plain =
                s.size() > sign && s.find_first_not_of("0123456789", sign) == std::string::npos;
            // from_chars reads a '-' but no '+'.
            const std::string_view digits =
                std::string_view(s).substr(!s.empty() && s.front() == '+' ? 1 : 0);
            std::int64_t v = 0;
            auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
            if (!plain || err != std::errc() || end != digits.data() + digits.size())
                return refuse(typed, "an integer is an optional sign and digits (64 bits)");
            return json::value(v);
        }
        if (type == "boolean") {
            if (s != "0" && s != "1") return refuse(typed, "a boolean is 0 or 1");
            return json::value(s == "1");
        }
        if (type == "double") {
            double v = 0;
            const bool plain =
                !s.empty() && s.find_first_not_of("0123456789+-.eE") == std::string::npos;
            auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v);
            if (!plain || err != std::errc() || end != s.data() + s.size() || !std::isfinite(v))
                return refuse(typed, "a double is a finite decimal number");
            return json::value(v);
        }
        if (type == "nil") {
            if (!s.empty() || typed.first_child()) return refuse(typed, "<nil/> is empty");
            return json::value(nullptr);
        }
        return refuse(typed,
                      "a value is a string, int, i4, i8, boolean, double, nil, array or struct");
    }

  private:
    std::optional<json::value> refuse(const pugi::xml_node& n, const std::string& what) {
        (void)fail_unsupported(q_, body_parameter, offset_of(n), what);
        return std::nullopt;
    }

    // The text of a scalar element (no element children).
    std::optional<std::string> leaf_text(const pugi::xml_node& n) {
        std::string out;
        for (pugi::xml_node c : n.children()) {
            if (c.type() != pugi::node_pcdata && c.type() != pugi::node_cdata) {
                (void)fail_unsupported(q_, body_parameter, offset_of(c),
                                       "a scalar value holds markup");
                return std::nullopt;
            }
            out += c.value();
        }
        return out;
    }

    // The element children of `n` named `name`, with only whitespace beside them.
    bool children(const pugi::xml_node& n, std::string_view name,
                  std::vector<pugi::xml_node>& out) {
        for (pugi::xml_node c : n.children()) {
            if (c.type() == pugi::node_element && c.name() == name && !c.first_attribute()) {
                out.push_back(c);
                continue;
            }
            const bool space = (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) &&
                               all_space(c.value());
            if (!space) {
                (void)fail_unsupported(q_, body_parameter, offset_of(c),
                                       "<" + std::string(n.name()) + "> holds only <" +
                                           std::string(name) + "> elements");
                return false;
            }
        }
        return true;
    }

    std::optional<json::value> read_array(const pugi::xml_node& n, std::size_t depth) {
        std::vector<pugi::xml_node> data;
        if (!children(n, "data", data)) return std::nullopt;
        if (data.size() != 1) return refuse(n, "an <array> holds one <data>");
        std::vector<pugi::xml_node> values;
        if (!children(data.front(), "value", values)) return std::nullopt;
        json::array out;
        for (const auto& v : values) {
            auto item = read(v, depth);
            if (!item) return std::nullopt;
            out.push_back(std::move(*item));
        }
        return json::value(std::move(out));
    }

    std::optional<json::value> read_struct(const pugi::xml_node& n, std::size_t depth) {
        std::vector<pugi::xml_node> members;
        if (!children(n, "member", members)) return std::nullopt;
        json::object out;
        for (const auto& m : members) {
            pugi::xml_node name;
            pugi::xml_node value;
            for (pugi::xml_node c : m.children()) {
                const bool space =
                    (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) &&
                    all_space(c.value());
                if (space) continue;
                const bool element = c.type() == pugi::node_element && !c.first_attribute();
                if (element && !name && !value && std::string_view(c.name()) == "name") {
                    name = c;
                } else if (element && name && !value && std::string_view(c.name()) == "value") {
                    value = c;
                } else {
                    return refuse(c, "a <member> is one <name> and one <value>");
                }
            }
            if (!value) return refuse(m, "a <member> is one <name> and one <value>");
            auto key = leaf_text(name);
            if (!key) return std::nullopt;
            // Python's xmlrpc keeps the last of two members of one name, the check here the
            // first: a repeated name is refused, as a repeated JSON key is.
            if (out.contains(*key)) return refuse(name, "a <struct> repeats a member name");
            auto item = read(value, depth);
            if (!item) return std::nullopt;
            out.emplace(*key, std::move(*item));
        }
        return json::value(std::move(out));
    }

    guarded_query& q_;
};

// Writes JSON values back as XML-RPC values.
void write_value(std::string& out, const json::value& v) {
    out += "<value>";
    switch (v.kind()) {
        case json::kind::string:
            out += "<string>";
            common::append_xml_text(out, std::string_view(v.get_string()));
            out += "</string>";
            break;
        case json::kind::int64: {
            const std::int64_t n = v.get_int64();
            const bool narrow = n >= std::numeric_limits<std::int32_t>::min() &&
                                n <= std::numeric_limits<std::int32_t>::max();
            out += narrow ? "<int>" : "<i8>";
            out += std::to_string(n);
            out += narrow ? "</int>" : "</i8>";
            break;
        }
        case json::kind::uint64:
            out += "<i8>" + std::to_string(v.get_uint64()) + "</i8>";
            break;
        case json::kind::double_: {
            std::array<char, 32> buf{};
            auto [end, err] = std::to_chars(buf.data(), buf.data() + buf.size(), v.get_double());
            (void)err;  // 32 bytes hold any double's shortest form
            out += "<double>";
            out.append(buf.data(), end);
            out += "</double>";
            break;
        }
        case json::kind::bool_:
            out += v.get_bool() ? "<boolean>1</boolean>" : "<boolean>0</boolean>";
            break;
        case json::kind::null:
            out += "<nil/>";
            break;
        case json::kind::array:
            out += "<array><data>";
            for (const auto& item : v.get_array()) write_value(out, item);
            out += "</data></array>";
            break;
        case json::kind::object:
            out += "<struct>";
            for (const auto& m : v.get_object()) {
                out += "<member><name>";
                common::append_xml_text(out, std::string_view(m.key()));
                out += "</name>";
                write_value(out, m.value());
                out += "</member>";
            }
            out += "</struct>";
            break;
    }
    out += "</value>";
}

void write_param(std::string& out, const json::value& v) {
    out += "<param>";
    write_value(out, v);
    out += "</param>";
}

class call_reader {
  public:
    call_reader(const field_policy& policy, guarded_query& q) : policy_(policy), q_(q) {}

    bool run(const pugi::xml_document& doc) {
        pugi::xml_node call;
        for (pugi::xml_node n : doc.children()) {
            switch (n.type()) {
                case pugi::node_declaration:
                    if (!declaration(n)) return false;
                    break;
                case pugi::node_element:
                    if (call) return refuse(n, "more than one document element");
                    call = n;
                    break;
                case pugi::node_pcdata:
                case pugi::node_cdata:
                    if (!all_space(n.value())) return refuse(n, "text outside the methodCall");
                    break;
                default:
                    return refuse(n, "comments and processing instructions are not accepted");
            }
        }
        if (!call || std::string_view(call.name()) != "methodCall" || call.first_attribute())
            return refuse(call, "the document is not an XML-RPC <methodCall>");
        pugi::xml_node method;
        pugi::xml_node params;
        for (pugi::xml_node n : call.children()) {
            const bool space = (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata) &&
                               all_space(n.value());
            if (space) continue;
            const bool element = n.type() == pugi::node_element && !n.first_attribute();
            if (element && !method && std::string_view(n.name()) == "methodName") {
                method = n;
            } else if (element && method && !params && std::string_view(n.name()) == "params") {
                params = n;
            } else {
                return refuse(n, "a <methodCall> is one <methodName> and one <params>");
            }
        }
        if (!params) return refuse(call, "a <methodCall> is one <methodName> and one <params>");
        if (!method.first_child() || method.first_child() != method.last_child() ||
            method.first_child().type() != pugi::node_pcdata ||
            std::string_view(method.child_value()) != "execute_kw")
            return refuse(method, "the method must be execute_kw");

        value_reader values(q_);
        json::array args;
        for (pugi::xml_node p : params.children()) {
            const bool space = (p.type() == pugi::node_pcdata || p.type() == pugi::node_cdata) &&
                               all_space(p.value());
            if (space) continue;
            if (p.type() != pugi::node_element || std::string_view(p.name()) != "param" ||
                p.first_attribute())
                return refuse(p, "<params> holds only <param> elements");
            pugi::xml_node value;
            for (pugi::xml_node c : p.children()) {
                const bool blank =
                    (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) &&
                    all_space(c.value());
                if (blank) continue;
                if (c.type() != pugi::node_element || std::string_view(c.name()) != "value" ||
                    value)
                    return refuse(c, "a <param> holds one <value>");
                value = c;
            }
            if (!value) return refuse(p, "a <param> holds one <value>");
            auto v = values.read(value, 0);
            if (!v) return false;
            args.push_back(std::move(*v));
            arg_nodes_.push_back(value);
        }

        const odoo_refusal refuse_arg = [this](const std::string& pointer,
                                               const std::string& what) {
            return fail_unsupported(q_, body_parameter, locate(pointer),
                                    "/params" + pointer + ": " + what);
        };
        odoo_search_read checked;
        if (!check_odoo_search_read(policy_, q_, args, refuse_arg, checked)) return false;
        if (bad_character(policy_.rpc_database) != std::string_view::npos ||
            bad_character(policy_.rpc_password) != std::string_view::npos)
            return refuse(call, "this route's rpc-login cannot be written in XML");

        std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
        out += "<methodCall><methodName>execute_kw</methodName><params>";
        write_param(out, json::value(json::string(policy_.rpc_database)));
        write_param(out, json::value(checked.uid));
        write_param(out, json::value(json::string(policy_.rpc_password)));
        write_param(out, json::value(json::string(policy_.object_name)));
        write_param(out, json::value("search_read"));
        json::array positional;
        positional.emplace_back(std::move(checked.domain));
        write_param(out, json::value(std::move(positional)));
        write_param(out, json::value(std::move(checked.kwargs)));
        out += "</params></methodCall>\n";
        q_.body = std::move(out);
        return true;
    }

  private:
    bool refuse(const pugi::xml_node& n, const std::string& what) {
        return fail_unsupported(q_, body_parameter, n ? offset_of(n) : 0, what);
    }

    // The XML declaration: version, and an encoding the body is read in (UTF-8).
    bool declaration(const pugi::xml_node& n) {
        for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute()) {
            const std::string_view name = a.name();
            const std::string_view value = a.value();
            const bool ok = (name == "version" && value == "1.0") ||
                            (name == "encoding" && (common::iequals_ascii(value, "UTF-8") ||
                                                    common::iequals_ascii(value, "US-ASCII"))) ||
                            (name == "standalone" && (value == "yes" || value == "no"));
            if (!ok) return refuse(n, "the XML declaration says version 1.0 and UTF-8 only");
        }
        return true;
    }

    // The typed child of a <value> (its only element child), or an empty node.
    static pugi::xml_node typed_child(const pugi::xml_node& value) {
        for (pugi::xml_node c : value.children())
            if (c.type() == pugi::node_element) return c;
        return {};
    }

    // The byte offset of the value a pointer into the argument list names ("/5/0/2"), as far as
    // the pointer can be followed; 0 for the list itself.
    std::size_t locate(const std::string& pointer) const {
        std::vector<std::string> tokens;
        for (std::size_t at = 0; at < pointer.size();) {
            const auto next = pointer.find('/', at + 1);
            tokens.push_back(pointer.substr(
                at + 1, next == std::string::npos ? std::string::npos : next - at - 1));
            at = next == std::string::npos ? pointer.size() : next;
        }
        if (tokens.empty()) return 0;
        pugi::xml_node node;
        for (std::size_t t = 0; t < tokens.size(); ++t) {
            const std::string& token = tokens[t];
            if (t == 0) {
                std::size_t index = 0;
                auto [end, err] = std::from_chars(token.data(), token.data() + token.size(), index);
                if (err != std::errc() || end != token.data() + token.size() ||
                    index >= arg_nodes_.size())
                    return 0;
                node = arg_nodes_[index];
                continue;
            }
            pugi::xml_node typed = typed_child(node);
            pugi::xml_node found;
            if (std::string_view(typed.name()) == "array") {
                std::size_t index = 0;
                auto [end, err] = std::from_chars(token.data(), token.data() + token.size(), index);
                if (err != std::errc() || end != token.data() + token.size()) break;
                for (pugi::xml_node v : typed.child("data").children("value")) {
                    if (index-- == 0) {
                        found = v;
                        break;
                    }
                }
            } else if (std::string_view(typed.name()) == "struct") {
                for (pugi::xml_node m : typed.children("member")) {
                    if (token == m.child("name").child_value()) {
                        found = m.child("value");
                        break;
                    }
                }
            }
            if (!found) break;
            node = found;
        }
        return offset_of(node);
    }

    const field_policy& policy_;
    guarded_query& q_;
    std::vector<pugi::xml_node> arg_nodes_;  // each <param>'s <value>, in order
};

}  // namespace

guarded_query guard_odoo_xmlrpc(const field_policy& policy, std::string_view raw_query,
                                std::string_view body) {
    guarded_query q;
    if (!raw_query.empty()) {
        (void)fail_unsupported(q, "(query)", 0, "an Odoo call takes its query in the body");
        return q;
    }
    if (body.size() > max_body_bytes) {
        (void)fail_unsupported(q, body_parameter, max_body_bytes,
                               "the call is larger than 256 KiB");
        return q;
    }
    if (!scan(q, body)) return q;
    pugi::xml_document doc;
    const unsigned flags = pugi::parse_cdata | pugi::parse_escapes | pugi::parse_eol |
                           pugi::parse_ws_pcdata | pugi::parse_declaration | pugi::parse_comments |
                           pugi::parse_pi | pugi::parse_doctype;
    const pugi::xml_parse_result parsed =
        doc.load_buffer(body.data(), body.size(), flags, pugi::encoding_utf8);
    if (!parsed) {
        (void)fail_unsupported(q, body_parameter,
                               parsed.offset < 0 ? 0 : static_cast<std::size_t>(parsed.offset),
                               "the call is not well-formed XML");
        return q;
    }
    // XML-RPC has no comments or processing instructions: refused wherever they are.
    const pugi::xml_node markup = doc.find_node([](const pugi::xml_node& n) {
        return n.type() == pugi::node_comment || n.type() == pugi::node_pi;
    });
    if (markup) {
        (void)fail_unsupported(q, body_parameter, offset_of(markup),
                               "comments and processing instructions are not accepted");
        return q;
    }
    call_reader reader(policy, q);
    if (!reader.run(doc)) {
        q.body.clear();
        q.query.clear();
    }
    return q;
}

}  // namespace exportwall::config::query
