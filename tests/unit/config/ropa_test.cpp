// The record of processing (config/ropa.hpp): built from the loaded policy, flows added from the
// audit trail's counts, rendered as one JSON document, RFC 4180 CSV and a self-contained page.

#include <gtest/gtest.h>

#include <algorithm>

#include <boost/json.hpp>

#include "config/ropa.hpp"
#include "tests/unit/config/policy_test_support.hpp"

namespace exportwall::config {
namespace {

const ropa_purpose* find(const record_of_processing& r, std::string_view id) {
    for (const auto& p : r.purposes)
        if (p.id == id) return &p;
    return nullptr;
}

const ropa_recipient* find(const ropa_purpose& p, std::string_view destination) {
    for (const auto& r : p.recipients)
        if (r.destination == destination) return &r;
    return nullptr;
}

std::vector<std::string> categories(const ropa_purpose& p) {
    std::vector<std::string> out;
    for (const auto& c : p.categories) out.push_back(c.category);
    return out;
}

std::vector<std::string> rule_ids(const ropa_purpose& p) {
    std::vector<std::string> out;
    for (const auto& r : p.rules) out.push_back(r.id);
    return out;
}

class RecordOfProcessing : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string policy = testing::base_policy;
        const std::string from = R"(<purpose id="invoicing" )";
        // The description holds characters every format must escape: Invoices, "paid" & <due>
        policy.replace(policy.find(from), from.size(),
                       R"(<purpose id="invoicing" retention="P7Y" )"
                       R"(description="Invoices, &quot;paid&quot; &amp; &lt;due&gt;" )");
        loaded_ = testing::load(policy);
        ASSERT_TRUE(loaded_) << testing::errors_of(loaded_);
        ropa_ = build_ropa(loaded_.config->rules, "test.xml", "abc123");
    }
    const policy& rules() const { return loaded_.config->rules; }

    load_result loaded_;
    record_of_processing ropa_;
};

TEST_F(RecordOfProcessing, ListsEveryPurposeWithItsBasisAndArticle) {
    ASSERT_EQ(ropa_.purposes.size(), rules().purposes.size());
    const auto* invoicing = find(ropa_, "invoicing");
    ASSERT_NE(invoicing, nullptr);
    EXPECT_EQ(invoicing->basis, "contract");
    EXPECT_EQ(invoicing->basis_article, "GDPR art. 6(1)(b)");
    EXPECT_EQ(invoicing->data_use, "essential.service.payment_processing");
    EXPECT_FALSE(invoicing->data_use_name.empty()) << "the fideslang name";
    EXPECT_EQ(invoicing->retention, "P7Y");
    EXPECT_EQ(invoicing->retention_words, "7 years");
    const auto* survey = find(ropa_, "survey");
    ASSERT_NE(survey, nullptr);
    EXPECT_EQ(survey->basis_article, "GDPR art. 6(1)(f)");
    ASSERT_FALSE(survey->references.empty());
    EXPECT_EQ(survey->references.front().kind, "lia");
    EXPECT_EQ(survey->references.front().value, "LIA-7");
    EXPECT_EQ(survey->retention, "") << "not declared";
    EXPECT_EQ(ropa_.revision, "abc123");
}

TEST_F(RecordOfProcessing, RecipientsAreTheGrantedDestinationsWithTheirClients) {
    const auto* invoicing = find(ropa_, "invoicing");
    ASSERT_NE(invoicing, nullptr);
    ASSERT_EQ(invoicing->recipients.size(), 2u);
    const auto* carrier = find(*invoicing, "carrier");
    ASSERT_NE(carrier, nullptr);
    EXPECT_EQ(carrier->kind, "processor");
    EXPECT_EQ(carrier->dpa_ref, "DPA-1");
    EXPECT_EQ(carrier->country, "BE");
    EXPECT_FALSE(carrier->outside_eea);
    EXPECT_EQ(carrier->transfer_mechanism, "none");
    EXPECT_EQ(carrier->clients, (std::vector<std::string>{"erp"}));
    const auto* survey = find(ropa_, "survey");
    ASSERT_NE(survey, nullptr);
    EXPECT_EQ(survey->clients, (std::vector<std::string>{"erp", "partner"}));
    ASSERT_NE(find(*survey, "sales"), nullptr);
    EXPECT_EQ(find(*survey, "sales")->clients, (std::vector<std::string>{"partner"}));
}

TEST_F(RecordOfProcessing, CategoriesAreThoseOfTheKeptFieldsOnly) {
    const auto* invoicing = find(ropa_, "invoicing");
    ASSERT_NE(invoicing, nullptr);
    const auto c = categories(*invoicing);
    for (const char* kept : {"user.unique_id", "user.name.first", "user.contact.email",
                             "user.financial", "user.contact.address.city"})
        EXPECT_NE(std::find(c.begin(), c.end(), kept), c.end()) << kept;
    // The subject field is read by the conditions, never exported; the IBAN is not needed.
    for (const char* absent : {"user.account", "user.financial.bank_account"})
        EXPECT_EQ(std::find(c.begin(), c.end(), absent), c.end()) << absent;
    EXPECT_TRUE(std::is_sorted(c.begin(), c.end()));
    const auto& entities = invoicing->entities;
    ASSERT_EQ(entities.size(), 1u);
    EXPECT_EQ(entities[0].id, "contact");
    EXPECT_EQ(entities[0].describes, "people");
    EXPECT_EQ(invoicing->subjects, (std::vector<std::string>{"customer"}));
}

TEST_F(RecordOfProcessing, RulesFollowTheBasisTheUseAndTheRecipients) {
    const auto* promotion = find(ropa_, "promotion");
    ASSERT_NE(promotion, nullptr);
    EXPECT_EQ(rule_ids(*promotion),
              (std::vector<std::string>{"R7", "R8", "R9", "R13", "R15", "GDPR-28"}));
    const auto* invoicing = find(ropa_, "invoicing");
    ASSERT_NE(invoicing, nullptr);
    EXPECT_EQ(rule_ids(*invoicing), (std::vector<std::string>{"R1", "R15", "GDPR-28"}));
    const auto* quote = find(ropa_, "quote");
    ASSERT_NE(quote, nullptr);
    EXPECT_EQ(rule_ids(*quote), (std::vector<std::string>{"R5", "R15"}));
}

TEST_F(RecordOfProcessing, FlowsGiveQuietRecipientsZeroAndNameUngrantedOnes) {
    ropa_flow_table flows;
    flows[{"invoicing", "billing"}] = {3, 120};
    flows[{"invoicing", "sales"}] = {1, 5};  // no grant names sales for invoicing
    flows[{"retired-purpose", "billing"}] = {2, 9};
    add_flows(ropa_, rules(), flows, {"audit.jsonl", "2026-01-01", "", 42});
    ASSERT_TRUE(ropa_.period);
    EXPECT_EQ(ropa_.period->audit_records, 42u);
    const auto* invoicing = find(ropa_, "invoicing");
    ASSERT_NE(invoicing, nullptr);
    const auto* billing = find(*invoicing, "billing");
    ASSERT_NE(billing, nullptr);
    ASSERT_TRUE(billing->flow);
    EXPECT_EQ(billing->flow->exports, 3u);
    EXPECT_EQ(billing->flow->records, 120u);
    const auto* carrier = find(*invoicing, "carrier");
    ASSERT_NE(carrier, nullptr);
    ASSERT_TRUE(carrier->flow) << "a recipient nothing reached shows zero, not nothing";
    EXPECT_EQ(carrier->flow->exports, 0u);
    const auto* sales = find(*invoicing, "sales");
    ASSERT_NE(sales, nullptr);
    EXPECT_FALSE(sales->granted);
    EXPECT_EQ(sales->kind, "internal") << "described from the policy's destination";
    ASSERT_EQ(ropa_.unlisted_flows.size(), 1u);
    EXPECT_EQ(ropa_.unlisted_flows[0].purpose, "retired-purpose");
    EXPECT_EQ(ropa_.unlisted_flows[0].flow.records, 9u);
}

TEST_F(RecordOfProcessing, JsonIsOneDocumentWithStableMembers) {
    add_flows(ropa_, rules(), {{{"invoicing", "carrier"}, {2, 10}}}, {"audit.jsonl", "", "", 2});
    const auto v = boost::json::parse(render_ropa_json(ropa_));
    const auto& doc = v.as_object();
    EXPECT_EQ(doc.at("revision").as_string(), "abc123");
    EXPECT_EQ(doc.at("period").at("audit_records").as_int64(), 2);
    const auto& purposes = doc.at("purposes").as_array();
    ASSERT_EQ(purposes.size(), ropa_.purposes.size());
    const auto& invoicing = purposes[0].as_object();
    EXPECT_EQ(invoicing.at("id").as_string(), "invoicing");
    EXPECT_EQ(invoicing.at("description").as_string(), R"(Invoices, "paid" & <due>)");
    EXPECT_EQ(invoicing.at("retention").as_string(), "P7Y");
    EXPECT_TRUE(purposes[1].at("retention").is_null()) << "not declared";
    for (const char* member :
         {"data_use", "basis", "basis_article", "references", "rules", "data_subjects", "entities",
          "data_categories", "transforms", "clients", "recipients"})
        EXPECT_TRUE(invoicing.contains(member)) << member;
    bool seen = false;
    for (const auto& r : invoicing.at("recipients").as_array()) {
        if (r.at("destination").as_string() != "carrier") continue;
        seen = true;
        EXPECT_EQ(r.at("flow").at("exports").as_int64(), 2);
        EXPECT_EQ(r.at("flow").at("records").as_int64(), 10);
        EXPECT_EQ(r.at("dpa_ref").as_string(), "DPA-1");
    }
    EXPECT_TRUE(seen);
}

// Splits RFC 4180 text into records of fields (quoted fields may hold CRLF, commas and "").
std::vector<std::vector<std::string>> parse_csv(std::string_view text) {
    std::vector<std::vector<std::string>> rows(1);
    std::string field;
    bool quoted = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            rows.back().push_back(std::move(field));
            field.clear();
        } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
            rows.back().push_back(std::move(field));
            field.clear();
            rows.emplace_back();
            ++i;
        } else {
            field += c;
        }
    }
    if (rows.back().empty()) rows.pop_back();
    return rows;
}

TEST_F(RecordOfProcessing, CsvHasAHeaderAndOneRowPerPurposeAndRecipient) {
    const std::string csv = render_ropa_csv(ropa_);
    ASSERT_GE(csv.size(), 2u);
    EXPECT_EQ(csv.substr(csv.size() - 2), "\r\n");
    // Every line ends in CRLF: no bare LF outside a quoted field (none of these hold one).
    for (std::size_t i = 0; i < csv.size(); ++i) {
        if (csv[i] == '\n') {
            EXPECT_EQ(csv[i - 1], '\r') << "at " << i;
        }
    }
    const auto rows = parse_csv(csv);
    ASSERT_FALSE(rows.empty());
    const auto& header = rows[0];
    EXPECT_EQ(header[0], "purpose");
    EXPECT_EQ(std::count(header.begin(), header.end(), "exports"), 0) << "no period, no flows";
    std::size_t expected = 1;
    for (const auto& p : ropa_.purposes) expected += std::max<std::size_t>(1, p.recipients.size());
    ASSERT_EQ(rows.size(), expected);
    for (const auto& row : rows) EXPECT_EQ(row.size(), header.size());
    EXPECT_EQ(rows[1][0], "invoicing");
    EXPECT_EQ(rows[1][1], R"(Invoices, "paid" & <due>)") << "quoted and read back whole";
    EXPECT_EQ(rows[1][14], "P7Y (7 years)");

    add_flows(ropa_, rules(), {{{"invoicing", "carrier"}, {2, 10}}}, {"a.jsonl", "", "", 2});
    const auto with_flows = parse_csv(render_ropa_csv(ropa_));
    EXPECT_EQ(with_flows[0].back(), "records");
    for (const auto& row : with_flows) EXPECT_EQ(row.size(), with_flows[0].size());
}

TEST_F(RecordOfProcessing, HtmlIsSelfContainedAndEscaped) {
    const std::string html = render_ropa_html(ropa_);
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_NE(html.find("<style>"), std::string::npos);
    EXPECT_NE(html.find("Invoices, &quot;paid&quot; &amp; &lt;due&gt;"), std::string::npos);
    EXPECT_EQ(html.find("<due>"), std::string::npos) << "unescaped text";
    for (const char* external :
         {"<script", "<link", "src=", "http://", "https://", "@import", "url("})
        EXPECT_EQ(html.find(external), std::string::npos) << external;
    EXPECT_NE(html.find("@media print"), std::string::npos);
    EXPECT_NE(html.find("not declared"), std::string::npos) << "a purpose without retention";
}

TEST(RecordOfProcessingExample, EveryPurposeOfTheExampleDeclaresItsRetention) {
    auto r = load_configuration_file(std::string(EXPORTWALL_SOURCE_DIR) +
                                     "/config/examples/belgian-retailer.xml");
    ASSERT_TRUE(r) << testing::errors_of(r);
    const auto ropa = build_ropa(r.config->rules, "example", r.config->revision);
    ASSERT_EQ(ropa.purposes.size(), 11u);
    for (const auto& p : ropa.purposes) EXPECT_FALSE(p.retention.empty()) << p.id;
    const auto* delivery = find(ropa, "delivery");
    ASSERT_NE(delivery, nullptr);
    EXPECT_EQ(delivery->retention_words, "6 months");
    const auto* carrier = find(*delivery, "carrier");
    ASSERT_NE(carrier, nullptr);
    EXPECT_EQ(carrier->organisation, "ParcelNet BV");
    EXPECT_EQ(carrier->dpa_ref, "DPA-2024-011");
    EXPECT_EQ(carrier->clients, (std::vector<std::string>{"carrier-gateway", "erp"}));
    const auto* analytics = find(ropa, "sales-analytics");
    ASSERT_NE(analytics, nullptr);
    EXPECT_FALSE(analytics->transforms.empty()) << "the pseudonymised id, the truncated postcode";
}

}  // namespace
}  // namespace exportwall::config
