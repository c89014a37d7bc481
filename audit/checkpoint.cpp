#include "audit/checkpoint.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <charconv>

#include <boost/json/parser.hpp>

#include "audit/serialize.hpp"
#include "common/hex.hpp"

namespace exportwall::audit {

namespace {

constexpr std::size_t max_errors = 20;

// An encrypted key asks for a passphrase: answer none instead of prompting on a terminal.
int no_passphrase(char*, int, int, void*) { return 0; }

struct bio_deleter {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct md_ctx_deleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::unique_ptr<BIO, bio_deleter> memory_bio(std::string_view bytes) {
    return std::unique_ptr<BIO, bio_deleter>(
        BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

// The key id of an Ed25519 key; "" when it is not one.
std::string id_of(EVP_PKEY* key) {
    if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) return {};
    unsigned char raw[32];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof raw) return {};
    return checkpoint_key_id(raw);
}

// The seq at the start of a line ({"seq":N,…}); 0 when it has none.
std::uint64_t seq_of(std::string_view line) {
    constexpr std::string_view prefix = "{\"seq\":";
    std::uint64_t v = 0;
    if (line.substr(0, prefix.size()) == prefix)
        std::from_chars(line.data() + prefix.size(), line.data() + line.size(), v);
    return v;
}

}  // namespace

std::string checkpoint_message(std::uint64_t seq, std::string_view hash) {
    std::string m = "exportwall-audit-checkpoint-v1\n";
    m += std::to_string(seq);
    m.push_back('\n');
    m.append(hash);
    m.push_back('\n');
    return m;
}

std::string checkpoint_key_id(const unsigned char (&raw_public_key)[32]) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(raw_public_key, sizeof raw_public_key, digest, &len, EVP_sha256(), nullptr) != 1)
        return {};
    return common::to_hex(digest, 8);
}

std::shared_ptr<const checkpoint_signer> checkpoint_signer::from_pem(std::string_view pem,
                                                                     std::string& error) {
    auto bio = memory_bio(pem);
    EVP_PKEY* key =
        bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr;
    const std::string id = id_of(key);
    if (id.empty()) {
        EVP_PKEY_free(key);
        error = key == nullptr ? "no unencrypted private key in PEM form"
                               : "the private key is not an Ed25519 key";
        return nullptr;
    }
    std::shared_ptr<checkpoint_signer> signer(new checkpoint_signer());
    signer->key_ = key;
    signer->key_id_ = id;
    return signer;
}

checkpoint_signer::~checkpoint_signer() { EVP_PKEY_free(static_cast<EVP_PKEY*>(key_)); }

std::string checkpoint_signer::sign(std::uint64_t seq, std::string_view hash) const {
    const std::string message = checkpoint_message(seq, hash);
    std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx(EVP_MD_CTX_new());
    unsigned char sig[64];
    std::size_t len = sizeof sig;
    if (!ctx ||
        EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(key_)) !=
            1 ||
        EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1 ||
        len != sizeof sig)
        return {};
    return common::to_hex(sig, len);
}

checkpoint_keys::~checkpoint_keys() {
    for (auto& [id, key] : keys_) EVP_PKEY_free(static_cast<EVP_PKEY*>(key));
}

bool checkpoint_keys::add_pem(std::string_view pem, std::string& error) {
    auto bio = memory_bio(pem);
    EVP_PKEY* key = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr) : nullptr;
    const std::string id = id_of(key);
    if (id.empty()) {
        EVP_PKEY_free(key);
        error = key == nullptr ? "no public key in PEM form (openssl pkey -in KEY -pubout)"
                               : "the public key is not an Ed25519 key";
        return false;
    }
    auto [it, added] = keys_.emplace(id, key);
    if (!added) EVP_PKEY_free(key);  // the same key twice
    return true;
}

bool checkpoint_keys::knows(std::string_view key_id) const {
    return keys_.find(key_id) != keys_.end();
}

bool checkpoint_keys::verify(std::string_view key_id, std::uint64_t seq, std::string_view hash,
                             std::string_view signature_hex) const {
    const auto it = keys_.find(key_id);
    unsigned char sig[64];
    // Lower-case hex only, as the writer writes it.
    if (it == keys_.end() || !common::from_lower_hex(signature_hex, sig, sizeof sig)) return false;
    const std::string message = checkpoint_message(seq, hash);
    std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx(EVP_MD_CTX_new());
    return ctx &&
           EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr,
                                static_cast<EVP_PKEY*>(it->second)) == 1 &&
           EVP_DigestVerify(ctx.get(), sig, sizeof sig,
                            reinterpret_cast<const unsigned char*>(message.data()),
                            message.size()) == 1;
}

signed_verify_result verify_signed(const std::string& active_path, const checkpoint_keys& keys) {
    signed_verify_result res;
    res.signature_checked = !keys.empty();
    std::vector<std::string> lines;
    res.chain = verify_chain(active_path, false, res.signature_checked ? &lines : nullptr);
    if (!res.chain.ok) {
        res.errors.push_back(res.chain.detail());
        return res;
    }
    if (!res.signature_checked) {
        res.ok = true;
        return res;
    }
    std::uint64_t failed = 0;
    auto fail = [&](std::uint64_t seq, const std::string& why) {
        if (++failed <= max_errors)
            res.errors.push_back("checkpoint at seq " + std::to_string(seq) + ": " + why);
    };
    boost::json::parser parser;
    record r;
    std::uint64_t last_checkpoint = 0;  // seq of the last verified checkpoint record
    for (const auto& line : lines) {
        if (parse_line(line, parser, r) || r.decision != "checkpoint") {
            fail(seq_of(line), "not a well-formed checkpoint record");
            continue;
        }
        if (r.checkpoint_signature.empty()) {
            fail(r.seq, "carries no signature");
            continue;
        }
        // It must sign the record just before it: a chain rebuilt under it has another head.
        if (r.checkpoint_seq + 1 != r.seq || r.checkpoint_hash != r.prev_hash) {
            fail(r.seq, "does not sign the record before it (the trail before it was rewritten)");
            continue;
        }
        if (!keys.knows(r.checkpoint_key_id)) {
            fail(r.seq, "signed by key " + r.checkpoint_key_id +
                            ", which is not among the public "
                            "keys given");
            continue;
        }
        if (!keys.verify(r.checkpoint_key_id, r.checkpoint_seq, r.checkpoint_hash,
                         r.checkpoint_signature)) {
            fail(r.seq,
                 "the signature does not verify (the checkpoint or the trail before it "
                 "was changed)");
            continue;
        }
        ++res.checkpoints;
        res.last_signed_seq = r.checkpoint_seq;
        res.last_signed_hash = r.checkpoint_hash;
        last_checkpoint = r.seq;
    }
    if (failed > max_errors)
        res.errors.push_back(std::to_string(failed - max_errors) + " more bad checkpoints");
    if (lines.empty())
        res.errors.emplace_back(
            "no checkpoint in the trail: nothing is signed (is "
            "<audit signing-key-file> set?)");
    // A pruned trail starts past seq 1: without a checkpoint, every record checked is unsigned.
    res.unsigned_records =
        last_checkpoint == 0 ? res.chain.records : res.chain.last_seq - last_checkpoint;
    res.ok = res.errors.empty();
    return res;
}

}  // namespace exportwall::audit
