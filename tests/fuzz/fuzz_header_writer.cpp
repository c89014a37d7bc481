// libFuzzer target for the one writer of every header field exportwall emits (proxy/forward.cpp):
// the input is split into header fields (client fields for the CRM, CRM fields and exportwall's
// own extra fields for the client); whatever their bytes, both heads written are well formed —
// every line ends in CRLF, no other CR or LF, no NUL, each field line is `token: value` — and
// nothing outside the allow-lists reaches either side.
// Invariant violations abort via __builtin_trap so libFuzzer records the input.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/forward.hpp"

namespace {

using exportwall::proxy::build_client_response_head;
using exportwall::proxy::build_upstream_request_head;
using exportwall::proxy::client_response;
using exportwall::proxy::header_field;
using exportwall::proxy::upstream_request;

void require(bool condition) {
    if (!condition) __builtin_trap();
}

bool token_byte(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Every line of `head` after the first ends in CRLF and is `token: value` with no control byte
// but HTAB; the head ends with an empty line.
void check_head(std::string_view head) {
    require(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n");
    std::size_t pos = head.find("\r\n");
    require(pos != std::string_view::npos);
    pos += 2;
    while (pos < head.size() - 2) {
        auto end = head.find("\r\n", pos);
        require(end != std::string_view::npos);
        std::string_view line = head.substr(pos, end - pos);
        auto colon = line.find(": ");
        require(colon != std::string_view::npos && colon != 0);
        for (char c : line.substr(0, colon)) require(token_byte(c));
        for (char c : line.substr(colon + 2)) {
            auto u = static_cast<unsigned char>(c);
            require(!(u < 0x20 && c != '\t') && u != 0x7f);
        }
        pos = end + 2;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    // Fields are separated by 0xFF bytes; a field's name and value by the first 0xFE.
    std::vector<std::string> names;
    std::vector<std::string> values;
    while (!in.empty() && names.size() < 32) {
        auto end = in.find('\xff');
        std::string_view field = in.substr(0, end);
        auto sep = field.find('\xfe');
        names.emplace_back(field.substr(0, sep));
        values.emplace_back(sep == std::string_view::npos ? std::string_view{} : field.substr(sep + 1));
        if (end == std::string_view::npos) break;
        in.remove_prefix(end + 1);
    }
    std::vector<header_field> fields;
    for (std::size_t i = 0; i < names.size(); ++i) fields.push_back({names[i], values[i]});

    upstream_request req;
    req.method = "GET";
    req.target = "/api/contacts";
    req.client_fields = fields;
    req.client_address = "127.0.0.1";
    req.request_id = "rid";
    const std::string up = build_upstream_request_head(req);
    check_head(up);
    // Nothing off the allow-list reaches the CRM.
    for (const auto& f : fields) {
        if (f.name.empty() || exportwall::proxy::forwarded_to_upstream(f.name, {})) continue;
        std::string line = "\r\n" + std::string(f.name) + ": ";
        require(up.find(line) == std::string::npos ||
                f.name == "Host" || f.name == "Forwarded" || f.name == "X-Forwarded-For" ||
                f.name == "X-Request-Id" || f.name == "Accept-Encoding" ||
                f.name == "Content-Length" || f.name == "Transfer-Encoding");
    }

    client_response resp;
    resp.status = 200;
    resp.upstream_fields = fields;
    resp.extra_fields = fields;  // exportwall's own fields, fed hostile bytes too
    resp.request_id = "rid";
    resp.framing = exportwall::proxy::response_framing::chunked;
    check_head(build_client_response_head(resp));
    return 0;
}
