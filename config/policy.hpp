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
#include <vector>

#include "config/settings.hpp"
#include "filters/field_set.hpp"
#include "filters/record_rules.hpp"

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

// One field of an entity's catalogue. Paths are dotted and relative to the route's field root.
struct catalogue_field {
    std::string path;      // "email", "address.city"
    std::string category;  // fideslang data category, "user.contact.email"
    bool special = false;  // art. 9 special category (flag or category prefix)
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
    std::string subject_field;  // field whose value tells the subject type; "" = none
    std::vector<subject_value> subjects;
    std::vector<catalogue_field> fields;  // sorted by path after load
    filters::field_set catalogue;         // every field's path (the query guard names them)
    source_location where;

    [[nodiscard]] const catalogue_field* find_field(std::string_view path) const;
};

// A configured require / exclude condition or request evidence, as written.
struct condition_spec {
    std::string entity;
    filters::record_condition condition;  // reason: condition or no_request_evidence
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
    source_location where;
};

struct purpose {
    std::string id;
    std::string description;
    legal_basis basis = legal_basis::contract;
    subject_set subjects = 0;
    bool direct_marketing = false;
    marketing_channel channel = marketing_channel::none;
    std::string consent_field;      // consent purposes: records without consent are dropped
    std::string objection_field;    // direct marketing: records with an objection are dropped
    std::string suppression_list;   // id; "" = none
    std::uint64_t max_records = 0;  // 0 = unlimited
    std::vector<condition_spec> evidence;    // pre-contract: the subject's request
    std::vector<condition_spec> conditions;  // custom require / exclude
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
    // A third party that uses what it receives for its own marketing (list broker, partner):
    // every export to it is refused, whatever the declared purpose.
    bool own_marketing = false;
    source_location where;

    [[nodiscard]] bool permits(std::string_view purpose_id) const;
};

struct grant {
    std::string purpose;
    std::vector<std::string> destinations;
    std::uint64_t max_records = 0;                 // 0 = unlimited
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
        : field_(std::move(field)), kind_(kind) {}

    // One entry per line: the SHA-256 (64 hex digits) of a normalised value, or the value itself,
    // which is hashed as it is read (only digests are kept in memory). Blank lines and lines
    // starting with '#' are skipped. Not thread-safe: call before the snapshot is shared.
    void load(std::string_view text);
    [[nodiscard]] bool loaded() const { return loaded_; }
    [[nodiscard]] std::size_t size() const { return entries_.size(); }
    // True when any value of the record's field hashes to an entry, or when the list was never
    // loaded (fail closed).
    [[nodiscard]] bool suppresses(const filters::record_fields& record) const;
    [[nodiscard]] const std::string& field() const { return field_; }
    [[nodiscard]] match_kind kind() const { return kind_; }

    // The form that is hashed: surrounding white space trimmed; e-mail addresses lower-cased.
    [[nodiscard]] static std::string normalise(std::string_view value, match_kind kind);
    [[nodiscard]] static digest hash(std::string_view normalised);

  private:
    std::string field_;
    match_kind kind_;
    bool loaded_ = false;
    std::vector<digest> entries_;  // sorted SHA-256 digests of normalised values
};

struct suppression_list {
    std::string id;
    std::string file;   // resolved against the configuration's directory
    std::string field;  // record field matched against the list ("email", "id")
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
