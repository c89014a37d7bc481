#include "config/review.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>

#include <pugixml.hpp>

#include "common/clock.hpp"
#include "config/decide.hpp"
#include "config/policy_loader.hpp"

namespace exportwall::config {
namespace {

// The modification time of a file in seconds since the epoch, as the proxy records it for
// max-age; nullopt when it cannot be read.
std::optional<std::int64_t> file_time(const std::string& path) {
    std::error_code ec;
    const auto t = std::filesystem::last_write_time(path, ec);
    if (ec) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::file_clock::to_sys(t).time_since_epoch())
        .count();
}

}  // namespace

bool is_policy_file(const std::string& file) {
    pugi::xml_document peek;
    return peek.load_file(file.c_str()) &&
           std::string_view(peek.document_element().name()) == "policy";
}

load_result load_for_review(const std::string& file) {
    if (is_policy_file(file)) return load_policy_file(file);
    return load_configuration_file(file);
}

std::vector<load_error> review_warnings(const policy& p) {
    std::vector<load_error> out;
    const std::int64_t now = common::seconds_now();
    for (const auto& c : p.clients) {
        for (const auto& g : c.grants) {
            const std::string who = "grant of client '" + c.id + "' for purpose '" + g.purpose;
            if (g.valid_until && now > *g.valid_until)
                out.push_back({g.where, who + "' expired on " + g.valid_until_text +
                                            " (valid-until): its exports are refused "
                                            "grant_not_valid"});
            else if (g.valid_from && now < *g.valid_from)
                out.push_back({g.where, who + "' is not valid before " + g.valid_from_text +
                                            " (valid-from): until then its exports are refused "
                                            "grant_not_valid"});
        }
    }
    for (const auto& l : p.suppression_lists) {
        if (l.max_age_seconds == 0) continue;
        auto t = file_time(l.file);
        if (!t || now - *t <= l.max_age_seconds) continue;
        out.push_back({l.where, "suppression list '" + l.id + "' (" + l.file +
                                    ") was last changed " + age_text(now - *t) +
                                    " ago; max-age is " + l.max_age_text +
                                    ": exports that use it are refused suppression_list_stale "
                                    "until the file is rewritten"});
    }
    return out;
}

}  // namespace exportwall::config
