// OAuth2 access tokens for an upstream (proxy/upstream_token.hpp): the refresh schedule and the
// backoff with an injected clock, one fetch in flight however many exports wait (on a real
// io_context, the token endpoint replaced by a gate the test opens), the token endpoint's request
// and answer, and the Authorization field of the upstream request.

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/forward.hpp"
#include "proxy/ops/metrics.hpp"
#include "proxy/upstream_token.hpp"

namespace exportwall::proxy {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

const clock_type::time_point t0{std::chrono::hours(1000)};

std::shared_ptr<const std::string> token_of(std::string value) {
    return std::make_shared<const std::string>(std::move(value));
}

// ---- the schedule -----------------------------------------------------------------------------

TEST(TokenRefresh, ReplacesATokenAtFourFifthsOrAMinuteEarlyAndNeverBeforeHalfItsLife) {
    EXPECT_EQ(refresh_after(3600s), 2880s);  // four fifths of an hour
    EXPECT_EQ(refresh_after(300s), 240s);    // both rules agree
    EXPECT_EQ(refresh_after(240s), 180s);    // a minute early
    EXPECT_EQ(refresh_after(100s), 50s);     // a minute early would be 40 s: half its life
    EXPECT_EQ(refresh_after(30s), 15s);      // L − 60 s would be negative
    EXPECT_EQ(refresh_after(1s), 500ms);
    for (long l = 1; l <= 5000; ++l) {
        const auto r = refresh_after(std::chrono::seconds(l));
        EXPECT_GT(r, 0ms) << l;
        EXPECT_LT(r, std::chrono::seconds(l)) << l;
    }
}

TEST(TokenCache, FirstCallerStartsTheOneFetchAndTheOthersWait) {
    token_cache cache;
    auto first = cache.look_up(t0);
    EXPECT_TRUE(first.start_fetch);
    EXPECT_TRUE(first.wait);
    EXPECT_FALSE(first.token);
    for (int i = 0; i < 3; ++i) {
        auto other = cache.look_up(t0 + 10ms);
        EXPECT_FALSE(other.start_fetch);
        EXPECT_TRUE(other.wait);
    }
}

TEST(TokenCache, UsesTheTokenUntilItsRefreshIsDueThenRefreshesOnceWhileStillUsingIt) {
    token_cache cache;
    (void)cache.look_up(t0);
    auto a = token_of("A");
    cache.fetched(a, 3600s, t0);
    auto before = cache.look_up(t0 + 2879s);
    EXPECT_EQ(before.token, a);
    EXPECT_FALSE(before.start_fetch);
    auto due = cache.look_up(t0 + 2880s);
    EXPECT_EQ(due.token, a);  // nobody waits for the refresh
    EXPECT_TRUE(due.start_fetch);
    EXPECT_FALSE(due.wait);
    auto meanwhile = cache.look_up(t0 + 2881s);
    EXPECT_EQ(meanwhile.token, a);
    EXPECT_FALSE(meanwhile.start_fetch);  // one refresh in flight
    auto b = token_of("B");
    cache.fetched(b, 3600s, t0 + 2880s);
    EXPECT_EQ(cache.look_up(t0 + 2882s).token, b);
}

TEST(TokenCache, AnExpiredTokenIsNeverUsedAndItsLifetimeCountsFromTheRequest) {
    token_cache cache;
    (void)cache.look_up(t0);
    cache.fetched(token_of("A"), 100s, t0);  // requested at t0, answered later
    EXPECT_TRUE(cache.look_up(t0 + 99s).token);
    token_cache fresh;
    (void)fresh.look_up(t0);
    fresh.fetched(token_of("A"), 100s, t0);
    auto expired = fresh.look_up(t0 + 100s);
    EXPECT_FALSE(expired.token);
    EXPECT_TRUE(expired.start_fetch);
    EXPECT_TRUE(expired.wait);
}

TEST(TokenCache, FailedFetchesBackOffFromOneSecondToAMinute) {
    token_cache cache;
    auto now = t0;
    std::vector<std::chrono::seconds> backoffs;
    for (int i = 0; i < 9; ++i) {
        auto start = cache.look_up(now);
        ASSERT_TRUE(start.start_fetch) << i;
        cache.failed(now);
        auto refused = cache.look_up(now);
        EXPECT_FALSE(refused.token);
        EXPECT_FALSE(refused.wait);
        EXPECT_FALSE(refused.start_fetch);
        backoffs.push_back(std::chrono::duration_cast<std::chrono::seconds>(refused.retry_after));
        auto still = cache.look_up(now + refused.retry_after - 1ms);
        EXPECT_FALSE(still.start_fetch) << "the endpoint is asked again during the backoff";
        now += refused.retry_after;
    }
    const std::vector<std::chrono::seconds> expected{1s, 2s, 4s, 8s, 16s, 32s, 60s, 60s, 60s};
    EXPECT_EQ(backoffs, expected);
    // A success ends the backoff: the next failure waits a second again.
    (void)cache.look_up(now);
    cache.fetched(token_of("A"), 10s, now);
    now += 10s;
    ASSERT_TRUE(cache.look_up(now).start_fetch);
    cache.failed(now);
    EXPECT_EQ(cache.look_up(now).retry_after, 1s);
}

TEST(TokenCache, AFailedRefreshKeepsTheValidTokenInUse) {
    token_cache cache;
    (void)cache.look_up(t0);
    auto a = token_of("A");
    cache.fetched(a, 100s, t0);
    ASSERT_TRUE(cache.look_up(t0 + 50s).start_fetch);
    cache.failed(t0 + 50s);
    auto during = cache.look_up(t0 + 50500ms);
    EXPECT_EQ(during.token, a);
    EXPECT_FALSE(during.start_fetch);  // backing off
    auto after = cache.look_up(t0 + 51s);
    EXPECT_EQ(after.token, a);
    EXPECT_TRUE(after.start_fetch);
}

TEST(TokenCache, InvalidateDropsOnlyTheTokenStillCached) {
    token_cache cache;
    (void)cache.look_up(t0);
    auto a = token_of("A");
    cache.fetched(a, 3600s, t0);
    EXPECT_FALSE(cache.invalidate(token_of("A")));  // an equal string is not the cached token
    EXPECT_FALSE(cache.invalidate(nullptr));
    EXPECT_EQ(cache.look_up(t0 + 1s).token, a);
    EXPECT_TRUE(cache.invalidate(a));
    auto next = cache.look_up(t0 + 2s);
    EXPECT_FALSE(next.token);
    EXPECT_TRUE(next.start_fetch);
    auto b = token_of("B");
    cache.fetched(b, 3600s, t0 + 2s);
    // A request that still sent A hears its 401 late: B stays.
    EXPECT_FALSE(cache.invalidate(a));
    EXPECT_EQ(cache.look_up(t0 + 3s).token, b);
}

// ---- one fetch in flight -----------------------------------------------------------------------

// A token endpoint the test answers: each fetch waits until release().
struct gated_endpoint {
    int calls = 0;
    std::vector<std::shared_ptr<net::steady_timer>> gates;
    token_answer next;

    upstream_token_source::fetcher fetcher() {
        return [this]() -> net::awaitable<token_answer> {
            ++calls;
            auto ex = co_await net::this_coro::executor;
            auto gate = std::make_shared<net::steady_timer>(ex, std::chrono::hours(24));
            gates.push_back(gate);
            auto [ec] = co_await gate->async_wait(net::as_tuple(net::use_awaitable));
            (void)ec;
            co_return next;
        };
    }
    void release(std::optional<issued_token> token) {
        next = {};
        next.token = std::move(token);
        if (!next.token) next.failure = "the token endpoint answered 401 (invalid_client)";
        for (auto& g : gates) g->cancel();
        gates.clear();
    }
};

struct TokenSource : ::testing::Test {
    net::io_context io;
    metrics stats;
    gated_endpoint endpoint;
    clock_type::time_point now = t0;
    std::shared_ptr<upstream_token_source> source =
        std::make_shared<upstream_token_source>("crm", endpoint.fetcher(), [this] { return now; });
    std::vector<token_result> results;

    void ask(int n) {
        for (int i = 0; i < n; ++i)
            net::co_spawn(
                io,
                [this]() -> net::awaitable<void> {
                    results.push_back(co_await source->token(stats));
                },
                net::detached);
        io.restart();
        io.poll();
    }
    void settle() {
        io.restart();
        io.poll();
    }
};

TEST_F(TokenSource, ManyExportsWaitForOneTokenRequest) {
    ask(5);
    EXPECT_EQ(endpoint.calls, 1);
    EXPECT_TRUE(results.empty()) << "an export went on before the token came";
    endpoint.release(issued_token{"access-1", 3600s});
    settle();
    ASSERT_EQ(results.size(), 5u);
    for (const auto& r : results) {
        ASSERT_TRUE(r.token);
        EXPECT_EQ(*r.token, "access-1");
        EXPECT_EQ(r.token, results.front().token);
    }
    ask(3);  // cached
    EXPECT_EQ(results.size(), 8u);
    EXPECT_EQ(endpoint.calls, 1);
    EXPECT_NE(stats.render().find(
                  "exportwall_upstream_token_requests_total{upstream=\"crm\",result=\"ok\"} 1\n"),
              std::string::npos)
        << stats.render();
}

TEST_F(TokenSource, AFailedRequestRefusesEveryWaiterAndTheBackoffSparesTheEndpoint) {
    ask(3);
    endpoint.release(std::nullopt);
    settle();
    ASSERT_EQ(results.size(), 3u);
    for (const auto& r : results) {
        EXPECT_FALSE(r.token);
        EXPECT_EQ(r.retry_after, 1s);
    }
    ask(4);  // within the backoff: refused at once, nobody asks the endpoint
    ASSERT_EQ(results.size(), 7u);
    EXPECT_FALSE(results.back().token);
    EXPECT_EQ(endpoint.calls, 1);
    now += 1s;
    ask(1);
    EXPECT_EQ(endpoint.calls, 2);
    endpoint.release(issued_token{"access-2", 60s});
    settle();
    ASSERT_EQ(results.size(), 8u);
    ASSERT_TRUE(results.back().token);
    EXPECT_EQ(*results.back().token, "access-2");
    EXPECT_NE(stats.render().find("{upstream=\"crm\",result=\"error\"} 1\n"), std::string::npos);
}

TEST_F(TokenSource, ADueRefreshRunsInTheBackgroundWhileExportsUseTheCachedToken) {
    ask(1);
    endpoint.release(issued_token{"access-1", 100s});
    settle();
    now += 60s;  // past the refresh (50 s), before the expiry
    ask(3);
    ASSERT_EQ(results.size(), 4u);  // nobody waited
    for (const auto& r : results) EXPECT_EQ(*r.token, "access-1");
    EXPECT_EQ(endpoint.calls, 2);  // one refresh for the three
    endpoint.release(issued_token{"access-2", 100s});
    settle();
    ask(1);
    EXPECT_EQ(*results.back().token, "access-2");
    EXPECT_EQ(endpoint.calls, 2);
}

TEST_F(TokenSource, A401InvalidatesTheTokenAndTheNextExportFetchesAFreshOne) {
    ask(1);
    endpoint.release(issued_token{"access-1", 3600s});
    settle();
    auto used = results.back().token;
    source->invalidate(used);
    ask(2);
    EXPECT_EQ(endpoint.calls, 2);
    endpoint.release(issued_token{"access-2", 3600s});
    settle();
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(*results[1].token, "access-2");
    source->invalidate(used);  // a late 401 to the old token
    ask(1);
    EXPECT_EQ(endpoint.calls, 2);
    EXPECT_EQ(*results.back().token, "access-2");
}

TEST(UpstreamTokenSource, AStoppedIoContextDropsItsWaitersAndTheNextFetchStartsAfresh) {
    gated_endpoint endpoint;
    metrics stats;
    auto source = std::make_shared<upstream_token_source>("crm", endpoint.fetcher());
    int answered = 0;
    {
        net::io_context io;
        net::co_spawn(
            io,
            [&]() -> net::awaitable<void> {
                (void)co_await source->token(stats);
                ++answered;
            },
            net::detached);
        io.poll();
        EXPECT_EQ(endpoint.calls, 1);
        endpoint.gates.clear();
    }  // destroyed with the fetch in flight
    EXPECT_EQ(answered, 0);
    net::io_context io;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            auto r = co_await source->token(stats);
            if (r.token) ++answered;
        },
        net::detached);
    io.poll();
    EXPECT_EQ(endpoint.calls, 2);
    endpoint.release(issued_token{"access-1", 60s});
    io.restart();
    io.poll();
    EXPECT_EQ(answered, 1);
}

// ---- the token endpoint's language ----------------------------------------------------------

config::oauth2_settings secret_settings(config::oauth2_client_auth auth) {
    config::oauth2_settings o;
    o.token_url = "https://login.example.test/tenant/oauth2/v2.0/token";
    o.scheme = "https";
    o.host = "login.example.test";
    o.port = 443;
    o.target = "/tenant/oauth2/v2.0/token";
    o.client_id = "app id";
    o.scope = "https://org.crm.dynamics.com/.default";
    o.auth = auth;
    o.client_secret = std::make_shared<const std::string>("s3cr:t&=+~");
    return o;
}

std::string body_of(const std::string& request) {
    return request.substr(request.find("\r\n\r\n") + 4);
}

TEST(TokenRequest, PostsTheSecretFormEncodedInTheBody) {
    const auto r = token_request(secret_settings(config::oauth2_client_auth::secret_post), "");
    EXPECT_EQ(r.rfind("POST /tenant/oauth2/v2.0/token HTTP/1.1\r\nHost: login.example.test\r\n", 0),
              0u)
        << r;
    EXPECT_NE(r.find("Content-Type: application/x-www-form-urlencoded\r\n"), std::string::npos);
    EXPECT_EQ(r.find("Authorization:"), std::string::npos);
    const auto body = body_of(r);
    EXPECT_EQ(body,
              "grant_type=client_credentials&client_id=app+id&client_secret=s3cr%3At%26%3D%2B~"
              "&scope=https%3A%2F%2Forg.crm.dynamics.com%2F.default");
    EXPECT_NE(r.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);
}

TEST(TokenRequest, SendsTheSecretAsHttpBasicOfTheFormEncodedIdAndSecret) {
    auto o = secret_settings(config::oauth2_client_auth::secret_basic);
    o.scope.clear();
    o.port = 8443;
    const auto r = token_request(o, "");
    EXPECT_NE(r.find("Host: login.example.test:8443\r\n"), std::string::npos);
    // base64("app+id:s3cr%3At%26%3D%2B~")
    EXPECT_NE(r.find("Authorization: Basic YXBwK2lkOnMzY3IlM0F0JTI2JTNEJTJCfg==\r\n"),
              std::string::npos)
        << r;
    EXPECT_EQ(body_of(r), "grant_type=client_credentials");
}

TEST(TokenRequest, CarriesTheClientAssertionInsteadOfASecret) {
    auto o = secret_settings(config::oauth2_client_auth::certificate);
    o.client_secret.reset();
    const auto r = token_request(o, "eyJh.eyJi.c2ln");
    EXPECT_EQ(body_of(r),
              "grant_type=client_credentials&client_id=app+id&client_assertion_type=urn%3Aietf%"
              "3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJh.eyJi."
              "c2ln&scope=https%3A%2F%2Forg.crm.dynamics.com%2F.default");
    EXPECT_EQ(r.find("client_secret"), std::string::npos);
}

TEST(TokenResponse, ReadsTheTokenAndItsLifetime) {
    auto a = parse_token_response(
        200,
        R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0.x-y_z"})");
    ASSERT_TRUE(a.token) << a.failure;
    EXPECT_EQ(a.token->access_token, "eyJ0.x-y_z");
    EXPECT_EQ(a.token->lifetime, 3599s);
    auto s = parse_token_response(
        200, R"({"access_token":"t","token_type":"bearer","expires_in":"60"})");
    ASSERT_TRUE(s.token);
    EXPECT_EQ(s.token->lifetime, 60s);
    // Salesforce's client-credentials answer has no expires_in.
    auto sf = parse_token_response(
        200,
        R"({"access_token":"00D!AQ","instance_url":"https://x.my.salesforce.com","token_type":"Bearer","issued_at":"1"})");
    ASSERT_TRUE(sf.token);
    EXPECT_EQ(sf.token->lifetime, default_token_lifetime);
    auto huge = parse_token_response(200, R"({"access_token":"t","expires_in":99999999})");
    ASSERT_TRUE(huge.token);
    EXPECT_EQ(huge.token->lifetime, std::chrono::hours(24));
}

TEST(TokenResponse, RefusesWhatCannotBeSentAsABearerToken) {
    for (const char* body :
         {R"({"expires_in":10})", R"({"access_token":""})", R"({"access_token":"a b"})",
          R"({"access_token":"a\r\nX: y"})", R"({"access_token":7})",
          R"({"access_token":"t","token_type":"mac"})", R"({"access_token":"t","expires_in":0})",
          R"({"access_token":"t","expires_in":"soon"})", "[]", "not json"}) {
        auto a = parse_token_response(200, body);
        EXPECT_FALSE(a.token) << body;
        EXPECT_FALSE(a.failure.empty()) << body;
    }
}

TEST(TokenResponse, NamesTheStatusAndTheOAuthErrorCodeButNoValue) {
    auto a = parse_token_response(
        401, R"({"error":"invalid_client","error_description":"AADSTS7000215: secret s3cr3t"})");
    EXPECT_FALSE(a.token);
    EXPECT_EQ(a.failure, "the token endpoint answered 401 (invalid_client)");
    auto b = parse_token_response(400, R"({"error":"Bad value <s3cr3t>"})");
    EXPECT_EQ(b.failure, "the token endpoint answered 400");
}

// ---- the upstream request ------------------------------------------------------------------

TEST(UpstreamBearer, IsWrittenWhereTheConfiguredFieldsGoAndReplacedForTheRetry) {
    config::upstream up;
    up.host = "crm.internal";
    up.scheme = "https";
    up.port = 443;
    up.headers.push_back({"OData-Version", "4.0"});
    const std::vector<header_field> client{{"Authorization", "Bearer client-key"},
                                           {"Accept", "application/json"}};
    upstream_request req;
    req.method = "GET";
    req.target = "/api/data/v9.2/contacts";
    req.client_fields = client;
    req.up = &up;
    req.client_address = "192.0.2.1";
    req.request_id = "r1";
    req.bearer_token = "access-1";
    std::string head = build_upstream_request_head(req);
    EXPECT_NE(head.find("OData-Version: 4.0\r\nAuthorization: Bearer access-1\r\n"),
              std::string::npos)
        << head;
    EXPECT_EQ(head.find("client-key"), std::string::npos);
    ASSERT_TRUE(replace_bearer_token(head, "access-2"));
    EXPECT_NE(head.find("\r\nAuthorization: Bearer access-2\r\n"), std::string::npos) << head;
    EXPECT_EQ(head.find("access-1"), std::string::npos);
    req.bearer_token = {};
    std::string plain = build_upstream_request_head(req);
    EXPECT_EQ(plain.find("Authorization"), std::string::npos);
    EXPECT_FALSE(replace_bearer_token(plain, "access-3"));
}

}  // namespace
}  // namespace exportwall::proxy
