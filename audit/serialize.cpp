#include "audit/serialize.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <cmath>
#include <stdexcept>

#include <boost/json/value.hpp>

namespace exportwall::audit {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t min = 0;
    std::uint32_t cp = 0;
    if (b0 < 0x80) return 1;
    if ((b0 & 0xe0) == 0xc0) {
        n = 2, min = 0x80, cp = b0 & 0x1fu;
    } else if ((b0 & 0xf0) == 0xe0) {
        n = 3, min = 0x800, cp = b0 & 0x0fu;
    } else if ((b0 & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, cp = b0 & 0x07u;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

void append_string(std::string_view s, std::string& out) {
    out.push_back('"');
    for (std::size_t i = 0; i < s.size();) {
        // Copy a run of bytes that need no escaping in one go (the common case: all of it).
        std::size_t run = i;
        while (run < s.size()) {
            const auto b = static_cast<unsigned char>(s[run]);
            if (b < 0x20 || b >= 0x80 || b == '"' || b == '\\') break;
            ++run;
        }
        if (run > i) {
            out.append(s.data() + i, run - i);
            i = run;
            continue;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            const std::size_t n = utf8_sequence(s, i);
            if (n == 0) {
                out.append("\xef\xbf\xbd");  // U+FFFD: what a parser would make of it anyway
                ++i;
            } else {
                out.append(s.substr(i, n));
                i += n;
            }
            continue;
        }
        switch (c) {
            case '"':
                out.append("\\\"");
                break;
            case '\\':
                out.append("\\\\");
                break;
            case '\n':
                out.append("\\n");
                break;
            case '\r':
                out.append("\\r");
                break;
            case '\t':
                out.append("\\t");
                break;
            case '\b':
                out.append("\\b");
                break;
            case '\f':
                out.append("\\f");
                break;
            default:
                if (c < 0x20) {
                    out.append("\\u00");
                    out.push_back(hex_digits[c >> 4]);
                    out.push_back(hex_digits[c & 0x0f]);
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
        ++i;
    }
    out.push_back('"');
}

template <class Int>
void append_int(Int v, std::string& out) {
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, res.ptr);
}

// Milliseconds with exactly three decimals: parsing and re-printing gives the same bytes.
void append_duration(double v, std::string& out) {
    if (!std::isfinite(v)) v = 0;
    char buf[400];
    auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
    out.append(buf, res.ptr);
}

void append_key(std::string_view key, bool first, std::string& out) {
    if (!first) out.push_back(',');
    out.push_back('"');
    out.append(key);
    out.append("\":");
}

void append_list(const std::vector<std::string>& items, std::string& out) {
    out.push_back('[');
    bool first = true;
    for (const auto& s : items) {
        if (!first) out.push_back(',');
        first = false;
        append_string(s, out);
    }
    out.push_back(']');
}

class audit_category_impl final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "exportwall.audit"; }
    std::string message(int ev) const override {
        switch (static_cast<audit_error>(ev)) {
            case audit_error::unparsable_line:
                return "unparsable audit line";
            case audit_error::queue_full:
                return "audit queue full";
            case audit_error::corrupt_log:
                return "audit log damaged beyond a torn last line";
            case audit_error::shut_down:
                return "audit writer shut down";
            case audit_error::no_log:
                return "no audit log at this path";
        }
        return "unknown audit error";
    }
};

// The keys of a line, in their only order.
constexpr std::string_view keys[] = {"seq",
                                     "id",
                                     "time",
                                     "mode",
                                     "decision",
                                     "reason",
                                     "client",
                                     "purpose",
                                     "basis",
                                     "destination",
                                     "destination_kind",
                                     "route",
                                     "method",
                                     "path",
                                     "status",
                                     "fields_requested",
                                     "fields_stripped",
                                     "records_in",
                                     "records_out",
                                     "records_dropped",
                                     "bytes_in",
                                     "bytes_out",
                                     "duration_ms",
                                     "remote",
                                     "policy_revision",
                                     "prev_hash",
                                     "hash"};

bool get_u64(const boost::json::value& v, std::uint64_t& out) {
    if (v.is_uint64()) {
        out = v.get_uint64();
        return true;
    }
    if (v.is_int64() && v.get_int64() >= 0) {
        out = static_cast<std::uint64_t>(v.get_int64());
        return true;
    }
    return false;
}

bool get_str(const boost::json::value& v, std::string& out) {
    if (!v.is_string()) return false;
    out.assign(v.get_string().data(), v.get_string().size());
    return true;
}

bool get_list(const boost::json::value& v, std::vector<std::string>& out) {
    if (!v.is_array()) return false;
    out.clear();
    for (const auto& e : v.get_array()) {
        if (!e.is_string()) return false;
        out.emplace_back(e.get_string().data(), e.get_string().size());
    }
    return true;
}

bool is_hex64(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

void append_canonical(const record& r, std::string& out) {
    out.push_back('{');
    append_key("seq", true, out);
    append_int(r.seq, out);
    const std::pair<std::string_view, const std::string*> strings1[] = {
        {"id", &r.id},
        {"time", &r.time},
        {"mode", &r.mode},
        {"decision", &r.decision},
        {"reason", &r.reason},
        {"client", &r.client},
        {"purpose", &r.purpose},
        {"basis", &r.basis},
        {"destination", &r.destination},
        {"destination_kind", &r.destination_kind},
        {"route", &r.route},
        {"method", &r.method},
        {"path", &r.path}};
    for (const auto& [k, v] : strings1) {
        append_key(k, false, out);
        append_string(*v, out);
    }
    append_key("status", false, out);
    append_int(r.status, out);
    append_key("fields_requested", false, out);
    append_list(r.fields_requested, out);
    append_key("fields_stripped", false, out);
    append_list(r.fields_stripped, out);
    append_key("records_in", false, out);
    append_int(r.records_in, out);
    append_key("records_out", false, out);
    append_int(r.records_out, out);
    append_key("records_dropped", false, out);
    out.push_back('{');
    bool first = true;
    for (const auto& [reason, count] : r.records_dropped) {
        if (!first) out.push_back(',');
        first = false;
        append_string(reason, out);
        out.push_back(':');
        append_int(count, out);
    }
    out.push_back('}');
    append_key("bytes_in", false, out);
    append_int(r.bytes_in, out);
    append_key("bytes_out", false, out);
    append_int(r.bytes_out, out);
    append_key("duration_ms", false, out);
    append_duration(r.duration_ms, out);
    append_key("remote", false, out);
    append_string(r.remote, out);
    append_key("policy_revision", false, out);
    append_string(r.policy_revision, out);
    append_key("prev_hash", false, out);
    append_string(r.prev_hash, out);
    out.push_back('}');
}

void append_line(const record& r, std::string& out) {
    append_canonical(r, out);
    out.pop_back();  // the closing brace moves after the hash member
    out.append(",\"hash\":");
    append_string(r.hash, out);
    out.append("}\n");
}

chain_hasher::chain_hasher()
    : ctx_(EVP_MD_CTX_new()), md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {
    if (ctx_ == nullptr || md_ == nullptr) throw std::runtime_error("OpenSSL SHA-256 unavailable");
}

chain_hasher::~chain_hasher() {
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
    EVP_MD_free(static_cast<EVP_MD*>(md_));
}

std::string chain_hasher::hash(std::string_view prev_hash, std::string_view head,
                               std::string_view tail) {
    std::string out(64, '0');
    hash_hex(prev_hash, head, tail, out.data());
    return out;
}

void chain_hasher::hash_hex(std::string_view prev_hash, std::string_view head,
                            std::string_view tail, char* out) {
    auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestInit_ex(ctx, static_cast<EVP_MD*>(md_), nullptr);
    EVP_DigestUpdate(ctx, prev_hash.data(), prev_hash.size());
    EVP_DigestUpdate(ctx, head.data(), head.size());
    if (!tail.empty()) EVP_DigestUpdate(ctx, tail.data(), tail.size());
    EVP_DigestFinal_ex(ctx, digest, &len);
    for (unsigned int i = 0; i < 32 && i < len; ++i) {
        out[2 * i] = hex_digits[digest[i] >> 4];
        out[2 * i + 1] = hex_digits[digest[i] & 0x0f];
    }
}

const boost::system::error_category& audit_category() noexcept {
    static const audit_category_impl category;
    return category;
}

boost::system::error_code make_error_code(audit_error e) noexcept {
    return {static_cast<int>(e), audit_category()};
}

boost::system::error_code parse_line(std::string_view line, boost::json::parser& parser,
                                     record& out) {
    const auto bad = make_error_code(audit_error::unparsable_line);
    parser.reset();
    boost::system::error_code ec;
    parser.write(line.data(), line.size(), ec);
    if (ec) return bad;
    const boost::json::value v = parser.release();
    if (!v.is_object()) return bad;
    const auto& obj = v.get_object();
    if (obj.size() != std::size(keys)) return bad;
    std::size_t i = 0;
    for (const auto& kv : obj) {
        if (kv.key() != keys[i]) return bad;
        const auto& e = kv.value();
        bool ok = true;
        switch (i) {
            case 0:
                ok = get_u64(e, out.seq);
                break;
            case 1:
                ok = get_str(e, out.id);
                break;
            case 2:
                ok = get_str(e, out.time);
                break;
            case 3:
                ok = get_str(e, out.mode);
                break;
            case 4:
                ok = get_str(e, out.decision);
                break;
            case 5:
                ok = get_str(e, out.reason);
                break;
            case 6:
                ok = get_str(e, out.client);
                break;
            case 7:
                ok = get_str(e, out.purpose);
                break;
            case 8:
                ok = get_str(e, out.basis);
                break;
            case 9:
                ok = get_str(e, out.destination);
                break;
            case 10:
                ok = get_str(e, out.destination_kind);
                break;
            case 11:
                ok = get_str(e, out.route);
                break;
            case 12:
                ok = get_str(e, out.method);
                break;
            case 13:
                ok = get_str(e, out.path);
                break;
            case 14: {
                std::uint64_t s = 0;
                ok = get_u64(e, s) && s <= 999;
                out.status = static_cast<int>(s);
                break;
            }
            case 15:
                ok = get_list(e, out.fields_requested);
                break;
            case 16:
                ok = get_list(e, out.fields_stripped);
                break;
            case 17:
                ok = get_u64(e, out.records_in);
                break;
            case 18:
                ok = get_u64(e, out.records_out);
                break;
            case 19: {
                ok = e.is_object();
                out.records_dropped.clear();
                if (ok) {
                    for (const auto& d : e.get_object()) {
                        std::uint64_t n = 0;
                        if (!get_u64(d.value(), n)) return bad;
                        out.records_dropped[std::string(d.key())] = n;
                    }
                }
                break;
            }
            case 20:
                ok = get_u64(e, out.bytes_in);
                break;
            case 21:
                ok = get_u64(e, out.bytes_out);
                break;
            case 22:
                ok = e.is_number();
                if (ok) out.duration_ms = e.to_number<double>();
                break;
            case 23:
                ok = get_str(e, out.remote);
                break;
            case 24:
                ok = get_str(e, out.policy_revision);
                break;
            case 25:
                ok = get_str(e, out.prev_hash) && is_hex64(out.prev_hash);
                break;
            case 26:
                ok = get_str(e, out.hash) && is_hex64(out.hash);
                break;
            default:
                ok = false;
        }
        if (!ok) return bad;
        ++i;
    }
    return {};
}

}  // namespace exportwall::audit
