#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "proxy/stream.hpp"

namespace exportwall::proxy {
namespace {

using boost::system::error_code;

struct connected_pair {
    explicit connected_pair(net::io_context& ioc) : near(ioc), far(ioc) {
        tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        near.connect(acceptor.local_endpoint());
        acceptor.accept(far);
    }
    tcp::socket near;
    tcp::socket far;
};

TEST(IoDeadline, CancelsAReadThatOutlivesIt) {
    net::io_context ioc;
    connected_pair p(ioc);
    std::optional<io_deadline> deadline(std::in_place, ioc.get_executor());
    char byte = 0;
    error_code result;
    deadline->arm(p.near, std::chrono::milliseconds(1));
    p.near.async_read_some(net::buffer(&byte, 1), [&](error_code ec, std::size_t) {
        result = ec;
        EXPECT_TRUE(deadline->expired());
        deadline.reset();
    });
    ioc.run();
    EXPECT_EQ(result, net::error::operation_aborted);
}

TEST(IoDeadline, LeavesAnOperationThatCompletesInTime) {
    net::io_context ioc;
    connected_pair p(ioc);
    net::write(p.far, net::buffer("x", 1));
    std::optional<io_deadline> deadline(std::in_place, ioc.get_executor());
    char byte = 0;
    error_code result = net::error::would_block;
    bool expired = true;
    deadline->arm(p.near, std::chrono::minutes(10));
    p.near.async_read_some(net::buffer(&byte, 1), [&](error_code ec, std::size_t) {
        result = ec;
        deadline->disarm();
        expired = deadline->expired();
        deadline.reset();  // cancels the pending wait, so run() returns
    });
    ioc.run();
    EXPECT_FALSE(result);
    EXPECT_EQ(byte, 'x');
    EXPECT_FALSE(expired);
}

TEST(IoDeadline, AnEarlierDeadlineReplacesALaterOne) {
    net::io_context ioc;
    connected_pair p(ioc);
    std::optional<io_deadline> deadline(std::in_place, ioc.get_executor());
    // A long deadline armed and disarmed leaves a wait pending; a shorter one must still fire.
    deadline->arm(p.near, std::chrono::minutes(10));
    deadline->disarm();
    deadline->arm(p.near, std::chrono::milliseconds(1));
    char byte = 0;
    error_code result;
    p.near.async_read_some(net::buffer(&byte, 1), [&](error_code ec, std::size_t) {
        result = ec;
        deadline.reset();
    });
    ioc.run();
    EXPECT_EQ(result, net::error::operation_aborted);
}

}  // namespace
}  // namespace exportwall::proxy
