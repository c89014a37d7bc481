// libFuzzer target for the OData query guard. The input is a raw query string (after '?'), run
// through guard_odata under two policies: a contacts route with dotted paths and record rules
// (so $apply and fetchXml are refused), and a flat Dataverse route without record rules and with
// search fields (so $apply, $search and fetchXml are reached). Properties: no crash; a refusal
// forwards nothing and names a field only by its catalogue path; a forwarded query is a fixed
// point (guarding it again forwards the same string), names no field the purpose strips as an
// identifier (outside string literals, as a path's first segment in its scope; in fetchXml, as an
// attribute, order or condition name),
// and selects every rule field.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "config/query/odata.hpp"
#include "config/selection.hpp"
#include "filters/field_set.hpp"

namespace {

using exportwall::config::percent_decode;
using exportwall::config::query::field_policy;
using exportwall::config::query::guard_odata;
using exportwall::config::query::guarded_query;
using exportwall::config::query::not_in_catalogue;
using exportwall::config::query::verdict;
using exportwall::filters::field_set;

struct route {
    field_set allowed;
    field_set catalogue;
    std::vector<std::string> rule_fields;
    std::vector<std::string> search_fields;
    std::vector<std::string> forbidden;  // catalogue fields the purpose strips

    [[nodiscard]] field_policy policy() const {
        field_policy p;
        p.allowed = &allowed;
        p.catalogue = &catalogue;
        p.rule_fields = rule_fields;
        p.search_fields = search_fields;
        p.select_param = "$select";
        p.object_name = "contact";
        return p;
    }
};

const route& contacts() {
    static const route r{
        field_set({"id", "first_name", "last_name", "email", "phone", "lifecycle", "address.city",
                   "address.postcode", "parentcustomerid_account.name"}),
        field_set({"id", "first_name", "last_name", "email", "phone", "lifecycle", "address.city",
                   "address.postcode", "parentcustomerid_account.name", "iban", "birth_date",
                   "notes", "consent.email", "objection.direct_marketing"}),
        {"consent.email", "objection.direct_marketing", "lifecycle"},
        {},
        {"iban", "birth_date", "notes"}};
    return r;
}

const route& flat() {
    static const route r{
        field_set({"contactid", "firstname", "lastname", "emailaddress1", "statecode"}),
        field_set({"contactid", "firstname", "lastname", "emailaddress1", "statecode", "iban",
                   "birthdate", "notes"}),
        {},
        {"firstname", "lastname"},
        {"iban", "birthdate", "notes"}};
    return r;
}

[[noreturn]] void fail(const char* what, std::string_view raw, std::string_view forwarded) {
    std::fprintf(stderr, "property violated: %s\n  input:     %.*s\n  forwarded: %.*s\n", what,
                 static_cast<int>(raw.size()), raw.data(), static_cast<int>(forwarded.size()),
                 forwarded.data());
    std::abort();
}

struct param {
    std::string name;
    std::string value;
};

std::vector<param> params_of(std::string_view query, std::string_view raw) {
    std::vector<param> out;
    std::size_t pos = 0;
    while (pos <= query.size()) {
        auto amp = query.find('&', pos);
        if (amp == std::string_view::npos) amp = query.size();
        std::string_view pair = query.substr(pos, amp - pos);
        pos = amp + 1;
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        if (eq == std::string_view::npos) fail("a forwarded parameter has no value", raw, query);
        param p;
        if (!percent_decode(pair.substr(0, eq), p.name) ||
            !percent_decode(pair.substr(eq + 1), p.value))
            fail("the forwarded query does not decode", raw, query);
        out.push_back(std::move(p));
    }
    return out;
}

bool forbidden(const route& r, std::string_view name) {
    return std::find(r.forbidden.begin(), r.forbidden.end(), name) != r.forbidden.end();
}

// A path's first segment outside '…' strings ('' inside a string toggles twice: the same
// result). Segments after '/' lie below a field the guard found kept: keeping a path keeps all
// below it (a navigation property kept whole), so a name there is the related record's field.
bool names_forbidden_identifier(const route& r, std::string_view text) {
    bool quoted = false;
    for (std::size_t i = 0; i < text.size();) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c == '\'') {
            quoted = !quoted;
            ++i;
        } else if (!quoted && (std::isalpha(c) != 0 || c == '_')) {
            std::size_t j = i;
            while (j < text.size() &&
                   (std::isalnum(static_cast<unsigned char>(text[j])) != 0 || text[j] == '_'))
                ++j;
            bool below = i != 0 && (std::isdigit(static_cast<unsigned char>(text[i - 1])) != 0 ||
                                    text[i - 1] == '/' || text[i - 1] == '.');
            if (!below && forbidden(r, text.substr(i, j - i))) return true;
            i = j;
        } else {
            ++i;
        }
    }
    return false;
}

// Walks the canonical $expand the guard writes: items "nav(options),nav2", options
// "$select=…;$filter=…;$expand=…". The options of a navigation property kept whole may name
// anything of the related record; the others are checked as expressions relative to it.
class expand_walker {
  public:
    expand_walker(const route& r, std::string_view text) : r_(r), s_(text) {}

    bool names_forbidden() { return items("") || i_ != s_.size(); }

  private:
    std::string_view ident() {
        std::size_t j = i_;
        while (j < s_.size() &&
               (std::isalnum(static_cast<unsigned char>(s_[j])) != 0 || s_[j] == '_'))
            ++j;
        auto out = s_.substr(i_, j - i_);
        i_ = j;
        return out;
    }
    bool at(char c) const { return i_ < s_.size() && s_[i_] == c; }

    // Up to the ';' or ')' that ends an option value, outside strings and parentheses.
    std::string_view value() {
        std::size_t start = i_;
        int depth = 0;
        bool quoted = false;
        for (; i_ < s_.size(); ++i_) {
            char c = s_[i_];
            if (c == '\'') quoted = !quoted;
            if (quoted) continue;
            if (c == '(') ++depth;
            if (c == ')' && depth-- == 0) break;
            if (c == ';' && depth == 0) break;
        }
        return s_.substr(start, i_ - start);
    }

    bool items(const std::string& prefix) {
        for (;;) {
            auto nav = ident();
            if (nav.empty()) return true;  // malformed: reported by the caller's end check
            if (prefix.empty() && forbidden(r_, nav)) return true;
            std::string path = prefix + std::string(nav);
            if (at('(')) {
                ++i_;
                if (r_.allowed.keeps(path)) {
                    value();  // the whole related record is kept
                } else if (options(path + ".")) {
                    return true;
                }
                if (!at(')')) return true;
                ++i_;
            }
            if (!at(',')) return false;
            ++i_;
        }
    }

    bool options(const std::string& prefix) {
        for (;;) {
            if (!at('$')) return true;
            ++i_;
            auto name = ident();
            if (!at('=')) return true;
            ++i_;
            if (name == "expand") {
                if (items(prefix)) return true;
            } else if (names_forbidden_identifier(r_, value())) {
                return true;
            }
            if (!at(';')) return false;
            ++i_;
        }
    }

    const route& r_;
    std::string_view s_;
    std::size_t i_ = 0;
};

bool fetch_names_forbidden(const route& r, const pugi::xml_node& node) {
    for (auto a : node.attributes()) {
        std::string_view n = a.name();
        if ((n == "name" || n == "attribute") && forbidden(r, a.value())) return true;
    }
    for (auto child : node.children())
        if (fetch_names_forbidden(r, child)) return true;
    return false;
}

void check(const route& r, std::string_view raw) {
    guarded_query q = guard_odata(r.policy(), raw);
    if (!q.forwarded()) {
        if (!q.query.empty()) fail("a refusal forwards a query", raw, q.query);
        if (q.result == verdict::field_not_permitted && q.field != not_in_catalogue &&
            !std::binary_search(r.catalogue.paths().begin(), r.catalogue.paths().end(), q.field))
            fail("a refusal spells back a name that is no catalogue field", raw, q.field);
        return;
    }

    guarded_query again = guard_odata(r.policy(), q.query);
    if (!again.forwarded()) fail("the forwarded query is refused when guarded again", raw, q.query);
    if (again.query != q.query) fail("the forwarded query is not a fixed point", raw, q.query);

    bool selected = false;
    for (const auto& p : params_of(q.query, raw)) {
        if (p.name == "$skiptoken" || p.name == "$search") continue;  // opaque token, free text
        if (p.name == "fetchXml") {
            pugi::xml_document doc;
            if (!doc.load_buffer(p.value.data(), p.value.size(),
                                 pugi::parse_minimal | pugi::parse_escapes))
                fail("the forwarded fetchXml does not parse", raw, q.query);
            if (fetch_names_forbidden(r, doc))
                fail("fetchXml names a stripped field", raw, q.query);
            for (const auto& f : r.rule_fields)
                if (p.value.find("name=\"" + f + "\"") == std::string::npos)
                    fail("fetchXml misses a rule field", raw, q.query);
            selected = true;
            continue;
        }
        if (p.name == "$expand" ? expand_walker(r, p.value).names_forbidden()
                                : names_forbidden_identifier(r, p.value))
            fail("the forwarded query names a stripped field", raw, q.query);
        if (p.name == "$select") {
            selected = true;
            for (auto f : r.rule_fields) {
                std::replace(f.begin(), f.end(), '.', '/');
                std::string list = "," + p.value + ",";
                if (list.find("," + f + ",") == std::string::npos)
                    fail("the forwarded $select misses a rule field", raw, q.query);
            }
        }
        if (p.name == "$apply" && !r.rule_fields.empty())
            fail("$apply forwarded for a purpose with record rules", raw, q.query);
    }
    if (!r.rule_fields.empty() && !selected)
        fail("a query forwarded without a selection", raw, q.query);
    for (const auto& f : r.rule_fields)
        if (std::find(q.sent.begin(), q.sent.end(), f) == q.sent.end())
            fail("q.sent misses a rule field", raw, q.query);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    check(contacts(), raw);
    check(flat(), raw);
    return 0;
}
