#pragma once
// Loads a configuration file into an immutable snapshot. Control plane: errors are returned as
// data (`file:line:col: message`), never thrown; a failed load leaves nothing half-applied.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/configuration.hpp"
#include "config/xml_source.hpp"

namespace exportwall::config {

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
