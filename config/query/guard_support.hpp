#pragma once
// Pieces every language's guard shares: the query string split into decoded parameters, the
// re-serialiser, the field check and the selection arithmetic. Pure string work.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/ascii.hpp"
#include "config/query/guard.hpp"

namespace exportwall::config::query {

// One `name=value` pair of a query string, percent-decoded ('+' is a space).
struct query_param {
    std::string name;
    std::string value;
    bool has_value = false;  // "name=" or "name=x" (not a bare "name")
};

// Splits `raw` at '&' and decodes each pair. Empty pairs ("a&&b") are skipped. False, with
// `detail` set, on a malformed percent-escape or a decoded control byte (CR, LF, NUL …), which
// no query language needs and which would reach a log or a header.
[[nodiscard]] bool split_query(std::string_view raw, std::vector<query_param>& out,
                               std::string& detail);

// One `name=value` pair of a query string, percent-decoded, as views: into the raw query where
// the pair holds no escape and no '+', else into the storage split_query was given.
struct query_param_view {
    std::string_view name;
    std::string_view value;
    bool has_value = false;
};

// As split_query above, without a string per name and value (the guard runs on every request):
// the decoded pairs are written into `storage`, reserved once to raw.size() — a decoded pair is
// never longer than its raw text — so the views stay valid while `raw` and `storage` live.
[[nodiscard]] bool split_query(std::string_view raw, std::vector<query_param_view>& out,
                               std::string& storage, std::string& detail);

// Appends `name=value` to `query` (with '&' when it is not empty), percent-encoding both so that
// only unreserved characters, and the `keep` characters, are written as they are.
void append_param(std::string& query, std::string_view name, std::string_view value,
                  std::string_view keep = "$,()'*:@/;=!");

// The result helpers: each sets the verdict and detail of `q` and returns false, so a parser can
// `return fail_unsupported(…)`.
bool fail_unsupported(guarded_query& q, std::string_view parameter, std::size_t position,
                      std::string detail);
bool fail_invalid(guarded_query& q, std::string detail);
bool fail_field(guarded_query& q, const field_policy& policy, std::string_view path, use how);

// True when `set` holds `path` itself (not an ancestor of it): a binary search of its sorted
// paths, shared by every guard's look-ups.
[[nodiscard]] bool holds(const filters::field_set& set, std::string_view path);

// The name a refusal may show for `path` (a catalogue path, or not_in_catalogue).
[[nodiscard]] std::string shown_name(const field_policy& policy, std::string_view path);

// Checks one reference that reads a field's value (filter, order, compute, aggregate, group,
// search): permitted only when it names a field of the catalogue that the purpose keeps. A path
// below a kept field is not one (a field kept whole may be a navigation to other records). False
// (with q set) otherwise.
[[nodiscard]] bool check_read(guarded_query& q, const field_policy& policy, std::string_view path,
                              use how);

// A selection may name a catalogue field the purpose keeps, or an object the purpose and the
// catalogue both enter (the response filter strips below it).
[[nodiscard]] bool selectable(const field_policy& policy, std::string_view path);

// Fills q.requested / kept / stripped / sent from the catalogue paths the client selected
// (`present` false: no selection was written, so every allowed field is selected). A selected
// path the purpose neither keeps nor descends into is stripped (listed by its catalogue name, or
// as not_in_catalogue), unless it is a rule field; `sent` is the kept fields that are no rule
// field, in the client's order, then every rule field in rule order.
void resolve_selection(guarded_query& q, const field_policy& policy, bool present,
                       const std::vector<std::string>& selected);

// ASCII case-insensitive equality (SOQL keywords and names, OData is case-sensitive): the
// project's one (common/ascii.hpp), inline, as the parsers compare every word with it.
using common::iequals_ascii;

}  // namespace exportwall::config::query
