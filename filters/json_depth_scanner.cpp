#include "filters/json_depth_scanner.hpp"

#include <bit>
#include <cstring>

namespace exportwall::filters {
namespace {

// The first '"' or '\\' in [p, end), or end. Eight bytes at a time where the layout allows
// (strings are most of an export, so this loop is most of the scanner's time).
const char* next_quote_or_backslash(const char* p, const char* end) {
    if constexpr (std::endian::native == std::endian::little) {
        constexpr std::uint64_t ones = 0x0101010101010101ULL;
        constexpr std::uint64_t highs = 0x8080808080808080ULL;
        while (end - p >= 8) {
            std::uint64_t w = 0;
            std::memcpy(&w, p, 8);
            const std::uint64_t q = w ^ (ones * '"');
            const std::uint64_t b = w ^ (ones * '\\');
            // A byte of q or b is zero where w has the character; the lowest flagged byte is
            // exact (borrows only flag bytes above a real match).
            const std::uint64_t hit = (((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
            if (hit != 0) return p + std::countr_zero(hit) / 8;
            p += 8;
        }
    }
    while (p < end && *p != '"' && *p != '\\') ++p;
    return p;
}

}  // namespace

void json_depth_scanner::scan(std::string_view bytes, std::uint64_t offset,
                              std::vector<std::uint64_t>& marks) {
    const char* const begin = bytes.data();
    const char* const end = begin + bytes.size();
    const char* p = begin;
    while (p < end) {
        if (in_string_) {
            if (escaped_) {
                escaped_ = false;
                ++p;
                continue;
            }
            p = next_quote_or_backslash(p, end);
            if (p == end) break;
            if (*p == '\\') {
                escaped_ = true;
            } else {
                in_string_ = false;
            }
            ++p;
            continue;
        }
        switch (*p) {
            case '"':
                in_string_ = true;
                break;
            case '{':
            case '[':
                if (++depth_ == target_)
                    marks.push_back(offset + static_cast<std::uint64_t>(p - begin));
                break;
            case '}':
            case ']':
                if (depth_ == target_)
                    marks.push_back(offset + static_cast<std::uint64_t>(p - begin));
                if (depth_ > 0) --depth_;
                break;
            default:
                break;
        }
        ++p;
    }
}

}  // namespace exportwall::filters
