// Per-request costs of a small filtered export (issue 20): a page of a few contacts (~2 KiB, the
// generator's Dataverse shape) through a JSON filter built for the request, as the proxy builds
// one per export, and the audit record's id. The proxy's figure (CPU µs per request under wrk)
// is bench/proxy/compare-nginx-filtered's; these isolate the parts a change touches.
//
//   request_bench --benchmark_repetitions=9 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "audit/record.hpp"
#include "bench/json/promotion_spec.hpp"
#include "filters/filter_shelf.hpp"
#include "filters/record_filter.hpp"
#include "proxy/ops/access_log.hpp"
#include "tools/generator/contact_generator.hpp"

namespace {

namespace ew = exportwall;
using ew::filters::body_format;
using ew::filters::filter_spec;

filter_spec promotion_spec() { return ew::bench::promotion_spec(body_format::json); }

std::string page(std::uint64_t records) {
    std::string s;
    ew::bench::generate_contacts("json", records, 42, [&](std::string_view p) { s += p; });
    return s;
}

// One export: the filter built from the purpose's spec, the page fed whole, the end.
void BM_SmallExportFilter(benchmark::State& state) {
    const std::string body = page(static_cast<std::uint64_t>(state.range(0)));
    const filter_spec base = promotion_spec();
    std::string out;
    for (auto _ : state) {
        filter_spec spec = base;
        auto filter = ew::filters::make_filter(std::move(spec));
        out.clear();
        if (filter->feed(body, out) || filter->finish(out)) {
            state.SkipWithError("the filter refused the page");
            return;
        }
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["page_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_SmallExportFilter)->Arg(4)->Arg(50)->Unit(benchmark::kMicrosecond);

// The same, as the proxy runs it since issue 20's filter shelf: each export's filter starts from
// what the previous export of the same spec learnt (filters/filter_shelf.hpp) and hands it on.
void BM_SmallExportFilterRemembered(benchmark::State& state) {
    const std::string body = page(static_cast<std::uint64_t>(state.range(0)));
    const filter_spec base = promotion_spec();
    std::string out;
    ew::filters::clear_shelf();
    for (auto _ : state) {
        filter_spec spec = base;
        auto filter = ew::filters::make_filter_remembering(std::move(spec));
        out.clear();
        if (filter->feed(body, out) || filter->finish(out)) {
            state.SkipWithError("the filter refused the page");
            return;
        }
        benchmark::DoNotOptimize(out.data());
        ew::filters::remember(*filter);
    }
    ew::filters::clear_shelf();
    state.counters["page_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_SmallExportFilterRemembered)->Arg(4)->Arg(50)->Unit(benchmark::kMicrosecond);

// The audit record's id (128 random bits, hex): one per request.
void BM_AuditRecordId(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(ew::audit::new_record_id());
}
BENCHMARK(BM_AuditRecordId);

// One access-log line of a small export, into a buffer kept between lines (the log keeps one a
// thread).
void BM_AccessLine(benchmark::State& state) {
    ew::proxy::access_entry e;
    e.request_id = "0123456789abcdef0123456789abcdef";
    e.audit_id = "fedcba9876543210fedcba9876543210";
    e.remote = "127.0.0.1:51234";
    e.method = "GET";
    e.route = "contacts";
    e.path = "/api/data/v9.2/contacts";
    e.query = "$select=id,firstname,emailaddress1&$top=4";
    e.status = 200;
    e.upstream_status = 200;
    e.bytes_out = 1843;
    e.duration_ms = 0.412;
    e.outcome = "complete";
    const auto now = std::chrono::system_clock::now();
    std::string line;
    for (auto _ : state) {
        line.clear();
        ew::proxy::append_access_line(line, e, now);
        benchmark::DoNotOptimize(line.data());
    }
}
BENCHMARK(BM_AccessLine);

}  // namespace

BENCHMARK_MAIN();
