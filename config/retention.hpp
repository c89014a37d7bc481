#pragma once
// A purpose's retention period (GDPR art. 5(1)(e), art. 30(1)(f): "the envisaged time limits for
// erasure"), as the policy writes it in `<purpose retention="…">`: an ISO 8601 duration in whole
// years, months, weeks and days ("P2Y", "P1Y6M", "P30D"), or a sentence when the period runs from
// an event ("2 years after the end of the contract"). The record of processing
// (`exportwall policy ropa`) prints it; exportwall deletes nothing itself.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace exportwall::config {

// An ISO 8601 duration of the date part only: P[nY][nM][nW][nD], components in that order, each
// at most once, at least one of them non-zero.
struct retention_period {
    std::uint32_t years = 0;
    std::uint32_t months = 0;
    std::uint32_t weeks = 0;
    std::uint32_t days = 0;
    friend bool operator==(const retention_period&, const retention_period&) = default;
};

// True when `text` is meant as a duration: "P" followed by a digit or "T". Such a value must
// parse (parse_retention_period), so a typo ("P2X") is an error, never a sentence.
[[nodiscard]] bool looks_like_duration(std::string_view text);

// "P2Y" → {2, 0, 0, 0}; nullopt when malformed, all zero, a component above 1000, or with a time
// part ("PT24H": retention is counted in days).
[[nodiscard]] std::optional<retention_period> parse_retention_period(std::string_view text);

// "2 years", "1 year 6 months", "30 days".
[[nodiscard]] std::string to_words(const retention_period& p);

// Why a `retention` value is refused, or "" when it is acceptable: a duration that does not
// parse, an empty value, one longer than 200 characters or holding control characters.
[[nodiscard]] std::string retention_problem(std::string_view text);

}  // namespace exportwall::config
