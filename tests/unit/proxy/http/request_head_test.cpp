#include "proxy/http/request_head.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace exportwall::proxy {
namespace {

using namespace std::string_literals;

constexpr std::size_t max_head = 16 * 1024;

boost::system::error_code check(std::string_view raw, request_head& head,
                                std::size_t max = max_head) {
    return check_request_head(raw, max, head);
}

// "GET / HTTP/1.1", a Host, the given extra field lines (each without CRLF), the empty line.
std::string head_with(std::vector<std::string> fields, std::string request_line = "GET / HTTP/1.1",
                      bool host = true) {
    std::string raw = request_line + "\r\n";
    if (host) raw += "Host: crm.example\r\n";
    for (const auto& f : fields) raw += f + "\r\n";
    raw += "\r\n";
    return raw;
}

struct refusal {
    const char* what;
    std::string raw;
    request_error expected;
    std::size_t max = max_head;
};

std::vector<refusal> refusals() {
    using e = request_error;
    return {
        {"CR inside a value", head_with({"X: a\rb"}), e::bare_cr},
        {"CR at the very end", "GET / HTTP/1.1\r\nHost: a\r\n\r\n\r", e::bare_cr},
        {"LF line ending", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", e::bare_lf},
        {"LF-only head", "GET / HTTP/1.1\nHost: a\n\n", e::bare_lf},
        {"LF inside a name", head_with({"X\n: b"}), e::bare_lf},
        {"folded value", head_with({"X: a", " b"}), e::obs_fold},
        {"folded with HTAB", head_with({"X: a", "\tb"}), e::obs_fold},
        {"whitespace before the first field", head_with({}, "GET / HTTP/1.1\r\n Y: z", false),
         e::obs_fold},
        {"no empty line", "GET / HTTP/1.1\r\nHost: a\r\n", e::missing_terminator},
        {"bytes after the head", "GET / HTTP/1.1\r\nHost: a\r\n\r\nX: b\r\n\r\n",
         e::missing_terminator},
        {"empty input", "", e::missing_terminator},
        {"over the limit", head_with({}), e::head_too_large, 10},
        {"double space", head_with({}, "GET  / HTTP/1.1"), e::invalid_request_line},
        {"no version", "GET /\r\n\r\n", e::invalid_request_line},
        {"space in target", head_with({}, "GET /a b HTTP/1.1"), e::invalid_request_line},
        {"leading CRLF", "\r\n" + head_with({}), e::invalid_request_line},
        {"only the empty line", "\r\n\r\n", e::invalid_request_line},
        {"method with a separator", head_with({}, "G(T / HTTP/1.1"), e::invalid_method},
        {"method with a control byte", head_with({}, "GE\x01T / HTTP/1.1"), e::invalid_method},
        {"lower-case protocol", head_with({}, "GET / http/1.1"), e::invalid_version},
        {"version without dot", head_with({}, "GET / HTTP/11"), e::invalid_version},
        {"version with letters", head_with({}, "GET / HTTP/1.x"), e::invalid_version},
        {"HTTP/2.0", head_with({}, "GET / HTTP/2.0"), e::unsupported_version},
        {"HTTP/0.9", head_with({}, "GET / HTTP/0.9"), e::unsupported_version},
        {"relative target", head_with({}, "GET foo HTTP/1.1"), e::invalid_target},
        {"ftp scheme", head_with({}, "GET ftp://crm.example/ HTTP/1.1"), e::invalid_target},
        {"userinfo in absolute-form", head_with({}, "GET http://u@crm.example/ HTTP/1.1"),
         e::invalid_target},
        {"absolute-form with query and no path", head_with({}, "GET http://crm.example?q HTTP/1.1"),
         e::invalid_target},
        {"absolute-form whose path does not start with /",
         head_with({}, "GET http://crm.example:'x HTTP/1.1"), e::invalid_target},
        {"absolute-form with an empty port and a relative path",
         head_with({}, "GET http://crm.example:x/ HTTP/1.1"), e::invalid_target},
        {"CTL in target", head_with({}, "GET /a\x01 HTTP/1.1"), e::control_byte_in_target},
        {"DEL in target", head_with({}, "GET /a\x7f HTTP/1.1"), e::control_byte_in_target},
        {"UTF-8 in target", head_with({}, "GET /\xc3\xa9 HTTP/1.1"), e::control_byte_in_target},
        {"absolute-form to another host", head_with({}, "GET http://evil.example/ HTTP/1.1"),
         e::absolute_form_other_host},
        {"absolute-form to another port", head_with({}, "GET http://crm.example:8080/ HTTP/1.1"),
         e::absolute_form_other_host},
        {"absolute-form, https default port against :80",
         head_with({}, "GET https://crm.example:80/ HTTP/1.1"), e::absolute_form_other_host},
        {"absolute-form without Host in 1.0", head_with({}, "GET http://a/ HTTP/1.0", false),
         e::absolute_form_other_host},
        {"OPTIONS *", head_with({}, "OPTIONS * HTTP/1.1"), e::asterisk_form},
        {"CONNECT", head_with({}, "CONNECT crm.example:443 HTTP/1.1"), e::authority_form},
        {"separator in name", head_with({"X(: y"}), e::invalid_header_name},
        {"empty name", head_with({": y"}), e::invalid_header_name},
        {"no colon", head_with({"NoColon"}), e::invalid_header_name},
        {"CTL in name", head_with({"\x01X: y"}), e::invalid_header_name},
        {"NUL in name", head_with({"X\0Y: y"s}), e::invalid_header_name},
        {"space before colon", head_with({"Content-Length : 5"}), e::whitespace_before_colon},
        {"HTAB before colon", head_with({"X\t: y"}), e::whitespace_before_colon},
        {"CTL in value", head_with({"X: a\x01z"}), e::control_byte_in_header_value},
        {"DEL in value", head_with({"X: a\x7f"}), e::control_byte_in_header_value},
        {"NUL in value", head_with({"X: a\0b"s}), e::control_byte_in_header_value},
        {"no Host in 1.1", head_with({}, "GET / HTTP/1.1", false), e::missing_host},
        {"two Hosts", head_with({"host: crm.example"}), e::repeated_host},
        {"Host with a space", head_with({"Host: a b"}, "GET / HTTP/1.1", false), e::invalid_host},
        {"Host with userinfo", head_with({"Host: u@a"}, "GET / HTTP/1.1", false), e::invalid_host},
        {"Host with a path", head_with({"Host: a/b"}, "GET / HTTP/1.1", false), e::invalid_host},
        {"Host with a bad port", head_with({"Host: a:b"}, "GET / HTTP/1.1", false),
         e::invalid_host},
        {"Host with a bad escape", head_with({"Host: a%zz"}, "GET / HTTP/1.1", false),
         e::invalid_host},
        {"Host with an unclosed IP-literal", head_with({"Host: [::1"}, "GET / HTTP/1.1", false),
         e::invalid_host},
        {"Host with a bad IP-literal", head_with({"Host: [zz]"}, "GET / HTTP/1.1", false),
         e::invalid_host},
        {"Host with a port over 65535", head_with({"Host: a:65536"}, "GET / HTTP/1.1", false),
         e::invalid_host},
        {"X-HTTP-Method-Override", head_with({"X-HTTP-Method-Override: DELETE"}),
         e::method_override},
        {"X-HTTP-Method", head_with({"x-http-method: DELETE"}), e::method_override},
        {"X-Method-Override", head_with({"X-METHOD-OVERRIDE: DELETE"}), e::method_override},
        {"CL with TE", head_with({"Content-Length: 5", "Transfer-Encoding: chunked"}),
         e::content_length_with_transfer_encoding},
        {"TE with CL", head_with({"Transfer-Encoding: chunked", "Content-Length: 5"}),
         e::content_length_with_transfer_encoding},
        {"two equal CL", head_with({"Content-Length: 5", "Content-Length: 5"}),
         e::repeated_content_length},
        {"CL list", head_with({"Content-Length: 42, 42"}), e::repeated_content_length},
        {"CL sign", head_with({"Content-Length: +5"}), e::invalid_content_length},
        {"CL negative", head_with({"Content-Length: -1"}), e::invalid_content_length},
        {"CL empty", head_with({"Content-Length:"}), e::invalid_content_length},
        {"CL hex", head_with({"Content-Length: 0x10"}), e::invalid_content_length},
        {"CL decimal point", head_with({"Content-Length: 1.0"}), e::invalid_content_length},
        {"CL inner space", head_with({"Content-Length: 1 2"}), e::invalid_content_length},
        {"CL overflow", head_with({"Content-Length: 18446744073709551616"}),
         e::invalid_content_length},
        {"TE gzip only", head_with({"Transfer-Encoding: gzip"}), e::transfer_encoding_not_chunked},
        {"TE chunked then gzip", head_with({"Transfer-Encoding: chunked, gzip"}),
         e::transfer_encoding_not_chunked},
        {"TE chunked twice", head_with({"Transfer-Encoding: chunked, chunked"}),
         e::transfer_encoding_not_chunked},
        {"TE chunked in two fields",
         head_with({"Transfer-Encoding: chunked", "Transfer-Encoding: chunked"}),
         e::transfer_encoding_not_chunked},
        {"TE xchunked", head_with({"Transfer-Encoding: xchunked"}),
         e::transfer_encoding_not_chunked},
        {"TE empty", head_with({"Transfer-Encoding:"}), e::transfer_encoding_not_chunked},
        {"TE with a quoted coding", head_with({"Transfer-Encoding: \"chunked\""}),
         e::transfer_encoding_not_chunked},
        {"TE with a space inside", head_with({"Transfer-Encoding: chun ked"}),
         e::transfer_encoding_not_chunked},
        {"TE in 1.0", head_with({"Transfer-Encoding: chunked"}, "POST / HTTP/1.0"),
         e::chunked_in_http10},
        {"TE gzip, chunked", head_with({"Transfer-Encoding: gzip, chunked"}),
         e::unsupported_transfer_coding},
        {"TE in two fields, gzip then chunked",
         head_with({"Transfer-Encoding: gzip", "Transfer-Encoding: chunked"}),
         e::unsupported_transfer_coding},
        {"TE chunked with a parameter", head_with({"Transfer-Encoding: chunked;x=1"}),
         e::unsupported_transfer_coding},
    };
}

TEST(RequestHead, RefusesEachDefectWithItsError) {
    for (const auto& r : refusals()) {
        SCOPED_TRACE(r.what);
        request_head head;
        EXPECT_EQ(check(r.raw, head, r.max), make_error_code(r.expected));
    }
}

TEST(RequestHead, CoversEveryHeadError) {
    // Every request_error up to the target-normalisation ones has at least one case above.
    std::vector<bool> seen(static_cast<std::size_t>(request_error::unsupported_transfer_coding) +
                           1);
    for (const auto& r : refusals()) seen[static_cast<std::size_t>(r.expected)] = true;
    for (auto e = static_cast<int>(request_error::bare_cr);
         e <= static_cast<int>(request_error::unsupported_transfer_coding); ++e) {
        EXPECT_TRUE(seen[static_cast<std::size_t>(e)])
            << make_error_code(static_cast<request_error>(e)).message();
    }
}

TEST(RequestHead, AcceptsPlainGetAndReportsWhatItLearned) {
    const std::string raw =
        "GET /exports/contacts?page=2 HTTP/1.1\r\n"
        "Host: crm.example:8443\r\n"
        "Accept:  application/json \t\r\n"
        "X-Empty:\r\n"
        "\r\n";
    request_head head;
    ASSERT_FALSE(check(raw, head));
    EXPECT_EQ(head.method, "GET");
    EXPECT_EQ(head.target, "/exports/contacts?page=2");
    EXPECT_FALSE(head.absolute_form);
    EXPECT_EQ(head.version, 11u);
    EXPECT_EQ(head.framing, body_framing::none);
    EXPECT_TRUE(head.keep_alive);
    EXPECT_FALSE(head.expect_continue);
    EXPECT_EQ(head.host, "crm.example:8443");
    ASSERT_EQ(head.headers.size(), 3u);
    EXPECT_EQ(head.headers[1].name, "Accept");
    EXPECT_EQ(head.headers[1].value, "application/json");
    EXPECT_EQ(head.headers[2].value, "");
    // Views point into the caller's buffer, no copies.
    EXPECT_GE(head.headers[1].value.data(), raw.data());
    EXPECT_LT(head.headers[1].value.data(), raw.data() + raw.size());
}

TEST(RequestHead, ReadsALaterHttp1MinorVersionAsHttp11) {
    request_head out;
    ASSERT_FALSE(check(head_with({}, "GET /a HTTP/1.2"), out));
    EXPECT_EQ(out.version, 11u);
    EXPECT_TRUE(out.keep_alive);
    ASSERT_FALSE(check(head_with({}, "GET /a HTTP/1.9"), out));
    EXPECT_EQ(out.version, 11u);
    EXPECT_EQ(check(head_with({}, "GET /a HTTP/2.1"), out),
              make_error_code(request_error::unsupported_version));
}

TEST(RequestHead, ReportsContentLengthFraming) {
    request_head head;
    ASSERT_FALSE(check(head_with({"Content-Length:  42 "}, "POST /a HTTP/1.1"), head));
    EXPECT_EQ(head.framing, body_framing::content_length);
    EXPECT_EQ(head.content_length, 42u);
    ASSERT_FALSE(check(head_with({"Content-Length: 18446744073709551615"}), head));
    EXPECT_EQ(head.content_length, 18446744073709551615u);
    ASSERT_FALSE(check(head_with({"Content-Length: 0"}), head));
    EXPECT_EQ(head.framing, body_framing::content_length);
    EXPECT_EQ(head.content_length, 0u);
}

TEST(RequestHead, ReportsChunkedFramingCaseInsensitively) {
    request_head head;
    ASSERT_FALSE(check(head_with({"transfer-encoding: Chunked"}, "POST /a HTTP/1.1"), head));
    EXPECT_EQ(head.framing, body_framing::chunked);
    ASSERT_FALSE(check(head_with({"Transfer-Encoding: , chunked ,"}, "POST /a HTTP/1.1"), head));
    EXPECT_EQ(head.framing, body_framing::chunked);
}

TEST(RequestHead, DerivesKeepAliveFromVersionAndConnection) {
    request_head head;
    ASSERT_FALSE(check(head_with({"Connection: Keep-Alive, Close"}), head));
    EXPECT_FALSE(head.keep_alive);
    const auto http10 = head_with({}, "GET / HTTP/1.0", false);
    ASSERT_FALSE(check(http10, head));
    EXPECT_EQ(head.version, 10u);
    EXPECT_FALSE(head.keep_alive);
    EXPECT_EQ(head.host, "");
    ASSERT_FALSE(check(head_with({"Connection: keep-alive"}, "GET / HTTP/1.0", false), head));
    EXPECT_TRUE(head.keep_alive);
    ASSERT_FALSE(check(head_with({"Expect: 100-Continue"}), head));
    EXPECT_TRUE(head.expect_continue);
}

TEST(RequestHead, AcceptsObsTextAndHtabInValuesAndEmptyHost) {
    request_head head;
    EXPECT_FALSE(check(head_with({"X: caf\xc3\xa9\t\xff!"}), head));
    EXPECT_FALSE(check(head_with({"Host:"}, "GET / HTTP/1.1", false), head));
    EXPECT_FALSE(check(head_with({"Host: [::1]:8080"}, "GET / HTTP/1.1", false), head));
    EXPECT_FALSE(check(head_with({"Host: 192.0.2.1"}, "GET / HTTP/1.1", false), head));
    // A reg-name that starts like an IPv4 address.
    EXPECT_FALSE(check(head_with({"Host: 0.0.0.0=5000"}, "GET / HTTP/1.1", false), head));
    EXPECT_FALSE(check(head_with({"Host: crm%2Eexample:"}, "GET / HTTP/1.1", false), head));
}

TEST(RequestHead, ReducesAbsoluteFormForTheSameHost) {
    // head.target views the raw head: each raw head outlives the checks on it.
    request_head head;
    const auto plain = head_with({}, "GET http://CRM.example:80/a/b?c=d HTTP/1.1");
    ASSERT_FALSE(check(plain, head));
    EXPECT_TRUE(head.absolute_form);
    EXPECT_EQ(head.target, "/a/b?c=d");

    const auto https = head_with({}, "GET https://crm.example:443/x HTTP/1.1");
    ASSERT_FALSE(check(https, head));
    EXPECT_EQ(head.target, "/x");

    const auto no_path = head_with({}, "GET http://crm.example HTTP/1.1");
    ASSERT_FALSE(check(no_path, head));
    EXPECT_EQ(head.target, "/");

    const auto ipv6 = head_with({"Host: [::1]:8080"}, "GET http://[::1]:8080/x HTTP/1.1", false);
    ASSERT_FALSE(check(ipv6, head));
    EXPECT_EQ(head.target, "/x");
}

TEST(RequestHead, ClearsThePreviousResult) {
    request_head head;
    ASSERT_FALSE(check(head_with({"Content-Length: 5", "Connection: close"}), head));
    const auto capacity = head.headers.capacity();
    ASSERT_FALSE(check(head_with({}), head));
    EXPECT_EQ(head.framing, body_framing::none);
    EXPECT_TRUE(head.keep_alive);
    EXPECT_EQ(head.headers.size(), 1u);
    EXPECT_GE(head.headers.capacity(), capacity);
}

TEST(RequestHead, AcceptsAHeadExactlyAtTheLimit) {
    const auto raw = head_with({});
    request_head head;
    EXPECT_FALSE(check(raw, head, raw.size()));
    EXPECT_EQ(check(raw, head, raw.size() - 1), make_error_code(request_error::head_too_large));
}

TEST(RequestError, MapsToStatusesAndMessages) {
    for (auto e = static_cast<int>(request_error::bare_cr);
         e <= static_cast<int>(request_error::fragment_in_target); ++e) {
        const auto error = static_cast<request_error>(e);
        const boost::system::error_code ec = error;
        EXPECT_EQ(ec.category(), request_category());
        EXPECT_NE(ec.message(), "unknown request error") << e;
        const unsigned expected = error == request_error::head_too_large                ? 431
                                  : error == request_error::unsupported_transfer_coding ? 501
                                  : error == request_error::unsupported_version         ? 505
                                                                                        : 400;
        EXPECT_EQ(status_for(error), expected) << ec.message();
        EXPECT_EQ(status_for(ec), expected) << ec.message();
    }
    EXPECT_STREQ(request_category().name(), "exportwall.request");
    EXPECT_EQ(status_for(boost::system::error_code(5, boost::system::generic_category())), 400u);
}

// --- find_head_end ---------------------------------------------------------------------------

struct framed {
    const char* what;
    std::string buffer;
    std::size_t head_length;
};

std::vector<framed> framings() {
    return {
        {"CRLF head", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27},
        {"CRLF head with body", "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 38},
        {"no fields", "GET / HTTP/1.1\r\n\r\n", 18},
        {"LF LF", "GET / HTTP/1.1\nHost: a\n\n", 24},
        {"CRLF LF", "GET / HTTP/1.1\r\nHost: a\r\n\n", 26},
        {"LF CRLF", "GET / HTTP/1.1\nHost: a\n\r\n", 25},
        {"two pipelined heads", "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", 19},
    };
}

TEST(FindHeadEnd, FindsTheEndOfEachHeadForm) {
    for (const auto& f : framings()) {
        SCOPED_TRACE(f.what);
        EXPECT_EQ(find_head_end(f.buffer), f.head_length);
    }
}

TEST(FindHeadEnd, WaitsForAnIncompleteHead) {
    EXPECT_EQ(find_head_end(""), 0u);
    EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n"), 0u);
    EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r"), 0u);
    EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nX: a\rb\r\n"), 0u);
}

TEST(FindHeadEnd, FindsTheEndWhateverTheArrivalBoundaries) {
    for (const auto& f : framings()) {
        SCOPED_TRACE(f.what);
        // Two reads split at every byte.
        for (std::size_t split = 0; split <= f.buffer.size(); ++split) {
            const std::string_view first(f.buffer.data(), split);
            const auto early = find_head_end(first);
            if (split < f.head_length) {
                EXPECT_EQ(early, 0u) << split;
                EXPECT_EQ(find_head_end(f.buffer, split), f.head_length) << split;
            } else {
                EXPECT_EQ(early, f.head_length) << split;
            }
        }
        // One byte per read, resuming each time.
        std::size_t searched = 0;
        std::size_t found = 0;
        for (std::size_t size = 1; size <= f.buffer.size() && found == 0; ++size) {
            found = find_head_end(std::string_view(f.buffer.data(), size), searched);
            searched = size;
        }
        EXPECT_EQ(found, f.head_length);
    }
}

TEST(FindHeadEnd, HandsABareLfHeadToTheCheckForRefusal) {
    const std::string buffer = "GET / HTTP/1.1\nHost: a\n\nrest";
    const auto end = find_head_end(buffer);
    ASSERT_EQ(end, 24u);
    request_head head;
    EXPECT_EQ(check(std::string_view(buffer).substr(0, end), head),
              make_error_code(request_error::bare_lf));
}

}  // namespace
}  // namespace exportwall::proxy
