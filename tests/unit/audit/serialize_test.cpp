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
        ASSERT_FALSE(parse_line(second, parser, back)) << second;
        EXPECT_EQ(back.rule_id, "");
        EXPECT_EQ(back.legal_reference, "");
        EXPECT_EQ(back.shadow_decision, "");
        EXPECT_EQ(back.shadow_reason, "");
        EXPECT_TRUE(back.shadow_fields_stripped.empty());
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
    std::string refused;
    append_line(chained(test::sample_record(0), 1), refused);
    parser.reset();
    parser.write(refused.data(), refused.size() - 1);
    EXPECT_EQ(parser.release().get_object().size(), 29u);  // with rule_id and legal_reference
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
