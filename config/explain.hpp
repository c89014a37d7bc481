#pragma once
// `exportwall explain` as library code: the decision exportwall takes for one export request an
// operator describes (decide() under a loaded configuration, no socket), what explains it (every
// field kept or stripped and why, the record conditions, the grant's window, the suppression
// list's age, the upstream target), and its text and JSON renderings.

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "config/decide.hpp"
#include "config/loader.hpp"

namespace exportwall::config {

// The request explain decides: what a client would send.
struct explain_request {
    std::string client_id;       // presented as the client's first configured identity
    std::string purpose_id;      // the X-Export-Purpose value; "" for none
    std::string destination_id;  // the X-Export-Destination value; "" for none
    std::string target;          // the normalised request target, "/path?query"
    std::string method = "GET";
    std::string body;  // the request body, for the query languages that read it
};

// One field of the route's entity, or one requested field, and why it is kept or stripped.
struct field_line {
    std::string name;
    bool kept = false;
    std::string why;
};

// The decision and what explains it. Pointers refer into the configuration passed to explain():
// valid while the caller holds it.
struct explanation {
    decision verdict;
    std::string method;  // the request's, printed before the upstream target
    std::vector<field_line> fields;
    std::string upstream;                    // scheme://host:port/path?query; "" unless allowed
    std::vector<std::string> conditions;     // the record conditions in order, in words
    const grant* declared_grant = nullptr;   // the grant the declaration names (even out of window)
    std::string window;                      // "from A until B"; "" for a grant without one
    const suppression_list* list = nullptr;  // the purpose's suppression list, if any
    std::string list_text;                   // "id (file, max-age …, last changed … ago)"
};

// The client's configured identity explain and test-policy present for a client id: its first
// API key, else its first certificate fingerprint, else its first certificate subject.
void credentials_of(const client& c, client_credentials& credentials);

// Decides `request` under `config` and explains it; nullopt when request.client_id names no
// client (an unknown client is a usage error, never a refusal).
[[nodiscard]] std::optional<explanation> explain(const configuration& config,
                                                 const explain_request& request);

// The explanation as explain prints it: aligned rows, then the fields, then the record
// conditions.
void write_explanation_text(const explanation& e, std::ostream& out);

// The explanation as one JSON object on one line (explain --format json), with its newline.
void write_explanation_json(const explanation& e, std::ostream& out);

}  // namespace exportwall::config
