#include "config/address_range.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace exportwall::config {

std::optional<ip_bytes> parse_ip(std::string_view text) noexcept {
    // inet_pton needs a terminated string; no address is longer than 45 characters.
    if (text.empty() || text.size() > 45) return std::nullopt;
    std::array<char, 46> buf{};
    std::copy(text.begin(), text.end(), buf.begin());
    ip_bytes out{};
    if (text.find(':') == std::string_view::npos) {
        std::array<std::uint8_t, 4> v4{};
        if (inet_pton(AF_INET, buf.data(), v4.data()) != 1) return std::nullopt;
        out[10] = 0xff;
        out[11] = 0xff;
        std::copy(v4.begin(), v4.end(), out.begin() + 12);
        return out;
    }
    if (inet_pton(AF_INET6, buf.data(), out.data()) != 1) return std::nullopt;
    return out;
}

bool address_range::contains(const ip_bytes& a) const noexcept {
    unsigned bits = prefix;
    for (std::size_t i = 0; i < a.size() && bits > 0; ++i) {
        unsigned take = bits >= 8 ? 8 : bits;
        auto mask = static_cast<std::uint8_t>(0xff00u >> take);
        if ((a[i] & mask) != (network[i] & mask)) return false;
        bits -= take;
    }
    return true;
}

bool parse_address_range(std::string_view text, address_range& out, std::string& why) {
    auto slash = text.find('/');
    auto address = text.substr(0, slash);
    auto parsed = parse_ip(address);
    if (!parsed) {
        why = "'" + std::string(address) + "' is not an IPv4 or IPv6 address";
        return false;
    }
    const bool v4 = address.find(':') == std::string_view::npos;
    const unsigned width = v4 ? 32 : 128;
    unsigned prefix = width;
    if (slash != std::string_view::npos) {
        auto digits = text.substr(slash + 1);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
            prefix > width) {
            why = "the prefix length of '" + std::string(text) + "' must be 0 to " +
                  std::to_string(width);
            return false;
        }
    }
    address_range r;
    r.network = *parsed;
    r.prefix = v4 ? prefix + 96 : prefix;
    // Bits below the prefix set: the operator meant either the host or the network.
    for (unsigned bit = r.prefix; bit < 128; ++bit) {
        const unsigned byte = r.network[bit / 8];
        if (((byte >> (7 - bit % 8)) & 1u) != 0) {
            why = "'" + std::string(text) + "' has address bits set below its prefix length";
            return false;
        }
    }
    out = r;
    return true;
}

bool in_any(std::span<const address_range> ranges, const ip_bytes& a) noexcept {
    return std::any_of(ranges.begin(), ranges.end(),
                       [&](const address_range& r) { return r.contains(a); });
}

}  // namespace exportwall::config
