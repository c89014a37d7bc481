#pragma once
// The vendors' envelope vocabulary: which members of a page's envelope are page metadata.

#include <algorithm>
#include <array>
#include <string_view>

namespace exportwall::filters::json_detail {

// A member of a page's envelope that describes the page, not the data (counts, paging flags and
// sizes), which a route may pass through: the vendors' names (OData / Dataverse annotations,
// Salesforce, HubSpot, Pipedrive, Zoho and the like). Anything else in an envelope is stripped.
inline bool page_metadata(std::string_view name) {
    // @odata.context names the CRM's own URL (its metadata document): dropped, the CRM's
    // address never leaves.
    static constexpr std::array<std::string_view, 4> annotations{
        "@odata.count", "@Microsoft.Dynamics.CRM.totalrecordcount",
        "@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded",
        "@Microsoft.Dynamics.CRM.morerecords"};
    if (name.size() > 1 && name.front() == '@')
        return std::find(annotations.begin(), annotations.end(), name) != annotations.end();
    // Not "after" or "before": those are cursors, the CRM's paging tokens (HubSpot's
    // paging.next.after); a route seals them with continuation-fields.
    static constexpr std::array<std::string_view, 14> names{
        "totalSize", "done",  "size", "count",    "total",     "hasMore",  "has_more",
        "offset",    "limit", "page", "pageSize", "page_size", "per_page", "rel"};
    return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace exportwall::filters::json_detail
