#include "tests/support/llhttp_samples.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace exportwall::test {

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(s.size());
    std::size_t pos = 0;
    while (true) {
        const auto hit = s.find(from, pos);
        out.append(s, pos, hit == std::string::npos ? std::string::npos : hit - pos);
        if (hit == std::string::npos) break;
        out.append(to);
        pos = hit + from.size();
    }
    s = std::move(out);
}

void append_code_point(std::string& out, unsigned long cp) {
    // JavaScript String.fromCharCode: codes up to 0xFF stand for one byte in these tests.
    if (cp <= 0xff) {
        out.push_back(static_cast<char>(cp));
    } else if (cp <= 0x7ff) {
        out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
        out.push_back(static_cast<char>(0xe0 | ((cp >> 12) & 0x0f)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
}

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// "\xHH…" (as many hex digits as follow) and "\ooo" (1 to 3 octal digits), in two passes as
// md-test.ts applies them.
std::string replace_hex_escapes(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 2 < s.size() && s[i + 1] == 'x' && is_hex(s[i + 2])) {
            std::size_t j = i + 2;
            while (j < s.size() && is_hex(s[j])) ++j;
            append_code_point(out, std::stoul(s.substr(i + 2, j - i - 2), nullptr, 16));
            i = j - 1;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::string replace_octal_escapes(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7') {
            std::size_t j = i + 1;
            while (j < s.size() && j < i + 4 && s[j] >= '0' && s[j] <= '7') ++j;
            append_code_point(out, std::stoul(s.substr(i + 1, j - i - 1), nullptr, 8));
            i = j - 1;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::string meta_type(std::string_view line) {
    const auto key = line.find("\"type\"");
    if (key == std::string_view::npos) return {};
    const auto open = line.find('"', line.find(':', key) + 1);
    const auto close = line.find('"', open + 1);
    if (open == std::string_view::npos || close == std::string_view::npos) return {};
    return std::string(line.substr(open + 1, close - open - 1));
}

}  // namespace

bool llhttp_sample::accepted_by_llhttp() const {
    return (type == "request" || type == "request-only") &&
           log.find(" error code=") == std::string::npos;
}

std::string llhttp_block_to_bytes(std::string block) {
    if (!block.empty() && block.back() == '\n') block.pop_back();  // the trailing newline
    replace_all(block, "\\\r\n", "");                              // escaped newlines
    replace_all(block, "\\\r", "");
    replace_all(block, "\\\n", "");
    replace_all(block, "\r\n", "\n");  // every newline becomes CRLF
    replace_all(block, "\r", "\n");
    replace_all(block, "\n", "\r\n");
    replace_all(block, "\\r", "\r");
    replace_all(block, "\\n", "\n");
    replace_all(block, "\\t", "\t");
    replace_all(block, "\\f", "\f");
    return replace_octal_escapes(replace_hex_escapes(block));
}

std::vector<llhttp_sample> load_llhttp_samples(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::vector<llhttp_sample> samples;
    llhttp_sample current;
    bool have_http = false;
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("## ", 0) == 0) {
            current = {};
            have_http = false;
            current.title = line.substr(3);
        } else if (line.rfind("<!-- meta=", 0) == 0) {
            current.type = meta_type(line);
        } else if (line == "```http" || line == "```log") {
            const bool is_http = line == "```http";
            std::string block;
            while (std::getline(in, line) && line != "```") block += line + "\n";
            if (is_http) {
                current.uses_javascript = block.find("${") != std::string::npos;
                current.raw = llhttp_block_to_bytes(std::move(block));
                have_http = true;
            } else if (have_http) {
                current.log = std::move(block);
                samples.push_back(current);
                have_http = false;
            }
        }
    }
    return samples;
}

}  // namespace exportwall::test
