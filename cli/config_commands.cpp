#include "cli/config_commands.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <pugixml.hpp>

#include "cli/command_line.hpp"
#include "common/hex.hpp"
#include "config/explain.hpp"
#include "config/loader.hpp"
#include "config/policy_cases.hpp"
#include "config/policy_loader.hpp"
#include "config/review.hpp"

namespace exportwall::cli {
namespace {

using config::configuration;
using config::load_error;
using config::load_result;

void print_errors(const load_result& r) {
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
}

// Loads a configuration for explain / test-policy; prints its errors. The suppression lists are
// read as the proxy reads them, so a list's max-age decides as it would at run time; a list that
// cannot be read is reported and stays unread (it suppresses everyone and is stale).
std::shared_ptr<const configuration> load_or_report(const std::string& file) {
    auto r = config::load_configuration_file(file);
    print_errors(r);
    if (r.config) {
        for (const auto& e : config::load_suppression_lists(r.config->rules))
            std::fprintf(stderr, "warning: %s\n", e.str().c_str());
    }
    return r.config;
}

boost::json::array errors_json(const std::vector<load_error>& errors) {
    boost::json::array a;
    for (const auto& e : errors)
        a.push_back(boost::json::object{{"file", e.where.file},
                                        {"line", e.where.line},
                                        {"column", e.where.column},
                                        {"message", e.message}});
    return a;
}

// --format text|json, as every configuration command spells it; anything else is a usage
// error (exit 2) through CLI11.
CLI::Option* add_format_option(CLI::App& app, std::string& format) {
    return app.add_option("--format", format, "output format: text (default) or json")
        ->check(CLI::IsMember({"text", "json"}));
}

struct check_args {
    std::string file;
    bool offline = false;
    bool policy_only = false;  // a DPO's policy file, validated on its own
};

// check-config --format json: one object, valid or not.
void print_check_json(const check_args& a, const configuration& c,
                      const std::vector<load_error>& warnings) {
    boost::json::object o;
    o["file"] = a.file;
    o["valid"] = true;
    o["offline"] = a.offline;
    o["kind"] = a.policy_only ? "policy" : "configuration";
    o["revision"] = c.revision;
    if (!a.policy_only) {
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
}

// check-config's text: the warnings on stderr, the summary and the revision on stdout.
void print_check_text(const check_args& a, const configuration& c,
                      const std::vector<load_error>& warnings) {
    const char* file = a.file.c_str();
    for (const auto& w : warnings) std::fprintf(stderr, "warning: %s\n", w.str().c_str());
    if (a.policy_only) {
        std::printf(
            "%s: ok: policy file: %zu entities, %zu purposes, %zu destinations, %zu "
            "clients, %zu suppression lists (revision %s)\n",
            file, c.rules.entities.size(), c.rules.purposes.size(), c.rules.destinations.size(),
            c.rules.clients.size(), c.rules.suppression_lists.size(), c.revision.c_str());
    } else {
        std::printf(
            "%s: ok: %zu routes, %zu entities, %zu purposes, %zu destinations, %zu clients, "
            "mode %s (revision %s)\n",
            file, c.net.routes.size(), c.rules.entities.size(), c.rules.purposes.size(),
            c.rules.destinations.size(), c.rules.clients.size(),
            std::string(to_string(c.rules.global_mode)).c_str(), c.revision.c_str());
        if (c.shadow)
            std::printf(
                "%s: shadow policy %s: %zu purposes, %zu destinations, %zu clients "
                "(revision %s), audited beside the enforced one, never enforced\n",
                file, c.shadow_path.c_str(), c.shadow->purposes.size(),
                c.shadow->destinations.size(), c.shadow->clients.size(), c.shadow_revision.c_str());
    }
    if (a.offline)
        std::printf(
            "%s: offline: ${VAR}s, key files, password and secret files (OAuth2 "
            "included) and suppression lists were not read; the revision does not "
            "cover the lists\n",
            file);
    // The revision alone on a line of its own, for scripts (`awk '$1 == "revision"'`): the
    // value audit records carry as policy_revision.
    std::printf("revision %s\n", c.revision.c_str());
}

// The cases of test-policy, checked; an exit code when they cannot be run.
std::optional<int> read_cases(const std::string& cases_file, pugi::xml_document& doc) {
    auto parsed = doc.load_file(cases_file.c_str());
    if (!parsed) {
        std::fprintf(stderr, "%s: %s\n", cases_file.c_str(), parsed.description());
        return exit_failure;
    }
    auto root = doc.child("cases");
    if (!root) {
        std::fprintf(stderr, "%s: the root element must be <cases>\n", cases_file.c_str());
        return exit_failure;
    }
    std::ifstream in(cases_file, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto problems = config::check_cases(root, cases_file, text);
    for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
    if (!problems.empty()) return exit_usage;
    return std::nullopt;
}

std::string joined(const std::vector<std::string>& v, std::string_view sep) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

}  // namespace

int run_check_config(int argc, char** argv) {
    CLI::App app{"Validate an exportwall configuration: errors as file:line:col: message",
                 "exportwall check-config"};
    check_args a;
    std::string format = "text";
    app.add_option("FILE", a.file, "configuration file")->required();
    add_format_option(app, format);
    app.add_flag("--offline", a.offline,
                 "Validate without the target environment: unset ${VAR}s, key files, password "
                 "files and suppression lists are not needed (and not read)");
    if (auto code = parse_command_line(app, argc, argv, std::cout, std::cerr)) return *code;
    const bool json = format == "json";
    std::optional<config::offline_loading> offline_scope;
    if (a.offline) offline_scope.emplace();
    a.policy_only = config::is_policy_file(a.file);
    auto result = config::load_for_review(a.file);
    if (!result) {
        if (json) {
            boost::json::object o{
                {"file", a.file}, {"valid", false}, {"errors", errors_json(result.errors)}};
            std::cout << boost::json::serialize(o) << "\n";
        } else {
            print_errors(result);
        }
        return exit_failure;
    }
    const auto& c = *result.config;
    auto warnings = config::review_warnings(c.rules);
    if (c.shadow) {
        auto more = config::review_warnings(*c.shadow);
        warnings.insert(warnings.end(), more.begin(), more.end());
    }
    if (json)
        print_check_json(a, c, warnings);
    else
        print_check_text(a, c, warnings);
    return exit_success;
}

int run_explain(int argc, char** argv) {
    CLI::App app{"Show the decision exportwall takes for one export request",
                 "exportwall explain"};
    std::string file;
    config::explain_request request;
    bool json = false;
    app.add_option("--config", file, "configuration file")->required();
    app.add_option("--client", request.client_id,
                   "client id (its configured identity is presented)")
        ->required();
    app.add_option("--purpose", request.purpose_id, "X-Export-Purpose value");
    app.add_option("--destination", request.destination_id, "X-Export-Destination value");
    app.add_option("--target", request.target, "normalised request target, '/path?query'")
        ->required();
    app.add_option("--method", request.method, "HTTP method (default GET)");
    app.footer(
        "Exit codes: 0 the export would be allowed, 1 it would be refused, 2 anything else "
        "(usage, a configuration that does not load, an unknown client, an unreadable "
        "--body).");
    std::string body_file;
    app.add_option("--body", body_file,
                   "file holding the request body (SOAP query, HubSpot search: query languages "
                   "that read the body)");
    std::string format = "text";
    add_format_option(app, format);
    app.add_flag("--json", json, "the same as --format json");
    if (auto code = parse_command_line(app, argc, argv, std::cout, std::cerr)) return *code;
    json = json || format == "json";
    // 1 is the answer "refused" alone: a configuration that does not load, an unreadable body
    // or an unknown client is a usage error (2), so a CI gate never reads one as a refusal.
    auto cfg = load_or_report(file);
    if (!cfg) return exit_usage;
    if (!body_file.empty()) {
        std::ifstream in(body_file, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "exportwall explain: cannot read '%s'\n", body_file.c_str());
            return exit_usage;
        }
        request.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const auto e = config::explain(*cfg, request);
    if (!e) {
        std::fprintf(stderr, "exportwall explain: unknown client '%s'\n",
                     request.client_id.c_str());
        return exit_usage;
    }
    if (json)
        config::write_explanation_json(*e, std::cout);
    else
        config::write_explanation_text(*e, std::cout);
    // Scripts and CI gates read the answer from the exit status: 1 when it would be refused.
    return e->verdict.allowed_export() ? exit_success : exit_failure;
}

int run_test_policy(int argc, char** argv) {
    CLI::App app{
        "Run an operator's policy test cases (XML: <cases><case …><expect …/></case></cases>)",
        "exportwall test-policy"};
    std::string file, cases_file;
    std::string format = "text";
    app.add_option("--config", file, "configuration file")->required();
    app.add_option("CASES", cases_file, "cases file")->required();
    add_format_option(app, format);
    if (auto code = parse_command_line(app, argc, argv, std::cout, std::cerr)) return *code;
    auto cfg = load_or_report(file);
    if (!cfg) return exit_failure;
    pugi::xml_document doc;
    if (auto code = read_cases(cases_file, doc)) return *code;
    const bool json = format == "json";
    boost::json::array case_results;
    int passed = 0, failed = 0;
    for (auto cs : doc.child("cases").children("case")) {
        const config::case_result r = config::run_case(*cfg, cs);
        (r.passed() ? passed : failed) += 1;
        if (json) {
            boost::json::array list;
            for (const auto& problem : r.problems) list.emplace_back(problem);
            case_results.push_back({{"name", r.name},
                                    {"passed", r.passed()},
                                    {"outcome", to_string(r.verdict.result)},
                                    {"reason", to_string(r.verdict.why)},
                                    {"status", r.verdict.status},
                                    {"problems", std::move(list)}});
        } else if (r.passed()) {
            std::printf("ok    %s\n", r.name.c_str());
        } else {
            std::printf("FAIL  %s: %s\n", r.name.c_str(), joined(r.problems, "; ").c_str());
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
    return failed == 0 ? exit_success : exit_failure;
}

int run_hash_suppression(int argc, char** argv) {
    CLI::App app{"Turn e-mail addresses or CRM ids into suppression-list entries (SHA-256, hex)",
                 "exportwall hash-suppression"};
    std::string match = "email";
    std::string file;
    app.add_option("--match", match, "email (trimmed, lower-cased) or id (trimmed)")
        ->check(CLI::IsMember({"email", "id"}));
    app.add_option("FILE", file, "one value a line (default: standard input)");
    if (auto code = parse_command_line(app, argc, argv, std::cout, std::cerr)) return *code;
    std::ifstream in_file;
    if (!file.empty()) {
        in_file.open(file);
        if (!in_file) {
            std::fprintf(stderr, "%s: cannot open\n", file.c_str());
            return exit_failure;
        }
    }
    std::istream& in = file.empty() ? std::cin : in_file;
    using config::suppression_entries;
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
        std::printf("%s\n", common::to_hex(d).c_str());
    }
    return exit_success;
}

}  // namespace exportwall::cli
