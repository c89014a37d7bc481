// Behaviour of the JSON filter: streaming, field decisions, record conditions, limits and
// refusals. Outputs are checked in every chunking unless the test is about one chunking.

#include <gtest/gtest.h>

#include <string>

#include <boost/json/parse.hpp>

#include "filters/json/json_filter.hpp"
#include "tests/unit/filters/json/json_test_support.hpp"

namespace exportwall::filters {
namespace {

using testing::fields;
using testing::run_chunks;
using testing::run_every_chunking;
using testing::run_whole;

boost::system::error_code err(filter_error e) { return make_error_code(e); }

std::size_t dropped(const filter_counters& c, drop_reason r) {
    return c.dropped[static_cast<std::size_t>(r)];
}

std::size_t stripped(const filter_counters& c, const std::string& name) {
    auto it = c.stripped_fields.find(name);
    return it == c.stripped_fields.end() ? 0 : it->second;
}

filter_spec value_spec(std::vector<std::string> allowed) {
    filter_spec spec;
    spec.format = body_format::json;
    spec.records = "/value";
    spec.allowed = fields(std::move(allowed));
    return spec;
}

// --- streaming -----------------------------------------------------------------------------

TEST(JsonFilter, EmitsEnvelopeAndEachRecordAsSoonAsTheyAreComplete) {
    auto filter = make_json_filter(value_spec({"id"}));
    std::string out;
    ASSERT_FALSE(filter->feed(R"({"@odata.context":"ctx","value":[{"id":"1","em)", out));
    EXPECT_EQ(out, R"({"@odata.context":"ctx","value":[)");
    ASSERT_FALSE(filter->feed(R"(ail":"a@x"},{"id":"2")", out));
    EXPECT_EQ(out, R"({"@odata.context":"ctx","value":[{"id":"1"})");
    ASSERT_FALSE(filter->feed(R"(}],"@odata.nextLink":null})", out));
    EXPECT_EQ(out,
              R"({"@odata.context":"ctx","value":[{"id":"1"},{"id":"2"}],"@odata.nextLink":null})");
    ASSERT_FALSE(filter->finish(out));
    EXPECT_EQ(filter->counters().bytes_out, out.size());
}

// The stripped names are reported when counters() is read (not after every feed): whenever it is
// read — between pieces, after progress(), after finish() — it counts every member stripped so
// far, for the JSON and the NDJSON filter, each path, behind make_filter's envelope hold too.
TEST(JsonFilter, StrippedFieldsAreCurrentWheneverCountersAreRead) {
    for (const bool ndjson : {false, true}) {
        for (const json_path path : {json_path::fast, json_path::basic_parser}) {
            for (const bool guarded : {false, true}) {
                SCOPED_TRACE(std::string(ndjson ? "ndjson" : "json") +
                             (path == json_path::fast ? " fast" : " basic_parser") +
                             (guarded ? " guarded" : ""));
                filter_spec spec = value_spec({"id"});
                if (ndjson) {
                    spec.format = body_format::ndjson;
                    spec.records.clear();
                }
                spec.strict_envelope = guarded;
                auto filter = guarded  ? make_filter(spec)
                              : ndjson ? make_ndjson_filter(spec, path)
                                       : make_json_filter(spec, path);
                const std::string first =
                    ndjson ? "{\"id\":1,\"email\":\"a\"}\n" : R"({"value":[{"id":1,"email":"a"})";
                const std::string second =
                    ndjson ? "{\"id\":2,\"phone\":\"p\"}\n" : R"(,{"id":2,"phone":"p"})";
                const std::string third =
                    ndjson ? "{\"id\":3,\"phone\":\"q\"}\n" : R"(,{"id":3,"phone":"q"}]})";
                std::string out;
                ASSERT_FALSE(filter->feed(first, out));
                EXPECT_EQ(stripped(filter->counters(), "email"), 1u);
                EXPECT_EQ(stripped(filter->counters(), "phone"), 0u);
                ASSERT_FALSE(filter->feed(second, out));
                EXPECT_EQ(filter->progress().records_out, 2u);
                EXPECT_EQ(stripped(filter->counters(), "phone"), 1u);
                EXPECT_EQ(filter->counters().records_out, 2u);
                ASSERT_FALSE(filter->feed(third, out));
                ASSERT_FALSE(filter->finish(out));
                const filter_counters& c = filter->counters();
                EXPECT_EQ(c.records_out, 3u);
                EXPECT_EQ(stripped(c, "email"), 1u);
                EXPECT_EQ(stripped(c, "phone"), 2u);
                EXPECT_EQ(c.stripped_fields.size(), 2u);
                EXPECT_EQ(filter->progress().records_out, 3u);
            }
        }
    }
}

TEST(JsonFilter, LargeExportStreamsRecordByRecord) {
    std::string body = R"({"value":[)";
    for (int i = 0; i < 2000; ++i) {
        if (i) body += ',';
        body += R"({"id":)" + std::to_string(i) + R"(,"notes":")" + std::string(200, 'x') + "\"}";
    }
    body += "]}";
    auto filter = make_json_filter(value_spec({"id"}));
    std::string out;
    std::size_t last = 0;
    for (std::size_t at = 0; at < body.size(); at += 4096) {
        ASSERT_FALSE(filter->feed(std::string_view(body).substr(at, 4096), out));
        if (at + 4096 < body.size()) {
            EXPECT_GT(out.size(), last) << "no output after input offset " << at;
        }
        last = out.size();
    }
    ASSERT_FALSE(filter->finish(out));
    EXPECT_EQ(filter->counters().records_out, 2000u);
    EXPECT_EQ(stripped(filter->counters(), "notes"), 2000u);
    EXPECT_EQ(out.substr(0, 30), R"({"value":[{"id":0},{"id":1},{")");
}

TEST(JsonFilter, StripsFieldSplitAcrossChunks) {
    auto r = run_every_chunking(value_spec({"id", "email"}),
                                R"({"value":[{"id":1,"iban":"BE71 0961 2345 6769","email":"e"}]})");
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, R"({"value":[{"id":1,"email":"e"}]})");
    EXPECT_EQ(stripped(r.counters, "iban"), 1u);
}

// --- values ----------------------------------------------------------------------------------

TEST(JsonFilter, StringsAreReescapedWithTheSameValue) {
    const std::string body =
        R"({"value":[{"s":"\u0001\u001f\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 é \u2028 \u0000 end",)"
        R"("k\u00e9y\n":"v"}]})";
    auto r = run_every_chunking(value_spec({"s", "k\xC3\xA9y\n"}), body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "{\"value\":[{\"s\":\"\\u0001\\u001f\\\"\\\\/\\b\\f\\n\\r\\t\xC3\xA9\xF0\x9F\x98\x80"
              " \xC3\xA9 \xE2\x80\xA8 \\u0000 end\",\"k\xC3\xA9y\\n\":\"v\"}]}");
    EXPECT_EQ(boost::json::parse(r.output), boost::json::parse(body));
}

TEST(JsonFilter, NumbersKeepTheirLexemes) {
    const std::string numbers =
        "[1.0E+2,-0,0e0,1E-7,123456789012345678901234567890,-9223372036854775809,"
        "18446744073709551615,0.1e+001,-1.5e-300,3]";
    auto r = run_every_chunking(value_spec({"n", "m"}),
                                R"({"value":[{"n":)" + numbers + R"(,"m":-12.50}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"value":[{"n":)" + numbers + R"(,"m":-12.50}]})");
}

TEST(JsonFilter, TopLevelNumberEnvelopeNeedsFinish) {
    auto filter = make_json_filter(value_spec({"id"}));
    std::string out;
    ASSERT_FALSE(filter->feed("12", out));
    ASSERT_FALSE(filter->feed("3.5", out));
    EXPECT_EQ(filter->finish(out), err(filter_error::records_not_found));
    EXPECT_EQ(out, "123.5");
}

// --- field decisions -------------------------------------------------------------------------

TEST(JsonFilter, AnnotationSiblingsFollowTheirField) {
    auto r = run_every_chunking(
        value_spec({"email"}),
        R"({"value":[{"email@OData.Community.Display.V1.FormattedValue":"E","email":"e",)"
        R"("phone":"p","phone@OData.Community.Display.V1.FormattedValue":"P","@odata.etag":"t",)"
        R"("email.secret":"s"}]})");
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output,
              R"({"value":[{"email@OData.Community.Display.V1.FormattedValue":"E","email":"e"}]})");
    EXPECT_EQ(stripped(r.counters, "phone@OData.Community.Display.V1.FormattedValue"), 1u);
    EXPECT_EQ(stripped(r.counters, "@odata.etag"), 1u);
    EXPECT_EQ(stripped(r.counters, "email.secret"), 1u);
}

TEST(JsonFilter, DescendsIntoObjectsAndArraysOfObjects) {
    auto r = run_every_chunking(
        value_spec({"address.city", "contacts.email", "tags"}),
        R"({"value":[{"address":{"street":"Main 1","city":"Gent","geo":{"lat":1}},)"
        R"("contacts":[{"email":"a","phone":"1"},"loose",{"phone":"2"},[{"email":"b"}]],)"
        R"("tags":["x",{"y":1}],"other":{"email":"no"}}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"value":[{"address":{"city":"Gent"},)"
                        R"("contacts":[{"email":"a"},{},[{"email":"b"}]],"tags":["x",{"y":1}]}]})");
    EXPECT_EQ(stripped(r.counters, "address.street"), 1u);
    EXPECT_EQ(stripped(r.counters, "address.geo"), 1u);
    EXPECT_EQ(stripped(r.counters, "contacts.phone"), 2u);
    EXPECT_EQ(stripped(r.counters, "contacts"), 1u);  // the loose string element
    EXPECT_EQ(stripped(r.counters, "other"), 1u);
}

TEST(JsonFilter, StrippedNamesAreBoundedWhateverTheUpstreamSends) {
    std::string body = R"({"value":[)";
    for (int i = 0; i < 1000; ++i) {
        body += (i ? "," : "") + std::string(R"({"id":1,"k)") + std::to_string(i) + R"(":0})";
    }
    body += "]}";
    auto r = run_whole(value_spec({"id"}), body);
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.counters.stripped_fields.size(), 257u);
    EXPECT_EQ(stripped(r.counters, "k0"), 1u);
    EXPECT_EQ(stripped(r.counters, "*"), 1000u - 256u);
}

TEST(JsonFilter, ScalarWhereAnObjectWasExpectedIsStripped) {
    auto r = run_every_chunking(value_spec({"address.city"}),
                                R"({"value":[{"address":"Main 1, Gent"},{"address":{}}]})");
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, R"({"value":[{},{"address":{}}]})");
    EXPECT_EQ(stripped(r.counters, "address"), 1u);
}

TEST(JsonFilter, StrippedFieldsAreCountedByNameNeverByValue) {
    auto r = run_whole(value_spec({"id"}),
                       R"({"value":[{"id":1,"secret":"hunter2"},{"id":2,"secret":"swordfish"}]})");
    ASSERT_FALSE(r.error);
    ASSERT_EQ(r.counters.stripped_fields.size(), 1u);
    EXPECT_EQ(stripped(r.counters, "secret"), 2u);
}

TEST(JsonFilter, FieldRootChecksOuterMembersByPlainName) {
    filter_spec spec;
    spec.records = "/data/items";
    spec.field_root = "fields.current";
    spec.allowed = fields({"id", "email"});
    auto r = run_every_chunking(
        spec, R"({"data":{"items":[{"id":7,"email":"outer","fields":{"current":)"
              R"({"email":"inner","id":"inner-id","iban":"x"},"previous":{"email":"old"}}}]}})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"data":{"items":[{"id":7,"email":"outer","fields":{"current":)"
                        R"({"email":"inner","id":"inner-id"}}}]}})");
    EXPECT_EQ(stripped(r.counters, "fields.previous"), 1u);
    EXPECT_EQ(stripped(r.counters, "iban"), 1u);
}

TEST(JsonFilter, RecordsPointerWithEscapedTokensAndIndices) {
    filter_spec spec;
    spec.records = "/a~1b/1/r~0s";
    spec.allowed = fields({"id"});
    auto r = run_every_chunking(
        spec, R"({"a/b":[{"r~s":[{"id":0,"x":0}]},{"r~s":[{"id":1,"x":1}]}],"r~s":[{"x":2}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"a/b":[{"r~s":[{"id":0,"x":0}]},{"r~s":[{"id":1}]}],"r~s":[{"x":2}]})");
    EXPECT_EQ(r.counters.records_in, 1u);
}

TEST(JsonFilter, TopLevelArrayHoldsTheRecords) {
    filter_spec spec;
    spec.records = "";
    spec.allowed = fields({"id"});
    auto r = run_every_chunking(spec, R"( [ {"id":1,"x":2} , {"id":2} ] )");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"([{"id":1},{"id":2}])");
    EXPECT_EQ(run_whole(spec, R"({"value":[]})").error, err(filter_error::records_not_found));
}

// --- record conditions -----------------------------------------------------------------------

constexpr std::string_view contacts = R"({"value":[
 {"id":1,"first_name":"Ann","lifecycle":"customer","consent":{"email":true},"quote_requested":true,"email":"ann@x","address":{"country":"BE"}},
 {"id":2,"first_name":"Bob","lifecycle":"supplier","consent":{"email":true},"quote_requested":true,"email":"bob@x","address":{"country":"BE"}},
 {"id":3,"first_name":"Cid","lifecycle":"customer","consent":{"email":false},"quote_requested":true,"email":"cid@x","address":{"country":"BE"}},
 {"id":4,"first_name":"Dee","lifecycle":"lead","quote_requested":true,"email":"dee@x","address":{"country":"BE"}},
 {"id":5,"first_name":"Eve","lifecycle":"lead","consent":{"email":"yes"},"objection":{"direct_marketing":"2024-05-01"},"quote_requested":true,"email":"eve@x","address":{"country":"BE"}},
 {"id":6,"first_name":"Fay","lifecycle":"lead","consent":{"email":1},"quote_requested":false,"email":"fay@x","address":{"country":"BE"}},
 {"id":7,"first_name":"Gus","lifecycle":"customer","consent":{"email":true},"quote_requested":true,"email":"Suppressed@x","address":{"country":"BE"}},
 {"address":{"country":"NL"},"email":"hal@x","quote_requested":true,"objection":{"direct_marketing":false},"consent":{"email":"true"},"lifecycle":"customer","first_name":"Hal","id":8},
 {"id":9,"first_name":"Ida","lifecycle":"customer","consent":{"email":true},"quote_requested":true,"email":"ida@x","address":{"country":"FR"}}
]})";

filter_spec contact_rules_spec() {
    filter_spec spec = value_spec({"id", "first_name"});
    auto& c = spec.rules.conditions;
    c.push_back({"lifecycle",
                 condition_op::in_set,
                 {"customer", "lead"},
                 false,
                 drop_reason::subject_not_allowed});
    c.push_back({"consent.email", condition_op::is_true, {}, false, drop_reason::no_consent});
    c.push_back(
        {"objection.direct_marketing", condition_op::is_set, {}, true, drop_reason::objected});
    c.push_back({"quote_requested",
                 condition_op::equals,
                 {"true"},
                 false,
                 drop_reason::no_request_evidence});
    c.push_back(
        {"address.country", condition_op::in_set, {"BE", "NL"}, false, drop_reason::condition});
    spec.rules.suppression_fields = {"email"};
    spec.rules.suppressed = [](const record_fields& f) {
        auto email = f.find("email");
        return email && *email == "Suppressed@x";
    };
    return spec;
}

TEST(JsonFilter, RecordConditionsDropAndCountByReason) {
    auto r = run_every_chunking(contact_rules_spec(), contacts);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"value":[{"id":1,"first_name":"Ann"},{"first_name":"Hal","id":8}]})");
    EXPECT_EQ(r.counters.records_in, 9u);
    EXPECT_EQ(r.counters.records_out, 2u);
    EXPECT_EQ(dropped(r.counters, drop_reason::subject_not_allowed), 1u);
    EXPECT_EQ(dropped(r.counters, drop_reason::no_consent), 2u);
    EXPECT_EQ(dropped(r.counters, drop_reason::objected), 1u);
    EXPECT_EQ(dropped(r.counters, drop_reason::no_request_evidence), 1u);
    EXPECT_EQ(dropped(r.counters, drop_reason::suppressed), 1u);
    EXPECT_EQ(dropped(r.counters, drop_reason::condition), 1u);
    EXPECT_EQ(r.output.find("consent"), std::string::npos);
}

TEST(JsonFilter, ConditionsSeeUnescapedStringsAndNumberLexemes) {
    filter_spec spec = value_spec({"id"});
    spec.rules.conditions.push_back(
        {"name", condition_op::equals, {"Z\xC3\xAB\n"}, false, drop_reason::condition});
    spec.rules.conditions.push_back(
        {"score", condition_op::equals, {"1.0E+2"}, false, drop_reason::condition});
    spec.rules.conditions.push_back(
        {"gone", condition_op::equals, {"null"}, false, drop_reason::condition});
    auto r = run_every_chunking(
        spec, R"({"value":[{"id":1,"name":"Z\u00eb\n","score":1.0E+2,"gone":null},)"
              R"({"id":2,"name":"Z\u00eb\n","score":100,"gone":null}]})");
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, R"({"value":[{"id":1}]})");
}

TEST(JsonFilter, FieldRootAppliesToConditionsToo) {
    filter_spec spec;
    spec.records = "/results";
    spec.field_root = "properties";
    spec.allowed = fields({"id"});
    spec.rules.conditions.push_back(
        {"consent", condition_op::is_true, {}, false, drop_reason::no_consent});
    spec.rules.conditions.push_back(
        {"archived", condition_op::equals, {"false"}, false, drop_reason::condition});
    auto r = run_every_chunking(
        spec,
        R"({"results":[{"id":"1","properties":{"consent":"true"},"archived":false},)"
        R"({"id":"2","properties":{"consent":"false"},"archived":false},)"
        R"({"id":"3","archived":false},{"id":"4","properties":{"consent":"true"},"archived":true}]})");
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, R"({"results":[{"id":"1","properties":{}}]})");
    EXPECT_EQ(dropped(r.counters, drop_reason::no_consent), 2u);
    EXPECT_EQ(dropped(r.counters, drop_reason::condition), 1u);
}

TEST(JsonFilter, MoreKeptRecordsThanAllowedAborts) {
    filter_spec spec = contact_rules_spec();
    spec.max_records = 2;
    EXPECT_FALSE(run_whole(spec, contacts).error);  // 2 kept, 7 dropped
    spec.max_records = 1;
    auto r = run_every_chunking(spec, contacts);
    EXPECT_EQ(r.error, err(filter_error::record_limit_exceeded));
    EXPECT_EQ(r.counters.records_out, 1u);
}

// --- limits ----------------------------------------------------------------------------------

TEST(JsonFilter, RecordSizeCountsRawBytesIncludingStrippedOnes) {
    const std::string record = R"({ "id" : 1 ,  "blob" : "0123456789" })";  // 38 raw bytes
    const std::string body = R"({"big envelope":")" + std::string(500, 'e') + R"(","value":[)" +
                             record + "," + record + "]}";
    filter_spec spec = value_spec({"id"});
    spec.max_record_bytes = record.size();
    auto ok = run_every_chunking(spec, body);
    ASSERT_FALSE(ok.error) << ok.error.message();
    EXPECT_EQ(ok.counters.records_out, 2u);
    spec.max_record_bytes = record.size() - 1;
    auto r = run_every_chunking(spec, body);
    EXPECT_EQ(r.error, err(filter_error::record_too_large));
}

TEST(JsonFilter, HugeRecordIsRefusedBeforeItIsBuffered) {
    // Kept (buffered) or stripped (only parsed), the record is refused once it passes the limit.
    for (const char* allowed : {"notes", "id"}) {
        filter_spec spec = value_spec({allowed});
        spec.max_record_bytes = 4096;
        auto filter = make_json_filter(spec);
        std::string out;
        ASSERT_FALSE(filter->feed(R"({"value":[{"notes":")", out));
        boost::system::error_code ec;
        std::size_t fed = 0;
        const std::string chunk(1000, 'n');
        while (!ec && fed < 1'000'000) {
            ec = filter->feed(chunk, out);
            fed += chunk.size();
        }
        EXPECT_EQ(ec, err(filter_error::record_too_large)) << allowed;
        EXPECT_LE(fed, 6000u) << allowed;
    }
}

TEST(JsonFilter, DepthBombIsRefusedEarly) {
    for (std::string prefix : {"", R"({"value":[{"a":)", R"({"envelope":)"}) {
        const std::string bomb = prefix + std::string(100'000, '[');
        auto filter = make_json_filter(value_spec({"a"}));
        std::string out;
        boost::system::error_code ec;
        std::size_t fed = 0;
        while (!ec && fed < bomb.size()) {
            ec = filter->feed(std::string_view(bomb).substr(fed, 4096), out);
            fed += 4096;
        }
        EXPECT_EQ(ec, err(filter_error::too_deep)) << prefix;
        EXPECT_EQ(fed, 4096u) << "refused in the first chunk";
        EXPECT_LE(out.size(), 100u);
    }
}

TEST(JsonFilter, DepthLimitIsExact) {
    filter_spec spec = value_spec({"a"});
    spec.max_depth = 3;
    EXPECT_FALSE(run_whole(spec, R"({"value":[{"a":1}]})").error);
    EXPECT_EQ(run_whole(spec, R"({"value":[{"a":{}}]})").error, err(filter_error::too_deep));
}

// --- refusals --------------------------------------------------------------------------------

TEST(JsonFilter, DuplicateKeysAreRefusedAnywhere) {
    auto spec = value_spec({"a"});
    for (const char* body :
         {R"({"value":[],"value":[]})", R"({"x":{"k":1,"k":2},"value":[]})",
          R"({"value":[{"a":1,"a":2}]})", R"({"value":[{"x":{"b":1,"b":1}}]})",
          R"({"value":[{"a":{"c":[{"d":1,"\u0064":2}]}}]})", R"({"value":[{"a":1,"\u0061":2}]})"}) {
        EXPECT_EQ(run_every_chunking(spec, body).error, err(filter_error::duplicate_key)) << body;
    }
    auto r = run_every_chunking(
        spec, R"({"a":{"a":1},"value":[{"a":{"a":1},"b":{"a":2}},{"a":3,"b":{"a":{"a":4}}}]})");
    EXPECT_FALSE(r.error) << "the same key in different objects is fine";
}

TEST(JsonFilter, EveryIncompleteDocumentIsTruncated) {
    const std::string body = R"({"value":[{"id":1,"s":"\u00e9x","n":-1.5e3}],"next":"u"})";
    auto spec = value_spec({"id", "s", "n"});
    for (std::size_t n = 0; n < body.size(); ++n) {
        auto r = run_whole(spec, body.substr(0, n));
        EXPECT_EQ(r.error, err(filter_error::truncated)) << "prefix of " << n << " bytes";
    }
    EXPECT_FALSE(run_whole(spec, body).error);
}

TEST(JsonFilter, TrailingDataIsMalformed) {
    auto spec = value_spec({"id"});
    EXPECT_FALSE(run_every_chunking(spec, "{\"value\":[]} \r\n\t ").error);
    for (const char* body :
         {R"({"value":[]} x)", R"({"value":[]}{})", R"({"value":[]}])", R"({"value":[]}, )"}) {
        EXPECT_EQ(run_every_chunking(spec, body).error, err(filter_error::malformed)) << body;
    }
}

TEST(JsonFilter, MissingOrMisshapenRecordsAreNotFound) {
    auto spec = value_spec({"id"});
    EXPECT_EQ(run_every_chunking(spec, R"({"values":[{"id":1}]})").error,
              err(filter_error::records_not_found));
    EXPECT_EQ(run_every_chunking(spec, R"({"value":{"id":1}})").error,
              err(filter_error::records_not_found));
    EXPECT_EQ(run_every_chunking(spec, R"({"value":null})").error,
              err(filter_error::records_not_found));
    EXPECT_EQ(run_every_chunking(spec, R"([{"value":[]}])").error,
              err(filter_error::records_not_found));
}

TEST(JsonFilter, RecordThatIsNotAnObjectIsMalformed) {
    auto spec = value_spec({"id"});
    for (const char* body : {R"({"value":[1]})", R"({"value":[{"id":1},[]]})",
                             R"({"value":[null]})", R"({"value":["s"]})"}) {
        EXPECT_EQ(run_every_chunking(spec, body).error, err(filter_error::malformed)) << body;
    }
}

TEST(JsonFilter, CommentsTrailingCommasAndBadUtf8AreMalformed) {
    auto spec = value_spec({"id"});
    for (std::string body :
         {std::string(R"({"value":[{"id":1},]})"), std::string(R"({"value":[] /* c */})"),
          std::string("{\"value\":[{\"id\":\"\xC3\x28\"}]}"),
          std::string("{\"value\":[{\"id\":\"\xED\xA0\x80\"}]}"),
          std::string("{\"value\":[{\"id\":\"a\x01\"}]}")}) {
        EXPECT_EQ(run_every_chunking(spec, body).error, err(filter_error::malformed)) << body;
    }
}

TEST(JsonFilter, StaysDeadAfterAnError) {
    auto filter = make_json_filter(value_spec({"id"}));
    std::string out;
    EXPECT_EQ(filter->feed(R"({"value":[{"id":1},2)", out), err(filter_error::malformed));
    const std::string after = out;
    EXPECT_EQ(filter->feed(R"(]})", out), err(filter_error::malformed));
    EXPECT_EQ(filter->finish(out), err(filter_error::malformed));
    EXPECT_EQ(out, after);
}

// --- links -----------------------------------------------------------------------------------

TEST(JsonFilter, LinkFieldsAreRewrittenOrRemoved) {
    filter_spec spec = value_spec({"id"});
    spec.link_fields = {"/next", "/links/prev", "/links/self", "/meta/0/href"};
    spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
        if (url.substr(0, 12) == "https://crm/") {
            return "https://ew/" + std::string(url.substr(12)) + "\"";
        }
        return std::nullopt;
    };
    auto r = run_every_chunking(
        spec, R"({"links":{"prev":"https://crm/p?a=1","self":"https://evil/x","first":"f"},)"
              R"("meta":[{"href":{"nested":"https://crm/x"}},{"href":"https://crm/1"}],)"
              R"("value":[{"id":1,"next":"https://crm/inside-record"}],"next":"https://crm/n"})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"links":{"prev":"https://ew/p?a=1\"","first":"f"},"meta":[{},)"
                        R"({"href":"https://crm/1"}],"value":[{"id":1}],"next":"https://ew/n\""})");
    EXPECT_EQ(r.counters.links_rewritten, 2u);
    EXPECT_EQ(r.counters.links_removed, 2u);
}

TEST(JsonFilter, OnlyCountAnnotationsPassBesideTheRecords) {
    // Dataverse's paging cookie names the first and last values of the page's sort column; an
    // undeclared link and @odata.context point at the CRM: only the count annotations pass.
    filter_spec spec = value_spec({"id"});
    spec.strict_envelope = true;
    auto r = run_every_chunking(
        spec,
        R"({"@odata.context":"c","@odata.count":2,"@Microsoft.Dynamics.CRM.totalrecordcount":2,)"
        R"("@Microsoft.Dynamics.CRM.fetchxmlpagingcookie":"<cookie><iban last=\"BE71\"/></cookie>",)"
        R"("@odata.deltaLink":"https://crm/x","@Microsoft.Dynamics.CRM.morerecords":true,)"
        R"("value":[{"id":1}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              R"({"@odata.count":2,"@Microsoft.Dynamics.CRM.totalrecordcount":2,)"
              R"("@Microsoft.Dynamics.CRM.morerecords":true,"value":[{"id":1}]})");
    EXPECT_EQ(stripped(r.counters, "(envelope)@odata.context"), 1u) << "the CRM's address left";
    EXPECT_EQ(stripped(r.counters, "(envelope)@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"), 1u);
    EXPECT_EQ(stripped(r.counters, "(envelope)@odata.deltaLink"), 1u);
}

TEST(JsonFilter, NonStringLinkIsRemoved) {
    filter_spec spec = value_spec({"id"});
    spec.link_fields = {"/next"};
    spec.rewrite_link = [](std::string_view) -> std::optional<std::string> { return "u"; };
    for (const char* link : {"{\"href\":\"x\"}", "[\"x\"]", "42", "null", "true"}) {
        auto r = run_every_chunking(spec, std::string(R"({"next":)") + link + R"(,"value":[]})");
        ASSERT_FALSE(r.error) << link;
        EXPECT_EQ(r.output, R"({"value":[]})") << link;
        EXPECT_EQ(r.counters.links_removed, 1u);
    }
}

// --- paging tokens and declared envelope metadata ----------------------------------------------

filter_spec envelope_spec() {
    filter_spec spec = value_spec({"id"});
    spec.strict_envelope = true;
    spec.token_fields = {"/paging/next/after"};
    spec.envelope_fields = {"/id", "/additional_data/pagination/start",
                            "/additional_data/pagination/more"};
    return spec;
}

TEST(JsonFilter, APagingTokenIsSealedAndDeclaredMetadataPassesAsWritten) {
    filter_spec spec = envelope_spec();
    spec.seal_token = [](std::string_view t) -> std::optional<std::string> {
        return "ew1.sealed-" + std::string(t);
    };
    auto r = run_every_chunking(
        spec, R"({"jsonrpc":"2.0","id":7,"additional_data":{"pagination":{"start":0,"more":true,)"
              R"("owner":"x@example.com"},"dropbox":"d@example.com"},)"
              R"("paging":{"next":{"after":"101","before":"99"}},"value":[{"id":1,"iban":"BE"}]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"id":7,"additional_data":{"pagination":{"start":0,"more":true}},)"
                        R"("paging":{"next":{"after":"ew1.sealed-101"}},"value":[{"id":1}]})");
    EXPECT_EQ(r.counters.links_rewritten, 1u);
    EXPECT_EQ(stripped(r.counters, "(envelope)jsonrpc"), 1u);
    EXPECT_EQ(stripped(r.counters, "(envelope)owner"), 1u);
    EXPECT_EQ(stripped(r.counters, "(envelope)dropbox"), 1u);
    // A cursor no route declares is not paging metadata: it is the CRM's token.
    EXPECT_EQ(stripped(r.counters, "(envelope)before"), 1u);
}

TEST(JsonFilter, APagingTokenThatCannotBeSealedIsRemoved) {
    filter_spec spec = envelope_spec();  // no seal_token
    auto r = run_every_chunking(spec, R"({"paging":{"next":{"after":"101"}},"value":[]})");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, R"({"paging":{"next":{}},"value":[]})");
    EXPECT_EQ(r.counters.links_removed, 1u);
    spec.seal_token = [](std::string_view) -> std::optional<std::string> { return "s"; };
    for (const char* token : {"101", "null", "true", "[\"101\"]"}) {
        auto n = run_every_chunking(
            spec, std::string(R"({"paging":{"next":{"after":)") + token + R"(}},"value":[]})");
        ASSERT_FALSE(n.error) << token;
        EXPECT_EQ(n.output, R"({"paging":{"next":{}},"value":[]})") << token;
        EXPECT_EQ(n.counters.links_removed, 1u) << token;
    }
    // Undeclared: stripped as any other envelope scalar, never passed.
    filter_spec plain = value_spec({"id"});
    plain.strict_envelope = true;
    plain.link_fields = {"/paging/next/link"};  // paging is walked, its other members stripped
    auto u = run_every_chunking(plain, R"({"paging":{"next":{"after":"101"}},"after":"9","value":[]})");
    ASSERT_FALSE(u.error) << u.error.message();
    EXPECT_FALSE(u.output.find("101") != std::string::npos) << u.output;
    EXPECT_FALSE(u.output.find("\"9\"") != std::string::npos) << u.output;
}

// A scalar where the way to the records, a link, a token or declared metadata goes on is none of
// them: stripped, never passed as written (a CRM cursor at "paging", a string at
// "additional_data").
TEST(JsonFilter, AScalarOnTheWayToADeclaredPointerIsStripped) {
    filter_spec spec = envelope_spec();
    spec.seal_token = [](std::string_view) -> std::optional<std::string> { return "s"; };
    for (const char* body : {R"({"paging":"NTI1Cg==","value":[]})",
                             R"({"paging":{"next":"NTI1Cg=="},"value":[]})",
                             R"({"additional_data":"NTI1Cg==","value":[]})",
                             R"({"additional_data":{"pagination":"NTI1Cg=="},"value":[]})"}) {
        auto r = run_every_chunking(spec, body);
        ASSERT_FALSE(r.error) << body << ": " << r.error.message();
        EXPECT_EQ(r.output.find("NTI1"), std::string::npos) << body << " -> " << r.output;
    }
}

// The fixed metadata names (count, offset, has_more …) are counts, positions and flags: a
// string under one of those names may be a cursor or a value, and is stripped.
TEST(JsonFilter, FixedMetadataNamesPassOnlyNumbersAndLiterals) {
    filter_spec spec = value_spec({"id"});
    spec.strict_envelope = true;
    auto r = run_every_chunking(
        spec, R"({"count":2,"has_more":true,"total":null,"offset":"itrLEAK/rec1",)"
              R"("page":{"n":1},"limit":"x@example.com","value":[]})");
    EXPECT_EQ(r.error, err(filter_error::records_not_found)) << "an object under a metadata name";
    auto s = run_every_chunking(
        spec, R"({"count":2,"has_more":true,"total":null,"offset":"itrLEAK/rec1",)"
              R"("limit":"x@example.com","value":[]})");
    ASSERT_FALSE(s.error) << s.error.message();
    EXPECT_EQ(s.output, R"({"count":2,"has_more":true,"total":null,"value":[]})");
    EXPECT_EQ(stripped(s.counters, "(envelope)offset"), 1u);
    EXPECT_EQ(stripped(s.counters, "(envelope)limit"), 1u);
}

TEST(JsonFilter, AContainerWhereMetadataIsDeclaredRefusesTheExport) {
    filter_spec spec = envelope_spec();
    for (const char* body :
         {R"({"id":{"email":"x@example.com"},"value":[]})",
          R"({"additional_data":{"pagination":{"start":[{"email":"x@example.com"}]}},"value":[]})"}) {
        auto r = run_every_chunking(spec, body);
        EXPECT_EQ(r.error, err(filter_error::records_not_found)) << body;
        EXPECT_EQ(r.output.find("x@example.com"), std::string::npos) << body;
    }
}

}  // namespace
}  // namespace exportwall::filters
