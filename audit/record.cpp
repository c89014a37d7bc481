#include "audit/record.hpp"

#include <openssl/rand.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <stdexcept>

namespace exportwall::audit {

std::string new_record_id() {
    // One RAND_bytes call (OpenSSL 3: a provider dispatch and the DRBG's lock) costs more than
    // the rest of an export's id; each thread draws 4 KiB at once and hands out 16 bytes at a
    // time, each used once. exportwall does not fork, so no two processes share a buffer.
    struct random_pool {
        std::array<unsigned char, 4096> bytes{};
        std::size_t used = sizeof(bytes);
    };
    thread_local random_pool pool;
    constexpr std::size_t id_bytes = 16;
    if (pool.used + id_bytes > pool.bytes.size()) {
        if (RAND_bytes(pool.bytes.data(), static_cast<int>(pool.bytes.size())) != 1) {
            // Without randomness no id is unguessable; the caller's request fails closed.
            throw std::runtime_error("RAND_bytes failed");
        }
        pool.used = 0;
    }
    const unsigned char* bytes = pool.bytes.data() + pool.used;
    pool.used += id_bytes;
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(2 * id_bytes, '0');
    for (std::size_t i = 0; i < id_bytes; ++i) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 0x0f];
    }
    return out;
}

namespace {

bool replica_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

}  // namespace

bool is_replica_name(std::string_view name) {
    if (name.empty() || name.size() > max_replica_name) return false;
    for (char c : name)
        if (!replica_char(c)) return false;
    return true;
}

std::string default_replica_name() {
    std::string source;
    for (const char* var : {"EXPORTWALL_REPLICA", "HOSTNAME"}) {
        const char* v = std::getenv(var);
        if (v != nullptr && *v != '\0') {
            source = v;
            break;
        }
    }
    if (source.empty()) {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) == 0) source = host;
    }
    std::string out;
    for (char c : source) {
        if (out.size() >= max_replica_name) break;
        out.push_back(replica_char(c) ? c : '-');
    }
    return out.empty() ? "exportwall" : out;
}

}  // namespace exportwall::audit
