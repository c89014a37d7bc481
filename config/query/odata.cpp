#include "config/query/odata.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <pugixml.hpp>

#include "config/query/guard_support.hpp"

namespace exportwall::config::query {
namespace {

constexpr std::size_t max_value_bytes = 8 * 1024;      // one option's decoded value
constexpr std::size_t max_fetch_xml_bytes = 64 * 1024;  // a fetchXml document
constexpr int max_depth = 32;                           // nested expressions and expansions

// ---------------------------------------------------------------------------------------------
// Lexer: the tokens of the OData ABNF's common expression syntax that this guard understands.

enum class tok : std::uint8_t {
    end,
    ident,     // odataIdentifier, keywords and function names ([A-Za-z_][A-Za-z0-9_]*)
    option,    // $select … inside $expand: '$' followed by an identifier
    string,    // '…' with '' for a quote; text is the literal as written, quotes and all
    number,    // integer, decimal or double literal
    literal,   // guid, date, dateTimeOffset: validated shapes, written back as they are
    punct,     // ( ) , / . : ; = *
};

// A token's text is a view of the option's decoded value: no string per token.
struct token {
    tok kind = tok::end;
    std::string_view text;
    std::size_t pos = 0;
};

// ASCII only, without the locale lookup of <cctype> (a query is parsed per request).
bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool ident_start(char c) { return alpha(c) || c == '_'; }
bool ident_char(char c) { return alpha(c) || (c >= '0' && c <= '9') || c == '_'; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool punct(char c) {
    return c == '(' || c == ')' || c == ',' || c == '/' || c == '.' || c == ':' || c == ';' ||
           c == '=' || c == '*' || c == '-';
}

// Length of a match of `shape` at s[i] ('9' a digit, 'x' a hex digit, any other byte itself), or 0.
std::size_t match_shape(std::string_view s, std::size_t i, std::string_view shape) {
    if (s.size() - i < shape.size()) return 0;
    for (std::size_t k = 0; k < shape.size(); ++k) {
        char c = s[i + k];
        char want = shape[k];
        bool ok = want == '9' ? digit(c) : want == 'x' ? hex(c) : c == want;
        if (!ok) return 0;
    }
    return shape.size();
}

// dateTimeOffset after the date: T hh:mm[:ss[.fff]] (Z | ±hh:mm).
std::size_t match_time_part(std::string_view s, std::size_t i) {
    std::size_t n = match_shape(s, i, "T99:99");
    if (n == 0) return 0;
    std::size_t j = i + n;
    if (match_shape(s, j, ":99")) {
        j += 3;
        if (j < s.size() && s[j] == '.') {
            std::size_t k = j + 1;
            while (k < s.size() && digit(s[k])) ++k;
            if (k == j + 1) return 0;
            j = k;
        }
    }
    if (j < s.size() && s[j] == 'Z') return j + 1 - i;
    if (j < s.size() && (s[j] == '+' || s[j] == '-') && match_shape(s, j + 1, "99:99"))
        return j + 6 - i;
    return 0;
}

// Splits `s` into tokens (views of `s`); false with `error_at` on a byte no token starts with.
bool tokenize(std::string_view s, std::vector<token>& out, std::size_t& error_at) {
    out.clear();
    out.reserve(s.size() / 4 + 8);  // about one token per four bytes in a typical expression
    std::size_t i = 0;
    while (i < s.size()) {
        char c = s[i];
        if (c == ' ') {
            ++i;
            continue;
        }
        token t;
        t.pos = i;
        if (c == '\'') {
            // Written back as it is: the canonical form of a string literal doubles every quote
            // in its content, which is exactly how the lexer found it.
            t.kind = tok::string;
            std::size_t j = i + 1;
            for (;; ++j) {
                if (j >= s.size()) {
                    error_at = i;
                    return false;
                }
                if (s[j] == '\'') {
                    if (j + 1 < s.size() && s[j + 1] == '\'') {
                        ++j;
                        continue;
                    }
                    break;
                }
            }
            t.text = s.substr(i, j + 1 - i);
            i = j + 1;
        } else if (std::size_t g = match_shape(s, i, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
                   g != 0 && (i + g == s.size() || !ident_char(s[i + g]))) {
            t.kind = tok::literal;
            t.text = s.substr(i, g);
            i += g;
        } else if (std::size_t d = match_shape(s, i, "9999-99-99"); d != 0) {
            t.kind = tok::literal;
            std::size_t n = d + match_time_part(s, i + d);
            t.text = s.substr(i, n);
            i += n;
        } else if (digit(c)) {
            t.kind = tok::number;
            std::size_t j = i;
            while (j < s.size() && digit(s[j])) ++j;
            if (j < s.size() && s[j] == '.') {
                ++j;
                if (j >= s.size() || !digit(s[j])) {
                    error_at = j;
                    return false;
                }
                while (j < s.size() && digit(s[j])) ++j;
            }
            if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
                ++j;
                if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
                if (j >= s.size() || !digit(s[j])) {
                    error_at = j;
                    return false;
                }
                while (j < s.size() && digit(s[j])) ++j;
            }
            if (j < s.size() && ident_char(s[j])) {  // 12abc, 1.5M: no such literal here
                error_at = j;
                return false;
            }
            t.text = s.substr(i, j - i);
            i = j;
        } else if (ident_start(c) || (c == '$' && i + 1 < s.size() && ident_start(s[i + 1]))) {
            t.kind = c == '$' ? tok::option : tok::ident;
            std::size_t j = i + 1;
            while (j < s.size() && ident_char(s[j])) ++j;
            t.text = s.substr(i, j - i);
            i = j;
        } else if (punct(c)) {
            t.kind = tok::punct;
            t.text = s.substr(i, 1);
            ++i;
        } else {
            error_at = i;
            return false;
        }
        out.push_back(t);
    }
    token end;
    end.pos = s.size();
    out.push_back(end);
    return true;
}

// ---------------------------------------------------------------------------------------------
// The functions of OData's canonical function set that read only their arguments (URL
// conventions §5.1.1.5–5.1.1.11), with their arity. Type functions (cast, isof), geo functions
// and every vendor function (Microsoft.Dynamics.CRM.*) are not understood, so refused.
struct function_arity {
    std::string_view name;
    unsigned min;
    unsigned max;
};
constexpr std::array<function_arity, 27> functions{{
    {"contains", 2, 2},    {"startswith", 2, 2},  {"endswith", 2, 2},
    {"length", 1, 1},      {"indexof", 2, 2},     {"substring", 2, 3},
    {"tolower", 1, 1},     {"toupper", 1, 1},     {"trim", 1, 1},
    {"concat", 2, 2},      {"matchesPattern", 2, 2}, {"year", 1, 1},
    {"month", 1, 1},       {"day", 1, 1},         {"hour", 1, 1},
    {"minute", 1, 1},      {"second", 1, 1},      {"fractionalseconds", 1, 1},
    {"date", 1, 1},        {"time", 1, 1},        {"totaloffsetminutes", 1, 1},
    {"now", 0, 0},         {"maxdatetime", 0, 0}, {"mindatetime", 0, 0},
    {"round", 1, 1},       {"floor", 1, 1},       {"ceiling", 1, 1},
}};

const function_arity* find_function(std::string_view name) {
    for (const auto& f : functions)
        if (f.name == name) return &f;
    return nullptr;
}

constexpr std::array<std::string_view, 7> comparison_ops{"eq", "ne", "lt", "le", "gt", "ge", "has"};

// Appends a dotted catalogue path as OData writes it ('/' between segments).
void append_odata_path(std::string& out, std::string_view dotted) {
    const std::size_t at = out.size();
    out += dotted;
    std::replace(out.begin() + static_cast<std::ptrdiff_t>(at), out.end(), '.', '/');
}

// True when `name` is, in any case, a field of the catalogue, the allow-list or the record rules,
// or the first segment of one. A name the client introduces (a computed or aggregate alias, a
// lambda variable) must not be: a CRM that resolved it as the property, or a response filter
// that trusted the name, would let a value of a stripped field through under an allowed name.
bool names_a_field(const field_policy& policy, std::string_view name) {
    auto clashes = [name](const auto& fields) {
        return std::any_of(fields.begin(), fields.end(), [name](const std::string& f) {
            std::string_view head(f);
            return iequals_ascii(head.substr(0, head.find('.')), name);
        });
    };
    return (policy.catalogue != nullptr && clashes(policy.catalogue->paths())) ||
           (policy.allowed != nullptr && clashes(policy.allowed->paths())) ||
           clashes(policy.rule_fields);
}

// ---------------------------------------------------------------------------------------------
// The expression parser. Every production writes its canonical form into `out`; the forwarded
// query is made only of these forms, never of the client's text.

struct scope {
    std::string prefix;  // "" at the top; "nav." inside $expand=nav(…)
    std::vector<std::pair<std::string, std::string>> lambda_vars;  // variable → collection path
};

// A member path as the tokens it was read from: `count` identifiers at tokens first, first + 2,
// …, with one separator ('/' or '.') between each. A path is then no vector of strings.
struct member_path {
    std::size_t first = 0;
    std::size_t count = 0;
};

class expression_parser {
  public:
    expression_parser(const field_policy& policy, guarded_query& q, std::string_view parameter,
                      const std::vector<token>& tokens, const std::vector<std::string>& aliases,
                      scope s)
        : policy_(policy),
          q_(q),
          parameter_(parameter),
          toks_(tokens),
          aliases_(aliases),
          scope_(std::move(s)) {}

    [[nodiscard]] std::size_t at() const { return at_; }
    void seek(std::size_t at) { at_ = at; }
    [[nodiscard]] const token& peek(std::size_t ahead = 0) const {
        return toks_[std::min(at_ + ahead, toks_.size() - 1)];
    }
    [[nodiscard]] bool at_punct(char c, std::size_t ahead = 0) const {
        const token& t = peek(ahead);
        return t.kind == tok::punct && t.text.size() == 1 && t.text[0] == c;
    }
    [[nodiscard]] bool at_word(std::string_view w) const {
        const token& t = peek();
        return t.kind == tok::ident && t.text == w;
    }
    [[nodiscard]] bool at_end() const { return peek().kind == tok::end; }

    bool expect_punct(char c) {
        if (!at_punct(c)) return unexpected(std::string("expected '") + c + "'");
        ++at_;
        return true;
    }

    bool unexpected(const std::string& what) {
        if (q_.result != verdict::forward) return false;
        return fail_unsupported(q_, parameter_, peek().pos,
                                what + " at position " + std::to_string(peek().pos) + " of " +
                                    std::string(parameter_));
    }

    // boolCommonExpr and every other commonExpr: the precedence climb of URL conventions §5.1.1.
    bool expression(std::string& out, use how) {
        if (++depth_ > max_depth) return unexpected("expression nested too deeply");
        bool ok = or_expr(out, how);
        --depth_;
        return ok;
    }

    // A member path: segments joined by '/' (or '.', this project's catalogue spelling), with
    // a lambda (any/all) at its end. The path's field is checked as read by `how`.
    bool member(std::string& out, use how) {
        member_path m{at_, 1};
        ++at_;
        while ((at_punct('/') || at_punct('.')) && peek(1).kind == tok::ident) {
            if ((peek(1).text == "any" || peek(1).text == "all") && at_punct('(', 2) &&
                at_punct('/'))
                return lambda(m, out, how);
            at_ += 2;
            ++m.count;
        }
        if (at_punct('/') || at_punct('.')) return unexpected("expected a property name");
        if (at_punct('(')) return unexpected("unknown function or key segment");
        // Namespace.Enum'Value' and other qualified typed literals.
        if (peek().kind == tok::string) return unexpected("typed literals are not supported");
        if (!resolve(m, how)) return false;
        // The segments are identifiers the lexer validated: written back as a '/' path.
        for (std::size_t i = 0; i < m.count; ++i) {
            if (i != 0) out += '/';
            out += segment(m, i);
        }
        return true;
    }

  private:
    [[nodiscard]] std::string_view segment(member_path m, std::size_t i) const {
        return toks_[m.first + 2 * i].text;
    }

    // Checks the catalogue path of a member path as read by `how`; false (and q_ set) when
    // refused. A lambda variable stands for an element of its collection.
    bool resolve(member_path m, use how) {
        // A reference to an alias ($compute, $apply compute/aggregate) is never forwarded: a
        // server binds a name to a declared property before a computed one, so the alias of an
        // allowed expression would read a real column of that name that the catalogue does not
        // list. The client writes the expression itself.
        std::string_view head = segment(m, 0);
        if (scope_.prefix.empty() &&
            std::find(aliases_.begin(), aliases_.end(), head) != aliases_.end())
            return unexpected("'" + std::string(head) +
                              "' is an alias; a query may not read an alias, write its expression");
        return check_read(q_, policy_, path_of(m), how);
    }

    // The catalogue path a member path names in the current scope (no check): the token itself
    // for one segment at the top, else joined in path_ (valid until the next call).
    [[nodiscard]] std::string_view path_of(member_path m) {
        std::string_view base = scope_.prefix;
        std::size_t first = 0;
        for (const auto& [var, collection] : scope_.lambda_vars) {
            if (var == segment(m, 0)) {
                base = collection;
                first = 1;
            }
        }
        if (base.empty() && m.count == first + 1) return segment(m, first);
        path_.assign(base);
        for (std::size_t i = first; i < m.count; ++i) {
            if (!path_.empty() && path_.back() != '.') path_.push_back('.');
            path_ += segment(m, i);
        }
        return path_;
    }

    bool lambda(member_path m, std::string& out, use how) {
        // segments / (any|all) ( [var : expr] )
        ++at_;  // '/'
        std::string_view op = peek().text;
        ++at_;
        ++at_;  // '('
        // A lambda's collection must be one the purpose keeps or enters (as $expand's navigation
        // property): the body's references through the variable are checked as paths below it,
        // and the variable alone reads a whole element, so only a collection kept whole.
        std::string collection(path_of(m));
        if (!selectable(policy_, collection))
            return fail_field(q_, policy_, collection, use::filter);
        for (std::size_t i = 0; i < m.count; ++i) {
            out += segment(m, i);
            out += '/';
        }
        out += op;
        out += '(';
        if (at_punct(')') && op == "any") {
            ++at_;
            out += ')';
            return true;
        }
        if (peek().kind != tok::ident || !at_punct(':', 1))
            return unexpected("expected a lambda variable");
        std::string_view var = peek().text;
        if (names_a_field(policy_, var)) {
            fail_field(q_, policy_, var, use::alias);
            q_.detail = "lambda variable '" + q_.field + "' names a field; it must be a new name";
            return false;
        }
        at_ += 2;
        scope_.lambda_vars.emplace_back(std::string(var), std::move(collection));
        out += var;
        out += ':';
        bool ok = expression(out, how);
        scope_.lambda_vars.pop_back();
        if (!ok) return false;
        if (!expect_punct(')')) return false;
        out += ')';
        return true;
    }

    bool or_expr(std::string& out, use how) {
        if (!and_expr(out, how)) return false;
        while (at_word("or")) {
            ++at_;
            out += " or ";
            if (!and_expr(out, how)) return false;
        }
        return true;
    }

    bool and_expr(std::string& out, use how) {
        if (!not_expr(out, how)) return false;
        while (at_word("and")) {
            ++at_;
            out += " and ";
            if (!not_expr(out, how)) return false;
        }
        return true;
    }

    bool not_expr(std::string& out, use how) {
        if (at_word("not")) {
            ++at_;
            out += "not ";
            if (++depth_ > max_depth) return unexpected("expression nested too deeply");
            bool ok = not_expr(out, how);
            --depth_;
            return ok;
        }
        return comparison(out, how);
    }

    // Writes ` word ` for an infix operator at the cursor and moves past it.
    void infix(std::string& out) {
        out += ' ';
        out += peek().text;
        out += ' ';
        ++at_;
    }

    bool comparison(std::string& out, use how) {
        if (!additive(out, how)) return false;
        if (peek().kind == tok::ident) {
            std::string_view w = peek().text;
            if (std::find(comparison_ops.begin(), comparison_ops.end(), w) !=
                comparison_ops.end()) {
                infix(out);
                return additive(out, how);
            }
            if (w == "in") {
                ++at_;
                out += " in ";
                if (!at_punct('(')) return unexpected("expected a list after 'in'");
                return primary(out, how);
            }
        }
        return true;
    }

    bool additive(std::string& out, use how) {
        if (!multiplicative(out, how)) return false;
        while (at_word("add") || at_word("sub")) {
            infix(out);
            if (!multiplicative(out, how)) return false;
        }
        return true;
    }

    bool multiplicative(std::string& out, use how) {
        if (!unary(out, how)) return false;
        while (at_word("mul") || at_word("div") || at_word("divby") || at_word("mod")) {
            infix(out);
            if (!unary(out, how)) return false;
        }
        return true;
    }

    bool unary(std::string& out, use how) {
        if (at_punct('-')) {
            ++at_;
            out += '-';
            if (++depth_ > max_depth) return unexpected("expression nested too deeply");
            bool ok = unary(out, how);
            --depth_;
            return ok;
        }
        return primary(out, how);
    }

    bool primary(std::string& out, use how) {
        const token& t = peek();
        switch (t.kind) {
            case tok::string:  // the literal as written is its canonical form (see tokenize)
            case tok::number:
            case tok::literal:
                out += t.text;
                ++at_;
                return true;
            case tok::ident:
                break;
            case tok::punct:
                if (at_punct('(')) return parenthesised(out, how);
                return unexpected("unexpected '" + std::string(t.text) + "'");
            case tok::option:
                return unexpected("unsupported '$' name");
            case tok::end:
                return unexpected("expression ends early");
        }
        if (t.text == "true" || t.text == "false" || t.text == "null") {
            out += t.text;
            ++at_;
            return true;
        }
        if (at_punct('(', 1)) return function(out, how);
        // duration'P1D', binary'…', geography'…': the lexer reads the quote as a string token.
        if (peek(1).kind == tok::string) return unexpected("typed literals are not supported");
        return member(out, how);
    }

    bool parenthesised(std::string& out, use how) {
        ++at_;  // '('
        out += '(';
        if (++depth_ > max_depth) return unexpected("expression nested too deeply");
        for (bool first = true;; first = false) {
            if (!first) out += ',';
            if (!expression(out, how)) return false;
            if (at_punct(',')) {
                ++at_;
                continue;
            }
            break;
        }
        --depth_;
        if (!expect_punct(')')) return false;
        out += ')';
        return true;
    }

    bool function(std::string& out, use how) {
        const token& name = peek();
        const function_arity* f = find_function(name.text);
        if (f == nullptr) return unexpected("function '" + shown(name.text) + "' is not supported");
        out += f->name;
        out += '(';
        at_ += 2;  // name '('
        unsigned n = 0;
        if (!at_punct(')')) {
            for (;;) {
                if (n != 0) out += ',';
                if (!expression(out, how)) return false;
                ++n;
                if (!at_punct(',')) break;
                ++at_;
            }
        }
        if (n < f->min || n > f->max)
            return unexpected("function '" + std::string(f->name) + "' takes " +
                              std::to_string(f->min) +
                              (f->min == f->max ? "" : " to " + std::to_string(f->max)) +
                              " arguments");
        if (!expect_punct(')')) return false;
        out += ')';
        return true;
    }

    // A client-written name is shown only when it is a plain short identifier.
    static std::string shown(std::string_view name) {
        if (name.size() > 64) return "(name)";
        return std::string(name);
    }

    const field_policy& policy_;
    guarded_query& q_;
    std::string_view parameter_;
    const std::vector<token>& toks_;
    const std::vector<std::string>& aliases_;
    scope scope_;
    std::string path_;  // path_of's joined path, reused
    std::size_t at_ = 0;
    int depth_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The system query options.

constexpr std::array<std::string_view, 12> system_options{
    "$select", "$filter",  "$orderby", "$top",       "$skip",     "$count",
    "$expand", "$search",  "$compute", "$apply",     "$skiptoken", "fetchXml"};

// A client-written parameter name may be shown when it is a short token.
std::string shown_parameter(std::string_view name) {
    bool plain = !name.empty() && name.size() <= 64 &&
                 std::all_of(name.begin(), name.end(), [](char c) {
                     return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                            std::string_view("$_.-[]@").find(c) != std::string_view::npos;
                 });
    return plain ? std::string(name) : std::string("(parameter)");
}

class odata_guard {
  public:
    odata_guard(const field_policy& policy, guarded_query& q) : policy_(policy), q_(q) {}

    bool run(std::string_view raw_query) {
        std::vector<query_param_view> params;
        std::string detail;
        if (!split_query(raw_query, params, decoded_, detail))
            return fail_invalid(q_, std::move(detail));
        std::size_t given = 0;
        for (const auto& p : params) {
            std::size_t option = system_options.size();
            for (std::size_t k = 0; k < system_options.size(); ++k)
                if (iequals_ascii(p.name, system_options[k])) option = k;
            if (option == system_options.size()) {
                std::string shown = shown_parameter(p.name);
                return fail_unsupported(
                    q_, shown, 0,
                    p.name.starts_with("@")
                        ? "parameter aliases are not supported"
                        : "query option '" + shown + "' is not an OData option this route accepts");
            }
            const std::string canonical(system_options[option]);
            if (p.value.size() > (canonical == "fetchXml" ? max_fetch_xml_bytes : max_value_bytes))
                return fail_unsupported(q_, canonical, max_value_bytes, canonical + " is too long");
            if (options_[option])
                return fail_invalid(q_, "query option '" + canonical + "' appears more than once");
            options_[option] = p.value;
            ++given;
        }
        if (auto fetch = value_of("fetchXml")) {
            if (given != 1)
                return fail_unsupported(q_, "fetchXml", 0,
                                        "fetchXml cannot be combined with other query options");
            return fetch_xml(std::string(*fetch));
        }
        // $compute first: its aliases may be read by the other options.
        if (!compute()) return false;
        if (!apply()) return false;
        if (!select()) return false;
        std::string filter, orderby, expand, search;
        if (!option_expression("$filter", use::filter, filter)) return false;
        if (!order_by(orderby)) return false;
        if (!expand_option(expand)) return false;
        if (!search_option(search)) return false;
        std::string top, skip, count, skiptoken;
        if (!integer_option("$top", top) || !integer_option("$skip", skip)) return false;
        if (auto c = value_of("$count")) {
            if (*c != "true" && *c != "false")
                return fail_unsupported(q_, "$count", 0, "$count takes true or false");
            count = *c;
        }
        if (auto t = value_of("$skiptoken")) {
            if (!opaque_token(*t))
                return fail_unsupported(q_, "$skiptoken", 0,
                                        "$skiptoken must be an opaque token of letters, digits and "
                                        "-._~' (a paging cookie holds conditions this guard "
                                        "cannot check)");
            skiptoken = *t;
        }

        // Re-serialise in a fixed order.
        std::string& out = q_.query;
        out.reserve(raw_query.size() + 64);
        if (!compute_.empty()) append_param(out, "$compute", compute_);
        if (!apply_.empty()) append_param(out, "$apply", apply_);
        if (!apply_present_) {
            // Sorted: the selection is a set, and re-guarding the forwarded query (where a rule
            // field the purpose also keeps is a kept field) must give the same string.
            std::vector<std::string_view> sent(q_.sent.begin(), q_.sent.end());
            std::sort(sent.begin(), sent.end());
            std::string list;
            append_select_list(list, sent, "");
            append_param(out, "$select", list);
        }
        if (!filter.empty()) append_param(out, "$filter", filter);
        if (!orderby.empty()) append_param(out, "$orderby", orderby);
        if (!expand.empty()) append_param(out, "$expand", expand);
        if (!search.empty()) append_param(out, "$search", search);
        if (!top.empty()) append_param(out, "$top", top);
        if (!skip.empty()) append_param(out, "$skip", skip);
        if (!count.empty()) append_param(out, "$count", count);
        if (!skiptoken.empty()) append_param(out, "$skiptoken", skiptoken);
        return true;
    }

  private:
    // A server's paging bookmark ("20", "'AAEAAA=='") rather than a Dataverse paging cookie,
    // whose <cookie> markup names attributes and values the CRM compares against.
    static bool opaque_token(std::string_view t) {
        return !t.empty() && t.size() <= 1024 && std::all_of(t.begin(), t.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                   std::string_view("-._~'").find(c) != std::string_view::npos;
        });
    }

    // The decoded value of system option `name`, when the query gives it.
    [[nodiscard]] std::optional<std::string_view> value_of(std::string_view name) const {
        for (std::size_t k = 0; k < system_options.size(); ++k)
            if (system_options[k] == name) return options_[k];
        return std::nullopt;
    }

    bool tokens_of(std::string_view parameter, std::string_view value, std::vector<token>& toks) {
        std::size_t error_at = 0;
        if (!tokenize(value, toks, error_at))
            return fail_unsupported(q_, parameter, error_at,
                                    "unreadable text at position " + std::to_string(error_at) +
                                        " of " + std::string(parameter));
        return true;
    }

    // The value of `name` as one expression read as `how`, canonical in `out`.
    bool option_expression(std::string_view name, use how, std::string& out) {
        auto v = value_of(name);
        if (!v) return true;
        if (!tokens_of(name, *v, toks_)) return false;
        out.reserve(v->size());
        expression_parser p(policy_, q_, name, toks_, aliases_, {});
        if (!p.expression(out, how)) return false;
        if (!p.at_end()) return p.unexpected("unexpected text");
        return true;
    }

    bool order_by(std::string& out) {
        auto v = value_of("$orderby");
        if (!v) return true;
        if (!tokens_of("$orderby", *v, toks_)) return false;
        expression_parser p(policy_, q_, "$orderby", toks_, aliases_, {});
        if (!order_list(p, out)) return false;
        if (!p.at_end()) return p.unexpected("unexpected text");
        return true;
    }

    static bool order_list(expression_parser& p, std::string& out) {
        for (bool first = true;; first = false) {
            if (!first) out += ',';
            if (!p.expression(out, use::order)) return false;
            if (p.at_word("asc") || p.at_word("desc")) {
                out += ' ';
                out += p.peek().text;
                p.seek(p.at() + 1);
            }
            if (!p.at_punct(',')) return true;
            p.seek(p.at() + 1);
        }
    }

    bool integer_option(std::string_view name, std::string& out) {
        auto v = value_of(name);
        if (!v) return true;
        if (v->empty() || v->size() > 10 ||
            !std::all_of(v->begin(), v->end(), [](char c) { return digit(c); }))
            return fail_unsupported(q_, name, 0,
                                    std::string(name) + " takes a non-negative integer");
        out = *v;
        return true;
    }

    // A name a computed value or an aggregate may take: an identifier that is no field of the
    // catalogue, the allow-list or the record rules (in any case), so no rename can put a value
    // under a name the response filter or a record rule trusts.
    bool check_alias(const token& t, std::string_view parameter) {
        if (t.kind != tok::ident) {
            fail_unsupported(q_, parameter, t.pos, "expected an alias");
            return false;
        }
        bool clash = names_a_field(policy_, t.text) ||
                     std::find(aliases_.begin(), aliases_.end(), t.text) != aliases_.end();
        if (clash) {
            fail_field(q_, policy_, t.text, use::alias);
            q_.detail = "alias '" + q_.field + "' names a field; an alias must be a new name";
            return false;
        }
        aliases_.emplace_back(t.text);
        return true;
    }

    // $compute=expr as alias[,expr as alias…]
    bool compute() {
        auto v = value_of("$compute");
        if (!v) return true;
        if (!tokens_of("$compute", *v, toks_)) return false;
        expression_parser p(policy_, q_, "$compute", toks_, aliases_, {});
        if (!compute_list(p, "$compute", compute_)) return false;
        if (!p.at_end()) return p.unexpected("unexpected text");
        return true;
    }

    bool compute_list(expression_parser& p, std::string_view parameter, std::string& out) {
        for (bool first = true;; first = false) {
            if (!first) out += ',';
            if (!p.expression(out, use::compute)) return false;
            if (!p.at_word("as")) return p.unexpected("expected 'as'");
            p.seek(p.at() + 1);
            if (!check_alias(p.peek(), parameter)) return false;
            out += " as ";
            out += p.peek().text;
            p.seek(p.at() + 1);
            if (!p.at_punct(',')) return true;
            p.seek(p.at() + 1);
        }
    }

    // $apply: filter, compute, groupby and aggregate transformations (Data Aggregation
    // Extension §3). An aggregate answers with rows that are no person's record, so the record
    // rules cannot run on them: refused whenever the purpose has record rules.
    bool apply() {
        auto v = value_of("$apply");
        if (!v) return true;
        apply_present_ = true;
        if (!policy_.rule_fields.empty())
            return fail_unsupported(q_, "$apply", 0,
                                    "$apply returns aggregated rows, which cannot carry the fields "
                                    "this purpose's record rules read");
        // No $select is forwarded after $apply; the response filter still keeps only these.
        resolve_selection(q_, policy_, false, {});
        if (!tokens_of("$apply", *v, toks_)) return false;
        expression_parser p(policy_, q_, "$apply", toks_, aliases_, {});
        for (bool first = true;; first = false) {
            if (!first) apply_ += '/';
            if (p.peek().kind != tok::ident || !p.at_punct('(', 1))
                return p.unexpected("expected a transformation");
            std::string_view name = p.peek().text;
            p.seek(p.at() + 2);
            apply_ += name;
            apply_ += '(';
            bool ok = false;
            if (name == "filter") {
                ok = p.expression(apply_, use::filter);
            } else if (name == "compute") {
                ok = compute_list(p, "$apply", apply_);
            } else if (name == "aggregate") {
                ok = aggregate_list(p);
            } else if (name == "groupby") {
                ok = group_by(p);
            } else {
                return p.unexpected("transformation '" +
                                    std::string(name.size() <= 32 ? name : "?") +
                                    "' is not supported");
            }
            if (!ok || !p.expect_punct(')')) return false;
            apply_ += ')';
            if (p.at_end()) return true;
            if (!p.expect_punct('/')) return false;
        }
    }

    bool aggregate_list(expression_parser& p) {
        for (bool first = true;; first = false) {
            if (!first) apply_ += ',';
            if (p.peek().kind == tok::option && p.peek().text == "$count") {
                apply_ += "$count";
                p.seek(p.at() + 1);
            } else {
                if (!p.expression(apply_, use::aggregate)) return false;
                if (!p.at_word("with")) return p.unexpected("expected 'with'");
                p.seek(p.at() + 1);
                std::string_view m = p.peek().text;
                if (p.peek().kind != tok::ident ||
                    (m != "sum" && m != "min" && m != "max" && m != "average" &&
                     m != "countdistinct"))
                    return p.unexpected("unsupported aggregation method");
                apply_ += " with ";
                apply_ += m;
                p.seek(p.at() + 1);
            }
            if (!p.at_word("as")) return p.unexpected("expected 'as'");
            p.seek(p.at() + 1);
            if (!check_alias(p.peek(), "$apply")) return false;
            apply_ += " as ";
            apply_ += p.peek().text;
            p.seek(p.at() + 1);
            if (!p.at_punct(',')) return true;
            p.seek(p.at() + 1);
        }
    }

    bool group_by(expression_parser& p) {
        if (!p.expect_punct('(')) return false;
        apply_ += '(';
        for (bool first = true;; first = false) {
            if (!first) apply_ += ',';
            if (p.peek().kind != tok::ident) return p.unexpected("expected a property");
            std::string path;
            if (!p.member(path, use::group)) return false;
            apply_ += path;
            if (!p.at_punct(',')) break;
            p.seek(p.at() + 1);
        }
        if (!p.expect_punct(')')) return false;
        apply_ += ')';
        if (p.at_punct(',')) {
            p.seek(p.at() + 1);
            if (!p.at_word("aggregate") || !p.at_punct('(', 1))
                return p.unexpected("expected aggregate(");
            p.seek(p.at() + 2);
            apply_ += ",aggregate(";
            if (!aggregate_list(p) || !p.expect_punct(')')) return false;
            apply_ += ')';
        }
        return true;
    }

    // $select: property paths or '*'. A path the purpose neither keeps nor enters is dropped
    // from the selection (and listed as stripped); the record rules' fields are always added.
    bool select() {
        auto v = value_of("$select");
        if (apply_present_) {
            if (v) return fail_unsupported(q_, "$select", 0, "$select cannot follow $apply");
            return true;
        }
        std::vector<std::string> selected;
        bool present = v.has_value();
        if (v) {
            if (!tokens_of("$select", *v, toks_)) return false;
            expression_parser p(policy_, q_, "$select", toks_, aliases_, {});
            if (!select_items(p, "", selected, present)) return false;
            if (!p.at_end()) return p.unexpected("unexpected text");
        }
        resolve_selection(q_, policy_, present, selected);
        return true;
    }

    // Reads `a/b, c, *` into catalogue paths under `prefix`; '*' means no selection.
    bool select_items(expression_parser& p, const std::string& prefix,
                      std::vector<std::string>& selected, bool& present) {
        if (p.at_end() || p.at_punct(';') || p.at_punct(')')) return true;
        for (;;) {
            if (p.at_punct('*')) {
                present = false;
                p.seek(p.at() + 1);
            } else {
                if (p.peek().kind != tok::ident) return p.unexpected("expected a property");
                std::string path = prefix;
                path += p.peek().text;
                p.seek(p.at() + 1);
                while ((p.at_punct('/') || p.at_punct('.')) && p.peek(1).kind == tok::ident) {
                    path += '.';
                    path += p.peek(1).text;
                    p.seek(p.at() + 2);
                }
                if (p.at_punct('(')) return p.unexpected("select options are not supported");
                if (std::find(aliases_.begin(), aliases_.end(), path) == aliases_.end())
                    selected.push_back(std::move(path));
            }
            if (!p.at_punct(',')) return true;
            p.seek(p.at() + 1);
        }
    }

    // Appends `paths` below `prefix` as an OData selection list ("a,b/c").
    template <class Paths>
    static void append_select_list(std::string& out, const Paths& paths, std::string_view prefix) {
        bool first = true;
        for (std::string_view f : paths) {
            if (!first) out += ',';
            first = false;
            append_odata_path(out, f.substr(prefix.size()));
        }
    }

    // $expand=nav[(options)],…: the navigation property must be one the purpose keeps or
    // enters; inside, $select, $filter, $orderby, $top, $skip, $count and $expand.
    bool expand_option(std::string& out) {
        auto v = value_of("$expand");
        if (!v) return true;
        if (!tokens_of("$expand", *v, toks_)) return false;
        expression_parser p(policy_, q_, "$expand", toks_, aliases_, {});
        if (!expand_items(p, toks_, "", out, 0)) return false;
        if (!p.at_end()) return p.unexpected("unexpected text");
        return true;
    }

    bool expand_items(expression_parser& p, const std::vector<token>& toks,
                      const std::string& prefix, std::string& out, int depth) {
        if (depth > 4) return p.unexpected("expansions nested too deeply");
        for (bool first = true;; first = false) {
            if (!first) out += ',';
            if (p.peek().kind != tok::ident) return p.unexpected("expected a navigation property");
            std::string nav = prefix;
            nav += p.peek().text;
            p.seek(p.at() + 1);
            if (p.at_punct('/') || p.at_punct('.'))
                return p.unexpected("navigation paths are not supported; nest $expand");
            if (!selectable(policy_, nav)) {
                fail_field(q_, policy_, nav, use::expand);
                return false;
            }
            append_odata_path(out, std::string_view(nav).substr(prefix.size()));
            std::string options;
            if (p.at_punct('(')) {
                p.seek(p.at() + 1);
                if (!expand_options(p, toks, nav + '.', options, depth)) return false;
                if (!p.expect_punct(')')) return false;
            } else {
                std::vector<std::string> none;
                add_nested_select(nav + '.', false, none, options);
            }
            // A navigation property kept whole needs no options: "nav()" is no valid expandItem.
            if (!options.empty()) {
                out += '(';
                out += options;
                out += ')';
            }
            if (!p.at_punct(',')) return true;
            p.seek(p.at() + 1);
        }
    }

    // The nested selection: what the client asked for that the purpose keeps, or everything
    // the purpose keeps under the navigation property.
    void add_nested_select(const std::string& prefix, bool present,
                           const std::vector<std::string>& asked, std::string& options) {
        if (policy_.allowed != nullptr &&
            policy_.allowed->keeps(std::string_view(prefix).substr(0, prefix.size() - 1)) &&
            !present)
            return;  // the whole navigation property is kept
        std::vector<std::string_view> kept;  // views of `asked` or of the allowed paths
        kept.reserve(asked.size());
        if (present) {
            for (const auto& f : asked) {
                if (selectable(policy_, f))
                    kept.emplace_back(f);
                else if (std::string shown = shown_name(policy_, f);
                         std::find(q_.stripped.begin(), q_.stripped.end(), shown) ==
                         q_.stripped.end())
                    q_.stripped.push_back(shown);
            }
        }
        if (kept.empty()) {
            for (const auto& f : policy_.allowed->paths())
                if (f.starts_with(prefix)) kept.emplace_back(f);
        }
        if (!options.empty()) options += ';';
        options += "$select=";
        append_select_list(options, kept, prefix);
    }

    // Appends `;name=value` (a nested option of an expandItem).
    static void append_nested(std::string& out, std::string_view name, std::string_view value) {
        out += ';';
        out += name;
        out += '=';
        out += value;
    }

    bool expand_options(expression_parser& p, const std::vector<token>& toks,
                        const std::string& prefix, std::string& options, int depth) {
        std::vector<std::string> asked;
        bool select_present = false;
        std::vector<std::string_view> seen;
        std::string rest;
        while (!p.at_punct(')')) {
            if (p.peek().kind != tok::option || !p.at_punct('=', 1))
                return p.unexpected("expected a nested query option");
            std::string_view name = p.peek().text;
            if (std::find(seen.begin(), seen.end(), name) != seen.end())
                return p.unexpected("nested option repeated");
            seen.push_back(name);
            p.seek(p.at() + 2);
            std::string part;
            if (name == "$select") {
                bool present = true;
                if (!select_items(p, prefix, asked, present)) return false;
                select_present = present;
            } else if (name == "$filter" || name == "$orderby") {
                expression_parser nested(policy_, q_, "$expand", toks, aliases_, {prefix, {}});
                nested.seek(p.at());
                if (name == "$filter") {
                    if (!nested.expression(part, use::filter)) return false;
                } else if (!order_list(nested, part)) {
                    return false;
                }
                p.seek(nested.at());
                append_nested(rest, name, part);
            } else if (name == "$top" || name == "$skip") {
                if (p.peek().kind != tok::number ||
                    !std::all_of(p.peek().text.begin(), p.peek().text.end(), digit) ||
                    p.peek().text.size() > 10)
                    return p.unexpected(std::string(name) + " takes a non-negative integer");
                append_nested(rest, name, p.peek().text);
                p.seek(p.at() + 1);
            } else if (name == "$count") {
                if (!p.at_word("true") && !p.at_word("false"))
                    return p.unexpected("$count takes true or false");
                append_nested(rest, name, p.peek().text);
                p.seek(p.at() + 1);
            } else if (name == "$expand") {
                if (!expand_items(p, toks, prefix, part, depth + 1)) return false;
                append_nested(rest, name, part);
            } else {
                return p.unexpected("nested option '" +
                                    std::string(name.size() <= 32 ? name : "?") +
                                    "' is not supported");
            }
            if (p.at_punct(';')) {
                p.seek(p.at() + 1);
                continue;
            }
            if (!p.at_punct(')')) return p.unexpected("expected ';' or ')'");
        }
        add_nested_select(prefix, select_present, asked, options);
        options += rest;
        if (!options.empty() && options.front() == ';') options.erase(0, 1);
        return true;
    }

    // $search: a full-text search reads fields no reference names. Only on a route that
    // declares the fields it searches, and only when the purpose keeps every one of them.
    bool search_option(std::string& out) {
        auto v = value_of("$search");
        if (!v) return true;
        if (policy_.search_fields.empty())
            return fail_unsupported(q_, "$search", 0,
                                    "full-text search reads fields no query names; this route "
                                    "declares no search-fields");
        for (const auto& f : policy_.search_fields)
            if (!check_read(q_, policy_, f, use::search)) return false;
        // searchExpr: terms, "phrases", AND / OR / NOT and parentheses.
        std::string_view s = *v;
        int depth = 0;
        std::size_t i = 0;
        auto fail = [&](const std::string& what) {
            return fail_unsupported(q_, "$search", i,
                                    what + " at position " + std::to_string(i) + " of $search");
        };
        while (i < s.size()) {
            char c = s[i];
            if (c == ' ') {
                ++i;
                continue;
            }
            if (!out.empty() && out.back() != '(' && c != ')') out += ' ';
            if (c == '(') {
                if (++depth > max_depth) return fail("search nested too deeply");
                out += '(';
                ++i;
            } else if (c == ')') {
                if (--depth < 0) return fail("unbalanced ')'");
                out += ')';
                ++i;
            } else if (c == '"') {
                std::string phrase;
                std::size_t j = i + 1;
                for (; j < s.size() && s[j] != '"'; ++j) {
                    if (s[j] == '\\' && j + 1 < s.size()) ++j;
                    phrase.push_back(s[j]);
                }
                if (j >= s.size()) return fail("unterminated phrase");
                out += '"';
                for (char pc : phrase) {
                    if (pc == '"' || pc == '\\') out += '\\';
                    out += pc;
                }
                out += '"';
                i = j + 1;
            } else {
                // A search word: letters, digits, a few marks and UTF-8. No ':' (a Lucene-style
                // back end reads "iban:BE71*" as a search in one field), no other syntax.
                std::size_t j = i;
                while (j < s.size() && s[j] != ' ' && s[j] != '(' && s[j] != ')' && s[j] != '"') {
                    auto u = static_cast<unsigned char>(s[j]);
                    if (std::isalnum(u) == 0 && u < 0x80 &&
                        std::string_view("-._~'*@,").find(s[j]) == std::string_view::npos) {
                        i = j;
                        return fail("unsupported character in a search word");
                    }
                    ++j;
                }
                out += s.substr(i, j - i);
                i = j;
            }
        }
        if (depth != 0) return fail("unbalanced '('");
        if (out.empty()) return fail_unsupported(q_, "$search", 0, "$search is empty");
        return true;
    }

    // Dataverse fetchXml: one <fetch> with one <entity> (the route's object) holding attributes,
    // orders and filters of conditions. Linked entities, aggregates and paging cookies are not
    // understood, so refused.
    bool fetch_xml(const std::string& text) {
        auto fail = [this](std::string what) {
            return fail_unsupported(q_, "fetchXml", 0, std::move(what));
        };
        if (text.find("<!") != std::string::npos || text.find("<?") != std::string::npos)
            return fail(
                "fetchXml may not hold a DOCTYPE, CDATA, comment or processing instruction");
        pugi::xml_document doc;
        auto parsed = doc.load_buffer(text.data(), text.size(),
                                     pugi::parse_minimal | pugi::parse_escapes);
        if (!parsed)
            return fail_unsupported(q_, "fetchXml", static_cast<std::size_t>(parsed.offset),
                                    "fetchXml does not parse at position " +
                                        std::to_string(parsed.offset));
        pugi::xml_node fetch = doc.first_child();
        if (std::string_view(fetch.name()) != "fetch" || fetch.next_sibling())
            return fail("fetchXml must be one <fetch> element");
        pugi::xml_document out_doc;
        pugi::xml_node out_fetch = out_doc.append_child("fetch");
        for (auto a : fetch.attributes()) {
            std::string_view n = a.name();
            std::string_view val = a.value();
            bool number = !val.empty() && val.size() <= 10 &&
                          std::all_of(val.begin(), val.end(), digit);
            bool boolean = val == "true" || val == "false";
            if (((n == "count" || n == "page" || n == "top") && number) ||
                ((n == "distinct" || n == "no-lock" || n == "returntotalrecordcount") && boolean) ||
                (n == "version" && val == "1.0") || (n == "mapping" && val == "logical")) {
                out_fetch.append_attribute(a.name()).set_value(a.value());
            } else if (n == "aggregate" && val == "false") {
                continue;
            } else {
                return fail("fetch attribute '" + shown_parameter(n) +
                            "' is not supported (aggregates and paging cookies are refused)");
            }
        }
        pugi::xml_node entity = fetch.first_child();
        if (std::string_view(entity.name()) != "entity" || entity.next_sibling() ||
            entity.attributes_begin() == entity.attributes_end() ||
            std::next(entity.attributes_begin()) != entity.attributes_end() ||
            std::string_view(entity.first_attribute().name()) != "name")
            return fail("<fetch> must hold one <entity name=\"…\">");
        if (policy_.object_name.empty() ||
            !iequals_ascii(entity.attribute("name").value(), policy_.object_name))
            return fail("<entity> must name this route's entity");
        pugi::xml_node out_entity = out_fetch.append_child("entity");
        out_entity.append_attribute("name").set_value(std::string(policy_.object_name).c_str());

        std::vector<std::string> selected;
        bool present = false;
        bool all = false;
        std::vector<pugi::xml_node> orders;
        std::vector<pugi::xml_node> filters;
        for (auto child : entity.children()) {
            std::string_view n = child.name();
            if (child.type() != pugi::node_element)
                return fail("<entity> may hold only elements");
            if (n == "attribute") {
                if (!only_attributes(child, {"name"}) || child.first_child())
                    return fail("<attribute> takes only name");
                present = true;
                selected.emplace_back(child.attribute("name").value());
            } else if (n == "all-attributes") {
                if (child.first_attribute() || child.first_child())
                    return fail("<all-attributes/> takes nothing");
                all = true;
            } else if (n == "order") {
                if (!only_attributes(child, {"attribute", "descending"}) || child.first_child())
                    return fail("<order> takes attribute and descending");
                std::string_view d = child.attribute("descending").value();
                if (!d.empty() && d != "true" && d != "false")
                    return fail("<order descending> takes true or false");
                if (!check_read(q_, policy_, child.attribute("attribute").value(), use::order))
                    return false;
                orders.push_back(child);
            } else if (n == "filter") {
                filters.push_back(child);
            } else {
                return fail("<" + shown_parameter(n) +
                            "> is not supported in <entity> (link-entity reads another entity)");
            }
        }
        if (all) present = false;
        resolve_selection(q_, policy_, present, selected);
        // Sorted, as $select: a fixed point whatever order the client named the fields in.
        std::vector<std::string> sent = q_.sent;
        std::sort(sent.begin(), sent.end());
        for (const auto& f : sent) {
            if (f.find('.') != std::string::npos)
                return fail("field '" + f + "' is a path; fetchXml names flat attributes only");
            out_entity.append_child("attribute").append_attribute("name").set_value(f.c_str());
        }
        for (auto o : orders) {
            auto e = out_entity.append_child("order");
            e.append_attribute("attribute").set_value(o.attribute("attribute").value());
            if (!std::string_view(o.attribute("descending").value()).empty())
                e.append_attribute("descending").set_value(o.attribute("descending").value());
        }
        for (auto f : filters)
            if (!fetch_filter(f, out_entity, 0)) return false;
        std::ostringstream s;
        out_doc.save(s, "", pugi::format_raw | pugi::format_no_declaration);
        append_param(q_.query, "fetchXml", s.str());
        return true;
    }

    static bool only_attributes(pugi::xml_node n, std::initializer_list<std::string_view> names) {
        for (auto a : n.attributes())
            if (std::find(names.begin(), names.end(), std::string_view(a.name())) == names.end())
                return false;
        return !std::string_view(n.attribute(names.begin()[0].data()).value()).empty();
    }

    bool fetch_filter(pugi::xml_node f, pugi::xml_node out_parent, int depth) {
        auto fail = [this](std::string what) {
            return fail_unsupported(q_, "fetchXml", 0, std::move(what));
        };
        if (depth > 8) return fail("filters nested too deeply");
        for (auto a : f.attributes())
            if (std::string_view(a.name()) != "type") return fail("<filter> takes only type");
        std::string_view type = f.attribute("type").value();
        if (!type.empty() && type != "and" && type != "or")
            return fail("<filter type> is and or or");
        auto out = out_parent.append_child("filter");
        if (!type.empty()) out.append_attribute("type").set_value(std::string(type).c_str());
        for (auto c : f.children()) {
            std::string_view n = c.name();
            if (c.type() != pugi::node_element) return fail("<filter> may hold only elements");
            if (n == "filter") {
                if (!fetch_filter(c, out, depth + 1)) return false;
                continue;
            }
            if (n != "condition") return fail("<filter> holds conditions and filters");
            for (auto a : c.attributes()) {
                std::string_view an = a.name();
                if (an != "attribute" && an != "operator" && an != "value")
                    return fail("<condition> takes attribute, operator and value");
            }
            std::string_view op = c.attribute("operator").value();
            if (!known_condition_operator(op))
                return fail("condition operator '" + shown_parameter(op) + "' is not supported");
            if (!check_read(q_, policy_, c.attribute("attribute").value(), use::filter))
                return false;
            auto oc = out.append_child("condition");
            oc.append_attribute("attribute").set_value(c.attribute("attribute").value());
            oc.append_attribute("operator").set_value(std::string(op).c_str());
            if (c.attribute("value"))
                oc.append_attribute("value").set_value(c.attribute("value").value());
            for (auto v : c.children()) {
                if (std::string_view(v.name()) != "value" || v.first_attribute() ||
                    (v.first_child() && (v.first_child().type() != pugi::node_pcdata ||
                                         v.first_child().next_sibling())))
                    return fail("<condition> holds only <value> elements with text");
                oc.append_child("value").text().set(v.text().get());
            }
        }
        return true;
    }

    static bool known_condition_operator(std::string_view op) {
        static constexpr std::array<std::string_view, 40> ops{
            "eq",           "ne",           "neq",          "gt",           "ge",
            "lt",           "le",           "like",         "not-like",     "in",
            "not-in",       "between",      "not-between",  "null",         "not-null",
            "begins-with",  "not-begin-with", "ends-with",  "not-end-with", "yesterday",
            "today",        "tomorrow",     "last-seven-days", "next-seven-days", "last-week",
            "this-week",    "next-week",    "last-month",   "this-month",   "next-month",
            "on",           "on-or-before", "on-or-after",  "last-year",    "this-year",
            "next-year",    "last-x-days",  "next-x-days",  "last-x-months", "next-x-months"};
        return std::find(ops.begin(), ops.end(), op) != ops.end();
    }

    const field_policy& policy_;
    guarded_query& q_;
    std::string decoded_;  // the decoded parameters the views in options_ may point into
    // The decoded value of each of system_options, when given.
    std::array<std::optional<std::string_view>, system_options.size()> options_;
    std::vector<token> toks_;  // the tokens of the option being parsed, reused for each option
    std::vector<std::string> aliases_;
    std::string compute_;
    std::string apply_;
    bool apply_present_ = false;
};

}  // namespace

guarded_query guard_odata(const field_policy& policy, std::string_view raw_query) {
    guarded_query q;
    odata_guard g(policy, q);
    if (!g.run(raw_query)) {
        q.query.clear();
        if (q.result == verdict::forward)  // a parser that failed without saying why
            fail_unsupported(q, "(query)", 0, "the query is not understood");
    }
    return q;
}

}  // namespace exportwall::config::query
