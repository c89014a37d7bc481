#pragma once
// A gtest fixture with a temporary directory, a fake CRM and exportwall in front of it.

#include <gtest/gtest.h>

#include <string>

#include "tests/integration/harness.hpp"

namespace exportwall::itest {

class proxy_fixture : public ::testing::Test {
  protected:
    // Starts the fake CRM (plain) and exportwall with `o` (upstream_url filled in when empty).
    // Fails the test (fatally, via ASSERT in the caller) when either does not come up.
    [[nodiscard]] ::testing::AssertionResult start_proxy(proxy_options o = {}) {
        if (dir_.path().empty()) return ::testing::AssertionFailure() << "no temp dir";
        if (!crm_.start(dir_))
            return ::testing::AssertionFailure() << "fake_crm did not start:\n" << crm_.log();
        if (o.upstream_url.empty())
            o.upstream_url = "http://127.0.0.1:" + std::to_string(crm_.port());
        if (!proxy_.start(dir_, make_config(dir_, o)))
            return ::testing::AssertionFailure() << "exportwall did not start:\n" << proxy_.log();
        return ::testing::AssertionSuccess();
    }

    void TearDown() override {
        if (HasFailure()) {
            std::cerr << "---- exportwall log ----\n"
                      << proxy_.log().substr(0, 20000) << "\n---- fake_crm log ----\n"
                      << crm_.log().substr(0, 4000) << "\n";
        }
        proxy_.process().stop();
        crm_.process().stop();
    }

    [[nodiscard]] crm_seen seen() {
        auto s = crm_requests(crm_.port());
        EXPECT_TRUE(s.has_value()) << "the fake CRM's /_seen did not answer";
        return s.value_or(crm_seen{});
    }

    temp_dir dir_;
    fake_crm crm_;
    exportwall_server proxy_;
};

}  // namespace exportwall::itest
