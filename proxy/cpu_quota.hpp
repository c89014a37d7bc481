#pragma once
// How many io threads to run when the configuration does not say (issue 19, item 7): the CPUs
// this process may use — its affinity mask, and a container's CPU quota (cgroup v2 `cpu.max`,
// cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), rounded up. A pod limited to 2 CPUs on a
// 64-core node runs 2 threads, not 64 that the kernel then throttles.

#include <optional>
#include <string_view>

namespace exportwall::proxy {

// The CPUs a cgroup v2 `cpu.max` line grants ("200000 100000" → 2, "150000 100000" → 2,
// "max 100000" → nullopt: no limit); nullopt for a line that is not one.
[[nodiscard]] std::optional<unsigned> cpus_of_cpu_max(std::string_view line);
// The same from cgroup v1's quota and period (quota -1: no limit).
[[nodiscard]] std::optional<unsigned> cpus_of_cfs(std::string_view quota, std::string_view period);

// The default thread count: min(CPUs in the affinity mask, the cgroup's quota), at least 1.
[[nodiscard]] unsigned default_threads();

}  // namespace exportwall::proxy
