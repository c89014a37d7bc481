#include "proxy/server.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <boost/json/serialize.hpp>

#include "audit/query.hpp"
#include "audit/reader.hpp"
#include "audit/review_page.hpp"
#include "proxy/admin.hpp"
#include "proxy/session.hpp"
#include "proxy/tls.hpp"

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
                                    std::uint16_t admin_port) {
    std::string json = "{\"listeners\":[";
    for (std::size_t i = 0; i < ports.size(); ++i) {
        if (i != 0) json += ',';
        json += std::to_string(ports[i]);
    }
    json += "],\"admin\":";
    json += std::to_string(admin_port);
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
    explicit io_pool(unsigned n) {
        for (unsigned i = 0; i < n; ++i) {
            contexts.push_back(std::make_unique<net::io_context>(1));
            guards.emplace_back(net::make_work_guard(*contexts.back()));
        }
    }
    // The context of the next accepted connection (round robin).
    net::io_context& next() { return *contexts[next_.fetch_add(1) % contexts.size()]; }
    void stop() {
        for (auto& c : contexts) c->stop();
    }
    std::vector<std::unique_ptr<net::io_context>> contexts;
    std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;

  private:
    std::atomic<std::size_t> next_{0};
};

net::awaitable<void> accept_loop(runtime& rt, tcp::acceptor& acceptor,
                                 std::shared_ptr<const listener_context> listener,
                                 io_pool& workers) {
    net::steady_timer backoff(co_await net::this_coro::executor);
    while (acceptor.is_open()) {
        auto [ec, socket] =
            co_await acceptor.async_accept(net::make_strand(workers.next()), use_tuple);
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

net::awaitable<void> signal_loop(runtime& rt, net::signal_set& signals,
                                 std::vector<tcp::acceptor>& acceptors, io_pool& workers) {
    while (true) {
        auto [ec, sig] = co_await signals.async_wait(use_tuple);
        if (ec) co_return;
        if (sig == SIGHUP) {
            spdlog::info("SIGHUP: reloading {}", rt.config_path());
            std::string out;
            (void)rt.reload(out);
            continue;
        }
        spdlog::info("signal {}: no new connections; draining in-flight requests", sig);
        rt.stopping.store(true);
        for (auto& a : acceptors) {
            error_code ignored;
            a.close(ignored);
        }
        auto grace = rt.current()->config->net.limit.shutdown_grace;
        auto deadline = std::chrono::steady_clock::now() + grace;
        net::steady_timer timer(co_await net::this_coro::executor);
        while (rt.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
            timer.expires_after(std::chrono::milliseconds(20));
            co_await timer.async_wait(use_tuple);
        }
        if (rt.in_flight.load() > 0)
            spdlog::warn("shutdown grace over: {} request(s) cut", rt.in_flight.load());
        else
            spdlog::info("drained; exiting");
        workers.stop();
        co_return;
    }
}

}  // namespace

namespace {

// /admin/audit (the review API, same filters as `exportwall audit list`) and /admin/ (the
// blocked-transfer review page). The chain status is recomputed at most once a minute: verifying
// a large trail takes seconds of one io thread.
std::function<std::optional<admin_response>(const admin_request&)> audit_review(
    std::string audit_path) {
    struct chain_cache {
        std::mutex mutex;
        std::chrono::steady_clock::time_point checked{};
        audit::verify_result result;
        bool valid = false;
    };
    auto cache = std::make_shared<chain_cache>();
    return [audit_path = std::move(audit_path),
            cache](const admin_request& req) -> std::optional<admin_response> {
        std::string_view target = req.target;
        auto q = target.find('?');
        std::string_view path = target.substr(0, q);
        std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
        if (req.method != "GET") return std::nullopt;
        if (path == "/admin/" || path == "/admin") {
            return admin_response{200, "text/html; charset=utf-8",
                                  std::string(audit::review_page_html())};
        }
        if (path != "/admin/audit") return std::nullopt;
        std::string error;
        auto parsed = audit::parse_audit_query(query, error);
        if (!parsed) {
            return admin_response{400, "application/json",
                                  boost::json::serialize(boost::json::object{
                                      {"error", "invalid query parameter"}, {"detail", error}})};
        }
        audit::audit_page page;
        if (auto ec = audit::read_audit_page(audit_path, *parsed, page)) {
            return admin_response{503, "application/json",
                                  R"({"error":"the audit trail cannot be read"})"};
        }
        audit::verify_result chain;
        {
            std::lock_guard lock(cache->mutex);
            auto now = std::chrono::steady_clock::now();
            if (!cache->valid || now - cache->checked > std::chrono::minutes(1)) {
                cache->result = audit::verify_chain(audit_path, true);
                cache->checked = now;
                cache->valid = true;
            }
            chain = cache->result;
        }
        return admin_response{200, "application/json", audit::render_audit_page(page, chain)};
    };
}

}  // namespace

int run_server(runtime& rt, const server_options& options) {
    auto snap = rt.current();
    const auto& net_cfg = snap->config->net;
    unsigned threads = options.threads != 0 ? options.threads : net_cfg.threads;
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());

    {
        io_pool workers(threads);
        net::io_context& ioc = *workers.contexts.front();
        auto control = net::make_strand(ioc);
        std::vector<tcp::acceptor> acceptors;
        std::vector<std::shared_ptr<const listener_context>> contexts;
        std::vector<std::uint16_t> ports;
        for (std::size_t i = 0; i < net_cfg.listeners.size(); ++i) {
            const auto& l = net_cfg.listeners[i];
            auto ctx = std::make_shared<listener_context>();
            ctx->index = i;
            if (l.tls) {
                std::string error;
                ctx->tls = make_server_context(*l.tls, error);
                if (!ctx->tls) {
                    spdlog::error("{}:{}:{}: listener TLS: {}", l.where.file, l.where.line,
                                  l.where.column, error);
                    return 1;
                }
            }
            tcp::acceptor a(control);
            std::string error;
            if (!open_acceptor(a, l.address, l.port, error)) {
                spdlog::error("{}:{}:{}: cannot listen on {}", l.where.file, l.where.line,
                              l.where.column, error);
                return 1;
            }
            ports.push_back(a.local_endpoint().port());
            spdlog::info("listening on {}:{} ({})", l.address, ports.back(),
                         l.tls ? "https" : "http");
            acceptors.push_back(std::move(a));
            contexts.push_back(std::move(ctx));
        }

        if (auto problem = check_admin_settings(net_cfg.admin)) {
            spdlog::error("admin listener: {}", *problem);
            return 1;
        }
        tcp::acceptor admin(ioc);
        std::string error;
        if (!open_acceptor(admin, net_cfg.admin.address, net_cfg.admin.port, error)) {
            spdlog::error("cannot listen on the admin address {}", error);
            return 1;
        }
        std::uint16_t admin_port = admin.local_endpoint().port();
        spdlog::info("admin listener on {}:{}", net_cfg.admin.address, admin_port);

        admin_hooks hooks;
        hooks.m = &rt.stats();
        hooks.ready = [&rt] { return rt.ready(); };
        hooks.revision = [&rt] { return rt.current()->config->revision; };
        hooks.reload = [&rt](std::string& out) { return rt.reload(out); };
        hooks.token_sha256 = net_cfg.admin.token_sha256;
        hooks.extension = audit_review(net_cfg.audit.path);
        net::co_spawn(ioc, run_admin(std::move(admin), std::move(hooks)), net::detached);

        for (std::size_t i = 0; i < acceptors.size(); ++i)
            net::co_spawn(control, accept_loop(rt, acceptors[i], contexts[i], workers),
                          net::detached);

        net::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
        net::co_spawn(control, signal_loop(rt, signals, acceptors, workers), net::detached);

        if (!options.ports_file.empty() &&
            !write_ports_file(options.ports_file, ports, admin_port)) {
            spdlog::error("cannot write the ports file {}", options.ports_file);
            return 1;
        }
        spdlog::info("exportwall serving with {} thread(s), configuration revision {}", threads,
                     snap->config->revision);

        std::vector<std::thread> pool;
        for (unsigned i = 1; i < threads; ++i) {
            net::io_context* c = workers.contexts[i].get();
            pool.emplace_back([c] { c->run(); });
        }
        ioc.run();
        for (auto& t : pool) t.join();
        if (rt.audit_flush) rt.audit_flush();
        // Idle upstream sockets belong to these io_contexts: close them before they go.
        rt.pool().clear();
        rt.log().flush();
    }
    return 0;
}

}  // namespace exportwall::proxy
