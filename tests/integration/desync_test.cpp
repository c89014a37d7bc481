// Request smuggling: every severe case of http-desync-guardian, sent raw with a valid request
// pipelined behind it, gets 400 and a closed connection, and the CRM sees nothing; every
// rfc-compliant, acceptable and further compliant case is forwarded exactly once, or refused as
// the list of deliberate refusals below (and docs/security-model.md) says; the CRM never parses
// more requests than the client got answers.

#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <string>

#include "tests/integration/fixture.hpp"
#include "tests/support/desync_cases.hpp"

namespace exportwall::itest {
namespace {

const std::string cases_dir =
    std::string(EXPORTWALL_SHARED_TESTDATA) + "/http-desync-guardian/tests";

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

const std::string pipelined = "GET /second HTTP/1.1\r\nHost: localhost\r\n\r\n";

class Desync : public proxy_fixture {
  protected:
    void SetUp() override {
        if (!std::filesystem::exists(cases_dir))
            GTEST_SKIP() << "http-desync-guardian cases absent (" << cases_dir << ")";
        proxy_options o;
        o.route_path = "/";
        o.methods = "GET HEAD POST PUT";
        o.limits = R"(request-head="2s" request-body-idle="2s")";
        ASSERT_TRUE(start_proxy(o));
    }

    // Sends one valid request on a fresh connection and waits for its answer: everything the
    // proxy could have forwarded from earlier connections has reached the CRM by then (both use
    // the same pool, in order).
    void sentinel() {
        const response r = fetch(proxy_.port(), get_request("/sentinel"));
        ASSERT_TRUE(r.received);
        ASSERT_EQ(r.status, 200u);
    }
};

// The body a compliant case announces, so the proxy has a complete request to forward.
std::string body_for(const exportwall::test::desync_case& c) {
    bool chunked = false;
    std::uint64_t length = 0;
    for (const auto& h : c.headers) {
        if (iequals(h.name, "Transfer-Encoding")) chunked = true;
        if (iequals(h.name, "Content-Length")) length = std::strtoull(h.value.c_str(), nullptr, 10);
    }
    if (chunked) return "5\r\nhello\r\n0\r\n\r\n";
    return std::string(static_cast<std::size_t>(length), 'x');
}

TEST_F(Desync, SevereCasesAreRefusedAndNeverReachTheUpstream) {
    const auto cases = exportwall::test::load_desync_cases(cases_dir + "/severe.yaml");
    ASSERT_FALSE(cases.empty());
    for (const auto& c : cases) {
        SCOPED_TRACE("case: " + c.name);
        ASSERT_TRUE(crm_control(crm_.port(), "/_reset"));
        http_connection conn;
        conn.set_read_timeout(10s);
        ASSERT_TRUE(conn.connect(proxy_.port()));
        ASSERT_TRUE(conn.send(exportwall::test::build_raw_head(c, "localhost") + pipelined));
        const response r = conn.read_response(c.method == "HEAD");
        ASSERT_TRUE(r.received) << "no answer";
        EXPECT_EQ(r.status, 400u);
        EXPECT_EQ(r.header("Content-Type").value_or(""), "application/problem+json");
        EXPECT_TRUE(conn.peer_closed()) << "the connection must close after a refused request";
        sentinel();
        const crm_seen s = seen();
        ASSERT_EQ(s.requests.size(), 1u) << "the CRM saw the refused request or its pipelined "
                                            "follower";
        EXPECT_EQ(s.requests[0].target, "/sentinel");
        EXPECT_EQ(s.parse_errors, 0u);
    }
}

// The compliant and acceptable cases exportwall refuses on purpose, and why; the same list is in
// docs/security-model.md ("Deliberate refusals"). Every other compliant or acceptable case is
// forwarded exactly once; a case listed here that starts being forwarded fails too, so the list
// and the docs stay true.
struct deliberate_refusal {
    const char* file;
    const char* name;
    unsigned status;
};
constexpr std::array deliberate_refusals{
    // Transfer codings other than chunked: exportwall implements none (RFC 9112 §6.1: 501).
    deliberate_refusal{"rfc-compliant.yaml", "Different Transfer-Encoding headers", 501},
    deliberate_refusal{"more-compliant-tests.yaml", "Correct TE OK", 501},
    deliberate_refusal{"more-compliant-tests.yaml", "Transfer-Encoding: identity and chunked OK",
                       501},
    deliberate_refusal{"more-compliant-tests.yaml",
                       "Multiple transfer encoding headers in a single request OK", 501},
    deliberate_refusal{"more-compliant-tests.yaml", "TE with custom parameters OK", 501},
    deliberate_refusal{"rfc-compliant.yaml", "Different Transfer-Encoding headers combined", 501},
    deliberate_refusal{"rfc-compliant.yaml",
                       "Transfer-Encoding with a param: chunked;custom_param", 501},
    // Targets that are not origin-form as RFC 9112 §3.2.1 and RFC 3986 write it.
    deliberate_refusal{"rfc-compliant.yaml", "International in URI", 400},
    deliberate_refusal{"rfc-compliant.yaml", "Empty URI", 400},
    // '_' in a field name (a CGI-style gateway reads Transfer_Encoding as Transfer-Encoding).
    deliberate_refusal{"rfc-compliant.yaml", "Valid custom header with underscore in name", 400},
    deliberate_refusal{"rfc-compliant.yaml", "Valid custom header with tchar in name and obs-text",
                       400},
    // Whitespace between a field name and its colon: RFC 9112 §5.1 says MUST reject (400).
    deliberate_refusal{"acceptable.yaml", "No TE/CL headers, some others are non-compliant", 400},
    deliberate_refusal{"acceptable.yaml", "TE and some others are non-compliant", 400},
    deliberate_refusal{"acceptable.yaml", "CL and some others are non-compliant", 400},
    // A control byte in a field name: not a token (RFC 9110 §5.1).
    deliberate_refusal{"acceptable.yaml",
                       "A non-essential header with a non-printable character (x01)", 400},
    // HTTP/0.9 has no fields and no framing to proxy (505); no version: no request line (400).
    deliberate_refusal{"acceptable.yaml", "Non-RFC, but OK HTTP/0.9", 505},
    deliberate_refusal{"acceptable.yaml", "Empty version, which means HTTP/0.9", 400},
    // A body larger than <limits max-request-body-bytes> (1 MiB by default): 413, configurable.
    deliberate_refusal{"more-compliant-tests.yaml", "Large Size OK", 413},
};

const deliberate_refusal* listed_refusal(std::string_view file, std::string_view name) {
    for (const auto& d : deliberate_refusals)
        if (file == d.file && name == d.name) return &d;
    return nullptr;
}

class DesyncCompliant : public Desync, public ::testing::WithParamInterface<const char*> {};

TEST_P(DesyncCompliant, CasesAreForwardedExactlyOnceOrRefusedAsDocumented) {
    const std::string file = GetParam();
    const auto cases = exportwall::test::load_desync_cases(cases_dir + "/" + file);
    ASSERT_FALSE(cases.empty());
    int forwarded = 0;
    for (const auto& c : cases) {
        SCOPED_TRACE("case: " + file + " '" + c.name + "'");
        ASSERT_TRUE(crm_control(crm_.port(), "/_reset"));
        http_connection conn;
        conn.set_read_timeout(10s);
        ASSERT_TRUE(conn.connect(proxy_.port()));
        const deliberate_refusal* early = listed_refusal(file, c.name);
        if (!conn.send(exportwall::test::build_raw_head(c, "localhost") + body_for(c) +
                       pipelined)) {
            // A body over the limit is refused from its head (413) and the connection closed
            // while the client may still be writing it: the send can fail. Nothing may have
            // reached the CRM.
            ASSERT_TRUE(early != nullptr && early->status == 413) << "the proxy cut a request off";
            sentinel();
            const crm_seen s = seen();
            ASSERT_FALSE(s.requests.empty());
            EXPECT_EQ(s.requests.size(), 1u) << "a refused request reached the CRM";
            continue;
        }
        const response first = conn.read_response(c.method == "HEAD");
        ASSERT_TRUE(first.received) << "no answer";
        std::cout << file << " case '" << c.name << "': " << first.status << "\n";
        const deliberate_refusal* listed = listed_refusal(file, c.name);
        int answers = 1;
        const bool refused = first.status != 200;
        if (listed != nullptr) {
            EXPECT_EQ(first.status, listed->status)
                << "a deliberate refusal changed; update the list and docs/security-model.md";
        } else {
            EXPECT_EQ(first.status, 200u) << "refused, but not a documented deliberate refusal";
        }
        if (refused) {
            EXPECT_TRUE(conn.peer_closed());
        } else {
            const response second = conn.read_response();
            ASSERT_TRUE(second.received) << "the pipelined request got no answer";
            EXPECT_EQ(second.status, 200u);
            ++answers;
        }
        sentinel();
        const crm_seen s = seen();
        ASSERT_FALSE(s.requests.empty());
        EXPECT_EQ(s.requests.back().target, "/sentinel");
        const auto parsed = s.requests.size() - 1;  // without the sentinel
        EXPECT_LE(parsed, static_cast<std::size_t>(answers))
            << "the CRM parsed more requests than the client got answers";
        if (!refused) {
            ASSERT_EQ(parsed, 2u) << "forwarded exactly once, then the pipelined request";
            EXPECT_EQ(s.requests[0].method, c.method);
            EXPECT_EQ(s.requests[1].target, "/second");
            ++forwarded;
        } else {
            EXPECT_EQ(parsed, 0u) << "a refused request reached the CRM";
        }
        EXPECT_EQ(s.parse_errors, 0u);
    }
    RecordProperty("forwarded", forwarded);
}

INSTANTIATE_TEST_SUITE_P(Files, DesyncCompliant,
                         ::testing::Values("rfc-compliant.yaml", "acceptable.yaml",
                                           "more-compliant-tests.yaml"),
                         [](const auto& param) {
                             std::string n;
                             for (const char* p = param.param; *p != '.'; ++p)
                                 n.push_back(std::isalnum(static_cast<unsigned char>(*p)) != 0
                                                 ? *p
                                                 : '_');
                             return n;
                         });

}  // namespace
}  // namespace exportwall::itest
