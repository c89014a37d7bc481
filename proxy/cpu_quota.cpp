#include "proxy/cpu_quota.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace exportwall::proxy {

namespace {

std::optional<std::int64_t> integer(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<unsigned> ratio(std::int64_t quota, std::int64_t period) {
    if (quota <= 0 || period <= 0) return std::nullopt;
    return static_cast<unsigned>(std::max<std::int64_t>(1, (quota + period - 1) / period));
}

std::string read_small_file(const char* path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

std::optional<unsigned> cpus_of_cpu_max(std::string_view line) {
    while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    const auto space = line.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const auto quota = line.substr(0, space);
    if (quota == "max") return std::nullopt;
    const auto q = integer(quota);
    const auto p = integer(line.substr(space + 1));
    if (!q || !p) return std::nullopt;
    return ratio(*q, *p);
}

std::optional<unsigned> cpus_of_cfs(std::string_view quota, std::string_view period) {
    const auto q = integer(quota);
    const auto p = integer(period);
    if (!q || !p) return std::nullopt;
    return ratio(*q, *p);
}

unsigned default_threads() {
    unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) cpus = std::min(cpus, static_cast<unsigned>(n));
    }
    std::optional<unsigned> quota = cpus_of_cpu_max(read_small_file("/sys/fs/cgroup/cpu.max"));
    if (!quota)
        quota = cpus_of_cfs(read_small_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                            read_small_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us"));
    if (quota) cpus = std::min(cpus, *quota);
    return std::max(1u, cpus);
}

}  // namespace exportwall::proxy
