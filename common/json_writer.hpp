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
    explicit json_writer(std::string& out) : out_(out) { grow(reserve_ahead); }
    ~json_writer() { finish(); }
    json_writer(const json_writer&) = delete;
    json_writer& operator=(const json_writer&) = delete;

    // Cuts `out` to what was written. Writing after it continues where it stopped.
    void finish() {
        if (p_ != nullptr) {
            out_.resize(static_cast<std::size_t>(p_ - out_.data()));
            p_ = end_ = nullptr;
        }
    }

    // A literal as it is: punctuation, a key with its quotes and colon (`,"status":`).
    template <std::size_t N>
    [[gnu::always_inline]] void raw(const char (&text)[N]) {
        static_assert(N >= 1);
        room(N - 1);
        std::memcpy(p_, text, N - 1);
        p_ += N - 1;
    }
    [[gnu::always_inline]] void raw(char c) {
        room(1);
        *p_++ = c;
    }
    void raw(std::string_view text) {
        room(text.size());
        if (!text.empty()) std::memcpy(p_, text.data(), text.size());
        p_ += text.size();
    }

    // `s` as a JSON string, quotes included, escaped as append_json_string escapes it.
    void string(std::string_view s) {
        const char* const end = s.data() + s.size();
        if (json_text_detail::skip_plain(s.data(), end) == end) [[likely]] {
            room(s.size() + 2);
            *p_++ = '"';
            if (!s.empty()) std::memcpy(p_, s.data(), s.size());
            p_ += s.size();
            *p_++ = '"';
            return;
        }
        escaped(s);
    }

    // An unsigned or signed integer in decimal.
    template <std::integral Int>
    void number(Int v) {
        room(max_integer_digits);
        p_ = std::to_chars(p_, p_ + max_integer_digits, v).ptr;
    }

    // A member: its key literal as it is written (`,"status":`; the first without the comma),
    // then its value as string() or number() writes it.
    template <std::size_t N>
    void member(const char (&key)[N], std::string_view value) {
        raw(key);
        string(value);
    }
    template <std::size_t N, std::integral Int>
    void member(const char (&key)[N], Int value) {
        raw(key);
        number(value);
    }

  private:
    static constexpr std::size_t reserve_ahead = 256;
    static constexpr std::size_t max_integer_digits = 24;  // 20 digits of 2^64 and a sign

    // At least `n` bytes writable at the cursor.
    [[gnu::always_inline]] void room(std::size_t n) {
        if (static_cast<std::size_t>(end_ - p_) < n) [[unlikely]]
            grow(n);
    }

    // `out` grown for `n` more bytes past the cursor, up to its capacity: resize within the
    // capacity does not allocate, and the scratch bytes it fills are overwritten or cut.
    [[gnu::noinline]] void grow(std::size_t n) {
        const std::size_t used =
            p_ != nullptr ? static_cast<std::size_t>(p_ - out_.data()) : out_.size();
        const std::size_t size = used + n + reserve_ahead;
        if (size > out_.capacity()) out_.reserve(std::max(size, 2 * out_.capacity()));
        out_.resize(out_.capacity());
        p_ = out_.data() + used;
        end_ = out_.data() + out_.size();
    }

    // A string with a byte to escape: append_json_string's own bytes, written by it.
    [[gnu::noinline]] void escaped(std::string_view s) {
        finish();
        append_json_string(out_, s);
        grow(reserve_ahead);
    }

    std::string& out_;
    char* p_ = nullptr;    // the cursor; null once finished
    char* end_ = nullptr;  // the end of `out_`'s bytes (written and scratch)
};

}  // namespace exportwall::common
