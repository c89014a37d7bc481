#include "audit/record.hpp"

#include <unistd.h>

#include <array>
#include <cstdlib>
#include <stdexcept>

#include "common/hex.hpp"
#include "common/random.hpp"

namespace exportwall::audit {

namespace {

// In the order of `decision`.
constexpr std::array<std::string_view, decision_count> decision_names{
    "allowed",
    "filtered",
    "blocked",
    "aborted",
    "would-block",
    "volume_alert",
    "volume_alert_cleared",
    "policy_loaded",
    "checkpoint",
};

}  // namespace

std::string_view to_string(decision d) noexcept {
    return decision_names[static_cast<std::size_t>(d)];
}

std::optional<decision> parse_decision(std::string_view text) noexcept {
    for (std::size_t i = 0; i < decision_names.size(); ++i)
        if (decision_names[i] == text) return static_cast<decision>(i);
    return std::nullopt;
}

std::string new_record_id() {
    constexpr std::size_t id_bytes = 16;
    std::array<unsigned char, id_bytes> bytes{};
    if (!common::random_bytes(bytes.data(), bytes.size())) {
        // Without randomness no id is unguessable; the caller's request fails closed.
        throw std::runtime_error("RAND_bytes failed");
    }
    return common::to_hex(bytes);
}

namespace {

bool replica_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

}  // namespace

bool is_replica_name(std::string_view name) {
    if (name.empty() || name.size() > max_replica_name) return false;
    for (char c : name)
        if (!replica_char(c)) return false;
    return true;
}

std::string default_replica_name() {
    std::string source;
    for (const char* var : {"EXPORTWALL_REPLICA", "HOSTNAME"}) {
        // NOLINTNEXTLINE(concurrency-mt-unsafe): exportwall never calls setenv, so no race.
        const char* v = std::getenv(var);
        if (v != nullptr && *v != '\0') {
            source = v;
            break;
        }
    }
    if (source.empty()) {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) == 0) source = host;
    }
    std::string out;
    for (char c : source) {
        if (out.size() >= max_replica_name) break;
        out.push_back(replica_char(c) ? c : '-');
    }
    return out.empty() ? "exportwall" : out;
}

}  // namespace exportwall::audit
