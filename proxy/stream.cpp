#include "proxy/stream.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>

namespace exportwall::proxy {

bool byte_stream::idle_and_open() noexcept {
    auto& s = socket();
    if (!s.is_open()) return false;
    if (tls_) {
        // Bytes the TLS layer already took off the socket are invisible to the probe below: a
        // record decrypted and not read, or records waiting in the BIO (a CRM that wrote more
        // than its response). (Asio's own input buffer cannot be asked; it holds bytes only when
        // the BIO was full.)
        SSL* ssl = tls_->native_handle();
        if (SSL_pending(ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0) return false;
    }
    char probe = 0;
    // MSG_PEEK|MSG_DONTWAIT: 0 = EOF, 1 = unsolicited bytes (a TLS close_notify included),
    // -1 with EAGAIN = idle and open.
    auto n = ::recv(s.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

struct io_deadline::state {
    explicit state(const net::any_io_executor& ex) : timer(ex) {}
    net::steady_timer timer;
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    tcp::socket* socket = nullptr;
    tcp::resolver* resolver = nullptr;
    bool waiting = false;
    bool expired = false;
    bool stopped = false;
};

io_deadline::io_deadline(const net::any_io_executor& ex) : state_(std::make_shared<state>(ex)) {}

io_deadline::~io_deadline() {
    state_->stopped = true;
    state_->socket = nullptr;
    state_->resolver = nullptr;
    state_->timer.cancel();
}

void io_deadline::wait(const std::shared_ptr<state>& st) {
    st->waiting = true;
    st->timer.expires_at(st->deadline);
    st->timer.async_wait([st](boost::system::error_code) {
        st->waiting = false;
        if (st->stopped) return;
        auto now = std::chrono::steady_clock::now();
        if (st->deadline != std::chrono::steady_clock::time_point::max() && now >= st->deadline) {
            st->expired = true;
            st->deadline = std::chrono::steady_clock::time_point::max();
            boost::system::error_code ignored;
            if (st->socket != nullptr) st->socket->cancel(ignored);
            if (st->resolver != nullptr) st->resolver->cancel();
        }
        // Disarmed (deadline = max): no wait until the next arm().
        if (st->deadline != std::chrono::steady_clock::time_point::max()) wait(st);
    });
}

void io_deadline::arm_at(std::chrono::steady_clock::time_point when) {
    auto& st = *state_;
    st.expired = false;
    st.deadline = when;
    if (!st.waiting)
        wait(state_);
    else if (st.timer.expiry() > when)
        st.timer.cancel();  // the handler re-waits for the earlier deadline
}

void io_deadline::arm(tcp::socket& s, std::chrono::milliseconds d) {
    state_->socket = &s;
    state_->resolver = nullptr;
    arm_at(std::chrono::steady_clock::now() + d);
}

void io_deadline::arm(tcp::resolver& r, std::chrono::milliseconds d) {
    state_->socket = nullptr;
    state_->resolver = &r;
    arm_at(std::chrono::steady_clock::now() + d);
}

void io_deadline::disarm() noexcept {
    state_->deadline = std::chrono::steady_clock::time_point::max();
    state_->socket = nullptr;
    state_->resolver = nullptr;
}

void io_deadline::cancel_pending() noexcept {
    boost::system::error_code ignored;
    if (state_->socket != nullptr) state_->socket->cancel(ignored);
    if (state_->resolver != nullptr) state_->resolver->cancel();
}

bool io_deadline::expired() const noexcept { return state_->expired; }

}  // namespace exportwall::proxy
