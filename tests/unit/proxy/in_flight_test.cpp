// The registry of requests in flight that a stop waits for and cuts (proxy/in_flight.hpp).

#include <gtest/gtest.h>

#include <optional>

#include "proxy/in_flight.hpp"

namespace exportwall::proxy {
namespace {

TEST(InFlightRequests, CountsEntriesForTheirLifetime) {
    in_flight_requests set;
    EXPECT_EQ(set.count(), 0u);
    {
        in_flight_requests::entry a(set, [] {});
        in_flight_requests::entry b(set, [] {});
        EXPECT_EQ(set.count(), 2u);
    }
    EXPECT_EQ(set.count(), 0u);
}

TEST(InFlightRequests, IdleWaiterRunsAtOnceWhenNothingIsInFlight) {
    in_flight_requests set;
    int calls = 0;
    set.when_idle([&] { ++calls; });
    EXPECT_EQ(calls, 1);
}

TEST(InFlightRequests, IdleWaiterRunsOnceWhenTheLastRequestLeaves) {
    in_flight_requests set;
    int calls = 0;
    std::optional<in_flight_requests::entry> a(std::in_place, set, [] {});
    std::optional<in_flight_requests::entry> b(std::in_place, set, [] {});
    set.when_idle([&] { ++calls; });
    a.reset();
    EXPECT_EQ(calls, 0) << "one request is still in flight";
    b.reset();
    EXPECT_EQ(calls, 1);
    // Called once: a later request that comes and goes finds no waiter.
    {
        in_flight_requests::entry c(set, [] {});
    }
    EXPECT_EQ(calls, 1);
}

TEST(InFlightRequests, WithdrawnIdleWaiterIsNeverCalled) {
    in_flight_requests set;
    int calls = 0;
    {
        in_flight_requests::entry a(set, [] {});
        set.when_idle([&] { ++calls; });
        set.when_idle(nullptr);
    }
    EXPECT_EQ(calls, 0);
}

TEST(InFlightRequests, CutAllCallsTheCutOfEveryRequestStillInFlight) {
    in_flight_requests set;
    int cut_a = 0;
    int cut_b = 0;
    std::optional<in_flight_requests::entry> a(std::in_place, set, [&] { ++cut_a; });
    in_flight_requests::entry b(set, [&] { ++cut_b; });
    a.reset();
    EXPECT_EQ(set.cut_all(), 1u);
    EXPECT_EQ(cut_a, 0) << "a request that left is not cut";
    EXPECT_EQ(cut_b, 1);
    EXPECT_EQ(set.count(), 1u) << "a cut request stays in flight until it ends";
}

TEST(InFlightRequests, ACutMayEndItsRequestAtOnce) {
    // A cut runs outside the lock: one that ends its request on this thread (leave) must not
    // deadlock.
    in_flight_requests set;
    std::optional<in_flight_requests::entry> a;
    a.emplace(set, [&] { a.reset(); });
    int idle = 0;
    set.when_idle([&] { ++idle; });
    EXPECT_EQ(set.cut_all(), 1u);
    EXPECT_EQ(set.count(), 0u);
    EXPECT_EQ(idle, 1);
}

}  // namespace
}  // namespace exportwall::proxy
