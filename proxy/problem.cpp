#include "proxy/problem.hpp"

#include <array>
#include <utility>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "config/decide.hpp"

namespace exportwall::proxy {

std::string_view problem_title(std::string_view reason) noexcept {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 31> titles{{
        {"route_not_found", "Route not found"},
        {"method_not_allowed", "Method not allowed on this route"},
        {"unauthenticated", "Client not authenticated"},
        {"declaration_missing", "Export declaration missing"},
        {"declaration_invalid", "Export declaration invalid"},
        {"purpose_unknown", "Purpose unknown"},
        {"purpose_not_granted", "Purpose not granted to this client"},
        {"destination_unknown", "Destination unknown"},
        {"destination_not_granted", "Destination not granted to this client"},
        {"destination_not_permitted_for_purpose", "Destination not permitted for this purpose"},
        {"third_party_direct_marketing",
         "Customer data to a third party for direct marketing is refused"},
        {"record_limit_exceeded", "Record limit exceeded"},
        {"request_rejected", "Request rejected"},
        {"upstream_unavailable", "Upstream unavailable"},
        {"upstream_timeout", "Upstream timed out"},
        {"upstream_malformed", "Upstream response malformed"},
        {"upstream_unsupported", "Upstream response cannot be filtered"},
        {"upstream_error", "Upstream error"},
        {"audit_unavailable", "Audit trail unavailable"},
        {"query_unsupported", "Query not supported"},
        {"query_field_not_permitted", "Query reads a field this purpose does not keep"},
        {"continuation_invalid", "Paging token not valid for this export"},
        {"disclosure_not_permitted", "Disclosure not permitted"},
        {"processor_agreement_expired", "Processor agreement expired"},
        {"grant_not_valid", "Grant not valid at this time"},
        {"quota_exceeded", "Export quota exceeded"},
        {"quota_store_unavailable", "Quota store unavailable"},
        {"suppression_list_stale", "Suppression list out of date"},
        {"volume_anomaly", "Grant held after a volume alert"},
        {"upstream_auth_unavailable", "No access token for the upstream"},
        {"shutting_down", "Shutting down"},
    }};
    for (const auto& [code, title] : titles)
        if (code == reason) return title;
    return "Request refused";
}

std::string_view status_reason(unsigned status) noexcept {
    switch (status) {
        case 100:
            return "Continue";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 203:
            return "Non-Authoritative Information";
        case 204:
            return "No Content";
        case 205:
            return "Reset Content";
        case 206:
            return "Partial Content";
        case 300:
            return "Multiple Choices";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 303:
            return "See Other";
        case 304:
            return "Not Modified";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 406:
            return "Not Acceptable";
        case 408:
            return "Request Timeout";
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 411:
            return "Length Required";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 415:
            return "Unsupported Media Type";
        case 416:
            return "Range Not Satisfiable";
        case 422:
            return "Unprocessable Content";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

std::string problem_body(const problem& p) {
    boost::json::object o;
    std::string type = "https://exportwall.dev/reasons/";
    type += p.reason;
    o["type"] = type;
    o["title"] = problem_title(p.reason);
    o["status"] = p.status;
    o["detail"] = p.detail;
    o["reason"] = p.reason;
    if (const auto rule = config::rule_of(p.reason); !rule.rule_id.empty()) {
        o["rule_id"] = rule.rule_id;
        o["legal_reference"] = rule.legal_reference;
    }
    o["audit_id"] = p.audit_id;
    return boost::json::serialize(o);
}

std::string problem_response(const problem& p, bool keep_alive, unsigned client_version,
                             std::string_view request_id, bool head_request,
                             std::string_view extra_fields) {
    std::string body = problem_body(p);
    std::string out;
    out.reserve(body.size() + 256);
    out += "HTTP/1.1 ";
    out += std::to_string(p.status);
    out += ' ';
    out += status_reason(p.status);
    out += "\r\nContent-Type: application/problem+json\r\nCache-Control: no-store\r\n";
    out += "Content-Length: ";
    out += std::to_string(body.size());
    out += "\r\n";
    if (!request_id.empty()) {
        out += "X-Request-Id: ";
        out += request_id;
        out += "\r\n";
    }
    if (!p.audit_id.empty()) {
        out += "X-Export-Audit-Id: ";
        out += p.audit_id;
        out += "\r\n";
    }
    out += extra_fields;
    if (!keep_alive)
        out += "Connection: close\r\n";
    else if (client_version == 10)
        out += "Connection: keep-alive\r\n";
    out += "\r\n";
    if (!head_request) out += body;
    return out;
}

}  // namespace exportwall::proxy
