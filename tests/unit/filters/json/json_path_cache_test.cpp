// The JSON filter decides each path inside a record once and replays the decision for later
// records (json_filter.cpp, path_table). These tests check that a warm filter behaves exactly as
// a fresh one would on every record: same output, same counters, same refusals, whatever order,
// shape or number of members earlier records had.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "filters/json/json_filter.hpp"
#include "tests/unit/filters/json/json_test_support.hpp"

namespace exportwall::filters {
namespace {

using testing::fields;
using testing::run_every_chunking;
using testing::run_whole;

boost::system::error_code err(filter_error e) { return make_error_code(e); }

// Random records over a small vocabulary, so paths repeat with other member orders and other
// value kinds (a path is an object in one record, an array or a string in the next).
class record_maker {
  public:
    explicit record_maker(std::uint32_t seed) : rng_(seed) {}

    std::string record() { return object(0); }

  private:
    std::size_t pick(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }

    std::string object(int depth) {
        static const std::vector<std::string> keys = {
            "id",
            "email",
            "first_name",
            "consent",
            "address",
            "tags",
            "",
            "x.y",
            "email@OData.Community.Display.V1.FormattedValue",
            "@odata.etag",
            "a\\\"b",
            "\\u00e9t\\u00e9",
            "city",
            "name",
            "url",
            "next"};
        std::vector<std::string> chosen = keys;
        std::shuffle(chosen.begin(), chosen.end(), rng_);
        chosen.resize(1 + pick(depth == 0 ? 9 : 4));
        std::string s = "{";
        for (std::size_t i = 0; i < chosen.size(); ++i) {
            if (i != 0) s += ',';
            s += '"' + chosen[i] + "\":" + value(depth + 1);
        }
        return s + "}";
    }

    std::string array(int depth) {
        std::string s = "[";
        const std::size_t n = pick(4);
        for (std::size_t i = 0; i < n; ++i) {
            if (i != 0) s += ',';
            s += value(depth + 1);
        }
        return s + "]";
    }

    std::string value(int depth) {
        static const std::vector<std::string> scalars = {"1",
                                                         "-0.50e3",
                                                         "true",
                                                         "false",
                                                         "null",
                                                         "\"crm:1\"",
                                                         "\"x\\n\\u00e9\\\"\"",
                                                         "\"\"",
                                                         "\"true\"",
                                                         "12345678901234567890"};
        const std::size_t n = depth < 4 ? 12 : 10;
        const std::size_t k = pick(n);
        if (k == 10) return object(depth);
        if (k == 11) return array(depth);
        return scalars[k];
    }

    std::mt19937 rng_;
};

std::string inner(std::string_view out, std::string_view head, std::string_view tail) {
    EXPECT_EQ(out.substr(0, head.size()), head);
    EXPECT_GE(out.size(), head.size() + tail.size());
    if (out.size() < head.size() + tail.size()) return {};
    EXPECT_EQ(out.substr(out.size() - tail.size()), tail);
    return std::string(out.substr(head.size(), out.size() - head.size() - tail.size()));
}

void add_counts(std::map<std::string, std::uint64_t, std::less<>>& into,
                const std::map<std::string, std::uint64_t, std::less<>>& from) {
    for (const auto& [name, n] : from) into[name] += n;
}

std::vector<filter_spec> specs(body_format format) {
    std::vector<filter_spec> all;
    for (int variant = 0; variant < 3; ++variant) {
        filter_spec spec;
        spec.format = format;
        spec.records = format == body_format::json ? "/value" : "";
        spec.allowed = fields({"id", "email", "address.city", "tags.name", "x.y", "@odata.etag"});
        if (variant >= 1) {
            spec.rules.conditions.push_back(
                {"consent", condition_op::not_empty, {}, false, drop_reason::no_consent});
            spec.rules.conditions.push_back(
                {"address.city", condition_op::equals, {"x"}, true, drop_reason::condition});
        }
        if (variant == 2) spec.field_root = "address";
        if (format == body_format::ndjson) {
            spec.link_fields = {"/next", "/tags/1/url", "/address/url"};
            spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
                if (url.substr(0, 4) == "crm:") return "ew:" + std::string(url.substr(4));
                return std::nullopt;
            };
        }
        all.push_back(std::move(spec));
    }
    return all;
}

TEST(JsonPathCache, WarmFilterTreatsEveryRecordAsAFreshFilterWould) {
    record_maker make(11);
    std::vector<std::string> records;
    for (int i = 0; i < 300; ++i) records.push_back(make.record());
    int variant = 0;
    for (const filter_spec& spec : specs(body_format::json)) {
        std::string all_out;
        std::uint64_t kept = 0;
        std::map<std::string, std::uint64_t, std::less<>> stripped;
        std::string body = R"({"value":[)";
        for (std::size_t i = 0; i < records.size(); ++i) {
            if (i != 0) body += ',';
            body += records[i];
            auto alone = run_whole(spec, R"({"value":[)" + records[i] + "]}");
            ASSERT_FALSE(alone.error) << alone.error.message() << " in " << records[i];
            const std::string one = inner(alone.output, R"({"value":[)", "]}");
            if (!one.empty()) all_out += (all_out.empty() ? "" : ",") + one;
            kept += alone.counters.records_out;
            add_counts(stripped, alone.counters.stripped_fields);
        }
        body += "]}";
        auto warm = run_whole(spec, body);
        ASSERT_FALSE(warm.error) << warm.error.message();
        EXPECT_EQ(inner(warm.output, R"({"value":[)", "]}"), all_out) << "variant " << variant;
        EXPECT_EQ(warm.counters.records_out, kept);
        EXPECT_EQ(warm.counters.stripped_fields, stripped);
        ++variant;
    }
}

TEST(JsonPathCache, WarmNdjsonFilterTreatsEveryLineAsAFreshFilterWould) {
    record_maker make(12);
    std::vector<std::string> records;
    for (int i = 0; i < 300; ++i) records.push_back(make.record());
    for (const filter_spec& spec : specs(body_format::ndjson)) {
        std::string expected;
        std::string body;
        filter_counters sum;
        for (const std::string& r : records) {
            body += r + "\n";
            auto alone = run_whole(spec, r + "\n");
            ASSERT_FALSE(alone.error) << alone.error.message() << " in " << r;
            expected += alone.output;
            sum.records_out += alone.counters.records_out;
            sum.links_rewritten += alone.counters.links_rewritten;
            sum.links_removed += alone.counters.links_removed;
            add_counts(sum.stripped_fields, alone.counters.stripped_fields);
        }
        auto warm = run_whole(spec, body);
        ASSERT_FALSE(warm.error) << warm.error.message();
        EXPECT_EQ(warm.output, expected);
        EXPECT_EQ(warm.counters.records_out, sum.records_out);
        EXPECT_EQ(warm.counters.links_rewritten, sum.links_rewritten);
        EXPECT_EQ(warm.counters.links_removed, sum.links_removed);
        EXPECT_EQ(warm.counters.stripped_fields, sum.stripped_fields);
    }
}

TEST(JsonPathCache, RepeatedKeyIsRefusedWhateverOrderEarlierRecordsUsed) {
    filter_spec spec;
    spec.records = "/value";
    spec.allowed = fields({"a"});
    const std::string warm = R"({"a":1,"b":2,"c":{"d":1}},{"b":1,"a":2,"c":{"d":2}},)";
    for (const char* bad : {R"({"a":1,"a":2})", R"({"a":1,"b":2,"a":3})", R"({"b":1,"a":1,"b":2})",
                            R"({"c":{"d":1,"d":2}})", R"({"c":[{"d":1},{"d":1,"d":2}]})"}) {
        const std::string body = R"({"value":[)" + warm + bad + "]}";
        EXPECT_EQ(run_every_chunking(spec, body).error, err(filter_error::duplicate_key)) << bad;
    }
    // The same keys in sibling objects, or in one object after another, are not duplicates.
    EXPECT_FALSE(
        run_every_chunking(spec, R"({"value":[)" + warm + R"({"c":[{"d":1},{"d":1}],"a":1}]})")
            .error);
}

TEST(JsonPathCache, MorePathsThanTheCacheHoldsStillFilterAndRefuseDuplicates) {
    filter_spec spec;
    spec.records = "/value";
    spec.allowed = fields({"id", "k4999"});
    std::string body = R"({"value":[)";
    std::string expected = R"({"value":[)";
    for (int i = 0; i < 6000; ++i) {
        if (i != 0) {
            body += ',';
            expected += ',';
        }
        const std::string k = "k" + std::to_string(i);
        body += R"({"id":)" + std::to_string(i) + R"(,")" + k + R"(":{"v":1},"z":2})";
        expected += R"({"id":)" + std::to_string(i) +
                    (k == "k4999" ? std::string(R"(,"k4999":{"v":1})") : std::string()) + "}";
    }
    auto r = run_whole(spec, body + "]}");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, expected + "]}");
    EXPECT_EQ(r.counters.stripped_fields.at("z"), 6000u);
    // Past the table's bound, a repeated key is still refused.
    EXPECT_EQ(run_whole(spec, body + R"(,{"k5999":1,"q":{"x":1,"x":2}}]})").error,
              err(filter_error::duplicate_key));
    EXPECT_EQ(run_whole(spec, body + R"(,{"k6001":1,"k6001":2}]})").error,
              err(filter_error::duplicate_key));
}

TEST(JsonPathCache, StringsCopiedFromTheInputAndUnescapedOnesAgree) {
    // The same value raw and escaped: both leave as valid JSON for the same text.
    filter_spec spec;
    spec.records = "/value";
    spec.allowed = fields({"s"});
    auto r = run_every_chunking(spec, R"({"value":[{"s":"caf\u00e9 \"x\"\n"},{"s":"café"}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"value":[{"s":"café \"x\"\n"},{"s":"café"}]})");
}

}  // namespace
}  // namespace exportwall::filters
