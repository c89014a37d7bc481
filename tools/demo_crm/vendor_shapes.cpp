// The router, and the list and bulk shapes: Dataverse, HubSpot, Salesforce REST and SOAP, CSV
// (plain and with spaced header names) and NDJSON. Other vendors and single records are in
// vendor_answers.hpp.

#include "tools/demo_crm/vendor_shapes.hpp"

#include <algorithm>
#include <array>
#include <optional>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

#include "tools/generator/contact_generator.hpp"
#include "tools/demo_crm/answer_parts.hpp"
#include "tools/demo_crm/vendor_answers.hpp"

namespace exportwall::demo_crm {
namespace {

namespace urls = boost::urls;
using bench::json_shape;

constexpr std::string_view dataverse_path = "/api/data/v9.2/contacts";
constexpr std::string_view hubspot_path = "/crm/v3/objects/contacts";
constexpr std::string_view salesforce_query_path = "/services/data/v58.0/query";
constexpr std::string_view salesforce_locator = "01gD0000002HU6KIAW";
constexpr std::string_view soap_path = "/services/Soap/u/58.0";
constexpr std::string_view csv_path = "/exports/contacts.csv";
constexpr std::string_view ndjson_path = "/exports/contacts.ndjson";
constexpr std::string_view csv_spaces_path = "/exports/contacts-spaces.csv";
constexpr std::string_view hubspot_record_prefix = "/crm/v3/objects/contacts/";
constexpr std::string_view salesforce_record_prefix = "/services/data/v58.0/sobjects/Contact/";
constexpr std::string_view dataverse_record_prefix = "/api/data/v9.2/contacts(";
constexpr std::string_view pipedrive_path = "/v1/persons";
constexpr std::string_view suitecrm_path = "/Api/V8/module/Contacts";
constexpr std::string_view close_path = "/api/v1/lead/";
constexpr std::string_view zoho_path = "/crm/v3/Contacts";
constexpr std::string_view odoo_path = "/jsonrpc";
constexpr std::string_view odoo_xmlrpc_path = "/xmlrpc/2/object";

using parts::bad_request;
using parts::batch_records;
using parts::encode;
using parts::join;
using parts::json_string;
using parts::make_page;
using parts::method_not_allowed;
using parts::not_found;
using parts::page;
using parts::piece_writer;
using parts::query_params;
using parts::to_number;
using parts::write_records;

answer dataverse(const dataset& data, const query_params& q, const std::string& base_url) {
    answer a;
    a.endpoint = "dataverse";
    a.content_type = "application/json; odata.metadata=minimal";
    a.selection = q.list("$select");
    // OData writes a path into a complex property with '/' (address/city); the records name it
    // with the catalogue's dots.
    for (auto& f : a.selection) std::replace(f.begin(), f.end(), '/', '.');
    std::uint64_t skip = 0;
    std::uint64_t end = data.records;
    if (auto v = q.first("$skiptoken")) {
        auto n = to_number(*v);
        if (!n) return bad_request(a.endpoint, "$skiptoken must be a record offset");
        skip = *n;
    }
    if (auto v = q.first("$top")) {
        auto n = to_number(*v);
        if (!n) return bad_request(a.endpoint, "$top must be a whole number");
        end = std::min(end, *n);
    }
    page p = make_page(skip, data.page_size, end);
    a.records = p.count;
    std::string select_value = join(a.selection, ',');
    std::string context = base_url + "/api/data/v9.2/$metadata#contacts";
    if (!a.selection.empty()) context += "(" + select_value + ")";
    std::string next;
    if (p.more()) {
        next = base_url + std::string(dataverse_path) + "?";
        if (!a.selection.empty()) next += "$select=" + encode(select_value) + "&";
        if (q.first("$top")) next += "$top=" + std::to_string(end) + "&";
        next += "$skiptoken=" + std::to_string(p.skip + p.count);
    }
    a.stream = [data, p, selection = a.selection, context, next](const body_sink& sink) {
        piece_writer out(sink);
        out.append("{\"@odata.context\":" + json_string(context) + ",\"value\":[");
        write_records(data, p.skip, p.count, json_shape::odata, selection, {}, ',', false, out);
        out.append("]");
        if (!next.empty()) out.append(",\"@odata.nextLink\":" + json_string(next));
        out.append("}");
        out.flush();
    };
    return a;
}

answer hubspot(const dataset& data, const query_params& q, const std::string& base_url) {
    answer a;
    a.endpoint = "hubspot";
    a.content_type = "application/json;charset=utf-8";
    a.selection = q.list("properties");
    std::uint64_t skip = 0;
    std::uint64_t limit = data.page_size;
    if (auto v = q.first("after")) {
        auto n = to_number(*v);
        if (!n) return bad_request(a.endpoint, "after must be a record offset");
        skip = *n;
    }
    if (auto v = q.first("limit")) {
        auto n = to_number(*v);
        if (!n || *n == 0) return bad_request(a.endpoint, "limit must be a positive number");
        limit = *n;
    }
    page p = make_page(skip, limit, data.records);
    a.records = p.count;
    std::string tail;
    if (p.more()) {
        std::string after = std::to_string(p.skip + p.count);
        std::string link = base_url + std::string(hubspot_path) + "?after=" + after;
        if (!a.selection.empty()) link += "&properties=" + encode(join(a.selection, ','));
        if (q.first("limit")) link += "&limit=" + std::to_string(limit);
        tail = ",\"paging\":{\"next\":{\"after\":" + json_string(after) +
               ",\"link\":" + json_string(link) + "}}";
    }
    a.stream = [data, p, selection = a.selection, tail](const body_sink& sink) {
        piece_writer out(sink);
        out.append("{\"results\":[");
        write_records(data, p.skip, p.count, json_shape::hubspot, selection, "properties", ',',
                      false, out);
        out.append("]" + tail + "}");
        out.flush();
    };
    return a;
}

answer salesforce(const dataset& data, std::uint64_t skip) {
    answer a;
    a.endpoint = "salesforce-rest";
    a.content_type = "application/json;charset=UTF-8";
    page p = make_page(skip, data.page_size, data.records);
    a.records = p.count;
    std::string head = "{\"totalSize\":" + std::to_string(data.records) +
                       ",\"done\":" + (p.more() ? "false" : "true");
    if (p.more()) {
        head += ",\"nextRecordsUrl\":" + json_string(std::string(salesforce_query_path) + "/" +
                                                     std::string(salesforce_locator) + "-" +
                                                     std::to_string(p.skip + p.count));
    }
    head += ",\"records\":[";
    a.stream = [data, p, head](const body_sink& sink) {
        piece_writer out(sink);
        out.append(head);
        write_records(data, p.skip, p.count, json_shape::salesforce, {}, {}, ',', false, out);
        out.append("]}");
        out.flush();
    };
    return a;
}

answer soap(const dataset& data) {
    answer a;
    a.endpoint = "salesforce-soap";
    a.content_type = "text/xml; charset=utf-8";
    a.records = data.records;
    a.stream = [data](const body_sink& sink) {
        piece_writer out(sink);
        bench::contact_export_options options;
        options.records = data.records;
        options.seed = data.seed;
        bench::generate_contacts("xml", options,
                                 [&](std::string_view piece) { out.append(piece); });
        out.flush();
    };
    return a;
}

answer csv(const dataset& data, const query_params& q) {
    answer a;
    a.endpoint = "csv";
    a.content_type = "text/csv; charset=utf-8";
    a.selection = q.list("columns");  // logged: the CRM's own view of what it was asked for
    a.records = data.records;
    a.stream = [data](const body_sink& sink) {
        piece_writer out(sink);
        bench::contact_export_options options;
        options.seed = data.seed;
        options.csv_delimiter = ';';
        // Every generate_contacts call writes the header line; later batches skip it.
        std::size_t header_bytes = 0;
        options.records = 0;
        bench::generate_contacts("csv", options,
                                 [&](std::string_view piece) { header_bytes += piece.size(); });
        out.append("\xEF\xBB\xBF");
        for (std::uint64_t at = 0; at < data.records || at == 0; at += batch_records) {
            if (out.failed()) break;
            options.first = at;
            options.records = std::min(batch_records, data.records - at);
            std::size_t skip = at == 0 ? 0 : header_bytes;
            bench::generate_contacts("csv", options, [&](std::string_view piece) {
                auto drop = std::min(skip, piece.size());
                skip -= drop;
                out.append(piece.substr(drop));
            });
            if (data.records == 0) break;
        }
        out.flush();
    };
    return a;
}

// The CSV export's columns under header names with spaces, as a CRM's export dialog labels them.
constexpr std::array<std::string_view, 19> spaced_columns{"Contact Id",
                                                          "Lifecycle Stage",
                                                          "First Name",
                                                          "Last Name",
                                                          "E-mail Address",
                                                          "Mobile Phone",
                                                          "Birth Date",
                                                          "IBAN",
                                                          "VAT Number",
                                                          "Quote Requested",
                                                          "Consent E-mail",
                                                          "Consent SMS",
                                                          "Objection Direct Marketing",
                                                          "Street",
                                                          "Postcode",
                                                          "City",
                                                          "Country",
                                                          "Notes",
                                                          "Created On"};

// Splits the generator's semicolon CSV rows into raw cells (quotes kept, so a cell is written
// back exactly as generated) and writes the chosen cells of each row. Rows end in CRLF outside
// quotes; a quoted note may hold a bare LF.
class column_picker {
  public:
    column_picker(std::vector<std::size_t> columns, piece_writer& out)
        : columns_(std::move(columns)), out_(out) {}

    void feed(std::string_view piece) {
        for (char c : piece) {
            if (c == '"') quoted_ = !quoted_;
            if (!quoted_ && c == ';') {
                cells_.push_back(std::move(cell_));
                cell_.clear();
            } else if (!quoted_ && c == '\n' && !cell_.empty() && cell_.back() == '\r') {
                cell_.pop_back();
                cells_.push_back(std::move(cell_));
                cell_.clear();
                write_row();
            } else {
                cell_.push_back(c);
            }
        }
    }

  private:
    void write_row() {
        std::string row;
        for (std::size_t i = 0; i < columns_.size(); ++i) {
            if (i != 0) row.push_back(';');
            if (columns_[i] < cells_.size()) row += cells_[columns_[i]];
        }
        row += "\r\n";
        out_.append(row);
        cells_.clear();
    }

    std::vector<std::size_t> columns_;
    piece_writer& out_;
    std::vector<std::string> cells_;
    std::string cell_;
    bool quoted_ = false;
};

answer csv_spaces(const dataset& data, const query_params& q) {
    answer a;
    a.endpoint = "csv-spaces";
    a.content_type = "text/csv; charset=utf-8";
    a.records = data.records;
    std::vector<std::size_t> columns;
    for (const auto& name : q.list("columns")) {
        auto it = std::find(spaced_columns.begin(), spaced_columns.end(), name);
        if (it == spaced_columns.end()) continue;  // unknown names are ignored, as CRMs do
        auto at = static_cast<std::size_t>(it - spaced_columns.begin());
        if (std::find(columns.begin(), columns.end(), at) != columns.end()) continue;
        columns.push_back(at);
        a.selection.push_back(name);
    }
    if (q.first("columns") && columns.empty())
        return bad_request(a.endpoint, "columns names no column of this export");
    a.stream = [data, columns](const body_sink& sink) {
        piece_writer out(sink);
        std::vector<std::size_t> chosen = columns;
        if (chosen.empty())
            for (std::size_t i = 0; i < spaced_columns.size(); ++i) chosen.push_back(i);
        std::string header = "\xEF\xBB\xBF";
        for (std::size_t i = 0; i < chosen.size(); ++i) {
            if (i != 0) header.push_back(';');
            header += spaced_columns[chosen[i]];
        }
        out.append(header + "\r\n");
        bench::contact_export_options options;
        options.seed = data.seed;
        options.csv_delimiter = ';';
        // Every generate_contacts call writes the generator's header line first; it is dropped.
        std::size_t header_bytes = 0;
        options.records = 0;
        bench::generate_contacts("csv", options,
                                 [&](std::string_view piece) { header_bytes += piece.size(); });
        column_picker picker(chosen, out);
        for (std::uint64_t at = 0; at < data.records && !out.failed(); at += batch_records) {
            options.first = at;
            options.records = std::min(batch_records, data.records - at);
            std::size_t skip = header_bytes;
            bench::generate_contacts("csv", options, [&](std::string_view piece) {
                auto drop = std::min(skip, piece.size());
                skip -= drop;
                piece.remove_prefix(drop);
                if (columns.empty()) {
                    out.append(piece);  // every column: the generator's rows unchanged
                } else {
                    picker.feed(piece);
                }
            });
        }
        out.flush();
    };
    return a;
}

answer ndjson(const dataset& data, const query_params& q) {
    answer a;
    a.endpoint = "ndjson";
    a.content_type = "application/x-ndjson";
    a.selection = q.list("fields");
    a.records = data.records;
    a.stream = [data, selection = a.selection](const body_sink& sink) {
        piece_writer out(sink);
        write_records(data, 0, data.records, json_shape::odata, selection, {}, '\n', true, out);
        out.flush();
    };
    return a;
}

}  // namespace

std::string select_fields(std::string_view record_json, const std::vector<std::string>& selection,
                          std::string_view member) {
    if (selection.empty()) return std::string(record_json);
    boost::system::error_code ec;
    auto value =
        boost::json::parse(boost::json::string_view(record_json.data(), record_json.size()), ec);
    if (ec || !value.is_object()) return std::string(record_json);
    boost::json::object* target = &value.as_object();
    if (!member.empty()) {
        auto* inner = target->if_contains(boost::json::string_view(member.data(), member.size()));
        if (inner == nullptr || !inner->is_object()) return std::string(record_json);
        target = &inner->as_object();
    }
    std::vector<std::string> keep;
    keep.reserve(selection.size());
    for (const auto& item : selection) keep.push_back(item.substr(0, item.find('.')));
    boost::json::object filtered;
    for (const auto& entry : *target) {
        std::string key(entry.key());
        if (std::find(keep.begin(), keep.end(), key) != keep.end())
            filtered.emplace(entry.key(), entry.value());
    }
    *target = std::move(filtered);
    return boost::json::serialize(value);
}

namespace {

// Clients write JSON:API's page[number] with raw brackets, which RFC 3986 does not allow in a
// query: they are read as if percent-encoded.
std::string tolerant_target(std::string_view target) {
    const auto query = target.find('?');
    if (query == std::string_view::npos) return std::string(target);
    std::string encoded(target.substr(0, query));
    for (char c : target.substr(query)) {
        if (c == '[') {
            encoded += "%5B";
        } else if (c == ']') {
            encoded += "%5D";
        } else {
            encoded.push_back(c);
        }
    }
    return encoded;
}

// The tail of `path` after `prefix` when it is one path segment, else nothing.
std::optional<std::string_view> segment_after(std::string_view path, std::string_view prefix) {
    if (path.size() <= prefix.size() || path.substr(0, prefix.size()) != prefix)
        return std::nullopt;
    auto tail = path.substr(prefix.size());
    if (tail.find('/') != std::string_view::npos) return std::nullopt;
    return tail;
}

// The endpoints shaped in this file (Dataverse, HubSpot and Salesforce collections, SOAP, CSV,
// NDJSON); nothing when `path` is none of them.
std::optional<answer> answer_collection(const dataset& data, std::string_view method,
                                        std::string_view path, const query_params& q,
                                        const std::string& base_url) {
    if (path == dataverse_path) {
        if (method != "GET") return method_not_allowed("dataverse");
        return dataverse(data, q, base_url);
    }
    if (path == hubspot_path) {
        if (method != "GET") return method_not_allowed("hubspot");
        return hubspot(data, q, base_url);
    }
    if (path == salesforce_query_path) {
        if (method != "GET") return method_not_allowed("salesforce-rest");
        if (!q.first("q")) return bad_request("salesforce-rest", "q (the SOQL query) is missing");
        return salesforce(data, 0);
    }
    std::string next_prefix = std::string(salesforce_query_path) + "/";
    if (path.rfind(next_prefix, 0) == 0) {
        if (method != "GET") return method_not_allowed("salesforce-rest");
        std::string_view locator = path.substr(next_prefix.size());
        auto dash = locator.rfind('-');
        auto offset =
            dash == std::string_view::npos ? std::nullopt : to_number(locator.substr(dash + 1));
        if (!offset || locator.substr(0, dash) != salesforce_locator)
            return not_found("unknown query locator");
        return salesforce(data, *offset);
    }
    if (path == soap_path) {
        if (method != "POST") return method_not_allowed("salesforce-soap");
        return soap(data);
    }
    if (path == csv_path) {
        if (method != "GET") return method_not_allowed("csv");
        return csv(data, q);
    }
    if (path == ndjson_path) {
        if (method != "GET") return method_not_allowed("ndjson");
        return ndjson(data, q);
    }
    if (path == csv_spaces_path) {
        if (method != "GET") return method_not_allowed("csv-spaces");
        return csv_spaces(data, q);
    }
    return std::nullopt;
}

// The single records of HubSpot, Salesforce and Dataverse, and the other vendors' endpoints
// (vendor_answers.hpp); nothing when `path` is none of them.
std::optional<answer> answer_vendor(const dataset& data, std::string_view method,
                                    std::string_view path, const query_params& q,
                                    const std::string& base_url, std::string_view body) {
    if (auto tail = segment_after(path, hubspot_record_prefix)) {
        if (*tail == "search") {
            if (method != "POST") return method_not_allowed("hubspot-search");
            return vendors::hubspot_search(data, body, base_url);
        }
        if (method != "GET") return method_not_allowed("hubspot-record");
        return vendors::hubspot_record(data, *tail, q);
    }
    if (auto id = segment_after(path, salesforce_record_prefix)) {
        if (method != "GET") return method_not_allowed("salesforce-record");
        return vendors::salesforce_record(data, *id);
    }
    if (auto tail = segment_after(path, dataverse_record_prefix); tail && tail->back() == ')') {
        if (method != "GET") return method_not_allowed("dataverse-record");
        tail->remove_suffix(1);
        return vendors::dataverse_record(data, *tail, q, base_url);
    }
    if (path == pipedrive_path) {
        if (method != "GET") return method_not_allowed("pipedrive");
        return vendors::pipedrive_persons(data, q);
    }
    if (auto id = segment_after(path, std::string(pipedrive_path) + "/")) {
        if (method != "GET") return method_not_allowed("pipedrive");
        return vendors::pipedrive_person(data, *id);
    }
    if (path == suitecrm_path) {
        if (method != "GET") return method_not_allowed("suitecrm");
        return vendors::suitecrm_contacts(data, q, base_url);
    }
    if (auto id = segment_after(path, std::string(suitecrm_path) + "/")) {
        if (method != "GET") return method_not_allowed("suitecrm");
        return vendors::suitecrm_contact(data, *id, q, base_url);
    }
    if (path == close_path || path == close_path.substr(0, close_path.size() - 1)) {
        if (method != "GET") return method_not_allowed("close");
        return vendors::close_leads(data, q);
    }
    if (path == zoho_path) {
        if (method != "GET") return method_not_allowed("zoho");
        return vendors::zoho_contacts(data, q);
    }
    if (path == odoo_path) {
        if (method != "POST") return method_not_allowed("odoo");
        return vendors::odoo_jsonrpc(data, body);
    }
    if (path == odoo_xmlrpc_path) {
        if (method != "POST") return method_not_allowed("odoo-xmlrpc");
        return vendors::odoo_xmlrpc(data, body);
    }
    return std::nullopt;
}

}  // namespace

answer answer_request(const dataset& data, std::string_view method, std::string_view target,
                      const std::string& base_url, std::string_view body) {
    const std::string tolerant = tolerant_target(target);
    auto parsed = urls::parse_origin_form(urls::string_view(tolerant.data(), tolerant.size()));
    if (!parsed) return bad_request({}, "the request target is not an origin-form URL");
    const std::string path(parsed->path());
    if (path == "/healthz") {
        answer a;
        a.endpoint = "healthz";
        a.content_type = "text/plain";
        a.small_body = "ok\n";
        return a;
    }
    query_params q;
    for (auto param : parsed->params()) q.items.emplace_back(param.key, param.value);
    auto a = answer_collection(data, method, path, q, base_url);
    if (!a) a = answer_vendor(data, method, path, q, base_url, body);
    if (!a) a = not_found("no such endpoint");
    a->parameter_names = q.names();
    return std::move(*a);
}

}  // namespace exportwall::demo_crm
