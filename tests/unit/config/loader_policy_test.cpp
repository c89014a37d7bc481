// The policy loader: a compliant policy loads and compiles; every syntax problem is reported as
// file:line:col with the exact position of the element or attribute.

#include <gtest/gtest.h>

#include "config/policy_loader.hpp"
#include "tests/unit/config/policy_test_support.hpp"

namespace exportwall::config {
namespace {

using testing::base_policy;
using testing::document;
using testing::errors_of;
using testing::has_error;
using testing::load;
using testing::where;

std::string with(std::string text, std::string_view from, std::string_view to) {
    auto pos = text.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) text.replace(pos, from.size(), to);
    return text;
}

TEST(PolicyLoader, LoadsCompliantPolicy) {
    auto r = load(base_policy);
    ASSERT_TRUE(r) << errors_of(r);
    const auto& p = r.config->rules;
    EXPECT_EQ(p.entities.size(), 1u);
    EXPECT_EQ(p.purposes.size(), 5u);
    EXPECT_EQ(p.destinations.size(), 6u);
    EXPECT_EQ(p.clients.size(), 3u);
    ASSERT_NE(p.find_client("marketing"), nullptr);
    EXPECT_EQ(p.find_client("marketing")->client_mode, mode::enforce);
    EXPECT_EQ(p.suppression_lists.at(0).file, "/etc/exportwall/dnc.txt");
}

TEST(PolicyLoader, MarksSpecialCategoriesByPrefixAndFlag) {
    auto r = load(base_policy);
    ASSERT_TRUE(r) << errors_of(r);
    const entity* e = r.config->rules.find_entity("contact");
    ASSERT_NE(e, nullptr);
    EXPECT_TRUE(e->find_field("allergies")->special);
    EXPECT_TRUE(e->find_field("religion")->special);
    EXPECT_FALSE(e->find_field("email")->special);
}

// find_field() goes through the table index_fields() built at load: every catalogued field is
// found at its own entry, a name not in the catalogue is not, and a table older than the
// catalogue (fields renamed, added or removed after it was built) never gives a wrong answer.
TEST(PolicyLoader, FindsEveryCatalogueFieldThroughItsTableAndNothingElse) {
    auto r = load(base_policy);
    ASSERT_TRUE(r) << errors_of(r);
    entity e = *r.config->rules.find_entity("contact");
    ASSERT_FALSE(e.field_slots.empty());
    ASSERT_GE(e.fields.size(), 3u);
    for (const auto& f : e.fields) {
        const catalogue_field* found = e.find_field(f.path);
        ASSERT_NE(found, nullptr) << f.path;
        EXPECT_EQ(found, &f) << f.path;
    }
    for (std::string_view absent : {"", "emai", "email ", "Email", "x.email", "zzz", "allergies."})
        EXPECT_EQ(e.find_field(absent), nullptr) << absent;

    // Stale tables: the answers follow the catalogue, not the table.
    entity renamed = e;
    const std::string old_name = renamed.fields.back().path;
    renamed.fields.back().path = "zz_renamed";
    EXPECT_EQ(renamed.find_field(old_name), nullptr);
    ASSERT_NE(renamed.find_field("zz_renamed"), nullptr);
    EXPECT_EQ(renamed.find_field("zz_renamed")->path, "zz_renamed");
    entity shrunk = e;
    const std::string last = shrunk.fields.back().path;
    shrunk.fields.pop_back();
    EXPECT_EQ(shrunk.find_field(last), nullptr);
    for (const auto& f : shrunk.fields) EXPECT_EQ(shrunk.find_field(f.path), &f);
    entity grown = e;
    catalogue_field extra = grown.fields.back();
    extra.path = "zzz_added";
    grown.fields.push_back(extra);
    ASSERT_NE(grown.find_field("zzz_added"), nullptr);
    EXPECT_EQ(grown.find_field("zzz_added"), &grown.fields.back());
    entity unindexed = e;
    unindexed.field_slots.clear();
    for (const auto& f : unindexed.fields) EXPECT_EQ(unindexed.find_field(f.path), &f);
}

TEST(PolicyLoader, CompilesLegalConditionsFirstInOrder) {
    auto r = load(base_policy);
    ASSERT_TRUE(r) << errors_of(r);
    const purpose* p = r.config->rules.find_purpose("promotion");
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(p->views.size(), 1u);
    const auto& c = p->views[0].rules.conditions;
    ASSERT_EQ(c.size(), 4u);
    EXPECT_EQ(c[0].field, "lifecycle");
    EXPECT_EQ(c[0].reason, filters::drop_reason::subject_not_allowed);
    EXPECT_EQ(c[0].values, (std::vector<std::string>{"customer", "lead"}));
    EXPECT_EQ(c[1].field, "consent.email");
    EXPECT_EQ(c[1].reason, filters::drop_reason::no_consent);
    EXPECT_EQ(c[2].field, "objection.dm");
    // An objection passes only as an explicit "no": the record must show it has none.
    EXPECT_FALSE(c[2].exclude);
    EXPECT_EQ(c[2].op, filters::condition_op::is_no);
    EXPECT_EQ(c[2].reason, filters::drop_reason::objected);
    EXPECT_EQ(c[3].field, "address.city");
    EXPECT_EQ(c[3].reason, filters::drop_reason::condition);
    // The legal conditions fail closed on a missing or unreadable field; a custom one does not.
    EXPECT_TRUE(c[0].strict && c[1].strict && c[2].strict);
    EXPECT_FALSE(c[3].strict);
    EXPECT_TRUE(static_cast<bool>(p->views[0].rules.suppressed));
    // A list of {"value": …} objects (Pipedrive) is matched too.
    EXPECT_EQ(p->views[0].rules.suppression_fields,
              (std::vector<std::string>{"email", "email.value"}));

    const purpose* q = r.config->rules.find_purpose("quote");
    const auto& qc = q->views[0].rules.conditions;
    ASSERT_EQ(qc.size(), 2u);
    EXPECT_EQ(qc[0].reason, filters::drop_reason::subject_not_allowed);
    EXPECT_EQ(qc[0].values, (std::vector<std::string>{"lead"}));
    EXPECT_EQ(qc[1].field, "quote_requested");
    EXPECT_EQ(qc[1].reason, filters::drop_reason::no_request_evidence);
}

TEST(PolicyLoader, UnloadedSuppressionListSuppressesEveryoneUntilLoaded) {
    auto r = load(base_policy);
    ASSERT_TRUE(r) << errors_of(r);
    const auto& rules = r.config->rules.find_purpose("promotion")->views[0].rules;
    filters::record_fields rec;
    rec.add("lifecycle", "customer");
    rec.add("consent.email", "true");
    rec.add("objection.dm", "false");
    rec.add("email", "Someone@Example.com");
    EXPECT_EQ(filters::evaluate(rules, rec), filters::drop_reason::suppressed);
    r.config->rules.suppression_lists[0].entries->load("# list\nother@example.com\n");
    EXPECT_EQ(filters::evaluate(rules, rec), std::nullopt);
    r.config->rules.suppression_lists[0].entries->load("SOMEONE@example.COM\n");
    EXPECT_EQ(filters::evaluate(rules, rec), filters::drop_reason::suppressed);
}

TEST(PolicyLoader, PolicyElementsAreKnownToTheDocumentLoader) {
    for (auto name : {"entity", "purpose", "destination", "client", "suppression-list"})
        EXPECT_TRUE(is_policy_element(name)) << name;
    EXPECT_FALSE(is_policy_element("route"));
    EXPECT_FALSE(is_policy_element("purposes"));
}

TEST(PolicyLoader, RefusesUnknownAttributeAtItsPosition) {
    auto policy = with(base_policy, "<purpose id=\"survey\"", "<purpose id=\"survey\" basys=\"x\"");
    auto doc = document(policy);
    auto r = load(policy);
    ASSERT_FALSE(r);
    EXPECT_TRUE(has_error(r, where(doc, "basys=") + ": unknown attribute 'basys' on <purpose>"))
        << errors_of(r);
}

TEST(PolicyLoader, RefusesUnknownElementInsidePurpose) {
    auto policy = with(base_policy, "<fields entity=\"contact\">id email</fields>",
                       "<fields entity=\"contact\">id email</fields><feilds/>");
    auto doc = document(policy);
    auto r = load(policy);
    ASSERT_FALSE(r);
    EXPECT_TRUE(has_error(r, where(doc, "<feilds/>") + ": unknown element <feilds> in <purpose>"))
        << errors_of(r);
}

TEST(PolicyLoader, RefusesUnknownTopLevelElement) {
    auto policy = base_policy + "  <purposes/>\n";
    auto doc = document(policy);
    auto r = load(policy);
    ASSERT_FALSE(r);
    EXPECT_TRUE(has_error(r, where(doc, "<purposes/>") + ": unknown element <purposes>"))
        << errors_of(r);
}

TEST(PolicyLoader, RefusesBadEnumerationValues) {
    struct bad {
        std::string_view from, to, attr, message;
    };
    for (const auto& b : std::vector<bad>{
             {"basis=\"contract\" subjects=\"customer\" max",
              "basis=\"contrat\" subjects=\"customer\" max", "basis=\"contrat\"", "basis must be"},
             {"kind=\"internal\" country=\"BE\"/>\n  <destination id=\"sales\"",
              "kind=\"intern\" country=\"BE\"/>\n  <destination id=\"sales\"", "kind=\"intern\"",
              "kind must be"},
             {"country=\"FR\"", "country=\"fr\"", "country=\"fr\"", "country must be"},
             {"country=\"IE\"", "country=\"IE\" transfer-mechanism=\"hope\"",
              "transfer-mechanism=\"hope\"", "transfer-mechanism must be"},
             {"dpa-ref=\"DPA-1\"", "dpa-ref=\"DPA-1\" dpa-expires=\"2027-02-30\"",
              "dpa-expires=\"2027-02-30\"", "dpa-expires must be a date"},
             {"lia=\"LIA-7\"", "lia=\"LIA-7\" art9-condition=\"because\"",
              "art9-condition=\"because\"", "art9-condition must be"},
             {"<client id=\"partner\">", "<client id=\"partner\" jurisdiction=\"US\">",
              "jurisdiction=\"US\"", "jurisdiction must be"},
             {"consent-channel=\"email\"", "consent-channel=\"fax\"", "consent-channel=\"fax\"",
              "consent-channel must be"},
             {"channel=\"email\" consent-field", "channel=\"fax\" consent-field", "channel=\"fax\"",
              "channel must be"},
             {"subjects=\"customer prospect\"", "subjects=\"customer suspect\"",
              "subjects=\"customer suspect\"", "unknown subject 'suspect'"},
             {"mode=\"enforce\"", "mode=\"audit\"", "mode=\"audit\"", "mode must be"},
             // Monitor mode passed data unfiltered: refused, naming the shadow policy.
             {"mode=\"enforce\"", "mode=\"monitor\"", "mode=\"monitor\"",
              "mode=\"monitor\" passed unauthenticated requests and unfiltered data"},
             {"max-records=\"100\"", "max-records=\"-1\"", "max-records=\"-1\"",
              "attribute 'max-records' must be a positive integer"},
             {"match=\"email\"", "match=\"phone\"", "match=\"phone\"", "match must be"},
             {"special=\"true\"", "special=\"yes\"", "special=\"yes\"", "attribute 'special'"},
         }) {
        auto policy = with(base_policy, b.from, b.to);
        auto doc = document(policy);
        auto r = load(policy);
        ASSERT_FALSE(r) << b.to;
        EXPECT_TRUE(has_error(r, where(doc, b.attr) + ": " + std::string(b.message)))
            << b.to << "\n"
            << errors_of(r);
    }
}

TEST(PolicyLoader, RefusesMalformedKeyHash) {
    auto policy = with(base_policy, "sha256=\"PARTNER\"", "sha256=\"abc\"");
    auto doc = document(policy);
    auto r = load(policy);
    ASSERT_FALSE(r);
    EXPECT_TRUE(
        has_error(r, where(doc, "sha256=\"abc\"") + ": attribute 'sha256' must be a SHA-256"))
        << errors_of(r);
}

TEST(PolicyLoader, AcceptsFingerprintWithColonsAndUpperCase) {
    std::string fp;
    for (int i = 0; i < 32; ++i) fp += (i ? ":" : "") + std::string("AB");
    auto policy = with(base_policy, "<certificate subject=\"CN=marketing,O=Example\"/>",
                       "<certificate sha256=\"" + fp + "\"/>");
    auto r = load(policy);
    ASSERT_TRUE(r) << errors_of(r);
    std::string expected;
    for (int i = 0; i < 32; ++i) expected += "ab";
    EXPECT_EQ(r.config->rules.find_client("marketing")->certificate_sha256.at(0), expected);
}

TEST(PolicyLoader, ConditionNeedsExactlyOneTest) {
    auto policy = with(base_policy, "field=\"address.city\" equals=\"Nowhere\"",
                       "field=\"address.city\" equals=\"Nowhere\" not-empty=\"true\"");
    auto doc = document(policy);
    auto r = load(policy);
    ASSERT_FALSE(r);
    EXPECT_TRUE(has_error(r, where(doc, "<exclude") + ": <exclude> needs exactly one of"))
        << errors_of(r);
}

TEST(PolicyLoader, MissingRequiredAttributeIsReportedAtTheElement) {
    auto policy = with(base_policy, "data-use=\"functional.service.improve\" basis=\"legitimate-interest\"",
                       "data-use=\"functional.service.improve\"");
    auto doc = document(policy);
    auto r = load(policy);
    ASSERT_FALSE(r);
    EXPECT_TRUE(has_error(
        r, where(doc, "<purpose id=\"survey\"") + ": <purpose> needs the attribute 'basis'"))
        << errors_of(r);
}

TEST(PolicyLoader, DuplicateIdsAreRefused) {
    auto policy = base_policy + "  <destination id=\"billing\" kind=\"internal\" country=\"BE\"/>\n";
    auto doc = document(policy);
    auto r = load(policy);
    ASSERT_FALSE(r);
    auto first = doc.find("<destination id=\"billing\"");
    std::string masked = doc;
    masked[first] = '#';  // where() then finds the second occurrence
    EXPECT_TRUE(has_error(
        r, where(masked, "<destination id=\"billing\"") + ": duplicate destination id 'billing'"))
        << errors_of(r);
}

TEST(PolicyLoader, SameKeyForTwoClientsIsRefused) {
    auto policy = with(base_policy, "sha256=\"PARTNER\"", "sha256=\"MARKETING\"");
    auto r = load(policy);
    ASSERT_FALSE(r);
    EXPECT_NE(errors_of(r).find("client 'partner' reuses the api-key of client 'marketing'"),
              std::string::npos)
        << errors_of(r);
}

TEST(PolicyLoader, FieldsTextMustNameFields) {
    auto policy = with(base_policy, "<fields entity=\"contact\">id email</fields>",
                       "<fields entity=\"contact\">  </fields>");
    auto doc = document(policy);
    auto r = load(policy);
    ASSERT_FALSE(r);
    EXPECT_TRUE(
        has_error(r, where(doc, "<fields entity=\"contact\">  ") + ": <fields> lists no field"))
        << errors_of(r);
}

}  // namespace
}  // namespace exportwall::config
