#include "proxy/runtime.hpp"

#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/ssl/context.hpp>

#include "config/policy_loader.hpp"
#include "proxy/tls.hpp"

namespace exportwall::proxy {

std::shared_ptr<const snapshot> prepare_snapshot(std::shared_ptr<const config::configuration> cfg,
                                                 std::vector<std::string>& errors) {
    auto snap = std::make_shared<snapshot>();
    bool ok = true;
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
    // Suppression lists are read with the policy they belong to: a list that cannot be read
    // refuses the whole configuration (until loaded, a list suppresses everyone).
    for (const auto& e : config::load_suppression_lists(cfg->rules)) {
        errors.push_back(e.str());
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

runtime::runtime(std::string config_path, std::shared_ptr<const snapshot> initial,
                 std::unique_ptr<access_log> log)
    : config_path_(std::move(config_path)),
      current_(initial),
      pool_(initial->config->net.limit.upstream_pool_size),
      log_(std::move(log)) {}

bool runtime::reload(std::string& out) {
    auto result = config::load_configuration_file(config_path_);
    std::vector<std::string> errors;
    for (const auto& e : result.errors) errors.push_back(e.str());
    std::shared_ptr<const snapshot> snap;
    if (result) snap = prepare_snapshot(result.config, errors);
    if (!snap) {
        for (const auto& e : errors) spdlog::error("reload refused: {}", e);
        spdlog::error("reload refused: {} error(s); the previous configuration stays in force",
                      errors.size());
        metrics_.reload_result(false);
        out = std::to_string(errors.size());
        return false;
    }
    pool_.set_max_idle(snap->config->net.limit.upstream_pool_size);
    current_.store(snap, std::memory_order_release);
    metrics_.reload_result(true);
    out = snap->config->revision;
    spdlog::info("configuration reloaded, revision {}", out);
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
