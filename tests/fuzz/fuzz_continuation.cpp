// libFuzzer target for sealed paging tokens (config/continuation.hpp): a client writes the token,
// so its decoding — base64url, AES-256-GCM, the layout with or without the export's chain — faces
// arbitrary bytes. Properties: no crash; a token the client made up never opens (without the key
// it cannot authenticate); a token exportwall sealed opens under its binding only, with the CRM
// token and the chain it was sealed with, and an altered byte anywhere makes it fail.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/continuation.hpp"

namespace {

using namespace exportwall::config;

const continuation_key key = [] {
    continuation_key k{};
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(i * 7 + 1);
    return k;
}();

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const continuation_binding binding{"erp", "delivery", "warehouse", "contacts", "1:a1:b", "/p"};

    // As a client-written token, with and without the prefix.
    for (const std::string& token : {std::string(input), std::string(sealed_token_prefix) +
                                                             std::string(input)}) {
        auto opened = open_continuation(key, binding, token, 1'000'000'000);
        if (opened.error == continuation_error::none) std::abort();  // forged without the key
    }

    // As the CRM's token, sealed and opened again (with a chain when the first byte is odd).
    const continuation_chain chain = [&] {
        continuation_chain c{};
        for (std::size_t i = 0; i < c.size() && i < size; ++i) c[i] = data[i];
        return c;
    }();
    const bool with_chain = size != 0 && (data[0] & 1) != 0;
    const std::string sealed =
        seal_continuation(key, binding, input, 2'000'000'000, with_chain ? &chain : nullptr);
    if (sealed.empty()) return 0;
    auto opened = open_continuation(key, binding, sealed, 1'000'000'000);
    if (input.size() > 8 * 1024) return 0;  // beyond the token size exportwall opens
    if (opened.error != continuation_error::none || opened.crm_token != input) std::abort();
    if (opened.chain.has_value() != with_chain || (with_chain && *opened.chain != chain))
        std::abort();
    // Another binding, or a flipped character, never opens.
    const continuation_binding other{"erp", "delivery", "warehouse", "contacts", "1:a1:c", "/p"};
    if (open_continuation(key, other, sealed, 1'000'000'000).error == continuation_error::none)
        std::abort();
    std::string altered = sealed;
    const std::size_t at = sealed_token_prefix.size() + (size % (sealed.size() - 4));
    altered[at] = altered[at] == 'A' ? 'B' : 'A';
    if (open_continuation(key, binding, altered, 1'000'000'000).error == continuation_error::none &&
        altered != sealed)
        std::abort();
    return 0;
}
