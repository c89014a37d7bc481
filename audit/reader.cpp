#include "audit/reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include <boost/json/parser.hpp>

#include "audit/serialize.hpp"
#include "audit/trail_marks.hpp"

namespace exportwall::audit {

namespace {

namespace fs = std::filesystem;

// Closes a descriptor when it leaves scope.
struct fd_guard {  // a copy would close the descriptor twice
    int fd;
    explicit fd_guard(int d) : fd(d) {}
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
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

// Branch-free so the compiler vectorises it: verify runs it twice per line.
bool is_hex64(std::string_view s) {
    if (s.size() != 64) return false;
    unsigned ok = 1;
    for (std::size_t i = 0; i < 64; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        const unsigned digit = static_cast<unsigned char>(c - '0') < 10 ? 1u : 0u;
        const unsigned lower = static_cast<unsigned char>(c - 'a') < 6 ? 1u : 0u;
        ok &= digit | lower;
    }
    return ok != 0;
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

// Whether the decision member of a line reads "checkpoint". A '"' inside a JSON string is always
// escaped, so the first `,"decision":"` of a line is the member itself.
bool is_checkpoint_line(std::string_view line) {
    constexpr std::string_view key = ",\"decision\":\"";
    constexpr std::string_view value = "checkpoint\"";
    const auto at = line.find(key);
    return at != std::string_view::npos && line.substr(at + key.size(), value.size()) == value;
}

// Calls f(file, line_number, line, terminated) for every line of every file of the trail; f
// returns false to stop. Buffered read(), not mmap: the writer may truncate the active file
// (after a failed write) while the proxy reads it, and a mapping would turn that into SIGBUS.
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

std::optional<line_head> read_line_head(std::string_view line) {
    const auto seq = leading_seq(line);
    const std::size_t n = line.size();
    constexpr std::string_view hash_key = ",\"hash\":\"";
    if (!seq || n < hash_suffix_size + 8 ||
        line.substr(n - hash_suffix_size, hash_key.size()) != hash_key ||
        line.substr(n - 2) != "\"}")
        return std::nullopt;
    const std::string_view hash = line.substr(n - 66, 64);
    if (!is_hex64(hash)) return std::nullopt;
    return line_head{*seq, hash};
}

std::string_view read_line_replica(std::string_view line) {
    // `{"seq":N,"id":"…","replica":"…"`: the member is looked for right after the id only, so a
    // map key "replica" later in a line that names no replica is never taken for it.
    constexpr std::string_view id_key = ",\"id\":\"";
    constexpr std::string_view key = ",\"replica\":\"";
    const auto id_at = line.find(id_key);
    if (id_at == std::string_view::npos || !leading_seq(line) ||
        line.substr(0, id_at).find('"', 6) != std::string_view::npos)
        return {};  // the id is not the member after seq
    std::size_t end = id_at + id_key.size();
    while (end < line.size() && line[end] != '"') end += line[end] == '\\' ? 2u : 1u;
    if (end >= line.size() || line.substr(end + 1, key.size()) != key) return {};
    const std::size_t begin = end + 1 + key.size();
    const auto close = line.find('"', begin);
    if (close == std::string_view::npos) return {};
    return line.substr(begin, close - begin);
}

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

bool set_period(record_filter& f, std::string_view since, std::string_view until,
                std::string& error) {
    if (!since.empty() && !(f.since_ms = parse_rfc3339(since))) {
        error = "--since is not an RFC 3339 date-time or date";
        return false;
    }
    if (!until.empty() && !(f.until_ms = parse_rfc3339(until))) {
        error = "--until is not an RFC 3339 date-time or date";
        return false;
    }
    return true;
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
        !in_list(destination, r.destination) || !in_list(id, r.id))
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
    const std::pair<std::string_view, const std::vector<std::string>*> lists[] = {
        {",\"id\":\"", &filter.id},           {",\"decision\":\"", &filter.decision},
        {",\"reason\":\"", &filter.reason},   {",\"client\":\"", &filter.client},
        {",\"purpose\":\"", &filter.purpose}, {",\"destination\":\"", &filter.destination}};
    return scan_lines(
        files,
        [&](const log_file&, std::uint64_t, std::string_view line, bool terminated) {
            if (!terminated) return true;
            // Most lines of a filtered review do not match: decide on the raw member before
            // paying for a full parse. A '"' inside a JSON string is always escaped, so the first
            // `,"decision":"` of a line is the member itself; a value holding an escape goes
            // through the parser.
            for (const auto& [key, list] : lists) {
                if (list->empty()) continue;
                const auto at = line.find(key);
                if (at == std::string_view::npos) return true;  // not a record: parse would skip
                const auto begin = at + key.size();
                const auto end = line.find('"', begin);
                if (end == std::string_view::npos) return true;
                const std::string_view value = line.substr(begin, end - begin);
                if (value.find('\\') != std::string_view::npos) continue;
                if (std::find(list->begin(), list->end(), value) == list->end()) return true;
            }
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
        std::string out = "chain intact: " + std::to_string(records) + " records, last seq " +
                          std::to_string(last_seq);
        if (pruned_through != 0)
            out += " (from seq " + std::to_string(first_seq) + ": seq 1 to " +
                   std::to_string(pruned_through) + " pruned by retention)";
        return out;
    }
    if (problem == chain_problem::no_log || problem == chain_problem::io_error) {
        return std::string(to_string(problem)) + (file.empty() ? "" : " (" + file + ")");
    }
    return "chain broken at seq " + std::to_string(first_broken_seq) + ": " +
           std::string(to_string(problem)) + " (" + file + " line " + std::to_string(line) + ")";
}

namespace {

// A line whose seq and prev_hash were checked and whose hash is still to be recomputed.
struct pending_hash {
    std::string_view canonical_head;  // the line without its hash member and closing brace
    std::string_view prev;            // its prev_hash (64 hex)
    std::string_view hash;            // its hash (64 hex)
    std::uint64_t seq = 0;
    const log_file* file = nullptr;
    std::uint64_t line_no = 0;
};

// Index of the first line whose recomputed hash differs from its own, or lines.size().
std::size_t first_mismatch(chain_hasher& hasher, const std::vector<pending_hash>& lines) {
    char computed[64];
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const auto& p = lines[i];
        hasher.hash_hex(p.prev, p.canonical_head, "}", computed);
        if (std::memcmp(computed, p.hash.data(), sizeof computed) != 0) return i;
    }
    return lines.size();
}

// Recomputes line hashes on worker threads while the reading thread checks seq and prev_hash
// links in order. Each line's hash depends only on its own bytes (its prev_hash is in the line),
// so blocks are hashed in any order; the threads meet only at a bounded queue, never in lock
// step, so a busy machine that schedules one of them late does not stall the others.
class hash_pipeline {
  public:
    // A read chunk and the lines in it that wait for their hash.
    struct block {
        std::shared_ptr<std::string> bytes;  // what the views in `lines` point into
        std::vector<pending_hash> lines;
    };

    explicit hash_pipeline(unsigned workers) {
        try {
            for (unsigned i = 0; i < workers; ++i) threads_.emplace_back([this] { run(); });
        } catch (const std::system_error&) {
            // Fewer threads than asked (or none): push() hashes inline when there are none.
        }
    }
    ~hash_pipeline() { (void)finish(); }
    hash_pipeline(const hash_pipeline&) = delete;
    hash_pipeline& operator=(const hash_pipeline&) = delete;

    // A buffer for the next read (recycled from hashed blocks when possible).
    std::shared_ptr<std::string> acquire() {
        std::lock_guard lock(mutex_);
        if (free_.empty()) return std::make_shared<std::string>();
        auto b = std::move(free_.back());
        free_.pop_back();
        return b;
    }
    void release(std::shared_ptr<std::string> bytes) {
        std::lock_guard lock(mutex_);
        if (free_.size() < max_queued + 2) free_.push_back(std::move(bytes));
    }

    // Queues `b` (waits while the queue is full). False once an edited line was found: the
    // caller may stop reading.
    bool push(block b) {
        if (threads_.empty()) {
            inline_hasher_.emplace();
            const std::size_t bad = first_mismatch(*inline_hasher_, b.lines);
            std::lock_guard lock(mutex_);
            record(results_.size(), b, bad);
            return !found_;
        }
        std::unique_lock lock(mutex_);
        space_.wait(lock, [&] { return queue_.size() < max_queued || found_; });
        if (found_) return false;
        const std::size_t index = results_.size();
        results_.emplace_back();
        queue_.emplace_back(index, std::move(b));
        work_.notify_one();
        return true;
    }

    // The first line whose hash is wrong, in file order, once every queued block is hashed;
    // `hashed_ok` counts the lines before it (all of them when there is none).
    std::optional<pending_hash> finish(std::uint64_t* hashed_ok = nullptr) {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        work_.notify_all();
        for (auto& t : threads_) t.join();
        threads_.clear();
        std::uint64_t ok = 0;
        for (const auto& r : results_) {
            if (r.bad < r.lines) {
                if (hashed_ok != nullptr) *hashed_ok = ok + r.bad;
                return r.first_bad;
            }
            ok += r.lines;
        }
        if (hashed_ok != nullptr) *hashed_ok = ok;
        return std::nullopt;
    }

  private:
    struct result {
        std::size_t lines = 0;
        std::size_t bad = 0;  // index of the first wrong line, or `lines`
        pending_hash first_bad;
    };
    static constexpr std::size_t max_queued = 4;

    void record(std::size_t index, const block& b, std::size_t bad) {
        if (index >= results_.size()) results_.resize(index + 1);
        results_[index] = {b.lines.size(), bad,
                           bad < b.lines.size() ? b.lines[bad] : pending_hash{}};
        found_ = found_ || bad < b.lines.size();
    }

    void run() {
        chain_hasher hasher;
        for (;;) {
            std::pair<std::size_t, block> job;
            {
                std::unique_lock lock(mutex_);
                work_.wait(lock, [&] { return closed_ || !queue_.empty(); });
                if (queue_.empty()) return;
                job = std::move(queue_.front());
                queue_.pop_front();
            }
            space_.notify_one();
            // After an edit was found nothing later can be the first failure: skip the work.
            const bool skip = [&] {
                std::lock_guard lock(mutex_);
                return found_;
            }();
            const std::size_t bad =
                skip ? job.second.lines.size() : first_mismatch(hasher, job.second.lines);
            {
                std::lock_guard lock(mutex_);
                record(job.first, job.second, bad);
            }
            space_.notify_one();
            auto bytes = std::move(job.second.bytes);
            job.second.lines.clear();
            if (bytes.use_count() == 1) release(std::move(bytes));
        }
    }

    std::mutex mutex_;
    std::condition_variable work_, space_;
    std::deque<std::pair<std::size_t, block>> queue_;
    std::vector<result> results_;  // by block index, in file order
    std::vector<std::shared_ptr<std::string>> free_;
    bool closed_ = false;
    bool found_ = false;  // some block holds an edited line
    std::vector<std::thread> threads_;
    std::optional<chain_hasher> inline_hasher_;
};

// The seq, prev_hash and hash of a line shaped like an audit record: it starts with its seq and
// ends with its prev_hash and hash members, each 64 lower-case hex digits.
struct chain_link {
    std::uint64_t seq = 0;
    std::string_view prev;
    std::string_view hash;
};

std::optional<chain_link> read_chain_link(std::string_view line) {
    const auto seq = leading_seq(line);
    const std::size_t n = line.size();
    constexpr std::string_view hash_key = ",\"hash\":\"";
    constexpr std::string_view prev_key = ",\"prev_hash\":\"";
    if (!seq || n < hash_suffix_size + prev_key.size() + 65 ||
        line.substr(n - hash_suffix_size, hash_key.size()) != hash_key ||
        line.substr(n - 2) != "\"}" || line[n - hash_suffix_size - 1] != '"' ||
        line.substr(n - hash_suffix_size - 65 - prev_key.size(), prev_key.size()) != prev_key)
        return std::nullopt;
    const std::string_view hash = line.substr(n - 66, 64);
    const std::string_view prev = line.substr(n - hash_suffix_size - 65, 64);
    if (!is_hex64(hash) || !is_hex64(prev)) return std::nullopt;
    return chain_link{*seq, prev, hash};
}

// Where a line is: its file and its line number (from 1) in that file.
struct line_at {
    const log_file& file;
    std::uint64_t line_no = 0;
};

// One verification of a trail: reads its files in order and checks each line's seq and
// prev_hash link on this thread, while a hash_pipeline recomputes the lines' hashes.
class chain_verifier {
  public:
    chain_verifier(std::optional<pruned_anchor> anchor, bool live,
                   std::vector<std::string>* checkpoint_lines)
        : anchor_(std::move(anchor)),
          live_(live),
          checkpoint_lines_(checkpoint_lines),
          hashing_(hashing_threads()) {}

    // Reads the files until the last one ends or a failure (or an edited line) ends the scan;
    // the error of a file that cannot be read.
    [[nodiscard]] boost::system::error_code read_trail(const std::vector<log_file>& files) {
        for (const auto& file : files) {
            if (stopped_) break;
            if (const auto ec = read_file(file)) return ec;
        }
        return {};
    }

    // The verdict once read_trail returned `ec`.
    [[nodiscard]] verify_result conclude(boost::system::error_code ec) {
        if (ec) {
            verify_result unreadable;
            unreadable.problem = chain_problem::io_error;
            return unreadable;
        }
        if (res_.problem == chain_problem::none) {
            (void)earlier_edit();  // the chain is whole unless a line was edited
        }
        if (looking_for_missing_ && missing_found_) res_.problem = chain_problem::reordered;
        res_.ok = res_.problem == chain_problem::none;
        if (res_.ok) {
            res_.last_seq = last_seq_;
            res_.last_hash = last_hash_;
        }
        return std::move(res_);
    }

  private:
    static unsigned hashing_threads() {
        const unsigned cores = std::thread::hardware_concurrency();
        return cores <= 1 ? 1 : cores > 4 ? 4 : cores;
    }

    // Buffered read(), not mmap: the writer may truncate the active file (after a failed write)
    // while the proxy reads it, and a mapping would turn that into SIGBUS. Each read goes into
    // a buffer of its own that stays alive until its lines are hashed.
    [[nodiscard]] boost::system::error_code read_file(const log_file& file) {
        constexpr std::size_t chunk = std::size_t{4} << 20;
        const fd_guard in{::open(file.path.c_str(), O_RDONLY | O_CLOEXEC)};
        if (in.fd < 0) return {errno, boost::system::system_category()};
        ::posix_fadvise(in.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        std::uint64_t line_no = 0;
        carry_.clear();
        while (!stopped_) {
            auto bytes = hashing_.acquire();
            std::string& buf = *bytes;
            const std::size_t want = std::max(chunk, carry_.size() * 2);
            if (buf.size() < want) buf.resize(want);
            std::memcpy(buf.data(), carry_.data(), carry_.size());
            const std::size_t have_before = carry_.size();
            const auto n = ::read(in.fd, buf.data() + have_before, buf.size() - have_before);
            if (n < 0 && errno == EINTR) {
                hashing_.release(std::move(bytes));
                continue;
            }
            if (n < 0) return {errno, boost::system::system_category()};
            const std::size_t have = have_before + static_cast<std::size_t>(n);
            res_.bytes += static_cast<std::uint64_t>(n);
            const bool go_on =
                check_lines(file, line_no, std::string_view(buf.data(), have), n == 0);
            if (!current_.lines.empty()) {
                current_.bytes = std::move(bytes);
                push_current();
            } else {
                hashing_.release(std::move(bytes));
            }
            if (!go_on) stopped_ = true;
            if (n == 0) break;
        }
        return {};
    }

    // Checks the lines of `all` (the carry of the last read, then this read's bytes) up to the
    // last newline, or all of it at the end of the file (`at_end`: a last line without its
    // newline). What follows the last newline is carried to the next read. False stops the scan.
    bool check_lines(const log_file& file, std::uint64_t& line_no, std::string_view all,
                     bool at_end) {
        std::size_t start = 0;
        bool go_on = true;
        if (at_end) {
            if (!all.empty()) go_on = check(file, ++line_no, all, false);
            start = all.size();
        } else {
            for (auto nl = all.find('\n'); nl != std::string_view::npos && go_on;
                 nl = all.find('\n', start)) {
                go_on = check(file, ++line_no, all.substr(start, nl - start), true);
                start = nl + 1;
            }
        }
        if (go_on) carry_.assign(all.substr(start));
        return go_on;
    }

    // Checks one line; false stops the scan.
    bool check(const log_file& f, std::uint64_t line_no, std::string_view line, bool terminated) {
        if (looking_for_missing_) {
            if (auto s = leading_seq(line); s && *s == missing_) {
                missing_found_ = true;
                return false;
            }
            return true;
        }
        const line_at at{f, line_no};
        std::uint64_t expected = last_seq_ + 1;
        if (!terminated && live_ && f.active) {  // the writer is mid-line: the chain so far
            (void)earlier_edit();
            return false;
        }
        if (!terminated) {
            fail_here(chain_problem::truncated, expected, at);
            return false;
        }
        const auto link = read_chain_link(line);
        if (!link) {
            fail_here(chain_problem::unparsable, expected, at);
            return false;
        }
        if (res_.first_seq == 0 && !start_chain(*link, line, at, expected)) return false;
        if (link->seq != expected) return out_of_sequence(link->seq, expected, at);
        if (link->prev != last_hash_) {
            fail_here(chain_problem::prev_hash_mismatch, link->seq, at);
            return false;
        }
        return extend_chain(*link, line, at);
    }

    // The first record: seq 1 over the genesis hash or, after retention pruned the oldest
    // files, one the pruning anchor accounts for (its seq at most one past the anchor's), which
    // then sets the seq `expected`. False stops the scan.
    bool start_chain(const chain_link& link, std::string_view line, const line_at& at,
                     std::uint64_t& expected) {
        res_.first_seq = link.seq;
        res_.replica = std::string(read_line_replica(line));
        if (link.seq != 1 && anchor_ && link.seq <= anchor_->through_seq + 1) {
            if (link.seq == anchor_->through_seq + 1 && link.prev != anchor_->hash) {
                fail_here(chain_problem::prev_hash_mismatch, link.seq, at);
                return false;
            }
            last_seq_ = link.seq - 1;
            last_hash_.assign(link.prev);
            expected = link.seq;
            res_.pruned_through = anchor_->through_seq;
        }
        return true;
    }

    // A seq other than the expected one: a duplicate, a reordering or a gap. After a gap the
    // scan goes on to learn whether the missing seq turns up later (reordered) or never.
    bool out_of_sequence(std::uint64_t seq, std::uint64_t expected, const line_at& at) {
        if (seq == last_seq_) {
            fail_here(chain_problem::duplicate, seq, at);
        } else if (seq < expected) {
            fail_here(chain_problem::reordered, seq, at);
        } else {
            fail_here(chain_problem::seq_gap, expected, at);
            if (res_.problem != chain_problem::seq_gap) return false;
            looking_for_missing_ = true;
            missing_ = expected;
            return true;
        }
        return false;
    }

    // A line whose seq and prev_hash link are right: its hash goes to the pipeline.
    bool extend_chain(const chain_link& link, std::string_view line, const line_at& at) {
        current_.lines.push_back({line.substr(0, line.size() - hash_suffix_size), link.prev,
                                  link.hash, link.seq, &at.file, at.line_no});
        if (checkpoint_lines_ != nullptr && is_checkpoint_line(line))
            checkpoint_lines_->emplace_back(line);
        // A trail that starts before the anchor's record must hold it with the anchor's hash.
        if (res_.pruned_through == link.seq && link.hash != anchor_->hash) {
            fail_here(chain_problem::prev_hash_mismatch, link.seq, at);
            return false;
        }
        // The next line must name this line's hash as written; whether it is the right hash is
        // known once the pipeline has hashed it, before any later failure is reported.
        last_hash_.assign(link.hash);
        last_seq_ = link.seq;
        return true;
    }

    void fail(chain_problem p, std::uint64_t seq, const log_file& f, std::uint64_t line) {
        res_.problem = p;
        res_.first_broken_seq = seq;
        res_.file = f.path;
        res_.line = line;
    }

    // Every failure of a line is reported only if no line before it was edited.
    void fail_here(chain_problem p, std::uint64_t seq, const line_at& at) {
        if (!earlier_edit()) fail(p, seq, at.file, at.line_no);
    }

    void push_current() {
        if (current_.lines.empty()) return;
        if (!hashing_.push(std::move(current_))) stopped_ = true;
        current_ = {};
    }

    // Waits for every line read so far to be hashed; true (and the failure set) when one of
    // them was edited.
    bool earlier_edit() {
        push_current();
        std::uint64_t ok = 0;
        const auto bad = hashing_.finish(&ok);
        res_.records = ok;
        if (bad) fail(chain_problem::hash_mismatch, bad->seq, *bad->file, bad->line_no);
        return bad.has_value();
    }

    verify_result res_;
    std::optional<pruned_anchor> anchor_;
    bool live_;
    std::vector<std::string>* checkpoint_lines_;
    hash_pipeline hashing_;
    hash_pipeline::block current_;
    std::string last_hash_{genesis_hash};
    std::uint64_t last_seq_ = 0;
    // After a seq above the expected one: does the expected seq turn up later (reordered) or
    // never (gap)? Only scanned once a break was found.
    bool looking_for_missing_ = false;
    std::uint64_t missing_ = 0;
    bool missing_found_ = false;
    bool stopped_ = false;  // a failure (or an edited line) ends the scan
    std::string carry_;     // the start of a line continued by the next read
};

}  // namespace

verify_result verify_chain(const std::string& active_path, bool live,
                           std::vector<std::string>* checkpoint_lines) {
    const auto files = find_log_files(active_path);
    if (files.empty()) {
        verify_result res;
        res.problem = chain_problem::no_log;
        res.file = active_path;
        return res;
    }
    std::optional<pruned_anchor> anchor;
    if (const auto text = read_small_file(pruned_anchor_path(active_path)))
        anchor = parse_pruned_anchor(*text);
    chain_verifier verifier(std::move(anchor), live, checkpoint_lines);
    const auto ec = verifier.read_trail(files);
    return verifier.conclude(ec);
}

}  // namespace exportwall::audit
