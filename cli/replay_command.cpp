#include "cli/replay_command.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string_view>

#include <CLI/CLI.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "audit/reader.hpp"
#include "cli/command_line.hpp"
#include "config/decide.hpp"
#include "config/loader.hpp"

namespace exportwall::cli {

namespace {

constexpr const char* exit_codes =
    "Exit codes: 0 nothing would change, 1 something would (or the chain is broken without "
    "--ignore-chain), 2 usage error.";

bool is_export(std::string_view text) {
    using audit::decision;
    const auto d = audit::parse_decision(text);
    return d == decision::allowed || d == decision::filtered || d == decision::blocked ||
           d == decision::aborted || d == decision::would_block;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

struct totals {
    std::uint64_t replayed = 0;
    std::uint64_t changed = 0;
    std::uint64_t newly_refused = 0;
    std::uint64_t newly_allowed = 0;
    std::uint64_t with_newly_stripped = 0;
    std::uint64_t with_newly_exposed = 0;
    std::uint64_t fields_unknown = 0;
};

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
}

}  // namespace

replayed_export replay_export(const config::configuration& config, const audit::record& rec) {
    replayed_export out;
    if (!is_export(rec.decision)) return out;
    out.replayed = true;
    out.was_refused = rec.decision == "blocked";

    // As the recorded client: it proved who it was then; under NEW it is whoever NEW says has
    // that id (no such client: unauthenticated).
    config::client_credentials credentials;
    if (const auto* c = config.rules.find_client(rec.client)) {
        if (!c->api_key_sha256.empty())
            credentials.api_key_sha256 = c->api_key_sha256.front();
        else if (!c->certificate_subject.empty())
            credentials.certificate_subject = c->certificate_subject.front();
        else if (!c->certificate_sha256.empty())
            credentials.certificate_sha256 = c->certificate_sha256.front();
    }
    const std::string_view path = std::string_view(rec.path).substr(0, rec.path.find('?'));
    const std::array<std::string_view, 1> purpose{rec.purpose};
    const std::array<std::string_view, 1> destination{rec.destination};
    config::request_facts facts;
    facts.route_id = rec.route;
    facts.method = rec.method;
    facts.path = path;
    // The route, identity, declaration, legal refusals and grants; the query itself is not in the
    // record (names only), so the fields are compared below instead of guarded.
    facts.body_pending = true;
    if (auto ms = audit::parse_rfc3339(rec.time)) facts.now = *ms / 1000;
    facts.credentials = credentials;
    if (!rec.purpose.empty()) facts.purpose_headers = purpose;
    if (!rec.destination.empty()) facts.destination_headers = destination;
    const config::decision d = config::decide(config, facts);
    if (!d.allowed_export()) {
        out.now_refused = true;
        out.reason = std::string(config::to_string(d.why));
        out.rule_id = std::string(config::rule_of(d.why).rule_id);
        return out;
    }
    if (out.was_refused || d.matched_route == nullptr || d.purpose_ref == nullptr ||
        d.matched_route->format == config::route_format::passthrough)
        return out;
    const auto entity = config.rules.entity_by_id.find(d.matched_route->entity);
    const config::purpose_view* view = entity ? d.purpose_ref->find_view(*entity) : nullptr;
    if (view == nullptr) return out;
    if (rec.fields_requested.empty()) {
        out.fields_unknown = true;
        return out;
    }
    for (const auto& f : rec.fields_requested) {
        const bool kept_now = view->allowed.keeps(f);
        const bool stripped_then = contains(rec.fields_stripped, f);
        if (!kept_now && !stripped_then) out.newly_stripped.push_back(f);
        if (kept_now && stripped_then) out.newly_exposed.push_back(f);
    }
    return out;
}

namespace {

struct replay_args {
    std::string config_path, log, since, until, format = "text";
    bool ignore_chain = false;
};

// A trail that may have been edited is no ground for a what-if: says where it breaks. An exit
// code when the replay stops here; `broken` says whether it goes on over a broken chain.
std::optional<int> check_chain(const replay_args& a, bool& broken, std::ostream& err) {
    const auto chain = audit::verify_chain(a.log);
    if (chain.problem == audit::chain_problem::no_log ||
        chain.problem == audit::chain_problem::io_error) {
        err << "exportwall audit replay: " << chain.detail() << "\n";
        return exit_usage;
    }
    broken = !chain.ok;
    if (broken) {
        err << "exportwall audit replay: " << chain.detail() << "\n";
        if (!a.ignore_chain) {
            err << "exportwall audit replay: not replayed (--ignore-chain replays it anyway)\n";
            return exit_failure;
        }
        err << "exportwall audit replay: replaying anyway (--ignore-chain)\n";
    }
    return std::nullopt;
}

boost::json::object change_json(const audit::record& r, const replayed_export& x) {
    boost::json::object o;
    o["seq"] = r.seq;
    o["audit_id"] = r.id;
    o["time"] = r.time;
    o["client"] = r.client;
    o["purpose"] = r.purpose;
    o["destination"] = r.destination;
    o["route"] = r.route;
    o["recorded"] = r.decision;
    o["replayed"] = x.now_refused ? "refused" : "allowed";
    o["reason"] = x.reason;
    o["rule_id"] = x.rule_id;
    boost::json::array stripped, exposed;
    for (const auto& f : x.newly_stripped) stripped.emplace_back(f);
    for (const auto& f : x.newly_exposed) exposed.emplace_back(f);
    o["newly_stripped"] = std::move(stripped);
    o["newly_exposed"] = std::move(exposed);
    return o;
}

void print_change(const audit::record& r, const replayed_export& x, std::ostream& out) {
    out << "seq " << r.seq << "  " << r.time << "  " << r.client << "  " << r.purpose << " -> "
        << r.destination << "  (" << r.route << ")\n";
    if (x.now_refused && !x.was_refused)
        out << "  newly refused: " << x.reason << (x.rule_id.empty() ? "" : " (" + x.rule_id + ")")
            << "\n";
    if (!x.now_refused && x.was_refused)
        out << "  newly allowed (was blocked: " << r.reason << ")\n";
    if (!x.newly_stripped.empty())
        out << "  fields newly stripped: " << joined(x.newly_stripped) << "\n";
    if (!x.newly_exposed.empty())
        out << "  fields newly exposed: " << joined(x.newly_exposed) << "\n";
}

void add_change(const replayed_export& x, totals& t) {
    ++t.changed;
    if (x.now_refused && !x.was_refused) ++t.newly_refused;
    if (!x.now_refused && x.was_refused) ++t.newly_allowed;
    if (!x.newly_stripped.empty()) ++t.with_newly_stripped;
    if (!x.newly_exposed.empty()) ++t.with_newly_exposed;
}

void print_totals(const config::configuration& cfg, const totals& t, bool chain_broken,
                  boost::json::array changes, bool json, std::ostream& out) {
    if (json) {
        boost::json::object doc;
        doc["revision"] = cfg.revision;
        doc["chain_intact"] = !chain_broken;
        doc["replayed"] = t.replayed;
        doc["changed"] = t.changed;
        doc["newly_refused"] = t.newly_refused;
        doc["newly_allowed"] = t.newly_allowed;
        doc["with_fields_newly_stripped"] = t.with_newly_stripped;
        doc["with_fields_newly_exposed"] = t.with_newly_exposed;
        doc["fields_not_replayed"] = t.fields_unknown;
        doc["changes"] = std::move(changes);
        out << boost::json::serialize(doc) << "\n";
        return;
    }
    out << "\n"
        << t.replayed << " export(s) replayed, " << t.changed
        << " would change: " << t.newly_refused << " newly refused, " << t.newly_allowed
        << " newly allowed, " << t.with_newly_stripped << " with fields newly stripped, "
        << t.with_newly_exposed << " with fields newly exposed\n";
    if (t.fields_unknown != 0)
        out << t.fields_unknown
            << " export(s) asked for no field by name: only their refusal is replayed\n";
}

}  // namespace

int run_audit_replay(int argc, char** argv) {
    return run_audit_replay(argc, argv, std::cout, std::cerr);
}

int run_audit_replay(int argc, char** argv, std::ostream& out, std::ostream& err) {
    CLI::App app{"Decide the recorded exports again under another configuration (what if).",
                 "exportwall audit replay"};
    app.footer(exit_codes);
    replay_args a;
    app.add_option("--config", a.config_path, "The configuration to replay under (NEW)")
        ->required();
    app.add_option("log", a.log, "The audit trail's active file (or --log)");
    app.add_option("--log", a.log, "The audit trail's active file (default: NEW's <audit path>)");
    app.add_option("--since", a.since, "Only exports at or after this RFC 3339 instant");
    app.add_option("--until", a.until, "Only exports before this RFC 3339 instant");
    app.add_flag("--ignore-chain", a.ignore_chain, "Replay a trail whose hash chain is broken");
    app.add_option("--format", a.format, "text or json")->check(CLI::IsMember({"text", "json"}));
    if (auto code = parse_command_line(app, argc, argv, out, err)) return *code;
    audit::record_filter filter;
    if (std::string error; !audit::set_period(filter, a.since, a.until, error)) {
        err << "exportwall audit replay: " << error << "\n";
        return exit_usage;
    }
    auto loaded = config::load_configuration_file(a.config_path);
    if (!loaded.config) {
        for (const auto& e : loaded.errors) err << e.str() << "\n";
        return exit_usage;
    }
    const auto& cfg = *loaded.config;
    if (a.log.empty()) a.log = cfg.net.audit.path;
    bool chain_broken = false;
    if (auto code = check_chain(a, chain_broken, err)) return *code;

    const bool json = a.format == "json";
    totals t;
    boost::json::array changes;
    if (a.format == "text")
        out << "replaying " << a.log << " under " << a.config_path << " (revision "
            << cfg.revision.substr(0, 12) << ")\n";
    auto ec = audit::for_each_record(a.log, filter, [&](const audit::record& r) {
        const replayed_export x = replay_export(cfg, r);
        if (!x.replayed) return true;
        ++t.replayed;
        if (x.fields_unknown) ++t.fields_unknown;
        if (!x.changed()) return true;
        add_change(x, t);
        if (json)
            changes.push_back(change_json(r, x));
        else
            print_change(r, x, out);
        return true;
    });
    if (ec) {
        err << "exportwall audit replay: " << a.log << ": " << ec.message() << "\n";
        return exit_usage;
    }
    print_totals(cfg, t, chain_broken, std::move(changes), json, out);
    return t.changed == 0 && !chain_broken ? exit_success : exit_failure;
}

}  // namespace exportwall::cli
