#pragma once
// One export's enforcement, from its decision to its audit record (DESIGN.md §3, issue 5). The
// session calls it at three points — after the route matched (admit), when the CRM's response
// head arrives (plan_response) and for every body piece (transform) — and once at the end
// (audit_record). No sockets, no Asio: everything here is tested without a network.

#include <chrono>
#include <cstdint>
#include <optional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/container/static_vector.hpp>
#include <boost/system/error_code.hpp>

#include "audit/record.hpp"
#include "audit/subject_index.hpp"
#include "config/decide.hpp"
#include "config/configuration.hpp"
#include "filters/record_filter.hpp"
#include "proxy/abort_reason.hpp"
#include "proxy/http/content_decoding.hpp"
#include "proxy/enforce/export_plan.hpp"
#include "proxy/http/request_head.hpp"
#include "proxy/http/target.hpp"
#include "proxy/tls.hpp"

namespace exportwall::proxy {

// The SHA-256 (lower-case hex) of the bearer key in an Authorization value, "" when the value is
// not `Bearer <key>` (scheme case-insensitive). The key itself is never kept.
[[nodiscard]] std::string bearer_key_sha256(std::string_view authorization);

// What the client receives instead of, or around, the CRM's response.
struct response_plan {
    enum class action : std::uint8_t {
        relay,    // bytes pass unmodified (passthrough routes, monitor mode)
        filter,   // the body passes the purpose's filter (chunked, no Content-Length)
        replace,  // the body is replaced by a problem document (status and reason below)
    };
    action what = action::relay;
    // replace: the status of the problem answer — the CRM's own for upstream_error, else
    // http_status(reason)
    unsigned status = 200;
    config::reason reason = config::reason::none;  // replace: its reason code
    std::string detail;                            // replace: a fixed sentence, never response data
    // Fields to remove from the CRM's head (case-insensitive names) and exportwall's own fields
    // to add (X-Export-Decision, X-Export-Audit-Id, X-Export-Stripped-Fields, a rewritten Link or
    // Location). Bounded and held in place (a small export allocates nothing for them): the names
    // are literals, the values literals or the export case's own members, so the plan is valid
    // while its export_case lives and plan_response() is not called again.
    boost::container::static_vector<std::string_view, 10> drop_fields;
    boost::container::static_vector<header_field, 5> add_fields;
};

// The subject index could not be written (transform()/finish()): reason audit_unavailable.
inline const boost::system::error_code subject_index_failed =
    make_error_code(boost::system::errc::io_error);

class export_case {
  public:
    // Decides the export. `headers` are the client's checked header fields; `peer` the verified
    // TLS identity (empty without mTLS); `remote` the client's address:port.
    export_case(std::shared_ptr<const config::configuration> config, const config::route& route,
                std::string_view method, const normalised_target& target,
                std::span<const header_field> headers, const peer_identity& peer,
                std::string remote, std::string_view body = {}, bool body_present = false,
                bool body_pending = false);
    ~export_case();
    export_case(const export_case&) = delete;
    export_case& operator=(const export_case&) = delete;

    [[nodiscard]] const config::decision& decision() const { return decision_; }
    [[nodiscard]] const std::string& audit_id() const { return audit_id_; }
    // An enforce-mode refusal: answer with a problem, forward nothing.
    [[nodiscard]] bool refused() const;
    // Monitor mode: everything is evaluated and audited, the data passes unmodified.
    [[nodiscard]] bool monitoring() const;
    // The refusal's status (http_status(refusal_reason())), reason code and detail (refused() or
    // a monitor-mode would-block).
    [[nodiscard]] unsigned refusal_status() const { return decision_.status; }
    [[nodiscard]] config::reason refusal_reason() const { return decision_.why; }
    [[nodiscard]] const std::string& refusal_detail() const { return decision_.detail; }

    // The origin-form target for the CRM: the route's path mapping and, in enforce mode, the
    // field selection rewritten to what the purpose allows.
    [[nodiscard]] std::string upstream_target(const config::upstream& up) const;
    // The body for the CRM when the route's query language reads the body (read whole before the
    // decision): the query guard's re-serialised body in enforce mode, the client's in monitor.
    [[nodiscard]] std::string_view upstream_body(std::string_view client_body) const;

    // Plans the client's response from the CRM's status and head fields. `public_url` is the
    // listener's (pagination links are rewritten onto it). For action::filter the filter and
    // any content decoder are set up inside this object.
    [[nodiscard]] response_plan plan_response(unsigned status,
                                              std::span<const header_field> upstream_fields,
                                              const config::upstream& up,
                                              std::string_view public_url);

    // True when body pieces must go through transform(): action::filter, and monitor mode on a
    // record route (the filter runs beside the relay, to count what it would have changed).
    [[nodiscard]] bool transforms() const { return filter_ != nullptr; }
    // Decodes and filters one body piece, appending the filtered bytes to `out`. An error
    // aborts the export (in monitor mode it is only recorded: the relay goes on).
    [[nodiscard]] boost::system::error_code transform(std::string_view in, std::string& out);
    // Writes the subject index's digests of every record transform() has produced so far: the
    // relay calls it just before each write of the body to the client (the last one too, after
    // finish() and a quota's cut), so no record leaves before its digests are in the index and
    // none is listed that did not leave (what is left unwritten when the export ends is
    // dropped: those records never reached the client). An error aborts the export
    // (audit_unavailable).
    [[nodiscard]] boost::system::error_code index_delivery();
    [[nodiscard]] boost::system::error_code finish(std::string& out);
    // The abort a transform error causes: record_limit_exceeded, audit_unavailable (the subject
    // index), else upstream_malformed.
    [[nodiscard]] static abort_reason reason_for(const boost::system::error_code& ec);
    // Monitor mode: the reason the filter would have aborted, nullopt when it did not.
    [[nodiscard]] std::optional<abort_reason> monitor_failure() const { return monitor_failure_; }

    // The export's chain (config::continuation_chain): the one its sealed link continues, or a
    // new one; sealed into the tokens of this page's links.
    [[nodiscard]] const config::continuation_chain& chain() const { return chain_; }
    // The response sealed a paging token: a client can continue this export.
    [[nodiscard]] bool sealed_links() const { return links_ && links_->sealed() != 0; }
    // Quotas: from plan_response() on, the filter marks where each record ends in the output
    // (filters::record_mark) so the session can cut at the last record a reservation covers.
    void track_records() { track_records_ = true; }
    [[nodiscard]] std::vector<filters::record_mark>& marks() { return marks_; }
    // The output up to the marks was written: they start again (the subject index's with them).
    void records_written();
    // The output was cut after marks()[kept - 1] (none kept: before the first mark): the subject
    // index forgets the keys of the records after it.
    void cut_records(std::size_t kept);
    // Records the filter produced so far (0 without a filter).
    [[nodiscard]] std::uint64_t records_out() const;
    // The records the client received when the output was cut short of what the filter produced.
    void set_delivered(std::uint64_t n) { delivered_ = n; }
    // The records the client received: the cut's count, or all the filter produced.
    [[nodiscard]] std::uint64_t delivered() const { return delivered_.value_or(records_out()); }
    [[nodiscard]] const std::shared_ptr<const config::configuration>& configuration_ptr() const {
        return config_;
    }
    // The subject index (audit/subject_index.hpp): call before plan_response() when the
    // configuration has a subject key. Every record the export delivers then adds the keyed
    // digests of its subject keys (the entity's id and e-mail fields) to `file`. A chunk that
    // cannot be written makes transform()/finish() fail: the export is aborted
    // (audit_unavailable), never delivered on unindexed. audit_record() writes what remains and
    // names it (subject_keys, subject_index).
    void index_subjects(std::shared_ptr<const audit::subject_hasher> hasher,
                        std::shared_ptr<audit::subject_index_file> file);

    // The audit record of a completed export: allowed or filtered by what the filter did
    // (would-block in monitor mode when anything would have been refused, stripped or dropped).
    // `status` is the client's; bytes from the CRM and to the client.
    [[nodiscard]] audit::record audit_record(unsigned status, std::uint64_t bytes_in,
                                             std::uint64_t bytes_out) const;
    // The audit record of a refusal: `d` is blocked (the policy refused the export) or aborted (an
    // allowed export refused later: the CRM failed or answered an error).
    [[nodiscard]] audit::record audit_record(audit::decision d, config::reason why, unsigned status,
                                             std::uint64_t bytes_in, std::uint64_t bytes_out) const;
    // The audit record of an export cut short: aborted, with audit_reason(why).
    [[nodiscard]] audit::record audit_record(abort_reason why, unsigned status,
                                             std::uint64_t bytes_in, std::uint64_t bytes_out) const;

  private:
    // `decided`: nullopt derives the decision of a completed export.
    [[nodiscard]] audit::record make_record(std::optional<audit::decision> decided,
                                            std::string_view reason, unsigned status,
                                            std::uint64_t bytes_in, std::uint64_t bytes_out) const;
    void attach_subjects(filters::filter_spec& spec) const;

    std::shared_ptr<const config::configuration> config_;
    const config::route& route_;
    std::string method_;
    std::string path_;
    std::string query_;
    std::string remote_;
    std::string audit_id_;
    // The values of plan_response()'s own fields that are not literals (response_plan views them).
    std::string planned_location_;
    std::string planned_link_;
    std::string planned_stripped_;
    std::string time_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    config::decision decision_;
    std::optional<config::decision> shadow_;  // the candidate policy's (<shadow>), if any
    struct subject_indexing;
    // Outlives filter_, whose record rules report to it.
    std::unique_ptr<subject_indexing> subjects_;
    std::unique_ptr<link_mapper> links_;  // outlives filter_, whose link rewriter uses it
    std::unique_ptr<content_decoder> decoder_;
    std::unique_ptr<filters::record_filter> filter_;
    config::continuation_chain chain_{};
    bool track_records_ = false;
    std::vector<filters::record_mark> marks_;
    std::optional<std::uint64_t> delivered_;
    bool monitor_filter_failed_ = false;
    std::optional<abort_reason> monitor_failure_;
    std::string discard_;
};

}  // namespace exportwall::proxy
