#pragma once
// Shared helpers for the config tests: a compliant base document, loading from text, and request
// facts built from plain values.

#include <string>
#include <string_view>
#include <vector>

#include "config/decide.hpp"
#include "config/loader.hpp"

namespace exportwall::config::testing {

// The network part every test document starts with; the policy follows on line
// `network_lines + 1`.
extern const std::string network_part;
extern const int network_lines;

// A compliant policy: entity contact, purposes invoicing / quote / promotion / survey /
// renewal, destinations billing / sales / carrier / newsletter / partner-crm / partner-leads,
// clients erp / marketing / partner with keys "erp-key", "marketing-key", "partner-key".
extern const std::string base_policy;

// network_part + policy + "</exportwall>\n".
[[nodiscard]] std::string document(std::string_view policy);
[[nodiscard]] load_result load(std::string_view policy);
// Every error as "file:line:col: message", one per line (for failure output).
[[nodiscard]] std::string errors_of(const load_result& r);

// "test.xml:line:col" of the first occurrence of `needle` in `doc` (1-based, as the loader
// reports it): computed from the text, independently of the loader.
[[nodiscard]] std::string where(const std::string& doc, std::string_view needle);
// The errors of `r` that start with `prefix` ("test.xml:12:5: rule 4").
[[nodiscard]] bool has_error(const load_result& r, std::string_view prefix);

[[nodiscard]] std::string sha256_hex(std::string_view data);

// Facts for one request; the views point into this object, so keep it alive across decide().
struct facts_builder {
    std::string key_hash;
    std::string path = "/contacts";
    std::string query;
    std::string method = "GET";
    std::vector<std::string> purposes;
    std::vector<std::string> destinations;
    std::vector<std::string_view> purpose_views;
    std::vector<std::string_view> destination_views;
    request_facts facts;

    facts_builder& key(std::string_view api_key);
    facts_builder& declare(std::string purpose, std::string destination);
    facts_builder& target(std::string p, std::string q = "");
    const request_facts& build();
};

}  // namespace exportwall::config::testing
