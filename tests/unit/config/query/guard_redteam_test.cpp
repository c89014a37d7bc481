// Red-team tests of the query guard (docs/query-languages.md): one TEST per attack, each asserting
// the SECURE outcome — the request is refused, or what is forwarded does not make the CRM read a
// field the purpose strips (iban, birth_date, notes …) and still carries the record rules' fields.
// Each test names the CRM behaviour it exploits. A test whose attack still gets through is
// DISABLED_ with an `// OPEN HOLE:` comment, so this file can be committed while the fix is made;
// every enabled test documents a hole that is closed.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "config/query/guard.hpp"
#include "config/query/guard_support.hpp"
#include "config/query/soql.hpp"
#include "filters/field_set.hpp"

namespace exportwall::config::query {
namespace {

using strings = std::vector<std::string>;

// Owns the field sets and spans a field_policy points to.
class red_policy {
  public:
    red_policy(strings allowed, const strings& stripped, strings rules, std::string object,
               std::string select_param = {})
        : allowed_(allowed),
          catalogue_(join(allowed, stripped, rules)),
          rules_(std::move(rules)),
          object_(std::move(object)),
          select_param_(std::move(select_param)) {}
    red_policy(const red_policy&) = delete;
    red_policy& operator=(const red_policy&) = delete;

    red_policy& search(strings fields) {
        search_ = std::move(fields);
        return *this;
    }
    red_policy& paging(strings names) {
        paging_ = std::move(names);
        return *this;
    }
    red_policy& filters(std::vector<filter_param> f) {
        filters_ = std::move(f);
        return *this;
    }

    [[nodiscard]] field_policy get() const {
        field_policy p;
        p.allowed = &allowed_;
        p.catalogue = &catalogue_;
        p.rule_fields = rules_;
        p.select_param = select_param_;
        p.paging_params = paging_;
        p.filter_params = filters_;
        p.search_fields = search_;
        p.object_name = object_;
        return p;
    }

    [[nodiscard]] guarded_query run(language l, std::string_view raw,
                                    std::string_view body = {}) const {
        return guard(l, get(), raw, body);
    }

  private:
    static strings join(strings a, const strings& b, const strings& c) {
        a.insert(a.end(), b.begin(), b.end());
        a.insert(a.end(), c.begin(), c.end());
        return a;
    }

    filters::field_set allowed_;
    filters::field_set catalogue_;
    strings rules_;
    std::string object_;
    std::string select_param_;
    strings paging_;
    std::vector<filter_param> filters_;
    strings search_;
};

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool contains_ci(std::string_view hay, std::string_view needle) {
    return lower(hay).find(lower(needle)) != std::string::npos;
}

// Percent-decodes (and '+' as space) for inspecting a forwarded query string.
std::string decoded(std::string_view s) {
    auto hex = [](char c) {
        return c >= '0' && c <= '9' ? c - '0' : (std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
    };
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
            i += 2;
        } else if (s[i] == '+') {
            out.push_back(' ');
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

// Percent-encodes everything but unreserved characters.
std::string encoded(std::string_view s) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(digits[u >> 4]);
            out.push_back(digits[u & 0xf]);
        }
    }
    return out;
}

// The secure outcome of an attack that tries to make the CRM read `field`: refused, or forwarded
// with no mention of it (query string decoded, and the body).
::testing::AssertionResult secure(const guarded_query& q, std::string_view field) {
    if (!q.forwarded()) return ::testing::AssertionSuccess();
    if (contains_ci(decoded(q.query), field) || contains_ci(q.body, field))
        return ::testing::AssertionFailure()
               << "forwarded a query that names '" << field << "': query=" << q.query
               << " body=" << q.body;
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult refused(const guarded_query& q) {
    if (!q.forwarded()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "forwarded: query=" << q.query << " body=" << q.body;
}

bool sends(const guarded_query& q, std::string_view field) {
    return std::find(q.sent.begin(), q.sent.end(), field) != q.sent.end();
}

// ---------------------------------------------------------------------------------------------
// Policies.

// Dataverse-like contacts (OData): nested catalogue paths, a navigation the purpose enters.
const red_policy& odata() {
    static const red_policy p(
        {"id", "first_name", "last_name", "email", "phone", "lifecycle", "address.city",
         "address.postcode", "parentcustomerid_account.name"},
        {"iban", "birth_date", "notes"}, {"consent.email", "objection.direct_marketing", "lifecycle"},
        "contact", "$select");
    return p;
}

// The same purpose without record rules (aggregates allowed).
const red_policy& odata_no_rules() {
    static const red_policy p(
        {"id", "first_name", "last_name", "email", "phone", "lifecycle", "address.city",
         "address.postcode", "parentcustomerid_account.name"},
        {"iban", "birth_date", "notes"}, {}, "contact", "$select");
    return p;
}

// A purpose that keeps a navigation property whole (the parent account, as the response shows it).
const red_policy& odata_whole_nav() {
    static const red_policy p({"id", "email", "lifecycle", "parentcustomerid_account"},
                              {"iban", "birth_date", "notes"},
                              {"consent.email", "objection.direct_marketing", "lifecycle"},
                              "contact", "$select");
    return p;
}

// Dataverse fetchXml needs flat logical names.
const red_policy& fetch() {
    static const red_policy p({"contactid", "firstname", "lastname", "emailaddress1", "statecode"},
                              {"iban", "birthdate", "description"},
                              {"donotbulkemail", "statecode"}, "contact", "$select");
    return p;
}

// Salesforce Contact.
const red_policy& soql() {
    static const red_policy p({"Id", "FirstName", "LastName", "Email", "Phone", "Account.Name"},
                              {"Iban__c", "Birthdate", "Description"},
                              {"HasOptedOutOfEmail", "Consent__c"}, "Contact");
    return p;
}

const red_policy& soql_no_rules() {
    static const red_policy p({"Id", "FirstName", "LastName", "Email", "Phone", "Account.Name"},
                              {"Iban__c", "Birthdate", "Description"}, {}, "Contact");
    return p;
}

// HubSpot contacts search.
const red_policy& hubspot() {
    static const red_policy p({"email", "firstname", "lastname", "lifecyclestage"},
                              {"iban", "date_of_birth", "notes"},
                              {"hs_email_optout", "lifecyclestage"}, "contacts");
    return p;
}

// SuiteCRM (JSON:API) Contacts.
const red_policy& jsonapi() {
    static const red_policy p({"first_name", "last_name", "email1", "account_name"},
                              {"iban", "birthdate", "description"}, {"email_opt_out"}, "Contacts");
    return p;
}

// A `params` route (HubSpot list API shape): properties=, after/limit, status filters lifecycle.
const red_policy& params() {
    static red_policy p({"email", "firstname", "lastname", "lifecyclestage"},
                        {"iban", "date_of_birth", "notes"}, {"hs_email_optout"}, "contacts",
                        "properties");
    static bool init = [] {
        p.paging({"after", "limit"})
            .filters({{"status", "lifecyclestage"}, {"account_no", "iban"}});
        return true;
    }();
    (void)init;
    return p;
}

// =============================================================================================
// OData (Dataverse, Dynamics, Business Central, SAP, ASP.NET Core OData / ODL)
// =============================================================================================

// OData 4.01: system query option names are case-insensitive ($FILTER is $filter).
TEST(GuardRedTeam, ODataUpperCaseOptionName) {
    EXPECT_TRUE(refused(odata().run(language::odata, "$FILTER=startswith(iban,'BE')")));
}

// OData 4.01 (and ODL's EnableNoDollarQueryOptions): `filter` without '$' is $filter.
TEST(GuardRedTeam, ODataOptionWithoutDollar) {
    EXPECT_TRUE(secure(odata().run(language::odata, "filter=startswith(iban,'BE')"), "iban"));
}

// A server reading the first (or the last) of a repeated option, in another letter case.
TEST(GuardRedTeam, ODataRepeatedOptionDifferentCase) {
    auto q = odata().run(language::odata,
                         "$filter=email%20eq%20'a'&$Filter=startswith(iban,'BE')");
    EXPECT_EQ(q.result, verdict::invalid);
}

// `%24filter` decodes to `$filter` at the server.
TEST(GuardRedTeam, ODataPercentEncodedOptionName) {
    EXPECT_TRUE(refused(odata().run(language::odata, "%24filter=startswith(iban,'BE')")));
    EXPECT_TRUE(refused(odata().run(language::odata, "%24%46ILTER=startswith(iban,'BE')")));
}

// Percent-encoded property name inside the expression.
TEST(GuardRedTeam, ODataPercentEncodedPropertyName) {
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=startswith(%69ban,'BE')")));
}

// ASP.NET Core OData resolves property names case-insensitively (EnableCaseInsensitive).
TEST(GuardRedTeam, ODataCaseVariantPropertyName) {
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=startswith(IBAN,'BE')")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$orderby=Iban")));
}

// .NET OrdinalIgnoreCase upper-cases U+0131 (dotless i) to 'I': "ıban" resolves to "iban".
TEST(GuardRedTeam, ODataUnicodeLookalikePropertyName) {
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=startswith(%C4%B1ban,'BE')")));
    // Fullwidth letters (NFKC folds them to ASCII).
    EXPECT_TRUE(refused(
        odata().run(language::odata, "$filter=startswith(%EF%BD%89%EF%BD%82%EF%BD%81%EF%BD%8E,'BE')")));
}

// Servers that split query strings at ';' as well as '&' (old Rack, Python < 3.10 parse_qs).
TEST(GuardRedTeam, ODataSemicolonAsParameterSeparator) {
    EXPECT_TRUE(secure(
        odata().run(language::odata, "$select=email;$filter=startswith(iban,'BE')"), "iban"));
    EXPECT_TRUE(
        secure(odata().run(language::odata, "$top=5;$orderby=iban"), "iban"));
}

// A ';'-splitting server must not find a second option inside a re-serialised string literal:
// '=' is always percent-encoded on the way out.
TEST(GuardRedTeam, ODataSemicolonInsideStringLiteral) {
    auto q = odata().run(language::odata,
                         "$filter=email%20eq%20'x;$filter=startswith(iban,''BE'')'");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    std::string_view s = q.query;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto amp = s.find('&', start);
        if (amp == std::string_view::npos) amp = s.size();
        std::string_view pair = s.substr(start, amp - start);
        auto eq = pair.find('=');
        ASSERT_NE(eq, std::string_view::npos);
        EXPECT_EQ(pair.substr(eq + 1).find('='), std::string_view::npos) << pair;
        start = amp + 1;
    }
}

// '+' is a space in a query string; a server reading it literally still sees no other field.
TEST(GuardRedTeam, ODataPlusAsSpace) {
    EXPECT_TRUE(refused(odata().run(
        language::odata, "$filter=email+eq+'a'+or+startswith(iban,'BE')")));
}

// Whitespace tricks: TAB, CR/LF, NBSP, which some lexers skip.
TEST(GuardRedTeam, ODataOtherWhitespace) {
    EXPECT_FALSE(odata().run(language::odata, "$filter=email%09eq%09'a'%09or%09iban%09eq%09'x'")
                     .forwarded());
    EXPECT_FALSE(odata().run(language::odata, "$filter=email%0Aeq%0A'a'").forwarded());
    EXPECT_FALSE(
        odata().run(language::odata, "$filter=email%C2%A0eq%C2%A0'a'%C2%A0or%C2%A0iban%C2%A0eq%C2%A0'x'")
            .forwarded());
}

// OData parameter aliases: `@p` resolved by the server to another expression.
TEST(GuardRedTeam, ODataParameterAlias) {
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=startswith(@p,'BE')&@p=iban")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=@p&@p=startswith(iban,'BE')")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$orderby=@o&@o=iban")));
}

// Keywords and function names the guard does not know, in another case (4.01 case-insensitive
// built-ins): must be refused rather than read as property names.
TEST(GuardRedTeam, ODataKeywordCaseVariants) {
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=STARTSWITH(iban,'BE')")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=email%20EQ%20'a'%20OR%20iban%20EQ%20'x'")));
}

// Field-to-field comparisons and `in` lists holding a property.
TEST(GuardRedTeam, ODataStrippedFieldAsRightOperand) {
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=email%20eq%20iban")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=email%20in%20('a',iban)")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=length(email)%20gt%20length(notes)")));
    EXPECT_TRUE(refused(odata().run(language::odata,
                                    "$filter=concat(email,substring(iban,0,2))%20eq%20'xBE'")));
}

// Reads through every option: order, compute, search.
TEST(GuardRedTeam, ODataStrippedFieldInOrderAndCompute) {
    EXPECT_TRUE(refused(odata().run(language::odata, "$orderby=email,iban%20desc")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$compute=iban%20as%20x")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$compute=year(birth_date)%20as%20y&$orderby=y")));
}

// $compute renaming a stripped value under an allowed name (the response filter trusts names).
TEST(GuardRedTeam, ODataComputeRenameOntoAllowedName) {
    EXPECT_TRUE(refused(odata().run(language::odata, "$compute=email%20as%20Iban")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$compute=email%20as%20EMAIL")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$compute=email%20as%20address")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$compute=email%20as%20consent")));
}

// Closed (was open): ODL's EndPathBinder resolves a name as a DECLARED property first
// (Resolver.ResolveProperty) and only falls back to computed/aggregated names afterwards. The
// guard only refuses aliases that clash with the exportwall catalogue; a CRM column the operator
// never catalogued (Dataverse's contact has hundreds, e.g. `governmentid`) is a fine alias name
// to the guard, which then lets `$filter=startswith(governmentid,'1')` through unchecked as "the
// alias" — and the server reads the real, uncatalogued (hence stripped) column.
// Fix: never forward an alias reference; inline the (checked) computed expression at every
// reference, or rename aliases to a reserved guard-generated name, or refuse alias references
// outside $select.
TEST(GuardRedTeam, ODataComputeAliasShadowedByUncataloguedProperty) {
    auto q = odata().run(language::odata,
                         "$compute=email%20as%20governmentid&$filter=startswith(governmentid,'1')");
    EXPECT_TRUE(secure(q, "governmentid"));
    auto o = odata().run(language::odata,
                         "$compute=email%20as%20annualincome&$orderby=annualincome%20desc");
    EXPECT_TRUE(secure(o, "annualincome"));
}

// Closed (was open): the same through $apply (purposes without record rules): compute(... as alias)
// followed by filter(alias …) — the server binds `governmentid` to the declared column.
TEST(GuardRedTeam, ODataApplyAliasShadowedByUncataloguedProperty) {
    auto q = odata_no_rules().run(
        language::odata,
        "$apply=compute(email%20as%20governmentid)/filter(startswith(governmentid,'1'))");
    EXPECT_TRUE(secure(q, "governmentid"));
}

// Aggregation over stripped fields (purpose without rules) and with rule fields.
TEST(GuardRedTeam, ODataApplyOverStrippedField) {
    EXPECT_TRUE(refused(odata_no_rules().run(language::odata, "$apply=groupby((iban))")));
    EXPECT_TRUE(refused(odata_no_rules().run(
        language::odata, "$apply=aggregate(iban%20with%20max%20as%20m)")));
    EXPECT_TRUE(refused(odata_no_rules().run(
        language::odata, "$apply=filter(startswith(iban,'BE'))/aggregate($count%20as%20n)")));
    // With record rules, no aggregate at all (rows are nobody's record).
    EXPECT_TRUE(refused(odata().run(language::odata, "$apply=aggregate($count%20as%20n)")));
}

// Lambda variable named like a field: a server resolving the name as the property.
TEST(GuardRedTeam, ODataLambdaVariableNamedLikeField) {
    EXPECT_TRUE(refused(odata().run(
        language::odata, "$filter=parentcustomerid_account/any(iban:iban/name%20eq%20'x')")));
    EXPECT_TRUE(refused(odata().run(
        language::odata, "$filter=parentcustomerid_account/any(IBAN:IBAN/name%20eq%20'x')")));
}

// Inside a lambda, a bare name is the outer entity's property ($it), not the element's.
TEST(GuardRedTeam, ODataLambdaBodyReadsOuterStrippedField) {
    EXPECT_TRUE(refused(odata().run(
        language::odata,
        "$filter=parentcustomerid_account/any(a:startswith(iban,'BE'))")));
    EXPECT_TRUE(refused(odata().run(
        language::odata,
        "$filter=parentcustomerid_account/any(a:a/primarycontactid/iban%20eq%20'x')")));
}

// Navigation back to the same entity through relationships ($expand / $filter paths).
TEST(GuardRedTeam, ODataNavigationBackToContact) {
    EXPECT_TRUE(refused(odata().run(
        language::odata,
        "$filter=startswith(parentcustomerid_account/primarycontactid/iban,'BE')")));
    EXPECT_TRUE(refused(odata().run(
        language::odata,
        "$expand=parentcustomerid_account($expand=contact_customer_accounts($select=iban))")));
    EXPECT_TRUE(refused(odata().run(
        language::odata,
        "$expand=parentcustomerid_account($filter=startswith(primarycontactid/iban,'BE'))")));
    EXPECT_TRUE(refused(odata().run(language::odata,
                                    "$expand=parentcustomerid_account($orderby=primarycontactid/iban)")));
}

// Nested $select inside an entered navigation only keeps what the purpose keeps.
TEST(GuardRedTeam, ODataExpandNestedSelectStripped) {
    auto q = odata().run(language::odata,
                         "$expand=parentcustomerid_account($select=name,iban,primarycontactid)");
    EXPECT_TRUE(secure(q, "iban"));
    EXPECT_TRUE(secure(q, "primarycontactid"));
}

// Closed (was open, design): a navigation property the purpose keeps "whole" makes every path below it
// permitted (field_set::keeps checks ancestors), but in OData a navigation is an edge to other
// entities, not a value: `parentcustomerid_account/primarycontactid/iban` reads the IBAN of the
// account's primary contact — often the very contact being exported — and the nested
// $expand/$select path returns it. Keeping `address` (a complex value) whole is safe; keeping a
// navigation whole silently keeps the whole reachable graph.
// Fix: for filter/order/expand, only accept paths that are in the catalogue (or below a catalogue
// leaf that the catalogue marks as a complex value); refuse traversal through a further
// navigation below a kept navigation, or require each hop to be kept explicitly.
TEST(GuardRedTeam, ODataKeptWholeNavigationReachesStrippedField) {
    EXPECT_TRUE(refused(odata_whole_nav().run(
        language::odata,
        "$filter=startswith(parentcustomerid_account/primarycontactid/iban,'BE')")));
    EXPECT_TRUE(secure(odata_whole_nav().run(
                           language::odata,
                           "$expand=parentcustomerid_account($expand=primarycontactid($select=iban))"),
                       "iban"));
}

// Type-cast segments and namespace-qualified (vendor) functions.
TEST(GuardRedTeam, ODataCastsAndVendorFunctions) {
    EXPECT_TRUE(refused(odata().run(
        language::odata, "$filter=startswith(Microsoft.Dynamics.CRM.contact/iban,'BE')")));
    EXPECT_TRUE(refused(odata().run(
        language::odata,
        "$filter=Microsoft.Dynamics.CRM.ContainValues(PropertyName='iban',PropertyValues=['x'])")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=cast(iban,Edm.String)%20eq%20'x'")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=isof(iban,Edm.String)")));
    // The '.' spelling of a qualified name is re-serialised with '/', never as a namespace.
    auto q = odata().run(language::odata, "$filter=email.Edm.String%20eq%20'x'");
    EXPECT_TRUE(secure(q, "Edm.String"));
}

// $it, $root, $this, $count segments.
TEST(GuardRedTeam, ODataDollarNamesInExpressions) {
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=$it/iban%20eq%20'x'")));
    EXPECT_TRUE(refused(odata().run(
        language::odata, "$filter=$root/contacts(00000000-0000-0000-0000-000000000000)/iban%20eq%20'x'")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=$this/iban%20eq%20'x'")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=iban/$count%20gt%200")));
}

// Options the guard does not know: $levels, $format, $schemaversion, Dataverse saved queries
// (savedQuery / userQuery run stored fetchXml the guard never sees).
TEST(GuardRedTeam, ODataUnknownOptionsAndSavedQueries) {
    EXPECT_TRUE(refused(odata().run(language::odata,
                                    "savedQuery=00000000-0000-0000-0000-000000000001")));
    EXPECT_TRUE(refused(odata().run(language::odata,
                                    "userQuery=00000000-0000-0000-0000-000000000001")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$expand=parentcustomerid_account($levels=max)")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$expand=*")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$expand=parentcustomerid_account/$ref")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$filter=email%20eq%20'x'&$select=email(iban)")));
}

// Full-text search: a Lucene-style back end reads `iban:BE71*` as a search in one field.
TEST(GuardRedTeam, ODataSearchFieldSyntax) {
    static red_policy p({"email", "first_name"}, {"iban"}, {}, "contact", "$select");
    p.search({"email", "first_name"});
    EXPECT_TRUE(refused(p.run(language::odata, "$search=iban:BE71*")));
    EXPECT_TRUE(refused(p.run(language::odata, "$search=iban%5C:BE71")));
    EXPECT_TRUE(refused(odata().run(language::odata, "$search=BE71")));  // no search-fields
}

// The selection: stripped fields dropped, rule fields forced, for every spelling.
TEST(GuardRedTeam, ODataSelectionStripsAndForcesRuleFields) {
    for (std::string_view raw : {"$select=email,iban", "$SELECT=email,iban", "$select=*",
                                 "$select=email,iban,*", "", "$select=", "$select=IBAN,Email",
                                 "$select=iban/x,notes"}) {
        auto q = odata().run(language::odata, raw);
        ASSERT_TRUE(q.forwarded()) << raw << ": " << q.detail;
        EXPECT_TRUE(secure(q, "iban")) << raw;
        EXPECT_TRUE(secure(q, "notes")) << raw;
        EXPECT_TRUE(sends(q, "consent.email")) << raw;
        EXPECT_TRUE(sends(q, "objection.direct_marketing")) << raw;
        EXPECT_NE(decoded(q.query).find("objection/direct_marketing"), std::string::npos) << raw;
    }
}

// Double-encoding: a percent-escape inside a literal must be re-encoded ('%' → %25) so the
// server's single decode yields the literal, not a second expression.
TEST(GuardRedTeam, ODataPercentInLiteralStaysLiteral) {
    auto q = odata().run(language::odata,
                         "$filter=email%20eq%20'%2527%20or%20startswith(iban,%2527BE%2527)%20or%20"
                         "email%20eq%20%2527'");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    // Decoded once (what the server sees), the whole tail is one string literal.
    std::string once = decoded(q.query);
    EXPECT_NE(once.find("'%27 or startswith(iban,%27BE%27) or email eq %27'"), std::string::npos)
        << once;
}

// fetchXml ------------------------------------------------------------------------------------

// A fetchXml condition on a stripped column.
TEST(GuardRedTeam, FetchXmlConditionOnStrippedColumn) {
    EXPECT_TRUE(refused(fetch().run(
        language::odata,
        "fetchXml=%3Cfetch%3E%3Centity%20name%3D%22contact%22%3E%3Cattribute%20name%3D%22emailaddress1%22/"
        "%3E%3Cfilter%3E%3Ccondition%20attribute%3D%22iban%22%20operator%3D%22like%22%20value%3D%22BE%25%22/"
        "%3E%3C/filter%3E%3C/entity%3E%3C/fetch%3E")));
}

std::string fx(std::string_view xml) { return "fetchXml=" + encoded(xml); }

// XML character references decode to the stripped name at the server.
TEST(GuardRedTeam, FetchXmlCharacterReferenceInName) {
    EXPECT_TRUE(refused(fetch().run(
        language::odata,
        fx(R"(<fetch><entity name="contact"><filter><condition attribute="i&#98;an" operator="not-null"/></filter></entity></fetch>)"))));
    EXPECT_TRUE(refused(fetch().run(
        language::odata,
        fx(R"(<fetch><entity name="contact"><order attribute="&#x69;ban"/></entity></fetch>)"))));
}

// Dataverse column comparison (valueof), link-entity, entityname, aggregates, alias.
TEST(GuardRedTeam, FetchXmlOtherColumnReads) {
    for (std::string_view x : {
             R"(<fetch><entity name="contact"><filter><condition attribute="emailaddress1" operator="eq" valueof="iban"/></filter></entity></fetch>)",
             R"(<fetch><entity name="contact"><link-entity name="contact" from="contactid" to="contactid" alias="c"><attribute name="iban"/></link-entity></entity></fetch>)",
             R"(<fetch><entity name="contact"><filter><condition entityname="c" attribute="iban" operator="not-null"/></filter></entity></fetch>)",
             R"(<fetch aggregate="true"><entity name="contact"><attribute name="iban" aggregate="max" alias="m"/></entity></fetch>)",
             R"(<fetch><entity name="contact"><attribute name="emailaddress1" alias="iban"/></entity></fetch>)",
             R"(<fetch><entity name="contact"><order attribute="emailaddress1" alias="iban"/></entity></fetch>)",
             R"(<fetch><entity name="contact"><filter><link-entity name="contact" from="contactid" to="contactid" link-type="any"><filter><condition attribute="iban" operator="like" value="BE%"/></filter></link-entity></filter></entity></fetch>)",
             R"(<fetch><entity name="account"><attribute name="name"/></entity></fetch>)",
             R"(<fetch xmlns="urn:x"><entity name="contact"><attribute name="emailaddress1"/></entity></fetch>)",
         }) {
        EXPECT_TRUE(refused(fetch().run(language::odata, fx(x)))) << x;
    }
}

// Comments, CDATA, DOCTYPE/entities, processing instructions.
TEST(GuardRedTeam, FetchXmlMarkupTricks) {
    for (std::string_view x : {
             R"(<fetch><entity name="contact"><filter><condition attribute="ib<!-- -->an" operator="not-null"/></filter></entity></fetch>)",
             R"(<!DOCTYPE fetch [<!ENTITY f "iban">]><fetch><entity name="contact"><order attribute="&f;"/></entity></fetch>)",
             R"(<?xml version="1.0"?><fetch><entity name="contact"><order attribute="iban"/></entity></fetch>)",
             R"(<fetch><entity name="contact"><filter><condition attribute="emailaddress1" operator="eq"><value><![CDATA[x]]></value></condition></filter></entity></fetch>)",
         }) {
        EXPECT_TRUE(refused(fetch().run(language::odata, fx(x)))) << x;
    }
}

// pugixml does not refuse a repeated attribute; the server's parser might read the second one.
// The guard must forward only what it checked.
TEST(GuardRedTeam, FetchXmlDuplicateAttribute) {
    auto q = fetch().run(
        language::odata,
        fx(R"(<fetch><entity name="contact"><filter><condition attribute="emailaddress1" attribute="iban" operator="not-null"/></filter></entity></fetch>)"));
    EXPECT_TRUE(secure(q, "iban"));
    auto o = fetch().run(
        language::odata,
        fx(R"(<fetch><entity name="contact"><order attribute="emailaddress1" attribute="iban"/></entity></fetch>)"));
    EXPECT_TRUE(secure(o, "iban"));
}

// fetchXml cannot hide beside other options; a selection is stripped and the rules forced.
TEST(GuardRedTeam, FetchXmlSelectionAndCombination) {
    EXPECT_TRUE(refused(fetch().run(
        language::odata,
        fx(R"(<fetch><entity name="contact"><attribute name="emailaddress1"/></entity></fetch>)") +
            "&$filter=startswith(iban,'BE')")));
    for (std::string_view x : {
             R"(<fetch><entity name="contact"><attribute name="emailaddress1"/><attribute name="iban"/></entity></fetch>)",
             R"(<fetch><entity name="contact"><all-attributes/></entity></fetch>)",
         }) {
        auto q = fetch().run(language::odata, fx(x));
        ASSERT_TRUE(q.forwarded()) << q.detail;
        EXPECT_TRUE(secure(q, "iban"));
        EXPECT_NE(decoded(q.query).find("donotbulkemail"), std::string::npos);
        EXPECT_NE(decoded(q.query).find("statecode"), std::string::npos);
    }
}

// =============================================================================================
// SOQL (Salesforce REST q= and SOAP query / queryAll / queryMore)
// =============================================================================================

guarded_query soql_rest(const red_policy& p, std::string_view soql_text) {
    return p.run(language::soql, "q=" + encoded(soql_text));
}

// The forwarded statement must reference no field the purpose strips.
::testing::AssertionResult soql_secure(const guarded_query& q, std::string_view field) {
    if (!q.forwarded()) return ::testing::AssertionSuccess();
    std::string stmt = decoded(q.query.substr(q.query.find('=') + 1));
    auto refs = soql_references(stmt);
    if (!refs) return ::testing::AssertionFailure() << "forwarded an unparseable statement: " << stmt;
    for (const auto& r : *refs)
        if (contains_ci(r.path, field))
            return ::testing::AssertionFailure() << "forwarded statement reads " << r.path << ": "
                                                 << stmt;
    return ::testing::AssertionSuccess();
}

// SOQL has no comments; a `--` / `/* */` a permissive parser skipped would hide a clause.
TEST(GuardRedTeam, SoqlCommentSyntax) {
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact WHERE Email = 'a' -- OR Iban__c LIKE 'BE%'")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact /* x */ WHERE Iban__c LIKE 'BE%'")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact // x")));
}

// Salesforce backslash escapes: \' inside a literal never closes it.
TEST(GuardRedTeam, SoqlBackslashEscapedQuote) {
    auto q = soql_rest(soql(), R"(SELECT Email FROM Contact WHERE Email = 'a\' OR Iban__c LIKE \'BE%')");
    EXPECT_TRUE(soql_secure(q, "Iban__c"));
    auto r = soql_rest(soql(), R"(SELECT Email FROM Contact WHERE Email = 'a\\' OR Iban__c LIKE 'BE%')");
    EXPECT_TRUE(refused(r));  // \\ is a backslash: the literal closes, Iban__c is read → refused
}

// SQL-style doubled quotes are not SOQL escapes.
TEST(GuardRedTeam, SoqlDoubledQuote) {
    EXPECT_TRUE(soql_secure(
        soql_rest(soql(), "SELECT Email FROM Contact WHERE Email = 'a'' OR Iban__c LIKE ''BE%'"),
        "Iban__c"));
}

// Unicode quotes and look-alike letters (U+2019, U+02BC, fullwidth, dotless i).
TEST(GuardRedTeam, SoqlUnicodeLookalikes) {
    EXPECT_TRUE(refused(soql_rest(soql(),
                                  "SELECT Email FROM Contact WHERE Email = \xE2\x80\x99" "a\xE2\x80\x99 OR "
                                  "Iban__c LIKE 'BE%'")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact WHERE \xC4\xB1" "ban__c LIKE 'BE%'")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact WHERE Email\xC2\xA0= 'a'")));
}

// Case variants: SOQL names are case-insensitive.
TEST(GuardRedTeam, SoqlCaseVariants) {
    EXPECT_TRUE(refused(soql_rest(soql(), "select email from contact where IBAN__C like 'BE%'")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact ORDER BY iban__c")));
    auto q = soql_rest(soql(), "SELECT Email, iBaN__C FROM Contact");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_TRUE(soql_secure(q, "Iban__c"));
}

// Fields qualified with the object name or an object alias (`FROM Contact c`).
TEST(GuardRedTeam, SoqlObjectQualifiedAndAliasedFields) {
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact WHERE Contact.Iban__c LIKE 'BE%'")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT c.Email FROM Contact c WHERE c.Iban__c LIKE 'BE%'")));
    EXPECT_TRUE(soql_secure(soql_rest(soql(), "SELECT Contact.Iban__c FROM Contact"), "Iban__c"));
}

// Relationship paths back to a contact, child subqueries, TYPEOF, semi-joins.
TEST(GuardRedTeam, SoqlRelationshipReads) {
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact WHERE Account.Owner.Contact.Iban__c != null")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email, (SELECT Id FROM Cases WHERE Contact.Iban__c LIKE 'BE%') FROM Contact")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email, (SELECT Iban__c FROM Cases) FROM Contact")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT TYPEOF Owner WHEN User THEN Contact.Iban__c END FROM Contact")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact WHERE Id IN (SELECT ContactId FROM Case WHERE Contact.Iban__c LIKE 'BE%')")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact WHERE Account.Name IN (SELECT Iban__c FROM Contact)")));
}

// Functions reading stripped fields; bind variables; field-to-field.
TEST(GuardRedTeam, SoqlFunctionsAndBinds) {
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT toLabel(Iban__c) FROM Contact")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT FORMAT(Birthdate) FROM Contact")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT convertCurrency(Iban__c) FROM Contact")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact WHERE CALENDAR_YEAR(Birthdate) = 1980")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact WHERE Email = :Iban__c")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact WHERE Email = Iban__c")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact WHERE DISTANCE(Iban__c, GEOLOCATION(1,2), 'km') < 5")));
}

// Aggregates: refused with record rules; without, aliases may not rename onto field names.
TEST(GuardRedTeam, SoqlAggregates) {
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT COUNT() FROM Contact WHERE Email LIKE 'a%'")));
    EXPECT_TRUE(refused(soql_rest(soql_no_rules(), "SELECT COUNT(Id) n FROM Contact GROUP BY Iban__c")));
    EXPECT_TRUE(refused(soql_rest(soql_no_rules(), "SELECT MAX(Email) Phone FROM Contact GROUP BY LastName")));
    EXPECT_TRUE(refused(soql_rest(soql_no_rules(), "SELECT MAX(Email) iban__C FROM Contact GROUP BY LastName")));
    EXPECT_TRUE(refused(soql_rest(soql_no_rules(), "SELECT COUNT(Id) FROM Contact GROUP BY LastName HAVING MAX(Iban__c) > 'BE5'")));
    EXPECT_TRUE(refused(soql_rest(soql_no_rules(), "SELECT LastName FROM Contact GROUP BY ROLLUP(LastName)")));
}

// FIELDS(ALL) and the forced rule fields.
TEST(GuardRedTeam, SoqlSelectionStripsAndForcesRuleFields) {
    for (std::string_view s : {"SELECT FIELDS(ALL) FROM Contact", "SELECT Email FROM Contact",
                               "SELECT Email, Iban__c FROM Contact",
                               "SELECT FIELDS(CUSTOM), Email FROM Contact LIMIT 200"}) {
        auto q = soql_rest(soql(), s);
        ASSERT_TRUE(q.forwarded()) << s << ": " << q.detail;
        EXPECT_TRUE(soql_secure(q, "Iban__c")) << s;
        EXPECT_TRUE(sends(q, "HasOptedOutOfEmail")) << s;
        EXPECT_TRUE(contains_ci(decoded(q.query), "Consent__c")) << s;
    }
}

// REST parameter tricks: q twice, Q, extra parameters, SOSL.
TEST(GuardRedTeam, SoqlRestParameterTricks) {
    EXPECT_EQ(soql().run(language::soql,
                         "q=SELECT+Email+FROM+Contact&q=SELECT+Iban__c+FROM+Contact")
                  .result,
              verdict::invalid);
    EXPECT_TRUE(refused(soql().run(language::soql, "Q=SELECT+Iban__c+FROM+Contact")));
    EXPECT_TRUE(refused(soql().run(language::soql, "q=SELECT+Email+FROM+Contact&%71=SELECT+Iban__c+FROM+Contact")));
    EXPECT_TRUE(refused(soql().run(language::soql, "q=SELECT+Email+FROM+Contact&q%20=SELECT+Iban__c+FROM+Contact")));
    EXPECT_TRUE(refused(soql_rest(soql(), "FIND {BE71} IN ALL FIELDS RETURNING Contact(Iban__c)")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact FOR UPDATE")));
    EXPECT_TRUE(refused(soql_rest(soql(), "SELECT Email FROM Contact, Account")));
}

// SOAP ------------------------------------------------------------------------------------

std::string envelope(std::string_view body_inner, std::string_view header = "",
                     std::string_view prolog = "") {
    std::string out(prolog);
    out += R"(<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" )"
           R"(xmlns:urn="urn:partner.soap.sforce.com">)";
    if (!header.empty()) out += "<soapenv:Header>" + std::string(header) + "</soapenv:Header>";
    out += "<soapenv:Body>" + std::string(body_inner) + "</soapenv:Body></soapenv:Envelope>";
    return out;
}

std::string query_op(std::string_view text) {
    return "<urn:query><urn:queryString>" + std::string(text) + "</urn:queryString></urn:query>";
}

::testing::AssertionResult soap_secure(const guarded_query& q, std::string_view field) {
    if (!q.forwarded()) return ::testing::AssertionSuccess();
    if (contains_ci(q.body, field))
        return ::testing::AssertionFailure() << "forwarded body names " << field << ": " << q.body;
    return ::testing::AssertionSuccess();
}

// XML character references, CDATA and comments are decoded/removed by the server's XML parser.
TEST(GuardRedTeam, SoapEncodedQueryString) {
    EXPECT_TRUE(refused(soql().run(language::soql, "",
                                   envelope(query_op("SELECT Email FROM Contact WHERE I&#98;an__c LIKE 'BE%'")))));
    EXPECT_TRUE(refused(soql().run(language::soql, "",
                                   envelope(query_op("<![CDATA[SELECT Email FROM Contact WHERE Iban__c LIKE 'BE%']]>")))));
    EXPECT_TRUE(refused(soql().run(language::soql, "",
                                   envelope(query_op("SELECT Email FROM Contact WHERE Ib<!-- x -->an__c LIKE 'BE%'")))));
    EXPECT_TRUE(refused(soql().run(language::soql, "",
                                   envelope(query_op("SELECT Email FROM Contact WHERE Ib<![CDATA[an]]>__c LIKE 'BE%'")))));
}

// DTDs and entity expansion.
TEST(GuardRedTeam, SoapDoctypeEntities) {
    EXPECT_TRUE(refused(soql().run(
        language::soql, "",
        envelope(query_op("SELECT Email FROM Contact WHERE &f; LIKE 'BE%'"), "",
                 R"(<!doctype x [<!ENTITY f "Iban__c">]>)"))));
    EXPECT_TRUE(refused(soql().run(
        language::soql, "",
        envelope(query_op("SELECT Email FROM Contact WHERE &f; LIKE 'BE%'"), "",
                 R"(<?xml version="1.0"?><!DOCTYPE x [<!ENTITY f "Iban__c">]>)"))));
}

// Two Bodies, two operations, two queryStrings: the server might read another one.
TEST(GuardRedTeam, SoapMultipleBodiesOrOperations) {
    std::string two_bodies =
        R"(<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com">)"
        "<soapenv:Body>" + query_op("SELECT Email FROM Contact") + "</soapenv:Body>"
        "<soapenv:Body>" + query_op("SELECT Iban__c FROM Contact") + "</soapenv:Body></soapenv:Envelope>";
    EXPECT_TRUE(refused(soql().run(language::soql, "", two_bodies)));
    EXPECT_TRUE(refused(soql().run(
        language::soql, "",
        envelope(query_op("SELECT Email FROM Contact") + query_op("SELECT Iban__c FROM Contact")))));
    EXPECT_TRUE(refused(soql().run(
        language::soql, "",
        envelope("<urn:query><urn:queryString>SELECT Email FROM Contact</urn:queryString>"
                 "<urn:queryString>SELECT Iban__c FROM Contact</urn:queryString></urn:query>"))));
}

// Namespace prefix re-bound on an inner element: `urn:` there is not the Partner API.
TEST(GuardRedTeam, SoapNamespaceRebinding) {
    EXPECT_TRUE(refused(soql().run(
        language::soql, "",
        envelope(R"(<urn:query><urn:queryString xmlns:urn="urn:evil">SELECT Iban__c FROM Contact</urn:queryString></urn:query>)"))));
    // A different SOAP envelope namespace (SOAP 1.2) the guard does not read.
    std::string soap12 =
        R"(<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:urn="urn:partner.soap.sforce.com"><e:Body>)" +
        query_op("SELECT Iban__c FROM Contact") + "</e:Body></e:Envelope>";
    EXPECT_TRUE(refused(soql().run(language::soql, "", soap12)));
    // Default-namespace spelling is the same document: checked the same way.
    std::string defaults =
        R"(<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><query xmlns="urn:partner.soap.sforce.com"><queryString>SELECT Email FROM Contact WHERE Iban__c LIKE 'BE%'</queryString></query></Body></Envelope>)";
    EXPECT_TRUE(refused(soql().run(language::soql, "", defaults)));
}

// xsi:type and other attributes on the queryString, extra headers, SOSL search operation.
TEST(GuardRedTeam, SoapExtraAttributesHeadersAndOperations) {
    auto q = soql().run(
        language::soql, "",
        envelope(R"(<urn:query><urn:queryString xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xsd:string">SELECT Email FROM Contact</urn:queryString></urn:query>)"));
    EXPECT_TRUE(soap_secure(q, "xsi:type"));
    EXPECT_TRUE(refused(soql().run(
        language::soql, "",
        envelope(query_op("SELECT Email FROM Contact"),
                 "<urn:MruHeader><urn:updateMru>true</urn:updateMru></urn:MruHeader>"))));
    EXPECT_TRUE(refused(soql().run(
        language::soql, "",
        envelope("<urn:search><urn:searchString>FIND {BE71} RETURNING Contact(Iban__c)</urn:searchString></urn:search>"))));
    EXPECT_TRUE(refused(soql().run(
        language::soql, "",
        envelope("<urn:retrieve><urn:fieldList>Iban__c</urn:fieldList><urn:sObjectType>Contact</urn:sObjectType></urn:retrieve>"))));
}

// The forwarded envelope is written afresh with the checked statement and the rule fields.
TEST(GuardRedTeam, SoapForwardedBodyIsReserialised) {
    auto q = soql().run(language::soql, "",
                        envelope(query_op("SELECT Email, Iban__c FROM Contact")));
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_TRUE(soap_secure(q, "Iban__c"));
    EXPECT_NE(q.body.find("HasOptedOutOfEmail"), std::string::npos);
    EXPECT_TRUE(q.query.empty());
}

// =============================================================================================
// HubSpot CRM search (JSON body)
// =============================================================================================

guarded_query hs(std::string_view body) { return hubspot().run(language::hubspot_search, "", body); }

// JSON escapes in keys: "prop\u0065rtyName" is "propertyName" to the server's JSON parser.
TEST(GuardRedTeam, HubSpotEscapedKeyDuplicate) {
    EXPECT_TRUE(refused(hs(
        R"({"filterGroups":[{"filters":[{"propertyName":"email","prop\u0065rtyName":"iban","operator":"HAS_PROPERTY"}]}]})")));
    EXPECT_TRUE(refused(hs(
        R"({"filterGroups":[{"filters":[{"prop\u0065rtyName":"iban","operator":"HAS_PROPERTY"}]}]})")));
}

// Duplicate keys: Jackson (last wins) vs a first-wins reader.
TEST(GuardRedTeam, HubSpotDuplicateKeys) {
    EXPECT_TRUE(refused(hs(
        R"({"filterGroups":[{"filters":[{"propertyName":"email","propertyName":"iban","operator":"HAS_PROPERTY"}]}]})")));
    EXPECT_TRUE(refused(hs(
        R"({"sorts":["email"],"sorts":["iban"]})")));
    EXPECT_TRUE(refused(hs(
        R"({"properties":["email"],"properties":["iban"]})")));
}

// Escapes in the property name value decode to the stripped name.
TEST(GuardRedTeam, HubSpotEscapedPropertyName) {
    EXPECT_TRUE(refused(hs(
        R"({"filterGroups":[{"filters":[{"propertyName":"\u0069ban","operator":"HAS_PROPERTY"}]}]})")));
    EXPECT_TRUE(refused(hs(R"({"sorts":[{"propertyName":"ib\u0061n"}]})")));
}

// Case variants, sort strings with '-', association pseudo-properties, dotted names.
TEST(GuardRedTeam, HubSpotPropertyNameVariants) {
    EXPECT_TRUE(refused(hs(R"({"filterGroups":[{"filters":[{"propertyName":"IBAN","operator":"HAS_PROPERTY"}]}]})")));
    EXPECT_TRUE(refused(hs(R"({"sorts":["-iban"]})")));
    EXPECT_TRUE(refused(hs(R"({"sorts":["--iban"]})")));
    EXPECT_TRUE(refused(hs(R"({"filterGroups":[{"filters":[{"propertyName":"associations.company","operator":"EQ","value":"1"}]}]})")));
    EXPECT_TRUE(refused(hs(R"({"filterGroups":[{"filters":[{"propertyName":" iban","operator":"HAS_PROPERTY"}]}]})")));
}

// Full-text query without declared search fields; unknown members; nested groups; non-JSON.
TEST(GuardRedTeam, HubSpotGrammarEdges) {
    EXPECT_TRUE(refused(hs(R"({"query":"BE71"})")));
    EXPECT_TRUE(refused(hs(R"({"propertiesWithHistory":["iban"]})")));
    EXPECT_TRUE(refused(hs(R"({"associations":["companies"]})")));
    EXPECT_TRUE(refused(hs(R"({"filterGroups":[{"filters":[],"filterGroups":[{"filters":[{"propertyName":"iban","operator":"HAS_PROPERTY"}]}]}]})")));
    EXPECT_TRUE(refused(hs(R"({"filterGroups":[{"filters":[{"propertyName":["iban"],"operator":"HAS_PROPERTY"}]}]})")));
    EXPECT_TRUE(refused(hs(R"({/*x*/"properties":["iban"]})")));
    EXPECT_TRUE(refused(hs(R"({"properties":["email"],})")));
    EXPECT_TRUE(refused(hs("\xEF\xBB\xBF{\"properties\":[\"email\"]}")));
    EXPECT_TRUE(refused(hubspot().run(language::hubspot_search, "properties=iban",
                                      R"({"properties":["email"]})")));
    EXPECT_TRUE(refused(hs(R"({"filterGroups":[{"filters":[{"propertyName":"email","operator":"eq","value":"x"}]}]})")));
}

// The selection: stripped properties dropped, rule fields forced, with or without properties.
TEST(GuardRedTeam, HubSpotSelectionStripsAndForcesRuleFields) {
    for (std::string_view b : {R"({"properties":["email","iban"]})", R"({})",
                               R"({"properties":[]})", R"({"properties":["IBAN","notes"]})"}) {
        auto q = hs(b);
        ASSERT_TRUE(q.forwarded()) << b << ": " << q.detail;
        EXPECT_TRUE(secure(q, "iban")) << b;
        EXPECT_TRUE(secure(q, "notes")) << b;
        EXPECT_NE(q.body.find("hs_email_optout"), std::string::npos) << b;
    }
}

// =============================================================================================
// JSON:API (SuiteCRM V8: PHP's query-string parser)
// =============================================================================================

guarded_query ja(std::string_view raw) { return jsonapi().run(language::jsonapi, raw); }

// Filters and sorts on the stripped field, in encoded spellings PHP decodes.
TEST(GuardRedTeam, JsonApiStrippedFilterAndSort) {
    EXPECT_TRUE(refused(ja("filter[iban][eq]=BE71")));
    EXPECT_TRUE(refused(ja("filter%5Biban%5D%5Beq%5D=BE71")));
    EXPECT_TRUE(refused(ja("filter[ib%61n][gt]=BE")));
    EXPECT_TRUE(refused(ja("filter[IBAN][eq]=BE71")));
    EXPECT_TRUE(refused(ja("sort=-iban")));
    EXPECT_TRUE(refused(ja("sort=first_name,-birthdate")));
}

// PHP name mangling: leading spaces stripped, unclosed '[' turned into '_', text after ']'
// ignored, '.' and ' ' in the base name turned into '_'.
TEST(GuardRedTeam, JsonApiPhpNameMangling) {
    EXPECT_TRUE(secure(ja("%20filter[iban][eq]=BE71"), "iban"));
    EXPECT_TRUE(secure(ja("filter[iban][eq]x=BE71"), "iban"));
    EXPECT_TRUE(secure(ja("filter[iban=BE71"), "iban"));
    EXPECT_TRUE(secure(ja("filter[iban]][eq]=BE71"), "iban"));
    EXPECT_TRUE(secure(ja("filter.iban=BE71"), "iban"));
    EXPECT_TRUE(secure(ja("fields[Contacts]=first_name&fields%5BContacts%5D=iban"), "iban"));
}

// Repeated parameters: PHP keeps the last.
TEST(GuardRedTeam, JsonApiRepeatedParameters) {
    EXPECT_EQ(ja("sort=first_name&sort=iban").result, verdict::invalid);
    EXPECT_EQ(ja("filter[first_name][eq]=a&filter%5Bfirst_name%5D%5Beq%5D=b").result,
              verdict::invalid);
}

// SuiteCRM upper-cases the operator: the guard must not read `EQ` as something else.
TEST(GuardRedTeam, JsonApiOperatorCaseAndUnknown) {
    EXPECT_TRUE(refused(ja("filter[iban][EQ]=BE71")));
    EXPECT_TRUE(refused(ja("filter[first_name][eq]=a&filter[operator]=or%20iban")));
    EXPECT_TRUE(refused(ja("filter[first_name][]=a")));
}

// Side-loading and other resource types.
TEST(GuardRedTeam, JsonApiIncludeAndOtherTypes) {
    EXPECT_TRUE(refused(ja("include=accounts")));
    EXPECT_TRUE(refused(ja("Include=accounts")));
    EXPECT_TRUE(refused(ja("include[]=accounts")));
    EXPECT_TRUE(refused(ja("fields[Accounts]=iban")));
    EXPECT_TRUE(refused(ja("fields[contacts]=iban")));
}

// The selection: stripped and rule fields forced.
TEST(GuardRedTeam, JsonApiSelectionStripsAndForcesRuleFields) {
    for (std::string_view raw : {"fields[Contacts]=first_name,iban", "", "fields[Contacts]=",
                                 "page[size]=10"}) {
        auto q = ja(raw);
        ASSERT_TRUE(q.forwarded()) << raw << ": " << q.detail;
        EXPECT_TRUE(secure(q, "iban")) << raw;
        EXPECT_NE(decoded(q.query).find("email_opt_out"), std::string::npos) << raw;
    }
}

// =============================================================================================
// none / params routes
// =============================================================================================

guarded_query pr(std::string_view raw) { return params().run(language::params, raw); }

// Selection parameter repeated in another case / encoding: CRMs differ on which one wins.
TEST(GuardRedTeam, ParamsRepeatedSelection) {
    EXPECT_EQ(pr("properties=email&Properties=iban").result, verdict::invalid);
    EXPECT_EQ(pr("properties=email&propert%69es=iban").result, verdict::invalid);
    EXPECT_TRUE(secure(pr("properties[]=iban"), "iban"));
    EXPECT_TRUE(secure(pr("propertiesWithHistory=iban"), "iban"));
    EXPECT_TRUE(secure(pr("associations=companies&properties=email"), "companies"));
}

// A declared filter parameter on a stripped field; undeclared and case-variant filters.
TEST(GuardRedTeam, ParamsFilterOnStrippedField) {
    EXPECT_TRUE(refused(pr("account_no=BE71")));
    EXPECT_TRUE(refused(pr("Status=customer&iban=BE71")));
    EXPECT_TRUE(refused(pr("iban=BE71")));
}

// Opaque values cannot smuggle parameters: every special character is re-encoded.
TEST(GuardRedTeam, ParamsOpaqueValuesCannotInject) {
    auto q = pr("after=1%26properties%3Diban&status=a%3Bproperties%3Diban");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    // Three parameters (after, status, properties), each with exactly one raw '=', no raw ';'.
    EXPECT_EQ(std::count(q.query.begin(), q.query.end(), '&'), 2) << q.query;
    EXPECT_EQ(std::count(q.query.begin(), q.query.end(), '='), 3) << q.query;
    EXPECT_EQ(q.query.find(';'), std::string::npos) << q.query;
    EXPECT_FALSE(std::find(q.sent.begin(), q.sent.end(), "iban") != q.sent.end());
}

// The selection: stripped and rule fields forced, with or without a selection parameter.
TEST(GuardRedTeam, ParamsSelectionStripsAndForcesRuleFields) {
    for (std::string_view raw : {"properties=email,iban", "", "PROPERTIES=iban", "properties=",
                                 "after=5", "properties=email%2Ciban"}) {
        auto q = pr(raw);
        ASSERT_TRUE(q.forwarded()) << raw << ": " << q.detail;
        EXPECT_TRUE(secure(q, "iban")) << raw;
        EXPECT_NE(decoded(q.query).find("hs_email_optout"), std::string::npos) << raw;
    }
}

}  // namespace
}  // namespace exportwall::config::query
