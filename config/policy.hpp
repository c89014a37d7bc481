#pragma once
// The policy half of the configuration: entities, purposes, destinations, clients, suppression
// lists and the global mode. Filled by config/policy_loader.cpp (which also checks the legal rules
// of config/rules.hpp and compiles what the decision needs), read by config/decide.hpp.
//
// Everything here is immutable once the configuration snapshot is published, except the entries
// of a suppression list, which the proxy fills once before publishing (see suppression_entries).

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/retention.hpp"
#include "config/settings.hpp"
#include "filters/field_set.hpp"
#include "filters/record_rules.hpp"
#include "filters/transform.hpp"

namespace exportwall::config {

// Enforce: refusals are refused. Monitor: everything is evaluated and audited as `would-block`,
// but the proxy passes the data unmodified (rollout).
enum class mode : unsigned char { enforce, monitor };

// The GDPR art. 6(1) ground a purpose rests on.
enum class legal_basis : std::uint8_t {
    contract,             // 6(1)(b) first limb: necessary to perform a contract (customers)
    pre_contract,         // 6(1)(b) second limb: steps at the prospect's request
    consent,              // 6(1)(a): the subject agreed (consent field per record)
    legitimate_interest,  // 6(1)(f): balanced interest; objections honoured
    legal_obligation,     // 6(1)(c): a law requires it (tax, accounting)
};

// The data subjects a record may describe, as mapped from the entity's subject field.
enum class subject_type : std::uint8_t { customer, prospect, former_customer };
// Bit set of subject_type values.
using subject_set = std::uint8_t;
[[nodiscard]] constexpr subject_set subject_bit(subject_type t) {
    return static_cast<subject_set>(1u << static_cast<unsigned>(t));
}

// How direct marketing reaches the subject (ePrivacy treats electronic channels apart).
enum class marketing_channel : std::uint8_t { none, email, sms, phone, post };

// Who receives an export.
enum class destination_kind : std::uint8_t {
    internal,     // our own system
    processor,    // acts on our behalf under an art. 28 contract, for the purposes it lists
    third_party,  // another controller
};

[[nodiscard]] std::string_view to_string(mode m);
[[nodiscard]] std::string_view to_string(legal_basis b);
[[nodiscard]] std::string_view to_string(subject_type t);
[[nodiscard]] std::string_view to_string(marketing_channel c);
[[nodiscard]] std::string_view to_string(destination_kind k);
[[nodiscard]] std::optional<legal_basis> parse_legal_basis(std::string_view s);
[[nodiscard]] std::optional<subject_type> parse_subject_type(std::string_view s);
[[nodiscard]] std::optional<marketing_channel> parse_marketing_channel(std::string_view s);
[[nodiscard]] std::optional<destination_kind> parse_destination_kind(std::string_view s);

// True for a fideslang category that GDPR art. 9 (or art. 10) protects: health, biometric,
// genetic, religion, political opinion, ethnicity, sexual orientation, criminal history.
[[nodiscard]] bool is_special_category(std::string_view category);

// GDPR art. 9(2) conditions (and art. 10) under which a special-category field may be exported.
enum class art9_condition : std::uint8_t {
    none,
    explicit_consent,           // 9(2)(a): with basis consent
    employment_law,             // 9(2)(b): with basis legal-obligation
    vital_interests,            // 9(2)(c): with basis legal-obligation or legitimate-interest
    made_public,                // 9(2)(e): manifestly made public by the subject
    legal_claims,               // 9(2)(f): with basis legitimate-interest or legal-obligation
    substantial_public_interest,  // 9(2)(g): with basis legal-obligation
    health_care,                // 9(2)(h): with basis contract or legal-obligation
    public_health,              // 9(2)(i): with basis legal-obligation
    archiving_research,         // 9(2)(j): with basis legal-obligation or legitimate-interest
    official_authority,         // art. 10: criminal data under official authority / member law
};

// How a transfer outside the EEA is covered (GDPR chapter V).
enum class transfer_mechanism : std::uint8_t {
    none,        // inside the EEA
    adequacy,    // art. 45 adequacy decision for the country
    scc,         // art. 46(2)(c) standard contractual clauses
    bcr,         // art. 47 binding corporate rules
    derogation,  // art. 49 derogation (occasional, documented)
};

[[nodiscard]] std::string_view to_string(art9_condition c);
[[nodiscard]] std::optional<art9_condition> parse_art9_condition(std::string_view s);
[[nodiscard]] std::string_view to_string(transfer_mechanism m);
[[nodiscard]] std::optional<transfer_mechanism> parse_transfer_mechanism(std::string_view s);
// ISO 3166-1 alpha-2 codes of the EEA (EU 27, Iceland, Liechtenstein, Norway).
[[nodiscard]] bool is_eea_country(std::string_view code);
// Countries with a Commission adequacy decision under art. 45 (as of 2026; the US one covers
// organisations certified under the Data Privacy Framework only).
[[nodiscard]] bool has_adequacy_decision(std::string_view code);
// True for a fideslang category of GDPR art. 10 (criminal convictions and offences).
[[nodiscard]] bool is_criminal_category(std::string_view category);

// One field of an entity's catalogue. Paths are dotted and relative to the route's field root.
struct catalogue_field {
    std::string path;      // "email", "address.city"
    std::string category;  // fideslang data category, "user.contact.email"
    bool special = false;  // art. 9 special category (flag or category prefix)
    bool criminal = false;  // art. 10 (criminal convictions and offences)
    // A consent field: the channel it was given for (email, sms, phone, post), and for a
    // disclosure to another controller the destination it names (R10, R11).
    marketing_channel consent_channel = marketing_channel::none;
    std::string consent_recipient;
    source_location where;
};

// A value of the subject field and what it means.
struct subject_value {
    std::string value;  // "customer", "lead", "former"
    subject_type type = subject_type::customer;
};

// A CRM object type (contact, account, lead, deal) and its field catalogue.
struct entity {
    std::string id;
    // The data uses the subjects were told of when the data was collected (the privacy notice):
    // a purpose whose data use is not within one of them is refused (R15).
    std::vector<std::string> collected_for;
    // describes="organisations": records about companies (legal persons are not data subjects,
    // recital 14). No subject, consent or objection condition applies, so the loader allows only
    // organisation data in its catalogue: system.*, user.contact.*, user.unique_id.
    bool organisations = false;
    std::string subject_field;  // field whose value tells the subject type; "" = none
    std::vector<subject_value> subjects;
    std::vector<catalogue_field> fields;  // sorted by path after load
    filters::field_set catalogue;         // every field's path (the query guard names them)
    source_location where;
    // find_field()'s hash table over `fields` (positions + 1, 0 empty; a power of two of at least
    // twice their number), built by index_fields() once they are sorted. Only an accelerator:
    // a hit is checked against the catalogue and a miss confirmed by binary search, so a table
    // that is empty or older than `fields` makes a lookup slower, never wrong. (The audit record
    // looks a dozen names up per export; a binary search was ~260 instructions a name.)
    std::vector<std::uint32_t> field_slots;

    [[nodiscard]] const catalogue_field* find_field(std::string_view path) const;
    void index_fields();
    // The subject index's keys (audit/subject_index.hpp): the first field of category
    // user.unique_id (the record's id) and of user.contact.email; null when the catalogue has
    // none, and always null for an organisations entity (no data subject).
    [[nodiscard]] const catalogue_field* subject_id_field() const;
    [[nodiscard]] const catalogue_field* subject_email_field() const;
};

// A configured require / exclude condition or request evidence, as written.
struct condition_spec {
    std::string entity;
    filters::record_condition condition;  // reason: condition or no_request_evidence
    source_location where;
};

// A field transform of a purpose, as written (<transform entity field kind keep>).
struct transform_spec {
    std::string entity;
    std::string field;
    filters::transform_kind kind = filters::transform_kind::pseudonymise;
    std::size_t keep = 0;
    source_location where;
};

// What a purpose may read of one entity, compiled at load: the allow-list handed to the filter,
// the record rules (legal conditions first, always present), and the fields the rules read.
struct purpose_view {
    std::size_t entity_index = 0;
    std::vector<std::string> fields;  // as written, in order
    // Per-entity names of the purpose's consent / objection fields ("" = the purpose's own):
    // a CSV export flattens "consent.email" into "consent_email".
    std::string consent_field;
    std::string objection_field;
    filters::field_set allowed;
    filters::record_rules rules;
    std::vector<std::string> rule_fields;  // rules.needed_fields(): always selected upstream
    // Exports to another controller under consent: the rules above plus the recipient's own
    // consent field (R10, R11), per destination index. decide() picks these over `rules`.
    std::vector<std::pair<std::size_t, filters::record_rules>> disclosure_rules;
    // Kept fields written in a derived form (pseudonym, prefix, year, mask); the query guard lets
    // a client select them but never filter, sort or search on them (an oracle on the original).
    filters::transform_set transforms;
    filters::field_set transformed;
    source_location where;

    [[nodiscard]] const filters::record_rules& rules_for(std::size_t destination_index) const;
};

struct purpose {
    std::string id;
    std::string description;
    // The fideslang data use ("essential.service.operations", "marketing.communications.email"):
    // the legal rules derive from it, not from flags (R1–R4, R8, R13).
    std::string data_use;
    legal_basis basis = legal_basis::contract;
    subject_set subjects = 0;
    bool direct_marketing = false;  // derived from data_use (marketing.*, sales)
    std::optional<bool> direct_marketing_flag;  // as written: must agree with the data use (R13)
    marketing_channel channel = marketing_channel::none;
    std::string legal_reference;    // legal-obligation: the statute ("Belgian WIB 92 art. 320")
    std::string lia;                // legitimate-interest: the balancing test's reference (R6)
    art9_condition special_condition = art9_condition::none;
    // Soft opt-in (ePrivacy art. 13(2), Belgian CEL art. XII.13): e-mail/SMS marketing to
    // existing customers without consent, for own similar products, with an opt-out offered at
    // collection (R7). Each condition is declared by the DPO and checked against the purpose.
    bool soft_opt_in = false;
    bool own_similar_products = false;
    bool opt_out_at_collection = false;
    std::string consent_field;      // consent purposes: records without consent are dropped
    std::string objection_field;    // direct marketing: records with an objection are dropped
    std::string suppression_list;   // id; "" = none
    std::uint64_t max_records = 0;  // 0 = unlimited
    // How long the data is kept for this purpose (GDPR art. 30(1)(f)), as written: an ISO 8601
    // duration ("P2Y") or a sentence ("2 years after the end of the contract"); "" = not
    // declared. `retention_duration` holds the duration when it is one (config/retention.hpp).
    std::string retention;
    std::optional<retention_period> retention_duration;
    std::vector<condition_spec> evidence;    // pre-contract: the subject's request
    std::vector<condition_spec> conditions;  // custom require / exclude
    std::vector<transform_spec> transforms;
    std::vector<purpose_view> views;         // one per entity the purpose reads
    source_location where;

    [[nodiscard]] const purpose_view* find_view(std::size_t entity_index) const;
};

struct destination {
    std::string id;
    std::string description;
    destination_kind kind = destination_kind::internal;
    std::string organisation;
    std::vector<std::string> purposes;  // processor: the purposes it is contracted for
    std::string dpa_ref;                // processor: the art. 28 agreement's reference
    // processor: the agreement's last day (days since 1970-01-01), exports refused after it;
    // 0 = no end date.
    std::int64_t dpa_expires_day = 0;
    std::string dpa_expires;            // as written, YYYY-MM-DD
    std::string country;                // ISO 3166-1 alpha-2, upper case
    transfer_mechanism transfer = transfer_mechanism::none;
    [[nodiscard]] bool outside_eea() const;
    // A third party that uses what it receives for its own marketing (list broker, partner):
    // every export to it is refused, whatever the declared purpose.
    bool own_marketing = false;
    source_location where;

    [[nodiscard]] bool permits(std::string_view purpose_id) const;
};

// The window a grant's quota counts in: fixed calendar windows in UTC (an hour from :00, a day
// from 00:00, a month from its first day), not sliding ones.
enum class quota_period : std::uint8_t { hour, day, month };
[[nodiscard]] std::string_view to_string(quota_period p);

// What happens when a grant's hourly volume crosses its alert threshold.
enum class anomaly_action : std::uint8_t { alert, refuse };

struct grant {
    std::string purpose;
    std::vector<std::string> destinations;
    std::uint64_t max_records = 0;                 // 0 = unlimited
    // quota="N/period": at most N records delivered (after filtering) per client × purpose ×
    // destination in each window; 0 = no quota.
    std::uint64_t quota = 0;
    quota_period quota_window = quota_period::day;
    // valid-from / valid-until (RFC 3339, or a date: from its start / until its end, UTC), in
    // seconds since the epoch; nullopt = open. Outside the window: grant_not_valid.
    std::optional<std::int64_t> valid_from;
    std::optional<std::int64_t> valid_until;  // the last second the grant is valid
    std::string valid_from_text;              // as written
    std::string valid_until_text;
    // Volume alerts (per client × purpose, records per hour): volume-ceiling (absolute) and
    // volume-multiple (× the trailing median of the grant's hourly volumes); 0 = not set.
    std::uint64_t volume_ceiling = 0;
    double volume_multiple = 0;
    anomaly_action on_anomaly = anomaly_action::alert;
    std::size_t purpose_index = 0;                 // resolved at load
    std::vector<std::size_t> destination_indices;  // resolved at load
    source_location where;
};

struct client {
    std::string id;
    std::string description;
    std::vector<std::string> api_key_sha256;       // lower-case hex
    std::vector<std::string> certificate_subject;  // as the proxy renders a verified subject
    std::vector<std::string> certificate_sha256;   // lower-case hex, no colons
    std::optional<mode> client_mode;               // nullopt: the global mode
    // The rule pack for where the client's exports are used: "EU" (baseline), "BE", "DE", "FR".
    // DE treats satisfaction surveys as direct marketing (R14).
    std::string jurisdiction = "EU";
    std::vector<grant> grants;
    source_location where;
};

// The entries of one suppression list (people who must never be contacted for marketing). The
// proxy reads the file and calls load() once, before publishing the snapshot; until then every
// record is treated as suppressed (fail closed).
class suppression_entries {
  public:
    enum class match_kind : std::uint8_t { email, id };
    using digest = std::array<unsigned char, 32>;
    suppression_entries(std::string field, match_kind kind)
        : field_(std::move(field)), value_path_(field_ + ".value"), kind_(kind) {}

    // One entry per line: the SHA-256 (64 hex digits) of a normalised value, or the value itself,
    // which is hashed as it is read (only digests are kept in memory). Blank lines and lines
    // starting with '#' are skipped. Not thread-safe: call before the snapshot is shared.
    void load(std::string_view text);
    [[nodiscard]] bool loaded() const { return loaded_; }
    // The file's modification time when it was read (seconds since the epoch); 0 = unknown,
    // which max-age treats as stale.
    void set_modified(std::int64_t seconds) { modified_ = seconds; }
    [[nodiscard]] std::int64_t modified() const { return modified_; }
    [[nodiscard]] std::size_t size() const { return entries_.size(); }
    // True when any value of the record's field hashes to an entry, or when the list was never
    // loaded (fail closed).
    [[nodiscard]] bool suppresses(const filters::record_fields& record) const;
    [[nodiscard]] const std::string& field() const { return field_; }
    [[nodiscard]] match_kind kind() const { return kind_; }
    // The record paths matched: the field itself and "<field>.value" (a list of {"value": …}).
    [[nodiscard]] std::vector<std::string> read_paths() const { return {field_, value_path_}; }
    [[nodiscard]] bool reads(std::string_view path) const {
        return path == field_ || path == value_path_;
    }

    // Whether `d` is on the list. The list's digests are sorted and, being SHA-256 values, spread
    // evenly: the search starts where `d` would sit by its first bytes and widens from there (a
    // million entries: a probe or two near the guess instead of twenty across 32 MB); a list of
    // hex digests that are not spread evenly costs O(log n), as a binary search does.
    [[nodiscard]] bool listed(const digest& d) const;

    // The form that is hashed: surrounding white space trimmed; e-mail addresses lower-cased.
    [[nodiscard]] static std::string normalise(std::string_view value, match_kind kind);
    [[nodiscard]] static digest hash(std::string_view normalised);

  private:
    std::string field_;
    std::string value_path_;
    match_kind kind_;
    bool loaded_ = false;
    std::int64_t modified_ = 0;
    std::vector<digest> entries_;  // sorted SHA-256 digests of normalised values
};

struct suppression_list {
    std::string id;
    std::string file;   // resolved against the configuration's directory
    std::string field;  // record field matched against the list ("email", "id")
    // max-age: a direct-marketing export that uses the list is refused (suppression_list_stale)
    // when the file read is older than this (its modification time); 0 = no limit.
    std::int64_t max_age_seconds = 0;
    std::string max_age_text;  // as written ("24h")
    suppression_entries::match_kind match = suppression_entries::match_kind::email;
    std::shared_ptr<suppression_entries> entries;  // shared by copies of the policy
    source_location where;
};

// An id → index table built once at load (sorted), looked up without allocating.
class id_index {
  public:
    void build(std::vector<std::pair<std::string, std::size_t>> entries);
    [[nodiscard]] std::optional<std::size_t> find(std::string_view id) const;

  private:
    std::vector<std::pair<std::string, std::size_t>> entries_;
};

struct policy {
    mode global_mode = mode::enforce;
    std::vector<entity> entities;
    std::vector<purpose> purposes;
    std::vector<destination> destinations;
    std::vector<client> clients;
    std::vector<suppression_list> suppression_lists;

    // Lookup tables, built by the loader (build_indexes()).
    id_index entity_by_id;
    id_index purpose_by_id;
    id_index destination_by_id;
    id_index client_by_id;
    id_index client_by_key;          // api-key SHA-256 (lower hex) → client
    id_index client_by_subject;      // certificate subject → client
    id_index client_by_fingerprint;  // certificate SHA-256 (lower hex) → client

    void build_indexes();
    [[nodiscard]] const entity* find_entity(std::string_view id) const;
    [[nodiscard]] const purpose* find_purpose(std::string_view id) const;
    [[nodiscard]] const destination* find_destination(std::string_view id) const;
    [[nodiscard]] const client* find_client(std::string_view id) const;
    [[nodiscard]] const suppression_list* find_suppression_list(std::string_view id) const;
};

}  // namespace exportwall::config
