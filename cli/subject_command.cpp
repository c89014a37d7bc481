#include "cli/subject_command.hpp"

#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>

#include "audit/reader.hpp"
#include "cli/command_line.hpp"
#include "config/loader.hpp"
#include "proxy/enforce/subject_lookup.hpp"

namespace exportwall::cli {

using proxy::find_subject;
using proxy::subject_answer;
using proxy::subject_answer_json;
using proxy::subject_export;
using proxy::subject_query;

namespace {

constexpr const char* exit_codes =
    "Exit codes: 0 the person's data was delivered (exports listed), 1 no export delivered it "
    "(or the index does not match its audit records), 2 usage error.";

void print_text(const std::vector<subject_export>& found, std::ostream& out) {
    out << "audit id                          time                      client  purpose  "
           "destination  organisation  country  records\n";
    for (const auto& f : found) {
        out << f.rec.id << "  " << f.rec.time << "  " << f.rec.client << "  " << f.rec.purpose
            << "  " << f.rec.destination << "  " << (f.organisation.empty() ? "-" : f.organisation)
            << "  " << (f.country.empty() ? "-" : f.country) << "  " << f.rec.records_out
            << (f.intact ? "" : "  INDEX ALTERED") << "\n";
    }
    out << found.size() << " export(s)\n";
}

}  // namespace

int run_audit_subject(int argc, char** argv) {
    return run_audit_subject(argc, argv, std::cout, std::cerr);
}

int run_audit_subject(int argc, char** argv, std::ostream& out, std::ostream& err) {
    CLI::App app{"Every export that delivered a person's data (GDPR art. 15(1)(c), 19, 21(3)).",
                 "exportwall audit subject"};
    app.footer(exit_codes);
    std::string config_path, id, email, entity, log, since, until, format = "text";
    app.add_option("--config", config_path, "The configuration (subject key, entities)")
        ->required();
    auto* id_opt = app.add_option("--id", id, "The person's record id in the CRM");
    auto* email_opt = app.add_option("--email", email, "The person's e-mail address");
    id_opt->excludes(email_opt);
    app.add_option("--entity", entity,
                   "With --id: the entity the id belongs to (default: every "
                   "entity with a user.unique_id field)")
        ->needs(id_opt);
    app.add_option("--log", log, "The audit trail's active file (default: the configuration's)");
    app.add_option("--since", since, "Only exports at or after this RFC 3339 instant");
    app.add_option("--until", until, "Only exports before this RFC 3339 instant");
    app.add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}));
    if (auto code = parse_command_line(app, argc, argv, out, err)) return *code;
    if (id.empty() && email.empty()) {
        err << "exportwall audit subject: give --id or --email\n";
        return exit_usage;
    }
    audit::record_filter filter;
    if (std::string error; !audit::set_period(filter, since, until, error)) {
        err << "exportwall audit subject: " << error << "\n";
        return exit_usage;
    }

    auto loaded = config::load_configuration_file(config_path);
    if (!loaded.config) {
        for (const auto& e : loaded.errors) err << e.str() << "\n";
        return exit_usage;
    }
    const auto& cfg = *loaded.config;
    if (log.empty()) log = cfg.net.audit.path;

    subject_query q;
    q.id = id;
    q.email = email;
    q.entity = entity;
    q.period = filter;
    const subject_answer answer = find_subject(cfg, log, q);
    switch (answer.result) {
        case subject_answer::outcome::usage:
            // The missing key names the configuration file first, as every configuration error.
            if (answer.message.rfind(cfg.path, 0) == 0)
                err << answer.message << "\n";
            else
                err << "exportwall audit subject: " << answer.message << "\n";
            return exit_usage;
        case subject_answer::outcome::unreadable:
            err << answer.message << "\n";
            return exit_failure;
        case subject_answer::outcome::found:
        case subject_answer::outcome::not_found:
            break;
    }
    if (answer.no_index) err << answer.message << "\n";
    if (!answer.intact)
        err << "exportwall audit subject: the subject index does not match the audit records "
               "or its own dictionary chain (INDEX ALTERED): the index file was edited or lost "
               "data\n";
    if (format == "json")
        out << boost::json::serialize(subject_answer_json(answer)) << "\n";
    else
        print_text(answer.exports, out);
    return !answer.exports.empty() && answer.intact ? exit_success : exit_failure;
}

}  // namespace exportwall::cli
