// Odoo's external API over JSON-RPC: {"jsonrpc":"2.0","method":"call","params":{"service":
// "object","method":"execute_kw","args":[db,uid,password,"res.partner","search_read",[domain],
// {fields,limit,offset}]},"id":…}. The domain is read and not applied (every partner matches),
// as the Salesforce endpoint ignores its SOQL. Partners are res.partner records under Odoo's field
// names (id = record index + 1; the generator's extra fields are x_ custom fields). Like Odoo, a
// failed call still answers HTTP 200, with a JSON-RPC error object instead of "result".

#include <algorithm>
#include <array>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

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
    if (!args || !args->is_array() || args->as_array().size() < 6)
        return rpc_error(id, "builtins.TypeError",
                         "execute_kw() takes db, uid, password, model, method and args");
    const auto& a = args->as_array();
    if (!is_text(&a[3], "res.partner"))
        return rpc_error(id, "builtins.KeyError", "Only res.partner is served here");
    if (!is_text(&a[4], "search_read")) {
        return rpc_error(id, "builtins.AttributeError",
                         "Only search_read is served on the model 'res.partner'");
    }
    if (!a[5].is_array()) return rpc_error(id, "builtins.TypeError", "args must be a list");
    const auto& positional = a[5].as_array();
    if (!positional.empty() && !positional[0].is_array())
        return rpc_error(id, "builtins.ValueError", "Invalid domain: a domain is a list");

    answer out = parts::small_json("odoo", 200, std::string(content_type), {});
    // search_read(domain, fields, offset, limit, order): positional first, keywords override.
    const json::value* fields = positional.size() > 1 ? &positional[1] : nullptr;
    const json::value* offset = positional.size() > 2 ? &positional[2] : nullptr;
    const json::value* limit = positional.size() > 3 ? &positional[3] : nullptr;
    if (a.size() > 6) {
        if (!a[6].is_object()) return rpc_error(id, "builtins.TypeError", "kwargs must be a dict");
        for (const auto& kw : a[6].as_object()) {
            out.body_members.emplace_back(kw.key());
            if (kw.key() == "fields") fields = &kw.value();
            if (kw.key() == "offset") offset = &kw.value();
            if (kw.key() == "limit") limit = &kw.value();
        }
    }
    if (fields && !fields->is_null() && !(fields->is_bool() && !fields->as_bool())) {
        if (!fields->is_array())
            return rpc_error(id, "builtins.TypeError", "fields must be a list");
        for (const auto& f : fields->as_array()) {
            if (!f.is_string()) return rpc_error(id, "builtins.TypeError", "fields must be names");
            std::string_view name(f.as_string());
            if (std::find(partner_fields.begin(), partner_fields.end(), name) ==
                partner_fields.end()) {
                return rpc_error(
                    id, "builtins.ValueError",
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
        if (!ok) return rpc_error(id, "builtins.TypeError", "offset must be an integer");
        skip = n.value_or(0);
    }
    if (limit) {
        auto n = count_argument(*limit, ok);
        if (!ok) return rpc_error(id, "builtins.TypeError", "limit must be an integer");
        // limit 0 is no limit in Odoo, as false and None are.
        if (n && *n > 0) count = *n;
    }
    auto page = parts::make_page(skip, count, data.records);
    out.records = page.count;
    // read() answers "id" first, then the requested fields in the order asked.
    std::vector<std::string> keep;
    if (!out.selection.empty()) {
        keep.emplace_back("id");
        for (const auto& f : out.selection)
            if (f != "id") keep.push_back(f);
    }
    std::string head = "{\"jsonrpc\":\"2.0\",\"id\":" + json::serialize(id) + ",\"result\":[";
    out.stream = [data, page, keep, head](const body_sink& sink) {
        parts::piece_writer w(sink);
        w.append(head);
        for (std::uint64_t i = page.skip; i < page.skip + page.count && !w.failed(); ++i) {
            if (i != page.skip) w.append(",");
            auto record = partner(data, i);
            if (keep.empty()) {
                w.append(json::serialize(record));
                continue;
            }
            json::object selected;
            for (const auto& f : keep) selected[f] = record.at(f);
            w.append(json::serialize(selected));
        }
        w.append("]}");
        w.flush();
    };
    return out;
}

}  // namespace exportwall::demo_crm::vendors
