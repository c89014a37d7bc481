// Address ranges of trusted-proxies (config/address_range.hpp) and the <listen> and <log>
// attributes that use them (issue 19, item 7).

#include <gtest/gtest.h>

#include <string>

#include "config/address_range.hpp"
#include "config/loader.hpp"

namespace exportwall::config {
namespace {

address_range range(std::string_view text) {
    address_range r;
    std::string why;
    EXPECT_TRUE(parse_address_range(text, r, why)) << text << ": " << why;
    return r;
}

ip_bytes ip(std::string_view text) {
    auto a = parse_ip(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(ip_bytes{});
}

TEST(AddressRange, MatchesItsNetworkInBothFamilies) {
    auto ten = range("10.0.0.0/8");
    EXPECT_TRUE(ten.contains(ip("10.255.1.2")));
    EXPECT_FALSE(ten.contains(ip("11.0.0.1")));
    // An IPv4 range never matches an IPv6 address outside ::ffff:0:0/96.
    EXPECT_FALSE(ten.contains(ip("::a00:1")));
    auto host = range("192.0.2.7");
    EXPECT_TRUE(host.contains(ip("192.0.2.7")));
    EXPECT_FALSE(host.contains(ip("192.0.2.8")));
    auto odd = range("192.0.2.128/25");
    EXPECT_TRUE(odd.contains(ip("192.0.2.200")));
    EXPECT_FALSE(odd.contains(ip("192.0.2.127")));
    auto ula = range("fd00::/8");
    EXPECT_TRUE(ula.contains(ip("fd12:3456::1")));
    EXPECT_FALSE(ula.contains(ip("fe80::1")));
    auto all = range("0.0.0.0/0");
    EXPECT_TRUE(all.contains(ip("203.0.113.1")));
    EXPECT_FALSE(all.contains(ip("2001:db8::1")));
    EXPECT_TRUE(range("::/0").contains(ip("2001:db8::1")));
    EXPECT_TRUE(range("::1").contains(ip("::1")));
}

TEST(AddressRange, RefusesWhatIsNotARange) {
    for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8x", "10.0.0",
                            "10.0.0.1/8", "fd00::1/8", "host.example", "10.0.0.0/-1",
                            "[::1]", "::1%eth0", "1.2.3.4:80", "01.2.3.4"}) {
        address_range r;
        std::string why;
        EXPECT_FALSE(parse_address_range(bad, r, why)) << bad;
        EXPECT_FALSE(why.empty()) << bad;
    }
}

constexpr const char* tail = R"(
  <audit path="a.jsonl"/>
  <upstream id="crm" url="http://127.0.0.1:8081"/>
  <route id="meta" path="/api/meta" upstream="crm" format="passthrough"/>
</exportwall>
)";

TEST(LoaderClientAddress, ReadsTrustedProxiesProxyProtocolForwardedForAndJsonLog) {
    auto r = load_configuration_text(
        std::string(R"(<exportwall version="1">
  <listen port="1" proxy-protocol="v2" forwarded-for="x-forwarded-for" trusted-proxies="10.0.0.0/8  fd00::/8 192.0.2.7"/>
  <log format="json"/>)") + tail,
        "ok.xml");
    ASSERT_TRUE(r) << (r.errors.empty() ? std::string() : r.errors.front().str());
    const auto& l = r.config->net.listeners.front();
    EXPECT_TRUE(l.proxy_protocol);
    EXPECT_TRUE(l.forwarded_for);
    ASSERT_EQ(l.trusted_proxies.size(), 3u);
    EXPECT_TRUE(in_any(l.trusted_proxies, ip("192.0.2.7")));
    EXPECT_FALSE(in_any(l.trusted_proxies, ip("192.0.2.8")));
    EXPECT_TRUE(r.config->net.log.json);
}

TEST(LoaderClientAddress, RefusesWithPosition) {
    struct bad {
        const char* body;
        int column;
        const char* message_part;
    };
    for (const auto& c : {
             bad{R"(  <listen port="1" trusted-proxies="10.0.0.1/8"/>)", 20, "below its prefix"},
             bad{R"(  <listen port="1" trusted-proxies="lb.internal"/>)", 20, "not an IPv4"},
             bad{R"(  <listen port="1" trusted-proxies=" "/>)", 20, "names no address"},
             bad{R"(  <listen port="1" proxy-protocol="v1" trusted-proxies="::1"/>)", 20, "v2"},
             bad{R"(  <listen port="1" proxy-protocol="v2"/>)", 3, "trusted-proxies"},
             bad{R"(  <listen port="1" forwarded-for="x-forwarded-for"/>)", 3, "trusted-proxies"},
             bad{R"(  <listen port="1" forwarded-for="forwarded" trusted-proxies="::1"/>)", 20,
                 "x-forwarded-for"},
             bad{R"(  <listen port="1"/><log format="yaml"/>)", 26, "text or json"},
         }) {
        auto r = load_configuration_text(std::string("<exportwall version=\"1\">\n") + c.body + tail,
                                         "bad.xml");
        ASSERT_FALSE(r) << c.body;
        const auto& e = r.errors.front();
        EXPECT_EQ(e.where.line, 2) << e.str();
        EXPECT_EQ(e.where.column, c.column) << e.str();
        EXPECT_NE(e.message.find(c.message_part), std::string::npos) << e.str();
    }
}

}  // namespace
}  // namespace exportwall::config
