#include "proxy/ops/access_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <system_error>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "common/clock.hpp"
#include "common/json_text.hpp"
#include "common/json_writer.hpp"
#include "proxy/forward.hpp"

namespace exportwall::proxy {
namespace {

[[nodiscard]] std::string rfc3339(std::chrono::system_clock::time_point now) {
    std::string out;
    common::append_rfc3339_millis(out, now);
    return out;
}

// `ms` with three decimals, as printf's "%.3f" writes it.
void append_milliseconds(common::json_writer& w, double ms) {
    std::array<char, 64> text{};
    const auto r =
        std::to_chars(text.data(), text.data() + text.size(), ms, std::chars_format::fixed, 3);
    if (r.ec == std::errc()) {
        w.raw(std::string_view(text.data(), static_cast<std::size_t>(r.ptr - text.data())));
    } else {
        w.raw("0.000");
    }
}

int open_append(const std::string& path) {
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
}

}  // namespace

void append_access_line(std::string& out, const access_entry& e,
                        std::chrono::system_clock::time_point now) {
    out += "{\"time\":\"";
    common::append_rfc3339_millis(out, now);
    out += '"';
    common::json_writer w(out);  // from here on `out` is the writer's
    w.member(",\"request_id\":", e.request_id);
    if (!e.audit_id.empty()) {
        w.member(",\"audit_id\":", e.audit_id);
    }
    w.member(",\"remote\":", e.remote);
    if (!e.via.empty()) {
        w.member(",\"via\":", e.via);
    }
    if (!e.trace_id.empty()) {
        w.member(",\"trace_id\":", e.trace_id);
    }
    w.member(",\"method\":", e.method);
    w.member(",\"route\":", e.route);
    w.member(",\"path\":", e.path);
    w.member(",\"query_params\":", query_parameter_names(e.query));
    w.member(",\"status\":", e.status);
    w.member(",\"upstream_status\":", e.upstream_status);
    w.member(",\"bytes_in\":", e.bytes_in);
    w.member(",\"bytes_out\":", e.bytes_out);
    w.raw(",\"duration_ms\":");
    append_milliseconds(w, e.duration_ms);
    w.member(",\"outcome\":", e.outcome);
    w.member(",\"reason\":", e.reason);
    w.raw('}');
}

std::string format_access_line(const access_entry& e, std::chrono::system_clock::time_point now) {
    std::string out;
    out.reserve(384);
    append_access_line(out, e, now);
    return out;
}

access_log::access_log(const config::log_settings& settings, std::string& error) {
    if (settings.access_log == "-" || settings.access_log.empty()) {
        fd_ = STDOUT_FILENO;
    } else {
        path_ = settings.access_log;
        // As spdlog's file sink did: the file's directory is created when missing.
        const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
        std::error_code ignored;
        if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
        fd_ = open_append(path_);
        if (fd_ < 0) {
            const int err = errno;
            error =
                "cannot open " + path_ + " for appending: " + std::generic_category().message(err);
            return;
        }
    }
    struct stat st {};
    whole_ = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
}

access_log::~access_log() {
    if (fd_ >= 0 && fd_ != STDOUT_FILENO) ::close(fd_);
}

void access_log::write(const access_entry& e) {
    if (fd_ < 0) return;
    // One buffer per I/O thread, kept between lines.
    thread_local std::string line;
    line.clear();
    append_access_line(line, e, std::chrono::system_clock::now());
    line += '\n';
    if (whole_.load(std::memory_order_relaxed) || line.size() <= PIPE_BUF) {
        write_line(line);
    } else {
        std::lock_guard lock(long_lines_);
        write_line(line);
    }
}

void access_log::write_line(std::string_view line) {
    while (!line.empty()) {
        const ssize_t n = ::write(fd_, line.data(), line.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            if (!failing_.exchange(true))
                spdlog::error("cannot write to the access log {}: {}",
                              path_.empty() ? "(stdout)" : path_,
                              std::generic_category().message(err));
            return;
        }
        line.remove_prefix(static_cast<std::size_t>(n));
    }
    if (failing_.load(std::memory_order_relaxed)) failing_.store(false);
}

void access_log::flush() {}

void access_log::reopen() {
    if (path_.empty() || fd_ < 0) return;
    const int fresh = open_append(path_);
    if (fresh < 0) {
        const int err = errno;
        spdlog::error("cannot reopen the access log {} ({}); still writing to the old file", path_,
                      std::generic_category().message(err));
        return;
    }
    // In one step: a line written meanwhile goes whole to the old file or to the new one.
    if (::dup2(fresh, fd_) < 0) {
        const int err = errno;
        spdlog::error("cannot reopen the access log {} ({}); still writing to the old file", path_,
                      std::generic_category().message(err));
        ::close(fresh);
        return;
    }
    ::close(fresh);
    struct stat st {};
    whole_.store(::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode), std::memory_order_relaxed);
    spdlog::info("access log reopened: {}", path_);
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
        auto line =
            format_operational_line(msg.time, std::string_view(level.data(), level.size()),
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
