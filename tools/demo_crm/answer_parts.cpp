#include "tools/demo_crm/answer_parts.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "common/percent.hpp"

namespace exportwall::demo_crm::parts {
namespace {

// "2019-04-12T10:33:00Z" → "2019-04-12T10:33:00.000Z": HubSpot writes milliseconds.
std::string hubspot_time(std::string_view iso) {
    if (iso.empty() || iso.back() != 'Z') return std::string(iso);
    return std::string(iso.substr(0, iso.size() - 1)) + ".000Z";
}

// The generator's HubSpot record {"id":…,"properties":{…},"archived":false} with the
// record-level createdAt (the contact's created_at) and updatedAt the real API writes between
// "properties" and "archived". created_at is the last property and its value has no escapes.
std::string with_timestamps(std::string_view record, std::uint64_t index) {
    constexpr std::string_view tail = ",\"archived\":false}";
    constexpr std::string_view key = "\"created_at\":\"";
    if (record.size() < tail.size() || record.substr(record.size() - tail.size()) != tail)
        return std::string(record);
    std::string_view created;
    if (auto at = record.rfind(key); at != std::string_view::npos) {
        auto start = at + key.size();
        auto end = record.find('"', start);
        if (end != std::string_view::npos) created = record.substr(start, end - start);
    }
    std::string out(record.substr(0, record.size() - tail.size()));
    out += ",\"createdAt\":" + json_string(hubspot_time(created)) +
           ",\"updatedAt\":" + json_string(updated_at(index));
    out += tail;
    return out;
}

}  // namespace

std::optional<std::string> query_params::first(std::string_view key) const {
    for (const auto& [k, v] : items)
        if (k == key) return v;
    return std::nullopt;
}

std::vector<std::string> query_params::names() const {
    std::vector<std::string> out;
    for (const auto& item : items)
        if (std::find(out.begin(), out.end(), item.first) == out.end()) out.push_back(item.first);
    return out;
}

std::vector<std::string> query_params::list(std::string_view key) const {
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

std::optional<std::uint64_t> to_number(std::string_view s) {
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
    return value;
}

std::string encode(std::string_view s) {
    static constexpr common::percent_plain plain = common::unreserved_and(",");
    std::string out;
    common::append_percent_encoded(out, s, plain);
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

piece_writer::piece_writer(const body_sink& sink) : sink_(sink) {
    buffer_.reserve(2 * flush_bytes);
}

void piece_writer::append(std::string_view piece) {
    if (failed_) return;
    buffer_ += piece;
    if (buffer_.size() >= flush_bytes) flush();
}

void piece_writer::flush() {
    if (failed_ || buffer_.empty()) return;
    if (!sink_(buffer_)) failed_ = true;
    buffer_.clear();
}

page make_page(std::uint64_t skip, std::uint64_t size, std::uint64_t end) {
    page p;
    p.end = end;
    p.skip = std::min(skip, end);
    p.count = std::min(size, end - p.skip);
    return p;
}

// The generator's NDJSON output is split at its line ends: a raw LF never occurs inside a record
// (strings escape it).
void write_records(const dataset& data, std::uint64_t first, std::uint64_t count,
                   bench::json_shape shape, const std::vector<std::string>& selection,
                   std::string_view member, char separator, bool terminate, piece_writer& out) {
    std::string line;
    bool first_record = true;
    std::uint64_t index = first;
    auto emit = [&](std::string_view generated) {
        std::string stamped;
        std::string_view record = generated;
        if (shape == bench::json_shape::hubspot) {
            stamped = with_timestamps(generated, index);
            record = stamped;
        }
        ++index;
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

std::string record_json(const dataset& data, std::uint64_t index, bench::json_shape shape) {
    std::string out;
    body_sink sink = [&](std::string_view piece) {
        out += piece;
        return true;
    };
    piece_writer writer(sink);
    write_records(data, index, 1, shape, {}, {}, ',', false, writer);
    writer.flush();
    return out;
}

std::optional<std::uint64_t> index_of_id(const dataset& data, std::string_view id) {
    constexpr std::size_t id_length = 36;  // 8-4-4-4-12 hex digits
    constexpr std::size_t index_digits = 12;
    if (id.size() != id_length) return std::nullopt;
    auto tail = id.substr(id_length - index_digits);
    std::uint64_t index = 0;
    auto [ptr, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), index, 16);
    if (ec != std::errc{} || ptr != tail.data() + tail.size() || index >= data.records)
        return std::nullopt;
    if (bench::make_contact(data.seed, index).id != id) return std::nullopt;
    return index;
}

std::optional<std::uint64_t> index_of_number(const dataset& data, std::string_view id) {
    auto n = to_number(id);
    if (!n || *n == 0 || *n > data.records) return std::nullopt;
    return *n - 1;
}

std::string space_time(std::string_view iso) {
    std::string out(iso);
    std::replace(out.begin(), out.end(), 'T', ' ');
    if (!out.empty() && out.back() == 'Z') out.pop_back();
    return out;
}

std::string updated_at(std::uint64_t index) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "2026-01-%02uT%02u:%02u:%02u.000Z",
                  static_cast<unsigned>(1 + index % 28), static_cast<unsigned>((index / 28) % 24),
                  static_cast<unsigned>((index * 7) % 60),
                  static_cast<unsigned>((index * 13) % 60));
    return buf;
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

answer small_json(std::string endpoint, unsigned status, std::string content_type,
                  std::string body) {
    answer a;
    a.status = status;
    a.endpoint = std::move(endpoint);
    a.content_type = std::move(content_type);
    a.small_body = std::move(body);
    return a;
}

}  // namespace exportwall::demo_crm::parts
