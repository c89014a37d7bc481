// The guards' shared support: ASCII case folding (common/ascii.hpp), the one every parser and the
// proxy's protocol comparisons use.

#include <gtest/gtest.h>

#include "common/ascii.hpp"
#include "config/query/guard_support.hpp"

namespace exportwall::config::query {
namespace {

static_assert(common::to_lower_ascii('Q') == 'q');
static_assert(common::to_lower_ascii('q') == 'q');
static_assert(common::iequals_ascii("SELECT", "select"));

TEST(AsciiCaseFolding, FoldsLettersOnly) {
    EXPECT_TRUE(iequals_ascii("Content-Type", "content-TYPE"));
    EXPECT_TRUE(iequals_ascii("", ""));
    EXPECT_FALSE(iequals_ascii("ab", "abc"));
    // A shortcut that ORs 0x20 into every byte would call these equal: they are different bytes.
    EXPECT_FALSE(iequals_ascii("@", "`"));
    EXPECT_FALSE(iequals_ascii("[", "{"));
    EXPECT_FALSE(iequals_ascii("gzip\x0d", "gzip-"));
}

TEST(AsciiCaseFolding, NeverFoldsBytesPastAscii) {
    // Latin-1 É and é, and UTF-8's: a locale could fold them; a protocol word never does.
    EXPECT_FALSE(iequals_ascii("\xC9", "\xE9"));
    EXPECT_FALSE(iequals_ascii("\xC3\x89", "\xC3\xA9"));
    EXPECT_TRUE(iequals_ascii("\xC3\xA9", "\xC3\xA9"));
}

}  // namespace
}  // namespace exportwall::config::query
