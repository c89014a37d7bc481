#include "proxy/http/field_bytes.hpp"

#include <gtest/gtest.h>

#include <string>

namespace exportwall::proxy::field_bytes {
namespace {

// The rules of RFC 9110 written out a byte at a time, independently of field_bytes.hpp.
bool control(unsigned char u) { return u <= 0x08 || (u >= 0x0a && u <= 0x1f) || u == 0x7f; }
bool target_byte(unsigned char u) { return u >= 0x21 && u <= 0x7e; }
bool tchar(unsigned char u) {
    return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(u)) != std::string_view::npos;
}

TEST(FieldBytes, EachByteIsInTheClassesTheRfcPutsItIn) {
    for (int b = 0; b < 256; ++b) {
        const auto u = static_cast<unsigned char>(b);
        EXPECT_EQ(is_control(u), control(u)) << b;
        EXPECT_EQ(is_target_byte(u), target_byte(u)) << b;
        EXPECT_EQ(is_tchar(u), tchar(u)) << b;
    }
}

// Every byte value at every place of strings of every length around the sixteen-byte blocks,
// the rest of each string a byte every class accepts ('a'), and as the only byte: each check
// answers as its rule does for the one byte.
TEST(FieldBytes, EveryByteAtEveryPlaceOfEveryLengthIsJudgedByItsRule) {
    for (std::size_t n = 1; n <= 49; ++n) {
        for (std::size_t at = 0; at < n; ++at) {
            for (int b = 0; b < 256; ++b) {
                std::string s(n, 'a');
                s[at] = static_cast<char>(b);
                const auto u = static_cast<unsigned char>(b);
                ASSERT_EQ(has_control_byte(s), control(u)) << n << ' ' << at << ' ' << b;
                ASSERT_EQ(all_target_bytes(s), target_byte(u)) << n << ' ' << at << ' ' << b;
                ASSERT_EQ(is_token(s), tchar(u)) << n << ' ' << at << ' ' << b;
            }
        }
    }
    EXPECT_FALSE(is_token(""));
    EXPECT_FALSE(has_control_byte(""));
    EXPECT_TRUE(all_target_bytes(""));
}

// Field names as they come: letters, digits and '-' (the sixteen-byte path), and the other
// tchar in a block of their own.
TEST(FieldBytes, TakesTheNamesOfRealHeadsAndRefusesNearMisses) {
    for (std::string_view ok : {"Content-Type", "X-Export-Destination", "Accept-Encoding",
                                "x-ms-client-request-id-0123456789", "a!#$%&'*+-.^_`|~z0123456789"})
        EXPECT_TRUE(is_token(ok)) << ok;
    for (std::string_view bad : {"X-Export Destination", "X-Export-Destination:", "Content-Type\t",
                                 "X-Export-Destination\xc3\xa9", "(comment)", "a\"b",
                                 "0123456789abcdef/", "0123456789abcdef@"})
        EXPECT_FALSE(is_token(bad)) << bad;
}

}  // namespace
}  // namespace exportwall::proxy::field_bytes
