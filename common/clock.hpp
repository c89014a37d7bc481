#pragma once
// The wall clock in whole seconds: one home for the "now" that grant windows, suppression-list
// ages and volume holds compare with (seconds since the Unix epoch, as the policy writes times).
// A pure function takes its "now" as a value; only the edge that calls it reads the clock here.

#include <chrono>
#include <cstdint>

namespace exportwall::common {

// Seconds since the Unix epoch by the system clock, rounded towards zero.
[[nodiscard]] inline std::int64_t seconds_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace exportwall::common
