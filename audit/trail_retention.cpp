#include "audit/trail_retention.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <vector>

#include "audit/reader.hpp"
#include "audit/serialize.hpp"
#include "audit/trail_cursor.hpp"
#include "audit/trail_marks.hpp"

namespace exportwall::audit {

namespace {

boost::system::error_code last_errno() { return {errno, boost::system::system_category()}; }

// The seq and hash of the last line of a rotated file (which always ends in '\n').
std::optional<std::pair<std::uint64_t, std::string>> last_record_of(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::optional<std::pair<std::uint64_t, std::string>> out;
    struct stat st {};
    const std::uint64_t size = ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
    if (auto line = line_ending_at(fd, size)) {
        if (const auto head = read_line_head(*line)) out.emplace(head->seq, std::string(head->hash));
    }
    ::close(fd);
    return out;
}

}  // namespace

prune_result prune_trail(const std::string& active_path, const retention_policy& policy,
                         std::uint64_t shipped_before, std::time_t now) {
    prune_result res;
    if (!policy.enabled()) return res;
    struct entry {
        log_file file;
        std::uint64_t size = 0;
        std::time_t mtime = 0;
    };
    std::vector<entry> rotated;
    std::uint64_t total = 0;
    for (auto& f : find_log_files(active_path)) {
        struct stat st {};
        if (::stat(f.path.c_str(), &st) != 0) continue;  // rotated or pruned meanwhile
        total += static_cast<std::uint64_t>(st.st_size);
        if (!f.active)
            rotated.push_back({std::move(f), static_cast<std::uint64_t>(st.st_size), st.st_mtime});
    }
    const std::time_t oldest_kept =
        policy.keep_days != 0 ? now - static_cast<std::time_t>(policy.keep_days) * 86400 : 0;
    auto over_budget = [&](const entry& e) {
        return (policy.keep_bytes != 0 && total > policy.keep_bytes) ||
               (policy.keep_days != 0 && e.mtime < oldest_kept);
    };
    std::size_t i = 0;
    for (; i < rotated.size() && over_budget(rotated[i]); ++i) {
        const entry& e = rotated[i];
        if (e.file.first_seq >= shipped_before) break;
        const auto last = last_record_of(e.file.path);
        if (!last) {
            res.error = make_error_code(audit_error::corrupt_log);
            return res;
        }
        if (auto ec = replace_file(pruned_anchor_path(active_path),
                                   format_pruned_anchor({last->first, last->second}))) {
            res.error = ec;
            return res;
        }
        if (::unlink(e.file.path.c_str()) != 0 && errno != ENOENT) {
            res.error = last_errno();
            return res;
        }
        total -= e.size;
        res.files_removed++;
        res.bytes_removed += e.size;
    }
    // What stays over the budget only because it is not shipped yet.
    for (; i < rotated.size() && over_budget(rotated[i]); ++i) {
        total -= rotated[i].size;
        res.files_kept_unshipped++;
    }
    return res;
}

}  // namespace exportwall::audit
