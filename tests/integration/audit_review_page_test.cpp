// The admin review page in headless Chromium (label `browser`): a trail holding blocked, aborted,
// would-block, allowed and filtered records is written with the audit writer, exportwall serves
// it on its admin listener (token required), and tests/browser/review_page.mjs (playwright-core,
// the system's /usr/bin/chromium) checks that the table loads, filters narrow it, a blocked
// transfer's detail shows its reason and the chain status is shown. The screenshot is kept in
// <build>/tests/integration/browser-artifacts/review-page.png.
//
// Skips when Chromium, node or tests/browser/node_modules is missing (scripts/setup installs
// all three).

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "audit/file_writer.hpp"
#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view admin_token = "itest-admin-token";
constexpr std::string_view admin_token_sha256 =
    "06cefed1e9d7c591814d8b77354e48c8ae842b73873ed62ac92eeab11f04e510";

struct sample {
    const char* decision;
    const char* reason;
    const char* client;
    const char* purpose;
    const char* destination;
    int status;
};

// The trail the page shows; seq is the position + 1.
constexpr sample trail[] = {
    {"allowed", "", "erp", "invoicing", "billing", 200},
    {"blocked", "third_party_direct_marketing", "webshop", "promotion", "partner-leads", 403},
    {"filtered", "", "erp", "invoicing", "billing", 200},
    {"blocked", "purpose_not_granted", "erp", "promotion", "billing", 403},
    {"aborted", "upstream_timeout", "erp", "invoicing", "billing", 200},
    {"would-block", "destination_not_granted", "marketing", "survey", "partner-crm", 200},
    {"blocked", "third_party_direct_marketing", "webshop", "promotion", "partner-leads", 403},
    {"allowed", "", "webshop", "delivery", "carrier", 200},
    {"blocked", "destination_unknown", "marketing", "survey", "nowhere", 403},
    {"aborted", "client_closed", "webshop", "delivery", "carrier", 200},
    {"blocked", "third_party_direct_marketing", "erp", "promotion", "partner-leads", 403},
    {"would-block", "purpose_not_granted", "marketing", "promotion", "newsletter", 200},
};

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
        r.time = "2026-11-29T10:00:" + std::string(i < 10 ? "0" : "") + std::to_string(i) + ".000Z";
        r.mode = std::string_view(s.decision) == "would-block" ? "monitor" : "enforce";
        r.decision = s.decision;
        r.reason = s.reason;
        r.client = s.client;
        r.purpose = s.purpose;
        r.basis = "contract";
        r.destination = s.destination;
        r.destination_kind = "internal";
        r.route = "contacts";
        r.method = "GET";
        r.path = "/api/data/v9.2/contacts?$select";
        r.status = s.status;
        r.fields_requested = {"id", "email", "iban"};
        if (r.decision == "filtered") r.fields_stripped = {"iban"};
        r.records_in = r.status == 403 ? 0 : 10;
        r.records_out = r.records_in;
        r.remote = "127.0.0.1:40000";
        r.policy_revision = std::string(64, 'a');
        w.append(std::move(r), false, nullptr);
        ++i;
    }
    w.flush();
    return w.counters().records_written == std::size(trail);
}

std::size_t count(std::string_view decision, std::string_view client = {},
                  std::string_view reason = {}) {
    std::size_t n = 0;
    for (const auto& s : trail) {
        if (!decision.empty() && s.decision != decision) continue;
        if (!client.empty() && s.client != client) continue;
        if (!reason.empty() && s.reason != reason) continue;
        ++n;
    }
    return n;
}

class AuditReviewPage : public proxy_fixture {};

TEST_F(AuditReviewPage, ListsFiltersAndDetailsBlockedTransfersInChromium) {
    const std::string source = EXPORTWALL_SOURCE_DIR;
    const std::string chromium = "/usr/bin/chromium";
    const std::string script = source + "/tests/browser/review_page.mjs";
    if (::access(chromium.c_str(), X_OK) != 0)
        GTEST_SKIP() << "Chromium is not installed (" << chromium << "); scripts/setup installs it";
    if (!fs::exists(source + "/tests/browser/node_modules/playwright-core/package.json"))
        GTEST_SKIP() << "tests/browser/node_modules is missing; run scripts/setup (npm ci)";
    std::string node;
    for (const char* candidate : {"/usr/bin/node", "/usr/local/bin/node"})
        if (node.empty() && ::access(candidate, X_OK) == 0) node = candidate;
    if (node.empty()) GTEST_SKIP() << "node is not installed; scripts/setup installs nodejs";

    ASSERT_TRUE(write_trail(dir_.file("audit.jsonl")));
    proxy_options o;
    o.admin_token_sha256 = std::string(admin_token_sha256);
    ASSERT_TRUE(start_proxy(o));
    ASSERT_NE(proxy_.admin_port(), 0);

    const fs::path artifacts =
        fs::read_symlink("/proc/self/exe").parent_path() / "browser-artifacts";
    fs::create_directories(artifacts);
    const std::string screenshot = (artifacts / "review-page.png").string();
    std::error_code ignored;
    fs::remove(screenshot, ignored);

    const std::size_t review = count("blocked") + count("aborted") + count("would-block");
    const std::string expect =
        R"({"review":)" + std::to_string(review) + R"(,"blocked":)" +
        std::to_string(count("blocked")) + R"(,"blockedWebshop":)" +
        std::to_string(count("blocked", "webshop")) +
        R"(,"reason":"third_party_direct_marketing","reasonCount":)" +
        std::to_string(count("", "", "third_party_direct_marketing")) +
        R"(,"blockedSeq":4,"blockedReason":"purpose_not_granted","records":)" +
        // The trail written here, then the proxy's start: its policy_loaded record.
        std::to_string(std::size(trail) + 1) + "}";
    ASSERT_STREQ(trail[3].reason, "purpose_not_granted");

    // node reads its settings from the environment; the child inherits ours.
    ::setenv("EW_ADMIN_URL",
             ("http://127.0.0.1:" + std::to_string(proxy_.admin_port()) + "/admin/").c_str(), 1);
    ::setenv("EW_ADMIN_TOKEN", std::string(admin_token).c_str(), 1);
    ::setenv("EW_SCREENSHOT", screenshot.c_str(), 1);
    ::setenv("EW_CHROMIUM", chromium.c_str(), 1);
    ::setenv("EW_EXPECT", expect.c_str(), 1);
    const std::string out = dir_.file("browser.out");
    child_process browser;
    ASSERT_TRUE(browser.start({node, script}, out));
    const auto status = browser.wait_exit(120s);
    const std::string printed = read_file(out).value_or("");
    std::cout << printed;
    ASSERT_TRUE(status.has_value()) << "the browser script did not finish";
    EXPECT_EQ(*status, 0) << printed;

    const auto png = read_file(screenshot);
    ASSERT_TRUE(png.has_value()) << "no screenshot at " << screenshot;
    EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_GT(png->size(), 10000u) << "the screenshot looks empty";
}

}  // namespace
}  // namespace exportwall::itest
