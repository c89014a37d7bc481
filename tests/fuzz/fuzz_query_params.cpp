// libFuzzer target for the guard of `none` and `params` routes. The input is the query string,
// guarded both without and with filter parameters. Properties: no crash; a refused query forwards
// nothing; a forwarded query splits cleanly into the route's declared parameters, each once, its
// selection names no field the purpose strips (iban, birth_date) and ends with every rule field,
// a filter parameter is one whose field the purpose keeps, and guarding the forwarded query again
// forwards it unchanged (a fixed point).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "config/query/guard_support.hpp"
#include "config/query/params.hpp"
#include "filters/field_set.hpp"

namespace {

using exportwall::config::query::field_policy;
using exportwall::config::query::filter_param;
using exportwall::config::query::guard_params;
using exportwall::config::query::query_param;
using exportwall::config::query::split_query;
using exportwall::filters::field_set;

const field_set allowed({"id", "first_name", "email", "lifecycle", "address.city"});
const field_set catalogue({"id", "first_name", "email", "lifecycle", "address.city", "iban",
                           "birth_date", "consent.email"});
const std::vector<std::string> rule_fields{"consent.email", "lifecycle"};
const std::vector<std::string> paging_params{"limit", "after"};
const std::vector<filter_param> filter_params{{"status", "lifecycle"}, {"bank", "iban"}};
constexpr std::string_view select_param = "fields";

field_policy fuzz_policy() {
    field_policy p;
    p.allowed = &allowed;
    p.catalogue = &catalogue;
    p.rule_fields = rule_fields;
    p.select_param = select_param;
    p.select_separator = ',';
    p.paging_params = paging_params;
    p.filter_params = filter_params;
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

bool contains(const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

void check_forwarded(const std::string& query, bool filters_allowed) {
    std::vector<query_param> params;
    std::string detail;
    require(split_query(query, params, detail));
    std::vector<std::string> names;
    bool selection = false;
    for (const auto& p : params) {
        require(p.has_value);
        require(!contains(names, p.name));
        names.push_back(p.name);
        if (p.name == select_param) {
            selection = true;
            const auto list = items(p.value);
            for (const auto& f : list) {
                require(f != "iban" && f != "birth_date");
                require(allowed.keeps(f) || allowed.descends(f) || contains(rule_fields, f));
            }
            for (const auto& f : rule_fields) require(contains(list, f));
        } else if (contains(paging_params, p.name)) {
            continue;
        } else {
            require(filters_allowed);
            auto f = std::find_if(filter_params.begin(), filter_params.end(),
                                  [&](const filter_param& fp) { return fp.name == p.name; });
            require(f != filter_params.end());
            require(allowed.keeps(f->field));
        }
    }
    require(selection);  // always written: the rule fields must reach the CRM
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    const field_policy policy = fuzz_policy();
    for (bool filters_allowed : {false, true}) {
        auto q = guard_params(policy, raw, filters_allowed);
        if (!q.forwarded()) {
            require(q.query.empty());
            continue;
        }
        check_forwarded(q.query, filters_allowed);
        auto again = guard_params(policy, q.query, filters_allowed);
        require(again.forwarded());
        require(again.query == q.query);
        require(again.sent == q.sent);
    }
    return 0;
}
