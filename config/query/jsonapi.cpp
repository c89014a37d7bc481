#include "config/query/jsonapi.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "config/query/guard_support.hpp"

namespace exportwall::config::query {
namespace {

constexpr std::size_t max_shown_parameter = 64;
constexpr std::size_t max_page_digits = 10;
constexpr std::size_t max_cursor_bytes = 512;

constexpr std::array<std::string_view, 8> filter_operators{"eq", "neq", "gt",   "gte",
                                                           "lt", "lte", "like", "in"};
// page[…] members, in the order they are written back; the cursor last.
constexpr std::array<std::string_view, 5> page_members{"number", "size", "offset", "limit",
                                                       "cursor"};

bool alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// A field name as JSON:API members and catalogue paths are written: "last_name", "address.city".
bool field_name(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return alnum(c) || c == '_' || c == '.' || c == '-';
    });
}

// The name a refusal may show for a parameter the client wrote: only a short, plain one.
std::string shown_parameter(std::string_view name) {
    bool plain =
        !name.empty() && name.size() <= max_shown_parameter &&
        std::all_of(name.begin(), name.end(), [](char c) {
            return alnum(c) || c == '_' || c == '$' || c == '.' || c == '[' || c == ']' || c == '-';
        });
    return plain ? std::string(name) : std::string("(parameter)");
}

// `base[a][b]` split into its base and bracketed segments; nullopt when the brackets do not
// close, nest, or are followed by anything but another segment.
struct bracketed_name {
    std::string_view base;
    std::vector<std::string_view> segments;
};
std::optional<bracketed_name> split_brackets(std::string_view name) {
    bracketed_name out;
    auto open = name.find('[');
    out.base = name.substr(0, open);
    if (out.base.find(']') != std::string_view::npos) return std::nullopt;
    while (open != std::string_view::npos && open < name.size()) {
        if (name[open] != '[') return std::nullopt;
        auto close = name.find(']', open + 1);
        if (close == std::string_view::npos) return std::nullopt;
        std::string_view segment = name.substr(open + 1, close - open - 1);
        if (segment.find('[') != std::string_view::npos) return std::nullopt;
        out.segments.push_back(segment);
        open = close + 1;
    }
    return out;
}

struct field_filter {
    std::string field;
    std::string op;  // empty: `filter[field]=v`
    std::string value;
};

class jsonapi_guard {
  public:
    jsonapi_guard(const field_policy& policy, guarded_query& q) : policy_(policy), q_(q) {}

    bool run(std::string_view raw_query) {
        std::vector<query_param> params;
        std::string detail;
        if (!split_query(raw_query, params, detail)) {
            // The helper's detail may quote the decoded parameter name, control bytes and all: it
            // is replaced by one that names nothing the client wrote.
            return fail_invalid(q_, detail.find("malformed") != std::string::npos
                                        ? "a query parameter has a malformed percent-escape"
                                        : "a query parameter holds a control character");
        }
        std::unordered_set<std::string_view> seen;
        for (const auto& p : params)
            if (!seen.insert(p.name).second)
                return fail_invalid(
                    q_, "query parameter '" + shown_parameter(p.name) + "' is repeated");
        for (const auto& p : params)
            if (!parameter(p)) return false;
        write();
        return true;
    }

  private:
    bool refuse(std::string_view name, std::size_t position, std::string why) {
        return fail_unsupported(q_, shown_parameter(name), position, std::move(why));
    }

    bool parameter(const query_param& p) {
        if (p.name == "include")
            return refuse(p.name, 0,
                          "include (side-loaded related resources) is refused: side-loaded "
                          "records are not filtered by this route");
        auto name = split_brackets(p.name);
        if (!name) return refuse(p.name, 0, "a parameter name whose brackets do not match");
        if (!p.has_value) return refuse(p.name, 0, "a JSON:API parameter needs a value");
        const auto& segs = name->segments;
        if (name->base == "sort" && segs.empty()) return sort(p);
        if (name->base == "fields" && segs.size() == 1) return fields(p, segs[0]);
        if (name->base == "filter" && (segs.size() == 1 || segs.size() == 2))
            return filter(p, segs);
        if (name->base == "page" && segs.size() == 1) return page(p, segs[0]);
        return refuse(p.name, 0, "a parameter outside the JSON:API grammar this route accepts");
    }

    // Splits a comma-separated list; the offset of each item is kept for refusals.
    bool items(const query_param& p, std::vector<std::pair<std::string_view, std::size_t>>& out) {
        std::string_view v = p.value;
        std::size_t pos = 0;
        for (;;) {
            auto comma = v.find(',', pos);
            if (comma == std::string_view::npos) comma = v.size();
            std::string_view item = v.substr(pos, comma - pos);
            if (item.empty()) return refuse(p.name, pos, "an empty field name in the list");
            out.emplace_back(item, pos);
            if (comma == v.size()) return true;
            pos = comma + 1;
        }
    }

    bool fields(const query_param& p, std::string_view type) {
        if (policy_.object_name.empty() || type != policy_.object_name)
            return refuse(p.name, 0,
                          "fields names a resource type other than this route's records");
        std::vector<std::string> selected;
        if (!p.value.empty()) {
            std::vector<std::pair<std::string_view, std::size_t>> list;
            if (!items(p, list)) return false;
            for (const auto& [item, pos] : list) {
                if (!field_name(item))
                    return refuse(p.name, pos,
                                  "a field name with characters outside "
                                  "[A-Za-z0-9_.-]");
                selected.emplace_back(item);
            }
        }
        fields_present_ = true;
        // An empty fieldset asks for no fields (JSON:API 1.1, "Sparse Fieldsets"); so does one of
        // nothing but the identity (`id`, `type`: always in the answer) and rule fields (forced
        // into the query, stripped from the answer). The answer then carries the identity alone,
        // and the forwarded fieldset is the rule fields only, which reads back the same.
        if (std::all_of(selected.begin(), selected.end(),
                        [this](const std::string& f) { return identity(f) || rule_field(f); })) {
            for (const auto& f : selected)
                if (std::find(q_.requested.begin(), q_.requested.end(), f) == q_.requested.end())
                    q_.requested.push_back(f);
            if (selectable(policy_, "id")) q_.kept.emplace_back("id");
            q_.sent.assign(policy_.rule_fields.begin(), policy_.rule_fields.end());
            return true;
        }
        resolve_selection(q_, policy_, true, selected);
        return true;
    }

    static bool identity(std::string_view f) { return f == "id" || f == "type"; }
    [[nodiscard]] bool rule_field(std::string_view f) const {
        return std::find(policy_.rule_fields.begin(), policy_.rule_fields.end(), f) !=
               policy_.rule_fields.end();
    }

    bool filter(const query_param& p, const std::vector<std::string_view>& segs) {
        if (segs.size() == 1 && segs[0] == "operator") {
            // SuiteCRM's combinator of the filters: filter[operator]=and|or.
            if (p.value != "and" && p.value != "or")
                return refuse(p.name, 0, "filter[operator] must be 'and' or 'or'");
            combinator_ = p.value;
            return true;
        }
        if (!field_name(segs[0]))
            return refuse(p.name, 0,
                          "a filter field name that is empty or has characters outside "
                          "[A-Za-z0-9_.-]");
        if (segs.size() == 2 && std::find(filter_operators.begin(), filter_operators.end(),
                                          segs[1]) == filter_operators.end())
            return refuse(p.name, 0,
                          "a filter operator outside eq, neq, gt, gte, lt, lte, like, in");
        if (!check_read(q_, policy_, segs[0], use::filter)) return false;
        filters_.push_back(field_filter{std::string(segs[0]),
                                        segs.size() == 2 ? std::string(segs[1]) : std::string(),
                                        p.value});
        return true;
    }

    bool sort(const query_param& p) {
        std::vector<std::pair<std::string_view, std::size_t>> list;
        if (!items(p, list)) return false;
        for (auto [item, pos] : list) {
            std::string_view field = item;
            if (field.front() == '-') field.remove_prefix(1);
            if (!field_name(field))
                return refuse(p.name, pos,
                              "a sort field name that is empty or has characters outside "
                              "[A-Za-z0-9_.-]");
            if (!check_read(q_, policy_, field, use::order)) return false;
        }
        sort_ = p.value;
        return true;
    }

    bool page(const query_param& p, std::string_view member) {
        const auto* it = std::find(page_members.begin(), page_members.end(), member);
        if (it == page_members.end())
            return refuse(p.name, 0,
                          "a page parameter outside number, size, offset, limit, "
                          "cursor");
        const std::string& v = p.value;
        if (member == "cursor") {
            // An opaque token: only the characters of base64url and plain cursors.
            auto bad = std::find_if(v.begin(), v.end(), [](char c) {
                return !(alnum(c) || c == '_' || c == '-' || c == '=' || c == '.');
            });
            if (v.empty() || v.size() > max_cursor_bytes || bad != v.end())
                return refuse(p.name, static_cast<std::size_t>(bad - v.begin()),
                              "page[cursor] must be a token of [A-Za-z0-9_-=.]");
        } else {
            auto bad = std::find_if(v.begin(), v.end(), [](char c) { return c < '0' || c > '9'; });
            if (v.empty() || v.size() > max_page_digits || bad != v.end())
                return refuse(p.name, static_cast<std::size_t>(bad - v.begin()),
                              "a page number, size, offset or limit must be a non-negative "
                              "integer of at most 10 digits");
        }
        page_[static_cast<std::size_t>(it - page_members.begin())] = v;
        return true;
    }

    void write() {
        if (!fields_present_) resolve_selection(q_, policy_, false, {});
        std::string& out = q_.query;
        if (!policy_.object_name.empty()) {
            // A resource's `id` and `type` are its identity, always in the answer, and no field
            // a sparse fieldset may name (JSON:API 1.1, "Fields"): a catalogue that lists them
            // (the purpose keeps them) does not write them here.
            std::string list;
            std::erase_if(q_.sent, [](const std::string& f) { return identity(f); });
            for (const auto& f : q_.sent) {
                if (!list.empty()) list.push_back(',');
                list += f;
            }
            append_param(out, "fields[" + std::string(policy_.object_name) + "]", list);
        }
        if (combinator_) append_param(out, "filter[operator]", *combinator_);
        for (const auto& f : filters_) {
            std::string name = "filter[" + f.field + "]";
            if (!f.op.empty()) name += "[" + f.op + "]";
            append_param(out, name, f.value);
        }
        if (sort_) append_param(out, "sort", *sort_);
        for (std::size_t i = 0; i < page_members.size(); ++i)
            if (page_[i])
                append_param(out, "page[" + std::string(page_members[i]) + "]", *page_[i]);
    }

    const field_policy& policy_;
    guarded_query& q_;
    bool fields_present_ = false;
    std::optional<std::string> combinator_;
    std::vector<field_filter> filters_;
    std::optional<std::string> sort_;
    std::array<std::optional<std::string>, page_members.size()> page_;
};

}  // namespace

guarded_query guard_jsonapi(const field_policy& policy, std::string_view raw_query) {
    guarded_query q;
    jsonapi_guard guard(policy, q);
    if (!guard.run(raw_query)) q.query.clear();
    return q;
}

}  // namespace exportwall::config::query
