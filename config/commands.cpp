#include "config/commands.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <pugixml.hpp>

#include "config/decide.hpp"
#include "config/loader.hpp"
#include "config/policy_loader.hpp"
#include "config/policy_text.hpp"

namespace exportwall::config {
namespace {

std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(digits[md[i] >> 4]);
        out.push_back(digits[md[i] & 0xf]);
    }
    return out;
}

std::string sha256_hex_of_digest(const suppression_entries::digest& d) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : d) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xf]);
    }
    return out;
}

void print_errors(const load_result& r) {
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
}

// Loads a configuration for explain / test-policy; prints its errors. The suppression lists are
// read as the proxy reads them, so a list's max-age decides as it would at run time; a list that
// cannot be read is reported and stays unread (it suppresses everyone and is stale).
std::shared_ptr<const configuration> load_or_report(const std::string& file) {
    auto r = load_configuration_file(file);
    print_errors(r);
    if (r.config) {
        for (const auto& e : load_suppression_lists(r.config->rules))
            std::fprintf(stderr, "warning: %s\n", e.str().c_str());
    }
    return r.config;
}

std::int64_t seconds_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The modification time of a file in seconds since the epoch, as the proxy records it for
// max-age; nullopt when it cannot be read.
std::optional<std::int64_t> file_time(const std::string& path) {
    std::error_code ec;
    const auto t = std::filesystem::last_write_time(path, ec);
    if (ec) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::file_clock::to_sys(t).time_since_epoch())
        .count();
}

// "from A until B" as written (UTC where no offset is given); "" for a grant without a window.
std::string window_text(const grant& g) {
    std::string out;
    if (g.valid_from) out += "from " + g.valid_from_text;
    if (g.valid_until) out += std::string(out.empty() ? "" : " ") + "until " + g.valid_until_text;
    return out;
}

// check-config's warnings (the exit status stays 0): grants whose valid-until has passed or whose
// valid-from has not come yet, and suppression lists whose file is already older than their
// max-age (exports that use them would be refused suppression_list_stale).
std::vector<load_error> warnings_of(const policy& p) {
    std::vector<load_error> out;
    const std::int64_t now = seconds_now();
    for (const auto& c : p.clients) {
        for (const auto& g : c.grants) {
            const std::string who = "grant of client '" + c.id + "' for purpose '" + g.purpose;
            if (g.valid_until && now > *g.valid_until)
                out.push_back({g.where, who + "' expired on " + g.valid_until_text +
                                            " (valid-until): its exports are refused "
                                            "grant_not_valid"});
            else if (g.valid_from && now < *g.valid_from)
                out.push_back({g.where, who + "' is not valid before " + g.valid_from_text +
                                            " (valid-from): until then its exports are refused "
                                            "grant_not_valid"});
        }
    }
    for (const auto& l : p.suppression_lists) {
        if (l.max_age_seconds == 0) continue;
        auto t = file_time(l.file);
        if (!t || now - *t <= l.max_age_seconds) continue;
        out.push_back({l.where, "suppression list '" + l.id + "' (" + l.file +
                                    ") was last changed " + age_text(now - *t) +
                                    " ago; max-age is " + l.max_age_text +
                                    ": exports that use it are refused suppression_list_stale "
                                    "until the file is rewritten"});
    }
    return out;
}

boost::json::object error_json(const load_error& e) {
    return {{"file", e.where.file},
            {"line", e.where.line},
            {"column", e.where.column},
            {"message", e.message}};
}

boost::json::array errors_json(const std::vector<load_error>& errors) {
    boost::json::array a;
    for (const auto& e : errors) a.push_back(error_json(e));
    return a;
}

// --format text|json, as every configuration command spells it; anything else is a usage
// error (exit 2) through CLI11.
CLI::Option* add_format_option(CLI::App& app, std::string& format) {
    return app.add_option("--format", format, "output format: text (default) or json")
        ->check(CLI::IsMember({"text", "json"}));
}

// The client's grant for a purpose, or null.
const grant* grant_for(const client* c, std::string_view purpose_id) {
    if (c == nullptr) return nullptr;
    for (const auto& g : c->grants)
        if (g.purpose == purpose_id) return &g;
    return nullptr;
}

// The identity explain and test-policy present for a client id: its first configured one.
void credentials_of(const client& c, client_credentials& cred) {
    if (!c.api_key_sha256.empty())
        cred.api_key_sha256 = c.api_key_sha256.front();
    else if (!c.certificate_sha256.empty())
        cred.certificate_sha256 = c.certificate_sha256.front();
    else if (!c.certificate_subject.empty())
        cred.certificate_subject = c.certificate_subject.front();
}

std::string join(const std::vector<std::string>& v, std::string_view sep = " ") {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

std::string drop_text(filters::drop_reason r) {
    std::string s = "  -> drop reason " + std::string(filters::drop_reason_name(r));
    auto rule = drop_rule(r);
    if (!rule.empty()) s += " (" + std::string(rule) + ")";
    return s;
}

struct field_line {
    std::string name;
    bool kept = false;
    std::string why;
};

// Every field of the route's entity plus every requested one, with why it is kept or stripped.
std::vector<field_line> field_lines(const configuration& cfg, const decision& d) {
    std::vector<field_line> out;
    if (d.matched_route == nullptr || d.allowed == nullptr) return out;
    const entity* e = cfg.rules.find_entity(d.matched_route->entity);
    if (e == nullptr) return out;
    bool asked = !d.fields_requested.empty();
    auto requested = [&](const std::string& f) {
        return std::find(d.fields_requested.begin(), d.fields_requested.end(), f) !=
               d.fields_requested.end();
    };
    for (const auto& f : e->fields) {
        field_line l{f.path, false, {}};
        bool read_by_rules =
            d.rules != nullptr &&
            (std::any_of(d.rules->conditions.begin(), d.rules->conditions.end(),
                         [&](const auto& c) { return c.field == f.path; }) ||
             std::find(d.rules->suppression_fields.begin(), d.rules->suppression_fields.end(),
                       f.path) != d.rules->suppression_fields.end());
        if (!d.allowed->keeps(f.path)) {
            l.why = read_by_rules ? "read by the record conditions, never exported"
                                  : "not needed by purpose " + d.purpose_id;
        } else if (asked && !requested(f.path)) {
            l.why = "not requested";
        } else {
            l.kept = true;
            l.why = "needed by purpose " + d.purpose_id;
            if (d.transforms != nullptr)
                if (const auto* t = d.transforms->find(f.path))
                    l.why += ", " + transform_text(t->kind, t->keep);
        }
        if (requested(f.path) && !l.kept) l.why += " (requested)";
        out.push_back(std::move(l));
    }
    for (const auto& r : d.fields_requested)
        if (e->find_field(r) == nullptr) out.push_back({r, false, "not in catalogue (requested)"});
    return out;
}

std::string target_of(const configuration& cfg, const decision& d, std::string_view path) {
    if (d.matched_route == nullptr) return {};
    const upstream* up = cfg.net.find_upstream(d.matched_route->upstream_id);
    std::string t;
    if (up != nullptr) t = up->scheme + "://" + up->host + ":" + std::to_string(up->port);
    t += upstream_path(*d.matched_route, up, path);
    if (!d.upstream_query.empty()) t += "?" + d.upstream_query;
    return t;
}

}  // namespace

load_result load_for_review(const std::string& file) {
    pugi::xml_document peek;
    if (peek.load_file(file.c_str()) &&
        std::string_view(peek.document_element().name()) == "policy")
        return load_policy_file(file);
    return load_configuration_file(file);
}

int run_check_config(int argc, char** argv) {
    CLI::App app{"Validate an exportwall configuration: errors as file:line:col: message"};
    std::string file;
    std::string format = "text";
    bool offline = false;
    app.add_option("FILE", file, "configuration file")->required();
    add_format_option(app, format);
    app.add_flag("--offline", offline,
                 "Validate without the target environment: unset ${VAR}s, key files, password "
                 "files and suppression lists are not needed (and not read)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    const bool json = format == "json";
    std::optional<offline_loading> offline_scope;
    if (offline) offline_scope.emplace();
    // A DPO's policy file (<policy>, as an <include> names it) is validated on its own.
    pugi::xml_document peek;
    const bool policy_only = peek.load_file(file.c_str()) &&
                             std::string_view(peek.document_element().name()) == "policy";
    auto result = load_for_review(file);
    if (!result) {
        if (json) {
            boost::json::object o{{"file", file},
                                  {"valid", false},
                                  {"errors", errors_json(result.errors)}};
            std::cout << boost::json::serialize(o) << "\n";
        } else {
            print_errors(result);
        }
        return 1;
    }
    const auto& c = *result.config;
    auto warnings = warnings_of(c.rules);
    if (c.shadow) {
        auto more = warnings_of(*c.shadow);
        warnings.insert(warnings.end(), more.begin(), more.end());
    }
    if (json) {
        boost::json::object o;
        o["file"] = file;
        o["valid"] = true;
        o["offline"] = offline;
        o["kind"] = policy_only ? "policy" : "configuration";
        o["revision"] = c.revision;
        if (!policy_only) {
            o["routes"] = c.net.routes.size();
            o["mode"] = to_string(c.rules.global_mode);
        }
        o["entities"] = c.rules.entities.size();
        o["purposes"] = c.rules.purposes.size();
        o["destinations"] = c.rules.destinations.size();
        o["clients"] = c.rules.clients.size();
        o["suppression_lists"] = c.rules.suppression_lists.size();
        if (c.shadow) {
            o["shadow"] = {{"file", c.shadow_path},
                           {"revision", c.shadow_revision},
                           {"purposes", c.shadow->purposes.size()},
                           {"destinations", c.shadow->destinations.size()},
                           {"clients", c.shadow->clients.size()}};
        }
        o["warnings"] = errors_json(warnings);
        std::cout << boost::json::serialize(o) << "\n";
        return 0;
    }
    for (const auto& w : warnings) std::fprintf(stderr, "warning: %s\n", w.str().c_str());
    if (policy_only) {
        std::printf("%s: ok: policy file: %zu entities, %zu purposes, %zu destinations, %zu "
                    "clients, %zu suppression lists (revision %s)\n",
                    file.c_str(), c.rules.entities.size(), c.rules.purposes.size(),
                    c.rules.destinations.size(), c.rules.clients.size(),
                    c.rules.suppression_lists.size(), c.revision.c_str());
    } else {
        std::printf(
            "%s: ok: %zu routes, %zu entities, %zu purposes, %zu destinations, %zu clients, "
            "mode %s (revision %s)\n",
            file.c_str(), c.net.routes.size(), c.rules.entities.size(), c.rules.purposes.size(),
            c.rules.destinations.size(), c.rules.clients.size(),
            std::string(to_string(c.rules.global_mode)).c_str(), c.revision.c_str());
        if (c.shadow)
            std::printf("%s: shadow policy %s: %zu purposes, %zu destinations, %zu clients "
                        "(revision %s), audited beside the enforced one, never enforced\n",
                        file.c_str(), c.shadow_path.c_str(), c.shadow->purposes.size(),
                        c.shadow->destinations.size(), c.shadow->clients.size(),
                        c.shadow_revision.c_str());
    }
    if (offline)
        std::printf("%s: offline: ${VAR}s, key files, password and secret files (OAuth2 "
                    "included) and suppression lists were not read; the revision does not "
                    "cover the lists\n",
                    file.c_str());
    // The revision alone on a line of its own, for scripts (`awk '$1 == "revision"'`): the
    // value audit records carry as policy_revision.
    std::printf("revision %s\n", c.revision.c_str());
    return 0;
}

int run_explain(int argc, char** argv) {
    CLI::App app{"Show the decision exportwall takes for one export request"};
    std::string file, client_id, purpose_id, destination_id, target, method = "GET";
    bool json = false;
    app.add_option("--config", file, "configuration file")->required();
    app.add_option("--client", client_id, "client id (its configured identity is presented)")
        ->required();
    app.add_option("--purpose", purpose_id, "X-Export-Purpose value");
    app.add_option("--destination", destination_id, "X-Export-Destination value");
    app.add_option("--target", target, "normalised request target, '/path?query'")->required();
    app.add_option("--method", method, "HTTP method (default GET)");
    app.footer("Exit codes: 0 the export would be allowed, 1 it would be refused, 2 anything else "
               "(usage, a configuration that does not load, an unknown client, an unreadable "
               "--body).");
    std::string body_file;
    app.add_option("--body", body_file,
                   "file holding the request body (SOAP query, HubSpot search: query languages "
                   "that read the body)");
    std::string format = "text";
    add_format_option(app, format);
    app.add_flag("--json", json, "the same as --format json");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    json = json || format == "json";
    // 1 is the answer "refused" alone: a configuration that does not load, an unreadable body
    // or an unknown client is a usage error (2), so a CI gate never reads one as a refusal.
    auto cfg = load_or_report(file);
    if (!cfg) return 2;

    request_facts facts;
    auto qm = target.find('?');
    std::string path = target.substr(0, qm);
    std::string query = qm == std::string::npos ? std::string() : target.substr(qm + 1);
    facts.path = path;
    facts.query = query;
    facts.method = method;
    std::string body;
    if (!body_file.empty()) {
        std::ifstream in(body_file, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "exportwall explain: cannot read '%s'\n", body_file.c_str());
            return 2;
        }
        body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    facts.body = body;
    const client* c = cfg->rules.find_client(client_id);
    if (c == nullptr) {
        std::fprintf(stderr, "exportwall explain: unknown client '%s'\n", client_id.c_str());
        return 2;
    }
    credentials_of(*c, facts.credentials);
    std::vector<std::string_view> purposes, destinations;
    if (!purpose_id.empty()) purposes.push_back(purpose_id);
    if (!destination_id.empty()) destinations.push_back(destination_id);
    facts.purpose_headers = purposes;
    facts.destination_headers = destinations;

    decision d = decide(*cfg, facts);
    auto lines = field_lines(*cfg, d);
    std::string upstream = d.allowed_export() ? target_of(*cfg, d, path) : std::string();
    std::vector<std::string> conditions;
    if (d.rules != nullptr) {
        for (const auto& rc : d.rules->conditions)
            conditions.push_back(condition_text(rc) + drop_text(rc.reason));
        if (d.suppression != nullptr)
            conditions.push_back("drop if " + d.suppression->field + " (or " +
                                 d.suppression->field + ".value) is on suppression list " +
                                 d.suppression->id + ", condition_unreadable if it has none" +
                                 drop_text(filters::drop_reason::suppressed));
    }
    // The grant the declaration names (also when it is refused for its window) and the age
    // limit of the purpose's suppression list.
    const grant* g = grant_for(d.client_ref, d.purpose_id);
    const std::string window = g != nullptr ? window_text(*g) : std::string();
    const suppression_list* list =
        d.purpose_ref != nullptr && !d.purpose_ref->suppression_list.empty()
            ? cfg->rules.find_suppression_list(d.purpose_ref->suppression_list)
            : nullptr;
    std::string list_text;
    if (list != nullptr) {
        list_text = list->id + " (" + list->file;
        if (list->max_age_seconds > 0) {
            list_text += ", max-age " + list->max_age_text;
            const suppression_entries* e = list->entries.get();
            if (e != nullptr && e->loaded() && e->modified() != 0)
                list_text += ", last changed " + age_text(seconds_now() - e->modified()) + " ago";
            else
                list_text += ", not read";
        }
        list_text += ")";
    }

    if (json) {
        boost::json::object o;
        o["outcome"] = to_string(d.result);
        o["reason"] = to_string(d.why);
        o["status"] = d.status;
        o["mode"] = to_string(d.effective_mode);
        o["detail"] = d.detail;
        if (auto rule = rule_of(d.why); !rule.rule_id.empty()) {
            o["rule_id"] = rule.rule_id;
            o["legal_reference"] = rule.legal_reference;
        }
        o["client"] = d.client_id;
        o["purpose"] = d.purpose_id;
        if (d.purpose_ref != nullptr) {
            o["basis"] = to_string(d.basis);
            o["data_use"] = d.purpose_ref->data_use;
        }
        o["destination"] = d.destination_id;
        if (d.destination_ref != nullptr) o["destination_kind"] = to_string(d.kind);
        if (d.matched_route != nullptr) o["route"] = d.matched_route->id;
        o["max_records"] = d.max_records;
        if (g != nullptr && g->valid_from) o["grant_valid_from"] = g->valid_from_text;
        if (g != nullptr && g->valid_until) o["grant_valid_until"] = g->valid_until_text;
        if (g != nullptr && g->quota != 0)
            o["quota"] = std::to_string(g->quota) + "/" + std::string(to_string(g->quota_window));
        if (list != nullptr) {
            o["suppression_list"] = list->id;
            if (list->max_age_seconds > 0) o["suppression_list_max_age"] = list->max_age_text;
        }
        boost::json::array kept, stripped;
        for (const auto& l : lines) {
            boost::json::object f{{"field", l.name}, {"reason", l.why}};
            (l.kept ? kept : stripped).push_back(std::move(f));
        }
        o["fields_kept"] = std::move(kept);
        o["fields_stripped"] = std::move(stripped);
        boost::json::array req, conds;
        for (const auto& r : d.fields_requested) req.push_back(boost::json::string(r));
        for (const auto& s : conditions) conds.push_back(boost::json::string(s));
        o["fields_requested"] = std::move(req);
        o["record_conditions"] = std::move(conds);
        o["upstream_target"] = upstream;
        std::cout << boost::json::serialize(o) << "\n";
        return d.allowed_export() ? 0 : 1;
    }
    auto row = [](std::string_view k, const std::string& v) {
        std::printf("%-14s %s\n", std::string(k).c_str(), v.c_str());
    };
    row("decision", std::string(to_string(d.result)) + " (" +
                        std::string(to_string(d.effective_mode)) + " mode" +
                        (d.effective_mode == mode::monitor && d.result == outcome::refuse
                             ? ": would-block, data passes unmodified"
                             : "") +
                        ")");
    row("reason", std::string(to_string(d.why)) + " (HTTP " + std::to_string(d.status) + ")");
    if (!d.detail.empty()) row("detail", d.detail);
    if (auto rule = rule_of(d.why); !rule.rule_id.empty())
        row("rule", std::string(rule.rule_id) + " (" + std::string(rule.legal_reference) + ")");
    row("client", d.client_id.empty() ? "-" : d.client_id);
    std::string pu = d.purpose_id.empty() ? "-" : d.purpose_id;
    if (d.purpose_ref != nullptr) {
        pu += " (" + std::string(to_string(d.basis)) + ", data use " + d.purpose_ref->data_use;
        if (d.purpose_ref->direct_marketing)
            pu += ", direct marketing by " + std::string(to_string(d.purpose_ref->channel));
        pu += ")";
    }
    row("purpose", pu);
    std::string de = d.destination_id.empty() ? "-" : d.destination_id;
    if (d.destination_ref != nullptr) {
        de += " (" + std::string(to_string(d.kind));
        if (!d.destination_ref->organisation.empty()) de += ", " + d.destination_ref->organisation;
        if (!d.destination_ref->country.empty()) de += ", " + d.destination_ref->country;
        if (d.destination_ref->transfer != transfer_mechanism::none)
            de += " under " + std::string(to_string(d.destination_ref->transfer));
        if (!d.destination_ref->dpa_ref.empty()) de += ", DPA " + d.destination_ref->dpa_ref;
        de += ")";
    }
    row("destination", de);
    if (d.matched_route != nullptr)
        row("route", d.matched_route->id + (d.matched_route->entity.empty()
                                                ? std::string()
                                                : " (entity " + d.matched_route->entity + ")"));
    if (!window.empty()) row("grant valid", window + " (UTC unless an offset is given)");
    if (list != nullptr) row("suppression", list_text);
    if (d.allowed_export()) {
        row("upstream", method + " " + upstream);
        row("max records", d.max_records == 0 ? "unlimited"
                                                : std::to_string(d.max_records) +
                                                      " (the pages of a paged export together)");
        if (g != nullptr && g->quota != 0)
            row("quota", std::to_string(g->quota) + " records per " +
                             std::string(to_string(g->quota_window)) +
                             " (UTC window; client x purpose x destination)");
    }
    if (!lines.empty()) {
        std::printf("\nfields\n");
        for (const auto& l : lines)
            std::printf("  %-9s %-30s %s\n", l.kept ? "kept" : "stripped", l.name.c_str(),
                        l.why.c_str());
    }
    if (!conditions.empty()) {
        std::printf("\nrecord conditions (in order; the first a record fails drops it)\n");
        for (const auto& s : conditions) std::printf("  %s\n", s.c_str());
    }
    // Scripts and CI gates read the answer from the exit status: 1 when it would be refused.
    return d.allowed_export() ? 0 : 1;
}

namespace {

std::vector<std::string> words(std::string_view s) {
    std::vector<std::string> out;
    std::istringstream in{std::string(s)};
    for (std::string w; in >> w;) out.push_back(w);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace

namespace {

// A cases file says exactly what its author meant: an attribute or element test-policy does not
// read, or an expectation no decision can have, is a usage error (file:line), never a case that
// silently checks less than it seems to.
bool check_cases(const pugi::xml_node& root, const std::string& file, const std::string& text) {
    auto line_of = [&text](const pugi::xml_node& n) {
        const auto offset = static_cast<std::size_t>(std::max<std::ptrdiff_t>(n.offset_debug(), 0));
        return 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(
                                                               std::min(offset, text.size())),
                              '\n');
    };
    bool ok = true;
    auto complain = [&](const pugi::xml_node& n, const std::string& what) {
        std::fprintf(stderr, "%s:%ld: %s\n", file.c_str(), static_cast<long>(line_of(n)),
                     what.c_str());
        ok = false;
    };
    auto attributes = [&](const pugi::xml_node& n, std::initializer_list<std::string_view> known) {
        for (auto a : n.attributes()) {
            if (std::find(known.begin(), known.end(), std::string_view(a.name())) == known.end())
                complain(n, std::string("unknown attribute '") + a.name() + "' on <" + n.name() +
                                ">");
        }
    };
    auto elements = [&](const pugi::xml_node& n, std::initializer_list<std::string_view> known) {
        for (auto c : n.children()) {
            if (c.type() != pugi::node_element) continue;
            if (std::find(known.begin(), known.end(), std::string_view(c.name())) == known.end())
                complain(c, std::string("unknown element <") + c.name() + "> in <" + n.name() +
                                ">");
        }
    };
    attributes(root, {});
    elements(root, {"case"});
    for (auto cs : root.children("case")) {
        attributes(cs, {"name", "target", "method", "api-key", "client", "certificate-subject",
                        "certificate-sha256", "purpose", "destination"});
        elements(cs, {"body", "header", "expect"});
        for (auto h : cs.children("header")) attributes(h, {"name", "value"});
        for (auto ex : cs.children("expect")) {
            attributes(ex, {"outcome", "reason", "status", "mode", "kept", "stripped",
                            "max-records", "upstream-query"});
            if (auto a = ex.attribute("outcome"); a && std::string_view(a.value()) != "allow" &&
                                                  std::string_view(a.value()) != "refuse")
                complain(ex, std::string("outcome '") + a.value() + "' is not allow or refuse");
            if (auto a = ex.attribute("reason"); a && !parse_reason(a.value()))
                complain(ex, std::string("reason '") + a.value() + "' is not a reason code");
        }
    }
    return ok;
}

}  // namespace

int run_test_policy(int argc, char** argv) {
    CLI::App app{
        "Run an operator's policy test cases (XML: <cases><case …><expect …/></case></cases>)"};
    std::string file, cases_file;
    std::string format = "text";
    app.add_option("--config", file, "configuration file")->required();
    app.add_option("CASES", cases_file, "cases file")->required();
    add_format_option(app, format);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    auto cfg = load_or_report(file);
    if (!cfg) return 1;
    pugi::xml_document doc;
    auto parsed = doc.load_file(cases_file.c_str());
    if (!parsed) {
        std::fprintf(stderr, "%s: %s\n", cases_file.c_str(), parsed.description());
        return 1;
    }
    auto root = doc.child("cases");
    if (!root) {
        std::fprintf(stderr, "%s: the root element must be <cases>\n", cases_file.c_str());
        return 1;
    }
    {
        std::ifstream in(cases_file, std::ios::binary);
        const std::string text((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
        if (!check_cases(root, cases_file, text)) return 2;
    }
    const bool json = format == "json";
    boost::json::array case_results;
    int passed = 0, failed = 0;
    for (auto cs : root.children("case")) {
        std::string name = cs.attribute("name").as_string("(unnamed)");
        std::vector<std::string> problems;
        request_facts facts;
        std::string target = cs.attribute("target").as_string();
        auto qm = target.find('?');
        std::string path = target.substr(0, qm);
        std::string query = qm == std::string::npos ? std::string() : target.substr(qm + 1);
        facts.path = path;
        facts.query = query;
        std::string method = cs.attribute("method").as_string("GET");
        facts.method = method;
        // <body>…</body>: the request body of a query language that reads it (SOAP, search).
        std::string body = cs.child("body").text().as_string();
        facts.body = body;
        facts.body_present = static_cast<bool>(cs.child("body"));
        std::string key_hash;
        if (auto a = cs.attribute("api-key")) {
            key_hash = sha256_hex(a.value());
            facts.credentials.api_key_sha256 = key_hash;
        } else if (auto ca = cs.attribute("client")) {
            const client* c = cfg->rules.find_client(ca.value());
            if (c == nullptr)
                problems.push_back(std::string("unknown client '") + ca.value() + "' in the case");
            else
                credentials_of(*c, facts.credentials);
        }
        if (auto a = cs.attribute("certificate-subject"))
            facts.credentials.certificate_subject = a.value();
        if (auto a = cs.attribute("certificate-sha256"))
            facts.credentials.certificate_sha256 = a.value();
        std::vector<std::string_view> purposes, destinations;
        if (auto a = cs.attribute("purpose")) purposes.emplace_back(a.value());
        if (auto a = cs.attribute("destination")) destinations.emplace_back(a.value());
        // <header name="X-Export-Purpose" value="…"/> adds a header line as received.
        for (auto h : cs.children("header")) {
            std::string_view n = h.attribute("name").value();
            if (n == "X-Export-Purpose") purposes.emplace_back(h.attribute("value").value());
            if (n == "X-Export-Destination")
                destinations.emplace_back(h.attribute("value").value());
        }
        facts.purpose_headers = purposes;
        facts.destination_headers = destinations;

        decision d = decide(*cfg, facts);
        auto ex = cs.child("expect");
        if (!ex) problems.push_back("no <expect>");
        if (auto a = ex.attribute("outcome"); a && to_string(d.result) != a.value())
            problems.push_back("outcome " + std::string(to_string(d.result)) + ", expected " +
                               a.value());
        if (auto a = ex.attribute("reason"); a && to_string(d.why) != a.value())
            problems.push_back("reason " + std::string(to_string(d.why)) + ", expected " +
                               a.value());
        if (auto a = ex.attribute("status"); a && d.status != a.as_uint())
            problems.push_back("status " + std::to_string(d.status) + ", expected " + a.value());
        if (auto a = ex.attribute("mode"); a && to_string(d.effective_mode) != a.value())
            problems.push_back("mode " + std::string(to_string(d.effective_mode)) + ", expected " +
                               a.value());
        if (auto a = ex.attribute("kept"); a && sorted(d.fields_kept) != words(a.value()))
            problems.push_back("kept fields [" + join(sorted(d.fields_kept)) + "], expected [" +
                               a.value() + "]");
        if (auto a = ex.attribute("stripped"); a && sorted(d.fields_stripped) != words(a.value()))
            problems.push_back("stripped fields [" + join(sorted(d.fields_stripped)) +
                               "], expected [" + a.value() + "]");
        if (auto a = ex.attribute("max-records"); a && d.max_records != a.as_ullong())
            problems.push_back("max-records " + std::to_string(d.max_records) + ", expected " +
                               a.value());
        if (auto a = ex.attribute("upstream-query"); a && d.upstream_query != a.value())
            problems.push_back("upstream query '" + d.upstream_query + "', expected '" + a.value() +
                               "'");
        (problems.empty() ? passed : failed) += 1;
        if (json) {
            boost::json::array list;
            for (const auto& problem : problems) list.emplace_back(problem);
            case_results.push_back({{"name", name},
                                    {"passed", problems.empty()},
                                    {"outcome", to_string(d.result)},
                                    {"reason", to_string(d.why)},
                                    {"status", d.status},
                                    {"problems", std::move(list)}});
        } else if (problems.empty()) {
            std::printf("ok    %s\n", name.c_str());
        } else {
            std::printf("FAIL  %s: %s\n", name.c_str(), join(problems, "; ").c_str());
        }
    }
    if (json) {
        boost::json::object o{{"config", file},
                              {"cases_file", cases_file},
                              {"passed", passed},
                              {"failed", failed},
                              {"cases", std::move(case_results)}};
        std::cout << boost::json::serialize(o) << "\n";
    } else {
        std::printf("%d passed, %d failed\n", passed, failed);
    }
    return failed == 0 ? 0 : 1;
}

int run_hash_suppression(int argc, char** argv) {
    CLI::App app{"Turn e-mail addresses or CRM ids into suppression-list entries (SHA-256, hex)"};
    std::string match = "email";
    std::string file;
    app.add_option("--match", match, "email (trimmed, lower-cased) or id (trimmed)")
        ->check(CLI::IsMember({"email", "id"}));
    app.add_option("FILE", file, "one value a line (default: standard input)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    std::ifstream in_file;
    if (!file.empty()) {
        in_file.open(file);
        if (!in_file) {
            std::fprintf(stderr, "%s: cannot open\n", file.c_str());
            return 1;
        }
    }
    std::istream& in = file.empty() ? std::cin : in_file;
    auto kind = match == "id" ? suppression_entries::match_kind::id
                              : suppression_entries::match_kind::email;
    std::string line;
    while (std::getline(in, line)) {
        auto value = suppression_entries::normalise(line, suppression_entries::match_kind::id);
        // Comments and blank lines pass as they are; values never reach the output unhashed.
        if (value.empty() || value.front() == '#') {
            std::printf("%s\n", value.c_str());
            continue;
        }
        auto d = suppression_entries::hash(suppression_entries::normalise(value, kind));
        std::printf("%s\n", sha256_hex_of_digest(d).c_str());
    }
    return 0;
}

}  // namespace exportwall::config
