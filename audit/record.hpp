#pragma once
// The audit record: one per decision (DESIGN.md §3). Never holds a field value: names, counts,
// identifiers of the client, purpose, destination and route, and the request path without its
// query values.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

namespace exportwall::audit {

// What a record says happened (its `decision` member). Exports: allowed, filtered, blocked,
// aborted, would_block; the others are records of no export.
enum class decision : std::uint8_t {
    allowed,               // the export completed and the filter changed nothing
    filtered,              // the export completed with fields stripped or records dropped
    blocked,               // refused before any byte went upstream (policy or HTTP refusal)
    aborted,               // an allowed export that could not complete
    would_block,           // monitor mode: what enforcing would have refused or changed
    volume_alert,          // a grant's hourly volume crossed its threshold (volume_* members)
    volume_alert_cleared,  // an operator cleared the hold a volume alert set
    policy_loaded,         // a configuration was loaded or reloaded (policy_* members)
    checkpoint,            // the writer signed the chain head (checkpoint_* members)
};
inline constexpr std::size_t decision_count = 9;

// The text the trail, syslog, the metrics and the X-Export-Decision header carry: "allowed",
// "filtered", "blocked", "aborted", "would-block", "volume_alert", "volume_alert_cleared",
// "policy_loaded", "checkpoint". The only place these strings are made.
[[nodiscard]] std::string_view to_string(decision d) noexcept;
// The decision a record's text names; nullopt for any other text (a trail may hold a decision
// a later version added).
[[nodiscard]] std::optional<decision> parse_decision(std::string_view text) noexcept;

struct record {
    std::uint64_t seq = 0;  // assigned by the writer, monotonic across rotations
    std::string id;         // assigned by the proxy at request start (new_record_id())
    // The replica whose trail holds the record (<audit replica>; is_replica_name()), filled by
    // the writer when empty. Each replica keeps its own chain: a central store that merges
    // several trails verifies each replica's chain apart. Written only when not empty (trails
    // from before it have none).
    std::string replica;
    std::string time;       // RFC 3339 UTC with milliseconds, set by the proxy
    std::string mode;       // "enforce" | "monitor"
    // to_string(decision): allowed | filtered | blocked | aborted | would-block (exports);
    // volume_alert | volume_alert_cleared (a grant's hourly volume crossed its threshold / an
    // operator cleared the hold it set: no export, see the volume_* members); policy_loaded (a
    // configuration was loaded or reloaded: see the policy_* members); checkpoint (the writer
    // signed the chain head: see the checkpoint_* members). Text, not the enum: a record read
    // back keeps what its line says.
    std::string decision;
    std::string reason;     // a reason code (docs/reason-codes.md), "" when allowed
    // The legal rule the refusal rests on (LEGAL-RULES.md id, "R10") and its legal reference
    // ("GDPR art. 6(1), art. 21; …"), filled by the proxy; "" for a reason that is not a legal
    // rule (upstream_timeout, request_rejected) and for records without a refusal. Written only
    // when rule_id is not empty.
    std::string rule_id;
    std::string legal_reference;
    std::string client;
    std::string purpose;
    std::string basis;  // legal basis of the purpose
    std::string destination;
    std::string destination_kind;  // internal | processor | third-party
    std::string route;
    std::string method;
    std::string path;  // normalised path; query parameter names only, no values
    int status = 0;    // HTTP status sent to the client
    std::vector<std::string> fields_requested;
    std::vector<std::string> fields_stripped;
    // Kept fields written in a derived form (a pseudonym, a prefix, a year, masked): field name ->
    // values transformed; and field name -> values a transform could not read (written as
    // nothing). Names and counts only, never a value. Each is written only when not empty.
    std::map<std::string, std::uint64_t> fields_transformed;
    std::map<std::string, std::uint64_t> transform_failed;
    std::uint64_t records_in = 0;
    std::uint64_t records_out = 0;
    std::map<std::string, std::uint64_t> records_dropped;  // drop reason -> count
    // The subject index (audit/subject_index.hpp): how many keyed subject digests the export's
    // delivered records added to the index beside the trail, and the SHA-256 (hex) of the
    // export's index chunks in order, which binds them to this record. Written only when
    // subject_index is not empty (an export that delivered records under a subject key).
    std::uint64_t subject_keys = 0;
    std::string subject_index;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    double duration_ms = 0;
    std::string remote;           // client address:port (the address alone from X-Forwarded-For)
    // When a trusted balancer named the client (PROXY protocol, X-Forwarded-For): the balancer's
    // address:port. Written only when not empty.
    std::string via;
    // The W3C trace id of the request's checked `traceparent` (32 hex). Written only when not
    // empty.
    std::string trace_id;
    std::string policy_revision;  // SHA-256 of the configuration file
    // A volume alert (decision "volume_alert"): the UTC hour that crossed its threshold (RFC 3339,
    // the hour's start), the records the grant (client x purpose) delivered in it so far, the
    // threshold it exceeded and the bound that set it ("ceiling" | "multiple"), the trailing
    // median of the grant's hourly volumes (0 = no baseline yet: fewer than 24 active hours), and
    // what exportwall did ("alert" | "refuse": the grant is held until an operator clears it).
    // Written only when volume_hour is not empty, all six together.
    std::string volume_hour;
    std::uint64_t volume_records = 0;
    std::uint64_t volume_threshold = 0;
    std::string volume_bound;
    std::uint64_t volume_median = 0;
    std::string volume_action;
    // The candidate policy's decision (<shadow>), "" without one: allowed | filtered | blocked,
    // its reason code, and the fields it would strip. Never on the wire.
    std::string shadow_decision;
    std::string shadow_reason;
    std::vector<std::string> shadow_fields_stripped;
    // A configuration load (decision "policy_loaded"): what loaded it ("start" | "sighup" |
    // "admin" | "suppression-list"), and the SHA-256 (lowercase hex) of each file the
    // policy_revision covers, by path: the configuration file and the policy files it includes,
    // and the suppression lists. Paths and digests only, never a file's contents. Written only
    // when policy_trigger is not empty, all three together.
    std::string policy_trigger;
    std::map<std::string, std::string> policy_files;
    std::map<std::string, std::string> suppression_lists;
    // A signed checkpoint (decision "checkpoint", written by the writer thread): the seq and hash
    // of the record before it (its prev_hash), the id of the Ed25519 key that signed them and the
    // signature (hex) over checkpoint_message(seq, hash) (audit/checkpoint.hpp). Written only
    // when checkpoint_signature is not empty, all four together.
    std::uint64_t checkpoint_seq = 0;
    std::string checkpoint_hash;
    std::string checkpoint_key_id;
    std::string checkpoint_signature;
    std::string prev_hash;        // assigned by the writer
    std::string hash;             // assigned by the writer
};

// The decision a record read back names; nullopt for a text this version does not know (a later
// version's). Code compares decisions through this, never through their text.
[[nodiscard]] inline std::optional<decision> decision_of(const record& r) noexcept {
    return parse_decision(r.decision);
}

// A fresh, unguessable record id (128 random bits, lowercase hex), usable in headers.
[[nodiscard]] std::string new_record_id();

// The longest replica name a record carries.
inline constexpr std::size_t max_replica_name = 64;

// Whether `name` can name a replica: 1 to max_replica_name characters of A-Z a-z 0-9 . _ -
// (a Kubernetes pod name, a host name).
[[nodiscard]] bool is_replica_name(std::string_view name);

// The replica name when <audit replica> is not set: $EXPORTWALL_REPLICA, else $HOSTNAME, else
// the host name (gethostname), made a replica name (other characters become '-', cut to
// max_replica_name); "exportwall" when all of them are empty.
[[nodiscard]] std::string default_replica_name();

// Where the proxy hands its records. Implementations must be thread-safe.
class sink {
  public:
    virtual ~sink() = default;
    sink() = default;
    sink(const sink&) = delete;
    sink& operator=(const sink&) = delete;

    // Called once the record is stored (durably when `durable` is true) or storing failed. May be
    // called on any thread; the caller re-posts to its own executor.
    using completion = std::function<void(boost::system::error_code)>;

    // Appends `r` (seq, prev_hash and hash are assigned here). `durable`: the completion runs only
    // after the record is on disk (fsync; group commit). A failure means the trail cannot be
    // written: the proxy refuses new exports with 503 audit_unavailable. Taken by reference and
    // moved from once, where it is kept: a record is ~45 members, and a move each hop cost a
    // small export ~1,400 instructions a hop.
    virtual void append(record&& r, bool durable, completion done) = 0;

    // False while the trail cannot be written (for /readyz and refusing new exports).
    [[nodiscard]] virtual bool healthy() const = 0;
};

}  // namespace exportwall::audit
