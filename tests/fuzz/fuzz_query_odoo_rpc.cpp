// libFuzzer target for the Odoo JSON-RPC guard. The input is the call's body; the query string is
// empty. Properties: no crash; a refused call forwards nothing; a forwarded call is an execute_kw
// search_read on the route's model with exportwall's rpc-login, every domain term reads a field the
// purpose keeps, every order field likewise, every selected field is kept, descended into or a
// rule field; guarding the forwarded body again forwards it unchanged (a fixed point); and the
// client's db, uid and password never reach the forwarded body (checked by writing markers in
// their place and guarding that call too).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "config/query/odoo_rpc.hpp"
#include "filters/field_set.hpp"

namespace {

namespace json = boost::json;
using exportwall::config::query::field_policy;
using exportwall::config::query::guard_odoo_rpc;
using exportwall::config::query::guarded_query;
using exportwall::filters::field_set;

const field_set allowed({"id", "name", "email", "phone", "city", "partner_id.name"});
const field_set catalogue({"id", "name", "email", "phone", "city", "partner_id.name", "vat",
                           "bank_ids", "comment", "x_iban", "x_consent_email", "x_objection"});
const std::vector<std::string> rule_fields{"x_consent_email", "x_objection"};

constexpr std::string_view db_marker = "client-db-marker-7f3a";
constexpr std::string_view uid_marker = "client-uid-marker-7f3a";
constexpr std::string_view password_marker = "client-password-marker-7f3a";

field_policy fuzz_policy() {
    field_policy p;
    p.allowed = &allowed;
    p.catalogue = &catalogue;
    p.rule_fields = rule_fields;
    p.object_name = "res.partner";
    p.rpc_database = "demo";
    p.rpc_user = "2";
    p.rpc_password = "s3cret";
    return p;
}

void require(bool ok) {
    if (!ok) std::abort();
}

std::string text(const json::value& v) {
    require(v.is_string());
    return std::string(v.get_string().data(), v.get_string().size());
}

// A field a domain term or the order reads: exactly one the purpose keeps.
void require_read(const std::string& f) {
    require(std::binary_search(allowed.paths().begin(), allowed.paths().end(), f));
}

void check_forwarded(const std::string& body) {
    json::error_code ec;
    json::value v = json::parse(body, ec);
    require(!ec);
    const auto* o = v.if_object();
    require(o != nullptr);
    require(text(o->at("jsonrpc")) == "2.0" && text(o->at("method")) == "call");
    const auto& params = o->at("params").as_object();
    require(params.size() == 3);
    require(text(params.at("service")) == "object" && text(params.at("method")) == "execute_kw");
    const auto& args = params.at("args").as_array();
    require(args.size() == 7);
    require(text(args[0]) == "demo");
    require(args[1].is_int64() && args[1].get_int64() == 2);
    require(text(args[2]) == "s3cret");
    require(text(args[3]) == "res.partner");
    require(text(args[4]) == "search_read");
    const auto& positional = args[5].as_array();
    require(positional.size() == 1);
    // Odoo's own reading (expression.normalize_domain), left to right: `expected` operands are
    // owed; a term when none is owed is joined by an implicit '&'. A valid domain owes none.
    std::size_t expected = 1;
    for (const auto& t : positional[0].as_array()) {
        if (expected == 0) expected = 1;  // the implicit '&' owes one more
        if (t.is_string()) {
            std::string op = text(t);
            require(op == "&" || op == "|" || op == "!");
            if (op != "!") ++expected;
            continue;
        }
        const auto& term = t.as_array();
        require(term.size() == 3);
        require_read(text(term[0]));
        require(text(term[1]) != "child_of" && text(term[1]) != "parent_of");
        require(!term[2].is_object());
        --expected;
    }
    require(expected == 0 || positional[0].as_array().empty());
    const auto& kwargs = args[6].as_object();
    if (const auto* order = kwargs.if_contains("order")) {
        std::string s = text(*order);
        for (std::size_t pos = 0; pos <= s.size();) {
            auto comma = s.find(", ", pos);
            std::string part =
                s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
            require_read(part.substr(0, part.find(' ')));
            if (comma == std::string::npos) break;
            pos = comma + 2;
        }
    }
    for (const auto& f : kwargs.at("fields").as_array()) {
        std::string n = text(f);
        require(allowed.keeps(n) || allowed.descends(n) ||
                std::find(rule_fields.begin(), rule_fields.end(), n) != rule_fields.end());
    }
}

// The input with markers in place of the client's db, uid and password, when it has a login to
// replace; else empty.
std::string with_login_markers(std::string_view body) {
    if (body.find("marker-7f3a") != std::string_view::npos) return {};
    json::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return {};
    auto* params = v.get_object().if_contains("params");
    if (params == nullptr || !params->is_object()) return {};
    auto* args = params->get_object().if_contains("args");
    if (args == nullptr || !args->is_array() || args->get_array().size() < 3) return {};
    auto& a = args->get_array();
    a[0] = json::string(db_marker);
    a[1] = json::string(uid_marker);
    a[2] = json::string(password_marker);
    return json::serialize(v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const field_policy policy = fuzz_policy();
    guarded_query q = guard_odoo_rpc(policy, "", body);
    if (!q.forwarded()) {
        require(q.body.empty() && q.query.empty());
    } else {
        require(q.query.empty());
        check_forwarded(q.body);
        guarded_query again = guard_odoo_rpc(policy, "", q.body);
        require(again.forwarded());
        require(again.body == q.body);
        require(again.sent == q.sent);
    }
    const std::string marked = with_login_markers(body);
    if (!marked.empty()) {
        guarded_query m = guard_odoo_rpc(policy, "", marked);
        if (m.forwarded()) {
            require(m.body.find("marker-7f3a") == std::string::npos);
            check_forwarded(m.body);
        }
    }
    return 0;
}
