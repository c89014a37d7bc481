// Reloads against sessions taking the snapshot: threads read runtime::current() in a loop while
// the configuration file changes and is reloaded again and again. Every snapshot read is whole
// (one of the revisions the reloads installed), and under ThreadSanitizer (scripts/test runs this
// folder with it) the hand-over of the snapshot must not be a data race: with the snapshot held in
// std::atomic<std::shared_ptr> (libstdc++ 12 releases its lock after a load with a relaxed
// store) ThreadSanitizer reported the reload's swap against a session's load.

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/hex.hpp"
#include "config/loader.hpp"
#include "proxy/runtime.hpp"

namespace exportwall::proxy {
namespace {

// A configuration whose purpose keeps `kept`: each variant has its own revision.
std::string reload_config(const std::string& kept) {
    return "<exportwall version=\"1\" mode=\"enforce\">"
           "<listen address=\"127.0.0.1\" port=\"0\"/>"
           "<audit path=\"" +
           ::testing::TempDir() +
           "reload-audit.jsonl\"/>"
           "<upstream id=\"crm\" url=\"http://127.0.0.1:9/\"/>"
           "<route id=\"contacts\" path=\"/contacts\" methods=\"GET\" upstream=\"crm\" "
           "entity=\"contact\" format=\"json\" records=\"/value\"/>"
           "<entity id=\"contact\" subject-field=\"lifecycle\" collected-for=\"essential\">"
           "<subject value=\"customer\" type=\"customer\"/>"
           "<field path=\"id\" category=\"user.unique_id\"/>"
           "<field path=\"lifecycle\" category=\"user.account\"/>"
           "<field path=\"email\" category=\"user.contact.email\"/>"
           "</entity>"
           "<purpose id=\"invoicing\" data-use=\"essential.service.payment_processing\" "
           "basis=\"contract\" subjects=\"customer\">"
           "<fields entity=\"contact\">" +
           kept +
           "</fields></purpose>"
           "<destination id=\"billing\" kind=\"internal\" country=\"BE\"/>"
           "<client id=\"erp\"><api-key sha256=\"" +
           common::sha256_hex("reload-test-key") +
           "\"/><grant purpose=\"invoicing\" destinations=\"billing\"/></client>"
           "</exportwall>";
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

TEST(RuntimeReload, SessionsReadWholeSnapshotsWhileReloadsSwapThem) {
    const std::string path = ::testing::TempDir() + "runtime-reload.xml";
    const std::vector<std::string> variants = {"id", "id email", "id lifecycle email"};
    write_file(path, reload_config(variants[0]));
    auto loaded = config::load_configuration_file(path);
    ASSERT_TRUE(loaded) << (loaded.errors.empty() ? "" : loaded.errors.front().str());
    std::vector<std::string> errors;
    auto initial = prepare_snapshot(loaded.config, errors);
    ASSERT_NE(initial, nullptr);
    config::log_settings log_settings;
    log_settings.access_log = ::testing::TempDir() + "runtime-reload-access.log";
    std::string log_error;
    runtime rt(path, initial, std::make_unique<access_log>(log_settings, log_error));

    constexpr std::size_t reloads = 60;
    constexpr std::size_t readers = 3;
    std::atomic<bool> done{false};
    std::vector<std::set<std::string>> seen(readers);
    std::vector<std::thread> threads;
    for (std::size_t r = 0; r < readers; ++r) {
        threads.emplace_back([&rt, &done, &out = seen[r]] {
            while (!done.load(std::memory_order_acquire)) {
                const auto snap = rt.current();
                if (snap && snap->config) out.insert(snap->config->revision);
            }
        });
    }
    std::set<std::string> installed = {initial->config->revision};
    int refused = 0;
    std::string last;
    for (std::size_t i = 1; i <= reloads; ++i) {
        write_file(path, reload_config(variants[i % variants.size()]));
        if (rt.reload(last, load_trigger::admin))
            installed.insert(last);
        else
            ++refused;
    }
    done.store(true, std::memory_order_release);
    for (auto& t : threads) t.join();

    EXPECT_EQ(refused, 0);
    EXPECT_EQ(installed.size(), variants.size());
    EXPECT_EQ(rt.current()->config->revision, last);
    for (const auto& s : seen) {
        EXPECT_FALSE(s.empty());
        for (const auto& revision : s) EXPECT_TRUE(installed.contains(revision)) << revision;
    }
}

}  // namespace
}  // namespace exportwall::proxy
