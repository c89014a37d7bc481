#pragma once
// The subject index: who received a given person's data (GDPR art. 15(1)(c), art. 19) without
// storing a value. For every record an export delivers, the proxy hands the keyed digests of the
// record's subject keys (its entity's id, its e-mail address) to a subject_collector; the
// collector writes them, a chunk at a time, to an append-only index file beside the audit trail,
// and the export's audit record carries how many it wrote and the SHA-256 of its chunks
// (record::subject_keys, record::subject_index), which binds them into the hash chain.
//
// Digests: SipHash-2-4(K, kind || 0 || entity || 0 || value), K the first 16 bytes of
// HMAC-SHA-256(key, "exportwall subject index v1"). SipHash, not HMAC-SHA-256 per value: the
// digest runs for every key of every delivered record of a bulk export, and HMAC through
// OpenSSL's EVP costs ~400 ns a value here against ~30 ns; both are keyed pseudo-random
// functions. SipHash-2-4 rather than the cheaper 1-3: the variant its authors give as a PRF, and
// format 1's digests stay valid. Nothing in the file is reversible without the key.
//
// Format 2 (written now): each person's digest is stored once, in dictionary chunks — the
// dictionary gives every distinct digest an ordinal, first seen first — and an export is a list
// of ordinals, sorted and gap-coded (Elias-gamma or Rice, whichever is shorter per chunk). A CRM
// exports in a stable order, so an export's ordinals mostly increase already and its gaps are
// small: a repeated bulk export costs about a byte per delivered record (headers included), a
// new digest 8 bytes in the dictionary once. Lookups are exact (64-bit digests, no false export).
//
// Dictionary chunks chain: each carries the first 16 bytes of SHA-256(previous chain || its
// first 16 bytes || its digests) (the first's previous chain: 16 zero bytes). An export's
// subject_index is the SHA-256 of its list chunks, each followed by the dictionary's size (u32)
// and chain where the chunk lies in the file (not stored: the reader recomputes them), so the
// audit chain vouches for the dictionary prefix its ordinals mean; `audit subject` recomputes
// the chain and reports any difference.
//
// File layout (little-endian), one chunk after another, every chunk starting "EWSI" | version:
//   version 1 (read only; a Golomb-Rice coded set of digests reduced to [0, n·2^k)):
//     "EWSI" | 1 | k | 0 | 0 | export id (16) | n (u32) | payload bytes (u32) | payload
//   version 2, dictionary (32-byte header):
//     "EWSI" | 2 | 0 | 0 | 0 | first ordinal (u32) | n (u32) | chain (16) | n digests (u64 each)
//   version 2, export list (40-byte header):
//     "EWSI" | 2 | 1 | code | 0 | export id (16) | n (u32) | payload bytes (u32) |
//     first ordinal (u32) | last ordinal (u32) | payload (the n-1 gaps after the first ordinal;
//     code 0 Elias-gamma, code 1+k Rice(k) of gap-1; bits most significant first)
// Memory per export: the digests of the records between two writes to the client and their
// ordinals (12 bytes a key: the relay writes every 32 KiB of output or sooner, so a few
// thousand keys) and sixteen queued keys' messages (4.2 KiB). Memory of the process: the
// dictionary's table, 12 bytes a slot at most 3/4 full (16 to 32 bytes per distinct digest; 48
// while it doubles), and its digests in ordinal order (8 bytes each; 16 while that array doubles),
// at most max_digests digests.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
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

    // Several keys at once, two at a time interleaved (a record's id and address cost little
    // more than one): out[i] is id_key(entity, value) or email_key(value) of values[i].
    struct keyed_value {
        bool email = false;
        std::string_view entity;  // with an id
        std::string_view value;
    };
    void keys(std::span<const keyed_value> values, std::span<std::uint64_t> out) const;

    // One key's message (kind 0 entity 0 value), as subject_collector queues it: built while the
    // record's values are at hand, digested later sixteen at a time (digest_messages).
    static constexpr std::size_t max_message = 256;
    struct message {
        std::array<unsigned char, max_message + 8> bytes;  // the message, then 8 zero bytes
        std::size_t size = 0;
    };
    // False when the message would pass max_message (such a key goes through keys()). Inline:
    // the subject index builds one for every key of every delivered record.
    static bool make_message(const keyed_value& k, message& out) {
        unsigned char* p = out.bytes.data();
        std::size_t at = 0;
        if (k.email) {
            std::memcpy(p, "email\0\0", 8);  // kind 0 (no entity) 0, and a byte the value covers
            at = 7;
        } else {
            if (k.entity.size() + 4 > max_message) return false;
            p[0] = 'i';
            p[1] = 'd';
            p[2] = 0;
            copy_short(p + 3, k.entity);
            at = 3 + k.entity.size();
            p[at++] = 0;
        }
        if (k.value.size() > max_message - at) return false;
        copy_short(p + at, k.value);
        out.size = at + k.value.size();
        const std::uint64_t padding = 0;  // the last block's, read as a word
        std::memcpy(p + out.size, &padding, sizeof padding);
        return true;
    }
    // out[i]: the digest of messages[i], the same as keys() gives; sixteen at a time, side by
    // side in vector registers (a last group of three or more too).
    void digest_messages(std::span<const message> messages, std::span<std::uint64_t> out) const;
    // The vector build digest_messages() runs: the best this processor has (best_lanes());
    // the others for tests, where supported().
    enum class lanes : std::uint8_t { baseline, avx2, avx512 };
    [[nodiscard]] static lanes best_lanes();
    [[nodiscard]] static bool supported(lanes l);
    void digest_messages(std::span<const message> messages, std::span<std::uint64_t> out,
                         lanes use) const;

  private:
    // `from`'s bytes to `to` in overlapping copies of fixed size, which the compiler inlines (a
    // key's value and entity are short: a call to memcpy cost more than the copy). Reads and
    // writes nothing outside the two ranges.
    static void copy_short(unsigned char* to, std::string_view from) {
        const char* s = from.data();
        const std::size_t n = from.size();
        if (n >= 16) {
            for (std::size_t i = 0; i + 16 < n; i += 16) std::memcpy(to + i, s + i, 16);
            std::memcpy(to + n - 16, s + n - 16, 16);
        } else if (n >= 8) {
            std::memcpy(to, s, 8);
            std::memcpy(to + n - 8, s + n - 8, 8);
        } else if (n >= 4) {
            std::memcpy(to, s, 4);
            std::memcpy(to + n - 4, s + n - 4, 4);
        } else {
            for (std::size_t i = 0; i < n; ++i) to[i] = static_cast<unsigned char>(s[i]);
        }
    }
    [[nodiscard]] std::uint64_t digest(std::string_view kind, std::string_view entity,
                                       std::string_view value) const;
    std::uint64_t k0_ = 0;  // the SipHash key, K's two little-endian halves
    std::uint64_t k1_ = 0;
};

// SipHash-2-4 (Aumasson and Bernstein, 2012) of `pieces` concatenated, under the 128-bit key
// (k0, k1). Exposed for its test vectors.
[[nodiscard]] std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1,
                                      std::span<const std::string_view> pieces);

// ---- format 1 (read only: indexes written before format 2) ---------------------------------

inline constexpr unsigned default_subject_k = 30;
inline constexpr std::size_t chunk_header_size = 32;  // format 1, and format 2's dictionary

// Golomb-Rice coded set of `hashes` (sorted in place) with parameter k. Pure.
[[nodiscard]] std::string encode_subject_set(std::vector<std::uint64_t>& hashes, unsigned k);
// True when `hash` may be one of the n hashes encoded in `payload` (false: certainly not).
// A payload that ends early answers false.
[[nodiscard]] bool subject_set_contains(std::string_view payload, std::uint32_t n, unsigned k,
                                        std::uint64_t hash);
// A whole format-1 chunk of `hashes` for `export_id` (32 hex digits): what exportwall wrote
// before format 2, for tests and benchmarks of the reader.
[[nodiscard]] std::string encode_subject_chunk_v1(std::string_view export_id,
                                                  std::vector<std::uint64_t> hashes,
                                                  unsigned k = default_subject_k);

// ---- format 2 -------------------------------------------------------------------------------

// At most this many digests per chunk: a chunk is written before each write to the client, and
// whenever an export has collected this many.
inline constexpr std::size_t chunk_capacity = 4096;
inline constexpr std::size_t list_header_size = 40;
// The default bound of the dictionary: 2^25 distinct digests (16 M persons with an id and an
// address): a table of 2^26 slots, 768 MiB (1.1 GiB while it doubles the last time), and 256 MiB
// of digests in ordinal order.
inline constexpr std::uint32_t default_max_digests = std::uint32_t{1} << 25;

using dictionary_chain = std::array<unsigned char, 16>;

// The ordinals of one chunk, sorted and unique (ascending, n ≥ 1), coded as the gaps after the
// first. Returns the code (0 Elias-gamma; 1 + k Rice(k) of gap - 1), whichever is shortest of
// gamma and Rice around the mean gap; the payload is appended to `out`. Pure.
[[nodiscard]] unsigned encode_ordinals(std::span<const std::uint32_t> sorted, std::string& out);
// The n ordinals coded in `payload` (code, first ordinal), appended to `out`; false when the
// payload ends early, the code is unknown or an ordinal would pass 2^32 - 1.
[[nodiscard]] bool decode_ordinals(std::string_view payload, std::uint32_t n, unsigned code,
                                   std::uint32_t first, std::vector<std::uint32_t>& out);
// True when `target` is one of the n ordinals coded in `payload`; stops at the first ordinal
// past it. A payload that ends early answers false.
[[nodiscard]] bool ordinal_list_contains(std::string_view payload, std::uint32_t n, unsigned code,
                                         std::uint32_t first, std::uint32_t target);

// The next dictionary chain: the first 16 bytes of SHA-256(previous || chunk header's first 16
// bytes || the chunk's digests as stored).
[[nodiscard]] dictionary_chain next_dictionary_chain(const dictionary_chain& previous,
                                                     std::string_view header16,
                                                     std::string_view digests);

// The dictionary in memory: an open-addressing (linear probing) table of 64-bit digests to 32-bit
// ordinals. Digests are keyed PRF outputs, so their top bits index the table without a further
// hash and nobody without the key can aim digests at one slot. Not thread-safe.
class subject_dictionary {
  public:
    [[nodiscard]] std::optional<std::uint32_t> find(std::uint64_t digest) const;
    // Adds a digest that find() does not know. Grows the table (doubling) past 3/4 full.
    void insert(std::uint64_t digest, std::uint32_t ordinal);
    // Removes a digest (backward-shift deletion): undoes an insert whose chunk was not written.
    void erase(std::uint64_t digest);
    // Brings the digests' home slots into the caches before find()s.
    void touch(std::span<const std::uint64_t> digests) const;
    [[nodiscard]] std::size_t size() const { return size_; }
    [[nodiscard]] std::size_t memory_bytes() const { return slots_.size() * 4; }

  private:
    [[nodiscard]] std::size_t capacity() const { return slots_.size() / 3; }
    [[nodiscard]] std::size_t slot_of(std::uint64_t digest) const {
        return static_cast<std::size_t>(digest >> shift_);
    }
    [[nodiscard]] std::uint64_t key_at(std::size_t i) const;
    void set(std::size_t i, std::uint64_t digest, std::uint32_t ordinal);
    void grow();
    // Page-aligned zeroed words that ask the kernel for huge pages (a table of a large CRM
    // outgrows the TLB: every probe would walk the page tables).
    class table_memory {
      public:
        table_memory() = default;
        explicit table_memory(std::size_t words);
        table_memory(table_memory&& other) noexcept { swap(other); }
        table_memory& operator=(table_memory&& other) noexcept {
            swap(other);
            return *this;
        }
        table_memory(const table_memory&) = delete;
        table_memory& operator=(const table_memory&) = delete;
        ~table_memory();
        void swap(table_memory& other) noexcept {
            std::swap(words_, other.words_);
            std::swap(size_, other.size_);
        }
        [[nodiscard]] std::uint32_t* data() const { return words_; }
        [[nodiscard]] std::size_t size() const { return size_; }
        [[nodiscard]] bool empty() const { return size_ == 0; }
        std::uint32_t& operator[](std::size_t i) { return words_[i]; }
        const std::uint32_t& operator[](std::size_t i) const { return words_[i]; }

      private:
        std::uint32_t* words_ = nullptr;
        std::size_t size_ = 0;
    };
    // Slot i: the digest in words 3i and 3i+1 (0: empty; the digest 0 itself lives apart), its
    // ordinal in word 3i+2 — one array, so a probe costs one trip to memory.
    table_memory slots_;
    std::size_t mask_ = 0;
    unsigned shift_ = 64;
    std::size_t size_ = 0;
    std::optional<std::uint32_t> zero_;
    mutable std::uint64_t touched_ = 0;
};

// The index file and its dictionary, shared by every export of the process (one process per
// file). open() reads the file's dictionary into memory; a torn tail (a crash while appending)
// is set aside into `<path>.torn` and cut off. Every append happens under one mutex (O_APPEND), so
// a dictionary chunk is in the file before any list chunk that names its ordinals, and concurrent
// exports never interleave inside a chunk. An append that fails is cut off again and its
// dictionary entries forgotten. Nothing is synced: the index is as durable as the records of
// delivered exports it belongs to (page cache), and an audit record whose chunks did not reach
// the disk shows as a digest mismatch in `audit subject`.
class subject_index_file {
  public:
    explicit subject_index_file(std::string path, std::uint32_t max_digests = default_max_digests);
    ~subject_index_file();
    subject_index_file(const subject_index_file&) = delete;
    subject_index_file& operator=(const subject_index_file&) = delete;

    // Opens (creating) the file and loads its dictionary, once; retried by every later call while
    // it fails. Fails (the proxy refuses exports, 503 audit_unavailable) when the file cannot be
    // opened or read, when it is damaged before its last MiB (audit_error::corrupt_log: an
    // operator must look), and when the dictionary is full (errc::no_buffer_space).
    [[nodiscard]] boost::system::error_code open();
    // The ordinals of `digests` (same order), appending a dictionary chunk for the digests the
    // dictionary does not hold yet. Fails when the file cannot be written or the dictionary would
    // pass max_digests. `next`: the caller's guess of the first digest's ordinal (the ordinal
    // after its previous digest's), updated to the ordinal after the last one: a CRM exports in
    // a stable order, so a repeated export meets its persons in the order of their ordinals and
    // the guess, checked against the dictionary's digests in ordinal order, spares the table's
    // probe (a trip to memory: the table outgrows the caches). Only a guess: a digest that is not
    // where it points is looked up in the table.
    [[nodiscard]] boost::system::error_code assign(std::span<const std::uint64_t> digests,
                                                   std::vector<std::uint32_t>& ordinals,
                                                   std::uint32_t& next);
    [[nodiscard]] boost::system::error_code assign(std::span<const std::uint64_t> digests,
                                                   std::vector<std::uint32_t>& ordinals) {
        std::uint32_t next = 0;
        return assign(digests, ordinals, next);
    }
    // Appends a list chunk; `dictionary` receives the dictionary's size (u32 LE) and chain where
    // the chunk lies, which the export's digest covers after the chunk.
    [[nodiscard]] boost::system::error_code append_list(std::string_view chunk,
                                                        std::array<unsigned char, 20>& dictionary);

    [[nodiscard]] const std::string& path() const { return path_; }
    // What open() set aside: the bytes of a torn tail (0: none).
    [[nodiscard]] std::uint64_t torn_bytes() const;
    [[nodiscard]] std::size_t digests() const;
    [[nodiscard]] std::size_t memory_bytes() const;

  private:
    [[nodiscard]] boost::system::error_code open_locked();
    [[nodiscard]] boost::system::error_code load_locked();
    [[nodiscard]] boost::system::error_code write_locked(std::string_view bytes);

    std::string path_;
    std::uint32_t max_digests_;
    mutable std::mutex mutex_;
    int fd_ = -1;
    bool loaded_ = false;
    std::uint64_t size_ = 0;  // bytes of whole chunks in the file
    std::uint64_t torn_ = 0;
    subject_dictionary dictionary_;
    // The dictionary's digests in ordinal order (assign()'s guesses are checked against it).
    std::vector<std::uint64_t> by_ordinal_;
    std::uint32_t ordinals_ = 0;  // entries in the dictionary file
    dictionary_chain chain_{};
    std::vector<std::uint64_t> fresh_;   // assign()'s new digests
    std::vector<std::uint32_t> misses_;  // assign()'s digests not where guessed (indexes)
    std::vector<std::uint64_t> missed_;  // and their digests
    std::string chunk_;
};

// The index file of an audit trail whose active file is `audit_path`.
[[nodiscard]] std::string subject_index_path(std::string_view audit_path);

// One export's subject digests on their way to the index. Digests of a record that is not yet
// certain to be delivered (a record nested in a main record the rules have not decided) wait as
// tentative until commit() or discard(). Nothing is written but by write_pending(), which the
// proxy calls just before the bytes of those records go to the client: the keys of records that
// never leave (held back by a quota, or behind an abort) can still be taken back (retract(),
// drop_pending()). Not thread-safe: one per export.
class subject_collector {
  public:
    // `export_id`: the audit record id (32 lowercase hex digits). `hasher`: digests the keys
    // add_key() queues (add() takes digests and needs none).
    subject_collector(std::shared_ptr<subject_index_file> file, std::string_view export_id,
                      std::shared_ptr<const subject_hasher> hasher = nullptr);

    // A delivered record's key, digested with the next fifteen (or at write_pending()):
    // sixteen SipHash side by side in vector registers cost about what three do one after
    // another. The value is copied (as its message) before this returns. Needs the hasher.
    void add_key(const subject_hasher::keyed_value& k) {
        ++taken_;
        if (!subject_hasher::make_message(k, queue_[queued_])) {
            // Too long to queue: digested now, after the keys before it (the order is the
            // dictionary's order of first sight).
            if (queued_ > 0) digest_queue();
            std::uint64_t d = 0;
            hasher_->keys({&k, 1}, {&d, 1});
            push(d);
            return;
        }
        if (++queued_ == queue_.size()) digest_queue();
    }

    // A delivered record's key, digested already.
    void add(std::uint64_t digest) {
        if (queued_ > 0) digest_queue();  // after the keys queued before it
        ++taken_;
        push(digest);
    }
    void add_tentative(std::uint64_t digest) { tentative_.push_back(digest); }
    // The tentative digests are delivered (after the keys handed over before them).
    void commit() {
        if (!tentative_.empty()) commit_tentative();
    }
    void discard() { tentative_.clear(); }
    // How many keys were handed over (add_key, and digests commit() delivered): a mark for
    // retract().
    [[nodiscard]] std::uint64_t taken() const { return taken_; }
    // Forgets the keys handed over after the first `taken` (none of them written yet: nothing is
    // written but by write_pending()). False when `taken` is before the last write_pending().
    bool retract(std::uint64_t taken);
    // Forgets every key not yet written: their records never reached the client.
    void drop_pending();
    // Writes the digests handed over since the last call (queued keys digested first) as list
    // chunks of at most chunk_capacity (none: nothing). The proxy calls it just before each
    // write to the client, so no record leaves before its digests are in the file. After an
    // error nothing more is written and failed() stays true: the export must not deliver
    // another byte (it is aborted, audit_unavailable).
    [[nodiscard]] boost::system::error_code write_pending();
    [[nodiscard]] bool failed() const { return static_cast<bool>(error_); }
    // The ordinals written: distinct within a chunk (a person delivered twice in one chunk counts
    // once).
    [[nodiscard]] std::uint64_t keys() const { return keys_; }
    // SHA-256 (hex) of every chunk written, in order; "" when none was.
    [[nodiscard]] std::string digest_hex() const;

  private:
    void push(std::uint64_t digest) { pending_.push_back(digest); }
    void commit_tentative();
    void flush(std::span<const std::uint64_t> digests);
    void digest_queue();

    std::shared_ptr<subject_index_file> file_;
    std::shared_ptr<const subject_hasher> hasher_;
    std::array<subject_hasher::message, 16> queue_{};  // add_key()'s messages not yet digested
    std::size_t queued_ = 0;
    std::array<unsigned char, 16> id_{};
    std::vector<std::uint64_t> pending_;
    std::vector<std::uint64_t> tentative_;
    std::vector<std::uint32_t> ordinals_;
    std::uint32_t next_ordinal_ = 0;  // subject_index_file::assign()'s guess
    std::string chunk_;
    std::shared_ptr<void> sha_;  // EVP_MD_CTX over the chunks written
    std::uint64_t taken_ = 0;    // keys handed over
    std::uint64_t written_ = 0;  // of which written (or dropped)
    bool wrote_ = false;
    std::uint64_t keys_ = 0;
    boost::system::error_code error_;
};

// One chunk as read back.
struct subject_chunk {
    enum class type : std::uint8_t { set_v1, dictionary, list };
    type kind = type::set_v1;
    std::array<unsigned char, 16> export_id{};  // set_v1, list
    unsigned k = 0;                             // set_v1
    unsigned code = 0;                          // list
    std::uint32_t n = 0;
    std::uint32_t first = 0;   // dictionary, list: the first ordinal
    std::uint32_t last = 0;    // list
    dictionary_chain chain{};  // dictionary: the chain after it
    std::string_view payload;  // dictionary: the n digests (8 bytes each, LE)
    std::string_view bytes;    // the whole chunk (header and payload), for the export's digest
};

// Reads the index file at `path` chunk by chunk (`visit` returns false to stop). A torn last
// chunk (a crash while appending) ends the walk without error; a chunk with a bad header is
// `corrupt` (audit_error::corrupt_log). A missing file is no_log. Checks structure only (the
// lookup checks the dictionary chain).
[[nodiscard]] boost::system::error_code for_each_subject_chunk(
    const std::string& path, const std::function<bool(const subject_chunk&)>& visit);
// The same over the file's bytes (the chunks' views point into `bytes`).
[[nodiscard]] boost::system::error_code for_each_subject_chunk_in(
    std::string_view bytes, const std::function<bool(const subject_chunk&)>& visit);

// An export whose index chunks hold a looked-up digest, with the SHA-256 (hex) of all of its
// chunks in order: equal to its audit record's subject_index when the index is intact.
struct subject_match {
    std::string export_id;
    std::string chunks_sha256;
    // Its list chunks' ordinals lie inside the dictionary that precedes them.
    bool dictionary_matches = true;
};

struct subject_search {
    std::vector<subject_match> exports;  // in the order of their first chunk
    // Every dictionary chunk continues the chain and every list chunk names only ordinals the
    // dictionary before it holds: false when the file was edited (a person may then be hidden
    // or confused with another).
    bool dictionary_intact = true;
};

// The exports of the index file at `path` whose chunks hold one of `digests` (format 1: may
// hold). Two passes over the file (the second hashes only the matches' chunks).
[[nodiscard]] boost::system::error_code find_subject_exports(const std::string& path,
                                                             std::span<const std::uint64_t> digests,
                                                             subject_search& out);
[[nodiscard]] boost::system::error_code find_subject_exports(const std::string& path,
                                                             std::span<const std::uint64_t> digests,
                                                             std::vector<subject_match>& out);

// 32 lowercase hex digits of an export id.
[[nodiscard]] std::string export_id_hex(const std::array<unsigned char, 16>& id);

}  // namespace exportwall::audit
