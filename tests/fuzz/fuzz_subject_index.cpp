// libFuzzer target for the subject index (audit/subject_index.hpp): `audit subject` reads an index
// file that whoever can write the disk may have edited, so the chunk walker, format 1's
// Golomb-Rice decoder and format 2's ordinal decoder face arbitrary bytes. Properties: no crash,
// no read outside the input; a chunk's views lie inside the input, one after another, and a
// dictionary chunk's payload is its n digests; a list exportwall encodes (from the input's words)
// decodes to itself and contains every one of them; the dictionary table finds exactly what was
// inserted and not erased; keys digested eight at a time in vector registers have the digests
// one at a time gives.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
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
        if (c.payload.data() + c.payload.size() != c.bytes.data() + c.bytes.size()) std::abort();
        if (expected_at + c.bytes.size() > input.size()) std::abort();
        expected_at += c.bytes.size();
        switch (c.kind) {
            case subject_chunk::type::set_v1:
                if (c.bytes.size() != chunk_header_size + c.payload.size()) std::abort();
                for (std::uint64_t probe :
                     {std::uint64_t{0}, ~std::uint64_t{0}, std::uint64_t{1} << 63})
                    (void)subject_set_contains(c.payload, c.n, c.k, probe);
                break;
            case subject_chunk::type::dictionary:
                if (c.payload.size() != 8 * std::size_t{c.n}) std::abort();
                break;
            case subject_chunk::type::list: {
                if (c.bytes.size() != list_header_size + c.payload.size()) std::abort();
                if (c.last < c.first) std::abort();
                for (std::uint32_t probe : {c.first, c.last, c.first + (c.last - c.first) / 2})
                    (void)ordinal_list_contains(c.payload, c.n, c.code, c.first, probe);
                std::vector<std::uint32_t> ordinals;
                (void)decode_ordinals(c.payload, c.n, c.code, c.first, ordinals);
                // Each decoded ordinal after the first took at least one bit.
                if (ordinals.size() > 1 + 8 * c.payload.size()) std::abort();
                break;
            }
        }
        return true;
    });

    // As an ordinal list with n, code and first taken from the first bytes.
    if (size >= 9) {
        std::uint32_t n = 0, first = 0;
        std::memcpy(&n, data, 4);
        std::memcpy(&first, data + 4, 4);
        const unsigned code = data[8] % 34;
        const std::string_view payload = input.substr(9);
        (void)ordinal_list_contains(payload, n, code, first, first + 12345);
        std::vector<std::uint32_t> ordinals;
        if (decode_ordinals(payload, n, code, first, ordinals)) {
            if (ordinals.size() != n) std::abort();
            for (std::size_t i = 1; i < ordinals.size(); ++i)
                if (ordinals[i] <= ordinals[i - 1]) std::abort();
        }
    }

    // As a format-1 payload with n and k taken from the first bytes.
    if (size >= 5) {
        std::uint32_t n = 0;
        std::memcpy(&n, data, 4);
        const unsigned k = data[4] % 33;
        (void)subject_set_contains(input.substr(5), n, k, 0x0123456789abcdefULL);
    }

    // As ordinals to encode (sorted, unique): decoded to themselves, each one found.
    std::vector<std::uint32_t> values(size / 4);
    if (!values.empty()) {
        std::memcpy(values.data(), data, values.size() * 4);
        std::sort(values.begin(), values.end());
        values.erase(std::unique(values.begin(), values.end()), values.end());
        std::string payload;
        const unsigned code = encode_ordinals(values, payload);
        const auto n = static_cast<std::uint32_t>(values.size());
        std::vector<std::uint32_t> back;
        if (!decode_ordinals(payload, n, code, values.front(), back) || back != values)
            std::abort();
        for (std::uint32_t v : values)
            if (!ordinal_list_contains(payload, n, code, values.front(), v)) std::abort();
    }

    // As format-1 digests to encode: every one is found again.
    std::vector<std::uint64_t> words(size / 8);
    if (!words.empty()) {
        std::memcpy(words.data(), data, words.size() * 8);
        const unsigned k = 1 + (size % 32);
        auto coded = words;
        const std::string payload = encode_subject_set(coded, k);
        const auto n = static_cast<std::uint32_t>(words.size());
        for (std::uint64_t w : words)
            if (!subject_set_contains(payload, n, k, w)) std::abort();

        // As dictionary operations: a word's low bit erases instead of inserting. Small digests
        // crowd a few slots (long runs, wrap-around), as keyed digests never would.
        subject_dictionary dictionary;
        std::map<std::uint64_t, std::uint32_t> model;
        std::uint32_t ordinal = 0;
        for (std::uint64_t w : words) {
            const std::uint64_t digest = (w >> 1) % 4 == 0 ? (w >> 1) & 0xff : w >> 1;
            if ((w & 1) != 0) {
                dictionary.erase(digest);
                model.erase(digest);
            } else if (model.find(digest) == model.end()) {
                dictionary.insert(digest, ordinal);
                model[digest] = ordinal++;
            }
        }
        if (dictionary.size() != model.size()) std::abort();
        for (const auto& entry : model)
            if (dictionary.find(entry.first) != entry.second) std::abort();
        for (std::uint64_t w : words)
            if (dictionary.find(w >> 1).has_value() != (model.count(w >> 1) != 0)) std::abort();
    }

    // As keys digested eight at a time: each byte of the input's first 16 sets a key's length
    // (and kind), the rest is their text; every vector build the processor has gives SipHash-2-4
    // of each key's message, lanes of every length side by side.
    if (size > 16) {
        static const subject_hasher hasher(std::vector<unsigned char>(32, 0x5a));
        std::vector<subject_hasher::keyed_value> keys;
        std::size_t at = 16;
        for (std::size_t i = 0; i < 16; ++i) {
            const bool email = (data[i] & 1) != 0;
            const std::size_t len = std::min<std::size_t>(data[i] % 246, size - at);
            keys.push_back({email, email ? std::string_view{} : std::string_view("contact"),
                            input.substr(at, len)});
            at += len;
        }
        std::vector<subject_hasher::message> messages(keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i)
            if (!subject_hasher::make_message(keys[i], messages[i])) std::abort();
        std::vector<std::uint64_t> reference(keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i)
            reference[i] = keys[i].email ? hasher.email_key(keys[i].value)
                                         : hasher.id_key(keys[i].entity, keys[i].value);
        for (auto lanes : {subject_hasher::lanes::baseline, subject_hasher::lanes::avx2,
                           subject_hasher::lanes::avx512}) {
            if (!subject_hasher::supported(lanes)) continue;
            std::vector<std::uint64_t> out(keys.size());
            hasher.digest_messages(messages, out, lanes);
            if (out != reference) std::abort();
        }
    }
    return 0;
}
