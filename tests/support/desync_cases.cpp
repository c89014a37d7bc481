#include "tests/support/desync_cases.hpp"

#include <algorithm>
#include <cctype>

#include <yaml-cpp/yaml.h>

namespace exportwall::test {

namespace {

std::string scalar(const YAML::Node& node) {
    if (!node || node.IsNull()) return {};
    return node.as<std::string>();
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

std::vector<desync_case> load_desync_cases(const std::string& path) {
    const YAML::Node root = YAML::LoadFile(path);
    std::vector<desync_case> cases;
    for (const auto& node : root) {
        desync_case c;
        c.name = scalar(node["name"]);
        c.method = scalar(node["method"]);
        c.uri = scalar(node["uri"]);
        c.version = scalar(node["version"]);
        if (const auto headers = node["headers"]; headers && headers.IsSequence()) {
            for (const auto& h : headers) {
                c.headers.push_back({scalar(h["name"]), scalar(h["value"])});
            }
        }
        if (const auto expected = node["expected"]; expected) {
            c.expected_tier = scalar(expected["tier"]);
            c.expected_reason = scalar(expected["reason"]);
        }
        cases.push_back(std::move(c));
    }
    return cases;
}

bool has_host_header(const desync_case& c) {
    return std::any_of(c.headers.begin(), c.headers.end(),
                       [](const desync_header& h) { return iequals(h.name, "host"); });
}

std::string build_raw_head(const desync_case& c, std::string_view host) {
    std::string raw = c.method + " " + c.uri;
    if (!c.version.empty()) raw += " " + c.version;
    raw += "\r\n";
    if (!host.empty() && !has_host_header(c)) {
        raw += "Host: ";
        raw += host;
        raw += "\r\n";
    }
    for (const auto& h : c.headers) {
        raw += h.name + ": " + h.value + "\r\n";
    }
    raw += "\r\n";
    return raw;
}

}  // namespace exportwall::test
