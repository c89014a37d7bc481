#pragma once
// Volume alerts (issue 17 item 6): an early warning for a personal data breach (GDPR art. 33).
// Per grant — client x purpose — the records delivered in each UTC hour are counted in the quota
// store and compared with the grant's threshold. The first time in an hour the total exceeds it,
// exportwall writes an audit record (decision "volume_alert"), counts
// exportwall_volume_alerts_total{client,purpose} and, with on-anomaly="refuse", holds the grant:
// every later export of it is refused (403 volume_anomaly) until an operator clears the hold
// (POST /admin/volume-holds/clear, `exportwall volume-holds clear`).
//
// The threshold of an hour (docs/configuration.md, "Volume alerts"): the hour crosses when its
// total exceeds volume-ceiling (when set), or exceeds volume-multiple x the median of the grant's
// hourly totals over the 168 full hours before the current one, counting only hours that
// delivered at least one record, once at least 24 such hours exist (before that the multiple does
// not apply; the ceiling always does). With both set, the lower of the two is the threshold.
//
// Store keys (configuration ids only, ':' inside an id written "%3A" so a key splits one way):
//   volume:<client>:<purpose>:<hour start, seconds since the epoch>   records that hour, TTL 8 days
//   volume-alerted:<client>:<purpose>:<hour start>    one alert per hour across replicas, TTL 2 h
//   volume-hold:<client>:<purpose>                    the hold: the unix time it was set, no TTL
// With a Redis store the counts and holds are shared by every replica; with the memory store
// they are this process's own. The median is computed once per grant and hour and kept in memory.
//
// Client and purpose ids passed in must be the configuration's ids (the grant's client and
// purpose), never a value taken from the request: they become store keys, log text, metric labels
// and audit members.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace exportwall::audit {
class sink;
}
namespace exportwall::config {
struct grant;
}

namespace exportwall::proxy {

class metrics;
class quota_store;

// The hours the multiple's median looks back over, the active hours it needs, how long an hour's
// counter is kept (a day beyond the window, so a late median still finds it).
inline constexpr std::int64_t volume_window_hours = 168;
inline constexpr std::size_t volume_min_active_hours = 24;
inline constexpr std::int64_t volume_counter_ttl_seconds = 8 * 24 * 3600;

// Which configured bound set an hour's threshold.
enum class volume_bound : std::uint8_t {
    ceiling,   // volume-ceiling
    multiple,  // volume-multiple x the trailing median
};
[[nodiscard]] std::string_view to_string(volume_bound b);

// The threshold an hour's total is compared with.
struct volume_threshold {
    bool applies = false;       // false: no bound applies (an hour never crosses)
    std::uint64_t records = 0;  // the hour crosses when its total is above this
    volume_bound bound = volume_bound::ceiling;
    std::uint64_t median = 0;  // the trailing median; 0 = no baseline yet
};

// The median of the active hours (those above 0) among `hourly_totals`: for an even number of
// hours the lower of the two middle values. nullopt when fewer than volume_min_active_hours
// hours are active.
[[nodiscard]] std::optional<std::uint64_t> trailing_median(
    std::vector<std::uint64_t> hourly_totals);

// The threshold of grant `g` given its trailing median (nullopt: no baseline yet). The multiple's
// bound is floor(volume_multiple x median) (an integer total exceeds x exactly when it exceeds
// floor(x)); with both bounds the lower one, the ceiling on a tie.
[[nodiscard]] volume_threshold threshold_for(const config::grant& g,
                                             std::optional<std::uint64_t> median);

// True when the grant has volume alerts (volume-ceiling or volume-multiple set).
[[nodiscard]] bool has_volume_alerts(const config::grant& g);

// The start of the UTC hour holding `now` (seconds since the epoch).
[[nodiscard]] std::int64_t hour_start(std::int64_t now);

// Store keys (see above), without the store's own prefix.
[[nodiscard]] std::string volume_hour_key(std::string_view client, std::string_view purpose,
                                          std::int64_t hour);
[[nodiscard]] std::string volume_hold_key(std::string_view client, std::string_view purpose);

// "2026-11-29T10:00:00Z" for a time in seconds since the epoch.
[[nodiscard]] std::string rfc3339_seconds(std::int64_t seconds);

// One grant held by a volume alert.
struct volume_hold {
    std::string client;
    std::string purpose;
    std::int64_t since_seconds = 0;  // when the hold was set (seconds since the epoch)
    std::string since;               // the same, RFC 3339 UTC
};

class volume_monitor {
  public:
    // `store` is shared with the quotas; `audit` may be null (nothing is recorded: unit tests of
    // the relay); `m` outlives the monitor. Thread-safe: sessions on every io thread and the admin
    // listener call it concurrently.
    volume_monitor(std::shared_ptr<quota_store> store, audit::sink* audit, metrics& m);
    ~volume_monitor() = default;
    volume_monitor(const volume_monitor&) = delete;
    volume_monitor& operator=(const volume_monitor&) = delete;

    struct hold_check {
        boost::system::error_code error;  // the store did not answer: refuse (fail closed)
        bool held = false;
        std::string since;  // RFC 3339, when held
    };
    // Before an export of a grant that has volume alerts: is client x purpose held? One store
    // read.
    [[nodiscard]] boost::asio::awaitable<hold_check> held(std::string_view client,
                                                          std::string_view purpose);

    // After an export of grant `g` delivered `n` records (n may be 0: nothing happens): adds them
    // to the UTC hour of `now` (seconds since the epoch). When the hour's total is above the
    // threshold and no alert fired for this grant in this hour yet (on any replica sharing the
    // store), writes the volume_alert audit record (durable; awaited), counts the metric, and
    // with on_anomaly == refuse sets the hold (kept if already set). A store failure is logged
    // and the export's count may be lost: the export itself is already over. Never throws.
    boost::asio::awaitable<void> delivered(std::string_view client, std::string_view purpose,
                                           const config::grant& g, std::uint64_t n,
                                           std::int64_t now, std::string_view policy_revision);

    struct hold_list {
        boost::system::error_code error;
        std::vector<volume_hold> holds;  // sorted by client, then purpose
    };
    // The holds in force (for GET /admin/volume-holds). Sets the exportwall_volume_holds gauge.
    [[nodiscard]] boost::asio::awaitable<hold_list> holds();

    struct clear_result {
        boost::system::error_code error;  // the store (or, with audit_failed, the trail) failed
        bool audit_failed = false;        // the clearing could not be recorded: the hold stays
        bool cleared = false;             // false without error: no hold for client x purpose
        volume_hold hold;                 // the hold found (and cleared when `cleared`)
    };
    // Clears the hold of client x purpose (an operator's request through the admin API: the ids
    // are looked up among the holds in force, never used as given). First writes a
    // volume_alert_cleared audit record (remote "admin"; durable, awaited): when it cannot be
    // stored the hold stays. Then deletes the hold and sets the gauge. An alert already fired in
    // the current hour does not fire again: a crossing in a later hour holds the grant again.
    // `now` in seconds since the epoch.
    [[nodiscard]] boost::asio::awaitable<clear_result> clear(std::string_view client,
                                                             std::string_view purpose,
                                                             std::string_view policy_revision,
                                                             std::int64_t now);

  private:
    // The trailing median of one grant, computed at most once per hour.
    struct baseline {
        std::int64_t hour = -1;               // the hour it was computed for
        std::optional<std::uint64_t> median;  // nullopt: fewer than 24 active hours
        std::int64_t alerted_hour = -1;       // an alert was decided for this hour already
    };

    [[nodiscard]] boost::asio::awaitable<std::optional<std::uint64_t>> median_for(
        std::string_view client, std::string_view purpose, std::int64_t hour, bool& ok);
    // Lists the holds and sets the gauge to their number.
    [[nodiscard]] boost::asio::awaitable<hold_list> scan_holds();

    std::shared_ptr<quota_store> store_;
    audit::sink* audit_;
    metrics& metrics_;
    std::mutex mutex_;
    std::map<std::string, baseline, std::less<>> baselines_;  // "client\0purpose"; guarded
};

}  // namespace exportwall::proxy
