#include "config/query/soql.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <utility>

#include <pugixml.hpp>

#include "common/markup_text.hpp"
#include "common/utf8.hpp"
#include "config/query/guard_support.hpp"

namespace exportwall::config::query {
namespace {

constexpr std::size_t max_statement_bytes = 20000;
constexpr int max_nesting = 32;
constexpr std::size_t max_body_bytes = std::size_t{1} << 20;
constexpr std::uint64_t max_count = 2147483647;  // LIMIT, OFFSET, LAST_N_DAYS:n

constexpr std::string_view soap_envelope_ns = "http://schemas.xmlsoap.org/soap/envelope/";
constexpr std::string_view partner_ns = "urn:partner.soap.sforce.com";
constexpr std::string_view enterprise_ns = "urn:enterprise.soap.sforce.com";

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_char(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

std::string to_upper(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

// ---------------------------------------------------------------------------------------------
// Lexer: the whole statement into tokens with their byte positions. String literals are decoded
// and re-escaped canonically on the spot, so no client-written escape survives.

enum class tok : std::uint8_t { ident, number, date, datetime, string, punct, end };

struct token {
    tok kind = tok::end;
    std::size_t pos = 0;
    std::size_t end = 0;
    // ident: as written; number / date / datetime: as written (a leading '+' dropped); string:
    // the canonical escaped body without quotes; punct: the canonical symbol ("<>" is "!=").
    // A view of the statement, of the lexer's literal bodies or of a constant: no string per
    // token.
    std::string_view text;
};

// The length of the UTF-8 sequence at s[i] (a byte from 0x80 up), or 0 when it is not well-formed
// (common/utf8.hpp) or is one of the XML non-characters U+FFFE and U+FFFF: the SOAP body is XML.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const std::size_t n = common::utf8_sequence_length(s.data() + i, s.data() + s.size());
    if (n == 3 && s[i] == '\xEF' && s[i + 1] == '\xBF' &&
        static_cast<unsigned char>(s[i + 2]) >= 0xBE)
        return 0;
    return n;
}

class lexer {
  public:
    // The canonical bodies of string literals are written into `literals`, which must outlive
    // the tokens.
    lexer(std::string_view text, std::pmr::string& literals) : text_(text), literals_(literals) {}

    bool run(std::pmr::vector<token>& out) {
        std::size_t i = 0;
        while (i < text_.size()) {
            char c = text_[i];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                ++i;
                continue;
            }
            // Built where it is kept: a statement is dozens of tokens.
            token& t = out.emplace_back();
            t.pos = i;
            bool ok = true;
            if (is_alpha(c)) {
                std::size_t j = i;
                while (j < text_.size() && is_ident_char(text_[j])) ++j;
                t.kind = tok::ident;
                t.text = text_.substr(i, j - i);
                i = j;
            } else if (is_digit(c) || ((c == '-' || c == '+') && is_digit(at(i + 1)))) {
                ok = number_or_date(i, t);
            } else if (c == '\'') {
                ok = string_literal(i, t);
            } else {
                ok = punctuation(i, t);
            }
            if (!ok) return false;
            t.end = i;
        }
        token end;
        end.pos = end.end = text_.size();
        out.push_back(end);
        return true;
    }

    std::size_t error_pos = 0;
    std::string error_detail;

  private:
    [[nodiscard]] char at(std::size_t i) const { return i < text_.size() ? text_[i] : '\0'; }

    bool fail(std::size_t pos, std::string detail) {
        error_pos = pos;
        error_detail = std::move(detail);
        return false;
    }

    [[nodiscard]] std::size_t digits_at(std::size_t i) const {
        std::size_t n = 0;
        while (is_digit(at(i + n))) ++n;
        return n;
    }

    // Two digits at i, within [lo, hi].
    [[nodiscard]] bool two_digits(std::size_t i, int lo, int hi) const {
        if (!is_digit(at(i)) || !is_digit(at(i + 1))) return false;
        int v = (at(i) - '0') * 10 + (at(i + 1) - '0');
        return v >= lo && v <= hi;
    }

    bool number_or_date(std::size_t& i, token& t) {
        std::size_t start = i;
        bool sign = !is_digit(text_[i]);
        std::size_t j = sign ? i + 1 : i;
        std::size_t n = digits_at(j);
        if (!sign && n == 4 && at(j + 4) == '-') {
            // 2024-01-31, 2024-01-31T10:00:00Z, 2024-01-31T10:00:00.000+01:00
            if (!two_digits(j + 5, 1, 12) || at(j + 7) != '-' || !two_digits(j + 8, 1, 31))
                return fail(start, "a malformed date literal");
            j += 10;
            t.kind = tok::date;
            if (at(j) == 'T') {
                if (!two_digits(j + 1, 0, 23) || at(j + 3) != ':' || !two_digits(j + 4, 0, 59) ||
                    at(j + 6) != ':' || !two_digits(j + 7, 0, 59))
                    return fail(start, "a malformed dateTime literal");
                j += 9;
                if (at(j) == '.') {
                    std::size_t f = digits_at(j + 1);
                    if (f == 0 || f > 3) return fail(start, "a malformed dateTime literal");
                    j += 1 + f;
                }
                if (at(j) == 'Z') {
                    j += 1;
                } else if ((at(j) == '+' || at(j) == '-') && two_digits(j + 1, 0, 23) &&
                           at(j + 3) == ':' && two_digits(j + 4, 0, 59)) {
                    j += 6;
                } else {
                    return fail(start, "a dateTime literal needs a time zone (Z or +hh:mm)");
                }
                t.kind = tok::datetime;
            }
        } else {
            j += n;
            if (at(j) == '.' && is_digit(at(j + 1))) j += 1 + digits_at(j + 1);
            t.kind = tok::number;
        }
        if (is_ident_char(at(j)) || at(j) == '.' || at(j) == '\'')
            return fail(start, "a malformed number or date literal");
        t.text = text_.substr(text_[start] == '+' ? start + 1 : start,
                              j - (text_[start] == '+' ? start + 1 : start));
        i = j;
        return true;
    }

    bool string_literal(std::size_t& i, token& t) {
        // Room for every body at once (a body is at most twice its literal: each byte one
        // escape), so the views of earlier bodies stay valid.
        if (literals_.capacity() < 2 * text_.size()) literals_.reserve(2 * text_.size());
        std::size_t start = i;
        std::size_t j = i + 1;
        const std::size_t at = literals_.size();
        std::pmr::string& body = literals_;
        for (;;) {
            if (j >= text_.size()) return fail(start, "an unterminated string literal");
            char c = text_[j];
            auto u = static_cast<unsigned char>(c);
            if (c == '\'') {
                ++j;
                break;
            }
            if (c == '\\') {
                if (j + 1 >= text_.size()) return fail(start, "an unterminated string literal");
                switch (text_[j + 1]) {
                    case 'n':
                    case 'N':
                        body += "\\n";
                        break;
                    case 'r':
                    case 'R':
                        body += "\\r";
                        break;
                    case 't':
                    case 'T':
                        body += "\\t";
                        break;
                    case 'b':
                    case 'B':
                        body += "\\b";
                        break;
                    case 'f':
                    case 'F':
                        body += "\\f";
                        break;
                    case '\'':
                        body += "\\'";
                        break;
                    case '"':
                        body += "\\\"";
                        break;
                    case '\\':
                        body += "\\\\";
                        break;
                    case '_':
                        body += "\\_";
                        break;  // a literal '_' in a LIKE pattern
                    case '%':
                        body += "\\%";
                        break;  // a literal '%' in a LIKE pattern
                    default:
                        return fail(j, "an escape sequence SOQL does not define");
                }
                j += 2;
                continue;
            }
            if (u < 0x20 || u == 0x7f)
                return fail(j, "a control character inside a string literal (write an escape)");
            if (c == '"') {
                body += "\\\"";
                ++j;
                continue;
            }
            if (u >= 0x80) {
                std::size_t n = utf8_sequence(text_, j);
                if (n == 0) return fail(j, "a string literal that is not valid UTF-8");
                body.append(text_.substr(j, n));
                j += n;
                continue;
            }
            body.push_back(c);
            ++j;
        }
        t.kind = tok::string;
        t.text = std::string_view(literals_).substr(at);
        i = j;
        return true;
    }

    bool punctuation(std::size_t& i, token& t) {
        char c = text_[i];
        t.kind = tok::punct;
        std::size_t len = 1;
        switch (c) {
            case '(':
            case ')':
            case ',':
            case '.':
            case ':':
            case '=':
                t.text = text_.substr(i, 1);
                break;
            case '!':
                if (at(i + 1) != '=') return fail(i, "a character outside the SOQL grammar");
                t.text = "!=";
                len = 2;
                break;
            case '<':
                if (at(i + 1) == '=') {
                    t.text = "<=";
                    len = 2;
                } else if (at(i + 1) == '>') {
                    t.text = "!=";
                    len = 2;
                } else {
                    t.text = "<";
                }
                break;
            case '>':
                if (at(i + 1) == '=') {
                    t.text = ">=";
                    len = 2;
                } else {
                    t.text = ">";
                }
                break;
            default:
                return fail(i, "a character outside the SOQL grammar");
        }
        i += len;
        return true;
    }

    std::string_view text_;
    std::pmr::string& literals_;
};

// ---------------------------------------------------------------------------------------------
// The parsed statement.

struct field_ref {
    std::string path;  // dotted; after checking, the catalogue spelling when there is one
    std::size_t pos = 0;
};

enum class fn_kind : std::uint8_t { aggregate, date, compute, fields };

struct fn_entry {
    std::string_view name;  // canonical spelling
    fn_kind kind;
};

constexpr std::array<fn_entry, 23> functions{{
    {"COUNT", fn_kind::aggregate},         {"COUNT_DISTINCT", fn_kind::aggregate},
    {"SUM", fn_kind::aggregate},           {"AVG", fn_kind::aggregate},
    {"MIN", fn_kind::aggregate},           {"MAX", fn_kind::aggregate},
    {"CALENDAR_MONTH", fn_kind::date},     {"CALENDAR_QUARTER", fn_kind::date},
    {"CALENDAR_YEAR", fn_kind::date},      {"DAY_IN_MONTH", fn_kind::date},
    {"DAY_IN_WEEK", fn_kind::date},        {"DAY_IN_YEAR", fn_kind::date},
    {"DAY_ONLY", fn_kind::date},           {"FISCAL_MONTH", fn_kind::date},
    {"FISCAL_QUARTER", fn_kind::date},     {"FISCAL_YEAR", fn_kind::date},
    {"HOUR_IN_DAY", fn_kind::date},        {"WEEK_IN_MONTH", fn_kind::date},
    {"WEEK_IN_YEAR", fn_kind::date},       {"toLabel", fn_kind::compute},
    {"convertCurrency", fn_kind::compute}, {"FORMAT", fn_kind::compute},
    {"FIELDS", fn_kind::fields},
}};

const fn_entry* find_function(std::string_view name) {
    for (const auto& f : functions)
        if (iequals_ascii(f.name, name)) return &f;
    return nullptr;
}

// Words that never start a field reference or name an alias.
constexpr std::array<std::string_view, 27> reserved_words{
    "SELECT", "FROM",   "WHERE", "AND",   "OR",    "NOT",    "GROUP",    "ORDER",    "HAVING",
    "LIMIT",  "OFFSET", "WITH",  "USING", "FOR",   "UPDATE", "TYPEOF",   "WHEN",     "THEN",
    "ELSE",   "END",    "NULL",  "TRUE",  "FALSE", "IN",     "INCLUDES", "EXCLUDES", "LIKE",
};

bool reserved(std::string_view word) {
    // Every reserved word is 2 to 8 letters: most identifiers (field names) end the check here.
    if (word.size() < 2 || word.size() > 8) return false;
    const char first = static_cast<char>(word.front() & ~0x20);  // ASCII upper case
    return std::any_of(reserved_words.begin(), reserved_words.end(), [&](std::string_view r) {
        return r.front() == first && iequals_ascii(r, word);
    });
}

constexpr std::array<std::string_view, 44> date_literals{
    "YESTERDAY",
    "TODAY",
    "TOMORROW",
    "LAST_WEEK",
    "THIS_WEEK",
    "NEXT_WEEK",
    "LAST_MONTH",
    "THIS_MONTH",
    "NEXT_MONTH",
    "LAST_90_DAYS",
    "NEXT_90_DAYS",
    "LAST_N_DAYS",
    "NEXT_N_DAYS",
    "N_DAYS_AGO",
    "NEXT_N_WEEKS",
    "LAST_N_WEEKS",
    "N_WEEKS_AGO",
    "NEXT_N_MONTHS",
    "LAST_N_MONTHS",
    "N_MONTHS_AGO",
    "THIS_QUARTER",
    "LAST_QUARTER",
    "NEXT_QUARTER",
    "NEXT_N_QUARTERS",
    "LAST_N_QUARTERS",
    "N_QUARTERS_AGO",
    "THIS_YEAR",
    "LAST_YEAR",
    "NEXT_YEAR",
    "NEXT_N_YEARS",
    "LAST_N_YEARS",
    "N_YEARS_AGO",
    "THIS_FISCAL_QUARTER",
    "LAST_FISCAL_QUARTER",
    "NEXT_FISCAL_QUARTER",
    "NEXT_N_FISCAL_QUARTERS",
    "LAST_N_FISCAL_QUARTERS",
    "N_FISCAL_QUARTERS_AGO",
    "THIS_FISCAL_YEAR",
    "LAST_FISCAL_YEAR",
    "NEXT_FISCAL_YEAR",
    "NEXT_N_FISCAL_YEARS",
    "LAST_N_FISCAL_YEARS",
    "N_FISCAL_YEARS_AGO",
};

constexpr std::array<std::string_view, 7> scopes{
    "delegated",    "everything",        "mine", "mineAndMyGroups",
    "my_territory", "my_team_territory", "team",
};

enum class cond_kind : std::uint8_t { compare, all_of, any_of, negation };

struct condition {
    cond_kind kind = cond_kind::compare;
    // compare: [function(]field[)] op value | (values)
    std::string function;  // canonical, or empty
    fn_kind function_kind = fn_kind::date;
    field_ref field;  // empty path: COUNT()
    std::string op;
    bool list = false;
    std::vector<std::string> values;  // canonical literal text
    std::vector<condition> children;  // all_of / any_of: two or more; negation: one
};

enum class item_kind : std::uint8_t { field, function, fields, subquery, polymorphic };

struct select_item {
    item_kind kind = item_kind::field;
    std::size_t pos = 0;
    std::string function;  // function / fields: canonical name
    fn_kind function_kind = fn_kind::compute;
    std::string argument;  // fields: ALL / STANDARD / CUSTOM
    field_ref field;       // field; a function's argument (empty path: COUNT())
    std::string alias;
    std::size_t alias_pos = 0;
    std::size_t index = 0;  // subquery / polymorphic: index into the statement's lists
};

struct order_item {
    std::string function;
    fn_kind function_kind = fn_kind::aggregate;
    field_ref field;
    std::string direction;  // "", ASC, DESC
    std::string nulls;      // "", FIRST, LAST
};

struct group_item {
    std::string function;
    field_ref field;
};

struct child_query {
    field_ref relationship;
    std::vector<field_ref> fields;
    std::optional<condition> where;
    std::vector<order_item> order;
    std::optional<std::uint64_t> limit;
};

struct when_branch {
    std::string type;
    std::vector<field_ref> fields;
};

struct polymorphic_item {
    field_ref field;
    std::vector<when_branch> whens;
    bool has_else = false;
    std::vector<field_ref> otherwise;
};

struct statement {
    std::vector<select_item> items;
    std::vector<child_query> children;
    std::vector<polymorphic_item> polymorphics;
    std::string object;
    std::size_t object_pos = 0;
    std::string scope;
    std::optional<condition> where;
    std::string with;
    std::vector<group_item> group_by;
    std::optional<condition> having;
    std::vector<order_item> order;
    std::optional<std::uint64_t> limit;
    std::optional<std::uint64_t> offset;
    // Aggregates, date functions in the selection, GROUP BY, HAVING or an alias: the answer is
    // not records, so no rule field can be carried.
    bool aggregate = false;
    std::size_t aggregate_pos = 0;
};

// ---------------------------------------------------------------------------------------------
// Parser: recursive descent over the tokens; `depth` counts parentheses, NOT and subqueries.

enum class clause : std::uint8_t { where, having, child_where };

class parser {
  public:
    explicit parser(const std::pmr::vector<token>& tokens) : tokens_(tokens) {}

    bool parse(statement& st) {
        if (kw("FIND")) return fail_here("SOSL (FIND) is not supported");
        if (!kw("SELECT")) return fail_here("a statement starts with SELECT");
        ++i_;
        if (!select_list(st)) return false;
        if (!kw("FROM")) return fail_here("expected FROM after the field list");
        ++i_;
        if (peek().kind != tok::ident) return fail_here("expected the object after FROM");
        st.object = peek().text;
        st.object_pos = peek().pos;
        ++i_;
        if (kw("USING")) {
            ++i_;
            if (!kw("SCOPE")) return fail_here("expected SCOPE after USING");
            ++i_;
            auto it = std::find_if(scopes.begin(), scopes.end(), [&](std::string_view s) {
                return peek().kind == tok::ident && iequals_ascii(s, peek().text);
            });
            if (it == scopes.end()) return fail_here("a filter scope SOQL does not define");
            st.scope = std::string(*it);
            ++i_;
        }
        if (kw("WHERE")) {
            ++i_;
            st.where.emplace();
            if (!disjunction(*st.where, 0, clause::where, st)) return false;
        }
        if (kw("WITH")) {
            ++i_;
            if (kw("DATA")) return fail_here("WITH DATA CATEGORY is not supported");
            if (!kw("SECURITY_ENFORCED") && !kw("USER_MODE") && !kw("SYSTEM_MODE"))
                return fail_here("WITH takes SECURITY_ENFORCED, USER_MODE or SYSTEM_MODE");
            st.with = to_upper(peek().text);
            ++i_;
        }
        if (kw("GROUP")) {
            mark_aggregate(st, peek().pos);
            ++i_;
            if (!kw("BY")) return fail_here("expected BY after GROUP");
            ++i_;
            if (kw("ROLLUP") || kw("CUBE"))
                return fail_here("GROUP BY ROLLUP / CUBE is not supported");
            do {
                group_item g;
                if (peek().kind == tok::ident && punct("(", 1)) {
                    const fn_entry* f = find_function(peek().text);
                    if (f == nullptr || f->kind != fn_kind::date)
                        return fail_here("GROUP BY takes fields and date functions only");
                    g.function = std::string(f->name);
                    i_ += 2;
                    if (!field_path(g.field) || !expect(")")) return false;
                } else if (!field_path(g.field)) {
                    return false;
                }
                st.group_by.push_back(std::move(g));
            } while (comma());
        }
        if (kw("HAVING")) {
            mark_aggregate(st, peek().pos);
            ++i_;
            st.having.emplace();
            if (!disjunction(*st.having, 0, clause::having, st)) return false;
        }
        if (kw("ORDER")) {
            if (!order_by(st.order, &st)) return false;
        }
        if (kw("LIMIT")) {
            ++i_;
            st.limit.emplace();
            if (!count(*st.limit)) return false;
        }
        if (kw("OFFSET")) {
            ++i_;
            st.offset.emplace();
            if (!count(*st.offset)) return false;
        }
        if (kw("FOR")) return fail_here("FOR VIEW / FOR REFERENCE / FOR UPDATE is not supported");
        if (kw("UPDATE")) return fail_here("UPDATE TRACKING / UPDATE VIEWSTAT is not supported");
        if (peek().kind != tok::end)
            return fail_here(
                "unexpected text after the statement (an alias, clause or order "
                "SOQL's guard does not accept)");
        return true;
    }

    std::size_t error_pos = 0;
    std::string error_detail;

  private:
    [[nodiscard]] const token& peek(std::size_t ahead = 0) const {
        return tokens_[std::min(i_ + ahead, tokens_.size() - 1)];
    }
    [[nodiscard]] bool kw(std::string_view word, std::size_t ahead = 0) const {
        const token& t = peek(ahead);
        return t.kind == tok::ident && iequals_ascii(t.text, word);
    }
    [[nodiscard]] bool punct(std::string_view p, std::size_t ahead = 0) const {
        // Asked for every token, several times: a symbol is a byte or two, compared in place
        // rather than through memcmp.
        const token& t = peek(ahead);
        if (t.kind != tok::punct || t.text.size() != p.size()) return false;
        for (std::size_t k = 0; k < p.size(); ++k)
            if (t.text[k] != p[k]) return false;
        return true;
    }
    bool fail(std::size_t pos, std::string detail) {
        error_pos = pos;
        error_detail = std::move(detail);
        return false;
    }
    bool fail_here(std::string detail) { return fail(peek().pos, std::move(detail)); }
    bool expect(std::string_view p) {
        if (!punct(p)) return fail_here("expected '" + std::string(p) + "'");
        ++i_;
        return true;
    }
    bool comma() {
        if (!punct(",")) return false;
        ++i_;
        return true;
    }
    bool deeper(int depth) {
        if (depth + 1 > max_nesting) return fail_here("the statement is nested too deeply");
        return true;
    }
    static void mark_aggregate(statement& st, std::size_t pos) {
        if (st.aggregate) return;
        st.aggregate = true;
        st.aggregate_pos = pos;
    }

    bool field_path(field_ref& f) {
        if (peek().kind != tok::ident || reserved(peek().text))
            return fail_here("expected a field");
        f.pos = peek().pos;
        f.path = peek().text;
        ++i_;
        while (punct(".") && peek(1).kind == tok::ident) {
            f.path += '.';
            f.path += peek(1).text;
            i_ += 2;
        }
        return true;
    }

    bool count(std::uint64_t& out) {
        const token& t = peek();
        if (t.kind != tok::number || t.text.empty() ||
            !std::all_of(t.text.begin(), t.text.end(), is_digit))
            return fail_here("expected a non-negative integer");
        std::uint64_t v = 0;
        for (char c : t.text) {
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
            if (v > max_count) return fail_here("the number is too large");
        }
        out = v;
        ++i_;
        return true;
    }

    // A function call `name(` at the cursor: its table entry, or a refusal.
    const fn_entry* function_at() {
        const fn_entry* f = find_function(peek().text);
        if (f == nullptr) fail_here("a function SOQL's guard does not support");
        return f;
    }

    bool select_list(statement& st) {
        st.items.reserve(16);  // a select_item is large: no regrowth for a typical list
        do {
            // Built where it is kept (a failed item fails the statement, which is dropped).
            select_item& item = st.items.emplace_back();
            item.pos = peek().pos;
            if (punct("(")) {
                if (!kw("SELECT", 1)) return fail_here("expected a field or a subquery");
                if (!deeper(0)) return false;
                i_ += 2;
                child_query child;
                if (!child_select(child) || !expect(")")) return false;
                item.kind = item_kind::subquery;
                item.index = st.children.size();
                st.children.push_back(std::move(child));
            } else if (kw("TYPEOF") && peek(1).kind == tok::ident) {
                ++i_;
                polymorphic_item poly;
                if (!typeof_item(poly)) return false;
                item.kind = item_kind::polymorphic;
                item.index = st.polymorphics.size();
                st.polymorphics.push_back(std::move(poly));
            } else if (peek().kind == tok::ident && punct("(", 1)) {
                const fn_entry* f = function_at();
                if (f == nullptr) return false;
                item.function = std::string(f->name);
                item.function_kind = f->kind;
                i_ += 2;
                if (f->kind == fn_kind::fields) {
                    if (!kw("ALL") && !kw("STANDARD") && !kw("CUSTOM"))
                        return fail_here("FIELDS takes ALL, STANDARD or CUSTOM");
                    item.kind = item_kind::fields;
                    item.argument = to_upper(peek().text);
                    ++i_;
                } else {
                    item.kind = item_kind::function;
                    if (f->kind == fn_kind::aggregate || f->kind == fn_kind::date)
                        mark_aggregate(st, item.pos);
                    bool empty_count = item.function == "COUNT" && punct(")");
                    if (!empty_count && !field_path(item.field)) return false;
                }
                if (!expect(")")) return false;
                if (item.kind == item_kind::function && peek().kind == tok::ident &&
                    !reserved(peek().text)) {
                    mark_aggregate(st, peek().pos);
                    item.alias = peek().text;
                    item.alias_pos = peek().pos;
                    ++i_;
                }
            } else {
                if (!field_path(item.field)) return false;
                if (peek().kind == tok::ident && !reserved(peek().text))
                    return fail_here("an alias on a plain field is not supported");
            }
        } while (comma());
        return true;
    }

    // After "(SELECT": fields FROM relationship [WHERE …] [ORDER BY …] [LIMIT n]
    bool child_select(child_query& child) {
        do {
            if (punct("(") || kw("TYPEOF") || (peek().kind == tok::ident && punct("(", 1)))
                return fail_here("a subquery selects plain fields only");
            field_ref f;
            if (!field_path(f)) return false;
            child.fields.push_back(std::move(f));
        } while (comma());
        if (!kw("FROM")) return fail_here("expected FROM in the subquery");
        ++i_;
        if (peek().kind != tok::ident || reserved(peek().text) || punct(".", 1))
            return fail_here("expected a child relationship after FROM");
        child.relationship.path = peek().text;
        child.relationship.pos = peek().pos;
        ++i_;
        statement unused;
        if (kw("WHERE")) {
            ++i_;
            child.where.emplace();
            if (!disjunction(*child.where, 1, clause::child_where, unused)) return false;
        }
        if (kw("ORDER") && !order_by(child.order, nullptr)) return false;
        if (kw("LIMIT")) {
            ++i_;
            child.limit.emplace();
            if (!count(*child.limit)) return false;
        }
        return true;
    }

    // After TYPEOF: field WHEN type THEN fields … [ELSE fields] END
    bool typeof_item(polymorphic_item& poly) {
        if (!field_path(poly.field)) return false;
        if (!kw("WHEN")) return fail_here("expected WHEN in TYPEOF");
        while (kw("WHEN")) {
            ++i_;
            when_branch branch;
            if (peek().kind != tok::ident || reserved(peek().text))
                return fail_here("expected an object type after WHEN");
            branch.type = peek().text;
            ++i_;
            if (!kw("THEN")) return fail_here("expected THEN in TYPEOF");
            ++i_;
            if (!field_list(branch.fields)) return false;
            poly.whens.push_back(std::move(branch));
        }
        if (kw("ELSE")) {
            ++i_;
            poly.has_else = true;
            if (!field_list(poly.otherwise)) return false;
        }
        if (!kw("END")) return fail_here("expected END in TYPEOF");
        ++i_;
        return true;
    }

    bool field_list(std::vector<field_ref>& out) {
        do {
            field_ref f;
            if (!field_path(f)) return false;
            out.push_back(std::move(f));
        } while (comma());
        return true;
    }

    // ORDER BY item [ASC|DESC] [NULLS FIRST|LAST], …; `st` null in a subquery (fields only).
    bool order_by(std::vector<order_item>& out, statement* st) {
        ++i_;
        if (!kw("BY")) return fail_here("expected BY after ORDER");
        ++i_;
        do {
            order_item& o = out.emplace_back();  // built where it is kept, as select items
            if (peek().kind == tok::ident && punct("(", 1)) {
                const fn_entry* f = find_function(peek().text);
                if (st == nullptr || f == nullptr ||
                    (f->kind != fn_kind::aggregate && f->kind != fn_kind::date))
                    return fail_here("ORDER BY takes fields, and aggregate or date functions");
                mark_aggregate(*st, peek().pos);
                o.function = std::string(f->name);
                o.function_kind = f->kind;
                i_ += 2;
                bool empty_count = o.function == "COUNT" && punct(")");
                if (!empty_count && !field_path(o.field)) return false;
                if (!expect(")")) return false;
            } else if (!field_path(o.field)) {
                return false;
            }
            if (kw("ASC") || kw("DESC")) {
                o.direction = to_upper(peek().text);
                ++i_;
            }
            if (kw("NULLS")) {
                ++i_;
                if (!kw("FIRST") && !kw("LAST")) return fail_here("expected FIRST or LAST");
                o.nulls = to_upper(peek().text);
                ++i_;
            }
        } while (comma());
        return true;
    }

    // or-expression: and-expressions joined by OR. SOQL refuses AND and OR mixed at one level
    // without parentheses, and so does the guard (no precedence is guessed).
    // Each level parses into `out` and moves it below itself only when an OR (AND) follows:
    // most conditions are one comparison, and a condition is large.
    bool disjunction(condition& out, int depth, clause c, statement& st) {
        std::size_t and_pos = 0;
        if (!conjunction(out, depth, c, st, and_pos)) return false;
        if (!kw("OR")) return true;
        if (and_pos != 0) return fail_here("AND and OR mixed without parentheses");
        condition first = std::move(out);
        out = condition{};
        out.kind = cond_kind::any_of;
        out.children.reserve(4);  // no regrowth for a typical clause
        out.children.push_back(std::move(first));
        while (kw("OR")) {
            ++i_;
            condition& next = out.children.emplace_back();
            if (!conjunction(next, depth, c, st, and_pos)) return false;
            if (and_pos != 0) return fail(and_pos, "AND and OR mixed without parentheses");
        }
        return true;
    }

    // and-expression; `and_pos` is the position of its first AND, 0 when there is none (an AND
    // never starts a statement, so 0 is free).
    bool conjunction(condition& out, int depth, clause c, statement& st, std::size_t& and_pos) {
        and_pos = 0;
        if (!negation(out, depth, c, st)) return false;
        if (!kw("AND")) return true;
        and_pos = peek().pos;
        condition first = std::move(out);
        out = condition{};
        out.kind = cond_kind::all_of;
        out.children.reserve(4);
        out.children.push_back(std::move(first));
        while (kw("AND")) {
            ++i_;
            condition& next = out.children.emplace_back();
            if (!negation(next, depth, c, st)) return false;
        }
        return true;
    }

    bool negation(condition& out, int depth, clause c, statement& st) {
        if (kw("NOT")) {
            if (!deeper(depth)) return false;
            ++i_;
            out.kind = cond_kind::negation;
            out.children.resize(1);
            return negation(out.children[0], depth + 1, c, st);
        }
        if (punct("(")) {
            if (kw("SELECT", 1))
                return fail(peek(1).pos, "a subquery in a condition is not supported");
            if (!deeper(depth)) return false;
            ++i_;
            if (!disjunction(out, depth + 1, c, st)) return false;
            return expect(")");
        }
        return comparison(out, c);
    }

    bool comparison(condition& out, clause c) {
        out.kind = cond_kind::compare;
        if (peek().kind == tok::ident && punct("(", 1)) {
            const fn_entry* f = find_function(peek().text);
            bool allowed = f != nullptr && (f->kind == fn_kind::date ||
                                            (c == clause::having && f->kind == fn_kind::aggregate));
            if (!allowed)
                return fail_here("a function SOQL's guard does not accept in a condition");
            out.function = std::string(f->name);
            out.function_kind = f->kind;
            i_ += 2;
            bool empty_count = out.function == "COUNT" && punct(")");
            if (!empty_count && !field_path(out.field)) return false;
            if (!expect(")")) return false;
        } else if (!field_path(out.field)) {
            return false;
        }
        // The operator.
        if (peek().kind == tok::punct &&
            (punct("=") || punct("!=") || punct("<") || punct("<=") || punct(">") || punct(">="))) {
            out.op = peek().text;
            ++i_;
        } else if (kw("LIKE") || kw("IN") || kw("INCLUDES") || kw("EXCLUDES")) {
            out.op = to_upper(peek().text);
            ++i_;
        } else if (kw("NOT") && kw("IN", 1)) {
            out.op = "NOT IN";
            i_ += 2;
        } else {
            return fail_here("expected a comparison operator");
        }
        out.list =
            out.op == "IN" || out.op == "NOT IN" || out.op == "INCLUDES" || out.op == "EXCLUDES";
        if (!out.list) {
            std::string v;
            if (!value(v)) return false;
            out.values.push_back(std::move(v));
            return true;
        }
        if (punct("(") && kw("SELECT", 1)) return fail(peek(1).pos, "semi-joins are not supported");
        if (!expect("(")) return false;
        do {
            std::string v;
            if (!value(v)) return false;
            out.values.push_back(std::move(v));
        } while (comma());
        return expect(")");
    }

    // A literal, written canonically into `out`.
    bool value(std::string& out) {
        const token& t = peek();
        switch (t.kind) {
            case tok::string:
                out.reserve(t.text.size() + 2);
                out = '\'';
                out += t.text;
                out += '\'';
                ++i_;
                return true;
            case tok::number:
            case tok::date:
            case tok::datetime:
                out = t.text;
                ++i_;
                return true;
            case tok::punct:
                if (t.text == ":") return fail_here("bind variables are not supported");
                return fail_here("expected a value");
            case tok::end:
                return fail_here("expected a value");
            case tok::ident:
                break;
        }
        if (iequals_ascii(t.text, "true") || iequals_ascii(t.text, "false") ||
            iequals_ascii(t.text, "null")) {
            std::string lower(t.text);
            for (char& c : lower)
                if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            out = lower;
            ++i_;
            return true;
        }
        for (std::string_view d : date_literals) {
            if (!iequals_ascii(d, t.text)) continue;
            out = std::string(d);
            ++i_;
            bool takes_n = d.substr(0, 2) == "N_" || d.find("_N_") != std::string_view::npos;
            if (!takes_n) {
                if (punct(":")) return fail_here("this date literal takes no ':n'");
                return true;
            }
            if (!punct(":") || peek().pos != t.end)
                return fail_here("this date literal needs ':n'");
            ++i_;
            std::uint64_t n = 0;
            if (peek().pos != t.end + 1 || !count(n))
                return fail_here("expected ':n' with n a non-negative integer");
            out += ':';
            out += std::to_string(n);
            return true;
        }
        // A currency literal: ISO code and amount, USD5000 or EUR5000.50.
        if (t.text.size() > 3 && is_alpha(t.text[0]) && is_alpha(t.text[1]) &&
            is_alpha(t.text[2]) && std::all_of(t.text.begin() + 3, t.text.end(), is_digit)) {
            out = to_upper(t.text.substr(0, 3));
            out += t.text.substr(3);
            std::size_t end = t.end;
            ++i_;
            if (punct(".") && peek().pos == end && peek(1).kind == tok::number &&
                peek(1).pos == end + 1 &&
                std::all_of(peek(1).text.begin(), peek(1).text.end(), is_digit)) {
                out += '.';
                out += peek(1).text;
                i_ += 2;
            }
            return true;
        }
        return fail_here("expected a value (a field or name is not a SOQL value)");
    }

    const std::pmr::vector<token>& tokens_;
    std::size_t i_ = 0;
};

bool parse_statement(std::string_view soql, statement& st, std::size_t& pos, std::string& detail) {
    // The tokens and the literals' canonical bodies live only while the statement is parsed: on
    // the stack for a typical statement, the heap only past it (a statement may be 20,000 bytes).
    std::array<std::byte, 8192> stack_buffer;
    std::pmr::monotonic_buffer_resource arena(stack_buffer.data(), stack_buffer.size());
    std::pmr::vector<token> tokens(&arena);
    tokens.reserve(soql.size() / 4 + 8);  // about one token per four bytes of a typical statement
    std::pmr::string literals(&arena);
    lexer lex(soql, literals);
    // SOSL is named before its braces trip the lexer.
    std::size_t first = soql.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && iequals_ascii(soql.substr(first, 4), "FIND") &&
        (first + 4 == soql.size() || !is_ident_char(soql[first + 4]))) {
        pos = first;
        detail = "SOSL (FIND) is not supported";
        return false;
    }
    if (!lex.run(tokens)) {
        pos = lex.error_pos;
        detail = std::move(lex.error_detail);
        return false;
    }
    parser p(tokens);
    if (!p.parse(st)) {
        pos = p.error_pos;
        detail = std::move(p.error_detail);
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Checker: resolves each reference to its catalogue spelling and checks it.

// The catalogue spelling of `ref` (compared ASCII case-insensitively): a known path equal to it,
// else the longest known path that is an ancestor of it, else a known path it is an ancestor of;
// the client's spelling when none is known (it is then stripped or refused).
// True when `ref` is spelled exactly as a known path: resolve_path returns it unchanged (an exact
// match ends its search). The common case, answered with lookups rather than a scan.
bool known_spelling(const field_policy& policy, std::string_view ref) {
    auto spelled = [ref](const filters::field_set* set) {
        return set != nullptr && holds(*set, ref);
    };
    return spelled(policy.allowed) || spelled(policy.catalogue) ||
           std::find(policy.rule_fields.begin(), policy.rule_fields.end(), ref) !=
               policy.rule_fields.end();
}

std::string resolve_path(const field_policy& policy, std::string_view ref) {
    if (known_spelling(policy, ref)) return std::string(ref);
    std::string_view full;
    std::string_view ancestor;
    std::string_view descendant;
    bool exact = false;
    auto visit = [&](const std::string& p) {
        if (exact) return;
        if (p == ref) {
            exact = true;
            full = p;
            return;
        }
        if (!full.empty()) return;
        if (iequals_ascii(p, ref)) {
            full = p;
        } else if (p.size() < ref.size() && ref[p.size()] == '.' &&
                   iequals_ascii(p, ref.substr(0, p.size()))) {
            if (p.size() > ancestor.size()) ancestor = p;
        } else if (descendant.empty() && ref.size() < p.size() && p[ref.size()] == '.' &&
                   iequals_ascii(std::string_view(p).substr(0, ref.size()), ref)) {
            descendant = std::string_view(p).substr(0, ref.size());
        }
    };
    if (policy.allowed != nullptr)
        for (const auto& p : policy.allowed->paths()) visit(p);
    if (policy.catalogue != nullptr)
        for (const auto& p : policy.catalogue->paths()) visit(p);
    for (const auto& p : policy.rule_fields) visit(p);
    if (!full.empty()) return std::string(full);
    if (!ancestor.empty()) return std::string(ancestor) + std::string(ref.substr(ancestor.size()));
    if (!descendant.empty()) return std::string(descendant);
    return std::string(ref);
}

class checker {
  public:
    checker(const field_policy& policy, guarded_query& q, std::string_view parameter)
        : policy_(policy), q_(q), parameter_(parameter) {}

    bool check(statement& st) { return st.aggregate ? check_aggregate(st) : check_records(st); }

  private:
    void resolve(field_ref& f) {
        if (!known_spelling(policy_, f.path)) f.path = resolve_path(policy_, f.path);
    }

    bool read(field_ref& f, use how) {
        resolve(f);
        return check_read(q_, policy_, f.path, how);
    }

    // A field below a relationship (subquery, TYPEOF): checked as `prefix.field`, then written
    // back relative to the prefix in the catalogue's spelling.
    bool read_below(const std::string& prefix, field_ref& f, use how) {
        std::string full = resolve_path(policy_, prefix + "." + f.path);
        if (!check_read(q_, policy_, full, how)) return false;
        f.path = full.substr(prefix.size() + 1);
        return true;
    }

    bool condition_reads(condition& c, clause where, const std::string* prefix) {
        if (c.kind != cond_kind::compare) {
            for (auto& child : c.children)
                if (!condition_reads(child, where, prefix)) return false;
            return true;
        }
        if (c.field.path.empty()) return true;  // COUNT()
        use how = use::filter;
        if (where == clause::having)
            how = c.function_kind == fn_kind::aggregate && !c.function.empty() ? use::aggregate
                                                                               : use::group;
        return prefix != nullptr ? read_below(*prefix, c.field, how) : read(c.field, how);
    }

    bool order_reads(std::vector<order_item>& order, const std::string* prefix) {
        for (auto& o : order) {
            if (o.field.path.empty()) continue;  // COUNT()
            if (!(prefix != nullptr ? read_below(*prefix, o.field, use::order)
                                    : read(o.field, use::order)))
                return false;
        }
        return true;
    }

    bool check_child(child_query& child) {
        resolve(child.relationship);
        const std::string& rel = child.relationship.path;
        for (auto& f : child.fields)
            if (!read_below(rel, f, use::select)) return false;
        if (child.where && !condition_reads(*child.where, clause::where, &rel)) return false;
        return order_reads(child.order, &rel);
    }

    bool check_polymorphic(polymorphic_item& poly) {
        resolve(poly.field);
        for (auto& branch : poly.whens)
            for (auto& f : branch.fields)
                if (!read_below(poly.field.path, f, use::select)) return false;
        for (auto& f : poly.otherwise)
            if (!read_below(poly.field.path, f, use::select)) return false;
        return true;
    }

    bool check_records(statement& st) {
        std::vector<std::string> selected;
        selected.reserve(st.items.size());
        bool all_fields = false;
        bool other_items = false;
        for (auto& item : st.items) {
            switch (item.kind) {
                case item_kind::field:
                    resolve(item.field);
                    selected.push_back(item.field.path);
                    break;
                case item_kind::fields:
                    all_fields = true;
                    break;
                case item_kind::function:
                    other_items = true;
                    if (!read(item.field, use::compute)) return false;
                    break;
                case item_kind::subquery:
                    other_items = true;
                    if (!check_child(st.children[item.index])) return false;
                    break;
                case item_kind::polymorphic:
                    other_items = true;
                    if (!check_polymorphic(st.polymorphics[item.index])) return false;
                    break;
            }
        }
        if (st.where && !condition_reads(*st.where, clause::where, nullptr)) return false;
        if (!order_reads(st.order, nullptr)) return false;
        if (all_fields && selected.empty()) {
            resolve_selection(q_, policy_, false, selected);
        } else {
            resolve_selection(q_, policy_, true, selected);
            if (all_fields && policy_.allowed != nullptr) {
                // FIELDS(ALL) next to named fields: every allowed field, then the rule fields.
                for (const auto& p : policy_.allowed->paths())
                    if (std::find(q_.kept.begin(), q_.kept.end(), p) == q_.kept.end())
                        q_.kept.push_back(p);
                q_.sent = q_.kept;
                for (const auto& p : policy_.rule_fields)
                    if (std::find(q_.sent.begin(), q_.sent.end(), p) == q_.sent.end())
                        q_.sent.push_back(p);
            }
        }
        // The rule fields go last, in rule order, even when the client named one: the forwarded
        // statement then guards to itself (a rule field the client selected would otherwise move
        // on a second pass).
        std::vector<std::string> sent;
        sent.reserve(q_.sent.size());
        for (auto& f : q_.sent)  // moved from: q_.sent is replaced below
            if (std::find(policy_.rule_fields.begin(), policy_.rule_fields.end(), f) ==
                policy_.rule_fields.end())
                sent.push_back(std::move(f));
        for (const auto& f : policy_.rule_fields)
            if (std::find(sent.begin(), sent.end(), f) == sent.end()) sent.push_back(f);
        q_.sent = std::move(sent);
        if (q_.sent.empty() && !other_items) {
            if (!q_.stripped.empty())
                return fail_field(q_, policy_, q_.stripped.front(), use::select);
            return fail_unsupported(q_, parameter_, st.items.front().pos,
                                    "the purpose keeps no field of this object to select");
        }
        return true;
    }

    bool check_alias(const select_item& item) {
        auto clash = [&](const std::string& p) {
            std::string_view first = std::string_view(p).substr(0, p.find('.'));
            return iequals_ascii(item.alias, p) || iequals_ascii(item.alias, first);
        };
        auto refuse = [&](const std::string& p) { return fail_field(q_, policy_, p, use::alias); };
        if (policy_.catalogue != nullptr)
            for (const auto& p : policy_.catalogue->paths())
                if (clash(p)) return refuse(p);
        if (policy_.allowed != nullptr)
            for (const auto& p : policy_.allowed->paths())
                if (clash(p)) return refuse(p);
        for (const auto& p : policy_.rule_fields)
            if (clash(p)) return refuse(p);
        return true;
    }

    bool check_aggregate(statement& st) {
        if (!policy_.rule_fields.empty())
            return fail_unsupported(q_, parameter_, st.aggregate_pos,
                                    "an aggregate, grouping or alias cannot carry the fields the "
                                    "record rules read");
        std::vector<std::string> plain;
        for (auto& item : st.items) {
            switch (item.kind) {
                case item_kind::field:
                    if (!read(item.field, use::group)) return false;
                    plain.push_back(item.field.path);
                    break;
                case item_kind::function:
                    if (!item.field.path.empty()) {
                        use how = item.function_kind == fn_kind::aggregate ? use::aggregate
                                  : item.function_kind == fn_kind::date    ? use::group
                                                                           : use::compute;
                        if (!read(item.field, how)) return false;
                    }
                    if (!item.alias.empty() && !check_alias(item)) return false;
                    break;
                case item_kind::fields:
                case item_kind::subquery:
                case item_kind::polymorphic:
                    return fail_unsupported(q_, parameter_, item.pos,
                                            "FIELDS(), subqueries and TYPEOF are not supported in "
                                            "an aggregate query");
            }
        }
        if (st.where && !condition_reads(*st.where, clause::where, nullptr)) return false;
        for (auto& g : st.group_by)
            if (!read(g.field, use::group)) return false;
        if (st.having && !condition_reads(*st.having, clause::having, nullptr)) return false;
        if (!order_reads(st.order, nullptr)) return false;
        if (!plain.empty()) resolve_selection(q_, policy_, true, plain);
        return true;
    }

    const field_policy& policy_;
    guarded_query& q_;
    std::string_view parameter_;
};

// ---------------------------------------------------------------------------------------------
// Re-serialiser: canonical spacing, upper-case keywords, from the checked statement only.

void join(std::string& out, const std::vector<std::string>& parts, std::string_view sep) {
    for (std::size_t k = 0; k < parts.size(); ++k) {
        if (k != 0) out += sep;
        out += parts[k];
    }
}

std::string paths(const std::vector<field_ref>& fields) {
    std::string out;
    for (std::size_t k = 0; k < fields.size(); ++k) {
        if (k != 0) out += ", ";
        out += fields[k].path;
    }
    return out;
}

std::string call(std::string_view function, const field_ref& f) {
    if (function.empty()) return f.path;
    return std::string(function) + "(" + f.path + ")";
}

// Appends call(function, f) without a string of its own.
void append_call(std::string& out, std::string_view function, const field_ref& f) {
    if (function.empty()) {
        out += f.path;
        return;
    }
    out += function;
    out += '(';
    out += f.path;
    out += ')';
}

void write_condition(std::string& out, const condition& c) {
    switch (c.kind) {
        case cond_kind::compare:
            append_call(out, c.function, c.field);
            out += ' ';
            out += c.op;
            out += ' ';
            if (c.list) {
                out += '(';
                join(out, c.values, ", ");
                out += ')';
            } else {
                out += c.values.front();
            }
            return;
        case cond_kind::all_of:
        case cond_kind::any_of:
            for (std::size_t k = 0; k < c.children.size(); ++k) {
                if (k != 0) out += c.kind == cond_kind::all_of ? " AND " : " OR ";
                bool group = c.children[k].kind == cond_kind::all_of ||
                             c.children[k].kind == cond_kind::any_of;
                if (group) out += '(';
                write_condition(out, c.children[k]);
                if (group) out += ')';
            }
            return;
        case cond_kind::negation:
            out += "NOT (";
            write_condition(out, c.children.front());
            out += ')';
            return;
    }
}

void write_order(std::string& out, const std::vector<order_item>& order) {
    if (order.empty()) return;
    out += " ORDER BY ";
    for (std::size_t k = 0; k < order.size(); ++k) {
        if (k != 0) out += ", ";
        append_call(out, order[k].function, order[k].field);
        if (!order[k].direction.empty()) {
            out += ' ';
            out += order[k].direction;
        }
        if (!order[k].nulls.empty()) {
            out += " NULLS ";
            out += order[k].nulls;
        }
    }
}

std::string write_item(const statement& st, const select_item& item) {
    switch (item.kind) {
        case item_kind::field:
            return item.field.path;
        case item_kind::fields:
            return {};
        case item_kind::function: {
            std::string out = call(item.function, item.field);
            if (item.field.path.empty()) out = item.function + "()";
            if (!item.alias.empty()) out += " " + item.alias;
            return out;
        }
        case item_kind::subquery: {
            const child_query& child = st.children[item.index];
            std::string out = "(SELECT " + paths(child.fields) + " FROM " + child.relationship.path;
            if (child.where) {
                out += " WHERE ";
                write_condition(out, *child.where);
            }
            write_order(out, child.order);
            if (child.limit) out += " LIMIT " + std::to_string(*child.limit);
            return out + ")";
        }
        case item_kind::polymorphic: {
            const polymorphic_item& poly = st.polymorphics[item.index];
            std::string out = "TYPEOF " + poly.field.path;
            for (const auto& branch : poly.whens)
                out += " WHEN " + branch.type + " THEN " + paths(branch.fields);
            if (poly.has_else) out += " ELSE " + paths(poly.otherwise);
            return out + " END";
        }
    }
    return {};
}

std::string write_statement(const statement& st, const guarded_query& q,
                            const field_policy& policy) {
    std::string out;
    out.reserve(256);
    out += "SELECT ";
    bool first = true;
    auto add_item = [&](std::string_view text) {
        if (!first) out += ", ";
        first = false;
        out += text;
    };
    if (st.aggregate) {
        for (const auto& item : st.items) add_item(write_item(st, item));
    } else {
        // The selection the CRM receives (kept fields and the forced rule fields), then the
        // function items, subqueries and TYPEOFs in the client's order.
        for (const auto& f : q.sent) add_item(f);
        for (const auto& item : st.items)
            if (item.kind != item_kind::field && item.kind != item_kind::fields)
                add_item(write_item(st, item));
    }
    out += " FROM ";
    out += policy.object_name;
    if (!st.scope.empty()) out += " USING SCOPE " + st.scope;
    if (st.where) {
        out += " WHERE ";
        write_condition(out, *st.where);
    }
    if (!st.with.empty()) out += " WITH " + st.with;
    if (!st.group_by.empty()) {
        out += " GROUP BY ";
        for (std::size_t k = 0; k < st.group_by.size(); ++k) {
            if (k != 0) out += ", ";
            append_call(out, st.group_by[k].function, st.group_by[k].field);
        }
    }
    if (st.having) {
        out += " HAVING ";
        write_condition(out, *st.having);
    }
    write_order(out, st.order);
    if (st.limit) out += " LIMIT " + std::to_string(*st.limit);
    if (st.offset) out += " OFFSET " + std::to_string(*st.offset);
    return out;
}

// ---------------------------------------------------------------------------------------------
// References (for tests and fuzzing).

void condition_references(const condition& c, clause where, const std::string& prefix,
                          std::vector<soql_reference>& out) {
    if (c.kind != cond_kind::compare) {
        for (const auto& child : c.children) condition_references(child, where, prefix, out);
        return;
    }
    if (c.field.path.empty()) return;
    use how = where == clause::having
                  ? (c.function_kind == fn_kind::aggregate && !c.function.empty() ? use::aggregate
                                                                                  : use::group)
                  : use::filter;
    out.push_back({prefix + c.field.path, how, false});
}

void order_references(const std::vector<order_item>& order, const std::string& prefix,
                      std::vector<soql_reference>& out) {
    for (const auto& o : order)
        if (!o.field.path.empty()) out.push_back({prefix + o.field.path, use::order, false});
}

// A name the REST refusal may show: a short token, else a placeholder.
std::string shown_parameter(std::string_view name) {
    bool plain =
        !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
            return is_ident_char(c) || c == '$' || c == '.' || c == '[' || c == ']' || c == '-';
        });
    return plain ? std::string(name) : std::string("(parameter)");
}

// ---------------------------------------------------------------------------------------------
// SOAP envelope.

std::string_view local_name(const pugi::xml_node& n) {
    std::string_view name = n.name();
    auto colon = name.find(':');
    return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

// The namespace URI of an element, from the xmlns declarations in scope.
std::string_view namespace_of(const pugi::xml_node& n) {
    std::string_view name = n.name();
    auto colon = name.find(':');
    std::string attr = colon == std::string_view::npos
                           ? std::string("xmlns")
                           : "xmlns:" + std::string(name.substr(0, colon));
    for (pugi::xml_node e = n; e.type() == pugi::node_element; e = e.parent())
        if (pugi::xml_attribute a = e.attribute(attr.c_str())) return a.value();
    return {};
}

bool is_element(const pugi::xml_node& n, std::string_view ns, std::string_view local) {
    return n.type() == pugi::node_element && local_name(n) == local && namespace_of(n) == ns;
}

std::size_t offset_of(const pugi::xml_node& n) {
    std::ptrdiff_t off = n.offset_debug();
    return off < 0 ? 0 : static_cast<std::size_t>(off);
}

std::string_view trim(std::string_view s) {
    auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    auto last = s.find_last_not_of(" \t\r\n");
    return s.substr(first, last - first + 1);
}

class envelope_reader {
  public:
    explicit envelope_reader(guarded_query& q) : q_(q) {}

    std::string ns;         // the operation's namespace (partner or enterprise)
    std::string operation;  // query, queryAll, queryMore
    std::string text;       // queryString or queryLocator
    std::string session;    // SessionHeader/sessionId, or empty
    std::string batch;      // QueryOptions/batchSize, or empty

    bool read(const pugi::xml_document& doc) {
        pugi::xml_node envelope;
        for (pugi::xml_node n : doc.children()) {
            if (n.type() != pugi::node_element) return refuse(n, "text outside the Envelope");
            if (envelope) return refuse(n, "more than one document element");
            envelope = n;
        }
        if (!envelope || !is_element(envelope, soap_envelope_ns, "Envelope"))
            return refuse(envelope, "the document is not a SOAP 1.1 Envelope");
        pugi::xml_node header;
        pugi::xml_node body;
        for (pugi::xml_node n : envelope.children()) {
            if (!header && !body && is_element(n, soap_envelope_ns, "Header")) {
                header = n;
            } else if (!body && is_element(n, soap_envelope_ns, "Body")) {
                body = n;
            } else {
                return refuse(n, "the Envelope holds something other than one Header and one Body");
            }
        }
        if (!body) return refuse(envelope, "the Envelope has no Body");
        if (!read_operation(body)) return false;
        return !header || read_header(header);
    }

  private:
    bool refuse(const pugi::xml_node& n, std::string detail) {
        return fail_unsupported(q_, "body", offset_of(n), std::move(detail));
    }

    // The only element child of `parent` (no text beside it).
    bool only_child(const pugi::xml_node& parent, pugi::xml_node& out, const char* what) {
        for (pugi::xml_node n : parent.children()) {
            if (n.type() != pugi::node_element || out)
                return refuse(n, std::string(what) + " must hold exactly one element");
            out = n;
        }
        if (!out) return refuse(parent, std::string(what) + " must hold exactly one element");
        return true;
    }

    // The text of an element with no element children.
    bool text_of(const pugi::xml_node& n, std::string& out) {
        for (pugi::xml_node c : n.children()) {
            if (c.type() != pugi::node_pcdata && c.type() != pugi::node_cdata)
                return refuse(c, "a value element holds markup");
            out += c.value();
        }
        return true;
    }

    bool read_operation(const pugi::xml_node& body) {
        pugi::xml_node op;
        if (!only_child(body, op, "the Body")) return false;
        std::string_view op_ns = namespace_of(op);
        std::string_view local = local_name(op);
        if ((op_ns != partner_ns && op_ns != enterprise_ns) ||
            (local != "query" && local != "queryAll" && local != "queryMore"))
            return refuse(op,
                          "the operation is not query, queryAll or queryMore of the Partner or "
                          "Enterprise API");
        ns = std::string(op_ns);
        operation = std::string(local);
        pugi::xml_node arg;
        if (!only_child(op, arg, "the operation")) return false;
        const char* expected = operation == "queryMore" ? "queryLocator" : "queryString";
        if (!is_element(arg, ns, expected))
            return refuse(arg, std::string("the operation takes one ") + expected);
        return text_of(arg, text);
    }

    bool read_header(const pugi::xml_node& header) {
        bool seen_session = false;
        bool seen_options = false;
        for (pugi::xml_node n : header.children()) {
            pugi::xml_node value;
            if (is_element(n, ns, "SessionHeader") && !seen_session) {
                seen_session = true;
                if (!only_child(n, value, "SessionHeader")) return false;
                if (!is_element(value, ns, "sessionId"))
                    return refuse(value, "SessionHeader takes one sessionId");
                std::string raw;
                if (!text_of(value, raw)) return false;
                std::string_view id = trim(raw);
                bool token = !id.empty() && id.size() <= 1024 &&
                             std::all_of(id.begin(), id.end(), [](char c) {
                                 return is_ident_char(c) || c == '!' || c == '.' || c == '-' ||
                                        c == '+' || c == '/' || c == '=';
                             });
                if (!token) return refuse(value, "the sessionId is not a session token");
                session = std::string(id);
            } else if (is_element(n, ns, "QueryOptions") && !seen_options) {
                seen_options = true;
                if (!only_child(n, value, "QueryOptions")) return false;
                if (!is_element(value, ns, "batchSize"))
                    return refuse(value, "QueryOptions takes one batchSize");
                std::string raw;
                if (!text_of(value, raw)) return false;
                std::string_view digits = trim(raw);
                int size = 0;
                bool number = !digits.empty() && digits.size() <= 4 &&
                              std::all_of(digits.begin(), digits.end(), is_digit);
                if (number)
                    for (char c : digits) size = size * 10 + (c - '0');
                if (!number || size < 200 || size > 2000)
                    return refuse(value, "batchSize must be an integer from 200 to 2000");
                batch = std::to_string(size);
            } else {
                return refuse(n, "a SOAP header other than SessionHeader and QueryOptions");
            }
        }
        return true;
    }

    guarded_query& q_;
};

std::string write_envelope(const envelope_reader& call_in, std::string_view value,
                           std::string_view session) {
    std::string out = R"(<?xml version="1.0" encoding="UTF-8"?>)";
    out += R"(<soapenv:Envelope xmlns:soapenv=")";
    out += soap_envelope_ns;
    out += R"(" xmlns:urn=")";
    out += call_in.ns;
    out += R"(">)";
    // The session is exportwall's (the upstream's soap-session-id), never the client's.
    if (!session.empty() || !call_in.batch.empty()) {
        out += "<soapenv:Header>";
        if (!session.empty())
            out += "<urn:SessionHeader><urn:sessionId>" + common::xml_text_escaped(session) +
                   "</urn:sessionId></urn:SessionHeader>";
        if (!call_in.batch.empty())
            out += "<urn:QueryOptions><urn:batchSize>" + call_in.batch +
                   "</urn:batchSize></urn:QueryOptions>";
        out += "</soapenv:Header>";
    }
    const char* element = call_in.operation == "queryMore" ? "queryLocator" : "queryString";
    out += "<soapenv:Body><urn:" + call_in.operation + "><urn:" + element + ">";
    out += common::xml_text_escaped(value);
    out += "</urn:" + std::string(element) + "></urn:" + call_in.operation +
           "></soapenv:Body></soapenv:Envelope>";
    return out;
}

}  // namespace

guarded_query guard_soql_statement(const field_policy& policy, std::string_view soql,
                                   std::string_view parameter) {
    guarded_query q;
    if (soql.size() > max_statement_bytes) {
        fail_unsupported(q, parameter, max_statement_bytes,
                         "the statement is longer than 20000 bytes");
        return q;
    }
    statement st;
    std::size_t pos = 0;
    std::string detail;
    if (!parse_statement(soql, st, pos, detail)) {
        fail_unsupported(q, parameter, pos, std::move(detail));
        return q;
    }
    if (policy.object_name.empty() || !iequals_ascii(st.object, policy.object_name)) {
        fail_unsupported(q, parameter, st.object_pos,
                         "FROM names an object this route does not serve");
        return q;
    }
    checker check(policy, q, parameter);
    if (!check.check(st)) return q;
    q.query = write_statement(st, q, policy);
    return q;
}

guarded_query guard_soql_rest(const field_policy& policy, std::string_view raw_query) {
    guarded_query q;
    if (raw_query.empty()) return q;  // queryMore continuation: nothing to check or forward
    std::vector<query_param_view> params;
    std::string decoded;
    std::string detail;
    if (!split_query(raw_query, params, decoded, detail)) {
        // split_query's detail may spell a parameter name; ours never does.
        fail_invalid(q, "the query string has a malformed percent-escape or a control character");
        return q;
    }
    const query_param_view* statement_param = nullptr;
    for (const auto& p : params) {
        if (p.name == "q") {
            if (statement_param != nullptr) {
                fail_invalid(q, "parameter 'q' appears more than once");
                return q;
            }
            statement_param = &p;
            continue;
        }
        std::string shown = shown_parameter(p.name);
        fail_unsupported(q, shown, 0,
                         "the query endpoint takes only the parameter 'q', not '" + shown + "'");
        return q;
    }
    if (statement_param == nullptr) {
        fail_unsupported(q, "q", 0, "the query endpoint needs one 'q' parameter");
        return q;
    }
    guarded_query r = guard_soql_statement(policy, statement_param->value, "q");
    if (!r.forwarded()) return r;
    std::string soql = std::move(r.query);
    r.query.clear();
    r.query.reserve(soql.size() + soql.size() / 2 + 2);
    append_param(r.query, "q", soql);
    return r;
}

guarded_query guard_soql_soap(const field_policy& policy, std::string_view body) {
    guarded_query q;
    if (body.size() > max_body_bytes) {
        fail_unsupported(q, "body", max_body_bytes, "the SOAP body is larger than 1 MiB");
        return q;
    }
    for (std::size_t k = 0; k + 9 <= body.size(); ++k) {
        if (body[k] == '<' && iequals_ascii(body.substr(k, 9), "<!DOCTYPE")) {
            fail_unsupported(q, "body", k, "a document type declaration is not accepted");
            return q;
        }
    }
    pugi::xml_document doc;
    pugi::xml_parse_result parsed =
        doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8);
    if (!parsed) {
        fail_unsupported(q, "body", parsed.offset < 0 ? 0 : static_cast<std::size_t>(parsed.offset),
                         "the SOAP body is not well-formed XML");
        return q;
    }
    envelope_reader call_in(q);
    if (!call_in.read(doc)) return q;
    if (call_in.operation == "queryMore") {
        // The queryLocator is the CRM's only as exportwall sealed it into the answer that
        // carried it (filters/xml/xml_filter.cpp): bound to the declaration, route and path, with
        // no other content (the locator continues its query on the CRM).
        auto refuse_token = [&q](const std::string& why) {
            q.result = verdict::continuation_invalid;
            q.parameter = "queryLocator";
            q.position = 0;
            q.detail = "queryLocator: " + why;
            return q;
        };
        if (policy.tokens == nullptr) return refuse_token("paging tokens cannot be opened here");
        std::string why;
        auto crm = policy.tokens->open(trim(call_in.text), "", why);
        if (!crm) return refuse_token(why);
        std::string_view locator = *crm;
        bool token = !locator.empty() && locator.size() <= 256 &&
                     std::all_of(locator.begin(), locator.end(),
                                 [](char c) { return is_alpha(c) || is_digit(c) || c == '-'; });
        if (!token) return refuse_token("the CRM's queryLocator is not a locator token");
        q.body = write_envelope(call_in, locator, policy.soap_session);
        q.operation = call_in.operation;
        return q;
    }
    guarded_query r = guard_soql_statement(policy, call_in.text, "queryString");
    if (!r.forwarded()) return r;
    r.body = write_envelope(call_in, r.query, policy.soap_session);
    r.query.clear();
    r.operation = call_in.operation;
    return r;
}

std::optional<std::vector<soql_reference>> soql_references(std::string_view soql) {
    if (soql.size() > max_statement_bytes) return std::nullopt;
    statement st;
    std::size_t pos = 0;
    std::string detail;
    if (!parse_statement(soql, st, pos, detail)) return std::nullopt;
    std::vector<soql_reference> out;
    const std::string none;
    for (const auto& item : st.items) {
        switch (item.kind) {
            case item_kind::field:
                out.push_back({item.field.path, use::select, true});
                break;
            case item_kind::fields:
                break;
            case item_kind::function:
                if (!item.field.path.empty())
                    out.push_back({item.field.path,
                                   item.function_kind == fn_kind::aggregate ? use::aggregate
                                   : item.function_kind == fn_kind::date    ? use::group
                                                                            : use::compute,
                                   false});
                break;
            case item_kind::subquery: {
                const child_query& child = st.children[item.index];
                std::string prefix = child.relationship.path + ".";
                for (const auto& f : child.fields)
                    out.push_back({prefix + f.path, use::select, false});
                if (child.where) condition_references(*child.where, clause::where, prefix, out);
                order_references(child.order, prefix, out);
                break;
            }
            case item_kind::polymorphic: {
                const polymorphic_item& poly = st.polymorphics[item.index];
                std::string prefix = poly.field.path + ".";
                for (const auto& branch : poly.whens)
                    for (const auto& f : branch.fields)
                        out.push_back({prefix + f.path, use::select, false});
                for (const auto& f : poly.otherwise)
                    out.push_back({prefix + f.path, use::select, false});
                break;
            }
        }
    }
    if (st.where) condition_references(*st.where, clause::where, none, out);
    for (const auto& g : st.group_by) out.push_back({g.field.path, use::group, false});
    if (st.having) condition_references(*st.having, clause::having, none, out);
    order_references(st.order, none, out);
    return out;
}

}  // namespace exportwall::config::query
