#pragma once
// The byte streams of the proxy: a TCP connection, plain or TLS, behind one type so the relay is
// written once, and the per-session I/O deadline that bounds every read, write, connect and
// handshake. Asio only (no Beast); the templates are instantiated in the session TU.

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

namespace exportwall::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// A connection, plain or TLS. Satisfies Asio's AsyncReadStream and AsyncWriteStream, so it works
// with net::async_write and Beast's parsers. Not thread-safe: one owner at a time (a session, or
// the upstream pool while idle).
class byte_stream {
  public:
    using executor_type = tcp::socket::executor_type;
    using tls_stream = net::ssl::stream<tcp::socket>;

    // A plain TCP connection.
    explicit byte_stream(tcp::socket s) : plain_(std::move(s)) {}
    // A TLS connection over `s` using `ctx` (which must outlive the stream); the handshake is the
    // caller's.
    byte_stream(tcp::socket s, net::ssl::context& ctx)
        : tls_(std::make_unique<tls_stream>(std::move(s), ctx)) {}

    [[nodiscard]] bool is_tls() const noexcept { return tls_ != nullptr; }
    [[nodiscard]] tls_stream* tls() noexcept { return tls_.get(); }
    [[nodiscard]] tcp::socket& socket() noexcept { return tls_ ? tls_->next_layer() : *plain_; }
    [[nodiscard]] executor_type get_executor() noexcept { return socket().get_executor(); }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return net::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const MutableBuffers& b) {
                if (tls_)
                    tls_->async_read_some(b, std::move(handler));
                else
                    plain_->async_read_some(b, std::move(handler));
            },
            token, buffers);
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return net::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const ConstBuffers& b) {
                if (tls_)
                    tls_->async_write_some(b, std::move(handler));
                else
                    plain_->async_write_some(b, std::move(handler));
            },
            token, buffers);
    }

    // Closes the socket at once (no TLS close_notify): used for aborts and errors.
    void close() noexcept {
        boost::system::error_code ignored;
        socket().shutdown(tcp::socket::shutdown_both, ignored);
        socket().close(ignored);
    }

    // Closes with a reset instead of a FIN (what is still unsent is dropped): the peer cannot
    // take the end for a complete close-delimited body.
    void reset() noexcept {
        boost::system::error_code ignored;
        socket().set_option(tcp::socket::linger(true, 0), ignored);
        socket().close(ignored);
    }

    // True when an idle connection is still usable: open, nothing to read and no EOF pending.
    // A pooled connection the CRM closed (or wrote to unasked) fails this check.
    [[nodiscard]] bool idle_and_open() noexcept;

  private:
    std::optional<tcp::socket> plain_;
    std::unique_ptr<tls_stream> tls_;
};

// A deadline for the I/O in progress on one socket (or resolver), on the session's thread. When
// it passes before disarm(), the pending operations are cancelled (they complete with
// operation_aborted) and expired() turns true. One timer wait serves many arm/disarm pairs: arming
// a later deadline costs no timer operation.
class io_deadline {
  public:
    explicit io_deadline(const net::any_io_executor& ex);
    ~io_deadline();
    io_deadline(const io_deadline&) = delete;
    io_deadline& operator=(const io_deadline&) = delete;

    void arm(tcp::socket& s, std::chrono::milliseconds d);
    void arm(tcp::resolver& r, std::chrono::milliseconds d);
    void disarm() noexcept;
    // Cancels the operation in progress on the armed socket or resolver at once, as if the
    // deadline had passed, but expired() stays false (a stop cutting the session short).
    void cancel_pending() noexcept;
    // The last armed deadline passed (reset by arm()).
    [[nodiscard]] bool expired() const noexcept;

  private:
    struct state;
    static void wait(const std::shared_ptr<state>& st);
    void arm_at(std::chrono::steady_clock::time_point when);
    std::shared_ptr<state> state_;
};

}  // namespace exportwall::proxy
