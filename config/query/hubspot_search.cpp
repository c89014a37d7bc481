#include "config/query/hubspot_search.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/error.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "config/query/guard_support.hpp"
#include "config/query/json_body.hpp"

namespace exportwall::config::query {
namespace {

namespace json = boost::json;

constexpr std::size_t max_body_bytes = std::size_t{256} * 1024;
constexpr std::size_t max_nesting = 16;
constexpr std::size_t max_filter_groups = 5;
constexpr std::size_t max_filters_per_group = 6;
constexpr std::int64_t max_limit = 200;
constexpr std::size_t max_cursor_digits = 64;

constexpr std::string_view body_parameter = "body";

// The operators of HubSpot's search filters, by the value members each one needs.
enum class operand : std::uint8_t { one, range, list, none };
struct search_operator {
    std::string_view name;
    operand needs;
};
constexpr std::array<search_operator, 13> operators{{
    {"EQ", operand::one},
    {"NEQ", operand::one},
    {"LT", operand::one},
    {"LTE", operand::one},
    {"GT", operand::one},
    {"GTE", operand::one},
    {"BETWEEN", operand::range},
    {"IN", operand::list},
    {"NOT_IN", operand::list},
    {"HAS_PROPERTY", operand::none},
    {"NOT_HAS_PROPERTY", operand::none},
    {"CONTAINS_TOKEN", operand::one},
    {"NOT_CONTAINS_TOKEN", operand::one},
}};

bool scalar_value(const json::value& v) {
    if (v.is_string() || v.is_bool() || v.is_int64() || v.is_uint64()) return true;
    // Boost.JSON reads 1e999 as infinity and would write it back as `Infinity`, which is no JSON.
    return v.is_double() && std::isfinite(v.get_double());
}

bool all_digits(std::string_view s) {
    return !s.empty() && s.size() <= max_cursor_digits &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The semantic pass over the parsed body: checks it against the search API's grammar and the
// purpose, and builds the body to forward.
class search_guard {
  public:
    // The body forwarded is built in `storage`, the parsed body's.
    search_guard(const field_policy& policy, guarded_query& q, json::storage_ptr storage)
        : policy_(policy), q_(q), storage_(std::move(storage)) {}

    bool run(const json::object& body) {
        for (const auto& member : body) {
            std::string_view name(member.key().data(), member.key().size());
            if (name != "filterGroups" && name != "sorts" && name != "query" &&
                name != "properties" && name != "limit" && name != "after")
                return unknown_member("", name);
        }
        if (const auto* v = body.if_contains("filterGroups"); v != nullptr)
            if (!filter_groups(*v)) return false;
        if (const auto* v = body.if_contains("sorts"); v != nullptr)
            if (!sorts(*v)) return false;
        if (const auto* v = body.if_contains("query"); v != nullptr)
            if (!full_text(*v)) return false;
        if (const auto* v = body.if_contains("properties"); v != nullptr)
            if (!properties(*v)) return false;
        if (const auto* v = body.if_contains("limit"); v != nullptr)
            if (!limit(*v)) return false;
        if (const auto* v = body.if_contains("after"); v != nullptr)
            if (!after(*v)) return false;
        if (!properties_present_) resolve_selection(q_, policy_, false, {});

        json::object out(storage_);
        if (groups_) out["filterGroups"] = std::move(*groups_);
        if (sorts_) out["sorts"] = std::move(*sorts_);
        if (query_) out["query"] = std::move(*query_);
        json::array sent(storage_);
        for (const auto& f : q_.sent) sent.emplace_back(json::string_view(f.data(), f.size()));
        out["properties"] = std::move(sent);
        if (limit_) out["limit"] = std::move(*limit_);
        // A token exportwall seals into the answer's paging.next.after is bound to this body
        // without its own `after`: the next page's request differs from it in `after` only.
        q_.continuation_binding = json::serialize(out);
        if (after_) return continue_after();
        q_.body = q_.continuation_binding;
        return true;
    }

  private:
    bool refuse(const std::string& at, const std::string& why) {
        return fail_unsupported(q_, body_parameter, 0, (at.empty() ? "/" : at) + ": " + why);
    }
    bool unknown_member(const std::string& at, std::string_view name) {
        return refuse(at + "/" + pointer_token(name),
                      "a member the HubSpot search grammar does not know");
    }

    bool filter_groups(const json::value& v) {
        const std::string at = "/filterGroups";
        const auto* groups = v.if_array();
        if (groups == nullptr) return refuse(at, "must be an array of filter groups");
        if (groups->size() > max_filter_groups)
            return refuse(at, "more than " + std::to_string(max_filter_groups) + " filter groups");
        json::array out(storage_);
        for (std::size_t g = 0; g < groups->size(); ++g) {
            const std::string group_at = at + "/" + std::to_string(g);
            const auto* group = (*groups)[g].if_object();
            if (group == nullptr) return refuse(group_at, "a filter group must be an object");
            for (const auto& member : *group)
                if (member.key() != "filters") return unknown_member(group_at, member.key());
            const auto* filters_value = group->if_contains("filters");
            if (filters_value == nullptr) return refuse(group_at, "a filter group needs filters");
            const auto* filters = filters_value->if_array();
            if (filters == nullptr) return refuse(group_at + "/filters", "must be an array");
            if (filters->size() > max_filters_per_group)
                return refuse(group_at + "/filters",
                              "more than " + std::to_string(max_filters_per_group) + " filters");
            json::array filters_out(storage_);
            for (std::size_t i = 0; i < filters->size(); ++i) {
                json::object filter_out(storage_);
                if (!filter((*filters)[i], g, i, filter_out)) return false;
                filters_out.emplace_back(std::move(filter_out));
            }
            json::object group_out(storage_);
            group_out["filters"] = std::move(filters_out);
            out.emplace_back(std::move(group_out));
        }
        groups_ = std::move(out);
        return true;
    }

    // Filter `index` of group `group`; its JSON pointer is spelled only for a refusal.
    bool filter(const json::value& v, std::size_t group, std::size_t index, json::object& out) {
        auto at = [group, index] {
            return "/filterGroups/" + std::to_string(group) + "/filters/" + std::to_string(index);
        };
        const auto* f = v.if_object();
        if (f == nullptr) return refuse(at(), "a filter must be an object");
        // One pass over the members finds each (a key is never repeated: the parser refuses
        // that) rather than a look-up per member name.
        const json::value* property = nullptr;
        const json::value* op_value = nullptr;
        const json::value* value = nullptr;
        const json::value* high = nullptr;
        const json::value* values = nullptr;
        for (const auto& member : *f) {
            std::string_view name(member.key().data(), member.key().size());
            if (name == "propertyName")
                property = &member.value();
            else if (name == "operator")
                op_value = &member.value();
            else if (name == "value")
                value = &member.value();
            else if (name == "highValue")
                high = &member.value();
            else if (name == "values")
                values = &member.value();
            else
                return unknown_member(at(), name);
        }
        if (property == nullptr || !property->is_string())
            return refuse(at() + "/propertyName", "a filter needs a propertyName string");
        if (op_value == nullptr || !op_value->is_string())
            return refuse(at() + "/operator", "a filter needs an operator string");
        const json::string& op_name = op_value->get_string();
        const search_operator* op = nullptr;
        for (const auto& candidate : operators)
            if (op_name == candidate.name) op = &candidate;
        if (op == nullptr)
            return refuse(at() + "/operator", "an operator outside the search API's");

        const bool wants_value = op->needs == operand::one || op->needs == operand::range;
        const bool wants_high = op->needs == operand::range;
        const bool wants_values = op->needs == operand::list;
        if ((value != nullptr) != wants_value)
            return refuse(at() + "/value", wants_value ? "the operator needs a value"
                                                       : "the operator takes no value");
        if ((high != nullptr) != wants_high)
            return refuse(at() + "/highValue", wants_high ? "BETWEEN needs a highValue"
                                                          : "only BETWEEN takes a highValue");
        if ((values != nullptr) != wants_values)
            return refuse(at() + "/values", wants_values ? "the operator needs values"
                                                         : "the operator takes no values");
        if (value != nullptr && !scalar_value(*value))
            return refuse(at() + "/value", "a value must be a string, a number or a boolean");
        if (high != nullptr && !scalar_value(*high))
            return refuse(at() + "/highValue", "a value must be a string, a number or a boolean");
        if (values != nullptr) {
            const auto* list = values->if_array();
            if (list == nullptr) return refuse(at() + "/values", "must be an array");
            for (std::size_t i = 0; i < list->size(); ++i)
                if (!scalar_value((*list)[i]))
                    return refuse(at() + "/values/" + std::to_string(i),
                                  "a value must be a string, a number or a boolean");
        }

        const json::string& path = property->get_string();
        if (!check_read(q_, policy_, std::string_view(path.data(), path.size()), use::filter))
            return false;
        out.reserve(5);  // every member at once, without regrowth
        out["propertyName"] = path;
        out["operator"] = op_name;
        if (value != nullptr) out["value"] = *value;
        if (high != nullptr) out["highValue"] = *high;
        if (values != nullptr) out["values"] = *values;
        return true;
    }

    bool sorts(const json::value& v) {
        const std::string at = "/sorts";
        const auto* list = v.if_array();
        if (list == nullptr) return refuse(at, "must be an array of sorts");
        json::array out(storage_);
        for (std::size_t i = 0; i < list->size(); ++i) {
            const std::string sort_at = at + "/" + std::to_string(i);
            const json::value& s = (*list)[i];
            if (const auto* text = s.if_string(); text != nullptr) {
                // "createdate" ascending, "-createdate" descending.
                std::string_view path(text->data(), text->size());
                if (!path.empty() && path.front() == '-') path.remove_prefix(1);
                if (path.empty()) return refuse(sort_at, "a sort names no property");
                if (!check_read(q_, policy_, path, use::order)) return false;
                out.emplace_back(*text);
                continue;
            }
            const auto* sort = s.if_object();
            if (sort == nullptr) return refuse(sort_at, "a sort must be a string or an object");
            for (const auto& member : *sort)
                if (member.key() != "propertyName" && member.key() != "direction")
                    return unknown_member(sort_at, member.key());
            const auto* property = sort->if_contains("propertyName");
            if (property == nullptr || !property->is_string())
                return refuse(sort_at + "/propertyName", "a sort needs a propertyName string");
            const auto* direction = sort->if_contains("direction");
            if (direction != nullptr &&
                !(direction->is_string() && (direction->get_string() == "ASCENDING" ||
                                             direction->get_string() == "DESCENDING")))
                return refuse(sort_at + "/direction", "must be ASCENDING or DESCENDING");
            const json::string& path = property->get_string();
            if (!check_read(q_, policy_, std::string_view(path.data(), path.size()), use::order))
                return false;
            json::object sort_out(storage_);
            sort_out["propertyName"] = path;
            if (direction != nullptr) sort_out["direction"] = *direction;
            out.emplace_back(std::move(sort_out));
        }
        sorts_ = std::move(out);
        return true;
    }

    bool full_text(const json::value& v) {
        if (!v.is_string()) return refuse("/query", "must be a string");
        // HubSpot searches the record's default searchable properties: the route must name them
        // (search-fields) and the purpose must keep every one.
        if (policy_.search_fields.empty())
            return refuse("/query",
                          "full-text search is refused: the route declares no search-fields");
        for (const auto& field : policy_.search_fields)
            if (!check_read(q_, policy_, field, use::search)) return false;
        query_ = v;
        return true;
    }

    bool properties(const json::value& v) {
        const auto* list = v.if_array();
        if (list == nullptr) return refuse("/properties", "must be an array of property names");
        std::vector<std::string> selected;
        selected.reserve(list->size());
        for (std::size_t i = 0; i < list->size(); ++i) {
            const auto* name = (*list)[i].if_string();
            if (name == nullptr)
                return refuse("/properties/" + std::to_string(i), "must be a property name");
            selected.emplace_back(name->data(), name->size());
        }
        properties_present_ = true;
        resolve_selection(q_, policy_, true, selected);
        return true;
    }

    bool limit(const json::value& v) {
        bool ok = (v.is_int64() && v.get_int64() >= 0 && v.get_int64() <= max_limit) ||
                  (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(max_limit));
        if (!ok)
            return refuse("/limit", "must be an integer from 0 to " + std::to_string(max_limit));
        limit_ = v;
        return true;
    }

    // `after` is the CRM's cursor only as exportwall sealed it into an earlier answer
    // (paging.next.after): the client never sees nor writes the CRM's own.
    bool after(const json::value& v) {
        if (!v.is_string()) return bad_token("the paging cursor must be the token exportwall gave");
        after_ = std::string(v.get_string().data(), v.get_string().size());
        return true;
    }

    bool continue_after() {
        if (policy_.tokens == nullptr) return bad_token("paging tokens cannot be opened here");
        std::string why;
        auto crm = policy_.tokens->open(*after_, q_.continuation_binding, why);
        if (!crm) return bad_token(why);
        if (!all_digits(*crm)) return bad_token("the CRM's paging cursor is not digits");
        // The forwarded body is the binding with the CRM's cursor added as the last member.
        q_.body = q_.continuation_binding;
        q_.body.pop_back();
        q_.body += ",\"after\":";
        q_.body += json::serialize(json::value(json::string_view(*crm)));
        q_.body.push_back('}');
        return true;
    }

    bool bad_token(const std::string& why) {
        q_.result = verdict::continuation_invalid;
        q_.parameter = std::string(body_parameter);
        q_.position = 0;
        q_.detail = "/after: " + why;
        return false;
    }

    const field_policy& policy_;
    guarded_query& q_;
    json::storage_ptr storage_;
    bool properties_present_ = false;
    std::optional<json::array> groups_;
    std::optional<json::array> sorts_;
    std::optional<json::value> query_;
    std::optional<json::value> limit_;
    std::optional<std::string> after_;  // the client's (sealed) token
};

}  // namespace

guarded_query guard_hubspot_search(const field_policy& policy, std::string_view raw_query,
                                   std::string_view body) {
    guarded_query q;
    if (!raw_query.empty()) {
        (void)fail_unsupported(q, "(query)", 0,
                               "the HubSpot search takes its query in the body; the query string "
                               "must be empty");
        return q;
    }
    if (body.size() > max_body_bytes) {
        (void)fail_unsupported(
            q, body_parameter, 0,
            "the search body is larger than " + std::to_string(max_body_bytes / 1024) + " KiB");
        return q;
    }

    // The parsed body and the body built from it live for this call only: one arena, on the
    // stack for a typical search, instead of an allocation per object, array and string.
    std::array<unsigned char, 8192> arena;
    json::monotonic_resource resource(arena.data(), arena.size());
    std::optional<json::value> maybe =
        parse_json_body(q, body_parameter, body, max_nesting, &resource);
    if (!maybe) return q;
    json::value parsed = std::move(*maybe);
    const auto* object = parsed.if_object();
    if (object == nullptr) {
        (void)fail_unsupported(q, body_parameter, 0, "/: the search body must be a JSON object");
        return q;
    }
    search_guard guard(policy, q, &resource);
    if (!guard.run(*object)) {
        q.query.clear();
        q.body.clear();
    }
    return q;
}

}  // namespace exportwall::config::query
