#include "filters/json/json_key_set.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "filters/json/json_depth_scanner.hpp"

namespace exportwall::filters {
namespace {

TEST(JsonKeySet, RefusesARepeatedKeyInTheSameObjectOnly) {
    json_key_set keys;
    EXPECT_TRUE(keys.insert(1, "email"));
    EXPECT_TRUE(keys.insert(1, "id"));
    EXPECT_TRUE(keys.insert(2, "email"));
    EXPECT_FALSE(keys.insert(1, "email"));
    EXPECT_FALSE(keys.insert(2, "email"));
    EXPECT_TRUE(keys.insert(1, ""));
    EXPECT_FALSE(keys.insert(1, ""));
}

TEST(JsonKeySet, TruncateForgetsTheClosedObjectsKeys) {
    json_key_set keys;
    ASSERT_TRUE(keys.insert(1, "a"));
    const std::size_t mark = keys.mark();
    ASSERT_TRUE(keys.insert(2, "x"));
    ASSERT_TRUE(keys.insert(2, "y"));
    keys.truncate(mark);
    EXPECT_EQ(keys.bytes(), 1u);
    EXPECT_TRUE(keys.insert(2, "x"));
    EXPECT_FALSE(keys.insert(1, "a"));
}

TEST(JsonKeySet, ManyKeysStayConsistentThroughGrowthAndTruncation) {
    json_key_set keys;
    for (int i = 0; i < 20000; ++i) ASSERT_TRUE(keys.insert(7, "k" + std::to_string(i)));
    const std::size_t mark = keys.mark();
    for (int i = 0; i < 20000; ++i) ASSERT_TRUE(keys.insert(8, "k" + std::to_string(i)));
    for (int i = 0; i < 20000; i += 97) EXPECT_FALSE(keys.insert(8, "k" + std::to_string(i)));
    keys.truncate(mark);
    for (int i = 0; i < 20000; i += 13) {
        EXPECT_FALSE(keys.insert(7, "k" + std::to_string(i)));
        EXPECT_TRUE(keys.insert(9, "k" + std::to_string(i)));
    }
    keys.truncate(0);
    EXPECT_EQ(keys.bytes(), 0u);
    EXPECT_TRUE(keys.insert(7, "k1"));
}

TEST(JsonKeySet, ClearForgetsEverythingAtOnce) {
    json_key_set keys;
    for (int round = 0; round < 100; ++round) {
        for (int i = 0; i < 100; ++i) ASSERT_TRUE(keys.insert(1, "k" + std::to_string(i)));
        EXPECT_FALSE(keys.insert(1, "k42"));
        keys.clear();
        EXPECT_EQ(keys.bytes(), 0u);
    }
}

TEST(JsonDepthScanner, MarksContainersAtItsDepthIgnoringStrings) {
    const std::string doc = R"({"v":[{"s":"{[\"]}\\"},[1],{}],"w":{"x":{}}})";
    for (std::size_t cut = 0; cut <= doc.size(); ++cut) {
        json_depth_scanner scanner(3);
        std::vector<std::uint64_t> marks;
        scanner.scan(std::string_view(doc).substr(0, cut), 0, marks);
        scanner.scan(std::string_view(doc).substr(cut), cut, marks);
        const std::vector<std::uint64_t> expected{6, 21, 23, 25, 27, 28, 40, 41};
        EXPECT_EQ(marks, expected) << "cut at " << cut;
    }
}

TEST(JsonDepthScanner, LongStringsWithEscapesAtEveryAlignment) {
    for (std::size_t pad = 0; pad < 17; ++pad) {
        const std::string doc =
            "[{\"s\":\"" + std::string(pad, 'x') + "\\\\\\\"{[" + std::string(pad, 'y') + "\"},{}]";
        json_depth_scanner scanner(2);
        std::vector<std::uint64_t> marks;
        scanner.scan(doc, 100, marks);
        const std::vector<std::uint64_t> expected{101, 100 + doc.size() - 5, 100 + doc.size() - 3,
                                                  100 + doc.size() - 2};
        EXPECT_EQ(marks, expected) << doc;
    }
}

// Every block reader this build and CPU can run (AVX2 is skipped on a CPU without it).
std::vector<json_depth_scanner::kernel> kernels() {
    using k = json_depth_scanner::kernel;
    std::vector<k> ks;
    for (k each : {k::best, k::avx2, k::sse2, k::bytes}) {
        if (json_depth_scanner::supported(each)) ks.push_back(each);
    }
    return ks;
}

TEST(JsonDepthScanner, TheBestKernelIsOneThisCpuRuns) {
    EXPECT_TRUE(json_depth_scanner::supported(json_depth_scanner::kernel::best));
    EXPECT_TRUE(json_depth_scanner::supported(json_depth_scanner::kernel::bytes));
#if defined(__x86_64__)
    EXPECT_TRUE(json_depth_scanner::supported(json_depth_scanner::kernel::sse2));
    EXPECT_EQ(json_depth_scanner::supported(json_depth_scanner::kernel::avx2),
              __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul"));
#endif
}

// A plain reference: the scanner's contract, one byte at a time.
std::vector<std::uint64_t> reference_marks(std::string_view doc, std::size_t target) {
    std::vector<std::uint64_t> marks;
    std::size_t depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (std::size_t i = 0; i < doc.size(); ++i) {
        const char c = doc[i];
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth == target) marks.push_back(i);
        } else if (c == '}' || c == ']') {
            if (depth == target) marks.push_back(i);
            if (depth > 0) --depth;
        }
    }
    return marks;
}

TEST(JsonDepthScanner, AgreesWithAByteByByteScanAcrossBlocksAndCuts) {
    // Long documents dense in strings, escapes (runs of backslashes, escaped quotes) and
    // brackets, so 64-byte blocks start inside and outside strings, right after a backslash, and
    // with brackets on either side of a quote. Backslashes appear only inside strings, as in
    // every prefix the parser accepts; each document is also cut short at a random byte.
    std::mt19937 rng(7);
    const std::string outside = "{}[]{}[]yy ";
    const std::string inside = "{}[]yy";
    const std::string escapable = "\"\\{y";
    for (int round = 0; round < 400; ++round) {
        std::string doc;
        const std::size_t n = 64 + rng() % 700;
        while (doc.size() < n) {
            if (rng() % 3 != 0) {
                doc.push_back(outside[rng() % outside.size()]);
                continue;
            }
            doc.push_back('"');
            const std::size_t len = rng() % 20;
            for (std::size_t i = 0; i < len; ++i) {
                if (rng() % 3 == 0) {
                    doc.push_back('\\');
                    doc.push_back(escapable[rng() % escapable.size()]);
                } else {
                    doc.push_back(inside[rng() % inside.size()]);
                }
            }
            doc.push_back('"');
        }
        doc.resize(doc.size() - rng() % 8);
        for (std::size_t target : {1U, 2U, 3U}) {
            const auto expected = reference_marks(doc, target);
            const std::size_t cut = rng() % (doc.size() + 1);
            for (auto k : kernels()) {
                json_depth_scanner scanner(target, k);
                std::vector<std::uint64_t> marks;
                scanner.scan(std::string_view(doc).substr(0, cut), 0, marks);
                scanner.scan(std::string_view(doc).substr(cut), cut, marks);
                ASSERT_EQ(marks, expected) << "round " << round << " target " << target
                                           << " kernel " << static_cast<int>(k);
            }
        }
    }
}

}  // namespace
}  // namespace exportwall::filters
