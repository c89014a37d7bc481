// The PROXY protocol v2 header, X-Forwarded-For from trusted proxies and the W3C traceparent
// check (proxy/http/client_address.hpp), and the operational log's JSON line (issue 19, item 7).

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

#include "proxy/ops/access_log.hpp"
#include "proxy/http/client_address.hpp"

namespace exportwall::proxy {
namespace {

const std::string signature("\r\n\r\n\0\r\nQUIT\n", 12);

std::string header(unsigned char ver_cmd, unsigned char fam, const std::string& block) {
    std::string h = signature;
    h += static_cast<char>(ver_cmd);
    h += static_cast<char>(fam);
    h += static_cast<char>(block.size() >> 8);
    h += static_cast<char>(block.size() & 0xff);
    return h + block;
}

const std::string v4_block("\xcb\x00\x71\x09\x7f\x00\x00\x01\x12\x67\x01\xbb", 12);

std::vector<config::address_range> ranges(std::initializer_list<const char*> texts) {
    std::vector<config::address_range> out;
    for (const char* t : texts) {
        config::address_range r;
        std::string why;
        EXPECT_TRUE(config::parse_address_range(t, r, why)) << t;
        out.push_back(r);
    }
    return out;
}

TEST(ProxyV2, ReadsAnInetHeaderWithItsTlvs) {
    std::string h = header(0x21, 0x11, v4_block + std::string("\x04\x00\x02hi\x03\x00\x00", 8));
    proxy_v2_header out;
    std::size_t needed = 0;
    ASSERT_EQ(parse_proxy_v2(h, out, needed), proxy_v2_status::complete);
    EXPECT_EQ(needed, h.size());
    EXPECT_TRUE(out.proxied);
    EXPECT_FALSE(out.v6);
    EXPECT_EQ(ip_text(out.source), "203.0.113.9");
    EXPECT_EQ(out.source_port, 4711);
}

TEST(ProxyV2, AsksForExactlyWhatIsMissingAndNeverMore) {
    std::string h = header(0x21, 0x11, v4_block);
    proxy_v2_header out;
    std::size_t needed = 0;
    for (std::size_t n = 0; n < h.size(); ++n) {
        EXPECT_EQ(parse_proxy_v2(std::string_view(h).substr(0, n), out, needed),
                  proxy_v2_status::need_more)
            << n;
        EXPECT_EQ(needed, n < 16 ? 16u : h.size()) << n;
    }
}

TEST(ProxyV2, ReadsInet6AndTreatsLocalUnspecAndUnixAsThePeer) {
    std::string block(16, '\0');
    block[0] = '\x20';
    block[1] = '\x01';
    block[2] = '\x0d';
    block[3] = '\xb8';
    block[15] = '\x07';
    block += std::string(16, '\0') + std::string("\x12\x67\x01\xbb", 4);
    proxy_v2_header out;
    std::size_t needed = 0;
    ASSERT_EQ(parse_proxy_v2(header(0x21, 0x21, block), out, needed), proxy_v2_status::complete);
    EXPECT_TRUE(out.v6);
    EXPECT_EQ(ip_text(out.source), "2001:db8::7");
    for (const auto& h : {header(0x20, 0x00, ""), header(0x20, 0x11, v4_block),
                          header(0x21, 0x00, ""), header(0x21, 0x31, std::string(216, 'x'))}) {
        ASSERT_EQ(parse_proxy_v2(h, out, needed), proxy_v2_status::complete);
        EXPECT_FALSE(out.proxied);
    }
}

TEST(ProxyV2, RefusesEverythingElse) {
    proxy_v2_header out;
    std::size_t needed = 0;
    const std::vector<std::string> bad{
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "PROXY TCP4 203.0.113.9 127.0.0.1 4711 443\r\n",
        header(0x11, 0x11, v4_block),                       // version 1 in binary
        header(0x22, 0x11, v4_block),                       // command 2
        header(0x21, 0x12, v4_block),                       // UDP over INET
        header(0x21, 0x41, v4_block),                       // family 4
        header(0x21, 0x13, v4_block),                       // transport 3
        header(0x21, 0x11, v4_block.substr(0, 11)),         // short address block
        header(0x21, 0x21, v4_block),                       // INET6 block too short
        header(0x21, 0x11, v4_block + "\x04\x00"),          // TLV without its length
        header(0x21, 0x11, v4_block + std::string("\x04\x00\x05xy", 5)),  // TLV past the end
        header(0x21, 0x11, v4_block + std::string(max_proxy_header, '\0')),  // too long
    };
    for (const auto& h : bad)
        EXPECT_EQ(parse_proxy_v2(h, out, needed), proxy_v2_status::invalid)
            << h.substr(0, 16);
    // A wrong first byte is refused before the rest arrives.
    EXPECT_EQ(parse_proxy_v2("G", out, needed), proxy_v2_status::invalid);
}

std::vector<header_field> xff(std::initializer_list<std::string_view> values) {
    std::vector<header_field> out;
    out.push_back({"Host", "x"});
    for (auto v : values) out.push_back({"X-Forwarded-For", v});
    return out;
}

TEST(ForwardedFor, TheRightMostUntrustedAddressIsTheClient) {
    auto trusted = ranges({"127.0.0.1", "192.0.2.0/24", "fd00::/8"});
    config::ip_bytes client{};
    auto f = xff({"198.51.100.1, 203.0.113.5,192.0.2.9"});
    ASSERT_EQ(client_from_forwarded_for(f, trusted, client), forwarded_status::client);
    EXPECT_EQ(ip_text(client), "203.0.113.5");
    f = xff({"198.51.100.1", "[2001:db8::5]:8080 , fd00::1"});
    ASSERT_EQ(client_from_forwarded_for(f, trusted, client), forwarded_status::client);
    EXPECT_EQ(ip_text(client), "2001:db8::5");
    f = xff({"203.0.113.5:51000"});
    ASSERT_EQ(client_from_forwarded_for(f, trusted, client), forwarded_status::client);
    EXPECT_EQ(ip_text(client), "203.0.113.5");
    // Every hop trusted: the left-most is the client.
    f = xff({"192.0.2.1, 192.0.2.2"});
    ASSERT_EQ(client_from_forwarded_for(f, trusted, client), forwarded_status::client);
    EXPECT_EQ(ip_text(client), "192.0.2.1");
    // What lies left of the client is the client's own claim: not read.
    f = xff({"not an address, 203.0.113.5"});
    EXPECT_EQ(client_from_forwarded_for(f, trusted, client), forwarded_status::client);
    std::vector<header_field> none{{"Host", "x"}, {"Forwarded", "for=1.2.3.4"}};
    EXPECT_EQ(client_from_forwarded_for(none, trusted, client), forwarded_status::absent);
}

TEST(ForwardedFor, AnElementThatMustBeReadAndIsNotAnAddressIsInvalid) {
    auto trusted = ranges({"127.0.0.1"});
    config::ip_bytes client{};
    for (std::string_view v : {"", " ", "203.0.113.5,", "evil.example", "203.0.113.5 x",
                               "2001:db8::5:8080x", "[203.0.113.5]", "[2001:db8::5", "unknown",
                               "203.0.113.5:port", "203.0.113.5:123456", "_hidden",
                               "203.0.113.5:65536", "203.0.113.5:99999", "[2001:db8::5]:70000",
                               "0.0.0.0", "::", "[::]:80", "0.0.0.0:80", "::ffff:0.0.0.0"}) {
        auto f = xff({v});
        EXPECT_EQ(client_from_forwarded_for(f, trusted, client), forwarded_status::invalid) << v;
    }
}

TEST(Traceparent, Version00IsKeptAndLaterVersionsAreReadAs00) {
    std::string out;
    ASSERT_TRUE(normalise_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                      out));
    EXPECT_EQ(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    ASSERT_TRUE(normalise_traceparent(
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-more", out));
    EXPECT_EQ(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09");
    for (std::string_view bad :
         {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
          "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
          "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
          "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) {
        EXPECT_FALSE(normalise_traceparent(bad, out)) << bad;
    }
}

TEST(OperationalLine, IsOneJsonObjectWithEscapedMessage) {
    auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
    auto line = format_operational_line(now, "warn", "a \"quoted\"\nline \xff");
    EXPECT_EQ(line.find('\n'), std::string::npos);
    auto v = boost::json::parse(line).as_object();
    EXPECT_EQ(v.at("time").as_string(), "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(v.at("level").as_string(), "warn");
    EXPECT_EQ(v.at("message").as_string(), "a \"quoted\"\nline \xef\xbf\xbd");
}

}  // namespace
}  // namespace exportwall::proxy
