// libFuzzer target for the Odoo XML-RPC guard. The input is the call's body; the query string is
// empty. Properties: no crash; a refused call forwards nothing; a forwarded call is a methodCall
// of execute_kw search_read on the route's model with exportwall's rpc-login, every domain term
// reads a field the purpose keeps, every order field likewise, every selected field is kept,
// descended into or a rule field; guarding the forwarded body again forwards it unchanged (a
// fixed point) and decides as the JSON-RPC guard does on the same arguments; and the client's
// db, uid and password never reach the forwarded body (checked by writing markers in their place
// and guarding that call too).

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <pugixml.hpp>

#include "config/query/odoo_rpc.hpp"
#include "config/query/odoo_xmlrpc.hpp"
#include "filters/field_set.hpp"

namespace {

namespace json = boost::json;
using exportwall::config::query::field_policy;
using exportwall::config::query::guard_odoo_rpc;
using exportwall::config::query::guard_odoo_xmlrpc;
using exportwall::config::query::guarded_query;
using exportwall::filters::field_set;

const field_set allowed({"id", "name", "email", "phone", "city", "partner_id.name"});
const field_set catalogue({"id", "name", "email", "phone", "city", "partner_id.name", "vat",
                           "bank_ids", "comment", "x_iban", "x_consent_email", "x_objection"});
const std::vector<std::string> rule_fields{"x_consent_email", "x_objection"};

constexpr std::string_view marker = "client-marker-7f3a";

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

// The forwarded XML-RPC value as JSON (the forwarded body is exportwall's own writing: strict).
json::value read_value(const pugi::xml_node& value) {
    pugi::xml_node typed = value.first_child();
    require(typed && typed.type() == pugi::node_element && !typed.next_sibling());
    const std::string_view type = typed.name();
    const std::string text = typed.text().get();
    if (type == "string") return json::string(text);
    if (type == "int" || type == "i8") {
        std::int64_t n = 0;
        auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), n);
        require(err == std::errc() && end == text.data() + text.size());
        return json::value(n);
    }
    if (type == "boolean") return json::value(text == "1");
    if (type == "double") {
        double d = 0;
        auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), d);
        require(err == std::errc() && end == text.data() + text.size());
        return json::value(d);
    }
    if (type == "nil") return json::value(nullptr);
    if (type == "array") {
        json::array out;
        for (pugi::xml_node v : typed.child("data").children("value")) out.push_back(read_value(v));
        return out;
    }
    require(type == "struct");
    json::object out;
    for (pugi::xml_node m : typed.children("member"))
        out[m.child_value("name")] = read_value(m.child("value"));
    return out;
}

std::string text(const json::value& v) {
    require(v.is_string());
    return std::string(v.get_string().data(), v.get_string().size());
}

void require_read(const std::string& f) {
    require(std::binary_search(allowed.paths().begin(), allowed.paths().end(), f));
}

json::array forwarded_args(const std::string& body) {
    pugi::xml_document doc;
    require(static_cast<bool>(
        doc.load_buffer(body.data(), body.size(), pugi::parse_default | pugi::parse_ws_pcdata)));
    const pugi::xml_node call = doc.child("methodCall");
    require(std::string_view(call.child_value("methodName")) == "execute_kw");
    json::array args;
    for (pugi::xml_node p : call.child("params").children("param"))
        args.push_back(read_value(p.child("value")));
    return args;
}

void check_forwarded(const std::string& body) {
    const json::array args = forwarded_args(body);
    require(args.size() == 7);
    require(text(args[0]) == "demo");
    require(args[1].is_int64() && args[1].get_int64() == 2);
    require(text(args[2]) == "s3cret");
    require(text(args[3]) == "res.partner");
    require(text(args[4]) == "search_read");
    const auto& positional = args[5].as_array();
    require(positional.size() == 1);
    std::size_t expected = 1;  // Odoo's normalize_domain, as in fuzz_query_odoo_rpc
    for (const auto& t : positional[0].as_array()) {
        if (expected == 0) expected = 1;
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

// The input with a marker string in place of each of its first three params' values, when it
// has them; else empty.
std::string with_login_markers(std::string_view body) {
    if (body.find("marker-7f3a") != std::string_view::npos) return {};
    pugi::xml_document doc;
    if (!doc.load_buffer(body.data(), body.size(), pugi::parse_default | pugi::parse_ws_pcdata))
        return {};
    int replaced = 0;
    for (pugi::xml_node p : doc.child("methodCall").child("params").children("param")) {
        if (replaced == 3) break;
        pugi::xml_node value = p.child("value");
        if (!value) return {};
        while (value.first_child()) value.remove_child(value.first_child());
        value.append_child("string").append_child(pugi::node_pcdata).set_value(marker.data());
        ++replaced;
    }
    if (replaced < 3) return {};
    std::ostringstream out;
    doc.save(out, "", pugi::format_raw);
    return out.str();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const field_policy policy = fuzz_policy();
    guarded_query q = guard_odoo_xmlrpc(policy, "", body);
    if (!q.forwarded()) {
        require(q.body.empty() && q.query.empty());
    } else {
        require(q.query.empty());
        check_forwarded(q.body);
        guarded_query again = guard_odoo_xmlrpc(policy, "", q.body);
        require(again.forwarded());
        require(again.body == q.body);
        require(again.sent == q.sent);
        // One accepted surface: the same arguments over JSON-RPC are forwarded with the same
        // selection.
        const std::string jsonrpc =
            R"({"jsonrpc":"2.0","method":"call","params":{"service":"object",)"
            R"("method":"execute_kw","args":)" +
            json::serialize(forwarded_args(q.body)) + "}}";
        guarded_query over_json = guard_odoo_rpc(policy, "", jsonrpc);
        require(over_json.forwarded());
        require(over_json.sent == q.sent);
    }
    const std::string marked = with_login_markers(body);
    if (!marked.empty()) {
        guarded_query m = guard_odoo_xmlrpc(policy, "", marked);
        if (m.forwarded()) {
            require(m.body.find("marker-7f3a") == std::string::npos);
            check_forwarded(m.body);
        }
    }
    return 0;
}
