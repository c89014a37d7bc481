// libFuzzer target for the HubSpot search guard. The input is the search body; the query string
// is empty. Properties: no crash; a forwarded body is JSON in the canonical shape, every property
// a filter or sort reads is kept by the purpose, every selected property is kept, descended into
// or a rule field (so no forbidden field is named), and guarding the forwarded body again forwards
// it unchanged (a fixed point). The paging cursor `after` opens only when sealed (here:
// "sealed:<cursor>"), the forwarded cursor is the CRM's digits, and the forwarded body is the
// token's binding with `after` appended.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "config/query/hubspot_search.hpp"
#include "filters/field_set.hpp"

namespace {

namespace json = boost::json;
using exportwall::config::query::field_policy;
using exportwall::config::query::guard_hubspot_search;
using exportwall::config::query::token_opener;

// "sealed:<x>" opens to x; `trusting` opens anything to itself (the forwarded body carries the
// CRM's cursor, which guarding it again must take back).
class fuzz_opener final : public token_opener {
  public:
    explicit fuzz_opener(bool trusting) : trusting_(trusting) {}
    std::optional<std::string> open(std::string_view token, std::string_view,
                                    std::string& why) override {
        if (token.starts_with("sealed:")) return std::string(token.substr(7));
        if (trusting_) return std::string(token);
        why = "not sealed";
        return std::nullopt;
    }

  private:
    bool trusting_;
};
using exportwall::filters::field_set;

const field_set allowed({"id", "email", "firstname", "lastname", "createdate", "address.city"});
const field_set catalogue({"id", "email", "firstname", "lastname", "createdate", "address.city",
                           "iban", "birth_date", "consent.email", "objection.direct_marketing"});
const std::vector<std::string> rule_fields{"consent.email", "objection.direct_marketing"};
const std::vector<std::string> search_fields{"email", "firstname"};

field_policy fuzz_policy() {
    field_policy p;
    p.allowed = &allowed;
    p.catalogue = &catalogue;
    p.rule_fields = rule_fields;
    p.search_fields = search_fields;
    p.object_name = "contacts";
    return p;
}

void require(bool ok) {
    if (!ok) std::abort();
}

void require_read(const json::value* name) {
    require(name != nullptr && name->is_string());
    require(allowed.keeps(std::string_view(name->get_string().data(), name->get_string().size())));
}

void check_forwarded(const std::string& body) {
    json::error_code ec;
    json::value v = json::parse(body, ec);
    require(!ec);
    const auto* o = v.if_object();
    require(o != nullptr);
    if (const auto* groups = o->if_contains("filterGroups")) {
        require(groups->is_array());
        for (const auto& g : groups->get_array()) {
            require(g.is_object());
            const auto* filters = g.get_object().if_contains("filters");
            require(filters != nullptr && filters->is_array());
            for (const auto& f : filters->get_array()) {
                require(f.is_object());
                require_read(f.get_object().if_contains("propertyName"));
            }
        }
    }
    if (const auto* sorts = o->if_contains("sorts")) {
        require(sorts->is_array());
        for (const auto& s : sorts->get_array()) {
            if (s.is_string()) {
                std::string_view n(s.get_string().data(), s.get_string().size());
                if (!n.empty() && n.front() == '-') n.remove_prefix(1);
                require(allowed.keeps(n));
            } else {
                require(s.is_object());
                require_read(s.get_object().if_contains("propertyName"));
            }
        }
    }
    const auto* properties = o->if_contains("properties");
    require(properties != nullptr && properties->is_array());
    for (const auto& p : properties->get_array()) {
        require(p.is_string());
        std::string n(p.get_string().data(), p.get_string().size());
        require(allowed.keeps(n) || allowed.descends(n) ||
                std::find(rule_fields.begin(), rule_fields.end(), n) != rule_fields.end());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    fuzz_opener sealed_only(false);
    field_policy policy = fuzz_policy();
    policy.tokens = &sealed_only;
    auto q = guard_hubspot_search(policy, "", body);
    if (!q.forwarded()) {
        require(q.body.empty() && q.query.empty());
        return 0;
    }
    require(q.query.empty());
    check_forwarded(q.body);
    // The body is its binding, with the CRM's cursor (digits) as the last member when there is one.
    require(q.body.starts_with(q.continuation_binding.substr(0, q.continuation_binding.size() - 1)));
    if (q.body != q.continuation_binding) {
        const std::string_view tail = std::string_view(q.body).substr(q.continuation_binding.size() - 1);
        require(tail.starts_with(",\"after\":\"") && tail.ends_with("\"}"));
        const std::string_view cursor = tail.substr(10, tail.size() - 12);
        require(!cursor.empty() && std::all_of(cursor.begin(), cursor.end(), [](char c) {
            return c >= '0' && c <= '9';
        }));
    }
    fuzz_opener trusting(true);
    policy.tokens = &trusting;
    auto again = guard_hubspot_search(policy, "", q.body);
    require(again.forwarded());
    require(again.body == q.body);
    require(again.sent == q.sent);
    return 0;
}
