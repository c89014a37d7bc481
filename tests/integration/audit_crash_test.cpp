// kill -9 of exportwall under load (issue 6): two client threads run a bounded loop of allowed
// and refused exports on loopback; after K responses exportwall gets SIGKILL. It is restarted on
// the same audit directory; then `exportwall audit verify` passes (a torn last line is set aside
// and reported, not a failure) and every refusal a client received has its record in the trail.

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

namespace fs = std::filesystem;

// An enforced JSON route in front of the fake CRM's `fixed` endpoint, one client ("erp", API key
// "itest-erp-key") granted invoicing to billing only: promotion to partner-leads is a policy
// refusal (403, its record fsynced before the answer with sync="blocked", the default).
constexpr std::string_view enforced_policy = R"(
  <route id="contacts" path="/crm/fixed" methods="GET" upstream="crm" entity="contact"
         format="json" records="/value" select-param="$select"/>
  <entity id="contact" subject-field="lifecycle" collected-for="essential marketing">
    <subject value="customer" type="customer"/>
    <field path="id" category="user.unique_id"/>
    <field path="name" category="user.name"/>
    <field path="email" category="user.contact.email"/>
    <field path="lifecycle" category="user.account"/>
    <field path="consent.email" category="user.privacy_preferences" consent-channel="email"/>
    <field path="objection.direct_marketing" category="user.privacy_preferences"/>
  </entity>
  <purpose id="invoicing" data-use="essential.service.payment_processing" basis="contract" subjects="customer">
    <fields entity="contact">id name</fields>
  </purpose>
  <purpose id="promotion" data-use="marketing.communications.email" basis="consent" subjects="customer"
           channel="email" consent-field="consent.email" objection-field="objection.direct_marketing">
    <fields entity="contact">id email</fields>
  </purpose>
  <destination id="billing" kind="internal" country="BE"/>
  <destination id="partner-leads" kind="third-party" country="BE"/>
  <client id="erp">
    <api-key sha256="52f40f14d15d259f58f1fdb7023c0c4e47bb7765479124bd9f2ef5028e50afc4"/>
    <grant purpose="invoicing" destinations="billing"/>
  </client>
)";

std::string export_request(bool refused) {
    return get_request("/crm/fixed", refused ? "Authorization: Bearer itest-erp-key\r\n"
                                               "X-Export-Purpose: promotion\r\n"
                                               "X-Export-Destination: partner-leads\r\n"
                                             : "Authorization: Bearer itest-erp-key\r\n"
                                               "X-Export-Purpose: invoicing\r\n"
                                               "X-Export-Destination: billing\r\n");
}

// The audit_id of a problem+json body, or "".
std::string problem_audit_id(const std::string& body) {
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return {};
    const auto* id = v.as_object().if_contains("audit_id");
    return id != nullptr && id->is_string() ? std::string(id->get_string()) : std::string();
}

// Runs `exportwall audit ARGS…` to completion; its exit status and output.
struct cli_result {
    int status = -1;
    std::string output;
};
cli_result run_audit_cli(const temp_dir& dir, const std::vector<std::string>& args) {
    static int calls = 0;
    const std::string out = dir.file("audit-cli-" + std::to_string(++calls) + ".out");
    std::vector<std::string> argv{exportwall_binary(), "audit"};
    argv.insert(argv.end(), args.begin(), args.end());
    child_process p;
    cli_result r;
    if (!p.start(argv, out)) return r;
    r.status = p.wait_exit(60s).value_or(-1);
    r.output = read_file(out).value_or("");
    return r;
}

class AuditCrash : public proxy_fixture {};

TEST_F(AuditCrash, KillNineUnderLoadLosesNoAcknowledgedRefusal) {
    proxy_options o;
    o.extra = std::string(enforced_policy);
    ASSERT_TRUE(start_proxy(o));
    const std::string log = dir_.file("audit.jsonl");

    // Sanity: both kinds of export answer as the test expects before the load starts.
    const response allowed = fetch(proxy_.port(), export_request(false));
    ASSERT_TRUE(allowed.received);
    ASSERT_EQ(allowed.status, 200u) << allowed.body;
    const response refused = fetch(proxy_.port(), export_request(true));
    ASSERT_TRUE(refused.received);
    ASSERT_EQ(refused.status, 403u) << refused.body;
    ASSERT_FALSE(problem_audit_id(refused.body).empty()) << refused.body;

    constexpr int threads = 2;
    constexpr int per_thread = 400;  // bound of the loop; the kill comes long before
    constexpr int kill_after = 300;  // responses (both kinds, both threads) before SIGKILL
    std::atomic<int> responses{0};
    std::atomic<int> allowed_ok{0};
    std::mutex mutex;
    std::vector<std::string> refusal_ids{problem_audit_id(refused.body)};
    std::vector<std::thread> clients;
    for (int t = 0; t < threads; ++t) {
        clients.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                const bool refuse = (i + t) % 3 == 0;
                const response r = fetch(proxy_.port(), export_request(refuse));
                if (!r.received) break;  // exportwall is gone
                if (refuse && r.status == 403) {
                    const std::string id = problem_audit_id(r.body);
                    std::lock_guard lock(mutex);
                    refusal_ids.push_back(id);
                } else if (!refuse && r.status == 200) {
                    allowed_ok++;
                }
                if (++responses == kill_after) proxy_.process().signal(SIGKILL);
            }
        });
    }
    for (auto& c : clients) c.join();
    ASSERT_GE(responses.load(), kill_after);
    ASSERT_LT(responses.load(), threads * per_thread) << "the kill did not stop exportwall";
    EXPECT_EQ(proxy_.process().wait_exit(), 128 + SIGKILL);
    EXPECT_GT(allowed_ok.load(), 0);
    std::cout << "[ info     ] " << responses.load() << " responses before the kill, "
              << refusal_ids.size() << " refusals recorded by the clients\n";
    for (const auto& id : refusal_ids) ASSERT_EQ(id.size(), 32u) << "a 403 without its audit_id";

    // A kill in the middle of pwrite leaves half a line. If this kill did not, leave one as it
    // would (the head of the last line, unterminated), so recovery runs every time.
    auto content = read_file(log);
    ASSERT_TRUE(content.has_value() && !content->empty());
    const bool torn_by_kill = content->back() != '\n';
    if (!torn_by_kill) {
        const auto start = content->rfind('\n', content->size() - 2);
        const std::string last = content->substr(start == std::string::npos ? 0 : start + 1);
        ASSERT_TRUE(write_file(log, *content + last.substr(0, last.size() / 2)));
    }
    std::cout << "[ info     ] torn last line " << (torn_by_kill ? "left by the kill" : "simulated")
              << "\n";

    // Restart on the same directory (a fresh ports file, the same audit path).
    std::error_code ignored;
    fs::remove(dir_.file("ports.json"), ignored);
    exportwall_server again;
    ASSERT_TRUE(again.start(dir_, make_config(dir_,
                                              [&] {
                                                  proxy_options p = o;
                                                  p.upstream_url = "http://127.0.0.1:" +
                                                                   std::to_string(crm_.port());
                                                  return p;
                                              }())))
        << again.log();
    EXPECT_NE(again.log().find("torn last line"), std::string::npos)
        << "recovery did not report the torn line";
    bool torn_file = false;
    for (const auto& e : fs::directory_iterator(dir_.path()))
        torn_file = torn_file || e.path().filename().string().rfind("audit.jsonl.torn-", 0) == 0;
    EXPECT_TRUE(torn_file) << "the torn bytes were not set aside";

    // The restarted proxy continues the chain: one more refusal and one more export.
    const response after = fetch(again.port(), export_request(true));
    ASSERT_TRUE(after.received);
    ASSERT_EQ(after.status, 403u) << after.body;
    refusal_ids.push_back(problem_audit_id(after.body));
    const response after_ok = fetch(again.port(), export_request(false));
    ASSERT_TRUE(after_ok.received);
    EXPECT_EQ(after_ok.status, 200u);
    again.process().stop();  // SIGTERM: drains and flushes the writer

    const cli_result verify = run_audit_cli(dir_, {"verify", "--log", log});
    EXPECT_EQ(verify.status, 0) << verify.output;
    EXPECT_NE(verify.output.find("chain intact"), std::string::npos) << verify.output;

    // Every refusal a client received is in the trail, once, as the blocked 403 it was.
    const cli_result list = run_audit_cli(dir_, {"list", "--log", log, "--format", "json"});
    ASSERT_EQ(list.status, 0) << list.output.substr(0, 2000);
    std::map<std::string, int> seen;
    std::map<std::string, std::string> decision_of;
    std::size_t records = 0;
    std::size_t pos = 0;
    while (pos < list.output.size()) {
        const auto nl = list.output.find('\n', pos);
        const std::string line = list.output.substr(pos, nl - pos);
        pos = nl == std::string::npos ? list.output.size() : nl + 1;
        if (line.empty()) continue;
        boost::system::error_code ec;
        const boost::json::value v = boost::json::parse(line, ec);
        ASSERT_FALSE(ec) << "audit list printed a line that is not JSON";
        const auto& obj = v.as_object();
        const std::string id(obj.at("id").as_string());
        seen[id]++;
        decision_of[id] = std::string(obj.at("decision").as_string()) + " " +
                          std::to_string(obj.at("status").to_number<int>());
        ++records;
    }
    EXPECT_GE(records, refusal_ids.size());
    std::set<std::string> unique(refusal_ids.begin(), refusal_ids.end());
    EXPECT_EQ(unique.size(), refusal_ids.size()) << "two refusals shared an audit_id";
    std::size_t missing = 0;
    for (const auto& id : refusal_ids) {
        const auto it = seen.find(id);
        const int times = it == seen.end() ? 0 : it->second;
        if (times != 1) {
            ++missing;
            ADD_FAILURE() << "refusal " << id << " appears " << times << " times";
            continue;
        }
        EXPECT_EQ(decision_of[id], "blocked 403") << id;
    }
    EXPECT_EQ(missing, 0u);
    for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << "record " << id << " duplicated";

    // `audit show` finds a refusal from before the kill by its id.
    const cli_result show = run_audit_cli(dir_, {"show", refusal_ids[1], "--log", log});
    EXPECT_EQ(show.status, 0) << show.output;
    EXPECT_NE(show.output.find("blocked"), std::string::npos) << show.output;
}

}  // namespace
}  // namespace exportwall::itest
