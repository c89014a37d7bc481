#pragma once
// Loads a configuration file into an immutable snapshot. Control plane: errors are returned as
// data (`file:line:col: message`), never thrown; a failed load leaves nothing half-applied.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/continuation.hpp"
#include "config/policy.hpp"
#include "config/settings.hpp"
#include "config/xml_source.hpp"

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

struct load_result {
    std::shared_ptr<const configuration> config;  // null when errors is not empty
    std::vector<load_error> errors;
    [[nodiscard]] explicit operator bool() const { return config != nullptr; }
};

// Reads and validates `path`. Environment variables are read for ${VAR} substitution.
[[nodiscard]] load_result load_configuration_file(const std::string& path);

// `check-config --offline`: while one lives, loads on this thread read nothing that exists only
// where exportwall runs — a ${VAR} or password-env that is not set takes a placeholder, and key
// files (subject, signing, continuation, pseudonymisation), the quota store's password, the
// OAuth2 client secrets, certificates and keys of <oauth2>, and suppression lists are not read
// (their paths are still checked). The revision then does not
// cover the lists. A configuration loaded so is for review only, never served.
class offline_loading {
  public:
    offline_loading();
    ~offline_loading();
    offline_loading(const offline_loading&) = delete;
    offline_loading& operator=(const offline_loading&) = delete;
};
[[nodiscard]] bool loading_offline();
// A policy file alone (root <policy version="1">, the file an <include> names): its policy
// elements and the legal rules, no network part (`net` stays empty). For check-config: such a
// configuration cannot serve.
[[nodiscard]] load_result load_policy_file(const std::string& path);
// Same as load_configuration_file, from text (tests); `file` names the source in messages; relative paths resolve against
// `base_dir`.
[[nodiscard]] load_result load_configuration_text(std::string_view text, const std::string& file,
                                                  const std::string& base_dir = ".");

}  // namespace exportwall::config
