#include "proxy/server.hpp"

#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <boost/json/serialize.hpp>

#include "audit/reader.hpp"
#include "proxy/ops/admin.hpp"
#include "proxy/ops/audit_review.hpp"
#include "proxy/cpu_quota.hpp"
#include "proxy/enforce/quota_store.hpp"
#include "proxy/enforce/redis_store.hpp"
#include "proxy/session.hpp"
#include "proxy/tls.hpp"
#include "proxy/upstream_health.hpp"
#include "proxy/enforce/volume_monitor.hpp"

namespace exportwall::proxy {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

[[nodiscard]] bool open_acceptor(tcp::acceptor& a, const std::string& address, std::uint16_t port,
                                 std::string& error) {
    error_code ec;
    auto addr = net::ip::make_address(address, ec);
    if (ec) {
        error = "'" + address + "' is not an IP address";
        return false;
    }
    tcp::endpoint ep(addr, port);
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
    if (!ec) return true;
    error = address + ":" + std::to_string(port) + ": " + ec.message();
    return false;
}

[[nodiscard]] bool write_ports_file(const std::string& path,
                                    const std::vector<std::uint16_t>& ports,
                                    std::uint16_t admin_port, std::uint16_t metrics_port) {
    std::string json = "{\"listeners\":[";
    for (std::size_t i = 0; i < ports.size(); ++i) {
        if (i != 0) json += ',';
        json += std::to_string(ports[i]);
    }
    json += "],\"admin\":";
    json += std::to_string(admin_port);
    if (metrics_port != 0) {
        json += ",\"metrics\":";
        json += std::to_string(metrics_port);
    }
    json += "}\n";
    // Written beside the target, then renamed: a reader never sees a half-written file.
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << json;
        if (!out.flush()) return false;
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    return !ec;
}

// One io_context per I/O thread, as nginx has one event loop per worker: a connection lives on
// one context from accept to close, so its reads, writes, timers and filter run on one thread
// (a single shared io_context let a session's handlers hop between threads, paying a futex wake
// and a cache migration per hop — a third of a bulk export's CPU). Contexts without a connection
// are kept running by their work guards until stop().
struct io_pool {
    // An io_context whose shutdown (destroying the handlers it still holds) can come before its
    // destruction.
    struct context : net::io_context {
        using net::execution_context::shutdown;
        using net::io_context::io_context;
    };
    explicit io_pool(unsigned n) {
        for (unsigned i = 0; i < n; ++i) {
            contexts.push_back(std::make_unique<context>(1));
            guards.emplace_back(net::make_work_guard(*contexts.back()));
        }
    }
    // Every context drops its pending handlers before any context is destroyed: a coroutine
    // frame on one may hold the last reference to an object with sockets on another (the Redis
    // store keeps idle connections per context), and a socket must not outlive its context's
    // services (ThreadSanitizer: heap-use-after-free when serve stopped during a quota close).
    ~io_pool() {
        for (auto& c : contexts) c->shutdown();
    }
    io_pool(const io_pool&) = delete;
    io_pool& operator=(const io_pool&) = delete;
    // The context of the next accepted connection (round robin).
    net::io_context& next() { return *contexts[next_.fetch_add(1) % contexts.size()]; }
    void stop() {
        for (auto& c : contexts) c->stop();
    }
    std::vector<std::unique_ptr<context>> contexts;
    std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;

  private:
    std::atomic<std::size_t> next_{0};
};

net::awaitable<void> accept_loop(runtime& rt, tcp::acceptor& acceptor,
                                 std::shared_ptr<const listener_context> listener,
                                 io_pool& workers) {
    net::steady_timer backoff(co_await net::this_coro::executor);
    while (acceptor.is_open()) {
        // The connection's executor is its context's own, not a strand on it: one thread runs
        // each context, which serialises the session's handlers as a strand would, and a strand
        // made every completion a second trip through the scheduler and two mutex acquisitions
        // (~6 % of a small export's CPU, docs/benchmarks.md "Tenth round").
        auto [ec, socket] =
            co_await acceptor.async_accept(workers.next().get_executor(), use_tuple);
        if (ec) {
            if (ec == net::error::operation_aborted || !acceptor.is_open()) break;
            // Out of file descriptors and kin: pause instead of spinning.
            spdlog::warn("accept failed: {}", ec.message());
            backoff.expires_after(std::chrono::milliseconds(100));
            co_await backoff.async_wait(use_tuple);
            continue;
        }
        auto max = rt.current()->config->net.limit.max_connections;
        if (rt.stats().active_connections() >= static_cast<std::int64_t>(max)) {
            error_code ignored;
            socket.close(ignored);
            continue;
        }
        auto ex = socket.get_executor();
        net::co_spawn(ex, run_session(rt, listener, std::move(socket)), net::detached);
    }
}

// How long the stop waits, after cutting the exports still running at the end of the grace, for
// their sessions to record them (audit record queued, access-log line written).
constexpr std::chrono::milliseconds cut_wait{2000};

[[nodiscard]] const char* signal_name(int sig) {
    switch (sig) {
        case SIGINT:
            return "SIGINT";
        case SIGTERM:
            return "SIGTERM";
        case SIGHUP:
            return "SIGHUP";
        case SIGUSR1:
            return "SIGUSR1";
        case SIGUSR2:
            return "SIGUSR2";
        case SIGALRM:
            return "SIGALRM";
        default:
            return "signal";
    }
}

// Waits until no request is in flight or `limit` passes; true when none is. The request that
// leaves last cancels the wait through this (the control) strand; the timer is shared with that
// cancellation, which may still be queued when the wait is over.
net::awaitable<bool> wait_idle(runtime& rt, std::chrono::milliseconds limit) {
    auto ex = co_await net::this_coro::executor;
    auto timer = std::make_shared<net::steady_timer>(ex);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
        timer->expires_at(deadline);
        rt.in_flight().when_idle([ex, timer] { net::post(ex, [timer] { timer->cancel(); }); });
        auto [ec] = co_await timer->async_wait(use_tuple);
        (void)ec;
        rt.in_flight().when_idle(nullptr);
        if (rt.in_flight().count() == 0) co_return true;
        // Woken by a request that left while another entered (its head was read before the
        // stop): wait on.
        if (std::chrono::steady_clock::now() >= deadline) co_return false;
    }
}

// SIGTERM/SIGINT. /readyz fails at once and the listeners keep accepting for the drain delay (the
// load balancer stops sending meanwhile); then they close and no new request starts. Requests in
// flight get the shutdown grace; those still running then are cut — aborted with reason
// `shutdown`, audited and logged by their own sessions — and the stop waits (bounded) for that.
// The io threads stop; run_server flushes the audit trail before it returns.
net::awaitable<void> drain(runtime& rt, int sig, std::vector<tcp::acceptor>& acceptors,
                           io_pool& workers) {
    const auto limits = rt.current()->config->net.limit;
    rt.draining.store(true);
    if (limits.drain_delay.count() > 0) {
        spdlog::info("{}: /readyz fails; still accepting for the drain delay ({} ms)",
                     signal_name(sig), limits.drain_delay.count());
        net::steady_timer delay(co_await net::this_coro::executor, limits.drain_delay);
        auto [ec] = co_await delay.async_wait(use_tuple);
        (void)ec;
    }
    rt.stopping.store(true);
    for (auto& a : acceptors) {
        error_code ignored;
        a.close(ignored);
    }
    spdlog::info("{}: no new connections; draining {} request(s) in flight for up to {} ms",
                 signal_name(sig), rt.in_flight().count(), limits.shutdown_grace.count());
    if (co_await wait_idle(rt, limits.shutdown_grace)) {
        spdlog::info("drained; exiting");
    } else {
        const std::size_t cut = rt.in_flight().cut_all();
        spdlog::warn("shutdown grace over: {} request(s) cut (aborted, reason shutdown)", cut);
        if (co_await wait_idle(rt, cut_wait))
            spdlog::info("the cut requests are recorded; exiting");
        else
            spdlog::warn("{} cut request(s) did not end within {} ms; exiting",
                         rt.in_flight().count(), cut_wait.count());
    }
    workers.stop();
}

// Signals for the life of the process, on the control strand. SIGTERM/SIGINT start the drain
// (once; a second one is only logged), SIGHUP reloads, SIGUSR1 reopens the logs; SIGUSR2 and
// SIGALRM, which would kill by default and are easily sent by mistake, are logged and ignored.
net::awaitable<void> signal_loop(runtime& rt, net::signal_set& signals,
                                 std::vector<tcp::acceptor>& acceptors, io_pool& workers) {
    bool draining = false;
    while (true) {
        auto [ec, sig] = co_await signals.async_wait(use_tuple);
        if (ec) co_return;
        switch (sig) {
            case SIGHUP: {
                spdlog::info("SIGHUP: reloading {}", rt.config_path());
                std::string out;
                (void)rt.reload(out, load_trigger::sighup);
                break;
            }
            case SIGUSR1:
                spdlog::info("SIGUSR1: reopening the logs");
                rt.reopen_logs();
                break;
            case SIGINT:
            case SIGTERM:
                if (draining) {
                    spdlog::info("{}: already stopping", signal_name(sig));
                    break;
                }
                draining = true;
                net::co_spawn(co_await net::this_coro::executor, drain(rt, sig, acceptors, workers),
                              net::detached);
                break;
            default:
                spdlog::info("signal {} ignored", signal_name(sig));
                break;
        }
    }
}

// The suppression lists' files, watched with inotify through their directories: when one is
// rewritten or replaced, the configuration is reloaded as SIGHUP reloads it, so a list's max-age
// counts from the new file without an operator's signal. Operators replace a file by rename (or
// a Kubernetes volume swaps a symlink), which a watch on the file itself would not follow: the
// directory is watched. A reload that fails keeps the previous configuration, and its lists go
// stale in their time (fail closed). Runs on the control strand; re-armed after every successful
// reload, whatever caused it, since a reload may name other files.
class list_watch {
  public:
    list_watch(runtime& rt, const net::strand<net::io_context::executor_type>& ex)
        : rt_(rt), descriptor_(ex) {}
    ~list_watch() = default;
    list_watch(const list_watch&) = delete;
    list_watch& operator=(const list_watch&) = delete;

    // False (logged) when inotify cannot be used: lists are then re-read on SIGHUP only.
    [[nodiscard]] bool open() {
        const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0) {
            spdlog::warn(
                "cannot watch suppression-list files ({}); they are re-read on SIGHUP "
                "only",
                std::generic_category().message(errno));
            return false;
        }
        descriptor_.assign(fd);
        return true;
    }

    // Watches the directories of the current snapshot's lists (the enforced policy's and the
    // shadow's). A directory already watched keeps its watch and the events queued on it; one no
    // list needs any more is dropped. A list whose file changed since the snapshot read it (in
    // the moment before its directory was watched) is reloaded at once.
    void arm() {
        if (!descriptor_.is_open()) return;
        auto snap = rt_.current();
        lists_.clear();
        std::map<int, std::string> watched;
        auto add = [&](const config::policy& p) {
            for (const auto& l : p.suppression_lists) {
                const std::filesystem::path file(l.file);
                std::string dir = file.parent_path().string();
                if (dir.empty()) dir = ".";
                // Not IN_MODIFY: it fires on every write() to a file being written, and reading
                // it then would publish half a list; the writer's IN_CLOSE_WRITE follows.
                const int wd = ::inotify_add_watch(
                    descriptor_.native_handle(), dir.c_str(),
                    IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB | IN_DELETE | IN_ONLYDIR);
                if (wd < 0) {
                    spdlog::warn(
                        "cannot watch {} for changes of suppression list '{}' ({}); it is "
                        "re-read on SIGHUP only",
                        dir, l.id, std::generic_category().message(errno));
                    continue;
                }
                watched.emplace(wd, dir);
                lists_.push_back({wd, l.id, l.file, file.filename().string(),
                                  l.entries != nullptr ? l.entries->modified() : 0});
            }
        };
        add(snap->config->rules);
        if (snap->config->shadow) add(*snap->config->shadow);
        for (const auto& [wd, dir] : watched_)
            if (watched.count(wd) == 0) (void)::inotify_rm_watch(descriptor_.native_handle(), wd);
        watched_ = std::move(watched);
        for (const auto& l : lists_) {
            if (auto t = file_time(l.file); t && *t > l.modified) {
                spdlog::info("suppression list '{}' changed ({}) since it was read", l.id, l.file);
                reload();
                return;
            }
        }
    }

    // Reads events until the descriptor is closed; the events of one read() make one reload.
    net::awaitable<void> run() {
        // inotify returns whole events only; one with the longest name fits many times.
        std::array<char, 16 * 1024> buffer{};
        while (descriptor_.is_open()) {
            auto [ec, n] = co_await descriptor_.async_read_some(net::buffer(buffer), use_tuple);
            if (ec) {
                if (ec != net::error::operation_aborted)
                    spdlog::warn(
                        "suppression-list watch stopped: {}; lists are re-read on SIGHUP "
                        "only",
                        ec.message());
                co_return;
            }
            if (changed(buffer.data(), n)) reload();
        }
    }

  private:
    // Whether the events of one read() change a list (each one logged). Apart from the
    // coroutine: an inotify_event (a flexible array member) cannot live in a coroutine frame.
    [[nodiscard]] bool changed(const char* data, std::size_t n) const {
        std::vector<std::string_view> ids;
        bool overflow = false;
        for (std::size_t at = 0; at + sizeof(inotify_event) <= n;) {
            inotify_event ev{};
            std::memcpy(&ev, data + at, sizeof ev);
            std::string_view name(data + at + sizeof ev,
                                  std::min<std::size_t>(ev.len, n - at - sizeof ev));
            name = name.substr(0, name.find('\0'));
            at += sizeof ev + ev.len;
            if ((ev.mask & IN_Q_OVERFLOW) != 0) overflow = true;
            for (const auto& l : lists_) {
                if (l.wd != ev.wd || !changes(l, ev.mask, name)) continue;
                if (std::find(ids.begin(), ids.end(), l.id) != ids.end()) continue;
                ids.push_back(l.id);
                spdlog::info("suppression list '{}' changed ({})", l.id, l.file);
            }
        }
        if (overflow) spdlog::warn("suppression-list watch: events were lost (queue overflow)");
        return !ids.empty() || overflow;
    }

    struct watched_list {
        int wd = -1;
        std::string id;
        std::string file;           // as the configuration resolved it
        std::string name;           // its name in the watched directory
        std::int64_t modified = 0;  // the file time the snapshot's entries were read with
    };

    [[nodiscard]] static std::optional<std::int64_t> file_time(const std::string& path) {
        std::error_code ec;
        const auto t = std::filesystem::last_write_time(path, ec);
        if (ec) return std::nullopt;
        return std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::file_clock::to_sys(t).time_since_epoch())
            .count();
    }

    // Whether an event in the list's directory changes what the list would read.
    [[nodiscard]] static bool changes(const watched_list& l, std::uint32_t mask,
                                      std::string_view name) {
        if (name != l.name) {
            // Another entry renamed into the directory: a symlink swap (Kubernetes' `..data`)
            // changes the list's file without an event of its own name.
            return (mask & IN_MOVED_TO) != 0 && file_time(l.file).value_or(0) > l.modified;
        }
        if ((mask & IN_CREATE) != 0 && (mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) == 0) {
            // A plain file just created is being written: its IN_CLOSE_WRITE follows, and
            // reading it now could publish a half-written list. A link is complete at once.
            struct stat st {};
            if (::lstat(l.file.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1)
                return false;
        }
        return true;
    }

    // The reload SIGHUP does; on success runtime::reloaded re-arms this watch.
    void reload() {
        spdlog::info("reloading {} for its suppression lists", rt_.config_path());
        std::string out;
        if (!rt_.reload(out, load_trigger::suppression_list))
            spdlog::warn(
                "the previous configuration and its suppression lists stay in force; "
                "a list with a max-age goes stale when it passes");
    }

    runtime& rt_;
    net::posix::stream_descriptor descriptor_;  // the inotify instance
    std::map<int, std::string> watched_;        // watch descriptor → directory
    std::vector<watched_list> lists_;
};

// The watch's coroutine; owns it (a parameter lives in the coroutine frame).
net::awaitable<void> run_watch(std::shared_ptr<list_watch> watch) { co_await watch->run(); }

// The listeners' TLS contexts built anew from `cfg`'s certificate files (listener i of the start
// to listener i of `cfg`); the step that installs them, or an empty function with `errors`.
std::function<void()> reload_listener_tls(
    const std::vector<std::shared_ptr<const listener_context>>& contexts,
    const config::configuration& cfg, std::vector<std::string>& errors) {
    std::vector<std::pair<std::size_t, std::shared_ptr<net::ssl::context>>> fresh;
    const std::size_t errors_before = errors.size();
    for (std::size_t i = 0; i < contexts.size(); ++i) {
        if (!contexts[i]->tls.load()) continue;
        if (i >= cfg.net.listeners.size() || !cfg.net.listeners[i].tls) {
            spdlog::warn("reload: listener {} keeps TLS and its certificate: TLS is switched on "
                         "or off only by a restart",
                         i + 1);
            continue;
        }
        const auto& l = cfg.net.listeners[i];
        std::string error;
        auto tls = make_server_context(*l.tls, error);
        if (!tls) {
            errors.push_back(l.where.file + ":" + std::to_string(l.where.line) + ":" +
                             std::to_string(l.where.column) + ": listener TLS: " + error);
            continue;
        }
        fresh.emplace_back(i, std::move(tls));
    }
    if (errors.size() != errors_before) return {};
    return [&contexts, fresh = std::move(fresh)] {
        for (const auto& [i, tls] : fresh) contexts[i]->tls.store(tls);
        if (!fresh.empty())
            spdlog::info("reload: {} listener certificate(s) read again", fresh.size());
    };
}

// The proxy's listeners, index for index: acceptor, context and the port it was bound to.
struct listener_set {
    std::vector<tcp::acceptor> acceptors;
    std::vector<std::shared_ptr<const listener_context>> contexts;
    std::vector<std::uint16_t> ports;
};

// Binds every listener of `cfg` on the control strand, with its TLS context. False (logged as
// file:line:col) when one cannot be set up.
[[nodiscard]] bool open_listeners(const config::settings& cfg,
                                  const net::strand<net::io_context::executor_type>& control,
                                  listener_set& out) {
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
        const auto& l = cfg.listeners[i];
        auto ctx = std::make_shared<listener_context>();
        ctx->index = i;
        ctx->trusted_proxies = l.trusted_proxies;
        ctx->proxy_protocol = l.proxy_protocol;
        ctx->forwarded_for = l.forwarded_for;
        if (l.tls) {
            std::string error;
            auto tls = make_server_context(*l.tls, error);
            if (!tls) {
                spdlog::error("{}:{}:{}: listener TLS: {}", l.where.file, l.where.line,
                              l.where.column, error);
                return false;
            }
            ctx->tls.store(std::move(tls));
        }
        tcp::acceptor a(control);
        std::string error;
        if (!open_acceptor(a, l.address, l.port, error)) {
            spdlog::error("{}:{}:{}: cannot listen on {}", l.where.file, l.where.line,
                          l.where.column, error);
            return false;
        }
        out.ports.push_back(a.local_endpoint().port());
        spdlog::info("listening on {}:{} ({})", l.address, out.ports.back(),
                     l.tls ? "https" : "http");
        out.acceptors.push_back(std::move(a));
        out.contexts.push_back(std::move(ctx));
    }
    return true;
}

// The admin listener and, when configured, the token-free metrics listener (Prometheus scrape
// annotations).
struct admin_listeners {
    explicit admin_listeners(net::io_context& ioc) : acceptor(ioc), metrics(ioc) {}
    tcp::acceptor acceptor;
    std::uint16_t port = 0;
    tcp::acceptor metrics;
    std::uint16_t metrics_port = 0;  // 0: no metrics listener
};

// Checks the admin settings and binds the admin and metrics listeners. False (logged) when the
// settings are refused or a listener cannot be bound.
[[nodiscard]] bool open_admin_listeners(const config::admin_listener& cfg, admin_listeners& out) {
    if (auto problem = check_admin_settings(cfg)) {
        spdlog::error("admin listener: {}", *problem);
        return false;
    }
    std::string error;
    if (!open_acceptor(out.acceptor, cfg.address, cfg.port, error)) {
        spdlog::error("cannot listen on the admin address {}", error);
        return false;
    }
    out.port = out.acceptor.local_endpoint().port();
    spdlog::info("admin listener on {}:{}", cfg.address, out.port);
    if (!cfg.metrics_address.empty()) {
        if (!open_acceptor(out.metrics, cfg.metrics_address, cfg.metrics_port, error)) {
            spdlog::error("cannot listen on the metrics address {}", error);
            return false;
        }
        out.metrics_port = out.metrics.local_endpoint().port();
        spdlog::info("metrics listener on {}:{} (/metrics, /healthz; no token)",
                     cfg.metrics_address, out.metrics_port);
    }
    return true;
}

// Quotas, paged exports and volume alerts count in one store: Redis when configured (shared by
// the replicas that name it), this process otherwise. Fixed at start-up. False (logged) when the
// Redis store cannot be set up.
[[nodiscard]] bool open_quota_store(runtime& rt, const config::settings& cfg) {
    rt.local_quotas = make_memory_store();
    if (cfg.quota_store.configured) {
        std::string error;
        rt.quotas = make_redis_store(cfg.quota_store, error);
        if (!rt.quotas) {
            spdlog::error("quota store: {}", error);
            return false;
        }
        spdlog::info("quota store {}", rt.quotas->describe());
    } else {
        rt.quotas = rt.local_quotas;
    }
    rt.quota_batch = cfg.quota_store.batch;
    rt.volume = std::make_shared<volume_monitor>(rt.quotas, rt.audit, rt.stats());
    return true;
}

// The Redis store's strand and sockets belong to run_server's io_contexts: the stores go before
// them, on every way out once they were opened.
struct stores_release {  // a copy would release them twice
    runtime& r;
    explicit stores_release(runtime& rt) : r(rt) {}
    stores_release(const stores_release&) = delete;
    stores_release& operator=(const stores_release&) = delete;
    ~stores_release() {
        r.volume.reset();
        r.quotas.reset();
        r.local_quotas.reset();
    }
};

// The listeners' contexts are run_server's: no reload prepares them once it returns.
struct prepare_release {  // a copy would clear it twice
    runtime& r;
    explicit prepare_release(runtime& rt) : r(rt) {}
    prepare_release(const prepare_release&) = delete;
    prepare_release& operator=(const prepare_release&) = delete;
    ~prepare_release() { r.prepare_reload = nullptr; }
};

// Serves the admin listener, with the audit review page, and the metrics listener when there is
// one, on `ioc`; starts the upstream health checks.
void start_admin(runtime& rt, const config::settings& cfg, net::io_context& ioc,
                 admin_listeners& listeners) {
    admin_hooks hooks;
    hooks.m = &rt.stats();
    hooks.ready = [&rt] { return rt.ready(); };
    hooks.revision = [&rt] { return rt.current()->config->revision; };
    hooks.reload = [&rt](std::string& out) { return rt.reload(out, load_trigger::admin); };
    hooks.token_sha256 = cfg.admin.token_sha256;
    hooks.volume = rt.volume;
    // The review page and its API (proxy/ops/audit_review.hpp).
    audit_review_settings review;
    review.audit_path = cfg.audit.path;
    review.configuration = [&rt] { return rt.current()->config; };
    hooks.extension = audit_review(std::move(review));
    if (listeners.metrics_port != 0) {
        admin_hooks metrics_hooks;
        metrics_hooks.m = &rt.stats();
        metrics_hooks.metrics_only = true;
        net::co_spawn(ioc, run_admin(std::move(listeners.metrics), std::move(metrics_hooks)),
                      net::detached);
    }
    net::co_spawn(ioc, run_admin(std::move(listeners.acceptor), std::move(hooks)), net::detached);
    // /readyz follows each upstream's health by itself (proxy/upstream_health.hpp).
    start_health_checks(rt, ioc);
}

// Suppression lists re-read when their file changes. The watch lives in its coroutine; a reload
// (from any source) re-arms it on the control strand.
std::shared_ptr<list_watch> start_list_watch(
    runtime& rt, const net::strand<net::io_context::executor_type>& control) {
    auto watch = std::make_shared<list_watch>(rt, control);
    if (watch->open()) {
        rt.reloaded = [weak = std::weak_ptr<list_watch>(watch), control] {
            net::post(control, [weak] {
                if (auto w = weak.lock()) w->arm();
            });
        };
        watch->arm();
        net::co_spawn(control, run_watch(watch), net::detached);
    }
    return watch;
}

// <exportwall priority>: the nice value the I/O threads run at. Set on this thread, which runs
// the first io_context and starts the others' threads (a thread starts at the nice value of the
// thread that created it), before any of them; threads started earlier keep theirs. On Linux a
// nice value belongs to a thread: PRIO_PROCESS with a thread id sets that one alone. False, with
// the reason logged, when the system refuses it.
bool apply_priority(const std::optional<int>& priority) {
    if (!priority) return true;
    errno = 0;
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), *priority) == 0) return true;
    const int e = errno;
    spdlog::error(
        "cannot run the I/O threads at priority {} (<exportwall priority>): {}{}", *priority,
        std::generic_category().message(e),
        e == EACCES || e == EPERM
            ? "; a priority below the one exportwall was started with needs CAP_SYS_NICE (or an "
              "RLIMIT_NICE that allows it): grant it, or remove the attribute"
            : "");
    return false;
}

// Runs the first io_context on this thread and every other one on a thread of its own, until
// they stop.
void run_io(io_pool& workers, unsigned threads) {
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) {
        net::io_context* c = workers.contexts[i].get();
        pool.emplace_back([c] { c->run(); });
    }
    workers.contexts.front()->run();
    for (auto& t : pool) t.join();
}

}  // namespace

int run_server(runtime& rt, const server_options& options) {
    // A write to a closed pipe (the access log on stdout into a collector that died) fails with
    // EPIPE instead of killing the process; sockets send with MSG_NOSIGNAL already.
    std::signal(SIGPIPE, SIG_IGN);
    auto snap = rt.current();
    const auto& net_cfg = snap->config->net;
    unsigned threads = options.threads != 0 ? options.threads : net_cfg.threads;
    if (threads == 0) threads = default_threads();  // the affinity mask and the cgroup's quota
    if (!apply_priority(net_cfg.priority)) return 1;

    {
        io_pool workers(threads);
        net::io_context& ioc = *workers.contexts.front();
        auto control = net::make_strand(ioc);
        listener_set listeners;
        if (!open_listeners(net_cfg, control, listeners)) return 1;
        admin_listeners admin(ioc);
        if (!open_admin_listeners(net_cfg.admin, admin)) return 1;
        if (!open_quota_store(rt, net_cfg)) return 1;
        const stores_release release_stores{rt};
        start_admin(rt, net_cfg, ioc, admin);

        for (std::size_t i = 0; i < listeners.acceptors.size(); ++i)
            net::co_spawn(control,
                          accept_loop(rt, listeners.acceptors[i], listeners.contexts[i], workers),
                          net::detached);

        net::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
        signals.add(SIGUSR1);
        signals.add(SIGUSR2);
        signals.add(SIGALRM);
        net::co_spawn(control, signal_loop(rt, signals, listeners.acceptors, workers),
                      net::detached);

        // A reload re-reads the listeners' certificate files (a renewed certificate is served
        // to the next connection); a file that cannot be read refuses the reload and the old
        // certificates stay. TLS on or off, like the address, changes only with a restart.
        rt.prepare_reload = [&contexts = listeners.contexts](const config::configuration& cfg,
                                                             std::vector<std::string>& errors) {
            return reload_listener_tls(contexts, cfg, errors);
        };
        const prepare_release release_prepare{rt};

        const auto watch = start_list_watch(rt, control);

        // The configuration in force is on the trail before the first export is decided under it
        // (and before the ports file says the proxy is up). A trail that cannot take it now
        // refuses exports until it heals; the record is then missing (logged).
        (void)rt.record_policy_loaded(load_trigger::start);

        if (!options.ports_file.empty() && !write_ports_file(options.ports_file, listeners.ports,
                                                             admin.port, admin.metrics_port)) {
            spdlog::error("cannot write the ports file {}", options.ports_file);
            rt.reloaded = nullptr;
            return 1;
        }
        if (net_cfg.priority) {
            spdlog::info(
                "exportwall serving with {} thread(s) at priority {}, configuration "
                "revision {}",
                threads, *net_cfg.priority, snap->config->revision);
        } else {
            spdlog::info("exportwall serving with {} thread(s), configuration revision {}", threads,
                         snap->config->revision);
        }

        run_io(workers, threads);
        rt.reloaded = nullptr;
        if (rt.audit_flush) rt.audit_flush();
        // Idle upstream sockets belong to these io_contexts: close them before they go.
        rt.pool().clear();
        rt.log().flush();
    }
    return 0;
}

}  // namespace exportwall::proxy
