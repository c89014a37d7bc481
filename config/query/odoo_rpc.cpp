#include "config/query/odoo_rpc.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "config/query/guard_support.hpp"
#include "config/query/json_body.hpp"
#include "config/query/odoo_call.hpp"

namespace exportwall::config::query {
namespace {

namespace json = boost::json;

constexpr std::size_t max_body_bytes = std::size_t{256} * 1024;
constexpr std::size_t max_depth = 32;
constexpr std::string_view body_parameter = "body";

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
        if (args == nullptr)
            return refuse("/params/args",
                          "execute_kw takes db, uid, password, model, method, [domain], {kwargs}");
        const odoo_refusal refuse_arg = [this](const std::string& pointer,
                                               const std::string& what) {
            return refuse("/params/args" + pointer, what);
        };
        odoo_search_read call;
        if (!check_odoo_search_read(policy_, q_, *args, refuse_arg, call)) return false;

        json::array out_args;
        out_args.emplace_back(json::string(policy_.rpc_database));
        out_args.emplace_back(call.uid);
        out_args.emplace_back(json::string(policy_.rpc_password));
        out_args.emplace_back(json::string(policy_.object_name));
        out_args.emplace_back("search_read");
        json::array out_positional;
        out_positional.emplace_back(std::move(call.domain));
        out_args.emplace_back(std::move(out_positional));
        out_args.emplace_back(std::move(call.kwargs));
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

    const field_policy& policy_;
    guarded_query& q_;
    json::value id_;
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
