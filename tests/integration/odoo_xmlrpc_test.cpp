// Odoo's external XML-RPC API end to end (issue 14): the real demo_crm binary (tools/demo_crm,
// POST /xmlrpc/2/object) and the real exportwall serving config/examples/vendor-shapes.xml, both
// on port 0, the example rewritten only for ports and log paths. Two more upstreams beside the
// example's: the fake CRM (tests/fake_crm), whose /_seen shows the call exportwall wrote and whose
// /_stage serves answers a real Odoo never would; and the demo CRM under a wrong rpc-password,
// which answers a <fault>.
//
// The bypass cases are the reason the language exists: before it, an XML-RPC endpoint could
// only be a passthrough route, and a domain on a field the purpose strips (or the field itself)
// reached the CRM and came back.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/harness.hpp"

namespace exportwall::itest {
namespace {

namespace json = boost::json;

constexpr std::string_view erp_key = "erp-demo-key";
constexpr std::string_view xmlrpc_path = "/xmlrpc/2/object";
constexpr int records = 12;

bool contains(std::string_view body, std::string_view value) {
    return body.find(value) != std::string_view::npos;
}

std::string xml_string(std::string_view s) {
    return "<value><string>" + std::string(s) + "</string></value>";
}

// An execute_kw call as Python's xmlrpc.client writes it, with the client's own (bogus) login:
// `model`, `method`, the domain's terms (XML-RPC values, joined) and the keyword members.
std::string odoo_call(std::string_view domain, std::string_view kwargs,
                      std::string_view method = "search_read",
                      std::string_view model = "res.partner") {
    std::string b =
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>execute_kw</methodName>\n"
        "<params>\n";
    for (std::string_view p : {std::string_view("client-db"), std::string_view("__uid__"),
                               std::string_view("client-bogus-password"), model, method}) {
        b += "<param>\n";
        b += p == "__uid__" ? std::string("<value><int>99</int></value>") : xml_string(p);
        b += "\n</param>\n";
    }
    b += "<param>\n<value><array><data>\n<value><array><data>\n" + std::string(domain) +
         "</data></array></value>\n</data></array></value>\n</param>\n";
    if (!kwargs.empty())
        b += "<param>\n<value><struct>\n" + std::string(kwargs) + "</struct></value>\n</param>\n";
    return b + "</params>\n</methodCall>\n";
}

std::string term(std::string_view field, std::string_view op, std::string_view value) {
    return "<value><array><data>\n" + xml_string(field) + "\n" + xml_string(op) + "\n" +
           std::string(value) + "\n</data></array></value>\n";
}

std::string fields(const std::vector<std::string>& names) {
    std::string b = "<member>\n<name>fields</name>\n<value><array><data>\n";
    for (const auto& n : names) b += xml_string(n) + "\n";
    return b + "</data></array></value>\n</member>\n";
}

std::string member(std::string_view name, std::string_view value) {
    return "<member>\n<name>" + std::string(name) + "</name>\n" + std::string(value) +
           "\n</member>\n";
}

std::string declared(std::string_view target, std::string_view body, std::string_view key = erp_key,
                     std::string_view purpose = "invoicing",
                     std::string_view destination = "billing") {
    std::string r =
        "POST " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    if (!key.empty()) r += "Authorization: Bearer " + std::string(key) + "\r\n";
    r += "X-Export-Purpose: " + std::string(purpose) + "\r\n";
    r += "X-Export-Destination: " + std::string(destination) + "\r\n";
    r += "Content-Type: text/xml\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    return r + std::string(body);
}

// The values of every member named `name` in an XML-RPC answer (the <string> or <int> text).
std::vector<std::string> member_values(std::string_view body, std::string_view name) {
    std::vector<std::string> out;
    const std::string open = "<name>" + std::string(name) + "</name>";
    for (auto at = body.find(open); at != std::string_view::npos; at = body.find(open, at + 1)) {
        auto value = body.find("<value>", at);
        auto typed_end = body.find('>', value + 7);
        auto end = body.find("</", typed_end);
        if (value == std::string_view::npos || end == std::string_view::npos) break;
        out.emplace_back(body.substr(typed_end + 1, end - typed_end - 1));
    }
    return out;
}

class OdooXmlRpc : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::string port_file = dir_.file("demo_crm.port");
        demo_log_ = dir_.file("demo_crm.log");
        ASSERT_TRUE(crm_.start({DEMO_CRM_BINARY, "--port", "0", "--port-file", port_file,
                                "--records", std::to_string(records)},
                               demo_log_));
        std::optional<std::string> port_text;
        ASSERT_TRUE(poll_until(
            [&] { return (port_text = read_file(port_file)).has_value() || !crm_.running(); }));
        ASSERT_TRUE(port_text) << "demo_crm did not start: " << demo_log();
        crm_port_ = static_cast<std::uint16_t>(std::strtoul(port_text->c_str(), nullptr, 10));
        ASSERT_NE(crm_port_, 0);
        ASSERT_TRUE(observer_.start(dir_));

        auto config =
            read_file(std::string(EXPORTWALL_SOURCE_DIR) + "/config/examples/vendor-shapes.xml");
        ASSERT_TRUE(config);
        std::string x = *config;
        const std::string crm_url = "http://127.0.0.1:" + std::to_string(crm_port_);
        ASSERT_TRUE(replace_once(x, R"(<listen address="127.0.0.1" port="8080")",
                                 R"(<listen address="127.0.0.1" port="0")"));
        ASSERT_TRUE(replace_once(x, R"(<admin address="127.0.0.1" port="9901")",
                                 R"(<admin address="127.0.0.1" port="0")"));
        ASSERT_TRUE(replace_once(x, R"(path="audit.jsonl")", "path=\"" + audit_path() + "\""));
        ASSERT_TRUE(
            replace_once(x, R"(access-log="-")", "access-log=\"" + dir_.file("access.log") + "\""));
        ASSERT_TRUE(replace_all(x, "http://127.0.0.1:8081", crm_url));
        ASSERT_TRUE(contains(x, R"(<route id="odoo-partners-xmlrpc" path="/xmlrpc/2/object")"));
        const std::string login = R"( rpc-database="ardennes" rpc-user="2" )";
        const std::string more =
            "  <upstream id=\"observer\" url=\"http://127.0.0.1:" +
            std::to_string(observer_.port()) + "\"" + login +
            "rpc-password=\"odoo-demo-password\"/>\n"
            "  <upstream id=\"odoo-wrong-login\" url=\"" +
            crm_url + "\"" + login +
            "rpc-password=\"not-the-password\"/>\n"
            "  <route id=\"odoo-observed\" path=\"/observed/xmlrpc/2/object\" "
            "upstream-path=\"/xmlrpc/2/object\" methods=\"POST\" upstream=\"observer\" "
            "entity=\"odoo-partner\" format=\"xmlrpc\" query-language=\"odoo-xmlrpc\" "
            "object=\"res.partner\"/>\n"
            "  <route id=\"odoo-wrong-login\" path=\"/wrong/xmlrpc/2/object\" "
            "upstream-path=\"/xmlrpc/2/object\" methods=\"POST\" upstream=\"odoo-wrong-login\" "
            "entity=\"odoo-partner\" format=\"xmlrpc\" query-language=\"odoo-xmlrpc\" "
            "object=\"res.partner\"/>\n"
            "</exportwall>";
        ASSERT_TRUE(replace_once(x, "</exportwall>", more));
        ASSERT_TRUE(proxy_.start(dir_, x)) << proxy_.log();
        ASSERT_TRUE(crm_control(observer_.port(), "/_reset"));
    }

    void TearDown() override {
        if (HasFailure()) {
            std::cerr << "--- exportwall log ---\n"
                      << proxy_.log() << "--- demo_crm log ---\n"
                      << demo_log() << "--- fake CRM log ---\n"
                      << observer_.log();
        }
        proxy_.process().stop();
        crm_.stop();
    }

    [[nodiscard]] std::string audit_path() const { return dir_.file("audit.jsonl"); }
    [[nodiscard]] std::string demo_log() const { return read_file(demo_log_).value_or(""); }
    [[nodiscard]] std::size_t demo_requests() const {
        std::size_t n = 0;
        const std::string log = demo_log();
        for (auto at = log.find("demo_crm: POST"); at != std::string::npos;
             at = log.find("demo_crm: POST", at + 1))
            ++n;
        return n;
    }
    [[nodiscard]] std::string last_demo_request() const {
        const std::string log = demo_log();
        auto at = log.rfind("demo_crm: POST");
        return at == std::string::npos ? std::string() : log.substr(at, log.find('\n', at) - at);
    }

    [[nodiscard]] response direct(std::string_view body) const {
        return fetch(crm_port_, declared(xmlrpc_path, body, "", "", ""));
    }
    [[nodiscard]] response through(std::string_view target, std::string_view body,
                                   std::string_view purpose = "invoicing",
                                   std::string_view destination = "billing") {
        return fetch(proxy_.port(), declared(target, body, erp_key, purpose, destination));
    }

    // The audit record of `audit_id`, once it is written.
    [[nodiscard]] std::optional<json::value> audit_record(const std::string& audit_id) const {
        std::optional<json::value> found;
        const bool written = poll_until([&] {
            const std::string trail = read_file(audit_path()).value_or("");
            std::size_t at = 0;
            while (at < trail.size()) {
                auto end = trail.find('\n', at);
                std::string line = trail.substr(at, end == std::string::npos ? end : end - at);
                if (contains(line, "\"" + audit_id + "\"")) {
                    boost::system::error_code ec;
                    auto v = json::parse(line, ec);
                    if (!ec && v.is_object() && v.as_object().contains("decision")) found = v;
                    return found.has_value();
                }
                if (end == std::string::npos) break;
                at = end + 1;
            }
            return false;
        });
        if (!written) return std::nullopt;
        return found;
    }

    temp_dir dir_;
    child_process crm_;
    std::string demo_log_;
    std::uint16_t crm_port_ = 0;
    fake_crm observer_;
    exportwall_server proxy_;
};

TEST_F(OdooXmlRpc, CallIsFilteredAndAsksTheCrmOnlyForWhatThePurposeReads) {
    // The CRM's own answer (with its login), with the subject type the rules read.
    std::string own = odoo_call("", fields({"name", "email", "x_iban", "x_lifecycle"}));
    ASSERT_TRUE(replace_once(own, "client-db", "ardennes"));
    ASSERT_TRUE(replace_once(own, "<int>99</int>", "<int>2</int>"));
    ASSERT_TRUE(replace_once(own, "client-bogus-password", "odoo-demo-password"));
    auto crm = direct(own);
    ASSERT_EQ(crm.status, 200u);
    const auto lifecycles = member_values(crm.body, "x_lifecycle");
    const auto ibans = member_values(crm.body, "x_iban");
    const auto emails = member_values(crm.body, "email");
    ASSERT_EQ(lifecycles.size(), static_cast<std::size_t>(records)) << crm.body;
    std::vector<std::string> customer_emails;
    for (std::size_t i = 0; i < lifecycles.size(); ++i)
        if (lifecycles[i] == "customer") customer_emails.push_back(emails[i]);
    ASSERT_FALSE(customer_emails.empty());

    const auto before = demo_requests();
    auto r = through(xmlrpc_path, odoo_call(term("email", "ilike", xml_string("example")),
                                            fields({"name", "email", "x_iban"})));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.header("X-Export-Stripped-Fields"), "x_iban");
    EXPECT_EQ(member_values(r.body, "email"), customer_emails) << r.body;
    EXPECT_TRUE(member_values(r.body, "x_iban").empty());
    EXPECT_TRUE(member_values(r.body, "x_lifecycle").empty());  // read by the rules only
    for (const auto& iban : ibans) EXPECT_FALSE(contains(r.body, iban)) << iban;
    // The CRM accepted the call: exportwall's login (the demo answers any other with a fault),
    // and it was asked for the kept fields and the subject type, never the IBAN.
    ASSERT_EQ(demo_requests(), before + 1);
    EXPECT_TRUE(contains(last_demo_request(), "endpoint=odoo-xmlrpc")) << last_demo_request();
    EXPECT_TRUE(contains(last_demo_request(), "served=[name,email,x_lifecycle]"))
        << last_demo_request();
}

TEST_F(OdooXmlRpc, CallReachesTheCrmWrittenAfreshWithExportwallsLogin) {
    const std::string staged =
        "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n"
        "</data></array></value>\n</param>\n</params>\n</methodResponse>\n";
    const std::string stage =
        "POST /_stage?path=/xmlrpc/2/object&type=text/xml HTTP/1.1\r\n"
        "Host: localhost\r\nConnection: close\r\nContent-Length: " +
        std::to_string(staged.size()) + "\r\n\r\n" + staged;
    ASSERT_EQ(fetch(observer_.port(), stage).status, 200u);
    auto r = through("/observed/xmlrpc/2/object",
                     odoo_call("<!-- a comment the CRM never sees -->", fields({"name"})));
    EXPECT_EQ(r.status, 400u) << r.body;  // comments are not understood: refused
    r = through("/observed/xmlrpc/2/object", odoo_call("", fields({"name"})));
    ASSERT_EQ(r.status, 200u) << r.body;
    auto seen = crm_requests(observer_.port());
    ASSERT_TRUE(seen);
    ASSERT_EQ(seen->requests.size(), 1u);
    const auto& call = seen->requests[0];
    EXPECT_EQ(call.target, "/xmlrpc/2/object");
    EXPECT_EQ(call.header("Content-Type"), "text/xml; charset=utf-8");
    EXPECT_FALSE(call.header("Authorization"));
    EXPECT_FALSE(call.header("X-Export-Purpose"));
    EXPECT_FALSE(contains(call.body, "client-bogus-password"));
    EXPECT_FALSE(contains(call.body, "client-db"));
    EXPECT_TRUE(contains(call.body,
                         "<param><value><string>ardennes</string></value></param>"
                         "<param><value><int>2</int></value></param>"
                         "<param><value><string>odoo-demo-password</string></value>"
                         "</param>"))
        << call.body;
    EXPECT_TRUE(contains(call.body, "<value><string>x_lifecycle</string></value>")) << call.body;
}

TEST_F(OdooXmlRpc, FaultForABadLoginEndsTheExportWithNothingOfIt) {
    auto r = through("/wrong/xmlrpc/2/object", odoo_call("", fields({"name"})));
    EXPECT_EQ(r.status, 200u);  // the head left before the CRM's body was read
    EXPECT_FALSE(r.complete);   // an aborted export never ends cleanly
    EXPECT_FALSE(contains(r.body, "Access Denied")) << r.body;
    EXPECT_FALSE(contains(r.body, "fault")) << r.body;
    EXPECT_TRUE(contains(last_demo_request(), "endpoint=odoo-xmlrpc")) << last_demo_request();
    auto id = r.header("X-Export-Audit-Id");
    ASSERT_TRUE(id);
    auto rec = audit_record(*id);
    ASSERT_TRUE(rec) << read_file(audit_path()).value_or("");
    EXPECT_EQ(rec->at("decision").as_string(), "aborted");
    EXPECT_EQ(rec->at("reason").as_string(), "upstream_malformed");
}

TEST_F(OdooXmlRpc, RefusedCallsReachNoCrm) {
    const auto before = demo_requests();
    struct refusal {
        std::string name, body;
        unsigned status;
        std::string reason;
    };
    std::string doctype = odoo_call("", "");
    ASSERT_TRUE(replace_once(doctype, "<methodCall>",
                             "<!DOCTYPE methodCall [<!ENTITY iban SYSTEM \"file:///etc/passwd\">]>"
                             "<methodCall>"));
    const std::vector<refusal> refusals{
        {"a domain on the IBAN", odoo_call(term("x_iban", "=like", xml_string("BE07%")), ""), 403,
         "query_field_not_permitted"},
        {"an order by the IBAN", odoo_call("", member("order", xml_string("x_iban desc"))), 403,
         "query_field_not_permitted"},
        {"another method", odoo_call("", "", "unlink"), 400, "query_unsupported"},
        {"another model", odoo_call("", "", "search_read", "res.users"), 400, "query_unsupported"},
        {"a DOCTYPE", doctype, 400, "query_unsupported"},
        {"an unknown keyword", odoo_call("", member("context", "<value><struct></struct></value>")),
         400, "query_unsupported"},
    };
    for (const auto& x : refusals) {
        auto r = through(xmlrpc_path, x.body);
        EXPECT_EQ(r.status, x.status) << x.name << ": " << r.body;
        boost::system::error_code ec;
        auto problem = json::parse(r.body, ec);
        ASSERT_FALSE(ec) << x.name << ": " << r.body;
        EXPECT_EQ(problem.at("reason").as_string(), x.reason) << x.name;
        EXPECT_FALSE(contains(r.body, "BE07")) << x.name;
    }
    EXPECT_EQ(demo_requests(), before) << demo_log();
}

// --- enforcement bypass attempts ------------------------------------------------------------

// A stripped field spelled so that a reader of the text might miss it, but Odoo would read it:
// the guard reads it as Odoo does and refuses it.
TEST_F(OdooXmlRpc, ABypassOfTheDomainCheckNeverReachesTheCrm) {
    const auto before = demo_requests();
    const std::vector<std::string> spellings{
        term("x_iban", "!=", "<value><boolean>0</boolean></value>"),
        term("x_i<![CDATA[ban]]>", "=like", xml_string("BE%")),
        term("x_&#105;ban", "=like", xml_string("BE%")),
        "<value><array><data>\n<value>x_iban</value>\n" + xml_string("=like") + "\n" +
            xml_string("BE%") + "\n</data></array></value>\n",
        xml_string("|") + term("id", "=", "<value><int>1</int></value>") +
            term("x_iban", "=like", xml_string("BE%")),
    };
    for (const auto& domain : spellings) {
        auto r = through(xmlrpc_path, odoo_call(domain, fields({"name"})));
        EXPECT_EQ(r.status, 403u) << domain << ": " << r.body;
        EXPECT_TRUE(contains(r.body, "query_field_not_permitted")) << r.body;
    }
    // A second `fields` member, which Python's xmlrpc would read last: refused, not merged.
    auto twice = through(xmlrpc_path, odoo_call("", fields({"name"}) + fields({"x_iban"})));
    EXPECT_EQ(twice.status, 400u) << twice.body;
    EXPECT_EQ(demo_requests(), before) << demo_log();
}

// What a CRM (or something between it and exportwall) answers that is not a list of partners,
// or hides a stripped field: nothing of the field reaches the client.
TEST_F(OdooXmlRpc, AnAnswerThatHidesAStrippedFieldLeaksNothingOfIt) {
    auto stage = [this](const std::string& body) {
        const std::string request =
            "POST /_stage?path=/xmlrpc/2/object&type=text/xml HTTP/1.1\r\nHost: localhost\r\n"
            "Connection: close\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        return fetch(observer_.port(), request).status == 200;
    };
    const std::string head =
        "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n";
    const std::string tail = "</data></array></value>\n</param>\n</params>\n</methodResponse>\n";
    auto partner = [](const std::string& extra) {
        return "<value><struct>\n" + member("id", "<value><int>1</int></value>") +
               member("name", xml_string("Jan")) + member("x_lifecycle", xml_string("customer")) +
               extra + "</struct></value>\n";
    };
    struct answer {
        std::string name, body;
        bool passes;
    };
    const std::vector<answer> answers{
        {"the IBAN beside the kept fields",
         head + partner(member("x_iban", xml_string("BE71SECRET"))) + tail, true},
        {"the IBAN inside a stripped field",
         head +
             partner(member("comment", "<value><struct>\n" +
                                           member("x_iban", xml_string("BE71SECRET")) +
                                           "</struct></value>")) +
             tail,
         true},
        {"the name repeated with the IBAN",
         head + partner(member("name", xml_string("BE71SECRET"))) + tail, false},
        {"a fault quoting the IBAN",
         "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n" +
             member("faultCode", "<value><int>1</int></value>") +
             member("faultString", xml_string("ValueError: BE71SECRET")) +
             "</struct></value>\n</fault>\n</methodResponse>\n",
         false},
        {"a comment holding the IBAN", head + partner("<!-- BE71SECRET -->") + tail, false},
    };
    for (const auto& a : answers) {
        ASSERT_TRUE(crm_control(observer_.port(), "/_reset"));
        ASSERT_TRUE(stage(a.body));
        auto r = through("/observed/xmlrpc/2/object", odoo_call("", fields({"name", "x_iban"})));
        EXPECT_EQ(r.status, 200u) << a.name;
        EXPECT_EQ(r.complete, a.passes) << a.name << ": " << r.body;
        EXPECT_FALSE(contains(r.body, "BE71SECRET")) << a.name << ": " << r.body;
        if (a.passes) {
            EXPECT_EQ(member_values(r.body, "name"), std::vector<std::string>{"Jan"});
        }
    }
}

}  // namespace
}  // namespace exportwall::itest
