// Zoho CRM v3 records: GET /crm/v3/Contacts?fields=…&per_page=…&page_token=… answers
// {"data":[…],"info":{"per_page":…,"next_page_token":…,"count":…,"sort_by":"id","page":…,
// "previous_page_token":…,"page_token_expiry":…,"sort_order":"desc","more_records":…}}.
// Field names are Zoho's API names (First_Name, Mailing_City); Email_Opt_Out is Zoho's own
// opt-out flag, the rest of the generator's values are custom fields (Lifecycle_Stage, IBAN, …).
// Ids are 19-digit numbers. `fields` is required, as in v3, and the answer holds the fields
// asked for and the id; `page_token` is an opaque token that holds the offset (the demo's own
// encoding: Zoho's is opaque too), `page` counts pages of per_page.

#include <algorithm>
#include <cstdio>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "tools/demo_crm/vendor_answers.hpp"

namespace exportwall::demo_crm::vendors {
namespace {

namespace json = boost::json;

constexpr std::string_view content_type = "application/json;charset=UTF-8";
constexpr std::uint64_t id_base = 5725767000000000000ULL;
constexpr std::uint64_t max_per_page = 200;
constexpr std::string_view token_prefix = "c8582e7a";

json::object contact(const dataset& data, std::uint64_t index) {
    auto c = bench::make_contact(data.seed, index);
    json::object o;
    o["id"] = std::to_string(id_base + index + 1);
    o["Owner"] = json::object{{"name", "Demo Owner"},
                              {"id", std::to_string(id_base + 411001)},
                              {"email", "owner@crm.example.be"}};
    o["First_Name"] = c.first_name;
    o["Last_Name"] = c.last_name;
    o["Full_Name"] = c.first_name + " " + c.last_name;
    o["Email"] = c.email;
    o["Phone"] = c.phone;
    o["Date_of_Birth"] = c.birth_date;
    o["Mailing_Street"] = c.street;
    o["Mailing_Zip"] = c.postcode;
    o["Mailing_City"] = c.city;
    o["Mailing_Country"] = c.country;
    o["Description"] = c.notes;
    o["Email_Opt_Out"] = c.objection_direct_marketing;
    o["Email_Consent"] = c.consent_email;
    o["Lifecycle_Stage"] = c.lifecycle;
    o["IBAN"] = c.iban;
    o["VAT_Number"] = c.vat_number.empty() ? json::value(nullptr) : json::value(c.vat_number);
    o["Created_Time"] = c.created_at.substr(0, 19) + "+01:00";
    o["$currency_symbol"] = "€";
    o["$approval_state"] = "approved";
    return o;
}

// Only the fields asked for, and the id (Zoho always answers it).
json::object selected(json::object all, const std::vector<std::string>& fields) {
    json::object out;
    out["id"] = all["id"];
    for (const auto& f : fields)
        if (auto* v = all.if_contains(f)) out[f] = *v;
    return out;
}

std::string token_for(std::uint64_t skip) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(skip ^ 0x5a5a5a5aULL));
    return std::string(token_prefix) + hex;
}

std::optional<std::uint64_t> skip_of(std::string_view token) {
    if (token.size() != token_prefix.size() + 16 || !token.starts_with(token_prefix))
        return std::nullopt;
    std::uint64_t v = 0;
    for (char ch : token.substr(token_prefix.size())) {
        const int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0) return std::nullopt;
        v = v * 16 + static_cast<std::uint64_t>(d);
    }
    return v ^ 0x5a5a5a5aULL;
}

answer zoho_error(unsigned status, std::string_view code, std::string_view message) {
    return parts::small_json("zoho", status, std::string(content_type),
                             "{\"code\":" + parts::json_string(code) +
                                 ",\"details\":{},\"message\":" + parts::json_string(message) +
                                 ",\"status\":\"error\"}");
}

}  // namespace

answer zoho_contacts(const dataset& data, const parts::query_params& q) {
    const std::vector<std::string> fields = q.list("fields");
    if (fields.empty()) return zoho_error(400, "REQUIRED_PARAM_MISSING", "fields is required");
    std::uint64_t per_page = std::min(data.page_size, max_per_page);
    if (auto v = q.first("per_page")) {
        auto n = parts::to_number(*v);
        if (!n || *n == 0 || *n > max_per_page)
            return zoho_error(400, "INVALID_DATA", "per_page must be from 1 to 200");
        per_page = *n;
    }
    std::uint64_t skip = 0;
    if (auto v = q.first("page")) {
        auto n = parts::to_number(*v);
        if (!n || *n == 0) return zoho_error(400, "INVALID_DATA", "page must be a page number");
        skip = (*n - 1) * per_page;
    }
    if (auto v = q.first("page_token")) {
        auto s = skip_of(*v);
        if (!s) return zoho_error(400, "INVALID_TOKEN", "the page_token is invalid or expired");
        skip = *s;
    }
    answer a = parts::small_json("zoho", 200, std::string(content_type), {});
    a.selection = fields;
    auto p = parts::make_page(skip, per_page, data.records);
    a.records = p.count;
    json::object info{{"per_page", per_page},
                      {"count", p.count},
                      {"sort_by", "id"},
                      {"page", skip / per_page + 1},
                      {"sort_order", "desc"},
                      {"more_records", p.more()}};
    info["next_page_token"] = p.more() ? json::value(token_for(p.skip + p.count)) : nullptr;
    info["previous_page_token"] = p.skip > 0 ? json::value(token_for(p.skip - std::min(p.skip, per_page)))
                                            : nullptr;
    info["page_token_expiry"] = p.more() ? json::value("2026-12-06T09:00:00+01:00") : nullptr;
    const std::string tail = "],\"info\":" + json::serialize(info) + "}";
    a.stream = [data, p, fields, tail](const body_sink& sink) {
        parts::piece_writer out(sink);
        out.append("{\"data\":[");
        for (std::uint64_t i = p.skip; i < p.skip + p.count && !out.failed(); ++i) {
            if (i != p.skip) out.append(",");
            out.append(json::serialize(selected(contact(data, i), fields)));
        }
        out.append(tail);
        out.flush();
    };
    return a;
}

}  // namespace exportwall::demo_crm::vendors
