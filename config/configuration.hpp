#pragma once
// The immutable configuration snapshot a loaded file becomes (config/loader.hpp loads it). The
// proxy reads it; it does not need the loader or pugixml to.

#include <map>
#include <memory>
#include <string>

#include "config/continuation.hpp"
#include "config/policy.hpp"
#include "config/settings.hpp"

namespace exportwall::config {

// One loaded configuration. Shared read-only by every request that started under it
// (std::shared_ptr<const configuration>); a reload swaps the pointer.
struct configuration {
    std::string path;      // the file it was loaded from
    // SHA-256 (hex) of the file's bytes, and of every included policy file's and every
    // suppression list's (length-prefixed) when it has <include>s or lists: `policy_revision` in
    // audit records.
    std::string revision;
    // What the revision covers, by path (as resolved at load): the SHA-256 (hex) of this file and
    // of each included policy file, and of each suppression list of the enforced policy that
    // could be read. The policy_loaded audit record carries them.
    std::map<std::string, std::string> policy_files;
    std::map<std::string, std::string> suppression_list_files;
    settings net;
    policy rules;
    continuation_key continuation{};  // seals pagination tokens (config/continuation.hpp)
    // The candidate policy of <shadow file>: decided beside `rules` for every export, audited,
    // never enforced. Null without one.
    std::shared_ptr<const policy> shadow;
    std::string shadow_revision;  // SHA-256 of the shadow file's bytes
    std::string shadow_path;
};

}  // namespace exportwall::config
