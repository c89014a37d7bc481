// <exportwall priority> (issue 20): the nice value exportwall's I/O threads run at, as nginx's
// worker_priority. Read back from /proc/<pid>/task/*/stat while the proxy serves; a priority the
// system refuses stops the start with the reason, before any port is open.

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

// The nice value of each thread of `pid`, by thread id (field 19 of /proc/<pid>/task/<tid>/stat).
std::map<pid_t, int> thread_nice(pid_t pid) {
    std::map<pid_t, int> out;
    const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
    std::error_code ec;
    for (const auto& t : std::filesystem::directory_iterator(tasks, ec)) {
        const auto stat = read_file((t.path() / "stat").string());
        if (!stat) continue;
        // The command name (field 2) is in parentheses and may hold spaces: fields 3… follow
        // the last ')'.
        const auto close = stat->rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(stat->substr(close + 1));
        std::string field;
        int n = 2;
        while (rest >> field && ++n < 19) {
        }
        if (n == 19) out[static_cast<pid_t>(std::stol(t.path().filename().string()))] = std::stoi(field);
    }
    return out;
}

std::string with_root_attributes(std::string config, const std::string& attributes) {
    const std::string root = R"(<exportwall version="1")";
    const auto at = config.find(root);
    if (at != std::string::npos) config.insert(at + root.size(), " " + attributes);
    return config;
}

class Priority : public proxy_fixture {};

TEST_F(Priority, TheIoThreadsRunAtTheConfiguredNiceValue) {
    errno = 0;
    const int own = ::getpriority(PRIO_PROCESS, 0);
    ASSERT_EQ(errno, 0);
    const int wanted = own <= 12 ? own + 7 : 19;  // raising one's nice value needs no privilege
    ASSERT_TRUE(crm_.start(dir_)) << crm_.log();
    proxy_options o;
    o.upstream_url = "http://127.0.0.1:" + std::to_string(crm_.port());
    ASSERT_TRUE(proxy_.start(dir_, with_root_attributes(make_config(dir_, o),
                                                        "threads=\"2\" priority=\"" +
                                                            std::to_string(wanted) + "\"")))
        << proxy_.log();
    // An answer through it: the I/O threads are up and serving.
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    ASSERT_EQ(r.status, 200) << r.body;

    const pid_t pid = proxy_.process().pid();
    const auto nice = thread_nice(pid);
    ASSERT_TRUE(nice.count(pid)) << "no /proc stat for the main thread";
    // The main thread runs the first io_context and starts the second's thread.
    EXPECT_EQ(nice.at(pid), wanted);
    int at_wanted = 0;
    for (const auto& [tid, value] : nice) at_wanted += value == wanted ? 1 : 0;
    EXPECT_GE(at_wanted, 2) << "both I/O threads at the priority";
    EXPECT_NE(proxy_.log().find("at priority " + std::to_string(wanted)), std::string::npos)
        << proxy_.log();
}

TEST_F(Priority, WithoutTheAttributeTheThreadsKeepTheNiceValueTheyWereStartedWith) {
    errno = 0;
    const int own = ::getpriority(PRIO_PROCESS, 0);
    ASSERT_EQ(errno, 0);
    ASSERT_TRUE(start_proxy());
    const response r = fetch(proxy_.port(), get_request("/api/fixed"));
    ASSERT_EQ(r.status, 200) << r.body;
    const auto nice = thread_nice(proxy_.process().pid());
    ASSERT_FALSE(nice.empty());
    for (const auto& [tid, value] : nice) EXPECT_EQ(value, own) << "thread " << tid;
}

// A priority above exportwall's own needs CAP_SYS_NICE: without it the start fails, says why,
// and opens no port (the ports file is written once the listeners are up).
TEST_F(Priority, APriorityTheSystemRefusesStopsTheStartWithTheReason) {
    std::vector<std::string> argv;
    if (::geteuid() == 0) {
        // root holds CAP_SYS_NICE: run exportwall without it.
        if (!std::filesystem::exists("/usr/bin/setpriv")) GTEST_SKIP() << "setpriv not installed";
        argv = {"/usr/bin/setpriv", "--inh-caps=-sys_nice", "--bounding-set=-sys_nice"};
    } else {
        struct rlimit limit {};
        ASSERT_EQ(::getrlimit(RLIMIT_NICE, &limit), 0);
        // RLIMIT_NICE n allows nice values down to 20 - n.
        if (limit.rlim_cur == RLIM_INFINITY || 20 - static_cast<long>(limit.rlim_cur) <= -20)
            GTEST_SKIP() << "this user may take any priority";
    }
    ASSERT_TRUE(crm_.start(dir_)) << crm_.log();
    proxy_options o;
    o.upstream_url = "http://127.0.0.1:" + std::to_string(crm_.port());
    const std::string config = dir_.file("exportwall.xml");
    ASSERT_TRUE(write_file(config, with_root_attributes(make_config(dir_, o), R"(priority="-20")")));
    const std::string ports = dir_.file("ports.json");
    argv.insert(argv.end(), {exportwall_binary(), "serve", "--config", config, "--ports-file", ports});
    child_process p;
    const std::string log = dir_.file("refused.log");
    ASSERT_TRUE(p.start(argv, log));
    const auto status = p.wait_exit();
    ASSERT_TRUE(status.has_value()) << "exportwall kept running";
    EXPECT_EQ(*status, 1);
    const std::string text = read_file(log).value_or("");
    EXPECT_NE(text.find("cannot run the I/O threads at priority -20 (<exportwall priority>)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("CAP_SYS_NICE"), std::string::npos) << text;
    EXPECT_FALSE(std::filesystem::exists(ports)) << "a port was opened";
}

}  // namespace
}  // namespace exportwall::itest
