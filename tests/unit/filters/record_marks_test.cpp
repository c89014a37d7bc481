// Record marks (record_filter::set_record_marks): where each written record ends in the output,
// so the proxy can cut a filtered piece after the last record an export quota still allows. For
// every format, in every chunking and through make_filter as the proxy builds it: the output up to
// a mark holds exactly the mark's count of complete records and no byte of the next one.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "filters/record_filter.hpp"

namespace exportwall::filters {
namespace {

// Where one record (main or nested, as counted in records_out) lies in the output.
struct record_span {
    std::size_t begin = 0;
    std::size_t end = 0;
};

// --- finding the records in an output ------------------------------------------------------

// The objects of a JSON text whose JSON pointer (keys as written) matches a pattern, found by a
// scanner that trusts the text to be valid (the filter wrote it): a test of the marks, not of the
// filter.
class json_spans {
  public:
    explicit json_spans(std::string_view text) : text_(text) {}

    // The objects whose pointer matches `pattern`, shifted by `offset`.
    std::vector<record_span> matching(const std::regex& pattern, std::size_t offset = 0) {
        at_ = 0;
        found_.clear();
        pattern_ = &pattern;
        offset_ = offset;
        skip_space();
        value("");
        return found_;
    }

  private:
    [[nodiscard]] char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }
    void skip_space() {
        while (peek() == ' ' || peek() == '\t' || peek() == '\r' || peek() == '\n') ++at_;
    }
    std::string_view string_token() {
        const std::size_t begin = ++at_;
        while (peek() != '"' && peek() != '\0') at_ += peek() == '\\' ? 2u : 1u;
        return text_.substr(begin, at_++ - begin);
    }
    void value(const std::string& pointer) {
        const std::size_t begin = at_;
        const char c = peek();
        if (c == '{' || c == '[') {
            const char closer = c == '{' ? '}' : ']';
            ++at_;
            skip_space();
            std::size_t index = 0;
            while (peek() != closer && peek() != '\0') {
                std::string child = pointer + '/';
                if (c == '{') {
                    child.append(string_token());
                    skip_space();
                    ++at_;  // ':'
                    skip_space();
                } else {
                    child.append(std::to_string(index++));
                }
                value(child);
                skip_space();
                if (peek() == ',') {
                    ++at_;
                    skip_space();
                }
            }
            ++at_;
        } else if (c == '"') {
            string_token();
        } else {
            while (peek() != '\0' && std::string_view(",]} \t\r\n").find(peek()) == npos) ++at_;
        }
        // A record is an object (a dropped single record's `null` is not one).
        if (c == '{' && std::regex_match(pointer, *pattern_)) {
            found_.push_back({offset_ + begin, offset_ + at_});
        }
    }

    static constexpr std::size_t npos = std::string_view::npos;
    std::string_view text_;
    std::size_t at_ = 0;
    const std::regex* pattern_ = nullptr;
    std::size_t offset_ = 0;
    std::vector<record_span> found_;
};

std::vector<record_span> json_records(std::string_view out, const std::string& pattern) {
    const std::regex re(pattern);
    return json_spans(out).matching(re);
}

// NDJSON: every line is a main record; `nested` matches pointers of records inside a line.
std::vector<record_span> ndjson_records(std::string_view out, const std::string& nested = "") {
    std::vector<record_span> spans;
    const std::regex re(nested.empty() ? std::string("^$.") : nested);
    for (std::size_t at = 0; at < out.size();) {
        std::size_t nl = out.find('\n', at);
        nl = nl == std::string_view::npos ? out.size() : nl + 1;
        spans.push_back({at, nl});
        for (const record_span& s : json_spans(out.substr(at, nl - at)).matching(re, at)) {
            spans.push_back(s);
        }
        at = nl;
    }
    return spans;
}

// CSV: every row after the header (quoted cells may hold line breaks).
std::vector<record_span> csv_records(std::string_view out) {
    std::vector<record_span> spans;
    bool quoted = false;
    bool header = true;
    std::size_t begin = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (out[i] == '"') quoted = !quoted;
        if (out[i] != '\n' || quoted) continue;
        if (!header) spans.push_back({begin, i + 1});
        header = false;
        begin = i + 1;
    }
    if (begin < out.size() && !header) spans.push_back({begin, out.size()});
    return spans;
}

// XML: every element named `name` (records do not nest).
std::vector<record_span> xml_records(std::string_view out, std::string_view name) {
    std::vector<record_span> spans;
    const std::string open = "<" + std::string(name);
    const std::string close = "</" + std::string(name) + ">";
    for (std::size_t at = out.find(open); at != std::string_view::npos; at = out.find(open, at)) {
        const char after = at + open.size() < out.size() ? out[at + open.size()] : '\0';
        if (after != '>' && after != ' ' && after != '/') {
            at += open.size();
            continue;
        }
        const std::size_t gt = out.find('>', at);
        std::size_t end = gt + 1;
        if (out[gt - 1] != '/') end = out.find(close, gt) + close.size();
        spans.push_back({at, end});
        at = end;
    }
    return spans;
}

// --- running a filter with marks -----------------------------------------------------------

// How the caller treats its output string between calls.
enum class caller {
    keeps_output,      // one string for the whole body, after `preamble`
    sends_each_piece,  // each call's output is sent (after a `preamble` of its own) and cleared
                       // with its marks, as the proxy's relay loop does
};

struct marked_run {
    std::string out;                 // the filter's output (no preamble)
    std::vector<record_mark> marks;  // into `out`
    boost::system::error_code error;
    filter_counters counters;
};

// Feeds `body` in pieces of `step` bytes, then finishes. `out` starts with `preamble` (bytes the
// caller already holds: the marks count them, and are moved back here to index `out`).
marked_run run_marked(const filter_spec& spec, std::string_view body, std::size_t step, caller how,
                      bool marks_on = true, std::string_view preamble = "HEAD\r\n") {
    marked_run r;
    auto filter = make_filter(spec);
    std::vector<record_mark> marks;
    if (marks_on) filter->set_record_marks(&marks);
    std::string out(preamble);
    auto take = [&](bool last) {
        if (how == caller::keeps_output && !last) return;
        for (const record_mark& m : marks) {
            EXPECT_GE(m.end, preamble.size());
            EXPECT_LE(m.end, out.size());
            r.marks.push_back({r.out.size() + m.end - preamble.size(), m.records});
        }
        r.out.append(out, preamble.size());
        out.assign(preamble);
        marks.clear();
    };
    for (std::size_t at = 0; at < body.size() && !r.error; at += step) {
        r.error = filter->feed(body.substr(at, step), out);
        take(false);
    }
    if (!r.error) r.error = filter->finish(out);
    take(true);
    r.counters = filter->counters();
    return r;
}

// The contract: marks in order; up to each, exactly `records` records, complete, and none begun.
void expect_marks_cut_between_records(const marked_run& r, const std::vector<record_span>& spans) {
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(spans.size(), r.counters.records_out) << r.out;
    for (std::size_t i = 1; i < r.marks.size(); ++i) {
        EXPECT_LT(r.marks[i - 1].records, r.marks[i].records);
        EXPECT_LE(r.marks[i - 1].end, r.marks[i].end);
    }
    for (const record_mark& m : r.marks) {
        ASSERT_LE(m.end, r.out.size());
        std::uint64_t begun = 0;
        for (const record_span& s : spans) {
            if (s.begin >= m.end) continue;
            ++begun;
            EXPECT_LE(s.end, m.end) << "mark inside a record: " << r.out.substr(0, m.end);
        }
        EXPECT_EQ(begun, m.records) << r.out.substr(0, m.end);
    }
    if (r.counters.records_out == 0) {
        EXPECT_TRUE(r.marks.empty());
    } else {
        ASSERT_FALSE(r.marks.empty());
        EXPECT_EQ(r.marks.back().records, r.counters.records_out);
    }
}

std::vector<std::uint64_t> counts(const std::vector<record_mark>& marks) {
    std::vector<std::uint64_t> c;
    c.reserve(marks.size());
    for (const record_mark& m : marks) c.push_back(m.records);
    return c;
}

// Runs `body` in pieces of 1 and 7 bytes and whole, for both callers; checks every run against
// the spans `find` locates and against the whole run's mark counts `expected`.
template <typename find_records>
void expect_marks_in_every_chunking(const filter_spec& spec, std::string_view body,
                                    find_records find, const std::vector<std::uint64_t>& expected) {
    for (std::size_t step : {std::size_t{1}, std::size_t{7}, body.size()}) {
        for (caller how : {caller::keeps_output, caller::sends_each_piece}) {
            SCOPED_TRACE("step " + std::to_string(step) +
                         (how == caller::keeps_output ? ", one output" : ", output sent per call"));
            const marked_run r = run_marked(spec, body, step, how);
            expect_marks_cut_between_records(r, find(r.out));
            EXPECT_EQ(counts(r.marks), expected);
        }
    }
}

record_condition exclude_set(std::string field) {
    return {std::move(field), condition_op::is_set, {}, true, drop_reason::objected};
}

std::uint64_t objected(const filter_counters& c) {
    return c.dropped[static_cast<std::size_t>(drop_reason::objected)];
}

// --- JSON ----------------------------------------------------------------------------------

filter_spec salesforce_spec(bool strict) {
    filter_spec spec;
    spec.format = body_format::json;
    spec.records = "/records";
    spec.allowed = field_set({"Id", "Name"});
    spec.rules.conditions.push_back(exclude_set("Objected"));
    spec.link_fields = {"/nextRecordsUrl"};
    spec.rewrite_link = [](std::string_view url) { return "https://ew" + std::string(url); };
    spec.strict_envelope = strict;
    return spec;
}

// Strings hold the bytes a naive cut would trip over: braces, brackets, commas, escapes.
const std::string salesforce_body =
    R"({"totalSize":5,"done":false,"records":[)"
    R"({"Id":"1","Name":"A \"}]\" ,","Email":"a@x","Objected":false},)"
    R"({"Id":"2","Name":"B","Objected":true},)"
    R"({"Id":"3","Name":"C{[","Nested":{"x":[1,2]}},)"
    R"( {"Id":"4","Name":"D\u00e9"} , {"Id":"5","Name":"E","Objected":"yes"}],)"
    R"("nextRecordsUrl":"/services/data/v59.0/query/01g-2000"})";

const std::string salesforce_records = R"(^/records/\d+$)";

TEST(JsonRecordMarks, EachKeptRecordEndsAMarkAndDroppedOnesMakeNone) {
    expect_marks_in_every_chunking(
        salesforce_spec(false), salesforce_body,
        [](std::string_view out) { return json_records(out, salesforce_records); }, {1, 2, 3});
    const marked_run r =
        run_marked(salesforce_spec(false), salesforce_body, 7, caller::keeps_output);
    EXPECT_EQ(objected(r.counters), 2u);
    // A cut at the second mark: the records array up to the third record kept, its comma not.
    EXPECT_EQ(r.out.substr(0, r.marks[1].end),
              R"({"totalSize":5,"done":false,"records":[{"Id":"1","Name":"A \"}]\" ,"},)"
              R"({"Id":"3","Name":"C{["})");
}

TEST(JsonRecordMarks, StrictEnvelopeMarksAreRightAfterTheHoldIsReleased) {
    expect_marks_in_every_chunking(
        salesforce_spec(true), salesforce_body,
        [](std::string_view out) { return json_records(out, salesforce_records); }, {1, 2, 3});
}

TEST(JsonRecordMarks, FirstRecordDroppedLeavesTheFirstMarkAfterTheFirstKeptOne) {
    filter_spec spec = salesforce_spec(true);
    spec.rules.conditions.push_back(
        {"Name", condition_op::in_set, {"C{[", "E"}, false, drop_reason::condition});
    // Only record 3 passes both conditions: the hold is released by the first record read
    // (dropped), and the one mark lands after record 3 in the caller's output.
    expect_marks_in_every_chunking(
        spec, salesforce_body,
        [](std::string_view out) { return json_records(out, salesforce_records); }, {1});
}

TEST(JsonRecordMarks, TopLevelArrayAndEmptyPage) {
    filter_spec spec = salesforce_spec(false);
    spec.records = "";
    spec.link_fields.clear();
    expect_marks_in_every_chunking(
        spec, R"([{"Id":"1"},{"Id":"2","Objected":1},{"Id":"3"}])",
        [](std::string_view out) { return json_records(out, R"(^/\d+$)"); }, {1, 2});
    spec = salesforce_spec(true);
    expect_marks_in_every_chunking(
        spec, R"({"totalSize":0,"done":true,"records":[]})",
        [](std::string_view out) { return json_records(out, salesforce_records); }, {});
}

filter_spec close_spec() {
    filter_spec spec;
    spec.format = body_format::json;
    spec.records = "/data";
    spec.allowed = field_set({"id", "display_name", "contacts"});
    spec.strict_envelope = true;
    nested_record_set contacts;
    contacts.path = "contacts";
    contacts.in_record = true;
    contacts.allowed = field_set({"id", "name"});
    contacts.rules.conditions.push_back(exclude_set("unsubscribed"));
    spec.nested = {contacts};
    return spec;
}

const std::string close_body =
    R"({"has_more":false,"data":[{"id":"lead_1","display_name":"Acme","contacts":[)"
    R"({"id":"c1","name":"Ann","title":"CEO"},{"id":"c2","name":"Bob","unsubscribed":true},)"
    R"({"id":"c3","name":"Cy"}]},{"id":"lead_2","display_name":"Beta","contacts":[]},)"
    R"({"id":"lead_3","display_name":"Gamma","contacts":[{"id":"c4"}]}]})";

std::vector<record_span> close_records(std::string_view out) {
    return json_records(out, R"(^/data/\d+(/contacts/\d+)?$)");
}

TEST(JsonRecordMarks, ContactsInsideALeadCountWithTheirLead) {
    // lead_1 with c1 and c3 (c2 dropped), lead_2 alone, lead_3 with c4.
    expect_marks_in_every_chunking(close_spec(), close_body, close_records, {3, 4, 6});
}

TEST(JsonRecordMarks, DroppedLeadTakesItsContactsAndMakesNoMark) {
    filter_spec spec = close_spec();
    spec.rules.conditions.push_back(
        {"display_name", condition_op::in_set, {"Beta", "Gamma"}, false, drop_reason::condition});
    expect_marks_in_every_chunking(spec, close_body, close_records, {1, 3});
}

filter_spec jsonapi_spec(bool single) {
    filter_spec spec;
    spec.format = body_format::json;
    spec.records = "/data";
    spec.single_record = single;
    spec.field_root = "attributes";
    spec.allowed = field_set({"type", "id", "email"});
    spec.rules.conditions.push_back(exclude_set("objected"));
    spec.strict_envelope = true;
    nested_record_set accounts;
    accounts.path = "/included";
    accounts.discriminator = "type";
    accounts.discriminator_value = "Accounts";
    accounts.field_root = "attributes";
    accounts.allowed = field_set({"id", "name"});
    accounts.rules.conditions.push_back(exclude_set("closed"));
    spec.nested = {accounts};
    return spec;
}

std::vector<record_span> jsonapi_records(std::string_view out) {
    return json_records(out, R"(^/data(/\d+)?$|^/included/\d+$)");
}

TEST(JsonRecordMarks, SideLoadedRecordsBeforeTheMainOnesAreHeldThenMarkedInPlace) {
    // `included` comes first: its records are written into the hold (they do not release it),
    // and their marks move with the held bytes into the caller's output.
    const std::string body =
        R"({"included":[{"type":"Accounts","id":"a1","attributes":{"name":"X","vat":"1"}},)"
        R"({"type":"Users","id":"u1"},)"
        R"({"type":"Accounts","id":"a2","attributes":{"name":"Y","closed":true}},)"
        R"({"type":"Accounts","id":"a3","attributes":{"name":"Z"}}],)"
        R"("data":[{"type":"Contacts","id":"1","attributes":{"email":"a@x","phone":"1"}},)"
        R"({"type":"Contacts","id":"2","attributes":{"objected":true}},)"
        R"({"type":"Contacts","id":"3","attributes":{"email":"c@x"}}]})";
    expect_marks_in_every_chunking(jsonapi_spec(false), body, jsonapi_records, {1, 2, 3, 4});
}

TEST(JsonRecordMarks, SideLoadedRecordsAfterTheMainOnes) {
    const std::string body =
        R"({"data":[{"type":"Contacts","id":"1","attributes":{"email":"a@x"}}],)"
        R"("included":[{"type":"Accounts","id":"a1","attributes":{"name":"X"}}]})";
    expect_marks_in_every_chunking(jsonapi_spec(false), body, jsonapi_records, {1, 2});
}

TEST(JsonRecordMarks, SingleRecordIsMarkedAndADroppedOneIsNot) {
    const std::string kept =
        R"({"data":{"type":"Contacts","id":"1","attributes":{"email":"a@x","phone":"1"}}})";
    expect_marks_in_every_chunking(jsonapi_spec(true), kept, jsonapi_records, {1});
    const std::string dropped =
        R"({"data":{"type":"Contacts","id":"1","attributes":{"objected":"yes"}}})";
    expect_marks_in_every_chunking(jsonapi_spec(true), dropped, jsonapi_records, {});
    EXPECT_EQ(run_marked(jsonapi_spec(true), dropped, 1, caller::keeps_output).out,
              R"({"data":null})");
}

TEST(JsonRecordMarks, SingleRootRecord) {
    filter_spec spec;
    spec.format = body_format::json;
    spec.single_record = true;
    spec.allowed = field_set({"id"});
    expect_marks_in_every_chunking(spec, R"({"id":"1","name":"x"})",
                                   [](std::string_view out) { return json_records(out, "^$"); },
                                   {1});
}

// --- NDJSON --------------------------------------------------------------------------------

filter_spec ndjson_spec() {
    filter_spec spec = close_spec();
    spec.format = body_format::ndjson;
    spec.records.clear();
    spec.strict_envelope = true;  // unused by NDJSON: make_filter holds nothing
    spec.rules.conditions.push_back(exclude_set("objected"));
    return spec;
}

TEST(NdjsonRecordMarks, EveryKeptLineEndsAMarkWithItsContacts) {
    const std::string body =
        "{\"id\":\"l1\",\"contacts\":[{\"id\":\"c1\"},{\"id\":\"c2\",\"unsubscribed\":1}]}\n"
        "\n"
        "{\"id\":\"l2\",\"objected\":true,\"contacts\":[{\"id\":\"c3\"}]}\r\n"
        "{\"id\":\"l3\",\"display_name\":\"}\\n{\"}\n"
        "{\"id\":\"l4\",\"contacts\":[{\"id\":\"c5\"},{\"id\":\"c6\"}]}";
    expect_marks_in_every_chunking(
        ndjson_spec(), body,
        [](std::string_view out) { return ndjson_records(out, R"(^/contacts/\d+$)"); }, {2, 3, 6});
}

// --- CSV -----------------------------------------------------------------------------------

filter_spec csv_spec() {
    filter_spec spec;
    spec.format = body_format::csv;
    spec.allowed = field_set({"Id", "Name"});
    spec.rules.conditions.push_back(exclude_set("Objected"));
    return spec;
}

TEST(CsvRecordMarks, EveryKeptRowEndsAMarkHeaderAndDroppedRowsMakeNone) {
    const std::string body =
        "\xEF\xBB\xBFId,Name,Email,Objected\r\n"
        "1,\"Smith, \"\"J\"\"\",a@x,\r\n"
        "2,B,b@x,yes\r\n"
        "3,\"two\r\nlines\",c@x,no\r\n"
        "4,D,d@x,\r\n"
        "5,E,e@x,";  // the last row without a line ending
    expect_marks_in_every_chunking(csv_spec(), body, csv_records, {1, 2, 3, 4});
    const marked_run r = run_marked(csv_spec(), body, 1, caller::keeps_output);
    EXPECT_EQ(objected(r.counters), 1u);
    EXPECT_EQ(r.out.substr(0, r.marks[0].end), "\xEF\xBB\xBFId,Name\r\n1,\"Smith, \"\"J\"\"\"\r\n");
    EXPECT_EQ(r.marks.back().end, r.out.size());
}

TEST(CsvRecordMarks, HeaderOnlyMakesNoMark) {
    expect_marks_in_every_chunking(csv_spec(), "Id,Name,Objected\n", csv_records, {});
}

// --- XML -----------------------------------------------------------------------------------

filter_spec soap_spec(bool strict) {
    filter_spec spec;
    spec.format = body_format::xml;
    spec.records = "/Envelope/Body/queryResponse/result/records";
    spec.allowed = field_set({"Id", "Name"});
    spec.rules.conditions.push_back(exclude_set("Objected"));
    spec.strict_envelope = strict;
    return spec;
}

const std::string soap_body =
    R"(<?xml version="1.0" encoding="UTF-8"?>)"
    R"(<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/")"
    R"( xmlns="urn:partner.soap.sforce.com" xmlns:sf="urn:sobject.partner.soap.sforce.com">)"
    R"(<soapenv:Body><queryResponse><result><done>true</done>)"
    "\n  <records><sf:Id>1</sf:Id><sf:Name>A &lt;records&gt;</sf:Name>"
    "<sf:Objected>false</sf:Objected></records>\n"
    "  <records><sf:Id>2</sf:Id><sf:Name>B</sf:Name><sf:Objected>true</sf:Objected></records>\n"
    "  <records><sf:Id>3</sf:Id><sf:Phone>555</sf:Phone></records>\n"
    "  <records/>\n"
    R"(<size>4</size></result></queryResponse></soapenv:Body></soapenv:Envelope>)";

std::vector<record_span> soap_records(std::string_view out) { return xml_records(out, "records"); }

TEST(XmlRecordMarks, EveryKeptRecordEndsAMarkDroppedOnesMakeNone) {
    expect_marks_in_every_chunking(soap_spec(false), soap_body, soap_records, {1, 2, 3});
}

TEST(XmlRecordMarks, StrictEnvelopeMarksAreRightAfterTheHoldIsReleased) {
    expect_marks_in_every_chunking(soap_spec(true), soap_body, soap_records, {1, 2, 3});
}

// --- marks on and off ----------------------------------------------------------------------

struct format_case {
    const char* name;
    filter_spec spec;
    std::string body;
};

std::vector<format_case> every_format() {
    return {
        {"json", salesforce_spec(false), salesforce_body},
        {"json strict", salesforce_spec(true), salesforce_body},
        {"json nested", close_spec(), close_body},
        {"ndjson", ndjson_spec(),
         "{\"id\":\"1\"}\n{\"id\":\"2\",\"objected\":1}\n{\"id\":\"3\"}\n"},
        {"csv", csv_spec(), "Id,Name,Objected\n1,A,\n2,B,yes\n3,C,\n"},
        {"xml", soap_spec(false), soap_body},
        {"xml strict", soap_spec(true), soap_body},
    };
}

bool same_counters(const filter_counters& a, const filter_counters& b) {
    return a.records_in == b.records_in && a.records_out == b.records_out &&
           a.dropped == b.dropped && a.nested_in == b.nested_in && a.nested_out == b.nested_out &&
           a.nested_discarded == b.nested_discarded && a.stripped_fields == b.stripped_fields &&
           a.transformed_fields == b.transformed_fields &&
           a.transform_failed == b.transform_failed && a.bytes_in == b.bytes_in &&
           a.bytes_out == b.bytes_out && a.links_rewritten == b.links_rewritten &&
           a.links_removed == b.links_removed;
}

TEST(RecordMarks, MarksOffWritesTheSameBytesAndCountsAsMarksOn) {
    for (const format_case& c : every_format()) {
        for (std::size_t step : {std::size_t{1}, std::size_t{7}, c.body.size()}) {
            SCOPED_TRACE(std::string(c.name) + ", step " + std::to_string(step));
            const marked_run on = run_marked(c.spec, c.body, step, caller::sends_each_piece);
            const marked_run off =
                run_marked(c.spec, c.body, step, caller::sends_each_piece, false);
            ASSERT_FALSE(on.error) << on.error.message();
            EXPECT_EQ(off.error, on.error);
            EXPECT_EQ(off.out, on.out);
            EXPECT_TRUE(same_counters(off.counters, on.counters));
            EXPECT_TRUE(off.marks.empty());
            EXPECT_FALSE(on.marks.empty());
        }
    }
}

TEST(RecordMarks, NullStopsMarking) {
    for (const format_case& c : every_format()) {
        SCOPED_TRACE(c.name);
        auto filter = make_filter(c.spec);
        std::vector<record_mark> marks;
        std::string out;
        filter->set_record_marks(&marks);
        const std::size_t half = c.body.size() / 2;
        ASSERT_FALSE(filter->feed(std::string_view(c.body).substr(0, half), out));
        const std::size_t marked = marks.size();
        filter->set_record_marks(nullptr);
        ASSERT_FALSE(filter->feed(std::string_view(c.body).substr(half), out));
        ASSERT_FALSE(filter->finish(out));
        EXPECT_EQ(marks.size(), marked);
        EXPECT_LT(marked, filter->counters().records_out);
    }
}

TEST(RecordMarks, MarkingStartsWhenAskedAndCountsEveryRecordBefore) {
    // Marks asked for after the first records were written: their counts still include them.
    for (const format_case& c : every_format()) {
        SCOPED_TRACE(c.name);
        auto filter = make_filter(c.spec);
        std::vector<record_mark> marks;
        std::string out;
        const std::size_t half = c.body.size() / 2;
        ASSERT_FALSE(filter->feed(std::string_view(c.body).substr(0, half), out));
        const std::uint64_t before = filter->counters().records_out;
        filter->set_record_marks(&marks);
        ASSERT_FALSE(filter->feed(std::string_view(c.body).substr(half), out));
        ASSERT_FALSE(filter->finish(out));
        ASSERT_FALSE(marks.empty());
        EXPECT_GT(marks.front().records, before);
        EXPECT_EQ(marks.back().records, filter->counters().records_out);
        EXPECT_LE(marks.back().end, out.size());
    }
}

// A filter that does not implement marks (the default) marks nothing: the caller can only cut
// before everything it wrote.
class unmarked_filter final : public record_filter {
  public:
    boost::system::error_code feed(std::string_view in, std::string& out) override {
        out.append(in);
        return {};
    }
    boost::system::error_code finish(std::string& /*out*/) override { return {}; }
    [[nodiscard]] const filter_counters& counters() const override { return counters_; }

  private:
    filter_counters counters_;
};

TEST(RecordMarks, DefaultFilterMarksNothing) {
    unmarked_filter f;
    std::vector<record_mark> marks;
    std::string out;
    f.set_record_marks(&marks);
    ASSERT_FALSE(f.feed("{}", out));
    ASSERT_FALSE(f.finish(out));
    EXPECT_TRUE(marks.empty());
}

}  // namespace
}  // namespace exportwall::filters
