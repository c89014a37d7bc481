// libFuzzer target for the subject index (audit/subject_index.hpp): `audit subject` reads an index
// file that whoever can write the disk may have edited, so the chunk walker and the Golomb-Rice
// decoder face arbitrary bytes. Properties: no crash, no read outside the input; a chunk's views
// lie inside the input, one after another; and a set exportwall encodes (from the input's words)
// contains every one of them, whatever k.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "audit/subject_index.hpp"

using namespace exportwall::audit;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    // As an index file.
    std::size_t expected_at = 0;
    (void)for_each_subject_chunk_in(input, [&](const subject_chunk& c) {
        if (c.bytes.data() != input.data() + expected_at) std::abort();
        if (c.bytes.size() != chunk_header_size + c.payload.size()) std::abort();
        if (expected_at + c.bytes.size() > input.size()) std::abort();
        expected_at += c.bytes.size();
        for (std::uint64_t probe : {std::uint64_t{0}, ~std::uint64_t{0}, std::uint64_t{1} << 63})
            (void)subject_set_contains(c.payload, c.n, c.k, probe);
        return true;
    });

    // As a payload with n and k taken from the first bytes.
    if (size >= 5) {
        std::uint32_t n = 0;
        std::memcpy(&n, data, 4);
        const unsigned k = data[4] % 33;
        (void)subject_set_contains(input.substr(5), n, k, 0x0123456789abcdefULL);
    }

    // As digests to encode: every one is found again.
    std::vector<std::uint64_t> words(size / 8);
    if (!words.empty()) {
        std::memcpy(words.data(), data, words.size() * 8);
        const unsigned k = 1 + (size % 32);
        auto coded = words;
        const std::string payload = encode_subject_set(coded, k);
        const auto n = static_cast<std::uint32_t>(words.size());
        for (std::uint64_t w : words)
            if (!subject_set_contains(payload, n, k, w)) std::abort();
    }
    return 0;
}
