#include "proxy/runtime.hpp"

#include <future>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/ssl/context.hpp>

#include "config/loader.hpp"
#include "config/policy_loader.hpp"
#include "proxy/enforce/export_plan.hpp"
#include "proxy/tls.hpp"
#include "proxy/upstream_token.hpp"

namespace exportwall::proxy {

namespace {

// Appends `r` as a durable record and waits until the writer stored it (or failed).
boost::system::error_code store_and_wait(audit::sink& sink, audit::record r) {
    std::promise<boost::system::error_code> stored;
    auto result = stored.get_future();
    sink.append(std::move(r), true,
                [&stored](boost::system::error_code ec) { stored.set_value(ec); });
    return result.get();
}

}  // namespace

std::string_view to_string(load_trigger t) noexcept {
    switch (t) {
        case load_trigger::start:
            return "start";
        case load_trigger::sighup:
            return "sighup";
        case load_trigger::admin:
            return "admin";
        case load_trigger::suppression_list:
            return "suppression-list";
    }
    return "start";
}

audit::record policy_loaded_record(const config::configuration& cfg, load_trigger why) {
    audit::record r;
    r.id = audit::new_record_id();
    r.time = audit_time_now();
    r.mode = "enforce";
    r.decision = std::string(audit::to_string(audit::decision::policy_loaded));
    r.policy_revision = cfg.revision;
    r.policy_trigger = std::string(to_string(why));
    r.policy_files = cfg.policy_files;
    r.suppression_lists = cfg.suppression_list_files;
    return r;
}

std::shared_ptr<const snapshot> prepare_snapshot(std::shared_ptr<const config::configuration> cfg,
                                                 std::vector<std::string>& errors,
                                                 const snapshot* previous) {
    auto snap = std::make_shared<snapshot>();
    bool ok = true;
    for (const auto& u : cfg->net.upstreams) {
        if (!u.oauth2) continue;
        bool had_tokens = false;
        if (previous != nullptr) {
            const config::upstream* before = previous->config->net.find_upstream(u.id);
            const auto kept = previous->upstream_tokens.find(u.id);
            had_tokens = kept != previous->upstream_tokens.end();
            if (before != nullptr && had_tokens &&
                same_token_settings(*before, previous->config->net.limit, u, cfg->net.limit)) {
                snap->upstream_tokens.emplace(u.id, kept->second);
                continue;
            }
        }
        std::string error;
        auto source = make_token_source(u, cfg->net.limit, error);
        if (!source) {
            errors.push_back(config::load_error{u.oauth2->where, "upstream '" + u.id +
                                                                     "': <oauth2>: " + error}
                                 .str());
            ok = false;
            continue;
        }
        if (had_tokens)
            spdlog::info("upstream '{}': OAuth2 settings or secret files changed; a new access "
                         "token is requested",
                         u.id);
        snap->upstream_tokens.emplace(u.id, std::move(source));
    }
    for (const auto& u : cfg->net.upstreams) {
        if (u.scheme != "https") continue;
        std::string error;
        auto ctx = make_upstream_context(u, error);
        if (!ctx) {
            errors.push_back(u.where.file + ":" + std::to_string(u.where.line) + ":" +
                             std::to_string(u.where.column) + ": upstream '" + u.id +
                             "': " + error);
            ok = false;
            continue;
        }
        snap->upstream_tls.emplace(u.id, std::move(ctx));
    }
    if (const auto& key = cfg->net.audit.subject_key; key && !key->empty())
        snap->subjects = std::make_shared<const audit::subject_hasher>(*key);
    // Suppression lists are read with the policy they belong to: a list that cannot be read
    // refuses the whole configuration (until loaded, a list suppresses everyone). The loader read
    // the enforced policy's lists (their bytes are in its revision); one it could not read is
    // refused without reading it again, so the revision always names the lists in force.
    for (const auto& l : cfg->rules.suppression_lists) {
        if (!l.entries || l.entries->loaded()) continue;
        errors.push_back(config::load_error{
            l.where, "cannot read suppression list '" + l.id + "' from " + l.file}
                             .str());
        ok = false;
    }
    if (cfg->shadow) {
        for (const auto& e : config::load_suppression_lists(*cfg->shadow)) {
            errors.push_back(e.str());
            ok = false;
        }
    }
    if (!ok) return nullptr;
    snap->config = std::move(cfg);
    return snap;
}

runtime::runtime(std::string config_path, const std::shared_ptr<const snapshot>& initial,
                 std::unique_ptr<access_log> log)
    : config_path_(std::move(config_path)),
      current_(initial),
      pool_(initial->config->net.limit.upstream_pool_size),
      log_(std::move(log)) {}

bool runtime::record_policy_loaded(load_trigger why) const {
    if (audit == nullptr) return true;
    const auto snap = current();
    if (const auto ec = store_and_wait(*audit, policy_loaded_record(*snap->config, why))) {
        spdlog::error("audit trail: the policy_loaded record of revision {} ({}) failed: {}",
                      snap->config->revision, to_string(why), ec.message());
        return false;
    }
    return true;
}

bool runtime::reload(std::string& out, load_trigger why) {
    std::lock_guard one_at_a_time(reload_mutex_);
    auto result = config::load_configuration_file(config_path_);
    std::vector<std::string> errors;
    for (const auto& e : result.errors) errors.push_back(e.str());
    std::shared_ptr<const snapshot> snap;
    if (result) snap = prepare_snapshot(result.config, errors, current().get());
    std::function<void()> install;
    if (snap && prepare_reload) {
        install = prepare_reload(*snap->config, errors);
        if (!install) snap = nullptr;
    }
    // The new configuration is on the trail before any export can be decided under it; a trail
    // that cannot record it refuses the reload (no unrecorded policy change).
    if (snap && audit != nullptr) {
        if (const auto ec = store_and_wait(*audit, policy_loaded_record(*snap->config, why))) {
            errors.push_back("the audit trail cannot record the new configuration (" +
                             ec.message() + ")");
            snap = nullptr;
        }
    }
    if (!snap) {
        for (const auto& e : errors) spdlog::error("reload refused: {}", e);
        spdlog::error("reload refused: {} error(s); the previous configuration stays in force",
                      errors.size());
        metrics_.reload_result(false);
        out = std::to_string(errors.size());
        return false;
    }
    pool_.set_max_idle(snap->config->net.limit.upstream_pool_size);
    current_.store(snap);
    if (install) install();
    metrics_.reload_result(true);
    out = snap->config->revision;
    spdlog::info("configuration reloaded ({}), revision {}", to_string(why), out);
    if (reloaded) reloaded();
    return true;
}

bool runtime::ready() const {
    if (draining.load() || stopping.load()) return false;
    if (audit != nullptr && !audit->healthy()) return false;
    auto snap = current();
    if (!snap) return false;
    for (const auto& u : snap->config->net.upstreams)
        if (!pool_.reachable(pool_key(u))) return false;
    return true;
}

void runtime::reopen_logs() {
    log_->reopen();
    if (syslog_reconnect) syslog_reconnect();
}

}  // namespace exportwall::proxy
