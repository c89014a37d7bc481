#pragma once
// One export's volume accounting (issue 17): the grant's quota window (quota="N/period") and the
// paged export it belongs to (max-records across the pages reached through its sealed links).
// Records are reserved from the quota store in batches before they are written — the first batch
// before anything goes upstream, more as the filter produces records — and what was reserved but
// not delivered is returned at the end. The session cuts the filtered output at the last record
// a reservation covers (filters::record_mark) and aborts the rest.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "config/decide.hpp"
#include "proxy/enforce/quota_store.hpp"

namespace exportwall::proxy {

// The counters of one export, derived from its decision: pure, tested without a store.
struct quota_plan {
    std::vector<quota_counter> counters;
    std::vector<config::reason> reasons;  // per counter: quota_exceeded | record_limit_exceeded
    bool needs_shared = false;   // a grant quota: the shared store, or refused when it is down
    bool first_page = false;     // the last counter is a chain this export starts
    std::int64_t window_end = 0;  // the quota window's end (seconds since the epoch), 0 = none
};

// The fixed UTC window of `period` that holds `now`: [start, end).
struct quota_window {
    std::int64_t start = 0;
    std::int64_t end = 0;
};
[[nodiscard]] quota_window window_of(config::quota_period period, std::int64_t now);

// Counters for an allowed export: the grant's quota window (when it has a quota) and, when
// max-records applies, the chain of a paged export — the one a sealed link continues, or
// `chain` (this export's own) on a route that seals paging links. `chain_ttl` bounds how long a
// chain is remembered after its last page.
[[nodiscard]] quota_plan plan_quota(const config::decision& d,
                                    const config::continuation_chain& chain, std::int64_t now,
                                    std::int64_t chain_ttl);
// The store key of a chain's counter.
[[nodiscard]] std::string chain_key(const config::continuation_chain& chain);

class export_quota {
  public:
    // `shared` is the configured store (Redis, or the in-process one without <quota-store>);
    // `local` the in-process store that counts a chain when the shared store cannot answer for a
    // grant without a quota (which a quota store outage must not refuse).
    export_quota(quota_plan plan, std::shared_ptr<quota_store> shared,
                 std::shared_ptr<quota_store> local, std::uint64_t batch);

    [[nodiscard]] bool active() const { return !plan_.counters.empty(); }

    struct verdict {
        config::reason refusal = config::reason::none;  // none: go on
        std::uint64_t retry_after = 0;                  // quota_exceeded: seconds
    };
    // Before the request goes upstream: the first reservation. A spent quota or chain, or a store
    // that cannot answer for a grant with a quota, refuses the export.
    [[nodiscard]] boost::asio::awaitable<verdict> open(std::int64_t now);

    // `produced` records are ready to be written: reserves what is missing. Returns how many may
    // be delivered (≤ produced); below `produced`, refusal() says why.
    [[nodiscard]] boost::asio::awaitable<std::uint64_t> cover(std::uint64_t produced);
    [[nodiscard]] config::reason refusal() const { return refusal_; }

    // The export ended with `delivered` records written: the rest of the reservation goes back —
    // awaited near a limit (the client's next export must see it), sent with this replica's next
    // command when every counter has more than four batches of room.
    // `continued`: it handed out a sealed paging link (a first page's chain stays; otherwise it
    // is deleted).
    [[nodiscard]] boost::asio::awaitable<void> close(std::uint64_t delivered, bool continued);
    [[nodiscard]] std::uint64_t reserved() const { return reserved_; }
    // The grant's quota window as the last reservation left it: records counted against it
    // (delivered and reserved by exports in flight) and its limit; nullopt for an export without
    // a grant quota or before a reservation answered (for exportwall_quota_used_records).
    struct usage {
        std::uint64_t used = 0;
        std::uint64_t limit = 0;
    };
    [[nodiscard]] std::optional<usage> grant_usage() const { return grant_usage_; }
    [[nodiscard]] const std::shared_ptr<quota_store>& store() const { return store_; }
    [[nodiscard]] const std::vector<quota_counter>& counters() const { return plan_.counters; }

  private:
    [[nodiscard]] std::uint64_t next_want(std::uint64_t missing);
    void note_usage(const reservation& r);
    std::optional<usage> grant_usage_;

    quota_plan plan_;
    std::shared_ptr<quota_store> store_;
    std::shared_ptr<quota_store> local_;
    std::uint64_t batch_;
    std::uint64_t step_ = 16;  // grows ×4 per reservation up to batch_
    std::uint64_t reserved_ = 0;
    std::uint64_t room_ = 0;  // the least room left after the last reservation
    config::reason refusal_ = config::reason::none;
    bool closed_ = false;
};

}  // namespace exportwall::proxy
