#include "tools/demo_crm/vendor_shapes.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

#include "bench/generator/contact_generator.hpp"

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

constexpr std::uint64_t batch_records = 256;  // records generated per generate_contacts call
constexpr std::size_t flush_bytes = 8 * 1024;

// The decoded query parameters of one request, in order.
struct query_params {
    std::vector<std::pair<std::string, std::string>> items;

    [[nodiscard]] std::optional<std::string> first(std::string_view key) const {
        for (const auto& [k, v] : items)
            if (k == key) return v;
        return std::nullopt;
    }
    [[nodiscard]] std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& item : items)
            if (std::find(out.begin(), out.end(), item.first) == out.end())
                out.push_back(item.first);
        return out;
    }
    // Every value of `key` split at commas, blanks dropped (HubSpot accepts both a list and the
    // parameter repeated).
    [[nodiscard]] std::vector<std::string> list(std::string_view key) const {
        std::vector<std::string> out;
        for (const auto& [k, v] : items) {
            if (k != key) continue;
            std::string_view rest = v;
            while (true) {
                auto comma = rest.find(',');
                auto item = rest.substr(0, comma);
                while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
                while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
                if (!item.empty()) out.emplace_back(item);
                if (comma == std::string_view::npos) break;
                rest.remove_prefix(comma + 1);
            }
        }
        return out;
    }
};

std::optional<std::uint64_t> to_number(std::string_view s) {
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
    return value;
}

// Percent-encodes a query value, keeping the characters field lists use (',' and '.').
std::string encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~' || c == ',';
        if (keep) {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 0xf]);
        }
    }
    return out;
}

std::string join(const std::vector<std::string>& items, char separator) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out.push_back(separator);
        out += item;
    }
    return out;
}

std::string json_string(std::string_view s) {
    return boost::json::serialize(boost::json::value(boost::json::string_view(s.data(), s.size())));
}

// Collects pieces and hands them to the sink in blocks of about flush_bytes; remembers when the
// sink gave up so generation can stop.
class piece_writer {
  public:
    explicit piece_writer(const body_sink& sink) : sink_(sink) { buffer_.reserve(2 * flush_bytes); }
    void append(std::string_view piece) {
        if (failed_) return;
        buffer_ += piece;
        if (buffer_.size() >= flush_bytes) flush();
    }
    void flush() {
        if (failed_ || buffer_.empty()) return;
        if (!sink_(buffer_)) failed_ = true;
        buffer_.clear();
    }
    [[nodiscard]] bool failed() const { return failed_; }

  private:
    const body_sink& sink_;
    std::string buffer_;
    bool failed_ = false;
};

// Writes records [first, first+count) in `shape`, each filtered by `selection`, separated by
// `separator` (',' in a JSON array) or terminated by it (`terminate`, NDJSON's '\n'). The
// generator's NDJSON output is split at its line ends: a raw LF never occurs inside a record
// (strings escape it).
void write_records(const dataset& data, std::uint64_t first, std::uint64_t count, json_shape shape,
                   const std::vector<std::string>& selection, std::string_view member,
                   char separator, bool terminate, piece_writer& out) {
    std::string line;
    bool first_record = true;
    auto emit = [&](std::string_view record) {
        if (!terminate && !first_record) out.append(std::string_view(&separator, 1));
        first_record = false;
        if (selection.empty()) {
            out.append(record);
        } else {
            out.append(select_fields(record, selection, member));
        }
        if (terminate) out.append(std::string_view(&separator, 1));
    };
    for (std::uint64_t at = first; at < first + count && !out.failed(); at += batch_records) {
        bench::contact_export_options options;
        options.first = at;
        options.records = std::min(batch_records, first + count - at);
        options.seed = data.seed;
        options.shape = shape;
        bench::generate_contacts("ndjson", options, [&](std::string_view piece) {
            while (!piece.empty()) {
                auto lf = piece.find('\n');
                if (lf == std::string_view::npos) {
                    line += piece;
                    return;
                }
                if (line.empty()) {
                    emit(piece.substr(0, lf));
                } else {
                    line += piece.substr(0, lf);
                    emit(line);
                    line.clear();
                }
                piece.remove_prefix(lf + 1);
            }
        });
    }
}

// One page of a paginated shape: [skip, skip+count) of [0, end).
struct page {
    std::uint64_t skip = 0;
    std::uint64_t count = 0;
    std::uint64_t end = 0;
    [[nodiscard]] bool more() const { return skip + count < end; }
};

page make_page(std::uint64_t skip, std::uint64_t size, std::uint64_t end) {
    page p;
    p.end = end;
    p.skip = std::min(skip, end);
    p.count = std::min(size, end - p.skip);
    return p;
}

answer not_found(std::string_view what) {
    answer a;
    a.status = 404;
    a.content_type = "application/json";
    a.small_body = "{\"error\":{\"code\":\"not_found\",\"message\":" + json_string(what) + "}}";
    return a;
}

answer bad_request(std::string endpoint, std::string_view what) {
    answer a;
    a.status = 400;
    a.endpoint = std::move(endpoint);
    a.content_type = "application/json";
    a.small_body = "{\"error\":{\"code\":\"bad_request\",\"message\":" + json_string(what) + "}}";
    return a;
}

answer method_not_allowed(std::string endpoint) {
    answer a;
    a.status = 405;
    a.endpoint = std::move(endpoint);
    a.content_type = "application/json";
    a.small_body = "{\"error\":{\"code\":\"method_not_allowed\"}}";
    return a;
}

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

answer answer_request(const dataset& data, std::string_view method, std::string_view target,
                      const std::string& base_url) {
    auto parsed = urls::parse_origin_form(urls::string_view(target.data(), target.size()));
    if (!parsed) return bad_request({}, "the request target is not an origin-form URL");
    std::string path(parsed->path());
    query_params q;
    for (auto param : parsed->params()) q.items.emplace_back(param.key, param.value);

    auto finish = [&](answer a) {
        a.parameter_names = q.names();
        return a;
    };
    if (path == "/healthz") {
        answer a;
        a.endpoint = "healthz";
        a.content_type = "text/plain";
        a.small_body = "ok\n";
        return a;
    }
    if (path == dataverse_path) {
        if (method != "GET") return finish(method_not_allowed("dataverse"));
        return finish(dataverse(data, q, base_url));
    }
    if (path == hubspot_path) {
        if (method != "GET") return finish(method_not_allowed("hubspot"));
        return finish(hubspot(data, q, base_url));
    }
    if (path == salesforce_query_path) {
        if (method != "GET") return finish(method_not_allowed("salesforce-rest"));
        if (!q.first("q"))
            return finish(bad_request("salesforce-rest", "q (the SOQL query) is missing"));
        return finish(salesforce(data, 0));
    }
    std::string next_prefix = std::string(salesforce_query_path) + "/";
    if (path.rfind(next_prefix, 0) == 0) {
        if (method != "GET") return finish(method_not_allowed("salesforce-rest"));
        std::string_view locator = std::string_view(path).substr(next_prefix.size());
        auto dash = locator.rfind('-');
        auto offset =
            dash == std::string_view::npos ? std::nullopt : to_number(locator.substr(dash + 1));
        if (!offset || locator.substr(0, dash) != salesforce_locator)
            return finish(not_found("unknown query locator"));
        return finish(salesforce(data, *offset));
    }
    if (path == soap_path) {
        if (method != "POST") return finish(method_not_allowed("salesforce-soap"));
        return finish(soap(data));
    }
    if (path == csv_path) {
        if (method != "GET") return finish(method_not_allowed("csv"));
        return finish(csv(data, q));
    }
    if (path == ndjson_path) {
        if (method != "GET") return finish(method_not_allowed("ndjson"));
        return finish(ndjson(data, q));
    }
    return finish(not_found("no such endpoint"));
}

}  // namespace exportwall::demo_crm
