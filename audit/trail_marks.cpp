#include "audit/trail_marks.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <vector>

namespace exportwall::audit {

namespace {

constexpr std::string_view state_magic = "exportwall-syslog-state";
constexpr std::string_view anchor_magic = "exportwall-audit-pruned";

boost::system::error_code last_errno() { return {errno, boost::system::system_category()}; }

// The words of one line separated by single spaces; nullopt when the text is not one line of
// printable words (a trailing '\n' allowed).
std::optional<std::vector<std::string_view>> words_of(std::string_view text) {
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    if (text.empty() || text.size() > 512) return std::nullopt;
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == ' ') {
            if (i == start) return std::nullopt;  // an empty word: two spaces, or one at an end
            out.push_back(text.substr(start, i - start));
            start = i + 1;
            continue;
        }
        const auto c = static_cast<unsigned char>(text[i]);
        if (c <= ' ' || c >= 0x7f) return std::nullopt;
    }
    return out;
}

bool decimal(std::string_view s, std::uint64_t& out) {
    if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
    const auto res = std::from_chars(s.data(), s.data() + s.size(), out);
    return res.ec == std::errc{} && res.ptr == s.data() + s.size();
}

bool hex64(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

std::string syslog_state_path(std::string_view trail_path) {
    return std::string(trail_path) + ".syslog-state";
}

std::string pruned_anchor_path(std::string_view trail_path) {
    return std::string(trail_path) + ".pruned";
}

std::string format_syslog_state(const trail_position& p) {
    return std::string(state_magic) + " 1 " + std::to_string(p.file_first_seq) + " " +
           std::to_string(p.offset) + " " + std::to_string(p.seq) + " " +
           (p.hash.empty() ? std::string("-") : p.hash) + "\n";
}

std::optional<trail_position> parse_syslog_state(std::string_view text) {
    const auto w = words_of(text);
    if (!w || w->size() != 6 || (*w)[0] != state_magic || (*w)[1] != "1") return std::nullopt;
    trail_position p;
    if (!decimal((*w)[2], p.file_first_seq) || !decimal((*w)[3], p.offset) ||
        !decimal((*w)[4], p.seq))
        return std::nullopt;
    const std::string_view hash = (*w)[5];
    if (hash == "-") {
        if (p.seq != 0) return std::nullopt;  // a line before the position has a hash
    } else {
        if (!hex64(hash) || p.seq == 0) return std::nullopt;
        p.hash = std::string(hash);
    }
    // A position after a line lies in a file with lines, past its first.
    if (p.seq != 0 && (p.file_first_seq == 0 || p.offset == 0 || p.file_first_seq > p.seq))
        return std::nullopt;
    return p;
}

std::string format_pruned_anchor(const pruned_anchor& a) {
    return std::string(anchor_magic) + " 1 " + std::to_string(a.through_seq) + " " + a.hash + "\n";
}

std::optional<pruned_anchor> parse_pruned_anchor(std::string_view text) {
    const auto w = words_of(text);
    if (!w || w->size() != 4 || (*w)[0] != anchor_magic || (*w)[1] != "1") return std::nullopt;
    pruned_anchor a;
    if (!decimal((*w)[2], a.through_seq) || a.through_seq == 0 || !hex64((*w)[3]))
        return std::nullopt;
    a.hash = std::string((*w)[3]);
    return a;
}

boost::system::error_code replace_file(const std::string& path, std::string_view bytes) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return last_errno();
    std::size_t done = 0;
    boost::system::error_code ec;
    while (done < bytes.size()) {
        const auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ec = n < 0 ? last_errno()
                       : boost::system::errc::make_error_code(boost::system::errc::io_error);
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    if (!ec && ::fsync(fd) != 0) ec = last_errno();
    ::close(fd);
    if (!ec && ::rename(tmp.c_str(), path.c_str()) != 0) ec = last_errno();
    if (ec) {
        (void)::unlink(tmp.c_str());
        return ec;
    }
    std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (dir.empty()) dir = ".";
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

std::optional<std::string> read_small_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out;
    char buf[4096];
    for (;;) {
        const auto n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            return std::nullopt;
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > sizeof buf) break;  // no file of ours is this long
    }
    ::close(fd);
    return out;
}

}  // namespace exportwall::audit
