#include "proxy/enforce/export_quota.hpp"

#include <algorithm>
#include <chrono>

#include <boost/asio/this_coro.hpp>
#include <spdlog/spdlog.h>

namespace exportwall::proxy {

quota_window window_of(config::quota_period period, std::int64_t now) {
    using namespace std::chrono;
    quota_window w;
    switch (period) {
        case config::quota_period::hour:
            w.start = now - now % 3600;
            w.end = w.start + 3600;
            break;
        case config::quota_period::day:
            w.start = now - now % 86400;
            w.end = w.start + 86400;
            break;
        case config::quota_period::month: {
            const sys_days today{days{now / 86400}};
            const year_month_day ymd{today};
            const year_month first = ymd.year() / ymd.month();
            const year_month next = first + months{1};
            w.start = sys_days{first / 1}.time_since_epoch().count() * 86400;
            w.end = sys_days{next / 1}.time_since_epoch().count() * 86400;
            break;
        }
    }
    return w;
}

std::string chain_key(const config::continuation_chain& chain) {
    return "chain:" + config::chain_hex(chain);
}

quota_plan plan_quota(const config::decision& d, const config::continuation_chain& chain,
                      std::int64_t now, std::int64_t chain_ttl) {
    quota_plan plan;
    if (!d.allowed_export()) return plan;
    // A passthrough route's answer is not records: nothing to count (quotas count records).
    if (d.matched_route != nullptr && d.matched_route->format == config::route_format::passthrough)
        return plan;
    const config::grant* g = d.grant_ref;
    if (g != nullptr && g->quota != 0) {
        const quota_window w = window_of(g->quota_window, now);
        // Configuration ids only ('|' is not an id character): never a request value.
        std::string key = "quota:" + d.client_id + "|" + d.purpose_id + "|" + d.destination_id +
                          "|" + std::string(config::to_string(g->quota_window)) + "|" +
                          std::to_string(w.start);
        // Kept a minute past the window: a late release still finds its counter.
        plan.counters.push_back({std::move(key), g->quota, w.end - now + 60});
        plan.reasons.push_back(config::reason::quota_exceeded);
        plan.needs_shared = true;
        plan.window_end = w.end;
    }
    // A paged export's pages count together against max-records: a later page draws on its
    // first page's chain; a first page on a route that seals paging links starts one (from its
    // first record: a link early in the body can be followed while the page still streams).
    const bool seals = d.matched_route != nullptr && !d.matched_route->continuation_params.empty();
    if (d.max_records != 0 && (d.chain || seals)) {
        plan.counters.push_back(
            {chain_key(d.chain ? *d.chain : chain), d.max_records,
             std::max<std::int64_t>(chain_ttl, 60)});
        plan.reasons.push_back(config::reason::record_limit_exceeded);
        plan.first_page = !d.chain;
    }
    return plan;
}

export_quota::export_quota(quota_plan plan, std::shared_ptr<quota_store> shared,
                           std::shared_ptr<quota_store> local, std::uint64_t batch)
    : plan_(std::move(plan)),
      store_(std::move(shared)),
      local_(std::move(local)),
      batch_(std::max<std::uint64_t>(batch, 1)) {
    if (!store_) store_ = local_;
}

std::uint64_t export_quota::next_want(std::uint64_t missing) {
    const std::uint64_t want = std::max(missing, std::min(step_, batch_));
    step_ = std::min(step_ * 4, batch_);
    return want;
}

void export_quota::note_usage(const reservation& r) {
    for (std::size_t i = 0; i < plan_.counters.size() && i < r.rooms.size(); ++i) {
        if (plan_.reasons.at(i) != config::reason::quota_exceeded) continue;
        const std::uint64_t limit = plan_.counters[i].limit;
        grant_usage_ = usage{limit - std::min(limit, r.rooms[i]), limit};
        return;
    }
}

boost::asio::awaitable<export_quota::verdict> export_quota::open(std::int64_t now) {
    verdict v;
    if (!active() || !store_) co_return v;
    const std::uint64_t want = next_want(1);
    reservation r = co_await store_->reserve(plan_.counters, want);
    if (r.error && !plan_.needs_shared && local_ && store_ != local_) {
        // Only a chain is counted: a store outage must not refuse a grant without a quota. The
        // pages count on this replica meanwhile.
        spdlog::warn("quota store unavailable ({}): a paged export's max-records counts on this "
                     "replica only",
                     r.error.message());
        store_ = local_;
        r = co_await store_->reserve(plan_.counters, want);
    }
    if (r.error) {
        refusal_ = v.refusal = config::reason::quota_store_unavailable;
        co_return v;
    }
    reserved_ = r.granted;
    room_ = r.room;
    note_usage(r);
    if (r.granted == 0) {
        refusal_ = v.refusal = plan_.reasons.at(r.limited_by);
        if (v.refusal == config::reason::quota_exceeded && plan_.window_end > now)
            v.retry_after = static_cast<std::uint64_t>(plan_.window_end - now);
    }
    co_return v;
}

boost::asio::awaitable<std::uint64_t> export_quota::cover(std::uint64_t produced) {
    if (!active() || !store_) co_return produced;
    while (produced > reserved_ && refusal_ == config::reason::none) {
        const std::uint64_t want = next_want(produced - reserved_);
        reservation r = co_await store_->reserve(plan_.counters, want);
        if (r.error && !plan_.needs_shared && local_ && store_ != local_) {
            store_ = local_;
            r = co_await store_->reserve(plan_.counters, want);
        }
        if (r.error) {
            refusal_ = config::reason::quota_store_unavailable;
            break;
        }
        reserved_ += r.granted;
        room_ = r.room;
        note_usage(r);
        if (r.granted < want && reserved_ < produced) refusal_ = plan_.reasons.at(r.limited_by);
    }
    co_return std::min(produced, reserved_);
}

boost::asio::awaitable<void> export_quota::close(std::uint64_t delivered, bool continued) {
    if (closed_ || !active() || !store_) co_return;
    closed_ = true;
    if (reserved_ > delivered) {
        if (room_ >= 4 * batch_) {
            // Far from every limit: a return that lands a moment later changes no decision, and
            // the next command of this replica carries it (no round trip of its own).
            store_->release_soon(plan_.counters, reserved_ - delivered,
                                 co_await boost::asio::this_coro::executor);
        } else {
            auto ec = co_await store_->release(plan_.counters, reserved_ - delivered);
            // Not returned: the window keeps it as used (fail closed) until it ends.
            if (ec)
                spdlog::warn("quota store: an unused reservation was not returned ({})",
                             ec.message());
        }
    }
    // A first page that handed out no paging link ends its chain: no counter stays behind.
    if (plan_.first_page && !continued) (void)co_await store_->put(plan_.counters.back().key, 0);
}

}  // namespace exportwall::proxy
