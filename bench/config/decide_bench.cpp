// decide() latency and loader time for the shipped example policy and for a generated policy
// with 1,000 clients and 200 purposes. Counts heap allocations per decision to show the hot path
// does not grow with the policy (only the decision's own strings and vectors allocate).

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include <openssl/evp.h>

#include "common/hex.hpp"
#include "config/decide.hpp"
#include "config/loader.hpp"
#include "config/policy.hpp"
#include "filters/record_rules.hpp"

namespace {
std::atomic<std::uint64_t> allocations{0};
}  // namespace

// Counting allocator for this benchmark binary only. GCC inlines these into new-expressions and
// then mistakes the malloc/free pair for a mismatch.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace exportwall::config {
namespace {

using common::sha256_hex;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

const std::string example_path =
    std::string(EXPORTWALL_SOURCE_DIR) + "/config/examples/belgian-retailer.xml";

// 1,000 clients, 200 purposes, 100 destinations, one entity of 40 fields, 20 routes.
std::string generated_policy() {
    std::string p =
        "<exportwall version=\"1\">\n"
        "  <listen address=\"127.0.0.1\" port=\"0\"/>\n"
        "  <audit path=\"audit.jsonl\"/>\n"
        "  <upstream id=\"crm\" url=\"http://127.0.0.1:8081\"/>\n";
    for (int r = 0; r < 20; ++r)
        p += "  <route id=\"r" + std::to_string(r) + "\" path=\"/api/r" + std::to_string(r) +
             "/contacts\" upstream=\"crm\" entity=\"contact\" format=\"json\" records=\"/value\" "
             "select-param=\"$select\"/>\n";
    p += "  <entity id=\"contact\" subject-field=\"lifecycle\" collected-for=\"essential "
         "marketing\">\n"
         "    <subject value=\"customer\" type=\"customer\"/>\n"
         "    <subject value=\"lead\" type=\"prospect\"/>\n"
         "    <subject value=\"former\" type=\"former-customer\"/>\n"
         "    <field path=\"lifecycle\" category=\"user.account\"/>\n"
         "    <field path=\"consent.email\" category=\"user.privacy_preferences\" "
         "consent-channel=\"email\"/>\n"
         "    <field path=\"objection.dm\" category=\"user.privacy_preferences\"/>\n";
    for (int f = 0; f < 40; ++f)
        p += "    <field path=\"f" + std::to_string(f) + "\" category=\"user.contact\"/>\n";
    p += "  </entity>\n";
    for (int i = 0; i < 200; ++i) {
        bool dm = i % 4 == 3;
        p += "  <purpose id=\"p" + std::to_string(i) + "\" " +
             (dm ? "data-use=\"marketing.communications.email\" basis=\"consent\" "
                   "subjects=\"customer prospect\" channel=\"email\" "
                   "consent-field=\"consent.email\" objection-field=\"objection.dm\""
                 : "data-use=\"essential.service.operations\" basis=\"contract\" "
                   "subjects=\"customer\"") +
             ">\n    <fields entity=\"contact\">";
        for (int f = 0; f < 10; ++f) p += " f" + std::to_string((i + f * 3) % 40);
        p += "</fields>\n  </purpose>\n";
    }
    for (int d = 0; d < 100; ++d)
        p +=
            "  <destination id=\"d" + std::to_string(d) + "\" kind=\"internal\" country=\"BE\"/>\n";
    for (int c = 0; c < 1000; ++c) {
        p += "  <client id=\"c" + std::to_string(c) + "\">\n    <api-key sha256=\"" +
             sha256_hex("key-" + std::to_string(c)) + "\"/>\n";
        for (int g = 0; g < 5; ++g) {
            int purpose = (c * 7 + g * 41) % 200;
            p += "    <grant purpose=\"p" + std::to_string(purpose) + "\" destinations=\"d" +
                 std::to_string((c + g) % 100) + " d" + std::to_string((c + g + 50) % 100) +
                 "\"/>\n";
        }
        p += "  </client>\n";
    }
    return p + "</exportwall>\n";
}

struct request {
    std::string key_hash, path, query, purpose, destination;
    std::vector<std::string_view> purposes, destinations;
    request_facts facts;
    request(std::string_view key, std::string p, std::string q, std::string pu, std::string de)
        : key_hash(sha256_hex(key)),
          path(std::move(p)),
          query(std::move(q)),
          purpose(std::move(pu)),
          destination(std::move(de)) {
        purposes = {purpose};
        destinations = {destination};
        facts.path = path;
        facts.query = query;
        facts.credentials.api_key_sha256 = key_hash;
        facts.purpose_headers = purposes;
        facts.destination_headers = destinations;
    }
};

void run_decide(benchmark::State& state, const configuration& cfg, const request& req) {
    std::uint64_t before = allocations.load();
    std::uint64_t decisions = 0;
    for (auto _ : state) {
        auto d = decide(cfg, req.facts);
        benchmark::DoNotOptimize(d);
        ++decisions;
    }
    state.counters["allocs_per_decide"] = benchmark::Counter(
        static_cast<double>(allocations.load() - before) / static_cast<double>(decisions));
}

const configuration& example() {
    static auto r = load_configuration_file(example_path);
    if (!r) std::abort();
    return *r.config;
}

const configuration& generated() {
    static auto r = load_configuration_text(generated_policy(), "generated.xml");
    if (!r) {
        for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
        std::abort();
    }
    return *r.config;
}

void BM_DecideExampleAllow(benchmark::State& state) {
    request req("marketing-demo-key", "/api/data/v9.2/contacts",
                "$select=email,iban,first_name&$top=50", "promotion-email", "newsletter");
    run_decide(state, example(), req);
}
BENCHMARK(BM_DecideExampleAllow);

void BM_DecideExampleAllowNoSelection(benchmark::State& state) {
    request req("erp-demo-key", "/services/data/v58.0/query", "q=SELECT+Id+FROM+Contact",
                "invoicing", "billing");
    run_decide(state, example(), req);
}
BENCHMARK(BM_DecideExampleAllowNoSelection);

void BM_DecideExampleRefuse(benchmark::State& state) {
    request req("partner-demo-key", "/api/data/v9.2/contacts", "", "delivery", "partner-leads");
    run_decide(state, example(), req);
}
BENCHMARK(BM_DecideExampleRefuse);

void BM_DecideGeneratedAllow(benchmark::State& state) {
    // Client c500's first grant: purpose (500*7) % 200 = 100, destination d0.
    request req("key-500", "/api/r19/contacts", "$select=f1,f4,f7,f99&$top=50", "p100", "d0");
    run_decide(state, generated(), req);
}
BENCHMARK(BM_DecideGeneratedAllow);

void BM_DecideGeneratedRefuse(benchmark::State& state) {
    request req("key-500", "/api/r19/contacts", "", "p101", "d0");
    run_decide(state, generated(), req);
}
BENCHMARK(BM_DecideGeneratedRefuse);

void BM_LoadExample(benchmark::State& state) {
    std::string text = read_file(example_path);
    std::string dir = std::string(EXPORTWALL_SOURCE_DIR) + "/config/examples";
    for (auto _ : state) {
        auto r = load_configuration_text(text, example_path, dir);
        if (!r) state.SkipWithError("example does not load");
        benchmark::DoNotOptimize(r);
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_LoadExample)->Unit(benchmark::kMicrosecond);

void BM_LoadGenerated(benchmark::State& state) {
    std::string text = generated_policy();
    for (auto _ : state) {
        auto r = load_configuration_text(text, "generated.xml");
        if (!r) state.SkipWithError("generated policy does not load");
        benchmark::DoNotOptimize(r);
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_LoadGenerated)->Unit(benchmark::kMillisecond);

// The suppression list's check of one record (direct marketing, R-rules on suppression): every
// record the conditions keep is checked, its e-mail normalised and hashed. A list of 10,000 and
// of 1,000,000 addresses; the record's address is not on it (the usual case); a different address
// each time. Threads(2): both I/O threads checking at once, as under load.
const suppression_entries& suppression_list(std::int64_t size) {
    static std::map<std::int64_t, suppression_entries> lists;
    static std::mutex m;
    const std::lock_guard lock(m);
    auto it = lists.find(size);
    if (it == lists.end()) {
        suppression_entries l("email", suppression_entries::match_kind::email);
        std::string text;
        for (std::int64_t i = 0; i < size; ++i)
            text += "listed" + std::to_string(i) + "@example.be\n";
        l.load(text);
        it = lists.emplace(size, std::move(l)).first;
    }
    return it->second;
}

void BM_SuppressionCheck(benchmark::State& state) {
    const suppression_entries& list = suppression_list(state.range(0));
    std::vector<filters::record_fields> records(1024);
    for (std::size_t i = 0; i < records.size(); ++i)
        records[i].add("email", "  Contact" + std::to_string(i) + "@Example.BE ");
    std::uint64_t suppressed = 0;
    std::size_t i = 0;
    for (auto _ : state) suppressed += list.suppresses(records[i++ % records.size()]) ? 1U : 0U;
    if (suppressed != 0) state.SkipWithError("the address should not be listed");
}
BENCHMARK(BM_SuppressionCheck)->Arg(10000)->Arg(1000000);
BENCHMARK(BM_SuppressionCheck)->Arg(10000)->Arg(1000000)->Threads(2);

}  // namespace
}  // namespace exportwall::config

BENCHMARK_MAIN();
