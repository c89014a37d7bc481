#pragma once
// Helpers for the field transform tests: a pseudonym computed apart from the filters (one-shot
// HMAC), a transform_set with a test key, and a run of a filter in every chunking that checks
// each chunking agrees with the whole body.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "filters/record_filter.hpp"
#include "filters/transform.hpp"
#include "tests/unit/filters/chunked_run.hpp"

namespace exportwall::filters::testing {

inline std::shared_ptr<const std::vector<unsigned char>> key_of(std::string_view text) {
    return std::make_shared<const std::vector<unsigned char>>(text.begin(), text.end());
}

inline constexpr std::string_view test_key = "k3y-0f-the-purpose";

// "ps_" + base64url(first 16 bytes of HMAC-SHA-256(key, value)), by OpenSSL's one-shot HMAC.
inline std::string pseudonym(std::string_view value, std::string_view key = test_key) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(value.data()), value.size(), mac, &length);
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out = "ps_";
    unsigned bits = 0;
    int count = 0;
    for (int i = 0; i < 16; ++i) {
        bits = (bits << 8) | mac[i];
        count += 8;
        while (count >= 6) {
            count -= 6;
            out.push_back(alphabet[(bits >> count) & 63]);
        }
    }
    if (count > 0) out.push_back(alphabet[(bits << (6 - count)) & 63]);
    return out;
}

inline transform_set transforms(std::vector<field_transform> list,
                                std::string_view key = test_key) {
    return transform_set(std::move(list), key_of(key));
}

// Every chunking of `body` (chunked_run.hpp's) must give the whole-body run's output, counters
// and error; returns the whole-body run.
inline run_result run_every_chunking(const filter_spec& spec, std::string_view body) {
    const run_result whole = run_whole(spec, body);
    for (const auto& cuts : chunkings(body.size())) {
        const run_result r = run_cut(spec, body, cuts);
        if (r.error != whole.error || r.output != whole.output ||
            !same_counters(r.counters, whole.counters)) {
            ADD_FAILURE() << "chunking with " << cuts.size() << " cuts (first at "
                          << (cuts.empty() ? 0 : cuts.front()) << ") differs: " << r.output;
            break;
        }
    }
    return whole;
}

inline std::uint64_t count_of(const std::map<std::string, std::uint64_t, std::less<>>& m,
                              std::string_view name) {
    const auto it = m.find(name);
    return it == m.end() ? 0 : it->second;
}

}  // namespace exportwall::filters::testing
