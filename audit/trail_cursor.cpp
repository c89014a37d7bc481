#include "audit/trail_cursor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <optional>

#include "audit/reader.hpp"

namespace exportwall::audit {

namespace {

// Reads [off, off + out.size()); false when the file is shorter (truncated meanwhile) or
// unreadable.
bool pread_exact(int fd, std::string& out, std::uint64_t off) {
    std::size_t done = 0;
    while (done < out.size()) {
        const auto r =
            ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        done += static_cast<std::size_t>(r);
    }
    return true;
}

// The seq of a file's first line (0: empty, unreadable or not a record).
std::uint64_t first_line_seq(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[40] = {};
    ssize_t n = 0;
    do {
        n = ::pread(fd, buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    ::close(fd);
    constexpr std::string_view prefix = "{\"seq\":";
    const std::string_view s(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    if (s.substr(0, prefix.size()) != prefix) return 0;
    std::uint64_t v = 0;
    const auto res = std::from_chars(s.data() + prefix.size(), s.data() + s.size(), v);
    return res.ec == std::errc{} && res.ptr < s.data() + s.size() && *res.ptr == ',' ? v : 0;
}

}  // namespace

// The line that ends just before `offset` (its '\n' at offset - 1), without the '\n'.
std::optional<std::string> line_ending_at(int fd, std::uint64_t offset) {
    if (offset == 0) return std::nullopt;
    std::string tail;
    for (std::uint64_t want = 4096;; want *= 2) {
        const std::uint64_t n = want < offset ? want : offset;
        tail.assign(static_cast<std::size_t>(n), '\0');
        if (!pread_exact(fd, tail, offset - n) || tail.back() != '\n') return std::nullopt;
        const auto nl = tail.size() >= 2 ? tail.rfind('\n', tail.size() - 2) : std::string::npos;
        if (nl == std::string::npos && n < offset) continue;
        const std::size_t start = nl == std::string::npos ? 0 : nl + 1;
        return tail.substr(start, tail.size() - 1 - start);
    }
}

trail_cursor::trail_cursor(std::string active_path, std::function<committed_position()> committed)
    : active_path_(std::move(active_path)), committed_(std::move(committed)) {}

trail_cursor::~trail_cursor() { close(); }

void trail_cursor::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    device_ = inode_ = 0;
}

bool trail_cursor::open(const std::string& path, std::uint64_t first_seq, std::uint64_t offset) {
    close();
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return false;
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
        close();
        return false;
    }
    device_ = static_cast<std::uint64_t>(st.st_dev);
    inode_ = static_cast<std::uint64_t>(st.st_ino);
    pos_.file_first_seq = first_seq;
    pos_.offset = offset;
    return true;
}

bool trail_cursor::rotated_away() const {
    struct stat st {};
    if (::stat(active_path_.c_str(), &st) != 0) return true;  // renamed, the new one not yet made
    return static_cast<std::uint64_t>(st.st_dev) != device_ ||
           static_cast<std::uint64_t>(st.st_ino) != inode_;
}

std::uint64_t trail_cursor::readable_limit(std::uint64_t size) const {
    if (!committed_) return size;
    const committed_position c = committed_();
    if (c.inode == inode_ && c.device == device_) return c.offset < size ? c.offset : size;
    // The writer has not published this file as its active one yet (it is opening it): nothing
    // in it is committed. A rotated file was committed whole before it was renamed.
    return rotated_away() ? size : 0;
}

bool trail_cursor::advance() {
    const auto files = find_log_files(active_path_);
    if (fd_ < 0) {
        if (files.empty()) return false;
        const log_file& f = files.front();
        return open(f.path, f.active ? 0 : f.first_seq, 0);
    }
    auto same = [&](const log_file& f) {
        struct stat st {};
        return ::stat(f.path.c_str(), &st) == 0 &&
               static_cast<std::uint64_t>(st.st_dev) == device_ &&
               static_cast<std::uint64_t>(st.st_ino) == inode_;
    };
    const log_file* next = nullptr;
    if (pos_.file_first_seq != 0) {
        for (const auto& f : files) {
            if (!f.active && f.first_seq > pos_.file_first_seq) {
                next = &f;
                break;
            }
        }
        if (next == nullptr && !files.empty() && files.back().active && !same(files.back()))
            next = &files.back();
    } else {
        // The open file never showed a line: find it by identity.
        for (std::size_t i = 0; i < files.size(); ++i) {
            if (same(files[i])) {
                if (i + 1 < files.size()) next = &files[i + 1];
                break;
            }
        }
    }
    if (next == nullptr) return false;
    const std::string path = next->path;
    return open(path, next->active ? 0 : next->first_seq, 0);
}

std::size_t trail_cursor::read(std::size_t max_bytes, const line_handler& each,
                               boost::system::error_code& ec) {
    ec = {};
    if (max_bytes == 0) max_bytes = 1;
    // Passes the whole lines of the open file below `limit`; how many.
    auto pass_lines = [&](std::uint64_t limit) -> std::size_t {
        if (pos_.offset >= limit) return 0;
        const std::uint64_t avail = limit - pos_.offset;
        std::uint64_t want = avail < max_bytes ? avail : max_bytes;
        std::size_t last_nl = std::string::npos;
        for (;;) {
            buf_.resize(static_cast<std::size_t>(want));
            if (!pread_exact(fd_, buf_, pos_.offset)) return 0;
            last_nl = buf_.rfind('\n');
            if (last_nl != std::string::npos) break;
            if (want == avail) return 0;  // no whole line yet
            want = want * 2 < avail ? want * 2 : avail;
        }
        std::size_t n = 0;
        std::size_t start = 0;
        const std::string_view all(buf_.data(), last_nl + 1);
        while (start < all.size()) {
            const std::size_t nl = all.find('\n', start);
            const std::string_view line = all.substr(start, nl - start);
            const bool first_of_file = pos_.offset == 0;
            pos_.offset += line.size() + 1;
            if (const auto head = read_line_head(line)) {
                if (first_of_file && pos_.file_first_seq == 0) pos_.file_first_seq = head->seq;
                pos_.seq = head->seq;
                pos_.hash.assign(head->hash);
            }
            each(line, pos_);
            ++n;
            start = nl + 1;
        }
        return n;
    };
    for (int hop = 0; hop < 16; ++hop) {
        if (fd_ < 0 && !advance()) return 0;
        struct stat st {};
        if (::fstat(fd_, &st) != 0) {
            ec = {errno, boost::system::system_category()};
            return 0;
        }
        if (const auto n = pass_lines(readable_limit(static_cast<std::uint64_t>(st.st_size))))
            return n;
        if (!rotated_away()) return 0;  // the active file: wait for the writer
        // Rotated: the writer wrote every line of it before renaming it.
        if (::fstat(fd_, &st) != 0) {
            ec = {errno, boost::system::system_category()};
            return 0;
        }
        if (const auto n = pass_lines(static_cast<std::uint64_t>(st.st_size))) return n;
        if (!advance()) return 0;  // no newer file yet
    }
    return 0;
}

std::string trail_cursor::seek(const trail_position& p) {
    close();
    pos_ = {};
    if (p == trail_position{}) return {};
    const auto files = find_log_files(active_path_);
    // The file p names, holding the line p names just before p.offset.
    if (p.file_first_seq != 0) {
        for (const auto& f : files) {
            const std::uint64_t first = f.active ? first_line_seq(f.path) : f.first_seq;
            if (first != p.file_first_seq) continue;
            if (open(f.path, first, p.offset)) {
                const auto line = line_ending_at(fd_, p.offset);
                const auto head = line ? read_line_head(*line) : std::nullopt;
                if (head && head->seq == p.seq && head->hash == p.hash) {
                    pos_ = p;
                    return {};
                }
            }
            close();
            break;
        }
    }
    // The line p names, wherever it is now.
    std::uint64_t oldest = 0, newest = 0;
    bool other_hash = false;
    for (const auto& f : files) {
        const int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        std::uint64_t first = f.active ? 0 : f.first_seq;
        std::uint64_t offset = 0;
        std::string carry;
        char chunk[65536];
        bool found = false;
        for (;;) {
            const auto n = ::read(fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            carry.append(chunk, static_cast<std::size_t>(n));
            std::size_t start = 0;
            for (auto nl = carry.find('\n'); nl != std::string::npos;
                 nl = carry.find('\n', start)) {
                const std::string_view line(carry.data() + start, nl - start);
                offset += line.size() + 1;
                start = nl + 1;
                const auto head = read_line_head(line);
                if (!head) continue;
                if (first == 0) first = head->seq;
                if (oldest == 0) oldest = head->seq;
                newest = head->seq;
                if (head->seq != p.seq) continue;
                if (head->hash != p.hash) {
                    other_hash = true;
                    break;
                }
                found = true;
                break;
            }
            if (found || other_hash) break;
            carry.erase(0, start);
        }
        ::close(fd);
        if (found && open(f.path, first, offset)) {
            pos_ = {first, offset, p.seq, p.hash};
            return "resumed after seq " + std::to_string(p.seq) + ", found in " + f.path;
        }
        if (other_hash) break;
    }
    pos_ = {};
    const std::string at = "the position after seq " + std::to_string(p.seq);
    if (other_hash)
        return at +
               " names a record this trail holds with another hash (another trail): "
               "starting at the start of the trail";
    if (oldest > p.seq)
        return at + " was pruned: starting at the oldest record, seq " + std::to_string(oldest);
    if (newest < p.seq)
        return at + " is past the end of the trail (another trail): starting at its start";
    return at + " was not found: starting at the start of the trail";
}

}  // namespace exportwall::audit
