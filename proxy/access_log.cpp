#include "proxy/access_log.hpp"

#include <array>
#include <cstdio>
#include <ctime>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include "proxy/forward.hpp"

namespace exportwall::proxy {
namespace {

void append_json_string(std::string& out, std::string_view s) {
    out += boost::json::serialize(boost::json::string(s));
}

void append_member(std::string& out, std::string_view name, std::string_view value) {
    out += ",\"";
    out += name;
    out += "\":";
    append_json_string(out, value);
}

void append_member(std::string& out, std::string_view name, std::uint64_t value) {
    out += ",\"";
    out += name;
    out += "\":";
    out += std::to_string(value);
}

[[nodiscard]] std::string rfc3339(std::chrono::system_clock::time_point now) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::array<char, 128> buf{};
    std::snprintf(buf.data(), buf.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    return buf.data();
}

}  // namespace

std::string format_access_line(const access_entry& e, std::chrono::system_clock::time_point now) {
    std::string out;
    out.reserve(384);
    out += "{\"time\":\"";
    out += rfc3339(now);
    out += '"';
    append_member(out, "request_id", e.request_id);
    if (!e.audit_id.empty()) append_member(out, "audit_id", e.audit_id);
    append_member(out, "remote", e.remote);
    append_member(out, "method", e.method);
    append_member(out, "route", e.route);
    append_member(out, "path", e.path);
    append_member(out, "query_params", query_parameter_names(e.query));
    append_member(out, "status", std::uint64_t{e.status});
    append_member(out, "upstream_status", std::uint64_t{e.upstream_status});
    append_member(out, "bytes_in", e.bytes_in);
    append_member(out, "bytes_out", e.bytes_out);
    std::array<char, 32> dur{};
    std::snprintf(dur.data(), dur.size(), "%.3f", e.duration_ms);
    out += ",\"duration_ms\":";
    out += dur.data();
    append_member(out, "outcome", e.outcome);
    append_member(out, "reason", e.reason);
    out += '}';
    return out;
}

access_log::access_log(const config::log_settings& settings, std::string& error) {
    try {
        if (settings.access_log == "-" || settings.access_log.empty()) {
            logger_ = std::make_shared<spdlog::logger>(
                "access", std::make_shared<spdlog::sinks::stdout_sink_mt>());
        } else {
            logger_ = std::make_shared<spdlog::logger>(
                "access",
                std::make_shared<spdlog::sinks::basic_file_sink_mt>(settings.access_log, false));
        }
        logger_->set_pattern("%v");
        logger_->set_level(spdlog::level::info);
        logger_->flush_on(spdlog::level::info);
    } catch (const std::exception& ex) {
        error = ex.what();
        logger_.reset();
    }
}

access_log::~access_log() = default;

void access_log::write(const access_entry& e) {
    if (!logger_) return;
    logger_->info(format_access_line(e, std::chrono::system_clock::now()));
}

void access_log::flush() {
    if (logger_) logger_->flush();
}

void setup_operational_log(std::string_view level) {
    auto logger = std::make_shared<spdlog::logger>(
        "exportwall", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::from_str(std::string(level)));
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace exportwall::proxy
