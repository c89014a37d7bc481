#include "proxy/enforce/volume_monitor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <tuple>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/errc.hpp>

#include "audit/record.hpp"
#include "config/decide.hpp"
#include "config/policy.hpp"
#include "proxy/ops/metrics.hpp"
#include "proxy/enforce/quota_store.hpp"

namespace exportwall::proxy {

namespace net = boost::asio;
using boost::system::error_code;

namespace {

constexpr std::string_view hold_prefix = "volume-hold:";
// The one-alert-per-hour marker outlives its hour by one more: an export that started before the
// hour turned may still count into it.
constexpr std::int64_t alerted_ttl_seconds = 2 * 3600;
constexpr std::int64_t hour_seconds = 3600;

// A configuration id as a key part: ids may hold ':' (the key separator) but never '%'.
std::string key_part(std::string_view id) {
    std::string out;
    out.reserve(id.size());
    for (const char c : id) {
        if (c == ':')
            out += "%3A";
        else
            out += c;
    }
    return out;
}

std::string id_from_key_part(std::string_view part) {
    std::string out;
    out.reserve(part.size());
    for (std::size_t i = 0; i < part.size(); ++i) {
        if (part.substr(i, 3) == "%3A") {
            out += ':';
            i += 2;
        } else {
            out += part[i];
        }
    }
    return out;
}

std::string grant_key(std::string_view client, std::string_view purpose) {
    std::string key(client);
    key += '\0';  // configuration ids never hold a NUL byte
    key += purpose;
    return key;
}

std::string alerted_key(std::string_view client, std::string_view purpose, std::int64_t hour) {
    return "volume-alerted:" + key_part(client) + ':' + key_part(purpose) + ':' +
           std::to_string(hour);
}

error_code store_unavailable() { return make_error_code(boost::system::errc::io_error); }

// "…T10:15:02.000Z": the audit record's time member, to the second (what `now` holds).
std::string audit_time(std::int64_t seconds) {
    std::string t = rfc3339_seconds(seconds);
    t.insert(t.size() - 1, ".000");
    return t;
}

// Appends `r` durably and resumes on the caller's executor once it is stored. The sink completes
// on its writer thread (or inline, on a failure): the completion is posted, never run there.
net::awaitable<error_code> store_record(audit::sink& sink, audit::record r) {
    constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
    auto [ec] = co_await net::async_initiate<decltype(use_tuple), void(error_code)>(
        // Runs while this frame is suspended on it: `r` is handed over by reference.
        [&sink, &r](auto handler) {
            using handler_type = decltype(handler);
            // std::function needs a copyable callable; the coroutine's handler is move-only.
            auto h = std::make_shared<handler_type>(std::move(handler));
            sink.append(std::move(r), /*durable=*/true, [h](error_code result) mutable {
                auto ex = net::get_associated_executor(*h);
                net::post(ex, [h = std::move(h), result]() mutable { std::move (*h)(result); });
            });
        },
        use_tuple);
    co_return ec;
}

audit::record base_record(audit::decision decision, std::string_view client,
                          std::string_view purpose, std::int64_t now,
                          std::string_view policy_revision) {
    audit::record r;
    r.id = audit::new_record_id();
    r.time = audit_time(now);
    r.mode = "enforce";
    r.decision = std::string(audit::to_string(decision));
    r.reason = std::string(config::to_string(config::reason::volume_anomaly));
    r.client = std::string(client);
    r.purpose = std::string(purpose);
    r.policy_revision = std::string(policy_revision);
    return r;
}

}  // namespace

std::string_view to_string(volume_bound b) {
    return b == volume_bound::ceiling ? "ceiling" : "multiple";
}

std::optional<std::uint64_t> trailing_median(std::vector<std::uint64_t> hourly_totals) {
    std::erase(hourly_totals, std::uint64_t{0});
    if (hourly_totals.size() < volume_min_active_hours) return std::nullopt;
    const auto middle =
        hourly_totals.begin() + static_cast<std::ptrdiff_t>((hourly_totals.size() - 1) / 2);
    std::nth_element(hourly_totals.begin(), middle, hourly_totals.end());
    return *middle;
}

volume_threshold threshold_for(const config::grant& g, std::optional<std::uint64_t> median) {
    volume_threshold t;
    if (median) t.median = *median;
    if (g.volume_ceiling > 0) {
        t.applies = true;
        t.records = g.volume_ceiling;
        t.bound = volume_bound::ceiling;
    }
    if (g.volume_multiple > 0 && median) {
        const double x = std::floor(g.volume_multiple * static_cast<double>(*median));
        constexpr auto most = std::numeric_limits<std::uint64_t>::max();
        const std::uint64_t bound =
            !(x < static_cast<double>(most)) ? most : static_cast<std::uint64_t>(std::max(x, 0.0));
        if (!t.applies || bound < t.records) {
            t.applies = true;
            t.records = bound;
            t.bound = volume_bound::multiple;
        }
    }
    return t;
}

bool has_volume_alerts(const config::grant& g) {
    return g.volume_ceiling > 0 || g.volume_multiple > 0;
}

std::int64_t hour_start(std::int64_t now) {
    std::int64_t h = now / hour_seconds;
    if (now % hour_seconds < 0) --h;  // before 1970: floor, not truncation
    return h * hour_seconds;
}

std::string volume_hour_key(std::string_view client, std::string_view purpose, std::int64_t hour) {
    return "volume:" + key_part(client) + ':' + key_part(purpose) + ':' + std::to_string(hour);
}

std::string volume_hold_key(std::string_view client, std::string_view purpose) {
    return std::string(hold_prefix) + key_part(client) + ':' + key_part(purpose);
}

std::string rfc3339_seconds(std::int64_t seconds) {
    const auto t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

volume_monitor::volume_monitor(std::shared_ptr<quota_store> store, audit::sink* audit, metrics& m)
    : store_(std::move(store)), audit_(audit), metrics_(m) {}

net::awaitable<volume_monitor::hold_check> volume_monitor::held(std::string_view client,
                                                                std::string_view purpose) {
    hold_check out;
    // (A vector built first: GCC cannot hold an initializer list across a co_await.)
    std::vector<std::string> keys{volume_hold_key(client, purpose)};
    const auto r = co_await store_->read(std::move(keys));
    if (r.error || r.values.size() != 1) {
        out.error = r.error ? r.error : store_unavailable();
        co_return out;
    }
    if (r.values.front() != 0) {
        out.held = true;
        out.since = rfc3339_seconds(static_cast<std::int64_t>(r.values.front()));
    }
    co_return out;
}

net::awaitable<std::optional<std::uint64_t>> volume_monitor::median_for(std::string_view client,
                                                                        std::string_view purpose,
                                                                        std::int64_t hour,
                                                                        bool& ok) {
    ok = true;
    const std::string grant = grant_key(client, purpose);
    {
        std::lock_guard lock(mutex_);
        if (auto it = baselines_.find(grant); it != baselines_.end() && it->second.hour == hour)
            co_return it->second.median;
    }
    // The 168 full hours before this one, in one read; two exports racing here both read, and
    // both find the same median.
    std::vector<std::string> keys;
    keys.reserve(static_cast<std::size_t>(volume_window_hours));
    for (std::int64_t i = volume_window_hours; i >= 1; --i)
        keys.push_back(volume_hour_key(client, purpose, hour - i * hour_seconds));
    const auto totals = co_await store_->read(std::move(keys));
    if (totals.error || totals.values.size() != static_cast<std::size_t>(volume_window_hours)) {
        ok = false;  // not cached: the next export tries again
        co_return std::nullopt;
    }
    const auto median = trailing_median(totals.values);
    std::lock_guard lock(mutex_);
    auto& b = baselines_[grant];
    b.hour = hour;
    b.median = median;
    co_return median;
}

net::awaitable<void> volume_monitor::delivered(std::string_view client, std::string_view purpose,
                                               const config::grant& g, std::uint64_t n,
                                               std::int64_t now, std::string_view policy_revision) {
    if (n == 0 || !has_volume_alerts(g)) co_return;
    const std::int64_t hour = hour_start(now);
    const auto added =
        co_await store_->add(volume_hour_key(client, purpose, hour), n, volume_counter_ttl_seconds);
    if (added.error || added.values.size() != 1) {
        const error_code ec = added.error ? added.error : store_unavailable();
        spdlog::warn(
            "volume alert: the quota store did not count {} records of client {} purpose {} ({})",
            n, client, purpose, ec.message());
        co_return;
    }
    const std::uint64_t total = added.values.front();

    std::optional<std::uint64_t> median;
    if (g.volume_multiple > 0) {
        bool ok = true;
        median = co_await median_for(client, purpose, hour, ok);
        if (!ok)
            spdlog::warn(
                "volume alert: the quota store did not return the hourly volumes of client {} "
                "purpose {}: only the ceiling applies to this export",
                client, purpose);
    }
    const volume_threshold t = threshold_for(g, median);
    if (!t.applies || total <= t.records) co_return;

    // One alert per grant and hour: first in this process, then across the replicas sharing the
    // store (the first to count the marker alerts; a threshold lowered by a reload mid-hour
    // still alerts once).
    {
        std::lock_guard lock(mutex_);
        auto& b = baselines_[grant_key(client, purpose)];
        if (b.alerted_hour == hour) co_return;
        b.alerted_hour = hour;
    }
    const auto marker =
        co_await store_->add(alerted_key(client, purpose, hour), 1, alerted_ttl_seconds);
    // A marker the store cannot count: alert anyway (a second alert beats none).
    if (!marker.error && marker.values.size() == 1 && marker.values.front() > 1) co_return;

    const bool refuse = g.on_anomaly == config::anomaly_action::refuse;
    metrics_.volume_alert(client, purpose);
    // (No conditional expression yielding a temporary std::string in a coroutine: GCC 12 may
    // destroy it twice.)
    std::string median_text;
    if (t.median != 0) median_text = ", median " + std::to_string(t.median);
    spdlog::warn(
        "volume alert: client {} purpose {} delivered {} records in the hour from {}, above {} "
        "({}{}); {}",
        client, purpose, total, rfc3339_seconds(hour), t.records, to_string(t.bound), median_text,
        refuse ? "the grant is held until an operator clears it" : "alert only");

    if (audit_ != nullptr) {
        audit::record r =
            base_record(audit::decision::volume_alert, client, purpose, now, policy_revision);
        r.volume_hour = rfc3339_seconds(hour);
        r.volume_records = total;
        r.volume_threshold = t.records;
        r.volume_bound = std::string(to_string(t.bound));
        r.volume_median = t.median;
        r.volume_action = refuse ? "refuse" : "alert";
        if (const auto ec = co_await store_record(*audit_, std::move(r)))
            spdlog::error("volume alert: the audit record of client {} purpose {} failed ({})",
                          client, purpose, ec.message());
    }
    if (!refuse) co_return;

    // The hold keeps the time it was first set: a second alert before it is cleared does not
    // move it.
    const std::string key = volume_hold_key(client, purpose);
    std::vector<std::string> keys{key};
    const auto existing = co_await store_->read(std::move(keys));
    if (existing.error || existing.values.size() != 1 || existing.values.front() == 0) {
        if (const auto ec = co_await store_->put(
                key, static_cast<std::uint64_t>(std::max<std::int64_t>(now, 1))))
            spdlog::error("volume alert: the hold of client {} purpose {} could not be set ({})",
                          client, purpose, ec.message());
    }
    (void)co_await scan_holds();  // the gauge
}

net::awaitable<volume_monitor::hold_list> volume_monitor::scan_holds() {
    hold_list out;
    const auto scanned = co_await store_->scan(std::string(hold_prefix));
    if (!scanned) {
        out.error = store_unavailable();
        co_return out;
    }
    for (const auto& [key, value] : *scanned) {
        std::string_view rest(key);
        if (!rest.starts_with(hold_prefix) || value == 0) continue;
        rest.remove_prefix(hold_prefix.size());
        const auto colon = rest.find(':');
        if (colon == std::string_view::npos || rest.find(':', colon + 1) != std::string_view::npos)
            continue;  // not a key this class wrote
        volume_hold h;
        h.client = id_from_key_part(rest.substr(0, colon));
        h.purpose = id_from_key_part(rest.substr(colon + 1));
        h.since_seconds = static_cast<std::int64_t>(value);
        h.since = rfc3339_seconds(h.since_seconds);
        out.holds.push_back(std::move(h));
    }
    std::sort(out.holds.begin(), out.holds.end(), [](const volume_hold& a, const volume_hold& b) {
        return std::tie(a.client, a.purpose) < std::tie(b.client, b.purpose);
    });
    metrics_.volume_holds(static_cast<std::int64_t>(out.holds.size()));
    co_return out;
}

net::awaitable<volume_monitor::hold_list> volume_monitor::holds() {
    co_return co_await scan_holds();
}

net::awaitable<volume_monitor::clear_result> volume_monitor::clear(std::string_view client,
                                                                   std::string_view purpose,
                                                                   std::string_view policy_revision,
                                                                   std::int64_t now) {
    clear_result out;
    // The operator's ids are only compared: the key and the record use the ids the hold holds.
    auto list = co_await scan_holds();
    if (list.error) {
        out.error = list.error;
        co_return out;
    }
    const auto it = std::find_if(list.holds.begin(), list.holds.end(), [&](const volume_hold& h) {
        return h.client == client && h.purpose == purpose;
    });
    if (it == list.holds.end()) co_return out;
    out.hold = *it;
    // Recorded before it takes effect: a clear the trail cannot hold does not happen.
    if (audit_ != nullptr) {
        audit::record r = base_record(audit::decision::volume_alert_cleared, out.hold.client,
                                      out.hold.purpose, now, policy_revision);
        r.method = "POST";
        r.path = "/admin/volume-holds/clear";
        r.remote = "admin";
        if (const auto ec = co_await store_record(*audit_, std::move(r))) {
            spdlog::error(
                "volume alert: the hold of client {} purpose {} stays: its clearing could not be "
                "recorded ({})",
                out.hold.client, out.hold.purpose, ec.message());
            out.error = ec;
            out.audit_failed = true;
            co_return out;
        }
    }
    if (const auto ec =
            co_await store_->put(volume_hold_key(out.hold.client, out.hold.purpose), 0)) {
        spdlog::error("volume alert: the hold of client {} purpose {} could not be cleared ({})",
                      out.hold.client, out.hold.purpose, ec.message());
        out.error = ec;
        co_return out;
    }
    out.cleared = true;
    metrics_.volume_holds(static_cast<std::int64_t>(list.holds.size() - 1));
    spdlog::warn(
        "volume alert: the hold of client {} purpose {} (since {}) was cleared by the "
        "admin API",
        out.hold.client, out.hold.purpose, out.hold.since);
    co_return out;
}

}  // namespace exportwall::proxy
