#pragma once
// A Beast body type that stores nothing: the parser hands each run of body bytes, straight from
// its read buffer, to a sink. The relay reads the CRM's answer with it, so a body byte is copied
// from the socket once (into the read buffer) and then only read by the filter — with
// http::buffer_body every byte was copied a second time, into the relay buffer.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional/optional.hpp>
#include <boost/system/error_code.hpp>

namespace exportwall::proxy {

// Takes body bytes in order. False stops the read: the parser reports body_sink_error::refused.
class body_sink {
  public:
    virtual ~body_sink() = default;
    virtual bool take(std::string_view bytes) = 0;
};

// The error a read ends with when the sink refused bytes (the sink knows why).
[[nodiscard]] inline boost::system::error_code sink_refused() {
    return boost::beast::http::error::bad_value;
}

struct sink_body {
    struct value_type {
        body_sink* sink = nullptr;
    };

    class reader {
      public:
        template <bool IsRequest, class Fields>
        reader(boost::beast::http::header<IsRequest, Fields>&, value_type& body) : body_(body) {}

        void init(const boost::optional<std::uint64_t>&, boost::system::error_code& ec) { ec = {}; }

        template <class ConstBufferSequence>
        std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
            ec = {};
            std::size_t taken = 0;
            for (auto it = boost::asio::buffer_sequence_begin(buffers);
                 it != boost::asio::buffer_sequence_end(buffers); ++it) {
                const boost::asio::const_buffer b = *it;
                if (b.size() == 0) continue;
                if (body_.sink == nullptr ||
                    !body_.sink->take({static_cast<const char*>(b.data()), b.size()})) {
                    ec = sink_refused();
                    return taken;
                }
                taken += b.size();
            }
            return taken;
        }

        void finish(boost::system::error_code& ec) { ec = {}; }

      private:
        value_type& body_;
    };
};

}  // namespace exportwall::proxy
