// exportwall-filter-file: runs one export filter over a file or stdin, as the proxy's relay would
// (64 KiB chunks in, filtered bytes out), and reports on stderr what it cost: bytes, records,
// CPU time (user + system), wall time and peak resident memory (VmHWM). For side-by-side
// comparisons with jq (bench/filters/compare-jq) and for peak-memory checks on inputs too large
// to hold (exportwall-generate ... | exportwall-filter-file ...).
//
//   exportwall-filter-file --format json|ndjson|csv|xml [--records PTR] [--keep a,b,c]
//       [--require FIELD=true]... [--link PTR]... [--field-root PATH] [--max-record-bytes N]
//       [--output FILE] [--max-peak-mib N] [--mode filter|boost-parse|boost-sax|xml-expat] [FILE|-]
//
// --mode boost-parse reads the whole input and parses it into a Boost.JSON DOM (parse-only
// floor); boost-sax streams it through basic_parser with a handler that does nothing; xml-expat
// runs the XML filter with expat reading every byte (no fast path: the reference). Exit 0 when
// the filter accepted the export (and the peak stayed under --max-peak-mib), 1 when the filter
// refused it, 2 on a usage or I/O error, 3 when the peak exceeded the bound. Field values are
// never printed.

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include "bench/json/null_json_handler.hpp"
#include "filters/record_filter.hpp"
#include "filters/xml/xml_filter.hpp"

namespace {

namespace ew = exportwall::filters;
constexpr std::size_t chunk_bytes = 64 * 1024;

struct options {
    ew::filter_spec spec;
    std::string mode = "filter";
    std::string input = "-";
    std::string output;  // "" : discard
    std::uint64_t max_peak_mib = 0;
};

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> parts;
    while (!s.empty()) {
        const std::size_t at = s.find(sep);
        parts.emplace_back(s.substr(0, at));
        if (at == std::string_view::npos) break;
        s.remove_prefix(at + 1);
    }
    return parts;
}

// Thrown with the usage text's reason; main() prints the usage and exits with 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] void usage(const char* message) { throw usage_error(message); }

void print_usage(const char* message) {
    std::fprintf(stderr,
                 "exportwall-filter-file: %s\nusage: exportwall-filter-file --format "
                 "json|ndjson|csv|xml [--records PTR] [--keep a,b,c] [--require FIELD=true]... "
                 "[--link PTR]... [--field-root PATH] [--max-record-bytes N] [--output FILE] "
                 "[--max-peak-mib N] "
                 "[--mode filter|boost-parse|boost-sax|xml-expat] [FILE|-]\n",
                 message);
}

options parse_args(int argc, char** argv) {
    options o;
    std::vector<std::string> keep;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc) usage("option needs a value");
            return argv[++i];
        };
        if (a == "--format") {
            const std::string_view f = value();
            if (f == "json") {
                o.spec.format = ew::body_format::json;
            } else if (f == "ndjson") {
                o.spec.format = ew::body_format::ndjson;
            } else if (f == "csv") {
                o.spec.format = ew::body_format::csv;
            } else if (f == "xml") {
                o.spec.format = ew::body_format::xml;
            } else {
                usage("unknown format");
            }
        } else if (a == "--records") {
            o.spec.records = value();
        } else if (a == "--keep") {
            keep = split(value(), ',');
        } else if (a == "--require") {
            // FIELD=true: the consent-style condition; FIELD=VALUE: equality.
            const std::string_view r = value();
            const std::size_t eq = r.find('=');
            if (eq == std::string_view::npos) usage("--require needs FIELD=VALUE");
            ew::record_condition c;
            c.field = std::string(r.substr(0, eq));
            const std::string_view v = r.substr(eq + 1);
            if (v == "true") {
                c.op = ew::condition_op::is_true;
                c.reason = ew::drop_reason::no_consent;
            } else {
                c.op = ew::condition_op::equals;
                c.values.emplace_back(v);
            }
            o.spec.rules.conditions.push_back(std::move(c));
        } else if (a == "--link") {
            // A pagination link field, rewritten to itself (the proxy maps it to its public URL).
            o.spec.link_fields.emplace_back(value());
            o.spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
                return std::string(url);
            };
        } else if (a == "--field-root") {
            o.spec.field_root = value();
        } else if (a == "--max-record-bytes") {
            o.spec.max_record_bytes = std::strtoull(std::string(value()).c_str(), nullptr, 10);
        } else if (a == "--output") {
            o.output = value();
        } else if (a == "--max-peak-mib") {
            o.max_peak_mib = std::strtoull(std::string(value()).c_str(), nullptr, 10);
        } else if (a == "--mode") {
            o.mode = value();
            if (o.mode != "filter" && o.mode != "boost-parse" && o.mode != "boost-sax" &&
                o.mode != "xml-expat") {
                usage("unknown mode");
            }
        } else if (a == "--help" || a == "-h") {
            usage("help");
        } else if (!a.empty() && a[0] == '-' && a != "-") {
            usage("unknown option");
        } else {
            o.input = a;
        }
    }
    o.spec.allowed = ew::field_set(std::move(keep));
    return o;
}

// Peak resident set size of this process, in KiB (VmHWM).
std::uint64_t peak_kib() {
    std::FILE* f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) return 0;
    char line[256];
    std::uint64_t kib = 0;
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::strncmp(line, "VmHWM:", 6) == 0) kib = std::strtoull(line + 6, nullptr, 10);
    }
    std::fclose(f);
    return kib;
}

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto s = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return s(ru.ru_utime) + s(ru.ru_stime);
}

// Reads the input chunk by chunk; false at the end. A regular file is mapped and read in place,
// as a file tool (and jq's own reader) would, so the comparison is not about copying pages out of
// the page cache; pages already filtered are let go, so the resident set stays that of the filter.
// stdin and pipes are read with fread.
class chunk_reader {
  public:
    explicit chunk_reader(const std::string& path)
        : file_(path == "-" ? stdin : std::fopen(path.c_str(), "rb")), buf_(chunk_bytes) {
        if (file_ == nullptr || file_ == stdin) return;
        struct stat st {};
        if (fstat(fileno(file_), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return;
        void* m = mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE,
                       fileno(file_), 0);
        if (m == MAP_FAILED) return;
        map_ = static_cast<const char*>(m);
        map_size_ = static_cast<std::size_t>(st.st_size);
        madvise(m, map_size_, MADV_SEQUENTIAL);
    }
    ~chunk_reader() {
        if (map_ != nullptr) munmap(const_cast<char*>(map_), map_size_);
        if (file_ != nullptr && file_ != stdin) std::fclose(file_);
    }
    chunk_reader(const chunk_reader&) = delete;
    chunk_reader& operator=(const chunk_reader&) = delete;
    [[nodiscard]] bool ok() const { return file_ != nullptr; }
    bool next(std::string_view& chunk) {
        if (map_ != nullptr) return next_mapped(chunk);
        const std::size_t n = std::fread(buf_.data(), 1, buf_.size(), file_);
        chunk = std::string_view(buf_.data(), n);
        return n != 0;
    }

  private:
    static constexpr std::size_t release_bytes = 1024 * 1024;

    bool next_mapped(std::string_view& chunk) {
        // The previous chunk has been consumed: whole windows behind it are released.
        if (at_ - released_ >= 2 * release_bytes) {
            madvise(const_cast<char*>(map_) + released_, release_bytes, MADV_DONTNEED);
            released_ += release_bytes;
        }
        const std::size_t n = std::min(chunk_bytes, map_size_ - at_);
        chunk = std::string_view(map_ + at_, n);
        at_ += n;
        return n != 0;
    }

    std::FILE* file_;
    std::vector<char> buf_;
    const char* map_ = nullptr;
    std::size_t map_size_ = 0;
    std::size_t at_ = 0;
    std::size_t released_ = 0;
};

using null_handler = exportwall::bench::null_json_handler;

struct run_result {
    bool accepted = true;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t records_in = 0;
    std::uint64_t records_out = 0;
    std::string error;
};

run_result run_filter(const options& o, chunk_reader& in, std::FILE* out) {
    run_result r;
    auto filter = o.mode == "xml-expat" ? ew::make_xml_filter(o.spec, ew::xml_path::expat)
                                        : ew::make_filter(o.spec);
    std::string produced;
    produced.reserve(2 * chunk_bytes);
    std::string_view chunk;
    boost::system::error_code ec;
    while (!ec && in.next(chunk)) {
        produced.clear();
        ec = filter->feed(chunk, produced);
        if (out != nullptr) std::fwrite(produced.data(), 1, produced.size(), out);
    }
    if (!ec) {
        produced.clear();
        ec = filter->finish(produced);
        if (out != nullptr) std::fwrite(produced.data(), 1, produced.size(), out);
    }
    const ew::filter_counters& c = filter->counters();
    r.accepted = !ec;
    r.error = ec ? ec.message() : "";
    r.bytes_in = c.bytes_in;
    r.bytes_out = c.bytes_out;
    r.records_in = c.records_in;
    r.records_out = c.records_out;
    return r;
}

run_result run_boost_sax(chunk_reader& in) {
    run_result r;
    boost::json::basic_parser<null_handler> p(boost::json::parse_options{});
    boost::system::error_code ec;
    std::string_view chunk;
    while (!ec && in.next(chunk)) {
        r.bytes_in += chunk.size();
        p.write_some(true, chunk.data(), chunk.size(), ec);
    }
    if (!ec) p.write_some(false, nullptr, 0, ec);
    r.accepted = !ec;
    r.error = ec ? ec.message() : "";
    return r;
}

run_result run_boost_parse(chunk_reader& in) {
    run_result r;
    std::string body;
    std::string_view chunk;
    while (in.next(chunk)) body.append(chunk);
    r.bytes_in = body.size();
    boost::json::monotonic_resource arena;
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec, &arena);
    r.accepted = !ec && !v.is_null();
    r.error = ec ? ec.message() : "";
    return r;
}

}  // namespace

int run(int argc, char** argv) {
    const options o = parse_args(argc, argv);
    chunk_reader in(o.input);
    if (!in.ok()) usage("cannot open the input");
    std::FILE* out = nullptr;
    if (!o.output.empty()) {
        out = std::fopen(o.output.c_str(), "wb");
        if (out == nullptr) usage("cannot open the output");
    }
    const double cpu0 = cpu_seconds();
    const auto wall0 = std::chrono::steady_clock::now();
    run_result r = o.mode == "boost-sax"     ? run_boost_sax(in)
                   : o.mode == "boost-parse" ? run_boost_parse(in)
                                             : run_filter(o, in, out);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    const double cpu = cpu_seconds() - cpu0;
    if (out != nullptr) std::fclose(out);
    const std::uint64_t peak = peak_kib();
    const double mb = static_cast<double>(r.bytes_in) / 1e6;
    // One machine-readable line (key=value), for scripts.
    std::fprintf(
        stderr,
        "mode=%s accepted=%d bytes_in=%llu bytes_out=%llu records_in=%llu "
        "records_out=%llu cpu_s=%.3f wall_s=%.3f cpu_mb_s=%.1f wall_mb_s=%.1f "
        "peak_kib=%llu%s%s\n",
        o.mode.c_str(), r.accepted ? 1 : 0, static_cast<unsigned long long>(r.bytes_in),
        static_cast<unsigned long long>(r.bytes_out), static_cast<unsigned long long>(r.records_in),
        static_cast<unsigned long long>(r.records_out), cpu, wall, cpu > 0 ? mb / cpu : 0.0,
        wall > 0 ? mb / wall : 0.0, static_cast<unsigned long long>(peak),
        r.accepted ? "" : " error=", r.error.c_str());
    if (!r.accepted) return 1;
    if (o.max_peak_mib != 0 && peak > o.max_peak_mib * 1024) return 3;
    return 0;
}

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const usage_error& e) {
        print_usage(e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exportwall-filter-file: %s\n", e.what());
        return 1;
    }
}
