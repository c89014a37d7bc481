#pragma once
// The pieces every vendor answer of the demo CRM is built from: the decoded query, pages, the
// streaming body writer, the generator's records in the three JSON shapes it knows, and the
// lookup of a record by the id the generator gave it. Internal to tools/demo_crm.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tools/generator/contact_generator.hpp"
#include "tools/demo_crm/vendor_shapes.hpp"

namespace exportwall::demo_crm::parts {

constexpr std::uint64_t batch_records = 256;  // records generated per generate_contacts call
constexpr std::size_t flush_bytes = 8 * 1024;

// The decoded query parameters of one request, in order.
struct query_params {
    std::vector<std::pair<std::string, std::string>> items;

    [[nodiscard]] std::optional<std::string> first(std::string_view key) const;
    // Every parameter name once, in order of first appearance.
    [[nodiscard]] std::vector<std::string> names() const;
    // Every value of `key` split at commas, blanks dropped (HubSpot accepts both a list and the
    // parameter repeated).
    [[nodiscard]] std::vector<std::string> list(std::string_view key) const;
};

// A whole decimal number, or nothing.
[[nodiscard]] std::optional<std::uint64_t> to_number(std::string_view s);

// Percent-encodes a query value, keeping the characters field lists use (',' and '.').
[[nodiscard]] std::string encode(std::string_view s);

[[nodiscard]] std::string join(const std::vector<std::string>& items, char separator);

// `s` as a JSON string literal, quotes included.
[[nodiscard]] std::string json_string(std::string_view s);

// Collects pieces and hands them to the sink in blocks of about flush_bytes; remembers when the
// sink gave up so generation can stop.
class piece_writer {
  public:
    explicit piece_writer(const body_sink& sink);
    void append(std::string_view piece);
    void flush();
    [[nodiscard]] bool failed() const { return failed_; }

  private:
    const body_sink& sink_;
    std::string buffer_;
    bool failed_ = false;
};

// One page of a paginated shape: [skip, skip+count) of [0, end).
struct page {
    std::uint64_t skip = 0;
    std::uint64_t count = 0;
    std::uint64_t end = 0;
    [[nodiscard]] bool more() const { return skip + count < end; }
};

[[nodiscard]] page make_page(std::uint64_t skip, std::uint64_t size, std::uint64_t end);

// Writes records [first, first+count) in `shape`, each filtered by `selection` (inside `member`
// when set), separated by `separator` (',' in a JSON array) or terminated by it (`terminate`,
// NDJSON's '\n'). HubSpot records gain the record-level createdAt and updatedAt the real API
// writes beside "properties".
void write_records(const dataset& data, std::uint64_t first, std::uint64_t count,
                   bench::json_shape shape, const std::vector<std::string>& selection,
                   std::string_view member, char separator, bool terminate, piece_writer& out);

// Record `index` as the generator writes it in `shape` (HubSpot with createdAt and updatedAt),
// one JSON object.
[[nodiscard]] std::string record_json(const dataset& data, std::uint64_t index,
                                      bench::json_shape shape);

// The index of the record whose generator id is `id`, or nothing when no record has it. Ids end
// in the record index (12 hex digits), so the lookup is one generated record.
[[nodiscard]] std::optional<std::uint64_t> index_of_id(const dataset& data, std::string_view id);

// An integer id (Pipedrive, Odoo: record index + 1) back to the index, within the data set.
[[nodiscard]] std::optional<std::uint64_t> index_of_number(const dataset& data,
                                                           std::string_view id);

// "2019-04-12T10:33:00Z" → "2019-04-12 10:33:00" (Pipedrive, Odoo).
[[nodiscard]] std::string space_time(std::string_view iso);

// A deterministic last-modified time for record `index`, after every generated created_at
// (those end in 2025): "2026-01-DDTHH:MM:SS.000Z".
[[nodiscard]] std::string updated_at(std::uint64_t index);

// Error answers with the demo CRM's own small JSON body.
[[nodiscard]] answer not_found(std::string_view what);
[[nodiscard]] answer bad_request(std::string endpoint, std::string_view what);
[[nodiscard]] answer method_not_allowed(std::string endpoint);
// A whole small JSON body with `status`, as vendors write their own errors and single records.
[[nodiscard]] answer small_json(std::string endpoint, unsigned status, std::string content_type,
                                std::string body);

}  // namespace exportwall::demo_crm::parts
