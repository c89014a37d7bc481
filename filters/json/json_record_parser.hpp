#pragma once
// The JSON filter's fast path (issue 20): a validating parser for one JSON value that lies whole
// in memory — a record the depth scanner found complete inside the slice being filtered, one
// NDJSON line, or a record json_filter guesses to end in the bytes at hand (taken back when the
// parse fails: json_rewriter::take_back_guess). It reports to the filter's handler the events
// Boost.JSON's basic_parser reports (on_object_begin, on_key, on_string …), so the handler, its
// decisions and its output are the same code on both paths, with three shortcuts. Before a
// member's value, the handler is asked (`skip_quietly`) whether it drops that value unread; if so
// the value is checked and skipped without a single event. Most of an export's bytes are such
// values (12 of the generator's 15 fields), and a string is skipped 16 bytes at a time. Before a
// member's key, the handler is asked which key it expects (`expected_key`: the member that
// followed the previous one in earlier records, as compact JSON writes it); when the input holds
// exactly those bytes, the key is taken without being scanned, decoded or compared again. An
// object skipped whole is compared with the keys that member's object had last time
// (`skipped_keys`, in order, as compact JSON writes them): the keys that match are neither
// scanned nor checked for a repeat, as they were distinct when learnt.
//
// It accepts exactly what basic_parser accepts with the filter's options (RFC 8259; no comments,
// no trailing commas; valid UTF-8, the same table as Boost.JSON's; \u surrogates in pairs; at most
// max_depth nested containers; an exponent whose value overflows basic_parser's int arithmetic is
// handed to Boost.JSON itself), and a skipped object still refuses a repeated key, as the handler
// would. tests/fuzz/fuzz_json_fast_path runs every input through the filter with and without
// this path: the same output and counters, or both fail.
//
// Written by hand rather than with simdjson (libsimdjson-dev 3.0): simdjson parses whole
// documents into its own tape or on-demand cursor, which neither reports basic_parser's events to
// the existing handler nor resumes where Boost.JSON's parser stands, and its error rules are not
// basic_parser's; the part that matters here, finding the end of a string 16 bytes at a time,
// is a few lines of SSE2.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <boost/json/parse.hpp>
#include <boost/json/string_view.hpp>
#include <boost/system/error_code.hpp>

#include "common/hex.hpp"
#include "common/utf8.hpp"
#include "filters/record_filter.hpp"

namespace exportwall::filters {

// The kind of value about to start, as the handler's skip_quietly() is asked.
enum class json_kind : std::uint8_t { object, array, string, number, literal };

namespace json_fast {

#if defined(__SSE2__)
// Bit i set when p[i] is '"', '\\', a C0 control or >= 0x80 (16 bytes at p must be readable).
[[gnu::always_inline]] inline unsigned special_mask(const char* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed comparison: bytes >= 0x80 are negative, so "< 0x20" also finds them.
    const __m128i hit =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                     _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
    return static_cast<unsigned>(_mm_movemask_epi8(hit));
}
#endif

// The first byte at or after `p` that ends a plain run inside a string: '"', '\\', a C0 control
// or a byte of a multi-byte UTF-8 sequence (>= 0x80). `end` when there is none.
inline const char* find_special(const char* p, const char* end) {
#if defined(__SSE2__)
    while (end - p >= 16) {
        const unsigned mask = special_mask(p);
        if (mask != 0) return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    for (; p < end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) return p;
    }
    return end;
}

// Four hex digits at p (p + 4 <= end checked by the caller), or -1.
inline long hex4(const char* p) {
    long v = 0;
    for (int i = 0; i < 4; ++i) {
        const int d = common::hex_value(p[i]);
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

inline void append_utf8(std::string& out, unsigned long cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

inline bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Compact JSON has no whitespace between tokens: one comparison says so.
[[gnu::always_inline]] inline const char* skip_ws(const char* p, const char* end) {
    while (p < end && static_cast<unsigned char>(*p) <= ' ' && is_ws(*p)) ++p;
    return p;
}

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace json_fast

// Handler: basic_parser's event callbacks (on_object_begin, on_object_end, on_array_begin,
// on_array_end, on_key, on_string, on_double for every number with its text, on_bool, on_null;
// no *_part calls: every key and string arrives whole) and `bool skip_quietly(json_kind)`, asked
// before each value of an object member.
template <class Handler>
class json_record_parser {
  public:
    using error_code = boost::system::error_code;

    explicit json_record_parser(Handler& h) : h_(h) {}

    // Parses the value that starts at `p` (no whitespace before it) and lies within [p, end).
    // `depth` is how many containers may still open, counting the value itself if it is one.
    // Returns the byte after the value, or null with `ec` set: filter_error::malformed,
    // filter_error::too_deep, filter_error::duplicate_key or the handler's own error.
    const char* parse(const char* p, const char* end, std::size_t depth, error_code& ec) {
        ec_ = {};
        decoded_keys_.clear();
        const char* q = value(p, end, depth);
        ec = ec_;
        return q;
    }

  private:
    using json_sv = boost::json::string_view;

    const char* fail(filter_error e) {
        ec_ = e;
        return nullptr;
    }
    const char* syntax() { return fail(filter_error::malformed); }

    // --- values reported to the handler ----------------------------------------------------
    const char* value(const char* p, const char* end, std::size_t depth) {
        if (p == end) return syntax();
        switch (*p) {
            case '{': return object(p, end, depth);
            case '[': return array(p, end, depth);
            case '"': return string(p, end);
            case 't':
            case 'f':
            case 'n': return literal(p, end, true);
            default: return number(p, end, true);
        }
    }

    const char* object(const char* p, const char* end, std::size_t depth) {
        if (depth == 0) return fail(filter_error::too_deep);
        if (!h_.on_object_begin(ec_)) return nullptr;
        p = json_fast::skip_ws(p + 1, end);
        if (p == end) return syntax();
        if (*p == '}') return object_end(p);
        for (;;) {
            if (*p != '"') return syntax();
            p = member_key(p, end);
            if (p == nullptr) return nullptr;
            p = token(p, end);
            if (p == end) return syntax();
            p = member_value(p, end, depth - 1);
            if (p == nullptr) return nullptr;
            p = token(p, end);
            if (p == end) return syntax();
            if (*p == '}') return object_end(p);
            if (*p != ',') return syntax();
            p = token(p + 1, end);
            if (p == end) return syntax();
        }
    }

    // `p` at a member's key: returns the byte after its ':'. The key the handler expects next
    // (its `expected_key()`: `"key":` as compact JSON writes it) is compared in place, and when
    // the input holds exactly those bytes it is neither scanned nor decoded nor reported: the
    // handler takes it (`take_expected_key()`, what on_key would do with it). Any other key —
    // another name, an escape, whitespace before the ':' — is read the usual way.
    [[gnu::always_inline]] const char* member_key(const char* p, const char* end) {
        if constexpr (requires(Handler & h) { h.expected_key(); }) {
            const auto* expected = h_.expected_key();
            if (expected != nullptr && holds(p, end, *expected)) {
                h_.take_expected_key();
                return p + expected->size;
            }
        }
        p = key(p, end);
        if (p == nullptr) return nullptr;
        p = punctuation(p, end, ':');
        return p != nullptr ? p : syntax();
    }

    // The input at `p` starts with the pattern's bytes (`bytes`, 32 of them with the pattern's
    // first `size` marked in `mask`).
    template <class Pattern>
    [[gnu::always_inline]] static bool holds(const char* p, const char* end, const Pattern& k) {
#if defined(__SSE2__)
        if (end - p >= 32) {
            const auto* in = reinterpret_cast<const __m128i*>(p);
            const auto* want = reinterpret_cast<const __m128i*>(k.bytes.data());
            const auto low = static_cast<std::uint32_t>(
                _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(in), _mm_loadu_si128(want))));
            const auto high = static_cast<std::uint32_t>(_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128(in + 1), _mm_loadu_si128(want + 1))));
            return ((low | (high << 16)) & k.mask) == k.mask;
        }
#endif
        return static_cast<std::size_t>(end - p) >= k.size &&
               std::memcmp(p, k.bytes.data(), k.size) == 0;
    }

    // The object closing at `p` (its '}'): the handler hears where, when it asks.
    const char* object_end(const char* p) {
        if constexpr (requires(Handler & h) { h.closing_at(p); }) h_.closing_at(p);
        return h_.on_object_end(0, ec_) ? p + 1 : nullptr;
    }

    // Compact JSON has no whitespace between tokens: the byte expected is tested first.
    [[gnu::always_inline]] static const char* punctuation(const char* p, const char* end, char c) {
        if (p < end && *p == c) return p + 1;
        p = json_fast::skip_ws(p, end);
        return p < end && *p == c ? p + 1 : nullptr;
    }
    // The next token's first byte (or end).
    [[gnu::always_inline]] static const char* token(const char* p, const char* end) {
        if (p < end && static_cast<unsigned char>(*p) > ' ') return p;
        return json_fast::skip_ws(p, end);
    }

    // An object member's value: skipped unreported when the handler drops it unread. One
    // dispatch on the first byte serves both the question and the parse.
    [[gnu::always_inline]] const char* member_value(const char* p, const char* end,
                                                    std::size_t depth) {
        switch (*p) {
            case '"':
                if (h_.skip_quietly(json_kind::string)) return skip_string(p, end);
                return string(p, end);
            case '{':
                if (h_.skip_quietly(json_kind::object)) {
                    if constexpr (requires(Handler & h) { h.skipped_keys(); }) {
                        return skip_object(p, end, depth, h_.skipped_keys());
                    }
                    return skip_object(p, end, depth);
                }
                return object(p, end, depth);
            case '[':
                if (h_.skip_quietly(json_kind::array)) return skip_array(p, end, depth);
                return array(p, end, depth);
            case 't':
            case 'f':
            case 'n': return literal(p, end, !h_.skip_quietly(json_kind::literal));
            default:
                if (*p != '-' && !json_fast::is_digit(*p)) return syntax();
                return number(p, end, !h_.skip_quietly(json_kind::number));
        }
    }

    const char* skip_string(const char* p, const char* end) {
        bool escaped = false;
        const char* close = scan_string(p + 1, end, nullptr, escaped);
        return close == nullptr ? nullptr : close + 1;
    }

    const char* array(const char* p, const char* end, std::size_t depth) {
        if (depth == 0) return fail(filter_error::too_deep);
        if (!h_.on_array_begin(ec_)) return nullptr;
        p = json_fast::skip_ws(p + 1, end);
        if (p == end) return syntax();
        if (*p == ']') return h_.on_array_end(0, ec_) ? p + 1 : nullptr;
        for (;;) {
            p = value(p, end, depth - 1);
            if (p == nullptr) return nullptr;
            p = json_fast::skip_ws(p, end);
            if (p == end) return syntax();
            if (*p == ']') return h_.on_array_end(0, ec_) ? p + 1 : nullptr;
            if (*p != ',') return syntax();
            p = json_fast::skip_ws(p + 1, end);
        }
    }

    // `p` at the opening quote. The key reaches the handler decoded: a view into the input when
    // it has no escape, else text_.
    const char* key(const char* p, const char* end) {
        bool escaped = false;
        const char* close = scan_string(p + 1, end, &text_, escaped);
        if (close == nullptr) return nullptr;
        const json_sv k = escaped ? json_sv(text_.data(), text_.size())
                                  : json_sv(p + 1, static_cast<std::size_t>(close - p - 1));
        return h_.on_key(k, k.size(), ec_) ? close + 1 : nullptr;
    }

    const char* string(const char* p, const char* end) {
        bool escaped = false;
        const char* close = scan_string(p + 1, end, &text_, escaped);
        if (close == nullptr) return nullptr;
        const json_sv s = escaped ? json_sv(text_.data(), text_.size())
                                  : json_sv(p + 1, static_cast<std::size_t>(close - p - 1));
        return h_.on_string(s, s.size(), ec_) ? close + 1 : nullptr;
    }

    const char* literal(const char* p, const char* end, bool report) {
        const auto left = static_cast<std::size_t>(end - p);
        if (left >= 4 && std::memcmp(p, "true", 4) == 0) {
            return !report || h_.on_bool(true, ec_) ? p + 4 : nullptr;
        }
        if (left >= 5 && std::memcmp(p, "false", 5) == 0) {
            return !report || h_.on_bool(false, ec_) ? p + 5 : nullptr;
        }
        if (left >= 4 && std::memcmp(p, "null", 4) == 0) {
            return !report || h_.on_null(ec_) ? p + 4 : nullptr;
        }
        return syntax();
    }

    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, reported with its text.
    const char* number(const char* p, const char* end, bool report) {
        using json_fast::is_digit;
        const char* q = p;
        if (*q == '-') ++q;
        if (q == end || !is_digit(*q)) return syntax();
        if (*q++ != '0') {
            while (q < end && is_digit(*q)) ++q;
        }
        if (q < end && *q == '.') {
            ++q;
            if (q == end || !is_digit(*q)) return syntax();
            while (q < end && is_digit(*q)) ++q;
        }
        if (q < end && (*q | 32) == 'e') {
            ++q;
            if (q < end && (*q == '+' || *q == '-')) ++q;
            if (q == end || !is_digit(*q)) return syntax();
            std::uint64_t exponent = 0;
            while (q < end && is_digit(*q)) {
                if (exponent < exponent_limit) {
                    exponent = exponent * 10 + static_cast<std::uint64_t>(*q - '0');
                }
                ++q;
            }
            // basic_parser refuses an exponent (with the mantissa's own scale) that overflows
            // its int arithmetic; so rare a number is put to Boost.JSON itself.
            if (exponent >= exponent_limit && !boost_accepts(p, q)) return syntax();
        }
        if (!report) return q;
        const json_sv text(p, static_cast<std::size_t>(q - p));
        return h_.on_double(0.0, text, ec_) ? q : nullptr;
    }

    static constexpr std::uint64_t exponent_limit = 1'000'000'000;

    static bool boost_accepts(const char* p, const char* q) {
        boost::system::error_code ec;
        boost::json::parse(std::string_view(p, static_cast<std::size_t>(q - p)), ec);
        return !ec;
    }

    // --- values skipped (checked, reported to nobody) ----------------------------------------
    const char* skip(const char* p, const char* end, std::size_t depth) {
        switch (*p) {
            case '{': return skip_object(p, end, depth);
            case '[': return skip_array(p, end, depth);
            case '"': return skip_string(p, end);
            case 't':
            case 'f':
            case 'n': return literal(p, end, false);
            default: return number(p, end, false);
        }
    }

    // A byte that starts no value is refused by number(), as in value().
    const char* skip_value(const char* p, const char* end, std::size_t depth) {
        if (p == end) return syntax();
        return skip(p, end, depth);
    }

    // An object skipped whole still refuses a repeated key (the handler would: a stripped
    // object is parsed and checked like any other). The first keys are compared in place; past
    // `few_keys` they go to a hash set.
    static constexpr std::size_t few_keys = 16;
    struct key_ref {
        const char* data;
        std::size_t size;
    };
    struct seen_keys {
        key_ref few[few_keys];  // left uninitialised: only [0, count) is read
        std::size_t count = 0;
        std::unique_ptr<std::unordered_set<std::string_view>> many;

        // False when `k` was seen before.
        bool add(const char* data, std::size_t size) {
            if (many) return many->emplace(data, size).second;
            for (std::size_t i = 0; i < count; ++i) {
                if (few[i].size == size && std::memcmp(few[i].data, data, size) == 0) {
                    return false;
                }
            }
            if (count < few_keys) {
                few[count++] = {data, size};
                return true;
            }
            many = std::make_unique<std::unordered_set<std::string_view>>();
            for (const key_ref& k : few) many->emplace(k.data, k.size);
            return many->emplace(data, size).second;
        }
    };

    // With `known` (a member's object the handler skips: its key_run), the keys are first
    // compared in place with the ones that object had last time, in order; those that match are
    // neither scanned nor checked for a repeat (they were distinct when learnt). From the first
    // that does not, the object is read as any other, with the keys matched so far as seen; and
    // when it closes, its keys are learnt for the next time.
    template <class Known = std::nullptr_t>
    const char* skip_object(const char* p, const char* end, std::size_t depth,
                            Known* known = nullptr) {
        if (depth == 0) return fail(filter_error::too_deep);
        seen_keys seen;
        p = json_fast::skip_ws(p + 1, end);
        if (p == end) return syntax();
        if (*p == '}') return p + 1;
        if constexpr (!std::is_same_v<Known, std::nullptr_t>) {
            const std::size_t n = known->keys.size();
            std::size_t i = 0;
            while (i < n && holds(p, end, known->keys[i])) {
                p = skip_value(json_fast::skip_ws(p + known->keys[i].size, end), end, depth - 1);
                ++i;
                if (p == nullptr) return nullptr;
                p = json_fast::skip_ws(p, end);
                if (p == end) return syntax();
                if (*p == '}') return p + 1;
                if (*p != ',') return syntax();
                p = json_fast::skip_ws(p + 1, end);
                if (p == end) return syntax();
            }
            for (std::size_t k = 0; k < i; ++k) {
                (void)seen.add(known->keys[k].bytes.data() + 1, known->keys[k].size - 3u);
            }
        }
        for (;;) {
            if (*p != '"') return syntax();
            bool escaped = false;
            const char* close = scan_string(p + 1, end, &text_, escaped);
            if (close == nullptr) return nullptr;
            bool fresh = false;
            if (escaped) {
                const std::string& k = decoded_keys_.emplace_back(text_);
                fresh = seen.add(k.data(), k.size());
            } else {
                fresh = seen.add(p + 1, static_cast<std::size_t>(close - p - 1));
            }
            if (!fresh) return fail(filter_error::duplicate_key);
            p = json_fast::skip_ws(close + 1, end);
            if (p == end || *p != ':') return syntax();
            p = skip_value(json_fast::skip_ws(p + 1, end), end, depth - 1);
            if (p == nullptr) return nullptr;
            p = json_fast::skip_ws(p, end);
            if (p == end) return syntax();
            if (*p == '}') {
                if constexpr (!std::is_same_v<Known, std::nullptr_t>) learn(seen, *known);
                return p + 1;
            }
            if (*p != ',') return syntax();
            p = json_fast::skip_ws(p + 1, end);
            if (p == end) return syntax();
        }
    }
    // An object's keys, checked distinct, for the next one at its place (skip_object).
    template <class Known>
    static void learn(const seen_keys& seen, Known& known) {
        if (seen.many) {
            known.learn(nullptr, few_keys + 1);  // more than it keeps: nothing learnt
            return;
        }
        std::array<std::string_view, few_keys> names;
        for (std::size_t i = 0; i < seen.count; ++i)
            names[i] = {seen.few[i].data, seen.few[i].size};
        known.learn(names.data(), seen.count);
    }

    const char* skip_array(const char* p, const char* end, std::size_t depth) {
        if (depth == 0) return fail(filter_error::too_deep);
        p = json_fast::skip_ws(p + 1, end);
        if (p == end) return syntax();
        if (*p == ']') return p + 1;
        for (;;) {
            p = skip_value(p, end, depth - 1);
            if (p == nullptr) return nullptr;
            p = json_fast::skip_ws(p, end);
            if (p == end) return syntax();
            if (*p == ']') return p + 1;
            if (*p != ',') return syntax();
            p = json_fast::skip_ws(p + 1, end);
        }
    }

    // --- strings --------------------------------------------------------------------------------
    // `p` just after the opening quote. Returns the closing quote, or null (malformed). With
    // `decoded`, a string with an escape is decoded into it and `escaped` set. Inlined: most keys
    // and values are plain and close within 32 bytes.
    [[gnu::always_inline]] const char* scan_string(const char* p, const char* end,
                                                    std::string* decoded, bool& escaped) {
#if defined(__SSE2__)
        if (end - p >= 32) {
            // Both halves at once: whether a string is shorter than 16 bytes is no branch.
            const std::uint32_t mask =
                json_fast::special_mask(p) | (json_fast::special_mask(p + 16) << 16);
            if (mask != 0) {
                const char* at = p + __builtin_ctz(mask);
                if (*at == '"') return at;
            }
        }
#endif
        return scan_string_slow(p, end, decoded, escaped);
    }

    [[gnu::noinline]] const char* scan_string_slow(const char* p, const char* end,
                                                    std::string* decoded, bool& escaped) {
        const char* run = p;
        for (;;) {
            p = json_fast::find_special(p, end);
            if (p == end) return syntax();
            const auto c = static_cast<unsigned char>(*p);
            if (c == '"') {
                if (escaped) decoded->append(run, p);
                return p;
            }
            if (c == '\\') {
                if (decoded != nullptr) {
                    if (!escaped) decoded->clear();
                    escaped = true;
                    decoded->append(run, p);
                }
                p = escape(p, end, decoded);
                if (p == nullptr) return nullptr;
                run = p;
                continue;
            }
            if (c < 0x20) return syntax();  // a control character must be escaped
            const std::size_t n = common::utf8_sequence_length(p, end);
            if (n == 0) return syntax();
            p += n;
        }
    }

    // `p` at a backslash. Appends what it stands for to `out` (if any); returns what follows.
    const char* escape(const char* p, const char* end, std::string* out) {
        if (end - p < 2) return syntax();
        char c = 0;
        switch (p[1]) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': return unicode_escape(p, end, out);
            default: return syntax();
        }
        if (out != nullptr) out->push_back(c);
        return p + 2;
    }

    // `\uXXXX`, or a surrogate pair `\uD8xx\uDCxx`; a lone surrogate is malformed, as for
    // basic_parser.
    const char* unicode_escape(const char* p, const char* end, std::string* out) {
        if (end - p < 6) return syntax();
        const long u1 = json_fast::hex4(p + 2);
        if (u1 < 0) return syntax();
        auto cp = static_cast<unsigned long>(u1);
        p += 6;
        if (u1 >= 0xD800 && u1 <= 0xDFFF) {
            if (u1 > 0xDBFF) return syntax();
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return syntax();
            const long u2 = json_fast::hex4(p + 2);
            if (u2 < 0xDC00 || u2 > 0xDFFF) return syntax();
            cp = 0x10000 + ((static_cast<unsigned long>(u1) - 0xD800) << 10) +
                 (static_cast<unsigned long>(u2) - 0xDC00);
            p += 6;
        }
        if (out != nullptr) json_fast::append_utf8(*out, cp);
        return p;
    }

    Handler& h_;
    error_code ec_;
    std::string text_;                      // the current key or string, decoded
    std::deque<std::string> decoded_keys_;  // skipped objects' keys that had escapes (this value)
};

}  // namespace exportwall::filters
