#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>

#include "proxy/ops/access_log.hpp"

namespace exportwall::proxy {
namespace {

TEST(AccessLine, IsOneJsonObjectWithoutQueryValues) {
    access_entry e;
    e.request_id = "rid";
    e.remote = "127.0.0.1:5000";
    e.method = "GET";
    e.route = "contacts";
    e.path = "/api/contacts";
    e.query = "$select=email,iban&$filter=name%20eq%20'Ada'";
    e.status = 200;
    e.upstream_status = 200;
    e.bytes_out = 1234;
    e.duration_ms = 1.5;
    e.outcome = "complete";
    auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
    auto line = format_access_line(e, now);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(line.find("iban"), std::string::npos);
    EXPECT_EQ(line.find("Ada"), std::string::npos);
    auto v = boost::json::parse(line).as_object();
    EXPECT_EQ(v.at("time").as_string(), "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(v.at("query_params").as_string(), "$select,$filter");
    EXPECT_EQ(v.at("path").as_string(), "/api/contacts");
    EXPECT_EQ(v.at("status").to_number<int>(), 200);
    EXPECT_EQ(v.at("bytes_out").to_number<int>(), 1234);
    EXPECT_EQ(v.at("outcome").as_string(), "complete");
}

// Collectors parse these lines: every member, in its order, with strings that take an escape,
// byte for byte — and appended after what the buffer already held.
TEST(AccessLine, KeepsItsBytesWithEveryMember) {
    access_entry e;
    e.request_id = "0123456789abcdef";
    e.audit_id = "fedcba9876543210";
    e.remote = "[::1]:5000";
    e.via = "10.0.0.1:443";
    e.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    e.method = "GET";
    e.route = "";
    e.path = "/api/\"odd\"\\path\x01";
    e.query = "$select=email&$top=4";
    e.status = 403;
    e.upstream_status = 0;
    e.bytes_in = 18446744073709551615ull;
    e.bytes_out = 0;
    e.duration_ms = 2.0005;
    e.outcome = "refused";
    e.reason = "caf\xc3\xa9 \xff";
    const auto now =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'045));
    std::string line = "before|";
    append_access_line(line, e, now);
    EXPECT_EQ(line,
              R"(before|{"time":"2023-11-14T22:13:20.045Z","request_id":"0123456789abcdef",)"
              R"("audit_id":"fedcba9876543210","remote":"[::1]:5000","via":"10.0.0.1:443",)"
              R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","method":"GET","route":"",)"
              R"("path":"/api/\"odd\"\\path\u0001","query_params":"$select,$top","status":403,)"
              R"("upstream_status":0,"bytes_in":18446744073709551615,"bytes_out":0,)"
              R"("duration_ms":2.001,"outcome":"refused","reason":"caf)"
              "\xc3\xa9 \xef\xbf\xbd\"}");
}

// The time's date part is kept per thread and second: lines of other seconds, later or earlier,
// still carry their own.
TEST(AccessLine, StampsEachLineWithItsOwnSecondAndMilliseconds) {
    access_entry e;
    e.outcome = "complete";
    auto at = [&](std::int64_t ms) {
        const auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
        return boost::json::parse(format_access_line(e, now)).as_object().at("time").as_string();
    };
    EXPECT_EQ(at(1'700'000'000'999), "2023-11-14T22:13:20.999Z");
    EXPECT_EQ(at(1'700'000'001'000), "2023-11-14T22:13:21.000Z");
    EXPECT_EQ(at(1'700'000'000'007), "2023-11-14T22:13:20.007Z");
    EXPECT_EQ(at(1'700'086'400'050), "2023-11-15T22:13:20.050Z");
    EXPECT_EQ(at(0), "1970-01-01T00:00:00.000Z");
}

// duration_ms is written as printf's "%.3f" would.
TEST(AccessLine, WritesTheDurationWithThreeDecimals) {
    access_entry e;
    e.outcome = "complete";
    const auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(0));
    for (double ms :
         {0.0, 0.0004, 0.0005, 0.0015, 1.5, 2.0625, 12.3456789, 999.9995, 86400000.25, 1e12}) {
        e.duration_ms = ms;
        const std::string line = format_access_line(e, now);
        std::array<char, 64> expected{};
        std::snprintf(expected.data(), expected.size(), "\"duration_ms\":%.3f,", ms);
        EXPECT_NE(line.find(expected.data()), std::string::npos) << ms << ": " << line;
    }
}

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// logrotate renames the file, then sends SIGUSR1: the next line goes to a new file at the
// configured path, none to the renamed one.
TEST(AccessLog, ReopenWritesToANewFileAtTheConfiguredPath) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("core_access_log_test." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    config::log_settings settings;
    settings.access_log = (dir / "access.log").string();
    std::string error;
    access_log log(settings, error);
    ASSERT_TRUE(error.empty()) << error;
    access_entry e;
    e.method = "GET";
    e.outcome = "complete";
    e.request_id = "before-rotation";
    log.write(e);
    std::filesystem::rename(dir / "access.log", dir / "access.log.1");
    e.request_id = "still-old-file";
    log.write(e);  // not reopened yet: the renamed file takes it
    log.reopen();
    e.request_id = "after-rotation";
    log.write(e);
    log.flush();
    const std::string old_file = slurp(dir / "access.log.1");
    const std::string new_file = slurp(dir / "access.log");
    EXPECT_NE(old_file.find("before-rotation"), std::string::npos);
    EXPECT_NE(old_file.find("still-old-file"), std::string::npos);
    EXPECT_EQ(old_file.find("after-rotation"), std::string::npos);
    EXPECT_NE(new_file.find("after-rotation"), std::string::npos);
    EXPECT_EQ(new_file.find("before-rotation"), std::string::npos);
    std::filesystem::remove_all(dir);
}

// A file that cannot be opened again (a directory took its name) keeps the old one in use.
TEST(AccessLog, FailedReopenKeepsWritingToTheOldFile) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("core_access_log_test_fail." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "logs");
    config::log_settings settings;
    settings.access_log = (dir / "logs" / "access.log").string();
    std::string error;
    access_log log(settings, error);
    ASSERT_TRUE(error.empty()) << error;
    std::filesystem::rename(dir / "logs", dir / "moved");
    std::filesystem::create_directories(dir / "logs" / "access.log");
    log.reopen();  // a directory cannot be opened as the log file, even by root
    access_entry e;
    e.method = "GET";
    e.outcome = "complete";
    e.request_id = "after-failed-reopen";
    log.write(e);
    log.flush();
    EXPECT_NE(slurp(dir / "moved" / "access.log").find("after-failed-reopen"), std::string::npos);
    std::filesystem::remove_all(dir);
}

// The I/O threads write their lines without a lock between them: every line still lands whole,
// none lost, none interleaved with another, while a reopen moves the log to a new file.
TEST(AccessLog, LinesFromManyThreadsLandWholeAcrossAReopen) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("core_access_log_threads." + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    config::log_settings settings;
    settings.access_log = (dir / "sub" / "access.log").string();  // its directory is created
    std::string error;
    access_log log(settings, error);
    ASSERT_TRUE(error.empty()) << error;
    constexpr int threads = 4;
    constexpr int lines = 2000;
    const std::string long_path(9000, 'p');  // longer than PIPE_BUF
    std::vector<std::thread> writers;
    for (int t = 0; t < threads; ++t) {
        writers.emplace_back([&, t] {
            for (int i = 0; i < lines; ++i) {
                const std::string id = std::to_string(t) + "-" + std::to_string(i);
                access_entry e;
                e.request_id = id;
                e.method = "GET";
                e.path = i % 100 == 0 ? std::string_view(long_path) : std::string_view("/x");
                e.outcome = "complete";
                log.write(e);
                if (t == 0 && i == lines / 2) {
                    std::filesystem::rename(dir / "sub" / "access.log",
                                            dir / "sub" / "access.log.1");
                    log.reopen();
                }
            }
        });
    }
    for (auto& w : writers) w.join();
    std::set<std::string> seen;
    for (const char* name : {"access.log.1", "access.log"}) {
        std::istringstream in(slurp(dir / "sub" / name));
        std::string line;
        while (std::getline(in, line)) {
            boost::system::error_code ec;
            auto v = boost::json::parse(line, ec);
            ASSERT_FALSE(ec) << "not one whole line: " << line.substr(0, 80);
            EXPECT_TRUE(
                seen.insert(std::string(v.as_object().at("request_id").as_string())).second);
        }
    }
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(threads * lines));
    EXPECT_NE(slurp(dir / "sub" / "access.log").size(), 0U);
    std::filesystem::remove_all(dir);
}

// Standard output has nothing to reopen.
TEST(AccessLog, ReopenOfStdoutDoesNothing) {
    config::log_settings settings;
    settings.access_log = "-";
    std::string error;
    access_log log(settings, error);
    ASSERT_TRUE(error.empty()) << error;
    log.reopen();
}

}  // namespace
}  // namespace exportwall::proxy
