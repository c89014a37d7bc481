// The CSV filter's fast path (issue 20): whole rows split at the cell ends marked 64 bytes at a
// time must give exactly what the state machine gives byte by byte — the same output, counters
// and error, in every chunking — and every block kernel must mark the same ends.

#include <cstddef>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "filters/csv/csv_blocks.hpp"
#include "filters/csv/csv_filter.hpp"
#include "filters/record_filter.hpp"
#include "tests/unit/filters/chunked_run.hpp"
#include "tools/generator/contact_generator.hpp"

namespace exportwall::filters {
namespace {

using testing::chunkings;
using testing::feed_cut;
using testing::run_result;

// The ends and quotes of [p, end) one byte at a time: the reference for every kernel.
std::vector<csv_blocks::word> reference_marks(std::string_view s, char delimiter, char quote,
                                              bool& inside) {
    std::vector<csv_blocks::word> words((s.size() + 63) / 64, csv_blocks::word{0, 0});
    for (std::size_t i = 0; i < s.size(); ++i) {
        const std::uint64_t bit = std::uint64_t{1} << (i % 64);
        if (s[i] == quote) {
            words[i / 64].quotes |= bit;
            inside = !inside;
        } else if (!inside && (s[i] == delimiter || s[i] == '\r' || s[i] == '\n')) {
            words[i / 64].ends |= bit;
        }
    }
    return words;
}

TEST(CsvBlocks, EveryKernelMarksWhatTheReferenceMarks) {
    std::mt19937 rng(20);
    const std::string alphabet = "ab,;\"\r\n ";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::uniform_int_distribution<std::size_t> length(0, 300);
    for (int round = 0; round < 400; ++round) {
        std::string s(length(rng), 'a');
        for (char& c : s) c = alphabet[pick(rng)];
        const char delimiter = round % 2 == 0 ? ',' : ';';
        const bool inside_before = round % 3 == 0;
        bool reference_inside = inside_before;
        const auto expected = reference_marks(s, delimiter, '"', reference_inside);
        for (const auto k : {csv_blocks::kernel::bytes, csv_blocks::kernel::sse2,
                             csv_blocks::kernel::avx2, csv_blocks::kernel::best}) {
            if (!csv_blocks::supported(k)) continue;
            std::vector<csv_blocks::word> words(expected.size() + 1, csv_blocks::word{7, 7});
            bool inside = inside_before;
            csv_blocks::mark(s.data(), s.data() + s.size(), delimiter, '"', inside, words.data(),
                             k);
            for (std::size_t w = 0; w < expected.size(); ++w) {
                EXPECT_EQ(words[w].quotes, expected[w].quotes) << "kernel " << int(k) << " " << s;
                EXPECT_EQ(words[w].ends, expected[w].ends) << "kernel " << int(k) << " " << s;
            }
            // Nothing past the last block is written.
            EXPECT_EQ(words[expected.size()].quotes, 7U);
            EXPECT_EQ(inside, reference_inside);
        }
        if (::testing::Test::HasFailure()) break;
    }
}

filter_spec spec_for(char delimiter = ',') {
    filter_spec spec;
    spec.format = body_format::csv;
    spec.allowed = field_set({"id", "first_name", "email", "notes"});
    spec.csv.delimiter = delimiter;
    record_condition consent;
    consent.field = "consent_email";
    consent.op = condition_op::is_true;
    consent.reason = drop_reason::no_consent;
    spec.rules.conditions.push_back(consent);
    spec.max_record_bytes = 300;
    return spec;
}

run_result run(const filter_spec& spec, csv_path path, std::string_view body,
               const std::vector<std::size_t>& cuts) {
    run_result r;
    auto filter = make_csv_filter(spec, path);
    r.error = feed_cut(*filter, body, cuts, r.output);
    r.counters = filter->counters();
    return r;
}

// Both paths over `body` in every chunking: the same output, counters and error.
void expect_same(const filter_spec& spec, const std::string& body) {
    auto all = chunkings(body.size(), 600);
    all.emplace_back();  // whole
    for (const auto& cuts : all) {
        const run_result fast = run(spec, csv_path::fast, body, cuts);
        const run_result reference = run(spec, csv_path::state_machine, body, cuts);
        EXPECT_EQ(fast.error, reference.error) << "cuts: " << cuts.size() << "\n" << body;
        EXPECT_EQ(fast.output, reference.output) << "cuts: " << cuts.size() << "\n" << body;
        EXPECT_TRUE(testing::same_counters(fast.counters, reference.counters))
            << "cuts: " << cuts.size() << "\n"
            << body;
        if (::testing::Test::HasFailure()) return;
    }
}

const std::string header = "id,first_name,email,consent_email,notes\n";

TEST(CsvFastPath, AgreesWithTheStateMachineOnWellFormedRows) {
    for (const std::string& rows : std::vector<std::string>{
             "1,Ann,a@x.be,true,plain\n2,Bob,b@x.be,false,x\n",
             "1,Ann,a@x.be,true,\"Gent, BE\"\n2,\"B\"\"ob\",b@x.be,true,\"\"\n",
             "1,Ann,a@x.be,true,\"two\nlines\"\n2,Bob,b@x.be,true,\"cr\r\nlf\"\n",
             "1,Ann,a@x.be,true,x\r\n2,Bob,b@x.be,true,y\r\n",
             "1,Ann,a@x.be,true,x\n\n\n2,Bob,b@x.be,true,y\n\n",
             "1,\"\"\"\",\"a\"\"@x.be\",true,\"\"\"\"\"\"\n",
             "1,=cmd,+a@x.be,true, lead\n2, Bob ,\tb,true,trail \n",
             "1,,,true,\n,,,,\n",
             "1,Ann,a@x.be,true,no newline at the end",
             "1,Ann,a@x.be,true,\"quoted at the end\"",
             "1,Ann,a@x.be,\"true\",x\n",
         }) {
        expect_same(spec_for(), header + rows);
    }
}

TEST(CsvFastPath, RefusesWhatTheStateMachineRefuses) {
    for (const std::string& rows : std::vector<std::string>{
             "1,Ann,a@x.be,true,in\"side\n",         // a quote inside an unquoted cell
             "1,Ann,a@x.be,true,in\"si\"de\n",       // two, the quote parity even again
             "1,A\"nn,a@x.be\",true,x\n",            // two, a delimiter between them
             "1,Ann,a@x.be,true,\"closed\"after\n",  // text after a closing quote
             "1,Ann,a@x.be,true,\"a\"b\"\n",         // a lone quote inside a quoted cell
             "1,Ann,a@x.be,true,bare\rcr\n",         // a CR not followed by LF
             "1,Ann,a@x.be,true,x\r",                // a CR at the end
             "1,Ann,a@x.be,true,x,extra\n",          // more cells than the header
             "1,Ann,a@x.be,true\n",                  // fewer
             "1,Ann,a@x.be,true,x\n2,Bob\n3,C,c,true,z\n",
             "1,Ann,a@x.be,true,\"never closed\n",                 // truncated
             "1,Ann,a@x.be,true," + std::string(400, 'x') + "\n",  // longer than the limit
             "1,Ann,a@x.be,true,\"" + std::string(400, 'x') + "\"\n2,B,b,true,y\n",
         }) {
        expect_same(spec_for(), header + rows);
    }
}

// A valid body in its random chunkings, in pieces of each of `sizes` and whole: both paths give
// the same output and counters, and read `records` rows.
void expect_same_on_valid(const filter_spec& spec, const std::string& body,
                          std::initializer_list<std::size_t> sizes, std::uint64_t records) {
    std::vector<std::vector<std::size_t>> all = chunkings(body.size(), 0);
    all.emplace_back();
    for (const std::size_t size : sizes) {
        std::vector<std::size_t> cuts;
        for (std::size_t at = size; at < body.size(); at += size) cuts.push_back(at);
        all.push_back(std::move(cuts));
    }
    for (const auto& cuts : all) {
        const run_result fast = run(spec, csv_path::fast, body, cuts);
        const run_result reference = run(spec, csv_path::state_machine, body, cuts);
        ASSERT_FALSE(reference.error) << reference.error.message();
        EXPECT_EQ(fast.error, reference.error);
        EXPECT_EQ(fast.output, reference.output) << "cuts: " << cuts.size();
        EXPECT_TRUE(testing::same_counters(fast.counters, reference.counters));
        EXPECT_EQ(fast.counters.records_in, records);
        if (::testing::Test::HasFailure()) return;
    }
}

TEST(CsvFastPath, AgreesOnTheGeneratedExportInEveryDelimiterAndChunking) {
    for (const char delimiter : {',', ';'}) {
        bench::contact_export_options options;
        options.records = 300;
        options.csv_delimiter = delimiter;
        options.csv_bom = delimiter == ';';
        std::string body;
        bench::generate_contacts("csv", options, [&](std::string_view piece) { body += piece; });
        filter_spec spec = spec_for(delimiter);
        spec.max_record_bytes = 4096;
        // Random chunkings and a few fixed sizes (the relay's reads are larger).
        expect_same_on_valid(spec, body, {64, 1000, 16384}, 300);
    }
}

// The fast path marks at most 16 KiB at a time: rows cut by a window's end, and a row longer
// than a window (which the state machine reads), in one chunk and in many.
TEST(CsvFastPath, AgreesAcrossMarkingWindowsAndRowsLongerThanOne) {
    std::string body = header;
    for (int i = 0; i < 150; ++i) {
        body += std::to_string(i) + ",Ann,a" + std::to_string(i) + "@x.be," +
                (i % 3 == 0 ? "false" : "true") + ",\"note, " +
                std::string(static_cast<std::size_t>(i % 90), 'n') + "\"\n";
    }
    body += "999,Long,l@x.be,true,\"" + std::string(20000, 'x') + "\"\"y\"\n";
    body += "1000,Plain," + std::string(17000, 'p') + ",true,z\n";
    for (int i = 0; i < 150; ++i) body += std::to_string(2000 + i) + ",Bob,b@x.be,true,x\n";
    filter_spec spec = spec_for();
    spec.max_record_bytes = 64 * 1024;
    expect_same_on_valid(spec, body, {16384, 16385, 40000}, 302);
}

}  // namespace
}  // namespace exportwall::filters
