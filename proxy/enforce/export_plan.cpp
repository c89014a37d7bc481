#include "proxy/enforce/export_plan.hpp"

#include <algorithm>
#include <chrono>

#include <boost/url/parse.hpp>

#include "common/ascii.hpp"
#include "common/clock.hpp"
#include "config/configuration.hpp"
#include "config/query/guard_support.hpp"
#include "config/route_match.hpp"
#include "config/selection.hpp"
#include "filters/record_rules.hpp"
#include "proxy/forward.hpp"
#include "proxy/http/target.hpp"

namespace exportwall::proxy {
namespace {

const std::string unlisted_field_name = std::string(unlisted_field);

// `path` equals `prefix` or continues it at a segment boundary.
bool under(std::string_view path, std::string_view prefix) {
    if (prefix.empty()) return true;
    if (path.substr(0, prefix.size()) != prefix) return false;
    return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

// The `rel` parameter of one Link header entry's parameters ("; rel=\"next\"; title=…"), when its
// value is relation types only (letters, digits, '.', '-', spaces between them; RFC 8288 §3.3).
std::optional<std::string> link_relation(std::string_view params) {
    std::size_t pos = 0;
    while (pos < params.size()) {
        // One parameter: up to the next ';' outside quotes.
        std::size_t end = pos;
        bool quoted = false;
        for (; end < params.size(); ++end) {
            if (params[end] == '"') quoted = !quoted;
            if (params[end] == ';' && !quoted) break;
        }
        std::string_view param = params.substr(pos, end - pos);
        pos = end + 1;
        auto eq = param.find('=');
        if (eq == std::string_view::npos) continue;
        std::string_view name = param.substr(0, eq);
        std::string_view v = param.substr(eq + 1);
        auto trim = [](std::string_view& t) {
            while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
            while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
        };
        trim(name);
        trim(v);
        if (!common::iequals_ascii(name, "rel")) continue;
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        const bool ok = !v.empty() && v.size() <= 64 &&
                        std::all_of(v.begin(), v.end(), [](char c) {
                            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                   (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ' ';
                        });
        if (ok) return std::string(v);
        return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace

link_mapper::link_mapper(const config::settings& net, const config::upstream& up,
                         std::string public_url, continuation_sealing sealing)
    : net_(net), up_(up), public_url_(std::move(public_url)), sealing_(std::move(sealing)) {
    while (!public_url_.empty() && public_url_.back() == '/') public_url_.pop_back();
}

std::optional<std::string> link_mapper::map(std::string_view url) const {
    auto ref = boost::urls::parse_uri_reference(url);
    if (!ref) return std::nullopt;
    if (ref->has_scheme()) {
        if (!common::iequals_ascii(ref->scheme(), up_.scheme) || !common::iequals_ascii(ref->encoded_host(), up_.host) ||
            ref->has_userinfo()) {
            return std::nullopt;
        }
        std::uint16_t port =
            ref->has_port() ? ref->port_number() : (common::iequals_ascii(ref->scheme(), "https") ? 443 : 80);
        if (port != up_.port) return std::nullopt;
    } else if (ref->has_authority() || !ref->is_path_absolute()) {
        // Network-path ("//host/x") and relative-path references are not the CRM's own paths.
        return std::nullopt;
    }
    std::string_view path = ref->encoded_path();
    if (path.find("/../") != std::string_view::npos || path.find("/./") != std::string_view::npos ||
        path.ends_with("/..") || path.ends_with("/.")) {
        return std::nullopt;
    }
    if (!under(path, up_.base_path)) return std::nullopt;
    path.remove_prefix(up_.base_path.size());

    // The route whose upstream side covers the path, in match_route's order: an exact route,
    // then the first template, then the longest prefix.
    const config::route* best = nullptr;
    std::string_view best_from;
    auto rank = [](const config::route& r) {
        return r.match == config::path_match::exact ? 3 : r.match == config::path_match::template_ ? 2 : 1;
    };
    for (const auto& r : net_.routes) {
        if (r.upstream_id != up_.id) continue;
        std::string_view from =
            r.upstream_path.empty() ? std::string_view(r.path) : std::string_view(r.upstream_path);
        bool hit = r.match == config::path_match::exact      ? path == from
                   : r.match == config::path_match::template_ ? config::template_matches(from, path)
                                                               : under(path, from);
        if (!hit) continue;
        bool better = best == nullptr || rank(r) > rank(*best) ||
                      (rank(r) == 1 && rank(*best) == 1 && from.size() > best_from.size());
        if (better) {
            best = &r;
            best_from = from;
        }
    }
    if (best == nullptr) return std::nullopt;
    // A link is followed with GET: one to a route that takes no GET (a HubSpot search, a SOAP
    // endpoint) can only carry the CRM's cursor in its query, never continue the export.
    if (std::find(best->methods.begin(), best->methods.end(), "GET") == best->methods.end())
        return std::nullopt;
    // The path a client following the link will request (a template route forwards its path as
    // it is); a sealed token is bound to it, as decide() sees it: normalised.
    std::string client_path;
    if (best->match == config::path_match::template_) {
        client_path = std::string(path);
    } else if (best->match == config::path_match::prefix &&
               best->format != config::route_format::passthrough &&
               path.size() > best_from.size()) {
        // A soql route's queryMore locator (nextRecordsUrl …/query/01gD…-2000): the client
        // gets it sealed, bound to the route's path and no query (config::decide opens it).
        std::string_view tail = path.substr(best_from.size());
        if (tail.front() == '/') tail.remove_prefix(1);
        if (tail.empty() || ref->has_query() || sealing_.key == nullptr) return std::nullopt;
        const config::continuation_binding b{sealing_.client, sealing_.purpose,
                                             sealing_.destination, best->id, "", best->path};
        std::string sealed = config::seal_continuation(*sealing_.key, b, tail,
                                                       sealing_.expires_at, &sealing_.chain);
        if (sealed.empty()) return std::nullopt;
        ++sealed_;
        client_path = best->path;
        client_path += '/';
        client_path += sealed;
    } else {
        client_path = best->path;
        client_path += path.substr(best_from.size());
    }
    std::string out = public_url_;
    out += client_path;
    if (ref->has_query()) {
        normalised_target normal;
        if (normalise_target(client_path, normal)) return std::nullopt;
        auto query = seal_query(*best, normal.path, ref->encoded_query());
        if (!query) return std::nullopt;
        out.push_back('?');
        out += *query;
    }
    return out;
}

std::optional<std::string> link_mapper::seal_token(std::string_view crm_token) const {
    if (sealing_.key == nullptr || crm_token.empty()) return std::nullopt;
    const config::continuation_binding b{sealing_.client, sealing_.purpose, sealing_.destination,
                                         sealing_.route,  sealing_.binding, sealing_.path};
    std::string sealed = config::seal_continuation(*sealing_.key, b, crm_token,
                                                   sealing_.expires_at, &sealing_.chain);
    if (sealed.empty()) return std::nullopt;
    ++sealed_;
    return sealed;
}

std::optional<std::string> link_mapper::seal_query(const config::route& r,
                                                   std::string_view path,
                                                   std::string_view query) const {
    if (r.continuation_params.empty()) return std::string(query);
    const std::string binding_query = config::continuation_query_form(query, r.continuation_params);
    std::string out;
    std::string name;
    std::string value;
    bool ok = true;
    config::for_each_query_pair(query, [&](const config::raw_query_pair& p) {
        if (!out.empty()) out.push_back('&');
        if (!config::percent_decode(p.name, name) ||
            std::none_of(r.continuation_params.begin(), r.continuation_params.end(),
                         [&name](const std::string& c) {
                             return config::query::iequals_ascii(c, name);
                         })) {
            out.append(p.pair);
            return true;
        }
        if (sealing_.key == nullptr || !p.has_value || !config::percent_decode(p.value, value))
            return ok = false;
        config::continuation_binding b{sealing_.client, sealing_.purpose, sealing_.destination,
                                       r.id, binding_query, path};
        std::string sealed =
            config::seal_continuation(*sealing_.key, b, value, sealing_.expires_at,
                                      &sealing_.chain);
        if (sealed.empty()) return ok = false;
        ++sealed_;
        // The sealed token is base64url after "ew1.": nothing in it needs escaping.
        out.append(p.name);
        out.push_back('=');
        out += sealed;
        return true;
    });
    if (!ok) return std::nullopt;
    return out;
}

std::optional<std::string> link_mapper::map_link_header(std::string_view value) const {
    std::string out;
    std::size_t pos = 0;
    while (pos < value.size()) {
        auto open = value.find('<', pos);
        if (open == std::string_view::npos) break;
        auto close = value.find('>', open);
        if (close == std::string_view::npos) return std::nullopt;
        // Parameters run to the next ',' that is outside quotes.
        std::size_t end = close + 1;
        bool quoted = false;
        for (; end < value.size(); ++end) {
            if (value[end] == '"') quoted = !quoted;
            if (value[end] == ',' && !quoted) break;
        }
        auto mapped = map(value.substr(open + 1, close - open - 1));
        if (mapped) {
            if (!out.empty()) out += ", ";
            out += '<';
            out += *mapped;
            out += '>';
            // Of the link's parameters only its relation passes: any other (`cursor="…"`,
            // `results`, a title) is the CRM's text, and may be the very token the URL seals.
            if (auto rel = link_relation(value.substr(close + 1, end - close - 1))) {
                out += "; rel=\"";
                out += *rel;
                out += '"';
            }
        }
        pos = end + 1;
    }
    if (out.empty()) return std::nullopt;
    return out;
}

bool content_type_matches(config::route_format format, std::string_view content_type) noexcept {
    if (format == config::route_format::passthrough) return true;
    auto semi = content_type.find(';');
    auto type = content_type.substr(0, semi);
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
    while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
    auto any = [type](std::initializer_list<std::string_view> names) {
        return std::any_of(names.begin(), names.end(),
                           [type](std::string_view n) { return common::iequals_ascii(type, n); });
    };
    switch (format) {
        case config::route_format::json:
            return any({"application/json", "application/vnd.api+json", "application/hal+json"});
        case config::route_format::ndjson:
            return any({"application/x-ndjson", "application/ndjson", "application/jsonl"});
        case config::route_format::csv:
            return any({"text/csv", "application/csv"});
        case config::route_format::xml:
            return any({"application/xml", "text/xml", "application/soap+xml"});
        case config::route_format::xmlrpc:
            return any({"text/xml", "application/xml"});
        case config::route_format::passthrough:
            return true;
    }
    return false;
}

filters::filter_spec make_filter_spec(const config::decision& d, const config::route& r,
                                      const config::limits& limits,
                                      filters::link_rewriter rewrite,
                                      const config::policy* rules) {
    filters::filter_spec spec;
    switch (r.format) {
        case config::route_format::ndjson:
            spec.format = filters::body_format::ndjson;
            break;
        case config::route_format::csv:
            spec.format = filters::body_format::csv;
            break;
        case config::route_format::xml:
            spec.format = filters::body_format::xml;
            break;
        case config::route_format::xmlrpc:
            spec.format = filters::body_format::xmlrpc;
            break;
        default:
            spec.format = filters::body_format::json;
            break;
    }
    spec.single_record = r.single_record;
    std::optional<std::size_t> destination_index;
    if (rules != nullptr && d.destination_ref != nullptr)
        destination_index = rules->destination_by_id.find(d.destination_ref->id);
    for (const auto& n : r.nested) {
        filters::nested_record_set set;
        set.path = n.path;
        set.in_record = n.in_record;
        set.map = n.map;
        set.discriminator = n.discriminator;
        set.discriminator_value = n.discriminator_value;
        set.field_root = n.field_root;
        const config::purpose_view* view = nullptr;
        if (rules != nullptr && d.purpose_ref != nullptr)
            if (auto e = rules->entity_by_id.find(n.entity)) view = d.purpose_ref->find_view(*e);
        set.keep = view != nullptr;
        if (view != nullptr) {
            set.allowed = view->allowed;
            // A disclosure to another controller reads the recipient's consent in nested
            // records too (config::purpose_view::rules_for).
            set.rules = destination_index ? view->rules_for(*destination_index) : view->rules;
            set.transforms = view->transforms;
        }
        spec.nested.push_back(std::move(set));
    }
    spec.records = r.records;
    // A SOAP route answers each operation in its own element: the route names query's
    // (…/queryResponse/result/records); queryAll and queryMore answer in queryAllResponse and
    // queryMoreResponse.
    if (r.format == config::route_format::xml && !d.soap_operation.empty() &&
        d.soap_operation != "query") {
        constexpr std::string_view query_response = "/queryResponse/";
        if (auto at = spec.records.find(query_response); at != std::string::npos)
            spec.records.replace(at, query_response.size(),
                                 "/" + d.soap_operation + "Response/");
    }
    spec.field_root = r.field_root;
    if (d.allowed != nullptr) spec.allowed = *d.allowed;
    if (d.rules != nullptr) spec.rules = *d.rules;
    if (d.transforms != nullptr) spec.transforms = *d.transforms;
    spec.link_fields = r.link_fields;
    spec.token_fields = r.continuation_fields;
    spec.envelope_fields = r.envelope_fields;
    spec.rewrite_link = std::move(rewrite);
    spec.csv.delimiter = r.csv_delimiter;
    spec.csv.formula_guard = r.csv_formula_guard;
    spec.csv.header_space = r.csv_header_space;
    spec.max_record_bytes = limits.max_record_bytes;
    spec.strict_envelope = true;
    spec.max_records = d.max_records;
    return spec;
}

audit::decision finished_decision(const config::decision& d,
                                  const filters::filter_counters* counters) noexcept {
    bool changed = !d.fields_stripped.empty();
    if (counters != nullptr) {
        // A value written in a derived form is a change too: the export is filtered.
        changed = changed || !counters->stripped_fields.empty() ||
                  !counters->transformed_fields.empty() || !counters->transform_failed.empty() ||
                  counters->records_out != counters->records_in;
    }
    return changed ? audit::decision::filtered : audit::decision::allowed;
}

void add_shadow(audit::record& rec, const config::decision& enforced,
                const config::decision& shadow) {
    rec.shadow_fields_stripped.clear();
    auto add = [&rec](const std::string& f) {
        if (std::find(rec.shadow_fields_stripped.begin(), rec.shadow_fields_stripped.end(), f) ==
            rec.shadow_fields_stripped.end())
            rec.shadow_fields_stripped.push_back(f);
    };
    if (!shadow.allowed_export()) {
        rec.shadow_decision = std::string(audit::to_string(audit::decision::blocked));
        rec.shadow_reason = std::string(config::to_string(shadow.why));
        return;
    }
    for (const auto& f : shadow.fields_stripped) add(f);
    for (const auto& f : enforced.fields_kept)
        if (shadow.allowed == nullptr || !shadow.allowed->keeps(f)) add(f);
    rec.shadow_decision = std::string(audit::to_string(
        rec.shadow_fields_stripped.empty() ? audit::decision::allowed : audit::decision::filtered));
    rec.shadow_reason.clear();
}

void add_refusal_rule(audit::record& rec) {
    const auto rule = config::rule_of(rec.reason);
    rec.rule_id = rule.rule_id;
    rec.legal_reference = rule.legal_reference;
}

audit::record make_audit_record(const config::decision& d, const config::configuration& config,
                                std::string_view method, std::string_view path,
                                std::string_view query, std::string_view remote,
                                const export_outcome& outcome, std::string id, std::string time) {
    audit::record rec;
    rec.id = std::move(id);
    rec.time = std::move(time);
    rec.mode = std::string(config::to_string(d.effective_mode));
    rec.decision = std::string(audit::to_string(outcome.decision));
    rec.reason = outcome.reason;
    add_refusal_rule(rec);
    rec.client = d.client_id;
    rec.purpose = d.purpose_id;
    if (d.purpose_ref != nullptr) rec.basis = std::string(config::to_string(d.basis));
    rec.destination = d.destination_id;
    if (d.destination_ref != nullptr) {
        rec.destination_kind = std::string(config::to_string(d.kind));
    }
    if (d.matched_route != nullptr) rec.route = d.matched_route->id;
    rec.method = std::string(method);
    rec.path = std::string(path);
    if (!query.empty()) {
        // Parameter names only: a query value can be a field value ($filter=email eq '…').
        auto names = query_parameter_names(query);
        std::replace(names.begin(), names.end(), ',', '&');
        rec.path += '?';
        rec.path += names;
    }
    rec.status = static_cast<int>(outcome.status);
    // A name the route's catalogue does not know may be data itself — a member of a map keyed by
    // e-mail address, a selection parameter quoting a value — so it is recorded as a placeholder.
    const config::entity* entity = nullptr;
    if (d.matched_route != nullptr && !d.matched_route->entity.empty())
        entity = config.rules.find_entity(d.matched_route->entity);
    auto add_name = [entity](std::vector<std::string>& names, const std::string& name) {
        const std::string& shown =
            entity == nullptr || entity->find_field(name) != nullptr ? name : unlisted_field_name;
        if (std::find(names.begin(), names.end(), shown) == names.end()) names.push_back(shown);
    };
    rec.fields_requested.reserve(d.fields_requested.size());
    rec.fields_stripped.reserve(d.fields_stripped.size() +
                                (outcome.counters ? outcome.counters->stripped_fields.size() : 0));
    for (const auto& name : d.fields_requested) add_name(rec.fields_requested, name);
    for (const auto& name : d.fields_stripped) add_name(rec.fields_stripped, name);
    if (const auto* c = outcome.counters) {
        for (const auto& [name, count] : c->stripped_fields) add_name(rec.fields_stripped, name);
        // Transform paths come from the policy, never from the body: copied as they are.
        rec.fields_transformed.insert(c->transformed_fields.begin(), c->transformed_fields.end());
        rec.transform_failed.insert(c->transform_failed.begin(), c->transform_failed.end());
        rec.records_in = c->records_in;
        rec.records_out = c->records_out;
        for (std::size_t i = 0; i < filters::drop_reason_count; ++i) {
            if (c->dropped[i] != 0) {
                rec.records_dropped[std::string(filters::drop_reason_name(
                    static_cast<filters::drop_reason>(i)))] = c->dropped[i];
            }
        }
    }
    rec.bytes_in = outcome.bytes_in;
    rec.bytes_out = outcome.bytes_out;
    rec.duration_ms = outcome.duration_ms;
    rec.remote = std::string(remote);
    rec.policy_revision = config.revision;
    return rec;
}

std::string audit_time_now() {
    std::string out;
    common::append_rfc3339_millis(out, std::chrono::system_clock::now());
    return out;
}

}  // namespace exportwall::proxy
