// Volume and time through the real binary (issue 17): grant quotas shared by two replicas on a
// real redis-server, a store that dies before and during an export, and max-records that holds
// across the pages of a paged export.

#include <gtest/gtest.h>

#include <csignal>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

#include "tests/integration/enforce_fixture.hpp"
#include "tests/integration/redis_server.hpp"

namespace exportwall::itest {
namespace {

bool has(std::string_view body, std::string_view marker) {
    return body.find(marker) != std::string_view::npos;
}

class QuotaFixture : public enforce_fixture {
  protected:
    void TearDown() override {
        if (HasFailure()) {
            std::cerr << "---- replica 2 log ----\n"
                      << replica_.log().substr(0, 20000) << "\n---- redis log ----\n"
                      << redis_.log().substr(0, 4000) << "\n";
        }
        replica_.process().stop();
        enforce_fixture::TearDown();
        redis_.stop();
    }

    // The erp client's delivery grant with `quota`, the store on `redis_` (batch `batch`), and a
    // shared continuation key, so that a second replica opens the first one's paging tokens.
    // `indexed`: with a subject key (issue 18's index beside the trail).
    ::testing::AssertionResult start_with_quota(std::string_view quota, std::string_view batch,
                                                std::string_view partner_max = "2",
                                                bool indexed = false) {
        if (!redis_server::available())
            return ::testing::AssertionFailure() << "redis-server is not installed";
        if (!redis_.start(dir_)) return ::testing::AssertionFailure() << "redis did not start";
        if (!write_file(dir_.file("continuation.key"),
                        "0123456789abcdef0123456789abcdef-shared-by-both-replicas"))
            return ::testing::AssertionFailure() << "cannot write the continuation key";
        vendor_policy_options o;
        o.edits = {{R"(<grant purpose="delivery" destinations="warehouse carrier"/>)",
                    "<grant purpose=\"delivery\" destinations=\"warehouse carrier\" quota=\"" +
                        std::string(quota) + "\"/>"},
                   {R"(<grant purpose="delivery" destinations="carrier" max-records="2"/>)",
                    "<grant purpose=\"delivery\" destinations=\"carrier\" max-records=\"" +
                        std::string(partner_max) + "\"/>"}};
        if (indexed) {
            const std::string key = dir_.file("subject.key");
            if (!write_file(key, std::string(32, 'k') + "0123456789"))
                return ::testing::AssertionFailure() << "cannot write the subject key";
            o.edits.emplace_back(" sync=\"blocked\">",
                                 " sync=\"blocked\" subject-key-file=\"" + key + "\">");
        }
        o.network = "  <quota-store url=\"" + redis_.url() + "\" batch=\"" + std::string(batch) +
                    "\" timeout=\"500ms\"/>\n  <continuation key-file=\"" +
                    dir_.file("continuation.key") + "\"/>\n";
        return start(o);
    }

    // A second exportwall with the same configuration and its own audit trail.
    ::testing::AssertionResult start_replica() {
        std::string config = config_;
        const std::string from = dir_.file("audit.jsonl");
        auto at = config.find(from);
        if (at == std::string::npos) return ::testing::AssertionFailure() << "no audit path";
        config.replace(at, from.size(), replica_dir_.file("audit.jsonl"));
        // Relative files (the suppression list) are read beside the configuration.
        auto list = read_file(dir_.file("do-not-contact.txt"));
        if (!list || !write_file(replica_dir_.file("do-not-contact.txt"), *list))
            return ::testing::AssertionFailure() << "cannot copy the suppression list";
        if (!replica_.start(replica_dir_, config))
            return ::testing::AssertionFailure() << "replica 2 did not start:\n" << replica_.log();
        return ::testing::AssertionSuccess();
    }

    response send_to(std::uint16_t port, const export_request& r) {
        http_connection c;
        if (!c.connect(port)) return {};
        if (!c.send(request_bytes(r))) return {};
        return c.read_response();
    }

    static export_request delivery(std::string_view key, std::string_view destination,
                                   std::string target = "/api/data/v9.2/contacts?$select=id,first_name") {
        export_request r;
        r.target = std::move(target);
        r.api_key = std::string(key);
        r.purpose = "delivery";
        r.destination = std::string(destination);
        return r;
    }

    // Two customers with this test's markers in their ids.
    static std::vector<contact> two_customers() {
        const auto p = marker_prefix();
        return {marker_contact(p, 1, "customer"), marker_contact(p, 2, "customer")};
    }

    ::testing::AssertionResult stage_contacts(const std::vector<contact>& records) {
        return stage("/api/data/v9.2/contacts", "application/json",
                     render(vendor_shape::dataverse, records, crm_origin()));
    }

    redis_server redis_;
    temp_dir replica_dir_;
    exportwall_server replica_;
};

// quota="3/day", exports of two records each: the first replica delivers two, the second — the
// same grant, sharing the store — only one more, then aborts at the record that would cross the
// quota; once spent, a new export is refused 429 with Retry-After on either replica.
TEST_F(QuotaFixture, AQuotaHoldsAcrossReplicasSharingRedis) {
    ASSERT_TRUE(start_with_quota("3/day", "1000"));
    ASSERT_TRUE(start_replica());
    const std::vector<contact> records = two_customers();
    ASSERT_TRUE(stage_contacts(records));

    const response first = send_to(proxy_.port(), delivery(erp_key, "warehouse"));
    ASSERT_EQ(first.status, 200u) << first.body;
    EXPECT_TRUE(first.complete);
    EXPECT_TRUE(has(first.body, records[0].id));
    EXPECT_TRUE(has(first.body, records[1].id));

    const response second = send_to(replica_.port(), delivery(erp_key, "warehouse"));
    ASSERT_TRUE(second.received);
    EXPECT_EQ(second.status, 200u);
    EXPECT_FALSE(second.complete) << "an export cut at its quota ended like a complete one";
    EXPECT_TRUE(has(second.body, records[0].id)) << second.body;
    EXPECT_FALSE(has(second.body, records[1].id)) << "a record beyond the quota was delivered";
    auto audit = audit_record_in(replica_dir_.file("audit.jsonl"),
                          second.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "decision"), "aborted");
    EXPECT_EQ(string_at(*audit, "reason"), "quota_exceeded");
    EXPECT_EQ(number_at(*audit, "records_out"), 1u);

    const std::size_t before = seen().requests.size();
    for (std::uint16_t port : {proxy_.port(), replica_.port()}) {
        const response third = send_to(port, delivery(erp_key, "warehouse"));
        ASSERT_TRUE(third.received);
        EXPECT_EQ(third.status, 429u) << third.body;
        auto retry = third.header("Retry-After");
        ASSERT_TRUE(retry.has_value());
        EXPECT_GT(std::stoll(*retry), 0);
        EXPECT_LE(std::stoll(*retry), 86400);
        auto problem = problem_of(third);
        ASSERT_TRUE(problem.has_value()) << third.body;
        EXPECT_EQ(string_at(*problem, "reason"), "quota_exceeded");
        EXPECT_FALSE(has(third.body, records[0].id));
    }
    EXPECT_EQ(seen().requests.size(), before) << "an export over its quota reached the CRM";
    const response metrics = fetch(replica_.admin_port(), get_request("/metrics"));
    EXPECT_NE(metrics.body.find("exportwall_quota_refusals_total{reason=\"quota_exceeded\"} 2"),
              std::string::npos)
        << "replica 2 cut one export and refused one: " << metrics.body;
    // The grant's window as replica 2 last saw it: all 3 records counted, of 3.
    auto series = [&](std::string_view name) {
        for (std::size_t at = metrics.body.find(name); at != std::string::npos;
             at = metrics.body.find(name, at + 1)) {
            auto end = metrics.body.find('\n', at);
            auto line = metrics.body.substr(at, end - at);
            if (line.find("destination=\"warehouse\"") != std::string::npos) return line;
        }
        return std::string();
    };
    EXPECT_EQ(series("exportwall_quota_used_records{").substr(
                  series("exportwall_quota_used_records{").rfind(' ') + 1),
              "3")
        << metrics.body;
    EXPECT_EQ(series("exportwall_quota_limit_records{").substr(
                  series("exportwall_quota_limit_records{").rfind(' ') + 1),
              "3")
        << metrics.body;
    // Another grant of the same client (another destination counts apart) and the partner's grant
    // without a quota are unaffected.
    const response other = send_to(proxy_.port(), delivery(erp_key, "carrier"));
    EXPECT_EQ(other.status, 200u);
    EXPECT_TRUE(other.complete);
}

// With the subject index (issue 18: only delivered records are listed): the export the quota
// cut lists the person it delivered and not the one it held back.
TEST_F(QuotaFixture, TheSubjectIndexListsNoRecordAQuotaHeldBack) {
    ASSERT_TRUE(start_with_quota("3/day", "1000", "2", true));
    const std::vector<contact> records = two_customers();
    ASSERT_TRUE(stage_contacts(records));
    const response first = send_to(proxy_.port(), delivery(erp_key, "warehouse"));
    ASSERT_EQ(first.status, 200u) << first.body;
    ASSERT_TRUE(first.complete);
    const response second = send_to(proxy_.port(), delivery(erp_key, "warehouse"));
    ASSERT_EQ(second.status, 200u) << second.body;
    ASSERT_FALSE(second.complete);
    ASSERT_TRUE(has(second.body, records[0].id));
    ASSERT_FALSE(has(second.body, records[1].id));
    const std::string first_id = first.header("X-Export-Audit-Id").value_or("");
    const std::string second_id = second.header("X-Export-Audit-Id").value_or("");
    auto whole = audit_record(first_id);
    auto cut = audit_record(second_id);
    ASSERT_TRUE(whole.has_value());
    ASSERT_TRUE(cut.has_value());
    EXPECT_EQ(string_at(*cut, "reason"), "quota_exceeded");
    // The delivered record's keys: half of what the whole export of both indexed.
    EXPECT_GT(number_at(*whole, "subject_keys"), 0u);
    EXPECT_EQ(2 * number_at(*cut, "subject_keys"), number_at(*whole, "subject_keys"));

    const auto config = dir_.file("exportwall.xml");
    const auto delivered = subject_lookup(config, {"--id", records[0].id});
    EXPECT_EQ(delivered.status, 0) << delivered.output;
    EXPECT_EQ(delivered.ids, (std::vector<std::string>{first_id, second_id})) << delivered.output;
    const auto held_back = subject_lookup(config, {"--id", records[1].id});
    EXPECT_EQ(held_back.status, 0) << held_back.output;
    EXPECT_EQ(held_back.ids, std::vector<std::string>{first_id}) << held_back.output;
}

// A reservation taken before the CRM answered an error goes back: failed exports use no quota.
TEST_F(QuotaFixture, FailedExportsReturnTheirReservation) {
    ASSERT_TRUE(start_with_quota("2/day", "1000"));
    ASSERT_TRUE(stage("/api/data/v9.2/contacts", "application/json", R"({"error":"busy"})",
                      "&status=500"));
    for (int i = 0; i < 3; ++i) {
        const response failed = send_to(proxy_.port(), delivery(erp_key, "warehouse"));
        ASSERT_TRUE(failed.received);
        EXPECT_EQ(failed.status, 500u) << failed.body;
    }
    const std::vector<contact> records = two_customers();
    ASSERT_TRUE(stage_contacts(records));
    const response ok = send_to(proxy_.port(), delivery(erp_key, "warehouse"));
    EXPECT_EQ(ok.status, 200u) << ok.body;
    EXPECT_TRUE(ok.complete);
    EXPECT_TRUE(has(ok.body, records[1].id)) << "a failed export used the quota";
    EXPECT_EQ(redis_.command("GET exportwall:quota:erp|delivery|warehouse|day|" +
                             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                    .count() /
                                            86400 * 86400))
                  .substr(0, 6),
              "$1\r\n2\r")
        << "the window's counter holds the records delivered";
}

// Redis down: a grant with a quota is refused 503 quota_store_unavailable (audited), a grant
// without one is unaffected; Redis back on the same port: quotas resume.
TEST_F(QuotaFixture, AStoreThatIsDownRefusesOnlyGrantsWithAQuota) {
    ASSERT_TRUE(start_with_quota("1000/hour", "100"));
    const std::vector<contact> records = two_customers();
    ASSERT_TRUE(stage_contacts(records));
    ASSERT_EQ(send_to(proxy_.port(), delivery(erp_key, "warehouse")).status, 200u);

    const std::uint16_t port = redis_.port();
    redis_.kill();
    const std::size_t before = seen().requests.size();
    const response refused = send_to(proxy_.port(), delivery(erp_key, "warehouse"));
    ASSERT_TRUE(refused.received);
    EXPECT_EQ(refused.status, 503u) << refused.body;
    auto problem = problem_of(refused);
    ASSERT_TRUE(problem.has_value()) << refused.body;
    EXPECT_EQ(string_at(*problem, "reason"), "quota_store_unavailable");
    auto audit = audit_record(refused.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "decision"), "blocked");
    EXPECT_EQ(string_at(*audit, "reason"), "quota_store_unavailable");
    EXPECT_EQ(seen().requests.size(), before) << "a refused export reached the CRM";

    const response unaffected = send_to(proxy_.port(), delivery(partner_key, "carrier"));
    EXPECT_EQ(unaffected.status, 200u) << unaffected.body;
    EXPECT_TRUE(unaffected.complete);

    ASSERT_TRUE(redis_.start(dir_, port)) << redis_.log();
    const response resumed = send_to(proxy_.port(), delivery(erp_key, "warehouse"));
    EXPECT_EQ(resumed.status, 200u) << resumed.body;
    EXPECT_TRUE(resumed.complete);
}

// Redis killed while a large export streams: the next reservation fails, the export aborts
// (no terminating chunk), audited, with fewer records than the CRM sent.
TEST_F(QuotaFixture, AStoreThatDiesMidExportAbortsIt) {
    ASSERT_TRUE(start_with_quota("100000000/day", "20"));
    const auto p = marker_prefix();
    std::vector<contact> records;
    constexpr int total = 20000;
    for (int i = 1; i <= total; ++i) records.push_back(marker_contact(p, i, "customer"));
    ASSERT_TRUE(stage_contacts(records));

    http_connection c;
    c.set_receive_buffer(4096);
    ASSERT_TRUE(c.connect(proxy_.port()));
    ASSERT_TRUE(c.send(request_bytes(delivery(erp_key, "warehouse"))));
    std::string body;
    bool killed = false;
    const response r = c.read_response(false, [&](std::string_view piece) {
        if (!killed) {
            killed = true;
            redis_.kill();
        }
        body.append(piece);
    });
    ASSERT_TRUE(r.received);
    ASSERT_TRUE(killed);
    EXPECT_EQ(r.status, 200u);
    EXPECT_FALSE(r.complete) << "the export completed although its quota could not be counted";
    EXPECT_FALSE(has(body, records.back().id));
    auto audit = audit_record(r.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "decision"), "aborted");
    EXPECT_EQ(string_at(*audit, "reason"), "quota_store_unavailable");
    EXPECT_LT(number_at(*audit, "records_out"), static_cast<std::uint64_t>(total));
}

// max-records holds across the pages of a paged export: following the sealed link — on another
// replica too — continues the same count, and a page beyond it is refused before the CRM.
TEST_F(QuotaFixture, MaxRecordsHoldsAcrossTheSealedPagesOfAnExport) {
    ASSERT_TRUE(start_with_quota("1000/day", "1000", "3"));
    ASSERT_TRUE(start_replica());
    const std::vector<contact> records = two_customers();
    ASSERT_TRUE(stage_contacts(records));

    const response page1 = send_to(proxy_.port(), delivery(partner_key, "carrier"));
    ASSERT_EQ(page1.status, 200u) << page1.body;
    ASSERT_TRUE(page1.complete);
    auto doc = boost::json::parse(page1.body).as_object();
    ASSERT_TRUE(doc.contains("@odata.nextLink")) << page1.body;
    const std::string next(doc.at("@odata.nextLink").as_string());
    const std::string target = next.substr(next.find("/api/"));

    // Page 2 on the other replica: one record is left of max-records 3.
    const response page2 = send_to(replica_.port(), delivery(partner_key, "carrier", target));
    ASSERT_TRUE(page2.received);
    EXPECT_EQ(page2.status, 200u) << page2.body;
    EXPECT_FALSE(page2.complete);
    EXPECT_TRUE(has(page2.body, records[0].id));
    EXPECT_FALSE(has(page2.body, records[1].id)) << "a page went beyond the export's max-records";
    auto audit = audit_record_in(replica_dir_.file("audit.jsonl"),
                          page2.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "reason"), "record_limit_exceeded");

    // The same link again: the export has delivered its three records.
    const std::size_t before = seen().requests.size();
    const response page3 = send_to(proxy_.port(), delivery(partner_key, "carrier", target));
    ASSERT_TRUE(page3.received);
    EXPECT_EQ(page3.status, 403u) << page3.body;
    auto problem = problem_of(page3);
    ASSERT_TRUE(problem.has_value()) << page3.body;
    EXPECT_EQ(string_at(*problem, "reason"), "record_limit_exceeded");
    EXPECT_EQ(seen().requests.size(), before);

    // A new export (no token) starts a new count.
    const response fresh = send_to(proxy_.port(), delivery(partner_key, "carrier"));
    EXPECT_EQ(fresh.status, 200u);
    EXPECT_TRUE(fresh.complete);
}

// A volume alert with on-anomaly="refuse" holds the grant on every replica sharing the store until
// an operator clears it through the admin API; the alert and the clearing are audited.
TEST_F(QuotaFixture, AVolumeAlertHoldsTheGrantOnEveryReplicaUntilCleared) {
    ASSERT_TRUE(redis_server::available());
    ASSERT_TRUE(redis_.start(dir_));
    vendor_policy_options o;
    o.edits = {{R"(<grant purpose="delivery" destinations="warehouse carrier"/>)",
                R"(<grant purpose="delivery" destinations="warehouse carrier" volume-ceiling="3" on-anomaly="refuse"/>)"}};
    o.network = "  <quota-store url=\"" + redis_.url() + "\"/>\n";
    ASSERT_TRUE(start(o));
    ASSERT_TRUE(start_replica());
    const std::vector<contact> records = two_customers();
    ASSERT_TRUE(stage_contacts(records));
    // 2 records: within the ceiling; 4 in the hour: above it — the alert holds the grant.
    ASSERT_EQ(send_to(proxy_.port(), delivery(erp_key, "warehouse")).status, 200u);
    const response crossing = send_to(replica_.port(), delivery(erp_key, "warehouse"));
    ASSERT_EQ(crossing.status, 200u) << "the export that crosses is delivered; the next ones are held";
    EXPECT_TRUE(crossing.complete);
    // The hold is set once the crossing export's end is counted (after its response): poll.
    response held;
    ASSERT_TRUE(poll_until([&] {
        held = send_to(proxy_.port(), delivery(erp_key, "warehouse"));
        return held.status == 403u;
    })) << held.status << " " << held.body;
    auto problem = problem_of(held);
    ASSERT_TRUE(problem.has_value()) << held.body;
    EXPECT_EQ(string_at(*problem, "reason"), "volume_anomaly");
    const response held2 = send_to(replica_.port(), delivery(erp_key, "warehouse"));
    EXPECT_EQ(held2.status, 403u) << "the hold is shared by the replicas";
    // Another grant is not held.
    EXPECT_EQ(send_to(proxy_.port(), delivery(partner_key, "carrier")).status, 200u);

    const response cleared =
        fetch(proxy_.admin_port(),
              "POST /admin/volume-holds/clear?client=erp&purpose=delivery HTTP/1.1\r\nHost: a\r\n"
              "Content-Length: 0\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(cleared.status, 200u) << cleared.body;
    const response again = send_to(replica_.port(), delivery(erp_key, "warehouse"));
    EXPECT_EQ(again.status, 200u) << again.body;

    // The trail holds the alert and its clearing.
    auto trail = read_file(dir_.file("audit.jsonl")).value_or("") +
                 read_file(replica_dir_.file("audit.jsonl")).value_or("");
    EXPECT_NE(trail.find("\"decision\":\"volume_alert\""), std::string::npos);
    EXPECT_NE(trail.find("\"decision\":\"volume_alert_cleared\""), std::string::npos);
}

// Without <quota-store>, the in-process store counts: the pages of one export on this replica.
class PagedExport : public enforce_fixture {};

TEST_F(PagedExport, MaxRecordsHoldsAcrossPagesWithoutAQuotaStore) {
    ASSERT_TRUE(start());
    const auto p = marker_prefix();
    const std::vector<contact> records{marker_contact(p, 1, "customer"),
                                       marker_contact(p, 2, "customer")};
    ASSERT_TRUE(stage("/api/data/v9.2/contacts", "application/json",
                      render(vendor_shape::dataverse, records, crm_origin())));
    export_request r;
    r.target = "/api/data/v9.2/contacts?$select=id,first_name";
    r.api_key = std::string(partner_key);  // max-records 2
    r.purpose = "delivery";
    r.destination = "carrier";
    const response page1 = send(r);
    ASSERT_EQ(page1.status, 200u) << page1.body;
    ASSERT_TRUE(page1.complete);
    auto doc = boost::json::parse(page1.body).as_object();
    ASSERT_TRUE(doc.contains("@odata.nextLink")) << page1.body;
    const std::string next(doc.at("@odata.nextLink").as_string());
    r.target = next.substr(next.find("/api/"));
    const std::size_t before = seen().requests.size();
    const response page2 = send(r);
    ASSERT_TRUE(page2.received);
    EXPECT_EQ(page2.status, 403u) << page2.body;
    auto problem = problem_of(page2);
    ASSERT_TRUE(problem.has_value()) << page2.body;
    EXPECT_EQ(string_at(*problem, "reason"), "record_limit_exceeded");
    EXPECT_EQ(seen().requests.size(), before) << "a page beyond max-records reached the CRM";
    auto audit = audit_record(page2.header("X-Export-Audit-Id").value_or(""));
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(string_at(*audit, "decision"), "blocked");
}

}  // namespace
}  // namespace exportwall::itest
