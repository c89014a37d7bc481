#pragma once
// A real redis-server (Debian's package) for the quota tests: started on a free loopback port with
// no persistence, in the test's temporary directory, stopped (or killed) by the test. Skips are
// the caller's: available() says whether the binary is installed.

#include <cstdint>
#include <string>

#include "tests/integration/harness.hpp"

namespace exportwall::itest {

class redis_server {
  public:
    [[nodiscard]] static bool available();
    // Starts it on `port` (0: a free one), with `extra` arguments ("--requirepass", "x"…). Waits
    // (bounded poll) until it answers PING.
    [[nodiscard]] bool start(const temp_dir& dir, std::uint16_t port = 0,
                             const std::vector<std::string>& extra = {});
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] std::string url() const {
        return "redis://127.0.0.1:" + std::to_string(port_) + "/0";
    }
    void kill();  // SIGKILL: the server vanishes mid-conversation
    void stop();
    // Runs one command (inline protocol) and returns the reply line(s) as sent; "" on failure.
    [[nodiscard]] std::string command(const std::string& line,
                                      const std::string& password = {}) const;
    [[nodiscard]] std::string log() const;

  private:
    child_process process_;
    std::uint16_t port_ = 0;
    std::string log_file_;
};

}  // namespace exportwall::itest
