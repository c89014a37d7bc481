// The filter shelf (filters/filter_shelf.hpp): a JSON or NDJSON filter started from what an
// earlier export of a spec with the same decisions learnt (record_filter::take_memory) behaves
// exactly as a fresh filter of its spec: the same output bytes, counters, record marks and
// errors, after every feed, in every chunking. A memory never reaches a filter whose spec decides
// a path differently (same_decisions), comes only from a filter that finished without error,
// leaves the shelf when a filter takes it, and keeps none of its export's callbacks nor its
// purpose's pseudonymisation key alive; the shelf keeps the most recent memories of its thread.
//
// The fresh filter and the remembering one are fed the same chunks side by side, so a difference
// is reported at the first feed that shows it. The shelf is thread-local: every test empties it
// first and last.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench/json/promotion_spec.hpp"
#include "filters/filter_shelf.hpp"
#include "filters/record_filter.hpp"
#include "tests/unit/filters/chunked_run.hpp"
#include "tools/generator/contact_generator.hpp"

namespace exportwall::filters {
namespace {

namespace fs = std::filesystem;
using boost::system::error_code;
using cuts_list = std::vector<std::size_t>;

// The generator's contacts have e-mail addresses in this domain (tools/generator).
constexpr std::string_view contact_mail_domain = "@example.be";

error_code err(filter_error e) { return make_error_code(e); }

// --- exports ---------------------------------------------------------------------------------

struct contacts_page {
    std::uint64_t records = 3;
    std::uint64_t seed = 1;
    std::uint64_t first = 0;
    bench::json_shape shape = bench::json_shape::odata;
    std::string next_link;
};

// A generated contact export (tools/generator/contact_generator.hpp) in `format`.
std::string contacts(std::string_view format, const contacts_page& page) {
    bench::contact_export_options o;
    o.records = page.records;
    o.seed = page.seed;
    o.first = page.first;
    o.shape = page.shape;
    o.next_link = page.next_link;
    std::string body;
    bench::generate_contacts(format, o, [&](std::string_view piece) { body += piece; });
    return body;
}

std::string page_of(const std::vector<std::string>& records) {
    std::string s = R"({"value":[)";
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (i != 0) s += ',';
        s += records[i];
    }
    return s + "]}";
}

std::string lines_of(const std::vector<std::string>& records) {
    std::string s;
    for (const std::string& r : records) s += r + '\n';
    return s;
}

// The records as the body of `format`: a page at /value (JSON) or lines (NDJSON).
std::string body_of(body_format format, const std::vector<std::string>& records) {
    return format == body_format::ndjson ? lines_of(records) : page_of(records);
}

filter_spec page_spec(std::vector<std::string> allowed) {
    filter_spec spec;
    spec.format = body_format::json;
    spec.records = "/value";
    spec.allowed = field_set(std::move(allowed));
    return spec;
}

filter_spec spec_for(body_format format, std::vector<std::string> allowed) {
    filter_spec spec = page_spec(std::move(allowed));
    spec.format = format;
    if (format == body_format::ndjson) spec.records.clear();
    return spec;
}

// --- runs ------------------------------------------------------------------------------------

std::string describe(const cuts_list& cuts) {
    if (cuts.empty()) return "whole body";
    std::string s = std::to_string(cuts.size() + 1) + " chunks, cuts at";
    for (std::size_t i = 0; i < cuts.size() && i < 8; ++i) s += " " + std::to_string(cuts[i]);
    if (cuts.size() > 8) s += " ...";
    return s;
}

std::string describe(const std::map<std::string, std::uint64_t, std::less<>>& counts) {
    std::string s = "{";
    for (const auto& [name, n] : counts) {
        if (s.size() > 1) s += ", ";
        s += name + "=" + std::to_string(n);
    }
    return s + "}";
}

std::string describe(const error_code& e) { return e ? e.message() : "no error"; }

// Where one filter is, between feeds.
struct filter_state {
    std::string output;
    error_code error;
    std::vector<record_mark> marks;
};

// What is compared once both filters failed (with the same error).
enum class after_error : std::uint8_t {
    everything,
    // The output and the marks, not the counters: a filter's counters where it stops at an
    // error depend on how far its cached plans carried it (see
    // ExportRefusedInItsFirstRecordDiffersOnlyByTheValueAtTheFault).
    all_but_counters,
};

std::string marks_difference(const filter_state& fresh, const filter_state& remembered) {
    const bool same_marks =
        std::equal(fresh.marks.begin(), fresh.marks.end(), remembered.marks.begin(),
                   remembered.marks.end(), [](const record_mark& x, const record_mark& y) {
                       return x.end == y.end && x.records == y.records;
                   });
    if (same_marks) return {};
    return "record marks: fresh " + std::to_string(fresh.marks.size()) + ", remembered " +
           std::to_string(remembered.marks.size());
}

// Empty when the fresh filter and the remembering one agree, else the first thing that differs.
std::string difference(const filter_state& fresh, const record_filter& fresh_filter,
                       const filter_state& remembered, const record_filter& remembered_filter,
                       after_error compare = after_error::everything) {
    if (fresh.error != remembered.error) {
        return "error: fresh " + describe(fresh.error) + ", remembered " +
               describe(remembered.error);
    }
    if (fresh.output != remembered.output) {
        return "output\n  fresh:      " + fresh.output + "\n  remembered: " + remembered.output;
    }
    if (fresh.error && compare == after_error::all_but_counters) {
        return marks_difference(fresh, remembered);
    }
    const filter_counters& a = fresh_filter.counters();
    const filter_counters& b = remembered_filter.counters();
    if (a.stripped_fields != b.stripped_fields) {
        return "stripped_fields: fresh " + describe(a.stripped_fields) + ", remembered " +
               describe(b.stripped_fields);
    }
    if (a.transformed_fields != b.transformed_fields) {
        return "transformed_fields: fresh " + describe(a.transformed_fields) + ", remembered " +
               describe(b.transformed_fields);
    }
    if (a.transform_failed != b.transform_failed) {
        return "transform_failed: fresh " + describe(a.transform_failed) + ", remembered " +
               describe(b.transform_failed);
    }
    if (a.records_in != b.records_in || a.records_out != b.records_out) {
        return "records in/out: fresh " + std::to_string(a.records_in) + "/" +
               std::to_string(a.records_out) + ", remembered " + std::to_string(b.records_in) +
               "/" + std::to_string(b.records_out);
    }
    if (a.dropped != b.dropped) return "dropped";
    if (a.nested_in != b.nested_in || a.nested_out != b.nested_out ||
        a.nested_discarded != b.nested_discarded) {
        return "nested counts";
    }
    if (a.bytes_in != b.bytes_in || a.bytes_out != b.bytes_out) return "bytes in/out";
    if (a.links_rewritten != b.links_rewritten || a.links_removed != b.links_removed) {
        return "links rewritten/removed";
    }
    return marks_difference(fresh, remembered);
}

// Feeds `body` cut at `cuts` (sorted) to `filter`, then finishes it (unless a feed failed).
error_code run(record_filter& filter, std::string_view body, const cuts_list& cuts,
               std::string& out) {
    std::size_t at = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        const std::size_t end = i < cuts.size() ? std::min(cuts[i], body.size()) : body.size();
        if (end < at) continue;
        if (error_code e = filter.feed(body.substr(at, end - at), out)) return e;
        at = end;
    }
    return filter.finish(out);
}

// What a filter of `spec` learns from `body` cut at `cuts`: null when it refused the body.
std::unique_ptr<filter_memory> learn(const filter_spec& spec, std::string_view body,
                                     const cuts_list& cuts = {}) {
    auto filter = make_filter(spec);
    std::string out;
    if (run(*filter, body, cuts, out)) return nullptr;
    return filter->take_memory();
}

// Feeds `body`, cut at `cuts`, to a fresh filter of `spec` and to one started from `memory`, side
// by side, and ADD_FAILUREs (naming `label`) at the first feed, or the finish, after which their
// output, counters, record marks or error differ. Returns what the remembering filter learnt in
// turn: null when it failed, or differed.
std::unique_ptr<filter_memory> expect_as_fresh(const filter_spec& spec,
                                               std::unique_ptr<filter_memory> memory,
                                               std::string_view body, const cuts_list& cuts,
                                               const std::string& label,
                                               after_error compare = after_error::everything) {
    auto fresh = make_filter(spec);
    auto remembered = make_filter(spec, std::move(memory));
    filter_state f;
    filter_state r;
    fresh->set_record_marks(&f.marks);
    remembered->set_record_marks(&r.marks);
    std::size_t at = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        const std::size_t end = i < cuts.size() ? std::min(cuts[i], body.size()) : body.size();
        if (end < at) continue;
        const std::string_view piece = body.substr(at, end - at);
        f.error = fresh->feed(piece, f.output);
        r.error = remembered->feed(piece, r.output);
        at = end;
        if (auto why = difference(f, *fresh, r, *remembered, compare); !why.empty()) {
            ADD_FAILURE() << label << ", " << describe(cuts) << ": after the feed up to byte "
                          << end << " the filters differ: " << why;
            return nullptr;
        }
        if (f.error) return nullptr;
    }
    f.error = fresh->finish(f.output);
    r.error = remembered->finish(r.output);
    if (auto why = difference(f, *fresh, r, *remembered, compare); !why.empty()) {
        ADD_FAILURE() << label << ", " << describe(cuts)
                      << ": after finish() the filters differ: " << why;
        return nullptr;
    }
    if (r.error) return nullptr;
    return remembered->take_memory();
}

// The chunkings of a generated export: whole, one byte at a time, and seeded random pieces.
std::vector<cuts_list> chunkings_of(std::string_view body) {
    std::vector<cuts_list> all{{}};
    for (cuts_list& cuts : testing::chunkings(body.size(), 0)) all.push_back(std::move(cuts));
    return all;
}

// Cuts every `step` bytes.
cuts_list every(std::size_t step, std::size_t size) {
    cuts_list cuts;
    for (std::size_t at = step; at < size; at += step) cuts.push_back(at);
    return cuts;
}

std::uint64_t stripped(const filter_counters& c, std::string_view name) {
    auto it = c.stripped_fields.find(name);
    return it == c.stripped_fields.end() ? 0 : it->second;
}

// Runs `spec` over `body` on a filter started from `memory`: output and counters.
testing::run_result run_remembering(const filter_spec& spec, std::unique_ptr<filter_memory> memory,
                                    std::string_view body, const cuts_list& cuts = {}) {
    testing::run_result r;
    auto filter = make_filter(spec, std::move(memory));
    r.error = run(*filter, body, cuts, r.output);
    r.counters = filter->counters();
    return r;
}

// Empties this thread's shelf before and after each test.
class FilterShelf : public ::testing::Test {
  protected:
    void SetUp() override { clear_shelf(); }
    void TearDown() override { clear_shelf(); }
};

// --- the same behaviour as a fresh filter ------------------------------------------------------

// A purpose with more plans than promotion_spec: transforms, a rule on a nested field, an
// exclusion, a suppression list, the subject index and the records' own annotations.
filter_spec rich_spec(body_format format) {
    filter_spec spec = bench::promotion_spec(format);
    spec.allowed =
        field_set({"id", "first_name", "email", "address.city", "consent", "@odata.etag"});
    spec.transforms = transform_set(
        {{"email", transform_kind::pseudonymise, 0}, {"first_name", transform_kind::mask, 1}},
        std::make_shared<const std::vector<unsigned char>>(32, 0x42));
    spec.rules.conditions.push_back({"objection.direct_marketing",
                                     condition_op::is_set,
                                     {},
                                     true,
                                     drop_reason::objected,
                                     true});
    spec.rules.suppression_fields = {"email"};
    spec.rules.suppressed = [](const record_fields& f) {
        const auto email = f.find("email");
        return email && email->find("contact4@") != std::string_view::npos;
    };
    spec.rules.subject_fields = {"id"};
    spec.rules.decided = [](const record_fields&, bool) {};
    return spec;
}

// A generated export's vendor shape with a spec for it.
struct export_case {
    std::string name;
    std::string format;  // the generator's
    bench::json_shape shape;
    filter_spec spec;
    std::string link;  // the next link in the second export
};

std::vector<export_case> export_cases() {
    std::vector<export_case> all;
    const std::string odata_link = "https://crm.example.be/api/data/v9.2/contacts?$skiptoken=45";
    all.push_back({"Dataverse page", "json", bench::json_shape::odata,
                   bench::promotion_spec(body_format::json), odata_link});
    filter_spec strict = bench::promotion_spec(body_format::json);
    strict.strict_envelope = true;
    all.push_back(
        {"Dataverse page, strict envelope", "json", bench::json_shape::odata, strict, odata_link});
    all.push_back({"Dataverse page, rich purpose", "json", bench::json_shape::odata,
                   rich_spec(body_format::json), odata_link});
    filter_spec hubspot = bench::promotion_spec(body_format::json);
    hubspot.records = "/results";
    hubspot.field_root = "properties";
    hubspot.link_fields = {"/paging/next/link"};
    hubspot.token_fields = {"/paging/next/after"};
    hubspot.seal_token = [](std::string_view t) -> std::optional<std::string> {
        return "sealed-" + std::string(t);
    };
    hubspot.strict_envelope = true;
    all.push_back({"HubSpot page", "json", bench::json_shape::hubspot, hubspot,
                   "https://crm.example.be/crm/v3/objects/contacts?after=45"});
    filter_spec salesforce = bench::promotion_spec(body_format::json);
    salesforce.records = "/records";
    salesforce.link_fields = {"/nextRecordsUrl"};
    all.push_back({"Salesforce page", "json", bench::json_shape::salesforce, salesforce,
                   "/services/data/v58.0/query/01gD0000002HU6KIAW-2000"});
    all.push_back({"NDJSON lines", "ndjson", bench::json_shape::odata,
                   bench::promotion_spec(body_format::ndjson), ""});
    all.push_back({"NDJSON lines, rich purpose", "ndjson", bench::json_shape::odata,
                   rich_spec(body_format::ndjson), ""});
    return all;
}

// The second exports of a case: more records from another seed (with the next link: NDJSON has a
// line holding one), a single record, and none.
std::vector<std::string> second_exports(const export_case& c) {
    std::vector<std::string> all;
    std::string more = contacts(c.format, {9, 2, 0, c.shape, c.link});
    if (c.format == "ndjson") {
        more += R"({"id":"x-1","consent":{"email":true},"@odata.nextLink":"https://crm/n?p=2"})"
                "\n";
    }
    all.push_back(std::move(more));
    all.push_back(contacts(c.format, {1, 6, 3, c.shape, ""}));
    all.push_back(contacts(c.format, {0, 3, 0, c.shape, ""}));
    return all;
}

TEST_F(FilterShelf, RememberingFilterWritesWhatAFreshOneWritesOnGeneratedExports) {
    for (const export_case& c : export_cases()) {
        const std::string first = contacts(c.format, {5, 6, 0, c.shape, ""});
        for (const cuts_list& learnt_in : {cuts_list{}, every(5, first.size())}) {
            for (const std::string& second : second_exports(c)) {
                for (const cuts_list& cuts : chunkings_of(second)) {
                    auto memory = learn(c.spec, first, learnt_in);
                    ASSERT_NE(memory, nullptr) << c.name << ": the first export was refused";
                    expect_as_fresh(c.spec, std::move(memory), second, cuts,
                                    c.name + " (learnt from " + describe(learnt_in) + ")");
                    if (HasFailure()) return;
                }
            }
        }
    }
}

TEST_F(FilterShelf, EachExportOfAChainThroughTheShelfIsFilteredAsByAFreshFilter) {
    for (const export_case& c : export_cases()) {
        const std::vector<std::string> chain = {contacts(c.format, {4, 6, 3, c.shape, c.link}),
                                                contacts(c.format, {9, 2, 0, c.shape, ""}),
                                                contacts(c.format, {1, 1, 4, c.shape, c.link}),
                                                contacts(c.format, {3, 5, 0, c.shape, ""})};
        clear_shelf();
        for (std::size_t i = 0; i < chain.size(); ++i) {
            const std::string& body = chain[i];
            auto remembering = make_filter_remembering(c.spec);
            // Every export but the first takes the memory its predecessor left.
            EXPECT_EQ(shelved_memories(), 0u) << c.name << ", export " << i;
            const testing::run_result fresh = testing::run_whole(c.spec, body);
            testing::run_result r;
            r.error = run(*remembering, body, every(3, body.size()), r.output);
            r.counters = remembering->counters();
            ASSERT_FALSE(fresh.error) << c.name << ": " << fresh.error.message();
            ASSERT_FALSE(r.error) << c.name << ", export " << i << ": " << r.error.message();
            EXPECT_EQ(r.output, fresh.output) << c.name << ", export " << i;
            EXPECT_TRUE(testing::same_counters(r.counters, fresh.counters))
                << c.name << ", export " << i << ": stripped "
                << describe(r.counters.stripped_fields) << ", fresh "
                << describe(fresh.counters.stripped_fields);
            remember(*remembering);
            EXPECT_EQ(shelved_memories(), 1u) << c.name << ", export " << i;
        }
    }
}

// The subject index and the suppression list hear about the same records, in the same order.
TEST_F(FilterShelf, RememberingFilterDecidesTheSameRecordsAsAFreshOne) {
    struct heard {
        std::vector<std::string> decided;  // "<id> kept" or "<id> dropped"
        int suppression_checks = 0;
    };
    const auto spec_telling = [](body_format format, heard& h) {
        filter_spec spec = rich_spec(format);
        auto suppressed = spec.rules.suppressed;
        spec.rules.suppressed = [&h, suppressed](const record_fields& f) {
            ++h.suppression_checks;
            return suppressed(f);
        };
        // rich_spec's one subject field is the id: the record's name.
        spec.rules.decided = [&h](const record_fields& f, bool kept) {
            std::string id = "?";
            for (const auto [index, value] : f.subjects())
                if (index == 0) id = value;
            h.decided.push_back(id + (kept ? " kept" : " dropped"));
        };
        return spec;
    };
    for (body_format format : {body_format::json, body_format::ndjson}) {
        const std::string_view name = format == body_format::json ? "json" : "ndjson";
        const std::string first = contacts(name, {4, 5, 0, bench::json_shape::odata, ""});
        const std::string second = contacts(name, {9, 6, 0, bench::json_shape::odata, ""});
        for (const cuts_list& cuts : {cuts_list{}, every(1, second.size())}) {
            heard learning;
            heard fresh;
            heard remembered;
            auto memory = learn(spec_telling(format, learning), first);
            ASSERT_NE(memory, nullptr);
            std::string fresh_out;
            std::string remembered_out;
            auto f = make_filter(spec_telling(format, fresh));
            ASSERT_FALSE(run(*f, second, cuts, fresh_out));
            auto r = make_filter(spec_telling(format, remembered), std::move(memory));
            ASSERT_FALSE(run(*r, second, cuts, remembered_out));
            EXPECT_EQ(remembered_out, fresh_out);
            EXPECT_EQ(remembered.decided, fresh.decided) << name << ", " << describe(cuts);
            EXPECT_EQ(remembered.suppression_checks, fresh.suppression_checks);
            EXPECT_EQ(fresh.decided.size(), 9u);
            EXPECT_EQ(learning.decided.size(), 4u);
        }
    }
}

// Records of a small vocabulary whose paths take other kinds of value from record to record
// (an object here, a string or an array there), with keys that need escapes, so that what the
// first export decided for a path meets every kind in the second.
std::vector<std::string> mixed_records(std::uint32_t seed, int count) {
    static const std::vector<std::string> values = {R"(1)",
                                                    R"("s")",
                                                    R"(true)",
                                                    R"(null)",
                                                    R"({"city":"Gent","zip":"9000","x.y":1})",
                                                    R"([1,{"city":"Bree"},[]])",
                                                    R"("crm:\u00e9")",
                                                    R"({})",
                                                    R"([])",
                                                    R"(-0.5e3)"};
    static const std::vector<std::string> keys = {
        "id",          "email",
        "address",     "tags",
        "x.y",         "\\u0065mail2",
        "consent",     "notes",
        "@odata.etag", "email@OData.Community.Display.V1.FormattedValue"};
    std::mt19937 rng(seed);
    std::vector<std::string> all;
    for (int n = 0; n < count; ++n) {
        std::string r = "{";
        for (const std::string& key : keys) {
            const std::size_t pick = rng() % (values.size() + 2);
            if (pick >= values.size()) continue;  // the key is absent from this record
            if (r.size() > 1) r += ',';
            r += '"' + key + "\":" + values[pick];
        }
        all.push_back(r + "}");
    }
    return all;
}

TEST_F(FilterShelf, RememberingFilterWritesWhatAFreshOneWritesWhenPathsChangeKind) {
    for (body_format format : {body_format::json, body_format::ndjson}) {
        for (int variant = 0; variant < 3; ++variant) {
            filter_spec spec = spec_for(
                format, {"id", "email", "address.city", "tags.city", "x.y", "@odata.etag"});
            if (variant >= 1) {
                spec.rules.conditions.push_back(
                    {"consent", condition_op::not_empty, {}, false, drop_reason::no_consent});
                spec.rules.conditions.push_back(
                    {"address.city", condition_op::equals, {"Bree"}, true, drop_reason::condition});
            }
            if (variant == 2) {
                spec.transforms =
                    transform_set({{"address.city", transform_kind::mask, 1},
                                   {"email", transform_kind::pseudonymise, 0}},
                                  std::make_shared<const std::vector<unsigned char>>(16, 3));
                spec.link_fields = {format == body_format::json ? "/next" : "/notes"};
                spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
                    if (url.substr(0, 4) != "crm:") return std::nullopt;
                    return "ew:" + std::string(url.substr(4));
                };
            }
            for (std::uint32_t seed = 1; seed <= 12; ++seed) {
                const std::vector<std::string> first = mixed_records(seed, 6);
                const std::vector<std::string> second = mixed_records(seed + 100, 6);
                const std::string second_body = body_of(format, second);
                for (const cuts_list& cuts :
                     {cuts_list{}, every(1, second_body.size()), every(9, second_body.size())}) {
                    auto memory = learn(spec, body_of(format, first));
                    ASSERT_NE(memory, nullptr) << body_of(format, first);
                    expect_as_fresh(
                        spec, std::move(memory), second_body, cuts,
                        "variant " + std::to_string(variant) + ", seed " + std::to_string(seed));
                    if (HasFailure()) return;
                }
            }
        }
    }
}

// Single-record GETs: the record at /data (its links in the envelope), and the document root as
// the record (its links inside it, looked up as in NDJSON lines); a record the rules drop is null.
TEST_F(FilterShelf, RememberingFilterWritesWhatAFreshOneWritesOnSingleRecordGets) {
    const auto get_spec = [](std::string records) {
        filter_spec spec;
        spec.single_record = true;
        spec.records = std::move(records);
        spec.field_root = "attributes";
        spec.allowed = field_set({"id", "email", "address.city"});
        spec.rules.conditions.push_back(
            {"consent", condition_op::is_true, {}, false, drop_reason::no_consent});
        spec.link_fields = {"/links/self", "/data/links/self"};
        spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
            if (url.substr(0, 12) != "https://crm/") return std::nullopt;
            return "https://ew/" + std::string(url.substr(12));
        };
        spec.strict_envelope = true;
        return spec;
    };
    const std::vector<std::string> records = {
        R"({"id":"1","attributes":{"email":"a@x","consent":true,"address":{"city":"Gent",)"
        R"("zip":"9000"},"notes":"n"},"links":{"self":"https://crm/1"}})",
        R"({"id":"2","attributes":{"email":"b@x","consent":"no","phone":"1"},)"
        R"("links":{"self":"https://other/2"}})",
        R"({"id":"3","attributes":{"email":["c@x"],"consent":true,"address":"none"}})",
        R"({"attributes":{"consent":true,"address":{"city":["x"],"geo":{"lat":1}}},"links":[]})"};
    for (const std::string& where : {std::string("/data"), std::string()}) {
        const filter_spec spec = get_spec(where);
        const auto get = [&](const std::string& record) {
            return where.empty() ? record
                                 : R"({"data":)" + record + R"(,"links":{"self":"https://crm/s"}})";
        };
        std::size_t written = 0;
        for (const std::string& second : records) {
            const testing::run_result fresh = testing::run_whole(spec, get(second));
            EXPECT_FALSE(fresh.error) << get(second) << ": " << fresh.error.message();
            written += fresh.counters.records_out;
        }
        EXPECT_EQ(written, 3u) << "record 2 is dropped";
        for (const std::string& first : records) {
            for (const std::string& second : records) {
                const std::string body = get(second);
                for (const cuts_list& cuts : {cuts_list{}, every(1, body.size())}) {
                    auto memory = learn(spec, get(first));
                    ASSERT_NE(memory, nullptr) << get(first);
                    expect_as_fresh(spec, std::move(memory), body, cuts,
                                    "GET at '" + where + "' after " + first);
                    if (HasFailure()) return;
                }
            }
        }
    }
}

// A memory fills part of the bounded caches (paths, facts, stripped names) before the export
// starts: an export that then runs past their bounds is still filtered as by a fresh filter.
TEST_F(FilterShelf, ExportPastThePathCachesAfterAMemoryIsFilteredAsByAFreshFilter) {
    for (body_format format : {body_format::json, body_format::ndjson}) {
        const filter_spec spec = spec_for(format, {"id", "address"});
        std::string kept = R"({"id":"1","address":{)";
        for (int i = 0; i < 400; ++i) {
            kept += (i == 0 ? "\"k" : ",\"k") + std::to_string(i) + "\":" + std::to_string(i);
        }
        kept += "}}";
        std::vector<std::string> many;
        for (int r = 0; r < 3; ++r) {
            std::string record = R"({"id":")" + std::to_string(r) + R"(","address":{"k1":1})";
            for (int i = 0; i < 2500; ++i) {
                record +=
                    ",\"n" + std::to_string(r * 2000 + i) + "\":{\"a\":" + std::to_string(i) + "}";
            }
            many.push_back(record + "}");
        }
        const std::string second = body_of(format, many);
        for (const cuts_list& cuts : {cuts_list{}, every(4093, second.size())}) {
            auto memory = learn(spec, body_of(format, {kept}));
            ASSERT_NE(memory, nullptr) << "400 paths fit in a memory";
            expect_as_fresh(spec, std::move(memory), second, cuts, "past the caches");
        }
        const testing::run_result fresh = testing::run_whole(spec, second);
        EXPECT_EQ(fresh.counters.stripped_fields.count("*"), 1u) << "the names ran past their cap";
    }
}

// --- stripped-field counters -------------------------------------------------------------------

TEST_F(FilterShelf, FieldStrippedInTheFirstExportButAbsentFromTheSecondIsNotReported) {
    for (body_format format : {body_format::json, body_format::ndjson}) {
        const filter_spec spec = spec_for(format, {"id", "email"});
        const std::string first = body_of(
            format, {R"({"id":"1","email":"a@x","notes":"call","iban":"BE1"})",
                     R"({"id":"2","email":"b@x","notes":"later","address":{"city":"Gent"}})"});
        const std::string second =
            body_of(format, {R"({"id":"3","email":"c@x","iban":"BE3"})", R"({"id":"4"})"});
        for (const cuts_list& cuts : {cuts_list{}, every(1, second.size())}) {
            auto memory = learn(spec, first);
            ASSERT_NE(memory, nullptr);
            const testing::run_result r = run_remembering(spec, std::move(memory), second, cuts);
            const testing::run_result fresh = testing::run_cut(spec, second, cuts);
            ASSERT_FALSE(r.error) << r.error.message();
            EXPECT_EQ(r.counters.stripped_fields, fresh.counters.stripped_fields)
                << "remembered " << describe(r.counters.stripped_fields) << ", fresh "
                << describe(fresh.counters.stripped_fields);
            EXPECT_EQ(r.counters.stripped_fields.count("notes"), 0u);
            EXPECT_EQ(r.counters.stripped_fields.count("address"), 0u);
            EXPECT_EQ(stripped(r.counters, "iban"), 1u);
        }
    }
}

TEST_F(FilterShelf, StrippedEnvelopeMemberOfTheFirstExportIsNotReportedForTheSecond) {
    filter_spec spec = page_spec({"id"});
    spec.strict_envelope = true;
    const std::string first = R"({"cursor":"c1","value":[{"id":"1","notes":"n"}],"hint":"h"})";
    const std::string second = R"({"value":[{"id":"2"}]})";
    auto memory = learn(spec, first);
    ASSERT_NE(memory, nullptr);
    const testing::run_result r = run_remembering(spec, std::move(memory), second);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_TRUE(r.counters.stripped_fields.empty()) << describe(r.counters.stripped_fields);
    EXPECT_EQ(r.output, second);
}

TEST_F(FilterShelf, FieldStrippedAgainAfterAnExportWithoutItCountsOnlyItsOwnExport) {
    for (body_format format : {body_format::json, body_format::ndjson}) {
        const filter_spec spec = spec_for(format, {"id"});
        const std::vector<std::string> chain = {
            body_of(format, {R"({"id":"1","notes":"a"})", R"({"id":"2","notes":"b"})",
                             R"({"id":"3","notes":"c"})"}),
            body_of(format, {R"({"id":"4"})"}),
            body_of(format, {R"({"id":"5","notes":"d"})", R"({"id":"6","phone":"1"})"})};
        const std::vector<std::uint64_t> notes = {3, 0, 1};
        for (std::size_t i = 0; i < chain.size(); ++i) {
            auto filter = make_filter_remembering(spec);
            std::string out;
            ASSERT_FALSE(run(*filter, chain[i], {}, out));
            EXPECT_EQ(stripped(filter->counters(), "notes"), notes[i]) << "export " << i;
            EXPECT_EQ(filter->counters().stripped_fields,
                      testing::run_whole(spec, chain[i]).counters.stripped_fields)
                << "export " << i;
            remember(*filter);
        }
    }
}

TEST_F(FilterShelf, StrippedCountersAfterEachFeedAreTheFreshFiltersOwn) {
    for (body_format format : {body_format::json, body_format::ndjson}) {
        const filter_spec spec = spec_for(format, {"id"});
        const std::string first = body_of(format, {R"({"id":"1","a":1,"b":{"c":2},"d":[3]})"});
        const std::string second =
            body_of(format, {R"({"id":"2","d":[4]})", R"({"id":"3","b":{},"e":"x"})"});
        auto memory = learn(spec, first);
        ASSERT_NE(memory, nullptr);
        // expect_as_fresh compares the counters after every feed.
        expect_as_fresh(spec, std::move(memory), second, every(1, second.size()), "per feed");
    }
}

// A stripped string that turns out malformed in the first record of an export: a fresh filter
// decides that record's paths as their values arrive, and refuses the body before it counts the
// string; a filter started from a memory that strips the path skips the value quietly, counting
// it as it starts (as a fresh filter does from its second record on), and then refuses the body.
// Both refuse it alike, with the same output; the counters of the refused export differ by that
// one value and nothing else (docs/audit-trail.md: an aborted export's stripped fields are those
// read up to the fault).
TEST_F(FilterShelf, ExportRefusedInItsFirstRecordDiffersOnlyByTheValueAtTheFault) {
    for (body_format format : {body_format::json, body_format::ndjson}) {
        const filter_spec spec = spec_for(format, {"id"});
        const std::string first = body_of(format, {R"({"id":"1","x":"s"})"});
        for (const std::string value : {R"("\UA66D")", R"(")"}) {
            SCOPED_TRACE(value);
            const std::string second = body_of(format, {R"({"id":"2","x":)" + value + "}"});
            auto memory = learn(spec, first);
            ASSERT_NE(memory, nullptr);
            expect_as_fresh(spec, std::move(memory), second, {}, second,
                            after_error::all_but_counters);
            const testing::run_result fresh = run_remembering(spec, nullptr, second);
            const testing::run_result remembered =
                run_remembering(spec, learn(spec, first), second);
            ASSERT_TRUE(fresh.error);
            // The value at the fault is counted or not; nothing else differs.
            const std::uint64_t x = stripped(fresh.counters, "x");
            EXPECT_TRUE(stripped(remembered.counters, "x") == x ||
                        stripped(remembered.counters, "x") == x + 1);
            auto others = remembered.counters.stripped_fields;
            auto fresh_others = fresh.counters.stripped_fields;
            others.erase("x");
            fresh_others.erase("x");
            EXPECT_EQ(others, fresh_others);
            EXPECT_EQ(remembered.counters.records_in, fresh.counters.records_in);
            EXPECT_EQ(remembered.counters.records_out, fresh.counters.records_out);
        }
    }
}

// A record with `count` members named `prefix`0, `prefix`1, … beside its id.
std::string record_with_names(const std::string& prefix, int count) {
    std::string r = R"({"id":"1")";
    for (int i = 0; i < count; ++i) r += ",\"" + prefix + std::to_string(i) + "\":" + "0";
    return r + "}";
}

// Upstream chooses the names: a first export with more distinct stripped names than a memory
// carries hands on nothing, so a second export's names are counted one by one as by a fresh
// filter (not under "*" because of names it never held).
TEST_F(FilterShelf, ExportAfterOneWithManyStrippedNamesCountsItsNamesAsAFreshFilter) {
    for (body_format format : {body_format::json, body_format::ndjson}) {
        const filter_spec spec = spec_for(format, {"id"});
        const std::string first = body_of(format, {record_with_names("old", 300)});
        const std::string second = body_of(format, {record_with_names("new", 250)});
        auto memory = learn(spec, first);
        const testing::run_result r = run_remembering(spec, std::move(memory), second);
        const testing::run_result fresh = testing::run_whole(spec, second);
        ASSERT_FALSE(r.error) << r.error.message();
        EXPECT_EQ(r.counters.stripped_fields, fresh.counters.stripped_fields);
        EXPECT_EQ(r.counters.stripped_fields.count("*"), 0u);
        EXPECT_EQ(r.counters.stripped_fields.size(), 250u);
    }
}

// The documented approximation (json_rewriter.hpp, max_stripped_names): names carried over from
// the export before (at most 64) count toward the cap of 256 distinct names; an export with up
// to 192 new names is counted exactly as by a fresh filter.
TEST_F(FilterShelf, CarriedStrippedNamesLeaveRoomForOneHundredNinetyTwoNewOnes) {
    for (body_format format : {body_format::json, body_format::ndjson}) {
        const filter_spec spec = spec_for(format, {"id"});
        const std::string first = body_of(format, {record_with_names("old", 64)});
        const std::string second = body_of(format, {record_with_names("new", 192)});
        auto memory = learn(spec, first);
        ASSERT_NE(memory, nullptr) << "a memory carries 64 stripped names";
        expect_as_fresh(spec, std::move(memory), second, {}, "192 new names");
    }
}

// --- a memory never reaches a filter of another spec -------------------------------------------

TEST_F(FilterShelf, SpecStrippingEmailNeverStartsFromMemoryLearntKeepingIt) {
    for (body_format format : {body_format::json, body_format::ndjson}) {
        const std::string_view name = format == body_format::json ? "json" : "ndjson";
        const filter_spec keeps = bench::promotion_spec(format);
        filter_spec strips = keeps;
        strips.allowed = field_set({"id", "first_name"});
        ASSERT_FALSE(same_decisions(keeps, strips));
        const std::string first = contacts(name, {5, 6, 0, bench::json_shape::odata, ""});
        const std::string second = contacts(name, {9, 2, 0, bench::json_shape::odata, ""});

        // Given the memory directly.
        for (const cuts_list& cuts : {cuts_list{}, every(1, second.size())}) {
            auto memory = learn(keeps, first);
            ASSERT_NE(memory, nullptr);
            const testing::run_result r = run_remembering(strips, std::move(memory), second, cuts);
            ASSERT_FALSE(r.error) << r.error.message();
            EXPECT_GT(r.counters.records_out, 0u);
            EXPECT_EQ(r.output.find(contact_mail_domain), std::string::npos) << r.output;
            EXPECT_EQ(r.output, testing::run_cut(strips, second, cuts).output);
            EXPECT_EQ(stripped(r.counters, "email"), 9u);
        }

        // Through the shelf: the memory stays there, unused.
        auto keeping = make_filter(keeps);
        std::string out;
        ASSERT_FALSE(run(*keeping, first, {}, out));
        EXPECT_NE(out.find(contact_mail_domain), std::string::npos);
        remember(*keeping);
        ASSERT_EQ(shelved_memories(), 1u);
        auto stripping = make_filter_remembering(strips);
        EXPECT_EQ(shelved_memories(), 1u);
        std::string stripped_out;
        ASSERT_FALSE(run(*stripping, second, {}, stripped_out));
        EXPECT_EQ(stripped_out.find(contact_mail_domain), std::string::npos) << stripped_out;
        clear_shelf();
    }
}

// For each change of a spec member that decides a path: a filter of the changed spec given the
// base spec's memory filters as a fresh filter of the changed spec.
TEST_F(FilterShelf, MemoryOfAnotherSpecIsNeverUsed) {
    using change = std::function<void(filter_spec&)>;
    const std::vector<std::pair<std::string, change>> changes = {
        {"email not allowed",
         [](filter_spec& s) {
             s.allowed = field_set({"id", "first_name"});
         }},
        {"notes allowed",
         [](filter_spec& s) {
             s.allowed = field_set({"id", "first_name", "email", "notes"});
         }},
        {"address allowed whole",
         [](filter_spec& s) {
             s.allowed = field_set({"id", "email", "address"});
         }},
        {"only address.city allowed",
         [](filter_spec& s) { s.allowed = field_set({"address.city"}); }},
        {"fields under address", [](filter_spec& s) { s.field_root = "address"; }},
        {"records elsewhere", [](filter_spec& s) { s.records = "/records"; }},
        {"a rule on consent.sms",
         [](filter_spec& s) { s.rules.conditions.front().field = "consent.sms"; }},
        {"the rule excludes", [](filter_spec& s) { s.rules.conditions.front().exclude = true; }},
        {"no rule", [](filter_spec& s) { s.rules.conditions.clear(); }},
        {"a rule on the address",
         [](filter_spec& s) {
             s.rules.conditions.push_back(
                 {"address", condition_op::not_empty, {}, false, drop_reason::condition});
         }},
        {"email pseudonymised",
         [](filter_spec& s) {
             s.transforms =
                 transform_set({{"email", transform_kind::pseudonymise, 0}},
                               std::make_shared<const std::vector<unsigned char>>(16, 0x01));
         }},
        {"first_name truncated",
         [](filter_spec& s) {
             s.transforms = transform_set({{"first_name", transform_kind::truncate_chars, 1}}, {});
         }},
        {"no link field", [](filter_spec& s) { s.link_fields.clear(); }},
        {"no link rewriter", [](filter_spec& s) { s.rewrite_link = nullptr; }},
        {"the context as a link", [](filter_spec& s) { s.link_fields = {"/@odata.context"}; }},
        {"strict envelope", [](filter_spec& s) { s.strict_envelope = true; }},
        {"shallow", [](filter_spec& s) { s.max_depth = 3; }},
        {"small records", [](filter_spec& s) { s.max_record_bytes = 200; }},
        {"a suppression list",
         [](filter_spec& s) {
             s.rules.suppression_fields = {"email"};
             s.rules.suppressed = [](const record_fields&) { return false; };
         }},
        {"addresses as nested records",
         [](filter_spec& s) {
             s.allowed = field_set({"id", "address"});
             nested_record_set set;
             set.path = "address";
             set.in_record = true;
             set.map = true;
             set.keep = false;
             s.nested.push_back(set);
         }},
    };
    const filter_spec base = bench::promotion_spec(body_format::json);
    const std::string first = contacts("json", {5, 6, 0, bench::json_shape::odata, ""});
    const std::string second =
        contacts("json", {9, 2, 0, bench::json_shape::odata, "https://crm/next"});
    for (const auto& [name, apply] : changes) {
        filter_spec changed = base;
        apply(changed);
        EXPECT_FALSE(same_decisions(base, changed)) << name;
        for (const cuts_list& cuts : {cuts_list{}, every(7, second.size())}) {
            auto memory = learn(base, first);
            ASSERT_NE(memory, nullptr);
            expect_as_fresh(changed, std::move(memory), second, cuts, name);
        }
    }
}

// A base spec in which every member same_decisions compares differs from its default.
filter_spec every_member_spec() {
    filter_spec spec;
    spec.format = body_format::json;
    spec.records = "/data";
    spec.field_root = "attributes";
    spec.allowed = field_set({"id", "email", "address.city"});
    spec.rules.conditions.push_back(
        {"consent", condition_op::in_set, {"yes", "true"}, false, drop_reason::no_consent, true});
    spec.rules.suppressed = [](const record_fields&) { return false; };
    spec.rules.suppression_fields = {"email"};
    spec.rules.subject_fields = {"id"};
    spec.rules.decided = [](const record_fields&, bool) {};
    spec.transforms = transform_set({{"email", transform_kind::mask, 2}},
                                    std::make_shared<const std::vector<unsigned char>>(16, 7));
    spec.link_fields = {"/links/next"};
    spec.rewrite_link = [](std::string_view) -> std::optional<std::string> { return "ew"; };
    spec.token_fields = {"/meta/after"};
    spec.seal_token = [](std::string_view) -> std::optional<std::string> { return "sealed"; };
    spec.envelope_fields = {"/meta/total"};
    spec.csv.delimiter = ';';
    spec.csv.quote = '\'';
    spec.csv.formula_guard = false;
    spec.csv.header_space = '_';
    spec.strict_envelope = true;
    nested_record_set set;
    set.path = "/included";
    set.discriminator = "type";
    set.discriminator_value = "accounts";
    set.field_root = "attributes";
    set.allowed = field_set({"name"});
    set.rules.conditions.push_back(
        {"objection", condition_op::is_set, {}, true, drop_reason::objected});
    set.rules.suppressed = [](const record_fields&) { return false; };
    set.rules.decided = [](const record_fields&, bool) {};
    set.transforms = transform_set({{"name", transform_kind::truncate_chars, 3}}, {});
    spec.nested.push_back(set);
    spec.single_record = false;
    spec.max_record_bytes = 4096;
    spec.max_depth = 16;
    spec.max_records = 100;
    return spec;
}

TEST(SameDecisions, ComparesEveryMemberThatDecidesAPath) {
    using change = std::function<void(filter_spec&)>;
    const auto condition = [](filter_spec& s) -> record_condition& {
        return s.rules.conditions.front();
    };
    const auto nested = [](filter_spec& s) -> nested_record_set& { return s.nested.front(); };
    const std::vector<std::pair<std::string, change>> changes = {
        {"format ndjson", [](filter_spec& s) { s.format = body_format::ndjson; }},
        {"format csv", [](filter_spec& s) { s.format = body_format::csv; }},
        {"format xml", [](filter_spec& s) { s.format = body_format::xml; }},
        {"single_record", [](filter_spec& s) { s.single_record = true; }},
        {"strict_envelope", [](filter_spec& s) { s.strict_envelope = false; }},
        {"max_record_bytes", [](filter_spec& s) { s.max_record_bytes = 4097; }},
        {"max_depth", [](filter_spec& s) { s.max_depth = 17; }},
        {"records", [](filter_spec& s) { s.records = "/value"; }},
        {"records empty", [](filter_spec& s) { s.records.clear(); }},
        {"field_root", [](filter_spec& s) { s.field_root = "properties"; }},
        {"field_root empty", [](filter_spec& s) { s.field_root.clear(); }},
        {"allowed: one more",
         [](filter_spec& s) {
             s.allowed = field_set({"id", "email", "address.city", "phone"});
         }},
        {"allowed: one fewer",
         [](filter_spec& s) {
             s.allowed = field_set({"id", "email"});
         }},
        {"allowed: a parent instead",
         [](filter_spec& s) {
             s.allowed = field_set({"id", "email", "address"});
         }},
        {"allowed: none", [](filter_spec& s) { s.allowed = field_set(); }},
        {"condition field", [&](filter_spec& s) { condition(s).field = "consent.email"; }},
        {"condition op", [&](filter_spec& s) { condition(s).op = condition_op::equals; }},
        {"condition values", [&](filter_spec& s) { condition(s).values = {"yes"}; }},
        {"condition exclude", [&](filter_spec& s) { condition(s).exclude = true; }},
        {"condition reason", [&](filter_spec& s) { condition(s).reason = drop_reason::condition; }},
        {"condition strict", [&](filter_spec& s) { condition(s).strict = false; }},
        {"a condition more",
         [](filter_spec& s) {
             s.rules.conditions.push_back(
                 {"objection", condition_op::is_set, {}, true, drop_reason::objected});
         }},
        {"no condition", [](filter_spec& s) { s.rules.conditions.clear(); }},
        {"no suppression list", [](filter_spec& s) { s.rules.suppressed = nullptr; }},
        {"suppression_fields", [](filter_spec& s) { s.rules.suppression_fields = {"id"}; }},
        {"subject_fields",
         [](filter_spec& s) {
             s.rules.subject_fields = {"id", "email"};
         }},
        {"no subject index", [](filter_spec& s) { s.rules.decided = nullptr; }},
        {"transform path",
         [](filter_spec& s) {
             s.transforms = transform_set({{"id", transform_kind::mask, 2}}, s.transforms.key());
         }},
        {"transform kind",
         [](filter_spec& s) {
             s.transforms =
                 transform_set({{"email", transform_kind::truncate_chars, 2}}, s.transforms.key());
         }},
        {"transform keep",
         [](filter_spec& s) {
             s.transforms = transform_set({{"email", transform_kind::mask, 3}}, s.transforms.key());
         }},
        {"a transform more",
         [](filter_spec& s) {
             s.transforms = transform_set(
                 {{"email", transform_kind::mask, 2}, {"address.city", transform_kind::year, 0}},
                 s.transforms.key());
         }},
        {"no transform", [](filter_spec& s) { s.transforms = transform_set(); }},
        {"no transform key",
         [](filter_spec& s) {
             s.transforms = transform_set({{"email", transform_kind::mask, 2}}, nullptr);
         }},
        {"link_fields", [](filter_spec& s) { s.link_fields = {"/links/prev"}; }},
        {"no link_fields", [](filter_spec& s) { s.link_fields.clear(); }},
        {"no link rewriter", [](filter_spec& s) { s.rewrite_link = nullptr; }},
        {"token_fields", [](filter_spec& s) { s.token_fields = {"/meta/before"}; }},
        {"no token sealer", [](filter_spec& s) { s.seal_token = nullptr; }},
        {"envelope_fields", [](filter_spec& s) { s.envelope_fields = {"/meta/count"}; }},
        {"csv delimiter", [](filter_spec& s) { s.csv.delimiter = ','; }},
        {"csv quote", [](filter_spec& s) { s.csv.quote = '"'; }},
        {"csv formula_guard", [](filter_spec& s) { s.csv.formula_guard = true; }},
        {"csv header_space", [](filter_spec& s) { s.csv.header_space = 0; }},
        {"no nested set", [](filter_spec& s) { s.nested.clear(); }},
        {"a nested set more", [&](filter_spec& s) { s.nested.push_back(nested(s)); }},
        {"nested path", [&](filter_spec& s) { nested(s).path = "/related"; }},
        {"nested in_record", [&](filter_spec& s) { nested(s).in_record = true; }},
        {"nested map", [&](filter_spec& s) { nested(s).map = true; }},
        {"nested discriminator", [&](filter_spec& s) { nested(s).discriminator = "kind"; }},
        {"nested discriminator_value",
         [&](filter_spec& s) { nested(s).discriminator_value = "users"; }},
        {"nested field_root", [&](filter_spec& s) { nested(s).field_root.clear(); }},
        {"nested keep", [&](filter_spec& s) { nested(s).keep = false; }},
        {"nested allowed",
         [&](filter_spec& s) {
             nested(s).allowed = field_set({"name", "id"});
         }},
        {"nested condition field",
         [&](filter_spec& s) { nested(s).rules.conditions.front().field = "consent"; }},
        {"nested no suppression list",
         [&](filter_spec& s) { nested(s).rules.suppressed = nullptr; }},
        {"nested suppression_fields",
         [&](filter_spec& s) { nested(s).rules.suppression_fields = {"email"}; }},
        {"nested subject_fields", [&](filter_spec& s) { nested(s).rules.subject_fields = {"id"}; }},
        {"nested no subject index", [&](filter_spec& s) { nested(s).rules.decided = nullptr; }},
        {"nested transforms", [&](filter_spec& s) { nested(s).transforms = transform_set(); }},
        {"nested transform keep",
         [&](filter_spec& s) {
             nested(s).transforms =
                 transform_set({{"name", transform_kind::truncate_chars, 4}}, {});
         }},
    };
    const filter_spec base = every_member_spec();
    ASSERT_TRUE(same_decisions(base, base));
    for (const auto& [name, apply] : changes) {
        filter_spec changed = base;
        apply(changed);
        EXPECT_FALSE(same_decisions(base, changed)) << name;
        EXPECT_FALSE(same_decisions(changed, base)) << name;
    }
}

TEST(SameDecisions, IgnoresTheQuotaAndWhichCallbacksAndKeysAreSet) {
    // Built anew: no member shares its storage with the base's (the allow-lists, the key).
    filter_spec other = every_member_spec();
    const filter_spec base = every_member_spec();
    other.max_records = 7;
    other.rewrite_link = [](std::string_view) -> std::optional<std::string> { return "other"; };
    other.seal_token = [](std::string_view) -> std::optional<std::string> { return "other"; };
    other.rules.suppressed = [](const record_fields&) { return true; };
    other.rules.decided = [](const record_fields&, bool kept) { EXPECT_TRUE(kept); };
    other.nested.front().rules.suppressed = [](const record_fields&) { return true; };
    other.nested.front().rules.decided = [](const record_fields&, bool) {};
    // A key changes the values a transform writes, not which values it transforms.
    other.transforms = transform_set({{"email", transform_kind::mask, 2}},
                                     std::make_shared<const std::vector<unsigned char>>(16, 8));
    EXPECT_TRUE(same_decisions(base, other));
    EXPECT_TRUE(same_decisions(other, base));
    other.max_records = 0;
    EXPECT_TRUE(same_decisions(base, other));
}

TEST(DecisionsOnly, KeepsTheDecisionsAndNothingOfTheExport) {
    auto export_state = std::make_shared<int>(0);
    auto key = std::make_shared<const std::vector<unsigned char>>(16, 9);
    filter_spec spec = every_member_spec();
    spec.transforms = transform_set({{"email", transform_kind::pseudonymise, 0}}, key);
    spec.rewrite_link = [export_state](std::string_view) -> std::optional<std::string> {
        return "ew";
    };
    spec.seal_token = [export_state](std::string_view) -> std::optional<std::string> {
        return "sealed";
    };
    spec.rules.suppressed = [export_state](const record_fields&) { return false; };
    spec.rules.decided = [export_state](const record_fields&, bool) {};
    spec.nested.front().rules.suppressed = [export_state](const record_fields&) { return false; };
    spec.nested.front().rules.decided = [export_state](const record_fields&, bool) {};
    spec.nested.front().transforms =
        transform_set({{"name", transform_kind::pseudonymise, 0}}, key);
    const long held_by_spec = export_state.use_count();
    const long key_held_by_spec = key.use_count();

    const filter_spec kept = decisions_only(spec);
    EXPECT_TRUE(same_decisions(spec, kept));
    EXPECT_TRUE(same_decisions(kept, spec));
    EXPECT_EQ(export_state.use_count(), held_by_spec) << "a callback of the export is kept";
    EXPECT_EQ(key.use_count(), key_held_by_spec) << "the pseudonymisation key is kept";
    EXPECT_NE(kept.transforms.key(), nullptr);
    EXPECT_NE(kept.nested.front().transforms.key(), nullptr);
}

TEST_F(FilterShelf, FilterWithMaxRecordsOfAnotherQuotaStartsFromTheMemory) {
    // max_records is not a decision: the memory is taken, and the quota is the new filter's own.
    filter_spec spec = bench::promotion_spec(body_format::json);
    spec.max_records = 100;
    const std::string first = contacts("json", {5, 6, 0, bench::json_shape::odata, ""});
    auto filter = make_filter(spec);
    std::string out;
    ASSERT_FALSE(run(*filter, first, {}, out));
    remember(*filter);
    ASSERT_EQ(shelved_memories(), 1u);
    filter_spec small_quota = spec;
    small_quota.max_records = 1;
    auto limited = make_filter_remembering(small_quota);
    EXPECT_EQ(shelved_memories(), 0u);
    const std::string second = contacts("json", {9, 2, 0, bench::json_shape::odata, ""});
    std::string limited_out;
    const error_code e = run(*limited, second, {}, limited_out);
    const testing::run_result fresh = testing::run_whole(small_quota, second);
    EXPECT_EQ(e, fresh.error);
    EXPECT_EQ(e, err(filter_error::record_limit_exceeded));
    EXPECT_EQ(limited_out, fresh.output);
}

// --- the shelf ---------------------------------------------------------------------------------

// Runs a filter of `spec` over `body` and shelves what it learnt.
void run_and_remember(const filter_spec& spec, std::string_view body) {
    auto filter = make_filter_remembering(spec);
    std::string out;
    EXPECT_FALSE(run(*filter, body, {}, out));
    remember(*filter);
}

TEST_F(FilterShelf, FilterThatFailedLeavesNothingOnTheShelf) {
    struct failing {
        std::string name;
        filter_spec spec;
        std::string body;
        filter_error error;
        bool whole_too = true;  // also when fed whole (not only a byte at a time)
    };
    filter_spec json = page_spec({"id"});
    filter_spec ndjson = spec_for(body_format::ndjson, {"id"});
    filter_spec shallow = json;
    shallow.max_depth = 4;
    filter_spec small = json;
    small.max_record_bytes = 32;
    filter_spec quota = json;
    quota.max_records = 1;
    filter_spec strict = json;
    strict.strict_envelope = true;
    filter_spec strict_small = strict;
    strict_small.max_record_bytes = 16;
    strict_small.envelope_fields = {"/padding"};
    const std::vector<failing> cases = {
        {"malformed page", json, R"({"value":[{"id":"1","a":tru}]})", filter_error::malformed},
        {"malformed line", ndjson, "{\"id\":\"1\"}\n{\"id\":\"2\",}\n", filter_error::malformed},
        {"truncated page", json, R"({"value":[{"id":"1"},{"id":)", filter_error::truncated},
        {"truncated line", ndjson, "{\"id\":\"1\"}\n{\"id\":\"2\"", filter_error::truncated},
        {"too deep", shallow, R"({"value":[{"id":"1","a":{"b":{"c":[1]}}}]})",
         filter_error::too_deep},
        {"record too large", small,
         R"({"value":[{"id":"1","notes":"a note longer than the limit"}]})",
         filter_error::record_too_large},
        {"duplicate key", json, R"({"value":[{"id":"1","a":1,"a":2}]})",
         filter_error::duplicate_key},
        {"duplicate key in a line", ndjson, "{\"id\":\"1\",\"id\":\"2\"}\n",
         filter_error::duplicate_key},
        {"records not found", json, R"({"records":[{"id":"1"}]})", filter_error::records_not_found},
        {"records not found, strict", strict, R"({"id":"1","email":"a@x"})",
         filter_error::records_not_found},
        // The envelope hold refuses more than max_record_bytes before a record (fed whole, the
        // record arrives in the same feed).
        {"held too long", strict_small, R"({"padding":12345678901234567890,"value":[{"id":"1"}]})",
         filter_error::records_not_found, false},
        {"over the quota", quota, R"({"value":[{"id":"1"},{"id":"2"}]})",
         filter_error::record_limit_exceeded},
    };
    for (const failing& c : cases) {
        for (const cuts_list& cuts : {cuts_list{}, every(1, c.body.size())}) {
            if (cuts.empty() && !c.whole_too) continue;
            clear_shelf();
            auto filter = make_filter_remembering(c.spec);
            std::string out;
            EXPECT_EQ(run(*filter, c.body, cuts, out), err(c.error))
                << c.name << ", " << describe(cuts);
            // A caller that goes on after the error (against the contract) changes nothing.
            EXPECT_TRUE(filter->finish(out)) << c.name;
            remember(*filter);
            EXPECT_EQ(shelved_memories(), 0u) << c.name << ", " << describe(cuts);
            EXPECT_EQ(filter->take_memory(), nullptr) << c.name;
        }
    }
}

TEST_F(FilterShelf, FilterNeverFinishedLeavesNothingOnTheShelf) {
    for (body_format format : {body_format::json, body_format::ndjson}) {
        const std::string_view name = format == body_format::json ? "json" : "ndjson";
        const filter_spec spec = bench::promotion_spec(format);
        const std::string body = contacts(name, {3, 1, 0, bench::json_shape::odata, ""});
        {
            auto filter = make_filter_remembering(spec);
            std::string out;
            ASSERT_FALSE(filter->feed(body, out));
            remember(*filter);
            EXPECT_EQ(shelved_memories(), 0u) << name;
        }
        {
            // Destroyed without finish(): nothing reaches the shelf either.
            auto filter = make_filter_remembering(spec);
            std::string out;
            ASSERT_FALSE(filter->feed(body, out));
        }
        EXPECT_EQ(shelved_memories(), 0u) << name;
        // The same filter, finished, hands its memory on.
        auto filter = make_filter_remembering(spec);
        std::string out;
        ASSERT_FALSE(run(*filter, body, {}, out));
        remember(*filter);
        EXPECT_EQ(shelved_memories(), 1u) << name;
        clear_shelf();
    }
}

TEST_F(FilterShelf, FilterHandsItsMemoryOnOnce) {
    const filter_spec spec = bench::promotion_spec(body_format::json);
    auto filter = make_filter(spec);
    std::string out;
    ASSERT_FALSE(run(*filter, contacts("json", {2, 1, 0, bench::json_shape::odata, ""}), {}, out));
    remember(*filter);
    remember(*filter);
    EXPECT_EQ(shelved_memories(), 1u);
    EXPECT_EQ(filter->take_memory(), nullptr);
    auto first = make_filter_remembering(spec);
    EXPECT_EQ(shelved_memories(), 0u);
    auto second = make_filter_remembering(spec);
    EXPECT_EQ(shelved_memories(), 0u);
}

TEST_F(FilterShelf, CsvAndXmlFiltersLeaveNothingOnTheShelf) {
    filter_spec csv;
    csv.format = body_format::csv;
    csv.allowed = field_set({"id"});
    run_and_remember(csv, "id,email\n1,a@x\n");
    EXPECT_EQ(shelved_memories(), 0u);
    filter_spec xml;
    xml.format = body_format::xml;
    xml.records = "/result/records";
    xml.allowed = field_set({"Id"});
    run_and_remember(xml, "<result><records><Id>1</Id><Email>a@x</Email></records></result>");
    EXPECT_EQ(shelved_memories(), 0u);
}

// An NDJSON memory holds plans for paths on the way to a link inside each line ("links", entered
// to rewrite links.next); a JSON page's records have no link inside, and strip "links" whole.
TEST_F(FilterShelf, NdjsonMemoryIsNotUsedByAJsonFilterNorTheReverse) {
    filter_spec ndjson = spec_for(body_format::ndjson, {"id", "email"});
    ndjson.records = "/value";  // unused in NDJSON: the specs differ only in their format
    ndjson.link_fields = {"/links/next"};
    ndjson.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
        return "https://ew/" + std::string(url.substr(std::min<std::size_t>(url.size(), 12)));
    };
    filter_spec json = ndjson;
    json.format = body_format::json;
    const std::vector<std::string> records = {
        R"({"id":"1","email":"a@x","links":{"next":"https://crm/1","self":"s"},"notes":"n"})",
        R"({"id":"2","links":{"next":"https://crm/2"},"tags":[1]})"};
    const std::string lines = lines_of(records);
    const std::string page = page_of(records);

    for (const cuts_list& cuts : {cuts_list{}, every(1, page.size())}) {
        auto memory = learn(ndjson, lines);
        ASSERT_NE(memory, nullptr);
        expect_as_fresh(json, std::move(memory), page, cuts, "NDJSON memory, JSON filter");
    }
    for (const cuts_list& cuts : {cuts_list{}, every(1, lines.size())}) {
        auto memory = learn(json, page);
        ASSERT_NE(memory, nullptr);
        expect_as_fresh(ndjson, std::move(memory), lines, cuts, "JSON memory, NDJSON filter");
    }
    const testing::run_result page_out = testing::run_whole(json, page);
    ASSERT_FALSE(page_out.error);
    EXPECT_EQ(page_out.output, R"({"value":[{"id":"1","email":"a@x"},{"id":"2"}]})");

    // Through the shelf: each memory stays there, unused by the other format.
    run_and_remember(ndjson, lines);
    ASSERT_EQ(shelved_memories(), 1u);
    auto json_filter = make_filter_remembering(json);
    EXPECT_EQ(shelved_memories(), 1u);
    std::string out;
    ASSERT_FALSE(run(*json_filter, page, {}, out));
    EXPECT_EQ(out, page_out.output);
    clear_shelf();
    run_and_remember(json, page);
    auto ndjson_filter = make_filter_remembering(ndjson);
    EXPECT_EQ(shelved_memories(), 1u);
    std::string lines_out;
    ASSERT_FALSE(run(*ndjson_filter, lines, {}, lines_out));
    EXPECT_EQ(lines_out, testing::run_whole(ndjson, lines).output);
}

// A memory outlives its export (and a configuration reload): it holds none of the export's
// callbacks (its links, tokens, suppression list, subject index) nor the purpose's
// pseudonymisation key.
TEST_F(FilterShelf, RememberKeepsNoCallbackNorKeyOfTheExportAlive) {
    for (body_format format : {body_format::json, body_format::ndjson}) {
        const std::string_view name = format == body_format::json ? "json" : "ndjson";
        auto export_state = std::make_shared<int>(0);
        auto key = std::make_shared<const std::vector<unsigned char>>(32, 0x42);
        {
            filter_spec spec = rich_spec(format);
            spec.transforms = transform_set({{"email", transform_kind::pseudonymise, 0}}, key);
            spec.rewrite_link = [export_state](std::string_view url) -> std::optional<std::string> {
                ++*export_state;
                return std::string(url);
            };
            spec.seal_token = [export_state](std::string_view t) -> std::optional<std::string> {
                return std::string(t);
            };
            spec.rules.suppressed = [export_state](const record_fields&) { return false; };
            spec.rules.decided = [export_state](const record_fields&, bool) { ++*export_state; };
            nested_record_set discarded;
            discarded.path = "tags";
            discarded.in_record = true;
            discarded.rules.suppressed = [export_state](const record_fields&) { return false; };
            discarded.rules.decided = [export_state](const record_fields&, bool) {};
            discarded.transforms = transform_set({{"name", transform_kind::pseudonymise, 0}}, key);
            spec.nested.push_back(discarded);
            auto filter = make_filter_remembering(std::move(spec));
            std::string out;
            ASSERT_FALSE(
                run(*filter, contacts(name, {3, 1, 0, bench::json_shape::odata, ""}), {}, out));
            EXPECT_GT(*export_state, 0);
            remember(*filter);
            ASSERT_EQ(shelved_memories(), 1u) << name;
        }
        EXPECT_EQ(export_state.use_count(), 1) << name << ": the shelf keeps a callback alive";
        EXPECT_EQ(key.use_count(), 1) << name << ": the shelf keeps the key alive";
        clear_shelf();
    }
}

TEST_F(FilterShelf, ShelfKeepsOnlyTheMostRecentMemories) {
    // Two hundred purposes in turn, each allowing a field of its own.
    std::vector<filter_spec> specs;
    for (int i = 0; i < 200; ++i) specs.push_back(page_spec({"id", "f" + std::to_string(i)}));
    const std::string body = page_of({R"({"id":"1","f0":0,"email":"a@x"})"});
    for (const filter_spec& spec : specs) run_and_remember(spec, body);
    const std::size_t kept = shelved_memories();
    EXPECT_GE(kept, 1u);
    EXPECT_LT(kept, specs.size()) << "the shelf is bounded";
    // The oldest are gone: a filter of theirs starts afresh and takes nothing.
    for (std::size_t i = 0; i + kept < specs.size(); ++i) {
        auto filter = make_filter_remembering(specs[i]);
        EXPECT_EQ(shelved_memories(), kept) << "purpose " << i;
    }
    // The most recent are there, newest first: each taken once.
    for (std::size_t i = specs.size(); i-- > specs.size() - kept;) {
        const std::size_t before = shelved_memories();
        auto filter = make_filter_remembering(specs[i]);
        EXPECT_EQ(shelved_memories(), before - 1) << "purpose " << i;
        auto again = make_filter_remembering(specs[i]);
        EXPECT_EQ(shelved_memories(), before - 1) << "purpose " << i << " taken twice";
    }
    EXPECT_EQ(shelved_memories(), 0u);
}

// Exports of one spec run side by side on a thread: each finished one leaves a memory, and each
// starting one takes one of them.
TEST_F(FilterShelf, ShelfKeepsAMemoryForEachExportOfASpecRunSideBySide) {
    const filter_spec a = page_spec({"id"});
    const filter_spec b = page_spec({"id", "email"});
    const std::string body = page_of({R"({"id":"1","email":"a@x"})"});
    std::vector<std::unique_ptr<record_filter>> running;
    for (int i = 0; i < 3; ++i) {
        running.push_back(make_filter_remembering(a));
        std::string out;
        ASSERT_FALSE(run(*running.back(), body, {}, out));
    }
    for (auto& filter : running) remember(*filter);
    run_and_remember(b, body);
    auto anew = make_filter(page_spec({"id"}));  // a spec built anew, equal to `a`
    std::string out;
    ASSERT_FALSE(run(*anew, body, {}, out));
    remember(*anew);
    EXPECT_EQ(shelved_memories(), 5u);
    for (std::size_t left = 4; left >= 1; --left) {
        auto filter = make_filter_remembering(a);
        EXPECT_EQ(shelved_memories(), left);
    }
    auto fifth = make_filter_remembering(a);
    EXPECT_EQ(shelved_memories(), 1u) << "only b's memory is left";
    auto other = make_filter_remembering(b);
    EXPECT_EQ(shelved_memories(), 0u);
}

TEST_F(FilterShelf, ShelfBelongsToItsThread) {
    const filter_spec spec = page_spec({"id"});
    const std::string body = page_of({R"({"id":"1","email":"a@x"})"});
    run_and_remember(spec, body);
    ASSERT_EQ(shelved_memories(), 1u);
    std::size_t seen_there = 99;
    std::size_t left_there = 99;
    std::thread other([&] {
        seen_there = shelved_memories();
        run_and_remember(spec, body);
        run_and_remember(page_spec({"id", "email"}), body);
        left_there = shelved_memories();
    });
    other.join();
    EXPECT_EQ(seen_there, 0u);
    EXPECT_EQ(left_there, 2u);
    EXPECT_EQ(shelved_memories(), 1u);
}

// --- the shared test data ------------------------------------------------------------------------

std::vector<fs::path> files_in(const fs::path& dir, std::string_view extension) {
    std::vector<fs::path> out;
    if (!fs::is_directory(dir)) return out;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() == extension) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::optional<std::string> read_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// ../shared/testdata, read where it lies (never copied into the repository).
class FilterShelfOnSharedTestdata : public FilterShelf {
  protected:
    void SetUp() override {
        FilterShelf::SetUp();
        const fs::path root = EXPORTWALL_SHARED_TESTDATA;
        salesforce_ = root / "restforce" / "fixtures" / "sobject";
        suite_ = root / "JSONTestSuite" / "test_parsing";
        checker_ = root / "json-checker" / "jsonchecker";
        if (!fs::is_directory(salesforce_) || !fs::is_directory(suite_) ||
            !fs::is_directory(checker_)) {
            GTEST_SKIP() << "restforce, JSONTestSuite or json-checker not found under " << root
                         << " (../shared/testdata is absent)";
        }
    }
    fs::path salesforce_;
    fs::path suite_;
    fs::path checker_;
};

// Every Salesforce REST fixture, after a filter learnt from each fixture that passes: the pages
// with records, nested __r records and sub-query records, and the responses without records that
// are refused.
TEST_F(FilterShelfOnSharedTestdata, SalesforceFixturesAreFilteredAsByAFreshFilterAfterAnyOther) {
    filter_spec spec;
    spec.records = "/records";
    spec.allowed = field_set({"Id", "Name", "Text_Label", "ParentWhizbang__r.Name",
                              "Whizbangs__r.records.Name", "attributes.type"});
    spec.rules.conditions.push_back(
        {"Checkbox_Label", condition_op::is_true, {}, true, drop_reason::condition});
    spec.link_fields = {"/nextRecordsUrl"};
    spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
        return "https://ew" + std::string(url);
    };
    filter_spec strict = spec;
    strict.strict_envelope = true;
    std::vector<std::pair<std::string, std::string>> fixtures;
    for (const fs::path& f : files_in(salesforce_, ".json")) {
        auto text = read_file(f);
        ASSERT_TRUE(text) << f;
        fixtures.emplace_back(f.filename().string(), std::move(*text));
    }
    ASSERT_GE(fixtures.size(), 20u);
    for (const filter_spec& s : {spec, strict}) {
        std::size_t learners = 0;
        for (const auto& [learnt_from, learnt_text] : fixtures) {
            if (!learn(s, learnt_text)) continue;
            ++learners;
            for (const auto& [name, text] : fixtures) {
                std::vector<cuts_list> all = {{}, every(3, text.size())};
                if (name == learnt_from) all.push_back(every(1, text.size()));
                for (const cuts_list& cuts : all) {
                    expect_as_fresh(
                        s, learn(s, learnt_text), text, cuts,
                        name + " after " + learnt_from + (s.strict_envelope ? " (strict)" : ""));
                }
            }
            if (HasFailure()) return;
        }
        EXPECT_GE(learners, 5u);
    }
}

// Records {"id":"<n>","x":DOC} for every conformance document DOC, in a page and in NDJSON
// lines, with x stripped, kept, or read by a rule, after a first export whose records held x in
// every kind of value, and after the same export: the first record takes the plans the memory
// holds (a stripped x is skipped quietly from the first record on), and agrees with a fresh
// filter whether the document passes or is refused.
void expect_member_values_as_fresh(const fs::path& file, const std::string& doc) {
    const std::string name = file.filename().string();
    const auto records = [](const std::vector<std::string>& values) {
        std::vector<std::string> r;
        for (const std::string& v : values) {
            r.push_back(R"({"id":")" + std::to_string(r.size() + 1) + R"(","x":)" + v + "}");
        }
        return r;
    };
    const std::vector<std::string> primer =
        records({R"({"a":1,"b":[1,{"c":2}],"":null,"d":{"e":"f"}})", R"([1,"s",{"a":{}},[[]]])",
                 R"("s")", "0", "-1.5e3", "true", "false", "null", "{}", "[]"});
    const std::vector<std::string> with_doc = records({doc, doc, doc});
    for (body_format format : {body_format::json, body_format::ndjson}) {
        const std::string body = body_of(format, with_doc);
        const std::string primer_body = body_of(format, primer);
        const std::size_t second_doc = body.find(doc, body.find(doc) + doc.size());
        std::vector<cuts_list> chunkings = {{}};
        if (second_doc != std::string::npos && !doc.empty()) {
            chunkings.push_back({second_doc + doc.size() / 2});
        }
        if (body.size() <= 600) chunkings.push_back(every(1, body.size()));
        for (int variant = 0; variant < 3; ++variant) {
            filter_spec spec = spec_for(format, variant == 1 ? std::vector<std::string>{"id", "x"}
                                                             : std::vector<std::string>{"id"});
            if (variant == 2) {
                spec.rules.conditions.push_back(
                    {"x.a", condition_op::is_set, {}, true, drop_reason::objected});
            }
            const std::string label = name +
                                      (format == body_format::json ? " in a page" : " in lines") +
                                      ", variant " + std::to_string(variant);
            auto from_primer = learn(spec, primer_body);
            ASSERT_NE(from_primer, nullptr) << label;
            for (const cuts_list& cuts : chunkings) {
                expect_as_fresh(spec, learn(spec, primer_body), body, cuts,
                                label + ", after a primer", after_error::all_but_counters);
                if (auto from_itself = learn(spec, body)) {
                    expect_as_fresh(spec, std::move(from_itself), body, cuts, label + ", again");
                }
                if (::testing::Test::HasFailure()) return;
            }
        }
    }
}

TEST_F(FilterShelfOnSharedTestdata, ConformanceDocumentsAsMemberValuesAreFilteredAsByAFreshFilter) {
    std::size_t n = 0;
    for (const fs::path& dir : {suite_, checker_}) {
        for (const fs::path& f : files_in(dir, ".json")) {
            auto doc = read_file(f);
            ASSERT_TRUE(doc) << f;
            expect_member_values_as_fresh(f, *doc);
            if (HasFailure()) return;
            ++n;
        }
    }
    EXPECT_GE(n, 340u);
}

}  // namespace
}  // namespace exportwall::filters
