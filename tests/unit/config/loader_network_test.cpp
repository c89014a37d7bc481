// The document and network part of the configuration loader: what it accepts, and the exact
// file:line:col of what it refuses.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/loader.hpp"
#include "config/route_match.hpp"

namespace exportwall::config {
namespace {

constexpr const char* minimal = R"(<exportwall version="1">
  <listen address="127.0.0.1" port="0"/>
  <audit path="audit.jsonl"/>
  <upstream id="crm" url="http://127.0.0.1:8081"/>
  <route id="meta" path="/api/meta" upstream="crm" format="passthrough"/>
</exportwall>
)";

std::string errors_of(const load_result& r) {
    std::string out;
    for (const auto& e : r.errors) out += e.str() + "\n";
    return out;
}

TEST(LoaderNetwork, LoadsMinimalDocumentWithDefaults) {
    auto r = load_configuration_text(minimal, "min.xml", "/etc/exportwall");
    ASSERT_TRUE(r) << errors_of(r);
    const auto& net = r.config->net;
    ASSERT_EQ(net.listeners.size(), 1u);
    EXPECT_EQ(net.listeners[0].port, 0);
    EXPECT_FALSE(net.listeners[0].tls);
    EXPECT_EQ(net.admin.address, "127.0.0.1");
    EXPECT_EQ(net.audit.path, "/etc/exportwall/audit.jsonl");
    EXPECT_EQ(net.audit.sync, audit_sync::blocked);
    EXPECT_EQ(net.limit.max_head_bytes, 16u * 1024u);
    EXPECT_EQ(net.limit.drain_delay, std::chrono::milliseconds(0));
    EXPECT_EQ(net.limit.shutdown_grace, std::chrono::seconds(30));
    ASSERT_EQ(net.upstreams.size(), 1u);
    EXPECT_EQ(net.upstreams[0].host, "127.0.0.1");
    EXPECT_EQ(net.upstreams[0].port, 8081);
    EXPECT_EQ(net.upstreams[0].scheme, "http");
    EXPECT_EQ(net.routes[0].format, route_format::passthrough);
    EXPECT_EQ(r.config->revision.size(), 64u);
}

TEST(LoaderNetwork, RevisionChangesWithEveryByte) {
    auto a = load_configuration_text(minimal, "a.xml");
    std::string changed = std::string(minimal) + " ";
    auto b = load_configuration_text(changed, "b.xml");
    ASSERT_TRUE(a && b);
    EXPECT_NE(a.config->revision, b.config->revision);
}

TEST(LoaderNetwork, ParsesTimeoutsSizesAndTls) {
    auto r = load_configuration_text(R"(<exportwall version="1">
  <listen address="0.0.0.0" port="8443" public-url="https://exports.example.com/">
    <tls certificate="certs/server.crt" private-key="certs/server.key" client-ca="/pki/ca.crt"
         client-certificate="required"/>
  </listen>
  <limits upstream-idle="90s" request-head="250ms" keep-alive-idle="2m" max-head-bytes="32KiB"
          max-request-body-bytes="2MiB" upstream-pool-size="8" drain-delay="5s"/>
  <audit path="/var/lib/exportwall/audit.jsonl" sync="always" rotate-bytes="1GiB">
    <syslog address="127.0.0.1" port="6514" protocol="tcp"/>
  </audit>
  <upstream id="crm" url="https://crm.internal:9443/base/" ca="crm-ca.crt"/>
  <route id="contacts" path="/api/contacts" match="prefix" methods="GET POST" upstream="crm"
         upstream-path="/api/data/v9.2/contacts" entity="contact" format="json" records="/value"
         select-param="$select" link-fields="/@odata.nextLink" csv-delimiter="tab"
         query-language="soql" object="Contact"/>
  <entity id="contact" subject-field="lifecycle" collected-for="essential">
    <subject value="customer" type="customer"/>
    <field path="id" category="user.unique_id"/>
    <field path="lifecycle" category="user.account"/>
  </entity>
</exportwall>)",
                                     "tls.xml", "/etc/ew");
    ASSERT_TRUE(r) << errors_of(r);
    const auto& net = r.config->net;
    ASSERT_TRUE(net.listeners[0].tls);
    EXPECT_EQ(net.listeners[0].tls->certificate_file, "/etc/ew/certs/server.crt");
    EXPECT_EQ(net.listeners[0].tls->client_ca_file, "/pki/ca.crt");
    EXPECT_EQ(net.listeners[0].tls->client_certificate, client_certificate_mode::required);
    EXPECT_EQ(net.listeners[0].public_url, "https://exports.example.com");
    EXPECT_EQ(net.limit.upstream_idle, std::chrono::seconds(90));
    EXPECT_EQ(net.limit.request_head, std::chrono::milliseconds(250));
    EXPECT_EQ(net.limit.keep_alive_idle, std::chrono::minutes(2));
    EXPECT_EQ(net.limit.drain_delay, std::chrono::seconds(5));
    EXPECT_EQ(net.limit.max_head_bytes, 32u * 1024u);
    EXPECT_EQ(net.limit.max_request_body_bytes, 2u << 20);
    EXPECT_EQ(net.audit.sync, audit_sync::always);
    EXPECT_EQ(net.audit.rotate_bytes, 1ull << 30);
    EXPECT_TRUE(net.audit.syslog.tcp);
    EXPECT_EQ(net.upstreams[0].port, 9443);
    EXPECT_EQ(net.upstreams[0].base_path, "/base");
    EXPECT_EQ(net.upstreams[0].ca_file, "/etc/ew/crm-ca.crt");
    const auto& rt = net.routes[0];
    EXPECT_EQ(rt.match, path_match::prefix);
    EXPECT_EQ(rt.methods, (std::vector<std::string>{"GET", "POST"}));
    EXPECT_EQ(rt.link_fields, (std::vector<std::string>{"/@odata.nextLink"}));
    EXPECT_EQ(rt.csv_delimiter, '\t');
}

TEST(LoaderNetwork, DrainDelayMayBeZero) {
    auto r = load_configuration_text(R"(<exportwall version="1">
  <listen address="127.0.0.1" port="0"/>
  <limits drain-delay="0s" shutdown-grace="300ms"/>
  <audit path="audit.jsonl"/>
  <upstream id="crm" url="http://127.0.0.1:8081"/>
  <route id="meta" path="/api/meta" upstream="crm" format="passthrough"/>
</exportwall>
)",
                                     "drain.xml");
    ASSERT_TRUE(r) << errors_of(r);
    EXPECT_EQ(r.config->net.limit.drain_delay, std::chrono::milliseconds(0));
    EXPECT_EQ(r.config->net.limit.shutdown_grace, std::chrono::milliseconds(300));
}

// continuation-fields and envelope-fields: JSON pointers on json routes; a token sealed into the
// body must have a way back (continuation-params, or the hubspot-search body).
TEST(LoaderNetwork, EnvelopeAndContinuationFieldsAreCheckedWithTheirPosition) {
    struct bad_route {
        const char* attributes;
        const char* message_part;
    };
    for (const auto& c : {
             bad_route{R"(continuation-fields="/paging/next/after")", "needs 'continuation-params'"},
             bad_route{R"(envelope-fields="/value")", "may not name the records"},
             bad_route{R"(envelope-fields="/next" link-fields="/next")", "may not name the records"},
             bad_route{R"(envelope-fields="additional_data/pagination")", "lists JSON pointers"},
             bad_route{R"(continuation-params="after" continuation-fields="/")", "lists JSON pointers"},
         }) {
        const std::string doc = std::string(R"(<exportwall version="1">
  <listen address="127.0.0.1" port="0"/>
  <audit path="audit.jsonl"/>
  <upstream id="crm" url="http://127.0.0.1:8081"/>
  <route id="contacts" path="/api/contacts" upstream="crm" entity="contact" format="json"
         records="/value" )") + c.attributes + R"(/>
</exportwall>
)";
        auto r = load_configuration_text(doc, "envelope.xml");
        ASSERT_FALSE(r) << c.attributes;
        const auto hit = std::find_if(r.errors.begin(), r.errors.end(), [&c](const auto& e) {
            return e.message.find(c.message_part) != std::string::npos;
        });
        ASSERT_NE(hit, r.errors.end()) << c.attributes << "\n" << errors_of(r);
        EXPECT_EQ(hit->where.file, "envelope.xml");
        EXPECT_EQ(hit->where.line, 6) << hit->str();  // the line of the attribute
        EXPECT_GT(hit->where.column, 0) << hit->str();
    }
}

struct refusal {
    const char* name;
    const char* body;  // inserted as line 2 of a document whose other lines are valid
    int line;
    int column;
    const char* message_part;
};

class LoaderNetworkRefuses : public ::testing::TestWithParam<refusal> {};

TEST_P(LoaderNetworkRefuses, WithPositionAndReason) {
    const auto& c = GetParam();
    std::string doc = std::string("<exportwall version=\"1\">\n") + c.body +
                      "\n  <audit path=\"a.jsonl\"/>\n"
                      "  <upstream id=\"crm\" url=\"http://127.0.0.1:8081\"/>\n"
                      "  <route id=\"meta\" path=\"/api/meta\" upstream=\"crm\" "
                      "format=\"passthrough\"/>\n</exportwall>\n";
    auto r = load_configuration_text(doc, "bad.xml");
    ASSERT_FALSE(r) << c.name;
    ASSERT_FALSE(r.errors.empty());
    const auto& e = r.errors.front();
    EXPECT_EQ(e.where.file, "bad.xml");
    EXPECT_EQ(e.where.line, c.line) << e.str();
    EXPECT_EQ(e.where.column, c.column) << e.str();
    EXPECT_NE(e.message.find(c.message_part), std::string::npos) << e.str();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LoaderNetworkRefuses,
    ::testing::Values(
        refusal{"UnknownAttribute", R"(  <listen port="1" colour="red"/>)", 2, 20,
                "unknown attribute 'colour'"},
        refusal{"UnknownElement", R"(  <listen port="1"/><listner/>)", 2, 21,
                "unknown element <listner>"},
        refusal{"PortOutOfRange", R"(  <listen port="70000"/>)", 2, 11, "'port'"},
        refusal{"BadDuration", R"(  <listen port="1"/><limits upstream-idle="soon"/>)", 2, 29,
                "'upstream-idle'"},
        refusal{"BadSize", R"(  <listen port="1"/><limits max-head-bytes="16KB"/>)", 2, 29,
                "'max-head-bytes'"},
        // Only a phase that may be skipped takes 0s: a zero timeout would refuse everything.
        refusal{"ZeroTimeout", R"(  <listen port="1"/><limits shutdown-grace="0s"/>)", 2, 29,
                "'shutdown-grace' must be a positive duration"},
        refusal{
            "ClientCertWithoutCa",
            R"(  <listen port="1"><tls certificate="c" private-key="k" client-certificate="required"/></listen>)",
            2, 20, "client-ca"},
        refusal{"AdminOffLoopbackWithoutToken", R"(  <listen port="1"/><admin address="0.0.0.0"/>)",
                2, 21, "token-sha256"},
        refusal{"TwoAdmins", R"(  <listen port="1"/><admin/><admin/>)", 2, 29, "once"},
        refusal{"SyntaxError", R"(  <listen port="1">)", 6, 3, "XML syntax error"},
        refusal{"NoListener", R"(  <admin/>)", 1, 1, "<listen>"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

// <exportwall priority>: the I/O threads' nice value, -20 to 19 as nginx's worker_priority;
// unset, exportwall runs at the one it was started with.
TEST(LoaderNetwork, PriorityIsANiceValueAndRefusedOutsideItsRangeWhereItStands) {
    auto unset = load_configuration_text(minimal, "min.xml");
    ASSERT_TRUE(unset) << errors_of(unset);
    EXPECT_FALSE(unset.config->net.priority.has_value());
    const std::string body(std::string_view(minimal).substr(std::string_view(minimal).find('\n')));
    for (const auto& [value, expected] :
         std::vector<std::pair<const char*, int>>{{"-20", -20}, {"-5", -5}, {"0", 0}, {"19", 19}}) {
        auto r = load_configuration_text(
            std::string(R"(<exportwall version="1" priority=")") + value + "\">" + body, "p.xml");
        ASSERT_TRUE(r) << value << "\n" << errors_of(r);
        ASSERT_TRUE(r.config->net.priority.has_value()) << value;
        EXPECT_EQ(*r.config->net.priority, expected);
    }
    for (const char* value :
         {"-21", "20", "", "5 ", "+-1", "high", "1e1", "-9999999999999999999"}) {
        auto r = load_configuration_text(
            std::string("<exportwall version=\"1\"\n  priority=\"") + value + "\">" + body,
            "p.xml");
        ASSERT_FALSE(r) << value;
        const auto& e = r.errors.front();
        EXPECT_EQ(e.where.file, "p.xml");
        EXPECT_EQ(e.where.line, 2) << e.str();
        EXPECT_EQ(e.where.column, 3) << e.str();
        EXPECT_NE(e.message.find("'priority' must be a whole number from -20 to 19"),
                  std::string::npos)
            << e.str();
    }
}

TEST(LoaderNetwork, RefusesRouteProblemsAtTheirAttributes) {
    auto r = load_configuration_text(R"(<exportwall version="1">
  <listen port="1"/>
  <audit path="a.jsonl"/>
  <upstream id="crm" url="http://127.0.0.1:8081"/>
  <route id="a" path="/api/../x" upstream="crm" format="passthrough"/>
  <route id="b" path="/api/b" upstream="nope" format="passthrough"/>
  <route id="c" path="/api/c" upstream="crm" format="yaml"/>
  <route id="d" path="/api/d" upstream="crm" format="json"/>
</exportwall>)",
                                     "routes.xml");
    ASSERT_FALSE(r);
    std::string all = errors_of(r);
    EXPECT_NE(all.find("routes.xml:5:17: 'path' must be a normalised"), std::string::npos) << all;
    EXPECT_NE(all.find("routes.xml:6:31: unknown upstream 'nope'"), std::string::npos) << all;
    EXPECT_NE(all.find("routes.xml:7:46: 'format' must be"), std::string::npos) << all;
    // Route d carries records without naming its entity: the policy loader's rule 6.
    EXPECT_NE(all.find("routes.xml:8:3: "), std::string::npos) << all;
    EXPECT_NE(all.find("entity", all.find("routes.xml:8:3: ")), std::string::npos) << all;
}

TEST(LoaderNetwork, SubstitutesSecretsOnlyFromTheEnvironment) {
    const char* doc = R"(<exportwall version="1">
  <listen port="1"/>
  <audit path="a.jsonl"/>
  <upstream id="crm" url="http://127.0.0.1:8081">
    <header name="Authorization" value="Bearer ${EXPORTWALL_TEST_CRM_TOKEN}"/>
  </upstream>
  <route id="meta" path="/api/meta" upstream="crm" format="passthrough"/>
</exportwall>)";
    ::unsetenv("EXPORTWALL_TEST_CRM_TOKEN");
    auto missing = load_configuration_text(doc, "s.xml");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.errors.front().str(),
              "s.xml:5:34: environment variable EXPORTWALL_TEST_CRM_TOKEN is not set");
    ::setenv("EXPORTWALL_TEST_CRM_TOKEN", "s3cret", 1);
    auto ok = load_configuration_text(doc, "s.xml");
    ::unsetenv("EXPORTWALL_TEST_CRM_TOKEN");
    ASSERT_TRUE(ok) << errors_of(ok);
    EXPECT_EQ(ok.config->net.upstreams[0].headers[0].value, "Bearer s3cret");
}

TEST(LoaderNetwork, RefusesDoctype) {
    auto r = load_configuration_text(
        "<!DOCTYPE exportwall [<!ENTITY x \"y\">]>\n<exportwall version=\"1\"/>", "d.xml");
    ASSERT_FALSE(r);
    EXPECT_NE(r.errors.front().message.find("DOCTYPE"), std::string::npos);
}

TEST(LoaderNetwork, MissingFileIsAnError) {
    auto r = load_configuration_file("/nonexistent/exportwall.xml");
    ASSERT_FALSE(r);
    EXPECT_NE(r.errors.front().str().find("/nonexistent/exportwall.xml"), std::string::npos);
}

TEST(RouteMatch, ExactBeatsPrefixAndLongestPrefixWins) {
    settings net;
    route exact;
    exact.id = "exact";
    exact.path = "/api/contacts";
    route prefix;
    prefix.id = "prefix";
    prefix.path = "/api";
    prefix.match = path_match::prefix;
    route longer;
    longer.id = "longer";
    longer.path = "/api/contacts";
    longer.match = path_match::prefix;
    net.routes = {prefix, exact, longer};
    auto id = [&](std::string_view p) {
        auto* r = match_route(net, p);
        return r ? r->id : std::string("none");
    };
    EXPECT_EQ(id("/api/contacts"), "exact");
    EXPECT_EQ(id("/api/contacts/42"), "longer");
    EXPECT_EQ(id("/api/contactsX"), "prefix");
    EXPECT_EQ(id("/api"), "prefix");
    EXPECT_EQ(id("/apiX"), "none");
    EXPECT_EQ(id("/"), "none");
}

TEST(RouteMatch, TemplateMatchesOneKeyAndLosesToAnExactRoute) {
    settings net;
    route search;
    search.id = "search";
    search.path = "/crm/v3/objects/contacts/search";
    route one;
    one.id = "one";
    one.path = "/crm/v3/objects/contacts/{id}";
    one.match = path_match::template_;
    route dataverse;
    dataverse.id = "dataverse";
    dataverse.path = "/api/data/v9.2/contacts({id})";
    dataverse.match = path_match::template_;
    route prefix;
    prefix.id = "prefix";
    prefix.path = "/crm";
    prefix.match = path_match::prefix;
    net.routes = {prefix, one, search, dataverse};
    auto id = [&](std::string_view p) {
        auto* r = match_route(net, p);
        return r ? r->id : std::string("none");
    };
    EXPECT_EQ(id("/crm/v3/objects/contacts/search"), "search");
    EXPECT_EQ(id("/crm/v3/objects/contacts/51"), "one");
    EXPECT_EQ(id("/crm/v3/objects/contacts/51/associations"), "prefix");
    EXPECT_EQ(id("/crm/v3/objects/contacts/"), "prefix");
    EXPECT_EQ(id("/api/data/v9.2/contacts(00000000-0000-0000-0000-000000000001)"), "dataverse");
    EXPECT_EQ(id("/api/data/v9.2/contacts(1)/iban"), "none");
    EXPECT_EQ(id("/api/data/v9.2/contacts(a(b))"), "none");
    EXPECT_EQ(id("/api/data/v9.2/contacts()"), "none");
    EXPECT_EQ(id("/api/data/v9.2/contacts(" + std::string(129, 'a') + ")"), "none");
    EXPECT_EQ(id("/api/data/v9.2/contacts(%27x%27)"), "none");
}

TEST(RouteMatch, TemplatesAreValidatedAtLoad) {
    EXPECT_TRUE(valid_template("/crm/v3/objects/contacts/{id}"));
    EXPECT_TRUE(valid_template("/api/data/v9.2/contacts({id})"));
    EXPECT_FALSE(valid_template("/crm/v3/objects/contacts"));
    EXPECT_FALSE(valid_template("/x/{id}{other}"));
    EXPECT_FALSE(valid_template("/x/{id}a"));
    EXPECT_FALSE(valid_template("/x/{}"));
    EXPECT_FALSE(valid_template("/x/{ID}"));
    EXPECT_FALSE(valid_template("/x/{id"));
    EXPECT_FALSE(valid_template("/x/id}"));
}

}  // namespace
}  // namespace exportwall::config
