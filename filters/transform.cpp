#include "filters/transform.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/base64.hpp"
#include "common/utf8.hpp"

namespace exportwall::filters {
namespace {

constexpr std::string_view pseudonym_prefix = "ps_";
constexpr std::size_t pseudonym_bytes = 16;  // of the 32-byte MAC

// The length of the well-formed UTF-8 sequence at s[at] (common/utf8.hpp), or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t at) {
    return common::utf8_sequence_length(s.data() + at, s.data() + s.size());
}

// The number of code points of `s`, or npos when it is not UTF-8.
std::size_t code_points(std::string_view s) {
    std::size_t count = 0;
    for (std::size_t at = 0; at < s.size(); ++count) {
        const std::size_t n = utf8_sequence(s, at);
        if (n == 0) return transform_set::npos;
        at += n;
    }
    return count;
}

// The byte offset where code point `index` of the UTF-8 string `s` starts (s.size() past the end).
std::size_t code_point_offset(std::string_view s, std::size_t index) {
    std::size_t at = 0;
    for (; index > 0 && at < s.size(); --index) at += utf8_sequence(s, at);
    return std::min(at, s.size());
}

bool truncate_chars(std::string_view value, std::size_t keep, std::string& out) {
    if (code_points(value) == transform_set::npos) return false;
    out.append(value.substr(0, code_point_offset(value, keep)));
    return true;
}

bool mask(std::string_view value, std::size_t keep, std::string& out) {
    const std::size_t count = code_points(value);
    if (count == transform_set::npos) return false;
    const std::size_t masked = count > keep ? count - keep : 0;
    out.append(masked, '*');
    out.append(value.substr(code_point_offset(value, masked)));
    return true;
}

bool digits(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int number(std::string_view two_or_four_digits) {
    int n = 0;
    for (char c : two_or_four_digits) n = n * 10 + (c - '0');
    return n;
}

bool year(std::string_view value, std::string& out) {
    // YYYY-MM-DD, then nothing or a time.
    if (value.size() < 10 || value[4] != '-' || value[7] != '-') return false;
    const std::string_view y = value.substr(0, 4);
    const std::string_view m = value.substr(5, 2);
    const std::string_view d = value.substr(8, 2);
    if (!digits(y) || !digits(m) || !digits(d)) return false;
    const int yy = number(y);
    const int mm = number(m);
    const int dd = number(d);
    static constexpr std::array<int, 12> month_days{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mm < 1 || mm > 12 || dd < 1 || dd > month_days[static_cast<std::size_t>(mm - 1)]) {
        return false;
    }
    const bool leap = (yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0;
    if (mm == 2 && dd == 29 && !leap) return false;
    if (value.size() > 10) {
        // A date-time: at least the hour and minute of a time follow the separator.
        const std::string_view t = value.substr(11);
        if ((value[10] != 'T' && value[10] != 't' && value[10] != ' ') || t.size() < 5 ||
            t[2] != ':' || !digits(t.substr(0, 2)) || !digits(t.substr(3, 2)) ||
            number(t.substr(0, 2)) > 24 || number(t.substr(3, 2)) > 59) {
            return false;
        }
    }
    out.append(y);
    return true;
}

}  // namespace

transform_set::transform_set(std::vector<field_transform> transforms,
                             std::shared_ptr<const std::vector<unsigned char>> key)
    : key_(std::move(key)) {
    if (transforms.empty()) return;
    std::stable_sort(
        transforms.begin(), transforms.end(),
        [](const field_transform& a, const field_transform& b) { return a.path < b.path; });
    transforms.erase(std::unique(transforms.begin(), transforms.end(),
                                 [](const field_transform& a, const field_transform& b) {
                                     return a.path == b.path;
                                 }),
                     transforms.end());
    transforms_ = std::make_shared<const std::vector<field_transform>>(std::move(transforms));
}

std::size_t transform_set::size() const { return transforms_ ? transforms_->size() : 0; }

std::size_t transform_set::index_of(std::string_view path) const {
    if (!transforms_) return npos;
    const auto& t = *transforms_;
    const auto it =
        std::lower_bound(t.begin(), t.end(), path,
                         [](const field_transform& a, std::string_view p) { return a.path < p; });
    if (it == t.end() || it->path != path) return npos;
    return static_cast<std::size_t>(it - t.begin());
}

const field_transform* transform_set::find(std::string_view path) const {
    const std::size_t i = index_of(path);
    return i == npos ? nullptr : &(*transforms_)[i];
}

bool transform_set::below(std::string_view path) const {
    if (!transforms_) return false;
    const auto& t = *transforms_;
    if (path.empty())
        return std::any_of(t.begin(), t.end(),
                           [](const field_transform& f) { return !f.path.empty(); });
    // Paths below `path` sort right after "path." (nothing sorts between "path" and "path.").
    auto it =
        std::lower_bound(t.begin(), t.end(), path,
                         [](const field_transform& a, std::string_view p) { return a.path < p; });
    for (; it != t.end() && std::string_view(it->path).substr(0, path.size()) == path; ++it) {
        if (it->path.size() > path.size() && it->path[path.size()] == '.') return true;
    }
    return false;
}

bool transform_set::above(std::string_view path) const {
    if (!transforms_) return false;
    for (std::size_t dot = path.find('.'); dot != std::string_view::npos;
         dot = path.find('.', dot + 1)) {
        if (index_of(path.substr(0, dot)) != npos) return true;
    }
    return false;
}

const field_transform& transform_set::operator[](std::size_t i) const { return (*transforms_)[i]; }

transform_set transform_set::under(std::string_view prefix) const {
    if (!transforms_) return {};
    std::vector<field_transform> prefixed = *transforms_;
    for (auto& t : prefixed) t.path.insert(0, prefix);
    return {std::move(prefixed), nullptr};
}

// One keyed HMAC-SHA-256 context, re-initialised (same key) for every value.
struct field_transformer::mac_state {
    EVP_MAC* mac = nullptr;
    EVP_MAC_CTX* ctx = nullptr;
    bool ready = false;
    mac_state() = default;
    // A copy would free the same MAC and context twice.
    mac_state(const mac_state&) = delete;
    mac_state& operator=(const mac_state&) = delete;
    ~mac_state() {
        EVP_MAC_CTX_free(ctx);
        EVP_MAC_free(mac);
    }
};

field_transformer::field_transformer(const transform_set& set, field_counter_map* transformed,
                                     field_counter_map* failed, std::string prefix,
                                     field_transformer* outer)
    : set_(set),
      transformed_(transformed),
      failed_(failed),
      prefix_(std::move(prefix)),
      outer_(outer),
      transformed_at_(set.size(), nullptr),
      failed_at_(set.size(), nullptr) {}

field_transformer::~field_transformer() = default;

void field_transformer::count(const pending_count& c) {
    for (auto& p : pending_) {
        if (p.owner == c.owner && p.index == c.index && p.failed == c.failed) {
            p.n += c.n;
            return;
        }
    }
    pending_.push_back(c);
}

// Into the owner's map, under its name (created when first counted, then found by index).
void field_transformer::commit(const pending_count& c) {
    field_counter_map* map = c.failed ? failed_ : transformed_;
    if (map == nullptr) return;
    std::vector<std::uint64_t*>& at = c.failed ? failed_at_ : transformed_at_;
    if (at[c.index] == nullptr) {
        std::string name = prefix_ + set_[c.index].path;
        auto it = map->find(name);
        if (it == map->end()) it = map->emplace(std::move(name), 0).first;
        at[c.index] = &it->second;  // map nodes do not move
    }
    *at[c.index] += c.n;
}

void field_transformer::count_failed(std::size_t index) { count({this, index, true, 1}); }

void field_transformer::end_record(bool written) {
    if (written) {
        for (const pending_count& c : pending_) {
            if (outer_ != nullptr) {
                outer_->count(c);
            } else {
                c.owner->commit(c);
            }
        }
    }
    pending_.clear();
}

bool field_transformer::apply(std::size_t index, std::string_view value, std::string& out) {
    const field_transform& t = set_[index];
    bool ok = true;
    if (!value.empty()) {
        const std::size_t before = out.size();
        switch (t.kind) {
            case transform_kind::pseudonymise:
                ok = pseudonymise(value, out);
                break;
            case transform_kind::truncate_chars:
                ok = truncate_chars(value, t.keep, out);
                break;
            case transform_kind::year:
                ok = year(value, out);
                break;
            case transform_kind::mask:
                ok = mask(value, t.keep, out);
                break;
        }
        if (!ok) out.resize(before);
    }
    count({this, index, !ok, 1});
    return ok;
}

bool field_transformer::pseudonymise(std::string_view value, std::string& out) {
    const auto& key = set_.key();
    if (!key || key->empty()) return false;  // no key, no pseudonym (never an unkeyed hash)
    if (!mac_) {
        mac_ = std::make_unique<mac_state>();
        mac_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        if (mac_->mac != nullptr) mac_->ctx = EVP_MAC_CTX_new(mac_->mac);
        if (mac_->ctx != nullptr) {
            char digest[] = "SHA256";
            const OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                OSSL_PARAM_construct_end()};
            mac_->ready = EVP_MAC_init(mac_->ctx, key->data(), key->size(), params) == 1;
        }
    } else if (mac_->ready) {
        // The key set before stays: HMAC only restarts from its precomputed inner state.
        mac_->ready = EVP_MAC_init(mac_->ctx, nullptr, 0, nullptr) == 1;
    }
    if (!mac_->ready) return false;
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    std::size_t length = 0;
    if (EVP_MAC_update(mac_->ctx, reinterpret_cast<const unsigned char*>(value.data()),
                       value.size()) != 1 ||
        EVP_MAC_final(mac_->ctx, digest.data(), &length, digest.size()) != 1 ||
        length < pseudonym_bytes) {
        mac_->ready = false;  // a context in an unknown state is not reused
        return false;
    }
    out.append(pseudonym_prefix);
    common::append_base64(out, digest.data(), pseudonym_bytes, common::base64_form::url_unpadded);
    return true;
}

}  // namespace exportwall::filters
