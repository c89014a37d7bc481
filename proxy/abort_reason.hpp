#pragma once
// Why an export that had begun could not complete: its response ends without its end (no
// terminating chunk, or short of its Content-Length) and both connections close
// (docs/reason-codes.md, "aborted"). Refusals, answered before the response began, are
// config::reason values.

#include <cstdint>
#include <string_view>

namespace exportwall::proxy {

enum class abort_reason : std::uint8_t {
    client_closed,            // the client closed its connection mid-export
    client_write_timeout,     // the client stopped reading for longer than client-write-idle
    shutdown,                 // a stop's shutdown-grace ran out while the export was in flight
    upstream_reset,           // the CRM's connection closed or reset mid-body
    upstream_timeout,         // the CRM sent nothing for longer than upstream-idle
    upstream_malformed,       // the CRM's body cannot be read (framing, or the filter refused it)
    record_limit_exceeded,    // the export reached its max-records
    quota_exceeded,           // the grant's quota ran out mid-export
    quota_store_unavailable,  // the quota store stopped answering mid-export
    audit_unavailable,        // the export's record or subject index cannot be written
};

// The reason code in the access log and in exportwall_exports_aborted_total{reason}:
// "client_closed", "upstream_reset" …; the values that are also refusal reasons are named as
// config::to_string names them.
[[nodiscard]] std::string_view to_string(abort_reason r) noexcept;

// The reason code of the aborted audit record: to_string(r), but "upstream_malformed" for
// upstream_reset (the trail names a CRM that died mid-body as one whose body cannot be read).
[[nodiscard]] std::string_view audit_reason(abort_reason r) noexcept;

}  // namespace exportwall::proxy
