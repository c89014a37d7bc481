#include "proxy/http/target.hpp"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/http/request_head.hpp"

namespace exportwall::proxy {
namespace {

using namespace std::string_literals;

struct normalisation {
    std::string target;
    std::string path;  // expected path when it passes
    std::optional<request_error> refused;
};

normalisation ok(std::string target, std::string path) {
    return {std::move(target), std::move(path), std::nullopt};
}
normalisation no(std::string target, request_error e) { return {std::move(target), {}, e}; }

std::vector<normalisation> table() {
    using e = request_error;
    return {
        ok("/", "/"),
        ok("/exports/contacts", "/exports/contacts"),
        // dot segments, plain and encoded
        ok("/a/./b", "/a/b"),
        // a fragment is dropped, whatever it holds
        ok("/a#frag", "/a"),
        ok("/a#", "/a"),
        ok("/a#frag?not=query", "/a"),
        ok("/a#<>{}\"|^`", "/a"),
        ok("/a/b/../c", "/a/c"),
        ok("/a/..", "/"),
        ok("/a/b/.", "/a/b/"),
        ok("/a/b/..", "/a/"),
        ok("/a/%2e%2e/b", "/b"),
        ok("/a/%2E./b", "/b"),
        ok("/a/.%2e/b", "/b"),
        ok("/a/%2e/b", "/a/b"),
        ok("/a/...", "/a/..."),
        ok("/a/..b", "/a/..b"),
        no("/..", e::path_above_root),
        no("/../x", e::path_above_root),
        no("/a/../..", e::path_above_root),
        no("/%2e%2e", e::path_above_root),
        no("/%2e%2e/etc/passwd", e::path_above_root),
        no("/a/%2e%2e/%2e%2e/b", e::path_above_root),
        // empty segments
        ok("//a//b//", "/a/b/"),
        ok("//", "/"),
        ok("///a", "/a"),
        ok("/a//../b", "/b"),
        // path parameters
        no("/a/..;/b", e::path_parameter),
        no("/a;jsessionid=1/b", e::path_parameter),
        no("/a/b;", e::path_parameter),
        no("/a%3bx", e::path_parameter),
        no("/a%3Bx", e::path_parameter),
        // encoded separators and NUL
        no("/a%2fb", e::encoded_slash),
        no("/a%2Fb", e::encoded_slash),
        no("/a%2F..%2Fb", e::encoded_slash),
        no("/a%5cb", e::encoded_backslash),
        no("/a%5C..%5Cb", e::encoded_backslash),
        no("/a\\b", e::backslash_in_path),
        no("/a\\..\\b", e::backslash_in_path),
        no("/a%00", e::encoded_nul),
        no("/a%00.json", e::encoded_nul),
        // UTF-8 after decoding
        ok("/%c3%a9t%C3%A9", "/%C3%A9t%C3%A9"),
        ok("/%e2%82%ac", "/%E2%82%AC"),
        ok("/%f0%9f%98%80", "/%F0%9F%98%80"),
        no("/%c0%ae", e::invalid_utf8),
        no("/%c0%ae%c0%ae/x", e::invalid_utf8),
        no("/a/%c0%ae%c0%ae/%c0%ae%c0%ae/b", e::invalid_utf8),
        no("/%c1%bf", e::invalid_utf8),
        no("/%e0%80%ae", e::invalid_utf8),
        no("/%f0%80%80%ae", e::invalid_utf8),
        no("/%ed%a0%80", e::invalid_utf8),
        no("/%f4%90%80%80", e::invalid_utf8),
        no("/%f5%80%80%80", e::invalid_utf8),
        no("/%ff", e::invalid_utf8),
        no("/%80", e::invalid_utf8),
        no("/%c3", e::invalid_utf8),
        no("/%c3a", e::invalid_utf8),
        no("/%c3/%a9", e::invalid_utf8),
        // percent-encoding: unreserved decoded, the rest upper-cased
        ok("/%41", "/A"),
        ok("/%7e", "/~"),
        ok("/%7E%2D%5F%2E%30%7a", "/~-_.0z"),
        ok("/%3a", "/%3A"),
        ok("/%3A", "/%3A"),
        ok("/a%20b", "/a%20b"),
        ok("/%25", "/%25"),
        ok("/%2541", "/%2541"),
        ok("/%40%2b%2C", "/%40%2B%2C"),
        ok("/a!$&'()*+,=:@b", "/a!$&'()*+,=:@b"),
        no("/a%zz", e::invalid_percent_encoding),
        no("/a%", e::invalid_percent_encoding),
        no("/a%4", e::invalid_percent_encoding),
        no("/a%4g", e::invalid_percent_encoding),
        // control and other bytes
        no("/a%01", e::control_byte_in_target),
        no("/a%1f", e::control_byte_in_target),
        no("/a%7f", e::control_byte_in_target),
        no("/a%0d%0aX-Injected:%20y", e::control_byte_in_target),
        no("/a\x01"s, e::control_byte_in_target),
        no("/a b", e::control_byte_in_target),
        no("/\xc3\xa9", e::control_byte_in_target),
        no("/a|b", e::invalid_target),
        no("/a[b]", e::invalid_target),
        no("/a\"b", e::invalid_target),
        no("/a<b>", e::invalid_target),
        no("/a{b}", e::invalid_target),
        no("/a^b", e::invalid_target),
        no("/a`b", e::invalid_target),
        // target shape
        no("", e::invalid_target),
        no("a/b", e::invalid_target),
        no("*", e::invalid_target),
        no("http://crm.example/a", e::invalid_target),
        // the query is validated
        no("/a?b=%zz", e::invalid_percent_encoding),
        no("/a?b=%", e::invalid_percent_encoding),
        no("/a?b=%00", e::encoded_nul),
        no("/a?b=\x01"s, e::control_byte_in_target),
        no("/a?b=\xc3\xa9", e::control_byte_in_target),
        // method override through the query (Rails, Laravel, Symfony forms)
        no("/a?_method=DELETE", e::method_override),
        no("/a?x=1&_METHOD=PUT", e::method_override),
        no("/a?%5Fmethod=PUT", e::method_override),
        no("/a?_%6Dethod", e::method_override),
        no("/a?_method", e::method_override),
    };
}

TEST(NormaliseTarget, FollowsTheTable) {
    for (const auto& n : table()) {
        SCOPED_TRACE(n.target);
        normalised_target out;
        const auto ec = normalise_target(n.target, out);
        if (n.refused) {
            EXPECT_EQ(ec, make_error_code(*n.refused)) << ec.message();
        } else {
            ASSERT_FALSE(ec) << ec.message();
            EXPECT_EQ(out.path, n.path);
            EXPECT_FALSE(out.has_query);
        }
    }
}

TEST(NormaliseTarget, IsIdempotentOnWhatItAccepts) {
    for (const auto& n : table()) {
        if (n.refused) continue;
        SCOPED_TRACE(n.target);
        normalised_target once;
        normalised_target twice;
        ASSERT_FALSE(normalise_target(n.target, once));
        ASSERT_FALSE(normalise_target(once.path, twice));
        EXPECT_EQ(twice.path, once.path);
    }
}

TEST(NormaliseTarget, KeepsTheQueryAsReceived) {
    normalised_target out;
    ASSERT_FALSE(normalise_target("/a/../b?x=%2e%2e/../&y=%41&z=%3a", out));
    EXPECT_EQ(out.path, "/b");
    EXPECT_TRUE(out.has_query);
    EXPECT_EQ(out.query, "x=%2e%2e/../&y=%41&z=%3a");

    ASSERT_FALSE(normalise_target("/a?", out));
    EXPECT_EQ(out.path, "/a");
    EXPECT_TRUE(out.has_query);
    EXPECT_EQ(out.query, "");

    // Brackets and other visible ASCII that clients leave unencoded in queries are kept.
    ASSERT_FALSE(normalise_target("/contacts?filter[status]=open&q=a|b?c", out));
    EXPECT_EQ(out.path, "/contacts");
    EXPECT_EQ(out.query, "filter[status]=open&q=a|b?c");

    // Names that only resemble the method-override parameter.
    for (const char* target : {"/a?my_method=1", "/a?_methods=1", "/a?x=_method", "/a?_metho"}) {
        EXPECT_FALSE(normalise_target(target, out)) << target;
    }
}

TEST(NormaliseTarget, DropsAFragmentFromTheQueryToo) {
    normalised_target t;
    ASSERT_FALSE(normalise_target("/a?b=1#c=2&_method=DELETE", t));
    EXPECT_EQ(t.path, "/a");
    EXPECT_EQ(t.query, "b=1");
    EXPECT_EQ(normalise_target("#frag", t), make_error_code(request_error::invalid_target));
}

TEST(NormaliseTarget, OverwritesThePreviousResult) {
    normalised_target out;
    ASSERT_FALSE(normalise_target("/a/b?q=1", out));
    ASSERT_FALSE(normalise_target("/c", out));
    EXPECT_EQ(out.path, "/c");
    EXPECT_FALSE(out.has_query);
    EXPECT_EQ(out.query, "");
}

// The session's order: check the head, then normalise the target it reports.
boost::system::error_code check_then_normalise(const std::string& raw, normalised_target& out) {
    request_head head;
    if (auto ec = check_request_head(raw, 16 * 1024, head)) return ec;
    return normalise_target(head.target, out);
}

TEST(NormaliseTarget, NormalisesAbsoluteFormForTheSameHostOnly) {
    normalised_target out;
    ASSERT_FALSE(check_then_normalise(
        "GET http://crm.example/a/%2e%2e/b?q=1 HTTP/1.1\r\nHost: crm.example\r\n\r\n", out));
    EXPECT_EQ(out.path, "/b");
    EXPECT_EQ(out.query, "q=1");

    EXPECT_EQ(check_then_normalise(
                  "GET http://other.example/b HTTP/1.1\r\nHost: crm.example\r\n\r\n", out),
              make_error_code(request_error::absolute_form_other_host));
    EXPECT_EQ(check_then_normalise(
                  "GET http://crm.example/%2e%2e/b HTTP/1.1\r\nHost: crm.example\r\n\r\n", out),
              make_error_code(request_error::path_above_root));
}

}  // namespace
}  // namespace exportwall::proxy
