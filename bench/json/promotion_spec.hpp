#pragma once
// The bench policy's purpose as a filter spec (bench/proxy/filtered-policy.xml, promotion-email):
// 3 of the generator's 15 fields, records with e-mail consent, the next link rewritten (here to
// itself). Shared by json_bench and request_bench.

#include <optional>
#include <string>
#include <string_view>

#include "filters/record_filter.hpp"

namespace exportwall::bench {

inline filters::filter_spec promotion_spec(filters::body_format format) {
    filters::filter_spec spec;
    spec.format = format;
    spec.records = "/value";
    spec.allowed = filters::field_set({"id", "first_name", "email"});
    spec.rules.conditions.push_back({"consent.email",
                                     filters::condition_op::is_true,
                                     {},
                                     false,
                                     filters::drop_reason::no_consent});
    spec.link_fields = {"/@odata.nextLink"};
    spec.rewrite_link = [](std::string_view url) -> std::optional<std::string> {
        return std::string(url);
    };
    return spec;
}

}  // namespace exportwall::bench
