// The relay end to end inside one io_context: a client coroutine, a session (run_session) and a
// tiny upstream, all on loopback port 0. Checks the body-filter seam through the real filter
// path: an export on a JSON route, declared and granted, gets the purpose's filter (as in
// production), its response is re-framed as chunked, and a body the filter cannot read aborts
// the response without its terminating chunk. An `open` passthrough route relays unfiltered.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/hex.hpp"
#include "config/loader.hpp"
#include "proxy/runtime.hpp"
#include "proxy/session.hpp"

namespace exportwall::proxy {
namespace {

using boost::system::error_code;

constexpr std::string_view client_key = "relay-test-key";

// A request for the open passthrough route: nothing is decided, nothing filtered.
const std::string passthrough_request =
    "GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
// An export on the JSON route, declared and granted: the purpose keeps `id` and `email`.
const std::string export_request =
    "GET /contacts HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + std::string(client_key) +
    "\r\nX-Export-Purpose: invoicing\r\nX-Export-Destination: billing\r\n"
    "Connection: close\r\n\r\n";

// The configuration: the open passthrough route /api, and the record route /contacts whose
// allowed exports go through the JSON filter of their purpose.
std::string relay_config(unsigned short upstream_port) {
    return "<exportwall version=\"1\" mode=\"enforce\">"
           "<listen address=\"127.0.0.1\" port=\"0\"/>"
           "<audit path=\"" +
           ::testing::TempDir() +
           "relay-audit.jsonl\"/>"
           "<upstream id=\"crm\" url=\"http://127.0.0.1:" +
           std::to_string(upstream_port) +
           "/\"/>"
           "<route id=\"api\" path=\"/api\" match=\"prefix\" methods=\"GET\" "
           "upstream=\"crm\" format=\"passthrough\" open=\"true\"/>"
           "<route id=\"contacts\" path=\"/contacts\" methods=\"GET\" upstream=\"crm\" "
           "entity=\"contact\" format=\"json\" records=\"/value\" select-param=\"$select\"/>"
           "<entity id=\"contact\" subject-field=\"lifecycle\" collected-for=\"essential\">"
           "<subject value=\"customer\" type=\"customer\"/>"
           "<field path=\"id\" category=\"user.unique_id\"/>"
           "<field path=\"lifecycle\" category=\"user.account\"/>"
           "<field path=\"email\" category=\"user.contact.email\"/>"
           "<field path=\"iban\" category=\"user.financial.bank_account\"/>"
           "</entity>"
           "<purpose id=\"invoicing\" data-use=\"essential.service.payment_processing\" "
           "basis=\"contract\" subjects=\"customer\">"
           "<fields entity=\"contact\">id email</fields></purpose>"
           "<destination id=\"billing\" kind=\"internal\" country=\"BE\"/>"
           "<client id=\"erp\"><api-key sha256=\"" +
           common::sha256_hex(client_key) +
           "\"/><grant purpose=\"invoicing\" destinations=\"billing\"/></client>"
           "</exportwall>";
}

// A JSON answer of the CRM with one contact, framed by Content-Length (and an ETag).
std::string json_answer(std::string_view body) {
    return "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\nETag: \"x\"\r\n\r\n" + std::string(body);
}

// Runs `request` through a session in front of an upstream that answers `upstream_response`,
// and returns every byte the client received until the connection closed.
std::string relay_once(const std::string& upstream_response, const std::string& request) {
    net::io_context ioc;
    tcp::acceptor upstream(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    tcp::acceptor front(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));

    auto loaded = config::load_configuration_text(relay_config(upstream.local_endpoint().port()),
                                                  "relay.xml");
    EXPECT_TRUE(loaded) << (loaded.errors.empty() ? "" : loaded.errors.front().str());
    if (!loaded) return {};
    std::vector<std::string> errors;
    auto snap = prepare_snapshot(loaded.config, errors);
    config::log_settings log_settings;
    log_settings.access_log = ::testing::TempDir() + "relay-access.log";
    std::string log_error;
    runtime rt("relay.xml", snap, std::make_unique<access_log>(log_settings, log_error));

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
    auto got = relay_once("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
                          passthrough_request);
    EXPECT_NE(got.find("Content-Length: 5\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.substr(got.size() - 9), "\r\n\r\nhello");
}

TEST(Relay, FilteredBodyIsRechunkedAndCompleted) {
    auto got = relay_once(
        json_answer(
            R"({"value":[{"id":"1","lifecycle":"customer","email":"a@example.test","iban":"BE71"}]})"),
        export_request);
    EXPECT_EQ(got.find("Content-Length"), std::string::npos) << got;
    EXPECT_EQ(got.find("ETag"), std::string::npos) << got;
    EXPECT_NE(got.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.find("BE71"), std::string::npos) << got;
    // The filter's output up to its finish() (the record without the field the purpose does not
    // keep) goes out as one chunk, with the end.
    const std::string filtered = R"({"value":[{"id":"1","email":"a@example.test"}]})";
    char size[16];
    std::snprintf(size, sizeof size, "%zx", filtered.size());
    EXPECT_NE(got.find("\r\n\r\n" + std::string(size) + "\r\n" + filtered + "\r\n0\r\n\r\n"),
              std::string::npos)
        << got;
}

TEST(Relay, FilterErrorAbortsWithoutTerminatingChunk) {
    // The filter cannot read the record: the export is aborted (upstream_malformed).
    auto got = relay_once(json_answer(R"({"value":[{"id":"1","lifecycle":"customer","email":!}]})"),
                          export_request);
    EXPECT_NE(got.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << got;
    EXPECT_NE(got.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << got;
    EXPECT_EQ(got.find("0\r\n\r\n"), std::string::npos) << got;
    // Nothing of the body follows the head: neither what the filter produced before the error
    // nor the document's end.
    EXPECT_EQ(got.substr(got.find("\r\n\r\n") + 4), "") << got;
}

TEST(Relay, UpstreamDeathMidBodyAbortsTheResponse) {
    auto got =
        relay_once("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100\r\n\r\nonly-part",
                   passthrough_request);
    EXPECT_NE(got.find("Content-Length: 100\r\n"), std::string::npos) << got;
    auto body = got.substr(got.find("\r\n\r\n") + 4);
    EXPECT_LT(body.size(), 100u);
}

}  // namespace
}  // namespace exportwall::proxy
