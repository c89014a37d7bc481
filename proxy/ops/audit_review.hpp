#pragma once
// The review page and its API on the admin listener (hooks.extension; the listener has checked
// the token before any of these runs):
//   GET  /admin/              the page (audit/review_page.html) with a Content-Security-Policy
//                             that allows its own inline script and style only
//   GET  /admin/audit?…       a page of records: {"records","next","matched","newest_seq",
//                             "chain"}; filters as audit::parse_audit_query (400 naming the bad
//                             parameter, never its value)
//   POST /admin/audit/verify  verifies the chain now: {"chain":{…}}
//   GET  /admin/flows?…       client → purpose → destination volumes over time (audit/flows.hpp)
//   GET  /admin/report?…      the HTML evidence report of the records matching the filters
//   POST /admin/subject       body {"email":"…"} or {"id":"…","entity":"…"} (optional "since",
//                             "until"): the exports that delivered that person's data
//                             (proxy/enforce/subject_lookup.hpp); 501 without <audit subject-key-file>.
//                             A POST body, so the value never lands in a URL or an access log;
//                             nothing here logs it.
// The chain status is verified at most once per `chain_max_age` unless asked (verifying reads
// the whole trail on an io thread) and always says when it was verified.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "config/configuration.hpp"
#include "proxy/ops/admin.hpp"

namespace exportwall::proxy {

struct audit_review_settings {
    std::string audit_path;  // the trail's active file
    // The configuration in force (the subject key, entities, destinations); null → 503.
    std::function<std::shared_ptr<const config::configuration>()> configuration;
    std::chrono::seconds chain_max_age{60};
};

[[nodiscard]] std::function<std::optional<admin_response>(const admin_request&)> audit_review(
    audit_review_settings settings);

}  // namespace exportwall::proxy
