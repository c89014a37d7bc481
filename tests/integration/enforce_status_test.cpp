// Answers without a body to filter (issue 5, item 3): a CRM redirect keeps its status with its
// Location mapped onto exportwall and its courtesy page replaced; HEAD, 204 and 304 carry no body.
// Every case is checked in the CRM's view too: the request reached it once, as the client asked.

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/enforce_fixture.hpp"

namespace exportwall::itest {
namespace {

constexpr std::string_view dataverse = "/api/data/v9.2/contacts";

class EnforceStatus : public enforce_fixture {
  protected:
    void SetUp() override {
        ASSERT_TRUE(start());
        prefix_ = marker_prefix();
        records_ = {marker_contact(prefix_, 1, "customer")};
    }

    static export_request delivery(std::string method = "GET") {
        export_request r;
        r.method = std::move(method);
        r.target = std::string(dataverse);
        r.api_key = std::string(erp_key);
        r.purpose = "delivery";
        r.destination = "warehouse";
        return r;
    }

    std::string prefix_;
    std::vector<contact> records_;
};

TEST_F(EnforceStatus, RedirectKeepsItsStatusWithLocationOnExportwallAndNoCrmPage) {
    const std::string page = "<html>moved: " + records_[0].email + "</html>";
    const std::string location = crm_origin() + std::string(dataverse) + "?$skiptoken=2";
    ASSERT_TRUE(stage(
        dataverse, "text/html", page,
        "&status=302&location=" + crm_origin() + "/api/data/v9.2/contacts%3F%24skiptoken%3D2"));
    const response r = send(delivery());
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 302u);
    auto loc = r.header("Location");
    std::string heads;
    for (const auto& [n, v] : r.headers) heads += n + ": " + v + "\n";
    ASSERT_TRUE(loc.has_value()) << "the redirect lost its Location\n" << heads;
    EXPECT_EQ(loc->find(crm_origin()), std::string::npos)
        << "Location still names the CRM: " << *loc;
    EXPECT_NE(loc->find("/api/data/v9.2/contacts"), std::string::npos) << *loc;
    EXPECT_NE(loc->find("skiptoken"), std::string::npos) << *loc;
    EXPECT_EQ(r.body.find(records_[0].email), std::string::npos) << "the CRM's page passed";
    EXPECT_EQ(seen_at(dataverse).size(), 1u);

    // Following the mapped Location goes through the firewall with the same declaration.
    ASSERT_TRUE(stage(dataverse, "application/json",
                      render(vendor_shape::dataverse, records_, crm_origin())));
    std::string target = *loc;
    if (auto scheme = target.find("://"); scheme != std::string::npos)
        target = target.substr(target.find('/', scheme + 3));
    export_request follow = delivery();
    follow.target = target;
    const response next = send(follow);
    ASSERT_TRUE(next.received);
    EXPECT_EQ(next.status, 200u);
    EXPECT_TRUE(next.header("X-Export-Audit-Id").has_value());
    EXPECT_EQ(next.body.find(records_[0].email), std::string::npos) << "e-mail is not delivery's";
    EXPECT_NE(next.body.find(records_[0].city), std::string::npos) << "the city was allowed";
}

TEST_F(EnforceStatus, HeadIsDecidedAndCarriesNoBody) {
    ASSERT_TRUE(stage(dataverse, "application/json",
                      render(vendor_shape::dataverse, records_, crm_origin())));
    http_connection c;
    ASSERT_TRUE(c.connect(proxy_.port()));
    ASSERT_TRUE(c.send(request_bytes(delivery("HEAD"))));
    const response r = c.read_response(/*head_only=*/true);
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.status, 200u);
    EXPECT_TRUE(r.header("X-Export-Decision").has_value());
    EXPECT_TRUE(r.header("X-Export-Audit-Id").has_value());
    EXPECT_TRUE(r.body.empty());
    // The CRM's length describes its unfiltered body (every field, every record): never shown.
    EXPECT_FALSE(r.header("Content-Length").has_value()) << r.header("Content-Length").value_or("");
    // The connection carries on: the next request is answered, not read as body bytes.
    ASSERT_TRUE(c.send(request_bytes(delivery())));
    const response again = c.read_response();
    ASSERT_TRUE(again.received);
    EXPECT_EQ(again.status, 200u);
    EXPECT_NE(again.body.find(records_[0].city), std::string::npos);
    auto crm = seen_at(dataverse);
    ASSERT_EQ(crm.size(), 2u);
    EXPECT_EQ(crm[0].method, "HEAD");
    EXPECT_EQ(crm[1].method, "GET");
    // A HEAD the purpose refuses never reaches the CRM.
    export_request refused = delivery("HEAD");
    refused.destination = "partner-crm";
    http_connection d;
    ASSERT_TRUE(d.connect(proxy_.port()));
    ASSERT_TRUE(d.send(request_bytes(refused)));
    const response no = d.read_response(/*head_only=*/true);
    ASSERT_TRUE(no.received);
    EXPECT_TRUE(no.body.empty());
    EXPECT_GE(no.status, 400u);
    EXPECT_EQ(seen_at(dataverse).size(), 2u);
}

TEST_F(EnforceStatus, NoContentAndNotModifiedCarryNoBody) {
    for (unsigned status : {204u, 304u}) {
        SCOPED_TRACE(status);
        ASSERT_TRUE(stage(dataverse, "application/json", "", "&status=" + std::to_string(status)));
        http_connection c;
        ASSERT_TRUE(c.connect(proxy_.port()));
        ASSERT_TRUE(c.send(request_bytes(delivery())));
        const response r = c.read_response(/*head_only=*/true);
        ASSERT_TRUE(r.received);
        EXPECT_EQ(r.status, status);
        EXPECT_FALSE(r.header("Transfer-Encoding").has_value())
            << "a " << status << " must not be framed as carrying a body";
        EXPECT_TRUE(r.header("X-Export-Audit-Id").has_value());
        // Nothing follows the head on the connection: the next answer starts right there.
        ASSERT_TRUE(stage(dataverse, "application/json",
                          render(vendor_shape::dataverse, records_, crm_origin())));
        ASSERT_TRUE(c.send(request_bytes(delivery())));
        const response next = c.read_response();
        ASSERT_TRUE(next.received) << "bytes after the " << status << " head";
        EXPECT_EQ(next.status, 200u);
    }
}

}  // namespace
}  // namespace exportwall::itest
