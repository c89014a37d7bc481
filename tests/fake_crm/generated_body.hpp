#pragma once
// The deterministic content of the fake CRM's generated bodies, shared by the fake CRM (which
// writes it) and the integration tests (which verify every byte they receive).
//
// Byte i of a generated body is generated_pattern()[i % generated_period]: a pseudo-random run of
// printable characters whose period is prime, so a lost, duplicated or reordered slice shows up
// as a mismatch unless its length is a multiple of the period (the length check catches those).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace exportwall::test {

inline constexpr std::size_t generated_period = 4093;

[[nodiscard]] constexpr std::array<char, generated_period> make_generated_pattern() {
    constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::array<char, generated_period> pattern{};
    std::uint32_t x = 0x2545f491u;
    for (auto& c : pattern) {
        x = x * 1664525u + 1013904223u;  // Numerical Recipes' LCG: fixed, portable
        c = alphabet[(x >> 24) % alphabet.size()];
    }
    return pattern;
}

inline constexpr std::array<char, generated_period> generated_pattern = make_generated_pattern();

[[nodiscard]] constexpr char generated_byte(std::uint64_t i) {
    return generated_pattern[static_cast<std::size_t>(i % generated_period)];
}

// The body of the fake CRM's /fixed endpoint.
inline constexpr std::string_view fixed_body =
    R"({"value":[{"id":"1","name":"Ada Lovelace","email":"ada@example.com"},)"
    R"({"id":"2","name":"Grace Hopper","email":"grace@example.com"}]})";

}  // namespace exportwall::test
