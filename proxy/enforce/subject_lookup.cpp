#include "proxy/enforce/subject_lookup.hpp"

#include <algorithm>
#include <cstdint>

#include <boost/json/array.hpp>

#include "audit/serialize.hpp"
#include "audit/subject_index.hpp"

namespace exportwall::proxy {

namespace {

subject_answer refuse(subject_answer::outcome why, std::string message) {
    subject_answer a;
    a.result = why;
    a.message = std::move(message);
    return a;
}

}  // namespace

subject_answer find_subject(const config::configuration& cfg, const std::string& log_path,
                            const subject_query& q) {
    using outcome = subject_answer::outcome;
    if (!cfg.net.audit.subject_key)
        return refuse(outcome::usage,
                      cfg.path +
                          ": <audit> has no subject-key-file: no subject index is kept, so "
                          "exportwall cannot tell who received a person's data");
    if (q.id.empty() == q.email.empty())
        return refuse(outcome::usage, "give either an id or an e-mail address");

    // The digests to look for: the address once (any entity), the id once per entity.
    const audit::subject_hasher hasher(*cfg.net.audit.subject_key);
    using kind = config::suppression_entries::match_kind;
    std::vector<std::uint64_t> digests;
    if (!q.email.empty()) {
        const auto v = config::suppression_entries::normalise(q.email, kind::email);
        if (v.empty()) return refuse(outcome::usage, "the e-mail address is empty");
        digests.push_back(hasher.email_key(v));
    } else {
        const auto v = config::suppression_entries::normalise(q.id, kind::id);
        if (v.empty()) return refuse(outcome::usage, "the id is empty");
        bool known = q.entity.empty();
        for (const auto& e : cfg.rules.entities) {
            if (!q.entity.empty() && e.id != q.entity) continue;
            known = true;
            if (e.subject_id_field() != nullptr) digests.push_back(hasher.id_key(e.id, v));
        }
        if (!known) return refuse(outcome::usage, "the configuration has no entity of that name");
        if (digests.empty())
            return refuse(outcome::usage,
                          "no entity has a field of category user.unique_id to look the id up in");
    }

    audit::subject_search search;
    const std::string index = audit::subject_index_path(log_path);
    if (auto ec = audit::find_subject_exports(index, digests, search)) {
        if (ec == audit::audit_error::no_log) {
            subject_answer a;
            a.no_index = true;
            a.message = index +
                        ": no subject index yet (no export has delivered records under a "
                        "subject key)";
            return a;
        }
        return refuse(outcome::unreadable, index + ": " + ec.message());
    }
    const auto& matches = search.exports;
    // An edited dictionary may hide the person: reported even when nothing was found.
    if (matches.empty()) {
        subject_answer none;
        none.intact = search.dictionary_intact;
        return none;
    }

    // The exports' audit records: who, for what, to whom. A match without its record (the
    // process stopped before writing it, or the trail was pruned) is not listed.
    audit::record_filter filter = q.period;
    filter.id.clear();
    for (const auto& m : matches) filter.id.push_back(m.export_id);
    subject_answer a;
    a.intact = search.dictionary_intact;
    auto ec = audit::for_each_record(log_path, filter, [&](const audit::record& r) {
        if (r.subject_index.empty()) return true;
        auto m = std::find_if(matches.begin(), matches.end(),
                              [&](const audit::subject_match& x) { return x.export_id == r.id; });
        if (m == matches.end()) return true;
        subject_export f;
        f.rec = r;
        f.intact = m->chunks_sha256 == r.subject_index && m->dictionary_matches;
        a.intact = a.intact && f.intact;
        if (const auto* d = cfg.rules.find_destination(r.destination)) {
            f.organisation = d->organisation;
            f.country = d->country;
        }
        a.exports.push_back(std::move(f));
        return true;
    });
    if (ec && ec != audit::audit_error::no_log)
        return refuse(outcome::unreadable, log_path + ": " + ec.message());
    a.result = a.exports.empty() ? outcome::not_found : outcome::found;
    return a;
}

boost::json::object subject_answer_json(const subject_answer& answer) {
    boost::json::array exports;
    for (const auto& f : answer.exports) {
        boost::json::object o;
        o["audit_id"] = f.rec.id;
        o["time"] = f.rec.time;
        o["decision"] = f.rec.decision;
        o["client"] = f.rec.client;
        o["purpose"] = f.rec.purpose;
        o["basis"] = f.rec.basis;
        o["destination"] = f.rec.destination;
        o["destination_kind"] = f.rec.destination_kind;
        o["organisation"] = f.organisation;
        o["country"] = f.country;
        o["records_out"] = f.rec.records_out;
        o["index_intact"] = f.intact;
        exports.push_back(std::move(o));
    }
    boost::json::object doc;
    doc["found"] = !answer.exports.empty();
    doc["index_intact"] = answer.intact;
    doc["exports"] = std::move(exports);
    return doc;
}

}  // namespace exportwall::proxy
