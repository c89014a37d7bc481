// Audit trail benchmarks. Environment:
//   EXPORTWALL_BENCH_DIR            where logs are written (default: the system temp directory)
//   EXPORTWALL_BENCH_AUDIT_MB       size of the generated log for verify/list (default 100)
//   EXPORTWALL_BENCH_AUDIT_LOG_DIR  keep the generated log in this directory (reused when it
//                                   already holds one), e.g. to time `exportwall audit verify`
//   EXPORTWALL_BENCH_SUBJECT_KEYS   digests in the generated subject index (default 20,000,000:
//                                   10 M delivered records with an id and an address each)

#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <array>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "audit/file_writer.hpp"
#include "audit/reader.hpp"
#include "audit/record.hpp"
#include "audit/subject_index.hpp"

namespace {

using namespace exportwall::audit;
namespace fs = std::filesystem;

fs::path bench_root() {
    const char* dir = std::getenv("EXPORTWALL_BENCH_DIR");
    return dir != nullptr ? fs::path(dir) : fs::temp_directory_path();
}

fs::path fresh_dir(const std::string& name) {
    const fs::path dir =
        bench_root() / ("ew-audit-bench-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

// CPU seconds used by the whole process (all threads): throughput per CPU second shows what
// the code costs when the machine is shared and wall-clock rates are depressed.
double process_cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

record sample(std::uint64_t i) {
    record r;
    r.id = "0123456789abcdef0123456789abcdef";
    r.time = "2026-11-29T10:00:00.000Z";
    r.mode = "enforce";
    const bool refused = i % 10 == 0;
    r.decision = refused ? "blocked" : "filtered";
    r.reason = refused ? "third_party_direct_marketing" : "";
    r.client = i % 3 ? "erp" : "webshop";
    r.purpose = i % 2 ? "invoicing" : "promotion";
    r.basis = i % 2 ? "contract" : "consent";
    r.destination = refused ? "partner-leads" : "billing";
    r.destination_kind = refused ? "third-party" : "internal";
    r.route = "contacts";
    r.method = "GET";
    r.path = "/api/data/v9.2/contacts?$select&$filter";
    r.status = refused ? 403 : 200;
    r.fields_requested = {"id", "name", "email", "billing_address", "iban", "vat_number"};
    if (!refused) r.fields_stripped = {"iban"};
    r.records_in = 500;
    r.records_out = 497;
    if (!refused) r.records_dropped = {{"no_consent", 2}, {"objected", 1}};
    r.bytes_in = 250000;
    r.bytes_out = 180000;
    r.duration_ms = 12.5;
    r.remote = "10.1.2.3:51234";
    r.policy_revision = std::string(64, 'c');
    return r;
}

// Pipelined: 1000 records per iteration (every 10th durable), then wait for all of them.
void BM_AppendPipelined(benchmark::State& state) {
    const auto policy = static_cast<sync_policy>(state.range(0));
    const fs::path dir = fresh_dir("pipelined");
    writer_options o;
    o.path = (dir / "audit.jsonl").string();
    o.sync = policy;
    std::uint64_t n = 0;
    const double cpu0 = process_cpu_seconds();
    {
        file_writer w(o);
        if (w.start()) state.SkipWithError("cannot open the audit log");
        for (auto _ : state) {
            for (int i = 0; i < 1000; ++i, ++n) w.append(sample(n), n % 10 == 0, nullptr);
            w.flush();
        }
        state.counters["fsyncs"] = static_cast<double>(w.counters().fsyncs);
    }
    state.counters["records_per_cpu_s"] = static_cast<double>(n) / (process_cpu_seconds() - cpu0);
    state.SetItemsProcessed(static_cast<std::int64_t>(n));
    fs::remove_all(dir);
}
BENCHMARK(BM_AppendPipelined)
    ->Arg(static_cast<int>(sync_policy::none))
    ->Arg(static_cast<int>(sync_policy::blocked))
    ->Arg(static_cast<int>(sync_policy::always))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Like the proxy: many request threads; each refusal (10 %) waits for its durable completion
// before answering, allowed exports do not wait. Reports the mean wait of a refusal.
std::mutex shared_mutex;
std::unique_ptr<file_writer> shared_writer;
fs::path shared_dir;
std::atomic<std::uint64_t> wait_ns{0}, waits{0}, seq{0};

void BM_AppendConcurrent(benchmark::State& state) {
    if (state.thread_index() == 0) {
        shared_dir = fresh_dir("concurrent");
        writer_options o;
        o.path = (shared_dir / "audit.jsonl").string();
        o.sync = static_cast<sync_policy>(state.range(0));
        shared_writer = std::make_unique<file_writer>(o);
        if (shared_writer->start()) state.SkipWithError("cannot open the audit log");
        wait_ns = 0;
        waits = 0;
    }
    for (auto _ : state) {
        const std::uint64_t i = seq++;
        if (i % 10 == 0) {
            const auto t0 = std::chrono::steady_clock::now();
            std::promise<void> done;
            shared_writer->append(sample(i), true,
                                  [&done](boost::system::error_code) { done.set_value(); });
            done.get_future().wait();
            wait_ns +=
                static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::steady_clock::now() - t0)
                                               .count());
            waits++;
        } else {
            shared_writer->append(sample(i), false, nullptr);
        }
    }
    state.SetItemsProcessed(state.iterations());
    if (state.thread_index() == 0) {
        shared_writer->flush();
        state.counters["refusal_wait_us"] =
            waits ? static_cast<double>(wait_ns.load()) / static_cast<double>(waits.load()) / 1000.0
                  : 0.0;
        shared_writer.reset();
        fs::remove_all(shared_dir);
    }
}
// Threads(1): a lone refusal's wait is one write + fdatasync of the audit disk, the latency a
// refused request adds on an idle proxy.
BENCHMARK(BM_AppendConcurrent)
    ->Arg(static_cast<int>(sync_policy::blocked))
    ->Threads(1)
    ->Threads(16)
    ->Threads(64)
    ->UseRealTime();

// A generated log of EXPORTWALL_BENCH_AUDIT_MB megabytes (rotated at 256 MiB), made once.
struct generated_dir {
    fs::path dir;
    ~generated_dir() {
        std::error_code ec;
        if (!dir.empty()) fs::remove_all(dir, ec);
    }
};

const std::string& generated_log() {
    static generated_dir cleanup;
    static const std::string path = [] {
        const char* mb_env = std::getenv("EXPORTWALL_BENCH_AUDIT_MB");
        const std::uint64_t target = (mb_env ? std::strtoull(mb_env, nullptr, 10) : 100) << 20;
        const char* keep = std::getenv("EXPORTWALL_BENCH_AUDIT_LOG_DIR");
        fs::path dir;
        if (keep != nullptr) {
            dir = keep;
            fs::create_directories(dir);
        } else {
            dir = fresh_dir("verify");
            cleanup.dir = dir;
        }
        writer_options o;
        o.path = (dir / "audit.jsonl").string();
        o.sync = sync_policy::none;
        o.rotate_daily = false;  // a run across midnight must not change the file set
        std::uint64_t have = 0;
        for (const auto& f : find_log_files(o.path)) have += fs::file_size(f.path);
        if (have >= target) return o.path;
        file_writer w(o);
        if (w.start()) std::abort();
        std::uint64_t n = 0;
        while (w.counters().bytes_written < target) {
            for (int i = 0; i < 10000; ++i, ++n) w.append(sample(n), false, nullptr);
            w.flush();
        }
        return o.path;
    }();
    return path;
}

void BM_Verify(benchmark::State& state) {
    const std::string& log = generated_log();
    std::uint64_t bytes = 0;
    for (auto _ : state) {
        const auto res = verify_chain(log);
        if (!res.ok) state.SkipWithError("generated log does not verify");
        bytes += res.bytes;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_Verify)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ListFiltered(benchmark::State& state) {
    const std::string& log = generated_log();
    record_filter f;
    f.decision = {"blocked"};
    std::uint64_t bytes = 0;
    for (auto _ : state) {
        std::uint64_t matched = 0;
        if (for_each_record(log, f, [&](const record&) {
                ++matched;
                return true;
            }))
            state.SkipWithError("cannot read the generated log");
        benchmark::DoNotOptimize(matched);
        for (const auto& file : find_log_files(log)) bytes += fs::file_size(file.path);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_ListFiltered)->Unit(benchmark::kMillisecond)->UseRealTime();

// The subject index (issue 18, item 1): an index as exports write it — one chunk per write to
// the client (~160 records of ~400 B, two digests each: 320), 1,000 records per export — and
// `audit subject`'s scan for one person over it. Reports the index's bytes per digest and per
// delivered record, and the scan's speed; a 1 GiB trail of such exports (~2 M audit records)
// delivers far fewer records than the index here holds per GB of scan.
const std::string& generated_index(std::uint64_t& keys) {
    static std::uint64_t count = 0;
    static const std::string path = [] {
        const char* env = std::getenv("EXPORTWALL_BENCH_SUBJECT_KEYS");
        count = env != nullptr ? std::strtoull(env, nullptr, 10) : 20'000'000ULL;
        const fs::path dir = fresh_dir("subjects");
        const std::string p = (dir / "audit.jsonl.subjects").string();
        auto file = std::make_shared<subject_index_file>(p);
        std::uint64_t state = 0x9e3779b97f4a7c15ULL;
        auto next = [&state] {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            return state;
        };
        std::uint64_t written = 0;
        while (written < count) {
            subject_collector c(file, new_record_id());
            for (int chunk = 0; chunk < 7 && written < count; ++chunk) {  // ~2,000 digests
                for (int i = 0; i < 320 && written < count; ++i, ++written) c.add(next());
                if (c.write_pending()) return std::string();
            }
        }
        return p;
    }();
    keys = count;
    return path;
}

void BM_SubjectLookup(benchmark::State& state) {
    std::uint64_t keys = 0;
    const std::string& index = generated_index(keys);
    if (index.empty()) {
        state.SkipWithError("cannot write the subject index");
        return;
    }
    const auto size = fs::file_size(index);
    std::uint64_t probe = 42;
    std::size_t found = 0;
    for (auto _ : state) {
        std::vector<subject_match> matches;
        const std::array<std::uint64_t, 2> wanted{probe++, probe++};  // an id and an address
        if (find_subject_exports(index, wanted, matches))
            state.SkipWithError("cannot read the subject index");
        found += matches.size();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(size) * state.iterations());
    state.counters["index_MB"] = static_cast<double>(size) / 1e6;
    state.counters["bytes_per_digest"] = static_cast<double>(size) / static_cast<double>(keys);
    state.counters["bytes_per_record"] = 2.0 * static_cast<double>(size) / static_cast<double>(keys);
    state.counters["false_matches"] = static_cast<double>(found);
}
BENCHMARK(BM_SubjectLookup)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
