#pragma once
// The wall clock in whole seconds: one home for the "now" that grant windows, suppression-list
// ages and volume holds compare with (seconds since the Unix epoch, as the policy writes times).
// A pure function takes its "now" as a value; only the edge that calls it reads the clock here.
// And the RFC 3339 time with milliseconds that audit records and access-log lines carry.

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace exportwall::common {

// Seconds since the Unix epoch by the system clock, rounded towards zero.
[[nodiscard]] inline std::int64_t seconds_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Appends `now` as RFC 3339 UTC with milliseconds ("2023-11-14T22:13:20.123Z"), as the audit
// record's time and the access log's write it. The date and time of the current second are
// formatted once per thread and second, not per call (snprintf was ~3,000 instructions a call).
inline void append_rfc3339_millis(std::string& out, std::chrono::system_clock::time_point now) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    auto secs = ms / 1000;
    auto milli = ms % 1000;
    if (milli < 0) {  // before 1970: the second below, and the milliseconds above it
        secs -= 1;
        milli += 1000;
    }
    thread_local long long cached_secs = LLONG_MIN;
    thread_local std::array<char, 32> cached{};
    thread_local std::size_t cached_size = 0;
    if (secs != cached_secs) {
        const auto t = static_cast<std::time_t>(secs);
        std::tm tm{};
        gmtime_r(&t, &tm);
        const int n = std::snprintf(cached.data(), cached.size(), "%04d-%02d-%02dT%02d:%02d:%02d",
                                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                    tm.tm_min, tm.tm_sec);
        cached_size = n > 0 ? std::min(static_cast<std::size_t>(n), cached.size() - 1) : 0;
        cached_secs = secs;
    }
    out.append(cached.data(), cached_size);
    const auto m = static_cast<int>(milli);
    const std::array<char, 5> tail{'.', static_cast<char>('0' + m / 100),
                                   static_cast<char>('0' + m / 10 % 10),
                                   static_cast<char>('0' + m % 10), 'Z'};
    out.append(tail.data(), tail.size());
}

}  // namespace exportwall::common
