#include "cli/policy_command.hpp"

#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <system_error>

#include <CLI/CLI.hpp>

#include "audit/reader.hpp"
#include "cli/command_line.hpp"
#include "config/policy_diff.hpp"
#include "config/review.hpp"
#include "config/ropa.hpp"

namespace exportwall::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* exit_codes =
    "Exit codes: ropa 0 success; diff 0 equivalent, 1 the policies differ; 2 usage error, a "
    "configuration that does not load, or an unreadable audit trail.";

// Loads a configuration (or a policy file alone) for review; errors as file:line:col.
std::shared_ptr<const config::configuration> load(const std::string& file, std::ostream& err) {
    auto r = config::load_for_review(file);
    for (const auto& e : r.errors) err << e.str() << '\n';
    return r.config;
}

// "<stem>-YYYYMMDDTHHMMSSZ-<seq>.jsonl" → "<stem>"; any other "<stem>.jsonl" → "<stem>".
std::string trail_stem(const std::string& name) {
    constexpr std::string_view ext = ".jsonl";
    if (name.size() <= ext.size() || name.compare(name.size() - ext.size(), ext.size(), ext) != 0)
        return {};
    std::string stem = name.substr(0, name.size() - ext.size());
    // A rotated file: strip "-<timestamp>-<seq>" (the timestamp holds a 'T' and ends in 'Z').
    const auto last = stem.rfind('-');
    if (last != std::string::npos && last > 0) {
        const auto before = stem.rfind('-', last - 1);
        if (before != std::string::npos && last - before == 17 && stem[before + 9] == 'T' &&
            stem[last - 1] == 'Z')
            return stem.substr(0, before);
    }
    return stem;
}

// The active file of the trail `--log` names: the file itself, or in a directory the one trail
// it holds (the active file and its rotated files share a stem). "" with `error` set otherwise.
std::string resolve_trail(const std::string& given, std::string& error) {
    std::error_code ec;
    if (!fs::is_directory(given, ec)) return given;
    std::set<std::string> stems;
    for (const auto& entry : fs::directory_iterator(given, ec)) {
        if (!entry.is_regular_file(ec)) continue;
        const auto stem = trail_stem(entry.path().filename().string());
        if (!stem.empty()) stems.insert(stem);
    }
    if (ec) {
        error = "cannot read directory " + given + ": " + ec.message();
        return {};
    }
    if (stems.size() != 1) {
        error = stems.empty()
                    ? "no audit trail (*.jsonl) in " + given
                    : "more than one audit trail in " + given + ": name the active file with --log";
        return {};
    }
    return (fs::path(given) / (*stems.begin() + ".jsonl")).string();
}

// True for a record of an export that delivered data; records_out counts what it delivered.
bool delivered(const audit::record& r) {
    using audit::decision;
    const auto d = audit::decision_of(r);
    if (d == decision::allowed || d == decision::filtered || d == decision::would_block) return true;
    return d == decision::aborted && r.records_out > 0;
}

int run_ropa(const std::string& config_file, const std::string& format, const std::string& log,
             const std::string& since, const std::string& until, std::ostream& out,
             std::ostream& err) {
    audit::record_filter filter;
    if (std::string error; !audit::set_period(filter, since, until, error)) {
        err << "exportwall policy ropa: " << error << "\n";
        return exit_usage;
    }
    auto cfg = load(config_file, err);
    if (!cfg) return exit_usage;
    auto ropa = config::build_ropa(cfg->rules, config_file, cfg->revision);
    if (!log.empty()) {
        std::string error;
        const std::string trail = resolve_trail(log, error);
        if (trail.empty()) {
            err << "exportwall policy ropa: " << error << '\n';
            return exit_usage;
        }
        config::ropa_flow_table flows;
        config::ropa_period period{trail, since, until, 0};
        const auto ec = audit::for_each_record(trail, filter, [&](const audit::record& r) {
            ++period.audit_records;
            if (!delivered(r)) return true;
            auto& f = flows[{r.purpose, r.destination}];
            ++f.exports;
            f.records += r.records_out;
            return true;
        });
        if (ec) {
            err << "exportwall policy ropa: cannot read audit log " << trail << ": " << ec.message()
                << '\n';
            return exit_usage;
        }
        config::add_flows(ropa, cfg->rules, flows, std::move(period));
    }
    if (format == "json")
        out << config::render_ropa_json(ropa);
    else if (format == "csv")
        out << config::render_ropa_csv(ropa);
    else
        out << config::render_ropa_html(ropa);
    return exit_success;
}

int run_diff(const std::string& old_file, const std::string& new_file, const std::string& format,
             std::ostream& out, std::ostream& err) {
    auto before = load(old_file, err);
    auto after = load(new_file, err);
    if (!before || !after) return exit_usage;
    const auto d = config::diff_policies(*before, *after);
    out << (format == "json" ? config::render_diff_json(d, old_file, new_file)
                             : config::render_diff_text(d, old_file, new_file));
    return d.empty() ? exit_success : exit_failure;
}

}  // namespace

int run_policy(int argc, char** argv) { return run_policy(argc, argv, std::cout, std::cerr); }

int run_policy(int argc, char** argv, std::ostream& out, std::ostream& err) {
    CLI::App app{
        "The DPO's views of a policy: its record of processing, and what a change changes.",
        "exportwall policy"};
    app.footer(exit_codes);
    app.require_subcommand(1);

    std::string config_file, format_ropa = "html", log, since, until;
    auto* ropa = app.add_subcommand(
        "ropa", "the record of processing activities (GDPR art. 30) of a configuration");
    ropa->add_option("--config", config_file, "configuration file (or a policy file)")->required();
    ropa->add_option("--format", format_ropa, "html (default, a printable page), json or csv")
        ->check(CLI::IsMember({"html", "json", "csv"}));
    auto* log_option = ropa->add_option(
        "--log", log,
        "audit trail (its active file, or the directory holding it): add what flowed per "
        "purpose x destination");
    ropa->add_option("--since", since, "with --log: from this RFC 3339 instant or date (inclusive)")
        ->needs(log_option);
    ropa->add_option("--until", until,
                     "with --log: up to this RFC 3339 instant or date (exclusive)")
        ->needs(log_option);

    std::string old_file, new_file, format_diff = "text";
    auto* diff = app.add_subcommand(
        "diff", "what changes between two configurations: exit 0 equivalent, 1 they differ");
    diff->add_option("OLD", old_file, "the configuration in force")->required();
    diff->add_option("NEW", new_file, "the candidate")->required();
    diff->add_option("--format", format_diff, "text (default) or json")
        ->check(CLI::IsMember({"text", "json"}));

    if (auto code = parse_command_line(app, argc, argv, out, err)) return *code;
    if (ropa->parsed()) return run_ropa(config_file, format_ropa, log, since, until, out, err);
    return run_diff(old_file, new_file, format_diff, out, err);
}

}  // namespace exportwall::cli
