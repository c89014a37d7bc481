#pragma once
// Loader for the http-desync-guardian conformance cases (../shared/testdata/http-desync-guardian/
// tests/*.yaml): each case is a request line and header list with the tier the guardian assigns.
// Test support only: throws YAML::Exception on a malformed file.

#include <string>
#include <string_view>
#include <vector>

namespace exportwall::test {

struct desync_header {
    std::string name;  // bytes as written in the YAML (escapes such as "\x01" already applied)
    std::string value;
};

struct desync_case {
    std::string name;  // human-readable description from the file
    std::string method;
    std::string uri;
    std::string version;  // "HTTP/1.1", or "" for HTTP/0.9
    std::vector<desync_header> headers;
    std::string expected_tier;    // Compliant, Acceptable, Ambiguous or Severe
    std::string expected_reason;  // e.g. MultipleContentLength
};

// Reads every case of one YAML file, in file order.
[[nodiscard]] std::vector<desync_case> load_desync_cases(const std::string& path);

// True when the case has a Host header (case-insensitive name match).
[[nodiscard]] bool has_host_header(const desync_case& c);

// The raw request head of a case: "METHOD SP uri [SP version] CRLF", then "name: value CRLF" per
// header, then CRLF. When `host` is not empty and the case has no Host header, "Host: <host>" is
// inserted as the first field, so an HTTP/1.1 case is judged on its own defect rather than on the
// missing Host (the guardian does not require Host).
[[nodiscard]] std::string build_raw_head(const desync_case& c, std::string_view host = {});

}  // namespace exportwall::test
