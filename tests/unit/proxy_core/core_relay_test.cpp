// The relay end to end inside one io_context: a client coroutine, a session (run_session) and a
// tiny upstream, all on loopback port 0. Checks the body-filter seam: a filtered response is
// re-framed as chunked, and a filter error aborts the response without its terminating chunk.
// The route is `open` (a passthrough that needs no declaration), so no policy decision is made
// and the runtime's response_filter applies.

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "proxy/runtime.hpp"
#include "proxy/session.hpp"

namespace exportwall::proxy {
namespace {

using boost::system::error_code;

// Upper-cases the body; a '!' in the input is a parse error.
class upper_filter : public filters::record_filter {
  public:
    error_code feed(std::string_view in, std::string& out) override {
        if (in.find('!') != std::string_view::npos) return filters::filter_error::malformed;
        for (char c : in) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        counters_.bytes_in += in.size();
        return {};
    }
    error_code finish(std::string& out) override {
        out += "<end>";
        return {};
    }
    const filters::filter_counters& counters() const override { return counters_; }

  private:
    filters::filter_counters counters_;
};

// Runs one request through a session in front of an upstream that answers `upstream_response`,
// and returns every byte the client received until the connection closed.
std::string relay_once(const std::string& upstream_response, bool with_filter) {
    net::io_context ioc;
    tcp::acceptor upstream(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    tcp::acceptor front(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));

    std::string text =
        "<exportwall version=\"1\" mode=\"enforce\">"
        "<listen address=\"127.0.0.1\" port=\"0\"/>"
        "<audit path=\"" +
        ::testing::TempDir() +
        "relay-audit.jsonl\"/>"
        "<upstream id=\"crm\" url=\"http://127.0.0.1:" +
        std::to_string(upstream.local_endpoint().port()) +
        "/\"/>"
        "<route id=\"api\" path=\"/api\" match=\"prefix\" methods=\"GET\" "
        "upstream=\"crm\" format=\"passthrough\" open=\"true\"/></exportwall>";
    auto loaded = config::load_configuration_text(text, "relay.xml");
    EXPECT_TRUE(loaded) << (loaded.errors.empty() ? "" : loaded.errors.front().str());
    if (!loaded) return {};
    std::vector<std::string> errors;
    auto snap = prepare_snapshot(loaded.config, errors);
    config::log_settings log_settings;
    log_settings.access_log = ::testing::TempDir() + "relay-access.log";
    std::string log_error;
    runtime rt("relay.xml", snap, std::make_unique<access_log>(log_settings, log_error));
    if (with_filter) {
        rt.response_filter = [](const config::configuration&, const config::route&, unsigned) {
            return std::make_unique<upper_filter>();
        };
    }

    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
            auto s = co_await upstream.async_accept(net::use_awaitable);
            std::string head;
            co_await net::async_read_until(s, net::dynamic_buffer(head), "\r\n\r\n",
                                           net::use_awaitable);
            co_await net::async_write(s, net::buffer(upstream_response), net::use_awaitable);
            s.shutdown(tcp::socket::shutdown_send);
            std::string rest;
            error_code ec;
            co_await net::async_read(s, net::dynamic_buffer(rest),
                                     net::redirect_error(net::use_awaitable, ec));
        },
        net::detached);

    auto listener = std::make_shared<listener_context>();
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
            auto s = co_await front.async_accept(net::make_strand(ioc), net::use_awaitable);
            co_await run_session(rt, listener, std::move(s));
        },
        net::detached);

    std::string received;
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
            tcp::socket c(ioc);
            co_await c.async_connect(front.local_endpoint(), net::use_awaitable);
            std::string request = "GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
            co_await net::async_write(c, net::buffer(request), net::use_awaitable);
            error_code ec;
            co_await net::async_read(c, net::dynamic_buffer(received),
                                     net::redirect_error(net::use_awaitable, ec));
            // An upstream that was never reached stops waiting.
            upstream.close(ec);
        },
        net::detached);
    // Bounded, so a relay bug fails the test instead of hanging it.
    ioc.run_for(std::chrono::seconds(20));
    EXPECT_TRUE(ioc.stopped()) << "the exchange did not finish";
    rt.pool().clear();
    return received;
}

TEST(Relay, PassesContentLengthThroughWithoutFilter) {
    auto got =
        relay_once("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello", false);
    EXPECT_NE(got.find("Content-Length: 5\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.substr(got.size() - 9), "\r\n\r\nhello");
}

TEST(Relay, FilteredBodyIsRechunkedAndCompleted) {
    auto got = relay_once(
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\nETag: \"x\"\r\n\r\nhello",
        true);
    EXPECT_EQ(got.find("Content-Length"), std::string::npos) << got;
    EXPECT_EQ(got.find("ETag"), std::string::npos) << got;
    EXPECT_NE(got.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << got;
    // The filter's last output and what finish() adds go out as one chunk, with the end.
    EXPECT_NE(got.find("\r\n\r\na\r\nHELLO<end>\r\n0\r\n\r\n"), std::string::npos) << got;
}

TEST(Relay, FilterErrorAbortsWithoutTerminatingChunk) {
    auto got =
        relay_once("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 6\r\n\r\nhello!", true);
    EXPECT_NE(got.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << got;
    EXPECT_NE(got.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.find("0\r\n\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.find("<end>"), std::string::npos) << got;
}

TEST(Relay, UpstreamDeathMidBodyAbortsTheResponse) {
    auto got = relay_once(
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100\r\n\r\nonly-part", false);
    EXPECT_NE(got.find("Content-Length: 100\r\n"), std::string::npos) << got;
    auto body = got.substr(got.find("\r\n\r\n") + 4);
    EXPECT_LT(body.size(), 100u);
}

}  // namespace
}  // namespace exportwall::proxy
