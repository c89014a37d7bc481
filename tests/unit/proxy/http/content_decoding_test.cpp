#include "proxy/http/content_decoding.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace exportwall::proxy {
namespace {

std::string compress(std::string_view in, int window_bits) {
    z_stream z{};
    EXPECT_EQ(deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

std::string decode_in_pieces(content_coding coding, std::string_view body, std::size_t piece,
                             boost::system::error_code& ec) {
    content_decoder d(coding, 1024);
    std::string out;
    auto sink = [&](std::string_view s) {
        EXPECT_LE(s.size(), 1024u);
        out.append(s);
        return boost::system::error_code{};
    };
    for (std::size_t i = 0; i < body.size() && !ec; i += piece) {
        ec = d.feed(body.substr(i, piece), sink);
    }
    if (!ec) ec = d.finish(sink);
    return out;
}

std::string sample() {
    std::string s;
    for (int i = 0; i < 2000; ++i) s += R"({"id":)" + std::to_string(i) + R"(,"email":"x"},)";
    return s;
}

TEST(ContentEncoding, ParsesOnlyWhatCanBeDecoded) {
    EXPECT_EQ(parse_content_encoding(""), content_coding::identity);
    EXPECT_EQ(parse_content_encoding("identity"), content_coding::identity);
    EXPECT_EQ(parse_content_encoding(" GZIP "), content_coding::gzip);
    EXPECT_EQ(parse_content_encoding("x-gzip"), content_coding::gzip);
    EXPECT_EQ(parse_content_encoding("deflate"), content_coding::deflate);
    EXPECT_EQ(parse_content_encoding("br"), std::nullopt);
    EXPECT_EQ(parse_content_encoding("gzip, gzip"), std::nullopt);
    EXPECT_EQ(parse_content_encoding("compress"), std::nullopt);
}

TEST(ContentDecoder, DecodesGzipInEveryChunkingInBoundedSlices) {
    auto plain = sample();
    auto gz = compress(plain, 16 + MAX_WBITS);
    for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, gz.size()}) {
        boost::system::error_code ec;
        EXPECT_EQ(decode_in_pieces(content_coding::gzip, gz, piece, ec), plain) << piece;
        EXPECT_FALSE(ec) << ec.message();
    }
}

TEST(ContentDecoder, DecodesZlibAndRawDeflate) {
    auto plain = sample();
    for (int bits : {MAX_WBITS, -MAX_WBITS}) {
        boost::system::error_code ec;
        EXPECT_EQ(decode_in_pieces(content_coding::deflate, compress(plain, bits), 100, ec), plain);
        EXPECT_FALSE(ec) << bits;
    }
}

TEST(ContentDecoder, RefusesTruncatedCorruptAndTrailingBytes) {
    auto gz = compress(sample(), 16 + MAX_WBITS);
    boost::system::error_code ec;
    (void)decode_in_pieces(content_coding::gzip, gz.substr(0, gz.size() / 2), 64, ec);
    EXPECT_TRUE(ec) << "truncated";
    ec = {};
    std::string corrupt = gz;
    corrupt[corrupt.size() / 2] = static_cast<char>(corrupt[corrupt.size() / 2] ^ 0x5a);
    (void)decode_in_pieces(content_coding::gzip, corrupt, 64, ec);
    EXPECT_TRUE(ec) << "corrupt";
    ec = {};
    (void)decode_in_pieces(content_coding::gzip, gz + "junk", 1 << 20, ec);
    EXPECT_TRUE(ec) << "trailing";
    ec = {};
    (void)decode_in_pieces(content_coding::gzip, "not gzip at all", 4, ec);
    EXPECT_TRUE(ec) << "garbage";
}

TEST(ContentDecoder, SinkErrorStopsDecoding) {
    auto gz = compress(sample(), 16 + MAX_WBITS);
    content_decoder d(content_coding::gzip, 256);
    int calls = 0;
    auto ec = d.feed(gz, [&](std::string_view) {
        ++calls;
        return boost::system::error_code(boost::system::errc::message_size,
                                         boost::system::generic_category());
    });
    EXPECT_TRUE(ec);
    EXPECT_EQ(calls, 1);
}

TEST(ContentDecoder, IdentityPassesBytesThrough) {
    boost::system::error_code ec;
    EXPECT_EQ(decode_in_pieces(content_coding::identity, "abc", 1, ec), "abc");
    EXPECT_FALSE(ec);
}

}  // namespace
}  // namespace exportwall::proxy
