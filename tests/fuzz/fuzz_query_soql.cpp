// libFuzzer target for the SOQL guard. Each input runs as a statement, as a REST query string and
// as a SOAP body, under a policy with record-rule fields and one without. Properties: no crash;
// whatever is forwarded guards again to the identical text (a fixed point), references only
// fields the purpose keeps (or a forced rule field in the outer selection), and holds no
// forbidden catalogue field as a whole token outside string literals.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "config/query/guard_support.hpp"
#include "config/query/soql.hpp"

namespace {

using exportwall::config::query::field_policy;
using exportwall::config::query::guard_soql_rest;
using exportwall::config::query::guard_soql_soap;
using exportwall::config::query::guard_soql_statement;
using exportwall::config::query::guarded_query;
using exportwall::config::query::iequals_ascii;
using exportwall::config::query::soql_references;
using exportwall::filters::field_set;

const std::vector<std::string> allowed_paths{
    "id",           "first_name",  "last_name",          "email",     "lifecycle",
    "Account.Name", "Contacts.id", "Contacts.last_name", "What.Name", "What.Subject"};
// Catalogue fields the purpose does not keep; the first four may never appear as a token.
const std::vector<std::string> forbidden_paths{"iban",
                                               "birth_date",
                                               "consent.email",
                                               "Account.iban",
                                               "Contacts.iban",
                                               "What.iban",
                                               "objection.direct_marketing"};
const std::vector<std::string> forbidden_tokens{"iban", "birth_date", "consent.email",
                                                "Account.iban"};

struct fuzz_policy {
    explicit fuzz_policy(std::vector<std::string> rules) : rules_(std::move(rules)) {
        std::vector<std::string> all = allowed_paths;
        all.insert(all.end(), forbidden_paths.begin(), forbidden_paths.end());
        allowed_ = field_set(allowed_paths);
        catalogue_ = field_set(all);
        policy.allowed = &allowed_;
        policy.catalogue = &catalogue_;
        policy.rule_fields = rules_;
        policy.object_name = "Contact";
    }
    field_policy policy;

  private:
    field_set allowed_;
    field_set catalogue_;
    std::vector<std::string> rules_;
};

bool rule_field(const field_policy& policy, const std::string& path) {
    return std::find(policy.rule_fields.begin(), policy.rule_fields.end(), path) !=
           policy.rule_fields.end();
}

// The identifier tokens of a statement, string literals skipped.
std::vector<std::string> tokens_outside_literals(std::string_view s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    auto word = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '.';
    };
    while (i < s.size()) {
        if (s[i] == '\'') {
            for (++i; i < s.size() && s[i] != '\''; ++i)
                if (s[i] == '\\') ++i;
            ++i;
        } else if (word(s[i])) {
            std::size_t j = i;
            while (j < s.size() && word(s[j])) ++j;
            out.emplace_back(s.substr(i, j - i));
            i = j;
        } else {
            ++i;
        }
    }
    return out;
}

void check_forwarded_statement(const field_policy& policy, const std::string& soql) {
    guarded_query again = guard_soql_statement(policy, soql, "q");
    if (!again.forwarded() || again.query != soql) std::abort();
    auto refs = soql_references(soql);
    if (!refs) std::abort();
    for (const auto& r : *refs) {
        bool ok = r.top_selection ? (rule_field(policy, r.path) || policy.allowed->keeps(r.path) ||
                                     policy.allowed->descends(r.path))
                                  : policy.allowed->keeps(r.path);
        if (!ok) std::abort();
    }
    for (const auto& t : tokens_outside_literals(soql))
        for (const auto& f : forbidden_tokens)
            if (iequals_ascii(t, f)) std::abort();
}

std::string xml_unescaped(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s.substr(i, 5) == "&amp;") {
            out += '&';
            i += 4;
        } else if (s.substr(i, 4) == "&lt;") {
            out += '<';
            i += 3;
        } else if (s.substr(i, 4) == "&gt;") {
            out += '>';
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

void run(const field_policy& policy, std::string_view input) {
    guarded_query statement = guard_soql_statement(policy, input, "q");
    if (statement.forwarded()) check_forwarded_statement(policy, statement.query);

    guarded_query rest = guard_soql_rest(policy, input);
    if (rest.forwarded() && !rest.query.empty()) {
        guarded_query again = guard_soql_rest(policy, rest.query);
        if (!again.forwarded() || again.query != rest.query) std::abort();
    }

    guarded_query soap = guard_soql_soap(policy, input);
    if (soap.forwarded()) {
        guarded_query again = guard_soql_soap(policy, soap.body);
        if (!again.forwarded() || again.body != soap.body) std::abort();
        constexpr std::string_view open = "<urn:queryString>";
        auto from = soap.body.find(open);
        if (from != std::string::npos) {
            from += open.size();
            auto to = soap.body.find("</urn:queryString>", from);
            if (to == std::string::npos) std::abort();
            check_forwarded_statement(policy, xml_unescaped(soap.body.substr(from, to - from)));
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const fuzz_policy with_rules({"objection.direct_marketing", "email"});
    static const fuzz_policy without_rules({});
    std::string_view input(reinterpret_cast<const char*>(data), size);
    run(with_rules.policy, input);
    run(without_rules.policy, input);
    return 0;
}
