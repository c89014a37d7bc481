#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <future>

#include "config/continuation.hpp"
#include "proxy/enforce/export_quota.hpp"
#include "proxy/enforce/quota_store.hpp"

namespace exportwall::proxy {
namespace {

namespace net = boost::asio;

// Runs one awaitable to completion on a private io_context.
template <class T>
T run(net::awaitable<T> a) {
    net::io_context io;
    auto f = net::co_spawn(io, std::move(a), net::use_future);
    io.run();
    return f.get();
}

void run_void(net::awaitable<void> a) {
    net::io_context io;
    auto f = net::co_spawn(io, std::move(a), net::use_future);
    io.run();
    f.get();
}

std::int64_t at(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
    using namespace std::chrono;
    return sys_days{year{y} / month{m} / day{d}}.time_since_epoch().count() * 86400 + hh * 3600 +
           mm * 60 + ss;
}

TEST(QuotaWindow, FixedUtcWindows) {
    const std::int64_t now = at(2026, 12, 4, 23, 59, 30);
    auto h = window_of(config::quota_period::hour, now);
    EXPECT_EQ(h.start, at(2026, 12, 4, 23));
    EXPECT_EQ(h.end, at(2026, 12, 5, 0));
    auto d = window_of(config::quota_period::day, now);
    EXPECT_EQ(d.start, at(2026, 12, 4));
    EXPECT_EQ(d.end, at(2026, 12, 5));
    auto m = window_of(config::quota_period::month, now);
    EXPECT_EQ(m.start, at(2026, 12, 1));
    EXPECT_EQ(m.end, at(2027, 1, 1));
    auto feb = window_of(config::quota_period::month, at(2028, 2, 29, 12));
    EXPECT_EQ(feb.start, at(2028, 2, 1));
    EXPECT_EQ(feb.end, at(2028, 3, 1));
    // The window's last second still belongs to it; the next one starts the next window.
    EXPECT_EQ(window_of(config::quota_period::day, at(2026, 12, 4, 23, 59, 59)).start,
              at(2026, 12, 4));
    EXPECT_EQ(window_of(config::quota_period::day, at(2026, 12, 5)).start, at(2026, 12, 5));
}

config::decision allowed(const config::grant& g, std::uint64_t max_records = 0) {
    config::decision d;
    d.result = config::outcome::allow;
    d.client_id = "erp";
    d.purpose_id = "delivery";
    d.destination_id = "warehouse";
    d.grant_ref = &g;
    d.max_records = max_records;
    return d;
}

TEST(QuotaPlan, CountersFollowTheGrantAndTheChain) {
    const auto own = config::new_continuation_chain();
    config::grant none;
    EXPECT_TRUE(plan_quota(allowed(none), own, at(2026, 12, 4), 3600).counters.empty());
    // max-records alone on a route that hands out no sealed link: nothing is counted in a store
    // (the filter caps the export).
    EXPECT_TRUE(plan_quota(allowed(none, 5), own, at(2026, 12, 4), 3600).counters.empty());
    // On a route that seals paging links, a first page starts its chain from its first record.
    config::route paged;
    paged.continuation_params = {"$skiptoken"};
    auto first = allowed(none, 5);
    first.matched_route = &paged;
    auto chained = plan_quota(first, own, at(2026, 12, 4), 3600);
    ASSERT_EQ(chained.counters.size(), 1u);
    EXPECT_EQ(chained.counters[0].key, chain_key(own));
    EXPECT_TRUE(chained.first_page);
    EXPECT_FALSE(chained.needs_shared) << "a chain alone must not make the grant depend on Redis";

    config::grant q;
    q.quota = 3;
    q.quota_window = config::quota_period::day;
    const std::int64_t now = at(2026, 12, 4, 10);
    auto plan = plan_quota(allowed(q), own, now, 3600);
    ASSERT_EQ(plan.counters.size(), 1u);
    EXPECT_EQ(plan.counters[0].limit, 3u);
    EXPECT_EQ(plan.counters[0].key,
              "quota:erp|delivery|warehouse|day|" + std::to_string(at(2026, 12, 4)));
    EXPECT_EQ(plan.reasons[0], config::reason::quota_exceeded);
    EXPECT_TRUE(plan.needs_shared);
    EXPECT_EQ(plan.window_end, at(2026, 12, 5));
    EXPECT_GE(plan.counters[0].ttl_seconds, at(2026, 12, 5) - now);

    // A page reached through a sealed link also counts its chain against max-records.
    auto d = allowed(q, 10);
    d.chain = config::new_continuation_chain();
    plan = plan_quota(d, own, now, 3600);
    ASSERT_EQ(plan.counters.size(), 2u);
    EXPECT_EQ(plan.counters[1].key, chain_key(*d.chain)) << "the chain the link continues";
    EXPECT_FALSE(plan.first_page);
    EXPECT_EQ(plan.counters[1].limit, 10u);
    EXPECT_EQ(plan.reasons[1], config::reason::record_limit_exceeded);

    // A passthrough route's answer holds no records: nothing is counted.
    config::route passthrough;
    passthrough.format = config::route_format::passthrough;
    auto through = allowed(q, 10);
    through.matched_route = &passthrough;
    EXPECT_TRUE(plan_quota(through, own, now, 3600).counters.empty());

    // A refused export counts nothing.
    d.result = config::outcome::refuse;
    EXPECT_TRUE(plan_quota(d, own, now, 3600).counters.empty());
}

TEST(MemoryStore, ReservesAtomicallyUpToTheLeastRoom) {
    auto store = make_memory_store();
    std::vector<quota_counter> two{{"a", 5, 60}, {"b", 3, 60}};
    auto r = run(store->reserve(two, 2));
    EXPECT_FALSE(r.error);
    EXPECT_EQ(r.granted, 2u);
    EXPECT_EQ(r.rooms, (std::vector<std::uint64_t>{3, 1}));
    r = run(store->reserve(two, 4));
    EXPECT_EQ(r.granted, 1u) << "b had one left";
    EXPECT_EQ(r.limited_by, 1u);
    EXPECT_EQ(r.rooms, (std::vector<std::uint64_t>{2, 0}));
    auto values = run(store->read({"a", "b", "missing"}));
    ASSERT_EQ(values.values.size(), 3u);
    EXPECT_EQ(values.values[0], 3u);
    EXPECT_EQ(values.values[1], 3u);
    EXPECT_EQ(values.values[2], 0u);
    EXPECT_EQ(r.room, 0u) << "b is full";
    r = run(store->reserve(two, 1));
    EXPECT_EQ(r.granted, 0u);
    EXPECT_EQ(r.limited_by, 1u);
    EXPECT_FALSE(run(store->release(two, 2)));
    values = run(store->read({"a", "b"}));
    EXPECT_EQ(values.values[0], 1u);
    EXPECT_EQ(values.values[1], 1u);
    // Never below zero.
    EXPECT_FALSE(run(store->release(two, 100)));
    values = run(store->read({"a", "b"}));
    EXPECT_EQ(values.values[0], 0u);
    EXPECT_EQ(values.values[1], 0u);
}

TEST(MemoryStore, AddPutScan) {
    auto store = make_memory_store();
    EXPECT_EQ(run(store->add("volume:x", 5, 60)).values.at(0), 5u);
    EXPECT_EQ(run(store->add("volume:x", 2, 60)).values.at(0), 7u);
    EXPECT_FALSE(run(store->put("hold:x", 42)));
    EXPECT_FALSE(run(store->put("hold:y", 43)));
    auto holds = run(store->scan("hold:"));
    ASSERT_TRUE(holds.has_value());
    ASSERT_EQ(holds->size(), 2u);
    EXPECT_EQ((*holds)[0].first, "hold:x");
    EXPECT_EQ((*holds)[0].second, 42u);
    EXPECT_FALSE(run(store->put("hold:x", 0)));
    EXPECT_EQ(run(store->scan("hold:"))->size(), 1u);
    EXPECT_FALSE(store->shared());
}

// A store that cannot answer: every call fails.
class broken_store final : public quota_store {
  public:
    net::awaitable<reservation> reserve(std::vector<quota_counter>, std::uint64_t) override {
        ++calls;
        reservation r;
        r.error = boost::system::errc::make_error_code(boost::system::errc::connection_refused);
        co_return r;
    }
    net::awaitable<boost::system::error_code> release(std::vector<quota_counter>,
                                                      std::uint64_t) override {
        co_return boost::system::errc::make_error_code(boost::system::errc::connection_refused);
    }
    void release_soon(std::vector<quota_counter>, std::uint64_t,
                      const net::any_io_executor&) override {}
    net::awaitable<count_result> add(std::string, std::uint64_t, std::int64_t) override {
        count_result r;
        r.error = boost::system::errc::make_error_code(boost::system::errc::connection_refused);
        co_return r;
    }
    net::awaitable<count_result> read(std::vector<std::string>) override {
        count_result r;
        r.error = boost::system::errc::make_error_code(boost::system::errc::connection_refused);
        co_return r;
    }
    net::awaitable<boost::system::error_code> put(std::string, std::uint64_t) override {
        co_return boost::system::errc::make_error_code(boost::system::errc::connection_refused);
    }
    net::awaitable<std::optional<std::vector<std::pair<std::string, std::uint64_t>>>> scan(
        std::string) override {
        co_return std::nullopt;
    }
    bool shared() const noexcept override { return true; }
    std::string describe() const override { return "broken"; }
    int calls = 0;
};

quota_plan quota_of(std::uint64_t limit) {
    quota_plan p;
    p.counters.push_back({"quota:k", limit, 3600});
    p.reasons.push_back(config::reason::quota_exceeded);
    p.needs_shared = true;
    p.window_end = 1000;
    return p;
}

TEST(ExportQuota, ReservesInGrowingBatchesAndReturnsTheRest) {
    auto store = make_memory_store();
    export_quota q(quota_of(1'000'000), store, nullptr, 1000);
    auto v = run(q.open(10));
    EXPECT_EQ(v.refusal, config::reason::none);
    EXPECT_EQ(q.reserved(), 16u) << "the first batch is small: a small export holds little";
    EXPECT_EQ(run(q.cover(10)), 10u);
    EXPECT_EQ(q.reserved(), 16u) << "covered records take no round trip";
    EXPECT_EQ(run(q.cover(17)), 17u);
    EXPECT_EQ(q.reserved(), 16u + 64u);
    EXPECT_EQ(run(q.cover(5000)), 5000u);
    EXPECT_LE(q.reserved(), 5000u + 1000u) << "batches stop growing at the configured batch";
    run_void(q.close(5000, false));
    EXPECT_EQ(run(store->read({"quota:k"})).values.at(0), 5000u)
        << "the unused reservation went back";
}

TEST(ExportQuota, ASpentQuotaRefusesWithRetryAfterAndCutsAtTheLimit) {
    auto store = make_memory_store();
    {
        export_quota first(quota_of(3), store, nullptr, 1000);
        EXPECT_EQ(run(first.open(10)).refusal, config::reason::none);
        EXPECT_EQ(first.reserved(), 3u);
        EXPECT_EQ(run(first.cover(2)), 2u);
        run_void(first.close(2, false));
    }
    export_quota second(quota_of(3), store, nullptr, 1000);
    EXPECT_EQ(run(second.open(10)).refusal, config::reason::none);
    EXPECT_EQ(run(second.cover(2)), 1u) << "one record was left of the quota";
    EXPECT_EQ(second.refusal(), config::reason::quota_exceeded);
    run_void(second.close(1, false));

    export_quota third(quota_of(3), store, nullptr, 1000);
    auto v = run(third.open(400));
    EXPECT_EQ(v.refusal, config::reason::quota_exceeded);
    EXPECT_EQ(v.retry_after, 600u) << "seconds until the window ends";
}

TEST(ExportQuota, AFirstPageWithoutALinkLeavesNoChainBehind) {
    auto store = make_memory_store();
    quota_plan plan;
    plan.counters.push_back({"chain:first", 10, 3600});
    plan.reasons.push_back(config::reason::record_limit_exceeded);
    plan.first_page = true;
    {
        export_quota q(plan, store, nullptr, 1000);
        EXPECT_EQ(run(q.open(1)).refusal, config::reason::none);
        EXPECT_EQ(run(q.cover(4)), 4u);
        run_void(q.close(4, /*continued=*/true));
        EXPECT_EQ(run(store->read({"chain:first"})).values.at(0), 4u)
            << "a page that handed out a link keeps its count for the next page";
    }
    export_quota q(plan, store, nullptr, 1000);
    EXPECT_EQ(run(q.open(1)).refusal, config::reason::none);
    EXPECT_EQ(run(q.cover(7)), 6u) << "the chain's max-records holds across pages";
    run_void(q.close(6, /*continued=*/false));
    EXPECT_EQ(run(store->read({"chain:first"})).values.at(0), 0u);
    EXPECT_TRUE(run(store->scan("chain:"))->empty()) << "no counter left behind";
}

TEST(ExportQuota, FailsClosedForAQuotaAndFallsBackForAChainOnly) {
    auto broken = std::make_shared<broken_store>();
    auto local = make_memory_store();
    export_quota with_quota(quota_of(100), broken, local, 1000);
    EXPECT_EQ(run(with_quota.open(10)).refusal, config::reason::quota_store_unavailable);

    quota_plan chain;
    chain.counters.push_back({"chain:c", 2, 3600});
    chain.reasons.push_back(config::reason::record_limit_exceeded);
    export_quota chain_only(chain, broken, local, 1000);
    EXPECT_EQ(run(chain_only.open(10)).refusal, config::reason::none)
        << "a store outage must not refuse a grant without a quota";
    EXPECT_EQ(run(chain_only.cover(3)), 2u) << "max-records still holds, on this replica";
    EXPECT_EQ(chain_only.refusal(), config::reason::record_limit_exceeded);
}

TEST(ContinuationChain, SealedIntoTheTokenAndOpenedWithIt) {
    const auto key = config::random_continuation_key();
    const config::continuation_binding b{"erp", "delivery", "warehouse", "contacts", "", "/p"};
    const auto chain = config::new_continuation_chain();
    const std::string sealed = config::seal_continuation(key, b, "page2", 2'000'000'000, &chain);
    auto opened = config::open_continuation(key, b, sealed, 1'000'000'000);
    ASSERT_EQ(opened.error, config::continuation_error::none);
    EXPECT_EQ(opened.crm_token, "page2");
    ASSERT_TRUE(opened.chain.has_value());
    EXPECT_EQ(*opened.chain, chain);
    // A token of the earlier layout (no chain) still opens: it starts a new export.
    const std::string old = config::seal_continuation(key, b, "page2", 2'000'000'000);
    opened = config::open_continuation(key, b, old, 1'000'000'000);
    ASSERT_EQ(opened.error, config::continuation_error::none);
    EXPECT_EQ(opened.crm_token, "page2");
    EXPECT_FALSE(opened.chain.has_value());
    // Expiry still holds with a chain.
    EXPECT_EQ(config::open_continuation(key, b, sealed, 2'000'000'001).error,
              config::continuation_error::expired);
    EXPECT_EQ(config::chain_hex(chain).size(), 32u);
}

}  // namespace
}  // namespace exportwall::proxy
