#include "config/continuation.hpp"

#include <algorithm>
#include <memory>
#include <vector>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/base64.hpp"
#include "common/hex.hpp"
#include "common/random.hpp"
#include "config/query/guard_support.hpp"
#include "config/selection.hpp"

namespace exportwall::config {
namespace {

constexpr std::size_t nonce_bytes = 12;
constexpr std::size_t tag_bytes = 16;
constexpr std::size_t expiry_bytes = 8;
constexpr std::size_t max_token_bytes = 8 * 1024;  // the CRM's token, sealed
// The expiry's top byte says the layout: 0 (tokens of earlier versions) = the CRM's token follows
// the expiry; 1 = the export's chain id (chain_bytes) comes first.
constexpr unsigned char layout_with_chain = 1;

// The sealed bytes as base64url without padding; read back only in that canonical form (one token
// has one spelling: an altered last character never opens to the same bytes).
std::optional<std::vector<unsigned char>> unbase64url(std::string_view in) {
    auto bytes = common::base64_decode(in, common::base64_form::url_unpadded);
    if (!bytes) return std::nullopt;
    return std::vector<unsigned char>(bytes->begin(), bytes->end());
}

// The associated data: a version label, then every binding field with its length.
std::string associated_data(const continuation_binding& b) {
    std::string ad = "exportwall continuation v1";
    for (std::string_view part : {b.client, b.purpose, b.destination, b.route, b.query, b.path}) {
        ad += '\0';
        ad += std::to_string(part.size());
        ad += ':';
        ad += part;
    }
    return ad;
}

struct cipher_ctx_free {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_free>;

int length(std::size_t n) { return static_cast<int>(n); }

}  // namespace

std::string continuation_query_form(std::string_view raw_query,
                                    std::span<const std::string> continuation_params) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for_each_query_pair(raw_query, [&](const raw_query_pair& p) {
        std::string name, value;
        if (!percent_decode(p.name, name)) name = std::string(p.name);
        if (p.has_value && !percent_decode(p.value, value)) value = std::string(p.value);
        const bool continuation =
            std::any_of(continuation_params.begin(), continuation_params.end(),
                        [&name](const std::string& c) { return query::iequals_ascii(c, name); });
        // A bare name and an empty value differ ("a" vs "a="): the value keeps a marker.
        if (!continuation) pairs.emplace_back(std::move(name), (p.has_value ? "=" : "") + value);
        return true;
    });
    std::sort(pairs.begin(), pairs.end());
    std::string out;
    // Length-prefixed, so that no two different parameter lists give one form.
    for (const auto& [n, v] : pairs) {
        out += std::to_string(n.size());
        out += ':';
        out += n;
        out += std::to_string(v.size());
        out += ':';
        out += v;
    }
    return out;
}

std::string seal_continuation(const continuation_key& key, const continuation_binding& binding,
                              std::string_view crm_token, std::int64_t expires_at,
                              const continuation_chain* chain) {
    const std::size_t head = expiry_bytes + (chain != nullptr ? chain_bytes : 0);
    std::vector<unsigned char> plain(head + crm_token.size());
    auto exp = static_cast<std::uint64_t>(expires_at) & 0x00ff'ffff'ffff'ffffull;
    for (std::size_t i = 0; i < expiry_bytes; ++i)
        plain[i] = static_cast<unsigned char>(exp >> (8 * (expiry_bytes - 1 - i)));
    if (chain != nullptr) {
        plain[0] = layout_with_chain;
        std::copy(chain->begin(), chain->end(), plain.begin() + expiry_bytes);
    }
    std::copy(crm_token.begin(), crm_token.end(),
              plain.begin() + static_cast<std::ptrdiff_t>(head));

    std::vector<unsigned char> out(nonce_bytes + plain.size() + tag_bytes);
    if (!common::random_bytes(out.data(), nonce_bytes)) return {};
    const std::string ad = associated_data(binding);
    cipher_ctx ctx(EVP_CIPHER_CTX_new());
    int n = 0;
    if (!ctx ||
        EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), out.data()) != 1 ||
        EVP_EncryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(ad.data()),
                          length(ad.size())) != 1 ||
        EVP_EncryptUpdate(ctx.get(), out.data() + nonce_bytes, &n, plain.data(),
                          length(plain.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), out.data() + nonce_bytes + n, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_bytes),
                            out.data() + nonce_bytes + plain.size()) != 1)
        return {};
    std::string token(sealed_token_prefix);
    common::append_base64(token, out.data(), out.size(), common::base64_form::url_unpadded);
    return token;
}

std::string_view to_string(continuation_error e) {
    switch (e) {
        case continuation_error::none:
            return "ok";
        case continuation_error::not_sealed:
            return "not a token exportwall issued";
        case continuation_error::malformed:
            return "malformed";
        case continuation_error::rejected:
            return "altered, or issued for another declaration or query";
        case continuation_error::expired:
            return "expired";
    }
    return "rejected";
}

opened_continuation open_continuation(const continuation_key& key,
                                      const continuation_binding& binding, std::string_view token,
                                      std::int64_t now) {
    opened_continuation r;
    if (!token.starts_with(sealed_token_prefix)) {
        r.error = continuation_error::not_sealed;
        return r;
    }
    token.remove_prefix(sealed_token_prefix.size());
    auto bytes = token.size() <= max_token_bytes * 2 ? unbase64url(token) : std::nullopt;
    if (!bytes || bytes->size() < nonce_bytes + expiry_bytes + tag_bytes) {
        r.error = continuation_error::malformed;
        return r;
    }
    const std::size_t sealed = bytes->size() - nonce_bytes - tag_bytes;
    std::vector<unsigned char> plain(sealed);
    const std::string ad = associated_data(binding);
    cipher_ctx ctx(EVP_CIPHER_CTX_new());
    int n = 0;
    bool ok =
        ctx &&
        EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), bytes->data()) == 1 &&
        EVP_DecryptUpdate(ctx.get(), nullptr, &n, reinterpret_cast<const unsigned char*>(ad.data()),
                          length(ad.size())) == 1 &&
        EVP_DecryptUpdate(ctx.get(), plain.data(), &n, bytes->data() + nonce_bytes,
                          length(sealed)) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_bytes),
                            bytes->data() + nonce_bytes + sealed) == 1 &&
        EVP_DecryptFinal_ex(ctx.get(), plain.data() + n, &n) == 1;
    if (!ok) {
        r.error = continuation_error::rejected;
        return r;
    }
    const unsigned char layout = plain[0];
    std::uint64_t exp = 0;
    for (std::size_t i = 1; i < expiry_bytes; ++i) exp = (exp << 8) | plain[i];
    std::size_t head = expiry_bytes;
    if (layout == layout_with_chain) {
        if (plain.size() < expiry_bytes + chain_bytes) {
            r.error = continuation_error::malformed;
            return r;
        }
        continuation_chain chain{};
        std::copy_n(plain.begin() + expiry_bytes, chain_bytes, chain.begin());
        r.chain = chain;
        head += chain_bytes;
    } else if (layout != 0) {
        r.error = continuation_error::malformed;
        return r;
    }
    if (static_cast<std::int64_t>(exp) < now) {
        r.error = continuation_error::expired;
        return r;
    }
    r.crm_token.assign(plain.begin() + static_cast<std::ptrdiff_t>(head), plain.end());
    return r;
}

continuation_chain new_continuation_chain() {
    continuation_chain c{};
    if (!common::random_bytes(c.data(), c.size())) c.fill(0);
    return c;
}

std::string chain_hex(const continuation_chain& c) { return common::to_hex(c); }

continuation_key random_continuation_key() {
    continuation_key k{};
    if (RAND_priv_bytes(k.data(), static_cast<int>(k.size())) != 1) k.fill(0);
    return k;
}

std::optional<continuation_key> continuation_key_from(std::string_view file_bytes) {
    if (file_bytes.size() < 32) return std::nullopt;
    continuation_key k{};
    unsigned int len = 0;
    if (EVP_Digest(file_bytes.data(), file_bytes.size(), k.data(), &len, EVP_sha256(), nullptr) !=
            1 ||
        len != k.size())
        return std::nullopt;
    return k;
}

}  // namespace exportwall::config
