// The JSON filter's fast path (filters/json/json_record_parser.hpp) against its reference
// (json_path::basic_parser: every byte through Boost.JSON). Contract: for every input and every
// chunking, the same output and counters, or both fail (with the same filter_error).
//
// First every JSONTestSuite and JSON_checker document as a member value inside the records of a
// page and of NDJSON lines, kept or stripped: stripped, the records after the first take the
// quiet skip (the plan is cached after the first record), and a first record holding a valid
// value of the document's kind lets even a malformed document be skipped quietly. Then targeted
// cases, each with its exact expected outcome on both paths.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/parse.hpp>

#include "filters/json/json_filter.hpp"
#include "tests/unit/filters/json/json_test_support.hpp"

namespace exportwall::filters {
namespace {

namespace fs = std::filesystem;
using boost::system::error_code;
using testing::fields;
using testing::read_file;

// The JSON filter parses its input in slices of this size (filters/json/json_filter.cpp).
constexpr std::size_t slice_bytes = 16 * 1024;

error_code err(filter_error e) { return make_error_code(e); }

struct path_run {
    std::string output;
    error_code error;
    filter_counters counters;
};

// A fresh filter for spec.format on `path`, fed `body` cut at `cuts` (sorted), then finish().
path_run run_path(const filter_spec& spec, json_path path, std::string_view body,
                  const std::vector<std::size_t>& cuts) {
    path_run r;
    auto filter = spec.format == body_format::ndjson ? make_ndjson_filter(spec, path)
                                                     : make_json_filter(spec, path);
    std::size_t at = 0;
    auto feed_to = [&](std::size_t end) {
        if (r.error || end <= at) return;
        r.error = filter->feed(body.substr(at, end - at), r.output);
        at = end;
    };
    for (std::size_t cut : cuts) feed_to(std::min(cut, body.size()));
    feed_to(body.size());
    if (!r.error) r.error = filter->finish(r.output);
    r.counters = filter->counters();
    return r;
}

std::string describe(const std::vector<std::size_t>& cuts) {
    if (cuts.empty()) return "whole body";
    std::string s = "cuts at";
    for (std::size_t i = 0; i < cuts.size() && i < 8; ++i) s += " " + std::to_string(cuts[i]);
    if (cuts.size() > 8) s += " ... (" + std::to_string(cuts.size()) + " cuts)";
    return s;
}

// Empty when the counters agree, else the first that differs.
std::string counters_difference(const filter_counters& a, const filter_counters& b) {
    if (a.records_in != b.records_in) return "records_in";
    if (a.records_out != b.records_out) return "records_out";
    if (a.dropped != b.dropped) return "dropped";
    if (a.nested_in != b.nested_in || a.nested_out != b.nested_out ||
        a.nested_discarded != b.nested_discarded) {
        return "nested counts";
    }
    if (a.stripped_fields != b.stripped_fields) return "stripped_fields";
    if (a.transformed_fields != b.transformed_fields) return "transformed_fields";
    if (a.transform_failed != b.transform_failed) return "transform_failed";
    if (a.bytes_in != b.bytes_in) return "bytes_in";
    if (a.bytes_out != b.bytes_out) return "bytes_out";
    if (a.links_rewritten != b.links_rewritten) return "links_rewritten";
    if (a.links_removed != b.links_removed) return "links_removed";
    return {};
}

// Runs both paths with the same chunking; ADD_FAILUREs (naming `label` and the cuts) where they
// disagree. Returns the reference's run.
path_run expect_agree(const filter_spec& spec, std::string_view body,
                      const std::vector<std::size_t>& cuts, const std::string& label) {
    path_run fast = run_path(spec, json_path::fast, body, cuts);
    path_run reference = run_path(spec, json_path::basic_parser, body, cuts);
    if (fast.error || reference.error) {
        if (fast.error != reference.error) {
            ADD_FAILURE() << label << ", " << describe(cuts) << ": fast path "
                          << (fast.error ? fast.error.message() : "passes") << ", basic_parser "
                          << (reference.error ? reference.error.message() : "passes");
        }
        return reference;
    }
    if (fast.output != reference.output) {
        ADD_FAILURE() << label << ", " << describe(cuts)
                      << ": output differs\n  fast:         " << fast.output
                      << "\n  basic_parser: " << reference.output;
    } else if (auto what = counters_difference(fast.counters, reference.counters); !what.empty()) {
        ADD_FAILURE() << label << ", " << describe(cuts) << ": counters differ (" << what << ")";
    }
    return reference;
}

// The chunkings of the targeted cases: the whole body, one byte at a time, and every two-piece
// split (of a body longer than 400 bytes, about 400 of them, evenly spread).
std::vector<std::vector<std::size_t>> every_chunking(std::size_t size) {
    std::vector<std::vector<std::size_t>> all{{}};
    std::vector<std::size_t> bytes;
    const std::size_t step = size / 400 + 1;
    for (std::size_t i = 1; i < size; ++i) {
        if (i % step == 0) all.push_back({i});
        bytes.push_back(i);
    }
    all.push_back(std::move(bytes));
    return all;
}

// Both paths, in every chunking, give `output` (and agree on the counters). Returns the
// reference's whole-body run.
path_run expect_output(const filter_spec& spec, std::string_view body, std::string_view output) {
    for (const auto& cuts : every_chunking(body.size())) {
        const path_run fast = run_path(spec, json_path::fast, body, cuts);
        const path_run reference = run_path(spec, json_path::basic_parser, body, cuts);
        for (const path_run* r : {&fast, &reference}) {
            const char* name = r == &fast ? "fast path" : "basic_parser";
            if (r->error) {
                ADD_FAILURE() << name << ", " << describe(cuts) << ": " << r->error.message()
                              << "\n  body: " << body;
                return reference;
            }
            if (r->output != output) {
                ADD_FAILURE() << name << ", " << describe(cuts) << ": output " << r->output
                              << "\n  expected " << output;
                return reference;
            }
        }
        if (auto what = counters_difference(fast.counters, reference.counters); !what.empty()) {
            ADD_FAILURE() << describe(cuts) << ": counters differ (" << what << ")";
            return reference;
        }
    }
    return run_path(spec, json_path::basic_parser, body, {});
}

// Both paths, in every chunking, fail with `e`.
void expect_refused(const filter_spec& spec, std::string_view body, filter_error e) {
    for (const auto& cuts : every_chunking(body.size())) {
        for (json_path path : {json_path::fast, json_path::basic_parser}) {
            const path_run r = run_path(spec, path, body, cuts);
            if (r.error != err(e)) {
                ADD_FAILURE() << (path == json_path::fast ? "fast path" : "basic_parser") << ", "
                              << describe(cuts) << ": " << (r.error ? r.error.message() : "passes")
                              << ", expected " << err(e).message() << "\n  body: " << body;
                return;
            }
        }
    }
}

filter_spec page_spec(std::vector<std::string> allowed, std::size_t max_depth = 64) {
    filter_spec spec;
    spec.format = body_format::json;
    spec.records = "/value";
    spec.allowed = fields(std::move(allowed));
    spec.max_depth = max_depth;
    return spec;
}

filter_spec lines_spec(std::vector<std::string> allowed, std::size_t max_depth = 64) {
    filter_spec spec = page_spec(std::move(allowed), max_depth);
    spec.format = body_format::ndjson;
    spec.records.clear();
    return spec;
}

std::string page(const std::vector<std::string>& records) {
    std::string s = R"({"value":[)";
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (i != 0) s += ',';
        s += records[i];
    }
    return s + "]}";
}

std::string lines(const std::vector<std::string>& records) {
    std::string s;
    for (const std::string& r : records) s += r + '\n';
    return s;
}

std::uint64_t stripped(const filter_counters& c, const std::string& name) {
    auto it = c.stripped_fields.find(name);
    return it == c.stripped_fields.end() ? 0 : it->second;
}

// A page and NDJSON lines of records {"id":"<n>","x":VALUE} (the first `primer` when given):
// with `x` stripped, every record after the first skips its `x` quietly. Expects both formats, on
// both paths and in every chunking, to fail with `error`, or to pass with records of only an id.
void expect_member_values(const std::string& primer, const std::vector<std::string>& values,
                          std::optional<filter_error> error) {
    std::vector<std::string> records;
    std::vector<std::string> kept;
    auto add = [&](const std::string& value) {
        const std::string id = std::to_string(records.size() + 1);
        records.push_back(R"({"id":")" + id + R"(","x":)" + value + "}");
        kept.push_back(R"({"id":")" + id + R"("})");
    };
    if (!primer.empty()) add(primer);
    for (const std::string& v : values) add(v);
    if (error) {
        expect_refused(page_spec({"id"}), page(records), *error);
        expect_refused(lines_spec({"id"}), lines(records), *error);
        return;
    }
    const path_run r = expect_output(page_spec({"id"}), page(records), page(kept));
    EXPECT_EQ(stripped(r.counters, "x"), records.size());
    const path_run l = expect_output(lines_spec({"id"}), lines(records), lines(kept));
    EXPECT_EQ(stripped(l.counters, "x"), records.size());
}

// --- (a) every conformance document as a member value ---------------------------------------

std::vector<fs::path> json_files(const fs::path& dir) {
    std::vector<fs::path> out;
    if (!fs::is_directory(dir)) return out;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() == ".json") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

// A small valid value of the kind json_record_parser sees at the document's first byte (as
// skip_quietly is asked), so that a record holding it first caches the plan for that kind; empty
// when the document starts with no value.
std::string primer_for(std::string_view doc) {
    const std::size_t at = doc.find_first_not_of(" \t\r\n");
    if (at == std::string_view::npos) return {};
    const char c = doc[at];
    if (c == '{') return "{}";
    if (c == '[') return "[]";
    if (c == '"') return R"("")";
    if (c == 't' || c == 'f' || c == 'n') return "null";
    if (c == '-' || (c >= '0' && c <= '9')) return "0";
    return {};
}

// Cuts inside each occurrence of `doc` in `body` (at its middle), and whole.
std::vector<std::vector<std::size_t>> cuts_inside(std::string_view body, std::string_view doc) {
    std::vector<std::vector<std::size_t>> all{{}};
    if (doc.empty()) return all;
    std::vector<std::size_t> middles;
    for (std::size_t at = body.find(doc); at != std::string_view::npos;
         at = body.find(doc, at + doc.size())) {
        middles.push_back(at + doc.size() / 2);
    }
    if (middles.size() >= 2) all.push_back({middles[1]});  // inside the second record's value
    if (!middles.empty()) all.push_back(middles);
    if (body.size() <= 600) {
        std::vector<std::size_t> bytes;
        for (std::size_t i = 1; i < body.size(); ++i) bytes.push_back(i);
        all.push_back(std::move(bytes));
    }
    return all;
}

// `doc` as member `x` of three records (a page and NDJSON lines), kept and stripped, and stripped
// after a primer record: the paths agree in every chunking of cuts_inside().
void expect_agree_as_member(const std::string& name, const std::string& doc) {
    auto record = [&](int id, const std::string& value) {
        return R"({"id":")" + std::to_string(id) + R"(","x":)" + value + "}";
    };
    const std::vector<std::string> plain{record(1, doc), record(2, doc), record(3, doc)};
    std::vector<std::vector<std::string>> shapes{plain};
    const std::string primer = primer_for(doc);
    if (!primer.empty()) shapes.push_back({record(1, primer), record(2, doc), record(3, doc)});
    for (const auto& records : shapes) {
        const std::string shape = records == plain ? "" : " after a primer";
        for (bool ndjson : {false, true}) {
            const std::string body = ndjson ? lines(records) : page(records);
            for (bool keep : {true, false}) {
                if (keep && records != plain) continue;  // a primer matters only when stripped
                std::vector<std::string> allowed{"id"};
                if (keep) allowed.push_back("x");
                const filter_spec spec = ndjson ? lines_spec(allowed) : page_spec(allowed);
                const std::string label = name + (ndjson ? " in NDJSON lines" : " in a page") +
                                          (keep ? ", kept" : ", stripped") + shape;
                for (const auto& cuts : cuts_inside(body, doc)) {
                    expect_agree(spec, body, cuts, label);
                }
            }
        }
    }
}

class JsonFastPathConformance : public ::testing::Test {
  protected:
    void SetUp() override {
        suite_ = fs::path(testing::shared_testdata()) / "JSONTestSuite" / "test_parsing";
        checker_ = fs::path(testing::shared_testdata()) / "json-checker" / "jsonchecker";
        if (!fs::is_directory(suite_) || !fs::is_directory(checker_)) {
            GTEST_SKIP() << "JSONTestSuite or json-checker not found under "
                         << testing::shared_testdata() << " (../shared/testdata is absent)";
        }
    }
    void expect_agree_on_files(const fs::path& dir, std::string_view prefix, std::size_t at_least) {
        std::size_t n = 0;
        for (const fs::path& f : json_files(dir)) {
            const std::string name = f.filename().string();
            if (name.compare(0, prefix.size(), prefix) != 0) continue;
            const auto doc = read_file(f.string());
            ASSERT_TRUE(doc) << name;
            expect_agree_as_member(name, *doc);
            ++n;
        }
        EXPECT_GE(n, at_least);
    }
    fs::path suite_;
    fs::path checker_;
};

TEST_F(JsonFastPathConformance, AcceptedSuiteDocumentsAsMemberValuesAgree) {
    expect_agree_on_files(suite_, "y_", 90);
}

TEST_F(JsonFastPathConformance, RefusedSuiteDocumentsAsMemberValuesAgree) {
    expect_agree_on_files(suite_, "n_", 180);
}

TEST_F(JsonFastPathConformance, ImplementationDefinedSuiteDocumentsAsMemberValuesAgree) {
    expect_agree_on_files(suite_, "i_", 30);
}

TEST_F(JsonFastPathConformance, CheckerDocumentsAsMemberValuesAgree) {
    expect_agree_on_files(checker_, "", 36);
}

// A document that passes on its own passes as a stripped member value, skipped quietly after the
// primer (and one that is refused is refused): the fast path's skip validates what it skips.
TEST_F(JsonFastPathConformance, StrippedSuiteDocumentsAreAcceptedExactlyWhenTheyParse) {
    for (const fs::path& f : json_files(suite_)) {
        const std::string name = f.filename().string();
        const auto doc = read_file(f.string());
        ASSERT_TRUE(doc) << name;
        const std::string primer = primer_for(*doc);
        if (primer.empty()) continue;
        boost::json::parse_options opt;
        opt.max_depth = 61;  // a member of a record at /value is at depth 4 of 64
        error_code ec;
        boost::json::parse(*doc, ec, {}, opt);
        const std::string body =
            page({R"({"id":"1","x":)" + primer + "}", R"({"id":"2","x":)" + *doc + "}"});
        const path_run r = run_path(page_spec({"id"}), json_path::fast, body, {});
        if (ec) {
            EXPECT_TRUE(r.error) << name << " is refused by Boost.JSON (" << ec.message()
                                 << ") but passes skipped";
        } else if (name.find("duplicated_key") == std::string::npos) {
            EXPECT_FALSE(r.error) << name
                                  << " parses but is refused skipped: " << r.error.message();
        } else {
            EXPECT_EQ(r.error, err(filter_error::duplicate_key)) << name;
        }
    }
}

// --- (b) targeted cases ---------------------------------------------------------------------

TEST(JsonFastPath, DuplicateKeyInStrippedObjectIsRefusedOnBothPaths) {
    // In the first record (the handler decides) and after it (skipped quietly).
    expect_member_values("", {R"({"a":1,"a":2})"}, filter_error::duplicate_key);
    expect_member_values("{}", {R"({"a":1,"b":2})", R"({"a":1,"a":2})"},
                         filter_error::duplicate_key);
    // Deeper inside the skipped value: an object in an array, an object in an object.
    expect_member_values("{}", {R"({"b":[{"a":1},{"c":0,"a":1,"a":2}]})"},
                         filter_error::duplicate_key);
    expect_member_values("[]", {R"([{"k":{"a":null,"a":null}}])"}, filter_error::duplicate_key);
    // The same key in sibling objects, or at two depths, is no repeat.
    expect_member_values("{}", {R"({"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]})"}, std::nullopt);
}

TEST(JsonFastPath, DuplicateKeySpelledWithAnEscapeInStrippedObjectIsRefused) {
    for (const char* value :
         {R"({"a":1,"\u0061":2})", R"({"\u0061":1,"a":2})", R"({"\u0061":1,"\u0061":2})",
          R"({"a\/b":1,"a/b":2})", R"({"\n":1,"\u000a":2})", R"({"\u00e9":1,"é":2})"}) {
        SCOPED_TRACE(value);
        expect_member_values("{}", {value}, filter_error::duplicate_key);
        expect_member_values("", {value}, filter_error::duplicate_key);
    }
    // Different keys that differ only in an escape's spelling of another character.
    expect_member_values("{}", {R"({"\u0061":1,"\u0062":2,"a\u0000":3,"A":4})"}, std::nullopt);
}

TEST(JsonFastPath, DuplicateKeyAmongManyKeysOfStrippedObjectIsRefused) {
    // More than 16 keys: the skip remembers them in a hash set.
    std::string many = "{";
    for (int i = 0; i < 40; ++i) many += R"("k)" + std::to_string(i) + R"(":)" + "0,";
    for (const std::string& repeat :
         {std::string(R"("k3":1})"), std::string(R"("k39":1})"), std::string(R"("\u006b17":1})")}) {
        SCOPED_TRACE(repeat);
        expect_member_values("{}", {many + repeat}, filter_error::duplicate_key);
    }
    expect_member_values("{}", {many + R"("k40":1})"}, std::nullopt);
    // Escaped keys remembered by an outer object stay valid while an inner one is skipped.
    std::string outer = "{";
    for (int i = 0; i < 20; ++i) {
        outer += R"("\u006b)" + std::to_string(i) + R"(":{"a":[{"b":1}]},)";
    }
    expect_member_values("{}", {outer + R"("k5":2})"}, filter_error::duplicate_key);
    expect_member_values("{}", {outer + R"("k20":2})"}, std::nullopt);
}

TEST(JsonFastPath, LoneOrReversedSurrogateInStrippedStringIsMalformed) {
    for (const char* value : {R"("\uD800")", R"("\uDBFF")", R"("\uDC00")", R"("\uDFFF")",
                              R"("\uDC00\uD800")", R"("\uD800x")", R"("\uD800\u0041")",
                              R"("\uD800\uD800")", R"("\uD800\n")", R"("\uD800\")"}) {
        SCOPED_TRACE(value);
        expect_member_values(R"("")", {value}, filter_error::malformed);
        expect_member_values("{}", {std::string("{") + value + ":1}"}, filter_error::malformed);
    }
    expect_member_values(R"("")", {R"("\uD83D\uDE00")", R"("\udbff\udfff")"}, std::nullopt);
}

TEST(JsonFastPath, InvalidUtf8InStrippedStringIsMalformed) {
    for (const std::string bytes :
         {"\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xE0\x9F\xBF", "\xED\xA0\x80", "\xED\xBF\xBF",
          "\xF0\x80\x80\x80", "\xF0\x8F\xBF\xBF", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xF8",
          "\xFF", "\x80", "\xBF", "\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xC3\xC3", "\xE2\x28\xA1"}) {
        SCOPED_TRACE(::testing::PrintToString(bytes));
        expect_member_values(R"("")", {'"' + bytes + '"', "\"ab" + bytes + "cd\""},
                             filter_error::malformed);
        // A run longer than 16 bytes before it (the skip reads 16 bytes at a time).
        expect_member_values(R"("")", {'"' + std::string(37, 'a') + bytes + '"'},
                             filter_error::malformed);
        expect_member_values("{}", {"{\"" + bytes + "\":1}"}, filter_error::malformed);
    }
    expect_member_values(R"("")",
                         {"\"\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xF0\x90\x80\x80"
                          "\xF4\x8F\xBF\xBF\"",
                          "\"" + std::string(40, 'z') + "\xE2\x82\xAC\""},
                         std::nullopt);
}

TEST(JsonFastPath, ControlCharacterInStrippedStringIsMalformed) {
    for (const std::string& bytes :
         {std::string(1, '\0'), std::string("\x01"), std::string("\n"), std::string("\x1F")}) {
        expect_member_values(R"("")", {'"' + std::string(20, 'q') + bytes + '"'},
                             filter_error::malformed);
    }
    expect_member_values(R"("")", {"\"\x7F\"", R"("\u0000\u001f")"}, std::nullopt);
}

// Records at /value sit at depth 3: with max_depth 8 a member's value may open 5 containers.
TEST(JsonFastPath, NestingAtMaxDepthPassesAndOneDeeperIsTooDeep) {
    const auto nest = [](int n, char open, char close, const std::string& inner) {
        std::string s;
        const std::string opener = open == '{' ? std::string(R"({"a":)") : std::string(1, open);
        for (int i = 0; i < n; ++i) s += opener;
        s += inner;
        for (int i = 0; i < n; ++i) s += close;
        return s;
    };
    const filter_spec spec = page_spec({"id"}, 8);
    for (const std::string& primer : {std::string(), std::string("[]"), std::string("{}")}) {
        SCOPED_TRACE("primer " + primer);
        for (char open : {'[', '{'}) {
            const char close = open == '[' ? ']' : '}';
            const std::string inner = open == '[' ? "" : "1";
            if (!primer.empty() && primer[0] != open) continue;
            const std::string limit = nest(5, open, close, inner);
            std::vector<std::string> at_limit{
                R"({"id":"1","deep":)" + (primer.empty() ? limit : primer) + "}",
                R"({"id":"2","deep":)" + limit + "}"};
            const path_run r =
                expect_output(spec, page(at_limit), page({R"({"id":"1"})", R"({"id":"2"})"}));
            EXPECT_EQ(stripped(r.counters, "deep"), 2u);
            std::vector<std::string> deeper = at_limit;
            deeper[1] = R"({"id":"2","deep":)" + nest(6, open, close, inner) + "}";
            expect_refused(spec, page(deeper), filter_error::too_deep);
            // Too deep further inside a mixed structure.
            deeper[1] = R"({"id":"2","deep":)" + nest(2, open, close, "[{\"b\":[{}]}]") + "}";
            expect_refused(spec, page(deeper), filter_error::too_deep);
        }
    }
    // NDJSON: a line's record is depth 1, its member's value may open 7 containers.
    const filter_spec ndjson = lines_spec({"id"}, 8);
    const std::string at_limit = R"({"id":"1","deep":)" + nest(7, '[', ']', "") + "}";
    expect_output(ndjson, lines({R"({"id":"0","deep":[]})", at_limit}),
                  lines({R"({"id":"0"})", R"({"id":"1"})"}));
    expect_refused(
        ndjson,
        lines({R"({"id":"0","deep":[]})", R"({"id":"1","deep":)" + nest(8, '[', ']', "") + "}"}),
        filter_error::too_deep);
}

TEST(JsonFastPath, HugeExponentsBehaveAsOnBasicParser) {
    // Boost.JSON refuses an exponent beyond INT_MAX, and one that the mantissa's own scale pushes
    // past it; the same number whole (boost::json::parse) says which.
    const std::vector<std::pair<std::string, bool>> numbers{
        {"1e9999999999", false},
        {"1e2147483648", false},
        {"1e2147483647", true},
        {"1E+2147483647", true},
        {"1e-2147483648", false},
        {"1.5e-2147483647", true},
        {"1.55e-2147483647", false},
        {"12345678901234567890123e2147483647", false},
        {"1e0000000000000000000000001", true},
        {"-0.0e999999999", true},
        {"1e1000000000", true},
        {"0.00000000000000000000000000000001e-2147483000", true},
    };
    for (const auto& [number, accepted] : numbers) {
        SCOPED_TRACE(number);
        error_code ec;
        boost::json::parse(number, ec);
        ASSERT_EQ(!ec, accepted) << "Boost.JSON's own answer changed";
        const std::optional<filter_error> error =
            accepted ? std::nullopt : std::optional<filter_error>(filter_error::malformed);
        // Stripped: in the first record and skipped quietly after a primer.
        expect_member_values("", {number}, error);
        expect_member_values("0", {number, number}, error);
        expect_member_values("[]", {"[" + number + "]"}, error);
        // Kept: written as received.
        const std::string body = page({R"({"id":"1","x":)" + number + "}"});
        if (accepted) {
            expect_output(page_spec({"id", "x"}), body, body);
        } else {
            expect_refused(page_spec({"id", "x"}), body, filter_error::malformed);
        }
    }
}

TEST(JsonFastPath, WhitespaceBetweenRecordsAndAroundCommasIsIgnored) {
    const std::string body =
        " \r\n{ \"value\" :\t[ \n {\"id\":\"1\" , \"x\" : { \"y\" : [ 1 , 2 ] } } \r\n , \t"
        "{ \"id\" : \"2\",\n\"x\":{\"y\":[]}}\n,\n{\"id\":\"3\"\n}\t\n ] \n } \n\t ";
    const path_run r =
        expect_output(page_spec({"id"}), body, R"({"value":[{"id":"1"},{"id":"2"},{"id":"3"}]})");
    EXPECT_EQ(stripped(r.counters, "x"), 2u);
    const std::string ndjson =
        " {\"id\":\"1\" , \"x\" : { \"y\" : [ 1 , 2 ] } } \r\n\n \t\r\n"
        "\t{ \"id\" : \"2\",\"x\":{\"y\":[]}}   \n{\"id\":\"3\"\r}\r\n";
    expect_output(lines_spec({"id"}), ndjson,
                  lines({R"({"id":"1"})", R"({"id":"2"})", R"({"id":"3"})"}));
}

TEST(JsonFastPath, RecordCutAcrossTwoFeedsGivesTheSameRecords) {
    const std::string body = page({R"({"id":"1","first_name":"A","address":{"city":"B"}})",
                                   R"({"id":"2","first_name":"C","address":{"city":"D"}})",
                                   R"({"id":"3","first_name":"E","address":{"city":"F"}})"});
    const path_run r =
        expect_output(page_spec({"id", "first_name"}), body,
                      page({R"({"id":"1","first_name":"A"})", R"({"id":"2","first_name":"C"})",
                            R"({"id":"3","first_name":"E"})"}));
    EXPECT_EQ(stripped(r.counters, "address"), 3u);
}

// A record around offset 16384 lies across the JSON filter's slices: for every position of the
// boundary in it (the whitespace before the document moves it), the same records.
TEST(JsonFastPath, RecordAcrossTheSliceBoundaryGivesTheSameRecords) {
    const std::string filler =
        R"({"id":"0","notes":")" + std::string(500, 'n') + R"(","tags":["a"]})";
    std::vector<std::string> records;
    std::size_t size = 0;
    while (size < slice_bytes - 1200) {
        records.push_back(filler);
        size += filler.size() + 1;
    }
    const std::size_t before = records.size();
    records.push_back(R"({"id":"1","notes":"a string across","address":{"city":"X","geo":[1,2]}})");
    records.push_back(R"({"id":"2","address":{"city":"Y","geo":[3,4]},"notes":"and an object"})");
    records.push_back(filler);
    std::vector<std::string> kept(before, R"({"id":"0"})");
    kept.insert(kept.end(), {R"({"id":"1"})", R"({"id":"2"})", R"({"id":"0"})"});
    const std::string expected = page(kept);
    const std::string document = page(records);
    const filter_spec spec = page_spec({"id"});
    const std::size_t start = document.find(R"({"id":"1")");
    ASSERT_LT(start, slice_bytes);
    const std::size_t end = document.find(R"({"id":"0")", start);
    ASSERT_LT(end + 2, slice_bytes);
    // The boundary before, inside and after the two records.
    for (std::size_t at = start - 2; at <= end + 2; ++at) {
        const std::string body = std::string(slice_bytes - at, ' ') + document;
        for (const std::vector<std::size_t>& cuts :
             {std::vector<std::size_t>{}, std::vector<std::size_t>{slice_bytes + 3},
              std::vector<std::size_t>{slice_bytes - 5, slice_bytes + 5}}) {
            for (json_path path : {json_path::fast, json_path::basic_parser}) {
                const path_run r = run_path(spec, path, body, cuts);
                ASSERT_FALSE(r.error)
                    << "boundary at " << at << ", " << describe(cuts) << ": " << r.error.message();
                ASSERT_EQ(r.output, expected) << "boundary at " << at << ", " << describe(cuts);
                ASSERT_EQ(stripped(r.counters, "notes"), records.size());
                ASSERT_EQ(stripped(r.counters, "address"), 2u);
            }
        }
    }
}

// Records guessed whole (json_filter without the depth scanner on the runs of records): a run
// stops at the first record the bytes at hand end inside, which is taken back — its stripped
// counts, records_in — and read by basic_parser. A record of ~40 KiB is read by basic_parser in
// pieces that double from 1 KiB, so the scanner stops where the next run begins; cut anywhere, the
// same records and counts as the reference.
TEST(JsonFastPath, GuessedRecordsAroundALongOneCutAnywhereGiveTheSameRecords) {
    const std::string small = R"({"id":"s","first_name":"A","address":{"city":"B"}})";
    std::string long_notes;
    for (int i = 0; i < 4000; ++i) long_notes += R"(note \")" + std::to_string(i) + R"(\" )";
    const std::string long_record =
        R"({"id":"l","notes":")" + long_notes + R"(","address":{"city":"C"},"first_name":"D"})";
    const std::string body = page({small, small, long_record, small, small});
    ASSERT_GT(body.size(), 40'000u);
    const path_run r =
        expect_output(page_spec({"id", "first_name"}), body,
                      page({R"({"id":"s","first_name":"A"})", R"({"id":"s","first_name":"A"})",
                            R"({"id":"l","first_name":"D"})", R"({"id":"s","first_name":"A"})",
                            R"({"id":"s","first_name":"A"})"}));
    EXPECT_EQ(stripped(r.counters, "address"), 5u);
    EXPECT_EQ(stripped(r.counters, "notes"), 1u);
}

// A run of guessed records that reaches the quota fails where the reference does, however the
// body is cut: the failing guess is taken back and basic_parser meets the limit itself.
TEST(JsonFastPath, GuessedRecordsOverTheQuotaAreRefusedAsOnTheReference) {
    filter_spec spec = page_spec({"id"});
    spec.max_records = 3;
    std::vector<std::string> records;
    for (int i = 0; i < 6; ++i) {
        records.push_back(R"({"id":")" + std::to_string(i) + R"(","name":"x"})");
    }
    expect_refused(spec, page(records), filter_error::record_limit_exceeded);
    records.resize(3);
    expect_output(spec, page(records), page({R"({"id":"0"})", R"({"id":"1"})", R"({"id":"2"})"}));
}

// A run ends at an element of the records array that is not an object: basic_parser reads it
// (after the stand-in for the run) and refuses it, as it does every byte on the reference.
TEST(JsonFastPath, ARunOfGuessedRecordsEndsAtAnElementThatIsNoRecord) {
    const filter_spec spec = page_spec({"id"});
    expect_refused(spec, R"({"value":[{"id":"1","x":2},{"id":"2","x":3},"three"]})",
                   filter_error::malformed);
    expect_refused(spec, R"({"value":[{"id":"1","x":2},{"id":"2","x":3},[{"id":"3"}]]})",
                   filter_error::malformed);
}

// After the first record, the record parser compares the key it expects next with the input's
// bytes (`"key":`) instead of reading it. Any other spelling of the same member — an escape,
// whitespace before the ':' — or a key that only starts or ends like it, or one the expected
// member's pattern cannot hold (non-ASCII, too long), is read the usual way: both paths, every
// chunking, the same records and counters.
TEST(JsonFastPath, KeysComparedInPlaceAgreeWithKeysReadWhateverTheirSpelling) {
    const std::string long_key(40, 'k');  // `"k…k":` is over the 32 bytes compared in place
    const std::string first =
        R"({"id":"1","email":"a@x","x":1,"é":2,")" + long_key + R"(":3,"ok":true})";
    const std::vector<std::string> others{
        R"({"id":"2","\u0065mail":"b@x","x":1,"é":2,")" + long_key + R"(":3,"ok":true})",
        R"({"id":"3","email" :"c@x","x" : 1,"é":2,")" + long_key + R"(":3,"ok":true})",
        R"({"id":"4","emai":"d@x","emails":"e@x","x":1,"\u00e9":2,"ok":false})",
        R"({"i\u0064":"5","email":"f@x","x":1,"é":2,")" + long_key + R"(":3,"ok":true})",
        R"({"id":"6","email":"g@x","x":1,"é":2,")" + long_key + R"(":3,"ok":true})",
        R"({"id" : "7" , "email":"h@x" , "x":{"x":1},"é":2,")" + long_key + R"k(":3,"ok":null})k",
    };
    std::vector<std::string> records{first};
    records.insert(records.end(), others.begin(), others.end());
    const std::vector<std::string> kept{
        R"({"id":"1","email":"a@x","ok":true})", R"({"id":"2","email":"b@x","ok":true})",
        R"({"id":"3","email":"c@x","ok":true})", R"({"id":"4","ok":false})",
        R"({"id":"5","email":"f@x","ok":true})", R"({"id":"6","email":"g@x","ok":true})",
        R"({"id":"7","email":"h@x","ok":null})"};
    const path_run r = expect_output(page_spec({"id", "email", "ok"}), page(records), page(kept));
    EXPECT_EQ(stripped(r.counters, "x"), 7u);
    EXPECT_EQ(stripped(r.counters, "é"), 7u);
    EXPECT_EQ(stripped(r.counters, long_key), 6u);
    EXPECT_EQ(stripped(r.counters, "emails"), 1u);
    expect_output(lines_spec({"id", "email", "ok"}), lines(records), lines(kept));
}

// A key compared in place is still refused when the object used it already: the member the
// parser expects next (the one that followed last time) may be one this object has had.
TEST(JsonFastPath, RepeatedKeyThatIsTheExpectedNextOneIsRefused) {
    // After the first record, "b" is expected after "a", and "a" after "b".
    const std::string first = R"({"a":1,"b":2})";
    for (const char* repeat : {R"({"b":1,"a":2,"b":3})", R"({"a":1,"b":2,"a":3})",
                               R"({"a":1,"a":2})", R"({"a":{"b":1,"b":2},"b":3})"}) {
        SCOPED_TRACE(repeat);
        expect_refused(page_spec({"a", "b"}), page({first, repeat}), filter_error::duplicate_key);
        expect_refused(page_spec({"a"}), page({first, first, repeat}), filter_error::duplicate_key);
        expect_refused(lines_spec({"b"}), lines({first, repeat}), filter_error::duplicate_key);
    }
}

// A key whose decoded text holds a quote, a backslash or a control character is never compared
// in place: its bytes written raw are no JSON key (or another one), and must stay malformed.
TEST(JsonFastPath, KeyDecodedFromAnEscapeIsNeverTakenFromItsRawBytes) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {R"({"a\"b":1,"id":"1"})", "{\"a\"b\":1,\"id\":\"2\"}"},
        {R"({"a\\":1,"id":"1"})", "{\"a\\\":1,\"id\":\"2\"}"},
        {R"({"a\nb":1,"id":"1"})", "{\"a\nb\":1,\"id\":\"2\"}"},
        {R"({"a\u0000b":1,"id":"1"})", std::string("{\"a\0b\":1,\"id\":\"2\"}", 18)},
        {R"({"a\u007fb":1,"id":"1"})",
         "{\"a\x7f"
         "b\":1,\"id\":\"2\"}"}};
    for (const auto& [first, raw] : cases) {
        SCOPED_TRACE(first);
        // The first record is read whole, then the same record again: its key compared or read.
        const bool valid = raw.find('\x7f') != std::string::npos;  // DEL needs no escape
        if (valid) {
            expect_output(page_spec({"id"}), page({first, first, raw}),
                          page({R"({"id":"1"})", R"({"id":"1"})", R"({"id":"2"})"}));
            continue;
        }
        expect_refused(page_spec({"id"}), page({first, first, raw}), filter_error::malformed);
        expect_refused(lines_spec({"id"}), lines({first, first, raw}), filter_error::malformed);
    }
}

// An object skipped whole (a stripped member nobody reads) is compared in place with the keys
// that member's object had last time; from the first key that differs — another name, a prefix
// or an extension of one, a different order, fewer or more keys, an escape, whitespace before
// the ':', a key with no single spelling, more keys than are learnt — it is read the usual way
// and its keys learnt again. Both paths, every chunking, the same records and counters.
TEST(JsonFastPath, SkippedObjectsComparedWithTheKeysTheyHadAgreeWhateverTheirKeys) {
    std::string many = "{";
    for (int i = 0; i < 20; ++i) many += (i == 0 ? "\"k" : ",\"k") + std::to_string(i) + "\":1";
    many += "}";
    const std::vector<std::string> addresses{
        R"({"street":"Meir 45","postcode":"1201","city":"Li\u00e8ge","country":"BE"})",
        R"({"street":"Meir 46","postcode":"1201","city":"Gent","country":"BE"})",
        R"({"street":"a","postcode":"1","city":"b"})",
        R"({"street":"a","postcode":"1","city":"b","country":"BE","floor":3})",
        R"({"postcode":"1","street":"a","city":"b","country":"BE"})",
        R"({"street":"a","postcod":"1","city":"b","country":"BE"})",
        R"({"street":"a","postcodes":"1","city":"b","country":"BE"})",
        R"({"str\u0065et":"a","postcode":"1","city":"b","country":"BE"})",
        R"({"street" : "a","postcode":"1" ,"city":"b","country":"BE"})",
        R"({"street":{"street":{"city":1}},"postcode":[1,{"a":2}],"city":null,"country":-1e5})",
        R"({"stra\u00dfe":"a","postcode":"1","city":"b","country":"BE"})",
        R"({})",
        R"({"street":"a","postcode":"1","city":"b","country":"BE"})",
        many,
        many,
        R"({"street":"a","postcode":"1","city":"b","country":"BE"})",
        R"({"street":"a","postcode":"1","city":"b","country":"BE"})",
    };
    std::vector<std::string> records, kept;
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        const std::string id = std::to_string(i);
        records.push_back(R"({"id":")" + id + R"(","address":)" + addresses[i] + R"(,"ok":true})");
        kept.push_back(R"({"id":")" + id + R"(","ok":true})");
    }
    const path_run r = expect_output(page_spec({"id", "ok"}), page(records), page(kept));
    EXPECT_EQ(stripped(r.counters, "address"), addresses.size());
    expect_output(lines_spec({"id", "ok"}), lines(records), lines(kept));
}

// Keys matched in place are still this object's: a key that repeats one of them, after them, is
// refused as when the object is read whole — as is a repeat among the keys read after them.
TEST(JsonFastPath, RepeatedKeyInASkippedObjectIsRefusedAfterItsKeysWereLearnt) {
    const std::string first = R"({"id":"1","address":{"a":1,"b":2,"c":3}})";
    for (const char* address :
         {R"({"a":1,"b":2,"c":3,"a":4})", R"({"a":1,"b":2,"a":3})", R"({"a":1,"a":2})",
          R"({"a":1,"b":2,"c":3,"d":4,"d":5})", R"({"a":1,"b":2,"\u0061":3})",
          R"({"a":1,"b":2,"c":3,"b" :4})", R"({"b":1,"a":2,"b":3})"}) {
        SCOPED_TRACE(address);
        const std::string repeat = std::string(R"({"id":"2","address":)") + address + "}";
        expect_refused(page_spec({"id"}), page({first, first, repeat}),
                       filter_error::duplicate_key);
        expect_refused(lines_spec({"id"}), lines({first, first, repeat}),
                       filter_error::duplicate_key);
    }
    // Learnt from an escaped spelling, compared with the plain one.
    const std::string escaped = R"({"id":"1","address":{"\u0061":1,"b":2}})";
    expect_refused(page_spec({"id"}),
                   page({escaped, escaped, R"({"id":"2","address":{"a":1,"b":2,"a":3}})"}),
                   filter_error::duplicate_key);
}

// A key whose decoded text has no single spelling (a quote, a backslash, a control character)
// is not learnt: the next object's raw bytes are read, and stay malformed.
TEST(JsonFastPath, SkippedObjectKeyWithoutASingleSpellingIsNeverLearnt) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {R"({"a\"b":1,"c":2})", "{\"a\"b\":1,\"c\":2}"},
        {R"({"a\\":1,"c":2})", "{\"a\\\":1,\"c\":2}"},
        {R"({"a\nb":1,"c":2})", "{\"a\nb\":1,\"c\":2}"},
        {R"({"c":2,"a\u0000b":1})", std::string("{\"c\":2,\"a\0b\":1}", 15)}};
    for (const auto& [learnt, raw] : cases) {
        SCOPED_TRACE(learnt);
        const std::string first = R"({"id":"1","address":)" + learnt + "}";
        const std::string next = R"({"id":"2","address":)" + raw + "}";
        expect_refused(page_spec({"id"}), page({first, first, next}), filter_error::malformed);
        expect_refused(lines_spec({"id"}), lines({first, first, next}), filter_error::malformed);
    }
}

TEST(JsonFastPath, MissingCommaBetweenRecordsIsMalformed) {
    const filter_spec spec = page_spec({"id"});
    for (const char* body :
         {R"({"value":[{"id":"1"}{"id":"2"}]})", R"({"value":[{"id":"1"} {"id":"2"}]})",
          "{\"value\":[{\"id\":\"1\"}\n{\"id\":\"2\"}]}",
          R"({"value":[{"id":"1"},{"id":"2"}{"id":"3"}]})"}) {
        SCOPED_TRACE(body);
        expect_refused(spec, body, filter_error::malformed);
    }
    expect_member_values("{}", {R"({"a":1 "b":2})", R"({"a":1})"}, filter_error::malformed);
    expect_member_values("[]", {"[1 2]"}, filter_error::malformed);
    expect_member_values("{}", {R"({"a" 1})"}, filter_error::malformed);
    // Two lines on one line.
    expect_refused(lines_spec({"id"}), "{\"id\":\"1\"}{\"id\":\"2\"}\n", filter_error::malformed);
}

TEST(JsonFastPath, TrailingCommaIsMalformed) {
    const filter_spec spec = page_spec({"id"});
    for (const char* body : {R"({"value":[{"id":"1"},]})", R"({"value":[{"id":"1"},{"id":"2"},]})",
                             R"({"value":[{"id":"1",}]})", R"({"value":[{"id":"1"}],})",
                             R"({"value":[,{"id":"1"}]})"}) {
        SCOPED_TRACE(body);
        expect_refused(spec, body, filter_error::malformed);
    }
    expect_member_values("{}", {R"({"a":1,})"}, filter_error::malformed);
    expect_member_values("[]", {"[1,]", "[1]"}, filter_error::malformed);
    expect_member_values("{}", {R"({,"a":1})"}, filter_error::malformed);
    expect_member_values("[]", {"[,1]"}, filter_error::malformed);
    expect_member_values("{}", {R"({"a":[{"b":1,}]})"}, filter_error::malformed);
}

// Containers at the records' depth that are not records (the depth scanner marks them too).
TEST(JsonFastPath, EnvelopeMembersAroundTheRecordsHoldContainersAtRecordDepth) {
    const std::string body =
        R"({"meta":[{"a":1},[2]],"value":[{"id":"1","x":2},{"id":"2","x":3}],)"
        R"("other":[{"id":"9","x":3},{"id":"8"}],"more":{"k":{"id":1},"l":[[{}]]}})";
    const std::string passed =
        R"({"meta":[{"a":1},[2]],"value":[{"id":"1"},{"id":"2"}],)"
        R"("other":[{"id":"9","x":3},{"id":"8"}],"more":{"k":{"id":1},"l":[[{}]]}})";
    const path_run r = expect_output(page_spec({"id"}), body, passed);
    EXPECT_EQ(r.counters.records_in, 2u);
    EXPECT_EQ(stripped(r.counters, "x"), 2u);
    filter_spec strict = page_spec({"id"});
    strict.strict_envelope = true;
    expect_refused(strict, body, filter_error::records_not_found);
    // An object or array where a record should be.
    expect_refused(page_spec({"id"}), R"({"value":[{"id":"1"},[{"id":"2"}]]})",
                   filter_error::malformed);
    expect_refused(page_spec({"id"}), R"({"value":[{"id":"1"},"x",{"id":"2"}]})",
                   filter_error::malformed);
}

TEST(JsonFastPath, StrippedFieldCountsAndDropsAreEqual) {
    filter_spec spec = page_spec({"id", "first_name", "email"}, 10);
    spec.rules.conditions.push_back(
        {"consent.email", condition_op::is_true, {}, false, drop_reason::no_consent});
    spec.link_fields = {"/@odata.nextLink"};
    spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
        return "https://ew/" + std::string(url.substr(std::min<std::size_t>(url.size(), 12)));
    };
    auto record = [](int id, const char* consent) {
        return R"({"id":")" + std::to_string(id) + R"(","first_name":"F","last_name":"L",)" +
               R"("email":"e@x","phone":"+1","consent":{"email":)" + consent +
               R"(,"sms":false},"address":{"street":"S","geo":{"lat":1.5,"lon":-2e3}},)" +
               R"("objection":{"reason":null,"at":[]},"tags":["a",{"b":[1]}],"score":7,)" +
               R"("active":true,"notes":"n\"\u00e9"})";
    };
    const std::string body = R"({"@odata.context":"ctx","value":[)" + record(1, "true") + "," +
                             record(2, "false") + "," + record(3, "true") + "," +
                             record(4, "\"yes\"") + R"(],"@odata.nextLink":"https://crm/next"})";
    const std::string kept = R"({"id":"1","first_name":"F","email":"e@x"})";
    const std::string expected =
        R"({"@odata.context":"ctx","value":[)" + kept + "," +
        std::string(R"({"id":"3","first_name":"F","email":"e@x"})") + "," +
        R"({"id":"4","first_name":"F","email":"e@x"}],"@odata.nextLink":"https://ew/next"})";
    const path_run r = expect_output(spec, body, expected);
    EXPECT_EQ(r.counters.records_in, 4u);
    EXPECT_EQ(r.counters.records_out, 3u);
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::no_consent)], 1u);
    EXPECT_EQ(r.counters.links_rewritten, 1u);
    const std::map<std::string, std::uint64_t, std::less<>> counts{
        {"active", 4},    {"address", 4}, {"consent", 4}, {"last_name", 4}, {"notes", 4},
        {"objection", 4}, {"phone", 4},   {"score", 4},   {"tags", 4}};
    EXPECT_EQ(r.counters.stripped_fields, counts);
}

// Every lead byte from 0xC0 (and two continuation bytes as leads) followed by one to three bytes
// from each range the UTF-8 table tells apart ('"' among them, for a sequence cut short), in a
// stripped string skipped quietly and in a kept one: the fast path's UTF-8 table is Boost.JSON's.
TEST(JsonFastPath, EveryUtf8SequenceInAStringAgrees) {
    const std::vector<unsigned char> edges{0x22, 0x41, 0x7F, 0x80, 0x8F, 0x90,
                                           0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
    const std::vector<unsigned char> fourths{0x80, 0xC0};
    std::vector<std::string> sequences;
    for (unsigned lead = 0x80; lead <= 0xFF; ++lead) {
        if (lead > 0x80 && lead < 0xBF) continue;  // a continuation byte is no lead, like 0x80
        const std::string one(1, static_cast<char>(lead));
        for (unsigned char second : edges) {
            const std::string two = one + static_cast<char>(second);
            sequences.push_back(two);
            if (lead < 0xE0) continue;
            for (unsigned char third : edges) {
                const std::string three = two + static_cast<char>(third);
                sequences.push_back(three);
                if (lead < 0xF0) continue;
                for (unsigned char fourth : fourths) {
                    sequences.push_back(three + static_cast<char>(fourth));
                }
            }
        }
    }
    const filter_spec stripped_x = page_spec({"id"});
    const filter_spec kept_x = page_spec({"id", "x"});
    std::size_t disagreements = 0;
    for (const std::string& seq : sequences) {
        const std::string body =
            page({R"({"id":"1","x":""})", R"({"id":"2","x":"a)" + seq + "\"}"});
        for (const filter_spec* spec : {&stripped_x, &kept_x}) {
            const path_run fast = run_path(*spec, json_path::fast, body, {});
            const path_run reference = run_path(*spec, json_path::basic_parser, body, {});
            if (fast.error != reference.error || fast.output != reference.output) {
                if (++disagreements <= 10) {
                    ADD_FAILURE() << ::testing::PrintToString(seq)
                                  << (spec == &kept_x ? " kept" : " stripped") << ": fast path "
                                  << (fast.error ? fast.error.message() : "passes")
                                  << ", basic_parser "
                                  << (reference.error ? reference.error.message() : "passes");
                }
            }
        }
    }
    EXPECT_EQ(disagreements, 0u) << "of " << sequences.size() << " sequences";
}

// More distinct paths than the filter's path table holds (4096): the reference names every key
// inside the stripped objects, the fast path only the first record's. Later records still filter
// the same, count the same (past 256 stripped names as "*"), and refuse a repeated key.
TEST(JsonFastPath, MoreDistinctPathsThanThePathTableHoldsAgree) {
    std::vector<std::string> records;
    for (int r = 0; r < 60; ++r) {
        std::string blob = "{";
        for (int k = 0; k < 80; ++k) {
            if (k != 0) blob += ',';
            blob += R"("k)" + std::to_string(r) + "_" + std::to_string(k) +
                    R"(":[{"z":1},{"y":"\u0041"}])";
        }
        blob += "}";
        std::string scalars;
        for (int k = 0; k < 5; ++k) {
            scalars += R"(,"s)" + std::to_string(r) + "_" + std::to_string(k) + R"(":1)";
        }
        records.push_back(R"({"id":")" + std::to_string(r) + R"(","blob":)" + blob + scalars +
                          R"(,"email":"e)" + std::to_string(r) + R"(","more":{"k":1}})");
    }
    const filter_spec spec = page_spec({"id", "email"});
    const std::string body = page(records);
    for (const std::vector<std::size_t>& cuts :
         {std::vector<std::size_t>{}, std::vector<std::size_t>{body.size() / 2},
          std::vector<std::size_t>{body.size() / 3, 2 * body.size() / 3 + 7}}) {
        const path_run r = expect_agree(spec, body, cuts, "many paths");
        EXPECT_FALSE(r.error) << r.error.message();
        EXPECT_EQ(r.counters.records_out, 60u);
        EXPECT_EQ(stripped(r.counters, "blob"), 60u);
        EXPECT_GT(stripped(r.counters, "*"), 0u);  // more than 256 stripped names
    }
    // A repeated key after the table is full: in the last record's stripped object, and in a
    // member the table has no room for.
    std::vector<std::string> repeated = records;
    repeated.push_back(R"({"id":"x","blob":{"k0_0":1,"k0_0":2}})");
    expect_agree(spec, page(repeated), {}, "repeated key in a stripped object");
    EXPECT_EQ(run_path(spec, json_path::fast, page(repeated), {}).error,
              err(filter_error::duplicate_key));
    repeated.back() = R"({"id":"x","new_member":{"q":1,"q":2}})";
    expect_agree(spec, page(repeated), {}, "repeated key in a new stripped member");
    EXPECT_EQ(run_path(spec, json_path::fast, page(repeated), {}).error,
              err(filter_error::duplicate_key));
}

// Transforms and nested record sets take no quiet skip, but their records still do for the rest.
TEST(JsonFastPath, TransformsAndNestedSetsBesideStrippedMembersAgree) {
    filter_spec spec = page_spec({"id", "email", "contacts.name"});
    spec.transforms = transform_set({{"email", transform_kind::pseudonymise, 0}},
                                    std::make_shared<const std::vector<unsigned char>>(16, 0x5a));
    nested_record_set contacts;
    contacts.path = "contacts";
    contacts.in_record = true;
    contacts.allowed = fields({"name"});
    spec.nested.push_back(contacts);
    std::vector<std::string> records;
    for (int r = 0; r < 4; ++r) {
        records.push_back(R"({"id":")" + std::to_string(r) +
                          R"(","email":"a@x","contacts":[{"name":"N","phone":"1"}],)"
                          R"("address":{"city":"C"},"tags":[1,[2]],"email@note":"x"})");
    }
    records.push_back(R"({"id":"9","email":{"not":"a string"},"contacts":{"a":1},"address":"S"})");
    const std::string body = page(records);
    for (const auto& cuts : every_chunking(body.size())) {
        expect_agree(spec, body, cuts, "transforms and nested sets");
    }
    const path_run r = run_path(spec, json_path::fast, body, {});
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.counters.records_out, 9u);  // five records and the four contacts in them
    EXPECT_EQ(stripped(r.counters, "address"), 5u);
    EXPECT_EQ(stripped(r.counters, "tags"), 4u);
}

// The bytes before a record are not a comma (one is missing, or a token stands there that
// basic_parser has not finished): basic_parser refuses them only when it reads the next byte, so
// a fast path that read the record first would report the record's own fault (a repeated key,
// nesting too deep, one record too many) instead of the earlier one. (Once a disagreement: both
// failed, with different errors.)
TEST(JsonFastPath, MissingCommaBeforeARecordThatHasAFaultOfItsOwnIsMalformed) {
    const filter_spec spec = page_spec({"id"}, 6);
    for (const char* body : {R"({"value":[{"id":"1"} {"id":"2","a":1,"a":2}]})",
                             R"({"value":[{"id":"1"}{"id":"2","q":[[[[]]]]}]})",
                             R"({"value":[{"id":"1"},{"id":"2"} {"id":"3","a":1,"a":2}]})",
                             // A token basic_parser has not finished instead of the comma.
                             R"({"value":[{"id":"1"},tru{"id":"2","a":1,"a":2}]})",
                             R"({"value":[{"id":"1"},-1{"id":"2","a":1,"a":2}]})"}) {
        SCOPED_TRACE(body);
        expect_refused(spec, body, filter_error::malformed);
    }
    filter_spec one = spec;
    one.max_records = 1;
    expect_refused(one, R"({"value":[{"id":"1"}  {"id":"2"}]})", filter_error::malformed);
}

// A record whose written form outgrows max_record_bytes (a pseudonym is longer than the value it
// replaces) while its bytes as received stay within it, with a stripped string after the
// transformed member. A check of the written size at every part of a string basic_parser hands
// over in parts (the run before an escape, the part before a chunk boundary) would refuse it or
// not depending on an escape and on the chunking, and the fast path reads strings whole. Both
// paths must agree, and the outcome must not depend on the chunking.
// (Once a disagreement: with "x\ny" fed whole the fast path passed and the reference failed
// record_too_large; with "xy" both passed whole and both failed when cut inside the string.)
TEST(JsonFastPath, TransformedRecordOverTheLimitAgreesWhateverTheChunking) {
    filter_spec spec = page_spec({"id", "email"});
    spec.transforms = transform_set({{"email", transform_kind::pseudonymise, 0}},
                                    std::make_shared<const std::vector<unsigned char>>(16, 0x5a));
    spec.max_record_bytes = 200;
    filter_spec lines_of = spec;
    lines_of.format = body_format::ndjson;
    lines_of.records.clear();
    for (const std::string notes : {R"("x\ny")", R"("xy")"}) {
        SCOPED_TRACE("notes " + notes);
        const std::string record =
            R"({"id":")" + std::string(160, 'i') + R"(","email":"a","notes":)" + notes + "}";
        ASSERT_LE(record.size(), spec.max_record_bytes);
        for (const auto& [format, body] :
             {std::pair{&spec, page({R"({"id":"1","email":"a","notes":"x"})", record})},
              std::pair{&lines_of, lines({record})}}) {
            const path_run whole = run_path(*format, json_path::basic_parser, body, {});
            for (const auto& cuts : every_chunking(body.size())) {
                const path_run fast = run_path(*format, json_path::fast, body, cuts);
                const path_run reference = run_path(*format, json_path::basic_parser, body, cuts);
                if (fast.error != reference.error || fast.error != whole.error) {
                    ADD_FAILURE() << (format == &spec ? "page" : "NDJSON") << ", " << describe(cuts)
                                  << ": fast path "
                                  << (fast.error ? fast.error.message() : "passes")
                                  << ", basic_parser "
                                  << (reference.error ? reference.error.message() : "passes")
                                  << ", basic_parser whole "
                                  << (whole.error ? whole.error.message() : "passes");
                    break;
                }
            }
        }
    }
}

// The one ordering the paths may differ in (tolerated by the fuzz target): a kept string longer
// than the record limit with a fault after an escape. basic_parser hands the run before the escape
// to the filter, which refuses the record as too large; json_record_parser checks the whole
// string first and finds the fault. Both refuse the body.
// A kept string longer than the record limit with a fault after an escape: the reference sees the
// size first (record_too_large), the record parser the fault (malformed). Where records are
// guessed whole (json_rewriter::can_guess), a record that fails is taken back and basic_parser
// reads it: the reference's error. Where they are scanned first (here: a spec with a transform),
// the fast path reports its own — the one ordering tests/fuzz/fuzz_json_fast_path.cpp excepts.
TEST(JsonFastPath, LongKeptStringWithAFaultAfterAnEscapeIsRefusedOnBothPaths) {
    filter_spec spec = page_spec({"id", "x"});
    spec.max_record_bytes = 100;
    const std::string body =
        R"({"value":[{"id":"1","x":")" + std::string(120, 'a') + "\\n\xff\"}]}";
    EXPECT_EQ(run_path(spec, json_path::basic_parser, body, {}).error,
              err(filter_error::record_too_large));
    EXPECT_EQ(run_path(spec, json_path::fast, body, {}).error, err(filter_error::record_too_large));
    spec.transforms = transform_set({{"id", transform_kind::truncate_chars, 4}}, nullptr);
    EXPECT_EQ(run_path(spec, json_path::basic_parser, body, {}).error,
              err(filter_error::record_too_large));
    EXPECT_EQ(run_path(spec, json_path::fast, body, {}).error, err(filter_error::malformed));
}

}  // namespace
}  // namespace exportwall::filters
