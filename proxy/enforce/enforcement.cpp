#include "proxy/enforce/enforcement.hpp"

#include "common/ascii.hpp"
#include "common/hex.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <chrono>

#include "filters/filter_shelf.hpp"

namespace exportwall::proxy {
namespace {

std::string_view field(std::span<const header_field> fields, std::string_view name) {
    for (const auto& f : fields)
        if (common::iequals_ascii(f.name, name)) return f.value;
    return {};
}

std::string join(const std::vector<std::string>& names, std::string_view sep) {
    std::string out;
    for (const auto& n : names) {
        if (!out.empty()) out += sep;
        out += n;
    }
    return out;
}

}  // namespace

std::string bearer_key_sha256(std::string_view authorization) {
    auto space = authorization.find(' ');
    if (space == std::string_view::npos || !common::iequals_ascii(authorization.substr(0, space), "bearer"))
        return {};
    auto key = authorization.substr(space + 1);
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
    if (key.empty()) return {};
    return common::sha256_hex(key);
}

// One export's subject indexing: the keys' digests go to the collector as the filter decides
// records. A record nested inside a main record waits (tentative) until the main record is
// decided: kept, it is delivered with it; dropped, it is not.
struct export_case::subject_indexing {
    std::shared_ptr<const audit::subject_hasher> hasher;
    audit::subject_collector collector;

    subject_indexing(std::shared_ptr<const audit::subject_hasher> h,
                     std::shared_ptr<audit::subject_index_file> file, std::string_view id)
        : hasher(std::move(h)), collector(std::move(file), id, hasher) {}

    enum class role : std::uint8_t { main, nested_in_record, nested_in_document };

    // What each of the rules' subject fields (record_rules::subject_fields, by index) is: the
    // entity's id, its e-mail address, or neither. Decided once per filter rather than once per
    // record; views into the configuration, which the export holds for its whole life.
    enum class key_kind : std::uint8_t { none, id, email };
    struct subject_paths {
        std::string_view entity;
        std::vector<key_kind> kinds;
    };
    static subject_paths paths_of(const config::entity& e, const std::vector<std::string>& fields) {
        subject_paths p{e.id, {}};
        const auto* id = e.subject_id_field();
        const auto* email = e.subject_email_field();
        for (const auto& path : fields) {
            if (id != nullptr && path == id->path) {
                p.kinds.push_back(key_kind::id);
            } else if (email != nullptr && path == email->path) {
                p.kinds.push_back(key_kind::email);
            } else {
                p.kinds.push_back(key_kind::none);
            }
        }
        return p;
    }

    // True when normalise() would return `value` unchanged: no byte at either end that trimming
    // could remove (std::isspace; bytes past ASCII are left to it, whatever the locale) and, for
    // an address, no byte lower-casing could change (A-Z; bytes past ASCII go the long way).
    [[gnu::always_inline]] static bool normalised(std::string_view value, bool email) {
        auto plain_end = [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return u > 0x20 && u < 0x7f;
        };
        if (value.empty() || !plain_end(value.front()) || !plain_end(value.back())) return false;
        return !email || common::lower_ascii_only(value);
    }

    // The record's subject keys, normalised as the suppression list normalises them, each
    // handed to `take` (which copies what it keeps). A key without a value (absent, null, empty)
    // adds nothing.
    template <typename Take>
    void keys(const subject_paths& p, const filters::record_fields& f, Take take) {
        using kind = config::suppression_entries::match_kind;
        for (const auto [index, value] : f.subjects()) {
            const key_kind k = index < p.kinds.size() ? p.kinds[index] : key_kind::none;
            if (k == key_kind::none || value == "null") continue;
            const bool is_email = k == key_kind::email;
            // Most values are normalised already: taken where they are, without a copy.
            std::string_view v = value;
            if (!normalised(value, is_email)) {
                copy_ = config::suppression_entries::normalise(value,
                                                               is_email ? kind::email : kind::id);
                v = copy_;
            }
            if (v.empty()) continue;
            take(audit::subject_hasher::keyed_value{is_email, p.entity, v});
        }
    }

    // With a quota, the keys handed over after each main record kept since the last write to
    // the client (the filter's record marks, one for one), and before the first of them: a cut
    // after the n-th mark takes back the keys of the records after it.
    bool track = false;
    std::vector<std::uint64_t> marks;
    std::uint64_t window = 0;

    // `own_keys`: false for a main entity of organisations (no person of its own; it commits or
    // discards the persons nested in it, and marks where it ends).
    std::function<void(const filters::record_fields&, bool)> reporter(
        const config::entity& e, const std::vector<std::string>& fields, role r,
        bool own_keys = true) {
        return [this, p = paths_of(e, fields), r, own_keys](const filters::record_fields& f,
                                                            bool kept) {
            // Delivered keys queue in the collector, digested eight at a time; a nested record's
            // wait as digests until its main record is decided.
            auto deliver = [this](const audit::subject_hasher::keyed_value& k) {
                collector.add_key(k);
            };
            switch (r) {
                case role::main:
                    if (!kept) {
                        collector.discard();
                        return;
                    }
                    collector.commit();
                    if (own_keys) keys(p, f, deliver);
                    if (track) marks.push_back(collector.taken());
                    return;
                case role::nested_in_record:
                    if (kept) {
                        keys(p, f, [this](const audit::subject_hasher::keyed_value& k) {
                            std::uint64_t d = 0;
                            hasher->keys({&k, 1}, {&d, 1});
                            collector.add_tentative(d);
                        });
                    }
                    return;
                case role::nested_in_document:
                    if (kept) keys(p, f, deliver);
                    return;
            }
        };
    }

  private:
    // The normalised copy of a value that was not (its storage kept between records).
    std::string copy_;
};

export_case::~export_case() {
    // What the filter learnt about the spec's paths serves the next export of it on this thread
    // (filters/filter_shelf.hpp); a filter that did not finish cleanly hands on nothing.
    if (filter_) filters::remember(*filter_);
}

void export_case::index_subjects(std::shared_ptr<const audit::subject_hasher> hasher,
                                 std::shared_ptr<audit::subject_index_file> file) {
    if (!hasher || !file) return;
    subjects_ = std::make_unique<subject_indexing>(std::move(hasher), std::move(file), audit_id_);
}

void export_case::attach_subjects(filters::filter_spec& spec) const {
    if (!subjects_) return;
    using role = subject_indexing::role;
    const auto* main_entity = config_->rules.find_entity(route_.entity);
    bool tentative = false;  // a nested record waits on its main record's decision
    for (std::size_t i = 0; i < spec.nested.size() && i < route_.nested.size(); ++i) {
        const auto* e = config_->rules.find_entity(route_.nested[i].entity);
        if (e == nullptr || e->organisations || !spec.nested[i].keep) continue;
        tentative = tentative || spec.nested[i].in_record;
        spec.nested[i].rules.decided = subjects_->reporter(
            *e, spec.nested[i].rules.subject_fields,
            spec.nested[i].in_record ? role::nested_in_record : role::nested_in_document);
    }
    if (main_entity != nullptr) {
        spec.rules.decided = subjects_->reporter(*main_entity, spec.rules.subject_fields,
                                                 role::main, !main_entity->organisations);
        // A dropped main record discards its nested records' waiting digests; with none, it
        // has nothing to do.
        spec.rules.decided_kept_only = !tentative;
    }
}

export_case::export_case(std::shared_ptr<const config::configuration> config,
                         const config::route& route, std::string_view method,
                         const normalised_target& target, std::span<const header_field> headers,
                         const peer_identity& peer, std::string remote,
                         std::string_view body, bool body_present, bool body_pending)
    : config_(std::move(config)),
      route_(route),
      method_(method),
      path_(target.path),
      query_(target.query),
      remote_(std::move(remote)),
      audit_id_(audit::new_record_id()),
      time_(audit_time_now()) {
    std::vector<std::string_view> purposes;
    std::vector<std::string_view> destinations;
    std::string key_hash;
    int authorizations = 0;
    for (const auto& f : headers) {
        if (common::iequals_ascii(f.name, "x-export-purpose")) purposes.push_back(f.value);
        if (common::iequals_ascii(f.name, "x-export-destination")) destinations.push_back(f.value);
        if (common::iequals_ascii(f.name, "authorization")) {
            ++authorizations;
            key_hash = bearer_key_sha256(f.value);
            // A value that is not a bearer key is a credential we cannot check: it must not
            // fall back to "no key" and let a certificate alone decide.
            if (key_hash.empty()) key_hash = "invalid";
        }
    }
    if (authorizations > 1) key_hash = "invalid";
    config::request_facts facts;
    facts.route_id = route_.id;
    facts.method = method_;
    facts.path = path_;
    facts.query = query_;
    facts.body = body;
    facts.body_present = body_present;
    facts.body_pending = body_pending;
    facts.credentials.api_key_sha256 = key_hash;
    if (peer.verified) {
        facts.credentials.certificate_subject = peer.subject;
        facts.credentials.certificate_sha256 = peer.fingerprint;
    }
    facts.purpose_headers = purposes;
    facts.destination_headers = destinations;
    facts.remote = remote_;
    decision_ = config::decide(*config_, facts);
    // A page reached through a sealed link continues its export; any other starts one.
    chain_ = decision_.chain ? *decision_.chain : config::new_continuation_chain();
    // The candidate policy decides the same request beside it: audited, never enforced.
    if (config_->shadow)
        shadow_ = config::decide(*config_->shadow, config_->net, facts, &config_->continuation);
}

bool export_case::refused() const { return !decision_.allowed_export() && !monitoring(); }

bool export_case::monitoring() const { return decision_.effective_mode == config::mode::monitor; }

std::string export_case::upstream_target(const config::upstream& up) const {
    std::string target;
    if (!decision_.upstream_path_tail.empty() && decision_.allowed_export() && !monitoring()) {
        // A sealed queryMore locator: the CRM's own goes upstream (config::decide opened it).
        target = config::upstream_path(route_, &up, route_.path + "/" +
                                                        decision_.upstream_path_tail);
    } else {
        target = config::upstream_path(route_, &up, path_);
    }
    // Monitor mode changes nothing on the way: the client's own query goes upstream.
    const std::string& query =
        monitoring() || !decision_.allowed_export() ? query_ : decision_.upstream_query;
    if (!query.empty()) {
        target.push_back('?');
        target += query;
    }
    return target;
}

std::string_view export_case::upstream_body(std::string_view client_body) const {
    if (monitoring() || !decision_.allowed_export() || !decision_.body_rewritten)
        return client_body;
    return decision_.upstream_body;
}

response_plan export_case::plan_response(unsigned status,
                                         std::span<const header_field> upstream_fields,
                                         const config::upstream& up, std::string_view public_url) {
    response_plan plan;
    plan.status = status;
    const bool records = route_.format != config::route_format::passthrough;
    continuation_sealing sealing;
    if (decision_.allowed_export() && decision_.client_ref != nullptr) {
        sealing.key = &config_->continuation;
        sealing.client = decision_.client_id;
        sealing.purpose = decision_.purpose_id;
        sealing.destination = decision_.destination_id;
        sealing.chain = chain_;
        sealing.route = route_.id;
        sealing.path = path_;
        sealing.binding = decision_.continuation_binding;
        sealing.expires_at =
            std::chrono::duration_cast<std::chrono::seconds>(
                (std::chrono::system_clock::now() + config_->net.continuation.lifetime)
                    .time_since_epoch())
                .count();
    }
    links_ = std::make_unique<link_mapper>(config_->net, up, std::string(public_url),
                                           std::move(sealing));

    // Redirects in the head point back through exportwall, or go. Content-Location always goes:
    // the answer is the purpose's view, which has no location of its own, and the CRM's names the
    // query exportwall sent it — the fields the rules read, which the purpose may not keep.
    if (auto v = field(upstream_fields, "location"); !v.empty()) {
        plan.drop_fields.emplace_back("location");
        if (auto mapped = links_->map(v)) {
            planned_location_ = std::move(*mapped);
            plan.add_fields.push_back({"Location", planned_location_});
        }
    }
    if (!field(upstream_fields, "content-location").empty())
        plan.drop_fields.emplace_back("content-location");
    if (auto v = field(upstream_fields, "link"); !v.empty()) {
        plan.drop_fields.emplace_back("link");
        if (auto mapped = links_->map_link_header(v)) {
            planned_link_ = std::move(*mapped);
            plan.add_fields.push_back({"Link", planned_link_});
        }
    }
    plan.add_fields.push_back({"X-Export-Audit-Id", audit_id_});

    if (monitoring()) {
        // Rollout: the data passes unmodified; a filter runs beside it to count what enforcing
        // would have changed (record routes, 2xx, a body exportwall can read).
        plan.what = response_plan::action::relay;
        plan.add_fields.push_back(
            {"X-Export-Decision",
             audit::to_string(decision_.allowed_export() ? audit::decision::allowed
                                                         : audit::decision::would_block)});
        auto coding = parse_content_encoding(field(upstream_fields, "content-encoding"));
        if (records && decision_.allowed_export() && status >= 200 && status < 300 &&
            content_type_matches(route_.format, field(upstream_fields, "content-type")) && coding) {
            decoder_ = std::make_unique<content_decoder>(*coding);
            auto spec = make_filter_spec(
                decision_, route_, config_->net.limit,
                [this](std::string_view url) { return links_->map(url); }, &config_->rules);
            attach_subjects(spec);
            filter_ = filters::make_filter_remembering(std::move(spec));
        }
        return plan;
    }

    if (status < 200 || status >= 300) {
        if (status == 304 || status == 204 || (status >= 300 && status < 400)) {
            // No body worth keeping: 304/204 have none, a redirect's is a courtesy page.
            plan.what = status == 304 || status == 204 ? response_plan::action::relay
                                                       : response_plan::action::replace;
        } else {
            plan.what = response_plan::action::replace;
        }
        plan.reason = config::reason::upstream_error;
        plan.detail = "The CRM answered with an error; its body is not passed on.";
        return plan;
    }
    plan.add_fields.push_back(
        {"X-Export-Decision",
         audit::to_string(records ? audit::decision::filtered : audit::decision::allowed)});
    if (!decision_.fields_stripped.empty()) {
        planned_stripped_ = join(decision_.fields_stripped, ", ");
        plan.add_fields.push_back({"X-Export-Stripped-Fields", planned_stripped_});
    }
    if (!records) return plan;

    // A record route: the body must be one exportwall can read, or nothing leaves. Partial
    // content is a fragment of a document, never a whole one (the Range was not forwarded).
    if (status == 206 ||
        !content_type_matches(route_.format, field(upstream_fields, "content-type"))) {
        plan.what = response_plan::action::replace;
        plan.reason = config::reason::upstream_unsupported;
        plan.status = config::http_status(plan.reason);
        plan.detail = "The CRM answered with a content type this route cannot filter.";
        return plan;
    }
    auto coding = parse_content_encoding(field(upstream_fields, "content-encoding"));
    if (!coding) {
        plan.what = response_plan::action::replace;
        plan.reason = config::reason::upstream_unsupported;
        plan.status = config::http_status(plan.reason);
        plan.detail = "The CRM answered with a content encoding exportwall cannot decode.";
        return plan;
    }
    plan.what = response_plan::action::filter;
    for (const auto* name : {"content-length", "content-encoding", "etag", "content-md5", "digest",
                             "content-range", "accept-ranges"}) {
        plan.drop_fields.emplace_back(name);
    }
    decoder_ = std::make_unique<content_decoder>(*coding);
    auto spec = make_filter_spec(decision_, route_, config_->net.limit,
                                 [this](std::string_view url) { return links_->map(url); },
                                 &config_->rules);
    spec.seal_token = [this](std::string_view token) { return links_->seal_token(token); };
    attach_subjects(spec);
    filter_ = filters::make_filter_remembering(std::move(spec));
    if (track_records_) filter_->set_record_marks(&marks_);
    if (track_records_ && subjects_) subjects_->track = true;
    return plan;
}

std::uint64_t export_case::records_out() const {
    return filter_ ? filter_->progress().records_out : 0;
}

boost::system::error_code export_case::transform(std::string_view in, std::string& out) {
    if (!filter_) {
        out.append(in);
        return {};
    }
    if (monitoring()) {
        // Beside the relay: the output is counted, then discarded.
        if (monitor_filter_failed_) return {};
        discard_.clear();
        auto ec = decoder_->feed(
            in, [this](std::string_view piece) { return filter_->feed(piece, discard_); });
        if (ec) {
            monitor_filter_failed_ = true;
            monitor_failure_ = reason_for(ec);
        }
        out.append(in);
        if (subjects_ && subjects_->collector.failed()) return subject_index_failed;
        return {};
    }
    auto ec = decoder_->feed(
        in, [this, &out](std::string_view piece) { return filter_->feed(piece, out); });
    // The digests of the records in `out` reach the index before `out` reaches the client:
    // index_delivery(), before the relay writes (one chunk a write rather than one a piece).
    if (!ec && subjects_ && subjects_->collector.failed()) return subject_index_failed;
    return ec;
}

boost::system::error_code export_case::index_delivery() {
    if (subjects_ && !monitoring() && subjects_->collector.write_pending())
        return subject_index_failed;
    return {};
}

void export_case::records_written() {
    if (subjects_) {
        // The key marks of the records written go with theirs; a record the filter still holds
        // (its envelope not yet seen whole) keeps its mark for the next write.
        auto& s = *subjects_;
        s.marks.erase(s.marks.begin(), s.marks.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                             marks_.size(), s.marks.size())));
        s.window = s.collector.taken();
    }
    marks_.clear();
}

void export_case::cut_records(std::size_t kept) {
    if (!subjects_ || !subjects_->track) return;
    auto& s = *subjects_;
    // One key mark a record mark, in the same order (a record the filter still holds has its
    // key mark and not yet its record mark). Were they ever apart, nothing is taken back: a
    // person listed for a record held back rather than one missing for a record delivered.
    if (s.marks.size() < marks_.size() || kept > marks_.size()) return;
    (void)s.collector.retract(kept == 0 ? s.window : s.marks[kept - 1]);
}

boost::system::error_code export_case::finish(std::string& out) {
    if (!filter_) return {};
    if (monitoring()) {
        if (monitor_filter_failed_) return {};
        discard_.clear();
        auto ec = decoder_->finish([](std::string_view) { return boost::system::error_code{}; });
        if (!ec) ec = filter_->finish(discard_);
        if (ec) {
            monitor_filter_failed_ = true;
            monitor_failure_ = reason_for(ec);
        }
        if (subjects_ && subjects_->collector.write_pending()) return subject_index_failed;
        return {};
    }
    if (auto ec = decoder_->finish([](std::string_view) { return boost::system::error_code{}; }))
        return ec;
    // The last records' digests: index_delivery(), once a quota has cut what does not go out.
    return filter_->finish(out);
}

abort_reason export_case::reason_for(const boost::system::error_code& ec) {
    if (ec == filters::filter_error::record_limit_exceeded)
        return abort_reason::record_limit_exceeded;
    if (ec == subject_index_failed) return abort_reason::audit_unavailable;
    return abort_reason::upstream_malformed;
}

audit::record export_case::audit_record(unsigned status, std::uint64_t bytes_in,
                                        std::uint64_t bytes_out) const {
    return make_record(std::nullopt, {}, status, bytes_in, bytes_out);
}

audit::record export_case::audit_record(audit::decision d, config::reason why, unsigned status,
                                        std::uint64_t bytes_in, std::uint64_t bytes_out) const {
    return make_record(d, config::to_string(why), status, bytes_in, bytes_out);
}

audit::record export_case::audit_record(abort_reason why, unsigned status, std::uint64_t bytes_in,
                                        std::uint64_t bytes_out) const {
    return make_record(audit::decision::aborted, audit_reason(why), status, bytes_in, bytes_out);
}

audit::record export_case::make_record(std::optional<audit::decision> decided,
                                       std::string_view reason, unsigned status,
                                       std::uint64_t bytes_in, std::uint64_t bytes_out) const {
    export_outcome o;
    const filters::filter_counters* counters = filter_ ? &filter_->counters() : nullptr;
    o.counters = counters;
    o.status = status;
    o.bytes_in = bytes_in;
    o.bytes_out = bytes_out;
    o.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
            .count();
    o.reason = std::string(reason);
    if (decided) {
        o.decision = *decided;
    } else if (monitoring()) {
        bool would_change = !decision_.allowed_export() || monitor_failure_.has_value() ||
                            finished_decision(decision_, counters) == audit::decision::filtered;
        o.decision = would_change ? audit::decision::would_block : audit::decision::allowed;
        if (o.reason.empty()) {
            if (!decision_.allowed_export())
                o.reason = std::string(config::to_string(decision_.why));
            else if (monitor_failure_)
                o.reason = std::string(audit_reason(*monitor_failure_));
        }
    } else {
        o.decision = finished_decision(decision_, counters);
    }
    audit::record rec = make_audit_record(decision_, *config_, method_, path_, query_, remote_, o,
                                          audit_id_, time_);
    // An export cut at its quota delivered only the records before the cut.
    if (delivered_ && *delivered_ < rec.records_out) rec.records_out = *delivered_;
    if (shadow_) add_shadow(rec, decision_, *shadow_);
    if (subjects_) {
        // Written before each write to the client; what is left belongs to records that never
        // reached it (an abort's last piece, a quota's cut).
        subjects_->collector.drop_pending();
        rec.subject_index = subjects_->collector.digest_hex();
        if (!rec.subject_index.empty()) rec.subject_keys = subjects_->collector.keys();
    }
    return rec;
}

}  // namespace exportwall::proxy
