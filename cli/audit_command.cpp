#include "cli/audit_command.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "audit/checkpoint.hpp"
#include "audit/query.hpp"
#include "audit/reader.hpp"
#include "audit/replica_verify.hpp"
#include "audit/report.hpp"
#include "cli/command_line.hpp"

namespace exportwall::cli {

namespace {

using namespace audit;

constexpr const char* exit_codes =
    "Exit codes: 0 success (verify: chain intact, and with --public-key every checkpoint "
    "verified), 1 chain broken, a checkpoint that does not verify or, with --public-key, none at "
    "all (verify) or record not found (show), 2 usage error, unreadable audit log or public key.";

struct filter_args {
    std::string decision, reason, client, purpose, destination, since, until;
};

void add_filter_options(CLI::App& cmd, filter_args& f) {
    cmd.add_option("--decision", f.decision,
                   "allowed|filtered|blocked|aborted|would-block|volume_alert|volume_alert_cleared|"
                   "policy_loaded|checkpoint (comma-separated list)");
    cmd.add_option("--reason", f.reason, "reason code(s), comma-separated");
    cmd.add_option("--client", f.client, "client id(s), comma-separated");
    cmd.add_option("--purpose", f.purpose, "purpose id(s), comma-separated");
    cmd.add_option("--destination", f.destination, "destination id(s), comma-separated");
    cmd.add_option("--since", f.since, "from this RFC 3339 instant or date (inclusive)");
    cmd.add_option("--until", f.until, "up to this RFC 3339 instant or date (exclusive)");
}

// Builds the filter; returns false with a message naming the bad option. A decision that is
// not one of audit::decision's texts is a typo, never "nothing found".
bool make_filter(const filter_args& a, record_filter& f, std::string& error) {
    f.decision = split_list(a.decision);
    for (const auto& d : f.decision) {
        if (!is_known_decision(d)) {
            error = "--decision: '" + d +
                    "' is not a decision (allowed, filtered, blocked, aborted, would-block, "
                    "volume_alert, volume_alert_cleared, policy_loaded, checkpoint)";
            return false;
        }
    }
    f.reason = split_list(a.reason);
    f.client = split_list(a.client);
    f.purpose = split_list(a.purpose);
    f.destination = split_list(a.destination);
    return set_period(f, a.since, a.until, error);
}

std::string csv_field(std::string_view s) {
    if (s.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(s);
    std::string out = "\"";
    for (char c : s) {
        if (c == '"')
            out += "\"\"";
        else
            out.push_back(c);
    }
    return out + "\"";
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

std::string dropped_text(const record& r) {
    std::string out;
    for (const auto& [k, n] : r.records_dropped) {
        if (!out.empty()) out += ' ';
        out += k + "=" + std::to_string(n);
    }
    return out;
}

std::string pad(std::string s, std::size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
}

void print_table_row(std::ostream& out, const std::vector<std::string>& cells) {
    static constexpr std::size_t widths[] = {8, 24, 11, 34, 14, 14, 14, 6, 9};
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        line += i + 1 < cells.size() ? pad(cells[i], widths[i]) + " " : cells[i];
    }
    out << line << '\n';
}

// The table's reason column: a reason code, or what a record that is no export says.
std::string reason_cell(const record& r) {
    if (r.decision == "policy_loaded") return "trigger " + r.policy_trigger;
    if (r.decision == "checkpoint") return "signs seq " + std::to_string(r.checkpoint_seq);
    return r.reason.empty() ? "-" : r.reason;
}

// `audit verify --format json`: one object per trail.
boost::json::object verify_object(const signed_verify_result& v) {
    boost::json::object o;
    o["ok"] = v.ok;
    o["records"] = v.chain.records;
    o["last_seq"] = v.chain.last_seq;
    o["last_hash"] = v.chain.ok ? boost::json::value(v.chain.last_hash) : nullptr;
    const bool signed_head = v.signature_checked && v.checkpoints > 0;
    o["checkpoints"] = v.signature_checked ? boost::json::value(v.checkpoints) : nullptr;
    o["last_signed_hash"] = signed_head ? boost::json::value(v.last_signed_hash) : nullptr;
    o["last_signed_seq"] = signed_head ? boost::json::value(v.last_signed_seq) : nullptr;
    o["unsigned_records"] =
        v.signature_checked && v.chain.ok ? boost::json::value(v.unsigned_records) : nullptr;
    boost::json::array errors;
    for (const auto& e : v.errors) errors.emplace_back(e);
    o["errors"] = std::move(errors);
    o["first_seq"] = v.chain.first_seq;
    o["pruned_through"] = v.chain.pruned_through;
    o["replica"] = v.chain.replica;
    return o;
}

std::string verify_json(const signed_verify_result& v) {
    return boost::json::serialize(verify_object(v));
}

// `audit verify --merged`: every replica's chain in exports where their records are mixed.
int verify_merged_exports(const std::vector<std::string>& files, bool json, std::ostream& out,
                          std::ostream& err) {
    const auto res = verify_merged(files);
    const int code = !res.io_error.empty() ? 2 : res.ok ? 0 : 1;
    auto name = [](const std::string& replica) {
        return replica.empty() ? std::string("(records naming no replica)") : replica;
    };
    if (json) {
        boost::json::object o;
        o["ok"] = res.ok;
        o["lines"] = res.lines;
        o["other_lines"] = res.other_lines;
        boost::json::array replicas;
        for (const auto& c : res.replicas) {
            boost::json::object r;
            r["replica"] = c.replica;
            r["ok"] = c.ok;
            r["records"] = c.records;
            r["duplicates"] = c.duplicates;
            r["first_seq"] = c.first_seq;
            r["last_seq"] = c.last_seq;
            r["last_hash"] = c.ok ? boost::json::value(c.last_hash) : nullptr;
            r["problem"] = c.ok ? boost::json::value(nullptr) : boost::json::value(c.problem);
            replicas.emplace_back(std::move(r));
        }
        o["replicas"] = std::move(replicas);
        if (!res.io_error.empty()) o["error"] = res.io_error;
        out << boost::json::serialize(o) << '\n';
        return code;
    }
    if (!res.io_error.empty()) {
        err << "exportwall audit: cannot read " << res.io_error << '\n';
        return code;
    }
    if (res.replicas.empty()) err << "exportwall audit: no audit record in the export\n";
    for (const auto& c : res.replicas) {
        if (!c.ok) {
            err << "exportwall audit: replica " << name(c.replica)
                << ": chain broken: " << c.problem << '\n';
            continue;
        }
        out << "replica " << name(c.replica) << ": chain intact: " << c.records << " records, seq "
            << c.first_seq << " to " << c.last_seq;
        if (c.first_seq != 1)
            out << " (starts at seq " << c.first_seq << ": the export holds no earlier record)";
        if (c.duplicates > 0) out << ", " << c.duplicates << " delivered twice";
        out << '\n';
    }
    if (res.other_lines > 0) out << res.other_lines << " lines hold no audit record (skipped)\n";
    return code;
}

bool read_whole(const std::string& path, std::string& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::ostringstream text;
    text << in.rdbuf();
    out = text.str();
    return !in.bad();
}

// The report's "covers" line: the filters as given, or "all records".
std::string describe_filters(const filter_args& a) {
    std::string out;
    const std::pair<const char*, const std::string*> given[] = {
        {"decision", &a.decision}, {"reason", &a.reason},           {"client", &a.client},
        {"purpose", &a.purpose},   {"destination", &a.destination}, {"since", &a.since},
        {"until", &a.until}};
    for (const auto& [name, value] : given) {
        if (value->empty()) continue;
        if (!out.empty()) out += "; ";
        out += std::string(name) + " " + *value;
    }
    return out.empty() ? "all records" : out;
}

std::string io_message(const std::string& log, boost::system::error_code ec) {
    return "exportwall audit: cannot read audit log " + log + ": " + ec.message();
}

// Every option of every subcommand; the subcommand parsed decides which are read.
struct audit_args {
    std::string log;
    filter_args filters;
    std::string list_format = "table";
    std::size_t limit = 0;
    std::string show_id;
    std::string show_format = "text";
    std::vector<std::string> verify_logs, merged, public_keys;
    std::string verify_format = "text";
    std::string report_format = "html";
    std::string output;
};

CLI::App* add_list_command(CLI::App& app, audit_args& a) {
    auto* list = app.add_subcommand("list", "List audit records matching the filters.");
    list->footer(exit_codes);
    list->add_option("--log", a.log, "the active audit log file (rotated files beside it)")
        ->required();
    add_filter_options(*list, a.filters);
    list->add_option("--format", a.list_format, "table | json (one object per line) | csv")
        ->check(CLI::IsMember({"table", "json", "csv"}));
    list->add_option("--limit", a.limit, "print at most N records (0: all)");
    return list;
}

CLI::App* add_show_command(CLI::App& app, audit_args& a) {
    auto* show = app.add_subcommand("show", "Show one audit record by its id (or seq).");
    show->footer(exit_codes);
    show->add_option("ID", a.show_id, "the record id (X-Export-Audit-Id) or its seq")->required();
    show->add_option("--log", a.log, "the active audit log file")->required();
    show->add_option("--format", a.show_format, "text | json")
        ->check(CLI::IsMember({"text", "json"}));
    return show;
}

CLI::App* add_stats_command(CLI::App& app, audit_args& a) {
    auto* stats = app.add_subcommand(
        "stats",
        "Counts by client x purpose x decision, top reasons, stripped fields, dropped "
        "records by reason.");
    stats->footer(exit_codes);
    stats->add_option("--log", a.log, "the active audit log file")->required();
    add_filter_options(*stats, a.filters);
    return stats;
}

CLI::App* add_verify_command(CLI::App& app, audit_args& a) {
    auto* verify = app.add_subcommand(
        "verify",
        "Recompute the hash chain across all rotated files; name the first broken seq. With "
        "--public-key, check every signed checkpoint too and print the last signed seq and hash.");
    verify->footer(exit_codes);
    verify
        ->add_option("--log", a.verify_logs,
                     "the active audit log file (rotated files beside it); repeat it for the "
                     "trails of several replicas, each checked on its own")
        ->expected(1)
        ->take_all();
    verify
        ->add_option("--merged", a.merged,
                     "an export where the records of several replicas are mixed (a SIEM's, "
                     "syslog headers allowed): each replica's chain is checked on its own, "
                     "repeated records counted once; repeatable")
        ->expected(1)
        ->take_all();
    verify
        ->add_option("--public-key", a.public_keys,
                     "the Ed25519 public key (PEM) of <audit signing-key-file>; repeat it for "
                     "the keys of earlier periods")
        ->expected(1)
        ->take_all();
    verify->add_option("--format", a.verify_format, "text | json (one object)")
        ->check(CLI::IsMember({"text", "json"}));
    return verify;
}

CLI::App* add_report_command(CLI::App& app, audit_args& a) {
    auto* report = app.add_subcommand(
        "report", "Render a self-contained HTML evidence report for a data protection officer.");
    report->footer(exit_codes);
    report->add_option("--log", a.log, "the active audit log file")->required();
    add_filter_options(*report, a.filters);
    report->add_option("--format", a.report_format, "html")->check(CLI::IsMember({"html"}));
    report->add_option("--output", a.output, "write to FILE instead of standard output");
    report
        ->add_option("--public-key", a.public_keys,
                     "check every signed checkpoint with this Ed25519 public key (PEM); the "
                     "report names the last verified one")
        ->expected(1)
        ->take_all();
    return report;
}

// `audit list --format csv`: one line of a record.
std::string csv_line(const record& r) {
    const std::vector<std::string> cells = {
        std::to_string(r.seq),
        r.id,
        r.time,
        r.mode,
        r.decision,
        r.reason,
        r.client,
        r.purpose,
        r.basis,
        r.destination,
        r.destination_kind,
        r.route,
        r.method,
        r.path,
        std::to_string(r.status),
        join(r.fields_stripped, " "),
        std::to_string(r.records_in),
        std::to_string(r.records_out),
        dropped_text(r),
        std::to_string(r.bytes_out),
        boost::json::serialize(boost::json::value(r.duration_ms))};
    std::string line;
    for (const auto& c : cells) {
        if (!line.empty()) line += ',';
        line += csv_field(c);
    }
    return line;
}

int run_list(const audit_args& a, const record_filter& filter, std::ostream& out,
             std::ostream& err) {
    std::size_t printed = 0;
    if (a.list_format == "table") {
        print_table_row(out, {"seq", "time", "decision", "reason", "client", "purpose",
                              "destination", "status", "records"});
    } else if (a.list_format == "csv") {
        out << "seq,id,time,mode,decision,reason,client,purpose,basis,destination,"
               "destination_kind,route,method,path,status,fields_stripped,records_in,"
               "records_out,records_dropped,bytes_out,duration_ms\n";
    }
    const auto ec = for_each_record(a.log, filter, [&](const record& r) {
        if (a.list_format == "table") {
            print_table_row(out, {std::to_string(r.seq), r.time, r.decision, reason_cell(r),
                                  r.client, r.purpose, r.destination, std::to_string(r.status),
                                  std::to_string(r.records_out)});
        } else if (a.list_format == "json") {
            out << boost::json::serialize(record_to_json(r)) << '\n';
        } else {
            out << csv_line(r) << '\n';
        }
        ++printed;
        return a.limit == 0 || printed < a.limit;
    });
    if (ec) {
        err << io_message(a.log, ec) << '\n';
        return exit_usage;
    }
    return exit_success;
}

int run_show(const audit_args& a, std::ostream& out, std::ostream& err) {
    const std::string& show_id = a.show_id;
    bool found = false;
    std::uint64_t seq = 0;
    const bool by_seq = !show_id.empty() && std::all_of(show_id.begin(), show_id.end(), [](char c) {
        return c >= '0' && c <= '9';
    }) && show_id.size() < 20;
    if (by_seq) seq = std::stoull(show_id);
    record_filter by_id;
    if (!by_seq) by_id.id = {show_id};  // lets the reader skip other lines unparsed
    const auto ec = for_each_record(a.log, by_id, [&](const record& r) {
        if (!(r.id == show_id || (by_seq && r.seq == seq))) return true;
        found = true;
        if (a.show_format == "json") {
            out << boost::json::serialize(record_to_json(r)) << '\n';
            return false;
        }
        const auto obj = record_to_json(r);
        for (const auto& kv : obj) {
            out << pad(std::string(kv.key()) + ":", 18) << ' ';
            if (kv.value().is_string())
                out << kv.value().get_string().c_str();
            else
                out << boost::json::serialize(kv.value());
            out << '\n';
        }
        return false;
    });
    if (ec) {
        err << io_message(a.log, ec) << '\n';
        return exit_usage;
    }
    if (!found) {
        err << "exportwall audit: no record with that id\n";
        return exit_failure;
    }
    return exit_success;
}

void print_stats(const trail_stats& s, std::ostream& out) {
    out << "records: " << s.records;
    if (s.records) out << " (" << s.first_time << " to " << s.last_time << ")";
    out << "\n\nby client x purpose x decision:\n";
    for (const auto& [k, n] : s.by_client_purpose) {
        const auto& [c, p, d] = k;
        out << "  " << pad(c, 16) << ' ' << pad(p, 16) << ' ' << pad(d, 12) << ' ' << n << '\n';
    }
    std::vector<std::pair<std::string, std::uint64_t>> reasons(s.by_reason.begin(),
                                                               s.by_reason.end());
    std::stable_sort(reasons.begin(), reasons.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    out << "\ntop reasons:\n";
    for (std::size_t i = 0; i < reasons.size() && i < 10; ++i)
        out << "  " << pad(reason_with_rule(s, reasons[i].first), 40) << ' ' << reasons[i].second
            << '\n';
    out << "\nstripped fields (exports):\n";
    for (const auto& [f, n] : s.stripped_fields) out << "  " << pad(f, 40) << ' ' << n << '\n';
    if (!s.transformed_fields.empty()) {
        out << "\nfields transformed (values):\n";
        for (const auto& [f, n] : s.transformed_fields)
            out << "  " << pad(f, 40) << ' ' << n << '\n';
    }
    out << "\ndropped records by reason:\n";
    for (const auto& [f, n] : s.dropped_by_reason) out << "  " << pad(f, 40) << ' ' << n << '\n';
    if (s.shadow_records != 0) {
        out << "\nshadow policy: " << s.shadow_records << " decided by the candidate too, "
            << s.shadow_differ << " differently (enforced x candidate):\n";
        for (const auto& [pair, n] : s.shadow_pairs)
            out << "  " << pad(pair.first, 12) << ' ' << pad(pair.second, 12) << ' ' << n << '\n';
    }
}

int run_stats(const audit_args& a, const record_filter& filter, std::ostream& out,
              std::ostream& err) {
    trail_stats s;
    if (const auto ec = collect_stats(a.log, filter, s)) {
        err << io_message(a.log, ec) << '\n';
        return exit_usage;
    }
    print_stats(s, out);
    return exit_success;
}

// Reads every --public-key; false after reporting one that cannot be read or is no key.
bool load_public_keys(const std::vector<std::string>& files, checkpoint_keys& keys,
                      std::ostream& err) {
    for (const auto& file : files) {
        std::string pem, why;
        if (!read_whole(file, pem)) {
            err << "exportwall audit: --public-key: cannot read " << file << '\n';
            return false;
        }
        if (!keys.add_pem(pem, why)) {
            err << "exportwall audit: --public-key " << file << ": " << why << '\n';
            return false;
        }
    }
    return true;
}

// One trail's verify result as text; `who` prefixes every line ("" for a single trail).
void print_verified_trail(const signed_verify_result& res, const std::string& who,
                          std::ostream& out, std::ostream& err) {
    if (!res.chain.ok) {
        err << "exportwall audit: " << who << res.chain.detail() << '\n';
        return;
    }
    out << who << res.chain.detail() << '\n';
    if (!res.signature_checked) return;
    if (res.checkpoints > 0) {
        out << who << "signed: " << res.checkpoints << " checkpoints verified; the last signs seq "
            << res.last_signed_seq << " hash " << res.last_signed_hash << '\n';
    }
    if (res.unsigned_records > 0)
        out << who << "not yet signed: " << res.unsigned_records << " records\n";
    for (const auto& e : res.errors) err << "exportwall audit: " << who << e << '\n';
}

// `audit verify --log …`: each trail (one per replica) on its own.
int verify_trails(const audit_args& a, const checkpoint_keys& keys, std::ostream& out,
                  std::ostream& err) {
    // Several trails (one per replica): each on its own, each line naming its trail.
    const bool several = a.verify_logs.size() > 1;
    const bool json = a.verify_format == "json";
    int worst = exit_success;
    boost::json::array trails;
    for (const auto& trail : a.verify_logs) {
        const auto res = verify_signed(trail, keys);
        const bool unreadable = res.chain.problem == chain_problem::no_log ||
                                res.chain.problem == chain_problem::io_error;
        const int code = res.ok ? exit_success : unreadable ? exit_usage : exit_failure;
        worst = std::max(worst, code);
        if (json && !several) {
            out << verify_json(res) << '\n';
            return code;
        }
        if (json) {
            auto o = verify_object(res);
            o["log"] = trail;
            trails.emplace_back(std::move(o));
            continue;
        }
        std::string who;  // several trails: each line names its own
        if (several) {
            who = trail;
            if (!res.chain.replica.empty()) who += " (replica " + res.chain.replica + ")";
            who += ": ";
        }
        print_verified_trail(res, who, out, err);
    }
    if (json) {
        boost::json::object o;
        o["ok"] = worst == 0;
        o["trails"] = std::move(trails);
        out << boost::json::serialize(o) << '\n';
    }
    return worst;
}

int run_verify(const audit_args& a, const checkpoint_keys& keys, std::ostream& out,
               std::ostream& err) {
    if (a.verify_logs.empty() == a.merged.empty()) {
        err << "exportwall audit: verify needs --log (trails) or --merged (an export), not "
               "both (see --help)\n";
        return exit_usage;
    }
    if (a.merged.empty()) return verify_trails(a, keys, out, err);
    if (!a.public_keys.empty()) {
        err << "exportwall audit: --public-key applies to --log trails\n";
        return exit_usage;
    }
    return verify_merged_exports(a.merged, a.verify_format == "json", out, err);
}

int run_report(const audit_args& a, const record_filter& filter, const checkpoint_keys& keys,
               std::ostream& out, std::ostream& err) {
    trail_stats s;
    if (const auto ec = collect_stats(a.log, filter, s)) {
        err << io_message(a.log, ec) << '\n';
        return exit_usage;
    }
    const std::string html =
        render_html_report(s, anchor_trail(a.log, keys), a.log, describe_filters(a.filters));
    if (a.output.empty()) {
        out << html;
        return exit_success;
    }
    std::ofstream file(a.output, std::ios::binary | std::ios::trunc);
    file << html;
    file.close();
    if (!file) {
        err << "exportwall audit: cannot write " << a.output << '\n';
        return exit_usage;
    }
    return exit_success;
}

}  // namespace

int run_audit(int argc, char** argv) { return run_audit(argc, argv, std::cout, std::cerr); }

int run_audit(int argc, char** argv, std::ostream& out, std::ostream& err) {
    CLI::App app{"Review the exportwall audit trail: list, show, stats, verify, report.",
                 "exportwall audit"};
    app.footer(exit_codes);
    app.require_subcommand(1);
    audit_args a;
    const auto* list = add_list_command(app, a);
    const auto* show = add_show_command(app, a);
    const auto* stats = add_stats_command(app, a);
    const auto* verify = add_verify_command(app, a);
    const auto* report = add_report_command(app, a);
    if (auto code = parse_command_line(app, argc, argv, out, err))
        return *code;

    record_filter filter;
    std::string error;
    if (!make_filter(a.filters, filter, error)) {
        err << "exportwall audit: " << error << '\n';
        return exit_usage;
    }
    if (*list) return run_list(a, filter, out, err);
    if (*show) return run_show(a, out, err);
    if (*stats) return run_stats(a, filter, out, err);
    checkpoint_keys keys;
    if (!load_public_keys(a.public_keys, keys, err)) return exit_usage;
    if (*verify) return run_verify(a, keys, out, err);
    if (*report) return run_report(a, filter, keys, out, err);
    return exit_usage;
}

}  // namespace exportwall::cli
