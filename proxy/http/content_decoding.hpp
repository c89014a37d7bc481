#pragma once
// Content-Encoding of CRM responses. exportwall asks for `Accept-Encoding: identity`; a CRM that
// compresses anyway gets its gzip or deflate body decoded (zlib) and filtered like any other;
// every other coding is refused (`upstream_unsupported`): a filter must never pass bytes it
// cannot read. Pure: bytes in, bytes out, no sockets.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include <boost/system/error_code.hpp>

namespace exportwall::proxy {

enum class content_coding : unsigned char { identity, gzip, deflate };

// The coding named by a Content-Encoding field value; nullopt for anything exportwall cannot
// decode (br, compress, zstd, a list of several codings, unknown tokens).
[[nodiscard]] std::optional<content_coding> parse_content_encoding(std::string_view value) noexcept;

// Streaming decoder. Output is handed to `sink` in slices of at most `slice` bytes, so a small
// compressed input never becomes one huge buffer (decompression bombs meet the filter's
// per-record limit slice by slice).
class content_decoder {
  public:
    using sink = std::function<boost::system::error_code(std::string_view)>;

    explicit content_decoder(content_coding coding, std::size_t slice = 64 * 1024);
    ~content_decoder();
    content_decoder(const content_decoder&) = delete;
    content_decoder& operator=(const content_decoder&) = delete;

    // Decodes `in`; a sink error stops decoding and is returned. Corrupt input → an error.
    [[nodiscard]] boost::system::error_code feed(std::string_view in, const sink& out);
    // The body ended: a stream that did not reach its end is an error.
    [[nodiscard]] boost::system::error_code finish(const sink& out);

  private:
    struct state;
    std::unique_ptr<state> state_;
};

}  // namespace exportwall::proxy
