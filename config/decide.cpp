#include "config/decide.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <openssl/crypto.h>

#include "common/ascii.hpp"
#include "common/clock.hpp"
#include "common/hex.hpp"
#include "config/loader.hpp"
#include "config/query/guard.hpp"
#include "config/query/guard_support.hpp"
#include "config/rules.hpp"
#include "config/selection.hpp"

namespace exportwall::config {
namespace {

constexpr std::array<std::string_view, reason_count> reason_names{
    "ok",
    "route_not_found",
    "method_not_allowed",
    "unauthenticated",
    "declaration_missing",
    "declaration_invalid",
    "purpose_unknown",
    "purpose_not_granted",
    "destination_unknown",
    "destination_not_granted",
    "destination_not_permitted_for_purpose",
    "third_party_direct_marketing",
    "record_limit_exceeded",
    "request_rejected",
    "upstream_unavailable",
    "upstream_timeout",
    "upstream_malformed",
    "upstream_unsupported",
    "upstream_error",
    "audit_unavailable",
    "query_unsupported",
    "query_field_not_permitted",
    "continuation_invalid",
    "disclosure_not_permitted",
    "processor_agreement_expired",
    "grant_not_valid",
    "quota_exceeded",
    "quota_store_unavailable",
    "suppression_list_stale",
    "volume_anomaly",
    "upstream_auth_unavailable",
};

constexpr std::array<unsigned, reason_count> reason_status{
    200, 404, 405, 401, 400, 400, 403, 403, 403, 403, 403, 403, 403, 400, 502, 504,
    502, 502, 502, 503, 400, 403, 400, 403, 403, 403, 429, 503, 503, 403, 503,
};

// A hex SHA-256 normalised to lower case without ':' into a fixed buffer (no allocation).
struct hex_digest {
    std::array<char, 64> bytes{};
    bool valid = false;
    [[nodiscard]] std::string_view view() const { return {bytes.data(), bytes.size()}; }
};

// Whether `in` is 64 lower-case hex digits already: a digest exportwall computed itself (the
// bearer key's, every request) needs no pass a byte at a time (~900 instructions an export).
bool is_lower_hex64(std::string_view in) noexcept {
    if (in.size() != 64) return false;
#if defined(__SSE2__)
    const __m128i below_0 = _mm_set1_epi8('0' - 1);
    const __m128i above_9 = _mm_set1_epi8('9' + 1);
    const __m128i below_a = _mm_set1_epi8('a' - 1);
    const __m128i above_f = _mm_set1_epi8('f' + 1);
    for (std::size_t i = 0; i < 64; i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in.data() + i));
        const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, below_0), _mm_cmplt_epi8(v, above_9));
        const __m128i letter =
            _mm_and_si128(_mm_cmpgt_epi8(v, below_a), _mm_cmplt_epi8(v, above_f));
        if (_mm_movemask_epi8(_mm_or_si128(digit, letter)) != 0xffff) return false;
    }
    return true;
#else
    return std::all_of(in.begin(), in.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
#endif
}

hex_digest normalise_hex(std::string_view in) {
    hex_digest out;
    if (is_lower_hex64(in)) {
        std::copy(in.begin(), in.end(), out.bytes.begin());
        out.valid = true;
        return out;
    }
    std::size_t n = 0;
    for (char c : in) {
        if (c == ':') continue;
        if (n == out.bytes.size() || common::hex_value(c) < 0) return out;
        out.bytes[n++] =
            common::to_lower_ascii(c);  // not the locale's tolower: ~30 instructions a digit
    }
    out.valid = n == out.bytes.size();
    return out;
}

// The client a presented identity names, confirmed in constant time against the stored value.
const client* lookup(const policy& p, const id_index& index,
                     std::vector<std::string> client::*member, std::string_view presented) {
    auto i = index.find(presented);
    if (!i) return nullptr;
    const client& c = p.clients[*i];
    // The index lookup's timing depends only on the SHA-256 of the secret, which an attacker
    // cannot steer; the final comparison is constant-time all the same.
    for (const auto& stored : c.*member)
        if (constant_time_equals(stored, presented)) return &c;
    return nullptr;
}

enum class declaration_state : std::uint8_t { ok, missing, invalid };

struct declaration {
    declaration_state state = declaration_state::missing;
    std::string_view value;
};

bool id_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' ||
           c == ':';
}

declaration read_declaration(std::span<const std::string_view> values) {
    if (values.empty()) return {declaration_state::missing, {}};
    if (values.size() > 1) return {declaration_state::invalid, {}};
    std::string_view v = values.front();
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    if (v.empty() || v.size() > 128 || !std::all_of(v.begin(), v.end(), id_char))
        return {declaration_state::invalid, {}};
    return {declaration_state::ok, v};
}

std::optional<legal_rule> legal_rule_for(reason r) {
    switch (r) {
        case reason::purpose_unknown:
        case reason::purpose_not_granted:
        case reason::destination_not_granted:
        case reason::grant_not_valid:
            return legal_rule::r15_purpose_limitation;
        case reason::suppression_list_stale:
            return legal_rule::r8_objection_absolute;
        case reason::third_party_direct_marketing:
        case reason::disclosure_not_permitted:
            return legal_rule::r10_third_party_sharing;
        case reason::destination_not_permitted_for_purpose:
        case reason::processor_agreement_expired:
            return legal_rule::processor_contract;
        case reason::query_field_not_permitted:
            return legal_rule::references;
        default:
            return std::nullopt;
    }
}

void refuse(decision& d, reason r, std::string detail) {
    d.result = outcome::refuse;
    d.why = r;
    d.status = http_status(r);
    d.detail = std::move(detail);
}

void allow(decision& d) {
    d.result = outcome::allow;
    d.status = 200;
}

}  // namespace

refusal_rule rule_of(reason r) {
    auto lr = legal_rule_for(r);
    if (!lr) return {};
    auto i = info(*lr);
    return {i.id, i.reference};
}

refusal_rule rule_of(std::string_view reason_code) {
    auto r = parse_reason(reason_code);
    return r ? rule_of(*r) : refusal_rule{};
}

namespace {

std::string q(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '\'';
    out += s;
    out += '\'';
    return out;
}

// Seconds since the epoch: the request's `now`, or the system clock when the caller gave none.
std::int64_t now_of(const request_facts& facts) {
    if (facts.now != 0) return facts.now;
    return common::seconds_now();
}

// An age for a person: its largest unit and the next, rounded down ("3d 2h", "24h", "1m 30s").
std::string age_words(std::int64_t seconds) {
    if (seconds < 0) seconds = 0;
    static constexpr std::array<std::pair<std::int64_t, char>, 4> units{
        {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}}};
    std::size_t i = 0;
    while (i + 1 < units.size() && seconds < units[i].first) ++i;
    std::string out = std::to_string(seconds / units[i].first) + units[i].second;
    if (i + 1 < units.size()) {
        const std::int64_t next = seconds % units[i].first / units[i + 1].first;
        if (next != 0) out += ' ' + std::to_string(next) + units[i + 1].second;
    }
    return out;
}

// "valid from A until B", "valid until B", "valid from A": the grant's window as written.
std::string window_text(const grant& g) {
    std::string out = "valid";
    if (g.valid_from) out += " from " + g.valid_from_text;
    if (g.valid_until) out += " until " + g.valid_until_text;
    return out;
}

}  // namespace

std::string_view to_string(reason r) { return reason_names[static_cast<std::size_t>(r)]; }

std::optional<reason> parse_reason(std::string_view s) {
    for (std::size_t i = 0; i < reason_count; ++i)
        if (reason_names[i] == s) return static_cast<reason>(i);
    return std::nullopt;
}

unsigned http_status(reason r) { return reason_status[static_cast<std::size_t>(r)]; }

std::string_view to_string(outcome o) { return o == outcome::allow ? "allow" : "refuse"; }

bool constant_time_equals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string upstream_path(const route& r, const upstream* up, std::string_view path) {
    std::string out;
    if (up != nullptr) out = up->base_path;
    if (!out.empty() && out.back() == '/') out.pop_back();
    std::string_view rest = path;
    if (!r.upstream_path.empty() && rest.substr(0, r.path.size()) == r.path) {
        out += r.upstream_path;
        rest.remove_prefix(r.path.size());
        if (!rest.empty() && !out.empty() && out.back() == '/' && rest.front() == '/')
            rest.remove_prefix(1);
    }
    out += rest;
    if (out.empty()) out = "/";
    return out;
}

decision decide(const configuration& config, const request_facts& facts) {
    return decide(config.rules, config.net, facts, &config.continuation);
}

namespace {

// The route's continuation parameters in `raw_query`: each must be a token exportwall sealed for
// this declaration and the request's other parameters; it is taken out of the query the guard
// reads and its CRM token handed back in `opened` (added to the forwarded query afterwards, as
// the CRM wrote it: it came from the CRM, authenticated). False with `why` set when one fails.
bool open_continuations(const route& r, const decision& d, const request_facts& facts,
                        const continuation_key* key, std::string& rest,
                        std::vector<std::pair<std::string, std::string>>& opened,
                        std::optional<continuation_chain>& chain, std::string& why) {
    rest.clear();
    std::string binding_query;
    bool any = false;
    std::string name;
    std::string value;
    bool ok = true;
    for_each_query_pair(facts.query, [&](const raw_query_pair& p) {
        // Matched in any letter case: the OData guard reads $SKIPTOKEN as $skiptoken, so a
        // client's own token in another case would otherwise reach the CRM unsealed.
        bool continuation =
            percent_decode(p.name, name) &&
            std::any_of(r.continuation_params.begin(), r.continuation_params.end(),
                        [&name](const std::string& c) { return query::iequals_ascii(c, name); });
        if (!continuation) {
            if (!rest.empty()) rest.push_back('&');
            rest.append(p.pair);
            return true;
        }
        if (!any) binding_query = continuation_query_form(facts.query, r.continuation_params);
        any = true;
        if (!p.has_value || !percent_decode(p.value, value)) {
            why = "the paging token '" + name + "' is malformed";
            return ok = false;
        }
        if (key == nullptr) {
            why = "paging tokens cannot be opened here";
            return ok = false;
        }
        continuation_binding b{d.client_id, d.purpose_id,  d.destination_id,
                               r.id,        binding_query, facts.path};
        auto o = open_continuation(*key, b, value, now_of(facts));
        if (o.error != continuation_error::none) {
            why = "the paging token '" + name + "' is " + std::string(to_string(o.error)) +
                  "; follow the link exportwall gave, with the same declaration";
            return ok = false;
        }
        // Every token of one request continues one export.
        if (!opened.empty() && o.chain != chain) {
            why = "the paging tokens continue different exports";
            return ok = false;
        }
        chain = o.chain;
        opened.emplace_back(name, std::move(o.crm_token));
        return true;
    });
    return ok;
}

// Opens the paging tokens a body language carries (HubSpot search's `after`, a SOAP queryMore's
// queryLocator) for this declaration, route and path; every token of one request continues one
// export (decision::chain).
class body_token_opener final : public query::token_opener {
  public:
    body_token_opener(const continuation_key* key, decision& d, const route& r,
                      const request_facts& facts)
        : key_(key), d_(d), r_(r), facts_(facts) {}

    std::optional<std::string> open(std::string_view token, std::string_view binding,
                                    std::string& why) override {
        if (key_ == nullptr) {
            why = "paging tokens cannot be opened here";
            return std::nullopt;
        }
        continuation_binding b{d_.client_id, d_.purpose_id, d_.destination_id,
                               r_.id,        binding,       facts_.path};
        auto o = open_continuation(*key_, b, token, now_of(facts_));
        if (o.error != continuation_error::none) {
            why = "the paging token is " + std::string(to_string(o.error)) +
                  "; send the one exportwall gave, with the same declaration and body";
            return std::nullopt;
        }
        if (d_.chain && o.chain != d_.chain) {
            why = "the paging tokens continue different exports";
            return std::nullopt;
        }
        d_.chain = o.chain;
        return std::move(o.crm_token);
    }

  private:
    const continuation_key* key_;
    decision& d_;
    const route& r_;
    const request_facts& facts_;
};

// A soql prefix route's path tail: the queryMore locator exportwall sealed into a
// nextRecordsUrl (proxy/enforce/export_plan.cpp), bound to the route's own path and no query. The
// CRM's locator goes to d.upstream_path_tail. False with `why` set when there is a tail that is not
// one.
bool open_locator_tail(const route& r, decision& d, const request_facts& facts,
                       const continuation_key* key, std::string& why) {
    std::string_view tail = facts.path.substr(r.path.size());
    if (!tail.empty() && tail.front() == '/') tail.remove_prefix(1);
    if (tail.empty()) return true;
    if (r.query_language != query::language::soql || !facts.query.empty()) {
        why = "below route " + q(r.id) + " only a query locator may follow, alone";
        return false;
    }
    if (key == nullptr) {
        why = "paging tokens cannot be opened here";
        return false;
    }
    continuation_binding b{d.client_id, d.purpose_id, d.destination_id, r.id, "", r.path};
    auto o = open_continuation(*key, b, tail, now_of(facts));
    if (o.error != continuation_error::none) {
        why = "the query locator is " + std::string(to_string(o.error)) +
              "; follow the nextRecordsUrl exportwall gave, with the same declaration";
        return false;
    }
    const std::string& locator = o.crm_token;
    const bool ok = !locator.empty() && locator.size() <= 256 &&
                    std::all_of(locator.begin(), locator.end(), [](char ch) {
                        return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '-';
                    });
    if (!ok) {
        why = "the CRM's query locator is not a locator token";
        return false;
    }
    d.chain = o.chain;
    d.upstream_path_tail = locator;
    return true;
}

// Route and method: the route the proxy matched (by id), or the one serving the path, if it takes
// the request's method. Null with `d` refused when there is none.
const route* route_for(const settings& net, const request_facts& facts, decision& d) {
    const route* r = nullptr;
    if (!facts.route_id.empty()) {
        for (const auto& candidate : net.routes)
            if (candidate.id == facts.route_id) r = &candidate;
    } else {
        r = match_route(net, facts.path);
    }
    if (r == nullptr) {
        refuse(d, reason::route_not_found, "no route serves this path");
        return nullptr;
    }
    d.matched_route = r;
    if (std::find(r->methods.begin(), r->methods.end(), facts.method) == r->methods.end()) {
        refuse(d, reason::method_not_allowed, "route " + q(r->id) + " does not take this method");
        return nullptr;
    }
    return r;
}

// Who asks: the client its API key names and the one its certificate (fingerprint, else
// subject) names, which must be the same when both are presented. Null with `d` refused
// (unauthenticated) when no client is known; otherwise `d` names the client and its mode.
const client* client_for(const policy& p, const client_credentials& cred, decision& d) {
    const client* by_key = nullptr;
    if (!cred.api_key_sha256.empty()) {
        auto key = normalise_hex(cred.api_key_sha256);
        if (key.valid) by_key = lookup(p, p.client_by_key, &client::api_key_sha256, key.view());
        if (by_key == nullptr) {
            refuse(d, reason::unauthenticated, "the API key is not known");
            return nullptr;
        }
    }
    const client* by_cert = nullptr;
    if (!cred.certificate_sha256.empty()) {
        auto fp = normalise_hex(cred.certificate_sha256);
        if (fp.valid)
            by_cert = lookup(p, p.client_by_fingerprint, &client::certificate_sha256, fp.view());
    }
    if (by_cert == nullptr && !cred.certificate_subject.empty())
        by_cert =
            lookup(p, p.client_by_subject, &client::certificate_subject, cred.certificate_subject);
    if (by_key != nullptr && by_cert != nullptr && by_key != by_cert) {
        refuse(d, reason::unauthenticated,
               "the API key and the certificate name different clients");
        return nullptr;
    }
    const client* c = by_key != nullptr ? by_key : by_cert;
    if (c == nullptr) {
        refuse(d, reason::unauthenticated,
               cred.certificate_subject.empty() && cred.certificate_sha256.empty()
                   ? "no credential presented"
                   : "the client certificate is not known");
        return nullptr;
    }
    d.client_ref = c;
    d.client_id = c->id;
    d.effective_mode = c->client_mode.value_or(p.global_mode);
    return c;
}

// The purpose and destination a request declares, as indices into the policy.
struct declared_export {
    std::size_t purpose_index = 0;
    std::size_t destination_index = 0;
};

// What for and where to: X-Export-Purpose and X-Export-Destination, each sent once with one
// configured id. Nothing with `d` refused otherwise. The ids go into `d` as declared once they
// are well-formed, even when unknown: the audit record names what was asked for.
std::optional<declared_export> find_declared(const policy& p, const request_facts& facts,
                                             decision& d) {
    auto dp = read_declaration(facts.purpose_headers);
    auto dd = read_declaration(facts.destination_headers);
    if (dp.state == declaration_state::missing || dd.state == declaration_state::missing) {
        refuse(d, reason::declaration_missing,
               dp.state == declaration_state::missing ? "X-Export-Purpose is missing"
                                                      : "X-Export-Destination is missing");
        return std::nullopt;
    }
    if (dp.state == declaration_state::invalid || dd.state == declaration_state::invalid) {
        refuse(d, reason::declaration_invalid,
               dp.state == declaration_state::invalid
                   ? "X-Export-Purpose must be sent once, with one purpose id"
                   : "X-Export-Destination must be sent once, with one destination id");
        return std::nullopt;
    }
    d.purpose_id = std::string(dp.value);
    d.destination_id = std::string(dd.value);
    auto pi = p.purpose_by_id.find(dp.value);
    if (!pi) {
        refuse(d, reason::purpose_unknown, "purpose " + q(dp.value) + " is not configured");
        return std::nullopt;
    }
    const purpose& pu = p.purposes[*pi];
    d.purpose_ref = &pu;
    d.basis = pu.basis;
    auto di = p.destination_by_id.find(dd.value);
    if (!di) {
        refuse(d, reason::destination_unknown, "destination " + q(dd.value) + " is not configured");
        return std::nullopt;
    }
    const destination& de = p.destinations[*di];
    d.destination_ref = &de;
    d.kind = de.kind;
    return declared_export{*pi, *di};
}

// The legal refusals no grant overrides: marketing reaching a third party (R10), a disclosure to
// another controller on a basis that cannot carry it (R10), a processor outside its contract or
// past its agreement's end. False with `d` refused when one applies.
bool permitted_by_law(const purpose& pu, const destination& de, const request_facts& facts,
                      decision& d) {
    if (de.own_marketing) {
        refuse(d, reason::third_party_direct_marketing,
               "destination " + q(de.id) +
                   " uses what it receives for its own marketing; no export may reach it");
        return false;
    }
    if (de.kind == destination_kind::third_party && pu.direct_marketing) {
        refuse(d, reason::third_party_direct_marketing,
               "direct-marketing purpose " + q(pu.id) + " may not send data to third party " +
                   q(de.id));
        return false;
    }
    if (de.kind == destination_kind::third_party && pu.basis != legal_basis::consent &&
        pu.basis != legal_basis::legal_obligation) {
        refuse(d, reason::disclosure_not_permitted,
               "purpose " + q(pu.id) + " rests on " + q(to_string(pu.basis)) +
                   ", which cannot carry a disclosure to another controller (" + q(de.id) + ")");
        return false;
    }
    if (de.kind == destination_kind::processor && !de.permits(pu.id)) {
        refuse(d, reason::destination_not_permitted_for_purpose,
               "processor " + q(de.id) + " is not contracted for purpose " + q(pu.id));
        return false;
    }
    if (de.kind == destination_kind::processor && de.dpa_expires_day != 0) {
        const std::int64_t now = now_of(facts);
        // The agreement covers its last day whole (UTC).
        if (now >= (de.dpa_expires_day + 1) * 86400) {
            refuse(d, reason::processor_agreement_expired,
                   "the processing agreement with " + q(de.id) + " ended on " + de.dpa_expires);
            return false;
        }
    }
    return true;
}

// The client's grant for the declared purpose, when it lists the declared destination (R15).
// Null with `d` refused (purpose_not_granted, destination_not_granted) otherwise.
const grant* grant_for(const client& c, const declared_export& e, const purpose& pu,
                       const destination& de, decision& d) {
    const grant* g = nullptr;
    for (const auto& candidate : c.grants)
        if (candidate.purpose_index == e.purpose_index) g = &candidate;
    if (g == nullptr) {
        refuse(d, reason::purpose_not_granted,
               "client " + q(c.id) + " may not export for purpose " + q(pu.id));
        return nullptr;
    }
    if (std::find(g->destination_indices.begin(), g->destination_indices.end(),
                  e.destination_index) == g->destination_indices.end()) {
        refuse(d, reason::destination_not_granted,
               "client " + q(c.id) + " may not export for purpose " + q(pu.id) + " to " + q(de.id));
        return nullptr;
    }
    return g;
}

// The grant's window and the age of the purpose's suppression list, at the request's time. Both
// compare the clock with integers, so an allowed export pays no allocation for them. False with
// `d` refused (grant_not_valid, suppression_list_stale) when either fails.
bool in_force(const grant& g, const suppression_list* list, const client& c, const purpose& pu,
              const request_facts& facts, decision& d) {
    const bool list_ages = list != nullptr && list->max_age_seconds > 0;
    if (!g.valid_from && !g.valid_until && !list_ages) return true;
    const std::int64_t now = now_of(facts);
    if ((g.valid_from && now < *g.valid_from) || (g.valid_until && now > *g.valid_until)) {
        const bool early = g.valid_from && now < *g.valid_from;
        refuse(d, reason::grant_not_valid,
               "grant of client " + q(c.id) + " for purpose " + q(pu.id) + " is " + window_text(g) +
                   (early ? "; it is not valid yet" : "; it has expired"));
        return false;
    }
    if (!list_ages) return true;
    // A list past its max-age may miss objections received since (R8): refused, not filtered
    // with what it holds. An unread list, or one whose file time is unknown, is stale (fail
    // closed).
    const suppression_entries* e = list->entries.get();
    const std::int64_t modified = e != nullptr && e->loaded() ? e->modified() : 0;
    if (modified == 0) {
        refuse(d, reason::suppression_list_stale,
               "suppression list " + q(list->id) +
                   " has no known file time (not read, or its modification time could not be "
                   "read); max-age is " +
                   list->max_age_text);
        return false;
    }
    if (now - modified > list->max_age_seconds) {
        refuse(d, reason::suppression_list_stale,
               "suppression list " + q(list->id) + " was last changed " +
                   age_words(now - modified) + " ago; max-age is " + list->max_age_text);
        return false;
    }
    return true;
}

// A passthrough route relays its answer unfiltered, query and all: no direct-marketing purpose
// may use it.
void decide_passthrough(const route& r, const purpose& pu, const request_facts& facts,
                        decision& d) {
    if (pu.direct_marketing) {
        refuse(d, reason::purpose_not_granted,
               "route " + q(r.id) +
                   " is passthrough (unfiltered); direct-marketing purposes may not use it");
        return;
    }
    d.upstream_query = std::string(facts.query);
    allow(d);
}

// What the query guard checks a record route's query against: the purpose's view of the route's
// entity, the route's query vocabulary, and the upstream's own session or login for the body
// languages (a client's is never forwarded).
query::field_policy field_policy_for(const policy& p, const settings& net, const route& r,
                                     const purpose_view& view, std::size_t entity_index) {
    query::field_policy fp;
    fp.allowed = &view.allowed;
    fp.catalogue = &p.entities[entity_index].catalogue;
    fp.transformed = &view.transformed;
    fp.rule_fields = view.rule_fields;
    fp.select_param = r.select_param;
    fp.select_separator = r.select_separator;
    fp.header_space = r.csv_header_space;
    fp.paging_params = r.paging_params;
    fp.filter_params = r.filter_params;
    fp.search_fields = r.search_fields;
    fp.object_name = r.object;
    if (const upstream* up = net.find_upstream(r.upstream_id)) {
        fp.soap_session = up->soap_session_id;
        fp.rpc_database = up->rpc_database;
        fp.rpc_user = up->rpc_user;
        fp.rpc_password = up->rpc_password;
    }
    return fp;
}

// The rest of a prefix route's path (only soql routes may be prefixes): nothing, or one sealed
// queryMore locator with no query beside it. False with `d` refused otherwise.
bool open_path_tail(const route& r, const request_facts& facts, const continuation_key* key,
                    decision& d) {
    if (r.match != path_match::prefix || facts.path.size() <= r.path.size()) return true;
    std::string why;
    if (open_locator_tail(r, d, facts, key, why)) return true;
    const bool shape = r.query_language != query::language::soql || !facts.query.empty();
    refuse(d, shape ? reason::query_unsupported : reason::continuation_invalid, std::move(why));
    return false;
}

// The query guard's verdict: false with `d` refused unless the query may be forwarded.
bool guard_forwards(query::guarded_query& sel, decision& d) {
    switch (sel.result) {
        case query::verdict::forward:
            return true;
        case query::verdict::invalid:
            refuse(d, reason::declaration_invalid, std::move(sel.detail));
            return false;
        case query::verdict::unsupported:
            refuse(d, reason::query_unsupported, std::move(sel.detail));
            return false;
        case query::verdict::field_not_permitted:
            refuse(d, reason::query_field_not_permitted, std::move(sel.detail));
            return false;
        case query::verdict::continuation_invalid:
            refuse(d, reason::continuation_invalid, std::move(sel.detail));
            return false;
    }
    return true;
}

// Allows a record route's export: what the filter applies (the purpose's view for the
// destination, the suppression list), the fields the guard kept and stripped, and the query and
// body forwarded, with the CRM's paging tokens opened from the client's sealed ones.
void allow_record_export(const route& r, const purpose_view& view, std::size_t destination_index,
                         const suppression_list* list, const request_facts& facts,
                         query::guarded_query& sel,
                         const std::vector<std::pair<std::string, std::string>>& opened,
                         decision& d) {
    d.allowed = &view.allowed;
    d.rules = &view.rules_for(destination_index);
    if (!view.transforms.empty()) d.transforms = &view.transforms;
    d.suppression = list;
    d.fields_requested = std::move(sel.requested);
    d.fields_stripped = std::move(sel.stripped);
    d.fields_kept = std::move(sel.kept);
    if (!r.select_param.empty() || r.query_language != query::language::none)
        d.fields_selected = std::move(sel.sent);
    d.upstream_query = std::move(sel.query);
    for (const auto& [name, token] : opened) query::append_param(d.upstream_query, name, token, "");
    d.upstream_body = std::move(sel.body);
    d.body_rewritten = !facts.body.empty();
    d.soap_operation = std::move(sel.operation);
    // What a token sealed into the answer's body is bound to: the body language's body without
    // its token, or the request's other query parameters (a SOAP locator: nothing else).
    if (!sel.continuation_binding.empty())
        d.continuation_binding = std::move(sel.continuation_binding);
    else if (!r.continuation_fields.empty())
        d.continuation_binding = continuation_query_form(facts.query, r.continuation_params);
    allow(d);
}

}  // namespace

decision decide(const policy& p, const settings& net, const request_facts& facts,
                const continuation_key* continuation) {
    decision d;
    d.effective_mode = p.global_mode;

    // The stages run in the order decide.hpp documents, and decide() returns as soon as one has
    // refused `d`: the first check that fails gives the reason the client and the trail see.
    const route* r = route_for(net, facts, d);
    if (r == nullptr) return d;
    if (r->open) {
        // An open passthrough route (metadata, health): no identity, no declaration.
        d.upstream_query = std::string(facts.query);
        allow(d);
        return d;
    }
    const client* c = client_for(p, facts.credentials, d);
    if (c == nullptr) return d;
    const std::optional<declared_export> declared = find_declared(p, facts, d);
    if (!declared) return d;
    const purpose& pu = p.purposes[declared->purpose_index];
    const destination& de = p.destinations[declared->destination_index];
    // Legal refusals, whatever the grants say (the load-time rules forbid granting these).
    if (!permitted_by_law(pu, de, facts, d)) return d;
    const grant* g = grant_for(*c, *declared, pu, de, d);
    if (g == nullptr) return d;
    const suppression_list* list =
        pu.suppression_list.empty() ? nullptr : p.find_suppression_list(pu.suppression_list);
    if (!in_force(*g, list, *c, pu, facts, d)) return d;
    d.grant_ref = g;
    d.max_records = g->max_records;
    if (pu.max_records != 0 && (d.max_records == 0 || pu.max_records < d.max_records))
        d.max_records = pu.max_records;

    // What the route carries.
    if (r->format == route_format::passthrough) {
        decide_passthrough(*r, pu, facts, d);
        return d;
    }
    auto ei = p.entity_by_id.find(r->entity);
    const purpose_view* view = ei ? pu.find_view(*ei) : nullptr;
    if (view == nullptr) {
        refuse(d, reason::purpose_not_granted,
               "purpose " + q(pu.id) + " reads no field of entity " + q(r->entity));
        return d;
    }
    // A body reaches the CRM only through a language that reads it (SOAP query, HubSpot search):
    // on any other record route it would pass unread.
    const bool reads_body = !query::body_media_type(r->query_language).empty();
    if ((facts.body_present || !facts.body.empty()) && !reads_body) {
        refuse(d, reason::query_unsupported, "this route's query language reads no request body");
        return d;
    }
    if (facts.body_pending) {
        allow(d);
        return d;
    }

    // The query guard: the client's query parsed with the route's language, every field it
    // reads checked, the condition fields forced in, re-serialised (docs/query-languages.md).
    query::field_policy fp = field_policy_for(p, net, *r, *view, *ei);
    if (!open_path_tail(*r, facts, continuation, d)) return d;
    body_token_opener tokens(continuation, d, *r, facts);
    fp.tokens = &tokens;
    std::string guarded_query;
    std::vector<std::pair<std::string, std::string>> opened;
    std::string why;
    if (!open_continuations(*r, d, facts, continuation, guarded_query, opened, d.chain, why)) {
        refuse(d, reason::continuation_invalid, std::move(why));
        return d;
    }
    auto sel = query::guard(r->query_language, fp, guarded_query, facts.body);
    if (!guard_forwards(sel, d)) return d;
    allow_record_export(*r, *view, declared->destination_index, list, facts, sel, opened, d);
    return d;
}

reason standing_refusal(const policy& p, std::string_view client_id, std::string_view purpose_id,
                        std::string_view destination_id) {
    const auto ci = p.client_by_id.find(client_id);
    if (!ci) return reason::unauthenticated;
    const auto pi = p.purpose_by_id.find(purpose_id);
    if (!pi) return reason::purpose_unknown;
    const auto di = p.destination_by_id.find(destination_id);
    if (!di) return reason::destination_unknown;
    const purpose& pu = p.purposes[*pi];
    const destination& de = p.destinations[*di];
    // The same checks, in the same order, as decide() above.
    if (de.own_marketing) return reason::third_party_direct_marketing;
    if (de.kind == destination_kind::third_party && pu.direct_marketing)
        return reason::third_party_direct_marketing;
    if (de.kind == destination_kind::third_party && pu.basis != legal_basis::consent &&
        pu.basis != legal_basis::legal_obligation)
        return reason::disclosure_not_permitted;
    if (de.kind == destination_kind::processor && !de.permits(pu.id))
        return reason::destination_not_permitted_for_purpose;
    const grant* g = nullptr;
    for (const auto& candidate : p.clients[*ci].grants)
        if (candidate.purpose_index == *pi) g = &candidate;
    if (g == nullptr) return reason::purpose_not_granted;
    if (std::find(g->destination_indices.begin(), g->destination_indices.end(), *di) ==
        g->destination_indices.end())
        return reason::destination_not_granted;
    return reason::none;
}

std::string age_text(std::int64_t seconds) { return age_words(seconds); }

}  // namespace exportwall::config
