#pragma once
// The policy half of the configuration: entities, purposes, destinations, clients and the global
// mode. Filled by config/policy_loader.cpp, read by the decision engine (config/decide.hpp).

#include <string>
#include <vector>

namespace exportwall::config {

enum class mode : unsigned char { enforce, monitor };

struct policy {
    mode global_mode = mode::enforce;
};

}  // namespace exportwall::config
