#include "config/policy_loader.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "config/rules.hpp"

namespace exportwall::config {
namespace {

constexpr std::array<std::string_view, 6> policy_elements{
    "entity", "purpose", "destination", "client", "suppression-list", "include"};

std::vector<std::string> split_words(std::string_view s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
        std::size_t j = i;
        while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
        if (j > i) out.emplace_back(s.substr(i, j - i));
        i = j;
    }
    return out;
}

bool valid_id(std::string_view s) {
    if (s.empty() || s.size() > 128) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
               c == ':';
    });
}

// Dotted field paths: no empty segment, no whitespace or control bytes.
bool valid_path(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos)
        return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u != 0x7f && c != ',' && c != '"' && c != '\'' && c != '<' && c != '>' &&
               c != '&';
    });
}

// "2027-03-31" → days since 1970-01-01, or nullopt when it is not a calendar date.
std::optional<std::int64_t> parse_day(std::string_view s) {
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
    auto number = [&s](std::size_t at, std::size_t len) -> std::optional<int> {
        int v = 0;
        auto [p, ec] = std::from_chars(s.data() + at, s.data() + at + len, v);
        if (ec != std::errc{} || p != s.data() + at + len) return std::nullopt;
        return v;
    };
    auto y = number(0, 4);
    auto m = number(5, 2);
    auto d = number(8, 2);
    if (!y || !m || !d) return std::nullopt;
    const std::chrono::year_month_day date{std::chrono::year{*y},
                                           std::chrono::month{static_cast<unsigned>(*m)},
                                           std::chrono::day{static_cast<unsigned>(*d)}};
    if (!date.ok()) return std::nullopt;
    return std::chrono::sys_days(date).time_since_epoch().count();
}

// RFC 3339 date-time ("2026-12-04T09:30:00Z", "…+01:00", fractions ignored) → seconds since
// the epoch; a plain date ("2026-12-04") is its first second, or with `end_of_day` its last.
std::optional<std::int64_t> parse_instant(std::string_view s, bool end_of_day) {
    if (s.size() == 10) {
        auto day = parse_day(s);
        if (!day) return std::nullopt;
        return *day * 86400 + (end_of_day ? 86399 : 0);
    }
    if (s.size() < 20 || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return std::nullopt;
    auto day = parse_day(s.substr(0, 10));
    auto two = [&s](std::size_t at) -> std::optional<int> {
        if (at + 2 > s.size() || !std::isdigit(static_cast<unsigned char>(s[at])) ||
            !std::isdigit(static_cast<unsigned char>(s[at + 1])))
            return std::nullopt;
        return (s[at] - '0') * 10 + (s[at + 1] - '0');
    };
    auto h = two(11);
    auto m = two(14);
    auto sec = two(17);
    if (!day || !h || !m || !sec || *h > 23 || *m > 59 || *sec > 60) return std::nullopt;
    std::size_t at = 19;
    if (s[at] == '.') {
        ++at;
        const std::size_t digits = at;
        while (at < s.size() && std::isdigit(static_cast<unsigned char>(s[at]))) ++at;
        if (at == digits) return std::nullopt;
    }
    if (at >= s.size()) return std::nullopt;
    std::int64_t offset = 0;
    if (s[at] == 'Z' || s[at] == 'z') {
        ++at;
    } else if (s[at] == '+' || s[at] == '-') {
        auto oh = two(at + 1);
        auto om = two(at + 4);
        if (!oh || !om || at + 3 >= s.size() || s[at + 3] != ':' || *oh > 23 || *om > 59)
            return std::nullopt;
        offset = (s[at] == '-' ? -1 : 1) * (*oh * 3600 + *om * 60);
        at += 6;
    } else {
        return std::nullopt;
    }
    if (at != s.size()) return std::nullopt;
    return *day * 86400 + *h * 3600 + *m * 60 + std::min(*sec, 59) - offset;
}

// "24h", "90m", "7d", "3600s" → seconds; nullopt unless a positive whole number with a unit.
std::optional<std::int64_t> parse_age(std::string_view v) {
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
    std::string_view unit(ptr, static_cast<std::size_t>(v.data() + v.size() - ptr));
    std::int64_t scale = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
    if (ec != std::errc{} || ptr == v.data() || scale == 0 || value <= 0 ||
        value > 3650 * 86400 / scale)
        return std::nullopt;
    return value * scale;
}

class policy_reader {
  public:
    policy_reader(policy& out, diagnostics& diag) : out_(out), diag_(diag) {}

    void read(std::span<const policy_source> sources) {
        // The root's mode is checked by the loader (config/loader.cpp): monitor is refused.
        // Entities first, from every file: purposes refer to them by index.
        for (const auto& source : sources) {
            use(source);
            for (auto n : source.root.children("entity")) read_entity(n);
        }
        entity_ids_.clear();
        for (std::size_t i = 0; i < out_.entities.size(); ++i)
            entity_ids_.emplace_back(out_.entities[i].id, i);
        for (const auto& source : sources) {
            use(source);
            for (auto n : source.root.children()) {
                if (n.type() != pugi::node_element) continue;
                std::string_view name = n.name();
                if (name == "purpose")
                    read_purpose(n);
                else if (name == "destination")
                    read_destination(n);
                else if (name == "client")
                    read_client(n);
                else if (name == "suppression-list")
                    read_suppression_list(n);
            }
        }
    }

  private:
    void use(const policy_source& source) {
        src_ptr_ = source.src;
        base_dir_ = source.base_dir;
    }

    void error(const pugi::xml_node& n, const pugi::xml_attribute& a, std::string message) {
        diag_.error(src_ptr_->locate(n, a), std::move(message));
    }

    std::string id_of(const pugi::xml_node& n) {
        auto a = n.attribute("id");
        if (!a) return {};
        if (!valid_id(a.value()))
            error(n, a,
                  "invalid id '" + std::string(a.value()) +
                      "' (letters, digits, '-', '_', '.', ':')");
        return a.value();
    }

    std::optional<bool> boolean(const pugi::xml_node& n, const char* name, bool fallback) {
        auto a = n.attribute(name);
        if (!a) return fallback;
        std::string_view v = a.value();
        if (v == "true") return true;
        if (v == "false") return false;
        error(n, a, std::string("attribute '") + name + "' must be true or false");
        return std::nullopt;
    }

    std::uint64_t count(const pugi::xml_node& n, const char* name) {
        auto a = n.attribute(name);
        if (!a) return 0;
        std::string_view v = a.value();
        std::uint64_t out = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
        if (ec != std::errc{} || p != v.data() + v.size() || out == 0) {
            error(n, a, std::string("attribute '") + name + "' must be a positive integer");
            return 0;
        }
        return out;
    }

    std::string path_attr(const pugi::xml_node& n, const char* name) {
        auto a = n.attribute(name);
        if (!a) return {};
        if (!valid_path(a.value()))
            error(n, a, "invalid field path '" + std::string(a.value()) + "'");
        return a.value();
    }

    // 64 hex digits, optionally with ':' between bytes (fingerprints as tools print them).
    std::string sha256_attr(const pugi::xml_node& n, const char* name) {
        auto a = n.attribute(name);
        std::string hex;
        for (char c : std::string_view(a.value())) {
            if (c == ':') continue;
            hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        }
        bool ok = hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
                      return std::isxdigit(static_cast<unsigned char>(c)) != 0;
                  });
        if (!ok) {
            error(n, a,
                  std::string("attribute '") + name + "' must be a SHA-256 in hex (64 digits)");
            return {};
        }
        return hex;
    }

    std::optional<std::size_t> entity_index(std::string_view id) const {
        for (const auto& [eid, i] : entity_ids_)
            if (eid == id) return i;
        return std::nullopt;
    }

    void read_entity(const pugi::xml_node& n) {
        src_ptr_->check_attributes(n, {"subject-field", "description", "collected-for", "describes"},
                              {"id"}, diag_);
        src_ptr_->check_children(n, {"subject", "field"}, diag_);
        entity e;
        e.id = id_of(n);
        e.subject_field = path_attr(n, "subject-field");
        e.collected_for = split_words(n.attribute("collected-for").value());
        if (auto a = n.attribute("describes")) {
            std::string_view v = a.value();
            if (v == "organisations")
                e.organisations = true;
            else if (v != "people")
                error(n, a, "describes must be people or organisations");
        }
        e.where = src_ptr_->locate(n);
        if (n.attribute("collected-for") && e.collected_for.empty())
            error(n, n.attribute("collected-for"), "collected-for lists no data use");
        for (auto s : n.children("subject")) {
            src_ptr_->check_attributes(s, {}, {"value", "type"}, diag_);
            src_ptr_->check_children(s, {}, diag_);
            auto t = parse_subject_type(s.attribute("type").value());
            if (s.attribute("type") && !t)
                error(s, s.attribute("type"),
                      "subject type must be customer, prospect or former-customer");
            e.subjects.push_back(
                {s.attribute("value").value(), t.value_or(subject_type::customer)});
        }
        for (auto f : n.children("field")) {
            src_ptr_->check_attributes(
                f, {"special", "description", "consent-channel", "consent-recipient"},
                {"path", "category"}, diag_);
            src_ptr_->check_children(f, {}, diag_);
            catalogue_field cf;
            cf.path = path_attr(f, "path");
            cf.category = f.attribute("category").value();
            cf.special = boolean(f, "special", false).value_or(false);
            if (auto a = f.attribute("consent-channel")) {
                auto ch = parse_marketing_channel(a.value());
                if (!ch || *ch == marketing_channel::none)
                    error(f, a, "consent-channel must be email, sms, phone or post");
                cf.consent_channel = ch.value_or(marketing_channel::none);
            }
            cf.consent_recipient = f.attribute("consent-recipient").value();
            cf.where = src_ptr_->locate(f);
            e.fields.push_back(std::move(cf));
        }
        std::vector<std::string> paths;
        paths.reserve(e.fields.size());
        for (const auto& f : e.fields) paths.push_back(f.path);
        e.catalogue = filters::field_set(std::move(paths));
        out_.entities.push_back(std::move(e));
    }

    void read_condition(const pugi::xml_node& c, std::vector<condition_spec>& into, bool exclude) {
        src_ptr_->check_attributes(c, {"equals", "in", "not-empty", "is-true", "is-set"},
                              {"entity", "field"}, diag_);
        src_ptr_->check_children(c, {}, diag_);
        condition_spec spec;
        spec.entity = c.attribute("entity").value();
        spec.condition.field = path_attr(c, "field");
        spec.condition.exclude = exclude;
        spec.where = src_ptr_->locate(c);
        int tests = 0;
        if (auto a = c.attribute("equals")) {
            ++tests;
            spec.condition.op = filters::condition_op::equals;
            spec.condition.values = {a.value()};
        }
        if (auto a = c.attribute("in")) {
            ++tests;
            spec.condition.op = filters::condition_op::in_set;
            spec.condition.values = split_words(a.value());
            if (spec.condition.values.empty()) error(c, a, "attribute 'in' lists no value");
        }
        for (auto [name, op] : {std::pair{"not-empty", filters::condition_op::not_empty},
                                std::pair{"is-true", filters::condition_op::is_true},
                                std::pair{"is-set", filters::condition_op::is_set}}) {
            if (!c.attribute(name)) continue;
            ++tests;
            spec.condition.op = op;
            if (!boolean(c, name, true).value_or(true))
                error(c, c.attribute(name),
                      std::string("attribute '") + name + "' can only be true; use <exclude>");
        }
        if (tests != 1) {
            diag_.error(spec.where, "<" + std::string(c.name()) +
                                        "> needs exactly one of equals, in, not-empty, is-true, "
                                        "is-set");
            return;
        }
        into.push_back(std::move(spec));
    }

    void read_purpose(const pugi::xml_node& n) {
        src_ptr_->check_attributes(
            n,
            {"description", "direct-marketing", "channel", "consent-field", "objection-field",
             "suppression-list", "max-records", "legal-reference", "lia", "art9-condition",
             "soft-opt-in", "own-similar-products", "opt-out-at-collection", "data-use",
             "retention"},
            {"id", "basis", "subjects"}, diag_);
        src_ptr_->check_children(n, {"fields", "request-evidence", "require", "exclude", "transform"},
                                 diag_);
        purpose p;
        p.id = id_of(n);
        p.description = n.attribute("description").value();
        p.where = src_ptr_->locate(n);
        if (auto a = n.attribute("basis")) {
            auto b = parse_legal_basis(a.value());
            if (!b)
                error(n, a,
                      "basis must be contract, pre-contract, consent, legitimate-interest or "
                      "legal-obligation");
            p.basis = b.value_or(legal_basis::contract);
        }
        if (auto a = n.attribute("subjects")) {
            for (const auto& w : split_words(a.value())) {
                auto t = parse_subject_type(w);
                if (!t)
                    error(n, a,
                          "unknown subject '" + w + "' (customer, prospect, former-customer)");
                else
                    p.subjects |= subject_bit(*t);
            }
        }
        p.data_use = n.attribute("data-use").value();
        if (n.attribute("direct-marketing"))
            p.direct_marketing_flag = boolean(n, "direct-marketing", false);
        p.legal_reference = n.attribute("legal-reference").value();
        p.lia = n.attribute("lia").value();
        if (auto a = n.attribute("art9-condition")) {
            auto c = parse_art9_condition(a.value());
            if (!c)
                error(n, a,
                      "art9-condition must be explicit-consent, employment-law, vital-interests, "
                      "made-public, legal-claims, substantial-public-interest, health-care, "
                      "public-health, archiving-research or official-authority");
            p.special_condition = c.value_or(art9_condition::none);
        }
        p.soft_opt_in = boolean(n, "soft-opt-in", false).value_or(false);
        p.own_similar_products = boolean(n, "own-similar-products", false).value_or(false);
        p.opt_out_at_collection = boolean(n, "opt-out-at-collection", false).value_or(false);
        if (auto a = n.attribute("channel")) {
            auto ch = parse_marketing_channel(a.value());
            if (!ch || *ch == marketing_channel::none)
                error(n, a, "channel must be email, sms, phone or post");
            p.channel = ch.value_or(marketing_channel::none);
        }
        p.consent_field = path_attr(n, "consent-field");
        p.objection_field = path_attr(n, "objection-field");
        p.suppression_list = n.attribute("suppression-list").value();
        p.max_records = count(n, "max-records");
        if (auto a = n.attribute("retention")) {
            p.retention = a.value();
            if (auto problem = retention_problem(p.retention); !problem.empty())
                error(n, a, "purpose '" + p.id + "': " + problem);
            else if (looks_like_duration(p.retention))
                p.retention_duration = parse_retention_period(p.retention);
        }
        for (auto c : n.children()) {
            if (c.type() != pugi::node_element) continue;
            std::string_view name = c.name();
            if (name == "fields")
                read_fields(c, p);
            else if (name == "request-evidence")
                read_condition(c, p.evidence, false);
            else if (name == "require")
                read_condition(c, p.conditions, false);
            else if (name == "exclude")
                read_condition(c, p.conditions, true);
            else if (name == "transform")
                read_transform(c, p);
        }
        out_.purposes.push_back(std::move(p));
    }

    // <transform entity="contact" field="address.postcode" kind="truncate" keep="2"/>
    void read_transform(const pugi::xml_node& t, purpose& p) {
        src_ptr_->check_attributes(t, {"keep"}, {"entity", "field", "kind"}, diag_);
        src_ptr_->check_children(t, {}, diag_);
        transform_spec spec;
        spec.entity = t.attribute("entity").value();
        spec.field = path_attr(t, "field");
        spec.where = src_ptr_->locate(t);
        std::string_view kind = t.attribute("kind").value();
        const bool needs_keep = kind == "truncate" || kind == "mask";
        if (kind == "pseudonymise")
            spec.kind = filters::transform_kind::pseudonymise;
        else if (kind == "truncate")
            spec.kind = filters::transform_kind::truncate_chars;
        else if (kind == "year")
            spec.kind = filters::transform_kind::year;
        else if (kind == "mask")
            spec.kind = filters::transform_kind::mask;
        else if (t.attribute("kind"))
            error(t, t.attribute("kind"), "kind must be pseudonymise, truncate, year or mask");
        if (needs_keep) {
            spec.keep = count(t, "keep");
            if (!t.attribute("keep"))
                diag_.error(spec.where, "<transform kind=\"" + std::string(kind) +
                                            "\"> needs keep (the characters kept)");
        } else if (t.attribute("keep")) {
            error(t, t.attribute("keep"), "keep belongs to kind truncate or mask");
        }
        p.transforms.push_back(std::move(spec));
    }

    void read_fields(const pugi::xml_node& f, purpose& p) {
        src_ptr_->check_attributes(f, {"consent-field", "objection-field"}, {"entity"}, diag_);
        purpose_view v;
        v.where = src_ptr_->locate(f);
        v.consent_field = path_attr(f, "consent-field");
        v.objection_field = path_attr(f, "objection-field");
        for (auto c : f.children()) {
            if (c.type() == pugi::node_element)
                diag_.error(src_ptr_->locate(c), "unknown element <" + std::string(c.name()) +
                                                "> in <fields> (list field paths as text)");
        }
        for (auto& w : split_words(f.text().get())) {
            if (!valid_path(w)) {
                diag_.error(v.where, "invalid field path '" + w + "' in <fields>");
                continue;
            }
            v.fields.push_back(std::move(w));
        }
        if (v.fields.empty()) diag_.error(v.where, "<fields> lists no field");
        auto a = f.attribute("entity");
        if (!a) return;
        auto idx = entity_index(a.value());
        if (!idx) {
            diag_.error(src_ptr_->locate(f, a), rule_prefix(legal_rule::references) + ": purpose '" +
                                               p.id + "' names unknown entity '" + a.value() + "'");
            return;
        }
        v.entity_index = *idx;
        p.views.push_back(std::move(v));
    }

    void read_destination(const pugi::xml_node& n) {
        src_ptr_->check_attributes(n,
                              {"organisation", "description", "purposes", "own-marketing",
                               "dpa-ref", "dpa-expires", "transfer-mechanism", "country"},
                              {"id", "kind"}, diag_);
        src_ptr_->check_children(n, {}, diag_);
        destination d;
        d.id = id_of(n);
        d.where = src_ptr_->locate(n);
        if (auto a = n.attribute("kind")) {
            auto k = parse_destination_kind(a.value());
            if (!k) error(n, a, "kind must be internal, processor or third-party");
            d.kind = k.value_or(destination_kind::third_party);
        }
        d.organisation = n.attribute("organisation").value();
        d.description = n.attribute("description").value();
        d.purposes = split_words(n.attribute("purposes").value());
        d.own_marketing = boolean(n, "own-marketing", false).value_or(false);
        d.dpa_ref = n.attribute("dpa-ref").value();
        if (auto a = n.attribute("dpa-expires")) {
            d.dpa_expires = a.value();
            auto day = parse_day(d.dpa_expires);
            if (!day)
                error(n, a, "dpa-expires must be a date, YYYY-MM-DD");
            else
                d.dpa_expires_day = *day;
        }
        if (auto a = n.attribute("country")) {
            std::string_view c = a.value();
            if (c.size() != 2 || !std::isupper(static_cast<unsigned char>(c[0])) ||
                !std::isupper(static_cast<unsigned char>(c[1])))
                error(n, a, "country must be an ISO 3166-1 alpha-2 code in capitals (BE, US)");
            d.country = c;
        }
        if (auto a = n.attribute("transfer-mechanism")) {
            auto m = parse_transfer_mechanism(a.value());
            if (!m) error(n, a, "transfer-mechanism must be adequacy, scc, bcr or derogation");
            d.transfer = m.value_or(transfer_mechanism::none);
        }
        out_.destinations.push_back(std::move(d));
    }

    void read_client(const pugi::xml_node& n) {
        src_ptr_->check_attributes(n, {"mode", "description", "jurisdiction"}, {"id"}, diag_);
        src_ptr_->check_children(n, {"api-key", "certificate", "grant"}, diag_);
        client c;
        c.id = id_of(n);
        c.description = n.attribute("description").value();
        c.where = src_ptr_->locate(n);
        if (auto a = n.attribute("jurisdiction")) {
            std::string_view j = a.value();
            if (j != "EU" && j != "BE" && j != "DE" && j != "FR")
                error(n, a, "jurisdiction must be EU, BE, DE or FR");
            c.jurisdiction = j;
        }
        if (auto a = n.attribute("mode")) {
            std::string_view v = a.value();
            if (v == "enforce")
                c.client_mode = mode::enforce;
            else if (v == "monitor")
                error(n, a, std::string(monitor_mode_refused));
            else
                error(n, a, "mode must be enforce");
        }
        for (auto k : n.children("api-key")) {
            src_ptr_->check_attributes(k, {"description"}, {"sha256"}, diag_);
            src_ptr_->check_children(k, {}, diag_);
            if (k.attribute("sha256")) {
                auto hex = sha256_attr(k, "sha256");
                if (!hex.empty()) c.api_key_sha256.push_back(std::move(hex));
            }
        }
        for (auto k : n.children("certificate")) {
            src_ptr_->check_attributes(k, {"subject", "sha256"}, {}, diag_);
            src_ptr_->check_children(k, {}, diag_);
            bool has_subject = static_cast<bool>(k.attribute("subject"));
            bool has_sha = static_cast<bool>(k.attribute("sha256"));
            if (has_subject == has_sha) {
                diag_.error(src_ptr_->locate(k), "<certificate> needs exactly one of subject, sha256");
                continue;
            }
            if (has_subject) {
                std::string subject = k.attribute("subject").value();
                if (subject.empty())
                    error(k, k.attribute("subject"), "certificate subject is empty");
                else
                    c.certificate_subject.push_back(std::move(subject));
            } else {
                auto hex = sha256_attr(k, "sha256");
                if (!hex.empty()) c.certificate_sha256.push_back(std::move(hex));
            }
        }
        for (auto g : n.children("grant")) {
            src_ptr_->check_attributes(g,
                                       {"max-records", "quota", "valid-from", "valid-until",
                                        "volume-ceiling", "volume-multiple", "on-anomaly"},
                                       {"purpose", "destinations"}, diag_);
            src_ptr_->check_children(g, {}, diag_);
            grant gr;
            gr.purpose = g.attribute("purpose").value();
            gr.destinations = split_words(g.attribute("destinations").value());
            gr.max_records = count(g, "max-records");
            read_grant_limits(g, gr);
            gr.where = src_ptr_->locate(g);
            if (g.attribute("destinations") && gr.destinations.empty())
                error(g, g.attribute("destinations"), "grant lists no destination");
            c.grants.push_back(std::move(gr));
        }
        out_.clients.push_back(std::move(c));
    }

    // quota, valid-from / valid-until and the volume alert of a <grant>.
    void read_grant_limits(const pugi::xml_node& g, grant& gr) {
        if (auto a = g.attribute("quota")) {
            std::string_view v = a.value();
            auto slash = v.find('/');
            std::uint64_t n = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + std::min(slash, v.size()), n);
            std::string_view period = slash == std::string_view::npos ? "" : v.substr(slash + 1);
            const bool number_ok = ec == std::errc{} && p == v.data() + slash && n > 0;
            if (period == "hour")
                gr.quota_window = quota_period::hour;
            else if (period == "day")
                gr.quota_window = quota_period::day;
            else if (period == "month")
                gr.quota_window = quota_period::month;
            if (!number_ok || (period != "hour" && period != "day" && period != "month"))
                error(g, a, "quota must be N/hour, N/day or N/month with N a positive integer");
            else
                gr.quota = n;
        }
        auto instant = [&](const char* name, bool end, std::optional<std::int64_t>& out,
                           std::string& text) {
            auto a = g.attribute(name);
            if (!a) return;
            text = a.value();
            out = parse_instant(text, end);
            if (!out)
                error(g, a,
                      std::string(name) +
                          " must be an RFC 3339 date-time (2026-12-04T09:30:00Z, "
                          "2026-12-04T10:30:00+01:00) or a date (2026-12-04)");
        };
        instant("valid-from", false, gr.valid_from, gr.valid_from_text);
        instant("valid-until", true, gr.valid_until, gr.valid_until_text);
        if (gr.valid_from && gr.valid_until && *gr.valid_until < *gr.valid_from)
            error(g, g.attribute("valid-until"), "valid-until is before valid-from");
        gr.volume_ceiling = count(g, "volume-ceiling");
        if (auto a = g.attribute("volume-multiple")) {
            std::string_view v = a.value();
            double m = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), m);
            if (ec != std::errc{} || p != v.data() + v.size() || !(m > 1.0) || m > 1e6)
                error(g, a, "volume-multiple must be a number above 1 (10 = ten times the median)");
            else
                gr.volume_multiple = m;
        }
        if (auto a = g.attribute("on-anomaly")) {
            std::string_view v = a.value();
            if (v == "alert")
                gr.on_anomaly = anomaly_action::alert;
            else if (v == "refuse")
                gr.on_anomaly = anomaly_action::refuse;
            else
                error(g, a, "on-anomaly must be alert or refuse");
            if (gr.volume_ceiling == 0 && gr.volume_multiple == 0)
                error(g, a, "on-anomaly needs volume-ceiling or volume-multiple");
        }
    }

    void read_suppression_list(const pugi::xml_node& n) {
        src_ptr_->check_attributes(n, {"match", "description", "max-age"}, {"id", "file", "field"},
                                   diag_);
        src_ptr_->check_children(n, {}, diag_);
        suppression_list l;
        l.id = id_of(n);
        l.where = src_ptr_->locate(n);
        l.field = path_attr(n, "field");
        std::filesystem::path file = n.attribute("file").value();
        if (!file.empty() && file.is_relative()) file = std::filesystem::path(base_dir_) / file;
        l.file = file.lexically_normal().string();
        if (auto a = n.attribute("match")) {
            std::string_view v = a.value();
            if (v == "email")
                l.match = suppression_entries::match_kind::email;
            else if (v == "id")
                l.match = suppression_entries::match_kind::id;
            else
                error(n, a, "match must be email or id");
        }
        if (auto a = n.attribute("max-age")) {
            l.max_age_text = a.value();
            auto age = parse_age(l.max_age_text);
            if (!age)
                error(n, a, "max-age must be a positive age such as 3600s, 90m, 24h or 7d");
            else
                l.max_age_seconds = *age;
        }
        out_.suppression_lists.push_back(std::move(l));
    }

    policy& out_;
    diagnostics& diag_;
    const xml_source* src_ptr_ = nullptr;
    std::string base_dir_;
    std::vector<std::pair<std::string, std::size_t>> entity_ids_;
};

}  // namespace

bool is_policy_element(std::string_view name) {
    return std::find(policy_elements.begin(), policy_elements.end(), name) != policy_elements.end();
}

std::vector<load_error> load_suppression_lists(const policy& rules) {
    std::vector<load_error> errors;
    for (const auto& l : rules.suppression_lists) {
        if (!l.entries) continue;
        std::ifstream in(l.file, std::ios::binary);
        if (!in) {
            errors.push_back(
                {l.where, "cannot read suppression list '" + l.id + "' from " + l.file});
            continue;
        }
        // The modification time is read before the content: a file replaced in between looks
        // older than what was read, never fresher (max-age fails closed).
        std::error_code ec;
        const auto mtime = std::filesystem::last_write_time(l.file, ec);
        std::ostringstream text;
        text << in.rdbuf();
        l.entries->load(text.str());
        if (!ec) {
            const auto sys = std::chrono::file_clock::to_sys(mtime);
            l.entries->set_modified(
                std::chrono::duration_cast<std::chrono::seconds>(sys.time_since_epoch()).count());
        }
    }
    return errors;
}

void load_policy(const xml_source& src, const pugi::xml_node& root, const settings& net,
                 const std::string& base_dir, policy& out, diagnostics& diag) {
    const policy_source source{&src, root, base_dir};
    load_policy(std::span<const policy_source>(&source, 1), net, out, diag);
}

void load_policy(std::span<const policy_source> sources, const settings& net, policy& out,
                 diagnostics& diag) {
    std::size_t before = diag.errors().size();
    policy_reader(out, diag).read(sources);
    // The legal rules need a well-formed model; syntax errors are reported first on their own.
    if (diag.errors().size() != before) return;
    check_and_compile(out, net, diag);
}

void check_policy_root(const xml_source& src, const pugi::xml_node& root, diagnostics& diag) {
    src.check_attributes(root, {"xmlns:xsi", "xsi:noNamespaceSchemaLocation", "description"},
                         {"version"}, diag);
    if (auto v = root.attribute("version"); v && std::string_view(v.value()) != "1")
        diag.error(src.locate(root, v), "unsupported policy version (this build reads 1)");
    for (auto n : root.children()) {
        if (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata) {
            std::string_view t = n.value();
            if (t.find_first_not_of(" \t\r\n") != std::string_view::npos)
                diag.error(src.locate(root), "<policy> takes no text content");
            continue;
        }
        if (n.type() != pugi::node_element) continue;
        std::string_view name = n.name();
        if (name == "include")
            diag.error(src.locate(n), "an included policy file includes nothing itself");
        else if (!is_policy_element(name))
            diag.error(src.locate(n),
                       "unknown element <" + std::string(name) +
                           "> in <policy>: it holds entity, purpose, destination, client and "
                           "suppression-list only (the network belongs to the main file)");
    }
}

void read_includes(const xml_source& src, const pugi::xml_node& root, const std::string& base_dir,
                   std::vector<std::unique_ptr<xml_source>>& owned,
                   std::vector<policy_source>& sources, std::string& material, diagnostics& diag) {
    std::vector<std::string> seen;
    for (auto n : root.children("include")) {
        src.check_attributes(n, {}, {"file"}, diag);
        src.check_children(n, {}, diag);
        std::filesystem::path file = n.attribute("file").value();
        if (file.empty()) continue;
        if (file.is_relative()) file = std::filesystem::path(base_dir) / file;
        const std::string path = file.lexically_normal().string();
        if (std::find(seen.begin(), seen.end(), path) != seen.end()) {
            diag.error(src.locate(n, n.attribute("file")), "policy file " + path + " is included twice");
            continue;
        }
        seen.push_back(path);
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            diag.error(src.locate(n, n.attribute("file")), "cannot read the included policy " + path);
            continue;
        }
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        material += std::to_string(text.size());
        material.push_back(':');
        material += text;
        auto inc = std::make_unique<xml_source>(path, std::move(text));
        if (!inc->parse(diag)) continue;
        auto inc_root = inc->document().document_element();
        if (std::string_view(inc_root.name()) != "policy") {
            diag.error(inc->locate(inc_root),
                       "an included file's root element must be <policy version=\"1\">");
            continue;
        }
        check_policy_root(*inc, inc_root, diag);
        auto dir = std::filesystem::path(path).parent_path().string();
        sources.push_back({inc.get(), inc_root, dir.empty() ? "." : dir});
        owned.push_back(std::move(inc));
    }
}

}  // namespace exportwall::config
