// Query strings as written: percent-decoding and the walk over their pairs.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/selection.hpp"

namespace exportwall::config {
namespace {

TEST(QueryString, DecodesPercentEscapes) {
    std::string out;
    EXPECT_TRUE(percent_decode("a%20b+c%2f", out));
    EXPECT_EQ(out, "a b c/");
    EXPECT_FALSE(percent_decode("%", out));
    EXPECT_FALSE(percent_decode("%g0", out));
}

TEST(QueryString, WalksEveryNonEmptyPairInOrder) {
    std::vector<std::string> seen;
    for_each_query_pair("a=1&&b&c=&=x&d=4=5", [&](const raw_query_pair& p) {
        seen.push_back(std::string(p.name) + "|" + std::string(p.value) + "|" +
                       (p.has_value ? "v" : "-"));
        return true;
    });
    EXPECT_EQ(seen, (std::vector<std::string>{"a|1|v", "b||-", "c||v", "|x|v", "d|4=5|v"}));
}

TEST(QueryString, StopsWhenTheVisitorSaysSo) {
    int calls = 0;
    for_each_query_pair("a=1&b=2&c=3", [&](const raw_query_pair&) { return ++calls < 2; });
    EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace exportwall::config
