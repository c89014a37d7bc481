#include "config/query/guard_support.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include "common/percent.hpp"
#include "config/selection.hpp"

namespace exportwall::config::query {
namespace {

// Which bytes append_param writes as they are: the unreserved ones always; a `keep` byte unless
// it would end or split a pair (& = + # %).
using byte_set = common::percent_plain;
constexpr byte_set plain_bytes(std::string_view keep) {
    byte_set plain = common::unreserved_and("");
    for (char c : keep)
        if (std::string_view("&=+#%").find(c) == std::string_view::npos)
            plain[static_cast<unsigned char>(c)] = true;
    return plain;
}

// The tables of the `keep` sets the guards pass, built at compile time: a table per call cost
// more than the encoding of a typical value.
constexpr std::string_view value_keep = "$,()'*:@/;=!";  // append_param's default
constexpr byte_set plain_in_values = plain_bytes(value_keep);
constexpr byte_set plain_in_names = plain_bytes("$");
constexpr byte_set plain_always = plain_bytes("");

// Appends `s` percent-encoded (common/percent.hpp), `keep` as append_param says.
void encode(std::string_view s, std::string_view keep, std::string& out) {
    if (keep == value_keep) {
        common::append_percent_encoded(out, s, plain_in_values);
    } else if (keep == "$") {
        common::append_percent_encoded(out, s, plain_in_names);
    } else if (keep.empty()) {
        common::append_percent_encoded(out, s, plain_always);
    } else {
        common::append_percent_encoded(out, s, plain_bytes(keep));
    }
}

bool has_control(std::string_view s) {
    // No early exit: a loop the compiler can vectorise, over a value that is rarely refused.
    bool control = false;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        control |= u < 0x20 || u == 0x7f;
    }
    return control;
}

enum class decoding : std::uint8_t { ok, malformed, control };

// What a raw byte of a query pair asks of split_query: decoding ('%', '+'), or a refusal (a
// control byte). A table, so that one pass over a value answers both at a few instructions a
// byte.
constexpr std::uint8_t needs_decoding = 1;
constexpr std::uint8_t is_control = 2;
constexpr std::array<std::uint8_t, 256> raw_byte_class = [] {
    std::array<std::uint8_t, 256> table{};
    for (std::size_t c = 0; c < 0x20; ++c) table[c] = is_control;
    table[0x7f] = is_control;
    table['%'] = needs_decoding;
    table['+'] = needs_decoding;
    return table;
}();

// `in` decoded: itself when it holds no escape and no '+', else decoded at the end of `storage`
// (which the caller reserved, so earlier views into it stay valid). One pass over `in` finds
// both whether it needs decoding and whether it holds a control byte.
decoding decoded_view(std::string_view in, std::string& storage, std::string_view& out) {
    std::uint8_t found = 0;
    for (char c : in) found |= raw_byte_class[static_cast<unsigned char>(c)];
    if ((found & needs_decoding) == 0) {
        out = in;
        return (found & is_control) != 0 ? decoding::control : decoding::ok;
    }
    // %XX can make a control byte: the decoded value is checked, raw control bytes and all.
    const std::size_t at = storage.size();
    if (!common::append_percent_decoded(storage, in, common::plus_sign::space))
        return decoding::malformed;
    out = std::string_view(storage).substr(at);
    return has_control(out) ? decoding::control : decoding::ok;
}

}  // namespace

std::string_view to_string(language l) {
    switch (l) {
        case language::none:
            return "none";
        case language::params:
            return "params";
        case language::odata:
            return "odata";
        case language::soql:
            return "soql";
        case language::hubspot_search:
            return "hubspot-search";
        case language::jsonapi:
            return "jsonapi";
        case language::odoo_rpc:
            return "odoo-rpc";
        case language::odoo_xmlrpc:
            return "odoo-xmlrpc";
    }
    return "none";
}

std::optional<language> parse_language(std::string_view s) {
    for (auto l :
         {language::none, language::params, language::odata, language::soql,
          language::hubspot_search, language::jsonapi, language::odoo_rpc, language::odoo_xmlrpc})
        if (to_string(l) == s) return l;
    return std::nullopt;
}

std::string_view to_string(use u) {
    switch (u) {
        case use::select:
            return "selection";
        case use::filter:
            return "filter";
        case use::order:
            return "order";
        case use::compute:
            return "computed value";
        case use::aggregate:
            return "aggregate";
        case use::group:
            return "grouping";
        case use::expand:
            return "expansion";
        case use::search:
            return "search";
        case use::alias:
            return "alias";
    }
    return "reference";
}

bool split_query(std::string_view raw, std::vector<query_param>& out, std::string& detail) {
    out.clear();
    bool ok = true;
    for_each_query_pair(raw, [&](const raw_query_pair& rp) {
        query_param p;
        p.has_value = rp.has_value;
        if (!common::append_percent_decoded(p.name, rp.name, common::plus_sign::space)) {
            detail = "a query parameter name has a malformed percent-escape";
            return ok = false;
        }
        if (p.has_value &&
            !common::append_percent_decoded(p.value, rp.value, common::plus_sign::space)) {
            detail = "a query parameter value has a malformed percent-escape";
            return ok = false;
        }
        if (has_control(p.name) || has_control(p.value)) {
            detail = "a query parameter holds a control character";
            return ok = false;
        }
        out.push_back(std::move(p));
        return true;
    });
    return ok;
}

bool split_query(std::string_view raw, std::vector<query_param_view>& out, std::string& storage,
                 std::string& detail) {
    out.clear();
    out.reserve(16);
    storage.clear();
    storage.reserve(raw.size());
    bool ok = true;
    for_each_query_pair(raw, [&](const raw_query_pair& rp) {
        query_param_view p;
        p.has_value = rp.has_value;
        // The same checks in the same order as the split_query above: a malformed escape in the
        // name, then in the value, then a control byte in either.
        decoding name = decoded_view(rp.name, storage, p.name);
        if (name == decoding::malformed) {
            detail = "a query parameter name has a malformed percent-escape";
            return ok = false;
        }
        decoding value = p.has_value ? decoded_view(rp.value, storage, p.value) : decoding::ok;
        if (value == decoding::malformed) {
            detail = "a query parameter value has a malformed percent-escape";
            return ok = false;
        }
        if (name == decoding::control || value == decoding::control) {
            detail = "a query parameter holds a control character";
            return ok = false;
        }
        out.push_back(p);
        return true;
    });
    return ok;
}

void append_param(std::string& query, std::string_view name, std::string_view value,
                  std::string_view keep) {
    if (!query.empty()) query.push_back('&');
    encode(name, "$", query);
    query.push_back('=');
    encode(value, keep, query);
}

bool holds(const filters::field_set& set, std::string_view path) {
    // The first bytes decide most steps of the search without a call to memcmp. Bytes compare
    // as unsigned, as std::string orders them.
    auto less = [](std::string_view a, std::string_view b) {
        if (!a.empty() && !b.empty() && a.front() != b.front())
            return static_cast<unsigned char>(a.front()) < static_cast<unsigned char>(b.front());
        return a < b;
    };
    return std::binary_search(set.paths().begin(), set.paths().end(), path, less);
}

bool fail_unsupported(guarded_query& q, std::string_view parameter, std::size_t position,
                      std::string detail) {
    q.result = verdict::unsupported;
    q.parameter = std::string(parameter);
    q.position = position;
    q.detail = std::move(detail);
    return false;
}

bool fail_invalid(guarded_query& q, std::string detail) {
    q.result = verdict::invalid;
    q.detail = std::move(detail);
    return false;
}

std::string shown_name(const field_policy& policy, std::string_view path) {
    bool known = (policy.catalogue != nullptr &&
                  std::binary_search(policy.catalogue->paths().begin(),
                                     policy.catalogue->paths().end(), path)) ||
                 std::find(policy.rule_fields.begin(), policy.rule_fields.end(), path) !=
                     policy.rule_fields.end();
    return known ? std::string(path) : std::string(not_in_catalogue);
}

bool fail_field(guarded_query& q, const field_policy& policy, std::string_view path, use how) {
    q.result = verdict::field_not_permitted;
    q.field = shown_name(policy, path);
    q.field_use = how;
    const bool transformed = policy.transformed != nullptr && policy.transformed->keeps(path);
    q.detail = "the query reads field '" + q.field + "' in a " + std::string(to_string(how)) +
               (transformed ? ", which this purpose receives only in a derived form (<transform>)"
                            : ", which this purpose does not keep");
    return false;
}

namespace {

// `path` is a field of the catalogue itself (or an allowed one: the loader checks that every
// allowed field is in the catalogue). A path below a catalogue field is not: a field kept whole
// may be a navigation to other records, and what lies beyond it is no field the policy knows.
bool catalogued(const field_policy& policy, std::string_view path) {
    auto exact = [path](const filters::field_set* set) {
        return set != nullptr && holds(*set, path);
    };
    return policy.catalogue == nullptr || exact(policy.catalogue) || exact(policy.allowed);
}

// Some catalogue (or allowed) field lies below `path`: an object the selection may enter.
// field_set::descends without its key string: the paths that start with `path` follow
// lower_bound(path) in sorted order, those continuing with a byte below '.' first.
bool descends(const filters::field_set& set, std::string_view path) {
    const auto& paths = set.paths();
    for (auto it = std::lower_bound(paths.begin(), paths.end(), path); it != paths.end(); ++it) {
        std::string_view p = *it;
        if (!p.starts_with(path)) return false;
        if (p.size() == path.size()) continue;
        if (p[path.size()] == '.') return true;
        if (p[path.size()] > '.') return false;
    }
    return false;
}

bool catalogue_descends(const field_policy& policy, std::string_view path) {
    auto below = [path](const filters::field_set* set) {
        return set != nullptr && descends(*set, path);
    };
    return policy.catalogue == nullptr || below(policy.catalogue) || below(policy.allowed);
}

// allowed->keeps(path) && catalogued(policy, path), for a non-null `allowed`. An allowed field
// itself answers both with one lookup: the common case, tried first.
bool kept_field(const field_policy& policy, std::string_view path) {
    if (holds(*policy.allowed, path)) return true;
    return policy.allowed->keeps(path) && catalogued(policy, path);
}

}  // namespace

bool check_read(guarded_query& q, const field_policy& policy, std::string_view path, use how) {
    if (policy.allowed != nullptr && !path.empty() && kept_field(policy, path) &&
        !(policy.transformed != nullptr && policy.transformed->keeps(path)))
        return true;
    return fail_field(q, policy, path, how);
}

bool selectable(const field_policy& policy, std::string_view path) {
    if (policy.allowed == nullptr || path.empty()) return false;
    return kept_field(policy, path) ||
           (descends(*policy.allowed, path) && catalogue_descends(policy, path));
}

void resolve_selection(guarded_query& q, const field_policy& policy, bool present,
                       const std::vector<std::string>& selected) {
    auto add = [](std::vector<std::string>& into, const std::string& f) {
        if (std::find(into.begin(), into.end(), f) == into.end()) into.push_back(f);
    };
    auto rule_field = [&policy](const std::string& f) {
        return std::find(policy.rule_fields.begin(), policy.rule_fields.end(), f) !=
               policy.rule_fields.end();
    };
    q.requested.reserve(selected.size());
    q.kept.reserve(selected.size());
    q.sent.reserve(selected.size() + policy.rule_fields.size());
    if (present) {
        for (const auto& f : selected) {
            add(q.requested, f);
            if (selectable(policy, f)) {
                add(q.kept, f);
            } else if (!rule_field(f)) {
                // Named as the catalogue names it, or not at all: a made-up name is never
                // spelled back (X-Export-Stripped-Fields, the audit record).
                add(q.stripped, shown_name(policy, f));
            }
        }
    }
    // Nothing usable asked for: every allowed field, so the CRM never returns its default set.
    if (q.kept.empty() && policy.allowed != nullptr) q.kept = policy.allowed->paths();
    // The kept fields in the client's order, then every rule field in rule order: the forwarded
    // selection is the same whether or not the client named a rule field, so guarding the
    // forwarded query again gives the same query (a fixed point).
    for (const auto& f : q.kept)
        if (!rule_field(f)) add(q.sent, f);
    for (const auto& f : policy.rule_fields) add(q.sent, f);
}

}  // namespace exportwall::config::query
