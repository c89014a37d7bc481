// The names of abort reasons are the access log's, the metrics' and the audit trail's vocabulary:
// they must not change.

#include "proxy/abort_reason.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string_view>

#include "config/decide.hpp"

namespace exportwall::proxy {
namespace {

TEST(AbortReason, KeepsTheNamesOnTheWire) {
    EXPECT_EQ(to_string(abort_reason::client_closed), "client_closed");
    EXPECT_EQ(to_string(abort_reason::client_write_timeout), "client_write_timeout");
    EXPECT_EQ(to_string(abort_reason::shutdown), "shutdown");
    EXPECT_EQ(to_string(abort_reason::upstream_reset), "upstream_reset");
    EXPECT_EQ(to_string(abort_reason::upstream_timeout), "upstream_timeout");
    EXPECT_EQ(to_string(abort_reason::upstream_malformed), "upstream_malformed");
    EXPECT_EQ(to_string(abort_reason::record_limit_exceeded), "record_limit_exceeded");
    EXPECT_EQ(to_string(abort_reason::quota_exceeded), "quota_exceeded");
    EXPECT_EQ(to_string(abort_reason::quota_store_unavailable), "quota_store_unavailable");
    EXPECT_EQ(to_string(abort_reason::audit_unavailable), "audit_unavailable");
}

TEST(AbortReason, AuditsAResetCrmAsMalformedAndEveryOtherByItsName) {
    EXPECT_EQ(audit_reason(abort_reason::upstream_reset), "upstream_malformed");
    std::set<std::string_view> names;
    for (auto r :
         {abort_reason::client_closed, abort_reason::client_write_timeout, abort_reason::shutdown,
          abort_reason::upstream_timeout, abort_reason::upstream_malformed,
          abort_reason::record_limit_exceeded, abort_reason::quota_exceeded,
          abort_reason::quota_store_unavailable, abort_reason::audit_unavailable}) {
        EXPECT_EQ(audit_reason(r), to_string(r));
        EXPECT_TRUE(names.insert(to_string(r)).second) << to_string(r);
    }
    // The aborts a refusal reason also names carry that reason's name.
    EXPECT_TRUE(config::parse_reason(to_string(abort_reason::quota_exceeded)).has_value());
    EXPECT_FALSE(config::parse_reason(to_string(abort_reason::client_closed)).has_value());
}

}  // namespace
}  // namespace exportwall::proxy
