// Pipedrive v1 persons: {"success":true,"data":…,"additional_data":…,"related_objects":…}.
// Person ids are numbers (record index + 1); every person belongs to one organisation (id 1)
// and one owner (user id 2), which related_objects describes once per answer. The fields
// Pipedrive has no standard place for (lifecycle, IBAN, consent, …) are custom fields; Pipedrive
// names those with 40-character hashes, the demo with the generator's names.

#include <algorithm>
#include <cctype>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "tools/demo_crm/vendor_answers.hpp"

namespace exportwall::demo_crm::vendors {
namespace {

namespace json = boost::json;

constexpr std::string_view content_type = "application/json";
constexpr std::int64_t org_id = 1;
constexpr std::int64_t owner_id = 2;
constexpr std::string_view org_name = "Demo Retail NV";
constexpr std::string_view org_address = "Meir 1, 2000 Antwerpen, Belgium";
constexpr std::string_view org_cc_email = "demo-retail@pipedrivemail.com";
constexpr std::string_view owner_name = "Demo Owner";
constexpr std::string_view owner_email = "owner@crm.example.be";

json::value text_or_null(const std::string& s) {
    return s.empty() ? json::value(nullptr) : json::value(s);
}

// "2026-01-05T03:35:05.000Z" → "2026-01-05 03:35:05"
std::string pipedrive_time(std::string_view iso) {
    return parts::space_time(iso.substr(0, std::min<std::size_t>(iso.size(), 19)));
}

json::object owner_reference() {
    return {{"id", owner_id},      {"name", owner_name},  {"email", owner_email}, {"has_pic", 0},
            {"pic_hash", nullptr}, {"active_flag", true}, {"value", owner_id}};
}

json::object organisation_reference(std::uint64_t people) {
    return {{"name", org_name},       {"people_count", people}, {"owner_id", owner_id},
            {"address", org_address}, {"active_flag", true},    {"cc_email", org_cc_email},
            {"value", org_id}};
}

json::object person(const dataset& data, std::uint64_t index) {
    auto c = bench::make_contact(data.seed, index);
    json::object o;
    o["id"] = index + 1;
    o["company_id"] = 1;
    o["owner_id"] = owner_reference();
    o["org_id"] = organisation_reference(data.records);
    o["name"] = c.first_name + " " + c.last_name;
    o["first_name"] = c.first_name;
    o["last_name"] = c.last_name;
    o["active_flag"] = true;
    o["phone"] =
        json::array{json::object{{"label", "mobile"}, {"value", c.phone}, {"primary", true}}};
    o["email"] =
        json::array{json::object{{"label", "work"}, {"value", c.email}, {"primary", true}}};
    o["primary_email"] = c.email;
    o["first_char"] = std::string(
        1, static_cast<char>(std::tolower(static_cast<unsigned char>(c.first_name.front()))));
    o["add_time"] = parts::space_time(c.created_at);
    o["update_time"] = pipedrive_time(parts::updated_at(index));
    o["visible_to"] = "3";
    o["marketing_status"] = c.objection_direct_marketing ? "unsubscribed"
                            : c.consent_email            ? "subscribed"
                                                         : "no_consent";
    o["birthday"] = c.birth_date;
    o["postal_address"] = c.street + ", " + c.postcode + " " + c.city + ", " + c.country;
    o["postal_address_route"] = c.street;
    o["postal_address_postal_code"] = c.postcode;
    o["postal_address_locality"] = c.city;
    o["postal_address_country"] = c.country;
    o["notes"] = c.notes;
    o["org_name"] = org_name;
    o["owner_name"] = owner_name;
    o["cc_email"] = org_cc_email;
    o["external_id"] = c.id;
    o["lifecycle"] = c.lifecycle;
    o["iban"] = c.iban;
    o["vat_number"] = text_or_null(c.vat_number);
    o["quote_requested"] = c.quote_requested;
    o["consent_email"] = c.consent_email;
    o["consent_sms"] = c.consent_sms;
    o["objection_direct_marketing"] = c.objection_direct_marketing;
    return o;
}

std::string related_objects(std::uint64_t people) {
    json::object organisation{{"id", org_id},
                              {"name", org_name},
                              {"people_count", people},
                              {"owner_id", owner_id},
                              {"address", org_address},
                              {"active_flag", true},
                              {"cc_email", org_cc_email}};
    json::object user{{"id", owner_id}, {"name", owner_name},  {"email", owner_email},
                      {"has_pic", 0},   {"pic_hash", nullptr}, {"active_flag", true}};
    json::object related{{"organization", json::object{{std::to_string(org_id), organisation}}},
                         {"user", json::object{{std::to_string(owner_id), user}}}};
    return json::serialize(related);
}

}  // namespace

answer pipedrive_person(const dataset& data, std::string_view id) {
    auto index = parts::index_of_number(data, id);
    if (!index) {
        return parts::small_json(
            "pipedrive", 404, std::string(content_type),
            "{\"success\":false,\"error\":\"Person not found\",\"error_info\":\"Please check "
            "developers.pipedrive.com for more information about Pipedrive API.\",\"data\":null,"
            "\"additional_data\":null}");
    }
    answer a = parts::small_json("pipedrive", 200, std::string(content_type), {});
    a.records = 1;
    a.small_body =
        R"({"success":true,"data":)" + json::serialize(person(data, *index)) +
        ",\"additional_data\":{\"dropbox_email\":\"demo-retail+deals@pipedrivemail.com\"}"
        ",\"related_objects\":" +
        related_objects(data.records) + "}";
    return a;
}

answer pipedrive_persons(const dataset& data, const parts::query_params& q) {
    std::uint64_t start = 0;
    std::uint64_t limit = data.page_size;
    if (auto v = q.first("start")) {
        auto n = parts::to_number(*v);
        if (!n) return parts::bad_request("pipedrive", "start must be a record offset");
        start = *n;
    }
    if (auto v = q.first("limit")) {
        auto n = parts::to_number(*v);
        if (!n || *n == 0)
            return parts::bad_request("pipedrive", "limit must be a positive number");
        limit = *n;
    }
    answer a = parts::small_json("pipedrive", 200, std::string(content_type), {});
    auto p = parts::make_page(start, limit, data.records);
    a.records = p.count;
    json::object pagination{
        {"start", start}, {"limit", limit}, {"more_items_in_collection", p.more()}};
    if (p.more()) pagination["next_start"] = p.skip + p.count;
    std::string tail = R"(],"additional_data":{"pagination":)" + json::serialize(pagination) +
                       R"(},"related_objects":)" + related_objects(data.records) + "}";
    a.stream = [data, p, tail](const body_sink& sink) {
        parts::piece_writer out(sink);
        out.append(R"({"success":true,"data":[)");
        for (std::uint64_t i = p.skip; i < p.skip + p.count && !out.failed(); ++i) {
            if (i != p.skip) out.append(",");
            out.append(json::serialize(person(data, i)));
        }
        out.append(tail);
        out.flush();
    };
    return a;
}

}  // namespace exportwall::demo_crm::vendors
