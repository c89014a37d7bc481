#include "proxy/serve.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "audit/checkpoint.hpp"
#include "audit/file_writer.hpp"
#include "audit/serialize.hpp"
#include "audit/syslog_forwarder.hpp"
#include "config/loader.hpp"
#include "proxy/ops/access_log.hpp"
#include "proxy/enforce/metered_sink.hpp"
#include "proxy/runtime.hpp"

namespace exportwall::proxy {
namespace {

// The audit trail's writer options from <audit>. False after printing why the signing key does
// not load (the loader checked it; it is fixed at start-up like the path).
bool trail_options(const config::audit_settings& audit_cfg, audit::writer_options& wo) {
    wo.path = audit_cfg.path;
    wo.sync = audit_cfg.sync == config::audit_sync::none     ? audit::sync_policy::none
              : audit_cfg.sync == config::audit_sync::always ? audit::sync_policy::always
                                                             : audit::sync_policy::blocked;
    wo.rotate_bytes = audit_cfg.rotate_bytes;
    wo.rotate_daily = audit_cfg.rotate_daily;
    wo.replica = audit_cfg.replica.empty() ? audit::default_replica_name() : audit_cfg.replica;
    // With a forwarder, it prunes: only it knows which rotated files the collector has.
    if (audit_cfg.syslog.address.empty())
        wo.retention = audit::retention_policy{audit_cfg.keep_bytes, audit_cfg.keep_days};
    wo.on_torn = [](const std::string& torn, std::uint64_t bytes) {
        spdlog::warn("audit trail: a torn last line ({} bytes) was set aside into {}", bytes, torn);
    };
    wo.on_error = [](const std::string& message) { spdlog::error("audit trail: {}", message); };
    // Signed checkpoints: the loader checked the key; it is fixed at start-up like the path.
    if (audit_cfg.signing_key_pem) {
        std::string why;
        wo.signer = audit::checkpoint_signer::from_pem(*audit_cfg.signing_key_pem, why);
        if (!wo.signer) {
            std::fprintf(stderr, "%s: %s\n", audit_cfg.signing_key_file.c_str(), why.c_str());
            return false;
        }
        wo.checkpoint_every = audit_cfg.checkpoint_every;
        wo.checkpoint_interval = audit_cfg.checkpoint_interval;
        spdlog::info("audit trail: checkpoints signed with key {}", wo.signer->key_id());
    }
    return true;
}

// Starts the trail's writer. False after printing that the trail is damaged before its last
// line: it is never written over, the proxy refuses to start.
bool start_trail(const config::audit_settings& audit_cfg, audit::file_writer& writer) {
    auto ec = writer.start();
    if (!ec) return true;
    if (ec == audit::audit_error::corrupt_log) {
        std::fprintf(stderr,
                     "%s: the audit trail is damaged (%s); run 'exportwall audit "
                     "verify --log %s'\n",
                     audit_cfg.path.c_str(), ec.message().c_str(), audit_cfg.path.c_str());
        return false;
    }
    // Anything else (permissions, a full disk) heals when its cause goes away; until then
    // exports are refused with audit_unavailable and /readyz fails.
    spdlog::error("audit trail {}: {}", audit_cfg.path, ec.message());
    return true;
}

// The SIEM forwarder reads the trail's files from where its collector last acknowledged (the
// state file beside the trail), once the writer has recovered the trail. Null without <syslog>.
std::shared_ptr<audit::syslog_forwarder> start_forwarder(
    const config::audit_settings& audit_cfg, const std::shared_ptr<audit::file_writer>& writer) {
    const auto& sc = audit_cfg.syslog;
    if (sc.address.empty()) return nullptr;
    audit::syslog_options so;
    so.trail_path = audit_cfg.path;
    so.committed = [writer] { return writer->committed(); };
    so.host = sc.address;
    so.port = sc.port;
    so.transport = sc.tls   ? audit::syslog_transport::tls
                   : sc.tcp ? audit::syslog_transport::tcp
                            : audit::syslog_transport::udp;
    so.tls = {sc.ca_file, sc.certificate_file, sc.private_key_file, sc.server_name};
    so.app_name = sc.app_name;
    so.facility = sc.facility;
    so.retention = audit::retention_policy{audit_cfg.keep_bytes, audit_cfg.keep_days};
    so.on_error = [](const std::string& message) {
        spdlog::warn("audit syslog forwarding: {}", message);
    };
    auto forwarder = std::make_shared<audit::syslog_forwarder>(std::move(so));
    std::weak_ptr<audit::syslog_forwarder> weak = forwarder;
    writer->set_on_commit([weak] {
        if (auto f = weak.lock()) f->notify();
    });
    return forwarder;
}

// /metrics' figures of the trail: the writer's, and the forwarder's when there is one.
void count_trail(runtime& rt, const std::shared_ptr<audit::file_writer>& writer,
                 const std::shared_ptr<audit::syslog_forwarder>& forwarder) {
    rt.stats().set_trail_source([writer, forwarder] {
        metrics::trail_figures t;
        const auto w = writer->counters();
        t.records_written = w.records_written;
        t.write_failures = w.failures;
        t.fsyncs = w.fsyncs;
        t.queue_depth = w.queue_depth;
        t.files_pruned = w.files_pruned;
        if (forwarder) {
            const auto f = forwarder->counters();
            t.syslog = true;
            t.syslog_sent = f.sent;
            t.syslog_resent = f.resent;
            t.syslog_lost = f.lost;
            t.syslog_reconnects = f.reconnects;
            t.syslog_errors = f.errors;
            t.syslog_pending = f.records_pending;
            t.syslog_bytes_pending = f.bytes_pending;
            t.files_pruned += f.files_pruned;
            t.files_kept_unshipped = f.files_kept_unshipped;
        }
        return t;
    });
}

// Who received whose data: beside the trail, used by exports whose configuration has a subject
// key (a reload may add one). Opened on first use; a failure aborts that export.
void open_subject_index(runtime& rt, const config::audit_settings& audit_cfg) {
    rt.subjects = std::make_shared<audit::subject_index_file>(
        audit::subject_index_path(audit_cfg.path));
    // Its dictionary is read now, not by the first export (a large index takes a moment).
    if (!audit_cfg.subject_key) return;
    if (auto ec = rt.subjects->open())
        spdlog::error("subject index {}: {}; exports are refused until it opens",
                      rt.subjects->path(), ec.message());
    else if (const auto torn = rt.subjects->torn_bytes())
        spdlog::warn("subject index: a torn tail ({} bytes) was set aside into {}.torn-*", torn,
                     rt.subjects->path());
}

// After the server stops: everything queued, then the last checkpoint, before syslog is
// flushed. What the collector has not acknowledged within a short while stays in the trail: the
// next start sends it from the saved position.
void close_trail(audit::file_writer& writer, std::shared_ptr<audit::syslog_forwarder> forwarder) {
    writer.close();
    if (!forwarder) return;
    writer.set_on_commit(nullptr);
    if (!forwarder->flush(std::chrono::seconds(2)))
        spdlog::warn("audit syslog forwarding: {} records not yet acknowledged are sent after "
                     "the next start",
                     forwarder->counters().records_pending);
    forwarder->set_stop_timeout(std::chrono::milliseconds(0));
    forwarder.reset();
}

}  // namespace

int serve(const std::string& config_path, const server_options& options) {
    auto loaded = config::load_configuration_file(config_path);
    if (!loaded) {
        for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
        return 1;
    }
    std::vector<std::string> errors;
    auto snap = prepare_snapshot(loaded.config, errors);
    if (!snap) {
        for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
        return 1;
    }
    const auto& net_cfg = snap->config->net;
    setup_operational_log(net_cfg.log.level, net_cfg.log.json);
    std::string log_error;
    auto log = std::make_unique<access_log>(net_cfg.log, log_error);
    if (!log_error.empty()) {
        std::fprintf(stderr, "%s: cannot open the access log: %s\n", net_cfg.log.access_log.c_str(),
                     log_error.c_str());
        return 1;
    }

    // The audit trail: every decision is recorded before or as it takes effect. Its path and
    // policy are fixed at start-up (a reload does not move the trail).
    const auto& audit_cfg = net_cfg.audit;
    audit::writer_options wo;
    if (!trail_options(audit_cfg, wo)) return 1;
    spdlog::info("audit trail: replica {}", wo.replica);
    auto writer = std::make_shared<audit::file_writer>(std::move(wo));
    if (!start_trail(audit_cfg, *writer)) return 1;
    auto forwarder = start_forwarder(audit_cfg, writer);

    runtime rt(config_path, snap, std::move(log));
    // Every record goes through the metered sink: /metrics counts each export as it is recorded.
    metered_sink metered(*writer, rt);
    rt.audit = &metered;
    count_trail(rt, writer, forwarder);
    rt.audit_durable_refusals = audit_cfg.sync != config::audit_sync::none;
    rt.audit_flush = [writer] { writer->flush(); };
    open_subject_index(rt, audit_cfg);
    if (forwarder) rt.syslog_reconnect = [forwarder] { forwarder->reconnect(); };
    int code = run_server(rt, options);
    close_trail(*writer, std::move(forwarder));
    return code;
}

}  // namespace exportwall::proxy
