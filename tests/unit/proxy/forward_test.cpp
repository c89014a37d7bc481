#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/forward.hpp"

namespace exportwall::proxy {
namespace {

config::route prefix_route(std::string path, std::string upstream_path = "") {
    config::route r;
    r.id = "r";
    r.path = std::move(path);
    r.match = config::path_match::prefix;
    r.upstream_path = std::move(upstream_path);
    return r;
}

config::upstream http_upstream(std::string base_path = "") {
    config::upstream u;
    u.id = "crm";
    u.scheme = "http";
    u.host = "crm.internal";
    u.port = 80;
    u.base_path = std::move(base_path);
    return u;
}

normalised_target target(std::string path, std::string query = "", bool has_query = false) {
    normalised_target t;
    t.path = std::move(path);
    t.query = std::move(query);
    t.has_query = has_query || !t.query.empty();
    return t;
}

TEST(UpstreamTarget, KeepsPathAndQueryWithoutMapping) {
    EXPECT_EQ(build_upstream_target(prefix_route("/api"), http_upstream(),
                                    target("/api/contacts", "$select=id,name")),
              "/api/contacts?$select=id,name");
}

TEST(UpstreamTarget, ReplacesMatchedPrefixBySegments) {
    auto r = prefix_route("/exports/contacts", "/api/data/v9.2/contacts");
    EXPECT_EQ(build_upstream_target(r, http_upstream(), target("/exports/contacts")),
              "/api/data/v9.2/contacts");
    EXPECT_EQ(build_upstream_target(r, http_upstream(), target("/exports/contacts/42")),
              "/api/data/v9.2/contacts/42");
}

TEST(UpstreamTarget, ExactRouteUsesUpstreamPath) {
    config::route r;
    r.path = "/contacts";
    r.match = config::path_match::exact;
    r.upstream_path = "/v2/contacts";
    EXPECT_EQ(build_upstream_target(r, http_upstream(), target("/contacts", "", true)),
              "/v2/contacts?");
}

TEST(UpstreamTarget, PrefixesBasePathWithOneSlash) {
    EXPECT_EQ(build_upstream_target(prefix_route("/api"), http_upstream("/base"),
                                    target("/api/x", "a=1")),
              "/base/api/x?a=1");
    EXPECT_EQ(
        build_upstream_target(prefix_route("/", "/v2/"), http_upstream("/base"), target("/x")),
        "/base/v2/x");
}

TEST(UpstreamHost, OmitsDefaultPortAndBracketsIpv6) {
    auto u = http_upstream();
    EXPECT_EQ(upstream_host_field(u), "crm.internal");
    u.port = 8080;
    EXPECT_EQ(upstream_host_field(u), "crm.internal:8080");
    u.host = "::1";
    EXPECT_EQ(upstream_host_field(u), "[::1]:8080");
    u.scheme = "https";
    u.port = 443;
    u.host = "crm";
    EXPECT_EQ(upstream_host_field(u), "crm");
}

TEST(HopByHop, RecognisesConnectionFieldsCaseInsensitively) {
    EXPECT_TRUE(is_hop_by_hop("Connection"));
    EXPECT_TRUE(is_hop_by_hop("TRANSFER-ENCODING"));
    EXPECT_TRUE(is_hop_by_hop("keep-alive"));
    EXPECT_TRUE(is_hop_by_hop("Proxy-Authorization"));
    EXPECT_FALSE(is_hop_by_hop("Content-Type"));
    EXPECT_FALSE(is_hop_by_hop("Connections"));
}

TEST(HopByHop, FindsFieldsNamedByConnection) {
    std::vector<header_field> fields{{"Connection", "close, X-Secret ,Foo"}, {"X-Secret", "1"}};
    EXPECT_TRUE(named_by_connection("x-secret", fields));
    EXPECT_TRUE(named_by_connection("foo", fields));
    EXPECT_FALSE(named_by_connection("bar", fields));
}

TEST(RequestId, AcceptsOnlyShortSafeTokens) {
    EXPECT_TRUE(valid_request_id("abc-DEF_123"));
    EXPECT_FALSE(valid_request_id(""));
    EXPECT_FALSE(valid_request_id("a b"));
    EXPECT_FALSE(valid_request_id("a\r\nb"));
    EXPECT_FALSE(valid_request_id(std::string(65, 'a')));
    EXPECT_TRUE(valid_request_id(std::string(64, 'a')));
    auto generated = generate_request_id();
    EXPECT_EQ(generated.size(), 32u);
    EXPECT_TRUE(valid_request_id(generated));
    EXPECT_NE(generated, generate_request_id());
}

class UpstreamHead : public ::testing::Test {
  protected:
    UpstreamHead() {
        up.headers.push_back({"Authorization", "Bearer crm-token"});
        up.headers.push_back({"X-Tenant", "acme"});
        req.method = "GET";
        req.target = "/api/contacts";
        req.up = &up;
        req.client_address = "10.0.0.7";
        req.request_id = "rid-1";
    }
    config::upstream up = http_upstream();
    upstream_request req;
};

TEST_F(UpstreamHead, NeverForwardsClientCredentialsOrDeclarations) {
    std::vector<header_field> fields{{"Host", "exports.example.com"},
                                     {"Authorization", "Bearer client-key"},
                                     {"Cookie", "session=1"},
                                     {"X-Export-Purpose", "invoicing"},
                                     {"X-Export-Destination", "billing"},
                                     {"Accept", "application/json"},
                                     {"Proxy-Authorization", "Basic abc"},
                                     {"Forwarded", "for=6.6.6.6"},
                                     {"X-Forwarded-For", "6.6.6.6"},
                                     {"Accept-Encoding", "gzip"},
                                     {"X-Tenant", "evil"}};
    req.client_fields = fields;
    auto head = build_upstream_request_head(req);
    EXPECT_EQ(head.rfind("GET /api/contacts HTTP/1.1\r\nHost: crm.internal\r\n", 0), 0u) << head;
    EXPECT_EQ(head.find("client-key"), std::string::npos);
    EXPECT_EQ(head.find("session=1"), std::string::npos);
    EXPECT_EQ(head.find("invoicing"), std::string::npos);
    EXPECT_EQ(head.find("billing"), std::string::npos);
    EXPECT_EQ(head.find("Basic abc"), std::string::npos);
    EXPECT_EQ(head.find("6.6.6.6"), std::string::npos);
    EXPECT_EQ(head.find("gzip"), std::string::npos);
    EXPECT_EQ(head.find("evil"), std::string::npos);
    EXPECT_NE(head.find("Accept: application/json\r\n"), std::string::npos);
    EXPECT_NE(head.find("Authorization: Bearer crm-token\r\n"), std::string::npos);
    EXPECT_NE(head.find("X-Tenant: acme\r\n"), std::string::npos);
    EXPECT_NE(head.find("Accept-Encoding: identity\r\n"), std::string::npos);
    EXPECT_NE(head.find("Forwarded: for=10.0.0.7;proto=http\r\n"), std::string::npos);
    EXPECT_NE(head.find("X-Forwarded-For: 10.0.0.7\r\n"), std::string::npos);
    EXPECT_NE(head.find("X-Request-Id: rid-1\r\n"), std::string::npos);
    EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
}

TEST_F(UpstreamHead, StripsHopByHopAndConnectionNamedFields) {
    std::vector<header_field> fields{{"Connection", "keep-alive, X-Hop"},
                                     {"Keep-Alive", "timeout=5"},
                                     {"X-Hop", "secret"},
                                     {"TE", "trailers"},
                                     {"Upgrade", "websocket"},
                                     {"Transfer-Encoding", "chunked"},
                                     {"If-None-Match", "\"kept\""}};
    req.client_fields = fields;
    req.body = upstream_body::chunked;
    auto head = build_upstream_request_head(req);
    EXPECT_EQ(head.find("X-Hop"), std::string::npos);
    EXPECT_EQ(head.find("timeout=5"), std::string::npos);
    EXPECT_EQ(head.find("trailers"), std::string::npos);
    EXPECT_EQ(head.find("websocket"), std::string::npos);
    EXPECT_EQ(head.find("Connection:"), std::string::npos);
    EXPECT_NE(head.find("If-None-Match: \"kept\"\r\n"), std::string::npos);
    EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
}

TEST_F(UpstreamHead, OnlyAllowListedClientFieldsReachTheCrm) {
    // Rewrite and identity headers a server behind the CRM might honour, headers with personal
    // data, anything not on the allow-list: dropped; the route may add a name.
    std::vector<header_field> fields{
        {"X-Original-URL", "/api/data/v9.2/systemusers"}, {"X-Rewrite-URL", "/admin"},
        {"X-Override-URL", "/x"},                          {"Request-Uri", "/x"},
        {"X-Remote-User", "admin"},                        {"True-Client-IP", "10.0.0.1"},
        {"X-MS-CLIENT-PRINCIPAL-NAME", "admin@corp"},     {"Proxy", "http://evil"},
        {"X-HTTP-Method-Override", "DELETE"},              {"X-Tenant-Hint", "other"},
        {"Accept", "application/json"},                    {"Accept-Language", "nl"},
        {"If-Modified-Since", "Wed, 21 Oct 2015 07:28:00 GMT"},
        {"Prefer", "odata.maxpagesize=50, return=representation, odata.track-changes, "
                   "odata.include-annotations=\"*\""}};
    req.client_fields = fields;
    auto head = build_upstream_request_head(req);
    for (const char* dropped : {"X-Original-URL", "X-Rewrite-URL", "X-Override-URL", "Request-Uri",
                                "X-Remote-User", "True-Client-IP", "X-MS-CLIENT-PRINCIPAL-NAME",
                                "Proxy:", "X-HTTP-Method-Override", "X-Tenant-Hint",
                                "return=representation", "track-changes"})
        EXPECT_EQ(head.find(dropped), std::string::npos) << dropped << "\n" << head;
    EXPECT_NE(head.find("Accept: application/json\r\n"), std::string::npos);
    EXPECT_NE(head.find("Accept-Language: nl\r\n"), std::string::npos);
    EXPECT_NE(head.find("If-Modified-Since: "), std::string::npos);
    EXPECT_NE(head.find("Prefer: odata.maxpagesize=50,odata.include-annotations=\"*\"\r\n"),
              std::string::npos)
        << head;
    const std::vector<std::string> extra{"X-Tenant-Hint"};
    req.extra_allowed = extra;
    EXPECT_NE(build_upstream_request_head(req).find("X-Tenant-Hint: other\r\n"),
              std::string::npos);
}

TEST_F(UpstreamHead, OnlyAllowListedCrmFieldsReachTheClient) {
    std::vector<header_field> crm{{"Content-Type", "application/json"},
                                  {"Set-Cookie", "ARRAffinity=abc"},
                                  {"Refresh", "0; url=https://crm.internal/login"},
                                  {"Access-Control-Allow-Origin", "*"},
                                  {"Access-Control-Allow-Credentials", "true"},
                                  {"X-Powered-By", "ASP.NET on crm-sql-07.corp"},
                                  {"Server", "Microsoft-IIS/10.0"},
                                  {"X-Export-Decision", "allowed"},
                                  {"X-Export-Stripped-Fields", ""},
                                  {"Content-Disposition", "attachment; filename=\"Jan Peeters.csv\""},
                                  {"X-Customer-Email", "jan@example.be"},
                                  {"ETag", "W/\"1\""},
                                  {"Retry-After", "30"},
                                  {"X-RateLimit-Remaining", "99"}};
    client_response resp;
    resp.status = 200;
    resp.upstream_fields = crm;
    resp.request_id = "rid";
    std::string head = build_client_response_head(resp);
    for (const char* dropped : {"Set-Cookie", "Refresh", "Access-Control", "X-Powered-By",
                                "Server:", "X-Export-", "Content-Disposition", "X-Customer-Email",
                                "Retry-After", "X-RateLimit"})
        EXPECT_EQ(head.find(dropped), std::string::npos) << dropped << "\n" << head;
    EXPECT_NE(head.find("Content-Type: application/json\r\n"), std::string::npos);
    EXPECT_NE(head.find("ETag: W/\"1\"\r\n"), std::string::npos);
    resp.status = 429;
    const std::vector<std::string> extra{"X-RateLimit-Remaining"};
    resp.extra_allowed = extra;
    head = build_client_response_head(resp);
    EXPECT_NE(head.find("Retry-After: 30\r\n"), std::string::npos);
    EXPECT_NE(head.find("X-RateLimit-Remaining: 99\r\n"), std::string::npos);
}

TEST_F(UpstreamHead, NoFieldWithAControlByteOrABadNameIsEverWritten) {
    // One writer for every field: a value that would split the response, or a name that is not
    // a token, is left out whole, in both directions.
    const std::string with_nul("a\0b", 3);  // the field holds a view: the string must outlive it
    std::vector<header_field> extra{
        {"X-Export-Stripped-Fields", "id\r\nSet-Cookie: pwned=1"},
        {"X-Export-Decision", "allowed\nRefresh: 0"},
        {"X-Export-Audit-Id", with_nul},
        {"Bad Name", "x"},
        {"", "x"},
        {"X-Export-Note", "tab\tis fine"}};
    client_response resp;
    resp.status = 200;
    resp.request_id = "rid";
    resp.extra_fields = extra;
    const std::string head = build_client_response_head(resp);
    EXPECT_EQ(head.find("pwned"), std::string::npos) << head;
    EXPECT_EQ(head.find("Refresh"), std::string::npos) << head;
    EXPECT_EQ(head.find("X-Export-Audit-Id"), std::string::npos) << head;
    EXPECT_EQ(head.find("Bad Name"), std::string::npos) << head;
    EXPECT_NE(head.find("X-Export-Note: tab\tis fine\r\n"), std::string::npos) << head;
    // Every line of the head ends in CRLF and holds no other CR or LF.
    for (std::size_t i = 0; i < head.size(); ++i) {
        if (head[i] == '\n') {
            EXPECT_EQ(head[i - 1], '\r') << i;
        }
        if (head[i] == '\r') {
            EXPECT_EQ(head[i + 1], '\n') << i;
        }
    }
    std::vector<header_field> fields{{"Accept", "a\r\nX-Original-URL: /admin"}};
    req.client_fields = fields;
    EXPECT_EQ(build_upstream_request_head(req).find("X-Original-URL"), std::string::npos);
}

// The control-byte test runs sixteen bytes at a time: every byte value, at every place of values
// around and past one block, decides alone whether the field is written.
TEST_F(UpstreamHead, EveryControlByteAtEveryPlaceLeavesTheFieldOut) {
    for (std::size_t size : {1u, 15u, 16u, 17u, 33u}) {
        for (std::size_t at = 0; at < size; ++at) {
            for (int b = 0; b < 256; ++b) {
                std::string value(size, 'v');
                value[at] = static_cast<char>(b);
                std::vector<header_field> extra{{"X-Probe", value}};
                client_response resp;
                resp.status = 200;
                resp.request_id = "rid";
                resp.extra_fields = extra;
                const std::string head = build_client_response_head(resp);
                const bool control = (b < 0x20 && b != '\t') || b == 0x7f;
                EXPECT_EQ(head.find("X-Probe: " + value + "\r\n") != std::string::npos, !control)
                    << "byte " << b << " at " << at << " of " << size;
                if (control) {
                    EXPECT_EQ(head.find("X-Probe"), std::string::npos)
                        << "byte " << b << " at " << at << " of " << size;
                }
            }
        }
    }
}

TEST_F(UpstreamHead, DescribesIpv6ClientsAndTlsInForwarded) {
    req.client_address = "::1";
    req.client_tls = true;
    req.body = upstream_body::content_length;
    req.content_length = 42;
    auto head = build_upstream_request_head(req);
    EXPECT_NE(head.find("Forwarded: for=\"[::1]\";proto=https\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("Content-Length: 42\r\n"), std::string::npos);
}

TEST(ResponseFraming, NoBodyForHeadAndBodilessStatuses) {
    EXPECT_EQ(choose_response_framing(true, 200, 10, false, 11), response_framing::none);
    EXPECT_EQ(choose_response_framing(false, 204, std::nullopt, false, 11), response_framing::none);
    EXPECT_EQ(choose_response_framing(false, 304, 10, false, 11), response_framing::none);
}

TEST(ResponseFraming, PassesLengthThroughUnlessFiltered) {
    EXPECT_EQ(choose_response_framing(false, 200, 10, false, 11), response_framing::content_length);
    EXPECT_EQ(choose_response_framing(false, 200, 10, true, 11), response_framing::chunked);
    EXPECT_EQ(choose_response_framing(false, 200, std::nullopt, false, 11),
              response_framing::chunked);
    EXPECT_EQ(choose_response_framing(false, 200, std::nullopt, false, 10),
              response_framing::close_delimited);
    EXPECT_EQ(choose_response_framing(false, 200, 10, true, 10), response_framing::close_delimited);
}

TEST(ClientHead, ReframesAndStripsUpstreamConnectionFields) {
    std::vector<header_field> fields{{"Content-Type", "application/json"},
                                     {"Content-Length", "99"},
                                     {"Transfer-Encoding", "chunked"},
                                     {"Connection", "X-Internal"},
                                     {"X-Internal", "node-7"},
                                     {"X-Request-Id", "upstream-id"}};
    client_response r;
    r.status = 200;
    r.upstream_fields = fields;
    r.framing = response_framing::chunked;
    r.request_id = "rid";
    auto head = build_client_response_head(r);
    EXPECT_EQ(head,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: rid\r\n"
              "Transfer-Encoding: chunked\r\n\r\n");
}

TEST(ClientHead, ClosesDelimitedBodiesAndKeepsHttp10Alive) {
    client_response r;
    r.status = 200;
    r.request_id = "rid";
    r.client_version = 10;
    r.framing = response_framing::close_delimited;
    auto head = build_client_response_head(r);
    EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos);
    r.framing = response_framing::content_length;
    r.content_length = 5;
    head = build_client_response_head(r);
    EXPECT_NE(head.find("Content-Length: 5\r\n"), std::string::npos);
    EXPECT_NE(head.find("Connection: keep-alive\r\n"), std::string::npos);
}

TEST(ClientHead, HeadResponseKeepsTheRepresentationLength) {
    client_response r;
    r.status = 200;
    r.framing = response_framing::none;
    r.content_length = 1000;
    r.request_id = "rid";
    EXPECT_NE(build_client_response_head(r).find("Content-Length: 1000\r\n"), std::string::npos);
    r.status = 204;
    EXPECT_EQ(build_client_response_head(r).find("Content-Length"), std::string::npos);
}

TEST(ChunkSizeLine, IsLowerCaseHex) {
    std::string line;
    chunk_size_line(65536, line);
    EXPECT_EQ(line, "10000\r\n");
    chunk_size_line(10, line);
    EXPECT_EQ(line, "a\r\n");
}

TEST(QueryNames, KeepsNamesDropsValues) {
    EXPECT_EQ(query_parameter_names("$select=email,iban&$top=10&flag"), "$select,$top,flag");
    EXPECT_EQ(query_parameter_names(""), "");
    EXPECT_EQ(query_parameter_names("=secret&a=1"), "a");
}

}  // namespace
}  // namespace exportwall::proxy
