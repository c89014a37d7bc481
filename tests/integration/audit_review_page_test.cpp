// The admin review page and the evidence report in headless Chromium (label `browser`; issue 18,
// items 8 and 9). Each test runs the real exportwall and a script of tests/browser/
// (playwright-core, the system's /usr/bin/chromium):
// - ListsFiltersAndDetailsBlockedTransfersInChromium: a trail written with the audit writer
//   (blocked transfers, access errors, delivered exports over three days), served by exportwall's
//   admin listener (token required); review_page.mjs checks the views, the filters (exact,
//   prefix, substring, destination), the shareable address, the downloads, the detail pane in
//   view, the chain status and Verify now, and the flows chart.
// - LooksUpWhoReceivedAPersonInChromium: real exports through exportwall with a subject key;
//   subject_lookup.mjs finds the person an export delivered and not the one it dropped.
// - EvidenceReport.*: `exportwall audit report` on a trail with many reasons with long names over
//   forty days; evidence_report.mjs measures the chart (no legend entry covers a bar), lists the
//   blocked transfers and the last hash, and prints the page to A4 (PDF).
// Screenshots and the PDF are kept in <build>/tests/integration/browser-artifacts/.
//
// Skips when Chromium, node or tests/browser/node_modules is missing (scripts/setup installs
// all three).

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "audit/file_writer.hpp"
#include "tests/integration/enforce_fixture.hpp"
#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view admin_token = "itest-admin-token";
constexpr std::string_view admin_token_sha256 =
    "06cefed1e9d7c591814d8b77354e48c8ae842b73873ed62ac92eeab11f04e510";

// Why a browser test cannot run here, or "" when it can; sets `node`.
std::string browser_missing(std::string& node) {
    const std::string source = EXPORTWALL_SOURCE_DIR;
    if (::access("/usr/bin/chromium", X_OK) != 0)
        return "Chromium is not installed (/usr/bin/chromium); scripts/setup installs it";
    if (!fs::exists(source + "/tests/browser/node_modules/playwright-core/package.json"))
        return "tests/browser/node_modules is missing; run scripts/setup (npm ci)";
    for (const char* candidate : {"/usr/bin/node", "/usr/local/bin/node"})
        if (node.empty() && ::access(candidate, X_OK) == 0) node = candidate;
    if (node.empty()) return "node is not installed; scripts/setup installs nodejs";
    return {};
}

// <build>/tests/integration/browser-artifacts/<name>, any previous one removed.
std::string artifact(const std::string& name) {
    const fs::path dir = fs::read_symlink("/proc/self/exe").parent_path() / "browser-artifacts";
    fs::create_directories(dir);
    const std::string path = (dir / name).string();
    std::error_code ignored;
    fs::remove(path, ignored);
    return path;
}

// <build>/tests/integration/browser-artifacts/<name>, as it is.
std::string artifact_path(const std::string& name) {
    return (fs::read_symlink("/proc/self/exe").parent_path() / "browser-artifacts" / name).string();
}

// Runs tests/browser/<script> with `env` set (node reads its settings from the environment; the
// child inherits ours) and fails the test unless it exits 0.
void run_script(const temp_dir& dir, const std::string& node, const std::string& script,
                const std::vector<std::pair<std::string, std::string>>& env) {
    ::setenv("EW_CHROMIUM", "/usr/bin/chromium", 1);
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    const std::string out = dir.file(script + ".out");
    child_process browser;
    ASSERT_TRUE(browser.start(
        {node, std::string(EXPORTWALL_SOURCE_DIR) + "/tests/browser/" + script}, out));
    const auto status = browser.wait_exit(180s);
    const std::string printed = read_file(out).value_or("");
    std::cout << printed;
    ASSERT_TRUE(status.has_value()) << "the browser script did not finish";
    EXPECT_EQ(*status, 0) << printed;
}

void expect_png(const std::string& path) {
    const auto png = read_file(path);
    ASSERT_TRUE(png.has_value()) << "no screenshot at " << path;
    EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_GT(png->size(), 10000u) << path << " looks empty";
}

struct sample {
    const char* decision;
    const char* reason;
    const char* client;
    const char* purpose;
    const char* destination;
    int status;
    std::uint64_t records_out;
};

// The trail the page shows; seq is the position + 1, seven records a day over three days.
constexpr sample trail[] = {
    {"allowed", "", "erp", "invoicing", "billing", 200, 10},
    {"blocked", "third_party_direct_marketing", "webshop", "promotion", "partner-leads", 403, 0},
    {"filtered", "", "erp", "invoicing", "billing", 200, 8},
    {"blocked", "purpose_not_granted", "erp", "promotion", "billing", 403, 0},
    {"aborted", "upstream_timeout", "erp", "invoicing", "billing", 200, 3},
    {"would-block", "destination_not_granted", "marketing", "survey", "partner-crm", 200, 0},
    {"blocked", "third_party_direct_marketing", "webshop", "promotion", "partner-leads", 403, 0},
    {"allowed", "", "webshop", "delivery", "carrier", 200, 5},
    {"blocked", "destination_unknown", "marketing", "survey", "nowhere", 403, 0},
    {"aborted", "client_closed", "webshop", "delivery", "carrier", 200, 2},
    {"blocked", "third_party_direct_marketing", "erp", "promotion", "partner-leads", 403, 0},
    {"would-block", "purpose_not_granted", "marketing", "promotion", "newsletter", 200, 0},
    {"blocked", "unauthenticated", "", "", "", 401, 0},
    {"blocked", "route_not_found", "", "", "", 404, 0},
    {"blocked", "declaration_missing", "webshop", "", "", 400, 0},
    {"blocked", "request_rejected", "", "", "", 400, 0},
    {"blocked", "destination_not_granted", "webportal", "promotion", "partner-crm", 403, 0},
    {"blocked", "purpose_unknown", "<b>bold</b>", "x", "y", 403, 0},
    {"filtered", "", "marketing", "survey", "partner-crm", 200, 6},
    {"allowed", "", "webportal", "delivery", "carrier", 200, 7},
};
constexpr const char* access_reasons[] = {"unauthenticated", "route_not_found",
                                          "declaration_missing", "request_rejected"};

bool is_access(const sample& s) {
    return std::any_of(std::begin(access_reasons), std::end(access_reasons),
                       [&](const char* r) { return std::string_view(r) == s.reason; });
}
bool is_transfer(const sample& s) {
    const std::string_view d = s.decision;
    return (d == "blocked" || d == "aborted" || d == "would-block") && !is_access(s);
}
bool delivered(const sample& s) {
    const std::string_view d = s.decision;
    return (d == "allowed" || d == "filtered" || d == "aborted") && s.records_out > 0;
}

bool write_trail(const std::string& path) {
    audit::writer_options o;
    o.path = path;
    o.sync = audit::sync_policy::none;
    audit::file_writer w(o);
    if (w.start()) return false;
    int i = 0;
    for (const auto& s : trail) {
        audit::record r;
        r.id = audit::new_record_id();
        const int day = 27 + i / 7;
        r.time = "2026-11-" + std::to_string(day) + "T10:00:" + (i < 10 ? "0" : "") +
                 std::to_string(i) + ".000Z";
        r.mode = "enforce";
        r.decision = s.decision;
        r.reason = s.reason;
        r.client = s.client;
        r.purpose = s.purpose;
        r.basis = *s.purpose != '\0' ? "contract" : "";
        r.destination = s.destination;
        r.destination_kind = *s.destination != '\0' ? "internal" : "";
        r.route = "contacts";
        r.method = "GET";
        r.path = "/api/data/v9.2/contacts?$select";
        r.status = s.status;
        r.fields_requested = {"id", "email", "iban"};
        if (r.decision == "filtered") r.fields_stripped = {"iban"};
        r.records_in = s.records_out;
        r.records_out = s.records_out;
        r.bytes_out = 120 * s.records_out;
        r.remote = "127.0.0.1:40000";
        r.policy_revision = std::string(64, 'a');
        w.append(std::move(r), false, nullptr);
        ++i;
    }
    w.flush();
    return w.counters().records_written == std::size(trail);
}

template <class Pred>
std::size_t count_if(Pred p) {
    return static_cast<std::size_t>(std::count_if(std::begin(trail), std::end(trail), p));
}

class AuditReviewPage : public proxy_fixture {};

TEST_F(AuditReviewPage, ListsFiltersAndDetailsBlockedTransfersInChromium) {
    std::string node;
    if (auto why = browser_missing(node); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(write_trail(dir_.file("audit.jsonl")));
    proxy_options o;
    o.admin_token_sha256 = std::string(admin_token_sha256);
    ASSERT_TRUE(start_proxy(o));
    ASSERT_NE(proxy_.admin_port(), 0);
    const std::string screenshot = artifact("review-page.png");

    const auto blocked = [](const sample& s) {
        return std::string_view(s.decision) == "blocked" && !is_access(s);
    };
    // What the flows view shows: nodes of the flows that delivered, rows of every flow.
    std::set<std::string> clients, purposes, destinations;
    std::set<std::tuple<std::string, std::string, std::string>> flows, links;
    std::uint64_t flow_records = 0;
    for (const auto& s : trail) {
        if (delivered(s)) {
            clients.insert(s.client);
            purposes.insert(s.purpose);
            destinations.insert(s.destination);
            flow_records += s.records_out;
            // A link per hop and client: client → purpose, purpose → destination.
            links.emplace("1", s.client, s.purpose);
            links.emplace(std::string(s.purpose) + " → " + s.destination, s.client, "2");
        }
        const bool refused = is_transfer(s) && std::string_view(s.decision) != "aborted";
        if (delivered(s) || refused) flows.emplace(s.client, s.purpose, s.destination);
    }
    std::string reasons;
    for (const char* r : access_reasons)
        reasons += std::string(reasons.empty() ? "" : ",") + "\"" + r + "\"";
    const std::string expect =
        R"({"review":)" + std::to_string(count_if(is_transfer)) + R"(,"blocked":)" +
        std::to_string(count_if(blocked)) + R"(,"blockedWebshop":)" +
        std::to_string(count_if([&](const sample& s) {
            return blocked(s) && std::string_view(s.client) == "webshop";
        })) +
        R"(,"webPrefix":)" + std::to_string(count_if([&](const sample& s) {
            return blocked(s) && std::string_view(s.client).substr(0, 3) == "web";
        })) +
        R"(,"shopSubstring":)" + std::to_string(count_if([&](const sample& s) {
            return blocked(s) && std::string_view(s.client).find("shop") != std::string_view::npos;
        })) +
        R"(,"partnerBlocked":)" + std::to_string(count_if([&](const sample& s) {
            return blocked(s) && std::string_view(s.destination).substr(0, 7) == "partner";
        })) +
        R"(,"reason":"third_party_direct_marketing","reasonCount":)" +
        std::to_string(count_if([&](const sample& s) {
            return blocked(s) && std::string_view(s.reason) == "third_party_direct_marketing";
        })) +
        R"(,"blockedSeq":4,"blockedReason":"purpose_not_granted","records":)" +
        // The trail written here, then the proxy's start: its policy_loaded record.
        std::to_string(std::size(trail) + 1) + R"(,"access":)" +
        std::to_string(count_if(is_access)) + R"(,"accessReasons":[)" + reasons +
        R"(],"markup":"<b>bold</b>","flowNodes":)" +
        std::to_string(clients.size() + purposes.size() + destinations.size()) + R"(,"flowRows":)" +
        std::to_string(flows.size()) + R"(,"flowLinks":)" + std::to_string(links.size()) +
        R"(,"flowRecords":)" + std::to_string(flow_records) + "}";
    ASSERT_STREQ(trail[3].reason, "purpose_not_granted");

    run_script(
        dir_, node, "review_page.mjs",
        {{"EW_ADMIN_URL", "http://127.0.0.1:" + std::to_string(proxy_.admin_port()) + "/admin/"},
         {"EW_PROXY_URL", "http://127.0.0.1:" + std::to_string(proxy_.port())},
         {"EW_ADMIN_TOKEN", std::string(admin_token)},
         {"EW_SCREENSHOT", screenshot},
         {"EW_EXPECT", expect}});
    for (const char* name :
         {"review-page.png", "review-access.png", "review-flows.png", "review-detail-narrow.png"})
        expect_png((fs::path(screenshot).parent_path() / name).string());
}

class AuditReviewSubject : public enforce_fixture {};

TEST_F(AuditReviewSubject, LooksUpWhoReceivedAPersonInChromium) {
    std::string node;
    if (auto why = browser_missing(node); !why.empty()) GTEST_SKIP() << why;
    const std::string key = dir_.file("subject.key");
    std::ofstream(key, std::ios::binary) << std::string(32, 'k') << "0123456789";
    vendor_policy_options o;
    o.edits = {{" sync=\"blocked\">", " sync=\"blocked\" subject-key-file=\"" + key + "\">"},
               {"<admin address=\"127.0.0.1\" port=\"0\"/>",
                "<admin address=\"127.0.0.1\" port=\"0\" token-sha256=\"" +
                    std::string(admin_token_sha256) + "\"/>"}};
    ASSERT_TRUE(start(o));
    const std::string p = marker_prefix();
    const contact ann = marker_contact(p, 1, "customer");
    contact bob = marker_contact(p, 2, "customer");
    bob.objected = true;  // dropped from a direct-marketing export
    constexpr std::string_view dataverse = "/api/data/v9.2/contacts";
    ASSERT_TRUE(stage(dataverse, "application/json",
                      render(vendor_shape::dataverse, {ann, bob}, crm_origin())));
    export_request r;
    r.target = std::string(dataverse);
    r.api_key = std::string(marketing_key);
    r.purpose = "promotion-email";
    r.destination = "newsletter";
    const response resp = send(r);
    ASSERT_EQ(resp.status, 200u) << resp.body;
    const std::string id = resp.header("X-Export-Audit-Id").value_or("");
    ASSERT_TRUE(audit_record(id).has_value());

    const std::string screenshot = artifact("review-subject.png");
    run_script(
        dir_, node, "subject_lookup.mjs",
        {{"EW_ADMIN_URL", "http://127.0.0.1:" + std::to_string(proxy_.admin_port()) + "/admin/"},
         {"EW_ADMIN_TOKEN", std::string(admin_token)},
         {"EW_SCREENSHOT", screenshot},
         {"EW_EXPECT", R"({"found":")" + ann.email + R"(","foundId":")" + ann.id +
                           R"(","auditId":")" + id + R"(","dropped":")" + bob.email +
                           R"(","client":"marketing-tool","destination":"newsletter"})"}});
    expect_png(screenshot);
    // The addresses looked up reach no log.
    for (const char* file : {"exportwall.log", "access.log"}) {
        const auto text = read_file(dir_.file(file)).value_or("");
        EXPECT_EQ(text.find(ann.email), std::string::npos) << file;
        EXPECT_EQ(text.find(bob.email), std::string::npos) << file;
    }
}

// A trail of many blocked transfers: 14 reasons, some with very long names, over 40 days, and
// access errors; the report of it is printed and measured.
class EvidenceReport : public ::testing::Test {
  protected:
    temp_dir dir_;
};

TEST_F(EvidenceReport, ListsBlockedTransfersAnchorsTheChainAndFitsA4InChromium) {
    std::string node;
    if (auto why = browser_missing(node); !why.empty()) GTEST_SKIP() << why;
    const std::string log = dir_.file("audit.jsonl");
    std::vector<std::string> reasons = {"third_party_direct_marketing",
                                        "purpose_not_granted",
                                        "destination_not_granted",
                                        "destination_not_permitted_for_purpose",
                                        "disclosure_not_permitted",
                                        "processor_agreement_expired",
                                        "grant_not_valid",
                                        "suppression_list_stale",
                                        "query_field_not_permitted",
                                        "volume_anomaly"};
    for (std::size_t k = 0; k < 4; ++k)
        reasons.push_back(
            "a_reason_code_with_a_very_long_name_that_a_legend_must_wrap_or_shorten_" +
            std::to_string(k) + std::string(k * 12, 'w'));
    std::size_t blocked = 0;
    {
        audit::writer_options o;
        o.path = log;
        o.sync = audit::sync_policy::none;
        audit::file_writer w(o);
        ASSERT_FALSE(w.start());
        for (int day = 0; day < 40; ++day) {
            for (std::size_t k = 0; k < reasons.size(); ++k) {
                if ((static_cast<std::size_t>(day) + k) % 3 == 0) continue;
                audit::record r;
                r.id = audit::new_record_id();
                const int month_day = day < 30 ? day + 1 : day - 29;
                r.time = std::string(day < 30 ? "2026-11-" : "2026-12-") +
                         (month_day < 10 ? "0" : "") + std::to_string(month_day) + "T09:30:00.000Z";
                r.mode = "enforce";
                r.decision = "blocked";
                r.reason = reasons[k];
                if (k == 0) {
                    r.rule_id = "R10";
                    r.legal_reference =
                        "GDPR art. 6(1), art. 21; CNIL guidance on partner transfers";
                }
                r.client = k % 2 ? "partner-gateway" : "webshop";
                r.purpose = "promotion";
                r.destination = "partner-leads";
                r.destination_kind = "third-party";
                r.status = 403;
                r.policy_revision = std::string(64, 'a');
                w.append(std::move(r), false, nullptr);
                ++blocked;
            }
            audit::record e;
            e.id = audit::new_record_id();
            e.time = "2026-11-01T08:00:00.000Z";
            e.mode = "enforce";
            e.decision = "blocked";
            e.reason = day % 2 ? "unauthenticated" : "route_not_found";
            e.status = day % 2 ? 401 : 404;
            e.policy_revision = std::string(64, 'a');
            w.append(std::move(e), false, nullptr);
        }
        w.flush();
    }
    const std::string report = dir_.file("report.html");
    const auto [out, status] =
        run_exportwall_status({"audit", "report", "--log", log, "--output", report});
    ASSERT_EQ(status, 0) << out;
    const auto chain = run_exportwall_status({"audit", "verify", "--log", log, "--format", "json"});
    ASSERT_EQ(chain.second, 0) << chain.first;
    const auto at = chain.first.find("\"last_hash\":\"");
    ASSERT_NE(at, std::string::npos);
    const std::string last_hash = chain.first.substr(at + 13, 64);

    const std::string screenshot = artifact("evidence-report.png");
    (void)artifact("evidence-report-chart.png");
    const std::string pdf = artifact("evidence-report.pdf");
    run_script(dir_, node, "evidence_report.mjs",
               {{"EW_REPORT", report},
                {"EW_SCREENSHOT", screenshot},
                {"EW_PDF", pdf},
                {"EW_EXPECT", R"({"blocked":)" + std::to_string(blocked) + R"(,"reasons":)" +
                                  std::to_string(reasons.size()) + R"(,"lastHash":")" + last_hash +
                                  R"(","accessErrors":40})"}});
    expect_png(screenshot);
    expect_png(artifact_path("evidence-report-chart.png"));
    const auto printed = read_file(pdf);
    ASSERT_TRUE(printed.has_value()) << "no PDF at " << pdf;
    EXPECT_EQ(printed->substr(0, 5), "%PDF-");
}

}  // namespace
}  // namespace exportwall::itest
