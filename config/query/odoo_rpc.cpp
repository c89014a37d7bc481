#include "config/query/odoo_rpc.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "config/query/guard_support.hpp"
#include "config/query/json_body.hpp"

namespace exportwall::config::query {
namespace {

namespace json = boost::json;

constexpr std::size_t max_body_bytes = std::size_t{256} * 1024;
constexpr std::size_t max_depth = 32;
constexpr std::size_t max_domain_terms = 64;
constexpr std::string_view body_parameter = "body";

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

// The upstream's uid as Odoo takes it (a JSON integer); nullopt unless `s` is all digits and fits.
std::optional<std::int64_t> rpc_uid(std::string_view s) {
    std::int64_t uid = 0;
    auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), uid);
    if (s.empty() || err != std::errc() || end != s.data() + s.size() || s.front() == '-')
        return std::nullopt;
    return uid;
}

class rpc_guard {
  public:
    rpc_guard(const field_policy& policy, guarded_query& q) : policy_(policy), q_(q) {}

    bool run(const json::value& doc) {
        const auto* top = doc.if_object();
        if (top == nullptr) return refuse("/", "the body must be a JSON-RPC object");
        for (const auto& m : *top) {
            std::string_view k = m.key();
            if (k != "jsonrpc" && k != "method" && k != "id" && k != "params")
                return refuse("/" + pointer_token(k), "no JSON-RPC member of this call");
        }
        if (!is_string(*top, "jsonrpc", "2.0")) return refuse("/jsonrpc", "must be \"2.0\"");
        if (!is_string(*top, "method", "call")) return refuse("/method", "must be \"call\"");
        if (const auto* id = top->if_contains("id")) {
            bool ok = id->is_int64() || id->is_uint64() ||
                      (id->is_string() && id->get_string().size() <= 64 &&
                       std::all_of(id->get_string().begin(), id->get_string().end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' ||
                                  c == '_';
                       }));
            if (!ok) return refuse("/id", "a number or a short token");
            id_ = *id;
        }
        const auto* params = top->contains("params") ? top->at("params").if_object() : nullptr;
        if (params == nullptr) return refuse("/params", "must be an object");
        for (const auto& m : *params) {
            std::string_view k = m.key();
            if (k != "service" && k != "method" && k != "args")
                return refuse("/params/" + pointer_token(k), "no member of execute_kw");
        }
        if (!is_string(*params, "service", "object"))
            return refuse("/params/service", "must be \"object\"");
        if (!is_string(*params, "method", "execute_kw"))
            return refuse("/params/method", "must be \"execute_kw\"");
        const auto* args = params->contains("args") ? params->at("args").if_array() : nullptr;
        if (args == nullptr || args->size() < 6 || args->size() > 7)
            return refuse("/params/args",
                          "execute_kw takes db, uid, password, model, method, [domain], {kwargs}");
        // The client's db, uid and password are read past, never forwarded (clients hold no CRM
        // credentials): exportwall's own are written instead.
        const auto uid = rpc_uid(policy_.rpc_user);
        if (policy_.rpc_database.empty() || policy_.rpc_password.empty() || !uid)
            return refuse("/params/args", "this route's upstream has no rpc-login");
        const auto& model = (*args)[3];
        if (!model.is_string() || policy_.object_name.empty() ||
            model.get_string() != policy_.object_name)
            return refuse("/params/args/3", "the model must be this route's object");
        if (!(*args)[4].is_string() || (*args)[4].get_string() != "search_read")
            return refuse("/params/args/4", "only search_read is an export");
        // execute_kw's sixth argument is the method's positional arguments: search_read's are
        // (domain, fields, offset, limit, order). Only the domain is taken positionally; the rest
        // would bypass the keyword checks (and a list of terms read as positional arguments is
        // not the domain the guard checked).
        const auto* positional = (*args)[5].if_array();
        if (positional == nullptr || positional->size() != 1)
            return refuse("/params/args/5", "the positional arguments are [domain]");
        const auto* domain = (*positional)[0].if_array();
        if (domain == nullptr) return refuse("/params/args/5/0", "the domain must be a list");
        if (!check_domain(*domain)) return false;
        json::object kwargs;
        if (args->size() == 7) {
            const auto* kw = (*args)[6].if_object();
            if (kw == nullptr)
                return refuse("/params/args/6", "the keyword arguments are an object");
            if (!check_kwargs(*kw, kwargs)) return false;
        } else {
            resolve_selection(q_, policy_, false, {});
        }
        json::array fields;
        for (const auto& f : q_.sent) fields.emplace_back(f);
        kwargs["fields"] = std::move(fields);

        json::array out_args;
        out_args.emplace_back(json::string(policy_.rpc_database));
        out_args.emplace_back(*uid);
        out_args.emplace_back(json::string(policy_.rpc_password));
        out_args.emplace_back(json::string(policy_.object_name));
        out_args.emplace_back("search_read");
        json::array out_positional;
        out_positional.emplace_back(std::move(domain_out_));
        out_args.emplace_back(std::move(out_positional));
        out_args.emplace_back(std::move(kwargs));
        json::object out_params;
        out_params["service"] = "object";
        out_params["method"] = "execute_kw";
        out_params["args"] = std::move(out_args);
        json::object out;
        out["jsonrpc"] = "2.0";
        out["method"] = "call";
        out["params"] = std::move(out_params);
        if (!id_.is_null()) out["id"] = id_;
        q_.body = json::serialize(out);
        return true;
    }

  private:
    static bool is_string(const json::object& o, std::string_view key, std::string_view value) {
        const auto* v = o.if_contains(key);
        return v != nullptr && v->is_string() && v->get_string() == value;
    }

    bool refuse(const std::string& pointer, const std::string& what) {
        return fail_unsupported(q_, body_parameter, 0, pointer + ": " + what);
    }

    // Polish notation: '&' and '|' take two operands, '!' one; top-level terms are joined by an
    // implicit '&'. Each term's field is read by the CRM: it must be one the purpose keeps.
    bool check_domain(const json::array& domain) {
        if (domain.size() > max_domain_terms)
            return refuse("/params/args/5/0", "the domain has too many terms");
        std::size_t pending = 0;  // operands still owed to operators, read right to left
        for (std::size_t i = domain.size(); i-- > 0;) {
            const auto& t = domain[i];
            const std::string at = "/params/args/5/0/" + std::to_string(i);
            if (t.is_string()) {
                std::string_view op = t.get_string();
                std::size_t arity = op == "!" ? 1 : (op == "&" || op == "|") ? 2 : 0;
                if (arity == 0) return refuse(at, "an operator is '&', '|' or '!'");
                if (pending < arity) return refuse(at, "the operator lacks operands");
                pending = pending - arity + 1;
                continue;
            }
            const auto* term = t.if_array();
            if (term == nullptr || term->size() != 3 || !(*term)[0].is_string() ||
                !(*term)[1].is_string())
                return refuse(at, "a term is [field, operator, value]");
            std::string_view field = (*term)[0].get_string();
            std::string_view op = (*term)[1].get_string();
            if (std::find(term_operators.begin(), term_operators.end(), op) == term_operators.end())
                return refuse(at + "/1", "the operator is not supported");
            const auto& value = (*term)[2];
            bool list_op = op == "in" || op == "not in";
            bool ok = list_op ? value.is_array() && std::all_of(value.get_array().begin(),
                                                                value.get_array().end(), scalar)
                              : scalar(value);
            if (!ok) return refuse(at + "/2", "the value does not fit the operator");
            if (!check_read(q_, policy_, std::string(field), use::filter)) return false;
            ++pending;
        }
        // Copied from the parsed value: every string and number re-serialised, nothing else.
        domain_out_ = domain;
        return true;
    }

    bool check_kwargs(const json::object& kw, json::object& out) {
        bool present = false;
        std::vector<std::string> selected;
        for (const auto& m : kw) {
            std::string_view k = m.key();
            const std::string at = "/params/args/6/" + pointer_token(k);
            const json::value& v = m.value();
            if (k == "fields") {
                const auto* list = v.if_array();
                if (list == nullptr) return refuse(at, "a list of field names");
                present = true;
                for (const auto& f : *list) {
                    if (!f.is_string() || f.get_string().empty())
                        return refuse(at, "a list of field names");
                    selected.emplace_back(f.get_string());
                }
            } else if (k == "limit" || k == "offset") {
                if (!(v.is_int64() && v.get_int64() >= 0) && !v.is_uint64())
                    return refuse(at, "a non-negative integer");
                out[k] = v;
            } else if (k == "order") {
                std::string canonical;
                if (!v.is_string()) return refuse(at, "'field [asc|desc], …'");
                if (!check_order(v.get_string(), canonical))
                    return q_.result != verdict::forward ? false
                                                         : refuse(at, "'field [asc|desc], …'");
                out[k] = canonical;
            } else {
                return refuse(at, "no keyword of search_read this route accepts");
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
    json::value id_;
    json::array domain_out_;
};

}  // namespace

guarded_query guard_odoo_rpc(const field_policy& policy, std::string_view raw_query,
                             std::string_view body) {
    guarded_query q;
    if (!raw_query.empty()) {
        (void)fail_unsupported(q, "(query)", 0, "an Odoo call takes its query in the body");
        return q;
    }
    if (body.size() > max_body_bytes) {
        (void)fail_unsupported(q, body_parameter, 0, "the call is larger than 256 KiB");
        return q;
    }
    auto doc = parse_json_body(q, body_parameter, body, max_depth);
    if (!doc) return q;
    rpc_guard g(policy, q);
    if (!g.run(*doc)) {
        q.body.clear();
        q.query.clear();
    }
    return q;
}

}  // namespace exportwall::config::query
