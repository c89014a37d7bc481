#include "proxy/subject_command.hpp"

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "audit/reader.hpp"
#include "audit/serialize.hpp"
#include "audit/subject_index.hpp"
#include "config/loader.hpp"

namespace exportwall::proxy {

namespace {

constexpr const char* exit_codes =
    "Exit codes: 0 the person's data was delivered (exports listed), 1 no export delivered it "
    "(or the index does not match its audit records), 2 usage error.";

struct found_export {
    audit::record rec;
    std::string organisation;
    std::string country;
    bool intact = true;  // the index chunks hash to the record's subject_index
};

void print_text(const std::vector<found_export>& found, std::ostream& out) {
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

void print_json(const std::vector<found_export>& found, bool intact, std::ostream& out) {
    boost::json::array exports;
    for (const auto& f : found) {
        boost::json::object o;
        o["audit_id"] = f.rec.id;
        o["time"] = f.rec.time;
        o["decision"] = f.rec.decision;
        o["client"] = f.rec.client;
        o["purpose"] = f.rec.purpose;
        o["basis"] = f.rec.basis;
        o["destination"] = f.rec.destination;
        o["destination_kind"] = f.rec.destination_kind;
        o["organisation"] = f.organisation;
        o["country"] = f.country;
        o["records_out"] = f.rec.records_out;
        o["index_intact"] = f.intact;
        exports.push_back(std::move(o));
    }
    boost::json::object doc;
    doc["found"] = !found.empty();
    doc["index_intact"] = intact;
    doc["exports"] = std::move(exports);
    out << boost::json::serialize(doc) << "\n";
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
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return e.get_exit_code() == 0 ? app.exit(e, out, err) : (app.exit(e, out, err), 2);
    }
    if (id.empty() && email.empty()) {
        err << "exportwall audit subject: give --id or --email\n";
        return 2;
    }
    audit::record_filter filter;
    if (std::string error; !audit::set_period(filter, since, until, error)) {
        err << "exportwall audit subject: " << error << "\n";
        return 2;
    }

    auto loaded = config::load_configuration_file(config_path);
    if (!loaded.config) {
        for (const auto& e : loaded.errors) err << e.str() << "\n";
        return 2;
    }
    const auto& cfg = *loaded.config;
    if (!cfg.net.audit.subject_key) {
        err << config_path
            << ": <audit> has no subject-key-file: no subject index is kept, so exportwall "
               "cannot tell who received a person's data\n";
        return 2;
    }
    if (log.empty()) log = cfg.net.audit.path;

    // The digests to look for: the address once (any entity), the id once per entity.
    const audit::subject_hasher hasher(*cfg.net.audit.subject_key);
    using kind = config::suppression_entries::match_kind;
    std::vector<std::uint64_t> digests;
    if (!email.empty()) {
        const auto v = config::suppression_entries::normalise(email, kind::email);
        if (v.empty()) {
            err << "exportwall audit subject: --email is empty\n";
            return 2;
        }
        digests.push_back(hasher.email_key(v));
    } else {
        const auto v = config::suppression_entries::normalise(id, kind::id);
        if (v.empty()) {
            err << "exportwall audit subject: --id is empty\n";
            return 2;
        }
        bool known = entity.empty();
        for (const auto& e : cfg.rules.entities) {
            if (!entity.empty() && e.id != entity) continue;
            known = true;
            if (e.subject_id_field() != nullptr) digests.push_back(hasher.id_key(e.id, v));
        }
        if (!known) {
            err << "exportwall audit subject: no entity '" << entity << "' in " << config_path
                << "\n";
            return 2;
        }
        if (digests.empty()) {
            err << "exportwall audit subject: no entity has a field of category user.unique_id "
                   "to look the id up in\n";
            return 2;
        }
    }

    std::vector<audit::subject_match> matches;
    const std::string index = audit::subject_index_path(log);
    if (auto ec = audit::find_subject_exports(index, digests, matches)) {
        if (ec == audit::audit_error::no_log) {
            err << index
                << ": no subject index yet (no export has delivered records under a "
                   "subject key)\n";
            if (format == "json")
                print_json({}, true, out);
            else
                print_text({}, out);
            return 1;
        }
        err << index << ": " << ec.message() << "\n";
        return 1;
    }
    if (matches.empty()) {
        if (format == "json")
            print_json({}, true, out);
        else
            print_text({}, out);
        return 1;
    }

    // The exports' audit records: who, for what, to whom. A match without its record (the
    // process stopped before writing it, or the trail was pruned) is not listed.
    for (const auto& m : matches) filter.id.push_back(m.export_id);
    std::vector<found_export> found;
    bool intact = true;
    auto ec = audit::for_each_record(log, filter, [&](const audit::record& r) {
        if (r.subject_index.empty()) return true;
        auto m = std::find_if(matches.begin(), matches.end(),
                              [&](const audit::subject_match& x) { return x.export_id == r.id; });
        if (m == matches.end()) return true;
        found_export f;
        f.rec = r;
        f.intact = m->chunks_sha256 == r.subject_index;
        intact = intact && f.intact;
        if (const auto* d = cfg.rules.find_destination(r.destination)) {
            f.organisation = d->organisation;
            f.country = d->country;
        }
        found.push_back(std::move(f));
        return true;
    });
    if (ec && ec != audit::audit_error::no_log) {
        err << log << ": " << ec.message() << "\n";
        return 1;
    }
    if (!intact)
        err << "exportwall audit subject: the subject index of an export does not match its "
               "audit record (INDEX ALTERED): the index file was edited or lost data\n";
    if (format == "json")
        print_json(found, intact, out);
    else
        print_text(found, out);
    return !found.empty() && intact ? 0 : 1;
}

}  // namespace exportwall::proxy
