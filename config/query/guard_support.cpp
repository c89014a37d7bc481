#include "config/query/guard_support.hpp"

#include <algorithm>
#include <array>

#include "config/selection.hpp"

namespace exportwall::config::query {
namespace {

// Which bytes append_param writes as they are: the unreserved ones always; a `keep` byte unless
// it would end or split a pair (& = + # %). One table per call, not a search per byte.
void encode(std::string_view s, std::string_view keep, std::string& out) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::array<bool, 256> plain{};
    for (int c = 'a'; c <= 'z'; ++c) plain[static_cast<std::size_t>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c) plain[static_cast<std::size_t>(c)] = true;
    for (int c = '0'; c <= '9'; ++c) plain[static_cast<std::size_t>(c)] = true;
    for (char c : std::string_view("-_.~")) plain[static_cast<unsigned char>(c)] = true;
    for (char c : keep)
        if (std::string_view("&=+#%").find(c) == std::string_view::npos)
            plain[static_cast<unsigned char>(c)] = true;
    out.reserve(out.size() + s.size());
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (plain[u]) {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(digits[u >> 4]);
            out.push_back(digits[u & 0xf]);
        }
    }
}

bool has_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
}

}  // namespace

std::string_view to_string(language l) {
    switch (l) {
        case language::none: return "none";
        case language::params: return "params";
        case language::odata: return "odata";
        case language::soql: return "soql";
        case language::hubspot_search: return "hubspot-search";
        case language::jsonapi: return "jsonapi";
        case language::odoo_rpc: return "odoo-rpc";
    }
    return "none";
}

std::optional<language> parse_language(std::string_view s) {
    for (auto l : {language::none, language::params, language::odata, language::soql,
                   language::hubspot_search, language::jsonapi, language::odoo_rpc})
        if (to_string(l) == s) return l;
    return std::nullopt;
}

std::string_view to_string(use u) {
    switch (u) {
        case use::select: return "selection";
        case use::filter: return "filter";
        case use::order: return "order";
        case use::compute: return "computed value";
        case use::aggregate: return "aggregate";
        case use::group: return "grouping";
        case use::expand: return "expansion";
        case use::search: return "search";
        case use::alias: return "alias";
    }
    return "reference";
}

bool split_query(std::string_view raw, std::vector<query_param>& out, std::string& detail) {
    out.clear();
    bool ok = true;
    for_each_query_pair(raw, [&](const raw_query_pair& rp) {
        query_param p;
        p.has_value = rp.has_value;
        if (!percent_decode(rp.name, p.name)) {
            detail = "a query parameter name has a malformed percent-escape";
            return ok = false;
        }
        if (p.has_value && !percent_decode(rp.value, p.value)) {
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

void append_param(std::string& query, std::string_view name, std::string_view value,
                  std::string_view keep) {
    if (!query.empty()) query.push_back('&');
    encode(name, "$", query);
    query.push_back('=');
    encode(value, keep, query);
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
        return set != nullptr &&
               std::binary_search(set->paths().begin(), set->paths().end(), path);
    };
    return policy.catalogue == nullptr || exact(policy.catalogue) || exact(policy.allowed);
}

// Some catalogue (or allowed) field lies below `path`: an object the selection may enter.
bool catalogue_descends(const field_policy& policy, std::string_view path) {
    auto below = [path](const filters::field_set* set) { return set != nullptr && set->descends(path); };
    return policy.catalogue == nullptr || below(policy.catalogue) || below(policy.allowed);
}

}  // namespace

bool check_read(guarded_query& q, const field_policy& policy, std::string_view path, use how) {
    const bool transformed = policy.transformed != nullptr && policy.transformed->keeps(path);
    if (policy.allowed != nullptr && !path.empty() && policy.allowed->keeps(path) &&
        catalogued(policy, path) && !transformed)
        return true;
    return fail_field(q, policy, path, how);
}

bool selectable(const field_policy& policy, std::string_view path) {
    if (policy.allowed == nullptr || path.empty()) return false;
    return (policy.allowed->keeps(path) && catalogued(policy, path)) ||
           (policy.allowed->descends(path) && catalogue_descends(policy, path));
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

bool iequals_ascii(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i];
        char y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

}  // namespace exportwall::config::query
