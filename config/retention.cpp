#include "config/retention.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace exportwall::config {

bool looks_like_duration(std::string_view text) {
    return text.size() >= 2 && text[0] == 'P' &&
           ((text[1] >= '0' && text[1] <= '9') || text[1] == 'T');
}

std::optional<retention_period> parse_retention_period(std::string_view text) {
    if (text.size() < 3 || text[0] != 'P') return std::nullopt;
    retention_period p;
    const std::array<std::pair<char, std::uint32_t*>, 4> units{
        {{'Y', &p.years}, {'M', &p.months}, {'W', &p.weeks}, {'D', &p.days}}};
    std::size_t next_unit = 0;  // components must come in the order Y, M, W, D
    std::size_t at = 1;
    while (at < text.size()) {
        std::uint32_t value = 0;
        const auto [end, ec] = std::from_chars(text.data() + at, text.data() + text.size(), value);
        if (ec != std::errc{} || end == text.data() + at || value > 1000) return std::nullopt;
        at = static_cast<std::size_t>(end - text.data());
        if (at == text.size()) return std::nullopt;  // a number without its unit
        const char unit = text[at++];
        std::size_t u = next_unit;
        while (u < units.size() && units[u].first != unit) ++u;
        if (u == units.size()) return std::nullopt;  // unknown, repeated or out of order
        *units[u].second = value;
        next_unit = u + 1;
    }
    if (p == retention_period{}) return std::nullopt;
    return p;
}

std::string to_words(const retention_period& p) {
    std::string out;
    auto add = [&out](std::uint32_t n, std::string_view unit) {
        if (n == 0) return;
        if (!out.empty()) out += ' ';
        out += std::to_string(n) + " " + std::string(unit) + (n == 1 ? "" : "s");
    };
    add(p.years, "year");
    add(p.months, "month");
    add(p.weeks, "week");
    add(p.days, "day");
    return out;
}

std::string retention_problem(std::string_view text) {
    if (looks_like_duration(text)) {
        if (parse_retention_period(text)) return {};
        return "retention '" + std::string(text) +
               "' is not an ISO 8601 duration in years, months, weeks and days (P2Y, P1Y6M, "
               "P30D; at least one non-zero, each at most 1000, no time part); write a sentence "
               "for a period that runs from an event (\"2 years after the end of the contract\")";
    }
    const bool blank = std::all_of(text.begin(), text.end(), [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
    });
    if (blank)
        return "retention is empty: write an ISO 8601 duration (P2Y) or a sentence, or leave the "
               "attribute out";
    if (text.size() > 200) return "retention is longer than 200 characters";
    if (std::any_of(text.begin(), text.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
        return "retention holds a control character";
    return {};
}

}  // namespace exportwall::config
