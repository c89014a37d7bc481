// The volume-alert holds through the admin listener (GET /admin/volume-holds, POST
// /admin/volume-holds/clear) and `exportwall volume-holds`: run_admin in process on loopback port
// 0, a volume_monitor on the memory store, a plain Beast client.

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "cli/volume_command.hpp"
#include "config/policy.hpp"
#include "proxy/ops/admin.hpp"
#include "proxy/enforce/volume_monitor.hpp"
#include "tests/unit/audit/audit_test_support.hpp"
#include "tests/unit/proxy/enforce/volume_test_support.hpp"

namespace exportwall::proxy {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using test::await;

constexpr std::int64_t h0 = 1'764'410'400;  // 2025-11-29T10:00:00Z
// "test", and its SHA-256.
constexpr std::string_view token = "test";
constexpr std::string_view token_sha256 =
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

struct reply {
    unsigned status = 0;
    std::string body;
};

reply call(std::uint16_t port, http::verb method, const std::string& target,
           std::string_view bearer = {}) {
    net::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    http::request<http::empty_body> req{method, target, 11};
    req.set(http::field::host, "localhost");
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + std::string(bearer));
    req.prepare_payload();
    http::write(s, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(s, buffer, res);
    return {res.result_int(), res.body()};
}

struct outcome {
    int code;
    std::string out, err;
};

class VolumeAdmin : public ::testing::Test {
  protected:
    void start(bool with_token = false, bool with_monitor = true) {
        tcp::acceptor acceptor(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        port_ = acceptor.local_endpoint().port();
        admin_hooks hooks;
        hooks.m = &metrics_;
        hooks.revision = [] { return std::string(64, 'd'); };
        if (with_token) hooks.token_sha256 = std::string(token_sha256);
        if (with_monitor) hooks.volume = monitor_;
        net::co_spawn(ioc_, run_admin(std::move(acceptor), std::move(hooks)), net::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }
    void TearDown() override {
        ioc_.stop();
        if (thread_.joinable()) thread_.join();
    }
    // Holds erp x invoicing (an hour above its ceiling with on-anomaly="refuse").
    void hold(std::string_view client = "erp") {
        config::grant g;
        g.purpose = "invoicing";
        g.volume_ceiling = 10;
        g.on_anomaly = config::anomaly_action::refuse;
        await(monitor_->delivered(client, "invoicing", g, 11, h0 + 7, "rev"));
    }
    outcome cli(std::vector<std::string> args) {
        args.insert(args.begin(), "volume-holds");
        args.push_back("--admin");
        args.push_back("http://127.0.0.1:" + std::to_string(port_));
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        std::ostringstream out, err;
        const int code =
            cli::run_volume_holds(static_cast<int>(argv.size()), argv.data(), out, err);
        return {code, out.str(), err.str()};
    }

    net::io_context ioc_{1};
    std::thread thread_;
    std::uint16_t port_ = 0;
    metrics metrics_;
    test::recording_sink sink_;
    std::shared_ptr<volume_monitor> monitor_ =
        std::make_shared<volume_monitor>(make_memory_store(), &sink_, metrics_);
};

TEST_F(VolumeAdmin, ListsAndClearsHolds) {
    start();
    reply r = call(port_, http::verb::get, "/admin/volume-holds");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, R"({"holds":[]})");

    hold("erp");
    hold("webshop");
    r = call(port_, http::verb::get, "/admin/volume-holds");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body,
              R"({"holds":[{"client":"erp","purpose":"invoicing","since":"2025-11-29T10:00:07Z"},)"
              R"({"client":"webshop","purpose":"invoicing","since":"2025-11-29T10:00:07Z"}]})");

    r = call(port_, http::verb::post, "/admin/volume-holds/clear?client=erp&purpose=invoicing");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(
        r.body,
        R"({"cleared":{"client":"erp","purpose":"invoicing","since":"2025-11-29T10:00:07Z"}})");
    EXPECT_FALSE(await(monitor_->held("erp", "invoicing")).held);
    EXPECT_TRUE(await(monitor_->held("webshop", "invoicing")).held);
    const audit::record last = sink_.records().back();
    EXPECT_EQ(last.decision, "volume_alert_cleared");
    EXPECT_EQ(last.policy_revision, std::string(64, 'd')) << "the running configuration's";

    r = call(port_, http::verb::post, "/admin/volume-holds/clear?client=erp&purpose=invoicing");
    EXPECT_EQ(r.status, 404u);
    EXPECT_NE(r.body.find("No volume hold"), std::string::npos) << r.body;
    EXPECT_NE(metrics_.render().find("exportwall_volume_holds 1"), std::string::npos);
}

TEST_F(VolumeAdmin, RefusesBadRequestsWithoutEchoingThem) {
    start();
    hold();
    EXPECT_EQ(call(port_, http::verb::post, "/admin/volume-holds").status, 405u);
    EXPECT_EQ(call(port_, http::verb::get, "/admin/volume-holds/clear?client=erp&purpose=invoicing")
                  .status,
              405u);
    for (const char* target : {"/admin/volume-holds/clear", "/admin/volume-holds/clear?client=erp",
                               "/admin/volume-holds/clear?client=erp&purpose=invoicing&purpose=x",
                               "/admin/volume-holds/clear?client=erp&purpose=invoicing&force=1",
                               "/admin/volume-holds/clear?client=&purpose=invoicing"}) {
        const reply r = call(port_, http::verb::post, target);
        EXPECT_EQ(r.status, 400u) << target;
    }
    const reply r = call(port_, http::verb::post,
                         "/admin/volume-holds/clear?client=SECRET-VALUE&purpose=invoicing");
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(r.body.find("SECRET"), std::string::npos) << r.body;
    EXPECT_TRUE(await(monitor_->held("erp", "invoicing")).held);
    // Percent-encoded ids are decoded before they are compared.
    EXPECT_EQ(
        call(port_, http::verb::post, "/admin/volume-holds/clear?client=%65rp&purpose=invoicing")
            .status,
        200u);
}

TEST_F(VolumeAdmin, NeedsTheTokenWhenOneIsSet) {
    start(/*with_token=*/true);
    hold();
    EXPECT_EQ(call(port_, http::verb::get, "/admin/volume-holds").status, 401u);
    EXPECT_EQ(
        call(port_, http::verb::post, "/admin/volume-holds/clear?client=erp&purpose=invoicing")
            .status,
        401u);
    EXPECT_TRUE(await(monitor_->held("erp", "invoicing")).held) << "nothing cleared without it";
    EXPECT_EQ(call(port_, http::verb::get, "/admin/volume-holds", "wrong").status, 401u);
    EXPECT_EQ(call(port_, http::verb::get, "/admin/volume-holds", token).status, 200u);
}

TEST_F(VolumeAdmin, AnswersNotImplementedWithoutAMonitor) {
    start(/*with_token=*/false, /*with_monitor=*/false);
    EXPECT_EQ(call(port_, http::verb::get, "/admin/volume-holds").status, 501u);
    EXPECT_EQ(call(port_, http::verb::post, "/admin/volume-holds/clear?client=a&purpose=b").status,
              501u);
}

TEST_F(VolumeAdmin, AnswersServiceUnavailableWhenTheStoreIsDown) {
    monitor_ = std::make_shared<volume_monitor>(std::make_shared<test::unavailable_store>(), &sink_,
                                                metrics_);
    start();
    EXPECT_EQ(call(port_, http::verb::get, "/admin/volume-holds").status, 503u);
    EXPECT_EQ(call(port_, http::verb::post, "/admin/volume-holds/clear?client=a&purpose=b").status,
              503u);
}

TEST_F(VolumeAdmin, CommandListsAndClears) {
    start();
    outcome o = cli({"list"});
    EXPECT_EQ(o.code, 0) << o.err;
    EXPECT_EQ(o.out, "no grant is held\n");

    hold();
    o = cli({});  // list is the default
    EXPECT_EQ(o.code, 0) << o.err;
    EXPECT_NE(o.out.find("client"), std::string::npos);
    EXPECT_NE(o.out.find("erp"), std::string::npos) << o.out;
    EXPECT_NE(o.out.find("2025-11-29T10:00:07Z"), std::string::npos);
    o = cli({"list", "--format", "json"});
    EXPECT_EQ(o.code, 0);
    EXPECT_EQ(o.out.rfind(R"({"holds":[{"client":"erp")", 0), 0u) << o.out;

    o = cli({"clear", "--client", "erp", "--purpose", "invoicing"});
    EXPECT_EQ(o.code, 0) << o.err;
    EXPECT_EQ(o.out,
              "cleared the hold of client erp purpose invoicing (held since "
              "2025-11-29T10:00:07Z)\n");
    o = cli({"clear", "--client", "erp", "--purpose", "invoicing"});
    EXPECT_EQ(o.code, 1);
    EXPECT_NE(o.err.find("no hold"), std::string::npos) << o.err;
}

TEST_F(VolumeAdmin, CommandSendsTheTokenFromAFileAndReportsUsageErrors) {
    start(/*with_token=*/true);
    hold();
    outcome o = cli({"list"});
    EXPECT_EQ(o.code, 1);
    EXPECT_NE(o.err.find("401"), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("--token-file"), std::string::npos) << o.err;

    audit::test::temp_dir dir;
    const std::string file = dir.file("token");
    audit::test::write_file(file, std::string(token) + "\n");
    o = cli({"list", "--token-file", file});
    EXPECT_EQ(o.code, 0) << o.err;
    o = cli({"--token-file", file, "clear", "--client", "erp", "--purpose", "invoicing"});
    EXPECT_EQ(o.code, 0) << o.err;

    EXPECT_EQ(cli({"clear", "--client", "erp"}).code, 2) << "--purpose is required";
    EXPECT_EQ(cli({"list", "--token-file", dir.file("absent")}).code, 2);
    EXPECT_EQ(cli({"frobnicate"}).code, 2);
    std::vector<std::string> args = {"volume-holds", "--admin", "https://127.0.0.1:1"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    std::ostringstream out, err;
    EXPECT_EQ(cli::run_volume_holds(static_cast<int>(argv.size()), argv.data(), out, err), 2);
}

TEST(VolumeAdminCommand, AnUnreachableListenerIsAFailure) {
    // A port that was bound and released: nothing listens there now.
    net::io_context io;
    std::uint16_t port = 0;
    {
        tcp::acceptor a(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        port = a.local_endpoint().port();
    }
    std::vector<std::string> args = {"volume-holds", "list", "--admin",
                                     "http://127.0.0.1:" + std::to_string(port)};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    std::ostringstream out, err;
    EXPECT_EQ(cli::run_volume_holds(static_cast<int>(argv.size()), argv.data(), out, err), 1);
    EXPECT_NE(err.str().find("cannot connect"), std::string::npos) << err.str();
}

}  // namespace
}  // namespace exportwall::proxy
