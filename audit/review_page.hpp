#pragma once
// The review page served at /admin/ by the admin listener: one static HTML+JS document (no
// external assets) that reads the review API (/admin/audit, /admin/flows, /admin/subject, …;
// proxy/ops/audit_review.hpp), and the Content-Security-Policy that lets exactly its own inline
// script and style run.

#include <string>
#include <string_view>

namespace exportwall::audit {

// The page, embedded at build time from audit/review_page.html.
[[nodiscard]] std::string_view review_page_html();

// A Content-Security-Policy for the HTML document `html`: nothing from anywhere
// (default-src 'none') but its own inline <script> and <style> blocks, allowed by their SHA-256
// ('sha256-…'), fetches to its own origin when `connect` is true, and data: images; no base URI,
// no form target, no framing. Inline style attributes and event-handler attributes stay blocked.
[[nodiscard]] std::string content_security_policy(std::string_view html, bool connect);

}  // namespace exportwall::audit
