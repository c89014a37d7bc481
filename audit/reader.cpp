#include "audit/reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>

#include <boost/json/parser.hpp>

#include "audit/serialize.hpp"

namespace exportwall::audit {

namespace {

namespace fs = std::filesystem;

// Closes a descriptor when it leaves scope.
struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

// "<stem>-YYYYMMDDTHHMMSSZ-<firstseq>.jsonl" → firstseq.
std::optional<std::uint64_t> rotated_first_seq(std::string_view name, std::string_view stem) {
    constexpr std::string_view ext = ".jsonl";
    if (name.size() < stem.size() + 1 + 16 + 1 + 1 + ext.size()) return std::nullopt;
    if (name.substr(0, stem.size()) != stem || name[stem.size()] != '-') return std::nullopt;
    if (name.substr(name.size() - ext.size()) != ext) return std::nullopt;
    std::string_view rest =
        name.substr(stem.size() + 1, name.size() - stem.size() - 1 - ext.size());
    if (rest.size() < 18 || rest[8] != 'T' || rest[15] != 'Z' || rest[16] != '-')
        return std::nullopt;
    for (std::size_t i = 0; i < 15; ++i)
        if (i != 8 && (rest[i] < '0' || rest[i] > '9')) return std::nullopt;
    std::string_view num = rest.substr(17);
    std::uint64_t v = 0;
    auto res = std::from_chars(num.data(), num.data() + num.size(), v);
    if (res.ec != std::errc{} || res.ptr != num.data() + num.size()) return std::nullopt;
    return v;
}

bool in_list(const std::vector<std::string>& list, const std::string& v) {
    return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        out = out * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return true;
}

bool is_hex64(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// The seq at the start of a line, if the line starts like an audit record.
std::optional<std::uint64_t> leading_seq(std::string_view line) {
    constexpr std::string_view prefix = "{\"seq\":";
    if (line.substr(0, prefix.size()) != prefix) return std::nullopt;
    std::uint64_t v = 0;
    const char* b = line.data() + prefix.size();
    const char* e = line.data() + line.size();
    auto res = std::from_chars(b, e, v);
    if (res.ec != std::errc{} || res.ptr == b || res.ptr == e || *res.ptr != ',')
        return std::nullopt;
    return v;
}

// Calls f(file, line_number, line, terminated) for every line of every file of the trail.
// Buffered read(), not mmap: the writer may truncate the active file (after a failed write)
// while the proxy reads it, and a mapping would turn that into SIGBUS.
template <class F>
boost::system::error_code scan_lines(const std::vector<log_file>& files, F&& f,
                                     std::uint64_t& bytes) {
    std::string buf(std::size_t{4} << 20, '\0');
    for (const auto& file : files) {
        const fd_guard in{::open(file.path.c_str(), O_RDONLY | O_CLOEXEC)};
        if (in.fd < 0) return {errno, boost::system::system_category()};
        ::posix_fadvise(in.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        std::size_t have = 0;
        std::uint64_t line_no = 0;
        for (;;) {
            if (have == buf.size()) buf.resize(buf.size() * 2);  // a line longer than the buffer
            const auto n = ::read(in.fd, buf.data() + have, buf.size() - have);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return {errno, boost::system::system_category()};
            if (n == 0) {
                if (have > 0 && !f(file, ++line_no, std::string_view(buf.data(), have), false))
                    return {};
                break;
            }
            bytes += static_cast<std::uint64_t>(n);
            have += static_cast<std::size_t>(n);
            const std::string_view all(buf.data(), have);
            std::size_t start = 0;
            for (auto nl = all.find('\n'); nl != std::string_view::npos;
                 nl = all.find('\n', start)) {
                if (!f(file, ++line_no, all.substr(start, nl - start), true)) return {};
                start = nl + 1;
            }
            std::memmove(buf.data(), buf.data() + start, have - start);
            have -= start;
        }
    }
    return {};
}

}  // namespace

std::vector<log_file> find_log_files(const std::string& active_path) {
    std::vector<log_file> out;
    const fs::path active(active_path);
    fs::path dir = active.parent_path();
    if (dir.empty()) dir = ".";
    const std::string stem = active.stem().string();
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (auto seq = rotated_first_seq(name, stem)) {
            out.push_back({it->path().string(), *seq, false});
        }
    }
    std::sort(out.begin(), out.end(),
              [](const log_file& a, const log_file& b) { return a.first_seq < b.first_seq; });
    if (fs::exists(active, ec)) out.push_back({active_path, 0, true});
    return out;
}

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
    unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) ||
        s[7] != '-' || !digits(s, 8, 2, d))
        return std::nullopt;
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
    std::int64_t ms = days_from_civil(y, mo, d) * 86400000;
    if (s.size() == 10) return ms;  // a date alone: its midnight UTC
    if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) || s.size() < 19 ||
        s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec))
        return std::nullopt;
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
    ms += (static_cast<std::int64_t>(h) * 3600 + mi * 60 + sec) * 1000;
    std::size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        std::int64_t frac = 0;
        int n = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            if (n < 3) frac = frac * 10 + (s[pos] - '0');
            ++n;
            ++pos;
        }
        if (n == 0) return std::nullopt;
        for (int k = n; k < 3; ++k) frac *= 10;
        ms += frac;
    }
    if (pos >= s.size()) return std::nullopt;
    if (s[pos] == 'Z' || s[pos] == 'z')
        return pos + 1 == s.size() ? std::optional(ms) : std::nullopt;
    if (s[pos] != '+' && s[pos] != '-') return std::nullopt;
    unsigned oh = 0, om = 0;
    if (pos + 6 != s.size() || !digits(s, pos + 1, 2, oh) || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om))
        return std::nullopt;
    const std::int64_t off = (static_cast<std::int64_t>(oh) * 60 + om) * 60000;
    return s[pos] == '+' ? ms - off : ms + off;
}

std::vector<std::string> split_list(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        const auto c = s.find(',');
        std::string_view item = s.substr(0, c);
        if (!item.empty()) out.emplace_back(item);
        if (c == std::string_view::npos) break;
        s.remove_prefix(c + 1);
    }
    return out;
}

bool record_filter::matches(const record& r) const {
    if (!in_list(decision, r.decision) || !in_list(reason, r.reason) ||
        !in_list(client, r.client) || !in_list(purpose, r.purpose) ||
        !in_list(destination, r.destination))
        return false;
    if (since_ms || until_ms) {
        const auto t = parse_rfc3339(r.time);
        if (!t) return false;
        if (since_ms && *t < *since_ms) return false;
        if (until_ms && *t >= *until_ms) return false;
    }
    return true;
}

boost::system::error_code for_each_record(const std::string& active_path,
                                          const record_filter& filter,
                                          const std::function<bool(const record&)>& visit) {
    const auto files = find_log_files(active_path);
    if (files.empty()) return make_error_code(audit_error::no_log);
    boost::json::parser parser;
    record r;
    std::uint64_t bytes = 0;
    return scan_lines(
        files,
        [&](const log_file&, std::uint64_t, std::string_view line, bool terminated) {
            if (!terminated) return true;
            if (parse_line(line, parser, r)) return true;
            if (!filter.matches(r)) return true;
            return visit(r);
        },
        bytes);
}

std::string_view to_string(chain_problem p) {
    switch (p) {
        case chain_problem::none:
            return "intact";
        case chain_problem::hash_mismatch:
            return "hash mismatch (record edited)";
        case chain_problem::prev_hash_mismatch:
            return "prev_hash mismatch (record inserted or replaced)";
        case chain_problem::seq_gap:
            return "seq gap (records missing)";
        case chain_problem::duplicate:
            return "duplicate seq";
        case chain_problem::reordered:
            return "records out of order";
        case chain_problem::unparsable:
            return "unparsable line";
        case chain_problem::truncated:
            return "file truncated mid-line";
        case chain_problem::no_log:
            return "no audit log found";
        case chain_problem::io_error:
            return "audit log unreadable";
    }
    return "unknown";
}

std::string verify_result::detail() const {
    if (ok) {
        return "chain intact: " + std::to_string(records) + " records, last seq " +
               std::to_string(last_seq);
    }
    if (problem == chain_problem::no_log || problem == chain_problem::io_error) {
        return std::string(to_string(problem)) + (file.empty() ? "" : " (" + file + ")");
    }
    return "chain broken at seq " + std::to_string(first_broken_seq) + ": " +
           std::string(to_string(problem)) + " (" + file + " line " + std::to_string(line) + ")";
}

verify_result verify_chain(const std::string& active_path, bool live) {
    verify_result res;
    const auto files = find_log_files(active_path);
    if (files.empty()) {
        res.problem = chain_problem::no_log;
        res.file = active_path;
        return res;
    }
    chain_hasher hasher;
    std::string last_hash(genesis_hash);
    std::uint64_t last_seq = 0;
    // After a seq above the expected one: does the expected seq turn up later (reordered) or
    // never (gap)? Only scanned once a break was found.
    bool looking_for_missing = false;
    std::uint64_t missing = 0;
    bool missing_found = false;

    auto fail = [&](chain_problem p, std::uint64_t seq, const log_file& f, std::uint64_t line) {
        res.problem = p;
        res.first_broken_seq = seq;
        res.file = f.path;
        res.line = line;
    };

    const auto ec = scan_lines(
        files,
        [&](const log_file& f, std::uint64_t line_no, std::string_view line, bool terminated) {
            if (looking_for_missing) {
                if (auto s = leading_seq(line); s && *s == missing) {
                    missing_found = true;
                    return false;
                }
                return true;
            }
            const std::uint64_t expected = last_seq + 1;
            if (!terminated && live && f.active) return false;  // the writer is mid-line
            if (!terminated) {
                fail(chain_problem::truncated, expected, f, line_no);
                return false;
            }
            const auto seq = leading_seq(line);
            const std::size_t n = line.size();
            constexpr std::string_view hash_key = ",\"hash\":\"";
            constexpr std::string_view prev_key = ",\"prev_hash\":\"";
            if (!seq || n < hash_suffix_size + prev_key.size() + 65 ||
                line.substr(n - hash_suffix_size, hash_key.size()) != hash_key ||
                line.substr(n - 2) != "\"}" || line[n - hash_suffix_size - 1] != '"' ||
                line.substr(n - hash_suffix_size - 65 - prev_key.size(), prev_key.size()) !=
                    prev_key) {
                fail(chain_problem::unparsable, expected, f, line_no);
                return false;
            }
            const std::string_view hash = line.substr(n - 66, 64);
            const std::string_view prev = line.substr(n - hash_suffix_size - 65, 64);
            if (!is_hex64(hash) || !is_hex64(prev)) {
                fail(chain_problem::unparsable, expected, f, line_no);
                return false;
            }
            if (*seq != expected) {
                if (*seq == last_seq) {
                    fail(chain_problem::duplicate, *seq, f, line_no);
                } else if (*seq < expected) {
                    fail(chain_problem::reordered, *seq, f, line_no);
                } else {
                    fail(chain_problem::seq_gap, expected, f, line_no);
                    looking_for_missing = true;
                    missing = expected;
                    return true;
                }
                return false;
            }
            if (prev != last_hash) {
                fail(chain_problem::prev_hash_mismatch, *seq, f, line_no);
                return false;
            }
            const std::string computed =
                hasher.hash(prev, line.substr(0, n - hash_suffix_size), "}");
            if (computed != hash) {
                fail(chain_problem::hash_mismatch, *seq, f, line_no);
                return false;
            }
            last_hash.assign(hash);
            last_seq = *seq;
            ++res.records;
            return true;
        },
        res.bytes);
    if (ec) {
        res = verify_result{};
        res.problem = chain_problem::io_error;
        return res;
    }
    if (looking_for_missing && missing_found) res.problem = chain_problem::reordered;
    res.ok = res.problem == chain_problem::none;
    if (res.ok) {
        res.last_seq = last_seq;
        res.last_hash = last_hash;
    }
    return res;
}

}  // namespace exportwall::audit
