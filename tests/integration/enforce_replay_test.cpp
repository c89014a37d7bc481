// What if (issue 18, item 4): exports recorded through the real binary, then `exportwall audit
// replay --config NEW` with a policy that removed a grant and a field. The removed grant's export
// shows as newly refused with its reason, the removed field as newly stripped, an equal policy
// changes nothing (exit 0), and a trail whose chain is broken is replayed only with
// --ignore-chain.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/enforce_fixture.hpp"

namespace exportwall::itest {
namespace {

constexpr std::string_view dataverse = "/api/data/v9.2/contacts";

class EnforceReplay : public enforce_fixture {
  protected:
    // Two allowed exports and one blocked one.
    void record_exports() {
        const std::string p = marker_prefix();
        ASSERT_TRUE(stage(
            dataverse, "application/json",
            render(vendor_shape::dataverse, {marker_contact(p, 1, "customer")}, crm_origin())));
        auto send_one = [&](std::string_view key, const char* purpose, const char* destination,
                            std::string target) {
            export_request r;
            r.target = std::move(target);
            r.api_key = std::string(key);
            r.purpose = purpose;
            r.destination = destination;
            const response resp = send(r);
            const std::string id =
                resp.header("X-Export-Audit-Id")
                    .value_or(problem_of(resp) ? string_at(*problem_of(resp), "audit_id") : "");
            EXPECT_TRUE(audit_record(id).has_value());
            return id;
        };
        marketing_id_ = send_one(marketing_key, "promotion-email", "newsletter",
                                 std::string(dataverse) + "?$select=id,first_name,email");
        delivery_id_ = send_one(erp_key, "delivery", "warehouse",
                                std::string(dataverse) + "?$select=first_name,phone");
        blocked_id_ =
            send_one(marketing_key, "promotion-email", "partner-crm", std::string(dataverse));
    }

    // The configuration with every (from, to) replacement, written as `name`.
    std::string edited(const std::string& name,
                       const std::vector<std::pair<std::string, std::string>>& edits) {
        std::string text = config_;
        for (const auto& [from, to] : edits) {
            const auto at = text.find(from);
            EXPECT_NE(at, std::string::npos) << from;
            if (at != std::string::npos) text.replace(at, from.size(), to);
        }
        std::ofstream(dir_.file(name)) << text;
        return dir_.file(name);
    }

    std::pair<int, boost::json::object> replay(const std::vector<std::string>& extra) {
        std::vector<std::string> args{"audit", "replay", "--format",
                                      "json",  "--log",  dir_.file("audit.jsonl")};
        args.insert(args.end(), extra.begin(), extra.end());
        auto [out, status] = run_exportwall_status(args);
        output_ = out;
        boost::json::object doc;
        const auto at = out.find("{\"revision\"");
        if (at != std::string::npos) {
            boost::system::error_code ec;
            auto v = boost::json::parse(out.substr(at, out.find('\n', at) - at), ec);
            if (!ec && v.is_object()) doc = v.as_object();
        }
        return {status, doc};
    }

    std::string marketing_id_, delivery_id_, blocked_id_, output_;
};

TEST_F(EnforceReplay, ARemovedGrantIsNewlyRefusedAndARemovedFieldNewlyStripped) {
    ASSERT_TRUE(start());
    record_exports();
    const std::string next = edited(
        "next.xml",
        {{R"(<grant purpose="promotion-email" destinations="newsletter" max-records="20000"/>)",
          ""},
         {R"(<fields entity="contact">id first_name last_name phone address.city Account__r.Name</fields>)",
          R"(<fields entity="contact">id first_name last_name address.city Account__r.Name</fields>)"}});
    auto [status, doc] = replay({"--config", next});
    ASSERT_EQ(status, 1) << output_;
    ASSERT_TRUE(doc.contains("changes")) << output_;
    EXPECT_TRUE(doc.at("chain_intact").as_bool());
    EXPECT_EQ(doc.at("newly_refused").as_int64(), 1);
    EXPECT_EQ(doc.at("with_fields_newly_stripped").as_int64(), 1);
    EXPECT_GE(doc.at("replayed").as_int64(), 3);
    bool saw_refused = false, saw_stripped = false;
    for (const auto& c : doc.at("changes").as_array()) {
        const auto& o = c.as_object();
        const std::string id(o.at("audit_id").as_string());
        EXPECT_NE(id, blocked_id_) << "refused before and after: no change";
        if (id == marketing_id_) {
            saw_refused = true;
            EXPECT_EQ(o.at("replayed").as_string(), "refused");
            EXPECT_EQ(o.at("reason").as_string(), "purpose_not_granted");
        }
        if (id == delivery_id_) {
            saw_stripped = true;
            EXPECT_EQ(o.at("replayed").as_string(), "allowed");
            ASSERT_EQ(o.at("newly_stripped").as_array().size(), 1U);
            EXPECT_EQ(o.at("newly_stripped").as_array()[0].as_string(), "phone");
        }
    }
    EXPECT_TRUE(saw_refused);
    EXPECT_TRUE(saw_stripped);

    // The text form says the same in words.
    auto [text, text_status] =
        run_exportwall_status({"audit", "replay", "--config", next, dir_.file("audit.jsonl")});
    EXPECT_EQ(text_status, 1);
    EXPECT_NE(text.find("newly refused: purpose_not_granted"), std::string::npos) << text;
    EXPECT_NE(text.find("fields newly stripped: phone"), std::string::npos) << text;
}

TEST_F(EnforceReplay, TheSamePolicyChangesNothing) {
    ASSERT_TRUE(start());
    record_exports();
    auto [status, doc] = replay({"--config", dir_.file("exportwall.xml")});
    EXPECT_EQ(status, 0) << output_;
    EXPECT_EQ(doc.at("changed").as_int64(), 0);
}

TEST_F(EnforceReplay, AGrantedFieldIsNewlyExposedAndARefusalNewlyAllowed) {
    ASSERT_TRUE(start());
    record_exports();
    // delivery may now read iban, and the marketing tool may send to partner-crm… which R10
    // forbids whatever the grant: still refused. Asking for iban under the old policy stripped it.
    export_request r;
    r.target = std::string(dataverse) + "?$select=first_name,iban";
    r.api_key = std::string(erp_key);
    r.purpose = "delivery";
    r.destination = "warehouse";
    const response resp = send(r);
    ASSERT_EQ(resp.status, 200);
    const std::string iban_id = resp.header("X-Export-Audit-Id").value_or("");
    ASSERT_TRUE(audit_record(iban_id).has_value());
    const std::string next = edited(
        "next.xml",
        {{R"(<fields entity="contact">id first_name last_name phone address.city Account__r.Name</fields>)",
          R"(<fields entity="contact">id first_name last_name phone iban address.city Account__r.Name</fields>)"}});
    auto [status, doc] = replay({"--config", next});
    ASSERT_EQ(status, 1) << output_;
    EXPECT_EQ(doc.at("with_fields_newly_exposed").as_int64(), 1) << output_;
    EXPECT_EQ(doc.at("newly_allowed").as_int64(), 0);
}

TEST_F(EnforceReplay, ABrokenChainIsReplayedOnlyWhenAskedTo) {
    ASSERT_TRUE(start());
    record_exports();
    proxy_.process().stop();
    // Edit one recorded decision: the chain no longer verifies.
    std::string trail = read_file(dir_.file("audit.jsonl")).value_or("");
    const auto at = trail.find("\"decision\":\"blocked\"");
    ASSERT_NE(at, std::string::npos);
    trail.replace(at, 20, "\"decision\":\"allowed\"");
    std::ofstream(dir_.file("audit.jsonl"), std::ios::trunc) << trail;

    auto [status, doc] = replay({"--config", dir_.file("exportwall.xml")});
    EXPECT_EQ(status, 1);
    EXPECT_NE(output_.find("chain broken"), std::string::npos) << output_;
    EXPECT_FALSE(doc.contains("changes"));

    auto [again, doc2] = replay({"--config", dir_.file("exportwall.xml"), "--ignore-chain"});
    EXPECT_EQ(again, 1) << output_;
    ASSERT_TRUE(doc2.contains("chain_intact")) << output_;
    EXPECT_FALSE(doc2.at("chain_intact").as_bool());
    // The edited record now claims the refused export was allowed: replayed, it is refused.
    EXPECT_EQ(doc2.at("newly_refused").as_int64(), 1) << output_;
}

}  // namespace
}  // namespace exportwall::itest
