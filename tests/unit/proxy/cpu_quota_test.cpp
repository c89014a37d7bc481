// The default io thread count from a container's CPU quota (cgroup v2 cpu.max, v1 cfs files).

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "proxy/cpu_quota.hpp"

namespace exportwall::proxy {
namespace {

TEST(CpuQuota, ReadsCgroupV2CpuMax) {
    EXPECT_EQ(cpus_of_cpu_max("200000 100000\n"), 2U);
    EXPECT_EQ(cpus_of_cpu_max("150000 100000"), 2U);  // 1.5 CPUs: two threads
    EXPECT_EQ(cpus_of_cpu_max("50000 100000"), 1U);
    EXPECT_FALSE(cpus_of_cpu_max("max 100000\n").has_value());
    EXPECT_FALSE(cpus_of_cpu_max("").has_value());
    EXPECT_FALSE(cpus_of_cpu_max("lots 100000").has_value());
    EXPECT_FALSE(cpus_of_cpu_max("100000 0").has_value());
}

TEST(CpuQuota, ReadsCgroupV1CfsFiles) {
    EXPECT_EQ(cpus_of_cfs("400000\n", "100000\n"), 4U);
    EXPECT_FALSE(cpus_of_cfs("-1\n", "100000\n").has_value());
    EXPECT_FALSE(cpus_of_cfs("", "").has_value());
}

TEST(CpuQuota, TheDefaultIsAtLeastOneAndAtMostTheCores) {
    const unsigned n = default_threads();
    EXPECT_GE(n, 1U);
    EXPECT_LE(n, std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace
}  // namespace exportwall::proxy
