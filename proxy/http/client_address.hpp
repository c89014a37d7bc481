#pragma once
// Who the client is behind a load balancer: the PROXY protocol v2 header a balancer writes
// before the first byte of the connection, and the X-Forwarded-For field of a request that came
// through trusted proxies. Pure functions (no sockets): the session reads the bytes, these decide
// (tests/unit/proxy/http/client_address_test.cpp, tests/fuzz/fuzz_client_address.cpp).
//
// Every byte is understood or the connection is refused: an unknown version or command, a
// datagram transport, an address block or TLV list that does not fit its length, a header longer
// than max_proxy_header — the connection is closed unheard. Only trusted peers may name a client.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "config/address_range.hpp"
#include "proxy/http/request_head.hpp"

namespace exportwall::proxy {

// The fixed part of a v2 header: 12-byte signature, version/command, family/transport, length.
inline constexpr std::size_t proxy_v2_fixed = 16;
// The longest address block plus TLVs accepted (AWS, Azure and GCP TLVs are far shorter).
inline constexpr std::size_t max_proxy_header = 4096;

// What a complete v2 header says.
struct proxy_v2_header {
    // LOCAL (the balancer's own health check) or a proxied connection of a family exportwall
    // does not use (UNSPEC, UNIX): the connection's own peer stays the client.
    bool proxied = false;
    config::ip_bytes source{};
    std::uint16_t source_port = 0;
    bool v6 = false;
};

enum class proxy_v2_status : std::uint8_t { need_more, invalid, complete };

// Reads a v2 header from the start of `bytes`. need_more: `needed` is the total size the header
// will have once known (16 until the fixed part is there); complete: `needed` is its size and
// `out` is set. A v1 (text) header, or anything else that is not v2, is invalid.
[[nodiscard]] proxy_v2_status parse_proxy_v2(std::string_view bytes, proxy_v2_header& out,
                                             std::size_t& needed) noexcept;

// "a.b.c.d" or "x:…:y" for an address (IPv4-mapped addresses as IPv4).
[[nodiscard]] std::string ip_text(const config::ip_bytes& a);

enum class forwarded_status : std::uint8_t { absent, client, invalid };

// The client a trusted peer names in X-Forwarded-For: every X-Forwarded-For field in order makes
// one comma-separated list, read from the right: addresses in `trusted` are proxies and skipped,
// the first one that is not is the client (all trusted: the left-most). An element exportwall
// must read that is not an address (IPv4, IPv4:port, IPv6, [IPv6] or [IPv6]:port, ports up to
// 65535), or is 0.0.0.0 or ::, is invalid — the request is refused, never attributed to a
// guess. absent: no X-Forwarded-For field.
[[nodiscard]] forwarded_status client_from_forwarded_for(
    std::span<const header_field> fields, std::span<const config::address_range> trusted,
    config::ip_bytes& client);

// A W3C Trace Context `traceparent` value the CRM may see and the audit may record: version 00
// exactly ("00-", a 32-hex trace id, "-", a 16-hex parent id, "-", 2 hex flags; lower-case, ids
// not all zero), or a later version's first 55 bytes followed by nothing or "-" (the
// specification's forward compatibility; version ff is invalid). True, with `out` the value as
// version 00 (what exportwall sends on); false when the value is not valid — it is then neither
// forwarded nor recorded, and the request goes on without it (the specification's "restart the
// trace"). The trace id is out.substr(3, 32).
[[nodiscard]] bool normalise_traceparent(std::string_view value, std::string& out);

}  // namespace exportwall::proxy
