#include "config/query/params.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "config/query/guard_support.hpp"
#include "filters/field_set.hpp"

namespace exportwall::config::query {
namespace {

using strings = std::vector<std::string>;

// A HubSpot-like contacts route: the purpose keeps the id, first name, e-mail, lifecycle and
// city; the catalogue also has a bank account, a birth date and the e-mail consent the record
// rules read (with the lifecycle, which the purpose also keeps). `fields` selects, `limit` and
// `after` page, `status` filters on the lifecycle and `bank` on the IBAN.
class params_route {
  public:
    params_route()
        : allowed_({"id", "first_name", "email", "lifecycle", "address.city"}),
          catalogue_({"id", "first_name", "email", "lifecycle", "address.city", "iban",
                      "birth_date", "consent.email"}) {}

    [[nodiscard]] field_policy policy() const {
        field_policy p;
        p.allowed = &allowed_;
        p.catalogue = &catalogue_;
        p.rule_fields = rule_fields_;
        p.select_param = select_param_;
        p.select_separator = separator_;
        p.paging_params = paging_params_;
        p.filter_params = filter_params_;
        return p;
    }
    params_route& select_param(std::string name) {
        select_param_ = std::move(name);
        return *this;
    }
    params_route& separator(char c) {
        separator_ = c;
        return *this;
    }

    // A `params` route (filter parameters accepted).
    [[nodiscard]] guarded_query params(std::string_view raw) const {
        return guard_params(policy(), raw, true);
    }
    // A route without a query language (`none`): selection and paging only.
    [[nodiscard]] guarded_query none(std::string_view raw) const {
        return guard_params(policy(), raw, false);
    }

  private:
    filters::field_set allowed_;
    filters::field_set catalogue_;
    strings rule_fields_{"consent.email", "lifecycle"};
    std::string select_param_ = "fields";
    char separator_ = ',';
    strings paging_params_{"limit", "after"};
    std::vector<filter_param> filter_params_{{"status", "lifecycle"}, {"bank", "iban"}};
};

// Every field the purpose keeps (sorted, as the field set holds them), then the rule field it
// does not keep.
constexpr std::string_view every_field =
    "fields=address.city,email,first_name,id,consent.email,lifecycle";
const strings every_allowed{"address.city", "email", "first_name", "id", "lifecycle"};
const strings every_sent{"address.city", "email", "first_name", "id", "consent.email",
                         "lifecycle"};

// --- Selection ---------------------------------------------------------------------------------

TEST(ParamsGuard, RewritesSelectionInPlaceKeepingTheClientsOrder) {
    auto q = params_route().none("limit=10&fields=first_name,email&after=abc");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.requested, (strings{"first_name", "email"}));
    EXPECT_EQ(q.kept, (strings{"first_name", "email"}));
    EXPECT_TRUE(q.stripped.empty());
    EXPECT_EQ(q.sent, (strings{"first_name", "email", "consent.email", "lifecycle"}));
    EXPECT_EQ(q.query, "limit=10&fields=first_name,email,consent.email,lifecycle&after=abc");
}

TEST(ParamsGuard, StripsSelectedFieldsThePurposeDoesNotKeep) {
    auto q = params_route().none("fields=iban,email,birth_date,id");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.requested, (strings{"iban", "email", "birth_date", "id"}));
    EXPECT_EQ(q.kept, (strings{"email", "id"}));
    EXPECT_EQ(q.stripped, (strings{"iban", "birth_date"}));
    EXPECT_EQ(q.sent, (strings{"email", "id", "consent.email", "lifecycle"}));
    EXPECT_EQ(q.query, "fields=email,id,consent.email,lifecycle");
}

TEST(ParamsGuard, AppendsEveryAllowedFieldWhenTheSelectionIsAbsent) {
    auto q = params_route().none("limit=5&after=xyz");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_TRUE(q.requested.empty());
    EXPECT_EQ(q.kept, every_allowed);
    EXPECT_EQ(q.sent, every_sent);
    EXPECT_EQ(q.query, "limit=5&after=xyz&" + std::string(every_field));
}

TEST(ParamsGuard, EmptyQueryGetsEveryAllowedField) {
    auto q = params_route().params("");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, every_field);
}

TEST(ParamsGuard, EmptySelectionSelectsEveryAllowedFieldInPlace) {
    for (std::string_view raw : {"fields=&limit=3", "fields&limit=3", "fields=,,+,&limit=3"}) {
        auto q = params_route().none(raw);
        ASSERT_TRUE(q.forwarded()) << raw << ": " << q.detail;
        EXPECT_TRUE(q.requested.empty()) << raw;
        EXPECT_EQ(q.kept, every_allowed) << raw;
        EXPECT_EQ(q.query, std::string(every_field) + "&limit=3") << raw;
    }
}

TEST(ParamsGuard, SelectionOfOnlyStrippedFieldsSelectsEveryAllowedField) {
    auto q = params_route().none("fields=iban");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.stripped, (strings{"iban"}));
    EXPECT_EQ(q.kept, every_allowed);
    EXPECT_EQ(q.query, every_field);
}

TEST(ParamsGuard, SelectionNameIsCaseInsensitiveAndForwardedAsDeclared) {
    for (std::string_view raw : {"FIELDS=email", "Fields=email", "fIeLdS=email"}) {
        auto q = params_route().none(raw);
        ASSERT_TRUE(q.forwarded()) << raw << ": " << q.detail;
        EXPECT_EQ(q.query, "fields=email,consent.email,lifecycle") << raw;
    }
}

TEST(ParamsGuard, PercentEncodedSelectionNameIsTheSelection) {
    auto route = params_route();
    route.select_param("$select");
    for (std::string_view raw : {"%24select=email", "%24SELECT=email", "%24%73elect=email"}) {
        auto q = route.none(raw);
        ASSERT_TRUE(q.forwarded()) << raw << ": " << q.detail;
        EXPECT_EQ(q.query, "$select=email,consent.email,lifecycle") << raw;
    }
    // Encoded or not, it is one parameter: twice is a repetition.
    EXPECT_EQ(route.none("$select=id&%24select=email").result, verdict::invalid);
}

TEST(ParamsGuard, DollarSelectionParameterIsRewrittenAndAppended) {
    auto route = params_route();
    route.select_param("$select");
    auto q = route.none("$select=id,email&limit=2");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "$select=id,email,consent.email,lifecycle&limit=2");
    auto all = route.none("limit=2");
    ASSERT_TRUE(all.forwarded()) << all.detail;
    EXPECT_EQ(all.query, "limit=2&$select=address.city,email,first_name,id,consent.email,lifecycle");
    // `fields` means nothing on this route.
    EXPECT_EQ(route.none("fields=id").result, verdict::unsupported);
}

TEST(ParamsGuard, PercentEncodedFieldNamesAreDecoded) {
    auto q = params_route().none("fields=%65mail%2Cfirst%5Fname,address%2Ecity");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.requested, (strings{"email", "first_name", "address.city"}));
    EXPECT_EQ(q.query, "fields=email,first_name,address.city,consent.email,lifecycle");
}

TEST(ParamsGuard, SemicolonSeparatorSplitsAndJoinsTheSelection) {
    auto route = params_route();
    route.separator(';');
    auto q = route.none("fields=id;email%3Bfirst_name&limit=1");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.requested, (strings{"id", "email", "first_name"}));
    EXPECT_EQ(q.query, "fields=id;email;first_name;consent.email;lifecycle&limit=1");
    // A comma is part of a name on this route: "id,iban" is no field, and is not split into one.
    auto comma = route.none("fields=id,iban");
    ASSERT_TRUE(comma.forwarded()) << comma.detail;
    EXPECT_EQ(comma.stripped, (strings{"(not in catalogue)"}));
    EXPECT_EQ(comma.query, "fields=address.city;email;first_name;id;consent.email;lifecycle");
}

TEST(ParamsGuard, TrimsSpacesAroundSelectedNamesAndCountsEachOnce) {
    auto q = params_route().none("fields=+email+,%20id,email");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.requested, (strings{"email", "id"}));
    EXPECT_EQ(q.query, "fields=email,id,consent.email,lifecycle");
}

TEST(ParamsGuard, SelectionMayNameAnObjectThePurposeDescendsInto) {
    auto q = params_route().none("fields=address,consent");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.kept, (strings{"address"}));
    EXPECT_EQ(q.stripped, (strings{"(not in catalogue)"}));  // a prefix, no catalogue field
    EXPECT_EQ(q.query, "fields=address,consent.email,lifecycle");
}

TEST(ParamsGuard, SelectingARuleFieldIsNeitherKeptNorStrippedAndStillSent) {
    auto q = params_route().none("fields=consent.email,id");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_TRUE(q.stripped.empty());
    EXPECT_EQ(q.kept, (strings{"id"}));
    EXPECT_EQ(q.sent, (strings{"id", "consent.email", "lifecycle"}));
    EXPECT_EQ(q.query, "fields=id,consent.email,lifecycle");
}

TEST(ParamsGuard, RouteWithoutSelectionParameterForwardsOnlyItsParameters) {
    auto route = params_route();
    route.select_param("");
    auto q = route.none("limit=7");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "limit=7");
    EXPECT_EQ(q.kept, every_allowed);
    EXPECT_EQ(route.none("fields=id").result, verdict::unsupported);
}

// --- Paging ------------------------------------------------------------------------------------

TEST(ParamsGuard, PagingParamsArePassedReencoded) {
    auto q = params_route().none("after=a%2Fb+c%7E%27&limit=%31%30");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "after=a%2Fb%20c~%27&limit=10&" + std::string(every_field));
}

TEST(ParamsGuard, PagingValueCannotSmuggleAParameter) {
    auto q = params_route().none("after=x%26fields%3Diban");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "after=x%26fields%3Diban&" + std::string(every_field));
}

TEST(ParamsGuard, BarePagingParamGetsAnEmptyValue) {
    auto q = params_route().none("limit");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "limit=&" + std::string(every_field));
}

TEST(ParamsGuard, SkipsEmptyPairs) {
    auto q = params_route().none("&&limit=1&&fields=id&");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "limit=1&fields=id,consent.email,lifecycle");
}

TEST(ParamsGuard, PagingNamesAreCaseSensitive) {
    auto q = params_route().none("LIMIT=1");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "LIMIT");
}

// --- Refusals ----------------------------------------------------------------------------------

TEST(ParamsGuard, UnknownParameterIsUnsupported) {
    auto q = params_route().params("limit=1&sort=email");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "sort");
    EXPECT_EQ(q.position, 0u);
    EXPECT_NE(q.detail.find("'sort'"), std::string::npos) << q.detail;
    EXPECT_TRUE(q.query.empty());
}

TEST(ParamsGuard, HostileParameterNameIsNeverEchoed) {
    const std::string long_junk(200, 'a');
    for (const std::string& raw :
         {std::string("%3Cscript%3E=1"), long_junk + "=1", std::string("a%22b=1"),
          std::string("%C3%A9=1"), std::string("=1"), std::string("x%20Set-Cookie:1=1")}) {
        auto q = params_route().params(raw);
        EXPECT_EQ(q.result, verdict::unsupported) << raw;
        EXPECT_EQ(q.parameter, "(parameter)") << raw;
        EXPECT_EQ(q.detail.find("script"), std::string::npos) << q.detail;
        EXPECT_EQ(q.detail.find(long_junk), std::string::npos) << q.detail;
        EXPECT_EQ(q.detail.find("Set-Cookie"), std::string::npos) << q.detail;
    }
    // 64 plain characters are still a name worth showing; 65 are not.
    EXPECT_EQ(params_route().none(std::string(64, 'b') + "=1").parameter, std::string(64, 'b'));
    EXPECT_EQ(params_route().none(std::string(65, 'b') + "=1").parameter, "(parameter)");
}

TEST(ParamsGuard, CrLfInParameterNameIsInvalidAndNotEchoed) {
    for (std::string_view raw :
         {"x%0D%0ASet-Cookie:%20a=1", "x%0ASet-Cookie=1", "limit=1&%0D%0AInjected=1"}) {
        auto q = params_route().params(raw);
        EXPECT_EQ(q.result, verdict::invalid) << raw;
        EXPECT_TRUE(q.parameter.empty()) << raw;
        EXPECT_EQ(q.detail.find("Set-Cookie"), std::string::npos) << q.detail;
        EXPECT_EQ(q.detail.find("Injected"), std::string::npos) << q.detail;
        EXPECT_TRUE(q.query.empty());
    }
}

TEST(ParamsGuard, RepeatedParameterIsInvalid) {
    for (std::string_view raw : {"limit=1&limit=2", "after=a&limit=1&after=a", "limit&limit",
                                 "fields=id&FIELDS=email", "fields&fields=id"}) {
        auto q = params_route().params(raw);
        EXPECT_EQ(q.result, verdict::invalid) << raw;
        EXPECT_NE(q.detail.find("more than once"), std::string::npos) << q.detail;
        EXPECT_TRUE(q.query.empty());
    }
    auto filter = params_route().params("status=a&status=b");
    EXPECT_EQ(filter.result, verdict::invalid);
    EXPECT_NE(filter.detail.find("'status'"), std::string::npos) << filter.detail;
}

TEST(ParamsGuard, MalformedEscapeIsInvalid) {
    for (std::string_view raw : {"fields=%zz", "fields=id%2", "fields=id%", "%=1", "li%6mit=1",
                                 "limit=1&after=%G0"}) {
        auto q = params_route().none(raw);
        EXPECT_EQ(q.result, verdict::invalid) << raw;
        EXPECT_NE(q.detail.find("percent-escape"), std::string::npos) << q.detail;
        EXPECT_TRUE(q.query.empty());
    }
}

TEST(ParamsGuard, ControlBytesAreInvalid) {
    for (std::string_view raw : {"after=%00", "after=a%0Ab", "after=%7F", "fields=id%09",
                                 "after=a\tb", "fields=id%0D%0A"}) {
        auto q = params_route().none(raw);
        EXPECT_EQ(q.result, verdict::invalid) << raw;
        EXPECT_NE(q.detail.find("control character"), std::string::npos) << q.detail;
    }
    auto nul = params_route().none(std::string_view("after=a\0b", 9));
    EXPECT_EQ(nul.result, verdict::invalid);
}

// --- Filter parameters -------------------------------------------------------------------------

TEST(ParamsGuard, FilterParamOnAKeptFieldIsForwarded) {
    auto q = params_route().params("status=active&fields=id&limit=20");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "status=active&fields=id,consent.email,lifecycle&limit=20");
}

TEST(ParamsGuard, FilterValueIsOpaqueAndReencoded) {
    auto q = params_route().params("status=a%26bank%3DBE71+x");
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.query, "status=a%26bank%3DBE71%20x&" + std::string(every_field));
}

TEST(ParamsGuard, FilterParamOnAStrippedFieldIsNotPermitted) {
    auto q = params_route().params("fields=id&bank=BE71096123456769");
    EXPECT_EQ(q.result, verdict::field_not_permitted);
    EXPECT_EQ(q.field, "iban");
    EXPECT_EQ(q.field_use, use::filter);
    EXPECT_NE(q.detail.find("'iban'"), std::string::npos) << q.detail;
    EXPECT_EQ(q.detail.find("BE71"), std::string::npos) << q.detail;
    EXPECT_TRUE(q.query.empty());
}

TEST(ParamsGuard, FilterParamsAreRefusedOnRoutesWithoutALanguage) {
    for (std::string_view raw : {"status=active", "bank=BE71", "limit=1&status=active"}) {
        auto q = params_route().none(raw);
        EXPECT_EQ(q.result, verdict::unsupported) << raw;
        EXPECT_TRUE(q.parameter == "status" || q.parameter == "bank") << q.parameter;
        EXPECT_TRUE(q.query.empty());
    }
}

TEST(ParamsGuard, FilterParamNamesAreCaseSensitive) {
    auto q = params_route().params("Status=active");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "Status");
}

// --- Limits ------------------------------------------------------------------------------------

TEST(ParamsGuard, OverLongValueIsUnsupported) {
    const std::string at_limit(8 * 1024, 'x');
    auto ok = params_route().none("after=" + at_limit);
    ASSERT_TRUE(ok.forwarded()) << ok.detail;
    auto q = params_route().none("after=" + at_limit + "x");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "after");
    EXPECT_EQ(q.position, 8u * 1024u);
    EXPECT_TRUE(q.query.empty());
    // The limit is on the decoded value: 8,193 escapes are 8,193 bytes.
    std::string escaped = "status=";
    for (int i = 0; i <= 8 * 1024; ++i) escaped += "%41";
    EXPECT_EQ(params_route().params(escaped).result, verdict::unsupported);
}

TEST(ParamsGuard, OverLongSelectionIsUnsupported) {
    std::string raw = "fields=id";
    while (raw.size() <= 8 * 1024 + 16) raw += ",email";
    auto q = params_route().none(raw);
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "fields");
}

// --- Fixed point -------------------------------------------------------------------------------

// Guards `raw`, and when it is forwarded, guards the forwarded query again: it must come back
// unchanged, with the same selection sent.
void expect_fixed_point(const params_route& route, std::string_view raw, bool filters) {
    auto policy = route.policy();
    auto first = guard_params(policy, raw, filters);
    if (!first.forwarded()) return;
    auto again = guard_params(policy, first.query, filters);
    ASSERT_TRUE(again.forwarded()) << raw << " -> " << first.query << ": " << again.detail;
    EXPECT_EQ(again.query, first.query) << raw;
    EXPECT_EQ(again.sent, first.sent) << raw;
}

TEST(ParamsGuard, SelectionNamingARuleFieldIsAFixedPoint) {
    auto route = params_route();
    for (std::string_view raw : {"fields=consent.email,id", "fields=id", "fields=iban", "",
                                 "fields=lifecycle,email", "fields=address,consent.email"}) {
        expect_fixed_point(route, raw, true);
        expect_fixed_point(route, raw, false);
    }
}

// A random query out of pieces that matter to the guard: the selection under several spellings,
// paging and filter parameters, kept, stripped and rule fields, escapes, separators and spaces.
std::string random_query(std::mt19937& rng) {
    static constexpr std::array<std::string_view, 11> names{
        "fields", "FIELDS", "%66ields", "limit", "after", "status", "bank", "Fields",
        "%6Cimit", "fields", "after"};
    static constexpr std::array<std::string_view, 18> fields{
        "id", "first_name", "email", "lifecycle", "address.city", "address", "iban",
        "birth_date", "consent.email", "consent", "%65mail", "+id+", "", "ID", "address.city.zip",
        "a%2Cb", "a;b", "%C3%A9"};
    static constexpr std::array<std::string_view, 10> values{
        "", "10", "abc", "a+b", "%2F%3F", "x%26y%3Dz", "%7E~", "'quoted'", "%25", "--"};
    auto pick = [&rng](std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    };
    std::string raw;
    const std::size_t count = pick(5);
    for (std::size_t i = 0; i < count; ++i) {
        if (!raw.empty() || pick(6) == 0) raw += '&';
        std::string_view name = names[pick(names.size())];
        raw += name;
        if (pick(8) == 0) continue;  // a bare name
        raw += '=';
        if (name.find("ields") != std::string_view::npos) {
            const std::size_t items = pick(5);
            for (std::size_t j = 0; j < items; ++j) {
                if (j > 0) raw += pick(4) == 0 ? ";" : ",";
                raw += fields[pick(fields.size())];
            }
        } else {
            raw += values[pick(values.size())];
        }
    }
    return raw;
}

TEST(ParamsGuard, ForwardedQueryIsAFixedPointOfTheGuard) {
    std::mt19937 rng(20261201);
    const std::array<params_route, 2> routes{params_route(), params_route().separator(';')};
    std::size_t forwarded = 0;
    for (int i = 0; i < 400; ++i) {
        const std::string raw = random_query(rng);
        const auto& route = routes[static_cast<std::size_t>(i) % routes.size()];
        const bool filters = i % 3 != 0;
        if (guard_params(route.policy(), raw, filters).forwarded()) ++forwarded;
        expect_fixed_point(route, raw, filters);
        if (HasFatalFailure()) return;
    }
    // The property must have been exercised, not vacuously true.
    EXPECT_GE(forwarded, 100u);
}

}  // namespace
}  // namespace exportwall::config::query

namespace exportwall::config::query {
namespace {

TEST(ParamsGuard, CsvColumnsWithSpacesAreSelectedByTheirHeaderNames) {
    // csv-header-spaces="_": the catalogue says First_Name, the CRM's column is "First Name".
    const filters::field_set allowed{std::vector<std::string>{"Contact_Id", "First_Name"}};
    const filters::field_set catalogue{
        std::vector<std::string>{"Contact_Id", "First_Name", "IBAN_Number"}};
    const std::vector<std::string> rules{"Consent_E-mail"};
    field_policy p;
    p.allowed = &allowed;
    p.catalogue = &catalogue;
    p.rule_fields = rules;
    p.select_param = "columns";
    p.header_space = '_';
    auto q = guard_params(p, "columns=First+Name,IBAN_Number,Contact_Id", false);
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.kept, (std::vector<std::string>{"First_Name", "Contact_Id"}));
    EXPECT_EQ(q.stripped, (std::vector<std::string>{"IBAN_Number"}));
    EXPECT_EQ(q.query, "columns=First%20Name,Contact%20Id,Consent%20E-mail");
    EXPECT_EQ(guard_params(p, q.query, false).query, q.query);
}

}  // namespace
}  // namespace exportwall::config::query
