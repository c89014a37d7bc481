#include "proxy/ops/access_log.hpp"

#include <array>
#include <cstdio>
#include <ctime>

#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "common/json_text.hpp"
#include "proxy/forward.hpp"

namespace exportwall::proxy {
namespace {

void append_member(std::string& out, std::string_view name, std::string_view value) {
    out += ",\"";
    out += name;
    out += "\":";
    common::append_json_string(out, value);
}

void append_member(std::string& out, std::string_view name, std::uint64_t value) {
    out += ",\"";
    out += name;
    out += "\":";
    out += std::to_string(value);
}

[[nodiscard]] std::string rfc3339(std::chrono::system_clock::time_point now) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    const auto secs = static_cast<std::time_t>(ms / 1000);
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
    if (!e.via.empty()) append_member(out, "via", e.via);
    if (!e.trace_id.empty()) append_member(out, "trace_id", e.trace_id);
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

// spdlog's basic_file_sink cannot open its file again. This one can: the new file is opened
// first, outside the sink's lock, and swapped in under it, so a failed open keeps the old file
// and a line is never split between the two.
class access_log::file_sink final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    // Throws spdlog::spdlog_ex when the file cannot be opened (the constructor's caller reports
    // it).
    explicit file_sink(std::string path) : path_(std::move(path)), file_(open(path_)) {}

    [[nodiscard]] const std::string& path() const { return path_; }

    // False, with `error`, when the file cannot be opened; the old one stays in use.
    [[nodiscard]] bool reopen(std::string& error) {
        std::unique_ptr<spdlog::details::file_helper> fresh;
        try {
            fresh = open(path_);
        } catch (const spdlog::spdlog_ex& ex) {
            error = ex.what();
            return false;
        }
        std::lock_guard lock(mutex_);
        std::swap(file_, fresh);
        return true;  // the old file is closed (and flushed) as `fresh` goes
    }

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t formatted;
        formatter_->format(msg, formatted);
        file_->write(formatted);
    }
    void flush_() override { file_->flush(); }

  private:
    static std::unique_ptr<spdlog::details::file_helper> open(const std::string& path) {
        auto file = std::make_unique<spdlog::details::file_helper>();
        file->open(path, false);  // append; created when missing
        return file;
    }

    std::string path_;
    std::unique_ptr<spdlog::details::file_helper> file_;
};

access_log::access_log(const config::log_settings& settings, std::string& error) {
    try {
        if (settings.access_log == "-" || settings.access_log.empty()) {
            logger_ = std::make_shared<spdlog::logger>(
                "access", std::make_shared<spdlog::sinks::stdout_sink_mt>());
        } else {
            file_ = std::make_shared<file_sink>(settings.access_log);
            logger_ = std::make_shared<spdlog::logger>("access", file_);
        }
        logger_->set_pattern("%v");
        logger_->set_level(spdlog::level::info);
        logger_->flush_on(spdlog::level::info);
    } catch (const std::exception& ex) {
        error = ex.what();
        logger_.reset();
        file_.reset();
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

void access_log::reopen() {
    if (!file_) return;
    std::string error;
    if (file_->reopen(error))
        spdlog::info("access log reopened: {}", file_->path());
    else
        spdlog::error("cannot reopen the access log {} ({}); still writing to the old file",
                      file_->path(), error);
}

std::string format_operational_line(std::chrono::system_clock::time_point time,
                                    std::string_view level, std::string_view message) {
    std::string out;
    out.reserve(64 + message.size());
    out += "{\"time\":\"";
    out += rfc3339(time);
    out += "\",\"level\":";
    common::append_json_string(out, level);
    out += ",\"message\":";
    common::append_json_string(out, message);
    out += '}';
    return out;
}

namespace {

// format="json": one JSON object a line, for log collectors that parse JSON (Fluent Bit, Vector,
// Loki). The message is text exportwall wrote; like every log line it holds ids and codes, never
// a field value.
class json_line_formatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        auto level = spdlog::level::to_string_view(msg.level);
        auto line = format_operational_line(
            msg.time, std::string_view(level.data(), level.size()),
            std::string_view(msg.payload.data(), msg.payload.size()));
        line += '\n';
        dest.append(line.data(), line.data() + line.size());
    }
    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<json_line_formatter>();
    }
};

}  // namespace

void setup_operational_log(std::string_view level, bool json) {
    auto logger = std::make_shared<spdlog::logger>(
        "exportwall", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    if (json)
        logger->set_formatter(std::make_unique<json_line_formatter>());
    else
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::from_str(std::string(level)));
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace exportwall::proxy
