#include "audit/record.hpp"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace exportwall::audit {

std::string new_record_id() {
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        // Without randomness no id is unguessable; the caller's request fails closed.
        throw std::runtime_error("RAND_bytes failed");
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(32);
    for (unsigned char b : bytes) {
        out.push_back(hex[b >> 4]);
        out.push_back(hex[b & 0x0f]);
    }
    return out;
}

}  // namespace exportwall::audit
