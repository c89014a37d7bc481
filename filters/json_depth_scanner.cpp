#include "filters/json_depth_scanner.hpp"

namespace exportwall::filters {

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
            while (p < end && *p != '"' && *p != '\\') ++p;
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
