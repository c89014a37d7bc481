// Behaviour of the NDJSON filter: one JSON object per line, one record per line.

#include <gtest/gtest.h>

#include <string>

#include "filters/json/json_filter.hpp"
#include "tests/unit/filters/json/json_test_support.hpp"

namespace exportwall::filters {
namespace {

using testing::fields;
using testing::run_every_chunking;
using testing::run_whole;

boost::system::error_code err(filter_error e) { return make_error_code(e); }

filter_spec ndjson_spec(std::vector<std::string> allowed) {
    filter_spec spec;
    spec.format = body_format::ndjson;
    spec.allowed = fields(std::move(allowed));
    return spec;
}

TEST(NdjsonFilter, FiltersEachLineAndDropsRecordsByCondition) {
    filter_spec spec = ndjson_spec({"id", "email"});
    spec.rules.conditions.push_back(
        {"consent.email", condition_op::is_true, {}, false, drop_reason::no_consent});
    const std::string body =
        "{\"id\":1,\"email\":\"a@x\",\"iban\":\"BE71\",\"consent\":{\"email\":true}}\n"
        "\n"
        "   \t \n"
        "{\"id\":2,\"email\":\"b@x\",\"consent\":{\"email\":false}}\r\n"
        "\r\n"
        "  {\"consent\":{\"email\":\"yes\"},\"email\":\"c\\u00e9@x\",\"id\":3.0E0}  \r\n"
        "{\"id\":4,\"consent\":{\"email\":true}}";
    auto r = run_every_chunking(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "{\"id\":1,\"email\":\"a@x\"}\n"
              "{\"email\":\"c\xC3\xA9@x\",\"id\":3.0E0}\n"
              "{\"id\":4}\n");
    EXPECT_EQ(r.counters.records_in, 4u);
    EXPECT_EQ(r.counters.records_out, 3u);
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::no_consent)], 1u);
    EXPECT_EQ(r.counters.stripped_fields.at("consent"), 4u);
    EXPECT_EQ(r.counters.stripped_fields.at("iban"), 1u);
    EXPECT_EQ(r.counters.bytes_in, body.size());
    EXPECT_EQ(r.counters.bytes_out, r.output.size());
}

TEST(NdjsonFilter, EmptyBodyHasNoRecords) {
    auto r = run_whole(ndjson_spec({"id"}), "");
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.output, "");
    EXPECT_FALSE(run_every_chunking(ndjson_spec({"id"}), "\n\r\n \n").error);
}

TEST(NdjsonFilter, FieldRootAppliesInsideEachLine) {
    filter_spec spec = ndjson_spec({"id", "email"});
    spec.field_root = "properties";
    auto r = run_every_chunking(
        spec,
        "{\"id\":\"1\",\"properties\":{\"email\":\"e\",\"phone\":\"p\"},\"archived\":false}\n");
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, "{\"id\":\"1\",\"properties\":{\"email\":\"e\"}}\n");
}

TEST(NdjsonFilter, LineLongerThanTheLimitIsTooLarge) {
    const std::string line = R"({"id":1,"notes":"0123456789"})";
    filter_spec spec = ndjson_spec({"id"});
    spec.max_record_bytes = line.size();
    EXPECT_FALSE(run_every_chunking(spec, line + "\n" + line + "\n" + line).error);
    spec.max_record_bytes = line.size() - 1;
    EXPECT_EQ(run_every_chunking(spec, line + "\n").error, err(filter_error::record_too_large));
    EXPECT_EQ(run_every_chunking(spec, line).error, err(filter_error::record_too_large));
}

TEST(NdjsonFilter, EndlessLineIsRefusedWithoutBuffering) {
    filter_spec spec = ndjson_spec({"id"});
    spec.max_record_bytes = 4096;
    auto filter = make_ndjson_filter(spec);
    std::string out;
    boost::system::error_code ec;
    std::size_t fed = 0;
    const std::string chunk(1000, ' ');
    while (!ec && fed < 1'000'000) {
        ec = filter->feed(fed == 0 ? std::string("{\"id\":") + chunk : chunk, out);
        fed += chunk.size();
    }
    EXPECT_EQ(ec, err(filter_error::record_too_large));
    EXPECT_LE(fed, 5000u);
}

TEST(NdjsonFilter, LineThatIsNotOneObjectIsMalformed) {
    auto spec = ndjson_spec({"id"});
    for (const char* body :
         {"[1]\n", "42\n", "\"s\"\n", "null\n", "{\"id\":}\n", "{\"id\":1}{\"id\":2}\n",
          "{\"id\":1} x\n", "{\"id\":1\n{\"id\":2}\n", "{\"id\":1}\n[\n", "{\"a\":1,}\n"}) {
        EXPECT_EQ(run_every_chunking(spec, body).error, err(filter_error::malformed)) << body;
    }
}

TEST(NdjsonFilter, LastLineCutByTheEndOfTheBodyIsTruncated) {
    auto spec = ndjson_spec({"id"});
    EXPECT_EQ(run_every_chunking(spec, "{\"id\":1}\n{\"id\":").error, err(filter_error::truncated));
    EXPECT_EQ(run_every_chunking(spec, "{\"id\":1}\n{\"id\":1").error,
              err(filter_error::truncated));
}

TEST(NdjsonFilter, DuplicateKeysAndDepthAreRefused) {
    auto spec = ndjson_spec({"id"});
    EXPECT_EQ(run_every_chunking(spec, "{\"id\":1}\n{\"a\":{\"b\":1,\"b\":2}}\n").error,
              err(filter_error::duplicate_key));
    EXPECT_FALSE(run_every_chunking(spec, "{\"a\":1}\n{\"a\":1}\n").error);
    EXPECT_EQ(run_whole(spec, "{\"a\":" + std::string(100'000, '[')).error,
              err(filter_error::too_deep));
}

TEST(NdjsonFilter, LinkFieldsInsideALineAreRewritten) {
    filter_spec spec = ndjson_spec({"id"});
    spec.link_fields = {"/links/next", "/self"};
    spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
        if (url.substr(0, 4) == "crm:") return "ew:" + std::string(url.substr(4));
        return std::nullopt;
    };
    auto r = run_every_chunking(
        spec,
        "{\"id\":1,\"links\":{\"next\":\"crm:2\",\"prev\":\"crm:0\"},\"self\":\"other:1\"}\n"
        "{\"id\":2,\"links\":[\"crm:9\"]}\n");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, "{\"id\":1,\"links\":{\"next\":\"ew:2\"}}\n{\"id\":2}\n");
    EXPECT_EQ(r.counters.links_rewritten, 1u);
    EXPECT_EQ(r.counters.links_removed, 1u);
    EXPECT_EQ(r.counters.stripped_fields.at("links.prev"), 1u);
}

TEST(NdjsonFilter, MoreKeptRecordsThanAllowedAborts) {
    auto spec = ndjson_spec({"id"});
    spec.max_records = 2;
    EXPECT_FALSE(run_every_chunking(spec, "{\"id\":1}\n{\"id\":2}\n").error);
    EXPECT_EQ(run_every_chunking(spec, "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n").error,
              err(filter_error::record_limit_exceeded));
}

// The legal rules (strict: a missing field is unreadable too) and an exclusion configured for the
// purpose (not strict: a missing field passes it, a structure must not).
filter_spec ndjson_rules_spec(std::vector<std::string> allowed) {
    filter_spec spec = ndjson_spec(std::move(allowed));
    auto& c = spec.rules.conditions;
    c.push_back({"objection", condition_op::is_no, {}, false, drop_reason::objected, true});
    c.push_back({"consent.email", condition_op::is_true, {}, false, drop_reason::no_consent, true});
    c.push_back({"do_not_contact", condition_op::is_set, {}, true, drop_reason::condition});
    return spec;
}

const std::string unreadable_lines =
    "{\"id\":1,\"objection\":false,\"consent\":{\"email\":true}}\n"
    "{\"id\":2,\"objection\":[true],\"consent\":{\"email\":true}}\n"
    "{\"id\":3,\"objection\":{\"value\":true},\"consent\":{\"email\":true}}\n"
    "{\"id\":4,\"objection\":{},\"consent\":{\"email\":true}}\n"
    "{\"id\":5,\"objection\":[],\"consent\":{\"email\":true}}\n"
    "{\"id\":6,\"objection\":[false],\"consent\":{\"email\":true}}\n"
    "{\"id\":7,\"objection\":false,\"consent\":{\"email\":{\"value\":{\"v\":true}}}}\n"
    "{\"id\":8,\"consent\":{\"email\":true}}\n"
    "{\"id\":9,\"objection\":false,\"consent\":{\"email\":true},\"do_not_contact\":{\"v\":1}}\n"
    "{\"id\":10,\"objection\":false,\"consent\":{\"email\":true},\"do_not_contact\":[]}\n"
    "{\"id\":11,\"objection\":\"no\",\"consent\":{\"email\":[true]}}\n"
    "{\"id\":12,\"objection\":true,\"consent\":{\"email\":true}}\n";

void expect_unreadable_lines_dropped(const filter_spec& spec) {
    // Twice: the second time every path's plan is replayed from the path cache.
    auto r = run_every_chunking(spec, unreadable_lines + unreadable_lines);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.counters.records_in, 24u);
    EXPECT_EQ(r.counters.records_out, 2u);
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::condition_unreadable)], 20u);
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::objected)], 2u);
}

TEST(NdjsonFilter, StructureWhereARuleReadsAScalarDropsTheLine) {
    for (const auto& allowed :
         {std::vector<std::string>{"id"},
          std::vector<std::string>{"id", "objection", "consent", "do_not_contact"}}) {
        expect_unreadable_lines_dropped(ndjson_rules_spec(allowed));
    }
    auto r = run_every_chunking(ndjson_rules_spec({"id"}), unreadable_lines);
    EXPECT_EQ(r.output, "{\"id\":1}\n");
}

TEST(NdjsonFilter, StructureIsMarkedBesideALinkField) {
    // A link pointer makes every member of the line take the slow path.
    filter_spec spec = ndjson_rules_spec({"id"});
    spec.link_fields = {"/links/next", "/objection/next"};
    expect_unreadable_lines_dropped(spec);
}

TEST(NdjsonFilter, StructureUnderTheFieldRootIsMarked) {
    filter_spec spec = ndjson_spec({"id"});
    spec.field_root = "properties";
    spec.rules.conditions.push_back(
        {"do_not_contact", condition_op::is_set, {}, true, drop_reason::condition});
    auto r = run_every_chunking(spec,
                                "{\"id\":1,\"properties\":{\"do_not_contact\":false}}\n"
                                "{\"id\":2,\"properties\":{\"do_not_contact\":{\"value\":true}}}\n"
                                "{\"id\":3,\"properties\":{}}\n"
                                "{\"id\":4,\"properties\":{\"do_not_contact\":[true]}}\n");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, "{\"id\":1,\"properties\":{}}\n{\"id\":3,\"properties\":{}}\n");
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::condition_unreadable)], 2u);
}

TEST(NdjsonFilter, ListShapedSuppressionFieldIsCheckedValueByValue) {
    filter_spec spec = ndjson_spec({"id"});
    spec.rules.suppression_fields = {"email", "email.value"};
    spec.rules.suppressed = [](const record_fields& f) {
        for (const auto& [path, value] : f.values()) {
            if ((path == "email" || path == "email.value") && value == "b@y") return true;
        }
        return false;
    };
    auto r = run_every_chunking(spec,
                                "{\"id\":1,\"email\":[\"a@x\",\"b@y\"]}\n"
                                "{\"id\":2,\"email\":[{\"value\":\"b@y\",\"primary\":true}]}\n"
                                "{\"id\":3,\"email\":[{\"value\":\"a@x\",\"primary\":true}]}\n"
                                "{\"id\":4}\n"
                                "{\"id\":5,\"email\":\"a@x\"}\n");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, "{\"id\":3}\n{\"id\":5}\n");
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::suppressed)], 2u);
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::condition_unreadable)], 1u);
}

TEST(NdjsonFilter, StaysDeadAfterAnError) {
    auto filter = make_ndjson_filter(ndjson_spec({"id"}));
    std::string out;
    EXPECT_EQ(filter->feed("{\"id\":1}\n[]\n", out), err(filter_error::malformed));
    const std::string after = out;
    EXPECT_EQ(filter->feed("{\"id\":2}\n", out), err(filter_error::malformed));
    EXPECT_EQ(filter->finish(out), err(filter_error::malformed));
    EXPECT_EQ(out, after);
}

}  // namespace
}  // namespace exportwall::filters
