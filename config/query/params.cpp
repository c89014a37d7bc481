#include "config/query/params.hpp"

#include <algorithm>
#include <cstddef>

#include "config/query/guard_support.hpp"

namespace exportwall::config::query {
namespace {

constexpr std::size_t max_value_bytes = 8 * 1024;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool plain_name(std::string_view name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("$_.-[]").find(c) != std::string_view::npos;
    });
}

}  // namespace

guarded_query guard_params(const field_policy& policy, std::string_view raw_query,
                           bool filters_allowed) {
    guarded_query q;
    std::vector<query_param> params;
    std::string detail;
    if (!split_query(raw_query, params, detail)) {
        fail_invalid(q, std::move(detail));
        return q;
    }
    struct kept_param {
        std::string name;
        std::string value;
        bool selection = false;
    };
    std::vector<kept_param> out;
    std::vector<std::string> seen;
    out.reserve(params.size());
    seen.reserve(params.size());
    bool present = false;
    std::vector<std::string> selected;
    for (auto& p : params) {
        const bool selection = !policy.select_param.empty() &&
                               iequals_ascii(p.name, policy.select_param);
        std::string canonical = selection ? std::string(policy.select_param) : p.name;
        if (std::find(seen.begin(), seen.end(), canonical) != seen.end()) {
            fail_invalid(q, "query parameter '" +
                                (plain_name(canonical) ? canonical : std::string("(parameter)")) +
                                "' appears more than once");
            return q;
        }
        seen.push_back(canonical);
        if (p.value.size() > max_value_bytes) {
            fail_unsupported(q, plain_name(canonical) ? canonical : "(parameter)", max_value_bytes,
                             "a query parameter is too long");
            return q;
        }
        if (selection) {
            present = true;
            std::string_view rest = p.value;
            while (true) {
                auto sep = rest.find(policy.select_separator);
                auto item = trim(rest.substr(0, sep));
                if (!item.empty()) {
                    selected.emplace_back(item);
                    if (policy.header_space != 0)
                        std::replace(selected.back().begin(), selected.back().end(), ' ',
                                     policy.header_space);
                }
                if (sep == std::string_view::npos) break;
                rest.remove_prefix(sep + 1);
            }
            out.push_back({canonical, {}, true});
            continue;
        }
        if (std::find(policy.paging_params.begin(), policy.paging_params.end(), p.name) !=
            policy.paging_params.end()) {
            out.push_back({canonical, std::move(p.value), false});
            continue;
        }
        const filter_param* filter = nullptr;
        if (filters_allowed)
            for (const auto& f : policy.filter_params)
                if (f.name == p.name) filter = &f;
        if (filter != nullptr) {
            if (!check_read(q, policy, filter->field, use::filter)) return q;
            out.push_back({canonical, std::move(p.value), false});
            continue;
        }
        std::string shown = plain_name(p.name) ? p.name : std::string("(parameter)");
        fail_unsupported(q, shown, 0,
                         "query parameter '" + shown +
                             "' is not one this route accepts (its selection, paging and filter "
                             "parameters are declared in the configuration)");
        return q;
    }
    resolve_selection(q, policy, present, selected);
    std::string list;
    std::size_t list_bytes = 0;
    for (const auto& f : q.sent) list_bytes += f.size() + 1;
    list.reserve(list_bytes);
    for (const auto& f : q.sent) {
        if (!list.empty()) list.push_back(policy.select_separator);
        const std::size_t at = list.size();
        list += f;
        if (policy.header_space != 0)
            std::replace(list.begin() + static_cast<std::ptrdiff_t>(at), list.end(),
                         policy.header_space, ' ');
    }
    bool written = false;
    for (const auto& p : out) {
        if (p.selection) {
            if (!list.empty()) append_param(q.query, p.name, list, std::string(1, policy.select_separator));
            written = true;
        } else {
            append_param(q.query, p.name, p.value, "");
        }
    }
    if (!written && !policy.select_param.empty() && !list.empty())
        append_param(q.query, policy.select_param, list, std::string(1, policy.select_separator));
    return q;
}

}  // namespace exportwall::config::query
