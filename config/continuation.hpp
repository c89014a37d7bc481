#pragma once
// Sealed continuation tokens (docs/query-languages.md#continuation-tokens). A CRM's paging token
// ($skiptoken, a JSON:API cursor) can carry the values of the page's sort column and can be
// replayed under another declaration. exportwall never shows it to a client: in a pagination
// link the CRM's token is replaced by one exportwall seals — AES-256-GCM under the
// configuration's continuation key, with the declaration (client, purpose, destination, route),
// the link's path and its other query parameters as associated data, and an expiry time inside. A token
// presented under another declaration or query, altered, or expired does not open.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace exportwall::config {

using continuation_key = std::array<unsigned char, 32>;

// Every sealed token starts with this (version 1), then base64url without padding.
inline constexpr std::string_view sealed_token_prefix = "ew1.";

// What a token is bound to. `query` is the request's other parameters in canonical form
// (continuation_query_form).
struct continuation_binding {
    std::string_view client;
    std::string_view purpose;
    std::string_view destination;
    std::string_view route;
    std::string_view query;
    std::string_view path;  // the normalised request path (a template route's key is part of it)
};

// The canonical form of a query string's parameters other than `continuation_params` (in any
// letter case): decoded (pairs that do not decode are kept as written), sorted, each name and
// value length-prefixed (a bare name differs from an empty value). Two encodings of the same
// parameters give the same form; different parameters never do.
[[nodiscard]] std::string continuation_query_form(
    std::string_view raw_query, std::span<const std::string> continuation_params);

// The export a paging token continues: drawn at random for an export's first page and sealed into
// every token of its links, so the pages that follow count against the same max-records and
// quota reservation chain (issue 17), whoever replays them.
inline constexpr std::size_t chain_bytes = 16;
using continuation_chain = std::array<unsigned char, chain_bytes>;
[[nodiscard]] continuation_chain new_continuation_chain();
[[nodiscard]] std::string chain_hex(const continuation_chain& c);  // 32 lower-case hex digits

// Seals the CRM's token; `expires_at` in seconds since the epoch; `chain` (may be null: a token
// without one starts a new export when followed).
[[nodiscard]] std::string seal_continuation(const continuation_key& key,
                                            const continuation_binding& binding,
                                            std::string_view crm_token, std::int64_t expires_at,
                                            const continuation_chain* chain = nullptr);

enum class continuation_error : std::uint8_t {
    none,
    not_sealed,  // not one of exportwall's tokens (a CRM token written by the client)
    malformed,   // the prefix, but not base64url or too short
    rejected,    // fails to open: altered, another key, or another declaration or query
    expired,
};
[[nodiscard]] std::string_view to_string(continuation_error e);

struct opened_continuation {
    continuation_error error = continuation_error::none;
    std::string crm_token;  // the CRM's token, when error == none
    std::optional<continuation_chain> chain;  // the export it continues, when sealed with one
};

[[nodiscard]] opened_continuation open_continuation(const continuation_key& key,
                                                    const continuation_binding& binding,
                                                    std::string_view token, std::int64_t now);

// A fresh random key (a configuration without a continuation key file).
[[nodiscard]] continuation_key random_continuation_key();
// The key derived from a key file's bytes (SHA-256 of its content; at least 32 bytes).
[[nodiscard]] std::optional<continuation_key> continuation_key_from(std::string_view file_bytes);

}  // namespace exportwall::config
