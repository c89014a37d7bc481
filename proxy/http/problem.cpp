#include "proxy/http/problem.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "config/decide.hpp"

namespace exportwall::proxy {

std::string_view problem_title(config::reason r) noexcept {
    using config::reason;
    switch (r) {
        case reason::none:
            break;
        case reason::route_not_found:
            return "Route not found";
        case reason::method_not_allowed:
            return "Method not allowed on this route";
        case reason::unauthenticated:
            return "Client not authenticated";
        case reason::declaration_missing:
            return "Export declaration missing";
        case reason::declaration_invalid:
            return "Export declaration invalid";
        case reason::purpose_unknown:
            return "Purpose unknown";
        case reason::purpose_not_granted:
            return "Purpose not granted to this client";
        case reason::destination_unknown:
            return "Destination unknown";
        case reason::destination_not_granted:
            return "Destination not granted to this client";
        case reason::destination_not_permitted_for_purpose:
            return "Destination not permitted for this purpose";
        case reason::third_party_direct_marketing:
            return "Customer data to a third party for direct marketing is refused";
        case reason::record_limit_exceeded:
            return "Record limit exceeded";
        case reason::request_rejected:
            return "Request rejected";
        case reason::upstream_unavailable:
            return "Upstream unavailable";
        case reason::upstream_timeout:
            return "Upstream timed out";
        case reason::upstream_malformed:
            return "Upstream response malformed";
        case reason::upstream_unsupported:
            return "Upstream response cannot be filtered";
        case reason::upstream_error:
            return "Upstream error";
        case reason::audit_unavailable:
            return "Audit trail unavailable";
        case reason::query_unsupported:
            return "Query not supported";
        case reason::query_field_not_permitted:
            return "Query reads a field this purpose does not keep";
        case reason::continuation_invalid:
            return "Paging token not valid for this export";
        case reason::disclosure_not_permitted:
            return "Disclosure not permitted";
        case reason::processor_agreement_expired:
            return "Processor agreement expired";
        case reason::grant_not_valid:
            return "Grant not valid at this time";
        case reason::quota_exceeded:
            return "Export quota exceeded";
        case reason::quota_store_unavailable:
            return "Quota store unavailable";
        case reason::suppression_list_stale:
            return "Suppression list out of date";
        case reason::volume_anomaly:
            return "Grant held after a volume alert";
        case reason::upstream_auth_unavailable:
            return "No access token for the upstream";
    }
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
    const std::string_view code = config::to_string(p.reason);
    std::string type = "https://exportwall.dev/reasons/";
    type += code;
    o["type"] = type;
    o["title"] = problem_title(p.reason);
    o["status"] = p.status;
    o["detail"] = p.detail;
    o["reason"] = code;
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
