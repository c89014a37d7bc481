#pragma once
// Shared helpers for the audit tests: a temporary directory and records with marker values.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <string_view>

#include <vector>

#include "audit/file_writer.hpp"
#include "audit/record.hpp"
#include "audit/serialize.hpp"

namespace exportwall::audit::test {

// A fresh directory under /tmp, removed with everything in it.
class temp_dir {
  public:
    temp_dir() {
        std::string templ = (std::filesystem::temp_directory_path() / "ew-audit-XXXXXX").string();
        if (::mkdtemp(templ.data()) == nullptr) std::abort();
        path_ = templ;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] std::string file(const std::string& name) const {
        return (path_ / name).string();
    }

  private:
    std::filesystem::path path_;
};

// The legal reference of rule R10, as config::rule_of gives it (the audit library does not
// depend on config/: the proxy fills the record).
inline constexpr std::string_view r10_reference =
    "GDPR art. 6(1), art. 21; CNIL guidance on partner transfers";

// A record of one of four kinds by i % 4: blocked (third_party_direct_marketing, rule R10),
// allowed, filtered (with transformed fields; i % 8 == 6 also with a failed transform), aborted
// (upstream_timeout, no rule).
inline record sample_record(int i) {
    record r;
    r.id = new_record_id();
    r.time = "2026-11-" + std::string(i % 2 ? "28" : "29") + "T10:00:00.000Z";
    r.mode = "enforce";
    const int kind = i % 4;
    r.decision = kind == 0 ? "blocked" : kind == 1 ? "allowed" : kind == 2 ? "filtered" : "aborted";
    r.reason = kind == 0 ? "third_party_direct_marketing" : kind == 3 ? "upstream_timeout" : "";
    if (kind == 0) {  // what the proxy fills from config::rule_of; upstream_timeout names none
        r.rule_id = "R10";
        r.legal_reference = std::string(r10_reference);
    }
    r.client = i % 3 ? "erp" : "webshop";
    r.purpose = i % 2 ? "invoicing" : "promotion";
    r.basis = i % 2 ? "contract" : "consent";
    r.destination = kind == 0 ? "partner-leads" : "billing";
    r.destination_kind = kind == 0 ? "third-party" : "internal";
    r.route = "contacts";
    r.method = "GET";
    r.path = "/api/data/v9.2/contacts?$select";
    r.status = kind == 0 ? 403 : 200;
    r.fields_requested = {"id", "email", "iban"};
    if (kind == 2) r.fields_stripped = {"iban"};
    // Filtered records write birth_date as a year and email as a pseudonym; every other one of
    // them (i % 8 == 6) met a birth_date the transform could not read.
    if (kind == 2) r.fields_transformed = {{"birth_date", 8}, {"email", 8}};
    if (i % 8 == 6) {
        r.fields_transformed["birth_date"] = 7;
        r.transform_failed = {{"birth_date", 1}};
    }
    r.records_in = 10;
    r.records_out = kind == 2 ? 8 : 10;
    if (kind == 2) r.records_dropped = {{"no_consent", 1}, {"objected", 1}};
    r.bytes_in = 1000;
    r.bytes_out = 800;
    r.duration_ms = 1.25 * i;
    r.remote = "127.0.0.1:40000";
    r.policy_revision = std::string(64, 'a');
    return r;
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void write_file(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
}

// Appends `r` and waits for its completion.
inline boost::system::error_code append_wait(sink& s, record r, bool durable = true) {
    std::promise<boost::system::error_code> p;
    auto f = p.get_future();
    s.append(std::move(r), durable, [&p](boost::system::error_code ec) { p.set_value(ec); });
    return f.get();
}

// Writes n sample records to a fresh trail at `path`.
inline void write_trail(const std::string& path, int n, std::uint64_t rotate_bytes = 256ull << 20) {
    writer_options o;
    o.path = path;
    o.sync = sync_policy::none;
    o.rotate_bytes = rotate_bytes;
    file_writer w(o);
    if (w.start()) std::abort();
    for (int i = 0; i < n; ++i) w.append(sample_record(i), false, nullptr);
    w.flush();
}

// `r` as the first record of a chain (its hash over the genesis hash), numbered `seq`.
inline record chained(record r, std::uint64_t seq) {
    r.seq = seq;
    r.prev_hash = std::string(genesis_hash);
    std::string canonical;
    append_canonical(r, canonical);
    chain_hasher h;
    r.hash = h.hash(r.prev_hash, canonical);
    return r;
}

}  // namespace exportwall::audit::test
