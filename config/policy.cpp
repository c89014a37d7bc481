#include "config/policy.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <limits>
#include <span>

#include "common/hex.hpp"

namespace exportwall::config {
namespace {

constexpr std::array<std::string_view, 5> basis_names{"contract", "pre-contract", "consent",
                                                      "legitimate-interest", "legal-obligation"};
constexpr std::array<std::string_view, 3> subject_names{"customer", "prospect", "former-customer"};
constexpr std::array<std::string_view, 5> channel_names{"none", "email", "sms", "phone", "post"};
constexpr std::array<std::string_view, 3> kind_names{"internal", "processor", "third-party"};
constexpr std::array<std::string_view, 11> art9_names{"none",
                                                      "explicit-consent",
                                                      "employment-law",
                                                      "vital-interests",
                                                      "made-public",
                                                      "legal-claims",
                                                      "substantial-public-interest",
                                                      "health-care",
                                                      "public-health",
                                                      "archiving-research",
                                                      "official-authority"};
constexpr std::array<std::string_view, 5> transfer_names{"none", "adequacy", "scc", "bcr",
                                                         "derogation"};

bool in_sorted(std::span<const std::string_view> codes, std::string_view code) {
    return std::binary_search(codes.begin(), codes.end(), code);
}

template <typename E, std::size_t N>
std::optional<E> parse_name(const std::array<std::string_view, N>& names, std::string_view s) {
    for (std::size_t i = 0; i < N; ++i)
        if (names[i] == s) return static_cast<E>(i);
    return std::nullopt;
}

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

}  // namespace

std::string_view to_string(mode m) { return m == mode::monitor ? "monitor" : "enforce"; }
std::string_view to_string(legal_basis b) { return basis_names[static_cast<std::size_t>(b)]; }
std::string_view to_string(subject_type t) { return subject_names[static_cast<std::size_t>(t)]; }
std::string_view to_string(marketing_channel c) {
    return channel_names[static_cast<std::size_t>(c)];
}
std::string_view to_string(quota_period p) {
    switch (p) {
        case quota_period::hour:
            return "hour";
        case quota_period::day:
            return "day";
        case quota_period::month:
            return "month";
    }
    return "day";
}

std::string_view to_string(destination_kind k) { return kind_names[static_cast<std::size_t>(k)]; }

std::optional<legal_basis> parse_legal_basis(std::string_view s) {
    return parse_name<legal_basis>(basis_names, s);
}
std::optional<subject_type> parse_subject_type(std::string_view s) {
    return parse_name<subject_type>(subject_names, s);
}
std::optional<marketing_channel> parse_marketing_channel(std::string_view s) {
    return parse_name<marketing_channel>(channel_names, s);
}
std::optional<destination_kind> parse_destination_kind(std::string_view s) {
    return parse_name<destination_kind>(kind_names, s);
}
std::string_view to_string(art9_condition c) { return art9_names[static_cast<std::size_t>(c)]; }
std::optional<art9_condition> parse_art9_condition(std::string_view s) {
    auto c = parse_name<art9_condition>(art9_names, s);
    if (c == art9_condition::none) return std::nullopt;
    return c;
}
std::string_view to_string(transfer_mechanism m) {
    return transfer_names[static_cast<std::size_t>(m)];
}
std::optional<transfer_mechanism> parse_transfer_mechanism(std::string_view s) {
    auto m = parse_name<transfer_mechanism>(transfer_names, s);
    if (m == transfer_mechanism::none) return std::nullopt;
    return m;
}

bool is_eea_country(std::string_view code) {
    static constexpr std::array<std::string_view, 30> eea{
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
        "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK"};
    return in_sorted(eea, code);
}

bool has_adequacy_decision(std::string_view code) {
    // Andorra, Argentina, Brazil (2025), Canada (commercial), Switzerland, the Faroe Islands,
    // the United Kingdom, Guernsey, Israel, the Isle of Man, Jersey, Japan, South Korea, New
    // Zealand, the United States (DPF-certified organisations), Uruguay.
    static constexpr std::array<std::string_view, 16> adequate{
        "AD", "AR", "BR", "CA", "CH", "FO", "GB", "GG", "IL", "IM", "JE", "JP", "KR", "NZ", "US",
        "UY"};
    return in_sorted(adequate, code);
}

bool is_criminal_category(std::string_view category) {
    constexpr std::string_view p = "user.criminal_history";
    return category.substr(0, p.size()) == p && (category.size() == p.size() || category[p.size()] == '.');
}

bool destination::outside_eea() const { return !country.empty() && !is_eea_country(country); }

const filters::record_rules& purpose_view::rules_for(std::size_t destination_index) const {
    for (const auto& [d, r] : disclosure_rules)
        if (d == destination_index) return r;
    return rules;
}

bool is_special_category(std::string_view category) {
    // fideslang categories that fall under GDPR art. 9 (art. 10 for criminal records is
    // is_criminal_category).
    static constexpr std::array<std::string_view, 8> prefixes{
        "user.health_and_medical",
        "user.biometric",
        "user.authorization.biometric",
        "user.demographic.political_opinion",
        "user.demographic.race_ethnicity",
        "user.demographic.religious_belief",
        "user.demographic.sexual_orientation",
        "user.genetic",
    };
    for (auto p : prefixes) {
        if (category.size() >= p.size() && category.substr(0, p.size()) == p &&
            (category.size() == p.size() || category[p.size()] == '.'))
            return true;
    }
    return false;
}

const catalogue_field* entity::find_field(std::string_view path) const {
    if (!field_slots.empty()) {
        const std::size_t mask = field_slots.size() - 1;
        for (std::size_t i = std::hash<std::string_view>{}(path)&mask;; i = (i + 1) & mask) {
            const std::uint32_t at = field_slots[i];
            if (at == 0) break;
            if (at <= fields.size() && fields[at - 1].path == path) return &fields[at - 1];
        }
    }
    auto it =
        std::lower_bound(fields.begin(), fields.end(), path,
                         [](const catalogue_field& f, std::string_view p) { return f.path < p; });
    return it != fields.end() && it->path == path ? &*it : nullptr;
}

void entity::index_fields() {
    field_slots.clear();
    if (fields.empty() || fields.size() >= std::numeric_limits<std::uint32_t>::max() / 4) return;
    std::size_t slots = 1;
    while (slots < 2 * fields.size()) slots *= 2;
    field_slots.assign(slots, 0);
    const std::size_t mask = slots - 1;
    for (std::size_t f = 0; f < fields.size(); ++f) {
        std::size_t i = std::hash<std::string_view>{}(fields[f].path) & mask;
        while (field_slots[i] != 0) i = (i + 1) & mask;
        field_slots[i] = static_cast<std::uint32_t>(f + 1);
    }
}

namespace {
const catalogue_field* first_of_category(const entity& e, std::string_view category) {
    if (e.organisations) return nullptr;
    for (const auto& f : e.fields)
        if (f.category == category) return &f;
    return nullptr;
}
}  // namespace

const catalogue_field* entity::subject_id_field() const {
    return first_of_category(*this, "user.unique_id");
}

const catalogue_field* entity::subject_email_field() const {
    return first_of_category(*this, "user.contact.email");
}

const purpose_view* purpose::find_view(std::size_t entity_index) const {
    for (const auto& v : views)
        if (v.entity_index == entity_index) return &v;
    return nullptr;
}

bool destination::permits(std::string_view purpose_id) const {
    return std::find(purposes.begin(), purposes.end(), purpose_id) != purposes.end();
}

std::string suppression_entries::normalise(std::string_view value, match_kind kind) {
    std::string out(trim(value));
    if (kind == match_kind::email) std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

suppression_entries::digest suppression_entries::hash(std::string_view normalised) {
    digest d{};
    // SHA-256 cannot fail short of memory exhaustion; a zero digest then matches nothing a list
    // holds only by a 2^-256 chance, and the record is treated as not listed. common::sha256
    // keeps a digest context per thread: every record a marketing export keeps is hashed here.
    if (!common::sha256(normalised, d)) d.fill(0);
    return d;
}

void suppression_entries::load(std::string_view text) {
    entries_.clear();
    while (!text.empty()) {
        auto nl = text.find('\n');
        auto line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (line.empty() || line.front() == '#') continue;
        digest d{};
        // 64 hex digits (either case) are already the SHA-256 of a normalised value (`exportwall
        // hash-suppression`); anything else is a value to normalise and hash.
        if (!common::from_hex(line, d.data(), d.size())) d = hash(normalise(line, kind_));
        entries_.push_back(d);
    }
    std::sort(entries_.begin(), entries_.end());
    entries_.erase(std::unique(entries_.begin(), entries_.end()), entries_.end());
    loaded_ = true;
}

bool suppression_entries::listed(const digest& d) const {
    const std::size_t n = entries_.size();
    if (n == 0) return false;
    // Where `d` would sit if the digests were spread evenly: its first four bytes (big-endian,
    // so in the list's order) scaled to the list's length.
    std::uint64_t head = 0;
    for (std::size_t k = 0; k < 4; ++k) head = head << 8 | d[k];
    constexpr std::uint64_t four_bytes = std::uint64_t{1} << 32;
    const std::size_t guess = n < four_bytes ? static_cast<std::size_t>((head * n) >> 32) : n / 2;
    const auto at = [&](std::size_t i) {
        return entries_.begin() + static_cast<std::ptrdiff_t>(i);
    };
    if (entries_[guess] == d) return true;
    // Steps of 1, 2, 4 … away from the guess until a digest on the far side of `d` brackets it,
    // then a binary search between the last two steps: a digest a few places from its guess
    // costs a few probes; a skewed list, O(log n) as a plain binary search.
    std::size_t step = 1;
    if (entries_[guess] < d) {
        std::size_t below = guess;  // entries_[below] < d
        while (step < n - guess && entries_[guess + step] < d) {
            below = guess + step;
            step *= 2;
        }
        const std::size_t above = std::min(n, guess + step + 1);  // past any digest >= d there
        return std::binary_search(at(below + 1), at(above), d);
    }
    std::size_t above = guess;  // d < entries_[above]
    while (step <= guess && d < entries_[guess - step]) {
        above = guess - step;
        step *= 2;
    }
    const std::size_t below = step <= guess ? guess - step : 0;  // entries_[below] <= d, or 0
    return std::binary_search(at(below), at(above), d);
}

bool suppression_entries::suppresses(const filters::record_fields& record) const {
    if (!loaded_) return true;  // fail closed: a list nobody loaded suppresses everyone
    // Every occurrence of the field counts: a record listing two addresses is suppressed when
    // either is on the list, and so does the "value" member of a list of objects (Pipedrive's
    // `email: [{"value": …, "primary": true}]`).
    // The normalised form in a buffer of this thread's, kept between records (no allocation per
    // record): normalise() as it would write it.
    thread_local std::string normalised;
    for (const auto& [path, value] : record.values()) {
        if (!reads(path)) continue;
        auto v = trim(value);
        if (v.empty() || v == "null") continue;
        normalised.assign(v);
        if (kind_ == match_kind::email)
            std::transform(normalised.begin(), normalised.end(), normalised.begin(), lower);
        if (listed(hash(normalised))) return true;
    }
    return false;
}

void id_index::build(std::vector<std::pair<std::string, std::size_t>> entries) {
    entries_ = std::move(entries);
    std::sort(entries_.begin(), entries_.end());
}

std::optional<std::size_t> id_index::find(std::string_view id) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), id,
                               [](const std::pair<std::string, std::size_t>& e,
                                  std::string_view k) { return e.first < k; });
    if (it == entries_.end() || it->first != id) return std::nullopt;
    return it->second;
}

void policy::build_indexes() {
    std::vector<std::pair<std::string, std::size_t>> v;
    auto build = [&v](id_index& idx, const auto& items) {
        v.clear();
        for (std::size_t i = 0; i < items.size(); ++i) v.emplace_back(items[i].id, i);
        idx.build(v);
    };
    build(entity_by_id, entities);
    build(purpose_by_id, purposes);
    build(destination_by_id, destinations);
    build(client_by_id, clients);
    auto build_identity = [this, &v](id_index& idx, std::vector<std::string> client::*member) {
        v.clear();
        for (std::size_t i = 0; i < clients.size(); ++i)
            for (const auto& k : clients[i].*member) v.emplace_back(k, i);
        idx.build(v);
    };
    build_identity(client_by_key, &client::api_key_sha256);
    build_identity(client_by_subject, &client::certificate_subject);
    build_identity(client_by_fingerprint, &client::certificate_sha256);
}

const entity* policy::find_entity(std::string_view id) const {
    auto i = entity_by_id.find(id);
    return i ? &entities[*i] : nullptr;
}
const purpose* policy::find_purpose(std::string_view id) const {
    auto i = purpose_by_id.find(id);
    return i ? &purposes[*i] : nullptr;
}
const destination* policy::find_destination(std::string_view id) const {
    auto i = destination_by_id.find(id);
    return i ? &destinations[*i] : nullptr;
}
const client* policy::find_client(std::string_view id) const {
    auto i = client_by_id.find(id);
    return i ? &clients[*i] : nullptr;
}
const suppression_list* policy::find_suppression_list(std::string_view id) const {
    for (const auto& l : suppression_lists)
        if (l.id == id) return &l;
    return nullptr;
}

}  // namespace exportwall::config
