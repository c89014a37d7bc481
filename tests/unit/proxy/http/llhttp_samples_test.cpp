// llhttp's request samples (../shared/testdata/llhttp/test/request/sample.md) through
// check_request_head: what llhttp rejects is refused here too; what it accepts passes unless a
// stricter rule of exportwall's refuses it, and each such case is listed below with its reason.

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "proxy/http/request_head.hpp"
#include "tests/support/llhttp_samples.hpp"

namespace exportwall::proxy {
namespace {

namespace fs = std::filesystem;

const fs::path sample_file =
    fs::path(EXPORTWALL_SHARED_TESTDATA) / "llhttp" / "test" / "request" / "sample.md";

constexpr std::size_t max_head = 16 * 1024;

#define SKIP_WITHOUT_LLHTTP_DATA()                                           \
    if (!fs::is_regular_file(sample_file)) {                                 \
        GTEST_SKIP() << "llhttp test data absent: " << sample_file.string(); \
    }

struct expectation {
    std::optional<request_error> raw;  // as sent; nullopt: passes
    // With "Host: crm.example" added after the request line, for HTTP/1.1 samples without Host:
    // then the sample is judged on the rest. Absent when not applicable.
    std::optional<std::optional<request_error>> with_host;
};

const std::map<std::string, expectation>& expectations() {
    using e = request_error;
    const std::optional<request_error> passes;
    static const std::map<std::string, expectation> table{
        // HTTP/1.1 without Host: RFC 9112 §3.2 says a server MUST answer 400; llhttp leaves that
        // to its user.
        {"Simple request", {e::missing_host, passes}},
        {"Request with method starting with `H`", {e::missing_host, passes}},
        {"DUMBPACK", {e::missing_host, passes}},
        {"No headers and no body", {e::missing_host, passes}},
        {"One header and no body", {e::missing_host, passes}},
        {"Extended Characters", {e::missing_host, passes}},
        {"255 ASCII in header value", {e::missing_host, passes}},
        // Complete, plain requests.
        {"curl GET", {passes, std::nullopt}},
        {"Firefox GET", {passes, std::nullopt}},
        {"Apache bench GET", {passes, std::nullopt}},
        // Empty lines before the request line: RFC 9112 §2.2's SHOULD-ignore is not taken, a
        // stray CRLF on a keep-alive connection means the previous body was framed differently
        // by someone.
        {"Prefix newline", {e::invalid_request_line, std::nullopt}},
        {"Request starting with CRLF", {e::invalid_request_line, std::nullopt}},
        // HTTP/0.9 (no version): not a plain HTTP/1.x request.
        {"No HTTP version", {e::invalid_request_line, std::nullopt}},
        // Rejected by llhttp without lenient flags.
        {"Line folding in header value with CRLF", {e::obs_fold, std::nullopt}},
        {"Line folding in header value with LF", {e::bare_lf, std::nullopt}},
        {"No LF after CR", {e::bare_cr, std::nullopt}},
        {"No LF after CR (lenient)", {e::bare_cr, std::nullopt}},
        {"X-SSL-Nonsense", {e::obs_fold, std::nullopt}},
    };
    return table;
}

std::string with_host(const std::string& raw) {
    const auto line_end = raw.find("\r\n");
    return raw.substr(0, line_end + 2) + "Host: crm.example\r\n" + raw.substr(line_end + 2);
}

TEST(LlhttpSamples, LoaderReproducesLlhttpBytes) {
    SKIP_WITHOUT_LLHTTP_DATA();
    const auto samples = test::load_llhttp_samples(sample_file.string());
    ASSERT_FALSE(samples.empty());
    EXPECT_EQ(samples.front().title, "Simple request");
    // llhttp's log ends this request at offset 60: CRLF line endings and "\t" unescaped.
    EXPECT_EQ(samples.front().raw,
              "OPTIONS /url HTTP/1.1\r\nHeader1: Value1\r\nHeader2:\t Value2\r\n\r\n");
    EXPECT_EQ(samples.front().raw.size(), 60u);
    // Escaped newline joined, then \r, \xHH and octal escapes.
    EXPECT_EQ(test::llhttp_block_to_bytes("a\\\nb\\r\\x41\\101\n"), "ab\rAA");
}

TEST(LlhttpSamples, RefusesWhatLlhttpRejectsAndDocumentsEveryStricterRefusal) {
    SKIP_WITHOUT_LLHTTP_DATA();
    const auto samples = test::load_llhttp_samples(sample_file.string());
    ASSERT_EQ(samples.size(), expectations().size());
    for (const auto& s : samples) {
        SCOPED_TRACE(s.title);
        ASSERT_FALSE(s.uses_javascript);
        const auto found = expectations().find(s.title);
        ASSERT_NE(found, expectations().end()) << "sample not in the table";
        const auto& expected = found->second;

        request_head head;
        const auto ec = check_request_head(s.raw, max_head, head);
        if (!s.accepted_by_llhttp()) {
            EXPECT_TRUE(ec) << "llhttp rejects this sample";
        }
        if (expected.raw) {
            EXPECT_EQ(ec, make_error_code(*expected.raw)) << ec.message();
        } else {
            EXPECT_FALSE(ec) << ec.message();
            EXPECT_EQ(find_head_end(s.raw), s.raw.size());
        }
        if (expected.with_host) {
            const auto ec_with_host = check_request_head(with_host(s.raw), max_head, head);
            if (*expected.with_host) {
                EXPECT_EQ(ec_with_host, make_error_code(**expected.with_host));
            } else {
                EXPECT_FALSE(ec_with_host) << ec_with_host.message();
            }
        }
    }
}

}  // namespace
}  // namespace exportwall::proxy
