// export_case against the shipped example policy: decisions, upstream targets, response plans,
// filtering (with gzip), link rewriting, monitor mode and the audit record.

#include "proxy/enforce/enforcement.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "config/loader.hpp"

namespace exportwall::proxy {
namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::shared_ptr<const config::configuration> example(std::string_view mode = "enforce") {
    std::string dir = std::string(EXPORTWALL_SOURCE_DIR) + "/config/examples";
    std::string text = read_file(dir + "/belgian-retailer.xml");
    if (mode != "enforce") {
        auto at = text.find("mode=\"enforce\"");
        text.replace(at, 14, "mode=\"" + std::string(mode) + "\"");
    }
    auto r = config::load_configuration_text(text, "belgian-retailer.xml", dir);
    EXPECT_TRUE(r) << (r.errors.empty() ? "" : r.errors.front().str());
    if (!r) return nullptr;
    for (const auto& l : r.config->rules.suppression_lists) {
        l.entries->load(read_file(l.file));
    }
    return r.config;
}

const config::route& route(const config::configuration& c, std::string_view id) {
    for (const auto& r : c.net.routes)
        if (r.id == id) return r;
    throw std::runtime_error("no route");
}

struct request {
    std::string path = "/api/data/v9.2/contacts";
    std::string query;
    std::vector<std::pair<std::string, std::string>> fields;

    normalised_target target() const {
        normalised_target t;
        t.path = path;
        t.query = query;
        t.has_query = !query.empty();
        return t;
    }
    std::vector<header_field> views() const {
        std::vector<header_field> v;
        for (const auto& [n, val] : fields) v.push_back({n, val});
        return v;
    }
};

request declared(std::string key, std::string purpose, std::string destination) {
    request r;
    r.fields = {{"Authorization", "Bearer " + key},
                {"X-Export-Purpose", purpose},
                {"X-Export-Destination", destination}};
    return r;
}

export_case make_case(const std::shared_ptr<const config::configuration>& cfg, const request& r,
                      std::string_view route_id = "dataverse-contacts") {
    auto fields = r.views();
    return export_case(cfg, route(*cfg, route_id), "GET", r.target(), fields, peer_identity{},
                       "127.0.0.1:40000");
}

const std::string odata_body =
    R"({"@odata.context":"x","value":[)"
    R"({"id":"1","lifecycle":"customer","first_name":"Ann","email":"ann@example.be","iban":"BE1","vat_number":"BE0","consent":{"email":true}},)"
    R"({"id":"2","lifecycle":"lead","first_name":"Bob","email":"bob@example.be","iban":"BE2"})"
    R"(],"@odata.nextLink":"http://127.0.0.1:8081/api/data/v9.2/contacts?$skiptoken=2"})";

std::vector<header_field> json_head(std::string_view encoding = {}) {
    std::vector<header_field> f{{"Content-Type", "application/json; odata.metadata=minimal"},
                                {"Content-Length", "123"}};
    if (!encoding.empty()) f.push_back({"Content-Encoding", encoding});
    return f;
}

std::string run_body(export_case& c, std::string_view body, boost::system::error_code& ec) {
    std::string out;
    for (std::size_t i = 0; i < body.size() && !ec; i += 7)
        ec = c.transform(body.substr(i, 7), out);
    if (!ec) ec = c.finish(out);
    return out;
}

TEST(ExportCase, InvoicingStripsIbanUpstreamAndInTheBody) {
    auto cfg = example();
    ASSERT_TRUE(cfg);
    auto r = declared("erp-demo-key", "invoicing", "billing");
    r.query = "$select=email,iban&$top=10";
    auto c = make_case(cfg, r);
    ASSERT_FALSE(c.refused()) << c.refusal_detail();
    const auto& up = *cfg->net.find_upstream("crm");
    auto target = c.upstream_target(up);
    EXPECT_NE(target.find("$select="), std::string::npos) << target;
    EXPECT_EQ(target.find("iban"), std::string::npos) << target;
    EXPECT_NE(target.find("$top=10"), std::string::npos) << target;

    auto plan = c.plan_response(200, json_head(), up, "https://exports.example.com");
    EXPECT_EQ(plan.what, response_plan::action::filter);
    EXPECT_NE(std::find(plan.drop_fields.begin(), plan.drop_fields.end(), "content-length"),
              plan.drop_fields.end());
    bool stripped_header = false;
    for (const auto& [n, v] : plan.add_fields)
        if (n == "X-Export-Stripped-Fields") stripped_header = v == "iban";
    EXPECT_TRUE(stripped_header);

    boost::system::error_code ec;
    auto out = run_body(c, odata_body, ec);
    ASSERT_FALSE(ec) << ec.message();
    auto doc = boost::json::parse(out).as_object();
    auto& records = doc.at("value").as_array();
    ASSERT_EQ(records.size(), 1u);  // the lead is not a customer
    EXPECT_FALSE(records[0].as_object().contains("iban"));
    EXPECT_EQ(records[0].as_object().at("email").as_string(), "ann@example.be");
    // The CRM's paging token is sealed for this declaration (config/continuation.hpp).
    const std::string next(doc.at("@odata.nextLink").as_string());
    const std::string prefix = "https://exports.example.com/api/data/v9.2/contacts?$skiptoken=ew1.";
    ASSERT_EQ(next.substr(0, prefix.size()), prefix) << next;
    EXPECT_EQ(next.find("$skiptoken=2"), std::string::npos) << next;

    // Followed under the same declaration, the CRM gets its own token back; under another
    // purpose, or altered, or as the CRM wrote it, the link is refused before the CRM.
    auto follow = declared("erp-demo-key", "invoicing", "billing");
    follow.query = next.substr(next.find('?') + 1);
    auto again = make_case(cfg, follow);
    ASSERT_FALSE(again.refused()) << again.refusal_detail();
    EXPECT_NE(again.upstream_target(up).find("$skiptoken=2"), std::string::npos)
        << again.upstream_target(up);
    auto other = declared("erp-demo-key", "payment-reminder", "billing");
    other.query = follow.query;
    EXPECT_EQ(make_case(cfg, other).refusal_reason(), config::reason::continuation_invalid);
    auto altered = follow;
    altered.query.back() = altered.query.back() == 'A' ? 'B' : 'A';
    EXPECT_EQ(make_case(cfg, altered).refusal_reason(), config::reason::continuation_invalid);
    auto crm_token = follow;
    crm_token.query = "$select=email&$skiptoken=2";
    EXPECT_EQ(make_case(cfg, crm_token).refusal_reason(), config::reason::continuation_invalid);

    auto rec = c.audit_record(200, odata_body.size(), out.size());
    EXPECT_EQ(rec.decision, "filtered");
    EXPECT_EQ(rec.client, "erp");
    EXPECT_EQ(rec.purpose, "invoicing");
    EXPECT_EQ(rec.basis, "contract");
    EXPECT_EQ(rec.destination_kind, "internal");
    EXPECT_EQ(rec.records_in, 2u);
    EXPECT_EQ(rec.records_out, 1u);
    EXPECT_EQ(rec.records_dropped.at("subject_not_allowed"), 1u);
    EXPECT_EQ(rec.id, c.audit_id());
    EXPECT_EQ(rec.policy_revision, cfg->revision);
}

TEST(ExportCase, GzipBodyIsDecodedThenFiltered) {
    auto cfg = example();
    ASSERT_TRUE(cfg);
    auto c = make_case(cfg, declared("erp-demo-key", "invoicing", "billing"));
    z_stream z{};
    ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string gz(4096, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(odata_body.data()));
    z.avail_in = static_cast<uInt>(odata_body.size());
    z.next_out = reinterpret_cast<Bytef*>(gz.data());
    z.avail_out = static_cast<uInt>(gz.size());
    ASSERT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    gz.resize(z.total_out);
    deflateEnd(&z);
    auto plan = c.plan_response(200, json_head("gzip"), *cfg->net.find_upstream("crm"), "");
    ASSERT_EQ(plan.what, response_plan::action::filter);
    EXPECT_NE(std::find(plan.drop_fields.begin(), plan.drop_fields.end(), "content-encoding"),
              plan.drop_fields.end());
    boost::system::error_code ec;
    auto out = run_body(c, gz, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(out.find("BE1"), std::string::npos);
    EXPECT_NE(out.find("ann@example.be"), std::string::npos);
    // Without a public URL, the next link becomes path-absolute on exportwall (token sealed).
    EXPECT_NE(out.find(R"("/api/data/v9.2/contacts?$skiptoken=ew1.)"), std::string::npos) << out;
}

TEST(ExportCase, RefusesWhatTheLawDoesNotCover) {
    auto cfg = example();
    ASSERT_TRUE(cfg);
    struct expectation {
        request r;
        std::string_view reason;
        unsigned status;
    };
    request no_key;
    no_key.fields = {{"X-Export-Purpose", "invoicing"}, {"X-Export-Destination", "billing"}};
    request basic = declared("erp-demo-key", "invoicing", "billing");
    basic.fields[0].second = "Basic ZXJwOmVycA==";
    request twice = declared("erp-demo-key", "invoicing", "billing");
    twice.fields.emplace_back("x-export-purpose", "delivery");
    request two_keys = declared("erp-demo-key", "invoicing", "billing");
    two_keys.fields.emplace_back("Authorization", "Bearer erp-demo-key");
    std::vector<expectation> cases{
        {no_key, "unauthenticated", 401},
        {basic, "unauthenticated", 401},
        {two_keys, "unauthenticated", 401},
        {declared("wrong-key", "invoicing", "billing"), "unauthenticated", 401},
        {twice, "declaration_invalid", 400},
        {declared("marketing-demo-key", "promotion-email", "partner-leads"),
         "third_party_direct_marketing", 403},
        {declared("marketing-demo-key", "promotion-email", "partner-crm"),
         "third_party_direct_marketing", 403},
        {declared("erp-demo-key", "promotion-email", "newsletter"), "purpose_not_granted", 403},
        {declared("erp-demo-key", "delivery", "accountant"),
         "destination_not_permitted_for_purpose", 403},
        {declared("erp-demo-key", "sell-the-list", "billing"), "purpose_unknown", 403},
    };
    for (const auto& e : cases) {
        auto c = make_case(cfg, e.r);
        EXPECT_TRUE(c.refused()) << e.reason;
        EXPECT_EQ(config::to_string(c.refusal_reason()), e.reason);
        EXPECT_EQ(c.refusal_status(), e.status) << e.reason;
        auto rec =
            c.audit_record(audit::decision::blocked, c.refusal_reason(), c.refusal_status(), 0, 0);
        EXPECT_EQ(rec.decision, "blocked");
        EXPECT_EQ(rec.reason, e.reason);
        EXPECT_EQ(rec.records_out, 0u);
    }
}

TEST(ExportCase, ReplacesCrmErrorsAndUnreadableBodies) {
    auto cfg = example();
    ASSERT_TRUE(cfg);
    const auto& up = *cfg->net.find_upstream("crm");
    {
        auto c = make_case(cfg, declared("erp-demo-key", "invoicing", "billing"));
        auto plan = c.plan_response(500, json_head(), up, "");
        EXPECT_EQ(plan.what, response_plan::action::replace);
        EXPECT_EQ(plan.status, 500u);
        EXPECT_EQ(plan.reason, config::reason::upstream_error);
    }
    {
        auto c = make_case(cfg, declared("erp-demo-key", "invoicing", "billing"));
        std::vector<header_field> html{{"Content-Type", "text/html"}};
        auto plan = c.plan_response(200, html, up, "");
        EXPECT_EQ(plan.what, response_plan::action::replace);
        EXPECT_EQ(plan.status, 502u);
        EXPECT_EQ(plan.reason, config::reason::upstream_unsupported);
    }
    {
        auto c = make_case(cfg, declared("erp-demo-key", "invoicing", "billing"));
        auto plan = c.plan_response(200, json_head("br"), up, "");
        EXPECT_EQ(plan.what, response_plan::action::replace);
        EXPECT_EQ(plan.reason, config::reason::upstream_unsupported);
    }
    {
        // Malformed body: the transform fails; the reason is upstream_malformed.
        auto c = make_case(cfg, declared("erp-demo-key", "invoicing", "billing"));
        auto plan = c.plan_response(200, json_head(), up, "");
        ASSERT_EQ(plan.what, response_plan::action::filter);
        boost::system::error_code ec;
        (void)run_body(c, R"({"value":[{"id":"1",}]})", ec);
        ASSERT_TRUE(ec);
        EXPECT_EQ(export_case::reason_for(ec), abort_reason::upstream_malformed);
    }
}

TEST(ExportCase, PromotionDropsTheSuppressedAndTheUnconsenting) {
    auto cfg = example();
    ASSERT_TRUE(cfg);
    auto suppressed =
        read_file(std::string(EXPORTWALL_SOURCE_DIR) + "/config/examples/do-not-contact.txt");
    std::string blocked_email;
    std::istringstream lines(suppressed);
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty() && line[0] != '#' && line.find('@') != std::string::npos) {
            blocked_email = line;
            break;
        }
    }
    ASSERT_FALSE(blocked_email.empty());
    auto c = make_case(cfg, declared("marketing-demo-key", "promotion-email", "newsletter"));
    ASSERT_FALSE(c.refused()) << c.refusal_detail();
    auto plan = c.plan_response(200, json_head(), *cfg->net.find_upstream("crm"), "");
    ASSERT_EQ(plan.what, response_plan::action::filter);
    std::string body =
        R"({"value":[)"
        R"({"id":"1","lifecycle":"customer","first_name":"A","email":"a@example.be","consent":{"email":true},"objection":{"direct_marketing":false}},)"
        R"({"id":"2","lifecycle":"customer","first_name":"B","email":"b@example.be","consent":{"email":false}},)"
        R"({"id":"3","lifecycle":"customer","first_name":"C","email":"c@example.be","consent":{"email":true},"objection":{"direct_marketing":true}},)"
        R"({"id":"4","lifecycle":"customer","first_name":"D","email":")" +
        blocked_email +
        R"(","consent":{"email":true},"objection":{"direct_marketing":false}},)"
        // No objection field at all: the rule cannot be read, so the record stays out.
        R"({"id":"5","lifecycle":"customer","first_name":"E","email":"e@example.be","consent":{"email":true}},)"
        // An objection the filter cannot read as a scalar ({"value": true}) is not a "no".
        R"({"id":"6","lifecycle":"customer","first_name":"F","email":"f@example.be","consent":{"email":true},"objection":{"direct_marketing":{"value":true}}})"
        R"(]})";
    boost::system::error_code ec;
    auto out = run_body(c, body, ec);
    ASSERT_FALSE(ec) << ec.message();
    auto rec = c.audit_record(200, body.size(), out.size());
    EXPECT_EQ(rec.records_out, 1u);
    EXPECT_EQ(rec.records_dropped.at("no_consent"), 1u);
    EXPECT_EQ(rec.records_dropped.at("objected"), 1u);
    EXPECT_EQ(rec.records_dropped.at("suppressed"), 1u);
    EXPECT_EQ(rec.records_dropped.at("condition_unreadable"), 2u);
    EXPECT_EQ(out.find(blocked_email), std::string::npos);
    EXPECT_EQ(out.find("e@example.be"), std::string::npos);
    EXPECT_EQ(out.find("f@example.be"), std::string::npos);
}

TEST(ExportCase, MonitorModeIsRefusedAtLoad) {
    std::string dir = std::string(EXPORTWALL_SOURCE_DIR) + "/config/examples";
    std::string text = read_file(dir + "/belgian-retailer.xml");
    text.replace(text.find("mode=\"enforce\""), 14, "mode=\"monitor\"");
    auto r = config::load_configuration_text(text, "belgian-retailer.xml", dir);
    ASSERT_FALSE(r);
    EXPECT_NE(r.errors.front().str().find("<shadow file="), std::string::npos)
        << r.errors.front().str();
}

TEST(ExportCase, ShadowPolicyDecidesBesideAndOnlyTheAuditRecordSaysSo) {
    std::string dir = std::string(EXPORTWALL_SOURCE_DIR) + "/config/examples";
    std::string text = read_file(dir + "/belgian-retailer.xml");
    // The candidate no longer grants invoicing to the ERP.
    std::string candidate = text;
    candidate.replace(candidate.find("<grant purpose=\"invoicing\" destinations=\"billing\"/>"),
                      std::string_view("<grant purpose=\"invoicing\" destinations=\"billing\"/>").size(),
                      "");
    const std::string candidate_file = ::testing::TempDir() + "/candidate-belgian.xml";
    {
        std::ofstream out(candidate_file);
        out << candidate;
    }
    text.replace(text.find("  <upstream id="), 0, "  <shadow file=\"" + candidate_file + "\"/>\n");
    auto r = config::load_configuration_text(text, "belgian-retailer.xml", dir);
    ASSERT_TRUE(r) << r.errors.front().str();
    for (const auto& l : r.config->rules.suppression_lists) l.entries->load(read_file(l.file));
    for (const auto& l : r.config->shadow->suppression_lists) l.entries->load(read_file(l.file));
    auto c = make_case(r.config, declared("erp-demo-key", "invoicing", "billing"));
    EXPECT_FALSE(c.refused()) << "the enforced policy decides";
    auto rec = c.audit_record(200, 10, 10);
    EXPECT_EQ(rec.shadow_decision, "blocked");
    EXPECT_EQ(rec.shadow_reason, "purpose_not_granted");
}

TEST(ExportCase, RecordsUnderAnotherNameNeverPass) {
    auto cfg = example();
    ASSERT_TRUE(cfg);
    auto c = make_case(cfg, declared("erp-demo-key", "invoicing", "billing"));
    auto plan = c.plan_response(200, json_head(), *cfg->net.find_upstream("crm"), "");
    ASSERT_EQ(plan.what, response_plan::action::filter);
    // An API version that moved its records from "value" to "items".
    const std::string moved =
        R"({"@odata.context":"x","items":[{"id":"1","iban":"BE1","email":"ann@example.be"}]})";
    boost::system::error_code ec;
    auto out = run_body(c, moved, ec);
    ASSERT_TRUE(ec);
    EXPECT_EQ(export_case::reason_for(ec), abort_reason::upstream_malformed);
    EXPECT_EQ(out.find("BE1"), std::string::npos);
    EXPECT_EQ(out.find("ann@example.be"), std::string::npos);
}

TEST(BearerKey, HashesOnlyBearerCredentials) {
    EXPECT_EQ(bearer_key_sha256("Bearer erp-demo-key"),
              "044d2580ae53c08fa6edf6c97b2aff8cc4af0707f135db0b5cc522c55cd63817");
    EXPECT_EQ(bearer_key_sha256("bearer   erp-demo-key "),
              "044d2580ae53c08fa6edf6c97b2aff8cc4af0707f135db0b5cc522c55cd63817");
    EXPECT_EQ(bearer_key_sha256("Basic abc"), "");
    EXPECT_EQ(bearer_key_sha256("Bearer"), "");
    EXPECT_EQ(bearer_key_sha256("Bearer "), "");
}

}  // namespace
}  // namespace exportwall::proxy
