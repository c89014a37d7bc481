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

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "audit/file_writer.hpp"
#include "audit/reader.hpp"
#include "audit/record.hpp"
#include "audit/serialize.hpp"
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

// One record's canonical line with its hash member, as the writer assembles it before hashing:
// the serialisation alone, into a buffer kept between records (the writer keeps one).
void BM_CanonicalLine(benchmark::State& state) {
    record r = sample(1);
    r.seq = 123456;
    r.prev_hash = std::string(64, 'a');
    r.hash = std::string(64, 'b');
    std::string line;
    for (auto _ : state) {
        line.clear();
        append_line(r, line);
        benchmark::DoNotOptimize(line.data());
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(line.size()));
}
BENCHMARK(BM_CanonicalLine);

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

// The subject index (issue 18). A CRM of `persons` people (an id and an address each), exported
// again and again: each export delivers 1,000 records, a run of the CRM in its own order keeping
// about 45 % (a purpose's conditions), one list chunk per ~143 records (a write to the client).
// The trail holds `keys` delivered digests in all (EXPORTWALL_BENCH_SUBJECT_KEYS, default 20 M:
// 10 M delivered records, each person delivered about ten times). Reports the index's bytes per
// delivered record, the dictionary's and the lists' shares, and `audit subject`'s scan for one
// person (two digests) over it.
struct crm_model {
    std::uint64_t state = 0x9e3779b97f4a7c15ULL;
    std::uint64_t next() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    }
    // A person's two digests (as the keyed hash would give them: fixed, unpredictable).
    static std::uint64_t digest(std::uint64_t person, bool email) {
        std::uint64_t z = 2 * person + (email ? 1 : 0) + 0x632be59bd9b4e019ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
};

constexpr std::uint64_t crm_persons = 1'000'000;

struct generated_subjects {
    std::string path;
    std::uint64_t keys = 0;
    std::uint64_t dictionary_bytes = 0;
};

const generated_subjects& generated_index() {
    static const generated_subjects g = [] {
        generated_subjects out;
        const char* env = std::getenv("EXPORTWALL_BENCH_SUBJECT_KEYS");
        const std::uint64_t count =
            env != nullptr ? std::strtoull(env, nullptr, 10) : 20'000'000ULL;
        const fs::path dir = fresh_dir("subjects");
        out.path = (dir / "audit.jsonl.subjects").string();
        auto file = std::make_shared<subject_index_file>(out.path);
        crm_model crm;
        std::uint64_t written = 0;
        while (written < count) {
            subject_collector c(file, new_record_id());
            std::uint64_t person = crm.next() % crm_persons;
            for (int record = 0; record < 1000 && written < count; ++record) {
                do person = (person + 1) % crm_persons;
                while (crm.next() % 100 >= 45);
                c.add(crm_model::digest(person, false));
                c.add(crm_model::digest(person, true));
                written += 2;
                if (record % 143 == 142 && c.write_pending()) return generated_subjects{};
            }
            if (c.write_pending()) return generated_subjects{};
        }
        out.keys = count;
        (void)for_each_subject_chunk(out.path, [&out](const subject_chunk& c) {
            if (c.kind == subject_chunk::type::dictionary) out.dictionary_bytes += c.bytes.size();
            return true;
        });
        return out;
    }();
    return g;
}

void BM_SubjectLookup(benchmark::State& state) {
    const auto& g = generated_index();
    if (g.path.empty()) {
        state.SkipWithError("cannot write the subject index");
        return;
    }
    const auto size = fs::file_size(g.path);
    std::uint64_t person = 42;
    std::size_t found = 0;
    for (auto _ : state) {
        subject_search search;
        const std::array<std::uint64_t, 2> wanted{crm_model::digest(person, false),
                                                  crm_model::digest(person, true)};
        person += 7919;
        if (find_subject_exports(g.path, wanted, search) || !search.dictionary_intact)
            state.SkipWithError("cannot read the subject index");
        found += search.exports.size();
    }
    const double records = static_cast<double>(g.keys) / 2;
    state.SetBytesProcessed(static_cast<std::int64_t>(size) * state.iterations());
    state.counters["index_MB"] = static_cast<double>(size) / 1e6;
    state.counters["bytes_per_record"] = static_cast<double>(size) / records;
    state.counters["dictionary_per_record"] = static_cast<double>(g.dictionary_bytes) / records;
    state.counters["lists_per_record"] = static_cast<double>(size - g.dictionary_bytes) / records;
    state.counters["exports_found"] =
        static_cast<double>(found) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_SubjectLookup)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

// The proxy's side per delivered digest: SipHash-2-4 of an address.
void BM_SubjectDigest(benchmark::State& state) {
    const subject_hasher hasher(std::vector<unsigned char>(32, 0x4b));
    std::vector<std::string> addresses;
    for (int i = 0; i < 1024; ++i)
        addresses.push_back("first.last" + std::to_string(i * 7919) + "@example-company.com");
    std::uint64_t sink = 0;
    for (auto _ : state)
        for (const auto& a : addresses) sink ^= hasher.email_key(a);
    benchmark::DoNotOptimize(sink);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(addresses.size()));
}
BENCHMARK(BM_SubjectDigest);

// Two at a time (a record's id and address), as the proxy digests them.
void BM_SubjectDigestPairs(benchmark::State& state) {
    const subject_hasher hasher(std::vector<unsigned char>(32, 0x4b));
    std::vector<std::string> ids, addresses;
    for (int i = 0; i < 512; ++i) {
        ids.push_back("0031x0000" + std::to_string(1'000'000 + i * 7919));
        addresses.push_back("first.last" + std::to_string(i * 7919) + "@example-company.com");
    }
    std::uint64_t sink = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const std::array<subject_hasher::keyed_value, 2> keys{
                subject_hasher::keyed_value{false, "contact", ids[i]},
                subject_hasher::keyed_value{true, {}, addresses[i]}};
            std::array<std::uint64_t, 2> out{};
            hasher.keys(keys, out);
            sink ^= out[0] ^ out[1];
        }
    }
    benchmark::DoNotOptimize(sink);
    state.SetItemsProcessed(state.iterations() * 2 * static_cast<std::int64_t>(ids.size()));
}
BENCHMARK(BM_SubjectDigestPairs);

// A record's two keys as the proxy hands them over: each built as its message, sixteen digested
// side by side (subject_collector::add_key), GUID-like ids and addresses; per key. perf: about a
// third building the messages, a third laying them out for the lanes, a third SipHash.
void BM_SubjectQueueKeys(benchmark::State& state) {
    const subject_hasher hasher(std::vector<unsigned char>(32, 0x4b));
    std::vector<std::string> ids, addresses;
    for (int i = 0; i < 512; ++i) {
        ids.push_back("5f1c2a3b-" + std::to_string(10'000'000 + i * 7919) +
                      "-4e21-9d3c-2b7a91f0c4de");
        addresses.push_back("first.last" + std::to_string(i * 7919) + "@example-company.com");
    }
    std::vector<subject_hasher::message> queue(16);
    std::array<std::uint64_t, 16> out{};
    std::uint64_t sink = 0;
    for (auto _ : state) {
        std::size_t queued = 0;
        for (std::size_t i = 0; i < ids.size(); ++i) {
            (void)subject_hasher::make_message({false, "contact", ids[i]}, queue[queued++]);
            (void)subject_hasher::make_message({true, {}, addresses[i]}, queue[queued++]);
            if (queued == queue.size()) {
                hasher.digest_messages(queue, out);
                sink ^= out[0] ^ out[15];
                queued = 0;
            }
        }
    }
    benchmark::DoNotOptimize(sink);
    state.SetItemsProcessed(state.iterations() * 2 * static_cast<std::int64_t>(ids.size()));
}
BENCHMARK(BM_SubjectQueueKeys);

// ... and the collector's: the digests' ordinals in a dictionary of the whole CRM (2 M digests,
// far larger than the caches), sorted, coded and written (to /dev/null), 286 digests a chunk.
void BM_SubjectCollectKnown(benchmark::State& state) {
    static const auto file = [] {
        auto f = std::make_shared<subject_index_file>("/dev/null");
        std::vector<std::uint64_t> all;
        for (std::uint64_t p = 0; p < crm_persons; ++p) {
            all.push_back(crm_model::digest(p, false));
            all.push_back(crm_model::digest(p, true));
        }
        std::vector<std::uint32_t> ordinals;
        for (std::size_t at = 0; at < all.size(); at += chunk_capacity) {
            const std::span<const std::uint64_t> part(all.data() + at,
                                                      std::min(chunk_capacity, all.size() - at));
            if (f->assign(part, ordinals)) return std::shared_ptr<subject_index_file>();
        }
        return f;
    }();
    if (!file) {
        state.SkipWithError("cannot fill the dictionary");
        return;
    }
    crm_model crm;
    std::uint64_t person = 0;
    constexpr int digests = 28'600;
    for (auto _ : state) {
        subject_collector c(file, "0123456789abcdef0123456789abcdef");
        for (int i = 0; i < digests / 2; ++i) {
            do person = (person + 1) % crm_persons;
            while (crm.next() % 100 >= 45);
            c.add(crm_model::digest(person, false));
            c.add(crm_model::digest(person, true));
            if (i % 143 == 142 && c.write_pending()) state.SkipWithError("write failed");
        }
        if (c.write_pending()) state.SkipWithError("write failed");
    }
    state.SetItemsProcessed(state.iterations() * digests);
    state.counters["table_MB"] = static_cast<double>(file->memory_bytes()) / 1e6;
}
BENCHMARK(BM_SubjectCollectKnown);

}  // namespace

BENCHMARK_MAIN();
