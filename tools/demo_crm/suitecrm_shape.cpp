// SuiteCRM 8's V8 API (JSON:API): Contacts resources with their attributes under SuiteCRM's field
// names (email1, primary_address_city, …; custom fields end in _c), a relationship to the
// contact's account, the account itself in "included", links and meta. fields[Contacts] is the
// sparse fieldset of attributes; page[number] (from 1) and page[size] page the list.

#include <algorithm>
#include <array>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "tools/demo_crm/vendor_answers.hpp"

namespace exportwall::demo_crm::vendors {
namespace {

namespace json = boost::json;

constexpr std::string_view content_type = "application/vnd.api+json";
constexpr std::string_view module_path = "/Api/V8/module/Contacts";

struct account {
    std::string_view id, name, city;
};
// Contact i works for account i mod 5.
constexpr std::array<account, 5> accounts{{
    {"5c0a0000-0000-4000-a000-000000000001", "Meir Retail NV", "Antwerpen"},
    {"5c0a0000-0000-4000-a000-000000000002", "Kouter Handel BV", "Gent"},
    {"5c0a0000-0000-4000-a000-000000000003", "Rue Neuve Commerce SA", "Brussel"},
    {"5c0a0000-0000-4000-a000-000000000004", "Ladeuze Distributie BV", "Leuven"},
    {"5c0a0000-0000-4000-a000-000000000005", "Meuse Négoce SRL", "Namur"},
}};

std::size_t account_of(std::uint64_t index) {
    return static_cast<std::size_t>(index % accounts.size());
}

// "2019-04-12T10:33:00Z" or "2026-01-05T03:35:05.000Z" → "2019-04-12T10:33:00+00:00"
std::string suitecrm_time(std::string_view iso) {
    return std::string(iso.substr(0, std::min<std::size_t>(iso.size(), 19))) + "+00:00";
}

json::object contact_resource(const dataset& data, std::uint64_t index,
                              const std::vector<std::string>& fields) {
    auto c = bench::make_contact(data.seed, index);
    const auto& acc = accounts[account_of(index)];
    json::object attributes{
        {"name", c.first_name + " " + c.last_name},
        {"first_name", c.first_name},
        {"last_name", c.last_name},
        {"email1", c.email},
        {"phone_mobile", c.phone},
        {"birthdate", c.birth_date},
        {"primary_address_street", c.street},
        {"primary_address_postalcode", c.postcode},
        {"primary_address_city", c.city},
        {"primary_address_country", c.country},
        {"description", c.notes},
        {"date_entered", suitecrm_time(c.created_at)},
        {"date_modified", suitecrm_time(parts::updated_at(index))},
        {"assigned_user_name", "admin"},
        {"account_name", acc.name},
        {"account_id", acc.id},
        {"do_not_call", false},
        {"lifecycle_c", c.lifecycle},
        {"iban_c", c.iban},
        {"vat_number_c", c.vat_number},
        {"quote_requested_c", c.quote_requested},
        {"consent_email_c", c.consent_email},
        {"consent_sms_c", c.consent_sms},
        {"objection_direct_marketing_c", c.objection_direct_marketing},
    };
    if (!fields.empty()) {
        json::object kept;
        for (const auto& f : fields)
            if (const auto* v = attributes.if_contains(f)) kept[f] = *v;
        attributes = std::move(kept);
    }
    json::object linkage{{"type", "Accounts"}, {"id", acc.id}};
    json::object accounts_relationship{
        {"links",
         json::object{{"related", "/V8/module/Contacts/" + c.id + "/relationships/accounts"}}},
        {"data", json::array{linkage}}};
    return {{"type", "Contacts"},
            {"id", c.id},
            {"attributes", std::move(attributes)},
            {"relationships", json::object{{"accounts", std::move(accounts_relationship)}}}};
}

json::object account_resource(std::size_t which) {
    const auto& acc = accounts[which];
    return {{"type", "Accounts"},
            {"id", acc.id},
            {"attributes", json::object{{"name", acc.name}, {"billing_address_city", acc.city}}}};
}

answer suitecrm_error(unsigned status, std::string_view detail) {
    json::object error{{"status", status}, {"title", nullptr}, {"detail", detail}};
    return parts::small_json("suitecrm", status, std::string(content_type),
                             json::serialize(json::object{{"errors", error}}));
}

// The list's query for page `number`, brackets percent-encoded as PHP's http_build_query does.
std::string page_link(const std::string& base_url, const std::vector<std::string>& fields,
                      std::uint64_t number, std::uint64_t size) {
    std::string link = base_url + std::string(module_path) + "?";
    if (!fields.empty())
        link += "fields%5BContacts%5D=" + parts::encode(parts::join(fields, ',')) + "&";
    link +=
        "page%5Bnumber%5D=" + std::to_string(number) + "&page%5Bsize%5D=" + std::to_string(size);
    return link;
}

}  // namespace

answer suitecrm_contact(const dataset& data, std::string_view id, const parts::query_params& q,
                        const std::string& base_url) {
    auto index = parts::index_of_id(data, id);
    if (!index) return suitecrm_error(404, "The Contacts record with this id does not exist");
    answer a = parts::small_json("suitecrm", 200, std::string(content_type), {});
    a.selection = q.list("fields[Contacts]");
    a.records = 1;
    json::object document{{"data", contact_resource(data, *index, a.selection)},
                          {"included", json::array{account_resource(account_of(*index))}},
                          {"links", json::object{{"self", base_url + std::string(module_path) +
                                                              "/" + std::string(id)}}},
                          {"meta", json::object{{"total-pages", 1}}}};
    a.small_body = json::serialize(document);
    return a;
}

answer suitecrm_contacts(const dataset& data, const parts::query_params& q,
                         const std::string& base_url) {
    std::uint64_t number = 1;
    std::uint64_t size = data.page_size;
    if (auto v = q.first("page[number]")) {
        auto n = parts::to_number(*v);
        if (!n || *n == 0) return suitecrm_error(400, "page[number] must be a positive number");
        number = *n;
    }
    if (auto v = q.first("page[size]")) {
        auto n = parts::to_number(*v);
        if (!n || *n == 0) return suitecrm_error(400, "page[size] must be a positive number");
        size = *n;
    }
    answer a = parts::small_json("suitecrm", 200, std::string(content_type), {});
    a.selection = q.list("fields[Contacts]");
    const std::uint64_t pages = (data.records + size - 1) / size;
    // number - 1 pages precede this one; a page past the data set is empty (no overflow).
    const std::uint64_t skip =
        number - 1 > data.records / size ? data.records : (number - 1) * size;
    auto p = parts::make_page(skip, size, data.records);
    a.records = p.count;
    json::array included;
    std::vector<bool> seen(accounts.size(), false);
    for (std::uint64_t i = p.skip; i < p.skip + p.count && included.size() < accounts.size(); ++i) {
        auto which = account_of(i);
        if (seen[which]) continue;
        seen[which] = true;
        included.push_back(account_resource(which));
    }
    json::object links{{"self", page_link(base_url, a.selection, number, size)},
                       {"first", page_link(base_url, a.selection, 1, size)}};
    if (number > 1)
        links["prev"] = page_link(base_url, a.selection,
                                  std::min(number - 1, std::max<std::uint64_t>(pages, 1)), size);
    if (p.more()) links["next"] = page_link(base_url, a.selection, number + 1, size);
    links["last"] = page_link(base_url, a.selection, std::max<std::uint64_t>(pages, 1), size);
    json::object meta{{"total-pages", pages}, {"records-on-this-page", p.count}};
    std::string tail = "],\"included\":" + json::serialize(included) +
                       ",\"links\":" + json::serialize(links) +
                       ",\"meta\":" + json::serialize(meta) + "}";
    a.stream = [data, p, fields = a.selection, tail](const body_sink& sink) {
        parts::piece_writer out(sink);
        out.append("{\"data\":[");
        for (std::uint64_t i = p.skip; i < p.skip + p.count && !out.failed(); ++i) {
            if (i != p.skip) out.append(",");
            out.append(json::serialize(contact_resource(data, i, fields)));
        }
        out.append(tail);
        out.flush();
    };
    return a;
}

}  // namespace exportwall::demo_crm::vendors
