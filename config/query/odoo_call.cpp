#include "config/query/odoo_call.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "config/query/guard_support.hpp"
#include "config/query/json_body.hpp"

namespace exportwall::config::query {
namespace {

namespace json = boost::json;

constexpr std::size_t max_domain_terms = 64;

// Odoo's domain operators (odoo/osv/expression.py TERM_OPERATORS), less the hierarchy ones
// (child_of, parent_of: they read the model's parent relation) and `any`/`not any` (sub-domains
// over a relation).
constexpr std::array<std::string_view, 16> term_operators{
    "=",      "!=",   "<=",       "<",     ">",         ">=", "=?",     "=like",
    "=ilike", "like", "not like", "ilike", "not ilike", "in", "not in", "<>"};

// Boost.JSON reads 1e999 as infinity and would write it back as `Infinity`, which is no JSON.
bool scalar(const json::value& v) {
    return v.is_string() || v.is_int64() || v.is_uint64() || v.is_bool() || v.is_null() ||
           (v.is_double() && std::isfinite(v.get_double()));
}

// The upstream's uid as Odoo takes it (an integer); nullopt unless `s` is all digits and fits.
std::optional<std::int64_t> rpc_uid(std::string_view s) {
    std::int64_t uid = 0;
    auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), uid);
    if (s.empty() || err != std::errc() || end != s.data() + s.size() || s.front() == '-')
        return std::nullopt;
    return uid;
}

class search_read_checker {
  public:
    search_read_checker(const field_policy& policy, guarded_query& q, const odoo_refusal& refuse)
        : policy_(policy), q_(q), refuse_(refuse) {}

    bool run(const json::array& args, odoo_search_read& out) {
        if (args.size() < 6 || args.size() > 7)
            return refuse_("",
                           "execute_kw takes db, uid, password, model, method, [domain], {kwargs}");
        // The client's db, uid and password are read past, never forwarded (clients hold no CRM
        // credentials): exportwall's own are written instead.
        const auto uid = rpc_uid(policy_.rpc_user);
        if (policy_.rpc_database.empty() || policy_.rpc_password.empty() || !uid)
            return refuse_("", "this route's upstream has no rpc-login");
        out.uid = *uid;
        const auto& model = args[3];
        if (!model.is_string() || policy_.object_name.empty() ||
            model.get_string() != policy_.object_name)
            return refuse_("/3", "the model must be this route's object");
        if (!args[4].is_string() || args[4].get_string() != "search_read")
            return refuse_("/4", "only search_read is an export");
        // execute_kw's sixth argument is the method's positional arguments: search_read's are
        // (domain, fields, offset, limit, order). Only the domain is taken positionally; the rest
        // would bypass the keyword checks (and a list of terms read as positional arguments is
        // not the domain the guard checked).
        const auto* positional = args[5].if_array();
        if (positional == nullptr || positional->size() != 1)
            return refuse_("/5", "the positional arguments are [domain]");
        const auto* domain = (*positional)[0].if_array();
        if (domain == nullptr) return refuse_("/5/0", "the domain must be a list");
        if (!check_domain(*domain)) return false;
        out.domain = *domain;  // every string and number re-serialised, nothing else
        if (args.size() == 7) {
            const auto* kw = args[6].if_object();
            if (kw == nullptr) return refuse_("/6", "the keyword arguments are an object");
            if (!check_kwargs(*kw, out.kwargs)) return false;
        } else {
            resolve_selection(q_, policy_, false, {});
        }
        json::array fields;
        for (const auto& f : q_.sent) fields.emplace_back(f);
        out.kwargs["fields"] = std::move(fields);
        return true;
    }

  private:
    // Polish notation: '&' and '|' take two operands, '!' one; top-level terms are joined by an
    // implicit '&'. Each term's field is read by the CRM: it must be one the purpose keeps.
    bool check_domain(const json::array& domain) {
        if (domain.size() > max_domain_terms)
            return refuse_("/5/0", "the domain has too many terms");
        std::size_t pending = 0;  // operands still owed to operators, read right to left
        for (std::size_t i = domain.size(); i-- > 0;) {
            const auto& t = domain[i];
            const std::string at = "/5/0/" + std::to_string(i);
            if (t.is_string()) {
                std::string_view op = t.get_string();
                std::size_t arity = op == "!" ? 1 : (op == "&" || op == "|") ? 2 : 0;
                if (arity == 0) return refuse_(at, "an operator is '&', '|' or '!'");
                if (pending < arity) return refuse_(at, "the operator lacks operands");
                pending = pending - arity + 1;
                continue;
            }
            const auto* term = t.if_array();
            if (term == nullptr || term->size() != 3 || !(*term)[0].is_string() ||
                !(*term)[1].is_string())
                return refuse_(at, "a term is [field, operator, value]");
            std::string_view field = (*term)[0].get_string();
            std::string_view op = (*term)[1].get_string();
            if (std::find(term_operators.begin(), term_operators.end(), op) == term_operators.end())
                return refuse_(at + "/1", "the operator is not supported");
            const auto& value = (*term)[2];
            bool list_op = op == "in" || op == "not in";
            bool ok = list_op ? value.is_array() && std::all_of(value.get_array().begin(),
                                                                value.get_array().end(), scalar)
                              : scalar(value);
            if (!ok) return refuse_(at + "/2", "the value does not fit the operator");
            if (!check_read(q_, policy_, std::string(field), use::filter)) return false;
            ++pending;
        }
        return true;
    }

    bool check_kwargs(const json::object& kw, json::object& out) {
        bool present = false;
        std::vector<std::string> selected;
        for (const auto& m : kw) {
            std::string_view k = m.key();
            const std::string at = "/6/" + pointer_token(k);
            const json::value& v = m.value();
            if (k == "fields") {
                const auto* list = v.if_array();
                if (list == nullptr) return refuse_(at, "a list of field names");
                present = true;
                for (const auto& f : *list) {
                    if (!f.is_string() || f.get_string().empty())
                        return refuse_(at, "a list of field names");
                    selected.emplace_back(f.get_string());
                }
            } else if (k == "limit" || k == "offset") {
                if (!(v.is_int64() && v.get_int64() >= 0) && !v.is_uint64())
                    return refuse_(at, "a non-negative integer");
                out[k] = v;
            } else if (k == "order") {
                std::string canonical;
                if (!v.is_string()) return refuse_(at, "'field [asc|desc], …'");
                if (!check_order(v.get_string(), canonical))
                    return q_.result != verdict::forward ? false
                                                         : refuse_(at, "'field [asc|desc], …'");
                out[k] = canonical;
            } else {
                return refuse_(at, "no keyword of search_read this route accepts");
            }
        }
        resolve_selection(q_, policy_, present, selected);
        return q_.result == verdict::forward;
    }

    // "name asc, id desc": each field checked as read (the CRM sorts by its value).
    bool check_order(std::string_view s, std::string& out) {
        for (bool more = true; more;) {
            auto comma = s.find(',');
            more = comma != std::string_view::npos;
            std::string_view part = s.substr(0, comma);
            s = more ? s.substr(comma + 1) : std::string_view{};
            std::vector<std::string> words;
            std::string w;
            for (char c : part) {
                if (c == ' ') {
                    if (!w.empty()) words.push_back(std::move(w));
                    w.clear();
                } else {
                    w.push_back(c);
                }
            }
            if (!w.empty()) words.push_back(std::move(w));
            if (words.empty() || words.size() > 2) return false;
            if (words.size() == 2 && words[1] != "asc" && words[1] != "desc" && words[1] != "ASC" &&
                words[1] != "DESC")
                return false;
            if (!std::all_of(words[0].begin(), words[0].end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.';
                }))
                return false;
            if (!check_read(q_, policy_, words[0], use::order)) return false;
            if (!out.empty()) out += ", ";
            out += words[0];
            if (words.size() == 2) {
                out += ' ';
                out += words[1] == "asc" || words[1] == "ASC" ? "asc" : "desc";
            }
        }
        return !out.empty();
    }

    const field_policy& policy_;
    guarded_query& q_;
    const odoo_refusal& refuse_;
};

}  // namespace

bool check_odoo_search_read(const field_policy& policy, guarded_query& q, const json::array& args,
                            const odoo_refusal& refuse, odoo_search_read& out) {
    search_read_checker checker(policy, q, refuse);
    return checker.run(args, out);
}

}  // namespace exportwall::config::query
