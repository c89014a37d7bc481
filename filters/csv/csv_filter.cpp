#include "filters/csv/csv_filter.hpp"

#include "filters/csv/csv_blocks.hpp"
#include "filters/transform.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// CSV export filter: an RFC 4180 state machine fed byte ranges, one row buffered at a time.
//
// Contract details beyond record_filter.hpp:
// - the first row is the header; its cells are the field names (paths for field_set and
//   record_rules). Columns whose name the allow-list does not keep are removed from every row;
// - an optional UTF-8 BOM is copied to the output; the output line ending is the header's
//   (CRLF or LF), and a row ends with one exactly when its input row did;
// - stripped_fields counts, per column name, the rows (kept or dropped) it was removed from,
//   like the JSON filter counts every removed occurrence;
// - blank lines at the end of the body are ignored; a blank line followed by more rows is a
//   row of one empty cell (ragged unless the header has one column);
// - a kept column whose name has a transform (spec.transforms) is written transformed in every
//   data row (the rules read the original cell); a cell the transform cannot read is written
//   empty. The formula guard applies to the transformed text.
namespace exportwall::filters {
namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

// What a row's steps (end_row, process_row, …) return: row_ok, or why the export fails. A 4-byte
// enum comes back in a register; a boost::system::error_code (24 bytes) came back through memory,
// stored in parts by the callee and read whole by the caller, a store-forwarding stall on every
// row (half of end_row's samples, perf annotate; issue 20). The filter's interface converts.
using row_status = filter_error;
constexpr row_status row_ok{};

[[nodiscard]] boost::system::error_code as_error(row_status s) {
    return s == row_ok ? boost::system::error_code() : make_error_code(s);
}

[[nodiscard]] bool is_formula_start(char c) {
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

class csv_filter final : public record_filter {
  public:
    csv_filter(filter_spec spec, csv_path path)
        : spec_(std::move(spec)),
          fast_(path == csv_path::fast),
          transformer_(spec_.transforms, &counters_.transformed_fields,
                       &counters_.transform_failed) {
        const char d = spec_.csv.delimiter;
        const char q = spec_.csv.quote;
        // A delimiter or quote that collides with a line ending or with each other makes every
        // row ambiguous: refuse the body rather than guess.
        options_valid_ = d != q && d != '\r' && d != '\n' && q != '\r' && q != '\n';
        for (char c : {d, q, '\r', '\n'}) special_[static_cast<unsigned char>(c)] = true;
        if (!spec_.rules.empty()) needed_ = spec_.rules.needed_fields();
    }

    boost::system::error_code feed(std::string_view in, std::string& out) override {
        if (error_) return error_;
        if (finished_ || !options_valid_) return fail(filter_error::malformed);
        counters_.bytes_in += in.size();
        const std::size_t out_before = out.size();
        boost::system::error_code ec = consume(in, out);
        flush_strip_counts();
        counters_.bytes_out += out.size() - out_before;
        return ec ? fail(ec) : ec;
    }

    boost::system::error_code finish(std::string& out) override {
        if (error_) return error_;
        if (finished_ || !options_valid_) return fail(filter_error::malformed);
        const std::size_t out_before = out.size();
        boost::system::error_code ec = finish_rows(out);
        flush_strip_counts();
        counters_.bytes_out += out.size() - out_before;
        finished_ = true;
        return ec ? fail(ec) : ec;
    }

    const filter_counters& counters() const override { return counters_; }
    void set_record_marks(std::vector<record_mark>* marks) override { marks_ = marks; }

  private:
    enum class state : std::uint8_t {
        bom,              // the first bytes: a UTF-8 BOM or the start of the header
        cell_start,       // at the first byte of a cell
        unquoted,         // inside an unquoted cell
        quoted,           // inside a quoted cell
        quote_in_quoted,  // after a quote inside a quoted cell: doubled quote or closing quote
        after_cr,         // a CR outside quotes: only LF may follow
    };

    [[nodiscard]] boost::system::error_code fail(boost::system::error_code ec) {
        error_ = ec;
        return ec;
    }

    [[nodiscard]] boost::system::error_code consume(std::string_view in, std::string& out) {
        if (state_ == state::bom) {
            std::size_t i = 0;
            while (i < in.size() && state_ == state::bom) {
                bom_buf_.push_back(in[i++]);
                if (utf8_bom.substr(0, bom_buf_.size()) != bom_buf_) {
                    state_ = state::cell_start;
                    std::string head = std::move(bom_buf_);
                    bom_buf_.clear();
                    if (auto ec = consume_body(head, out)) return ec;
                } else if (bom_buf_.size() == utf8_bom.size()) {
                    out.append(utf8_bom);
                    bom_buf_.clear();
                    state_ = state::cell_start;
                }
            }
            in.remove_prefix(i);
        }
        return consume_body(in, out);
    }

    // The hot loop: runs of ordinary bytes are found with a table scan (unquoted) or memchr
    // (quoted) and appended to the row in one piece.
    [[nodiscard]] boost::system::error_code consume_body(std::string_view in, std::string& out) {
        const char* const begin = in.data();
        const char* p = begin;
        const char* const end = begin + in.size();
        const char quote = spec_.csv.quote;
        const char delim = spec_.csv.delimiter;
        auto offset = [&] { return consumed_ + static_cast<std::uint64_t>(p - begin); };
        boost::system::error_code ec;
        const char* handed_over = nullptr;  // a row start the fast path left to the state machine
        while (p != end && !ec) {
            if (fast_ && state_ == state::cell_start && !row_started_ && header_done_ &&
                p != handed_over) {
                // At most fast_window bytes marked at a time: the marks stay small whatever the
                // caller's chunk.
                const char* window = end - p > fast_window ? p + fast_window : end;
                const char* stop = whole_rows(begin, p, window, out, ec);
                if (ec) {
                    p = stop;
                    break;
                }
                if (stop != p) {
                    p = stop;
                    continue;  // the next window, or the row the window cut, from its start
                }
                // Not one row taken: the row at p is cut by the end of these bytes, longer than
                // a window, or one the fast path leaves alone (the state machine refuses those);
                // the state machine reads it, and the fast path resumes after it. Every byte is
                // marked at most twice, plus a window per row handed over.
                handed_over = p;
            }
            switch (state_) {
                case state::bom:
                case state::cell_start:
                    if (*p == quote) {
                        ++p;
                        row_started_ = true;
                        state_ = state::quoted;
                        break;
                    }
                    state_ = state::unquoted;
                    [[fallthrough]];
                case state::unquoted: {
                    const char* run = p;
                    p = find_special(p, end);
                    if (p != run) {
                        row_started_ = true;
                        if (copy_cell()) row_text_.append(run, static_cast<std::size_t>(p - run));
                    }
                    if (p == end) break;
                    const char c = *p++;
                    if (c == delim) {
                        end_cell();
                        row_started_ = true;
                        state_ = state::cell_start;
                    } else if (c == '\n') {
                        ec = as_error(end_row(out, offset(), 1, false));
                    } else if (c == '\r') {
                        state_ = state::after_cr;
                    } else {
                        ec = filter_error::malformed;  // a quote inside an unquoted cell
                    }
                    break;
                }
                case state::quoted: {
                    const auto* q = static_cast<const char*>(
                        std::memchr(p, quote, static_cast<std::size_t>(end - p)));
                    const char* stop = q != nullptr ? q : end;
                    if (copy_cell()) row_text_.append(p, static_cast<std::size_t>(stop - p));
                    p = stop;
                    if (q != nullptr) {
                        ++p;
                        state_ = state::quote_in_quoted;
                    }
                    break;
                }
                case state::quote_in_quoted: {
                    const char c = *p++;
                    if (c == quote) {
                        if (copy_cell()) row_text_.push_back(quote);
                        state_ = state::quoted;
                    } else if (c == delim) {
                        end_cell();
                        state_ = state::cell_start;
                    } else if (c == '\n') {
                        ec = as_error(end_row(out, offset(), 1, false));
                    } else if (c == '\r') {
                        state_ = state::after_cr;
                    } else {
                        ec = filter_error::malformed;  // text after a closing quote
                    }
                    break;
                }
                case state::after_cr:
                    if (*p++ != '\n') {
                        ec = filter_error::malformed;  // a bare CR outside quotes
                    } else {
                        ec = as_error(end_row(out, offset(), 2, true));
                    }
                    break;
            }
        }
        if (!ec) {
            // Memory is bounded by one row: refuse a row as soon as it outgrows the limit.
            const std::uint64_t pending = state_ == state::after_cr ? 1 : 0;
            if (offset() - row_begin_ - pending > spec_.max_record_bytes) {
                ec = filter_error::record_too_large;
            }
        }
        consumed_ += in.size();
        return ec;
    }

    // --- the fast path (issue 20) ---------------------------------------------------------------
    // Data rows that lie whole in [p, end), `p` at the start of one (state cell_start, nothing of
    // it read): the cells' ends come from the block marks (filters/csv/csv_blocks.hpp), each
    // cell is checked as the state machine would and seen where it lies (cells_: no copy but for
    // a kept quoted cell with a doubled quote), and end_row() takes the row from there, the same
    // as for a row read byte by byte. Returns where it stopped: `end`, the start
    // of a row cut by `end`, the start of a row it leaves to the state machine (a quote inside an
    // unquoted cell or text after a closing one, a CR not followed by LF, more cells than the
    // header: the state machine then refuses it as it would have), or the end of the row whose
    // end_row() failed (`ec`). `begin` is where consumed_ points.
    const char* whole_rows(const char* begin, const char* p, const char* end, std::string& out,
                           boost::system::error_code& ec) {
        const auto length = static_cast<std::size_t>(end - p);
        const std::size_t blocks = (length + 63) / 64;
        if (marks_words_.size() < blocks) marks_words_.resize(blocks);
        bool inside = false;
        csv_blocks::mark(p, end, spec_.csv.delimiter, spec_.csv.quote, inside, marks_words_.data());
        const csv_blocks::word* words = marks_words_.data();
        const char delim = spec_.csv.delimiter;
        const char quote = spec_.csv.quote;
        const std::size_t columns = copy_.size();
        fast_cells_.resize(columns);
        // Neither vector changes size below: their data in registers.
        const std::size_t* const copy_length = copy_lengths_.data();
        std::string_view* const cells = fast_cells_.data();
        std::size_t row = 0;   // offset from p of the current row
        std::size_t cell = 0;  // offset of the current cell
        std::size_t column = 0;
        std::size_t w = 0;
        std::uint64_t ends = blocks != 0 ? words[0].ends : 0;
        std::size_t next_quote = quote_from(words, blocks, 0);
        for (;;) {
            while (ends == 0) {
                if (++w >= blocks) return abandon_row(p + row);  // cut by the end of the bytes
                ends = words[w].ends;
            }
            const std::size_t at = w * 64 + static_cast<std::size_t>(std::countr_zero(ends));
            ends &= ends - 1;
            if (column == columns) return abandon_row(p + row);  // more cells than the header
            if (cell == at || p[cell] != quote) {
                // Unquoted: no quote before the cell's end. A column neither kept nor read is
                // left empty, as the state machine leaves it.
                if (next_quote < at) return abandon_row(p + row);
                cells[column] = std::string_view(p + cell, (at - cell) & copy_length[column]);
            } else if (!take_quoted_cell(column, p, cell, at, next_quote, words, blocks)) {
                return abandon_row(p + row);
            }
            ++column;
            const char c = p[at];
            if (c == delim) {
                cell = at + 1;
                continue;
            }
            std::size_t next = at + 1;
            const bool crlf = c == '\r';
            if (crlf) {
                if (next == length) return abandon_row(p + row);   // its LF is not here yet
                if (p[next] != '\n') return abandon_row(p + row);  // a bare CR
                // The LF's own bit is the next end: taken here.
                while (ends == 0) ends = words[++w].ends;
                ends &= ends - 1;
                ++next;
            }
            // A line holding nothing at all is a blank line, not a row of one empty cell.
            row_started_ = column > 1 || at != row;
            // Fewer cells than the header (and not a blank line): the state machine refuses it.
            if (row_started_ && column != columns) return abandon_row(p + row);
            row_ = std::span<const std::string_view>(fast_cells_.data(), columns);
            // Unquoted text in row_text_ now that it grows no more.
            for (const auto& [i, offset, size] : unquoted_) {
                fast_cells_[i] = std::string_view(row_text_).substr(offset, size);
            }
            unquoted_.clear();
            const row_status done =
                end_row(out, consumed_ + static_cast<std::uint64_t>(p + next - begin), next - at,
                        crlf, true);
            if (done != row_ok) {
                ec = done;
                return p + next;
            }
            row = cell = next;
            column = 0;
            if (row == length) return end;
        }
    }

    // The state machine reads the row at `row` from its start: what the fast path took of it
    // goes.
    const char* abandon_row(const char* row) {
        reset_row();
        unquoted_.clear();
        return row;
    }

    // Quoted cell `column` of a data row, [from, to) of `p` (p[from] is the quote): checked (the
    // closing quote is its last byte and every quote between is doubled) and added to fast_cells_
    // — where its text lies, or, kept or read and with a doubled quote, unquoted into row_text_
    // (noted in unquoted_); empty if its column is neither kept nor read. False to leave the row
    // to the state machine. `next_quote` (the first quote at or after `from`) moves past the cell.
    [[gnu::noinline]] bool take_quoted_cell(std::size_t column, const char* p, std::size_t from,
                                            std::size_t to, std::size_t& next_quote,
                                            const csv_blocks::word* words, std::size_t blocks) {
        const char quote = spec_.csv.quote;
        const bool copy = copy_[column] != 0;
        next_quote = quote_from(words, blocks, to);
        if (to - from < 2 || p[to - 1] != quote) return false;
        const char* q = p + from + 1;
        const char* const close = p + to - 1;
        const auto* at =
            static_cast<const char*>(std::memchr(q, quote, static_cast<std::size_t>(close - q)));
        if (at == nullptr) {
            fast_cells_[column] = copy ? std::string_view(q, static_cast<std::size_t>(close - q))
                                       : std::string_view();
            return true;
        }
        const std::size_t offset = row_text_.size();
        for (;;) {
            if (at + 1 == close || at[1] != quote) return false;
            if (copy) row_text_.append(q, static_cast<std::size_t>(at + 1 - q));
            q = at + 2;
            at = static_cast<const char*>(
                std::memchr(q, quote, static_cast<std::size_t>(close - q)));
            if (at == nullptr) break;
        }
        fast_cells_[column] = std::string_view();
        if (copy) {
            row_text_.append(q, static_cast<std::size_t>(close - q));
            unquoted_.push_back({column, offset, row_text_.size() - offset});
        }
        return true;
    }

    // The offset of the first quote character at or after `from` (from the block marks), or
    // no_quote.
    static constexpr std::size_t no_quote = static_cast<std::size_t>(-1);
    static std::size_t quote_from(const csv_blocks::word* words, std::size_t blocks,
                                  std::size_t from) {
        std::size_t w = from / 64;
        if (w >= blocks) return no_quote;
        std::uint64_t bits = words[w].quotes & (~std::uint64_t{0} << (from % 64));
        while (bits == 0) {
            if (++w >= blocks) return no_quote;
            bits = words[w].quotes;
        }
        return w * 64 + static_cast<std::size_t>(std::countr_zero(bits));
    }

    // The first delimiter, quote, CR or LF in [p, end), or end. SSE2 (every x86-64) compares
    // 16 bytes at a time; the table finishes the tail.
    [[nodiscard]] const char* find_special(const char* p, const char* end) const {
#if defined(__SSE2__)
        const __m128i delim = _mm_set1_epi8(spec_.csv.delimiter);
        const __m128i quote = _mm_set1_epi8(spec_.csv.quote);
        const __m128i cr = _mm_set1_epi8('\r');
        const __m128i lf = _mm_set1_epi8('\n');
        while (end - p >= 16) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
            const __m128i hit =
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, delim), _mm_cmpeq_epi8(v, quote)),
                             _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
            const auto mask = static_cast<unsigned>(_mm_movemask_epi8(hit));
            if (mask != 0) return p + __builtin_ctz(mask);
            p += 16;
        }
#endif
        while (p != end && !special_[static_cast<unsigned char>(*p)]) ++p;
        return p;
    }

    // Whether `v` holds a delimiter, quote, CR or LF: a kept cell's question before it is
    // written. Cells are short: 16 bytes at a time with the last 16 overlapping, two overlapping
    // 8-byte words for 8 to 15 bytes, the table below that.
    [[nodiscard]] bool holds_special(std::string_view v) const {
        const char* p = v.data();
        const std::size_t n = v.size();
#if defined(__SSE2__)
        if (n >= 16) {
            const char* const last = p + n - 16;
            for (;;) {
                if (special_mask16(p) != 0) return true;
                if (p == last) return false;
                p = std::min(p + 16, last);
            }
        }
#endif
        if (n >= 8) return special_in_word(p) || special_in_word(p + n - 8);
        for (std::size_t i = 0; i < n; ++i) {
            if (special_[static_cast<unsigned char>(p[i])]) return true;
        }
        return false;
    }

#if defined(__SSE2__)
    [[nodiscard]] unsigned special_mask16(const char* p) const {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(spec_.csv.delimiter)),
                                      _mm_cmpeq_epi8(v, _mm_set1_epi8(spec_.csv.quote))),
                         _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\r')),
                                      _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))));
        return static_cast<unsigned>(_mm_movemask_epi8(hit));
    }
#endif

    // Whether the 8 bytes at p hold a delimiter, quote, CR or LF: a byte of x ^ c is zero where
    // x has c, and (y - 0x01..) & ~y & 0x80.. is non-zero exactly when some byte of y is zero.
    [[nodiscard]] bool special_in_word(const char* p) const {
        constexpr std::uint64_t ones = 0x0101010101010101ULL;
        constexpr std::uint64_t highs = 0x8080808080808080ULL;
        std::uint64_t x = 0;
        std::memcpy(&x, p, 8);
        const auto zero_byte = [](std::uint64_t y) { return (y - ones) & ~y & highs; };
        const auto byte = [](char c) { return ones * static_cast<unsigned char>(c); };
        return (zero_byte(x ^ byte(spec_.csv.delimiter)) | zero_byte(x ^ byte(spec_.csv.quote)) |
                zero_byte(x ^ byte('\r')) | zero_byte(x ^ byte('\n'))) != 0;
    }

    // Only the cells of kept or needed columns are copied (every cell of the header).
    [[nodiscard]] bool copy_cell() const {
        const std::size_t column = cell_ends_.size();
        return !header_done_ || (column < copy_.size() && copy_[column]);
    }

    void end_cell() { cell_ends_.push_back(row_text_.size()); }

    // The state machine's row, its last cell ended: cells_ over row_text_.
    void cells_from_text() {
        end_cell();
        cells_.clear();
        std::size_t b = 0;
        for (const std::size_t e : cell_ends_) {
            cells_.push_back(std::string_view(row_text_).substr(b, e - b));
            b = e;
        }
        row_ = cells_;
    }

    // A line ended at stream offset `at` (just past its terminator of `terminator_len` bytes).
    // `cells_ready`: the fast path set row_ (else the state machine's cell_ends_ are used).
    [[nodiscard]] row_status end_row(std::string& out, std::uint64_t at,
                                     std::uint64_t terminator_len, bool crlf,
                                     bool cells_ready = false) {
        state_ = state::cell_start;
        row_status ec = row_ok;
        if (at - row_begin_ - terminator_len > spec_.max_record_bytes) {
            ec = filter_error::record_too_large;
        } else if (!row_started_) {
            ++pending_blank_lines_;
        } else {
            if (pending_blank_lines_ != 0) ec = flush_blank_lines(out);
            if (ec == row_ok) {
                if (!cells_ready) cells_from_text();
                ec = process_row(out, true, crlf);
            }
        }
        reset_row();
        row_begin_ = at;
        return ec;
    }

    void reset_row() {
        row_text_.clear();
        cell_ends_.clear();
        cells_.clear();
        row_ = {};
        row_started_ = false;
    }

    // Blank lines followed by a row are rows of one empty cell.
    [[nodiscard]] row_status flush_blank_lines(std::string& out) {
        for (; pending_blank_lines_ > 0; --pending_blank_lines_) {
            if (!header_done_) return filter_error::malformed;  // no header row
            static constexpr std::string_view empty_cell[1] = {};
            const std::span<const std::string_view> row = row_;
            row_ = empty_cell;
            const row_status ec = process_row(out, true, false);
            row_ = row;
            if (ec != row_ok) return ec;
        }
        return row_ok;
    }

    [[nodiscard]] boost::system::error_code finish_rows(std::string& out) {
        if (state_ == state::bom) {
            state_ = state::cell_start;
            std::string head = std::move(bom_buf_);
            if (auto ec = consume_body(head, out)) return ec;
        }
        switch (state_) {
            case state::quoted:
                return filter_error::truncated;
            case state::after_cr:
                return filter_error::malformed;
            case state::bom:
            case state::cell_start:
            case state::unquoted:
            case state::quote_in_quoted:
                if (row_started_) {
                    if (const row_status ec = flush_blank_lines(out); ec != row_ok) return ec;
                    cells_from_text();
                    if (const row_status ec = process_row(out, false, false); ec != row_ok)
                        return ec;
                    reset_row();
                }
                break;
        }
        if (!header_done_) return filter_error::records_not_found;
        return {};
    }

    [[nodiscard]] row_status process_row(std::string& out, bool terminated, bool crlf) {
        if (!header_done_) return process_header(out, terminated, crlf);
        if (row_.size() != keep_.size()) return filter_error::ragged_row;
        ++counters_.records_in;
        if (!spec_.rules.empty()) {
            fields_.clear();
            for (const auto& [column, name] : needed_columns_) {
                fields_.add(name, row_[column]);
            }
            if (auto reason = evaluate(spec_.rules, fields_)) {
                ++counters_.dropped[static_cast<std::size_t>(*reason)];
                spec_.rules.report(fields_, false);
                return row_ok;
            }
        }
        if (spec_.max_records != 0 && counters_.records_out >= spec_.max_records) {
            return filter_error::record_limit_exceeded;
        }
        spec_.rules.report(fields_, true);
        ++counters_.records_out;
        emit_row(out, terminated, spec_.csv.formula_guard, true);
        if (transforms_on_) transformer_.end_record(true);  // transformed as it was written
        if (marks_ != nullptr) marks_->push_back({out.size(), counters_.records_out});
        return row_ok;
    }

    [[nodiscard]] row_status process_header(std::string& out, bool terminated, bool crlf) {
        const std::size_t n = row_.size();
        names_.clear();
        for (std::size_t i = 0; i < n; ++i) {
            names_.emplace_back(row_[i]);
            if (spec_.csv.header_space != 0)
                std::replace(names_.back().begin(), names_.back().end(), ' ',
                             spec_.csv.header_space);
        }
        std::vector<std::string_view> sorted(names_.begin(), names_.end());
        std::sort(sorted.begin(), sorted.end());
        if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
            return filter_error::malformed;  // two columns with one name: ambiguous
        }
        keep_.assign(n, false);
        kept_columns_.clear();
        for (std::size_t i = 0; i < n; ++i) {
            keep_[i] = spec_.allowed.keeps(names_[i]);
            if (keep_[i]) kept_columns_.push_back(i);
        }
        kept_count_ = kept_columns_.size();
        copy_ = keep_;
        transform_at_.assign(n, transform_set::npos);
        for (std::size_t i = 0; i < n && !spec_.transforms.empty(); ++i) {
            if (keep_[i]) transform_at_[i] = spec_.transforms.index_of(names_[i]);
            if (transform_at_[i] != transform_set::npos) transforms_on_ = true;
        }
        for (const auto& field : needed_) {
            auto it = std::find(names_.begin(), names_.end(), field);
            if (it != names_.end()) {
                const auto column = static_cast<std::size_t>(it - names_.begin());
                needed_columns_.emplace_back(column, field);
                copy_[column] = true;
            }
        }
        copy_lengths_.resize(n);
        for (std::size_t i = 0; i < n; ++i) copy_lengths_[i] = copy_[i] != 0 ? ~std::size_t{0} : 0;
        line_ending_ = crlf ? "\r\n" : "\n";
        header_done_ = true;
        // Names are not data: no formula guard, no transform.
        emit_row(out, terminated, false, false);
        return row_ok;
    }

    void emit_row(std::string& out, bool terminated, bool guard, bool data) {
        if (kept_count_ == 0) return;  // a CSV without columns has nothing to say
        const bool transform = data && transforms_on_;
        bool first = true;
        for (const std::size_t i : kept_columns_) {
            if (!first) out.push_back(spec_.csv.delimiter);
            first = false;
            std::string_view v = row_[i];
            if (transform && transform_at_[i] != transform_set::npos) {
                v = transformed(transform_at_[i], v);
            }
            emit_cell(out, v, guard);
        }
        if (terminated) out.append(line_ending_);
    }

    // The transformed form of a cell, or an empty cell when the transform cannot read it.
    [[gnu::noinline]] std::string_view transformed(std::size_t transform, std::string_view v) {
        transformed_.clear();
        if (!transformer_.apply(transform, v, transformed_)) transformed_.clear();
        return transformed_;
    }

    void emit_cell(std::string& out, std::string_view v, bool guard) const {
        const bool guarded = guard && !v.empty() && is_formula_start(v.front());
        bool needs_quotes = kept_count_ == 1 && v.empty();  // a lone empty cell is a blank line
        if (!v.empty()) {
            const char front = v.front();
            const char back = v.back();
            needs_quotes =
                front == ' ' || front == '\t' || back == ' ' || back == '\t' || holds_special(v);
        }
        if (!needs_quotes) {
            if (guarded) out.push_back('\'');
            out.append(v);
            return;
        }
        const char quote = spec_.csv.quote;
        out.push_back(quote);
        if (guarded) out.push_back('\'');
        for (;;) {
            auto q = v.find(quote);
            if (q == std::string_view::npos) break;
            out.append(v.substr(0, q + 1));
            out.push_back(quote);
            v.remove_prefix(q + 1);
        }
        out.append(v);
        out.push_back(quote);
    }

    // Every data row loses every stripped column: the counts follow from records_in.
    void flush_strip_counts() {
        const std::uint64_t rows = counters_.records_in - rows_counted_;
        if (rows == 0) return;
        rows_counted_ = counters_.records_in;
        for (std::size_t i = 0; i < keep_.size(); ++i) {
            if (keep_[i]) continue;
            auto it = counters_.stripped_fields.find(names_[i]);
            if (it == counters_.stripped_fields.end()) {
                it = counters_.stripped_fields.emplace(names_[i], 0).first;
            }
            it->second += rows;
        }
    }

    filter_spec spec_;
    filter_counters counters_;
    std::vector<record_mark>* marks_ = nullptr;  // the caller's (set_record_marks)
    boost::system::error_code error_;
    bool finished_ = false;
    bool options_valid_ = true;
    std::array<bool, 256> special_{};  // delimiter, quote, CR, LF
    bool fast_;                        // csv_path::fast
    static constexpr std::ptrdiff_t fast_window = 16 * 1024;  // bytes marked at a time
    std::vector<csv_blocks::word> marks_words_;  // the bytes fed, marked (whole_rows)

    state state_ = state::bom;
    std::string bom_buf_;
    std::uint64_t consumed_ = 0;   // body bytes consumed before the current chunk
    std::uint64_t row_begin_ = 0;  // stream offset of the current row's first byte
    bool row_started_ = false;     // the current line has at least one byte or cell
    std::uint64_t pending_blank_lines_ = 0;
    std::string row_text_;                // unescaped cells of the current row, back to back
    std::vector<std::size_t> cell_ends_;  // end offset of each finished cell in row_text_
    // The cells of the row being processed: over row_text_ (the state machine's) or where they
    // lie in the bytes fed (the fast path's), empty for a column neither kept nor read.
    std::vector<std::string_view> cells_;       // the state machine's, over row_text_
    std::vector<std::string_view> fast_cells_;  // the fast path's, one per column
    std::span<const std::string_view> row_;     // the row process_row() reads
    // The fast path's cells unquoted into row_text_: by column, their place there.
    struct unquoted_cell {
        std::size_t column;
        std::size_t offset;
        std::size_t size;
    };
    std::vector<unquoted_cell> unquoted_;

    bool header_done_ = false;
    std::string_view line_ending_ = "\n";
    std::vector<std::string> names_;
    // By column, 0 or 1 (bytes, not std::vector<bool>'s bits: read for every cell).
    std::vector<unsigned char> keep_;
    std::vector<unsigned char> copy_;  // kept or read by a condition: the row buffer holds its text
    // By column, all ones where copy_ is set, else 0: the fast path's cell length is masked with
    // it, no branch (a test per cell that mispredicted: 15 % of the fast path's samples).
    std::vector<std::size_t> copy_lengths_;
    std::size_t kept_count_ = 0;
    // The kept columns in order: a row's output visits these, not every column (3 of 15 in the
    // benchmark, where a loop over keep_ mispredicted its test for every column).
    std::vector<std::size_t> kept_columns_;
    std::uint64_t rows_counted_ = 0;  // data rows already added to stripped_fields
    std::vector<std::string> needed_;
    std::vector<std::pair<std::size_t, std::string>> needed_columns_;
    record_fields fields_ = record_fields::reading_for(spec_.rules);

    field_transformer transformer_;
    std::vector<std::size_t> transform_at_;  // by column: its transform, or transform_set::npos
    bool transforms_on_ = false;             // some kept column has a transform
    std::string transformed_;                // a cell's transformed text
};

}  // namespace

std::unique_ptr<record_filter> make_csv_filter(filter_spec spec, csv_path path) {
    return std::make_unique<csv_filter>(std::move(spec), path);
}

}  // namespace exportwall::filters
