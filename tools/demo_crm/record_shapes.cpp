// Single records and search for the vendors whose lists vendor_shapes.cpp serves: the record is
// the one the list would write, wrapped as each vendor's single-record answer.

#include <algorithm>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "tools/demo_crm/vendor_answers.hpp"

namespace exportwall::demo_crm::vendors {
namespace {

using bench::json_shape;
using parts::json_string;

constexpr std::string_view hubspot_type = "application/json;charset=utf-8";
constexpr std::string_view salesforce_type = "application/json;charset=UTF-8";
constexpr std::string_view dataverse_type = "application/json; odata.metadata=minimal";
// HubSpot's errors carry a correlation id; the demo's is fixed.
constexpr std::string_view correlation_id = "6a1b2c3d-0000-4000-a000-00000000c0de";

answer hubspot_error(std::string endpoint, unsigned status, std::string_view message,
                     std::string_view category) {
    return parts::small_json(std::move(endpoint), status, std::string(hubspot_type),
                             "{\"status\":\"error\",\"message\":" + json_string(message) +
                                 ",\"correlationId\":" + json_string(correlation_id) +
                                 ",\"category\":" + json_string(category) + "}");
}

}  // namespace

answer hubspot_record(const dataset& data, std::string_view id, const parts::query_params& q) {
    auto index = parts::index_of_id(data, id);
    if (!index) {
        return hubspot_error("hubspot-record", 404,
                             "Object not found.  objectId are usually numeric.",
                             "OBJECT_NOT_FOUND");
    }
    answer a = parts::small_json("hubspot-record", 200, std::string(hubspot_type), {});
    a.selection = q.list("properties");
    a.records = 1;
    a.small_body = select_fields(parts::record_json(data, *index, json_shape::hubspot), a.selection,
                                 "properties");
    return a;
}

answer hubspot_search(const dataset& data, std::string_view body, const std::string& base_url) {
    boost::system::error_code ec;
    auto request = boost::json::parse(boost::json::string_view(body.data(), body.size()), ec);
    if (ec || !request.is_object()) {
        return hubspot_error("hubspot-search", 400,
                             "Invalid input JSON: the search request is not a JSON object",
                             "VALIDATION_ERROR");
    }
    answer a;
    a.endpoint = "hubspot-search";
    a.content_type = hubspot_type;
    // filterGroups, sorts and query are accepted and not applied: every record matches. Only
    // their presence reaches the log, by name.
    for (const auto& member : request.as_object()) a.body_members.emplace_back(member.key());
    const auto& o = request.as_object();
    if (const auto* properties = o.if_contains("properties")) {
        if (!properties->is_array()) {
            return hubspot_error("hubspot-search", 400,
                                 "properties must be an array of property names",
                                 "VALIDATION_ERROR");
        }
        for (const auto& p : properties->as_array()) {
            if (!p.is_string()) {
                return hubspot_error("hubspot-search", 400,
                                     "properties must be an array of property names",
                                     "VALIDATION_ERROR");
            }
            a.selection.emplace_back(p.as_string());
        }
    }
    std::uint64_t limit = data.page_size;
    if (const auto* v = o.if_contains("limit")) {
        if (!v->is_int64() || v->as_int64() < 1)
            return hubspot_error("hubspot-search", 400, "limit must be a positive integer",
                                 "VALIDATION_ERROR");
        limit = static_cast<std::uint64_t>(v->as_int64());
    }
    std::uint64_t skip = 0;
    if (const auto* v = o.if_contains("after")) {
        std::optional<std::uint64_t> n;
        if (v->is_string()) n = parts::to_number(std::string_view(v->as_string()));
        if (v->is_int64() && v->as_int64() >= 0) n = static_cast<std::uint64_t>(v->as_int64());
        if (!n)
            return hubspot_error("hubspot-search", 400, "after must be a paging cursor",
                                 "VALIDATION_ERROR");
        skip = *n;
    }
    auto p = parts::make_page(skip, limit, data.records);
    a.records = p.count;
    std::string tail = "]";
    if (p.more()) {
        std::string after = std::to_string(p.skip + p.count);
        std::string link = base_url + "/crm/v3/objects/contacts/search?after=" + after;
        tail += ",\"paging\":{\"next\":{\"after\":" + json_string(after) +
                ",\"link\":" + json_string(link) + "}}";
    }
    tail += "}";
    std::string head = "{\"total\":" + std::to_string(data.records) + ",\"results\":[";
    a.stream = [data, p, selection = a.selection, head, tail](const body_sink& sink) {
        parts::piece_writer out(sink);
        out.append(head);
        parts::write_records(data, p.skip, p.count, json_shape::hubspot, selection, "properties",
                             ',', false, out);
        out.append(tail);
        out.flush();
    };
    return a;
}

answer salesforce_record(const dataset& data, std::string_view id) {
    auto index = parts::index_of_id(data, id);
    if (!index) {
        return parts::small_json("salesforce-record", 404, std::string(salesforce_type),
                                 "[{\"errorCode\":\"NOT_FOUND\",\"message\":\"The requested "
                                 "resource does not exist\"}]");
    }
    // The list's record starts with its attributes; the record's own Id follows them, as in a
    // real sObject Rows answer, then the list's fields.
    std::string record = parts::record_json(data, *index, json_shape::salesforce);
    std::string attributes =
        "{\"attributes\":{\"type\":\"Contact\",\"url\":\"/services/data/v58.0/sobjects/Contact/" +
        std::string(id) + "\"},";
    answer a = parts::small_json("salesforce-record", 200, std::string(salesforce_type), {});
    a.records = 1;
    if (record.rfind(attributes, 0) == 0) {
        a.small_body =
            attributes + "\"Id\":" + json_string(id) + "," + record.substr(attributes.size());
    } else {
        a.small_body = record;
    }
    return a;
}

answer dataverse_record(const dataset& data, std::string_view id, const parts::query_params& q,
                        const std::string& base_url) {
    auto index = parts::index_of_id(data, id);
    if (!index) {
        return parts::small_json(
            "dataverse-record", 404, std::string(dataverse_type),
            "{\"error\":{\"code\":\"0x80040217\",\"message\":" +
                json_string("Entity 'contact' With Id = " + std::string(id) + " Does Not Exist") +
                "}}");
    }
    answer a = parts::small_json("dataverse-record", 200, std::string(dataverse_type), {});
    a.selection = q.list("$select");
    for (auto& f : a.selection) std::replace(f.begin(), f.end(), '/', '.');
    a.records = 1;
    std::string context = base_url + "/api/data/v9.2/$metadata#contacts";
    if (!a.selection.empty()) context += "(" + parts::join(a.selection, ',') + ")";
    context += "/$entity";
    // A row version per record, as Dataverse's weak ETag carries it.
    std::string etag = "W/\"" + std::to_string(3000000 + *index * 17) + "\"";
    std::string record =
        select_fields(parts::record_json(data, *index, json_shape::odata), a.selection);
    a.small_body =
        "{\"@odata.context\":" + json_string(context) + ",\"@odata.etag\":" + json_string(etag);
    if (record.size() > 2) a.small_body += ",";
    a.small_body += record.substr(1);
    return a;
}

}  // namespace exportwall::demo_crm::vendors
