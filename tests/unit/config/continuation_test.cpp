// Sealed continuation tokens: what opens, and everything that must not.

#include <gtest/gtest.h>

#include <string>

#include "config/continuation.hpp"

namespace exportwall::config {
namespace {

const continuation_key key = *continuation_key_from("0123456789abcdef0123456789abcdef-test");
constexpr std::int64_t now = 1'800'000'000;

continuation_binding binding(std::string_view purpose = "invoicing",
                             std::string_view query = "$select=id",
                             std::string_view path = "/api/data/v9.2/contacts") {
    return {"erp", purpose, "billing", "dataverse-contacts", query, path};
}

TEST(Continuation, SealedTokenOpensToTheCrmsTokenUnderTheSameDeclaration) {
    const std::string crm = "<cookie pagenumber=\"2\" pagingcookie=\"%3ccookie%3e\"/>";
    auto sealed = seal_continuation(key, binding(), crm, now + 60);
    ASSERT_EQ(sealed.substr(0, sealed_token_prefix.size()), sealed_token_prefix);
    EXPECT_EQ(sealed.find("cookie"), std::string::npos) << "the CRM's token shows through";
    EXPECT_EQ(sealed.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789-_.",
                                       sealed_token_prefix.size()),
              std::string::npos)
        << "a sealed token needs no escaping in a URL";
    auto o = open_continuation(key, binding(), sealed, now);
    ASSERT_EQ(o.error, continuation_error::none);
    EXPECT_EQ(o.crm_token, crm);
}

TEST(Continuation, TwoSealsOfOneTokenDiffer) {
    EXPECT_NE(seal_continuation(key, binding(), "2", now + 60),
              seal_continuation(key, binding(), "2", now + 60));
}

TEST(Continuation, AnotherDeclarationOrQueryDoesNotOpenIt) {
    auto sealed = seal_continuation(key, binding(), "2", now + 60);
    for (const auto& b :
         {binding("payment-reminder"), binding("invoicing", "$select=id,iban"),
          binding("invoicing", "$select=id", "/api/data/v9.2/contacts(2)/related"),
          continuation_binding{"other", "invoicing", "billing", "dataverse-contacts", "$select=id",
                               "/api/data/v9.2/contacts"},
          continuation_binding{"erp", "invoicing", "archive", "dataverse-contacts", "$select=id",
                               "/api/data/v9.2/contacts"},
          continuation_binding{"erp", "invoicing", "billing", "hubspot-contacts", "$select=id",
                               "/api/data/v9.2/contacts"}}) {
        EXPECT_EQ(open_continuation(key, b, sealed, now).error, continuation_error::rejected);
    }
}

TEST(Continuation, AlteredTruncatedOrForeignTokensDoNotOpen) {
    auto sealed = seal_continuation(key, binding(), "2", now + 60);
    for (std::size_t i = sealed_token_prefix.size(); i < sealed.size(); ++i) {
        std::string altered = sealed;
        altered[i] = altered[i] == 'A' ? 'B' : 'A';
        auto e = open_continuation(key, binding(), altered, now).error;
        EXPECT_TRUE(e == continuation_error::rejected || e == continuation_error::malformed) << i;
    }
    EXPECT_EQ(open_continuation(key, binding(), sealed.substr(0, 20), now).error,
              continuation_error::malformed);
    EXPECT_EQ(open_continuation(key, binding(), "2", now).error, continuation_error::not_sealed);
    EXPECT_EQ(open_continuation(key, binding(), "ew1.!!!!", now).error,
              continuation_error::malformed);
    auto other_key = *continuation_key_from("another key of at least thirty-two bytes");
    EXPECT_EQ(open_continuation(other_key, binding(), sealed, now).error,
              continuation_error::rejected);
}

TEST(Continuation, ExpiredTokenDoesNotOpen) {
    auto sealed = seal_continuation(key, binding(), "2", now + 60);
    EXPECT_EQ(open_continuation(key, binding(), sealed, now + 60).error, continuation_error::none);
    EXPECT_EQ(open_continuation(key, binding(), sealed, now + 61).error,
              continuation_error::expired);
}

TEST(Continuation, QueryFormIgnoresEncodingOrderAndTheTokenItself) {
    const std::vector<std::string> params{"$skiptoken"};
    EXPECT_EQ(continuation_query_form("$select=id,email&$top=5&$skiptoken=x", params),
              continuation_query_form("$top=5&%24select=id%2Cemail&$skiptoken=y", params));
    EXPECT_NE(continuation_query_form("$select=id&$skiptoken=x", params),
              continuation_query_form("$select=iban&$skiptoken=x", params));
    // Not ambiguous: a value holding '=' or a bare name is not another parameter list.
    EXPECT_NE(continuation_query_form("a=b%3Dc", params), continuation_query_form("a%3Db=c", params));
    EXPECT_NE(continuation_query_form("a", params), continuation_query_form("a=", params));
    EXPECT_EQ(continuation_query_form("a=1&$SKIPTOKEN=x", params),
              continuation_query_form("a=1", params));
}

TEST(Continuation, KeyFileMustHoldThirtyTwoBytes) {
    EXPECT_FALSE(continuation_key_from("short").has_value());
    EXPECT_TRUE(continuation_key_from(std::string(32, 'k')).has_value());
}

}  // namespace
}  // namespace exportwall::config
