// libFuzzer target for the JSON:API guard. The input is the query string. Properties: no crash;
// a forwarded query splits cleanly, every field a filter or sort reads is kept by the purpose,
// every field of the fieldset is kept, descended into or a rule field (so no forbidden field is
// named), and guarding the forwarded query again forwards it unchanged (a fixed point).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "config/query/guard_support.hpp"
#include "config/query/jsonapi.hpp"
#include "filters/field_set.hpp"

namespace {

using exportwall::config::query::field_policy;
using exportwall::config::query::guard_jsonapi;
using exportwall::config::query::query_param;
using exportwall::config::query::split_query;
using exportwall::filters::field_set;

const field_set allowed({"id", "first_name", "last_name", "email", "lifecycle", "address.city"});
const field_set catalogue({"id", "first_name", "last_name", "email", "lifecycle", "address.city",
                           "iban", "birth_date", "consent.email", "objection.direct_marketing"});
const std::vector<std::string> rule_fields{"consent.email", "objection.direct_marketing"};

field_policy fuzz_policy() {
    field_policy p;
    p.allowed = &allowed;
    p.catalogue = &catalogue;
    p.rule_fields = rule_fields;
    p.object_name = "contacts";
    return p;
}

void require(bool ok) {
    if (!ok) std::abort();
}

std::vector<std::string> items(const std::string& list) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    for (;;) {
        auto comma = list.find(',', pos);
        out.push_back(list.substr(pos, comma - pos));
        if (comma == std::string::npos) return out;
        pos = comma + 1;
    }
}

void check_forwarded(const std::string& query) {
    std::vector<query_param> params;
    std::string detail;
    require(split_query(query, params, detail));
    for (const auto& p : params) {
        if (p.name == "fields[contacts]") {
            for (const auto& f : items(p.value))
                require(allowed.keeps(f) || allowed.descends(f) ||
                        std::find(rule_fields.begin(), rule_fields.end(), f) != rule_fields.end());
        } else if (p.name == "sort") {
            for (auto f : items(p.value)) {
                if (!f.empty() && f.front() == '-') f.erase(0, 1);
                require(allowed.keeps(f));
            }
        } else if (p.name == "filter[operator]") {
            require(p.value == "and" || p.value == "or");
        } else if (p.name.rfind("filter[", 0) == 0) {
            require(allowed.keeps(p.name.substr(7, p.name.find(']') - 7)));
        } else {
            require(p.name.rfind("page[", 0) == 0);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    const field_policy policy = fuzz_policy();
    auto q = guard_jsonapi(policy, raw);
    if (!q.forwarded()) {
        require(q.query.empty());
        return 0;
    }
    check_forwarded(q.query);
    auto again = guard_jsonapi(policy, q.query);
    require(again.forwarded());
    require(again.query == q.query);
    require(again.sent == q.sent);
    return 0;
}
