#include "audit/subject_index.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <utility>

#include "audit/serialize.hpp"

namespace exportwall::audit {
namespace {

constexpr std::string_view magic = "EWSI";
constexpr unsigned char format_version = 1;

EVP_MD_CTX* as_ctx(void* p) { return static_cast<EVP_MD_CTX*>(p); }

[[noreturn]] void crypto_failed() { throw std::runtime_error("OpenSSL SHA-256 unavailable"); }

const EVP_MD* sha256() {
    static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (md == nullptr) crypto_failed();
    return md;
}

// The value reduced to [0, range): the high half of the 128-bit product (no modulo bias worth
// the name, no division).
__extension__ using uint128 = unsigned __int128;  // GCC and clang; -Wpedantic knows it not
std::uint64_t reduce(std::uint64_t hash, std::uint64_t range) {
    return static_cast<std::uint64_t>((static_cast<uint128>(hash) * range) >> 64);
}

// Bits most significant first, through a 64-bit accumulator.
class bit_writer {
  public:
    explicit bit_writer(std::string& out) : out_(out) {}
    // `count` ≤ 32 bits of `v`.
    void bits(std::uint64_t v, unsigned count) {
        if (count == 0) return;
        acc_ = (acc_ << count) | (v & ((std::uint64_t{1} << count) - 1));
        used_ += count;
        while (used_ >= 8) {
            used_ -= 8;
            out_.push_back(static_cast<char>((acc_ >> used_) & 0xffu));
        }
    }
    void bit(bool b) { bits(b ? 1u : 0u, 1); }
    void ones(std::uint64_t count) {
        for (; count >= 32; count -= 32) bits(0xffffffffu, 32);
        bits((std::uint64_t{1} << count) - 1, static_cast<unsigned>(count));
    }
    void finish() {
        if (used_ > 0) out_.push_back(static_cast<char>((acc_ << (8 - used_)) & 0xffu));
        used_ = 0;
    }

  private:
    std::string& out_;
    std::uint64_t acc_ = 0;
    unsigned used_ = 0;  // bits in acc_ not yet written (< 8 between calls)
};

// Bits most significant first, eight bytes at a time: a unary run is counted with one
// count-leading-zeros, a remainder taken with one shift (lookups over a large index decode
// every chunk up to the digest looked for).
class bit_reader {
  public:
    explicit bit_reader(std::string_view in) : in_(in) {}
    // The length of a run of ones and the zero that ends it; false at the end of the input.
    bool unary(std::uint64_t& ones) {
        ones = 0;
        for (;;) {
            if (avail_ == 0 && !refill()) return false;
            // The zeros of the available bits, as ones (the unavailable low bits cleared).
            const std::uint64_t inverted = ~acc_ & ~((std::uint64_t{1} << (64 - avail_)) - 1);
            if (inverted == 0) {  // every available bit is a one
                ones += avail_;
                avail_ = 0;
                continue;
            }
            const auto run = static_cast<unsigned>(__builtin_clzll(inverted));
            ones += run;
            consume(run + 1);
            return true;
        }
    }
    // `count` (≤ 32) bits as a number; false at the end of the input.
    bool bits(unsigned count, std::uint64_t& v) {
        v = 0;
        while (count > 0) {
            if (avail_ == 0 && !refill()) return false;
            const unsigned take = std::min(count, avail_);
            v = (v << take) | (acc_ >> (64 - take));
            consume(take);
            count -= take;
        }
        return true;
    }

  private:
    // acc_ holds avail_ unread bits at its top.
    bool refill() {
        if (pos_ >= in_.size()) return false;
        acc_ = 0;
        avail_ = 0;
        while (avail_ < 64 && pos_ < in_.size()) {
            acc_ |= static_cast<std::uint64_t>(static_cast<unsigned char>(in_[pos_++]))
                    << (56 - avail_);
            avail_ += 8;
        }
        return true;
    }
    void consume(unsigned n) {
        acc_ = n >= 64 ? 0 : acc_ << n;
        avail_ -= n;
    }
    std::string_view in_;
    std::size_t pos_ = 0;
    std::uint64_t acc_ = 0;
    unsigned avail_ = 0;
};

void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

std::uint32_t get_u32(const unsigned char* p) {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

// ---- subject_hasher -------------------------------------------------------------------------

namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct sip_state {
    std::uint64_t v0, v1, v2, v3;
    void round() {
        v0 += v1;
        v1 = rotl(v1, 13);
        v1 ^= v0;
        v0 = rotl(v0, 32);
        v2 += v3;
        v3 = rotl(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = rotl(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = rotl(v1, 17);
        v1 ^= v2;
        v2 = rotl(v2, 32);
    }
    void absorb(std::uint64_t m) {
        v3 ^= m;
        round();
        round();
        v0 ^= m;
    }
};

}  // namespace

std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1,
                        std::span<const std::string_view> pieces) {
    sip_state s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL,
                k1 ^ 0x7465646279746573ULL};
    std::uint64_t word = 0;
    unsigned filled = 0;  // bytes in `word`
    std::uint64_t total = 0;
    for (std::string_view piece : pieces) {
        total += piece.size();
        const char* p = piece.data();
        std::size_t left = piece.size();
        // Whole little-endian words straight from the piece while `word` is empty.
        while (filled == 0 && left >= 8) {
            std::uint64_t m = 0;
            for (int i = 7; i >= 0; --i) m = (m << 8) | static_cast<unsigned char>(p[i]);
            s.absorb(m);
            p += 8;
            left -= 8;
        }
        for (; left > 0; ++p, --left) {
            word |= static_cast<std::uint64_t>(static_cast<unsigned char>(*p)) << (8 * filled);
            if (++filled == 8) {
                s.absorb(word);
                word = 0;
                filled = 0;
            }
        }
    }
    s.absorb(word | ((total & 0xffu) << 56));
    s.v2 ^= 0xff;
    s.round();
    s.round();
    s.round();
    s.round();
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

subject_hasher::subject_hasher(std::span<const unsigned char> key) {
    static constexpr std::string_view label = "exportwall subject index v1";
    std::array<unsigned char, EVP_MAX_MD_SIZE> k{};
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(label.data()), label.size(), k.data(),
             &len) == nullptr ||
        len < 16)
        crypto_failed();
    for (int i = 7; i >= 0; --i) {
        k0_ = (k0_ << 8) | k[static_cast<std::size_t>(i)];
        k1_ = (k1_ << 8) | k[static_cast<std::size_t>(8 + i)];
    }
    OPENSSL_cleanse(k.data(), k.size());
}

std::uint64_t subject_hasher::digest(std::string_view kind, std::string_view entity,
                                     std::string_view value) const {
    static constexpr char zero[1] = {'\0'};
    const std::array<std::string_view, 5> pieces{kind, std::string_view(zero, 1), entity,
                                                 std::string_view(zero, 1), value};
    return siphash24(k0_, k1_, pieces);
}

std::uint64_t subject_hasher::id_key(std::string_view entity, std::string_view id) const {
    return digest("id", entity, id);
}

std::uint64_t subject_hasher::email_key(std::string_view email) const {
    return digest("email", {}, email);
}

// ---- the coded set --------------------------------------------------------------------------

std::string encode_subject_set(std::vector<std::uint64_t>& hashes, unsigned k) {
    const std::uint64_t range = static_cast<std::uint64_t>(hashes.size()) << k;
    for (auto& h : hashes) h = reduce(h, range);
    std::sort(hashes.begin(), hashes.end());
    std::string out;
    out.reserve(hashes.size() * (k + 2) / 8 + 1);
    bit_writer w(out);
    std::uint64_t previous = 0;
    for (std::uint64_t v : hashes) {
        const std::uint64_t delta = v - previous;
        previous = v;
        w.ones(delta >> k);
        w.bit(false);
        w.bits(delta & ((std::uint64_t{1} << k) - 1), k);
    }
    w.finish();
    return out;
}

bool subject_set_contains(std::string_view payload, std::uint32_t n, unsigned k,
                          std::uint64_t hash) {
    if (n == 0 || k > 32) return false;
    const std::uint64_t target = reduce(hash, static_cast<std::uint64_t>(n) << k);
    bit_reader r(payload);
    std::uint64_t value = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
        std::uint64_t q = 0;
        if (!r.unary(q)) return false;
        std::uint64_t low = 0;
        if (!r.bits(k, low)) return false;
        value += (q << k) | low;
        if (value == target) return true;
        if (value > target) return false;
    }
    return false;
}

// ---- the index file -------------------------------------------------------------------------

std::string subject_index_path(std::string_view audit_path) {
    return std::string(audit_path) + ".subjects";
}

subject_index_file::subject_index_file(std::string path) : path_(std::move(path)) {}

subject_index_file::~subject_index_file() {
    if (fd_ >= 0) ::close(fd_);
}

boost::system::error_code subject_index_file::open() {
    std::lock_guard lock(mutex_);
    if (fd_ >= 0) return {};
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) return {errno, boost::system::system_category()};
    return {};
}

boost::system::error_code subject_index_file::append(std::string_view chunk) {
    std::lock_guard lock(mutex_);
    if (fd_ < 0) {
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd_ < 0) return {errno, boost::system::system_category()};
    }
    const char* p = chunk.data();
    std::size_t left = chunk.size();
    while (left > 0) {
        const ssize_t n = ::write(fd_, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return {errno, boost::system::system_category()};
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    return {};
}

// ---- one export's collector -----------------------------------------------------------------

subject_collector::subject_collector(std::shared_ptr<subject_index_file> file,
                                     std::string_view export_id, unsigned k)
    : file_(std::move(file)), k_(k) {
    for (std::size_t i = 0; i < id_.size() && 2 * i + 1 < export_id.size(); ++i) {
        const int hi = hex_value(export_id[2 * i]);
        const int lo = hex_value(export_id[2 * i + 1]);
        id_[i] = static_cast<unsigned char>(((hi < 0 ? 0 : hi) << 4) | (lo < 0 ? 0 : lo));
    }
}

void subject_collector::add(std::uint64_t digest) {
    if (error_) return;
    pending_.push_back(digest);
    if (pending_.size() >= chunk_capacity) flush();
}

void subject_collector::commit() {
    for (std::uint64_t d : tentative_) add(d);
    tentative_.clear();
}

void subject_collector::flush() {
    if (pending_.empty() || error_) return;
    const auto n = static_cast<std::uint32_t>(pending_.size());
    keys_ += n;
    chunk_.clear();
    chunk_.append(magic);
    chunk_.push_back(static_cast<char>(format_version));
    chunk_.push_back(static_cast<char>(k_));
    chunk_.append(2, '\0');
    chunk_.append(reinterpret_cast<const char*>(id_.data()), id_.size());
    put_u32(chunk_, n);
    const std::string payload = encode_subject_set(pending_, k_);
    put_u32(chunk_, static_cast<std::uint32_t>(payload.size()));
    chunk_.append(payload);
    pending_.clear();
    if (!sha_) {
        sha_ = std::shared_ptr<void>(EVP_MD_CTX_new(), [](void* p) { EVP_MD_CTX_free(as_ctx(p)); });
        if (!sha_ || EVP_DigestInit_ex(as_ctx(sha_.get()), sha256(), nullptr) != 1) crypto_failed();
    }
    if (EVP_DigestUpdate(as_ctx(sha_.get()), chunk_.data(), chunk_.size()) != 1) crypto_failed();
    wrote_ = true;
    error_ = file_->append(chunk_);
}

boost::system::error_code subject_collector::write_pending() {
    flush();
    return error_;
}

std::string subject_collector::digest_hex() const {
    if (!wrote_) return {};
    EVP_MD_CTX* copy = EVP_MD_CTX_new();
    std::array<unsigned char, EVP_MAX_MD_SIZE> d{};
    unsigned int len = 0;
    if (copy == nullptr || EVP_MD_CTX_copy_ex(copy, as_ctx(sha_.get())) != 1 ||
        EVP_DigestFinal_ex(copy, d.data(), &len) != 1) {
        EVP_MD_CTX_free(copy);
        crypto_failed();
    }
    EVP_MD_CTX_free(copy);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(hex[d[i] >> 4]);
        out.push_back(hex[d[i] & 0x0f]);
    }
    return out;
}

// ---- reading back ---------------------------------------------------------------------------

std::string export_id_hex(const std::array<unsigned char, 16>& id) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : id) {
        out.push_back(hex[b >> 4]);
        out.push_back(hex[b & 0x0f]);
    }
    return out;
}

boost::system::error_code for_each_subject_chunk(
    const std::string& path, const std::function<bool(const subject_chunk&)>& visit) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return audit_error::no_log;
        return {errno, boost::system::system_category()};
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        return {e, boost::system::system_category()};
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size == 0) {
        ::close(fd);
        return {};
    }
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) return {errno, boost::system::system_category()};
    ::madvise(map, size, MADV_SEQUENTIAL);
    auto ec =
        for_each_subject_chunk_in(std::string_view(static_cast<const char*>(map), size), visit);
    ::munmap(map, size);
    return ec;
}

boost::system::error_code for_each_subject_chunk_in(
    std::string_view bytes, const std::function<bool(const subject_chunk&)>& visit) {
    const auto* base = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t size = bytes.size();
    std::size_t at = 0;
    while (size - at >= chunk_header_size) {
        const unsigned char* h = base + at;
        if (std::memcmp(h, magic.data(), magic.size()) != 0 || h[4] != format_version || h[5] > 32)
            return audit_error::corrupt_log;
        subject_chunk c;
        c.k = h[5];
        std::memcpy(c.export_id.data(), h + 8, c.export_id.size());
        c.n = get_u32(h + 24);
        const std::uint32_t payload = get_u32(h + 28);
        if (size - at - chunk_header_size < payload) break;  // torn last chunk
        c.payload = bytes.substr(at + chunk_header_size, payload);
        c.bytes = bytes.substr(at, chunk_header_size + payload);
        at += chunk_header_size + payload;
        if (!visit(c)) break;
    }
    return {};
}

boost::system::error_code find_subject_exports(const std::string& path,
                                               std::span<const std::uint64_t> digests,
                                               std::vector<subject_match>& out) {
    out.clear();
    std::vector<std::array<unsigned char, 16>> ids;
    auto ec = for_each_subject_chunk(path, [&](const subject_chunk& c) {
        if (std::find(ids.begin(), ids.end(), c.export_id) != ids.end()) return true;
        for (std::uint64_t d : digests) {
            if (subject_set_contains(c.payload, c.n, c.k, d)) {
                ids.push_back(c.export_id);
                break;
            }
        }
        return true;
    });
    if (ec || ids.empty()) return ec;
    struct hashing {
        std::array<unsigned char, 16> id;
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{nullptr, &EVP_MD_CTX_free};
    };
    std::vector<hashing> states;
    for (const auto& id : ids) {
        hashing h{id, {EVP_MD_CTX_new(), &EVP_MD_CTX_free}};
        if (!h.ctx || EVP_DigestInit_ex(h.ctx.get(), sha256(), nullptr) != 1) crypto_failed();
        states.push_back(std::move(h));
    }
    ec = for_each_subject_chunk(path, [&](const subject_chunk& c) {
        for (auto& h : states) {
            if (h.id != c.export_id) continue;
            if (EVP_DigestUpdate(h.ctx.get(), c.bytes.data(), c.bytes.size()) != 1) crypto_failed();
            break;
        }
        return true;
    });
    if (ec) return ec;
    static constexpr char hex[] = "0123456789abcdef";
    for (auto& h : states) {
        std::array<unsigned char, EVP_MAX_MD_SIZE> d{};
        unsigned int len = 0;
        if (EVP_DigestFinal_ex(h.ctx.get(), d.data(), &len) != 1) crypto_failed();
        subject_match m;
        m.export_id = export_id_hex(h.id);
        for (unsigned int i = 0; i < len; ++i) {
            m.chunks_sha256.push_back(hex[d[i] >> 4]);
            m.chunks_sha256.push_back(hex[d[i] & 0x0f]);
        }
        out.push_back(std::move(m));
    }
    return {};
}

}  // namespace exportwall::audit
