#include "audit/serialize.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <stdexcept>

#include <boost/json/value.hpp>

#include "common/hex.hpp"
#include "common/json_writer.hpp"

namespace exportwall::audit {

namespace {

// The canonical form is written through common::json_writer: its strings are
// common::append_json_string's bytes, and the chain hashes them.
using common::json_writer;

// Milliseconds with exactly three decimals: parsing and re-printing gives the same bytes.
void append_duration(double v, json_writer& w) {
    if (!std::isfinite(v)) v = 0;
    char buf[400];
    auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
    w.raw(std::string_view(buf, static_cast<std::size_t>(res.ptr - buf)));
}

void append_list(const std::vector<std::string>& items, json_writer& w) {
    w.raw('[');
    bool first = true;
    for (const auto& s : items) {
        if (!first) w.raw(',');
        first = false;
        w.string(s);
    }
    w.raw(']');
}

// {"name":count,…} in key order (byte value: std::map of std::string).
void append_counts(const std::map<std::string, std::uint64_t>& counts, json_writer& w) {
    w.raw('{');
    bool first = true;
    for (const auto& [name, count] : counts) {
        if (!first) w.raw(',');
        first = false;
        w.string(name);
        w.raw(':');
        w.number(count);
    }
    w.raw('}');
}

// {"name":"text",…} in key order: file paths and their digests.
void append_names(const std::map<std::string, std::string>& names, json_writer& w) {
    w.raw('{');
    bool first = true;
    for (const auto& [name, text] : names) {
        if (!first) w.raw(',');
        first = false;
        w.string(name);
        w.raw(':');
        w.string(text);
    }
    w.raw('}');
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

// {"name":count,…}; `non_empty`: an empty object is refused (a member written only when set).
bool get_counts(const boost::json::value& v, std::map<std::string, std::uint64_t>& out,
                bool non_empty) {
    out.clear();
    if (!v.is_object() || (non_empty && v.get_object().empty())) return false;
    for (const auto& d : v.get_object()) {
        std::uint64_t n = 0;
        if (!get_u64(d.value(), n)) return false;
        out[std::string(d.key())] = n;
    }
    return true;
}

// {"name":"text",…}
bool get_names(const boost::json::value& v, std::map<std::string, std::string>& out) {
    out.clear();
    if (!v.is_object()) return false;
    for (const auto& d : v.get_object()) {
        if (!d.value().is_string()) return false;
        out[std::string(d.key())] = std::string(d.value().get_string());
    }
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

// Empties the members a line may lack (both readers fill only those the line has).
void clear_optional(record& r) {
    r.replica.clear();
    r.rule_id.clear();
    r.legal_reference.clear();
    r.fields_transformed.clear();
    r.transform_failed.clear();
    r.subject_keys = 0;
    r.subject_index.clear();
    r.via.clear();
    r.trace_id.clear();
    r.shadow_decision.clear();
    r.shadow_reason.clear();
    r.shadow_fields_stripped.clear();
    r.volume_hour.clear();
    r.volume_records = 0;
    r.volume_threshold = 0;
    r.volume_bound.clear();
    r.volume_median = 0;
    r.volume_action.clear();
    r.policy_trigger.clear();
    r.policy_files.clear();
    r.suppression_lists.clear();
    r.checkpoint_seq = 0;
    r.checkpoint_hash.clear();
    r.checkpoint_key_id.clear();
    r.checkpoint_signature.clear();
}

// A reader for lines in the writer's canonical form: no whitespace, keys in order, plain
// decimal numbers, strings of ASCII with the JSON escapes. It reads exactly what the JSON parser
// would read from such a line, and gives up (so that Boost.JSON decides) on anything else: a
// byte above 0x7f (UTF-8 to validate), a \u escape beyond ASCII, a number outside the JSON
// grammar, a space. About three times cheaper than building a DOM, and `list`, `stats` and
// `report` parse every line.
class canonical_reader {
  public:
    explicit canonical_reader(std::string_view line) : s_(line) {}

    bool read(record& out) {
        for (std::size_t i = 0; i < std::size(keys); ++i) {
            if (!optional_members(keys[i], out)) return false;
            if (!literal(i == 0 ? "{\"" : ",\"") || !literal(keys[i]) || !literal("\":"))
                return false;
            if (!member(i, out)) return false;
        }
        return literal("}") && pos_ == s_.size();
    }

  private:
    // The members a record has only sometimes, read where the writer puts them: before `key`.
    // False when one is there but malformed.
    bool optional_members(std::string_view key, record& out) {
        // The replica stands between id and time, in records that name one (never empty).
        if (key == "time" && literal(",\"replica\":")) {
            if (!string(out.replica) || out.replica.empty()) return false;
        }
        // The refusal's legal rule stands between reason and client, in records that name
        // one (never with an empty rule_id).
        if (key == "client" && literal(",\"rule_id\":")) {
            if (!string(out.rule_id) || out.rule_id.empty() || !literal(",\"legal_reference\":") ||
                !string(out.legal_reference))
                return false;
        }
        // The transform counts stand between fields_stripped and records_in, each only in
        // records that have some (never as an empty object).
        if (key == "records_in") {
            if (literal(",\"fields_transformed\":") && !named_counts(out.fields_transformed))
                return false;
            if (literal(",\"transform_failed\":") && !named_counts(out.transform_failed))
                return false;
        }
        // The subject index's members stand between records_dropped and bytes_in, in
        // records of exports that indexed their subjects (never with an empty digest).
        if (key == "bytes_in" && literal(",\"subject_keys\":")) {
            if (!integer(out.subject_keys) || !literal(",\"subject_index\":") ||
                !string(out.subject_index) || out.subject_index.empty())
                return false;
        }
        // The balancer that named the client and the W3C trace id stand between remote and
        // policy_revision, each only when there is one (never empty).
        if (key == "policy_revision") {
            if (literal(",\"via\":") && (!string(out.via) || out.via.empty())) return false;
            if (literal(",\"trace_id\":") && (!string(out.trace_id) || out.trace_id.empty()))
                return false;
        }
        if (key == "prev_hash") return event_members(out);
        return true;
    }

    // The members of particular records, last before prev_hash.
    bool event_members(record& out) {
        // A volume alert's members stand between policy_revision and the candidate policy's
        // members, in volume_alert records (never with an empty hour).
        if (literal(",\"volume_hour\":")) {
            if (!string(out.volume_hour) || out.volume_hour.empty() ||
                !literal(",\"volume_records\":") || !integer(out.volume_records) ||
                !literal(",\"volume_threshold\":") || !integer(out.volume_threshold) ||
                !literal(",\"volume_bound\":") || !string(out.volume_bound) ||
                !literal(",\"volume_median\":") || !integer(out.volume_median) ||
                !literal(",\"volume_action\":") || !string(out.volume_action))
                return false;
        }
        // The candidate policy's members (<shadow>) stand between policy_revision and
        // prev_hash, in records written with one.
        if (literal(",\"shadow_decision\":")) {
            if (!string(out.shadow_decision) || !literal(",\"shadow_reason\":") ||
                !string(out.shadow_reason) || !literal(",\"shadow_fields_stripped\":") ||
                !list(out.shadow_fields_stripped))
                return false;
        }
        // A configuration load's members, then a checkpoint's, last before prev_hash.
        if (literal(",\"policy_trigger\":")) {
            if (!string(out.policy_trigger) || out.policy_trigger.empty() ||
                !literal(",\"policy_files\":") || !names(out.policy_files) ||
                !literal(",\"suppression_lists\":") || !names(out.suppression_lists))
                return false;
        }
        if (literal(",\"checkpoint_seq\":")) {
            if (!integer(out.checkpoint_seq) || !literal(",\"checkpoint_hash\":") ||
                !string(out.checkpoint_hash) || !literal(",\"checkpoint_key_id\":") ||
                !string(out.checkpoint_key_id) || !literal(",\"checkpoint_signature\":") ||
                !string(out.checkpoint_signature) || out.checkpoint_signature.empty())
                return false;
        }
        return true;
    }

    // The value of keys[i], after its key.
    bool member(std::size_t i, record& out) {
        switch (i) {
            case 0:
                return integer(out.seq);
            case 1:
                return string(out.id);
            case 2:
                return string(out.time);
            case 3:
                return string(out.mode);
            case 4:
                return string(out.decision);
            case 5:
                return string(out.reason);
            case 6:
                return string(out.client);
            case 7:
                return string(out.purpose);
            case 8:
                return string(out.basis);
            case 9:
                return string(out.destination);
            case 10:
                return string(out.destination_kind);
            case 11:
                return string(out.route);
            case 12:
                return string(out.method);
            case 13:
                return string(out.path);
            case 14: {
                std::uint64_t v = 0;
                const bool ok = integer(v) && v <= 999;
                out.status = static_cast<int>(v);
                return ok;
            }
            case 15:
                return list(out.fields_requested);
            case 16:
                return list(out.fields_stripped);
            case 17:
                return integer(out.records_in);
            case 18:
                return integer(out.records_out);
            case 19:
                return drops(out.records_dropped);
            case 20:
                return integer(out.bytes_in);
            case 21:
                return integer(out.bytes_out);
            case 22:
                return number(out.duration_ms);
            case 23:
                return string(out.remote);
            case 24:
                return string(out.policy_revision);
            case 25:
                return string(out.prev_hash) && is_hex64(out.prev_hash);
            case 26:
                return string(out.hash) && is_hex64(out.hash);
            default:
                return false;
        }
    }

    bool literal(std::string_view lit) {
        if (s_.substr(pos_, lit.size()) != lit) return false;
        pos_ += lit.size();
        return true;
    }
    // Digits from pos_ on; false when there are none or a leading zero (not JSON).
    std::size_t digits_at(std::size_t p) const {
        std::size_t e = p;
        while (e < s_.size() && s_[e] >= '0' && s_[e] <= '9') ++e;
        if (e - p > 1 && s_[p] == '0') return 0;
        return e - p;
    }
    bool integer(std::uint64_t& v) {
        const std::size_t n = digits_at(pos_);
        if (n == 0) return false;
        const char* b = s_.data() + pos_;
        const auto res = std::from_chars(b, b + n, v);
        if (res.ec != std::errc{} || res.ptr != b + n) return false;
        pos_ += n;
        return true;
    }
    // -?(0|[1-9][0-9]*)(.[0-9]+)? — the JSON grammar without exponent.
    bool number(double& v) {
        std::size_t e = pos_;
        if (e < s_.size() && s_[e] == '-') ++e;
        const std::size_t whole = digits_at(e);
        if (whole == 0) return false;
        e += whole;
        if (e < s_.size() && s_[e] == '.') {
            std::size_t f = e + 1;
            while (f < s_.size() && s_[f] >= '0' && s_[f] <= '9') ++f;
            if (f == e + 1) return false;
            e = f;
        }
        if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) return false;
        const auto res = std::from_chars(s_.data() + pos_, s_.data() + e, v);
        if (res.ec != std::errc{} || res.ptr != s_.data() + e) return false;
        pos_ = e;
        return true;
    }
    bool string(std::string& v) {
        if (!literal("\"")) return false;
        v.clear();
        for (;;) {
            std::size_t stop = pos_;  // a plain loop: find_first_of calls memchr per byte
            while (stop < s_.size()) {
                const auto c = static_cast<unsigned char>(s_[stop]);
                if (c == '"' || c == '\\') break;
                if (c < 0x20 || c >= 0x80) return false;  // raw control byte or UTF-8: the parser
                ++stop;
            }
            if (stop == s_.size()) return false;
            v.append(s_.data() + pos_, stop - pos_);
            pos_ = stop + 1;
            if (s_[stop] == '"') return true;
            if (pos_ >= s_.size()) return false;
            const char e = s_[pos_++];
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    v.push_back(e);
                    break;
                case 'n':
                    v.push_back('\n');
                    break;
                case 'r':
                    v.push_back('\r');
                    break;
                case 't':
                    v.push_back('\t');
                    break;
                case 'b':
                    v.push_back('\b');
                    break;
                case 'f':
                    v.push_back('\f');
                    break;
                case 'u': {
                    // \u00XX below 0x80 is one byte either way; beyond that, the parser decides.
                    unsigned code = 0;
                    if (s_.substr(pos_, 2) != "00" || pos_ + 4 > s_.size()) return false;
                    const auto res =
                        std::from_chars(s_.data() + pos_ + 2, s_.data() + pos_ + 4, code, 16);
                    if (res.ec != std::errc{} || res.ptr != s_.data() + pos_ + 4 || code >= 0x80)
                        return false;
                    v.push_back(static_cast<char>(code));
                    pos_ += 4;
                    break;
                }
                default:
                    return false;
            }
        }
    }
    bool list(std::vector<std::string>& v) {
        v.clear();
        if (!literal("[")) return false;
        if (literal("]")) return true;
        do {
            v.emplace_back();
            if (!string(v.back())) return false;
        } while (literal(","));
        return literal("]");
    }
    bool drops(std::map<std::string, std::uint64_t>& v) {
        v.clear();
        if (!literal("{")) return false;
        if (literal("}")) return true;
        std::string key;
        do {
            std::uint64_t n = 0;
            if (!string(key) || !literal(":") || !integer(n)) return false;
            v[key] = n;
        } while (literal(","));
        return literal("}");
    }

    bool names(std::map<std::string, std::string>& v) {
        v.clear();
        if (!literal("{")) return false;
        if (literal("}")) return true;
        std::string key, text;
        do {
            if (!string(key) || !literal(":") || !string(text)) return false;
            v[key] = text;
        } while (literal(","));
        return literal("}");
    }

    // A count object the writer writes only when it is not empty.
    bool named_counts(std::map<std::string, std::uint64_t>& v) { return drops(v) && !v.empty(); }

    std::string_view s_;
    std::size_t pos_ = 0;
};

// Reads a record from a line the JSON parser parsed (one canonical_reader gave up on): the same
// members in the same order as canonical_reader reads them, each of the type the writer writes.
class object_reader {
  public:
    explicit object_reader(const boost::json::object& obj) : obj_(obj), it_(obj.begin()) {}

    bool read(record& out) {
        for (std::size_t i = 0; i < std::size(keys); ++i) {
            if (!optional_members(keys[i], out)) return false;
            if (!next_is(keys[i]) || !member(i, take(), out)) return false;
        }
        return it_ == obj_.end();
    }

  private:
    bool next_is(std::string_view key) const { return it_ != obj_.end() && it_->key() == key; }
    const boost::json::value& take() { return (it_++)->value(); }

    // The optional members, where canonical_reader expects them: the replica before time, the
    // refusal's legal rule before client, the transform counts before records_in, the subject
    // index before bytes_in, via and trace_id before policy_revision, the rest before prev_hash.
    bool optional_members(std::string_view key, record& out) {
        if (key == "time" && next_is("replica")) {
            if (!get_str(take(), out.replica) || out.replica.empty()) return false;
        }
        if (key == "client" && next_is("rule_id")) {
            if (!get_str(take(), out.rule_id) || out.rule_id.empty() ||
                !next_is("legal_reference") || !get_str(take(), out.legal_reference))
                return false;
        }
        if (key == "records_in") {
            if (next_is("fields_transformed") && !get_counts(take(), out.fields_transformed, true))
                return false;
            if (next_is("transform_failed") && !get_counts(take(), out.transform_failed, true))
                return false;
        }
        if (key == "bytes_in" && next_is("subject_keys")) {
            if (!get_u64(take(), out.subject_keys) || !next_is("subject_index") ||
                !get_str(take(), out.subject_index) || out.subject_index.empty())
                return false;
        }
        if (key == "policy_revision") {
            if (next_is("via") && (!get_str(take(), out.via) || out.via.empty())) return false;
            if (next_is("trace_id") && (!get_str(take(), out.trace_id) || out.trace_id.empty()))
                return false;
        }
        if (key == "prev_hash") return event_members(out);
        return true;
    }

    // A volume alert's members, the candidate policy's, a configuration load's and a
    // checkpoint's.
    bool event_members(record& out) {
        if (next_is("volume_hour")) {
            if (!get_str(take(), out.volume_hour) || out.volume_hour.empty() ||
                !next_is("volume_records") || !get_u64(take(), out.volume_records) ||
                !next_is("volume_threshold") || !get_u64(take(), out.volume_threshold) ||
                !next_is("volume_bound") || !get_str(take(), out.volume_bound) ||
                !next_is("volume_median") || !get_u64(take(), out.volume_median) ||
                !next_is("volume_action") || !get_str(take(), out.volume_action))
                return false;
        }
        if (next_is("shadow_decision")) {
            if (!get_str(take(), out.shadow_decision) || !next_is("shadow_reason") ||
                !get_str(take(), out.shadow_reason) || !next_is("shadow_fields_stripped") ||
                !get_list(take(), out.shadow_fields_stripped))
                return false;
        }
        if (next_is("policy_trigger")) {
            if (!get_str(take(), out.policy_trigger) || out.policy_trigger.empty() ||
                !next_is("policy_files") || !get_names(take(), out.policy_files) ||
                !next_is("suppression_lists") || !get_names(take(), out.suppression_lists))
                return false;
        }
        if (next_is("checkpoint_seq")) {
            if (!get_u64(take(), out.checkpoint_seq) || !next_is("checkpoint_hash") ||
                !get_str(take(), out.checkpoint_hash) || !next_is("checkpoint_key_id") ||
                !get_str(take(), out.checkpoint_key_id) || !next_is("checkpoint_signature") ||
                !get_str(take(), out.checkpoint_signature) || out.checkpoint_signature.empty())
                return false;
        }
        return true;
    }

    // The value `e` of keys[i].
    static bool member(std::size_t i, const boost::json::value& e, record& out) {
        switch (i) {
            case 0:
                return get_u64(e, out.seq);
            case 1:
                return get_str(e, out.id);
            case 2:
                return get_str(e, out.time);
            case 3:
                return get_str(e, out.mode);
            case 4:
                return get_str(e, out.decision);
            case 5:
                return get_str(e, out.reason);
            case 6:
                return get_str(e, out.client);
            case 7:
                return get_str(e, out.purpose);
            case 8:
                return get_str(e, out.basis);
            case 9:
                return get_str(e, out.destination);
            case 10:
                return get_str(e, out.destination_kind);
            case 11:
                return get_str(e, out.route);
            case 12:
                return get_str(e, out.method);
            case 13:
                return get_str(e, out.path);
            case 14: {
                std::uint64_t s = 0;
                const bool ok = get_u64(e, s) && s <= 999;
                out.status = static_cast<int>(s);
                return ok;
            }
            case 15:
                return get_list(e, out.fields_requested);
            case 16:
                return get_list(e, out.fields_stripped);
            case 17:
                return get_u64(e, out.records_in);
            case 18:
                return get_u64(e, out.records_out);
            case 19:
                return get_counts(e, out.records_dropped, false);
            case 20:
                return get_u64(e, out.bytes_in);
            case 21:
                return get_u64(e, out.bytes_out);
            case 22:
                if (!e.is_number()) return false;
                out.duration_ms = e.to_number<double>();
                return true;
            case 23:
                return get_str(e, out.remote);
            case 24:
                return get_str(e, out.policy_revision);
            case 25:
                return get_str(e, out.prev_hash) && is_hex64(out.prev_hash);
            case 26:
                return get_str(e, out.hash) && is_hex64(out.hash);
            default:
                return false;
        }
    }

    const boost::json::object& obj_;
    boost::json::object::const_iterator it_;
};

// The members that say what was decided: seq, id, replica, time, mode, decision, reason and the
// refusal's legal rule.
void append_decision_members(const record& r, json_writer& w) {
    w.member("\"seq\":", r.seq);
    w.member(",\"id\":", r.id);
    if (!r.replica.empty()) {
        w.member(",\"replica\":", r.replica);
    }
    w.member(",\"time\":", r.time);
    w.member(",\"mode\":", r.mode);
    w.member(",\"decision\":", r.decision);
    w.member(",\"reason\":", r.reason);
    if (!r.rule_id.empty()) {
        w.member(",\"rule_id\":", r.rule_id);
        w.member(",\"legal_reference\":", r.legal_reference);
    }
}

// The members of the request: who asked for what, where it went, its status and the fields
// requested, stripped and transformed.
void append_request_members(const record& r, json_writer& w) {
    w.member(",\"client\":", r.client);
    w.member(",\"purpose\":", r.purpose);
    w.member(",\"basis\":", r.basis);
    w.member(",\"destination\":", r.destination);
    w.member(",\"destination_kind\":", r.destination_kind);
    w.member(",\"route\":", r.route);
    w.member(",\"method\":", r.method);
    w.member(",\"path\":", r.path);
    w.member(",\"status\":", r.status);
    w.raw(",\"fields_requested\":");
    append_list(r.fields_requested, w);
    w.raw(",\"fields_stripped\":");
    append_list(r.fields_stripped, w);
    if (!r.fields_transformed.empty()) {
        w.raw(",\"fields_transformed\":");
        append_counts(r.fields_transformed, w);
    }
    if (!r.transform_failed.empty()) {
        w.raw(",\"transform_failed\":");
        append_counts(r.transform_failed, w);
    }
}

// The members of what went through: records and bytes, the subject index, the duration, the
// remote end and the policy revision.
void append_transfer_members(const record& r, json_writer& w) {
    w.member(",\"records_in\":", r.records_in);
    w.member(",\"records_out\":", r.records_out);
    w.raw(",\"records_dropped\":");
    append_counts(r.records_dropped, w);
    if (!r.subject_index.empty()) {
        w.member(",\"subject_keys\":", r.subject_keys);
        w.member(",\"subject_index\":", r.subject_index);
    }
    w.member(",\"bytes_in\":", r.bytes_in);
    w.member(",\"bytes_out\":", r.bytes_out);
    w.raw(",\"duration_ms\":");
    append_duration(r.duration_ms, w);
    w.member(",\"remote\":", r.remote);
    if (!r.via.empty()) {
        w.member(",\"via\":", r.via);
    }
    if (!r.trace_id.empty()) {
        w.member(",\"trace_id\":", r.trace_id);
    }
    w.member(",\"policy_revision\":", r.policy_revision);
}

// The members of particular records: a volume alert's, the candidate policy's, a configuration
// load's and a checkpoint's.
void append_event_members(const record& r, json_writer& w) {
    if (!r.volume_hour.empty()) {
        w.member(",\"volume_hour\":", r.volume_hour);
        w.member(",\"volume_records\":", r.volume_records);
        w.member(",\"volume_threshold\":", r.volume_threshold);
        w.member(",\"volume_bound\":", r.volume_bound);
        w.member(",\"volume_median\":", r.volume_median);
        w.member(",\"volume_action\":", r.volume_action);
    }
    if (!r.shadow_decision.empty()) {
        w.member(",\"shadow_decision\":", r.shadow_decision);
        w.member(",\"shadow_reason\":", r.shadow_reason);
        w.raw(",\"shadow_fields_stripped\":");
        append_list(r.shadow_fields_stripped, w);
    }
    if (!r.policy_trigger.empty()) {
        w.member(",\"policy_trigger\":", r.policy_trigger);
        w.raw(",\"policy_files\":");
        append_names(r.policy_files, w);
        w.raw(",\"suppression_lists\":");
        append_names(r.suppression_lists, w);
    }
    if (!r.checkpoint_signature.empty()) {
        w.member(",\"checkpoint_seq\":", r.checkpoint_seq);
        w.member(",\"checkpoint_hash\":", r.checkpoint_hash);
        w.member(",\"checkpoint_key_id\":", r.checkpoint_key_id);
        w.member(",\"checkpoint_signature\":", r.checkpoint_signature);
    }
}
// Every member but the hash, in the design's order, without the braces.
void append_members(const record& r, json_writer& w) {
    append_decision_members(r, w);
    append_request_members(r, w);
    append_transfer_members(r, w);
    append_event_members(r, w);
    w.member(",\"prev_hash\":", r.prev_hash);
}
}  // namespace

void append_canonical(const record& r, std::string& out) {
    json_writer w(out);
    w.raw('{');
    append_members(r, w);
    w.raw('}');
}

void append_line(const record& r, std::string& out) {
    json_writer w(out);
    w.raw('{');
    append_members(r, w);
    w.raw(",\"hash\":");  // the canonical bytes with the hash member before the closing brace
    w.string(r.hash);
    w.raw("}\n");
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
    common::write_hex(out, digest, std::min<std::size_t>(32, len));
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
    // `out` is reused line after line: a member this line lacks must not keep the last one's.
    clear_optional(out);
    if (canonical_reader(line).read(out)) return {};
    parser.reset();
    boost::system::error_code ec;
    parser.write(line.data(), line.size(), ec);
    if (ec) return bad;
    const boost::json::value v = parser.release();
    if (!v.is_object()) return bad;
    clear_optional(out);
    return object_reader(v.get_object()).read(out) ? boost::system::error_code{} : bad;
}

}  // namespace exportwall::audit
