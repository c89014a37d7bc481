// The demo CRM as its users see it: the real demo_crm binary on port 0, each vendor shape fetched
// over a raw socket, parsed, and its pagination followed.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <pugixml.hpp>

extern char** environ;

namespace {

constexpr std::uint64_t records = 25;
constexpr std::uint64_t page_size = 10;
constexpr const char* token = "demo-crm-test-token";

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

struct http_response {
    unsigned status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool complete = false;  // the body ended as its framing says

    [[nodiscard]] std::string header(std::string_view name) const {
        for (const auto& [n, v] : headers) {
            if (n.size() != name.size()) continue;
            bool same = true;
            for (std::size_t i = 0; i < n.size(); ++i)
                same = same && std::tolower(static_cast<unsigned char>(n[i])) ==
                                   std::tolower(static_cast<unsigned char>(name[i]));
            if (same) return v;
        }
        return {};
    }
};

// Decodes a chunked body; false when it is malformed or lacks its last chunk.
bool dechunk(std::string_view in, std::string& out) {
    while (true) {
        auto eol = in.find("\r\n");
        if (eol == std::string_view::npos) return false;
        std::size_t size = 0;
        auto hex = in.substr(0, in.find_first_of(";\r"));
        if (hex.empty()) return false;
        for (char c : hex) {
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0) return false;
            size = size * 16 + static_cast<std::size_t>(d);
        }
        in.remove_prefix(eol + 2);
        if (size == 0) return in.substr(0, 2) == "\r\n";
        if (in.size() < size + 2 || in.substr(size, 2) != "\r\n") return false;
        out.append(in.substr(0, size));
        in.remove_prefix(size + 2);
    }
}

// One request on a fresh connection with `Connection: close`; reads until the server closes.
http_response fetch(std::uint16_t port, std::string_view method, std::string_view target,
                    bool with_token = true, std::string_view body = {},
                    std::string_view content_type = "text/xml") {
    http_response r;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return r;
    timeval tv{20, 0};  // a bound against a hanging test, not a synchronisation
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return r;
    }
    std::string req = std::string(method) + " " + std::string(target) +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (with_token) req += "Authorization: Bearer " + std::string(token) + "\r\n";
    if (!body.empty() || method == "POST") {
        req += "Content-Type: " + std::string(content_type) +
               "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n";
    req += body;
    for (std::size_t sent = 0; sent < req.size();) {
        auto n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    std::string raw;
    char buf[16384];
    while (true) {
        auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        raw.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    auto head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos) return r;
    std::istringstream head(raw.substr(0, head_end));
    std::string line;
    std::getline(head, line);
    if (line.size() < 12) return r;
    r.status = static_cast<unsigned>(std::atoi(line.c_str() + 9));
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        r.headers.emplace_back(line.substr(0, colon), value);
    }
    std::string_view payload = std::string_view(raw).substr(head_end + 4);
    if (r.header("Transfer-Encoding") == "chunked") {
        r.complete = dechunk(payload, r.body);
    } else {
        r.body = std::string(payload);
        auto length = r.header("Content-Length");
        r.complete = length.empty() || std::to_string(r.body.size()) == length;
    }
    return r;
}

boost::json::value parse_json(const std::string& body) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    EXPECT_FALSE(ec) << "the body is not JSON: " << ec.message();
    return v;
}

// An ISO 8601 UTC time as HubSpot writes it: "2024-01-02T10:00:00.000Z".
bool is_utc_time(const boost::json::value& v) {
    if (!v.is_string()) return false;
    std::string_view s = v.as_string();
    return s.size() == 24 && s[4] == '-' && s[10] == 'T' && s[19] == '.' && s.back() == 'Z';
}

// The path and query of an absolute URL ("http://host:port/p?q" → "/p?q").
std::string origin_form(std::string_view url) {
    auto scheme = url.find("://");
    if (scheme == std::string_view::npos) return std::string(url);
    auto slash = url.find('/', scheme + 3);
    return slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
}

class DemoCrm : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = std::filesystem::temp_directory_path() /
               ("demo_crm_test." + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        const std::string port_file = (dir_ / "port").string();
        log_file_ = (dir_ / "demo_crm.log").string();
        std::vector<std::string> args{DEMO_CRM_BINARY,
                                      "--port",
                                      "0",
                                      "--port-file",
                                      port_file,
                                      "--records",
                                      std::to_string(records),
                                      "--page-size",
                                      std::to_string(page_size),
                                      "--token",
                                      token};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 2, log_file_.c_str(),
                                         O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
        posix_spawn_file_actions_destroy(&actions);
        // Bounded poll for the port file, which demo_crm renames into place once listening.
        for (int i = 0; i < 2000 && pid_ > 0 && port_ == 0; ++i) {
            std::ifstream in(port_file);
            unsigned p = 0;
            if (in >> p) port_ = static_cast<std::uint16_t>(p);
            if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    static void TearDownTestSuite() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    void SetUp() override { ASSERT_NE(port_, 0) << "demo_crm did not start: " << slurp(log_file_); }

    static std::uint16_t port() { return port_; }
    static std::string log() { return slurp(log_file_); }

  private:
    static inline std::filesystem::path dir_;
    static inline std::string log_file_;
    static inline pid_t pid_ = -1;
    static inline std::uint16_t port_ = 0;
};

TEST_F(DemoCrm, ServesDataverseSelectAndNextLink) {
    auto r = fetch(port(), "GET", "/api/data/v9.2/contacts?$select=id,email,address.city");
    ASSERT_EQ(r.status, 200u);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.header("Transfer-Encoding"), "chunked");
    EXPECT_EQ(r.header("Content-Type"), "application/json; odata.metadata=minimal");
    auto doc = parse_json(r.body);
    ASSERT_TRUE(doc.is_object());
    const auto& value = doc.at("value").as_array();
    ASSERT_EQ(value.size(), page_size);
    for (const auto& rec : value) {
        const auto& o = rec.as_object();
        EXPECT_EQ(o.size(), 3u);
        EXPECT_TRUE(o.contains("id"));
        EXPECT_TRUE(o.contains("email"));
        EXPECT_TRUE(o.at("address").as_object().contains("city"));  // nested: whole
        EXPECT_FALSE(o.contains("iban"));
        EXPECT_FALSE(o.contains("birth_date"));
    }
    std::string next(doc.at("@odata.nextLink").as_string());
    EXPECT_EQ(next.rfind("http://127.0.0.1:" + std::to_string(port()) + "/", 0), 0u) << next;
    EXPECT_NE(next.find("$select=id,email,address.city"), std::string::npos) << next;
}

TEST_F(DemoCrm, FollowsDataverseNextLinksToEveryRecordOnce) {
    std::string target = "/api/data/v9.2/contacts?$select=id";
    std::vector<std::string> ids;
    for (int pages = 0; pages < 10 && !target.empty(); ++pages) {
        auto r = fetch(port(), "GET", target);
        ASSERT_EQ(r.status, 200u);
        auto doc = parse_json(r.body);
        for (const auto& rec : doc.at("value").as_array())
            ids.emplace_back(rec.at("id").as_string());
        const auto* next = doc.as_object().if_contains("@odata.nextLink");
        target = next ? origin_form(next->as_string()) : "";
    }
    EXPECT_TRUE(target.empty());
    ASSERT_EQ(ids.size(), records);
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
}

TEST_F(DemoCrm, HonoursDataverseTop) {
    auto r = fetch(port(), "GET", "/api/data/v9.2/contacts?$top=4");
    ASSERT_EQ(r.status, 200u);
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.at("value").as_array().size(), 4u);
    EXPECT_FALSE(doc.as_object().contains("@odata.nextLink"));
}

TEST_F(DemoCrm, ServesHubSpotRequestedPropertiesAndPagingLink) {
    auto r = fetch(port(), "GET", "/crm/v3/objects/contacts?properties=email,first_name&limit=3");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type").rfind("application/json", 0), 0u);
    auto doc = parse_json(r.body);
    const auto& results = doc.at("results").as_array();
    ASSERT_EQ(results.size(), 3u);
    for (const auto& rec : results) {
        EXPECT_TRUE(rec.as_object().contains("id"));
        EXPECT_EQ(rec.at("archived").as_bool(), false);
        // Record-level timestamps beside "properties", as the real API writes them.
        EXPECT_TRUE(is_utc_time(rec.at("createdAt")));
        EXPECT_TRUE(is_utc_time(rec.at("updatedAt")));
        const auto& props = rec.at("properties").as_object();
        EXPECT_EQ(props.size(), 2u);
        EXPECT_TRUE(props.contains("email"));
        EXPECT_TRUE(props.contains("first_name"));
    }
    const auto& next = doc.at("paging").at("next");
    EXPECT_EQ(next.at("after").as_string(), "3");
    std::string link(next.at("link").as_string());
    EXPECT_NE(link.find("after=3"), std::string::npos) << link;
    EXPECT_NE(link.find("properties=email,first_name"), std::string::npos) << link;
    auto second = fetch(port(), "GET", origin_form(link));
    ASSERT_EQ(second.status, 200u);
    auto doc2 = parse_json(second.body);
    EXPECT_NE(doc2.at("results").at(0).at("id"), results.at(0).at("id"));
}

TEST_F(DemoCrm, ServesSalesforceRestWithNextRecordsUrl) {
    auto r = fetch(port(), "GET", "/services/data/v58.0/query?q=SELECT+Id,Email+FROM+Contact");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type").rfind("application/json", 0), 0u);
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.at("totalSize").as_int64(), static_cast<std::int64_t>(records));
    EXPECT_EQ(doc.at("done").as_bool(), false);
    ASSERT_EQ(doc.at("records").as_array().size(), page_size);
    EXPECT_TRUE(doc.at("records").at(0).as_object().contains("attributes"));
    EXPECT_TRUE(doc.at("records").at(0).as_object().contains("iban"));  // q's list is ignored
    std::string next(doc.at("nextRecordsUrl").as_string());
    EXPECT_EQ(next, "/services/data/v58.0/query/01gD0000002HU6KIAW-10");
    std::uint64_t seen = page_size;
    for (int pages = 0; pages < 10 && !next.empty(); ++pages) {
        auto page = parse_json(fetch(port(), "GET", next).body);
        seen += page.at("records").as_array().size();
        const auto* more = page.as_object().if_contains("nextRecordsUrl");
        next = more ? std::string(more->as_string()) : "";
        if (next.empty()) {
            EXPECT_EQ(page.at("done").as_bool(), true);
        }
    }
    EXPECT_EQ(seen, records);
}

TEST_F(DemoCrm, ServesSalesforceSoapAsWellFormedXml) {
    auto r = fetch(port(), "POST", "/services/Soap/u/58.0", true,
                   "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
                   "<soapenv:Body><query/></soapenv:Body></soapenv:Envelope>");
    ASSERT_EQ(r.status, 200u);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.header("Content-Type").rfind("text/xml", 0), 0u);
    pugi::xml_document doc;
    auto parsed = doc.load_buffer(r.body.data(), r.body.size());
    ASSERT_TRUE(parsed) << parsed.description();
    auto result =
        doc.child("soapenv:Envelope").child("soapenv:Body").child("queryResponse").child("result");
    ASSERT_TRUE(result);
    std::size_t count = 0;
    for (auto rec = result.child("records"); rec; rec = rec.next_sibling("records")) ++count;
    EXPECT_EQ(count, records);
}

TEST_F(DemoCrm, ServesSemicolonCsvWithBomAndCrlf) {
    auto r = fetch(port(), "GET", "/exports/contacts.csv");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type"), "text/csv; charset=utf-8");
    ASSERT_GE(r.body.size(), 3u);
    EXPECT_EQ(r.body.substr(0, 3), "\xEF\xBB\xBF");
    auto header_end = r.body.find("\r\n");
    ASSERT_NE(header_end, std::string::npos);
    std::string header = r.body.substr(3, header_end - 3);
    EXPECT_EQ(header.rfind("id;lifecycle;first_name;", 0), 0u) << header;
    EXPECT_EQ(header.find(','), std::string::npos);
    // One header line in all, though the body is generated in batches.
    EXPECT_EQ(r.body.find("id;lifecycle", header_end), std::string::npos);
    // CRLF ends the header and each record (a quoted note's line break is a bare LF); each
    // record starts with its 36-character id.
    std::size_t rows = 0;
    for (auto at = r.body.find("\r\n"); at != std::string::npos; at = r.body.find("\r\n", at + 2)) {
        if (at + 2 == r.body.size()) break;
        ++rows;
        EXPECT_EQ(r.body.substr(at + 2 + 36, 1), ";");
    }
    EXPECT_EQ(rows, records);
}

TEST_F(DemoCrm, ServesNdjsonOneRecordPerLineWithFields) {
    auto r = fetch(port(), "GET", "/exports/contacts.ndjson?fields=id,consent.email");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type"), "application/x-ndjson");
    std::istringstream lines(r.body);
    std::size_t count = 0;
    for (std::string line; std::getline(lines, line);) {
        auto rec = parse_json(line);
        ASSERT_TRUE(rec.is_object());
        EXPECT_EQ(rec.as_object().size(), 2u);
        EXPECT_TRUE(rec.at("consent").as_object().contains("email"));
        ++count;
    }
    EXPECT_EQ(count, records);
}

TEST_F(DemoCrm, RefusesRequestsWithoutTheTokenButHealth) {
    EXPECT_EQ(fetch(port(), "GET", "/exports/contacts.ndjson", false).status, 401u);
    EXPECT_EQ(fetch(port(), "GET", "/api/data/v9.2/contacts", false).status, 401u);
    EXPECT_EQ(fetch(port(), "GET", "/v1/persons/1", false).status, 401u);
    EXPECT_EQ(fetch(port(), "GET", "/Api/V8/module/Contacts", false).status, 401u);
    EXPECT_EQ(fetch(port(), "GET", "/api/v1/lead/", false).status, 401u);
    EXPECT_EQ(fetch(port(), "GET", "/exports/contacts-spaces.csv", false).status, 401u);
    EXPECT_EQ(fetch(port(), "POST", "/jsonrpc", false, "{}", "application/json").status, 401u);
    EXPECT_EQ(
        fetch(port(), "POST", "/crm/v3/objects/contacts/search", false, "{}", "application/json")
            .status,
        401u);
    EXPECT_EQ(fetch(port(), "GET", "/healthz", false).status, 200u);
}

TEST_F(DemoCrm, AnswersUnknownPathsAndMethods) {
    EXPECT_EQ(fetch(port(), "GET", "/api/data/v9.2/accounts").status, 404u);
    EXPECT_EQ(fetch(port(), "DELETE", "/api/data/v9.2/contacts").status, 405u);
    EXPECT_EQ(fetch(port(), "GET", "/services/Soap/u/58.0").status, 405u);
    EXPECT_EQ(fetch(port(), "GET", "/crm/v3/objects/contacts/search").status, 405u);
    EXPECT_EQ(fetch(port(), "GET", "/jsonrpc").status, 405u);
    EXPECT_EQ(fetch(port(), "DELETE", "/v1/persons/1").status, 405u);
    EXPECT_EQ(fetch(port(), "POST", "/api/v1/lead/", true, "{}").status, 405u);
    EXPECT_EQ(fetch(port(), "GET", "/crm/v3/objects/contacts/a/b").status, 404u);
}

// The generator's id of record `index`, read from the HubSpot list.
std::string record_id(std::uint16_t port, std::uint64_t index) {
    auto r =
        fetch(port, "GET",
              "/crm/v3/objects/contacts?properties=email&limit=1&after=" + std::to_string(index));
    boost::system::error_code ec;
    auto doc = boost::json::parse(r.body, ec);
    if (ec) return {};
    return std::string(doc.at("results").at(0).at("id").as_string());
}

std::string email_of(std::uint64_t index) {
    return "contact" + std::to_string(index) + "@example.be";
}

TEST_F(DemoCrm, ServesHubSpotSingleObjectWithSelectedProperties) {
    const std::string id = record_id(port(), 2);
    ASSERT_EQ(id.size(), 36u);
    auto r =
        fetch(port(), "GET", "/crm/v3/objects/contacts/" + id + "?properties=email,address.city");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type").rfind("application/json", 0), 0u);
    auto doc = parse_json(r.body);
    const auto& o = doc.as_object();
    EXPECT_EQ(o.size(), 5u);  // id, properties, createdAt, updatedAt, archived
    EXPECT_EQ(o.at("id").as_string(), id);
    EXPECT_TRUE(is_utc_time(o.at("createdAt")));
    EXPECT_TRUE(is_utc_time(o.at("updatedAt")));
    EXPECT_EQ(o.at("archived").as_bool(), false);
    const auto& props = o.at("properties").as_object();
    EXPECT_EQ(props.size(), 2u);
    EXPECT_EQ(props.at("email").as_string(), email_of(2));
    EXPECT_TRUE(props.at("address").as_object().contains("city"));

    auto all = parse_json(fetch(port(), "GET", "/crm/v3/objects/contacts/" + id).body);
    EXPECT_TRUE(all.at("properties").as_object().contains("iban"));
    EXPECT_EQ(all.at("properties").as_object().size(), 14u);  // the list's properties

    auto missing = fetch(port(), "GET", "/crm/v3/objects/contacts/" + id.substr(0, 35) + "f");
    EXPECT_EQ(missing.status, 404u);
    auto error = parse_json(missing.body);
    EXPECT_EQ(error.at("status").as_string(), "error");
    EXPECT_EQ(error.at("category").as_string(), "OBJECT_NOT_FOUND");
    EXPECT_FALSE(error.at("message").as_string().empty());
    EXPECT_EQ(fetch(port(), "GET", "/crm/v3/objects/contacts/12345").status, 404u);
}

TEST_F(DemoCrm, ServesHubSpotSearchFromTheRequestBodyAndLogsMemberNames) {
    const std::string body =
        R"({"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ",)"
        R"("value":"secret-search-marker"}]}],"sorts":["email"],"properties":["email"],)"
        R"("limit":4,"after":"8"})";
    auto r =
        fetch(port(), "POST", "/crm/v3/objects/contacts/search", true, body, "application/json");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type").rfind("application/json", 0), 0u);
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.at("total").as_int64(), static_cast<std::int64_t>(records));
    const auto& results = doc.at("results").as_array();
    ASSERT_EQ(results.size(), 4u);
    EXPECT_EQ(results.at(0).at("id").as_string(), record_id(port(), 8));
    for (const auto& rec : results) {
        EXPECT_EQ(rec.at("properties").as_object().size(), 1u);
        EXPECT_TRUE(is_utc_time(rec.at("createdAt")));
        EXPECT_EQ(rec.at("archived").as_bool(), false);
    }
    EXPECT_EQ(results.at(3).at("properties").at("email").as_string(), email_of(11));
    const auto& next = doc.at("paging").at("next");
    EXPECT_EQ(next.at("after").as_string(), "12");
    std::string link(next.at("link").as_string());
    EXPECT_NE(link.find("?after=12"), std::string::npos) << link;

    // Following "after" reaches every record once.
    std::uint64_t seen = 0;
    std::string after = "0";
    for (int pages = 0; pages < 10 && !after.empty(); ++pages) {
        auto page = parse_json(fetch(port(), "POST", "/crm/v3/objects/contacts/search", true,
                                     R"({"limit":10,"after":")" + after + "\"}", "application/json")
                                   .body);
        seen += page.at("results").as_array().size();
        const auto* paging = page.as_object().if_contains("paging");
        after = paging ? std::string(paging->at("next").at("after").as_string()) : "";
    }
    EXPECT_EQ(seen, records);

    auto bad = fetch(port(), "POST", "/crm/v3/objects/contacts/search", true, "{not json",
                     "application/json");
    EXPECT_EQ(bad.status, 400u);
    EXPECT_EQ(parse_json(bad.body).at("category").as_string(), "VALIDATION_ERROR");

    auto text = log();
    EXPECT_NE(text.find("POST /crm/v3/objects/contacts/search status=200 endpoint=hubspot-search "
                        "params=[] body=[filterGroups,sorts,properties,limit,after] "
                        "served=[email] records=4"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("secret-search-marker"), std::string::npos);
}

TEST_F(DemoCrm, ServesSalesforceRecordAtTheDocumentRoot) {
    const std::string id = record_id(port(), 5);
    auto r = fetch(port(), "GET", "/services/data/v58.0/sobjects/Contact/" + id);
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type").rfind("application/json", 0), 0u);
    auto doc = parse_json(r.body);
    const auto& o = doc.as_object();
    EXPECT_EQ(o.begin()->key(), "attributes");
    EXPECT_EQ(o.at("attributes").at("type").as_string(), "Contact");
    EXPECT_EQ(o.at("attributes").at("url").as_string(),
              "/services/data/v58.0/sobjects/Contact/" + id);
    EXPECT_EQ(o.at("Id").as_string(), id);
    EXPECT_EQ(o.at("email").as_string(), email_of(5));
    EXPECT_TRUE(o.at("consent").as_object().contains("email"));  // as the query list writes it
    EXPECT_FALSE(o.contains("records"));

    auto missing = fetch(port(), "GET", "/services/data/v58.0/sobjects/Contact/003000000000001");
    EXPECT_EQ(missing.status, 404u);
    auto error = parse_json(missing.body);
    ASSERT_TRUE(error.is_array());
    EXPECT_EQ(error.at(0).at("errorCode").as_string(), "NOT_FOUND");
}

TEST_F(DemoCrm, ServesDataverseSingleEntityWithSelect) {
    const std::string id = record_id(port(), 7);
    auto r = fetch(port(), "GET", "/api/data/v9.2/contacts(" + id + ")?$select=email,address/city");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type"), "application/json; odata.metadata=minimal");
    auto doc = parse_json(r.body);
    const auto& o = doc.as_object();
    EXPECT_EQ(o.size(), 4u);  // @odata.context, @odata.etag, email, address
    std::string context(o.at("@odata.context").as_string());
    EXPECT_EQ(context.rfind("http://127.0.0.1:" + std::to_string(port()) + "/api/data/v9.2/", 0),
              0u);
    EXPECT_NE(context.find("$metadata#contacts("), std::string::npos) << context;
    EXPECT_EQ(context.substr(context.size() - 8), "/$entity");
    std::string etag(o.at("@odata.etag").as_string());
    EXPECT_EQ(etag.rfind("W/\"", 0), 0u) << etag;
    EXPECT_EQ(etag.back(), '"');
    EXPECT_EQ(o.at("email").as_string(), email_of(7));
    EXPECT_TRUE(o.at("address").as_object().contains("city"));

    auto all = parse_json(fetch(port(), "GET", "/api/data/v9.2/contacts(" + id + ")").body);
    EXPECT_EQ(std::string(all.at("@odata.context").as_string()).find('('), std::string::npos);
    EXPECT_EQ(all.at("id").as_string(), id);
    EXPECT_TRUE(all.as_object().contains("iban"));

    auto missing =
        fetch(port(), "GET", "/api/data/v9.2/contacts(00000000-0000-0000-0000-000000000000)");
    EXPECT_EQ(missing.status, 404u);
    EXPECT_TRUE(parse_json(missing.body).at("error").as_object().contains("code"));
}

TEST_F(DemoCrm, ServesPipedrivePersonWithRelatedObjects) {
    auto r = fetch(port(), "GET", "/v1/persons/3");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type").rfind("application/json", 0), 0u);
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.at("success").as_bool(), true);
    const auto& person = doc.at("data").as_object();
    EXPECT_EQ(person.at("id").as_int64(), 3);
    EXPECT_EQ(person.at("name").as_string(), std::string(person.at("first_name").as_string()) +
                                                 " " +
                                                 std::string(person.at("last_name").as_string()));
    const auto& email = person.at("email").as_array().at(0);
    EXPECT_EQ(email.at("value").as_string(), email_of(2));  // person 3 is record 2
    EXPECT_EQ(email.at("primary").as_bool(), true);
    EXPECT_EQ(email.at("label").as_string(), "work");
    EXPECT_EQ(person.at("phone").as_array().at(0).at("primary").as_bool(), true);
    EXPECT_EQ(person.at("org_id").at("value").as_int64(), 1);
    EXPECT_FALSE(person.at("org_id").at("name").as_string().empty());
    EXPECT_EQ(person.at("owner_id").at("value").as_int64(), 2);
    EXPECT_EQ(person.at("external_id").as_string(), record_id(port(), 2));
    EXPECT_FALSE(doc.at("additional_data").at("dropbox_email").as_string().empty());
    const auto& related = doc.at("related_objects");
    EXPECT_EQ(related.at("organization").at("1").at("id").as_int64(), 1);
    EXPECT_TRUE(related.at("organization").at("1").as_object().contains("address"));
    EXPECT_EQ(related.at("user").at("2").at("id").as_int64(), 2);
    EXPECT_TRUE(related.at("user").at("2").as_object().contains("email"));

    for (std::string missing : {"0", "26", "abc"}) {
        auto m = fetch(port(), "GET", "/v1/persons/" + missing);
        EXPECT_EQ(m.status, 404u) << missing;
        EXPECT_EQ(parse_json(m.body).at("success").as_bool(), false);
    }
}

TEST_F(DemoCrm, PagesPipedrivePersonsWithStartAndLimit) {
    std::vector<std::int64_t> ids;
    std::string target = "/v1/persons";
    for (int pages = 0; pages < 10 && !target.empty(); ++pages) {
        auto r = fetch(port(), "GET", target);
        ASSERT_EQ(r.status, 200u);
        auto doc = parse_json(r.body);
        EXPECT_EQ(doc.at("success").as_bool(), true);
        for (const auto& p : doc.at("data").as_array()) ids.push_back(p.at("id").as_int64());
        EXPECT_TRUE(doc.at("related_objects").at("organization").as_object().contains("1"));
        const auto& pagination = doc.at("additional_data").at("pagination").as_object();
        EXPECT_EQ(pagination.at("limit").as_int64(), static_cast<std::int64_t>(page_size));
        if (pagination.at("more_items_in_collection").as_bool()) {
            target = "/v1/persons?start=" + std::to_string(pagination.at("next_start").as_int64());
        } else {
            EXPECT_FALSE(pagination.contains("next_start"));
            target.clear();
        }
    }
    EXPECT_TRUE(target.empty());
    ASSERT_EQ(ids.size(), records);
    for (std::size_t i = 0; i < ids.size(); ++i)
        EXPECT_EQ(ids[i], static_cast<std::int64_t>(i + 1));
    auto two = parse_json(fetch(port(), "GET", "/v1/persons?start=24&limit=2").body);
    EXPECT_EQ(two.at("data").as_array().size(), 1u);
}

TEST_F(DemoCrm, ServesSuiteCrmContactWithIncludedAccount) {
    const std::string id = record_id(port(), 4);
    auto r = fetch(port(), "GET", "/Api/V8/module/Contacts/" + id);
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type"), "application/vnd.api+json");
    auto doc = parse_json(r.body);
    const auto& data = doc.at("data");
    EXPECT_EQ(data.at("type").as_string(), "Contacts");
    EXPECT_EQ(data.at("id").as_string(), id);
    EXPECT_EQ(data.at("attributes").at("email1").as_string(), email_of(4));
    const auto& accounts = data.at("relationships").at("accounts");
    EXPECT_EQ(accounts.at("links").at("related").as_string(),
              "/V8/module/Contacts/" + id + "/relationships/accounts");
    const auto& included = doc.at("included").as_array();
    ASSERT_EQ(included.size(), 1u);
    EXPECT_EQ(included.at(0).at("type").as_string(), "Accounts");
    EXPECT_EQ(included.at(0).at("id"), accounts.at("data").at(0).at("id"));
    EXPECT_FALSE(included.at(0).at("attributes").at("name").as_string().empty());
    EXPECT_FALSE(included.at(0).at("attributes").at("billing_address_city").as_string().empty());
    EXPECT_NE(std::string(doc.at("links").at("self").as_string()).find(id), std::string::npos);
    EXPECT_TRUE(doc.at("meta").as_object().contains("total-pages"));

    auto sparse = parse_json(
        fetch(port(), "GET", "/Api/V8/module/Contacts/" + id + "?fields[Contacts]=email1,last_name")
            .body);
    const auto& attributes = sparse.at("data").at("attributes").as_object();
    EXPECT_EQ(attributes.size(), 2u);
    EXPECT_TRUE(attributes.contains("last_name"));

    auto missing = fetch(port(), "GET", "/Api/V8/module/Contacts/not-a-contact");
    EXPECT_EQ(missing.status, 404u);
    EXPECT_EQ(parse_json(missing.body).at("errors").at("status").as_int64(), 404);
}

TEST_F(DemoCrm, PagesSuiteCrmContactsWithSparseFieldsets) {
    // Raw brackets, as JSON:API clients write them; the links come back percent-encoded.
    std::string target = "/Api/V8/module/Contacts?page[size]=7&fields[Contacts]=email1,first_name";
    std::vector<std::string> ids;
    for (int pages = 0; pages < 10 && !target.empty(); ++pages) {
        auto r = fetch(port(), "GET", target);
        ASSERT_EQ(r.status, 200u) << target;
        auto doc = parse_json(r.body);
        EXPECT_EQ(doc.at("meta").at("total-pages").as_int64(), 4);
        std::vector<std::string> included;
        for (const auto& account : doc.at("included").as_array())
            included.emplace_back(account.at("id").as_string());
        for (const auto& rec : doc.at("data").as_array()) {
            ids.emplace_back(rec.at("id").as_string());
            const auto& attributes = rec.at("attributes").as_object();
            EXPECT_EQ(attributes.size(), 2u);
            EXPECT_TRUE(attributes.contains("email1"));
            std::string account(
                rec.at("relationships").at("accounts").at("data").at(0).at("id").as_string());
            EXPECT_NE(std::find(included.begin(), included.end(), account), included.end());
        }
        const auto& links = doc.at("links").as_object();
        const auto* next = links.if_contains("next");
        target = next ? origin_form(next->as_string()) : "";
        if (next) {
            EXPECT_NE(target.find("fields%5BContacts%5D=email1,first_name"), std::string::npos);
        }
    }
    EXPECT_TRUE(target.empty());
    ASSERT_EQ(ids.size(), records);
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
    EXPECT_EQ(fetch(port(), "GET", "/Api/V8/module/Contacts?page[number]=0").status, 400u);
}

TEST_F(DemoCrm, ServesCloseLeadsOfConsecutiveContacts) {
    auto r = fetch(port(), "GET", "/api/v1/lead/?_limit=3");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type").rfind("application/json", 0), 0u);
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.at("has_more").as_bool(), true);
    EXPECT_EQ(doc.at("total_results").as_int64(), 10);  // 25 contacts in leads of 3, 2, 3, 2, …
    const auto& leads = doc.at("data").as_array();
    ASSERT_EQ(leads.size(), 3u);
    std::uint64_t next_contact = 0;
    std::vector<std::size_t> sizes;
    for (const auto& lead : leads) {
        std::string lead_id(lead.at("id").as_string());
        EXPECT_EQ(lead_id.rfind("lead_", 0), 0u);
        EXPECT_FALSE(lead.at("display_name").as_string().empty());
        EXPECT_FALSE(lead.at("status_label").as_string().empty());
        const auto& contacts = lead.at("contacts").as_array();
        sizes.push_back(contacts.size());
        for (const auto& contact : contacts) {
            EXPECT_EQ(std::string(contact.at("id").as_string()).rfind("cont_", 0), 0u);
            EXPECT_EQ(contact.at("lead_id").as_string(), lead_id);
            EXPECT_FALSE(contact.at("name").as_string().empty());
            const auto& email = contact.at("emails").at(0);
            EXPECT_EQ(email.at("email").as_string(), email_of(next_contact++));
            EXPECT_EQ(email.at("type").as_string(), "office");
            EXPECT_TRUE(contact.at("phones").at(0).as_object().contains("phone"));
            EXPECT_TRUE(contact.at("custom.opt_out").is_bool());
        }
    }
    EXPECT_EQ(sizes, (std::vector<std::size_t>{3, 2, 3}));

    auto last = parse_json(fetch(port(), "GET", "/api/v1/lead/?_skip=9&_limit=5").body);
    EXPECT_EQ(last.at("has_more").as_bool(), false);
    ASSERT_EQ(last.at("data").as_array().size(), 1u);
    auto all = parse_json(fetch(port(), "GET", "/api/v1/lead/?_limit=100").body);
    std::size_t contacts = 0;
    for (const auto& lead : all.at("data").as_array())
        contacts += lead.at("contacts").as_array().size();
    EXPECT_EQ(contacts, records);

    auto fields =
        parse_json(fetch(port(), "GET", "/api/v1/lead/?_fields=id,contacts&_limit=2").body);
    for (const auto& lead : fields.at("data").as_array()) EXPECT_EQ(lead.as_object().size(), 2u);
}

TEST_F(DemoCrm, AnswersOdooSearchReadWithOnlyRequestedFields) {
    const std::string body =
        R"({"jsonrpc":"2.0","method":"call","params":{"service":"object","method":"execute_kw",)"
        R"("args":["demo",2,"secret-odoo-password","res.partner","search_read",)"
        R"([[["email","=","secret-odoo-marker"]]],{"fields":["name","email"],"limit":2,)"
        R"("offset":3}]},"id":7})";
    auto r = fetch(port(), "POST", "/jsonrpc", true, body, "application/json");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type").rfind("application/json", 0), 0u);
    auto doc = parse_json(r.body);
    EXPECT_EQ(doc.at("jsonrpc").as_string(), "2.0");
    EXPECT_EQ(doc.at("id").as_int64(), 7);
    EXPECT_FALSE(doc.as_object().contains("error"));
    const auto& result = doc.at("result").as_array();
    ASSERT_EQ(result.size(), 2u);
    for (std::size_t i = 0; i < result.size(); ++i) {
        const auto& partner = result.at(i).as_object();
        EXPECT_EQ(partner.size(), 3u);  // id, name, email
        EXPECT_EQ(partner.at("id").as_int64(), static_cast<std::int64_t>(4 + i));
        EXPECT_EQ(partner.at("email").as_string(), email_of(3 + i));
        EXPECT_FALSE(partner.at("name").as_string().empty());
    }
    auto everything = parse_json(
        fetch(port(), "POST", "/jsonrpc", true,
              R"({"jsonrpc":"2.0","method":"call","params":{"service":"object",)"
              R"("method":"execute_kw","args":["demo",2,"pw","res.partner","search_read",[[]]]},)"
              R"("id":null})",
              "application/json")
            .body);
    EXPECT_EQ(everything.at("result").as_array().size(), records);
    EXPECT_TRUE(everything.at("result").at(0).as_object().contains("x_iban"));

    for (std::string bad : {std::string("{not json"), std::string(R"({"jsonrpc":"2.0"})"),
                            std::string(R"({"jsonrpc":"2.0","method":"call","params":{"service":)"
                                        R"("object","method":"execute_kw","args":["d",2,"p",)"
                                        R"("res.partner","search_read",[[]],{"fields":["nope"]}]},)"
                                        R"("id":3})")}) {
        auto e = fetch(port(), "POST", "/jsonrpc", true, bad, "application/json");
        EXPECT_EQ(e.status, 200u);  // Odoo answers protocol errors in the body
        auto error = parse_json(e.body);
        EXPECT_FALSE(error.as_object().contains("result")) << bad;
        EXPECT_EQ(error.at("error").at("code").as_int64(), 200);
        EXPECT_FALSE(error.at("error").at("data").at("name").as_string().empty());
    }

    auto text = log();
    EXPECT_NE(text.find("POST /jsonrpc status=200 endpoint=odoo params=[] "
                        "body=[fields,limit,offset] served=[name,email] records=2"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("secret-odoo"), std::string::npos);
}

TEST_F(DemoCrm, ServesCsvWithSpacedHeaderNamesAndColumnSelection) {
    auto plain = fetch(port(), "GET", "/exports/contacts.csv");
    auto r = fetch(port(), "GET", "/exports/contacts-spaces.csv");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type"), "text/csv; charset=utf-8");
    ASSERT_EQ(r.body.substr(0, 3), "\xEF\xBB\xBF");
    auto header_end = r.body.find("\r\n");
    ASSERT_NE(header_end, std::string::npos);
    std::string header = r.body.substr(3, header_end - 3);
    EXPECT_EQ(header.rfind("Contact Id;Lifecycle Stage;First Name;Last Name;E-mail Address;", 0),
              0u)
        << header;
    EXPECT_NE(header.find(";Consent E-mail;"), std::string::npos) << header;
    // The same rows as the plain export.
    EXPECT_EQ(r.body.substr(header_end), plain.body.substr(plain.body.find("\r\n")));

    auto picked = fetch(port(), "GET",
                        "/exports/contacts-spaces.csv?columns=E-mail%20Address,Notes,First+Name");
    ASSERT_EQ(picked.status, 200u);
    std::string body = picked.body.substr(3);
    EXPECT_EQ(body.rfind("E-mail Address;Notes;First Name\r\n", 0), 0u) << body.substr(0, 80);
    std::size_t rows = 0;
    std::size_t at = body.find("\r\n") + 2;
    while (at < body.size()) {
        auto end = body.find("\r\n", at);
        ASSERT_NE(end, std::string::npos);
        std::string row = body.substr(at, end - at);
        EXPECT_EQ(row.rfind(email_of(rows) + ";", 0), 0u) << row;
        ++rows;
        at = end + 2;
    }
    EXPECT_EQ(rows, records);
    // A quoted note keeps its quotes and its line break.
    EXPECT_NE(body.find("\"Line one\nline two of a note\""), std::string::npos);

    EXPECT_EQ(fetch(port(), "GET", "/exports/contacts-spaces.csv?columns=Nope").status, 400u);
    EXPECT_NE(log().find("endpoint=csv-spaces params=[columns] "
                         "served=[E-mail Address,Notes,First Name] records=25"),
              std::string::npos);
}

TEST_F(DemoCrm, LogsParameterNamesAndSelectionNeverValues) {
    auto r =
        fetch(port(), "GET",
              "/api/data/v9.2/contacts?$select=id,email&$filter=email%20eq%20%27secret-marker%27");
    ASSERT_EQ(r.status, 200u);
    auto text = log();
    EXPECT_NE(text.find("params=[$select,$filter] served=[id,email]"), std::string::npos) << text;
    EXPECT_EQ(text.find("secret-marker"), std::string::npos);
    EXPECT_EQ(text.find("contact0@example.be"), std::string::npos);
}

}  // namespace
