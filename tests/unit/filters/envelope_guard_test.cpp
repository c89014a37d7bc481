// make_filter's hold on JSON and XML output until the records are reached (strict_envelope): a
// document without its records leaks nothing, however it is cut into chunks.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "filters/record_filter.hpp"

namespace exportwall::filters {
namespace {

filter_spec json_spec() {
    filter_spec s;
    s.format = body_format::json;
    s.records = "/records";
    s.allowed = field_set({"Id"});
    s.strict_envelope = true;
    s.max_record_bytes = 4096;
    return s;
}

filter_spec soap_spec() {
    filter_spec s;
    s.format = body_format::xml;
    s.records = "/Envelope/Body/queryResponse/result/records";
    s.allowed = field_set({"Id"});
    s.strict_envelope = true;
    s.max_record_bytes = 4096;
    return s;
}

struct run_result {
    std::string out;
    boost::system::error_code ec;
    bool failed_before_end = false;
};

// Feeds `body` in pieces of `step` bytes; stops at the first error.
run_result run(const filter_spec& spec, std::string_view body, std::size_t step) {
    run_result r;
    auto f = make_filter(spec);
    for (std::size_t at = 0; at < body.size(); at += step) {
        r.ec = f->feed(body.substr(at, step), r.out);
        if (r.ec) {
            r.failed_before_end = true;
            return r;
        }
    }
    r.ec = f->finish(r.out);
    return r;
}

constexpr std::string_view secret = "SECRET-VALUE";

TEST(EnvelopeGuard, SingleJsonObjectInsteadOfAListLeaksNothing) {
    const std::string body =
        R"({"Id":"003A","Email":")" + std::string(secret) + R"(","Phone":"1","done":true})";
    for (std::size_t step : {1u, 7u, 4096u}) {
        auto r = run(json_spec(), body, step);
        EXPECT_EQ(r.ec, make_error_code(filter_error::records_not_found)) << step;
        EXPECT_EQ(r.out.find(secret), std::string::npos) << step;
        EXPECT_TRUE(r.out.empty()) << step;
    }
}

TEST(EnvelopeGuard, SoapRetrieveInsteadOfQueryLeaksNothing) {
    const std::string body =
        R"(<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:sf="urn:sobject.partner.soap.sforce.com"><soapenv:Body><retrieveResponse><result><sf:Id>003A</sf:Id><sf:Email>)" +
        std::string(secret) +
        R"(</sf:Email></result></retrieveResponse></soapenv:Body></soapenv:Envelope>)";
    for (std::size_t step : {1u, 13u, 8192u}) {
        auto r = run(soap_spec(), body, step);
        EXPECT_TRUE(r.ec) << step;
        EXPECT_EQ(r.out.find(secret), std::string::npos) << step;
        EXPECT_TRUE(r.out.empty()) << step;
    }
}

TEST(EnvelopeGuard, CountsNothingSentWhileHolding) {
    auto f = make_filter(json_spec());
    std::string out;
    ASSERT_FALSE(f->feed(R"({"totalSize":1,)", out));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(f->counters().bytes_out, 0u);
    EXPECT_GT(f->counters().bytes_in, 0u);
    ASSERT_FALSE(f->feed(R"("records":[{"Id":"1"}]})", out));
    ASSERT_FALSE(f->finish(out));
    EXPECT_EQ(f->counters().bytes_out, out.size());
}

TEST(EnvelopeGuard, EnvelopeLongerThanARecordWithoutRecordsIsRefusedEarly) {
    // A count is metadata that passes: ten thousand digits of it are held, never sent.
    std::string body = R"({"totalSize":1)" + std::string(10000, '0') + R"(,"records":[]})";
    auto r = run(json_spec(), body, 512);
    EXPECT_TRUE(r.failed_before_end);
    EXPECT_EQ(r.ec, make_error_code(filter_error::records_not_found));
    EXPECT_TRUE(r.out.empty());
}

TEST(EnvelopeGuard, RecordsReleaseTheHeldEnvelopeAndStreamOn) {
    const std::string body =
        R"({"totalSize":2,"done":true,"records":[{"Id":"1","Email":"a"},{"Id":"2","Email":"b"}]})";
    for (std::size_t step : {1u, 5u, 4096u}) {
        auto r = run(json_spec(), body, step);
        ASSERT_FALSE(r.ec) << r.ec.message();
        EXPECT_EQ(r.out, R"({"totalSize":2,"done":true,"records":[{"Id":"1"},{"Id":"2"}]})")
            << step;
    }
}

TEST(EnvelopeGuard, EmptyPageOfRecordsPassesWhole) {
    auto r = run(json_spec(), R"({"totalSize":0,"done":true,"records":[]})", 3);
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.out, R"({"totalSize":0,"done":true,"records":[]})");
}

TEST(EnvelopeGuard, OutputStreamsOnceTheFirstRecordArrives) {
    // Past the first record, output is not held back until the end of the document.
    std::string body = R"({"records":[{"Id":"1"},)";
    auto f = make_filter(json_spec());
    std::string out;
    ASSERT_FALSE(f->feed(body, out));
    ASSERT_FALSE(f->feed(R"({"Id":"2"},{"Id":"3"})", out));
    EXPECT_NE(out.find(R"("Id":"2")"), std::string::npos);
}

TEST(EnvelopeGuard, ScalarsBesideTheRecordsPassOnlyAsPagingOrCountMetadata) {
    const std::string body = R"({"@odata.context":"https://crm/$metadata","note":")" +
                             std::string(secret) +
                             R"(","totalSize":1,"done":true,"records":[{"Id":"1"}],"owner":")" +
                             std::string(secret) + R"("})";
    for (std::size_t step : {1u, 9u, 4096u}) {
        auto f = make_filter(json_spec());
        std::string out;
        boost::system::error_code ec;
        for (std::size_t at = 0; at < body.size() && !ec; at += step)
            ec = f->feed(std::string_view(body).substr(at, step), out);
        if (!ec) ec = f->finish(out);
        ASSERT_FALSE(ec) << ec.message();
        // @odata.context names the CRM's own URL: dropped like the scalars.
        EXPECT_EQ(out, R"({"totalSize":1,"done":true,"records":[{"Id":"1"}]})")
            << step;
        EXPECT_EQ(f->counters().stripped_fields.count("(envelope)note"), 1u);
        EXPECT_EQ(f->counters().stripped_fields.count("(envelope)owner"), 1u);
    }
}

}  // namespace
}  // namespace exportwall::filters
