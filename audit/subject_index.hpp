#pragma once
// The subject index: who received a given person's data (GDPR art. 15(1)(c), art. 19) without
// storing a value. For every record an export delivers, the proxy hands the keyed digests of the
// record's subject keys (its entity's id, its e-mail address) to a subject_collector; the
// collector writes them, a chunk at a time, to an append-only index file beside the audit trail,
// and the export's audit record carries how many it wrote and the SHA-256 of its chunks
// (record::subject_keys, record::subject_index), which binds them into the hash chain.
//
// A chunk stores up to chunk_capacity digests as a Golomb-Rice coded set (the sorted digests
// reduced to the range [0, n·2^k), delta-coded): about k + 1.6 bits per digest, and a lookup of
// a digest that is not in the chunk answers "maybe" with probability 2^-k (default_subject_k).
// Nothing in a chunk is reversible without the key: a digest is SipHash-2-4(K, kind || 0 || entity
// || 0 || value), where K is the first 16 bytes of HMAC-SHA-256(key, "exportwall subject index
// v1"). SipHash, not HMAC-SHA-256 per value: the digest runs for every key of every delivered
// record of a bulk export, and HMAC through OpenSSL's EVP costs ~400 ns a value here (+60 % filter
// CPU, bench/json) against ~20 ns; both are keyed pseudo-random functions, and 64 bits is all
// the coded set keeps.
//
// File format (little-endian), one chunk after another:
//   "EWSI" | version (1) | k | 0 | 0 | export id (16 bytes, the audit id's 32 hex digits) |
//   n (u32) | payload bytes (u32) | payload
// Memory per export: one chunk's digests (chunk_capacity × 8 bytes), whatever the export's size.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

namespace exportwall::audit {

// Keyed 64-bit digests of subject keys. Thread-safe (immutable after construction). Values
// arrive normalised (the proxy trims them and lower-cases e-mail addresses, as the suppression
// list does).
class subject_hasher {
  public:
    // `key`: the operator's subject-key-file bytes (at least 32).
    explicit subject_hasher(std::span<const unsigned char> key);

    // The digest of a record id of `entity` ("contact", "42").
    [[nodiscard]] std::uint64_t id_key(std::string_view entity, std::string_view id) const;
    // The digest of a normalised e-mail address (any entity: an address names one person).
    [[nodiscard]] std::uint64_t email_key(std::string_view email) const;

  private:
    [[nodiscard]] std::uint64_t digest(std::string_view kind, std::string_view entity,
                                       std::string_view value) const;
    std::uint64_t k0_ = 0;  // the SipHash key, K's two little-endian halves
    std::uint64_t k1_ = 0;
};

// SipHash-2-4 (Aumasson and Bernstein, 2012) of `pieces` concatenated, under the 128-bit key
// (k0, k1). Exposed for its test vectors.
[[nodiscard]] std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1,
                                      std::span<const std::string_view> pieces);

// 2^-30 per chunk: a lookup over a trail of a million chunks lists a false export about once in
// a thousand lookups. Each digest costs about 32 bits on disk.
inline constexpr unsigned default_subject_k = 30;
inline constexpr std::size_t chunk_capacity = 4096;
inline constexpr std::size_t chunk_header_size = 32;

// Golomb-Rice coded set of `hashes` (sorted in place) with parameter k. Pure.
[[nodiscard]] std::string encode_subject_set(std::vector<std::uint64_t>& hashes, unsigned k);
// True when `hash` may be one of the n hashes encoded in `payload` (false: certainly not).
// A payload that ends early answers false.
[[nodiscard]] bool subject_set_contains(std::string_view payload, std::uint32_t n, unsigned k,
                                        std::uint64_t hash);

// The index file, shared by every export of the process. Appends whole chunks under a mutex
// (O_APPEND), so concurrent exports never interleave inside a chunk. Nothing is synced: the index
// is as durable as the records of delivered exports it belongs to (page cache), and an audit
// record whose chunks did not reach the disk shows as a digest mismatch in `audit subject`.
class subject_index_file {
  public:
    explicit subject_index_file(std::string path);
    ~subject_index_file();
    subject_index_file(const subject_index_file&) = delete;
    subject_index_file& operator=(const subject_index_file&) = delete;

    // Opens (creating) the file; retried by append() when it failed.
    [[nodiscard]] boost::system::error_code open();
    [[nodiscard]] boost::system::error_code append(std::string_view chunk);
    [[nodiscard]] const std::string& path() const { return path_; }

  private:
    std::string path_;
    std::mutex mutex_;
    int fd_ = -1;
};

// The index file of an audit trail whose active file is `audit_path`.
[[nodiscard]] std::string subject_index_path(std::string_view audit_path);

// One export's subject digests on their way to the index. Digests of a record that is not yet
// certain to be delivered (a record nested in a main record the rules have not decided) wait as
// tentative until commit() or discard(). Not thread-safe: one per export.
class subject_collector {
  public:
    // `export_id`: the audit record id (32 lowercase hex digits).
    subject_collector(std::shared_ptr<subject_index_file> file, std::string_view export_id,
                      unsigned k = default_subject_k);

    void add(std::uint64_t digest);
    void add_tentative(std::uint64_t digest) { tentative_.push_back(digest); }
    void commit();
    void discard() { tentative_.clear(); }
    // Writes the digests added since the last call as one chunk (none: nothing). The proxy calls
    // it before each write to the client, so no record leaves before its digests are in the
    // file. After an error nothing more is written and failed() stays true: the export must not
    // deliver another byte (it is aborted, audit_unavailable).
    [[nodiscard]] boost::system::error_code write_pending();
    [[nodiscard]] bool failed() const { return static_cast<bool>(error_); }
    [[nodiscard]] std::uint64_t keys() const { return keys_; }
    // SHA-256 (hex) of every chunk written, in order; "" when none was.
    [[nodiscard]] std::string digest_hex() const;

  private:
    void flush();

    std::shared_ptr<subject_index_file> file_;
    std::array<unsigned char, 16> id_{};
    unsigned k_;
    std::vector<std::uint64_t> pending_;
    std::vector<std::uint64_t> tentative_;
    std::string chunk_;
    std::shared_ptr<void> sha_;  // EVP_MD_CTX over the chunks written
    bool wrote_ = false;
    std::uint64_t keys_ = 0;
    boost::system::error_code error_;
};

// One chunk as read back.
struct subject_chunk {
    std::array<unsigned char, 16> export_id{};
    unsigned k = 0;
    std::uint32_t n = 0;
    std::string_view payload;
    std::string_view bytes;  // the whole chunk (header and payload), for the export's digest
};

// Reads the index file at `path` chunk by chunk (`visit` returns false to stop). A torn last
// chunk (a crash while appending) ends the walk without error; a chunk with a bad header is
// `corrupt` (audit_error::corrupt_log). A missing file is no_log.
[[nodiscard]] boost::system::error_code for_each_subject_chunk(
    const std::string& path, const std::function<bool(const subject_chunk&)>& visit);
// The same over the file's bytes (the chunks' views point into `bytes`).
[[nodiscard]] boost::system::error_code for_each_subject_chunk_in(
    std::string_view bytes, const std::function<bool(const subject_chunk&)>& visit);

// An export whose index chunks may hold a looked-up digest, with the SHA-256 (hex) of all of
// its chunks in order: equal to its audit record's subject_index when the index is intact.
struct subject_match {
    std::string export_id;
    std::string chunks_sha256;
};

// The exports of the index file at `path` whose chunks may hold one of `digests`, in the order
// of their first chunk. Two passes over the file (the second hashes only the matches' chunks).
[[nodiscard]] boost::system::error_code find_subject_exports(const std::string& path,
                                                             std::span<const std::uint64_t> digests,
                                                             std::vector<subject_match>& out);

// 32 lowercase hex digits of an export id.
[[nodiscard]] std::string export_id_hex(const std::array<unsigned char, 16>& id);

}  // namespace exportwall::audit
