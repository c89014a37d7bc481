// libFuzzer target for who-is-the-client (proxy/http/client_address.hpp): any bytes through the PROXY
// protocol v2 reader, X-Forwarded-For from trusted proxies, the traceparent check and the
// trusted-proxies range parser never crash, and what passes is consistent:
// - the v2 reader asks for exactly what it needs: given `needed` bytes it completes or refuses,
//   and a complete header never exceeds max_proxy_header or the input;
// - fed one byte more at a time it never completes earlier than on the whole input;
// - a client named by X-Forwarded-For is an address that was in the list;
// - a normalised traceparent is 55 bytes of version 00 and normalises to itself;
// - a parsed range contains its own network address.
// Invariant violations abort via __builtin_trap so libFuzzer records the input.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/address_range.hpp"
#include "proxy/http/client_address.hpp"

namespace {

namespace px = exportwall::proxy;
namespace cf = exportwall::config;

void require(bool condition) {
    if (!condition) __builtin_trap();
}

void check_proxy_v2(std::string_view input) {
    px::proxy_v2_header h;
    std::size_t needed = 0;
    const auto whole = px::parse_proxy_v2(input, h, needed);
    if (whole == px::proxy_v2_status::complete) {
        require(needed <= input.size() && needed <= px::max_proxy_header);
        require(needed >= px::proxy_v2_fixed);
        // The reader reads exactly `needed`: the same prefix alone completes the same way.
        px::proxy_v2_header again;
        std::size_t needed_again = 0;
        require(px::parse_proxy_v2(input.substr(0, needed), again, needed_again) ==
                px::proxy_v2_status::complete);
        require(needed_again == needed && again.proxied == h.proxied &&
                again.source == h.source && again.source_port == h.source_port);
    }
    // Byte by byte, as a slow balancer would send: each step asks for at most what remains of a
    // header no longer than the limit, and never completes before the whole input would.
    std::size_t have = 0;
    for (;;) {
        std::size_t want = 0;
        const auto s = px::parse_proxy_v2(input.substr(0, have), h, want);
        if (s != px::proxy_v2_status::need_more) break;
        require(want > have && want <= px::max_proxy_header);
        if (want > input.size()) break;
        have = want;
    }
}

void check_forwarded_for(std::string_view input) {
    // The first line is the trusted-proxies list, the rest the X-Forwarded-For values.
    auto nl = input.find('\n');
    std::string_view ranges_text = input.substr(0, nl);
    std::vector<cf::address_range> trusted;
    for (std::size_t i = 0; i <= ranges_text.size();) {
        auto sp = ranges_text.find(' ', i);
        if (sp == std::string_view::npos) sp = ranges_text.size();
        cf::address_range r;
        std::string why;
        if (cf::parse_address_range(ranges_text.substr(i, sp - i), r, why)) {
            require(r.prefix <= 128 && r.contains(r.network));
            trusted.push_back(r);
        } else {
            require(!why.empty());
        }
        i = sp + 1;
    }
    std::vector<px::header_field> fields;
    std::string_view rest = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);
    while (!rest.empty()) {
        auto end = rest.find('\n');
        fields.push_back({"X-Forwarded-For", rest.substr(0, end)});
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    }
    cf::ip_bytes client{};
    if (px::client_from_forwarded_for(fields, trusted, client) == px::forwarded_status::client) {
        const std::string text = px::ip_text(client);
        require(!text.empty());
        require(cf::parse_ip(text).value_or(cf::ip_bytes{}) == client);
    }
}

void check_traceparent(std::string_view input) {
    std::string out;
    if (!px::normalise_traceparent(input, out)) return;
    require(out.size() == 55 && out.compare(0, 3, "00-") == 0);
    std::string again;
    require(px::normalise_traceparent(out, again) && again == out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_proxy_v2(input);
    check_forwarded_for(input);
    check_traceparent(input);
    return 0;
}
