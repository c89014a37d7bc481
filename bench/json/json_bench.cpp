// Throughput of the JSON and NDJSON export filters on a generated contact export (~400 B per
// record, 15 fields, nested address, consent flags), keeping 3 fields with a consent condition,
// compared in the same run with Boost.JSON parse-only of the same bytes (the floor). The body is
// fed in 64 KiB chunks, as the proxy's relay would. `…BasicParser` runs the same filter with
// every byte through Boost.JSON's basic_parser (json_path::basic_parser): the fast path's
// before and after, side by side.
//
//   json_bench --benchmark_counters_tabular=true

#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include "audit/subject_index.hpp"
#include "bench/json/null_json_handler.hpp"
#include "bench/json/promotion_spec.hpp"
#include "filters/json/json_depth_scanner.hpp"
#include "filters/json/json_filter.hpp"
#include "filters/json/json_record_parser.hpp"
#include "filters/record_filter.hpp"
#include "tools/generator/contact_generator.hpp"

namespace {

namespace ew = exportwall;
using ew::filters::body_format;
using ew::filters::filter_spec;
using ew::filters::json_path;

constexpr std::uint64_t records = 50'000;  // ~20 MB
constexpr std::size_t chunk_bytes = 64 * 1024;

const std::string& export_body(std::string_view format) {
    static const std::string json = [] {
        std::string s;
        ew::bench::generate_contacts("json", records, 42, [&](std::string_view p) { s += p; });
        return s;
    }();
    static const std::string ndjson = [] {
        std::string s;
        ew::bench::generate_contacts("ndjson", records, 42, [&](std::string_view p) { s += p; });
        return s;
    }();
    return format == "json" ? json : ndjson;
}

using ew::bench::promotion_spec;

// The same, with the e-mail address pseudonymised and the first name truncated (field
// transforms: one HMAC-SHA-256 per kept record).
filter_spec transformed_spec(body_format format) {
    filter_spec spec = promotion_spec(format);
    const std::string key = "bench-pseudonymisation-key-32-by";
    spec.transforms = ew::filters::transform_set(
        {{"email", ew::filters::transform_kind::pseudonymise, 0},
         {"first_name", ew::filters::transform_kind::truncate_chars, 1}},
        std::make_shared<const std::vector<unsigned char>>(key.begin(), key.end()));
    return spec;
}

// The subject index (issue 18): every kept record's id and e-mail address checked for
// normalisation and digested (SipHash-2-4) as the proxy does (proxy/enforce/enforcement.cpp), the
// digests' ordinals found in (or added to) the dictionary, and one list chunk written per 64 KiB
// fed (the proxy writes one before each write to the client), to /dev/null.
enum class indexing : std::uint8_t {
    none,
    fields_only,   // the filter reads the id and the address for the index; nothing is digested
    known,         // a repeated export: every person is in the dictionary already
    first_export,  // every person is new: the dictionary grows and is written
};

struct subject_indexing {
    std::vector<unsigned char> key = std::vector<unsigned char>(32, 0x4b);
    std::shared_ptr<const ew::audit::subject_hasher> hasher =
        std::make_shared<const ew::audit::subject_hasher>(key);
    std::shared_ptr<ew::audit::subject_index_file> file;
    std::unique_ptr<ew::audit::subject_collector> collector;

    static bool normalised(std::string_view v, bool email) {
        if (v.empty() || v.front() == ' ' || v.back() == ' ') return false;
        if (!email) return true;
        for (char c : v)
            if ((c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) >= 0x80) return false;
        return true;
    }

    void attach(filter_spec& spec, indexing how) {
        spec.rules.subject_fields = {"email", "id"};
        if (how == indexing::fields_only) {
            spec.rules.decided = [](const ew::filters::record_fields& f, bool kept) {
                // Read as the index reads them: every value of a kept record.
                if (!kept) return;
                for (const auto [index, value] : f.subjects())
                    benchmark::DoNotOptimize(value.data());
            };
            return;
        }
        if (!file || how == indexing::first_export)
            file = std::make_shared<ew::audit::subject_index_file>("/dev/null");
        collector = std::make_unique<ew::audit::subject_collector>(
            file, "0123456789abcdef0123456789abcdef", hasher);
        // As the proxy does: each key queued in the collector, digested sixteen at a time.
        spec.rules.decided = [this](const ew::filters::record_fields& f, bool kept) {
            if (!kept) return;
            // The subject fields by their index in subject_fields: 0 the address, 1 the id.
            for (const auto [index, value] : f.subjects()) {
                const bool is_id = index == 1;
                if (!normalised(value, !is_id)) continue;
                collector->add_key({!is_id, "contact", value});
            }
        };
    }
};

// One export through the filter (and the index): false when it fails.
bool filter_once(const std::string& body, const filter_spec& base, subject_indexing& index,
                 indexing how, std::string& out, std::uint64_t& kept, json_path path) {
    filter_spec spec = base;
    if (how != indexing::none) index.attach(spec, how);
    const bool digests = how == indexing::known || how == indexing::first_export;
    // The bench specs set no strict_envelope: make_filter builds exactly these.
    auto filter = spec.format == body_format::ndjson
                      ? ew::filters::make_ndjson_filter(std::move(spec), path)
                      : ew::filters::make_json_filter(std::move(spec), path);
    for (std::size_t at = 0; at < body.size(); at += chunk_bytes) {
        out.clear();
        if (filter->feed(std::string_view(body).substr(at, chunk_bytes), out)) return false;
        if (digests && index.collector->write_pending()) return false;
        benchmark::DoNotOptimize(out.data());
    }
    out.clear();
    if (filter->finish(out)) return false;
    if (digests && index.collector->write_pending()) return false;
    kept = filter->counters().records_out;
    return true;
}

void run_filter(benchmark::State& state, body_format format, std::string_view name,
                bool transforms = false, indexing how = indexing::none,
                json_path path = json_path::fast) {
    const std::string& body = export_body(name);
    const filter_spec base = transforms ? transformed_spec(format) : promotion_spec(format);
    std::string out;
    std::uint64_t kept = 0;
    subject_indexing index;
    // A repeated export: the persons are in the dictionary before the timing starts.
    if (how == indexing::known && !filter_once(body, base, index, how, out, kept, path)) {
        state.SkipWithError("filter refused the export");
        return;
    }
    for (auto _ : state) {
        if (!filter_once(body, base, index, how, out, kept, path)) {
            state.SkipWithError("filter refused the export or the index failed");
            return;
        }
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
    state.counters["records_kept"] = static_cast<double>(kept);
    if (index.collector) state.counters["digests"] = static_cast<double>(index.collector->keys());
}

void BM_JsonFilterKeep3WithConsent(benchmark::State& state) {
    run_filter(state, body_format::json, "json");
}
BENCHMARK(BM_JsonFilterKeep3WithConsent)->Unit(benchmark::kMillisecond);

void BM_JsonFilterKeep3WithConsentBasicParser(benchmark::State& state) {
    run_filter(state, body_format::json, "json", false, indexing::none, json_path::basic_parser);
}
BENCHMARK(BM_JsonFilterKeep3WithConsentBasicParser)->Unit(benchmark::kMillisecond);

void BM_JsonFilterKeep3WithConsentIndexed(benchmark::State& state) {
    run_filter(state, body_format::json, "json", false, indexing::known);
}
BENCHMARK(BM_JsonFilterKeep3WithConsentIndexed)->Unit(benchmark::kMillisecond);

void BM_JsonFilterKeep3WithConsentIndexedFirstExport(benchmark::State& state) {
    run_filter(state, body_format::json, "json", false, indexing::first_export);
}
BENCHMARK(BM_JsonFilterKeep3WithConsentIndexedFirstExport)->Unit(benchmark::kMillisecond);

void BM_JsonFilterKeep3WithConsentSubjectFieldsOnly(benchmark::State& state) {
    run_filter(state, body_format::json, "json", false, indexing::fields_only);
}
BENCHMARK(BM_JsonFilterKeep3WithConsentSubjectFieldsOnly)->Unit(benchmark::kMillisecond);

void BM_NdjsonFilterKeep3WithConsent(benchmark::State& state) {
    run_filter(state, body_format::ndjson, "ndjson");
}
BENCHMARK(BM_NdjsonFilterKeep3WithConsent)->Unit(benchmark::kMillisecond);

void BM_NdjsonFilterKeep3WithConsentBasicParser(benchmark::State& state) {
    run_filter(state, body_format::ndjson, "ndjson", false, indexing::none,
               json_path::basic_parser);
}
BENCHMARK(BM_NdjsonFilterKeep3WithConsentBasicParser)->Unit(benchmark::kMillisecond);

void BM_JsonFilterKeep3WithConsentTransformed(benchmark::State& state) {
    run_filter(state, body_format::json, "json", true);
}
BENCHMARK(BM_JsonFilterKeep3WithConsentTransformed)->Unit(benchmark::kMillisecond);

// The floor: Boost.JSON parses the same bytes into a DOM (reusing one arena per run).
void BM_BoostJsonParseOnly(benchmark::State& state) {
    const std::string& body = export_body("json");
    for (auto _ : state) {
        boost::json::monotonic_resource arena;
        boost::system::error_code ec;
        auto v = boost::json::parse(body, ec, &arena);
        if (ec) {
            state.SkipWithError("boost::json::parse failed");
            return;
        }
        benchmark::DoNotOptimize(v);
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(BM_BoostJsonParseOnly)->Unit(benchmark::kMillisecond);

using null_handler = exportwall::bench::null_json_handler;

void BM_BoostJsonSaxParseOnly(benchmark::State& state) {
    const std::string& body = export_body("json");
    for (auto _ : state) {
        boost::json::basic_parser<null_handler> p(boost::json::parse_options{});
        boost::system::error_code ec;
        for (std::size_t at = 0; at < body.size() && !ec; at += chunk_bytes) {
            const std::string_view c = std::string_view(body).substr(at, chunk_bytes);
            p.write_some(true, c.data(), c.size(), ec);
        }
        p.write_some(false, nullptr, 0, ec);
        if (ec) {
            state.SkipWithError("basic_parser failed");
            return;
        }
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(BM_BoostJsonSaxParseOnly)->Unit(benchmark::kMillisecond);

// The fast path's floor (issue 20): json_record_parser over the NDJSON export's lines with a
// handler that drops every member value unread (each still checked and skipped) and does nothing
// with a key — the parser's walk and validation alone. What the NDJSON filter costs above it is
// its handler's: the replayed plans, the record buffer, the rules.
struct skip_everything_handler {
    using error_code = boost::system::error_code;
    std::size_t key_bytes = 0;
    bool on_object_begin(error_code&) { return true; }
    bool on_object_end(std::size_t, error_code&) { return true; }
    bool on_array_begin(error_code&) { return true; }
    bool on_array_end(std::size_t, error_code&) { return true; }
    bool on_key(boost::json::string_view k, std::size_t, error_code&) {
        key_bytes += k.size();
        return true;
    }
    bool on_string(boost::json::string_view, std::size_t, error_code&) { return true; }
    bool on_double(double, boost::json::string_view, error_code&) { return true; }
    bool on_bool(bool, error_code&) { return true; }
    bool on_null(error_code&) { return true; }
    bool skip_quietly(ew::filters::json_kind) { return true; }
};

void BM_NdjsonRecordParserSkippingEverything(benchmark::State& state) {
    const std::string& body = export_body("ndjson");
    skip_everything_handler h;
    ew::filters::json_record_parser<skip_everything_handler> parser(h);
    for (auto _ : state) {
        const char* p = body.data();
        const char* const end = p + body.size();
        while (p < end) {
            const auto* nl =
                static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
            if (nl == nullptr) nl = end;
            if (nl != p) {
                boost::system::error_code ec;
                if (parser.parse(p, nl, 64, ec) != nl || ec) {
                    state.SkipWithError("a record did not parse");
                    return;
                }
            }
            p = nl + 1;
        }
    }
    benchmark::DoNotOptimize(h.key_bytes);
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(BM_NdjsonRecordParserSkippingEverything)->Unit(benchmark::kMillisecond);

// The JSON filter's first pass over every byte: where records open and close (exact record
// sizes), with each block reader the CPU supports.
void BM_JsonDepthScanner(benchmark::State& state, ew::filters::json_depth_scanner::kernel k) {
    if (!ew::filters::json_depth_scanner::supported(k)) {
        state.SkipWithError("this CPU lacks the instructions");
        return;
    }
    const std::string& body = export_body("json");
    std::vector<std::uint64_t> marks;
    for (auto _ : state) {
        ew::filters::json_depth_scanner scanner(3, k);
        for (std::size_t at = 0; at < body.size(); at += chunk_bytes) {
            marks.clear();
            scanner.scan(std::string_view(body).substr(at, chunk_bytes), at, marks);
            benchmark::DoNotOptimize(marks.data());
        }
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK_CAPTURE(BM_JsonDepthScanner, avx2, ew::filters::json_depth_scanner::kernel::avx2)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_JsonDepthScanner, sse2, ew::filters::json_depth_scanner::kernel::sse2)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_JsonDepthScanner, bytes, ew::filters::json_depth_scanner::kernel::bytes)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
