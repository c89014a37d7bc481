// CSV and XML filter throughput (MB/s of upstream body) on the generator's contact export,
// keeping 3 of 15 fields with a consent condition, fed in 64 KiB chunks as the relay would.
// Floors in the same run: a memchr pass over the CSV, expat parsing the XML with no handlers;
// and the CSV filter's byte-by-byte state machine (csv_path::state_machine), the reference its
// fast path is compared with.

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>
#include <expat.h>

#include "filters/csv/csv_filter.hpp"
#include "filters/record_filter.hpp"
#include "filters/xml/xml_filter.hpp"
#include "tools/generator/contact_generator.hpp"

namespace {

using namespace exportwall::filters;

constexpr std::uint64_t records = 100'000;  // ~40 MB: well past every cache
constexpr std::size_t chunk = 64 * 1024;

const std::string& body(std::string_view format) {
    static const std::string csv = [] {
        std::string s;
        exportwall::bench::generate_contacts("csv", records, 42,
                                             [&](std::string_view piece) { s.append(piece); });
        return s;
    }();
    static const std::string xml = [] {
        std::string s;
        exportwall::bench::generate_contacts("xml", records, 42,
                                             [&](std::string_view piece) { s.append(piece); });
        return s;
    }();
    return format == "csv" ? csv : xml;
}

filter_spec spec_for(body_format format) {
    filter_spec spec;
    spec.format = format;
    record_condition consent;
    consent.op = condition_op::is_true;
    consent.reason = drop_reason::no_consent;
    if (format == body_format::csv) {
        spec.allowed = field_set({"id", "first_name", "email"});
        consent.field = "consent_email";
    } else {
        spec.records = "/Envelope/Body/queryResponse/result/records";
        spec.allowed = field_set({"Id", "first_name", "email"});
        consent.field = "consent.email";
    }
    spec.rules.conditions.push_back(consent);
    return spec;
}

void run_filter(benchmark::State& state, body_format format, const std::string& data,
                bool csv_state_machine = false, bool xml_expat = false) {
    std::string out;
    out.reserve(2 * chunk);
    std::uint64_t kept = 0;
    for (auto _ : state) {
        auto filter = csv_state_machine ? make_csv_filter(spec_for(format), csv_path::state_machine)
                      : xml_expat       ? make_xml_filter(spec_for(format), xml_path::expat)
                                        : make_filter(spec_for(format));
        for (std::size_t at = 0; at < data.size(); at += chunk) {
            out.clear();
            const std::string_view piece =
                std::string_view(data).substr(at, std::min(chunk, data.size() - at));
            if (filter->feed(piece, out)) state.SkipWithError("filter refused the export");
            benchmark::DoNotOptimize(out.data());
        }
        if (filter->finish(out)) state.SkipWithError("filter refused the end");
        kept = filter->counters().records_out;
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(data.size()));
    state.counters["kept_records"] = static_cast<double>(kept);
    state.counters["body_MB"] = static_cast<double>(data.size()) / 1e6;
}

void BM_CsvFilterKeep3Of15WithConsent(benchmark::State& state) {
    run_filter(state, body_format::csv, body("csv"));
}

void BM_CsvFilterKeep3Of15WithConsentStateMachine(benchmark::State& state) {
    run_filter(state, body_format::csv, body("csv"), true);
}

void BM_XmlFilterKeep3Of15WithConsent(benchmark::State& state) {
    run_filter(state, body_format::xml, body("xml"));
}

// The same, every byte read by expat (no fast path): the reference, side by side.
void BM_XmlFilterKeep3Of15WithConsentExpat(benchmark::State& state) {
    run_filter(state, body_format::xml, body("xml"), false, true);
}

// Floor for CSV: find every line feed, nothing else.
void BM_CsvFloorMemchrNewlines(benchmark::State& state) {
    const std::string& data = body("csv");
    for (auto _ : state) {
        std::size_t lines = 0;
        const char* p = data.data();
        const char* end = p + data.size();
        while (const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p))) {
            ++lines;
            p = static_cast<const char*>(nl) + 1;
        }
        benchmark::DoNotOptimize(lines);
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(data.size()));
}

// Floor for XML: expat (namespace mode) parsing the same chunks with no handlers.
void BM_XmlFloorExpatParseOnly(benchmark::State& state) {
    const std::string& data = body("xml");
    for (auto _ : state) {
        XML_Parser parser = XML_ParserCreateNS("UTF-8", '\x01');
        for (std::size_t at = 0; at < data.size(); at += chunk) {
            const std::size_t n = std::min(chunk, data.size() - at);
            if (XML_Parse(parser, data.data() + at, static_cast<int>(n), XML_FALSE) !=
                XML_STATUS_OK) {
                state.SkipWithError("expat refused the export");
            }
        }
        XML_Parse(parser, nullptr, 0, XML_TRUE);
        XML_ParserFree(parser);
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(data.size()));
}

BENCHMARK(BM_CsvFilterKeep3Of15WithConsent)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CsvFilterKeep3Of15WithConsentStateMachine)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CsvFloorMemchrNewlines)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_XmlFilterKeep3Of15WithConsent)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_XmlFilterKeep3Of15WithConsentExpat)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_XmlFloorExpatParseOnly)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
