#include "config/query/json_body.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/value_stack.hpp>

#include "config/query/guard_support.hpp"

namespace exportwall::config::query {
namespace {

namespace json = boost::json;

constexpr std::size_t max_shown_member = 64;

// The body parser's handler: builds the value as Boost.JSON's own parser does (a value_stack),
// with two differences. A repeated key is refused, where Boost.JSON's object keeps one of the
// members (a CRM might read the other). A number with a fraction or exponent is read with
// std::from_chars, correctly rounded: Boost.JSON 1.81's own reading may be off in the last digit,
// and the forwarded body would then differ from the client's value, and from itself when guarded
// again. The handler remembers the keys of each open object and the path to the current value,
// for the refusal's JSON pointer.
class body_builder {
  public:
    // `body_size` bounds the bytes of every key together (the keys are copied once into one
    // buffer of that size); `storage` is where the value's memory comes from.
    body_builder(std::size_t body_size, json::storage_ptr storage)
        : stack_(storage), storage_(std::move(storage)) {
        key_text_.reserve(body_size);
        frames_.reserve(16);
    }

    static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

    bool on_document_begin(json::error_code& /*ec*/) {
        stack_.reset(storage_);
        return true;
    }
    bool on_document_end(json::error_code& /*ec*/) { return true; }
    bool on_array_begin(json::error_code& /*ec*/) {
        value_begins();
        frames_.push_back(frame{false, keys_.size(), {}, 0, {}});
        return true;
    }
    bool on_array_end(std::size_t n, json::error_code& /*ec*/) {
        frames_.pop_back();
        stack_.push_array(n);
        return true;
    }
    bool on_object_begin(json::error_code& /*ec*/) {
        value_begins();
        frames_.push_back(frame{true, keys_.size(), {}, 0, {}});
        return true;
    }
    bool on_object_end(std::size_t n, json::error_code& /*ec*/) {
        keys_.resize(frames_.back().first_key);
        frames_.pop_back();
        stack_.push_object(n);
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t /*n*/, json::error_code& /*ec*/) {
        stack_.push_chars(s);
        return true;
    }
    bool on_string(json::string_view s, std::size_t /*n*/, json::error_code& /*ec*/) {
        value_begins();
        stack_.push_string(s);
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t /*n*/, json::error_code& /*ec*/) {
        key_text_.append(s.data(), s.size());
        stack_.push_chars(s);
        return true;
    }
    bool on_key(json::string_view s, std::size_t /*n*/, json::error_code& ec) {
        key_text_.append(s.data(), s.size());
        std::string_view key = std::string_view(key_text_).substr(key_start_);
        key_start_ = key_text_.size();
        frame& top = frames_.back();
        const bool repeated = !new_key(top, key);
        top.key = key;
        if (repeated) {
            duplicate_ = pointer();
            ec = json::error::syntax;
            return false;
        }
        stack_.push_key(s);
        return true;
    }
    bool on_number_part(json::string_view s, json::error_code& /*ec*/) {
        number_.append(s.data(), s.size());
        return true;
    }
    bool on_int64(std::int64_t i, json::string_view /*s*/, json::error_code& /*ec*/) {
        value_begins();
        number_.clear();
        stack_.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view /*s*/, json::error_code& /*ec*/) {
        value_begins();
        number_.clear();
        stack_.push_uint64(u);
        return true;
    }
    bool on_double(double d, json::string_view s, json::error_code& /*ec*/) {
        value_begins();
        number_.append(s.data(), s.size());
        double exact = 0;
        auto [end, err] = std::from_chars(number_.data(), number_.data() + number_.size(), exact);
        // Out of range: keep Boost.JSON's reading (infinity is refused later, underflow is 0).
        if (err == std::errc() && end == number_.data() + number_.size()) d = exact;
        number_.clear();
        stack_.push_double(d);
        return true;
    }
    bool on_bool(bool b, json::error_code& /*ec*/) {
        value_begins();
        stack_.push_bool(b);
        return true;
    }
    bool on_null(json::error_code& /*ec*/) {
        value_begins();
        stack_.push_null();
        return true;
    }
    bool on_comment_part(json::string_view /*s*/, json::error_code& /*ec*/) { return true; }
    bool on_comment(json::string_view /*s*/, json::error_code& /*ec*/) { return true; }

    // The JSON pointer of the repeated key, when one stopped the parse.
    [[nodiscard]] const std::optional<std::string>& duplicate() const { return duplicate_; }
    // The parsed body, once the parser is done.
    [[nodiscard]] json::value release() { return stack_.release(); }

  private:
    struct frame {
        bool object;
        std::size_t first_key;  // object: where its keys start in keys_
        std::string_view key;   // object: the member being parsed
        std::size_t count;      // array: the elements begun so far
        // object: its keys once it has more than few_keys, for a lookup that stays cheap
        std::unique_ptr<std::unordered_set<std::string_view>> many;
    };

    // A search body's objects have a handful of members: their keys are compared one by one,
    // without a set to allocate per object. An object with more gets a hash set, so a body of
    // thousands of keys costs no quadratic scan.
    static constexpr std::size_t few_keys = 16;

    // Records `key` in the innermost object; false when the object already has it.
    bool new_key(frame& top, std::string_view key) {
        const auto first = keys_.begin() + static_cast<std::ptrdiff_t>(top.first_key);
        if (top.many) {
            if (!top.many->insert(key).second) return false;
        } else if (std::find(first, keys_.end(), key) != keys_.end()) {
            return false;
        } else if (static_cast<std::size_t>(keys_.end() - first) >= few_keys) {
            top.many = std::make_unique<std::unordered_set<std::string_view>>(first, keys_.end());
            top.many->insert(key);
        }
        keys_.push_back(key);
        return true;
    }

    void value_begins() {
        if (!frames_.empty() && !frames_.back().object) ++frames_.back().count;
    }
    [[nodiscard]] std::string pointer() const {
        std::string p;
        for (const auto& f : frames_) {
            p.push_back('/');
            p += f.object ? pointer_token(f.key) : std::to_string(f.count - 1);
        }
        return p;
    }

    json::value_stack stack_;
    json::storage_ptr storage_;
    std::vector<frame> frames_;
    // Every key of the body, decoded, back to back: reserved to the body's size, so the views
    // of it (frame::key, keys_) stay valid. A key's parts are appended from key_start_ on.
    std::string key_text_;
    std::size_t key_start_ = 0;
    std::vector<std::string_view> keys_;  // the keys of the open objects, innermost last
    std::string number_;
    std::optional<std::string> duplicate_;
};


}  // namespace

std::string pointer_token(std::string_view name) {
    bool plain = !name.empty() && name.size() <= max_shown_member &&
                 std::all_of(name.begin(), name.end(), [](char c) {
                     return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == '$';
                 });
    return plain ? std::string(name) : std::string("(member)");
}


std::optional<json::value> parse_json_body(guarded_query& q, std::string_view parameter,
                                           std::string_view body, std::size_t max_depth,
                                           json::storage_ptr storage) {
    json::parse_options opts;
    opts.max_depth = max_depth;
    json::error_code ec;
    json::basic_parser<body_builder> parser(opts, body.size(), std::move(storage));
    std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
    if (!ec && used != body.size()) ec = json::error::extra_data;
    if (ec) {
        const auto& duplicate = parser.handler().duplicate();
        if (duplicate) {
            (void)fail_unsupported(q, parameter, used, *duplicate + ": a key repeated in one object");
        } else if (ec == json::error::too_deep) {
            (void)fail_unsupported(
                q, parameter, used,
                "the body nests deeper than " + std::to_string(max_depth) + " levels");
        } else {
            (void)fail_unsupported(q, parameter, used, "the body is not JSON");
        }
        return std::nullopt;
    }
    return parser.handler().release();
}

}  // namespace exportwall::config::query
