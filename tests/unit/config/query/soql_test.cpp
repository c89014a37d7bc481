// The SOQL guard: statements from the Salesforce SOQL reference re-serialised canonically, the
// field checks (selection stripped, reads refused, rule fields forced), the refusals of what the
// parser does not accept, the REST and SOAP wrappers, and a generated-statement property test.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "config/query/guard_support.hpp"
#include "config/query/soql.hpp"

namespace exportwall::config::query {
namespace {

using strings = std::vector<std::string>;

// Owns the field sets a field_policy points to.
class test_policy {
  public:
    test_policy(strings allowed, const strings& forbidden, strings rules, std::string object)
        : allowed_(allowed),
          catalogue_(with(allowed, forbidden)),
          rules_(std::move(rules)),
          object_(std::move(object)) {
        policy_.allowed = &allowed_;
        policy_.catalogue = &catalogue_;
        policy_.rule_fields = rules_;
        policy_.object_name = object_;
    }
    test_policy(const test_policy&) = delete;
    test_policy& operator=(const test_policy&) = delete;

    [[nodiscard]] const field_policy& get() const { return policy_; }

  private:
    static strings with(strings a, const strings& b) {
        a.insert(a.end(), b.begin(), b.end());
        return a;
    }

    filters::field_set allowed_;
    filters::field_set catalogue_;
    strings rules_;
    std::string object_;
    field_policy policy_;
};

const strings contact_allowed{"id",           "first_name",   "last_name", "email",   "lifecycle",
                              "Account.Name", "created_date", "amount",    "industry"};
const strings contact_forbidden{
    "iban", "birth_date", "consent.email", "objection.direct_marketing", "phone", "Account.iban"};
const strings contact_rules{"objection.direct_marketing", "email"};

const test_policy& contacts() {
    static const test_policy p(contact_allowed, contact_forbidden, {}, "Contact");
    return p;
}

const test_policy& contacts_with_rules() {
    static const test_policy p(contact_allowed, contact_forbidden, contact_rules, "Contact");
    return p;
}

const test_policy& accounts() {
    static const test_policy p({"Id", "Name", "Contacts.Id", "Contacts.LastName"},
                               {"Contacts.Email", "AnnualRevenue"}, {}, "Account");
    return p;
}

const test_policy& tasks() {
    static const test_policy p({"Id", "Subject", "What.Name", "What.Phone"}, {"What.Iban"}, {},
                               "Task");
    return p;
}

guarded_query soql(std::string_view statement, const test_policy& p = contacts()) {
    return guard_soql_statement(p.get(), statement, "q");
}

// Forwards `statement` and returns what would be sent.
std::string forwarded(std::string_view statement, const test_policy& p = contacts()) {
    auto q = soql(statement, p);
    EXPECT_TRUE(q.forwarded()) << statement << ": " << q.detail << " at " << q.position;
    return q.query;
}

void expect_unsupported(std::string_view statement, std::size_t position,
                        const test_policy& p = contacts()) {
    auto q = soql(statement, p);
    EXPECT_EQ(q.result, verdict::unsupported) << statement << " forwarded as " << q.query;
    EXPECT_EQ(q.parameter, "q");
    EXPECT_EQ(q.position, position) << statement << ": " << q.detail;
}

void expect_refused_field(std::string_view statement, std::string_view field, use how,
                          const test_policy& p = contacts()) {
    auto q = soql(statement, p);
    EXPECT_EQ(q.result, verdict::field_not_permitted) << statement << ": " << q.detail;
    EXPECT_EQ(q.field, field) << statement;
    EXPECT_EQ(q.field_use, how) << statement;
}

// --- The grammar, from the SOQL reference's examples ------------------------------------------

TEST(SoqlGuard, ForwardsAFilteredSelection) {
    auto q = soql("SELECT id, last_name FROM Contact WHERE last_name = 'Smith'");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "SELECT id, last_name FROM Contact WHERE last_name = 'Smith'");
    EXPECT_EQ(q.requested, (strings{"id", "last_name"}));
    EXPECT_EQ(q.kept, (strings{"id", "last_name"}));
    EXPECT_TRUE(q.stripped.empty());
}

TEST(SoqlGuard, ForwardsTheReferenceExampleOnSalesforceNames) {
    test_policy p({"Id", "Name", "LastName"}, {}, {}, "Contact");
    EXPECT_EQ(forwarded("SELECT Id, Name FROM Contact WHERE LastName = 'Smith'", p),
              "SELECT Id, Name FROM Contact WHERE LastName = 'Smith'");
}

TEST(SoqlGuard, WritesKeywordsInUpperCaseAndFieldsInCatalogueSpelling) {
    EXPECT_EQ(forwarded("select ID ,First_Name\n\tfrom contact where LAST_NAME like 'Sm%'"),
              "SELECT id, first_name FROM Contact WHERE last_name LIKE 'Sm%'");
}

TEST(SoqlGuard, ForwardsOrderByWithDirectionAndNulls) {
    EXPECT_EQ(forwarded("SELECT id FROM Contact ORDER BY last_name desc nulls last, first_name"),
              "SELECT id FROM Contact ORDER BY last_name DESC NULLS LAST, first_name");
    EXPECT_EQ(forwarded("SELECT id FROM Contact ORDER BY last_name NULLS FIRST"),
              "SELECT id FROM Contact ORDER BY last_name NULLS FIRST");
}

TEST(SoqlGuard, ForwardsInAndNotInLists) {
    EXPECT_EQ(forwarded("SELECT id FROM Contact WHERE lifecycle IN ('lead','customer') AND "
                        "industry NOT IN ( 'Banking' )"),
              "SELECT id FROM Contact WHERE lifecycle IN ('lead', 'customer') AND industry NOT "
              "IN ('Banking')");
}

TEST(SoqlGuard, ForwardsIncludesAndExcludes) {
    EXPECT_EQ(forwarded("SELECT id FROM Contact WHERE industry includes ('a;b', 'c') OR industry "
                        "EXCLUDES ('d')"),
              "SELECT id FROM Contact WHERE industry INCLUDES ('a;b', 'c') OR industry EXCLUDES "
              "('d')");
}

TEST(SoqlGuard, ForwardsDateLiterals) {
    EXPECT_EQ(forwarded("SELECT id FROM Contact WHERE created_date = last_n_days:30 OR "
                        "created_date = Today OR created_date > N_FISCAL_YEARS_AGO:2"),
              "SELECT id FROM Contact WHERE created_date = LAST_N_DAYS:30 OR created_date = "
              "TODAY OR created_date > N_FISCAL_YEARS_AGO:2");
}

TEST(SoqlGuard, RefusesADateLiteralWithoutItsCount) {
    expect_unsupported("SELECT id FROM Contact WHERE created_date = LAST_N_DAYS", 55);
    expect_unsupported("SELECT id FROM Contact WHERE created_date = TODAY:3", 49);
}

TEST(SoqlGuard, ForwardsDateAndDateTimeValues) {
    EXPECT_EQ(forwarded("SELECT id FROM Contact WHERE created_date >= 2024-01-31 AND created_date "
                        "< 2024-01-31T10:00:00Z AND created_date != 2024-02-01T00:00:00.000+01:00"),
              "SELECT id FROM Contact WHERE created_date >= 2024-01-31 AND created_date < "
              "2024-01-31T10:00:00Z AND created_date != 2024-02-01T00:00:00.000+01:00");
}

TEST(SoqlGuard, RefusesADateTimeWithoutTimeZone) {
    expect_unsupported("SELECT id FROM Contact WHERE created_date > 2024-01-31T10:00:00", 44);
}

TEST(SoqlGuard, ForwardsNumbersBooleansNullAndCurrency) {
    EXPECT_EQ(forwarded("SELECT id FROM Contact WHERE amount > -12.50 AND amount < usd5000.25 AND "
                        "amount <> NULL AND lifecycle = TRUE"),
              "SELECT id FROM Contact WHERE amount > -12.50 AND amount < USD5000.25 AND amount "
              "!= null AND lifecycle = true");
}

TEST(SoqlGuard, ForwardsLimitAndOffset) {
    EXPECT_EQ(forwarded("SELECT id FROM Contact ORDER BY id LIMIT 0010 OFFSET 20"),
              "SELECT id FROM Contact ORDER BY id LIMIT 10 OFFSET 20");
}

TEST(SoqlGuard, RefusesANegativeOrHugeLimit) {
    expect_unsupported("SELECT id FROM Contact LIMIT -1", 29);
    expect_unsupported("SELECT id FROM Contact LIMIT 99999999999", 29);
}

TEST(SoqlGuard, ForwardsUsingScopeAndWithSecurityEnforced) {
    EXPECT_EQ(forwarded("SELECT id FROM Contact USING SCOPE MINE WHERE id != null with "
                        "security_enforced"),
              "SELECT id FROM Contact USING SCOPE mine WHERE id != null WITH SECURITY_ENFORCED");
    EXPECT_EQ(forwarded("SELECT id FROM Contact WITH USER_MODE"),
              "SELECT id FROM Contact WITH USER_MODE");
}

TEST(SoqlGuard, ForwardsRelationshipPathsInCatalogueSpelling) {
    auto q = soql("SELECT id, account.name FROM Contact WHERE ACCOUNT.NAME LIKE 'Acme%'");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "SELECT id, Account.Name FROM Contact WHERE Account.Name LIKE 'Acme%'");
    EXPECT_EQ(q.kept, (strings{"id", "Account.Name"}));
}

TEST(SoqlGuard, ForwardsAChildRelationshipSubquery) {
    auto q = soql(
        "SELECT Name, (SELECT id, lastname FROM contacts WHERE LastName != null ORDER "
        "BY LastName LIMIT 5) FROM Account",
        accounts());
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query,
              "SELECT Name, (SELECT Id, LastName FROM Contacts WHERE LastName != null "
              "ORDER BY LastName LIMIT 5) FROM Account");
    EXPECT_EQ(q.sent, (strings{"Name"}));
}

TEST(SoqlGuard, RefusesAChildSubqueryFieldThePurposeDoesNotKeep) {
    expect_refused_field("SELECT Name, (SELECT Id, Email FROM Contacts) FROM Account",
                         "Contacts.Email", use::select, accounts());
    expect_refused_field("SELECT Name, (SELECT Id FROM Contacts WHERE Email = 'x') FROM Account",
                         "Contacts.Email", use::filter, accounts());
}

TEST(SoqlGuard, RefusesASubqueryInsideASubquery) {
    expect_unsupported(
        "SELECT Name, (SELECT Id, (SELECT Id FROM Cases) FROM Contacts) FROM "
        "Account",
        25, accounts());
}

TEST(SoqlGuard, ForwardsTypeofOnKeptPolymorphicFields) {
    EXPECT_EQ(forwarded("SELECT Subject, typeof what when Account then phone, NAME else Name end "
                        "FROM Task",
                        tasks()),
              "SELECT Subject, TYPEOF What WHEN Account THEN Phone, Name ELSE Name END FROM Task");
}

TEST(SoqlGuard, RefusesTypeofReadingAFieldNotKept) {
    expect_refused_field("SELECT Id, TYPEOF What WHEN Account THEN Iban END FROM Task", "What.Iban",
                         use::select, tasks());
}

TEST(SoqlGuard, ForwardsFunctionsOfKeptFields) {
    EXPECT_EQ(forwarded("SELECT id, TOLABEL(lifecycle), convertcurrency(amount) FROM Contact"),
              "SELECT id, toLabel(lifecycle), convertCurrency(amount) FROM Contact");
}

TEST(SoqlGuard, RefusesAFunctionOfAFieldNotKept) {
    expect_refused_field("SELECT id, FORMAT(birth_date) FROM Contact", "birth_date", use::compute);
}

TEST(SoqlGuard, ReplacesFieldsAllWithEveryAllowedField) {
    auto q = soql("SELECT FIELDS(ALL) FROM Contact LIMIT 200");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query,
              "SELECT Account.Name, amount, created_date, email, first_name, id, "
              "industry, last_name, lifecycle FROM Contact LIMIT 200");
    EXPECT_TRUE(q.requested.empty());
}

TEST(SoqlGuard, ReplacesFieldsAllAndAddsTheRuleFields) {
    auto q = soql("SELECT FIELDS(standard) FROM Contact", contacts_with_rules());
    ASSERT_TRUE(q.forwarded()) << q.detail;
    // The rule fields go last, in rule order, so that the forwarded statement guards to itself.
    EXPECT_EQ(q.query,
              "SELECT Account.Name, amount, created_date, first_name, id, industry, "
              "last_name, lifecycle, objection.direct_marketing, email FROM Contact");
}

TEST(SoqlGuard, ForwardsNotAndParenthesesWithCanonicalGrouping) {
    EXPECT_EQ(forwarded("SELECT id FROM Contact WHERE ((NOT id = '1' AND (lifecycle = 'a' OR "
                        "lifecycle = 'b'))) OR not not industry = 'x'"),
              "SELECT id FROM Contact WHERE (NOT (id = '1') AND (lifecycle = 'a' OR lifecycle = "
              "'b')) OR NOT (NOT (industry = 'x'))");
}

TEST(SoqlGuard, ReEscapesStringLiterals) {
    EXPECT_EQ(forwarded(R"(SELECT id FROM Contact WHERE last_name LIKE 'O\'Br"ien \_ 50\% \N\\')"),
              R"(SELECT id FROM Contact WHERE last_name LIKE 'O\'Br\"ien \_ 50\% \n\\')");
    EXPECT_EQ(forwarded("SELECT id FROM Contact WHERE last_name = 'M\xC3\xBCller'"),
              "SELECT id FROM Contact WHERE last_name = 'M\xC3\xBCller'");
}

// --- Field checks ------------------------------------------------------------------------------

TEST(SoqlGuard, StripsASelectedFieldThePurposeDoesNotKeep) {
    auto q = soql("SELECT id, iban, secret_x FROM Contact");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "SELECT id FROM Contact");
    EXPECT_EQ(q.stripped, (strings{"iban", "(not in catalogue)"}));
}

TEST(SoqlGuard, StripsACaseFoldedForbiddenFieldUnderItsCatalogueName) {
    auto q = soql("SELECT IBAN, Id FROM Contact");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "SELECT id FROM Contact");
    EXPECT_EQ(q.stripped, (strings{"iban"}));
}

TEST(SoqlGuard, SelectsEveryAllowedFieldWhenAllSelectedAreStripped) {
    auto q = soql("SELECT iban FROM Contact");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.stripped, (strings{"iban"}));
    EXPECT_EQ(q.sent.size(), contact_allowed.size());
}

TEST(SoqlGuard, RefusesAFilterOnAFieldNotKept) {
    expect_refused_field("SELECT id FROM Contact WHERE iban LIKE 'BE71%'", "iban", use::filter);
    auto q = soql("SELECT id FROM Contact WHERE iban LIKE 'BE71%'");
    EXPECT_EQ(q.detail.find("BE71"), std::string::npos);
}

TEST(SoqlGuard, RefusesACaseFoldedFilterUnderItsCatalogueName) {
    expect_refused_field("SELECT id FROM Contact WHERE IBAN = 'x'", "iban", use::filter);
    expect_refused_field("SELECT id FROM Contact WHERE account.IBAN = 'x'", "Account.iban",
                         use::filter);
}

TEST(SoqlGuard, NamesAnUnknownFieldAsNotInCatalogue) {
    expect_refused_field("SELECT id FROM Contact WHERE secret_x = 1", "(not in catalogue)",
                         use::filter);
}

TEST(SoqlGuard, RefusesOrderingByAFieldNotKept) {
    expect_refused_field("SELECT id FROM Contact ORDER BY birth_date", "birth_date", use::order);
}

TEST(SoqlGuard, RefusesADateFunctionOfAFieldNotKeptInAFilter) {
    expect_refused_field("SELECT id FROM Contact WHERE CALENDAR_YEAR(birth_date) = 1980",
                         "birth_date", use::filter);
    EXPECT_EQ(forwarded("SELECT id FROM Contact WHERE calendar_year(created_date) = 2024"),
              "SELECT id FROM Contact WHERE CALENDAR_YEAR(created_date) = 2024");
}

TEST(SoqlGuard, ForcesTheRuleFieldsIntoTheSelection) {
    auto q = soql("SELECT id, first_name FROM Contact", contacts_with_rules());
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "SELECT id, first_name, objection.direct_marketing, email FROM Contact");
    EXPECT_EQ(q.kept, (strings{"id", "first_name"}));
    EXPECT_EQ(q.sent, (strings{"id", "first_name", "objection.direct_marketing", "email"}));
}

TEST(SoqlGuard, PutsFunctionItemsAfterTheForcedFields) {
    EXPECT_EQ(forwarded("SELECT toLabel(lifecycle), id FROM Contact", contacts_with_rules()),
              "SELECT id, objection.direct_marketing, email, toLabel(lifecycle) FROM Contact");
}

// --- Aggregates ----------------------------------------------------------------------------------

TEST(SoqlGuard, RefusesAnAggregateWhenRecordRulesReadFields) {
    auto q = soql("SELECT COUNT() FROM Contact", contacts_with_rules());
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.position, 7u);
    EXPECT_NE(q.detail.find("record rules"), std::string::npos);
    expect_unsupported("SELECT lifecycle FROM Contact GROUP BY lifecycle", 30,
                       contacts_with_rules());
}

TEST(SoqlGuard, ForwardsAnAggregateWhenNoRuleReadsAField) {
    auto q = soql(
        "select lifecycle, count(id) total FROM Contact WHERE amount > 0 group by "
        "lifecycle having count(id) > 1 order by count(id) desc");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query,
              "SELECT lifecycle, COUNT(id) total FROM Contact WHERE amount > 0 GROUP BY "
              "lifecycle HAVING COUNT(id) > 1 ORDER BY COUNT(id) DESC");
    EXPECT_EQ(q.sent, (strings{"lifecycle"}));
    EXPECT_EQ(forwarded("SELECT COUNT() FROM Contact"), "SELECT COUNT() FROM Contact");
}

TEST(SoqlGuard, RefusesAnAggregateOfAFieldNotKept) {
    expect_refused_field("SELECT MAX(iban) phone FROM Contact", "iban", use::aggregate);
}

TEST(SoqlGuard, RefusesAnAliasNamingACatalogueField) {
    expect_refused_field("SELECT MAX(first_name) phone FROM Contact", "phone", use::alias);
    expect_refused_field("SELECT MAX(first_name) EMAIL FROM Contact", "email", use::alias);
    // An alias on the first step of a path would shadow the object in the answer.
    expect_refused_field("SELECT MAX(first_name) objection FROM Contact",
                         "objection.direct_marketing", use::alias);
}

TEST(SoqlGuard, RefusesGroupingByAFieldNotKept) {
    expect_refused_field("SELECT COUNT(id) FROM Contact GROUP BY birth_date", "birth_date",
                         use::group);
    expect_refused_field("SELECT COUNT(id) FROM Contact GROUP BY CALENDAR_YEAR(birth_date)",
                         "birth_date", use::group);
}

TEST(SoqlGuard, RefusesAnAliasOnAPlainField) { expect_unsupported("SELECT id x FROM Contact", 10); }

// --- Refusals of what the parser does not accept -------------------------------------------------

TEST(SoqlGuard, RefusesAnotherObject) {
    expect_unsupported("SELECT id FROM Lead", 15);
    EXPECT_EQ(forwarded("SELECT id FROM CONTACT"), "SELECT id FROM Contact");
}

TEST(SoqlGuard, RefusesEveryObjectWhenTheRouteNamesNone) {
    test_policy p(contact_allowed, {}, {}, "");
    expect_unsupported("SELECT id FROM Contact", 15, p);
}

TEST(SoqlGuard, RefusesAnObjectAlias) { expect_unsupported("SELECT id FROM Contact c", 23); }

TEST(SoqlGuard, RefusesSosl) {
    expect_unsupported("FIND {x} IN ALL FIELDS RETURNING Contact", 0);
    expect_unsupported("  find {x}", 2);
}

TEST(SoqlGuard, RefusesASemiJoin) {
    expect_unsupported("SELECT id FROM Contact WHERE id IN (SELECT ContactId FROM Case)", 36);
    expect_unsupported("SELECT id FROM Contact WHERE id NOT IN (SELECT ContactId FROM Case)", 40);
}

TEST(SoqlGuard, RefusesABindVariable) {
    expect_unsupported("SELECT id FROM Contact WHERE id = :x", 34);
}

TEST(SoqlGuard, RefusesAComparisonWithAnotherField) {
    expect_unsupported("SELECT id FROM Contact WHERE first_name = last_name", 42);
}

TEST(SoqlGuard, RefusesForViewForUpdateAndUpdateTracking) {
    expect_unsupported("SELECT id FROM Contact FOR VIEW", 23);
    expect_unsupported("SELECT id FROM Contact LIMIT 1 FOR UPDATE", 31);
    expect_unsupported("SELECT id FROM Contact UPDATE TRACKING", 23);
    expect_unsupported("SELECT id FROM Contact WITH DATA CATEGORY Geography__c AT asia__c", 28);
}

TEST(SoqlGuard, RefusesAnUnknownFunction) {
    expect_unsupported("SELECT DISTANCE(id) FROM Contact", 7);
    expect_unsupported("SELECT id FROM Contact GROUP BY ROLLUP(lifecycle)", 32);
}

TEST(SoqlGuard, RefusesAndOrMixedWithoutParentheses) {
    expect_unsupported("SELECT id FROM Contact WHERE id = '1' AND id = '2' OR id = '3'", 51);
    expect_unsupported("SELECT id FROM Contact WHERE id = '1' OR id = '2' AND id = '3'", 50);
}

TEST(SoqlGuard, RefusesAnUnterminatedString) {
    expect_unsupported("SELECT id FROM Contact WHERE last_name = 'Smith", 41);
    expect_unsupported("SELECT id FROM Contact WHERE last_name = 'Smith\\'", 41);
}

TEST(SoqlGuard, RefusesAnEscapeSoqlDoesNotDefine) {
    expect_unsupported(R"(SELECT id FROM Contact WHERE last_name = 'a\u0041')", 43);
}

TEST(SoqlGuard, RefusesARawLineBreakInsideAString) {
    expect_unsupported("SELECT id FROM Contact WHERE last_name = 'a\r\nb'", 43);
    expect_unsupported("SELECT id FROM Contact WHERE last_name = 'a\xC3'", 43);
}

TEST(SoqlGuard, ReadsLineBreaksBetweenTokensAsSpace) {
    EXPECT_EQ(forwarded("SELECT id\r\nFROM Contact\r\nWHERE id = '1'"),
              "SELECT id FROM Contact WHERE id = '1'");
}

TEST(SoqlGuard, RefusesCharactersOutsideTheGrammar) {
    expect_unsupported("SELECT id FROM Contact; DELETE", 22);
    expect_unsupported("SELECT id FROM Contact WHERE id = \"1\"", 34);
    expect_unsupported("SELECT _id FROM Contact", 7);
}

TEST(SoqlGuard, RefusesAnOverlongStatement) {
    std::string s = "SELECT id FROM Contact WHERE last_name = '" + std::string(20000, 'a') + "'";
    expect_unsupported(s, 20000);
}

TEST(SoqlGuard, RefusesNestingDeeperThanThirtyTwoLevels) {
    auto nested = [](int n) {
        return "SELECT id FROM Contact WHERE " + std::string(static_cast<std::size_t>(n), '(') +
               "id = '1'" + std::string(static_cast<std::size_t>(n), ')');
    };
    EXPECT_EQ(forwarded(nested(32)), "SELECT id FROM Contact WHERE id = '1'");
    expect_unsupported(nested(33), 61);
    std::string nots = "SELECT id FROM Contact WHERE ";
    for (int k = 0; k < 40; ++k) nots += "NOT ";
    expect_unsupported(nots + "id = '1'", 29 + 32 * 4);
}

TEST(SoqlGuard, RefusesAnEmptyStatement) {
    expect_unsupported("", 0);
    expect_unsupported("SELECT FROM Contact", 7);
}

// --- REST --------------------------------------------------------------------------------------

TEST(SoqlRest, ForwardsTheStatementPercentEncoded) {
    auto q = guard_soql_rest(contacts().get(),
                             "q=select+id,IBAN+from+Contact+where+last_name+%3D+%27O%5C%27Br%27");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "q=SELECT%20id%20FROM%20Contact%20WHERE%20last_name%20%3D%20'O%5C'Br'");
    EXPECT_EQ(q.stripped, (strings{"iban"}));
}

TEST(SoqlRest, ForwardsAnEmptyQueryStringAsAContinuation) {
    auto q = guard_soql_rest(contacts().get(), "");
    EXPECT_TRUE(q.forwarded());
    EXPECT_EQ(q.query, "");
}

TEST(SoqlRest, RefusesARepeatedStatement) {
    auto q =
        guard_soql_rest(contacts().get(), "q=SELECT+id+FROM+Contact&q=SELECT+iban+FROM+Contact");
    EXPECT_EQ(q.result, verdict::invalid);
}

TEST(SoqlRest, RefusesAnyOtherParameterNamingOnlyATokenName) {
    auto q = guard_soql_rest(contacts().get(), "q=SELECT+id+FROM+Contact&explain=1");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "explain");
    auto odd = guard_soql_rest(contacts().get(), "q=SELECT+id+FROM+Contact&%3Cscript%3E=1");
    EXPECT_EQ(odd.result, verdict::unsupported);
    EXPECT_EQ(odd.parameter, "(parameter)");
    EXPECT_EQ(odd.detail.find("script"), std::string::npos);
}

TEST(SoqlRest, RefusesControlCharacters) {
    auto q = guard_soql_rest(contacts().get(), "q=SELECT+id%0D%0AFROM+Contact");
    EXPECT_EQ(q.result, verdict::invalid);
}

TEST(SoqlRest, ReportsPositionsInTheDecodedStatement) {
    auto q = guard_soql_rest(contacts().get(), "q=SELECT+id+FROM+Lead");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "q");
    EXPECT_EQ(q.position, 15u);
}

// --- SOAP --------------------------------------------------------------------------------------

std::string envelope(std::string_view header, std::string_view body,
                     std::string_view ns = "urn:partner.soap.sforce.com") {
    return R"(<?xml version="1.0" encoding="utf-8"?>)"
           R"(<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:p=")" +
           std::string(ns) + R"(">)" + std::string(header) + "<env:Body>" + std::string(body) +
           "</env:Body></env:Envelope>";
}

constexpr std::string_view session =
    "<env:Header><p:SessionHeader><p:sessionId>00Dxx0000001gEH!AQ4AQ.x_y</p:sessionId>"
    "</p:SessionHeader><p:QueryOptions><p:batchSize>0500</p:batchSize></p:QueryOptions>"
    "</env:Header>";

TEST(SoqlSoap, TheClientsSessionIsReplacedByExportwallsOwn) {
    // Clients never hold CRM credentials: the SessionHeader is the upstream's soap-session-id.
    field_policy fp = contacts_with_rules().get();
    const std::string body = envelope(
        session, "<p:query><p:queryString>SELECT id FROM Contact</p:queryString></p:query>");
    auto without = guard_soql_soap(fp, body);
    ASSERT_TRUE(without.forwarded()) << without.detail;
    EXPECT_EQ(without.body.find("00Dxx0000001gEH"), std::string::npos) << without.body;
    EXPECT_EQ(without.body.find("SessionHeader"), std::string::npos) << without.body;
    fp.soap_session = "00DEXPORTWALL!<&>";
    auto with = guard_soql_soap(fp, body);
    ASSERT_TRUE(with.forwarded()) << with.detail;
    EXPECT_EQ(with.body.find("00Dxx0000001gEH"), std::string::npos) << with.body;
    EXPECT_NE(with.body.find("<urn:SessionHeader><urn:sessionId>00DEXPORTWALL!&lt;&amp;&gt;"
                             "</urn:sessionId></urn:SessionHeader>"),
              std::string::npos)
        << with.body;
}

TEST(SoqlSoap, ForwardsAQueryWrittenAfresh) {
    auto q = guard_soql_soap(
        contacts_with_rules().get(),
        envelope(session,
                 "<p:query><p:queryString>select id, iban from Contact where last_name "
                 "&lt; 'M&amp;M'</p:queryString></p:query>"));
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body,
              R"(<?xml version="1.0" encoding="UTF-8"?>)"
              R"(<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" )"
              R"(xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Header>)"
              "<urn:QueryOptions><urn:batchSize>500</urn:batchSize></urn:QueryOptions>"
              "</soapenv:Header><soapenv:Body><urn:query><urn:queryString>SELECT id, "
              "objection.direct_marketing, email FROM Contact WHERE last_name &lt; 'M&amp;M'"
              "</urn:queryString></urn:query></soapenv:Body></soapenv:Envelope>");
    EXPECT_EQ(q.query, "");
    EXPECT_EQ(q.stripped, (strings{"iban"}));
}

TEST(SoqlSoap, ForwardsQueryAllOfTheEnterpriseApiWithDefaultNamespace) {
    std::string body =
        R"(<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>)"
        R"(<queryAll xmlns="urn:enterprise.soap.sforce.com"><queryString><![CDATA[SELECT id )"
        R"(FROM Contact]]></queryString></queryAll></Body></Envelope>)";
    auto q = guard_soql_soap(contacts().get(), body);
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body,
              R"(<?xml version="1.0" encoding="UTF-8"?>)"
              R"(<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" )"
              R"(xmlns:urn="urn:enterprise.soap.sforce.com"><soapenv:Body><urn:queryAll>)"
              "<urn:queryString>SELECT id FROM Contact</urn:queryString></urn:queryAll>"
              "</soapenv:Body></soapenv:Envelope>");
}

// Stands in for config::decide's opener: "sealed:<locator>" opens to <locator>.
class locator_opener final : public token_opener {
  public:
    std::optional<std::string> open(std::string_view token, std::string_view binding,
                                    std::string& why) override {
        bindings.emplace_back(binding);
        if (!token.starts_with("sealed:")) {
            why = "the paging token is not_sealed";
            return std::nullopt;
        }
        return std::string(token.substr(7));
    }
    std::vector<std::string> bindings;
};

TEST(SoqlSoap, ForwardsQueryMoreWithTheCrmsLocatorOpenedFromTheSealedOne) {
    locator_opener opener;
    field_policy fp = contacts().get();
    fp.tokens = &opener;
    auto q = guard_soql_soap(
        fp, envelope("",
                     "<p:queryMore><p:queryLocator> sealed:01gD0000002HU6KIAW-2000 "
                     "</p:queryLocator></p:queryMore>"));
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_NE(q.body.find("<urn:queryMore><urn:queryLocator>01gD0000002HU6KIAW-2000</"
                          "urn:queryLocator></urn:queryMore>"),
              std::string::npos);
    EXPECT_TRUE(q.sent.empty());
    ASSERT_EQ(opener.bindings.size(), 1U);
    EXPECT_EQ(opener.bindings[0], "");
    // The CRM's own locator, written by the client, does not open.
    auto raw = guard_soql_soap(
        fp, envelope("", "<p:queryMore><p:queryLocator>01gD0000002HU6KIAW-2000</p:queryLocator>"
                         "</p:queryMore>"));
    EXPECT_EQ(raw.result, verdict::continuation_invalid);
    EXPECT_TRUE(raw.body.empty());
    // Nor does anything without an opener, and a sealed value must still be a locator.
    auto unopened = guard_soql_soap(
        contacts().get(),
        envelope("", "<p:queryMore><p:queryLocator>sealed:01gD-2000</p:queryLocator>"
                     "</p:queryMore>"));
    EXPECT_EQ(unopened.result, verdict::continuation_invalid);
    auto bad = guard_soql_soap(
        fp, envelope("", "<p:queryMore><p:queryLocator>sealed:x' OR 1</p:queryLocator>"
                         "</p:queryMore>"));
    EXPECT_EQ(bad.result, verdict::continuation_invalid);
}

TEST(SoqlSoap, ChecksTheStatementWithItsOwnParameterName) {
    auto q = guard_soql_soap(
        contacts().get(), envelope("",
                                   "<p:query><p:queryString>SELECT id FROM Contact WHERE iban = '1'"
                                   "</p:queryString></p:query>"));
    EXPECT_EQ(q.result, verdict::field_not_permitted);
    EXPECT_EQ(q.field, "iban");
    auto lead = guard_soql_soap(
        contacts().get(),
        envelope("", "<p:query><p:queryString>SELECT id FROM Lead</p:queryString></p:query>"));
    EXPECT_EQ(lead.result, verdict::unsupported);
    EXPECT_EQ(lead.parameter, "queryString");
    EXPECT_EQ(lead.position, 15u);
}

TEST(SoqlSoap, RefusesTwoOperations) {
    auto q = guard_soql_soap(
        contacts().get(),
        envelope("",
                 "<p:query><p:queryString>SELECT id FROM Contact</p:queryString></p:query>"
                 "<p:query><p:queryString>SELECT iban FROM Contact</p:queryString></p:query>"));
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "body");
    auto strings_twice = guard_soql_soap(
        contacts().get(),
        envelope("",
                 "<p:query><p:queryString>SELECT id FROM Contact</p:queryString>"
                 "<p:queryString>SELECT iban FROM Contact</p:queryString></p:query>"));
    EXPECT_EQ(strings_twice.result, verdict::unsupported);
}

TEST(SoqlSoap, RefusesADoctype) {
    std::string body = "<!DOCTYPE x [<!ENTITY e \"SELECT iban FROM Contact\">]>" +
                       envelope("", "<p:query><p:queryString>&e;</p:queryString></p:query>");
    auto q = guard_soql_soap(contacts().get(), body);
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.position, 0u);
}

TEST(SoqlSoap, RefusesAnUnknownHeader) {
    auto q = guard_soql_soap(
        contacts().get(),
        envelope("<env:Header><p:MruHeader><p:updateMru>true</p:updateMru></p:MruHeader>"
                 "</env:Header>",
                 "<p:query><p:queryString>SELECT id FROM Contact</p:queryString></p:query>"));
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "body");
}

TEST(SoqlSoap, RefusesABatchSizeOutOfRange) {
    auto q = guard_soql_soap(
        contacts().get(),
        envelope("<env:Header><p:QueryOptions><p:batchSize>5000</p:batchSize></p:QueryOptions>"
                 "</env:Header>",
                 "<p:query><p:queryString>SELECT id FROM Contact</p:queryString></p:query>"));
    EXPECT_EQ(q.result, verdict::unsupported);
}

TEST(SoqlSoap, RefusesAnUnknownOperationOrNamespace) {
    auto search = guard_soql_soap(
        contacts().get(),
        envelope("", "<p:search><p:searchString>FIND {x}</p:searchString></p:search>"));
    EXPECT_EQ(search.result, verdict::unsupported);
    auto other = guard_soql_soap(
        contacts().get(),
        envelope("", "<p:query><p:queryString>SELECT id FROM Contact</p:queryString></p:query>",
                 "urn:metadata.soap.sforce.com"));
    EXPECT_EQ(other.result, verdict::unsupported);
    auto unprefixed = guard_soql_soap(
        contacts().get(),
        envelope("", "<p:query><queryString>SELECT id FROM Contact</queryString></p:query>"));
    EXPECT_EQ(unprefixed.result, verdict::unsupported);
}

TEST(SoqlSoap, RefusesMalformedXmlAndTextBesideElements) {
    EXPECT_EQ(guard_soql_soap(contacts().get(), "<env:Envelope").result, verdict::unsupported);
    auto text = guard_soql_soap(
        contacts().get(),
        envelope("",
                 "junk<p:query><p:queryString>SELECT id FROM Contact</p:queryString></p:query>"));
    EXPECT_EQ(text.result, verdict::unsupported);
    auto markup = guard_soql_soap(
        contacts().get(),
        envelope("",
                 "<p:query><p:queryString>SELECT id<b/> FROM Contact</p:queryString></p:query>"));
    EXPECT_EQ(markup.result, verdict::unsupported);
}

TEST(SoqlSoap, RefusesABodyOverOneMebibyte) {
    std::string big = envelope("",
                               "<p:query><p:queryString>SELECT id FROM Contact</p:queryString>"
                               "</p:query>" +
                                   std::string(1 << 20, ' '));
    auto q = guard_soql_soap(contacts().get(), big);
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.position, std::size_t{1} << 20);
}

// --- Property: every forwarded statement is a fixed point that reads only what is kept ----------

struct generated {
    std::string text;
    bool reads_forbidden = false;  // a forbidden or unknown field in a read position
};

class statement_generator {
  public:
    explicit statement_generator(std::uint32_t seed) : rng_(seed) {}

    generated next() {
        generated g;
        g_ = &g;
        std::string s = word("SELECT") + " ";
        int items = pick(1, 4);
        for (int k = 0; k < items; ++k) {
            if (k != 0) s += pick(0, 1) ? ", " : ",";
            s += select_item();
        }
        s += " " + word("FROM") + " " + (pick(0, 30) == 0 ? std::string("Lead") : cased("Contact"));
        if (pick(0, 1)) s += " " + word("WHERE") + " " + condition(0);
        if (pick(0, 4) == 0) s += " " + word("WITH") + " SECURITY_ENFORCED";
        if (pick(0, 2) == 0) {
            s += " " + word("ORDER") + " " + word("BY") + " " + read_field();
            if (pick(0, 1)) s += pick(0, 1) ? " ASC" : " desc";
            if (pick(0, 2) == 0) s += " NULLS LAST";
        }
        if (pick(0, 2) == 0) s += " LIMIT " + std::to_string(pick(0, 500));
        if (pick(0, 4) == 0) s += " OFFSET " + std::to_string(pick(0, 50));
        if (pick(0, 15) == 0) {
            // Damage: a byte the grammar may not accept.
            static const std::string junk = "(){}:;'\"\\%\n\r*";
            auto at = static_cast<std::size_t>(pick(0, static_cast<int>(s.size())));
            s.insert(at, 1,
                     junk[static_cast<std::size_t>(pick(0, static_cast<int>(junk.size()) - 1))]);
        }
        g.text = std::move(s);
        return g;
    }

  private:
    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

    std::string cased(std::string_view w) {
        std::string out(w);
        int mode = pick(0, 3);
        for (char& c : out) {
            if (mode == 1 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
            if (mode == 2 && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
        return out;
    }
    std::string word(std::string_view w) { return cased(w); }

    // A field, any kind; `forbidden` says whether it is not kept.
    std::string any_field(bool& forbidden) {
        static const strings kept{"id",     "first_name", "last_name",
                                  "email",  "lifecycle",  "Account.Name",
                                  "amount", "industry",   "created_date"};
        static const strings not_kept{
            "iban",  "birth_date",   "consent.email", "objection.direct_marketing",
            "phone", "Account.iban", "secret_x"};
        forbidden = pick(0, 3) == 0;
        const strings& from = forbidden ? not_kept : kept;
        return cased(from[static_cast<std::size_t>(pick(0, static_cast<int>(from.size()) - 1))]);
    }

    std::string read_field() {
        bool forbidden = false;
        std::string f = any_field(forbidden);
        if (forbidden) g_->reads_forbidden = true;
        return f;
    }

    std::string select_item() {
        switch (pick(0, 9)) {
            case 0:
                return word("FIELDS") + "(ALL)";
            case 1:
                return word("toLabel") + "(" + read_field() + ")";
            case 2:
                return word("COUNT") + "(" + read_field() + ")" + (pick(0, 1) ? " n" : "");
            case 3:
                return word("MAX") + "(" + read_field() + ") " + (pick(0, 1) ? "phone" : "m");
            default: {
                bool forbidden = false;
                return any_field(forbidden);  // a selection: stripped, never refused
            }
        }
    }

    std::string value() {
        switch (pick(0, 7)) {
            case 0:
                return "'a\\'b'";
            case 1:
                return std::to_string(pick(-100, 100));
            case 2:
                return "2024-01-31";
            case 3:
                return "2024-01-31T10:00:00Z";
            case 4:
                return pick(0, 1) ? "LAST_N_DAYS:" + std::to_string(pick(0, 90)) : "today";
            case 5:
                return "null";
            case 6:
                return "'iban'";
            default:
                return "'x%'";
        }
    }

    std::string condition(int depth) {
        int shape = depth > 3 ? 3 : pick(0, 5);
        if (shape == 0) return word("NOT") + " " + condition(depth + 1);
        if (shape == 1) return "(" + condition(depth + 1) + ")";
        if (shape == 2)
            return "(" + condition(depth + 1) + (pick(0, 1) ? " AND " : " or ") +
                   condition(depth + 1) + ")";
        std::string f = read_field();
        switch (pick(0, 4)) {
            case 0:
                return f + " IN (" + value() + ", " + value() + ")";
            case 1:
                return f + " " + word("LIKE") + " " + value();
            case 2:
                return f + " NOT IN (" + value() + ")";
            case 3:
                return f + " != " + value();
            default:
                return f + " = " + value();
        }
    }

    std::mt19937 rng_;
    generated* g_ = nullptr;
};

// Every field a forwarded statement references is kept, or is a forced rule field in the outer
// selection.
bool references_only_kept(const field_policy& policy, std::string_view text) {
    auto refs = soql_references(text);
    if (!refs) return false;
    for (const auto& r : *refs) {
        bool rule = std::find(policy.rule_fields.begin(), policy.rule_fields.end(), r.path) !=
                    policy.rule_fields.end();
        bool ok = r.top_selection
                      ? (rule || policy.allowed->keeps(r.path) || policy.allowed->descends(r.path))
                      : policy.allowed->keeps(r.path);
        if (!ok) return false;
    }
    return true;
}

TEST(SoqlGuardProperty, ForwardedStatementsAreFixedPointsReadingOnlyKeptFields) {
    statement_generator gen(20240131u);
    int forwarded_count = 0;
    int refused_reads = 0;
    for (int k = 0; k < 2000; ++k) {
        const test_policy& p = k % 2 == 0 ? contacts() : contacts_with_rules();
        generated g = gen.next();
        auto q = guard_soql_statement(p.get(), g.text, "q");
        if (g.reads_forbidden) {
            EXPECT_FALSE(q.forwarded()) << g.text << " forwarded as " << q.query;
            ++refused_reads;
        }
        if (!q.forwarded()) {
            EXPECT_LE(q.position, g.text.size()) << g.text;
            continue;
        }
        ++forwarded_count;
        auto again = guard_soql_statement(p.get(), q.query, "q");
        ASSERT_TRUE(again.forwarded()) << g.text << " -> " << q.query << ": " << again.detail;
        EXPECT_EQ(again.query, q.query) << g.text;
        EXPECT_TRUE(references_only_kept(p.get(), q.query)) << g.text << " -> " << q.query;
    }
    RecordProperty("forwarded", forwarded_count);
    RecordProperty("refused_reads", refused_reads);
    EXPECT_GT(forwarded_count, 300);
    EXPECT_GT(refused_reads, 300);
}

}  // namespace
}  // namespace exportwall::config::query
