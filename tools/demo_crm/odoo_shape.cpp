// Odoo's external API over JSON-RPC and XML-RPC. JSON-RPC: {"jsonrpc":"2.0","method":"call",
// "params":{"service":"object","method":"execute_kw","args":[db,uid,password,"res.partner",
// "search_read",[domain],{fields,limit,offset}]},"id":…}. XML-RPC (POST /xmlrpc/2/object): a
// methodCall of execute_kw with the same seven params, answered as Python's xmlrpc.client writes
// a methodResponse (field names as <name> text, many2one as <array>, false for an empty field).
// The domain is read and not applied (every partner matches), as the Salesforce endpoint ignores
// its SOQL. Partners are res.partner records under Odoo's field names (id = record index + 1; the
// generator's extra fields are x_ custom fields). Like Odoo, a failed call still answers HTTP
// 200, with a JSON-RPC error object instead of "result", or an XML-RPC <fault>. The JSON-RPC
// endpoint checks no login; the XML-RPC one answers a fault (code 3, "Access Denied") to any but
// the demo login of config/examples/vendor-shapes.xml.

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <pugixml.hpp>

#include "common/markup_text.hpp"
#include "tools/demo_crm/vendor_answers.hpp"

namespace exportwall::demo_crm::vendors {
namespace {

namespace json = boost::json;

constexpr std::string_view content_type = "application/json";
constexpr std::int64_t belgium_id = 20;  // res.country's id for BE in a fresh Odoo database

// Every res.partner field the demo serves, in the order of a search_read without "fields".
constexpr std::array<std::string_view, 27> partner_fields{"id",
                                                          "name",
                                                          "firstname",
                                                          "lastname",
                                                          "email",
                                                          "phone",
                                                          "street",
                                                          "zip",
                                                          "city",
                                                          "country_id",
                                                          "vat",
                                                          "comment",
                                                          "lang",
                                                          "is_company",
                                                          "active",
                                                          "customer_rank",
                                                          "is_blacklisted",
                                                          "create_date",
                                                          "write_date",
                                                          "x_external_id",
                                                          "x_lifecycle",
                                                          "x_birth_date",
                                                          "x_iban",
                                                          "x_quote_requested",
                                                          "x_consent_email",
                                                          "x_consent_sms",
                                                          "x_objection_direct_marketing"};

// Odoo writes an empty char field as false.
json::value text_or_false(const std::string& s) {
    return s.empty() ? json::value(false) : json::value(s);
}

json::object partner(const dataset& data, std::uint64_t index) {
    auto c = bench::make_contact(data.seed, index);
    std::string updated = parts::space_time(parts::updated_at(index));
    return {{"id", index + 1},
            {"name", c.first_name + " " + c.last_name},
            {"firstname", c.first_name},
            {"lastname", c.last_name},
            {"email", c.email},
            {"phone", c.phone},
            {"street", c.street},
            {"zip", c.postcode},
            {"city", c.city},
            {"country_id", json::array{belgium_id, "Belgium"}},
            {"vat", text_or_false(c.vat_number)},
            {"comment", "<p>" + c.notes + "</p>"},
            {"lang", "nl_BE"},
            {"is_company", false},
            {"active", true},
            {"customer_rank", c.lifecycle == "lead" ? 0 : 1},
            {"is_blacklisted", c.objection_direct_marketing},
            {"create_date", parts::space_time(c.created_at)},
            {"write_date", updated.substr(0, 19)},
            {"x_external_id", c.id},
            {"x_lifecycle", c.lifecycle},
            {"x_birth_date", c.birth_date},
            {"x_iban", c.iban},
            {"x_quote_requested", c.quote_requested},
            {"x_consent_email", c.consent_email},
            {"x_consent_sms", c.consent_sms},
            {"x_objection_direct_marketing", c.objection_direct_marketing}};
}

// Odoo's JSON-RPC error: code 200 means "server error" at the JSON-RPC level, not HTTP.
answer rpc_error(const json::value& id, std::string_view name, std::string_view message) {
    json::object data{{"name", name},
                      {"debug", ""},
                      {"message", message},
                      {"arguments", json::array{json::string(message)}},
                      {"context", json::object{}}};
    json::object error{{"code", 200}, {"message", "Odoo Server Error"}, {"data", std::move(data)}};
    json::object body{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}};
    return parts::small_json("odoo", 200, std::string(content_type), json::serialize(body));
}

bool is_text(const json::value* v, std::string_view text) {
    return v != nullptr && v->is_string() && v->as_string() == text;
}

// A non-negative integer argument; false (Odoo's "none") counts as absent.
std::optional<std::uint64_t> count_argument(const json::value& v, bool& ok) {
    ok = true;
    if (v.is_bool() && !v.as_bool()) return std::nullopt;
    if (v.is_null()) return std::nullopt;
    if (v.is_int64() && v.as_int64() >= 0) return static_cast<std::uint64_t>(v.as_int64());
    if (v.is_uint64()) return v.as_uint64();
    ok = false;
    return std::nullopt;
}

// What a search_read call asks for, or why Odoo refuses it.
struct search_read_call {
    std::vector<std::string> selection;  // the fields asked for, once each, in order
    std::vector<std::string> answered;   // what each record holds: "id" first, then selection
    std::vector<std::string> keywords;   // the keyword arguments' names (logged)
    parts::page page;
    std::string error_name;  // non-empty: refused
    std::string error_message;
};

search_read_call refused(std::string name, std::string message) {
    search_read_call c;
    c.error_name = std::move(name);
    c.error_message = std::move(message);
    return c;
}

// execute_kw's argument list, as both transports carry it.
search_read_call read_call(const dataset& data, const json::array& a) {
    if (a.size() < 6)
        return refused("builtins.TypeError",
                       "execute_kw() takes db, uid, password, model, method and args");
    if (!is_text(&a[3], "res.partner"))
        return refused("builtins.KeyError", "Only res.partner is served here");
    if (!is_text(&a[4], "search_read"))
        return refused("builtins.AttributeError",
                       "Only search_read is served on the model 'res.partner'");
    if (!a[5].is_array()) return refused("builtins.TypeError", "args must be a list");
    const auto& positional = a[5].as_array();
    if (!positional.empty() && !positional[0].is_array())
        return refused("builtins.ValueError", "Invalid domain: a domain is a list");

    search_read_call out;
    // search_read(domain, fields, offset, limit, order): positional first, keywords override.
    const json::value* fields = positional.size() > 1 ? &positional[1] : nullptr;
    const json::value* offset = positional.size() > 2 ? &positional[2] : nullptr;
    const json::value* limit = positional.size() > 3 ? &positional[3] : nullptr;
    if (a.size() > 6) {
        if (!a[6].is_object()) return refused("builtins.TypeError", "kwargs must be a dict");
        for (const auto& kw : a[6].as_object()) {
            out.keywords.emplace_back(kw.key());
            if (kw.key() == "fields") fields = &kw.value();
            if (kw.key() == "offset") offset = &kw.value();
            if (kw.key() == "limit") limit = &kw.value();
        }
    }
    if (fields && !fields->is_null() && !(fields->is_bool() && !fields->as_bool())) {
        if (!fields->is_array()) return refused("builtins.TypeError", "fields must be a list");
        for (const auto& f : fields->as_array()) {
            if (!f.is_string()) return refused("builtins.TypeError", "fields must be names");
            std::string_view name(f.as_string());
            if (std::find(partner_fields.begin(), partner_fields.end(), name) ==
                partner_fields.end()) {
                return refused("builtins.ValueError",
                               "Invalid field '" + std::string(name) + "' on model 'res.partner'");
            }
            if (std::find(out.selection.begin(), out.selection.end(), name) == out.selection.end())
                out.selection.emplace_back(name);
        }
    }
    bool ok = true;
    std::uint64_t skip = 0;
    std::uint64_t count = data.records;
    if (offset) {
        auto n = count_argument(*offset, ok);
        if (!ok) return refused("builtins.TypeError", "offset must be an integer");
        skip = n.value_or(0);
    }
    if (limit) {
        auto n = count_argument(*limit, ok);
        if (!ok) return refused("builtins.TypeError", "limit must be an integer");
        // limit 0 is no limit in Odoo, as false and None are.
        if (n && *n > 0) count = *n;
    }
    out.page = parts::make_page(skip, count, data.records);
    // read() answers "id" first, then the requested fields in the order asked.
    if (!out.selection.empty()) {
        out.answered.emplace_back("id");
        for (const auto& f : out.selection)
            if (f != "id") out.answered.push_back(f);
    }
    return out;
}

// Partner `index` with only the `keep` fields (every field when it is empty).
json::object answered_record(const dataset& data, std::uint64_t index,
                             const std::vector<std::string>& keep) {
    auto record = partner(data, index);
    if (keep.empty()) return record;
    json::object selected;
    for (const auto& f : keep) selected[f] = record.at(f);
    return selected;
}

// --- XML-RPC ---------------------------------------------------------------------------------

constexpr std::string_view xml_content_type = "text/xml";
// The login config/examples/vendor-shapes.xml writes into every call (upstream "odoo").
constexpr std::string_view demo_database = "ardennes";
constexpr std::int64_t demo_uid = 2;
constexpr std::string_view demo_password = "odoo-demo-password";

// A value as Python's xmlrpc.client Marshaller writes it (one per line at the top level).
void to_xmlrpc(std::string& out, const json::value& v) {
    switch (v.kind()) {
        case json::kind::string:
            out += "<value><string>";
            common::append_xml_text(out, std::string_view(v.get_string()));
            out += "</string></value>\n";
            break;
        case json::kind::int64:
            out += "<value><int>" + std::to_string(v.get_int64()) + "</int></value>\n";
            break;
        case json::kind::uint64:
            out += "<value><int>" + std::to_string(v.get_uint64()) + "</int></value>\n";
            break;
        case json::kind::double_:
            out += "<value><double>" + json::serialize(v) + "</double></value>\n";
            break;
        case json::kind::bool_:
            out += v.get_bool() ? "<value><boolean>1</boolean></value>\n"
                                : "<value><boolean>0</boolean></value>\n";
            break;
        case json::kind::null:
            out += "<value><nil/></value>\n";
            break;
        case json::kind::array:
            out += "<value><array><data>\n";
            for (const auto& item : v.get_array()) to_xmlrpc(out, item);
            out += "</data></array></value>\n";
            break;
        case json::kind::object:
            out += "<value><struct>\n";
            for (const auto& m : v.get_object()) {
                out += "<member>\n<name>";
                common::append_xml_text(out, std::string_view(m.key()));
                out += "</name>\n";
                to_xmlrpc(out, m.value());
                out += "</member>\n";
            }
            out += "</struct></value>\n";
            break;
    }
}

// A <value> as the JSON value Odoo's Python would see; nothing for what the demo does not read.
std::optional<json::value> from_xmlrpc(const pugi::xml_node& value, int depth = 0) {
    if (!value || depth > 32) return std::nullopt;
    const pugi::xml_node typed = value.first_child().type() == pugi::node_element
                                     ? value.first_child()
                                     : value.find_child([](const pugi::xml_node& n) {
                                           return n.type() == pugi::node_element;
                                       });
    if (!typed) return json::value(json::string(value.text().get()));
    const std::string_view type = typed.name();
    const std::string_view text = typed.text().get();
    if (type == "string") return json::value(json::string(text));
    if (type == "int" || type == "i4" || type == "i8") {
        std::int64_t n = 0;
        auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (err != std::errc() || end != text.data() + text.size()) return std::nullopt;
        return json::value(n);
    }
    if (type == "boolean") return json::value(text == "1");
    if (type == "double") return json::value(std::strtod(std::string(text).c_str(), nullptr));
    if (type == "nil") return json::value(nullptr);
    if (type == "array") {
        json::array items;
        for (pugi::xml_node v : typed.child("data").children("value")) {
            auto item = from_xmlrpc(v, depth + 1);
            if (!item) return std::nullopt;
            items.push_back(std::move(*item));
        }
        return json::value(std::move(items));
    }
    if (type == "struct") {
        json::object members;
        for (pugi::xml_node m : typed.children("member")) {
            auto item = from_xmlrpc(m.child("value"), depth + 1);
            if (!item) return std::nullopt;
            members[m.child_value("name")] = std::move(*item);
        }
        return json::value(std::move(members));
    }
    return std::nullopt;
}

// Odoo's XML-RPC fault (HTTP 200): faultCode 3 is AccessDenied on /xmlrpc/2, 1 anything else.
answer xmlrpc_fault(int code, std::string_view message) {
    std::string body =
        "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n"
        "<name>faultCode</name>\n<value><int>" +
        std::to_string(code) +
        "</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>";
    common::append_xml_text(body, message);
    body += "</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n";
    return parts::small_json("odoo-xmlrpc", 200, std::string(xml_content_type), std::move(body));
}

}  // namespace

answer odoo_jsonrpc(const dataset& data, std::string_view body) {
    const json::value none;
    boost::system::error_code ec;
    auto request = json::parse(json::string_view(body.data(), body.size()), ec);
    if (ec || !request.is_object())
        return rpc_error(none, "werkzeug.exceptions.BadRequest", "Invalid JSON data");
    const auto& envelope = request.as_object();
    const json::value& id = envelope.contains("id") ? envelope.at("id") : none;
    const auto* params = envelope.if_contains("params");
    const auto* method = envelope.if_contains("method");
    if (!params || !params->is_object() || !is_text(method, "call"))
        return rpc_error(id, "werkzeug.exceptions.BadRequest", "Invalid JSON-RPC data");
    const auto& p = params->as_object();
    const auto* service = p.if_contains("service");
    const auto* service_method = p.if_contains("method");
    const auto* args = p.if_contains("args");
    if (!is_text(service, "object"))
        return rpc_error(id, "builtins.Exception", "Only the object service is served here");
    if (!is_text(service_method, "execute_kw"))
        return rpc_error(id, "builtins.NameError", "Only execute_kw is served here");
    if (!args || !args->is_array())
        return rpc_error(id, "builtins.TypeError",
                         "execute_kw() takes db, uid, password, model, method and args");
    search_read_call call = read_call(data, args->as_array());
    if (!call.error_name.empty()) return rpc_error(id, call.error_name, call.error_message);

    answer out = parts::small_json("odoo", 200, std::string(content_type), {});
    out.body_members = call.keywords;
    out.selection = call.selection;
    out.records = call.page.count;
    std::string head = "{\"jsonrpc\":\"2.0\",\"id\":" + json::serialize(id) + ",\"result\":[";
    out.stream = [data, page = call.page, keep = call.answered, head](const body_sink& sink) {
        parts::piece_writer w(sink);
        w.append(head);
        for (std::uint64_t i = page.skip; i < page.skip + page.count && !w.failed(); ++i) {
            if (i != page.skip) w.append(",");
            w.append(json::serialize(answered_record(data, i, keep)));
        }
        w.append("]}");
        w.flush();
    };
    return out;
}

answer odoo_xmlrpc(const dataset& data, std::string_view body) {
    pugi::xml_document doc;
    const auto parsed =
        doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8);
    const pugi::xml_node call_node = doc.child("methodCall");
    if (!parsed || !call_node) return xmlrpc_fault(1, "ExpatError: not a methodCall");
    if (std::string_view(call_node.child_value("methodName")) != "execute_kw")
        return xmlrpc_fault(1, "Only execute_kw is served here");
    json::array args;
    for (pugi::xml_node p : call_node.child("params").children("param")) {
        auto v = from_xmlrpc(p.child("value"));
        if (!v) return xmlrpc_fault(1, "TypeError: cannot read a param");
        args.push_back(std::move(*v));
    }
    // Odoo checks the login before anything else (AccessDenied: fault code 3 on /xmlrpc/2).
    const bool login = args.size() >= 3 && is_text(&args[0], demo_database) && args[1].is_int64() &&
                       args[1].get_int64() == demo_uid && is_text(&args[2], demo_password);
    if (!login) return xmlrpc_fault(3, "Access Denied");
    search_read_call call = read_call(data, args);
    if (!call.error_name.empty())
        return xmlrpc_fault(1, call.error_name + ": " + call.error_message);

    answer out = parts::small_json("odoo-xmlrpc", 200, std::string(xml_content_type), {});
    out.body_members = call.keywords;
    out.selection = call.selection;
    out.records = call.page.count;
    out.stream = [data, page = call.page, keep = call.answered](const body_sink& sink) {
        parts::piece_writer w(sink);
        w.append(
            "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"
            "<value><array><data>\n");
        std::string piece;
        for (std::uint64_t i = page.skip; i < page.skip + page.count && !w.failed(); ++i) {
            piece.clear();
            to_xmlrpc(piece, json::value(answered_record(data, i, keep)));
            w.append(piece);
        }
        w.append("</data></array></value>\n</param>\n</params>\n</methodResponse>\n");
        w.flush();
    };
    return out;
}

}  // namespace exportwall::demo_crm::vendors
