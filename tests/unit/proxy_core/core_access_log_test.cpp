#include <gtest/gtest.h>

#include <chrono>

#include <boost/json/parse.hpp>

#include "proxy/access_log.hpp"

namespace exportwall::proxy {
namespace {

TEST(AccessLine, IsOneJsonObjectWithoutQueryValues) {
    access_entry e;
    e.request_id = "rid";
    e.remote = "127.0.0.1:5000";
    e.method = "GET";
    e.route = "contacts";
    e.path = "/api/contacts";
    e.query = "$select=email,iban&$filter=name%20eq%20'Ada'";
    e.status = 200;
    e.upstream_status = 200;
    e.bytes_out = 1234;
    e.duration_ms = 1.5;
    e.outcome = "complete";
    auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
    auto line = format_access_line(e, now);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(line.find("iban"), std::string::npos);
    EXPECT_EQ(line.find("Ada"), std::string::npos);
    auto v = boost::json::parse(line).as_object();
    EXPECT_EQ(v.at("time").as_string(), "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(v.at("query_params").as_string(), "$select,$filter");
    EXPECT_EQ(v.at("path").as_string(), "/api/contacts");
    EXPECT_EQ(v.at("status").to_number<int>(), 200);
    EXPECT_EQ(v.at("bytes_out").to_number<int>(), 1234);
    EXPECT_EQ(v.at("outcome").as_string(), "complete");
}

}  // namespace
}  // namespace exportwall::proxy
