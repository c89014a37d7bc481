#pragma once
// The state shared by every session of a running proxy: the current configuration snapshot (with
// the TLS contexts of its upstreams), the metrics, the upstream pool, the access log, and the
// reload and readiness functions used by SIGHUP and the admin listener.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "audit/record.hpp"
#include "audit/subject_index.hpp"
#include "common/shared_slot.hpp"
#include "config/configuration.hpp"
#include "proxy/in_flight.hpp"
#include "proxy/ops/access_log.hpp"
#include "proxy/ops/metrics.hpp"
#include "proxy/upstream_pool.hpp"

namespace boost::asio::ssl {
class context;
}

namespace exportwall::proxy {

class quota_store;
class upstream_token_source;
class volume_monitor;

// One immutable configuration plus what the proxy derives from it at load. Each request takes the
// snapshot once at its start and keeps it to its end, whatever reloads happen meanwhile.
struct snapshot {
    std::shared_ptr<const config::configuration> config;
    std::map<std::string, std::shared_ptr<boost::asio::ssl::context>, std::less<>>
        upstream_tls;  // by upstream id, https upstreams only
    // The subject index's keyed hasher (<audit subject-key-file>); null without a key.
    std::shared_ptr<const audit::subject_hasher> subjects;
    // The OAuth2 access tokens of each upstream with <oauth2>, by upstream id.
    std::map<std::string, std::shared_ptr<upstream_token_source>, std::less<>> upstream_tokens;
};

// Builds a snapshot from a loaded configuration: the upstream TLS contexts and OAuth2 token
// sources. A token source of `previous` (the snapshot a reload replaces) is kept — with its
// cached token — when the upstream obtains tokens exactly as before; a changed <oauth2> or secret
// file starts a fresh one. Errors (an unreadable CA file) are appended to `errors`; null then.
[[nodiscard]] std::shared_ptr<const snapshot> prepare_snapshot(
    std::shared_ptr<const config::configuration> cfg, std::vector<std::string>& errors,
    const snapshot* previous = nullptr);

// What made the proxy load its configuration: the policy_trigger of the policy_loaded record.
enum class load_trigger : std::uint8_t {
    start,             // exportwall serve started serving
    sighup,            // SIGHUP
    admin,             // POST /admin/reload
    suppression_list,  // a suppression list's file changed (the inotify watch)
};
// "start", "sighup", "admin", "suppression-list"
[[nodiscard]] std::string_view to_string(load_trigger t) noexcept;

// The policy_loaded audit record of `cfg` (decision policy_loaded): its revision, what loaded it
// and the digest of each file the revision covers, by path. Never a file's contents.
[[nodiscard]] audit::record policy_loaded_record(const config::configuration& cfg,
                                                 load_trigger why);

class runtime {
  public:
    runtime(std::string config_path, const std::shared_ptr<const snapshot>& initial,
            std::unique_ptr<access_log> log);
    ~runtime() = default;
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;

    // The current snapshot (common/shared_slot.hpp: a pointer copied under a lock).
    [[nodiscard]] std::shared_ptr<const snapshot> current() const { return current_.load(); }

    // Loads the configuration file again; `why` names what asked. Success: its policy_loaded
    // record is stored on the audit trail, then the snapshot is swapped (requests in flight keep
    // theirs), so every export decided under the new revision follows its record in the chain;
    // `out` = the new revision. Failure (errors, or a trail that cannot store the record): every
    // error is logged, the old snapshot stays, nothing is written to the trail, `out` = the
    // number of errors. Reloads run one at a time. The listeners' certificates are read again
    // (prepare_reload); listener addresses, the admin listener, thread count and log destinations
    // are fixed at start-up and not re-applied.
    [[nodiscard]] bool reload(std::string& out, load_trigger why);

    // Stores the policy_loaded record of the current snapshot on the audit trail and waits for
    // it (serve calls it with load_trigger::start before it accepts). False, logged, when the
    // trail cannot store it; true without a trail.
    [[nodiscard]] bool record_policy_loaded(load_trigger why) const;

    // Configuration loaded, not draining, and no upstream known to be unreachable (the last
    // connection attempt to each upstream succeeded or none was made yet).
    [[nodiscard]] bool ready() const;

    // SIGUSR1 (logrotate's postrotate): the access log file is opened again at its configured
    // path, and the syslog forwarder connects again before its next record. Any thread.
    void reopen_logs();

    [[nodiscard]] metrics& stats() noexcept { return metrics_; }
    [[nodiscard]] upstream_pool& pool() noexcept { return pool_; }
    [[nodiscard]] access_log& log() noexcept { return *log_; }
    [[nodiscard]] in_flight_requests& in_flight() noexcept { return in_flight_; }
    [[nodiscard]] const std::string& config_path() const noexcept { return config_path_; }

    // SIGTERM/SIGINT, from the signal on: /readyz fails and every response closes its connection
    // (a keep-alive client reconnects through the load balancer), while the listeners still
    // accept for the drain delay.
    std::atomic<bool> draining{false};
    // After the drain delay: the listeners are closed and no new request starts; the upstream
    // pool takes nothing back.
    std::atomic<bool> stopping{false};
    // The audit trail, set once at start-up before any session runs (serve always installs one;
    // only unit tests of the relay run without, and then nothing is recorded). Its health gates
    // every new export (503 audit_unavailable) and /readyz.
    audit::sink* audit = nullptr;
    // sync="blocked" or "always": a refusal's record is on disk before the client is answered.
    bool audit_durable_refusals = true;
    // Waits until every record handed to `audit` is stored; called after the io threads stop and
    // before the io_context goes, so no completion is posted to a destroyed executor.
    std::function<void()> audit_flush;
    // Drops the syslog forwarder's connection so that it connects (and resolves) again before
    // its next record; set once at start-up when <syslog> is configured. Any thread.
    std::function<void()> syslog_reconnect;
    // Where quotas and paged exports are counted (issue 17), set once at start-up: the Redis store
    // of <quota-store>, or the in-process one; `local_quotas` is always the in-process one (a
    // paged export of a grant without a quota counts there while Redis cannot answer). Null in
    // unit tests of the relay: nothing is counted. <quota-store> is fixed at start-up.
    std::shared_ptr<quota_store> quotas;
    std::shared_ptr<quota_store> local_quotas;
    std::uint64_t quota_batch = 1000;
    // The subject index file beside the audit trail (audit/subject_index.hpp), set once at
    // start-up with the audit trail; exports index into it when their snapshot has a key.
    std::shared_ptr<audit::subject_index_file> subjects;
    // Volume alerts (proxy/enforce/volume_monitor.hpp), set once at start-up; null: none.
    std::shared_ptr<volume_monitor> volume;
    // Called after every successful reload (SIGHUP, POST /admin/reload, a changed suppression
    // list), on the thread that reloaded, with the new snapshot current: the suppression-list
    // watch re-arms for the new snapshot's files. Set by run_server while it runs; empty otherwise.
    std::function<void()> reloaded;
    // Set by run_server while it runs: what a reload re-reads beside the configuration (the
    // listeners' certificate files), checked before the new snapshot is recorded. Returns the
    // step that installs it once the snapshot is current, or an empty function with `errors`
    // (the reload is refused; the old certificates stay).
    std::function<std::function<void()>(const config::configuration&, std::vector<std::string>&)>
        prepare_reload;

  private:
    std::mutex reload_mutex_;  // one reload at a time: records and swaps in the same order
    std::string config_path_;
    common::shared_slot<const snapshot> current_;
    metrics metrics_;
    upstream_pool pool_;
    std::unique_ptr<access_log> log_;
    in_flight_requests in_flight_;
};

}  // namespace exportwall::proxy
