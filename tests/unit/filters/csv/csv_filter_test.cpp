#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "filters/record_filter.hpp"
#include "tests/unit/filters/chunked_run.hpp"

namespace exportwall::filters {
namespace {

using testing::chunkings;
using testing::run_cut;
using testing::run_result;
using testing::run_whole;

filter_spec csv_spec(std::vector<std::string> allowed, char delimiter = ',') {
    filter_spec spec;
    spec.format = body_format::csv;
    spec.allowed = field_set(std::move(allowed));
    spec.csv.delimiter = delimiter;
    return spec;
}

// Runs `body` whole and in every chunking; every run must agree with the whole one.
run_result run_all(const filter_spec& spec, const std::string& body) {
    run_result whole = run_whole(spec, body);
    for (const auto& cuts : chunkings(body.size())) {
        run_result r = run_cut(spec, body, cuts);
        EXPECT_EQ(r.error, whole.error) << "cuts: " << cuts.size();
        if (!whole.error) {
            EXPECT_EQ(r.output, whole.output) << "cuts: " << cuts.size();
            EXPECT_TRUE(testing::same_counters(r.counters, whole.counters));
        }
        if (::testing::Test::HasFailure()) break;
    }
    return whole;
}

record_condition consent_required() {
    record_condition c;
    c.field = "consent_email";
    c.op = condition_op::is_true;
    c.reason = drop_reason::no_consent;
    return c;
}

TEST(CsvFilter, StripsColumnsInEveryChunking) {
    const std::string body =
        "id,email,\"phone\",city\r\n"
        "1,a@example.com,\"+32 2 555 01 01\",\"Gent, BE\"\r\n"
        "2,\"b\"\"x\"\"@example.com\",,\"multi\r\nline\"\r\n";
    auto r = run_all(csv_spec({"id", "email", "city"}), body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "id,email,city\r\n"
              "1,a@example.com,\"Gent, BE\"\r\n"
              "2,\"b\"\"x\"\"@example.com\",\"multi\r\nline\"\r\n");
    EXPECT_EQ(r.counters.records_in, 2u);
    EXPECT_EQ(r.counters.records_out, 2u);
    EXPECT_EQ(r.counters.stripped_fields.at("phone"), 2u);
    EXPECT_EQ(r.counters.stripped_fields.size(), 1u);
    EXPECT_EQ(r.counters.bytes_in, body.size());
    EXPECT_EQ(r.counters.bytes_out, r.output.size());
}

TEST(CsvFilter, HeaderNamesWithSpacesMatchTheirCatalogueSpelling) {
    // A CRM export whose header says "First Name": matched as First_Name, written as it came.
    filter_spec spec = csv_spec({"Contact_Id", "First_Name"}, ';');
    spec.csv.header_space = '_';
    record_condition consent;
    consent.field = "Consent_E-mail";
    consent.op = condition_op::is_true;
    consent.reason = drop_reason::no_consent;
    spec.rules.conditions.push_back(consent);
    const std::string body =
        "Contact Id;First Name;E-mail Address;Consent E-mail\r\n"
        "1;Ann;ann@example.be;true\r\n"
        "2;Bob;bob@example.be;false\r\n";
    auto r = run_all(spec, body);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, "Contact Id;First Name\r\n1;Ann\r\n");
    EXPECT_EQ(r.counters.stripped_fields.at("E-mail_Address"), 2u);
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::no_consent)], 1u);
    // Without the setting, "First Name" is no field of the catalogue: stripped.
    spec.csv.header_space = 0;
    spec.rules = {};
    auto plain = run_all(spec, body);
    EXPECT_EQ(plain.output.find("Ann"), std::string::npos) << plain.output;
    EXPECT_EQ(plain.counters.stripped_fields.count("First Name"), 1u);
    // Two headers that read the same are ambiguous.
    spec.csv.header_space = '_';
    EXPECT_TRUE(run_whole(spec, "First Name;First_Name\r\n").error);
}

TEST(CsvFilter, KeepsBomAndSemicolonsOfABelgianCrmExport) {
    const std::string body =
        "\xEF\xBB\xBFklantnummer;naam;gemeente;iban;toestemming_email\n"
        "1001;Janssens;Sint-Niklaas;BE71 0961 2345 6769;ja\n"
        "1002;\"Peeters; Marie\";Li\xC3\xA8ge;BE68 5390 0754 7034;nee\n"
        "1003;D\xC3\xBC\"\"rer;Brussel;BE62 5100 0754 7061;ja\n";
    filter_spec spec = csv_spec({"klantnummer", "naam", "gemeente"}, ';');
    record_condition c;
    c.field = "toestemming_email";
    c.op = condition_op::is_true;
    c.reason = drop_reason::no_consent;
    spec.rules.conditions.push_back(c);
    // "ja" is not one of the literals is_true accepts: use in_set for Dutch answers.
    spec.rules.conditions.front().op = condition_op::in_set;
    spec.rules.conditions.front().values = {"ja"};
    auto quote_in_cell = run_whole(spec, body);
    EXPECT_EQ(quote_in_cell.error, filter_error::malformed) << "a quote inside a bare cell";

    const std::string clean =
        "\xEF\xBB\xBFklantnummer;naam;gemeente;iban;toestemming_email\n"
        "1001;Janssens;Sint-Niklaas;BE71 0961 2345 6769;ja\n"
        "1002;\"Peeters; Marie\";Li\xC3\xA8ge;BE68 5390 0754 7034;nee\n"
        "1003;\"D\xC3\xBCrer\";Brussel;BE62 5100 0754 7061;ja\n";
    auto r = run_all(spec, clean);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output,
              "\xEF\xBB\xBFklantnummer;naam;gemeente\n"
              "1001;Janssens;Sint-Niklaas\n"
              "1003;D\xC3\xBCrer;Brussel\n");
    EXPECT_EQ(r.counters.records_in, 3u);
    EXPECT_EQ(r.counters.records_out, 2u);
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::no_consent)], 1u);
    // Counted for every row the column was removed from, dropped rows included.
    EXPECT_EQ(r.counters.stripped_fields.at("iban"), 3u);
    EXPECT_EQ(r.counters.stripped_fields.at("toestemming_email"), 3u);
}

TEST(CsvFilter, GuardsFormulaCellsButNotTheHeader) {
    const std::string body =
        "=name,note\n"
        "=HYPERLINK(\"x\"),plain\n"
        "+32 2 555,-5\n"
        "@SUM(A1),\"\tTAB\"\n"
        "\"=1,2\",\"\rCR\"\n";
    auto r = run_all(csv_spec({"=name", "note"}), body);
    ASSERT_EQ(r.error, filter_error::malformed) << "quote inside a bare cell";

    const std::string clean =
        "=name,note\n"
        "\"=HYPERLINK(\"\"x\"\")\",plain\n"
        "+32 2 555,-5\n"
        "@SUM(A1),\"\tTAB\"\n"
        "\"=1,2\",\"\rCR\"\n";
    auto guarded = run_all(csv_spec({"=name", "note"}), clean);
    ASSERT_FALSE(guarded.error) << guarded.error.message();
    EXPECT_EQ(guarded.output,
              "=name,note\n"
              "\"'=HYPERLINK(\"\"x\"\")\",plain\n"
              "'+32 2 555,'-5\n"
              "'@SUM(A1),\"'\tTAB\"\n"
              "\"'=1,2\",\"'\rCR\"\n");

    filter_spec off = csv_spec({"=name", "note"});
    off.csv.formula_guard = false;
    auto unguarded = run_all(off, clean);
    ASSERT_FALSE(unguarded.error) << unguarded.error.message();
    EXPECT_EQ(unguarded.output, clean);
}

TEST(CsvFilter, QuotesCellsOnlyWhenNeeded) {
    const std::string body =
        "a,b,c,d\n"
        "\"plain\",\" lead\",\"trail \",\"x|y\"\n";
    filter_spec spec = csv_spec({"a", "b", "c", "d"});
    auto r = run_all(spec, body);
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, "a,b,c,d\nplain,\" lead\",\"trail \",x|y\n");

    filter_spec pipes = csv_spec({"a", "b", "c", "d"}, '|');
    auto p = run_all(pipes, "a|b|c|d\nplain|x,y|\"x|y\"|\"\"\n");
    ASSERT_FALSE(p.error);
    EXPECT_EQ(p.output, "a|b|c|d\nplain|x,y|\"x|y\"|\n");

    filter_spec tabs = csv_spec({"a", "c"}, '\t');
    auto t = run_all(tabs, "a\tb\tc\n1\t2\t3\n");
    ASSERT_FALSE(t.error);
    EXPECT_EQ(t.output, "a\tc\n1\t3\n");
}

TEST(CsvFilter, RefusesRaggedRows) {
    EXPECT_EQ(run_all(csv_spec({"a"}), "a,b\n1,2\n3\n").error, filter_error::ragged_row);
    EXPECT_EQ(run_all(csv_spec({"a"}), "a,b\n1,2,3\n").error, filter_error::ragged_row);
    EXPECT_EQ(run_all(csv_spec({"a"}), "a,b\n1,2\n\n3,4\n").error, filter_error::ragged_row);
}

TEST(CsvFilter, RefusesBadQuotesAndBareCarriageReturns) {
    EXPECT_EQ(run_all(csv_spec({"a"}), "a,b\n1,x\"y\n").error, filter_error::malformed);
    EXPECT_EQ(run_all(csv_spec({"a"}), "a,b\n1,\"x\"y\n").error, filter_error::malformed);
    EXPECT_EQ(run_all(csv_spec({"a"}), "a,b\n1,2\r3,4\n").error, filter_error::malformed);
    EXPECT_EQ(run_all(csv_spec({"a"}), "a,b\n1,2\r").error, filter_error::malformed);
}

TEST(CsvFilter, RefusesTruncatedQuotedCell) {
    EXPECT_EQ(run_all(csv_spec({"a"}), "a,b\n1,\"never closed\n").error, filter_error::truncated);
}

TEST(CsvFilter, RefusesDuplicateHeaderNames) {
    EXPECT_EQ(run_all(csv_spec({"a"}), "a,b,a\n1,2,3\n").error, filter_error::malformed);
}

TEST(CsvFilter, RefusesAnEmptyBody) {
    EXPECT_EQ(run_whole(csv_spec({"a"}), "").error, filter_error::records_not_found);
    EXPECT_EQ(run_whole(csv_spec({"a"}), "\xEF\xBB\xBF").error, filter_error::records_not_found);
}

TEST(CsvFilter, RefusesRowsOverTheSizeLimit) {
    filter_spec spec = csv_spec({"a"});
    spec.max_record_bytes = 8;
    EXPECT_FALSE(run_all(spec, "a,b\n1234,567\n").error);
    EXPECT_EQ(run_all(spec, "a,b\n1234,5678\n").error, filter_error::record_too_large);
    EXPECT_EQ(run_all(spec, "a,b\n1,\"2\n\n\n\n\n\n\n\n\n\"\n").error,
              filter_error::record_too_large);
}

TEST(CsvFilter, EnforcesTheRecordLimitOnKeptRows) {
    filter_spec spec = csv_spec({"id"});
    spec.rules.conditions.push_back(consent_required());
    spec.max_records = 2;
    const std::string body = "id,consent_email\n1,true\n2,false\n3,true\n";
    auto r = run_all(spec, body);
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.output, "id\n1\n3\n");
    EXPECT_EQ(run_all(spec, body + "4,true\n").error, filter_error::record_limit_exceeded);
}

TEST(CsvFilter, DropsRowsByReasonAndMissingColumnsFailConditions) {
    filter_spec spec = csv_spec({"id"});
    spec.rules.conditions.push_back(consent_required());
    record_condition objection;
    objection.field = "objection";
    objection.op = condition_op::is_set;
    objection.exclude = true;
    objection.reason = drop_reason::objected;
    spec.rules.conditions.push_back(objection);
    auto r =
        run_all(spec, "id,consent_email,objection\n1,yes,\n2,no,\n3,yes,2024-01-01\n4,TRUE,no\n");
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, "id\n1\n4\n");
    EXPECT_EQ(r.counters.records_in, 4u);
    EXPECT_EQ(r.counters.records_out, 2u);
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::no_consent)], 1u);
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::objected)], 1u);

    // The consent column is absent: every record fails the requirement (fail closed).
    auto missing = run_all(spec, "id,objection\n1,\n");
    ASSERT_FALSE(missing.error);
    EXPECT_EQ(missing.output, "id\n");
    EXPECT_EQ(missing.counters.dropped[static_cast<std::size_t>(drop_reason::no_consent)], 1u);
}

TEST(CsvFilter, SuppressionCallbackSeesTheNeededColumns) {
    filter_spec spec = csv_spec({"id"});
    spec.rules.suppression_fields = {"email"};
    spec.rules.suppressed = [](const record_fields& f) {
        auto email = f.find("email");
        return email && *email == "gone@example.com";
    };
    auto r = run_all(spec, "id,email\n1,kept@example.com\n2,gone@example.com\n");
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, "id\n1\n");
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::suppressed)], 1u);
}

filter_spec legal_rules_spec() {
    filter_spec spec = csv_spec({"id"});
    spec.rules.conditions.push_back(
        {"objection", condition_op::is_no, {}, false, drop_reason::objected, true});
    spec.rules.conditions.push_back(
        {"consent.email", condition_op::is_true, {}, false, drop_reason::no_consent, true});
    return spec;
}

TEST(CsvFilter, CellsAreScalarsAndAMissingLegalColumnIsUnreadable) {
    // A cell that looks like JSON is text: no "no", so an objection.
    auto r = run_all(legal_rules_spec(),
                     "id,objection,consent.email\n"
                     "1,false,true\n"
                     "2,true,true\n"
                     "3,[false],true\n"
                     "4,\"{\"\"value\"\":false}\",true\n"
                     "5,no,false\n"
                     "6,,true\n"
                     "7,No,yes\n");
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.output, "id\n1\n7\n");
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::objected)], 4u);
    EXPECT_EQ(r.counters.dropped[static_cast<std::size_t>(drop_reason::no_consent)], 1u);

    auto missing = run_all(legal_rules_spec(), "id,consent.email\n1,true\n2,true\n");
    ASSERT_FALSE(missing.error) << missing.error.message();
    EXPECT_EQ(missing.output, "id\n");
    EXPECT_EQ(missing.counters.dropped[static_cast<std::size_t>(drop_reason::condition_unreadable)],
              2u);
}

TEST(CsvFilter, HeaderRepeatingANeededColumnIsRefused) {
    // Two cells for one field would be two values a rule must choose between: the export is
    // refused before any row.
    EXPECT_EQ(
        run_all(legal_rules_spec(), "id,objection,consent.email,objection\n1,false,true,true\n")
            .error,
        filter_error::malformed);
    filter_spec spaced = legal_rules_spec();
    spaced.csv.header_space = '_';
    spaced.rules.conditions.front().field = "do_not_contact";
    EXPECT_EQ(
        run_all(spaced, "id,do not contact,do_not_contact,consent.email\n1,no,yes,true\n").error,
        filter_error::malformed);
}

TEST(CsvFilter, HandlesTrailingBlankLinesAndMissingFinalNewline) {
    filter_spec spec = csv_spec({"a", "b"});
    auto r = run_all(spec, "a,b\n1,2\n\n\n");
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, "a,b\n1,2\n");
    auto last = run_all(spec, "a,b\r\n1,2\r\n3,4");
    ASSERT_FALSE(last.error);
    EXPECT_EQ(last.output, "a,b\r\n1,2\r\n3,4");
    auto lf_rows = run_all(spec, "a,b\r\n1,2\n3,\"\"\n");
    ASSERT_FALSE(lf_rows.error);
    EXPECT_EQ(lf_rows.output, "a,b\r\n1,2\r\n3,\r\n") << "output follows the header's line ending";
}

TEST(CsvFilter, OneColumnKeepsEmptyCellsUnambiguous) {
    filter_spec spec = csv_spec({"a"});
    auto r = run_all(spec, "a\n1\n\n2\n");
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, "a\n1\n\"\"\n2\n");
    EXPECT_EQ(r.counters.records_in, 3u);
}

TEST(CsvFilter, StripsEveryColumnWhenNothingIsAllowed) {
    auto r = run_all(csv_spec({}), "a,b\n1,2\n");
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.output, "");
    EXPECT_EQ(r.counters.records_out, 1u);
    EXPECT_EQ(r.counters.stripped_fields.at("a"), 1u);
}

TEST(CsvFilter, StaysDeadAfterAnError) {
    auto filter = make_filter(csv_spec({"a"}));
    std::string out;
    EXPECT_EQ(filter->feed("a,b\n1,x\"\n", out), filter_error::malformed);
    EXPECT_EQ(filter->feed("2,3\n", out), filter_error::malformed);
    EXPECT_EQ(filter->finish(out), filter_error::malformed);
}

TEST(CsvFilter, RefusesAmbiguousOptions) {
    filter_spec spec = csv_spec({"a"});
    spec.csv.quote = ',';
    EXPECT_EQ(run_whole(spec, "a\n1\n").error, filter_error::malformed);
}

}  // namespace
}  // namespace exportwall::filters
