#include "proxy/http/client_address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <vector>

namespace exportwall::proxy {
namespace {

constexpr std::array<unsigned char, 12> proxy_v2_signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                           0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

[[nodiscard]] unsigned byte_at(std::string_view s, std::size_t i) {
    return static_cast<unsigned char>(s[i]);
}

[[nodiscard]] std::uint16_t be16(std::string_view s, std::size_t i) {
    return static_cast<std::uint16_t>(byte_at(s, i) << 8 | byte_at(s, i + 1));
}

[[nodiscard]] std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// A port: 1 to 5 digits, at most 65535.
[[nodiscard]] bool is_port(std::string_view s) {
    if (s.empty() || s.size() > 5 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;
    unsigned v = 0;
    for (char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
    return v <= 65535;
}

// 0.0.0.0 or :: names no one: never a client.
[[nodiscard]] bool unspecified(const config::ip_bytes& a) {
    static constexpr config::ip_bytes v4_any{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
    return a == config::ip_bytes{} || a == v4_any;
}

// One X-Forwarded-For element: an address, with an optional port (Azure Application Gateway
// writes "a.b.c.d:port"; IPv6 with a port must be bracketed).
[[nodiscard]] bool parse_forwarded_element(std::string_view e, config::ip_bytes& out) {
    if (!e.empty() && e.front() == '[') {
        auto close = e.find(']');
        if (close == std::string_view::npos) return false;
        auto rest = e.substr(close + 1);
        if (!rest.empty() && !(rest.front() == ':' && is_port(rest.substr(1)))) return false;
        auto a = config::parse_ip(e.substr(1, close - 1));
        if (!a || e.substr(1, close - 1).find(':') == std::string_view::npos || unspecified(*a))
            return false;
        out = *a;
        return true;
    }
    auto colon = e.find(':');
    if (colon != std::string_view::npos && e.find(':', colon + 1) == std::string_view::npos) {
        // a.b.c.d:port
        if (!is_port(e.substr(colon + 1))) return false;
        e = e.substr(0, colon);
        if (e.find(':') != std::string_view::npos) return false;
    }
    auto a = config::parse_ip(e);
    if (!a || unspecified(*a)) return false;
    out = *a;
    return true;
}

[[nodiscard]] bool lower_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

[[nodiscard]] bool all_zero(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

}  // namespace

proxy_v2_status parse_proxy_v2(std::string_view bytes, proxy_v2_header& out,
                               std::size_t& needed) noexcept {
    needed = proxy_v2_fixed;
    // Wrong bytes are refused as soon as they arrive: a client that is not a balancer gets no
    // chance to wait for more.
    for (std::size_t i = 0; i < proxy_v2_signature.size() && i < bytes.size(); ++i)
        if (byte_at(bytes, i) != proxy_v2_signature[i]) return proxy_v2_status::invalid;
    if (bytes.size() > 12) {
        unsigned version = byte_at(bytes, 12) >> 4, command = byte_at(bytes, 12) & 0x0F;
        if (version != 2 || command > 1) return proxy_v2_status::invalid;
    }
    if (bytes.size() < proxy_v2_fixed) return proxy_v2_status::need_more;
    const unsigned command = byte_at(bytes, 12) & 0x0F;
    const unsigned family = byte_at(bytes, 13) >> 4, transport = byte_at(bytes, 13) & 0x0F;
    const std::size_t length = be16(bytes, 14);
    if (proxy_v2_fixed + length > max_proxy_header) return proxy_v2_status::invalid;
    needed = proxy_v2_fixed + length;
    if (family > 3 || transport > 2) return proxy_v2_status::invalid;
    if (bytes.size() < needed) return proxy_v2_status::need_more;
    auto block = bytes.substr(proxy_v2_fixed, length);

    std::size_t address_bytes = 0;
    if (family == 1) address_bytes = 12;        // INET: 4 + 4 + 2 + 2
    else if (family == 2) address_bytes = 36;   // INET6: 16 + 16 + 2 + 2
    else if (family == 3) address_bytes = 216;  // UNIX: 108 + 108
    if (block.size() < address_bytes) return proxy_v2_status::invalid;
    // A proxied connection of an internet family must be a stream: exportwall speaks TCP only.
    if (command == 1 && (family == 1 || family == 2) && transport != 1)
        return proxy_v2_status::invalid;
    // The TLVs that follow the addresses must fill the rest exactly.
    for (std::size_t i = address_bytes; i < block.size();) {
        if (block.size() - i < 3) return proxy_v2_status::invalid;
        std::size_t tlv = 3 + std::size_t{be16(block, i + 1)};
        if (block.size() - i < tlv) return proxy_v2_status::invalid;
        i += tlv;
    }

    out = proxy_v2_header{};
    if (command == 1 && family == 1) {
        out.proxied = true;
        out.source[10] = 0xff;
        out.source[11] = 0xff;
        for (std::size_t i = 0; i < 4; ++i) out.source[12 + i] = static_cast<std::uint8_t>(block[i]);
        out.source_port = be16(block, 8);
    } else if (command == 1 && family == 2) {
        out.proxied = true;
        out.v6 = true;
        for (std::size_t i = 0; i < 16; ++i) out.source[i] = static_cast<std::uint8_t>(block[i]);
        out.source_port = be16(block, 32);
    }
    return proxy_v2_status::complete;
}

std::string ip_text(const config::ip_bytes& a) {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    static constexpr std::array<std::uint8_t, 12> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(mapped.begin(), mapped.end(), a.begin())) {
        if (inet_ntop(AF_INET, a.data() + 12, buf.data(), buf.size()) == nullptr) return {};
    } else if (inet_ntop(AF_INET6, a.data(), buf.data(), buf.size()) == nullptr) {
        return {};
    }
    return buf.data();
}

forwarded_status client_from_forwarded_for(std::span<const header_field> fields,
                                           std::span<const config::address_range> trusted,
                                           config::ip_bytes& client) {
    // The elements of every X-Forwarded-For field, in order (RFC 9110 §5.3: fields of one name
    // make one list).
    std::vector<std::string_view> elements;
    for (const auto& f : fields) {
        if (f.name.size() != 15) continue;
        std::string_view n = f.name;
        if (!std::equal(n.begin(), n.end(), "x-forwarded-for", [](char a, char b) {
                return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
            }))
            continue;
        std::string_view v = f.value;
        for (std::size_t i = 0; i <= v.size();) {
            auto comma = v.find(',', i);
            if (comma == std::string_view::npos) comma = v.size();
            elements.push_back(trim(v.substr(i, comma - i)));
            i = comma + 1;
        }
    }
    if (elements.empty()) return forwarded_status::absent;
    // NOLINTNEXTLINE(modernize-loop-convert): right to left; clang 14 rejects views::reverse
    for (auto it = elements.rbegin(); it != elements.rend(); ++it) {
        config::ip_bytes a{};
        if (!parse_forwarded_element(*it, a)) return forwarded_status::invalid;
        client = a;
        if (!config::in_any(trusted, a)) break;
    }
    return forwarded_status::client;
}

bool normalise_traceparent(std::string_view value, std::string& out) {
    // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55.
    if (value.size() < 55) return false;
    auto version = value.substr(0, 2);
    if (!lower_hex(version) || version == "ff") return false;
    if (version == "00" ? value.size() != 55 : value.size() > 55 && value[55] != '-') return false;
    if (value[2] != '-' || value[35] != '-' || value[52] != '-') return false;
    auto trace_id = value.substr(3, 32), parent_id = value.substr(36, 16),
         flags = value.substr(53, 2);
    if (!lower_hex(trace_id) || !lower_hex(parent_id) || !lower_hex(flags)) return false;
    if (all_zero(trace_id) || all_zero(parent_id)) return false;
    out.assign("00-");
    out += trace_id;
    out += '-';
    out += parent_id;
    out += '-';
    out += flags;
    return true;
}

}  // namespace exportwall::proxy
