#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

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
