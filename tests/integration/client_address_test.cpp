// Who the client is behind a load balancer (issue 19, item 7): the PROXY protocol v2 header of a
// trusted balancer, X-Forwarded-For from trusted proxies, the W3C traceparent passed on and
// recorded, and the operational log as JSON. Everything a peer may not say is refused: a
// connection without a valid header, from an untrusted peer, or an X-Forwarded-For element that
// is not an address.

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// A PROXY protocol v2 header: command 1 (PROXY) or 0 (LOCAL), family 1 (INET) or 2 (INET6),
// then the addresses and any TLVs.
std::string proxy_v2(unsigned command, unsigned family, std::string_view source,
                     std::uint16_t source_port, std::string_view tlvs = {}) {
    std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
    h += static_cast<char>(0x20 | command);
    std::string block;
    if (family == 1) {
        std::array<unsigned char, 4> a{};
        ::inet_pton(AF_INET, std::string(source).c_str(), a.data());
        block.append(reinterpret_cast<const char*>(a.data()), 4);
        block.append("\x7f\x00\x00\x01", 4);
    } else if (family == 2) {
        std::array<unsigned char, 16> a{};
        ::inet_pton(AF_INET6, std::string(source).c_str(), a.data());
        block.append(reinterpret_cast<const char*>(a.data()), 16);
        block.append(std::string(15, '\0') + "\x01");
    }
    if (family != 0) {
        block += static_cast<char>(source_port >> 8);
        block += static_cast<char>(source_port & 0xff);
        block += "\x01\xbb";  // destination port 443
    }
    block += tlvs;
    h += static_cast<char>(family == 0 ? 0x00 : (family << 4) | 1);
    h += static_cast<char>(block.size() >> 8);
    h += static_cast<char>(block.size() & 0xff);
    return h + block;
}

class ClientAddress : public proxy_fixture {
  protected:
    // The audit records of requests, by request path, once `n` are in the trail.
    std::vector<boost::json::object> audit_records(std::size_t n) {
        std::vector<boost::json::object> out;
        EXPECT_TRUE(poll_until([&] {
            out.clear();
            auto text = read_file(dir_.file("audit.jsonl"));
            if (!text) return false;
            std::istringstream in(*text);
            for (std::string line; std::getline(in, line);) {
                auto v = boost::json::parse(line).as_object();
                if (v.at("decision").as_string() != "policy_loaded") out.push_back(v);
            }
            return out.size() >= n;
        })) << "audit records: " << out.size();
        return out;
    }
    // The one record `matches` picks (a record's place in the trail is not the request order: an
    // export's record may be stored after its answer ended).
    template <class Pred>
    std::optional<boost::json::object> one(const std::vector<boost::json::object>& records,
                                           Pred matches) {
        std::optional<boost::json::object> found;
        std::size_t n = 0;
        for (const auto& r : records)
            if (matches(r)) {
                found = r;
                ++n;
            }
        EXPECT_EQ(n, 1u);
        return n == 1 ? found : std::nullopt;
    }
    std::string str(const boost::json::object& o, std::string_view key) {
        auto* v = o.if_contains(key);
        return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
    }
    std::string metrics() {
        const response m = fetch(proxy_.admin_port(), get_request("/metrics"));
        return m.body;
    }
    // The first access-log line that names `request_id`.
    std::optional<boost::json::object> access_line(std::string_view request_id) {
        std::optional<boost::json::object> found;
        EXPECT_TRUE(poll_until([&] {
            auto text = read_file(dir_.file("access.log"));
            if (!text) return false;
            std::istringstream in(*text);
            for (std::string line; std::getline(in, line);) {
                auto v = boost::json::parse(line).as_object();
                if (v.at("request_id").as_string() == request_id) found = v;
            }
            return found.has_value();
        }));
        return found;
    }
};

TEST_F(ClientAddress, ProxyProtocolV2NamesTheClientAndTheBalancerIsRecordedAsVia) {
    proxy_options o;
    o.listener_attributes = R"(proxy-protocol="v2" trusted-proxies="127.0.0.0/8")";
    ASSERT_TRUE(start_proxy(o));
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    // A NOOP TLV (type 0x04) and an AWS VPC-endpoint TLV (0xEA) are read and skipped.
    std::string tlvs("\x04\x00\x03xyz\xea\x00\x05\x01vpce", 14);
    ASSERT_TRUE(c.send(proxy_v2(1, 1, "203.0.113.9", 4711, tlvs)));
    ASSERT_TRUE(c.send(get_request("/api/fixed", "X-Request-Id: pp-1\r\ntraceparent: " +
                                                     std::string(trace) + "\r\n")));
    const response r = c.read_response();
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    // Keep-alive: the second request on the connection has the same client.
    ASSERT_TRUE(c.send(get_request("/api/fixed", "X-Request-Id: pp-2\r\n")));
    EXPECT_EQ(c.read_response().status, 200u);

    auto s = seen();
    ASSERT_EQ(s.requests.size(), 2u);
    EXPECT_EQ(s.requests[0].header("X-Forwarded-For").value_or(""), "203.0.113.9");
    EXPECT_EQ(s.requests[0].header("Forwarded").value_or(""), "for=203.0.113.9;proto=http");
    EXPECT_EQ(s.requests[0].header("traceparent").value_or(""), trace);
    EXPECT_EQ(s.requests[1].count("traceparent"), 0u);

    auto records = audit_records(2);
    ASSERT_EQ(records.size(), 2u);
    for (const auto& rec : records) {
        EXPECT_EQ(str(rec, "remote"), "203.0.113.9:4711");
        EXPECT_EQ(str(rec, "via").rfind("127.0.0.1:", 0), 0u) << str(rec, "via");
    }
    // One of the two carried the trace context.
    EXPECT_TRUE(one(records, [&](const auto& rec) {
        return str(rec, "trace_id") == "4bf92f3577b34da6a3ce929d0e0e4736";
    }));
    EXPECT_TRUE(one(records, [&](const auto& rec) { return !rec.contains("trace_id"); }));

    auto line = access_line("pp-1");
    ASSERT_TRUE(line.has_value());
    EXPECT_EQ(str(*line, "remote"), "203.0.113.9:4711");
    EXPECT_EQ(str(*line, "via").rfind("127.0.0.1:", 0), 0u);
    EXPECT_EQ(str(*line, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");

    // The trail still verifies with the new members.
    child_process verify;
    ASSERT_TRUE(verify.start({exportwall_binary(), "audit", "verify", "--log",
                              dir_.file("audit.jsonl")},
                             dir_.file("verify.log")));
    EXPECT_EQ(verify.wait_exit(), 0) << read_file(dir_.file("verify.log")).value_or("");
}

TEST_F(ClientAddress, ProxyProtocolV2CarriesIpv6AndLocalKeepsThePeer) {
    proxy_options o;
    o.listener_attributes = R"(proxy-protocol="v2" trusted-proxies="127.0.0.1")";
    ASSERT_TRUE(start_proxy(o));
    {
        http_connection c;
        ASSERT_TRUE(c.connect(proxy_.port()));
        ASSERT_TRUE(c.send(proxy_v2(1, 2, "2001:db8::7", 4711)));
        ASSERT_TRUE(c.send(get_request("/api/fixed")));
        EXPECT_EQ(c.read_response().status, 200u);
    }
    {
        // LOCAL: the balancer's own health check; the connection's peer is the client.
        http_connection c;
        ASSERT_TRUE(c.connect(proxy_.port()));
        ASSERT_TRUE(c.send(proxy_v2(0, 0, {}, 0)));
        ASSERT_TRUE(c.send(get_request("/api/fixed")));
        EXPECT_EQ(c.read_response().status, 200u);
    }
    auto s = seen();
    ASSERT_EQ(s.requests.size(), 2u);
    EXPECT_EQ(s.requests[0].header("Forwarded").value_or(""), "for=\"[2001:db8::7]\";proto=http");
    EXPECT_EQ(s.requests[1].header("X-Forwarded-For").value_or(""), "127.0.0.1");
    auto records = audit_records(2);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_TRUE(one(records, [&](const auto& rec) {
        return str(rec, "remote") == "[2001:db8::7]:4711" && rec.contains("via");
    }));
    EXPECT_TRUE(one(records, [&](const auto& rec) {
        return str(rec, "remote").rfind("127.0.0.1:", 0) == 0 && !rec.contains("via");
    }));
}

// Behind an L4 balancer (PROXY) and an L7 one (X-Forwarded-For): the field is read only when the
// PROXY header named a trusted source. LOCAL, UNSPEC and UNIX headers name no client — an L4
// balancer sends them and passes the client's own X-Forwarded-For untouched — so the field is
// not read and the balancer stays the client.
TEST_F(ClientAddress, ForwardedForIsReadOnlyBehindAProxyHeaderThatNamedATrustedSource) {
    proxy_options o;
    o.listener_attributes =
        R"(proxy-protocol="v2" forwarded-for="x-forwarded-for" trusted-proxies="127.0.0.1 192.0.2.10")";
    ASSERT_TRUE(start_proxy(o));
    const std::string xff = "X-Forwarded-For: 198.51.100.7\r\n";
    const std::vector<std::string> headers{
        proxy_v2(1, 1, "192.0.2.10", 4711),        // an L7 balancer the L4 one names: trusted
        proxy_v2(0, 0, {}, 0),                     // LOCAL
        proxy_v2(1, 0, {}, 0),                     // PROXY, UNSPEC
        proxy_v2(1, 1, "203.0.113.9", 4711),       // a client the L4 balancer names: untrusted
        proxy_v2(1, 2, "::ffff:198.51.100.9", 80),  // an IPv4-mapped source: shown as IPv4
    };
    for (const auto& h : headers) {
        http_connection c;
        ASSERT_TRUE(c.connect(proxy_.port()));
        ASSERT_TRUE(c.send(h + get_request("/api/fixed", xff)));
        EXPECT_EQ(c.read_response().status, 200u);
    }
    auto s = seen();
    ASSERT_EQ(s.requests.size(), headers.size());
    EXPECT_EQ(s.requests[0].header("X-Forwarded-For").value_or(""), "198.51.100.7");
    EXPECT_EQ(s.requests[1].header("X-Forwarded-For").value_or(""), "127.0.0.1");
    EXPECT_EQ(s.requests[2].header("X-Forwarded-For").value_or(""), "127.0.0.1");
    EXPECT_EQ(s.requests[3].header("X-Forwarded-For").value_or(""), "203.0.113.9");
    EXPECT_EQ(s.requests[4].header("X-Forwarded-For").value_or(""), "198.51.100.9");
    auto records = audit_records(headers.size());
    EXPECT_TRUE(one(records, [&](const auto& rec) {
        return str(rec, "remote") == "198.51.100.7" &&
               str(rec, "via").rfind("192.0.2.10:4711", 0) == 0;
    }));
    EXPECT_TRUE(one(records, [&](const auto& rec) {
        return str(rec, "remote") == "198.51.100.9:80";
    }));
    // Only the trusted L7 balancer's request is attributed to the address its field names.
    EXPECT_TRUE(one(records, [&](const auto& rec) {
        return str(rec, "remote").find("198.51.100.7") != std::string::npos;
    }));
}

TEST_F(ClientAddress, ProxyProtocolListenerClosesWhatIsNotAValidHeaderFromATrustedPeer) {
    proxy_options o;
    o.listener_attributes = R"(proxy-protocol="v2" trusted-proxies="127.0.0.1")";
    ASSERT_TRUE(start_proxy(o));
    const std::vector<std::string> bad{
        get_request("/api/fixed"),                                      // HTTP first
        "PROXY TCP4 203.0.113.9 127.0.0.1 4711 443\r\n" + get_request("/api/fixed"),  // v1
        proxy_v2(1, 1, "203.0.113.9", 4711, std::string("\x04\x00\x09xy", 5)) +  // TLV too long
            get_request("/api/fixed"),
    };
    for (const auto& bytes : bad) {
        http_connection c;
        ASSERT_TRUE(c.connect(proxy_.port()));
        ASSERT_TRUE(c.send(bytes));
        const response r = c.read_response();
        EXPECT_FALSE(r.received) << bytes.substr(0, 20);
    }
    // A datagram (UDP over INET: family/transport 0x12) is refused too.
    std::string udp = proxy_v2(1, 1, "203.0.113.9", 4711);
    udp[13] = '\x12';
    {
        http_connection c;
        ASSERT_TRUE(c.connect(proxy_.port()));
        ASSERT_TRUE(c.send(udp + get_request("/api/fixed")));
        EXPECT_FALSE(c.read_response().received);
    }
    EXPECT_TRUE(seen().requests.empty());
    EXPECT_NE(metrics().find("exportwall_connections_refused_total{reason=\"proxy_protocol\"} 4"),
              std::string::npos)
        << metrics();
}

TEST_F(ClientAddress, ProxyProtocolFromAnUntrustedPeerIsClosedUnheard) {
    proxy_options o;
    o.listener_attributes = R"(proxy-protocol="v2" trusted-proxies="10.0.0.0/8 fd00::/8")";
    ASSERT_TRUE(start_proxy(o));
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    ASSERT_TRUE(c.send(proxy_v2(1, 1, "203.0.113.9", 4711) + get_request("/api/fixed")));
    EXPECT_FALSE(c.read_response().received);
    EXPECT_TRUE(seen().requests.empty());
    EXPECT_NE(metrics().find("exportwall_connections_refused_total{reason=\"untrusted_peer\"} 1"),
              std::string::npos);
}

TEST_F(ClientAddress, ForwardedForFromATrustedPeerNamesTheRightMostUntrustedAddress) {
    proxy_options o;
    o.listener_attributes =
        R"(forwarded-for="x-forwarded-for" trusted-proxies="127.0.0.1 192.0.2.0/24")";
    ASSERT_TRUE(start_proxy(o));
    // The client wrote 198.51.100.1 itself; 203.0.113.5 is what the first trusted proxy saw.
    response r = fetch(proxy_.port(),
                       get_request("/api/fixed",
                                   "X-Forwarded-For: 198.51.100.1, 203.0.113.5, 192.0.2.9\r\n"));
    EXPECT_EQ(r.status, 200u);
    // Two fields make one list; an IPv4 element may carry a port (Azure Application Gateway).
    r = fetch(proxy_.port(), get_request("/api/fixed",
                                         "X-Forwarded-For: 198.51.100.1\r\n"
                                         "X-Forwarded-For: [2001:db8::5]:8080\r\n"));
    EXPECT_EQ(r.status, 200u);
    // An element exportwall must read that is not an address: refused, nothing forwarded.
    r = fetch(proxy_.port(),
              get_request("/api/fixed", "X-Forwarded-For: 203.0.113.5, evil.example\r\n"));
    EXPECT_EQ(r.status, 400u);
    r = fetch(proxy_.port(), get_request("/api/fixed", "X-Forwarded-For: 203.0.113.5,\r\n"));
    EXPECT_EQ(r.status, 400u);

    auto s = seen();
    ASSERT_EQ(s.requests.size(), 2u);
    EXPECT_EQ(s.requests[0].header("X-Forwarded-For").value_or(""), "203.0.113.5");
    EXPECT_EQ(s.requests[0].count("X-Forwarded-For"), 1u);
    EXPECT_EQ(s.requests[1].header("X-Forwarded-For").value_or(""), "2001:db8::5");
    auto records = audit_records(4);
    ASSERT_EQ(records.size(), 4u);
    auto first = one(records, [&](const auto& rec) { return str(rec, "remote") == "203.0.113.5"; });
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(str(*first, "via").rfind("127.0.0.1:", 0), 0u);
    EXPECT_TRUE(one(records, [&](const auto& rec) { return str(rec, "remote") == "2001:db8::5"; }));
    std::size_t rejected = 0;
    for (const auto& rec : records) rejected += str(rec, "reason") == "request_rejected" ? 1u : 0u;
    EXPECT_EQ(rejected, 2u);
}

TEST_F(ClientAddress, ForwardedForFromAnUntrustedPeerIsIgnored) {
    proxy_options o;
    o.listener_attributes = R"(forwarded-for="x-forwarded-for" trusted-proxies="10.0.0.0/8")";
    ASSERT_TRUE(start_proxy(o));
    // Even an invalid list is not read: the peer may not name anyone.
    EXPECT_EQ(fetch(proxy_.port(), get_request("/api/fixed", "X-Forwarded-For: 203.0.113.5\r\n"))
                  .status,
              200u);
    EXPECT_EQ(fetch(proxy_.port(), get_request("/api/fixed", "X-Forwarded-For: nonsense\r\n"))
                  .status,
              200u);
    auto s = seen();
    ASSERT_EQ(s.requests.size(), 2u);
    EXPECT_EQ(s.requests[0].header("X-Forwarded-For").value_or(""), "127.0.0.1");
    auto records = audit_records(2);
    for (const auto& rec : records) {
        EXPECT_EQ(str(rec, "remote").rfind("127.0.0.1:", 0), 0u);
        EXPECT_EQ(rec.if_contains("via"), nullptr);
    }
}

TEST_F(ClientAddress, OnlyOneValidTraceparentIsPassedOnAndTracestateNever) {
    ASSERT_TRUE(start_proxy());
    const std::string later_version =
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds";
    const std::vector<std::string> extras{
        "traceparent: " + later_version + "\r\ntracestate: congo=t61rcWkgMzE\r\n",
        "traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01\r\n",
        "traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01\r\n",
        "traceparent: ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n",
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x\r\n",
        "traceparent: " + std::string(trace) + "\r\ntraceparent: " + std::string(trace) + "\r\n",
    };
    for (const auto& e : extras)
        EXPECT_EQ(fetch(proxy_.port(), get_request("/api/fixed", e)).status, 200u) << e;
    auto s = seen();
    ASSERT_EQ(s.requests.size(), extras.size());
    // A later version is read as version 00 (W3C Trace Context §4.3) and sent on as one.
    EXPECT_EQ(s.requests[0].header("traceparent").value_or(""),
              "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    for (const auto& r : s.requests) EXPECT_EQ(r.count("tracestate"), 0u);
    for (std::size_t i = 1; i < s.requests.size(); ++i)
        EXPECT_EQ(s.requests[i].count("traceparent"), 0u) << extras[i];
    auto records = audit_records(extras.size());
    // Only the later version's request carried a valid trace context.
    EXPECT_TRUE(one(records, [&](const auto& rec) { return rec.contains("trace_id"); }));
    EXPECT_TRUE(one(records, [&](const auto& rec) {
        return str(rec, "trace_id") == "4bf92f3577b34da6a3ce929d0e0e4736";
    }));
}

TEST_F(ClientAddress, OperationalLogInJsonIsOneObjectALine) {
    proxy_options o;
    o.log_attributes = R"(format="json")";
    ASSERT_TRUE(start_proxy(o));
    EXPECT_EQ(fetch(proxy_.port(), get_request("/api/fixed")).status, 200u);
    proxy_.process().stop();
    auto text = read_file(dir_.file("exportwall.log"));
    ASSERT_TRUE(text.has_value());
    std::istringstream in(*text);
    std::size_t lines = 0;
    for (std::string line; std::getline(in, line);) {
        ++lines;
        boost::system::error_code ec;
        auto v = boost::json::parse(line, ec);
        ASSERT_FALSE(ec) << line;
        ASSERT_TRUE(v.is_object()) << line;
        const auto& obj = v.as_object();
        EXPECT_TRUE(obj.contains("time") && obj.contains("level") && obj.contains("message"))
            << line;
    }
    EXPECT_GE(lines, 2u) << "start and stop are logged";
}

}  // namespace
}  // namespace exportwall::itest
