#include "config/query/odoo_xmlrpc.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <pugixml.hpp>

#include "config/query/guard.hpp"
#include "config/query/odoo_rpc.hpp"
#include "filters/field_set.hpp"

namespace exportwall::config::query {
namespace {

namespace json = boost::json;

// The res.partner route of odoo_rpc_test.cpp: the purpose keeps a few contact fields; the
// catalogue also has the VAT number, bank accounts, a comment, an IBAN and the consent and
// objection fields the record rules read. exportwall logs in to database "demo" as uid 2.
class odoo_route {
  public:
    odoo_route() : odoo_route({"id", "name", "email", "phone", "city", "partner_id.name"}) {}
    explicit odoo_route(std::vector<std::string> allowed)
        : allowed_(allowed), catalogue_(with_catalogue_extras(std::move(allowed))) {}

    [[nodiscard]] field_policy policy() const {
        field_policy p;
        p.allowed = &allowed_;
        p.catalogue = &catalogue_;
        p.rule_fields = rule_fields_;
        p.object_name = "res.partner";
        p.rpc_database = "demo";
        p.rpc_user = "2";
        p.rpc_password = password_;
        return p;
    }
    void password(std::string p) { password_ = std::move(p); }

    [[nodiscard]] guarded_query guard(std::string_view body, std::string_view raw = "") const {
        return guard_odoo_xmlrpc(policy(), raw, body);
    }

  private:
    static std::vector<std::string> with_catalogue_extras(std::vector<std::string> fields) {
        for (const char* f :
             {"vat", "bank_ids", "comment", "x_iban", "x_consent_email", "x_objection"})
            fields.emplace_back(f);
        return fields;
    }

    filters::field_set allowed_;
    filters::field_set catalogue_;
    std::vector<std::string> rule_fields_{"x_consent_email", "x_objection"};
    std::string password_ = "s3cret";
};

// --- XML-RPC written from JSON, read back into JSON (test side) -----------------------------

std::string escaped(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '&')
            out += "&amp;";
        else if (c == '<')
            out += "&lt;";
        else if (c == '>')
            out += "&gt;";
        else
            out.push_back(c);
    }
    return out;
}

// A JSON value as Python's xmlrpc.client marshals it (with its newlines).
std::string xml_value(const json::value& v) {
    switch (v.kind()) {
        case json::kind::string:
            return "<value><string>" + escaped(std::string_view(v.get_string())) +
                   "</string></value>\n";
        case json::kind::int64:
            return "<value><int>" + std::to_string(v.get_int64()) + "</int></value>\n";
        case json::kind::uint64:
            return "<value><i8>" + std::to_string(v.get_uint64()) + "</i8></value>\n";
        case json::kind::double_:
            return "<value><double>" + json::serialize(v) + "</double></value>\n";
        case json::kind::bool_:
            return std::string("<value><boolean>") + (v.get_bool() ? "1" : "0") +
                   "</boolean></value>\n";
        case json::kind::null:
            return "<value><nil/></value>";
        case json::kind::array: {
            std::string out = "<value><array><data>\n";
            for (const auto& item : v.get_array()) out += xml_value(item);
            return out + "</data></array></value>\n";
        }
        case json::kind::object: {
            std::string out = "<value><struct>\n";
            for (const auto& m : v.get_object())
                out += "<member>\n<name>" + escaped(std::string_view(m.key())) + "</name>\n" +
                       xml_value(m.value()) + "</member>\n";
            return out + "</struct></value>\n";
        }
    }
    return {};
}

// A methodCall of `method` with the params of the JSON array `params`.
std::string method_call(std::string_view params, std::string_view method = "execute_kw") {
    std::string out = "<?xml version='1.0'?>\n<methodCall>\n<methodName>" + std::string(method) +
                      "</methodName>\n<params>\n";
    const json::value list = json::parse(params);
    for (const auto& p : list.as_array()) out += "<param>\n" + xml_value(p) + "</param>\n";
    return out + "</params>\n</methodCall>\n";
}

// The client's execute_kw call: its own login, then `args` (a JSON list's items, unbracketed).
std::string call_args(std::string_view args) {
    return method_call(R"(["client_db",7,"client_pw",)" + std::string(args) + "]");
}

// A client's search_read on res.partner; `kwargs` empty: the six-argument form.
std::string call(std::string_view domain, std::string_view kwargs = "{}") {
    std::string args = R"("res.partner","search_read",[)" + std::string(domain) + "]";
    if (!kwargs.empty()) args += "," + std::string(kwargs);
    return call_args(args);
}

std::optional<json::value> read_value(const pugi::xml_node& value) {
    pugi::xml_node typed;
    for (pugi::xml_node c : value.children())
        if (c.type() == pugi::node_element) typed = c;
    if (!typed) return json::value(json::string(value.text().get()));
    const std::string_view type = typed.name();
    const std::string text = typed.text().get();
    if (type == "string") return json::value(json::string(text));
    if (type == "int" || type == "i8") return json::value(std::stoll(text));
    if (type == "boolean") return json::value(text == "1");
    if (type == "double") return json::value(std::stod(text));
    if (type == "nil") return json::value(nullptr);
    if (type == "array") {
        json::array out;
        for (pugi::xml_node v : typed.child("data").children("value")) {
            auto item = read_value(v);
            if (!item) return std::nullopt;
            out.push_back(*item);
        }
        return json::value(std::move(out));
    }
    if (type == "struct") {
        json::object out;
        for (pugi::xml_node m : typed.children("member")) {
            auto item = read_value(m.child("value"));
            if (!item) return std::nullopt;
            out[m.child_value("name")] = *item;
        }
        return json::value(std::move(out));
    }
    return std::nullopt;
}

// The params of a forwarded methodCall as a JSON list (null when it is not one).
json::value forwarded_args(const std::string& body) {
    pugi::xml_document doc;
    if (!doc.load_buffer(body.data(), body.size(), pugi::parse_default | pugi::parse_ws_pcdata))
        return nullptr;
    auto call_node = doc.child("methodCall");
    if (std::string_view(call_node.child_value("methodName")) != "execute_kw") return nullptr;
    json::array args;
    for (pugi::xml_node p : call_node.child("params").children("param")) {
        auto v = read_value(p.child("value"));
        if (!v) return nullptr;
        args.push_back(*v);
    }
    return json::value(std::move(args));
}

// exportwall's login, the model and method, [domain] and the keyword arguments.
json::value expected_args(std::string_view domain, std::string_view kwargs) {
    return json::parse(R"(["demo",2,"s3cret","res.partner","search_read",[)" + std::string(domain) +
                       "]," + std::string(kwargs) + "]");
}

constexpr std::string_view every_field =
    R"(["city","email","id","name","partner_id.name","phone","x_consent_email","x_objection"])";

void expect_unsupported(const guarded_query& q, std::string_view detail_part) {
    EXPECT_EQ(q.result, verdict::unsupported) << q.detail;
    EXPECT_EQ(q.parameter, "body") << q.detail;
    EXPECT_NE(q.detail.find(detail_part), std::string::npos) << q.detail;
    EXPECT_TRUE(q.body.empty());
    EXPECT_TRUE(q.query.empty());
}

void expect_refused_field(const guarded_query& q, std::string_view field, use how) {
    EXPECT_EQ(q.result, verdict::field_not_permitted) << q.detail;
    EXPECT_EQ(q.field, field);
    EXPECT_EQ(q.field_use, how);
    EXPECT_TRUE(q.body.empty());
}

// --- Odoo's documented external-API calls ---------------------------------------------------

// models.execute_kw(db, uid, password, 'res.partner', 'search_read', [[['is_company', '=', True]]],
//                   {'fields': ['name', 'country_id', 'comment'], 'limit': 5})
// as Python's xmlrpc.client sends it to /xmlrpc/2/object.
constexpr std::string_view documented_call = R"(<?xml version='1.0'?>
<methodCall>
<methodName>execute_kw</methodName>
<params>
<param>
<value><string>odoo-db</string></value>
</param>
<param>
<value><int>7</int></value>
</param>
<param>
<value><string>client password &amp; more</string></value>
</param>
<param>
<value><string>res.partner</string></value>
</param>
<param>
<value><string>search_read</string></value>
</param>
<param>
<value><array><data>
<value><array><data>
<value><array><data>
<value><string>is_company</string></value>
<value><string>=</string></value>
<value><boolean>1</boolean></value>
</data></array></value>
</data></array></value>
</data></array></value>
</param>
<param>
<value><struct>
<member>
<name>fields</name>
<value><array><data>
<value><string>name</string></value>
<value><string>country_id</string></value>
<value><string>comment</string></value>
</data></array></value>
</member>
<member>
<name>limit</name>
<value><int>5</int></value>
</member>
</struct></value>
</param>
</params>
</methodCall>
)";

TEST(OdooXmlRpcGuard, ForwardsTheDocumentedSearchReadExampleWrittenAfresh) {
    odoo_route route({"id", "name", "is_company", "country_id"});
    auto q = route.guard(documented_call);
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<methodCall><methodName>execute_kw</methodName><params>"
              "<param><value><string>demo</string></value></param>"
              "<param><value><int>2</int></value></param>"
              "<param><value><string>s3cret</string></value></param>"
              "<param><value><string>res.partner</string></value></param>"
              "<param><value><string>search_read</string></value></param>"
              "<param><value><array><data><value><array><data><value><array><data>"
              "<value><string>is_company</string></value><value><string>=</string></value>"
              "<value><boolean>1</boolean></value>"
              "</data></array></value></data></array></value></data></array></value></param>"
              "<param><value><struct>"
              "<member><name>limit</name><value><int>5</int></value></member>"
              "<member><name>fields</name><value><array><data>"
              "<value><string>name</string></value><value><string>country_id</string></value>"
              "<value><string>x_consent_email</string></value>"
              "<value><string>x_objection</string></value>"
              "</data></array></value></member></struct></value></param>"
              "</params></methodCall>\n");
    EXPECT_EQ(q.requested, (std::vector<std::string>{"name", "country_id", "comment"}));
    EXPECT_EQ(q.stripped, (std::vector<std::string>{"comment"}));
    EXPECT_TRUE(q.query.empty());
}

TEST(OdooXmlRpcGuard, RefusesTheDocumentedExampleWhenThePurposeDoesNotKeepIsCompany) {
    odoo_route route;
    expect_refused_field(route.guard(documented_call), not_in_catalogue, use::filter);
}

TEST(OdooXmlRpcGuard, ForwardsDomainOperatorsPathsAndListsAsJsonRpcDoes) {
    odoo_route route;
    for (
        std::string_view domain : {
            R"(["|",["city","=","Lyon"],["city","=","Gent"]])",
            R"(["!",["email","=",false]])",
            R"([["id","in",[1,2,3]],["city","not in",["Paris",null,""]]])",
            R"([["name","ilike","smith"],["email","=ilike","%@example.com"],["city","like","L_n"]])",
            R"([["id",">",10],["id","<=",99],["id","<>",51],["email","=?",null]])",
            R"([["partner_id.name","=","ACME"]])",
            R"(["&","|",["id","=",1],["id","=",2],"!",["city","=","x"]])",
            "[]",
        }) {
        auto q = route.guard(call(domain));
        ASSERT_TRUE(q.forwarded()) << domain << ": " << q.detail;
        EXPECT_EQ(forwarded_args(q.body),
                  expected_args(domain, R"({"fields":)" + std::string(every_field) + "}"))
            << q.body;
    }
}

TEST(OdooXmlRpcGuard, ForwardsLimitOffsetAndCanonicalOrderThenFields) {
    odoo_route route;
    auto q = route.guard(call(R"([["city","=","Lyon"]])",
                              R"({"order":"name ASC,  id desc","fields":["name","email"],)"
                              R"("offset":10,"limit":5})"));
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(forwarded_args(q.body),
              expected_args(R"([["city","=","Lyon"]])",
                            R"({"order":"name asc, id desc","offset":10,"limit":5,)"
                            R"("fields":["name","email","x_consent_email","x_objection"]})"));
}

TEST(OdooXmlRpcGuard, SelectsEveryAllowedFieldInTheSixArgumentForm) {
    odoo_route route;
    auto q = route.guard(call("[]", ""));
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(forwarded_args(q.body),
              expected_args("[]", R"({"fields":)" + std::string(every_field) + "}"));
}

TEST(OdooXmlRpcGuard, StripsSelectedFieldsAndForcesTheRuleFields) {
    odoo_route route;
    auto q = route.guard(call("[]", R"({"fields":["name","x_iban","vat"]})"));
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.stripped, (std::vector<std::string>{"x_iban", "vat"}));
    EXPECT_EQ(q.sent, (std::vector<std::string>{"name", "x_consent_email", "x_objection"}));
    EXPECT_EQ(q.body.find("x_iban"), std::string::npos);
}

TEST(OdooXmlRpcGuard, ReplacesTheClientsLoginWithTheRoutesRpcLogin) {
    odoo_route route;
    route.password("p<w>&\r\"");
    auto q = route.guard(call("[]"));
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_EQ(q.body.find("client_db"), std::string::npos);
    EXPECT_EQ(q.body.find("client_pw"), std::string::npos);
    EXPECT_NE(q.body.find("<string>p&lt;w&gt;&amp;&#13;\"</string>"), std::string::npos) << q.body;
    auto args = forwarded_args(q.body);
    ASSERT_TRUE(args.is_array()) << q.body;
    EXPECT_EQ(args.at(0), json::value("demo"));
    EXPECT_EQ(args.at(1), json::value(2));
}

TEST(OdooXmlRpcGuard, NeverForwardsTheClientsLoginWhateverItsType) {
    odoo_route route;
    for (std::string_view login : {R"("a",1,"b")", R"(null,"x",{"pw":1})", R"([1],false,2.5)"}) {
        auto q = route.guard(
            method_call("[" + std::string(login) + R"(,"res.partner","search_read",[[]]])"));
        ASSERT_TRUE(q.forwarded()) << login << ": " << q.detail;
        EXPECT_EQ(q.body.find("\"pw\""), std::string::npos);
        EXPECT_EQ(q.body.find("<name>pw</name>"), std::string::npos);
    }
}

TEST(OdooXmlRpcGuard, RefusesEveryCallOnARouteWithoutRpcLogin) {
    odoo_route route;
    route.password("");
    expect_unsupported(route.guard(call("[]")), "rpc-login");
}

// --- field references ------------------------------------------------------------------------

TEST(OdooXmlRpcGuard, RefusesADomainTermOnAStrippedField) {
    odoo_route route;
    expect_refused_field(route.guard(call(R"([["x_iban","=like","BE07%"]])")), "x_iban",
                         use::filter);
    expect_refused_field(route.guard(call(R"(["|",["id","=",1],["vat","!=",false]])")), "vat",
                         use::filter);
}

TEST(OdooXmlRpcGuard, RefusesADomainTermOnAPathBelowAKeptFieldOrARuleField) {
    odoo_route route;
    expect_refused_field(route.guard(call(R"([["email.x","=",1]])")), not_in_catalogue,
                         use::filter);
    expect_refused_field(route.guard(call(R"([["x_objection","=",false]])")), "x_objection",
                         use::filter);
}

TEST(OdooXmlRpcGuard, RefusesAnOrderByAStrippedField) {
    odoo_route route;
    expect_refused_field(route.guard(call("[]", R"({"order":"name, x_iban desc"})")), "x_iban",
                         use::order);
    expect_unsupported(route.guard(call("[]", R"({"order":"name up"})")), "/params/6/order");
}

// --- what is not an export ------------------------------------------------------------------

TEST(OdooXmlRpcGuard, RefusesMethodsOtherThanExecuteKwSearchRead) {
    odoo_route route;
    expect_unsupported(
        route.guard(method_call(R"(["d",1,"p","res.partner","search_read",[[]]])", "execute")),
        "execute_kw");
    expect_unsupported(route.guard(call_args(R"("res.partner","read",[[1,2]])")),
                       "only search_read");
    expect_unsupported(route.guard(call_args(R"("res.partner","unlink",[[1]])")),
                       "only search_read");
    expect_unsupported(route.guard(call_args(R"("res.users","search_read",[[]])")),
                       "/params/3: the model");
    expect_unsupported(route.guard(call_args(R"("res.partner","search_read",[[]],{},1)")),
                       "execute_kw takes");
    expect_unsupported(route.guard(call_args(R"("res.partner","search_read",[[],["name"]])")),
                       "/params/5: the positional arguments are [domain]");
}

TEST(OdooXmlRpcGuard, RefusesHierarchyOperatorsAndUnknownKeywordsWithTheirPosition) {
    odoo_route route;
    const std::string body = call(R"([["id","=",1],["name","child_of",3]])");
    auto q = route.guard(body);
    expect_unsupported(q, "/params/5/0/1/1: the operator is not supported");
    // The position is the operator's <value> element.
    EXPECT_EQ(body.substr(q.position, 26), "value><string>child_of</st");
    expect_unsupported(route.guard(call("[]", R"({"context":{"lang":"nl_BE"}})")),
                       "/params/6/context: no keyword");
}

// --- the XML itself ---------------------------------------------------------------------------

TEST(OdooXmlRpcGuard, RefusesADocumentTypeDeclarationAndEntities) {
    odoo_route route;
    const std::string ok = call("[]");
    const std::string doctype =
        "<?xml version='1.0'?>\n<!DOCTYPE methodCall [<!ENTITY x \"y\">]>\n" +
        ok.substr(ok.find("<methodCall>"));
    auto q = route.guard(doctype);
    expect_unsupported(q, "document type declaration");
    EXPECT_EQ(q.position, doctype.find("<!DOCTYPE"));
    std::string entity = ok;
    entity.replace(entity.find("client_db"), 9, "&x;");
    q = route.guard(entity);
    expect_unsupported(q, "predefined entities");
    EXPECT_EQ(q.position, entity.find("&x;"));
    std::string external =
        "<?xml version='1.0'?>\n<!doctype methodCall SYSTEM \"file:///etc/passwd\">" +
        ok.substr(ok.find("<methodCall>"));
    expect_unsupported(route.guard(external), "document type declaration");
    std::string nul_reference = ok;
    nul_reference.replace(nul_reference.find("client_db"), 9, "a&#0;b");
    expect_unsupported(route.guard(nul_reference), "predefined entities");
}

TEST(OdooXmlRpcGuard, ReadsPredefinedAndCharacterReferencesAndCdata) {
    odoo_route route;
    std::string body = call(R"([["name","=","x"]])");
    body.replace(body.find("<string>x</string>"), 18,
                 "<string>A&amp;B &lt;&#233;&#x20AC;<![CDATA[&<]]></string>");
    auto q = route.guard(body);
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_NE(q.body.find("<string>A&amp;B &lt;\xC3\xA9\xE2\x82\xAC&amp;&lt;</string>"),
              std::string::npos)
        << q.body;
}

TEST(OdooXmlRpcGuard, RefusesCommentsProcessingInstructionsAttributesAndNamespaces) {
    odoo_route route;
    const std::string ok = call("[]");
    auto inserted = [&ok](std::string_view after, std::string_view what) {
        std::string b = ok;
        b.insert(b.find(after) + after.size(), what);
        return b;
    };
    expect_unsupported(route.guard(inserted("<params>", "<!-- hi -->")), "comments");
    expect_unsupported(route.guard(inserted("<params>", "<?php x?>")), "processing");
    std::string attribute = ok;
    attribute.replace(attribute.find("<methodCall>"), 12, "<methodCall a=\"1\">");
    expect_unsupported(route.guard(attribute), "methodCall");
    std::string prefixed = ok;
    prefixed.replace(prefixed.find("<string>client_db</string>"), 26,
                     "<x:string xmlns:x=\"u\">client_db</x:string>");
    expect_unsupported(route.guard(prefixed), "attributes");
    std::string encoding = ok;
    encoding.replace(0, 21, "<?xml version='1.0' encoding='ISO-8859-1'?>");
    expect_unsupported(route.guard(encoding), "UTF-8");
}

TEST(OdooXmlRpcGuard, RefusesBadNesting) {
    odoo_route route;
    const std::string ok = call(R"([["name","=","x"]])");
    auto replaced = [&ok](std::string_view what, std::string_view with) {
        std::string b = ok;
        b.replace(b.find(what), what.size(), with);
        return b;
    };
    // Two typed elements in one value, text beside a typed element, markup in a scalar.
    expect_unsupported(
        route.guard(replaced("<string>x</string>", "<string>x</string><int>1</int>")),
        "one typed element");
    expect_unsupported(route.guard(replaced("<string>x</string>", "y<string>x</string>")),
                       "text beside");
    expect_unsupported(route.guard(replaced("<string>x</string>", "<string>x<b/></string>")),
                       "markup");
    // A member without its name, a struct member that is no member, an array without data.
    std::string no_name = call("[]", R"({"limit":5})");
    no_name.replace(no_name.find("<name>limit</name>\n"), 19, "");
    expect_unsupported(route.guard(no_name), "one <name> and one <value>");
    expect_unsupported(
        route.guard(replaced("<value><array><data>\n<value><string>name</string></value>\n"
                             "<value><string>=</string></value>\n"
                             "<value><string>x</string></value>\n</data></array></value>",
                             "<value><array><value><string>name</string></value></array></value>")),
        "<data>");
    // Parameters outside <params>, a value outside a param, unbalanced tags.
    expect_unsupported(route.guard(replaced("<params>", "<params><value/>")), "<param>");
    expect_unsupported(route.guard(replaced("</params>", "")), "well-formed");
    expect_unsupported(route.guard(replaced("</methodName>", "</methodName><extra/>")),
                       "one <methodName> and one <params>");
    EXPECT_EQ(route.guard(ok + "<methodCall/>").result, verdict::unsupported);
}

TEST(OdooXmlRpcGuard, RefusesValueTypesOdooDomainsDoNotTake) {
    odoo_route route;
    const std::string ok = call(R"([["name","=","x"]])");
    for (std::string_view typed :
         {"<dateTime.iso8601>20240101T10:00:00</dateTime.iso8601>", "<base64>eA==</base64>",
          "<int>1.5</int>", "<int> 1</int>", "<int>+-5</int>", "<int>99999999999999999999</int>",
          "<boolean>true</boolean>", "<double>nan</double>", "<double>1e999</double>",
          "<nil>x</nil>", "<float>1</float>"}) {
        std::string b = ok;
        b.replace(b.find("<string>x</string>"), 18, typed);
        auto q = route.guard(b);
        EXPECT_EQ(q.result, verdict::unsupported) << typed;
        EXPECT_EQ(q.position, b.find(typed) + 1) << typed << ": " << q.detail;
    }
}

TEST(OdooXmlRpcGuard, ReadsEveryScalarTypeAndWritesItBackExactly) {
    odoo_route route;
    std::string b = call(R"([["id","in",[1,2,3,4,5,6,7]]])");
    const std::string list =
        "<value><int>1</int></value>\n<value><int>2</int></value>\n"
        "<value><int>3</int></value>\n<value><int>4</int></value>\n"
        "<value><int>5</int></value>\n<value><int>6</int></value>\n"
        "<value><int>7</int></value>\n";
    ASSERT_NE(b.find(list), std::string::npos);
    b.replace(b.find(list), list.size(),
              "<value><i4>+12</i4></value><value><i8>-9223372036854775808</i8></value>"
              "<value><double>0.1</double></value><value><double>-2E3</double></value>"
              "<value>untyped &amp; string</value><value><nil/></value>"
              "<value><boolean>0</boolean></value><value></value>");
    auto q = route.guard(b);
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_NE(q.body.find("<value><int>12</int></value>"
                          "<value><i8>-9223372036854775808</i8></value>"
                          "<value><double>0.1</double></value><value><double>-2000</double></value>"
                          "<value><string>untyped &amp; string</string></value>"
                          "<value><nil/></value><value><boolean>0</boolean></value>"
                          "<value><string></string></value>"),
              std::string::npos)
        << q.body;
    auto again = route.guard(q.body);
    ASSERT_TRUE(again.forwarded()) << again.detail;
    EXPECT_EQ(again.body, q.body);
}

TEST(OdooXmlRpcGuard, KeepsWhitespaceInsideStringsAndCarriageReturnsAsReferences) {
    odoo_route route;
    std::string b = call(R"([["name","=","x"]])");
    b.replace(b.find("<string>x</string>"), 18, "<string>  a&#13;\n</string>");
    auto q = route.guard(b);
    ASSERT_TRUE(q.forwarded()) << q.detail;
    EXPECT_NE(q.body.find("<string>  a&#13;\n</string>"), std::string::npos) << q.body;
}

TEST(OdooXmlRpcGuard, RefusesARepeatedMemberName) {
    odoo_route route;
    std::string b = call("[]", R"({"fields":["name"],"limit":5})");
    b.replace(b.find("<name>limit</name>"), 18, "<name>fields</name>");
    expect_unsupported(route.guard(b), "repeats a member name");
}

TEST(OdooXmlRpcGuard, RefusesBytesThatAreNoUtf8XmlCharacters) {
    odoo_route route;
    const std::string ok = call(R"([["name","=","x"]])");
    for (std::string_view bad :
         {std::string_view("\xC3\x28", 2), std::string_view("\x01", 1), std::string_view("\0", 1),
          std::string_view("\xED\xA0\x80", 3), std::string_view("\xEF\xBF\xBE", 3)}) {
        std::string b = ok;
        const std::size_t at = b.find("<string>x") + 8;
        b.replace(at, 1, bad);
        auto q = route.guard(b);
        EXPECT_EQ(q.result, verdict::unsupported) << q.detail;
        EXPECT_EQ(q.position, at);
    }
}

TEST(OdooXmlRpcGuard, RefusesNestingDeeperThanThirtyTwoLevels) {
    odoo_route route;
    std::string deep = "<value><int>1</int></value>";
    for (int i = 0; i < 40; ++i) deep = "<value><array><data>" + deep + "</data></array></value>";
    std::string b = call(R"([["id","in",[1]]])");
    const std::string list =
        "<value><array><data>\n<value><int>1</int></value>\n</data></array></value>";
    ASSERT_NE(b.find(list), std::string::npos);
    b.replace(b.find(list), list.size(), deep);
    expect_unsupported(route.guard(b), "nested too deeply");
}

TEST(OdooXmlRpcGuard, RefusesACallLargerThan256KiBAndAnyQueryString) {
    odoo_route route;
    std::string big = call(R"([["name","=","x"]])");
    big.replace(big.find("<string>x</string>"), 18,
                "<string>" + std::string(std::size_t{256} * 1024, 'a') + "</string>");
    expect_unsupported(route.guard(big), "256 KiB");
    auto q = route.guard(call("[]"), "db=x");
    EXPECT_EQ(q.result, verdict::unsupported);
    EXPECT_EQ(q.parameter, "(query)");
}

// --- properties -------------------------------------------------------------------------------

// Random execute_kw calls (as JSON, the JSON-RPC guard's test generator's shapes) over a
// catalogue with forbidden fields.
class call_generator {
  public:
    explicit call_generator(std::uint32_t seed) : rng_(seed) {}

    // The call's execute_kw arguments as a JSON list.
    std::string args() {
        std::string positional = "[" + domain() + "]";
        if (chance(3)) positional = domain();
        if (chance(3)) positional = "[" + domain() + ",[\"name\"]]";
        std::string a = std::string(chance(90) ? R"("cdb",7,"cpw")" : R"(null,"cdb",{"cpw":1})") +
                        "," + (chance(95) ? R"("res.partner")" : R"("res.users")") + "," +
                        (chance(95) ? R"("search_read")" : R"("read")") + "," + positional;
        if (chance(80)) a += "," + kwargs();
        return "[" + a + "]";
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
    std::string field() {
        if (chance(75))
            return pick<std::string>({"id", "name", "email", "phone", "city", "partner_id.name"});
        return pick<std::string>({"partner_id", "partner_id.vat", "vat", "bank_ids", "comment",
                                  "x_iban", "x_consent_email", "x_objection", "x_secret", "email.x",
                                  ""});
    }
    std::string quoted(const std::string& s) { return "\"" + s + "\""; }
    std::string scalar() {
        if (chance(90))
            return pick<std::string>({"\"x\"", "1", "-7", "2.5", "0.1", "true", "false", "null",
                                      "-9223372036854775808", "1e-300", "\"a<&>b\""});
        return pick<std::string>({"{}", "[]"});
    }
    std::string term() {
        std::string op = chance(90) ? pick<std::string>({"=", "!=", "<", ">=", "ilike", "not like",
                                                         "=?", "in", "not in", "=like"})
                                    : pick<std::string>({"child_of", "parent_of", "any"});
        std::string value = scalar();
        if (op == "in" || op == "not in") {
            value = "[";
            for (std::size_t i = 0, n = uniform(4); i < n; ++i) value += (i ? "," : "") + scalar();
            value += "]";
            if (chance(5)) value = scalar();
        }
        if (chance(2)) return "[" + quoted(field()) + "," + quoted(op) + "]";
        return "[" + quoted(field()) + "," + quoted(op) + "," + value + "]";
    }
    std::string domain() {
        std::string d = "[";
        for (std::size_t i = 0, n = uniform(5); i < n; ++i) {
            d += i ? "," : "";
            if (chance(30))
                d += quoted(pick<std::string>({"&", "|", "|", "!", "!", "&", "^"}));
            else
                d += term();
        }
        return d + "]";
    }
    std::string kwargs() {
        std::string k = "{";
        bool first = true;
        auto member = [&](std::string_view name, const std::string& value) {
            if (!first) k += ",";
            first = false;
            k += "\"" + std::string(name) + "\":" + value;
        };
        if (chance(60)) {
            std::string f = "[";
            for (std::size_t i = 0, n = uniform(5); i < n; ++i)
                f += (i ? "," : "") + quoted(field());
            member("fields", f + "]");
        }
        if (chance(30)) member("limit", pick<std::string>({"0", "5", "-1", "5.0", "\"5\""}));
        if (chance(30)) member("offset", pick<std::string>({"0", "80", "null"}));
        if (chance(40)) {
            std::string o;
            for (std::size_t i = 0, n = 1 + uniform(2); i < n; ++i)
                o += (i ? ", " : "") + field() + pick<std::string>({"", " asc", " DESC", " up"});
            member("order", quoted(o));
        }
        // Unknown keywords only: a repeated one is no JSON value this generator can write twice.
        if (chance(4)) member(pick<std::string>({"context", "lang"}), "{}");
        return k + "}";
    }

    std::mt19937 rng_;
};

bool one_of(const std::string& s, std::initializer_list<std::string_view> set) {
    return std::find(set.begin(), set.end(), s) != set.end();
}

TEST(OdooXmlRpcGuard, ForwardedCallsAreAFixedPointAndReadOnlyKeptFields) {
    odoo_route route;
    call_generator generate(20240612U);
    int forwarded_calls = 0;
    for (int i = 0; i < 2000; ++i) {
        const std::string args = generate.args();
        const std::string body = method_call(args);
        auto q = route.guard(body);
        if (!q.forwarded()) {
            EXPECT_TRUE(q.body.empty()) << args;
            continue;
        }
        ++forwarded_calls;
        EXPECT_EQ(q.body.find("cdb"), std::string::npos) << args;
        EXPECT_EQ(q.body.find("cpw"), std::string::npos) << args;
        auto forwarded = forwarded_args(q.body);
        ASSERT_TRUE(forwarded.is_array()) << q.body;
        const auto& a = forwarded.as_array();
        ASSERT_EQ(a.size(), 7U) << q.body;
        EXPECT_EQ(a.at(0), json::value("demo"));
        EXPECT_EQ(a.at(1), json::value(2));
        EXPECT_EQ(a.at(3), json::value("res.partner"));
        EXPECT_EQ(a.at(4), json::value("search_read"));
        for (const auto& t : a.at(5).at(0).as_array()) {
            if (t.is_string()) continue;
            std::string f(t.at(0).as_string().c_str());
            EXPECT_TRUE(one_of(f, {"id", "name", "email", "phone", "city", "partner_id.name"}))
                << f << " in " << args;
        }
        if (const auto* order = a.at(6).as_object().if_contains("order")) {
            std::string o(order->as_string().c_str());
            for (std::size_t at = 0; at <= o.size();) {
                auto comma = o.find(", ", at);
                std::string part = o.substr(at, comma == std::string::npos ? comma : comma - at);
                EXPECT_TRUE(one_of(part.substr(0, part.find(' ')),
                                   {"id", "name", "email", "phone", "city", "partner_id.name"}))
                    << part << " in " << args;
                if (comma == std::string::npos) break;
                at = comma + 2;
            }
        }
        for (const auto& f : a.at(6).at("fields").as_array()) {
            std::string n(f.as_string().c_str());
            EXPECT_TRUE(one_of(n, {"id", "name", "email", "phone", "city", "partner_id.name",
                                   "partner_id", "x_consent_email", "x_objection"}))
                << n << " in " << args;
        }
        auto again = route.guard(q.body);
        ASSERT_TRUE(again.forwarded()) << q.body << ": " << again.detail;
        EXPECT_EQ(again.body, q.body);
        EXPECT_EQ(again.sent, q.sent);
    }
    EXPECT_GT(forwarded_calls, 200);
    EXPECT_LT(forwarded_calls, 1800);
}

// One accepted surface: the same call over JSON-RPC and XML-RPC gets the same verdict, the same
// refused field and the same selection.
TEST(OdooXmlRpcGuard, DecidesEveryCallAsTheJsonRpcGuardDoes) {
    odoo_route route;
    call_generator generate(7U);
    for (int i = 0; i < 2000; ++i) {
        const std::string args = generate.args();
        const std::string jsonrpc =
            R"({"jsonrpc":"2.0","method":"call","id":1,"params":{"service":"object",)"
            R"("method":"execute_kw","args":)" +
            args + "}}";
        auto over_json = guard_odoo_rpc(route.policy(), "", jsonrpc);
        auto over_xml = route.guard(method_call(args));
        ASSERT_EQ(over_xml.result, over_json.result)
            << args << "\nJSON-RPC: " << over_json.detail << "\nXML-RPC: " << over_xml.detail;
        EXPECT_EQ(over_xml.field, over_json.field) << args;
        EXPECT_EQ(over_xml.sent, over_json.sent) << args;
        EXPECT_EQ(over_xml.stripped, over_json.stripped) << args;
        if (over_json.result == verdict::unsupported &&
            over_json.detail.rfind("/params/args", 0) == 0) {
            // The same refusal, pointed at in each transport's terms.
            auto colon = over_json.detail.find(": ");
            ASSERT_NE(colon, std::string::npos) << over_json.detail;
            EXPECT_NE(over_xml.detail.find(over_json.detail.substr(colon)), std::string::npos)
                << over_json.detail << " / " << over_xml.detail;
        }
    }
}

}  // namespace
}  // namespace exportwall::config::query
