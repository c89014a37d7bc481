#pragma once
// Address ranges in CIDR notation ("10.0.0.0/8", "fd00::/8", "192.0.2.7"): the proxies a
// listener trusts to name the client (PROXY protocol, X-Forwarded-For). IPv4 addresses are kept
// as IPv4-mapped IPv6, so one range type matches both families. No Asio here: config/ stays
// below proxy/.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace exportwall::config {

// One address in network byte order, IPv4 as ::ffff:a.b.c.d.
using ip_bytes = std::array<std::uint8_t, 16>;

// An IPv4 or IPv6 address in text (no brackets, no port, no zone); nullopt when it is not one.
[[nodiscard]] std::optional<ip_bytes> parse_ip(std::string_view text) noexcept;

struct address_range {
    ip_bytes network{};
    unsigned prefix = 128;  // in IPv6 bits (an IPv4 /8 is /104)

    [[nodiscard]] bool contains(const ip_bytes& a) const noexcept;
};

// "a.b.c.d", "a.b.c.d/n" (0–32), "x::y", "x::y/n" (0–128). False, with `why`, when the text is
// not one, or when bits below the prefix are set ("10.0.0.1/8": which was meant?).
[[nodiscard]] bool parse_address_range(std::string_view text, address_range& out,
                                       std::string& why);

[[nodiscard]] bool in_any(std::span<const address_range> ranges, const ip_bytes& a) noexcept;

}  // namespace exportwall::config
