#pragma once
// What changes between two loaded configurations, for a DPO reviewing a policy change
// (`exportwall policy diff OLD NEW`): the compiled policies are compared, never the text, so
// reordering elements, comments and white space make no difference. Reported: grants added and
// removed (client x purpose x destination), the fields each purpose keeps of each entity (newly
// exposed, newly stripped), its record conditions (subject, request evidence, consent,
// objection, custom conditions, suppression list, transforms), the attributes of purposes,
// destinations, clients, grants, entities, suppression lists and routes, elements added or
// removed, and the consequence: which client x purpose x destination combinations become
// allowed or refused (standing_refusal() in config/decide.hpp).
//
// diff_policies() is a pure function of the two snapshots; the renderers of its value.

#include <compare>
#include <string>
#include <vector>

#include "config/loader.hpp"

namespace exportwall::config {

struct grant_key {
    std::string client;
    std::string purpose;
    std::string destination;
    // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 sees the `0` of the synthesized body.
    friend auto operator<=>(const grant_key&, const grant_key&) = default;
    friend bool operator==(const grant_key&, const grant_key&) = default;
};

// An element present in one configuration only.
struct element_change {
    std::string element;  // purpose | destination | client | entity | suppression-list | route
    std::string id;
    bool added = false;  // false: removed
};

// An attribute of an element present in both that differs. "" = not set.
struct attribute_change {
    std::string element;  // policy | purpose | destination | client | grant | entity | …
    std::string id;       // grants: "client/purpose"; the policy itself: ""
    std::string attribute;
    std::string before;
    std::string after;
};

// The fields a purpose keeps of one entity, where they differ.
struct field_change {
    std::string purpose;
    std::string entity;
    std::vector<std::string> routes;    // the routes serving the entity (in either)
    std::vector<std::string> exposed;   // kept now, stripped before
    std::vector<std::string> stripped;  // stripped now, kept before
};

// The record conditions, suppression list and transforms a purpose applies to one entity, where
// they differ (each a line as `explain` prints it).
struct condition_change {
    std::string purpose;
    std::string entity;
    std::vector<std::string> added;
    std::vector<std::string> removed;
};

// A client x purpose x destination whose standing answer changes.
struct access_change {
    grant_key key;
    std::string before;  // reason code, "ok" when allowed
    std::string after;
    [[nodiscard]] bool now_allowed() const { return after == "ok"; }
};

struct policy_diff {
    std::vector<access_change> access;  // sorted by key
    std::vector<grant_key> grants_added;
    std::vector<grant_key> grants_removed;
    std::vector<element_change> elements;
    std::vector<attribute_change> attributes;
    std::vector<field_change> fields;
    std::vector<condition_change> conditions;

    // True when the two configurations are equivalent.
    [[nodiscard]] bool empty() const {
        return access.empty() && grants_added.empty() && grants_removed.empty() &&
               elements.empty() && attributes.empty() && fields.empty() && conditions.empty();
    }
};

// What changes from `before` to `after`. Descriptions are compared with white space collapsed;
// suppression-list files by their path relative to their configuration's directory.
[[nodiscard]] policy_diff diff_policies(const configuration& before, const configuration& after);

// For a person: the consequence first, then grants, elements, attributes, fields, conditions;
// "equivalent" when nothing differs.
[[nodiscard]] std::string render_diff_text(const policy_diff& d, const std::string& before_name,
                                           const std::string& after_name);
// One JSON document (docs/policy-guide.md, "Comparing two policies"), with a trailing newline.
[[nodiscard]] std::string render_diff_json(const policy_diff& d, const std::string& before_name,
                                           const std::string& after_name);

}  // namespace exportwall::config
