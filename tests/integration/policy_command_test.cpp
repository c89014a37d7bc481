// The configuration commands through the real binary (issue 18, items 2, 3 and 7): `policy
// ropa` in its three formats and with the flows of an audit trail, `policy diff` (a removed
// grant exits 1, a reordered but equal file exits 0, a load error exits 2 with file:line:col),
// `--format json` of check-config, explain and test-policy, and exit 2 for every unknown option
// and every value outside an option's set.

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <pugixml.hpp>

#include "audit/file_writer.hpp"
#include "audit/record.hpp"
#include "tests/integration/harness.hpp"

namespace exportwall::itest {
namespace {

namespace fs = std::filesystem;

const std::string example_dir = std::string(EXPORTWALL_SOURCE_DIR) + "/config/examples";
const std::string example = example_dir + "/belgian-retailer.xml";

struct outcome {
    int status = -1;
    std::string out;  // standard output
    std::string err;  // standard error
};

// Runs `exportwall ARGS…`, stdout and stderr apart.
outcome run(const temp_dir& dir, const std::vector<std::string>& args) {
    const std::string err_file = dir.file("stderr.txt");
    std::string cmd = "'" + exportwall_binary() + "'";
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " 2>'" + err_file + "'";
    outcome o;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return o;
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) o.out.append(buf.data(), n);
    const int status = ::pclose(p);
    o.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    o.err = read_file(err_file).value_or("");
    return o;
}

bool has(std::string_view s, std::string_view part) {
    return s.find(part) != std::string_view::npos;
}

// Every command reports a usage error the same way: one line on standard error naming the
// command ("exportwall audit: …", "exportwall check-config: …", "exportwall: unknown command …").
bool is_one_line_usage_error(std::string_view err) {
    return err.starts_with("exportwall") && err.ends_with("\n") && err.find('\n') == err.size() - 1;
}

class PolicyCommand : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_FALSE(dir_.path().empty());
        // The example's relative files, beside every copy of it.
        for (const char* f : {"do-not-contact.txt", "pseudonym-demo.key"})
            fs::copy_file(example_dir + "/" + f, dir_.file(f));
        text_ = read_file(example).value_or("");
        ASSERT_FALSE(text_.empty());
    }

    // A copy of the example in the temp dir with `from` replaced by `to`.
    std::string edited_copy(const std::string& name, std::string_view from, std::string_view to) {
        std::string t = text_;
        const auto at = t.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        if (at != std::string::npos) t.replace(at, from.size(), to);
        const std::string path = dir_.file(name);
        EXPECT_TRUE(write_file(path, t));
        return path;
    }

    temp_dir dir_;
    std::string text_;
};

TEST_F(PolicyCommand, DiffOfAFileWithItselfIsEquivalent) {
    const auto o = run(dir_, {"policy", "diff", example, example});
    EXPECT_EQ(o.status, 0) << o.out << o.err;
    EXPECT_TRUE(has(o.out, "are equivalent")) << o.out;
}

TEST_F(PolicyCommand, DiffReportsARemovedGrantAndExitsOne) {
    const auto changed = edited_copy(
        "changed.xml", R"(<grant purpose="delivery" destinations="warehouse carrier"/>)",
        R"(<grant purpose="delivery" destinations="warehouse"/>)");
    const auto o = run(dir_, {"policy", "diff", example, changed});
    EXPECT_EQ(o.status, 1) << o.out << o.err;
    EXPECT_TRUE(has(o.out, "now refused  erp x delivery x carrier (destination_not_granted)"))
        << o.out;
    EXPECT_TRUE(has(o.out, "  - erp x delivery x carrier")) << o.out;

    const auto j = run(dir_, {"policy", "diff", "--format", "json", example, changed});
    EXPECT_EQ(j.status, 1) << j.err;
    const auto v = boost::json::parse(j.out);
    EXPECT_FALSE(v.at("equivalent").as_bool());
    ASSERT_EQ(v.at("grants_removed").as_array().size(), 1u) << j.out;
    EXPECT_EQ(v.at("grants_removed").at(0).at("destination").as_string(), "carrier");
}

// The example with its policy elements in another order, attributes reversed, comments between
// them and another indentation: the same policy.
std::string reordered(const std::string& text) {
    pugi::xml_document doc;
    EXPECT_TRUE(doc.load_string(text.c_str()));
    auto root = doc.document_element();
    std::vector<pugi::xml_node> moved;
    for (auto n : root.children()) {
        const std::string_view name = n.name();
        if (name == "purpose" || name == "destination" || name == "client" || name == "entity")
            moved.push_back(n);
    }
    std::reverse(moved.begin(), moved.end());
    for (auto n : moved) {
        root.append_child(pugi::node_comment).set_value(" reordered ");
        auto copy = root.append_copy(n);
        root.remove_child(n);
        std::vector<std::pair<std::string, std::string>> attrs;
        for (auto a : copy.attributes()) attrs.emplace_back(a.name(), a.value());
        while (copy.first_attribute()) copy.remove_attribute(copy.first_attribute());
        for (auto it = attrs.rbegin(); it != attrs.rend(); ++it)
            copy.append_attribute(it->first.c_str()) = it->second.c_str();
    }
    std::ostringstream out;
    doc.save(out, "    ", pugi::format_indent);
    return out.str();
}

TEST_F(PolicyCommand, DiffOfAReorderedButEqualFileExitsZero) {
    const std::string path = dir_.file("reordered.xml");
    const std::string text = reordered(text_);
    ASSERT_NE(text, text_);
    ASSERT_TRUE(write_file(path, text));
    const auto o = run(dir_, {"policy", "diff", example, path});
    EXPECT_EQ(o.status, 0) << o.out << o.err;
    const auto j = run(dir_, {"policy", "diff", example, path, "--format", "json"});
    EXPECT_EQ(j.status, 0) << j.out << j.err;
    EXPECT_TRUE(boost::json::parse(j.out).at("equivalent").as_bool()) << j.out;
}

TEST_F(PolicyCommand, DiffOfAFileThatDoesNotLoadExitsTwoWithFileLineColumn) {
    const auto broken = edited_copy("broken.xml", R"(<purpose id="delivery" )",
                                    R"(<purpose id="delivery" retention="P6X" )");
    const auto o = run(dir_, {"policy", "diff", example, broken});
    EXPECT_EQ(o.status, 2) << o.out << o.err;
    EXPECT_TRUE(has(o.err, broken + ":")) << o.err;
    EXPECT_TRUE(has(o.err, "retention 'P6X' is not an ISO 8601 duration")) << o.err;
}

TEST_F(PolicyCommand, RopaInEveryFormat) {
    const auto html = run(dir_, {"policy", "ropa", "--config", example});
    EXPECT_EQ(html.status, 0) << html.err;
    EXPECT_EQ(html.out.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_TRUE(has(html.out, "ParcelNet BV")) << "the carrier's organisation";
    EXPECT_FALSE(has(html.out, "<script")) << "no scripts";

    const auto json = run(dir_, {"policy", "ropa", "--config", example, "--format", "json"});
    EXPECT_EQ(json.status, 0) << json.err;
    const auto v = boost::json::parse(json.out);
    EXPECT_EQ(v.at("purposes").as_array().size(), 11u);
    EXPECT_FALSE(v.as_object().contains("period")) << "no --log, no period";

    const auto csv = run(dir_, {"policy", "ropa", "--config", example, "--format", "csv"});
    EXPECT_EQ(csv.status, 0) << csv.err;
    EXPECT_EQ(csv.out.rfind("purpose,description,data_use,basis,", 0), 0u) << csv.out;
    EXPECT_TRUE(has(csv.out, "\r\n"));
}

audit::record export_record(const std::string& time, const std::string& decision,
                            const std::string& purpose, const std::string& destination,
                            std::uint64_t records_out) {
    audit::record r;
    r.id = audit::new_record_id();
    r.time = time;
    r.mode = "enforce";
    r.decision = decision;
    r.reason = decision == "blocked" ? "third_party_direct_marketing" : "";
    r.client = "erp";
    r.purpose = purpose;
    r.basis = "contract";
    r.destination = destination;
    r.destination_kind = "internal";
    r.route = "dataverse-contacts";
    r.method = "GET";
    r.path = "/api/data/v9.2/contacts";
    r.status = decision == "blocked" ? 403 : 200;
    r.records_in = records_out;
    r.records_out = records_out;
    r.remote = "127.0.0.1:40000";
    r.policy_revision = std::string(64, 'a');
    return r;
}

TEST_F(PolicyCommand, RopaWithALogCountsWhatFlowedInThePeriod) {
    const std::string trail_dir = dir_.file("trail");
    fs::create_directories(trail_dir);
    const std::string trail = trail_dir + "/audit.jsonl";
    {
        audit::writer_options o;
        o.path = trail;
        o.sync = audit::sync_policy::none;
        audit::file_writer w(o);
        ASSERT_FALSE(w.start());
        for (auto r :
             {export_record("2025-12-31T23:59:59.000Z", "allowed", "delivery", "carrier", 100),
              export_record("2026-03-01T10:00:00.000Z", "allowed", "delivery", "carrier", 10),
              export_record("2026-03-02T10:00:00.000Z", "filtered", "delivery", "carrier", 5),
              export_record("2026-03-03T10:00:00.000Z", "blocked", "delivery", "partner-leads", 0),
              export_record("2026-03-04T10:00:00.000Z", "aborted", "delivery", "warehouse", 3),
              export_record("2026-03-05T10:00:00.000Z", "aborted", "delivery", "warehouse", 0),
              export_record("2026-03-06T10:00:00.000Z", "allowed", "old-purpose", "billing", 7)})
            w.append(std::move(r), false, nullptr);
        w.flush();
    }
    for (const std::string& log : {trail, trail_dir}) {
        const auto o = run(dir_, {"policy", "ropa", "--config", example, "--format", "json",
                                  "--log", log, "--since", "2026-01-01", "--until", "2027-01-01"});
        ASSERT_EQ(o.status, 0) << log << ": " << o.err;
        const auto v = boost::json::parse(o.out);
        EXPECT_EQ(v.at("period").at("audit_records").as_int64(), 6) << "the 2025 record is out";
        EXPECT_EQ(v.at("period").at("since").as_string(), "2026-01-01");
        std::map<std::string, std::pair<std::int64_t, std::int64_t>> delivery;
        for (const auto& p : v.at("purposes").as_array()) {
            if (p.at("id").as_string() != "delivery") continue;
            for (const auto& r : p.at("recipients").as_array())
                delivery[std::string(r.at("destination").as_string())] = {
                    r.at("flow").at("exports").as_int64(), r.at("flow").at("records").as_int64()};
        }
        EXPECT_EQ(delivery["carrier"], (std::pair<std::int64_t, std::int64_t>{2, 15})) << o.out;
        EXPECT_EQ(delivery["warehouse"], (std::pair<std::int64_t, std::int64_t>{1, 3}))
            << "an aborted export that delivered nothing is no flow";
        EXPECT_EQ(delivery["pickup-points"], (std::pair<std::int64_t, std::int64_t>{0, 0}));
        EXPECT_FALSE(delivery.contains("partner-leads")) << "a refusal is no flow";
        const auto& unlisted = v.at("unlisted_flows").as_array();
        ASSERT_EQ(unlisted.size(), 1u);
        EXPECT_EQ(unlisted[0].at("purpose").as_string(), "old-purpose");
    }
    const auto csv =
        run(dir_, {"policy", "ropa", "--config", example, "--format", "csv", "--log", trail});
    EXPECT_EQ(csv.status, 0) << csv.err;
    EXPECT_TRUE(has(csv.out.substr(0, csv.out.find('\r')), ",exports,records")) << csv.out;

    const auto missing = run(
        dir_, {"policy", "ropa", "--config", example, "--log", dir_.file("no-such-trail.jsonl")});
    EXPECT_EQ(missing.status, 2) << missing.out;
    EXPECT_TRUE(has(missing.err, "cannot read audit log")) << missing.err;
}

TEST_F(PolicyCommand, CheckConfigPrintsItsRevisionInTextAndJson) {
    const auto text = run(dir_, {"check-config", example});
    ASSERT_EQ(text.status, 0) << text.err;
    const auto at = text.out.find("\nrevision ");
    ASSERT_NE(at, std::string::npos) << text.out;
    const std::string revision = text.out.substr(at + 10, 64);
    EXPECT_EQ(revision.size(), 64u);
    const auto json = run(dir_, {"check-config", "--format", "json", example});
    ASSERT_EQ(json.status, 0) << json.err;
    const auto v = boost::json::parse(json.out);
    EXPECT_TRUE(v.at("valid").as_bool());
    EXPECT_EQ(v.at("revision").as_string(), revision);
    EXPECT_EQ(v.at("purposes").as_int64(), 11);
    EXPECT_TRUE(v.at("warnings").as_array().empty());

    const auto broken = edited_copy("broken.xml", R"(<purpose id="delivery" )",
                                    R"(<purpose id="delivery" retention="" )");
    const auto invalid = run(dir_, {"check-config", "--format", "json", broken});
    EXPECT_EQ(invalid.status, 1);
    const auto e = boost::json::parse(invalid.out);
    EXPECT_FALSE(e.at("valid").as_bool());
    ASSERT_FALSE(e.at("errors").as_array().empty());
    EXPECT_EQ(e.at("errors").at(0).at("file").as_string(), broken);
    EXPECT_GT(e.at("errors").at(0).at("line").as_int64(), 1);
}

TEST_F(PolicyCommand, CheckConfigOfflineNeedsNoSecretKeyFileOrList) {
    // A configuration as it is deployed: a ${VAR} credential, key files and a suppression list
    // that exist only in the target environment.
    std::string t = text_;
    auto replace = [&t](std::string_view from, std::string_view to) {
        const auto at = t.find(from);
        ASSERT_NE(at, std::string::npos) << from;
        t.replace(at, from.size(), to);
    };
    replace(
        R"(<audit path="audit.jsonl" sync="blocked"/>)",
        R"(<audit path="audit.jsonl" sync="blocked" subject-key-file="/run/secrets/ew-subject.key"/>)");
    replace(R"(<upstream id="crm")",
            R"(<upstream id="crm" soap-session-id="${EW_TEST_UNSET_SESSION_SECRET}")");
    const std::string path = dir_.file("deployed.xml");
    ASSERT_TRUE(write_file(path, t));
    fs::remove(dir_.file("do-not-contact.txt"));
    fs::remove(dir_.file("pseudonym-demo.key"));

    const auto online = run(dir_, {"check-config", path});
    EXPECT_EQ(online.status, 1) << online.out;
    EXPECT_TRUE(has(online.err, "subject-key-file")) << online.err;
    EXPECT_TRUE(has(online.err, "EW_TEST_UNSET_SESSION_SECRET")) << online.err;

    const auto offline = run(dir_, {"check-config", "--offline", path});
    EXPECT_EQ(offline.status, 0) << offline.out << offline.err;
    EXPECT_TRUE(has(offline.out, "offline:")) << offline.out;
    const auto json = run(dir_, {"check-config", "--offline", "--format", "json", path});
    EXPECT_EQ(json.status, 0) << json.err;
    EXPECT_TRUE(boost::json::parse(json.out).at("offline").as_bool());

    // Offline still finds what is wrong in the file itself.
    const std::string typo = dir_.file("typo.xml");
    std::string bad = t;
    bad.replace(bad.find(R"(<purpose id="delivery" )"), 23,
                R"(<purpose id="delivery" colour="red" )");
    ASSERT_TRUE(write_file(typo, bad));
    const auto still = run(dir_, {"check-config", "--offline", typo});
    EXPECT_EQ(still.status, 1);
    EXPECT_TRUE(has(still.err, "typo.xml:")) << still.err;
}

TEST_F(PolicyCommand, ExplainJsonKeepsItsExitStatus) {
    const std::vector<std::string> allowed{"explain",
                                           "--config",
                                           example,
                                           "--client",
                                           "erp",
                                           "--purpose",
                                           "delivery",
                                           "--destination",
                                           "carrier",
                                           "--target",
                                           "/api/data/v9.2/contacts",
                                           "--format",
                                           "json"};
    const auto a = run(dir_, allowed);
    EXPECT_EQ(a.status, 0) << a.err;
    EXPECT_EQ(boost::json::parse(a.out).at("outcome").as_string(), "allow");
    auto refused_args = allowed;
    refused_args[8] = "partner-leads";
    const auto r = run(dir_, refused_args);
    EXPECT_EQ(r.status, 1) << r.err;
    const auto v = boost::json::parse(r.out);
    EXPECT_EQ(v.at("outcome").as_string(), "refuse");
    EXPECT_EQ(v.at("reason").as_string(), "third_party_direct_marketing");
    EXPECT_EQ(v.at("rule_id").as_string(), "R10");
    // --json is the same as --format json.
    refused_args.resize(refused_args.size() - 2);
    refused_args.push_back("--json");
    EXPECT_EQ(run(dir_, refused_args).out, r.out);
}

TEST_F(PolicyCommand, TestPolicyJsonCountsPassedAndFailedCases) {
    const auto ok = run(dir_, {"test-policy", "--format", "json", "--config", example,
                               example_dir + "/belgian-retailer.cases.xml"});
    EXPECT_EQ(ok.status, 0) << ok.err;
    const auto v = boost::json::parse(ok.out);
    EXPECT_GT(v.at("passed").as_int64(), 10);
    EXPECT_EQ(v.at("failed").as_int64(), 0);
    EXPECT_EQ(static_cast<std::int64_t>(v.at("cases").as_array().size()),
              v.at("passed").as_int64());
    const auto failing =
        run(dir_, {"test-policy", "--format", "json", "--config", example,
                   std::string(EXPORTWALL_SOURCE_DIR) + "/tests/unit/config/failing.cases.xml"});
    EXPECT_EQ(failing.status, 1) << failing.err;
    const auto f = boost::json::parse(failing.out);
    EXPECT_GT(f.at("failed").as_int64(), 0);
    bool named = false;
    for (const auto& c : f.at("cases").as_array())
        named = named || (!c.at("passed").as_bool() && !c.at("problems").as_array().empty());
    EXPECT_TRUE(named) << failing.out;
}

TEST_F(PolicyCommand, EveryCommandRefusesAnUnknownOptionWithExitTwo) {
    const std::vector<std::vector<std::string>> commands{
        {"serve", "--config", example, "--no-such-option"},
        {"check-config", example, "--no-such-option"},
        {"explain", "--config", example, "--client", "erp", "--target", "/", "--no-such-option"},
        {"test-policy", "--config", example, "cases.xml", "--no-such-option"},
        {"hash-suppression", "--no-such-option"},
        {"audit", "list", "--log", "audit.jsonl", "--no-such-option"},
        {"audit", "show", "--log", "audit.jsonl", "--no-such-option"},
        {"audit", "stats", "--log", "audit.jsonl", "--no-such-option"},
        {"audit", "verify", "--log", "audit.jsonl", "--no-such-option"},
        {"audit", "report", "--log", "audit.jsonl", "--no-such-option"},
        {"audit", "subject", "--config", example, "--id", "1", "--no-such-option"},
        {"audit", "replay", "--config", example, "--no-such-option"},
        {"volume-holds", "list", "--no-such-option"},
        {"volume-holds", "clear", "--client", "c", "--purpose", "p", "--no-such-option"},
        {"policy", "ropa", "--config", example, "--no-such-option"},
        {"policy", "diff", example, example, "--no-such-option"},
        {"no-such-command"},
    };
    for (const auto& c : commands) {
        const auto o = run(dir_, c);
        EXPECT_EQ(o.status, 2) << c[0] << " " << (c.size() > 1 ? c[1] : "") << ": " << o.out
                               << o.err;
        EXPECT_TRUE(is_one_line_usage_error(o.err)) << c[0] << ": " << o.err;
    }
}

TEST_F(PolicyCommand, EveryOptionWithASetOfValuesRefusesAnotherWithExitTwo) {
    const std::vector<std::vector<std::string>> commands{
        {"check-config", example, "--format", "xml"},
        {"explain", "--config", example, "--client", "erp", "--target", "/", "--format", "xml"},
        {"test-policy", "--config", example, "cases.xml", "--format", "xml"},
        {"hash-suppression", "--match", "phone"},
        {"audit", "list", "--log", "audit.jsonl", "--format", "xml"},
        {"audit", "list", "--log", "audit.jsonl", "--decision", "maybe"},
        {"audit", "stats", "--log", "audit.jsonl", "--decision", "maybe"},
        {"audit", "replay", "--config", example, "--format", "xml"},
        {"serve", "--config", example, "--threads", "many"},
        {"policy", "ropa", "--config", example, "--format", "pdf"},
        {"policy", "ropa", "--config", example, "--since", "2026-01-01"},  // --since needs --log
        {"policy", "ropa", "--config", example, "--log", "audit.jsonl", "--since", "yesterday"},
        {"policy", "diff", example, example, "--format", "html"},
    };
    for (const auto& c : commands) {
        const auto o = run(dir_, c);
        EXPECT_EQ(o.status, 2) << c[0] << " " << c[1] << " … " << c.back() << ": " << o.out
                               << o.err;
        EXPECT_TRUE(is_one_line_usage_error(o.err)) << c[0] << " " << c[1] << ": " << o.err;
    }
}

// `--version` names the build on its second line: the build type, profile-guided or not,
// sanitizers, the compiler. scripts/test runs this test against the image's binary with
// EXPORTWALL_EXPECT_BUILD=profile-guided, so a Dockerfile that shipped a plain build fails it.
TEST(BinaryVersion, SecondLineSaysWhichBuild) {
    temp_dir dir;
    const outcome o = run(dir, {"--version"});
    ASSERT_EQ(o.status, 0) << o.err;
    const std::size_t first_end = o.out.find('\n');
    ASSERT_NE(first_end, std::string::npos) << o.out;
    EXPECT_TRUE(o.out.starts_with("exportwall ")) << o.out;
    const std::string second = o.out.substr(first_end + 1);
    ASSERT_TRUE(second.starts_with("build: ")) << o.out;
    EXPECT_TRUE(second.ends_with("\n")) << o.out;
    EXPECT_TRUE(has(second, "GNU ") || has(second, "Clang ")) << second;
    if (const char* expected = std::getenv("EXPORTWALL_EXPECT_BUILD");
        expected != nullptr && *expected != '\0') {
        EXPECT_TRUE(has(second, expected)) << "expected \"" << expected << "\" in: " << second;
    }
}

}  // namespace
}  // namespace exportwall::itest
