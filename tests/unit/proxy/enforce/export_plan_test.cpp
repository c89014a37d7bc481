#include "proxy/enforce/export_plan.hpp"

#include <gtest/gtest.h>

#include "config/continuation.hpp"
#include "config/loader.hpp"

namespace exportwall::proxy {
namespace {

config::settings crm_settings() {
    config::settings net;
    config::upstream up;
    up.id = "crm";
    up.scheme = "https";
    up.host = "crm.internal";
    up.port = 8443;
    up.base_path = "/base";
    net.upstreams.push_back(up);
    config::upstream other;
    other.id = "other";
    other.scheme = "http";
    other.host = "127.0.0.1";
    other.port = 80;
    net.upstreams.push_back(other);
    config::route contacts;
    contacts.id = "contacts";
    contacts.path = "/exports/contacts";
    contacts.match = config::path_match::prefix;
    contacts.upstream_id = "crm";
    contacts.upstream_path = "/api/data/v9.2/contacts";
    contacts.format = config::route_format::passthrough;
    net.routes.push_back(contacts);
    config::route query;
    query.id = "sf-query";
    query.path = "/services/data/v58.0/query";
    query.match = config::path_match::prefix;
    query.upstream_id = "crm";
    query.query_language = config::query::language::soql;
    net.routes.push_back(query);
    config::route elsewhere;
    elsewhere.id = "elsewhere";
    elsewhere.path = "/other";
    elsewhere.upstream_id = "other";
    net.routes.push_back(elsewhere);
    return net;
}

TEST(LinkMapper, RewritesAbsoluteCrmLinkOntoThePublicUrl) {
    auto net = crm_settings();
    link_mapper m(net, net.upstreams[0], "https://exports.example.com/");
    EXPECT_EQ(m.map("https://crm.internal:8443/base/api/data/v9.2/contacts?$skiptoken=abc%20d"),
              "https://exports.example.com/exports/contacts?$skiptoken=abc%20d");
    EXPECT_EQ(m.map("HTTPS://CRM.internal:8443/base/api/data/v9.2/contacts/page2"),
              "https://exports.example.com/exports/contacts/page2");
}

TEST(LinkMapper, RewritesPathAbsoluteLinkAsTheCrmsOwn) {
    auto net = crm_settings();
    net.upstreams[0].base_path = "";
    link_mapper m(net, net.upstreams[0], "https://exports.example.com");
    EXPECT_EQ(m.map("/api/data/v9.2/contacts/page2"),
              "https://exports.example.com/exports/contacts/page2");
}

// The rest of a record prefix route's path is a Salesforce query locator: the client gets it
// sealed for the export's declaration, bound to the route's own path (config::decide opens it),
// or not at all.
TEST(LinkMapper, SealsTheQueryLocatorBelowASoqlRoute) {
    auto net = crm_settings();
    net.upstreams[0].base_path = "";
    const config::continuation_key key = config::random_continuation_key();
    continuation_sealing sealing;
    sealing.key = &key;
    sealing.client = "erp";
    sealing.purpose = "delivery";
    sealing.destination = "warehouse";
    sealing.expires_at = 4102444800;  // 2100
    link_mapper m(net, net.upstreams[0], "https://exports.example.com", sealing);
    auto mapped = m.map("/services/data/v58.0/query/01gD0000002HU6KIAW-2000");
    ASSERT_TRUE(mapped);
    const std::string prefix = "https://exports.example.com/services/data/v58.0/query/";
    ASSERT_TRUE(mapped->starts_with(prefix + "ew1.")) << *mapped;
    EXPECT_EQ(mapped->find("01gD"), std::string::npos) << *mapped;
    EXPECT_EQ(m.sealed(), 1u);
    const config::continuation_binding b{"erp", "delivery", "warehouse", "sf-query", "",
                                         "/services/data/v58.0/query"};
    auto opened = config::open_continuation(key, b, mapped->substr(prefix.size()), 0);
    EXPECT_EQ(opened.error, config::continuation_error::none);
    EXPECT_EQ(opened.crm_token, "01gD0000002HU6KIAW-2000");
    // Under another declaration it does not open.
    const config::continuation_binding other{"erp", "delivery", "carrier", "sf-query", "",
                                             "/services/data/v58.0/query"};
    EXPECT_NE(config::open_continuation(key, other, mapped->substr(prefix.size()), 0).error,
              config::continuation_error::none);
    // Without a key, or with a query beside the locator, the link goes.
    link_mapper unsealed(net, net.upstreams[0], "https://exports.example.com");
    EXPECT_FALSE(unsealed.map("/services/data/v58.0/query/01gD0000002HU6KIAW-2000"));
    EXPECT_FALSE(m.map("/services/data/v58.0/query/01gD-2000?q=SELECT+iban+FROM+Contact"));
    // The route itself (no locator) maps as before.
    EXPECT_EQ(unsealed.map("/services/data/v58.0/query?q=x"),
              "https://exports.example.com/services/data/v58.0/query?q=x");
}

TEST(LinkMapper, WithoutPublicUrlLinksBecomePathAbsolute) {
    auto net = crm_settings();
    link_mapper m(net, net.upstreams[0], "");
    EXPECT_EQ(m.map("https://crm.internal:8443/base/api/data/v9.2/contacts?p=2"),
              "/exports/contacts?p=2");
}

TEST(LinkMapper, RemovesLinksThatLeadAnywhereElse) {
    auto net = crm_settings();
    link_mapper m(net, net.upstreams[0], "https://exports.example.com");
    // Another host, scheme or port.
    EXPECT_EQ(m.map("https://evil.example/base/api/data/v9.2/contacts"), std::nullopt);
    EXPECT_EQ(m.map("http://crm.internal:8443/base/api/data/v9.2/contacts"), std::nullopt);
    EXPECT_EQ(m.map("https://crm.internal/base/api/data/v9.2/contacts"), std::nullopt);
    // Credentials in the URL, network-path and relative references.
    EXPECT_EQ(m.map("https://u:p@crm.internal:8443/base/api/data/v9.2/contacts"), std::nullopt);
    EXPECT_EQ(m.map("//crm.internal:8443/base/api/data/v9.2/contacts"), std::nullopt);
    EXPECT_EQ(m.map("contacts?page=2"), std::nullopt);
    // Outside the base path, outside every route, or escaping with dot segments.
    EXPECT_EQ(m.map("https://crm.internal:8443/api/data/v9.2/contacts"), std::nullopt);
    EXPECT_EQ(m.map("https://crm.internal:8443/base/api/data/v9.2/accounts"), std::nullopt);
    EXPECT_EQ(m.map("https://crm.internal:8443/base/api/data/v9.2/contacts/../accounts"),
              std::nullopt);
    EXPECT_EQ(m.map("https://crm.internal:8443/base/api/data/v9.2/contactsX"), std::nullopt);
    // A route of another upstream is no way out either.
    EXPECT_EQ(m.map("/base/other"), std::nullopt);
    EXPECT_EQ(m.map("not a url at all"), std::nullopt);
}

TEST(LinkMapper, MapsLinkHeaderEntriesAndDropsForeignOnes) {
    auto net = crm_settings();
    link_mapper m(net, net.upstreams[0], "https://exports.example.com");
    auto v = m.map_link_header(
        "<https://crm.internal:8443/base/api/data/v9.2/contacts?page=2>; rel=\"next\", "
        "<https://evil.example/x>; rel=\"prev\"");
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, "<https://exports.example.com/exports/contacts?page=2>; rel=\"next\"");
    EXPECT_EQ(m.map_link_header("<https://evil.example/x>; rel=\"next\""), std::nullopt);
}

// Only a link's relation passes: any other parameter is the CRM's text (Sentry-style APIs put
// their cursor there, beside the URL exportwall seals).
TEST(LinkMapper, KeepsOnlyTheRelationOfALinkHeaderEntry) {
    auto net = crm_settings();
    link_mapper m(net, net.upstreams[0], "https://exports.example.com");
    auto v = m.map_link_header(
        "<https://crm.internal:8443/base/api/data/v9.2/contacts?page=2>; rel=\"next\"; "
        "results=\"true\"; cursor=\"0:100:0\"; title=\"a;b\", "
        "<https://crm.internal:8443/base/api/data/v9.2/contacts?page=1>; cursor=\"0:0:1\"; "
        "rel=\"prev\", "
        "<https://crm.internal:8443/base/api/data/v9.2/contacts?page=3>; rel=\"<BE71>\"");
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, "<https://exports.example.com/exports/contacts?page=2>; rel=\"next\", "
                  "<https://exports.example.com/exports/contacts?page=1>; rel=\"prev\", "
                  "<https://exports.example.com/exports/contacts?page=3>");
}

// A link is followed with GET: one to a route that takes none (a search, a SOAP endpoint)
// could only carry the CRM's cursor, so it goes.
TEST(LinkMapper, DropsALinkToARouteThatTakesNoGet) {
    auto net = crm_settings();
    net.routes[0].methods = {"POST"};
    link_mapper m(net, net.upstreams[0], "https://exports.example.com");
    EXPECT_EQ(m.map("https://crm.internal:8443/base/api/data/v9.2/contacts?after=101"),
              std::nullopt);
}

TEST(ContentType, MatchesTheRouteFormatOnly) {
    using config::route_format;
    EXPECT_TRUE(content_type_matches(route_format::json, "application/json; charset=utf-8"));
    EXPECT_TRUE(content_type_matches(route_format::json, "Application/JSON"));
    EXPECT_TRUE(content_type_matches(route_format::json, "application/vnd.api+json"));
    EXPECT_FALSE(content_type_matches(route_format::json, "text/html"));
    EXPECT_FALSE(content_type_matches(route_format::json, ""));
    EXPECT_FALSE(content_type_matches(route_format::json, "application/jsonx"));
    EXPECT_TRUE(content_type_matches(route_format::ndjson, "application/x-ndjson"));
    EXPECT_TRUE(content_type_matches(route_format::csv, "text/csv;charset=UTF-8"));
    EXPECT_FALSE(content_type_matches(route_format::csv, "application/json"));
    EXPECT_TRUE(content_type_matches(route_format::xml, "text/xml; charset=utf-8"));
    EXPECT_TRUE(content_type_matches(route_format::xml, "application/soap+xml"));
    EXPECT_FALSE(content_type_matches(route_format::xml, "text/csv"));
    EXPECT_TRUE(content_type_matches(route_format::passthrough, "application/octet-stream"));
}

TEST(AuditRecord, CarriesNamesAndCountsButNeverQueryValues) {
    config::decision d;
    d.result = config::outcome::allow;
    d.client_id = "erp";
    d.purpose_id = "invoicing";
    d.destination_id = "billing";
    d.fields_requested = {"email", "iban"};
    d.fields_stripped = {"iban"};
    config::configuration cfg;
    cfg.revision = "abc123";
    filters::filter_counters counters;
    counters.records_in = 10;
    counters.records_out = 7;
    counters.dropped[static_cast<std::size_t>(filters::drop_reason::no_consent)] = 3;
    counters.stripped_fields["notes"] = 7;
    export_outcome out;
    out.decision = finished_decision(d, &counters);
    out.status = 200;
    out.counters = &counters;
    auto rec = make_audit_record(d, cfg, "GET", "/exports/contacts",
                                 "$select=email,iban&$filter=email%20eq%20'alice@example.com'",
                                 "127.0.0.1:5555", out, "id1", "2026-11-29T00:00:00.000Z");
    EXPECT_EQ(rec.decision, "filtered");
    EXPECT_EQ(rec.path, "/exports/contacts?$select&$filter");
    EXPECT_EQ(rec.path.find("alice"), std::string::npos);
    EXPECT_EQ(rec.records_in, 10u);
    EXPECT_EQ(rec.records_out, 7u);
    EXPECT_EQ(rec.records_dropped.at("no_consent"), 3u);
    EXPECT_EQ(rec.fields_stripped, (std::vector<std::string>{"iban", "notes"}));
    EXPECT_EQ(rec.policy_revision, "abc123");
    EXPECT_EQ(rec.client, "erp");
}

// Transform counts reach the record by field name, as the filter counted them (nested sets'
// fields under their set's label), and with no value.
TEST(AuditRecord, CopiesTheTransformCountsOfTheFilter) {
    config::decision d;
    d.result = config::outcome::allow;
    config::configuration cfg;
    filters::filter_counters counters;
    counters.records_in = 5;
    counters.records_out = 5;
    counters.transformed_fields["email"] = 5;
    counters.transformed_fields["contacts.birth_date"] = 4;
    counters.transform_failed["contacts.birth_date"] = 1;
    export_outcome out;
    out.decision = audit::decision::allowed;
    out.status = 200;
    out.counters = &counters;
    auto rec = make_audit_record(d, cfg, "GET", "/exports/contacts", "", "127.0.0.1:5555", out,
                                 "id1", "2026-11-29T00:00:00.000Z");
    EXPECT_EQ(rec.fields_transformed,
              (std::map<std::string, std::uint64_t>{{"contacts.birth_date", 4}, {"email", 5}}));
    EXPECT_EQ(rec.transform_failed,
              (std::map<std::string, std::uint64_t>{{"contacts.birth_date", 1}}));
    EXPECT_TRUE(rec.fields_stripped.empty());

    // Without a filter (a refusal, a pass-through) there is nothing to count.
    out.counters = nullptr;
    rec = make_audit_record(d, cfg, "GET", "/exports/contacts", "", "127.0.0.1:5555", out, "id2",
                            "2026-11-29T00:00:00.000Z");
    EXPECT_TRUE(rec.fields_transformed.empty());
    EXPECT_TRUE(rec.transform_failed.empty());
}

TEST(AuditRecord, ARefusalNamesItsLegalRule) {
    config::decision d;
    d.why = config::reason::disclosure_not_permitted;
    config::configuration cfg;
    export_outcome out;
    out.decision = audit::decision::blocked;
    out.reason = "disclosure_not_permitted";
    out.status = 403;
    auto rec = make_audit_record(d, cfg, "GET", "/exports/contacts", "", "127.0.0.1:5555", out,
                                 "id1", "2026-11-29T00:00:00.000Z");
    const auto want = config::rule_of(config::reason::disclosure_not_permitted);
    ASSERT_FALSE(want.rule_id.empty());
    EXPECT_EQ(rec.rule_id, want.rule_id);
    EXPECT_EQ(rec.legal_reference, want.legal_reference);

    // Neither a refusal that is not legal nor an export that was let through names a rule.
    for (const char* reason : {"upstream_timeout", "request_rejected", ""}) {
        out.reason = reason;
        out.decision = *reason ? audit::decision::aborted : audit::decision::filtered;
        rec = make_audit_record(d, cfg, "GET", "/exports/contacts", "", "127.0.0.1:5555", out,
                                "id2", "2026-11-29T00:00:00.000Z");
        EXPECT_EQ(rec.rule_id, "") << reason;
        EXPECT_EQ(rec.legal_reference, "") << reason;
    }
}

TEST(AuditRecord, NothingChangedMeansAllowed) {
    config::decision d;
    filters::filter_counters counters;
    counters.records_in = 4;
    counters.records_out = 4;
    EXPECT_EQ(finished_decision(d, &counters), audit::decision::allowed);
    EXPECT_EQ(finished_decision(d, nullptr), audit::decision::allowed);
    d.fields_stripped = {"iban"};
    EXPECT_EQ(finished_decision(d, nullptr), audit::decision::filtered);
}

TEST(AuditTime, IsRfc3339UtcWithMilliseconds) {
    auto t = audit_time_now();
    ASSERT_EQ(t.size(), 24u) << t;
    EXPECT_EQ(t[4], '-');
    EXPECT_EQ(t[10], 'T');
    EXPECT_EQ(t[19], '.');
    EXPECT_EQ(t.back(), 'Z');
}

}  // namespace
}  // namespace exportwall::proxy
