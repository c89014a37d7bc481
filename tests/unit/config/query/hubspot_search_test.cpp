#include "config/query/hubspot_search.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "filters/field_set.hpp"

namespace exportwall::config::query {
namespace {

// Stands in for config::decide's opener: "sealed:<cursor>" opens to <cursor>, anything else does
// not; it keeps the binding it was asked under.
class fake_opener final : public token_opener {
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

// A contacts route: the purpose keeps a few HubSpot properties; the catalogue also has a bank
// account and a birth date the purpose strips, and the consent and objection fields the record
// rules read.
class hubspot_route {
  public:
    hubspot_route()
        : allowed_({"id", "email", "firstname", "lastname", "createdate", "lifecyclestage",
                    "address.city"}),
          catalogue_({"id", "email", "firstname", "lastname", "createdate", "lifecyclestage",
                      "address.city", "iban", "birth_date", "consent.email",
                      "objection.direct_marketing"}) {}

    [[nodiscard]] field_policy policy() const {
        field_policy p;
        p.allowed = &allowed_;
        p.catalogue = &catalogue_;
        p.rule_fields = rule_fields_;
        p.search_fields = search_fields_;
        p.object_name = "contacts";
        p.tokens = tokens_;
        return p;
    }
    void tokens(token_opener* t) { tokens_ = t; }
    void search_fields(std::vector<std::string> fields) { search_fields_ = std::move(fields); }

    [[nodiscard]] guarded_query guard(std::string_view body, std::string_view raw = "") const {
        return guard_hubspot_search(policy(), raw, body);
    }

  private:
    filters::field_set allowed_;
    filters::field_set catalogue_;
    std::vector<std::string> rule_fields_{"consent.email", "objection.direct_marketing"};
    std::vector<std::string> search_fields_;
    token_opener* tokens_ = nullptr;
};

// Every allowed property (sorted, as the field set keeps them), then the rule fields.
constexpr std::string_view every_property =
    R"("properties":["address.city","createdate","email","firstname","id","lastname",)"
    R"("lifecyclestage","consent.email","objection.direct_marketing"])";

std::string with_every_property(std::string_view before) {
    std::string s(before);
    s += every_property;
    return s;
}

TEST(HubspotSearch, ForwardsEmailEqualityFilterWithEveryAllowedProperty) {
    hubspot_route route;
    auto q = route.guard(R"({"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ",)"
                         R"("value":"alice@example.com"}]}]})");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body, with_every_property(R"({"filterGroups":[{"filters":[{"propertyName":"email",)"
                                          R"("operator":"EQ","value":"alice@example.com"}]}],)") +
                          "}");
    EXPECT_EQ(q.query, "");
    EXPECT_TRUE(q.requested.empty());
}

TEST(HubspotSearch, ForwardsBetweenOnCreatedateWithBothBounds) {
    hubspot_route route;
    auto q = route.guard(
        R"({"filterGroups":[{"filters":[{"propertyName":"createdate","operator":"BETWEEN",)"
        R"("highValue":"1642672800000","value":"1579514400000"}]}],"properties":["email"]})");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body,
              R"({"filterGroups":[{"filters":[{"propertyName":"createdate","operator":"BETWEEN",)"
              R"("value":"1579514400000","highValue":"1642672800000"}]}],)"
              R"("properties":["email","consent.email","objection.direct_marketing"]})");
}

TEST(HubspotSearch, ForwardsInWithItsValuesList) {
    hubspot_route route;
    auto q = route.guard(
        R"({"filterGroups":[{"filters":[{"propertyName":"lifecyclestage","operator":"IN",)"
        R"("values":["lead","customer",3,true]}]}],"properties":["id"]})");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body,
              R"({"filterGroups":[{"filters":[{"propertyName":"lifecyclestage","operator":"IN",)"
              R"("values":["lead","customer",3,true]}]}],)"
              R"("properties":["id","consent.email","objection.direct_marketing"]})");
}

TEST(HubspotSearch, ForwardsHasPropertyWithoutAValueAndOrsGroups) {
    hubspot_route route;
    auto q = route.guard(
        R"({"filterGroups":[{"filters":[{"propertyName":"email","operator":"HAS_PROPERTY"}]},)"
        R"({"filters":[{"propertyName":"firstname","operator":"NOT_HAS_PROPERTY"},)"
        R"({"propertyName":"lastname","operator":"CONTAINS_TOKEN","value":"smi*"}]}],)"
        R"("properties":["id"]})");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(
        q.body,
        R"({"filterGroups":[{"filters":[{"propertyName":"email","operator":"HAS_PROPERTY"}]},)"
        R"({"filters":[{"propertyName":"firstname","operator":"NOT_HAS_PROPERTY"},)"
        R"({"propertyName":"lastname","operator":"CONTAINS_TOKEN","value":"smi*"}]}],)"
        R"("properties":["id","consent.email","objection.direct_marketing"]})");
}

TEST(HubspotSearch, ForwardsSortsInStringAndObjectForm) {
    hubspot_route route;
    auto q = route.guard(
        R"({"sorts":["-createdate",{"propertyName":"lastname","direction":"ASCENDING"},)"
        R"("firstname",{"propertyName":"id"}],"properties":["id"]})");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body,
              R"({"sorts":["-createdate",{"propertyName":"lastname","direction":"ASCENDING"},)"
              R"("firstname",{"propertyName":"id"}],)"
              R"("properties":["id","consent.email","objection.direct_marketing"]})");
}

TEST(HubspotSearch, ForwardsRequestedPropertiesWithRuleFieldsForcedBack) {
    hubspot_route route;
    auto q = route.guard(R"({"properties":["email","firstname"]})");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body, R"({"properties":["email","firstname","consent.email",)"
                      R"("objection.direct_marketing"]})");
    EXPECT_EQ(q.requested, (std::vector<std::string>{"email", "firstname"}));
    EXPECT_EQ(q.kept, (std::vector<std::string>{"email", "firstname"}));
    EXPECT_EQ(q.sent, (std::vector<std::string>{"email", "firstname", "consent.email",
                                                "objection.direct_marketing"}));
}

TEST(HubspotSearch, StripsSelectedPropertyThePurposeDoesNotKeep) {
    hubspot_route route;
    auto q = route.guard(R"({"properties":["email","iban","birth_date"]})");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.stripped, (std::vector<std::string>{"iban", "birth_date"}));
    EXPECT_EQ(q.body, R"({"properties":["email","consent.email","objection.direct_marketing"]})");
}

TEST(HubspotSearch, SelectsEveryAllowedPropertyWhenOnlyStrippedOnesWereAsked) {
    hubspot_route route;
    auto q = route.guard(R"({"properties":["iban"]})");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body, with_every_property("{") + "}");
}

TEST(HubspotSearch, ForwardsTheCrmsCursorOpenedFromTheSealedAfter) {
    hubspot_route route;
    fake_opener opener;
    route.tokens(&opener);
    auto q = route.guard(R"({"limit":100,"after":"sealed:20","properties":["id"]})");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body, R"({"properties":["id","consent.email","objection.direct_marketing"],)"
                      R"("limit":100,"after":"20"})");
    // Bound to the body without its cursor: what the next page's request repeats.
    ASSERT_EQ(opener.bindings.size(), 1U);
    EXPECT_EQ(opener.bindings[0],
              R"({"properties":["id","consent.email","objection.direct_marketing"],"limit":100})");
    EXPECT_EQ(q.continuation_binding, opener.bindings[0]);
}

TEST(HubspotSearch, AFirstPageIsBoundToItsWholeBody) {
    hubspot_route route;
    auto first = route.guard(R"({"limit":100,"properties":["id"]})");
    ASSERT_TRUE(first.forwarded()) << first.detail;
    EXPECT_EQ(first.continuation_binding, first.body);
    fake_opener opener;
    route.tokens(&opener);
    auto next = route.guard(R"({"after":"sealed:100","limit":100,"properties":["id"]})");
    ASSERT_TRUE(next.forwarded()) << next.detail;
    EXPECT_EQ(next.continuation_binding, first.continuation_binding);
    auto other = route.guard(R"({"after":"sealed:100","limit":99,"properties":["id"]})");
    ASSERT_TRUE(other.forwarded()) << other.detail;
    EXPECT_NE(other.continuation_binding, first.continuation_binding);
}

TEST(HubspotSearch, WritesMembersInCanonicalOrder) {
    hubspot_route route;
    fake_opener opener;
    route.tokens(&opener);
    route.search_fields({"email", "firstname"});
    auto q =
        route.guard(R"({ "after" : "sealed:5", "limit" : 10, "properties" : ["id"], "query" : "alice",)"
                    R"( "sorts" : ["email"], "filterGroups" : [ ] })");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body, R"({"filterGroups":[],"sorts":["email"],"query":"alice",)"
                      R"("properties":["id","consent.email","objection.direct_marketing"],)"
                      R"("limit":10,"after":"5"})");
}

TEST(HubspotSearch, RefusesFilterOnStrippedField) {
    hubspot_route route;
    auto q = route.guard(
        R"({"filterGroups":[{"filters":[{"propertyName":"iban","operator":"CONTAINS_TOKEN",)"
        R"("value":"BE71*"}]}],"properties":["email"]})");
    EXPECT_EQ(q.result, verdict::field_not_permitted);
    EXPECT_EQ(q.field, "iban");
    EXPECT_EQ(q.field_use, use::filter);
    EXPECT_EQ(q.body, "");
    EXPECT_EQ(q.detail.find("BE71"), std::string::npos);
}

TEST(HubspotSearch, RefusesSortOnStrippedFieldInStringForm) {
    hubspot_route route;
    auto q = route.guard(R"({"sorts":["-birth_date"]})");
    EXPECT_EQ(q.result, verdict::field_not_permitted);
    EXPECT_EQ(q.field, "birth_date");
    EXPECT_EQ(q.field_use, use::order);
}

TEST(HubspotSearch, RefusesSortOnStrippedFieldInObjectForm) {
    hubspot_route route;
    auto q = route.guard(R"({"sorts":[{"propertyName":"iban","direction":"DESCENDING"}]})");
    EXPECT_EQ(q.result, verdict::field_not_permitted);
    EXPECT_EQ(q.field, "iban");
    EXPECT_EQ(q.field_use, use::order);
}

TEST(HubspotSearch, RefusesFilterOnRuleFieldThePurposeDoesNotKeep) {
    hubspot_route route;
    auto q = route.guard(
        R"({"filterGroups":[{"filters":[{"propertyName":"consent.email","operator":"EQ",)"
        R"("value":true}]}]})");
    EXPECT_EQ(q.result, verdict::field_not_permitted);
    EXPECT_EQ(q.field, "consent.email");
}

TEST(HubspotSearch, NamesAnInventedPropertyOnlyAsNotInCatalogue) {
    hubspot_route route;
    auto q = route.guard(
        R"({"filterGroups":[{"filters":[{"propertyName":"hs_secret\r\nX: y","operator":"EQ",)"
        R"("value":"1"}]}]})");
    EXPECT_EQ(q.result, verdict::field_not_permitted);
    EXPECT_EQ(q.field, not_in_catalogue);
    EXPECT_EQ(q.detail.find("hs_secret"), std::string::npos);
}

TEST(HubspotSearch, RefusesFullTextQueryWithoutSearchFields) {
    hubspot_route route;
    auto q = route.guard(R"({"query":"alice","properties":["email"]})");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "body");
    EXPECT_NE(q.detail.find("/query"), std::string::npos);
    EXPECT_NE(q.detail.find("search-fields"), std::string::npos);
    EXPECT_EQ(q.detail.find("alice"), std::string::npos);
}

TEST(HubspotSearch, RefusesFullTextQueryWhenASearchFieldIsNotKept) {
    hubspot_route route;
    route.search_fields({"email", "iban", "birth_date"});
    auto q = route.guard(R"({"query":"BE71"})");
    EXPECT_EQ(q.result, verdict::field_not_permitted);
    EXPECT_EQ(q.field, "iban");
    EXPECT_EQ(q.field_use, use::search);
}

TEST(HubspotSearch, ForwardsFullTextQueryWhenEverySearchFieldIsKept) {
    hubspot_route route;
    route.search_fields({"email", "firstname", "lastname"});
    auto q = route.guard(R"({"query":"alice","properties":["email"]})");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body, R"({"query":"alice","properties":["email","consent.email",)"
                      R"("objection.direct_marketing"]})");
}

TEST(HubspotSearch, RefusesUnknownTopLevelMemberSuchAsAssociations) {
    hubspot_route route;
    auto q = route.guard(R"({"properties":["email"],"associations":["companies"]})");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "body");
    EXPECT_EQ(q.position, 0U);
    EXPECT_EQ(q.detail.rfind("/associations:", 0), 0U) << q.detail;
}

TEST(HubspotSearch, RefusesUnknownMemberInsideAFilter) {
    hubspot_route route;
    auto q = route.guard(
        R"({"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"a"},)"
        R"({"propertyName":"email","operator":"EQ","value":"b","propertyPath":"iban"}]}]})");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.detail.rfind("/filterGroups/0/filters/1/propertyPath:", 0), 0U) << q.detail;
}

TEST(HubspotSearch, ShowsAnOddMemberNameAsAPlaceholder) {
    hubspot_route route;
    auto q = route.guard("{\"prop\\r\\nerties\":[]}");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.detail.rfind("/(member):", 0), 0U) << q.detail;
}

TEST(HubspotSearch, RefusesDuplicateTopLevelKey) {
    // Boost.JSON would keep the last `properties`; a CRM might read the first.
    hubspot_route route;
    std::string body = R"({"properties":["email"],"properties":["iban"]})";
    auto q = route.guard(body);
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "body");
    EXPECT_EQ(q.detail.rfind("/properties:", 0), 0U) << q.detail;
    EXPECT_GT(q.position, body.find("\"properties\"", 1));
}

TEST(HubspotSearch, RefusesDuplicateKeyInsideAFilter) {
    hubspot_route route;
    auto q = route.guard(
        R"({"filterGroups":[{"filters":[{"propertyName":"email","operator":"HAS_PROPERTY"}]},)"
        R"({"filters":[{"propertyName":"email","propertyName":"iban","operator":"EQ",)"
        R"("value":"x"}]}]})");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.detail.rfind("/filterGroups/1/filters/0/propertyName:", 0), 0U) << q.detail;
}

TEST(HubspotSearch, RefusesNestingDeeperThanSixteenLevels) {
    hubspot_route route;
    std::string body = R"({"filterGroups":[{"filters":[{"propertyName":"email","operator":"IN",)"
                       R"("values":)";
    body += std::string(20, '[') + std::string(20, ']') + "}]}]}";
    auto q = route.guard(body);
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_NE(q.detail.find("deeper"), std::string::npos);
    EXPECT_GT(q.position, 0U);
}

TEST(HubspotSearch, RefusesNestedArrayAsAFilterValue) {
    hubspot_route route;
    auto q = route.guard(R"({"filterGroups":[{"filters":[{"propertyName":"email","operator":"IN",)"
                         R"("values":[["a"]]}]}]})");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.detail.rfind("/filterGroups/0/filters/0/values/0:", 0), 0U) << q.detail;
}

TEST(HubspotSearch, RefusesOperatorOutsideTheList) {
    hubspot_route route;
    for (std::string_view op : {"LIKE", "eq", "REGEX", ""}) {
        auto q =
            route.guard(R"({"filterGroups":[{"filters":[{"propertyName":"email","operator":")" +
                        std::string(op) + R"(","value":"a"}]}]})");
        EXPECT_EQ(q.result, verdict::unsupported) << op;
        EXPECT_EQ(q.detail.rfind("/filterGroups/0/filters/0/operator:", 0), 0U) << q.detail;
    }
}

TEST(HubspotSearch, RefusesInvalidJsonAtTheParserOffset) {
    hubspot_route route;
    auto q = route.guard(R"({"limit":10,})");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "body");
    EXPECT_EQ(q.position, 12U);
    EXPECT_NE(q.detail.find("not JSON"), std::string::npos);
}

TEST(HubspotSearch, RefusesTrailingDataAfterTheObject) {
    hubspot_route route;
    auto q = route.guard(R"({"limit":10} {"limit":20})");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.position, 13U);
}

TEST(HubspotSearch, RefusesEmptyBodyAndNonObjectBody) {
    hubspot_route route;
    EXPECT_EQ(route.guard("").result, verdict::unsupported);
    EXPECT_EQ(route.guard(R"(["email"])").result, verdict::unsupported);
    EXPECT_EQ(route.guard("null").result, verdict::unsupported);
}

TEST(HubspotSearch, RefusesValueOfWrongType) {
    hubspot_route route;
    for (std::string_view value : {"null", "{}", "[\"a\"]"}) {
        auto q = route.guard(
            R"({"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":)" +
            std::string(value) + "}]}]}");
        EXPECT_EQ(q.result, verdict::unsupported) << value;
        EXPECT_EQ(q.detail.rfind("/filterGroups/0/filters/0/value:", 0), 0U) << q.detail;
    }
    EXPECT_EQ(route.guard(R"({"properties":"email"})").result, verdict::unsupported);
    EXPECT_EQ(route.guard(R"({"properties":["email",7]})").result, verdict::unsupported);
    EXPECT_EQ(route.guard(R"({"filterGroups":{"filters":[]}})").result, verdict::unsupported);
    EXPECT_EQ(route.guard(R"({"sorts":[7]})").result, verdict::unsupported);
    EXPECT_EQ(route.guard(R"({"query":7})").result, verdict::unsupported);
}

TEST(HubspotSearch, RefusesInfiniteNumberWhichWouldNotSerialiseAsJson) {
    hubspot_route route;
    auto q =
        route.guard(R"({"filterGroups":[{"filters":[{"propertyName":"createdate","operator":"GT",)"
                    R"("value":1e999}]}]})");
    EXPECT_EQ(q.result, verdict::unsupported);
}

TEST(HubspotSearch, RefusesOperandsTheOperatorDoesNotTake) {
    hubspot_route route;
    auto filter = [&](std::string_view members) {
        return route.guard(R"({"filterGroups":[{"filters":[{"propertyName":"email",)" +
                           std::string(members) + "}]}]}");
    };
    EXPECT_EQ(filter(R"("operator":"BETWEEN","value":"1")").result, verdict::unsupported);
    EXPECT_EQ(filter(R"("operator":"HAS_PROPERTY","value":"1")").result, verdict::unsupported);
    EXPECT_EQ(filter(R"("operator":"IN","value":"1")").result, verdict::unsupported);
    EXPECT_EQ(filter(R"("operator":"EQ","value":"1","values":["1"])").result, verdict::unsupported);
    EXPECT_EQ(filter(R"("operator":"EQ","value":"1","highValue":"2")").result,
              verdict::unsupported);
    EXPECT_EQ(filter(R"("operator":"EQ")").result, verdict::unsupported);
    EXPECT_EQ(filter(R"("operator":"NOT_IN","values":"a")").result, verdict::unsupported);
    EXPECT_TRUE(filter(R"("operator":"NOT_IN","values":[])").forwarded());
}

TEST(HubspotSearch, RefusesMoreThanFiveGroupsOrSixFilters) {
    hubspot_route route;
    std::string group = R"({"filters":[{"propertyName":"email","operator":"HAS_PROPERTY"}]})";
    std::string five = "{\"filterGroups\":[" + group;
    for (int i = 1; i < 5; ++i) five += "," + group;
    EXPECT_TRUE(route.guard(five + "]}").forwarded());
    EXPECT_EQ(route.guard(five + "," + group + "]}").result, verdict::unsupported);

    std::string filter = R"({"propertyName":"email","operator":"HAS_PROPERTY"})";
    std::string six = R"({"filterGroups":[{"filters":[)" + filter;
    for (int i = 1; i < 6; ++i) six += "," + filter;
    EXPECT_TRUE(route.guard(six + "]}]}").forwarded());
    EXPECT_EQ(route.guard(six + "," + filter + "]}]}").result, verdict::unsupported);
}

TEST(HubspotSearch, RefusesLimitOutsideZeroToTwoHundred) {
    hubspot_route route;
    EXPECT_TRUE(route.guard(R"({"limit":200})").forwarded());
    EXPECT_EQ(route.guard(R"({"limit":201})").result, verdict::unsupported);
    EXPECT_EQ(route.guard(R"({"limit":-1})").result, verdict::unsupported);
    EXPECT_EQ(route.guard(R"({"limit":10.0})").result, verdict::unsupported);
    EXPECT_EQ(route.guard(R"({"limit":"10"})").result, verdict::unsupported);
    EXPECT_EQ(route.guard(R"({"limit":18446744073709551615})").result, verdict::unsupported);
}

TEST(HubspotSearch, RefusesAnAfterCursorThatIsNotASealedOne) {
    hubspot_route route;
    // Without an opener (nowhere to open tokens) every cursor is refused.
    EXPECT_EQ(route.guard(R"({"after":"sealed:20"})").result, verdict::continuation_invalid);
    fake_opener opener;
    route.tokens(&opener);
    // A cursor the client wrote itself, in any type.
    for (std::string_view body : {R"({"after":"20"})", R"({"after":""})", R"({"after":-3})",
                                  R"({"after":40})", R"({"after":2.5})", R"({"after":null})",
                                  R"({"after":["sealed:20"]})"}) {
        auto q = route.guard(body);
        EXPECT_EQ(q.result, verdict::continuation_invalid) << body;
        EXPECT_EQ(q.detail.rfind("/after:", 0), 0U) << q.detail;
        EXPECT_TRUE(q.body.empty()) << body;
    }
    // A sealed cursor that opens to something other than the CRM's digits.
    EXPECT_EQ(route.guard(R"({"after":"sealed:20abc"})").result, verdict::continuation_invalid);
    EXPECT_EQ(route.guard(R"({"after":"sealed:"})").result, verdict::continuation_invalid);
    // A field check still comes first: a stripped field is refused, whatever the cursor.
    EXPECT_EQ(route.guard(R"({"after":"sealed:20","sorts":["iban"]})").result,
              verdict::field_not_permitted);
}

TEST(HubspotSearch, RefusesSortDirectionOutsideTheTwo) {
    hubspot_route route;
    EXPECT_EQ(route.guard(R"({"sorts":[{"propertyName":"email","direction":"DESC"}]})").result,
              verdict::unsupported);
    EXPECT_EQ(route.guard(R"({"sorts":["-"]})").result, verdict::unsupported);
    EXPECT_EQ(route.guard(R"({"sorts":[{"direction":"ASCENDING"}]})").result, verdict::unsupported);
}

TEST(HubspotSearch, RefusesAnyQueryString) {
    hubspot_route route;
    auto q = route.guard(R"({"properties":["email"]})", "properties=iban");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "(query)");
}

TEST(HubspotSearch, RefusesBodyLargerThan256KiB) {
    hubspot_route route;
    std::string body = R"({"query":")" + std::string(256 * 1024, 'a') + "\"}";
    auto q = route.guard(body);
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_NE(q.detail.find("256 KiB"), std::string::npos);
}

TEST(HubspotSearch, ForwardsEscapedStringsAsEquivalentJson) {
    hubspot_route route;
    auto q =
        route.guard(R"({"filterGroups":[{"filters":[{"propertyName":"em\u0061il","operator":"EQ",)"
                    R"("value":"a\"b\u00e9"}]}],"properties":["id"]})");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body,
              "{\"filterGroups\":[{\"filters\":[{\"propertyName\":\"email\","
              "\"operator\":\"EQ\",\"value\":\"a\\\"b\xc3\xa9\"}]}],"
              "\"properties\":[\"id\",\"consent.email\",\"objection.direct_marketing\"]}");
}

TEST(HubspotSearch, ForwardsDecimalValuesCorrectlyRoundedAndStable) {
    // Boost.JSON 1.81 reads some long numbers one unit off in the last place; the guard reads
    // them exactly, so the value forwarded is the client's and guarding it again changes nothing.
    hubspot_route route;
    auto body = [](std::string_view value) {
        return R"({"filterGroups":[{"filters":[{"propertyName":"createdate","operator":"GT",)"
               R"("value":)" +
               std::string(value) + R"(}]}],"properties":["id"]})";
    };
    auto q = route.guard(body("1000.5"));
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body, R"({"filterGroups":[{"filters":[{"propertyName":"createdate",)"
                      R"("operator":"GT","value":1.0005E3}]}],)"
                      R"("properties":["id","consent.email","objection.direct_marketing"]})");
    auto odd = route.guard(body(std::string(100, '7') + "0e199"));
    ASSERT_TRUE(odd.forwarded()) << odd.detail;
    EXPECT_NE(odd.body.find("\"value\":7.777777777777778E299"), std::string::npos) << odd.body;
    auto again = route.guard(odd.body);
    ASSERT_TRUE(again.forwarded()) << again.detail;
    EXPECT_EQ(again.body, odd.body);
}

// Random search bodies over a catalogue with forbidden fields: whatever the guard forwards names
// no forbidden property, and guarding the forwarded body again yields it unchanged.
class body_generator {
  public:
    explicit body_generator(std::uint32_t seed) : rng_(seed) {}

    std::string body() {
        std::string b = "{";
        bool first = true;
        auto member = [&](std::string_view name, const std::string& value) {
            if (!first) b += ",";
            first = false;
            b += "\"" + std::string(name) + "\":" + value;
        };
        if (chance(60)) member("filterGroups", groups());
        if (chance(40)) member("sorts", sorts());
        if (chance(15)) member("query", R"("alice")");
        if (chance(60)) member("properties", names(5));
        if (chance(30)) member("limit", pick<std::string>({"0", "10", "200", "201", "-1", "5.0"}));
        if (chance(30))
            member("after", pick<std::string>({"\"sealed:20\"", "\"20\"", "20", "\"2x\"", "null"}));
        if (chance(5)) member(pick<std::string>({"associations", "properties", "limit"}), "[]");
        b += "}";
        if (chance(3)) b.insert(uniform(b.size()), 1, pick<char>({'{', ']', ',', '"'}));
        return b;
    }

  private:
    bool chance(int percent) { return uniform(100) < static_cast<std::size_t>(percent); }
    std::size_t uniform(std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
    }
    template <typename T>
    T pick(std::initializer_list<T> from) {
        return *(from.begin() + static_cast<std::ptrdiff_t>(uniform(from.size())));
    }
    std::string property() {
        return pick<std::string>({"email", "firstname", "createdate", "address.city", "address",
                                  "iban", "birth_date", "consent.email", "hs_secret", "", "-id"});
    }
    std::string quoted(const std::string& s) { return "\"" + s + "\""; }
    std::string scalar() { return pick<std::string>({"\"x\"", "1", "2.5", "true", "null", "{}"}); }
    std::string names(std::size_t most) {
        std::string a = "[";
        for (std::size_t i = 0, n = uniform(most + 1); i < n; ++i)
            a += (i ? "," : "") + quoted(property());
        return a + "]";
    }
    std::string filter() {
        std::string op = pick<std::string>({"EQ", "NEQ", "LT", "BETWEEN", "IN", "NOT_IN",
                                            "HAS_PROPERTY", "CONTAINS_TOKEN", "LIKE"});
        std::string f = "{\"propertyName\":" + quoted(property()) + ",\"operator\":" + quoted(op);
        bool range = op == "BETWEEN";
        bool list = op == "IN" || op == "NOT_IN";
        bool none = op == "HAS_PROPERTY";
        if (!none && !list) f += ",\"value\":" + scalar();
        if (range || chance(3)) f += ",\"highValue\":" + scalar();
        if (list) f += ",\"values\":[" + scalar() + "," + scalar() + "]";
        return f + "}";
    }
    std::string groups() {
        std::string g = "[";
        for (std::size_t i = 0, n = uniform(4); i < n; ++i) {
            g += i ? ",{\"filters\":[" : "{\"filters\":[";
            for (std::size_t j = 0, m = uniform(4); j < m; ++j) g += (j ? "," : "") + filter();
            g += "]}";
        }
        return g + "]";
    }
    std::string sorts() {
        std::string s = "[";
        for (std::size_t i = 0, n = uniform(3); i < n; ++i) {
            s += i ? "," : "";
            if (chance(50))
                s += quoted((chance(50) ? "-" : "") + property());
            else
                s += "{\"propertyName\":" + quoted(property()) + ",\"direction\":" +
                     pick<std::string>({"\"ASCENDING\"", "\"DESCENDING\"", "\"UP\""}) + "}";
        }
        return s + "]";
    }

    std::mt19937 rng_;
};

std::vector<std::string> property_names(const boost::json::value& body) {
    std::vector<std::string> names;
    const auto& o = body.as_object();
    if (const auto* groups = o.if_contains("filterGroups"))
        for (const auto& g : groups->as_array())
            for (const auto& f : g.as_object().at("filters").as_array())
                names.emplace_back(f.as_object().at("propertyName").as_string().c_str());
    if (const auto* sorts = o.if_contains("sorts")) {
        for (const auto& s : sorts->as_array()) {
            if (s.is_string()) {
                std::string n(s.as_string().c_str());
                names.push_back(n.rfind('-', 0) == 0 ? n.substr(1) : n);
            } else {
                names.emplace_back(s.as_object().at("propertyName").as_string().c_str());
            }
        }
    }
    for (const auto& p : o.at("properties").as_array()) names.emplace_back(p.as_string().c_str());
    return names;
}

// Opens every cursor to itself (less a "sealed:" prefix): the property below is about fields and
// the fixed point, and the forwarded body carries the CRM's cursor.
class trusting_opener final : public token_opener {
  public:
    std::optional<std::string> open(std::string_view token, std::string_view,
                                    std::string&) override {
        if (token.starts_with("sealed:")) token.remove_prefix(7);
        return std::string(token);
    }
};

TEST(HubspotSearchProperty, ForwardsNoForbiddenPropertyAndIsAFixedPoint) {
    hubspot_route route;
    trusting_opener opener;
    route.tokens(&opener);
    route.search_fields({"email", "firstname"});
    body_generator generate(20240611U);
    int forwarded = 0;
    for (int i = 0; i < 2000; ++i) {
        std::string body = generate.body();
        auto q = route.guard(body);
        if (!q.forwarded()) continue;
        ++forwarded;
        boost::json::error_code ec;
        auto parsed = boost::json::parse(q.body, ec);
        ASSERT_FALSE(ec) << body;
        for (const auto& name : property_names(parsed)) {
            EXPECT_NE(name, "iban") << body;
            EXPECT_NE(name, "birth_date") << body;
            EXPECT_NE(name, "hs_secret") << body;
        }
        auto again = route.guard(q.body);
        ASSERT_TRUE(again.forwarded()) << q.body << ": " << again.detail;
        EXPECT_EQ(again.body, q.body);
        EXPECT_EQ(again.sent, q.sent);
    }
    // The generator must exercise both outcomes.
    EXPECT_GT(forwarded, 200);
    EXPECT_LT(forwarded, 1800);
}

}  // namespace
}  // namespace exportwall::config::query
