// Who received a person's data (issue 18, item 1): exports through the real binary with a subject
// key, then `exportwall audit subject` over the trail and the index beside it. A person whose
// record an export delivered is found (by e-mail and by id, also when the purpose strips the
// e-mail), a person whose record it dropped is not, and an index edited after the fact is
// reported, never trusted.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/enforce_fixture.hpp"

namespace exportwall::itest {
namespace {

constexpr std::string_view dataverse = "/api/data/v9.2/contacts";

class EnforceSubject : public enforce_fixture {
  protected:
    ::testing::AssertionResult start_indexed() {
        const std::string key = dir_.file("subject.key");
        std::ofstream(key, std::ios::binary) << std::string(32, 'k') << "0123456789";
        vendor_policy_options o;
        o.edits = {{" sync=\"blocked\">", " sync=\"blocked\" subject-key-file=\"" + key + "\">"}};
        return start(o);
    }

    // `exportwall audit subject --config … ARGS --format json`: its exit status and the audit
    // ids it listed.
    std::pair<int, std::vector<std::string>> lookup(const std::vector<std::string>& args) {
        auto r = subject_lookup(dir_.file("exportwall.xml"), args);
        last_intact_ = r.intact;
        last_output_ = std::move(r.output);
        return {r.status, std::move(r.ids)};
    }

    static export_request request(std::string_view key, std::string_view purpose,
                                  std::string_view destination, std::string target) {
        export_request r;
        r.target = std::move(target);
        r.api_key = std::string(key);
        r.purpose = std::string(purpose);
        r.destination = std::string(destination);
        return r;
    }

    std::string send_export(const std::string& key, const std::string& purpose,
                            const std::string& destination, const std::string& target) {
        const response resp = send(request(key, purpose, destination, target));
        EXPECT_EQ(resp.status, 200) << resp.body;
        return resp.header("X-Export-Audit-Id").value_or("");
    }

    std::string last_output_;
    bool last_intact_ = false;
};

TEST_F(EnforceSubject, ListsTheExportThatDeliveredAPersonAndNotOneItDropped) {
    ASSERT_TRUE(start_indexed());
    ASSERT_TRUE(std::filesystem::exists(dir_.file("exportwall.xml")));
    const std::string p = marker_prefix();
    contact ann = marker_contact(p, 1, "customer");
    contact bob = marker_contact(p, 2, "customer");
    bob.objected = true;  // dropped from a direct-marketing export
    contact cyd = marker_contact(p, 3, "customer");
    cyd.consent_email = false;  // dropped too
    ASSERT_TRUE(stage(dataverse, "application/json",
                      render(vendor_shape::dataverse, {ann, bob, cyd}, crm_origin())));
    const std::string id = send_export(std::string(marketing_key), "promotion-email", "newsletter",
                                       std::string(dataverse));
    ASSERT_FALSE(id.empty());
    const auto rec = audit_record(id);
    ASSERT_TRUE(rec.has_value());
    EXPECT_EQ(number_at(*rec, "records_out"), 1U);
    EXPECT_EQ(number_at(*rec, "subject_keys"), 2U);  // Ann's id and address
    EXPECT_EQ(string_at(*rec, "subject_index").size(), 64U);

    auto [found, ids] = lookup({"--email", ann.email});
    EXPECT_EQ(found, 0) << last_output_;
    EXPECT_EQ(ids, std::vector<std::string>{id});
    // As the suppression list normalises: case and surrounding spaces do not matter.
    std::string shouted = ann.email;
    for (auto& c : shouted) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(lookup({"--email", "  " + shouted + " "}).second, std::vector<std::string>{id});
    EXPECT_EQ(lookup({"--id", ann.id, "--entity", "contact"}).second, std::vector<std::string>{id});
    EXPECT_EQ(lookup({"--id", ann.id}).second, std::vector<std::string>{id});

    for (const auto& dropped : {bob, cyd}) {
        auto [status, none] = lookup({"--email", dropped.email});
        EXPECT_EQ(status, 1) << last_output_;
        EXPECT_TRUE(none.empty());
        EXPECT_EQ(lookup({"--id", dropped.id}).first, 1);
    }
    // The same id under another entity is another person.
    EXPECT_EQ(lookup({"--id", ann.id, "--entity", "contact-csv"}).first, 1);
    // No value reaches the trail or the index in the clear.
    const auto trail = read_file(dir_.file("audit.jsonl")).value_or("");
    const auto index = read_file(dir_.file("audit.jsonl.subjects")).value_or("");
    EXPECT_FALSE(index.empty());
    for (const auto& c : {ann, bob, cyd}) {
        EXPECT_EQ(trail.find(c.email), std::string::npos);
        EXPECT_EQ(index.find(c.email), std::string::npos);
        EXPECT_EQ(index.find(c.id), std::string::npos);
    }
}

// An export aborted at its record limit (the partner's grant: max-records 2; three records in
// one page): no record reached the client, and the index lists none of them — not the two the
// filter had kept before the third crossed the limit either.
TEST_F(EnforceSubject, AnExportAbortedBeforeItsRecordsLeftListsNoneOfThem) {
    ASSERT_TRUE(start_indexed());
    const std::string p = marker_prefix();
    const std::vector<contact> records{marker_contact(p, 1, "customer"),
                                       marker_contact(p, 2, "customer"),
                                       marker_contact(p, 3, "customer")};
    ASSERT_TRUE(stage(dataverse, "application/json",
                      render(vendor_shape::dataverse, records, crm_origin())));
    const response resp = send(request(partner_key, "delivery", "carrier",
                                       std::string(dataverse) + "?$select=id,first_name"));
    ASSERT_TRUE(resp.received);
    EXPECT_FALSE(resp.complete);
    for (const auto& c : records) EXPECT_EQ(resp.body.find(c.id), std::string::npos) << c.id;
    const auto id = resp.header("X-Export-Audit-Id");
    ASSERT_TRUE(id.has_value()) << resp.status << " " << resp.body;
    const auto rec = audit_record(*id);
    ASSERT_TRUE(rec.has_value());
    EXPECT_EQ(string_at(*rec, "reason"), "record_limit_exceeded");
    EXPECT_EQ(number_at(*rec, "subject_keys"), 0U);
    for (const auto& c : records) {
        auto [status, ids] = lookup({"--id", c.id});
        EXPECT_EQ(status, 1) << c.id << ": " << last_output_;
        EXPECT_TRUE(ids.empty());
    }
}

TEST_F(EnforceSubject, APurposeThatStripsTheKeysStillIndexesWhoItDelivered) {
    ASSERT_TRUE(start_indexed());
    const std::string p = marker_prefix();
    const contact ann = marker_contact(p, 1, "customer");
    const contact lea = marker_contact(p, 2, "lead");  // delivery is for customers only
    ASSERT_TRUE(stage(dataverse, "application/json",
                      render(vendor_shape::dataverse, {ann, lea}, crm_origin())));
    // delivery does not keep the address: the CRM is still asked for it (a subject key), and
    // it is stripped from the answer.
    const response resp = send(
        request(erp_key, "delivery", "warehouse", std::string(dataverse) + "?$select=first_name"));
    ASSERT_EQ(resp.status, 200) << resp.body;
    EXPECT_EQ(resp.body.find(ann.email), std::string::npos);
    EXPECT_NE(resp.body.find(ann.first_name), std::string::npos) << resp.body;
    const std::string id = resp.header("X-Export-Audit-Id").value_or("");
    ASSERT_TRUE(audit_record(id).has_value());

    EXPECT_EQ(lookup({"--email", ann.email}).second, std::vector<std::string>{id});
    EXPECT_EQ(lookup({"--email", lea.email}).first, 1);
}

TEST_F(EnforceSubject, AnIndexEditedAfterTheFactIsReported) {
    ASSERT_TRUE(start_indexed());
    const std::string p = marker_prefix();
    const contact ann = marker_contact(p, 1, "customer");
    ASSERT_TRUE(
        stage(dataverse, "application/json", render(vendor_shape::dataverse, {ann}, crm_origin())));
    const std::string id =
        send_export(std::string(erp_key), "delivery", "warehouse", std::string(dataverse));
    ASSERT_TRUE(audit_record(id).has_value());
    ASSERT_EQ(lookup({"--email", ann.email}).first, 0);
    EXPECT_TRUE(last_intact_);

    // One byte of the list chunk's header changes (its code: Rice instead of Elias-gamma, which
    // reads Ann's two ordinals the same): the chunk still answers, but no longer hashes to what
    // the export's audit record says.
    const std::string path = dir_.file("audit.jsonl.subjects");
    const std::string index = read_file(path).value_or("");
    const auto list = index.find(std::string_view("EWSI\x02\x01", 6));
    ASSERT_NE(list, std::string::npos);
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(list + 6));
    f.put(static_cast<char>(index[list + 6] ^ 0x01));
    f.close();
    auto [status, ids] = lookup({"--email", ann.email});
    EXPECT_EQ(status, 1);
    EXPECT_EQ(ids, std::vector<std::string>{id});
    EXPECT_FALSE(last_intact_);
    EXPECT_NE(last_output_.find("INDEX ALTERED"), std::string::npos);
}

// The dictionary chunks of the index (format 2): how many, and how many digests they hold.
std::pair<std::size_t, std::uint64_t> dictionary_of(const std::string& index) {
    std::size_t chunks = 0;
    std::uint64_t digests = 0;
    const std::string_view header("EWSI\x02\x00\x00\x00", 8);
    for (auto at = index.find(header); at != std::string::npos; at = index.find(header, at + 1)) {
        ++chunks;
        std::uint32_t n = 0;  // little-endian at offset 12
        for (std::size_t i = 4; i-- > 0;)
            n = (n << 8) | static_cast<unsigned char>(index[at + 12 + i]);
        digests += n;
    }
    return {chunks, digests};
}

TEST_F(EnforceSubject, ARestartKeepsTheDictionaryAndSetsATornTailAside) {
    ASSERT_TRUE(start_indexed());
    const std::string p = marker_prefix();
    const contact ann = marker_contact(p, 1, "customer");
    const contact bob = marker_contact(p, 2, "customer");
    ASSERT_TRUE(
        stage(dataverse, "application/json", render(vendor_shape::dataverse, {ann}, crm_origin())));
    const std::string before =
        send_export(std::string(erp_key), "delivery", "warehouse", std::string(dataverse));
    ASSERT_TRUE(audit_record(before).has_value());
    const std::string path = dir_.file("audit.jsonl.subjects");
    EXPECT_EQ(dictionary_of(read_file(path).value_or("")),
              std::make_pair(std::size_t{1}, std::uint64_t{2}));

    // A crash in the middle of an append: the start of a dictionary chunk, nothing after it.
    proxy_.process().signal(SIGKILL);
    ASSERT_TRUE(proxy_.process().wait_exit().has_value());
    const auto whole = std::filesystem::file_size(path);
    std::ofstream(path, std::ios::binary | std::ios::app)
        << std::string_view("EWSI\x02\x00\x00", 7);
    std::filesystem::remove(dir_.file("ports.json"));  // the new process writes its own
    ASSERT_TRUE(proxy_.start(dir_, config_)) << proxy_.log();
    EXPECT_EQ(std::filesystem::file_size(path), whole);
    EXPECT_EQ(read_file(path + ".torn-" + std::to_string(whole)).value_or("").size(), 7U);

    // Ann again and Bob: only Bob is new to the dictionary.
    ASSERT_TRUE(stage(dataverse, "application/json",
                      render(vendor_shape::dataverse, {ann, bob}, crm_origin())));
    const std::string after =
        send_export(std::string(erp_key), "delivery", "warehouse", std::string(dataverse));
    ASSERT_TRUE(audit_record(after).has_value()) << proxy_.log();
    EXPECT_EQ(dictionary_of(read_file(path).value_or("")),
              std::make_pair(std::size_t{2}, std::uint64_t{4}));
    auto [status, ids] = lookup({"--email", ann.email});
    EXPECT_EQ(status, 0) << last_output_;
    EXPECT_EQ(ids, (std::vector<std::string>{before, after}));
    EXPECT_TRUE(last_intact_);
    EXPECT_EQ(lookup({"--id", bob.id}).second, std::vector<std::string>{after});
}

TEST_F(EnforceSubject, AnEditedDictionaryIsReportedWhenItHidesThePerson) {
    ASSERT_TRUE(start_indexed());
    const std::string p = marker_prefix();
    const contact ann = marker_contact(p, 1, "customer");
    ASSERT_TRUE(
        stage(dataverse, "application/json", render(vendor_shape::dataverse, {ann}, crm_origin())));
    const std::string id =
        send_export(std::string(erp_key), "delivery", "warehouse", std::string(dataverse));
    ASSERT_TRUE(audit_record(id).has_value());
    // Both of Ann's digests in the dictionary changed: she is no longer found, and the lookup
    // says the index was altered rather than that nobody received her data.
    const std::string path = dir_.file("audit.jsonl.subjects");
    const std::string index = read_file(path).value_or("");
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    for (std::streamoff at : {32, 40}) {
        f.seekp(at);
        f.put(static_cast<char>(index[static_cast<std::size_t>(at)] ^ 0x01));
    }
    f.close();
    auto [status, ids] = lookup({"--email", ann.email});
    EXPECT_EQ(status, 1);
    EXPECT_TRUE(ids.empty());
    EXPECT_FALSE(last_intact_);
    EXPECT_NE(last_output_.find("INDEX ALTERED"), std::string::npos);
}

// The ordinals the index file's list chunks hold, summed over every chunk (format 2: "EWSI", 2,
// kind 0 dictionary of 32 + 8n bytes, kind 1 list of 40 + payload bytes, n at offset 24).
std::uint64_t ordinals_listed(const std::string& index) {
    auto u32 = [&](std::size_t at) {
        std::uint32_t v = 0;
        for (int i = 3; i >= 0; --i)
            v = (v << 8) | static_cast<unsigned char>(index[at + static_cast<std::size_t>(i)]);
        return v;
    };
    std::uint64_t listed = 0;
    std::size_t at = 0;
    while (at + 40 <= index.size() && index.compare(at, 4, "EWSI") == 0 && index[at + 4] == 2) {
        if (index[at + 5] == 0) {
            at += 32 + 8 * std::size_t{u32(at + 12)};
        } else {
            listed += u32(at + 24);
            at += 40 + std::size_t{u32(at + 28)};
        }
    }
    return listed;
}

TEST_F(EnforceSubject, RecordsReachTheIndexBeforeTheyReachTheClient) {
    // An export far larger than the sockets between exportwall and a client that reads its
    // first 64 KiB and then stops: the export cannot end, so whatever the index holds was written
    // on the way. Every record the client has is in it. (A proxy that wrote the index only when
    // it has 4,096 digests, or at the end, would hold none: 1,500 records are 3,000 digests.)
    ASSERT_TRUE(start_indexed());
    const std::string p = marker_prefix();
    std::vector<contact> all;
    for (int n = 0; n < 1500; ++n) {
        contact c = marker_contact(p, n, "customer");
        c.first_name += std::string(10000, 'f');  // kept: 10 KB a record to the client
        all.push_back(std::move(c));
    }
    ASSERT_TRUE(
        stage(dataverse, "application/json", render(vendor_shape::dataverse, all, crm_origin())));
    export_request r;
    r.target = std::string(dataverse);
    r.api_key = std::string(marketing_key);
    r.purpose = "promotion-email";
    r.destination = "newsletter";

    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    const int small = 16 * 1024;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(proxy_.port());
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to), 0);
    const std::string request = request_bytes(r);
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    std::string received;
    char buffer[8192];
    while (received.size() < 64 * 1024) {
        pollfd pfd{fd, POLLIN, 0};
        ASSERT_EQ(::poll(&pfd, 1, 10000), 1) << "no bytes from exportwall";
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        ASSERT_GT(n, 0) << "exportwall closed after " << received.size() << " bytes";
        received.append(buffer, static_cast<std::size_t>(n));
    }
    ASSERT_NE(received.find("200"), std::string::npos) << received.substr(0, 200);
    // The client's records: each address is written whole after its id.
    std::size_t records = 0;
    for (auto at = received.find("@example.test\""); at != std::string::npos;
         at = received.find("@example.test\"", at + 1))
        ++records;
    ASSERT_GE(records, 3U);
    const auto index = read_file(dir_.file("audit.jsonl.subjects")).value_or("");
    EXPECT_GE(ordinals_listed(index), 2 * records)
        << "the client holds " << records << " records; the index lists " << ordinals_listed(index)
        << " keys";
    ::close(fd);
}

TEST_F(EnforceSubject, AnIndexThatCannotBeWrittenRefusesBeforeTheCrmIsAsked) {
    // A directory where the index file belongs: opening it fails, for root too.
    std::filesystem::create_directory(dir_.file("audit.jsonl.subjects"));
    ASSERT_TRUE(start_indexed());
    const std::string p = marker_prefix();
    ASSERT_TRUE(
        stage(dataverse, "application/json",
              render(vendor_shape::dataverse, {marker_contact(p, 1, "customer")}, crm_origin())));
    const std::size_t asked = seen_at(dataverse).size();
    export_request r;
    r.target = std::string(dataverse);
    r.api_key = std::string(erp_key);
    r.purpose = "delivery";
    r.destination = "warehouse";
    const response resp = send(r);
    EXPECT_EQ(resp.status, 503);
    const auto problem = problem_of(resp);
    ASSERT_TRUE(problem.has_value()) << resp.body;
    EXPECT_EQ(string_at(*problem, "reason"), "audit_unavailable");
    EXPECT_EQ(resp.body.find(p), std::string::npos);
    EXPECT_EQ(seen_at(dataverse).size(), asked);
    const auto rec = audit_record(string_at(*problem, "audit_id"));
    ASSERT_TRUE(rec.has_value());
    EXPECT_EQ(string_at(*rec, "decision"), "blocked");
}

TEST_F(EnforceSubject, WithoutASubjectKeyTheLookupIsAUsageError) {
    ASSERT_TRUE(start());
    auto [out, status] = run_exportwall_status(
        {"audit", "subject", "--config", dir_.file("exportwall.xml"), "--email", "a@b.c"});
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(out.find("subject-key-file"), std::string::npos);
}

TEST_F(EnforceSubject, AnUnreadableKeyFailsCheckConfigWithItsPosition) {
    ASSERT_TRUE(start());
    std::string config = read_file(dir_.file("exportwall.xml")).value_or("");
    const auto at = config.find(" sync=\"blocked\">");
    ASSERT_NE(at, std::string::npos);
    config.replace(at, 16, " sync=\"blocked\" subject-key-file=\"" + dir_.file("nope.key") + "\">");
    std::ofstream(dir_.file("broken.xml")) << config;
    auto [out, status] = run_exportwall_status({"check-config", dir_.file("broken.xml")});
    EXPECT_EQ(status, 1) << out;
    EXPECT_NE(out.find("broken.xml:"), std::string::npos) << out;
    EXPECT_NE(out.find("subject-key-file"), std::string::npos) << out;
}

}  // namespace
}  // namespace exportwall::itest
