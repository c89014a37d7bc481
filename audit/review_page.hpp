#pragma once
// The blocked-transfer review page served at /admin/ by the admin listener: one static HTML+JS
// document (no external assets) that reads /admin/audit.

#include <string_view>

namespace exportwall::audit {

// The page, embedded at build time from audit/review_page.html.
[[nodiscard]] std::string_view review_page_html();

}  // namespace exportwall::audit
