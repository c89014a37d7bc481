#pragma once
// A JSON line assembled through a cursor into a std::string's reserved space (issue 20): the audit
// trail's canonical line is ~90 pieces — a key, a quote, a value, a comma — and std::string's
// append checks the capacity, takes the length and calls memcpy for each of them (~750 ns a
// small export's line). Here the space is made once a member and each piece is a copy of a
// length the compiler knows (a key literal) or a single store. The bytes are exactly those of
// common/json_text.hpp: strings go through the same escaping rule, and a string that needs any
// escape is written by append_json_escaped itself.

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include "common/json_text.hpp"

namespace exportwall::common {

class json_writer {
  public:
    // Writes after what `out` holds; `out` has exactly the bytes written once the writer is gone
    // (or after finish()). `out` must not be touched meanwhile.
    explicit json_writer(std::string& out) : out_(out), used_(out.size()) {
        open(used_ + reserve_ahead);
    }
    ~json_writer() { finish(); }
    json_writer(const json_writer&) = delete;
    json_writer& operator=(const json_writer&) = delete;

    // Cuts `out` to what was written. Writing after it continues where it stopped.
    void finish() {
        if (open_) {
            out_.resize(used_);
            open_ = false;
        }
    }

    // A literal as it is: punctuation, a key with its quotes and colon (`,"status":`).
    template <std::size_t N>
    void raw(const char (&text)[N]) {
        static_assert(N >= 1);
        room(N - 1);
        std::memcpy(cursor(), text, N - 1);
        used_ += N - 1;
    }
    void raw(char c) {
        room(1);
        out_[used_++] = c;
    }
    void raw(std::string_view text) {
        room(text.size());
        if (!text.empty()) std::memcpy(cursor(), text.data(), text.size());
        used_ += text.size();
    }

    // `s` as a JSON string, quotes included, escaped as append_json_string escapes it.
    void string(std::string_view s) {
        const char* const end = s.data() + s.size();
        if (json_text_detail::skip_plain(s.data(), end) == end) {  // nearly every string
            room(s.size() + 2);
            char* p = cursor();
            *p++ = '"';
            if (!s.empty()) std::memcpy(p, s.data(), s.size());
            p[s.size()] = '"';
            used_ += s.size() + 2;
            return;
        }
        finish();
        append_json_string(out_, s);
        used_ = out_.size();
        open(used_ + reserve_ahead);
    }

    // An unsigned or signed integer in decimal.
    template <std::integral Int>
    void number(Int v) {
        room(max_integer_digits);
        const auto r = std::to_chars(cursor(), cursor() + max_integer_digits, v);
        used_ = static_cast<std::size_t>(r.ptr - out_.data());
    }

  private:
    static constexpr std::size_t reserve_ahead = 256;
    static constexpr std::size_t max_integer_digits = 24;  // 20 digits of 2^64 and a sign

    [[nodiscard]] char* cursor() { return out_.data() + used_; }

    // At least `n` bytes writable at the cursor.
    void room(std::size_t n) {
        if (!open_ || out_.size() - used_ < n) open(used_ + n + reserve_ahead);
    }

    // `out` grown to `size` bytes (those past used_ are scratch, cut by finish()).
    void open(std::size_t size) {
        if (size > out_.capacity()) out_.reserve(std::max(size, 2 * out_.capacity()));
        // Up to the capacity: resize within it does not allocate; the scratch bytes it fills are
        // overwritten or cut.
        out_.resize(out_.capacity());
        open_ = true;
    }

    std::string& out_;
    std::size_t used_;
    bool open_ = false;
};

}  // namespace exportwall::common
