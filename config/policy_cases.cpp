#include "config/policy_cases.hpp"

#include <algorithm>
#include <initializer_list>
#include <sstream>
#include <string_view>

#include "common/hex.hpp"
#include "config/explain.hpp"

namespace exportwall::config {
namespace {

std::vector<std::string> words(std::string_view s) {
    std::vector<std::string> out;
    std::istringstream in{std::string(s)};
    for (std::string w; in >> w;) out.push_back(w);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += ' ';
        out += s;
    }
    return out;
}

// The checks of check_cases, collecting "file:line: message" lines.
class case_checker {
  public:
    case_checker(const std::string& file, const std::string& text) : file_(file), text_(text) {}

    void attributes(const pugi::xml_node& n, std::initializer_list<std::string_view> known) {
        for (auto a : n.attributes()) {
            if (std::find(known.begin(), known.end(), std::string_view(a.name())) == known.end())
                complain(n,
                         std::string("unknown attribute '") + a.name() + "' on <" + n.name() + ">");
        }
    }

    void elements(const pugi::xml_node& n, std::initializer_list<std::string_view> known) {
        for (auto c : n.children()) {
            if (c.type() != pugi::node_element) continue;
            if (std::find(known.begin(), known.end(), std::string_view(c.name())) == known.end())
                complain(c,
                         std::string("unknown element <") + c.name() + "> in <" + n.name() + ">");
        }
    }

    void complain(const pugi::xml_node& n, const std::string& what) {
        problems_.push_back(file_ + ":" + std::to_string(line_of(n)) + ": " + what);
    }

    [[nodiscard]] std::vector<std::string> problems() && { return std::move(problems_); }

  private:
    [[nodiscard]] long line_of(const pugi::xml_node& n) const {
        const auto offset = static_cast<std::size_t>(std::max<std::ptrdiff_t>(n.offset_debug(), 0));
        return static_cast<long>(1 + std::count(text_.begin(),
                                                text_.begin() + static_cast<std::ptrdiff_t>(
                                                                    std::min(offset, text_.size())),
                                                '\n'));
    }

    const std::string& file_;
    const std::string& text_;
    std::vector<std::string> problems_;
};

// What the decision does not meet of the case's <expect>.
std::vector<std::string> unmet(const decision& d, const pugi::xml_node& ex) {
    std::vector<std::string> problems;
    if (!ex) problems.emplace_back("no <expect>");
    if (auto a = ex.attribute("outcome"); a && to_string(d.result) != a.value())
        problems.push_back("outcome " + std::string(to_string(d.result)) + ", expected " +
                           a.value());
    if (auto a = ex.attribute("reason"); a && to_string(d.why) != a.value())
        problems.push_back("reason " + std::string(to_string(d.why)) + ", expected " + a.value());
    if (auto a = ex.attribute("status"); a && d.status != a.as_uint())
        problems.push_back("status " + std::to_string(d.status) + ", expected " + a.value());
    if (auto a = ex.attribute("mode"); a && to_string(d.effective_mode) != a.value())
        problems.push_back("mode " + std::string(to_string(d.effective_mode)) + ", expected " +
                           a.value());
    if (auto a = ex.attribute("kept"); a && sorted(d.fields_kept) != words(a.value()))
        problems.push_back("kept fields [" + join(sorted(d.fields_kept)) + "], expected [" +
                           a.value() + "]");
    if (auto a = ex.attribute("stripped"); a && sorted(d.fields_stripped) != words(a.value()))
        problems.push_back("stripped fields [" + join(sorted(d.fields_stripped)) + "], expected [" +
                           a.value() + "]");
    if (auto a = ex.attribute("max-records"); a && d.max_records != a.as_ullong())
        problems.push_back("max-records " + std::to_string(d.max_records) + ", expected " +
                           a.value());
    if (auto a = ex.attribute("upstream-query"); a && d.upstream_query != a.value())
        problems.push_back("upstream query '" + d.upstream_query + "', expected '" + a.value() +
                           "'");
    return problems;
}

}  // namespace

std::vector<std::string> check_cases(const pugi::xml_node& root, const std::string& file,
                                     const std::string& text) {
    case_checker check(file, text);
    check.attributes(root, {});
    check.elements(root, {"case"});
    for (auto cs : root.children("case")) {
        check.attributes(cs,
                         {"name", "target", "method", "api-key", "client", "certificate-subject",
                          "certificate-sha256", "purpose", "destination"});
        check.elements(cs, {"body", "header", "expect"});
        for (auto h : cs.children("header")) check.attributes(h, {"name", "value"});
        for (auto ex : cs.children("expect")) {
            check.attributes(ex, {"outcome", "reason", "status", "mode", "kept", "stripped",
                                  "max-records", "upstream-query"});
            if (auto a = ex.attribute("outcome"); a && std::string_view(a.value()) != "allow" &&
                                                  std::string_view(a.value()) != "refuse")
                check.complain(ex,
                               std::string("outcome '") + a.value() + "' is not allow or refuse");
            if (auto a = ex.attribute("reason"); a && !parse_reason(a.value()))
                check.complain(ex, std::string("reason '") + a.value() + "' is not a reason code");
        }
    }
    return std::move(check).problems();
}

case_result run_case(const configuration& config, const pugi::xml_node& cs) {
    case_result out;
    out.name = cs.attribute("name").as_string("(unnamed)");
    request_facts facts;
    const std::string target = cs.attribute("target").as_string();
    const auto qm = target.find('?');
    const std::string path = target.substr(0, qm);
    const std::string query = qm == std::string::npos ? std::string() : target.substr(qm + 1);
    facts.path = path;
    facts.query = query;
    const std::string method = cs.attribute("method").as_string("GET");
    facts.method = method;
    // <body>…</body>: the request body of a query language that reads it (SOAP, search).
    const std::string body = cs.child("body").text().as_string();
    facts.body = body;
    facts.body_present = static_cast<bool>(cs.child("body"));
    std::string key_hash;
    if (auto a = cs.attribute("api-key")) {
        key_hash = common::sha256_hex(a.value());
        facts.credentials.api_key_sha256 = key_hash;
    } else if (auto ca = cs.attribute("client")) {
        const client* c = config.rules.find_client(ca.value());
        if (c == nullptr)
            out.problems.push_back(std::string("unknown client '") + ca.value() + "' in the case");
        else
            credentials_of(*c, facts.credentials);
    }
    if (auto a = cs.attribute("certificate-subject"))
        facts.credentials.certificate_subject = a.value();
    if (auto a = cs.attribute("certificate-sha256"))
        facts.credentials.certificate_sha256 = a.value();
    std::vector<std::string_view> purposes, destinations;
    if (auto a = cs.attribute("purpose")) purposes.emplace_back(a.value());
    if (auto a = cs.attribute("destination")) destinations.emplace_back(a.value());
    // <header name="X-Export-Purpose" value="…"/> adds a header line as received.
    for (auto h : cs.children("header")) {
        const std::string_view n = h.attribute("name").value();
        if (n == "X-Export-Purpose") purposes.emplace_back(h.attribute("value").value());
        if (n == "X-Export-Destination") destinations.emplace_back(h.attribute("value").value());
    }
    facts.purpose_headers = purposes;
    facts.destination_headers = destinations;

    out.verdict = decide(config, facts);
    auto more = unmet(out.verdict, cs.child("expect"));
    out.problems.insert(out.problems.end(), more.begin(), more.end());
    return out;
}

}  // namespace exportwall::config
