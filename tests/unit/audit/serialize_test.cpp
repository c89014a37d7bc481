#include "audit/serialize.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "audit/query.hpp"
#include "audit/record.hpp"
#include "common/random.hpp"

#include "tests/unit/audit/audit_test_support.hpp"

namespace exportwall::audit {
namespace {

using test::chained;

// The decision texts are the trail's format: each enum value has its own, parse_decision reads it
// back, and the query filter knows exactly these.
TEST(AuditDecision, HasOneTextPerValueThatReadsBack) {
    std::set<std::string_view> texts;
    for (std::size_t i = 0; i < decision_count; ++i) {
        const auto d = static_cast<decision>(i);
        const std::string_view text = to_string(d);
        EXPECT_TRUE(texts.insert(text).second) << text;
        EXPECT_EQ(parse_decision(text), d) << text;
    }
    EXPECT_EQ(to_string(decision::would_block), "would-block");
    EXPECT_EQ(to_string(decision::volume_alert_cleared), "volume_alert_cleared");
    EXPECT_FALSE(parse_decision("would_block").has_value());
    EXPECT_FALSE(parse_decision("").has_value());
    for (const auto text : texts) EXPECT_TRUE(is_known_decision(text)) << text;
    EXPECT_FALSE(is_known_decision("would_block"));
    EXPECT_FALSE(is_known_decision("Allowed"));
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

// A refusal that rests on a legal rule names it right after its reason; any other record has no
// rule members at all.
TEST(AuditSerialise, TheLegalRuleStandsAfterTheReasonOnlyWhenTheRecordNamesOne) {
    std::string blocked;
    append_line(chained(test::sample_record(0), 1), blocked);
    EXPECT_NE(blocked.find("\"reason\":\"third_party_direct_marketing\",\"rule_id\":\"R10\","
                           "\"legal_reference\":\"GDPR art. 6(1), art. 21; CNIL guidance on "
                           "partner transfers\",\"client\":"),
              std::string::npos)
        << blocked;
    for (int kind : {1, 2, 3}) {  // allowed, filtered, aborted with upstream_timeout
        std::string line;
        append_line(chained(test::sample_record(kind), 1), line);
        EXPECT_EQ(line.find("rule_id"), std::string::npos) << line;
        EXPECT_EQ(line.find("legal_reference"), std::string::npos) << line;
    }
    // The reference alone is not written: the members go together, keyed by rule_id.
    record orphan = chained(test::sample_record(3), 1);
    orphan.legal_reference = "GDPR art. 28(3)";
    std::string line;
    append_line(orphan, line);
    EXPECT_EQ(line.find("legal_reference"), std::string::npos) << line;
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
        EXPECT_EQ(back.fields_transformed, r.fields_transformed);
        EXPECT_EQ(back.transform_failed, r.transform_failed);
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

// A parser that cannot build any JSON object: parse_line succeeds with it only when the
// canonical reader read the line, and fails whenever it hands the line to Boost.JSON.
boost::json::parser canonical_only() {
    boost::json::parse_options o;
    o.max_depth = 0;
    return boost::json::parser({}, o);
}

record with_rule(std::string rule_id, std::string reference) {
    record r = test::sample_record(0);
    r.rule_id = std::move(rule_id);
    r.legal_reference = std::move(reference);
    return chained(std::move(r), 3);
}

void expect_same_rule(const record& back, const record& r) {
    EXPECT_EQ(back.reason, r.reason);
    EXPECT_EQ(back.rule_id, r.rule_id);
    EXPECT_EQ(back.legal_reference, r.legal_reference);
    EXPECT_EQ(back.client, r.client);
    EXPECT_EQ(back.hash, r.hash);
}

TEST(AuditSerialise, TheLegalRuleRoundTripsThroughTheCanonicalReader) {
    const record r = with_rule("R10", std::string(test::r10_reference));
    std::string line;
    append_line(r, line);
    line.pop_back();
    auto fast_only = canonical_only();
    record back;
    ASSERT_FALSE(parse_line(line, fast_only, back)) << line;
    expect_same_rule(back, r);
    std::string again;
    append_line(back, again);
    EXPECT_EQ(again, line + "\n");
    // A reader that ignored the members would hand the line on, and this parser refuses it.
    std::string spaced = line;
    spaced.replace(spaced.find("\"rule_id\":"), 10, "\"rule_id\" :");
    EXPECT_TRUE(parse_line(spaced, fast_only, back));
}

TEST(AuditSerialise, TheLegalRuleRoundTripsThroughTheJsonParser) {
    // Non-canonical spacing, and a reference beyond ASCII (the canonical reader leaves UTF-8 to
    // Boost.JSON): both take the DOM path, which must read the same members.
    const record ascii = with_rule("R10", std::string(test::r10_reference));
    std::string line;
    append_line(ascii, line);
    line.pop_back();
    std::string spaced = line;
    spaced.replace(spaced.find("\"legal_reference\":"), 18, "\"legal_reference\" : ");
    const record utf8 =
        with_rule("R1", "GDPR art. 6(1)(b); EDPB Guidelines 2/2019 \u00a72.4\u20132.5");
    std::string utf8_line;
    append_line(utf8, utf8_line);
    utf8_line.pop_back();
    const std::pair<std::string, const record*> cases[] = {{spaced, &ascii}, {utf8_line, &utf8}};
    for (const auto& [text, want] : cases) {
        auto fast_only = canonical_only();
        record back;
        ASSERT_TRUE(parse_line(text, fast_only, back)) << "not the DOM path: " << text;
        boost::json::parser parser;
        ASSERT_FALSE(parse_line(text, parser, back)) << text;
        expect_same_rule(back, *want);
        std::string again;
        append_line(back, again);
        std::string canonical;
        append_line(*want, canonical);
        EXPECT_EQ(again, canonical);
    }
}

// Readers reuse one record line after line: a line without the optional members must not keep
// the previous line's.
TEST(AuditSerialise, ALineWithoutOptionalMembersClearsThoseOfTheLastOne) {
    record with = with_rule("R10", std::string(test::r10_reference));
    with.shadow_decision = "blocked";
    with.shadow_reason = "purpose_not_granted";
    with.shadow_fields_stripped = {"email"};
    with.fields_transformed = {{"email", 4}};
    with.transform_failed = {{"birth_date", 1}};
    with = chained(with, 3);
    const record without = chained(test::sample_record(3), 4);
    std::string a, b;
    append_line(with, a);
    append_line(without, b);
    a.pop_back();
    b.pop_back();
    std::string b_spaced = b;
    b_spaced.replace(b_spaced.find("\"client\":"), 9, "\"client\" :");  // the DOM path
    for (const std::string& second : {b, b_spaced}) {
        boost::json::parser parser;
        record back;
        ASSERT_FALSE(parse_line(a, parser, back));
        ASSERT_EQ(back.rule_id, "R10");
        ASSERT_EQ(back.shadow_decision, "blocked");
        ASSERT_EQ(back.fields_transformed.size(), 1u);
        ASSERT_EQ(back.transform_failed.size(), 1u);
        ASSERT_FALSE(parse_line(second, parser, back)) << second;
        EXPECT_EQ(back.rule_id, "");
        EXPECT_EQ(back.legal_reference, "");
        EXPECT_EQ(back.shadow_decision, "");
        EXPECT_EQ(back.shadow_reason, "");
        EXPECT_TRUE(back.shadow_fields_stripped.empty());
        EXPECT_TRUE(back.fields_transformed.empty());
        EXPECT_TRUE(back.transform_failed.empty());
        std::string again;
        append_line(back, again);
        EXPECT_EQ(again, b + "\n");
    }
}

TEST(AuditSerialise, RejectsRuleMembersOutOfPlaceOrIncomplete) {
    std::string line;
    append_line(with_rule("R10", "GDPR art. 6(1)"), line);
    line.pop_back();
    const std::string members = ",\"rule_id\":\"R10\",\"legal_reference\":\"GDPR art. 6(1)\"";
    const auto at = line.find(members);
    ASSERT_NE(at, std::string::npos);
    const std::string without = line.substr(0, at) + line.substr(at + members.size());
    auto insert_before = [&](std::string_view key, const std::string& what) {
        std::string out = without;
        out.insert(out.find(std::string(",\"") + std::string(key) + "\":"), what);
        return out;
    };
    const std::string bad[] = {
        insert_before("client", ",\"rule_id\":\"R10\""),                         // no reference
        insert_before("client", ",\"legal_reference\":\"GDPR art. 6(1)\""),      // no rule id
        insert_before("client", ",\"rule_id\":\"\",\"legal_reference\":\"x\""),  // empty id
        insert_before("client",
                      ",\"legal_reference\":\"GDPR art. 6(1)\",\"rule_id\":\"R10\""),  // order
        insert_before("purpose", members),                                     // after client
        insert_before("client", ",\"rule_id\":10,\"legal_reference\":\"x\""),  // not a string
    };
    for (const auto& text : bad) {
        boost::json::parser parser;
        record back;
        EXPECT_TRUE(parse_line(text, parser, back)) << text;
        std::string spaced = text;  // and through the DOM path
        spaced.replace(spaced.find("\"seq\":"), 6, "\"seq\" :");
        EXPECT_TRUE(parse_line(spaced, parser, back)) << spaced;
    }
}

record with_transforms(std::map<std::string, std::uint64_t> transformed,
                       std::map<std::string, std::uint64_t> failed) {
    record r = test::sample_record(1);  // allowed, no other optional member
    r.fields_transformed = std::move(transformed);
    r.transform_failed = std::move(failed);
    return chained(std::move(r), 5);
}

// Transform counts stand right after fields_stripped, each only when not empty, keys in byte
// order like records_dropped.
TEST(AuditSerialise, TransformCountsStandAfterTheStrippedFieldsOnlyWhenNotEmpty) {
    std::string both;
    append_line(with_transforms({{"email", 8}, {"Zip", 2}, {"birth_date", 7}}, {{"birth_date", 1}}),
                both);
    EXPECT_NE(both.find("\"fields_stripped\":[],\"fields_transformed\":{\"Zip\":2,\"birth_date\":7,"
                        "\"email\":8},\"transform_failed\":{\"birth_date\":1},\"records_in\":10,"),
              std::string::npos)
        << both;
    std::string transformed_only;
    append_line(with_transforms({{"email", 8}}, {}), transformed_only);
    EXPECT_NE(transformed_only.find(
                  "\"fields_stripped\":[],\"fields_transformed\":{\"email\":8},\"records_in\":"),
              std::string::npos)
        << transformed_only;
    EXPECT_EQ(transformed_only.find("transform_failed"), std::string::npos);
    std::string failed_only;
    append_line(with_transforms({}, {{"email", 3}}), failed_only);
    EXPECT_NE(failed_only.find(
                  "\"fields_stripped\":[],\"transform_failed\":{\"email\":3},\"records_in\":"),
              std::string::npos)
        << failed_only;
    EXPECT_EQ(failed_only.find("fields_transformed"), std::string::npos);
    for (int kind : {0, 1, 3}) {  // no transform in these sample records
        std::string line;
        append_line(chained(test::sample_record(kind), 1), line);
        EXPECT_EQ(line.find("transform"), std::string::npos) << line;
    }
}

void expect_same_transforms(const record& back, const record& r) {
    EXPECT_EQ(back.fields_stripped, r.fields_stripped);
    EXPECT_EQ(back.fields_transformed, r.fields_transformed);
    EXPECT_EQ(back.transform_failed, r.transform_failed);
    EXPECT_EQ(back.records_in, r.records_in);
    EXPECT_EQ(back.hash, r.hash);
}

TEST(AuditSerialise, TransformCountsRoundTripThroughTheCanonicalReader) {
    const record cases[] = {
        with_transforms({{"birth_date", 7}, {"email", 8}}, {{"birth_date", 1}}),
        with_transforms({{"email", 8}}, {}),
        with_transforms({}, {{"email", 18446744073709551615ull}}),
    };
    for (const record& r : cases) {
        std::string line;
        append_line(r, line);
        line.pop_back();
        auto fast_only = canonical_only();
        record back;
        ASSERT_FALSE(parse_line(line, fast_only, back)) << line;
        expect_same_transforms(back, r);
        std::string again;
        append_line(back, again);
        EXPECT_EQ(again, line + "\n");
        // A reader that skipped the members would hand the line on, and this parser refuses it.
        std::string spaced = line;
        const auto key = spaced.find(r.fields_transformed.empty() ? "\"transform_failed\":"
                                                                  : "\"fields_transformed\":");
        ASSERT_NE(key, std::string::npos);
        spaced.insert(spaced.find(':', key), " ");
        EXPECT_TRUE(parse_line(spaced, fast_only, back)) << spaced;
    }
}

TEST(AuditSerialise, TransformCountsRoundTripThroughTheJsonParser) {
    // Non-canonical spacing, and a field name beyond ASCII (the canonical reader leaves UTF-8 to
    // Boost.JSON): both take the DOM path, which must read the same members.
    const record ascii = with_transforms({{"birth_date", 7}, {"email", 8}}, {{"birth_date", 1}});
    std::string line;
    append_line(ascii, line);
    line.pop_back();
    std::string spaced = line;
    spaced.replace(spaced.find("{\"birth_date\":7,"), 16, "{ \"birth_date\" : 7 ,");
    spaced.replace(spaced.find("\"transform_failed\":"), 19, "\"transform_failed\" : ");
    const record utf8 = with_transforms({{"stra\u00dfe", 2}}, {{"\u00e9t\u00e9", 1}});
    std::string utf8_line;
    append_line(utf8, utf8_line);
    utf8_line.pop_back();
    const std::pair<std::string, const record*> cases[] = {{spaced, &ascii}, {utf8_line, &utf8}};
    for (const auto& [text, want] : cases) {
        auto fast_only = canonical_only();
        record back;
        ASSERT_TRUE(parse_line(text, fast_only, back)) << "not the DOM path: " << text;
        boost::json::parser parser;
        ASSERT_FALSE(parse_line(text, parser, back)) << text;
        expect_same_transforms(back, *want);
        std::string again;
        append_line(back, again);
        std::string canonical;
        append_line(*want, canonical);
        EXPECT_EQ(again, canonical);
    }
}

TEST(AuditSerialise, RejectsTransformCountsOutOfPlaceEmptyOrOfTheWrongType) {
    std::string line;
    append_line(with_transforms({{"email", 8}}, {{"birth_date", 1}}), line);
    line.pop_back();
    const std::string transformed = ",\"fields_transformed\":{\"email\":8}";
    const std::string failed = ",\"transform_failed\":{\"birth_date\":1}";
    const auto at = line.find(transformed + failed);
    ASSERT_NE(at, std::string::npos);
    const std::string without =
        line.substr(0, at) + line.substr(at + transformed.size() + failed.size());
    auto insert_before = [&](std::string_view key, const std::string& what) {
        std::string out = without;
        out.insert(out.find(std::string(",\"") + std::string(key) + "\":"), what);
        return out;
    };
    // Each of these in its place reads (the fixture is sound).
    for (const auto& good :
         {insert_before("records_in", transformed + failed),
          insert_before("records_in", transformed), insert_before("records_in", failed)}) {
        boost::json::parser parser;
        record back;
        EXPECT_FALSE(parse_line(good, parser, back)) << good;
    }
    const std::string bad[] = {
        insert_before("records_in", failed + transformed),                   // order
        insert_before("fields_stripped", transformed),                       // before stripped
        insert_before("records_out", transformed),                           // after records_in
        insert_before("prev_hash", failed),                                  // at the end
        insert_before("records_in", ",\"fields_transformed\":{}"),           // empty
        insert_before("records_in", ",\"transform_failed\":{}"),             // empty
        insert_before("records_in", ",\"fields_transformed\":[\"email\"]"),  // a list
        insert_before("records_in", ",\"fields_transformed\":\"email\""),    // a string
        insert_before("records_in", ",\"fields_transformed\":null"),
        insert_before("records_in", ",\"fields_transformed\":{\"email\":\"8\"}"),  // count
        insert_before("records_in", ",\"fields_transformed\":{\"email\":-1}"),
        insert_before("records_in", ",\"fields_transformed\":{\"email\":1.5}"),
        insert_before("records_in", ",\"transform_failed\":{\"email\":true}"),
    };
    for (const auto& text : bad) {
        boost::json::parser parser;
        record back;
        EXPECT_TRUE(parse_line(text, parser, back)) << text;
        std::string spaced = text;  // and through the DOM path
        spaced.replace(spaced.find("\"seq\":"), 6, "\"seq\" :");
        EXPECT_TRUE(parse_line(spaced, parser, back)) << spaced;
    }
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
    EXPECT_EQ(v.get_object().size(), 28u);  // with fields_transformed
    std::string refused;
    append_line(chained(test::sample_record(0), 1), refused);
    parser.reset();
    parser.write(refused.data(), refused.size() - 1);
    EXPECT_EQ(parser.release().get_object().size(), 29u);  // with rule_id and legal_reference
    EXPECT_EQ(v.at("fields_stripped").as_array().size(), 1u);
    EXPECT_EQ(v.at("records_dropped").as_object().size(), 2u);
    EXPECT_EQ(v.at("fields_transformed").as_object().size(), 2u);
    EXPECT_EQ(line.find("MARKER"), std::string::npos);
}

// The chain hashes these bytes: a record holding every member, with strings that take each kind
// of escape, written byte for byte as the trail has always written it. A change to how a line is
// assembled that moved one byte would break every chain verified against records written before
// it; this pins the bytes, not the parse.
TEST(AuditSerialise, TheCanonicalBytesOfARecordWithEveryMemberStayAsTheyWere) {
    record r;
    r.seq = 18446744073709551615ull;
    r.id = "0123456789abcdef0123456789abcdef";
    r.replica = "exportwall-0";
    r.time = "2026-12-07T15:30:00.123Z";
    r.mode = "enforce";
    r.decision = "blocked";
    r.reason = "third_party_direct_marketing";
    r.rule_id = "R10";
    r.legal_reference = std::string(test::r10_reference);
    r.client = "a\"b\\c/d";
    r.purpose = std::string("tab\there\nnl\x01\x1f\x7f", 14);
    r.basis = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";  // é € 😀: kept as they are
    r.destination = "bad \xff\xc3 utf8 \xed\xa0\x80";       // each stray byte a U+FFFD
    r.destination_kind = "third-party";
    r.route = "";
    r.method = "GET";
    r.path = "/api/data/v9.2/contacts?$select&$filter";
    r.status = 403;
    r.fields_requested = {"id", "email", "\b\f\r"};
    r.fields_stripped = {};
    r.fields_transformed = {{"birth_date", 8}, {"email", 0}};
    r.transform_failed = {{"birth_date", 1}};
    r.records_in = 0;
    r.records_out = 12345678901234ull;
    r.records_dropped = {{"no_consent", 3}, {"objected", 1}};
    r.subject_keys = 7;
    r.subject_index = std::string(64, 'e');
    r.bytes_in = 1;
    r.bytes_out = 0;
    r.duration_ms = 12.3456;
    r.remote = "[::1]:51234";
    r.via = "127.0.0.1:443";
    r.trace_id = std::string(32, 'a');
    r.policy_revision = std::string(64, 'b');
    r.volume_hour = "2026-12-07T15:00:00Z";
    r.volume_records = 100000;
    r.volume_threshold = 50000;
    r.volume_bound = "ceiling";
    r.volume_median = 0;
    r.volume_action = "refuse";
    r.shadow_decision = "filtered";
    r.shadow_reason = "";
    r.shadow_fields_stripped = {"iban", "phone"};
    r.policy_trigger = "sighup";
    r.policy_files = {{"/etc/exportwall/b.xml", std::string(64, 'c')},
                      {"/etc/exportwall/a.xml", std::string(64, 'd')}};
    r.suppression_lists = {};
    r.checkpoint_seq = 41;
    r.checkpoint_hash = std::string(64, 'f');
    r.checkpoint_key_id = "key-1";
    r.checkpoint_signature = "00ff";
    r.prev_hash = std::string(64, '0');
    r.hash = std::string(64, '9');
    const std::string expected =
        R"({"seq":18446744073709551615,"id":"0123456789abcdef0123456789abcdef",)"
        R"("replica":"exportwall-0","time":"2026-12-07T15:30:00.123Z","mode":"enforce",)"
        R"("decision":"blocked","reason":"third_party_direct_marketing","rule_id":"R10",)"
        R"("legal_reference":"GDPR art. 6(1), art. 21; CNIL guidance on partner transfers",)"
        R"("client":"a\"b\\c/d","purpose":"tab\there\nnl\u0001\u001f)"
        "\x7f"
        R"(","basis":")"
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"
        R"(","destination":"bad )"
        "\xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
        R"(","destination_kind":"third-party","route":"","method":"GET",)"
        R"("path":"/api/data/v9.2/contacts?$select&$filter","status":403,)"
        R"("fields_requested":["id","email","\b\f\r"],"fields_stripped":[],)"
        R"("fields_transformed":{"birth_date":8,"email":0},"transform_failed":{"birth_date":1},)"
        R"("records_in":0,"records_out":12345678901234,)"
        R"("records_dropped":{"no_consent":3,"objected":1},"subject_keys":7,)"
        R"("subject_index":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",)"
        R"("bytes_in":1,"bytes_out":0,"duration_ms":12.346,"remote":"[::1]:51234",)"
        R"("via":"127.0.0.1:443","trace_id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",)"
        R"("policy_revision":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",)"
        R"("volume_hour":"2026-12-07T15:00:00Z","volume_records":100000,)"
        R"("volume_threshold":50000,"volume_bound":"ceiling","volume_median":0,)"
        R"("volume_action":"refuse","shadow_decision":"filtered","shadow_reason":"",)"
        R"("shadow_fields_stripped":["iban","phone"],"policy_trigger":"sighup",)"
        R"("policy_files":{"/etc/exportwall/a.xml":"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",)"
        R"("/etc/exportwall/b.xml":"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"},)"
        R"("suppression_lists":{},"checkpoint_seq":41,)"
        R"("checkpoint_hash":"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",)"
        R"("checkpoint_key_id":"key-1","checkpoint_signature":"00ff",)"
        R"("prev_hash":"0000000000000000000000000000000000000000000000000000000000000000"})";
    std::string canonical = "kept";  // appended to, never replaced
    append_canonical(r, canonical);
    EXPECT_EQ(canonical, "kept" + expected);
    std::string line;
    append_line(r, line);
    EXPECT_EQ(line, expected.substr(0, expected.size() - 1) + R"(,"hash":")" + r.hash + "\"}\n");
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

// Record ids come from a per-thread pool of random bytes (common/random.hpp): 10,000 ids cross
// 40 refills of it; none repeats, within a thread or across two, and each is 32 hex digits.
TEST(AuditRecordId, IsThirtyTwoHexDigitsAndNeverRepeatsAcrossPoolRefillsAndThreads) {
    auto draw = [](std::vector<std::string>& out) {
        for (int i = 0; i < 5000; ++i) out.push_back(new_record_id());
    };
    std::vector<std::string> a;
    std::vector<std::string> b;
    std::thread other([&] { draw(b); });
    draw(a);
    other.join();
    std::set<std::string> seen;
    for (const auto* ids : {&a, &b}) {
        for (const auto& id : *ids) {
            ASSERT_EQ(id.size(), 32U);
            ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
            EXPECT_TRUE(seen.insert(id).second) << "repeated id " << id;
        }
    }
    EXPECT_EQ(seen.size(), 10000U);
}

TEST(RandomBytes, PooledAndLargeDrawsDiffer) {
    std::set<std::string> seen;
    for (int i = 0; i < 2000; ++i) {
        std::string bytes(12, '\0');
        ASSERT_TRUE(
            common::random_bytes(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size()));
        EXPECT_TRUE(seen.insert(bytes).second);
    }
    std::string large_a(100, '\0');
    std::string large_b(100, '\0');
    ASSERT_TRUE(common::random_bytes(reinterpret_cast<unsigned char*>(large_a.data()), 100));
    ASSERT_TRUE(common::random_bytes(reinterpret_cast<unsigned char*>(large_b.data()), 100));
    EXPECT_NE(large_a, large_b);
    EXPECT_NE(large_a, std::string(100, '\0'));
}

}  // namespace
}  // namespace exportwall::audit
