#pragma once
// Signed checkpoints of the hash chain. The SHA-256 chain has no key: whoever can write the files
// can edit a record and recompute every hash after it. A checkpoint record (decision
// "checkpoint"), written into the chain by the writer thread, carries an Ed25519 signature over
// the head it follows (the seq and hash of the record before it); a rebuilt chain has other
// hashes, and its checkpoints no longer verify without the private key. `exportwall audit verify
// --public-key` checks them (docs/audit-trail.md, "Signed checkpoints").

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit/reader.hpp"

namespace exportwall::audit {

// The bytes a checkpoint signs: "exportwall-audit-checkpoint-v1\n<seq>\n<hash>\n" (seq in decimal,
// hash as 64 lowercase hex). The prefix keeps the signature from meaning anything else.
[[nodiscard]] std::string checkpoint_message(std::uint64_t seq, std::string_view hash);

// The id of an Ed25519 public key: the first 16 hex digits of the SHA-256 of its 32 raw bytes.
[[nodiscard]] std::string checkpoint_key_id(const unsigned char (&raw_public_key)[32]);

// An Ed25519 private key that signs checkpoints. Immutable once made; sign() is thread-safe (a
// signing context per call).
class checkpoint_signer {
  public:
    // Reads a PEM private key (PKCS#8, `openssl genpkey -algorithm ed25519`). Null, with `error`
    // saying why (never the key's bytes), when `pem` holds no unencrypted Ed25519 private key.
    [[nodiscard]] static std::shared_ptr<const checkpoint_signer> from_pem(std::string_view pem,
                                                                           std::string& error);
    ~checkpoint_signer();
    checkpoint_signer(const checkpoint_signer&) = delete;
    checkpoint_signer& operator=(const checkpoint_signer&) = delete;

    [[nodiscard]] const std::string& key_id() const { return key_id_; }
    // The signature of checkpoint_message(seq, hash): 128 lowercase hex digits; "" if OpenSSL
    // fails (the writer then writes no checkpoint).
    [[nodiscard]] std::string sign(std::uint64_t seq, std::string_view hash) const;

  private:
    checkpoint_signer() = default;
    void* key_ = nullptr;  // EVP_PKEY
    std::string key_id_;
};

// The Ed25519 public keys a verification accepts, by key id (several after a key rotation).
class checkpoint_keys {
  public:
    checkpoint_keys() = default;
    ~checkpoint_keys();
    checkpoint_keys(const checkpoint_keys&) = delete;
    checkpoint_keys& operator=(const checkpoint_keys&) = delete;
    checkpoint_keys(checkpoint_keys&& other) noexcept : keys_(std::move(other.keys_)) {
        other.keys_.clear();
    }
    checkpoint_keys& operator=(checkpoint_keys&&) = delete;

    // Adds the public key in `pem` ("-----BEGIN PUBLIC KEY-----", `openssl pkey -pubout`). False,
    // with `error` set, when it holds no Ed25519 public key.
    [[nodiscard]] bool add_pem(std::string_view pem, std::string& error);
    [[nodiscard]] bool empty() const { return keys_.empty(); }
    [[nodiscard]] bool knows(std::string_view key_id) const;
    // True when `key_id` names a key here and `signature_hex` is its signature of
    // checkpoint_message(seq, hash).
    [[nodiscard]] bool verify(std::string_view key_id, std::uint64_t seq, std::string_view hash,
                              std::string_view signature_hex) const;

  private:
    std::map<std::string, void*, std::less<>> keys_;  // key id -> EVP_PKEY
};

// The chain check and, with keys, every checkpoint's signature.
struct signed_verify_result {
    verify_result chain;
    bool ok = false;                 // chain intact, and with keys: every checkpoint verified
    bool signature_checked = false;  // keys were given
    std::uint64_t checkpoints = 0;   // checkpoints whose signature verified
    // The head the last verified checkpoint signs (0 and "" when none): the anchor to keep.
    std::uint64_t last_signed_seq = 0;
    std::string last_signed_hash;
    // Records after the last verified checkpoint record: not yet signed (not a failure).
    std::uint64_t unsigned_records = 0;
    // One sentence per problem (the chain's, then each bad checkpoint's, at most 20), never a
    // field value.
    std::vector<std::string> errors;
};

// Recomputes the chain (verify_chain) and, when `keys` is not empty, checks every checkpoint
// record: it must sign exactly the record before it (checkpoint_seq = seq - 1, checkpoint_hash =
// prev_hash), name a key in `keys`, and carry that key's valid signature. With keys, a trail
// without any checkpoint fails too.
[[nodiscard]] signed_verify_result verify_signed(const std::string& active_path,
                                                 const checkpoint_keys& keys);

}  // namespace exportwall::audit
