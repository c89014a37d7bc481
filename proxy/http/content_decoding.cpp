#include "proxy/http/content_decoding.hpp"

#include <zlib.h>

#include <algorithm>
#include <string>

#include "common/ascii.hpp"
#include "filters/record_filter.hpp"

namespace exportwall::proxy {
namespace {

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

boost::system::error_code corrupt() { return filters::filter_error::malformed; }

}  // namespace

std::optional<content_coding> parse_content_encoding(std::string_view value) noexcept {
    auto v = trim(value);
    if (v.empty() || common::iequals_ascii(v, "identity")) return content_coding::identity;
    if (common::iequals_ascii(v, "gzip") || common::iequals_ascii(v, "x-gzip")) return content_coding::gzip;
    if (common::iequals_ascii(v, "deflate")) return content_coding::deflate;
    return std::nullopt;
}

struct content_decoder::state {
    content_coding coding;
    std::size_t slice;
    z_stream z{};
    bool initialised = false;
    bool ended = false;
    bool raw_tried = false;  // deflate: some servers send raw deflate without the zlib wrapper
    std::string out;

    state(content_coding c, std::size_t s) : coding(c), slice(s) {
        if (coding == content_coding::identity) return;
        int window = coding == content_coding::gzip ? 16 + MAX_WBITS : MAX_WBITS;
        initialised = inflateInit2(&z, window) == Z_OK;
        out.resize(slice);
    }
    ~state() {
        if (initialised) inflateEnd(&z);
    }
    state(const state&) = delete;
    state& operator=(const state&) = delete;
};

content_decoder::content_decoder(content_coding coding, std::size_t slice)
    : state_(std::make_unique<state>(coding, slice)) {}

content_decoder::~content_decoder() = default;

boost::system::error_code content_decoder::feed(std::string_view in, const sink& out) {
    auto& s = *state_;
    if (s.coding == content_coding::identity) return out(in);
    if (!s.initialised) return corrupt();
    if (s.ended) return in.empty() ? boost::system::error_code{} : corrupt();
    // zlib's API takes non-const input; it never writes through next_in.
    s.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    s.z.avail_in = static_cast<uInt>(in.size());
    while (s.z.avail_in > 0 && !s.ended) {
        s.z.next_out = reinterpret_cast<Bytef*>(s.out.data());
        s.z.avail_out = static_cast<uInt>(s.out.size());
        int rc = inflate(&s.z, Z_NO_FLUSH);
        if (rc == Z_DATA_ERROR && s.coding == content_coding::deflate && !s.raw_tried &&
            s.z.total_out == 0) {
            // Retry as raw deflate from the start of this input.
            s.raw_tried = true;
            inflateEnd(&s.z);
            s.z = z_stream{};
            s.initialised = inflateInit2(&s.z, -MAX_WBITS) == Z_OK;
            if (!s.initialised) return corrupt();
            s.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
            s.z.avail_in = static_cast<uInt>(in.size());
            continue;
        }
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return corrupt();
        auto produced = s.out.size() - s.z.avail_out;
        if (produced > 0) {
            if (auto ec = out(std::string_view(s.out.data(), produced))) return ec;
        }
        if (rc == Z_STREAM_END) s.ended = true;
        if (rc == Z_BUF_ERROR && produced == 0) break;
    }
    // Bytes after the end of the compressed stream are not part of any document we can vouch
    // for (gzip members concatenated, or garbage): refuse.
    if (s.ended && s.z.avail_in > 0) return corrupt();
    return {};
}

boost::system::error_code content_decoder::finish(const sink& out) {
    auto& s = *state_;
    if (s.coding == content_coding::identity) return {};
    (void)out;
    return s.ended ? boost::system::error_code{}
                   : boost::system::error_code(filters::filter_error::truncated);
}

}  // namespace exportwall::proxy
