#include "filters/json/json_filter.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>

#include "filters/json/json_rewriter.hpp"
#include "filters/json/text.hpp"
#include "filters/json/json_depth_scanner.hpp"
#include "filters/json/json_record_parser.hpp"

// The JSON and NDJSON filters: Boost.JSON's basic_parser drives json_rewriter
// (filters/json/json_rewriter.hpp, which says how the filtering works); records that lie whole in
// the bytes at hand go to json_record_parser instead (the fast path).

namespace exportwall::filters::json_detail {

// Input is parsed in slices so the depth scanner's marks stay small whatever the caller's chunk.
constexpr std::size_t slice_bytes = 16 * 1024;

// Maps what basic_parser (or the handler) reported to the filter's reasons. `end_of_body`: the
// parser was told the input ended and given no new bytes, so any syntax error it reports (an
// unfinished number or literal included) means the body stopped early.
error_code to_filter_error(const error_code& ec, bool end_of_body) {
    if (ec.category() == filter_category()) return ec;
    if (end_of_body) return filter_error::truncated;
    if (ec == boost::json::error::too_deep) return filter_error::too_deep;
    return filter_error::malformed;
}

boost::json::parse_options parse_options_for(const filter_spec& spec) {
    boost::json::parse_options opt;
    opt.max_depth = spec.max_depth;
    opt.allow_comments = false;
    opt.allow_trailing_commas = false;
    opt.allow_invalid_utf8 = false;
    return opt;
}

// What basic_parser and the scanner read at a time where a run of guessed records may begin
// (json_filter::scan_and_write): a record or two.
constexpr std::size_t guess_piece_bytes = 1024;

constexpr char no_bytes[] = "";
constexpr char stand_in_record[] = "{}";

// The containers json_record_parser may open for one record (its recursion), or 0 when the
// records sit too deep for the fast path: basic_parser then parses every byte.
constexpr std::size_t max_fast_depth = 256;
std::size_t fast_depth(const filter_spec& spec, std::size_t record_depth) {
    if (spec.max_depth > max_fast_depth || record_depth > spec.max_depth) return 0;
    return spec.max_depth - record_depth + 1;
}

// counters().stripped_fields of a main filter, brought up to date when it is read rather than
// after every feed(): the walk over the stripped names (json_rewriter::report_stripped) runs once
// an export instead of once a piece, since the relay reads progress() while the export runs and
// counters() only for the audit record. `due` is set by every feed() and finish().
struct lazy_stripped_report {
    json_rewriter* handler;
    mutable bool due = false;
    [[nodiscard]] const filter_counters& read() const {
        if (due) {
            due = false;
            handler->report_stripped();
        }
        return handler->counters();
    }
};

// A JSON document whose records sit at spec.records.
class json_filter final : public record_filter {
  public:
    explicit json_filter(filter_spec spec, nested_options options = {},
                         json_path path = json_path::fast,
                         std::unique_ptr<filter_memory> memory = nullptr)
        : parser_(parse_options_for(spec), std::move(spec), false, std::move(options),
                  std::move(memory)),
          scanner_(parser_.handler().record_depth()),
          records_(parser_.handler()),
          fast_depth_(path == json_path::fast
                          ? fast_depth(parser_.handler().spec(), parser_.handler().record_depth())
                          : 0),
          guess_(fast_depth_ != 0 && parser_.handler().can_guess()) {}

    // Ready for another document, path caches kept (a nested set's filter, between records).
    void reset() {
        parser_.reset();
        parser_.handler().reset_document();
        scanner_ = json_depth_scanner(parser_.handler().record_depth());
        offset_ = 0;
        run_ready_ = false;
        in_tail_ = false;
        piece_ = guess_piece_bytes;
        error_ = {};
    }
    filter_counters& mutable_counters() { return parser_.handler().counters(); }

    error_code feed(std::string_view in, std::string& out) override {
        if (error_) return error_;
        auto& h = parser_.handler();
        h.counters().bytes_in += in.size();
        const std::size_t before = out.size();
        h.set_output(&out);
        if (guess_) {
            feed_guessing(in);
        } else {
            while (!in.empty() && !error_) {
                const std::string_view slice = in.substr(0, slice_bytes);
                in.remove_prefix(slice.size());
                parse_slice(slice);
            }
        }
        h.counters().bytes_out += out.size() - before;
        report_.due = true;
        return error_;
    }

    error_code finish(std::string& out) override {
        if (error_) return error_;
        auto& h = parser_.handler();
        const std::size_t before = out.size();
        h.set_output(&out);
        if (!parser_.done()) {
            error_code ec;
            parser_.handler().set_input({});
            parser_.write_some(false, no_bytes, 0, ec);
            if (ec) {
                error_ = to_filter_error(ec, true);
            } else if (!parser_.done()) {
                error_ = filter_error::truncated;
            }
        }
        if (!error_ && !h.records_found()) error_ = filter_error::records_not_found;
        h.counters().bytes_out += out.size() - before;
        report_.due = true;
        finished_ = !error_;
        return error_;
    }

    const filter_counters& counters() const override { return report_.read(); }
    const filter_counters& progress() const override { return parser_.handler().counters(); }
    void set_record_marks(std::vector<record_mark>* marks) override {
        parser_.handler().set_record_marks(marks);
    }
    std::unique_ptr<filter_memory> take_memory() override {
        if (!finished_) return nullptr;
        finished_ = false;
        return parser_.handler().take_memory();
    }

  private:
    // The fast path of a spec whose records can be guessed whole (json_rewriter::can_guess):
    // the depth scanner reads only the bytes basic_parser reads — the envelope, and a record the
    // bytes at hand end inside — and the record parser reads the runs of records between, each
    // record handed over without knowing where it ends. Scanning every byte first cost ~10 % of
    // the filter's time on a bulk export (issue 20).
    void feed_guessing(std::string_view in) {
        parser_.handler().set_input(in);
        std::size_t pos = 0;
        while (pos < in.size() && !error_) {
            if (!run_ready_) {
                pos = scan_and_write(in, pos);
                continue;
            }
            pos = guess_records(in, pos);
            if (in_tail_) {
                // The records left may not end in `in`: scanned first, as on the other path,
                // so that the one cut by the end of `in` is not parsed twice.
                in_tail_ = false;
                offset_ += pos;
                for (std::string_view rest = in.substr(pos); !rest.empty() && !error_;) {
                    const std::string_view slice = rest.substr(0, slice_bytes);
                    rest.remove_prefix(slice.size());
                    parse_slice(slice);  // advances offset_
                }
                return;
            }
        }
        offset_ += in.size();
    }

    // basic_parser reads the next slice from `pos`, the scanner marking it, up to the first
    // record it stands just before (after the '[' or ',' that precedes it): the fast path
    // takes over there (run_ready_). Returns where basic_parser stopped.
    std::size_t scan_and_write(std::string_view in, std::size_t pos) {
        auto& h = parser_.handler();
        // A short piece, so that the scanner reads little past where the record parser takes
        // over; twice as long each time the same record goes on (a long record, or the
        // envelope), up to a slice.
        const std::string_view slice = in.substr(pos, piece_);
        piece_ = std::min(piece_ * 2, slice_bytes);
        const std::uint64_t base = offset_ + pos;
        if (parser_.done()) {
            if (!is_json_whitespace(slice)) error_ = filter_error::malformed;
            return pos + slice.size();
        }
        h.compact_marks();
        scanner_.scan(slice, base, h.marks());
        std::vector<std::uint64_t>& marks = h.marks();
        std::size_t at_piece = 0;
        for (;;) {
            const std::size_t m = h.marks_read();
            if (m >= marks.size() || marks[m] < base + at_piece) break;
            const std::size_t at = marks[m] - base;
            if (h.inside_record_depth()) {
                // A record basic_parser reads closes at `at`.
                if (!write(slice.substr(at_piece, at + 1 - at_piece))) return pos + at_piece;
                at_piece = at + 1;
                continue;
            }
            if (!write(slice.substr(at_piece, at - at_piece))) return pos + at_piece;
            at_piece = at;
            if (h.awaits_record() && separator_before(slice, at)) {
                // The marks from here on are the scanner's guesses past where it is needed:
                // dropped; it picks up again where the run of records ends.
                marks.resize(m);
                run_ready_ = true;
                piece_ = guess_piece_bytes;
                return pos + at;
            }
            // A record after a separator in earlier bytes: basic_parser reads it whole.
            if (m + 1 >= marks.size()) break;
            const std::size_t close = marks[m + 1] - base;
            if (!write(slice.substr(at, close + 1 - at))) return pos + at;
            at_piece = close + 1;
        }
        if (at_piece < slice.size() && !write(slice.substr(at_piece))) return pos + slice.size();
        if (!error_ && !h.open_record_fits(base + slice.size())) {
            error_ = filter_error::record_too_large;
        }
        return pos + slice.size();
    }

    // At `pos` a record starts, and basic_parser stands just before it: the record parser reads
    // it and every record after it that ends in `in`, each guessed whole; the first that does
    // not end (or fails) is taken back and left to basic_parser, which is shown `{}` in place of
    // those read. Where fewer bytes are left than twice the longest record so far, the run stops
    // before the record (in_tail_): the rest is scanned first. Returns where basic_parser stands.
    std::size_t guess_records(std::string_view in, std::size_t pos) {
        auto& h = parser_.handler();
        run_ready_ = false;
        const char* begin = in.data();
        const char* end = begin + in.size();
        std::size_t open = pos;
        std::size_t after_last = pos;
        bool any = false;
        for (;;) {
            if (longest_ != 0 && in.size() - open < 2 * longest_) {
                in_tail_ = true;
                break;
            }
            h.begin_guess(offset_ + open, begin, offset_);
            error_code ec;
            const char* after = records_.parse(begin + open, end, fast_depth_, ec);
            if (after == nullptr) {
                h.take_back_guess();
                break;
            }
            h.keep_guess();
            any = true;
            after_last = static_cast<std::size_t>(after - begin);
            longest_ = std::max(longest_, after_last - open);
            const char* next = json_fast::skip_ws(after, end);
            if (next == end || *next != ',') break;
            next = json_fast::skip_ws(next + 1, end);
            if (next == end || *next != '{') break;
            open = static_cast<std::size_t>(next - begin);
        }
        // The scanner resumes between two records: outside any string, in the records array.
        scanner_.resume_at(h.record_depth() - 1);
        h.compact_marks();
        // Not even the first: basic_parser reads it (scan_and_write finds no separator before it
        // in its piece, so it is not guessed twice).
        if (!any) return pos;
        h.expect_stand_in();
        write(std::string_view(stand_in_record, 2));
        return after_last;
    }

    void parse_slice(std::string_view slice) {
        auto& h = parser_.handler();
        if (parser_.done()) {
            // The document is complete: only whitespace may follow.
            if (!is_json_whitespace(slice)) error_ = filter_error::malformed;
            offset_ += slice.size();
            return;
        }
        h.compact_marks();
        scanner_.scan(slice, offset_, h.marks());
        h.set_input(slice);
        std::size_t pos = 0;
        if (fast_depth_ != 0) pos = parse_records_fast(slice);
        if (!error_ && pos < slice.size()) write(slice.substr(pos));
        offset_ += slice.size();
        if (!error_ && !h.open_record_fits(offset_)) error_ = filter_error::record_too_large;
    }

    // Gives basic_parser the next bytes of the slice; false (error_ set) when they fail.
    bool write(std::string_view bytes) {
        if (parser_.done()) {
            if (!is_json_whitespace(bytes)) error_ = filter_error::malformed;
            return !error_;
        }
        error_code ec;
        const std::size_t used = parser_.write_some(true, bytes.data(), bytes.size(), ec);
        if (ec) {
            error_ = to_filter_error(ec, false);
            return false;
        }
        if (used < bytes.size() && !is_json_whitespace(bytes.substr(used))) {
            error_ = filter_error::malformed;
            return false;
        }
        return true;
    }

    // The fast path over one slice: basic_parser reads up to each container the depth scanner
    // marked at the records' depth; a record that lies whole in the slice, and the records that
    // follow it whole, go to json_record_parser instead, and basic_parser is shown one `{}` in
    // their place. Returns how far the slice is read; the rest is basic_parser's.
    std::size_t parse_records_fast(std::string_view slice) {
        auto& h = parser_.handler();
        const std::vector<std::uint64_t>& marks = h.marks();
        std::size_t pos = 0;
        for (;;) {
            const std::size_t m = h.marks_read();
            if (m >= marks.size() || marks[m] < offset_ + pos) return pos;
            const std::size_t at = marks[m] - offset_;
            if (h.inside_record_depth()) {
                // A record (or other container) that began in an earlier slice closes at `at`.
                if (!write(slice.substr(pos, at + 1 - pos))) return pos;
                pos = at + 1;
                continue;
            }
            if (m + 1 >= marks.size()) return pos;  // the container at `at` ends in a later slice
            const std::size_t close = marks[m + 1] - offset_;
            if (!write(slice.substr(pos, at - pos))) return pos;
            pos = at;
            // basic_parser must have just read the '[' or ',' before the record (a record after a
            // missing comma is basic_parser's to refuse); when that byte lies in an earlier
            // slice, basic_parser reads this record too.
            if (!h.awaits_record() || !separator_before(slice, at)) {
                if (!write(slice.substr(at, close + 1 - at))) return pos;
                pos = close + 1;
                continue;
            }
            pos = parse_record_run(slice, at, close);
            if (error_) return pos;
            h.expect_stand_in();
            if (!write(std::string_view(stand_in_record, 2))) return pos;
        }
    }

    // The last byte before `at` that is not whitespace is in the slice, and is '[' or ','.
    static bool separator_before(std::string_view slice, std::size_t at) {
        while (at > 0 && json_fast::is_ws(slice[at - 1])) --at;
        return at > 0 && (slice[at - 1] == ',' || slice[at - 1] == '[');
    }

    // Records whole in the slice, the first at [open, close], each next one after a comma.
    // Returns the offset after the last one parsed.
    std::size_t parse_record_run(std::string_view slice, std::size_t open, std::size_t close) {
        auto& h = parser_.handler();
        const std::vector<std::uint64_t>& marks = h.marks();
        const char* begin = slice.data();
        const char* end = begin + slice.size();
        for (;;) {
            error_code ec;
            const char* after = records_.parse(begin + open, begin + close + 1, fast_depth_, ec);
            if (after == nullptr) {
                error_ = ec;
                return open;
            }
            if (after != begin + close + 1) {
                error_ = filter_error::malformed;
                return open;
            }
            const char* next = json_fast::skip_ws(after, end);
            if (next == end || *next != ',') return close + 1;
            next = json_fast::skip_ws(next + 1, end);
            const std::size_t m = h.marks_read();
            if (next == end || *next != '{' || m + 1 >= marks.size() ||
                marks[m] != offset_ + static_cast<std::size_t>(next - begin)) {
                return close + 1;
            }
            open = static_cast<std::size_t>(next - begin);
            close = marks[m + 1] - offset_;
        }
    }

    boost::json::basic_parser<json_rewriter> parser_;
    json_depth_scanner scanner_;
    json_record_parser<json_rewriter> records_;
    std::size_t fast_depth_;  // containers a record may open on the fast path; 0: no fast path
    bool guess_;              // feed_guessing: records guessed whole, not scanned first
    bool run_ready_ = false;  // guessing: basic_parser stands just before a record
    std::size_t piece_ = guess_piece_bytes;  // guessing: what scan_and_write reads next
    std::size_t longest_ = 0;                // guessing: the longest record guessed whole
    bool in_tail_ = false;                   // guess_records stopped: the rest is scanned
    std::uint64_t offset_ = 0;
    error_code error_;
    bool finished_ = false;  // finish() returned no error (and take_memory() has not run)
    lazy_stripped_report report_{&parser_.handler()};
};

void json_filter_deleter::operator()(json_filter* f) const { delete f; }

nested_filter_ptr make_nested_filter(filter_spec spec, nested_options options) {
    return nested_filter_ptr(new json_filter(std::move(spec), std::move(options)));
}

error_code filter_nested(json_filter& f, std::string_view text, std::string& out,
                         std::optional<drop_reason>& dropped) {
    f.reset();
    error_code ec = f.feed(text, out);
    if (!ec) ec = f.finish(out);
    filter_counters& c = f.mutable_counters();
    dropped.reset();
    if (!ec && c.records_out == 0) {
        for (std::size_t i = 0; i < drop_reason_count; ++i) {
            if (c.dropped[i] != 0) dropped = static_cast<drop_reason>(i);
        }
        // A record neither kept nor dropped would be a bug: never passed.
        if (!dropped) dropped = drop_reason::condition;
    }
    c.records_in = 0;
    c.records_out = 0;
    c.dropped = {};
    return ec;
}

// NDJSON: every non-empty line is one JSON object, one record.
class ndjson_filter final : public record_filter {
  public:
    explicit ndjson_filter(filter_spec spec, json_path path = json_path::fast,
                           std::unique_ptr<filter_memory> memory = nullptr)
        : parser_(parse_options_for(spec), std::move(spec), true, nested_options{},
                  std::move(memory)),
          line_parser_(parser_.handler()),
          fast_depth_(path == json_path::fast ? fast_depth(parser_.handler().spec(), 1) : 0) {}

    error_code feed(std::string_view in, std::string& out) override {
        if (error_) return error_;
        auto& h = parser_.handler();
        h.counters().bytes_in += in.size();
        const std::size_t before = out.size();
        h.set_output(&out);
        while (!in.empty() && !error_) {
            const std::size_t nl = in.find('\n');
            const std::string_view piece = in.substr(0, nl);
            in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
            if (nl != std::string_view::npos && fast_depth_ != 0 && line_bytes_ == 0) {
                parse_line_fast(piece);
            } else {
                parse_piece(piece);
            }
            if (!error_ && nl != std::string_view::npos) end_line(false);
        }
        h.counters().bytes_out += out.size() - before;
        report_.due = true;
        return error_;
    }

    error_code finish(std::string& out) override {
        if (error_) return error_;
        auto& h = parser_.handler();
        const std::size_t before = out.size();
        h.set_output(&out);
        end_line(true);
        h.counters().bytes_out += out.size() - before;
        report_.due = true;
        finished_ = !error_;
        return error_;
    }

    const filter_counters& counters() const override { return report_.read(); }
    const filter_counters& progress() const override { return parser_.handler().counters(); }
    void set_record_marks(std::vector<record_mark>* marks) override {
        parser_.handler().set_record_marks(marks);
    }
    std::unique_ptr<filter_memory> take_memory() override {
        if (!finished_) return nullptr;
        finished_ = false;
        return parser_.handler().take_memory();
    }

  private:
    void parse_piece(std::string_view piece) {
        line_bytes_ += piece.size();
        if (line_bytes_ > parser_.handler().spec().max_record_bytes) {
            error_ = filter_error::record_too_large;
            return;
        }
        if (!line_has_value_) {
            if (is_json_whitespace(piece)) return;  // blank so far: nothing to parse
            line_has_value_ = true;
        }
        if (parser_.done()) {
            if (!is_json_whitespace(piece)) error_ = filter_error::malformed;
            return;
        }
        error_code ec;
        parser_.handler().set_input(piece);
        const std::size_t used = parser_.write_some(true, piece.data(), piece.size(), ec);
        if (ec) {
            error_ = to_filter_error(ec, false);
            return;
        }
        if (used < piece.size() && !is_json_whitespace(piece.substr(used))) {
            error_ = filter_error::malformed;
        }
    }

    // A whole line in one piece: json_record_parser reads it, basic_parser is not involved (and
    // end_line has nothing to finish).
    void parse_line_fast(std::string_view line) {
        if (line.size() > parser_.handler().spec().max_record_bytes) {
            error_ = filter_error::record_too_large;
            return;
        }
        const char* end = line.data() + line.size();
        const char* p = json_fast::skip_ws(line.data(), end);
        if (p == end) return;  // a blank line
        parser_.handler().set_input(line);
        error_code ec;
        p = line_parser_.parse(p, end, fast_depth_, ec);
        if (p == nullptr) {
            error_ = ec;
        } else if (json_fast::skip_ws(p, end) != end) {
            error_ = filter_error::malformed;
        }
    }

    // A line ended ('\n', or the body ended after a last line without one).
    void end_line(bool end_of_body) {
        if (line_has_value_ && !parser_.done()) {
            error_code ec;
            parser_.handler().set_input({});
            parser_.write_some(false, no_bytes, 0, ec);
            if (ec) {
                // A line cut by the end of the body is truncated; a line cut by '\n' is not JSON.
                error_ = to_filter_error(ec, end_of_body);
                return;
            }
        }
        parser_.reset();
        parser_.handler().reset_line();
        line_bytes_ = 0;
        line_has_value_ = false;
    }

    boost::json::basic_parser<json_rewriter> parser_;
    json_record_parser<json_rewriter> line_parser_;
    std::size_t fast_depth_;  // containers a line may open on the fast path; 0: no fast path
    std::size_t line_bytes_ = 0;
    bool line_has_value_ = false;
    error_code error_;
    bool finished_ = false;  // finish() returned no error (and take_memory() has not run)
    lazy_stripped_report report_{&parser_.handler()};
};

}  // namespace exportwall::filters::json_detail

namespace exportwall::filters {

std::unique_ptr<record_filter> make_json_filter(filter_spec spec, json_path path,
                                                std::unique_ptr<filter_memory> memory) {
    return std::make_unique<json_detail::json_filter>(
        std::move(spec), json_detail::nested_options{}, path, std::move(memory));
}

std::unique_ptr<record_filter> make_ndjson_filter(filter_spec spec, json_path path,
                                                  std::unique_ptr<filter_memory> memory) {
    return std::make_unique<json_detail::ndjson_filter>(std::move(spec), path, std::move(memory));
}

}  // namespace exportwall::filters
