// Close leads: a lead groups consecutive generator contacts, 3 then 2 then 3 … (the last lead
// takes what is left), and carries its first contact's address and status. Contacts keep the
// generator's remaining fields as custom fields ("custom.<name>"; Close's own are
// custom.cf_<id>), "custom.opt_out" being the objection to direct marketing.

#include <algorithm>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "tools/demo_crm/vendor_answers.hpp"

namespace exportwall::demo_crm::vendors {
namespace {

namespace json = boost::json;

constexpr std::string_view content_type = "application/json";
constexpr std::string_view organization_id = "orga_demo0crm0000000000000000000000000000000";

// Leads 2k and 2k+1 hold records [5k, 5k+3) and [5k+3, 5k+5).
struct lead_span {
    std::uint64_t first = 0;
    std::uint64_t count = 0;
};

lead_span span_of(std::uint64_t lead, std::uint64_t records) {
    lead_span s;
    s.first = (lead / 2) * 5 + (lead % 2) * 3;
    s.count = lead % 2 == 0 ? 3 : 2;
    s.first = std::min(s.first, records);
    s.count = std::min(s.count, records - s.first);
    return s;
}

std::uint64_t lead_count(std::uint64_t records) {
    std::uint64_t rest = records % 5;
    return (records / 5) * 2 + (rest == 0 ? 0 : rest <= 3 ? 1 : 2);
}

// The generator id without its dashes: Close ids are a prefix and 32+ characters.
std::string close_id(std::string_view prefix, const std::string& id) {
    std::string out(prefix);
    for (char ch : id)
        if (ch != '-') out.push_back(ch);
    return out;
}

// "2019-04-12T10:33:00Z" or "2026-01-05T03:35:05.000Z" → "2019-04-12T10:33:00.000000+00:00"
std::string close_time(std::string_view iso) {
    return std::string(iso.substr(0, std::min<std::size_t>(iso.size(), 19))) + ".000000+00:00";
}

std::string_view status_label(const bench::contact& c) {
    if (c.lifecycle == "customer") return "Customer";
    if (c.lifecycle == "former") return "Canceled";
    return c.quote_requested ? "Qualified" : "Potential";
}

json::object close_contact(const bench::contact& c, std::uint64_t index,
                           const std::string& lead_id) {
    std::string digits;
    for (char ch : c.phone)
        if (ch != ' ') digits.push_back(ch);
    return {{"id", close_id("cont_", c.id)},
            {"lead_id", lead_id},
            {"name", c.first_name + " " + c.last_name},
            {"title", ""},
            {"emails", json::array{json::object{{"email", c.email}, {"type", "office"}}}},
            {"phones", json::array{json::object{
                           {"phone", digits}, {"phone_formatted", c.phone}, {"type", "mobile"}}}},
            {"date_created", close_time(c.created_at)},
            {"date_updated", close_time(parts::updated_at(index))},
            {"custom.opt_out", c.objection_direct_marketing},
            {"custom.consent_email", c.consent_email},
            {"custom.consent_sms", c.consent_sms},
            {"custom.lifecycle", c.lifecycle},
            {"custom.quote_requested", c.quote_requested},
            {"custom.birth_date", c.birth_date},
            {"custom.iban", c.iban},
            {"custom.vat_number", c.vat_number},
            {"custom.notes", c.notes},
            {"custom.external_id", c.id}};
}

json::object close_lead(const dataset& data, std::uint64_t lead) {
    auto span = span_of(lead, data.records);
    auto head = bench::make_contact(data.seed, span.first);
    std::string id = close_id("lead_", head.id);
    json::array contacts;
    for (std::uint64_t i = span.first; i < span.first + span.count; ++i) {
        contacts.push_back(
            close_contact(i == span.first ? head : bench::make_contact(data.seed, i), i, id));
    }
    std::string name = head.last_name + " (" + head.city + ")";
    return {{"id", id},
            {"display_name", name},
            {"name", name},
            {"status_id", "stat_demo0" + std::string(status_label(head))},
            {"status_label", status_label(head)},
            {"description", ""},
            {"url", nullptr},
            {"html_url", "https://app.close.com/lead/" + id + "/"},
            {"organization_id", organization_id},
            {"addresses", json::array{json::object{{"label", "business"},
                                                   {"address_1", head.street},
                                                   {"address_2", ""},
                                                   {"city", head.city},
                                                   {"state", ""},
                                                   {"zipcode", head.postcode},
                                                   {"country", head.country}}}},
            {"contacts", std::move(contacts)},
            {"date_created", close_time(head.created_at)},
            {"date_updated", close_time(parts::updated_at(span.first))}};
}

}  // namespace

answer close_leads(const dataset& data, const parts::query_params& q) {
    std::uint64_t skip = 0;
    std::uint64_t limit = data.page_size;
    if (auto v = q.first("_skip")) {
        auto n = parts::to_number(*v);
        if (!n) return parts::bad_request("close", "_skip must be a lead offset");
        skip = *n;
    }
    if (auto v = q.first("_limit")) {
        auto n = parts::to_number(*v);
        if (!n || *n == 0) return parts::bad_request("close", "_limit must be a positive number");
        limit = *n;
    }
    answer a = parts::small_json("close", 200, std::string(content_type), {});
    a.selection = q.list("_fields");
    const std::uint64_t total = lead_count(data.records);
    auto p = parts::make_page(skip, limit, total);
    a.records = p.count;
    std::string head = std::string("{\"has_more\":") + (p.more() ? "true" : "false") +
                       ",\"total_results\":" + std::to_string(total) + ",\"data\":[";
    a.stream = [data, p, head, selection = a.selection](const body_sink& sink) {
        parts::piece_writer out(sink);
        out.append(head);
        for (std::uint64_t lead = p.skip; lead < p.skip + p.count && !out.failed(); ++lead) {
            if (lead != p.skip) out.append(",");
            out.append(select_fields(json::serialize(close_lead(data, lead)), selection));
        }
        out.append("]}");
        out.flush();
    };
    return a;
}

}  // namespace exportwall::demo_crm::vendors
