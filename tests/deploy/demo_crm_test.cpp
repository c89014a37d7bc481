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
                    bool with_token = true, std::string_view body = {}) {
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
        req += "Content-Type: text/xml\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
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
    EXPECT_EQ(fetch(port(), "GET", "/healthz", false).status, 200u);
}

TEST_F(DemoCrm, AnswersUnknownPathsAndMethods) {
    EXPECT_EQ(fetch(port(), "GET", "/api/data/v9.2/accounts").status, 404u);
    EXPECT_EQ(fetch(port(), "DELETE", "/api/data/v9.2/contacts").status, 405u);
    EXPECT_EQ(fetch(port(), "GET", "/services/Soap/u/58.0").status, 405u);
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
