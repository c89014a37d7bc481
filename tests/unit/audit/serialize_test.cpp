#include "audit/serialize.hpp"

#include <gtest/gtest.h>

#include "tests/unit/audit/audit_test_support.hpp"

namespace exportwall::audit {
namespace {

record chained(record r, std::uint64_t seq) {
    r.seq = seq;
    r.prev_hash = std::string(genesis_hash);
    std::string canonical;
    append_canonical(r, canonical);
    chain_hasher h;
    r.hash = h.hash(r.prev_hash, canonical);
    return r;
}

TEST(AuditSerialise, KeysAppearInTheDesignOrder) {
    std::string line;
    append_line(chained(test::sample_record(2), 1), line);
    const char* keys[] = {"seq",
                          "id",
                          "time",
                          "mode",
                          "decision",
                          "reason",
                          "client",
                          "purpose",
                          "basis",
                          "destination",
                          "destination_kind",
                          "route",
                          "method",
                          "path",
                          "status",
                          "fields_requested",
                          "fields_stripped",
                          "records_in",
                          "records_out",
                          "records_dropped",
                          "bytes_in",
                          "bytes_out",
                          "duration_ms",
                          "remote",
                          "policy_revision",
                          "prev_hash",
                          "hash"};
    std::size_t pos = 0;
    for (const char* k : keys) {
        const auto found = line.find("\"" + std::string(k) + "\":", pos);
        ASSERT_NE(found, std::string::npos) << k;
        pos = found;
    }
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(AuditSerialise, CanonicalBytesAreTheLineWithoutItsHash) {
    const record r = chained(test::sample_record(3), 7);
    std::string canonical, line;
    append_canonical(r, canonical);
    append_line(r, line);
    const std::string expected_suffix = ",\"hash\":\"" + r.hash + "\"}\n";
    ASSERT_EQ(line.size(), canonical.size() + expected_suffix.size() - 1);
    EXPECT_EQ(line.substr(0, canonical.size() - 1) + "}", canonical);
    EXPECT_EQ(line.substr(canonical.size() - 1), expected_suffix);
    EXPECT_EQ(expected_suffix.size() - 1, hash_suffix_size);
}

TEST(AuditSerialise, ParsingReproducesTheCanonicalBytes) {
    for (int i = 0; i < 8; ++i) {
        record r = chained(test::sample_record(i), static_cast<std::uint64_t>(i + 1));
        r.path = "/p/\"quoted\"\\back\tslash\x01\xc3\xa9";
        r.duration_ms = 12.3456789 * i;
        std::string line;
        append_line(r, line);
        boost::json::parser parser;
        record back;
        ASSERT_FALSE(parse_line(std::string_view(line).substr(0, line.size() - 1), parser, back));
        std::string again;
        append_line(back, again);
        EXPECT_EQ(again, line);
        EXPECT_EQ(back.seq, r.seq);
        EXPECT_EQ(back.records_dropped, r.records_dropped);
        EXPECT_EQ(back.fields_stripped, r.fields_stripped);
    }
}

TEST(AuditSerialise, InvalidUtf8BecomesTheReplacementCharacterAndStillRoundTrips) {
    record r = chained(test::sample_record(1), 1);
    r.client = std::string("bad\xff\xfe utf8");
    std::string line;
    append_line(r, line);
    boost::json::parser parser;
    record back;
    ASSERT_FALSE(parse_line(std::string_view(line).substr(0, line.size() - 1), parser, back));
    EXPECT_EQ(back.client, "bad\xef\xbf\xbd\xef\xbf\xbd utf8");
    std::string again;
    append_line(back, again);
    EXPECT_EQ(again, line);
}

// parse_line reads the writer's own lines without building a JSON document, and hands anything
// else to the JSON parser: both ways must give the same record.
TEST(AuditSerialise, CanonicalAndOtherwiseWrittenLinesReadTheSame) {
    record r = chained(test::sample_record(2), 9);
    r.client = "c\"q\\b\n\x1f\xc3\xa9";
    r.fields_requested = {};
    r.records_dropped = {{"a", 1}, {"b\"", 2}};
    r.duration_ms = 0.125;
    std::string line;
    append_line(r, line);
    line.pop_back();
    boost::json::parser parser;
    record fast;
    ASSERT_FALSE(parse_line(line, parser, fast));
    std::string again;
    append_line(fast, again);
    EXPECT_EQ(again, line + "\n");
    EXPECT_EQ(fast.client, r.client);
    EXPECT_EQ(fast.records_dropped, r.records_dropped);
    EXPECT_TRUE(fast.fields_requested.empty());
    EXPECT_EQ(fast.duration_ms, 0.125);

    // The same record written with spaces, `\/`, `\u0041` and drop reasons out of order is not
    // canonical; it still parses (through Boost.JSON) to the same record.
    std::string spaced = line;
    const std::string drops = "{\"a\":1,\"b\\\"\":2}";
    ASSERT_NE(spaced.find(drops), std::string::npos);
    spaced.replace(spaced.find(drops), drops.size(), "{ \"b\\\"\" : 2 , \"a\" : 1 }");
    const auto route = spaced.find("\"route\":\"contacts\"");
    ASSERT_NE(route, std::string::npos);
    spaced.replace(route, 18, "\"route\" : \"cont\\u0061cts\"");
    const auto path = spaced.find("\"path\":\"/api");
    ASSERT_NE(path, std::string::npos);
    spaced.replace(path, 12, "\"path\":\"\\/api");
    record slow;
    ASSERT_FALSE(parse_line(spaced, parser, slow));
    std::string slow_line;
    append_line(slow, slow_line);
    EXPECT_EQ(slow_line, line + "\n");

    // Damage is still refused either way.
    for (std::string_view cut : {std::string_view(line).substr(0, line.size() - 1),
                                 std::string_view(line).substr(0, 40)}) {
        EXPECT_TRUE(parse_line(cut, parser, slow)) << cut;
    }
    std::string bad_hash = line;
    bad_hash[bad_hash.size() - 3] = 'X';
    EXPECT_TRUE(parse_line(bad_hash, parser, slow));
}

// Privacy: a line holds exactly the §3 members with the values given, and nothing else — so no
// value the proxy did not put in a record field can reach the trail.
TEST(AuditSerialise, ALineHoldsOnlyTheFieldsGiven) {
    record r = chained(test::sample_record(2), 1);
    std::string line;
    append_line(r, line);
    boost::json::parser parser;
    parser.write(line.data(), line.size() - 1);
    const auto v = parser.release();
    ASSERT_TRUE(v.is_object());
    EXPECT_EQ(v.get_object().size(), 27u);
    EXPECT_EQ(v.at("fields_stripped").as_array().size(), 1u);
    EXPECT_EQ(v.at("records_dropped").as_object().size(), 2u);
    EXPECT_EQ(line.find("MARKER"), std::string::npos);
}

TEST(AuditSerialise, RejectsLinesWithExtraOrMissingMembers) {
    std::string line;
    append_line(chained(test::sample_record(1), 1), line);
    line.pop_back();
    boost::json::parser parser;
    record back;
    std::string extra = line.substr(0, line.size() - 1) + ",\"value\":\"x\"}";
    EXPECT_TRUE(parse_line(extra, parser, back));
    const auto pos = line.find(",\"mode\"");
    std::string missing = line.substr(0, pos) + line.substr(line.find(",\"decision\""));
    EXPECT_TRUE(parse_line(missing, parser, back));
    EXPECT_TRUE(parse_line("not json", parser, back));
    EXPECT_FALSE(parse_line(line, parser, back));
}

}  // namespace
}  // namespace exportwall::audit
