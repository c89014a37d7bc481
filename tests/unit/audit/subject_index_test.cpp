// The subject index: keyed digests, the Golomb-Rice coded chunks, the file and the lookup.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "audit/serialize.hpp"
#include "audit/subject_index.hpp"
#include "audit_test_support.hpp"

namespace exportwall::audit {
namespace {

using test::temp_dir;

std::vector<unsigned char> key_bytes(unsigned char seed) {
    std::vector<unsigned char> key(32);
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<unsigned char>(seed + i);
    return key;
}

// The SipHash key the hasher derives: HMAC-SHA-256(key, label), first 16 bytes, little-endian.
std::pair<std::uint64_t, std::uint64_t> derived_key(const std::vector<unsigned char>& key) {
    static constexpr std::string_view label = "exportwall subject index v1";
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(label.data()), label.size(), out.data(), &len);
    std::uint64_t k0 = 0, k1 = 0;
    for (std::size_t i = 8; i-- > 0;) {
        k0 = (k0 << 8) | out[i];
        k1 = (k1 << 8) | out[8 + i];
    }
    return {k0, k1};
}

std::vector<std::uint64_t> random_hashes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::uint64_t> v(n);
    for (auto& x : v) x = rng();
    return v;
}

TEST(SipHash, MatchesTheReferenceVectors) {
    // The SipHash paper's appendix: key 00..0f; messages of length 0 and 15 (bytes 00..0e).
    const std::uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
    std::string m;
    for (char c = 0; c < 15; ++c) m.push_back(c);
    const std::array<std::string_view, 1> empty{std::string_view{}};
    EXPECT_EQ(siphash24(k0, k1, empty), 0x726fdb47dd0e0e31ULL);
    const std::array<std::string_view, 1> whole{m};
    EXPECT_EQ(siphash24(k0, k1, whole), 0xa129ca6149be45e5ULL);
    // In pieces, split anywhere: the same.
    const std::array<std::string_view, 3> split{std::string_view(m).substr(0, 3),
                                                std::string_view(m).substr(3, 7),
                                                std::string_view(m).substr(10)};
    EXPECT_EQ(siphash24(k0, k1, split), 0xa129ca6149be45e5ULL);
}

TEST(SubjectHasher, IsSipHashOfKindEntityAndValueUnderAnHmacDerivedKey) {
    const auto key = key_bytes(7);
    const subject_hasher h(key);
    const auto [k0, k1] = derived_key(key);
    const std::array<std::string_view, 1> id{
        std::string_view("id\0contact\0"
                         "42",
                         13)};
    EXPECT_EQ(h.id_key("contact", "42"), siphash24(k0, k1, id));
    const std::array<std::string_view, 1> email{std::string_view("email\0\0ann@example.com", 22)};
    EXPECT_EQ(h.email_key("ann@example.com"), siphash24(k0, k1, email));
}

TEST(SubjectHasher, DependsOnTheKeyTheEntityAndTheKind) {
    const subject_hasher a(key_bytes(1));
    const subject_hasher b(key_bytes(2));
    EXPECT_NE(a.id_key("contact", "42"), b.id_key("contact", "42"));
    EXPECT_NE(a.id_key("contact", "42"), a.id_key("lead", "42"));
    EXPECT_NE(a.id_key("contact", "a@b.c"), a.email_key("a@b.c"));
    EXPECT_EQ(a.id_key("contact", "42"), a.id_key("contact", "42"));
}

TEST(SubjectHasher, TakesKeysLongerThanABlock) {
    const std::vector<unsigned char> key(100, 0x5a);
    const subject_hasher h(key);
    const auto [k0, k1] = derived_key(key);
    const std::array<std::string_view, 1> email{std::string_view("email\0\0x@y.z", 12)};
    EXPECT_EQ(h.email_key("x@y.z"), siphash24(k0, k1, email));
}

TEST(SubjectSet, FindsEveryMember) {
    auto hashes = random_hashes(chunk_capacity, 11);
    auto coded = hashes;
    const std::string payload = encode_subject_set(coded, default_subject_k);
    for (std::uint64_t h : hashes)
        ASSERT_TRUE(subject_set_contains(payload, chunk_capacity, default_subject_k, h));
}

TEST(SubjectSet, RarelyAnswersMaybeForANonMember) {
    auto hashes = random_hashes(chunk_capacity, 12);
    const std::string payload = encode_subject_set(hashes, default_subject_k);
    const auto others = random_hashes(50'000, 13);
    std::size_t maybe = 0;
    for (std::uint64_t h : others)
        maybe += subject_set_contains(payload, chunk_capacity, default_subject_k, h) ? 1U : 0U;
    // Expected 50,000 / 2^30: none.
    EXPECT_EQ(maybe, 0U);
    // With k = 14 the same lookups find about 50,000 / 2^14 ≈ 3.
    auto again = random_hashes(chunk_capacity, 12);
    const std::string small = encode_subject_set(again, 14);
    maybe = 0;
    for (std::uint64_t h : others)
        maybe += subject_set_contains(small, chunk_capacity, 14, h) ? 1U : 0U;
    EXPECT_LT(maybe, 15U);
}

TEST(SubjectSet, CostsAboutKPlusTwoBitsPerDigest) {
    for (unsigned k : {14U, default_subject_k}) {
        auto hashes = random_hashes(chunk_capacity, 14);
        const std::string payload = encode_subject_set(hashes, k);
        EXPECT_LT(payload.size() * 8, chunk_capacity * (k + 2)) << "k " << k;
        EXPECT_GT(payload.size() * 8, chunk_capacity * k) << "k " << k;
    }
}

TEST(SubjectSet, ShortOrEmptyInputIsNoMatch) {
    auto hashes = random_hashes(16, 15);
    auto coded = hashes;
    const std::string payload = encode_subject_set(coded, default_subject_k);
    EXPECT_FALSE(subject_set_contains(payload.substr(0, 2), 16, default_subject_k, hashes[15]));
    EXPECT_FALSE(subject_set_contains("", 0, default_subject_k, hashes[0]));
}

TEST(SubjectCollector, WritesChunksBoundToItsDigest) {
    temp_dir dir;
    auto file = std::make_shared<subject_index_file>(dir.file("audit.jsonl.subjects"));
    const std::string id = new_record_id();
    subject_collector c(file, id);
    const auto hashes = random_hashes(2 * chunk_capacity + 100, 16);
    for (std::uint64_t h : hashes) c.add(h);
    ASSERT_FALSE(c.write_pending());
    EXPECT_EQ(c.keys(), hashes.size());

    std::size_t chunks = 0;
    ASSERT_FALSE(for_each_subject_chunk(file->path(), [&](const subject_chunk& ch) {
        ++chunks;
        EXPECT_EQ(export_id_hex(ch.export_id), id);
        return true;
    }));
    EXPECT_EQ(chunks, 3U);

    std::vector<subject_match> found;
    const std::array<std::uint64_t, 1> wanted{hashes[chunk_capacity + 5]};
    ASSERT_FALSE(find_subject_exports(file->path(), wanted, found));
    ASSERT_EQ(found.size(), 1U);
    EXPECT_EQ(found[0].export_id, id);
    EXPECT_EQ(found[0].chunks_sha256, c.digest_hex());
}

TEST(SubjectCollector, TentativeDigestsCountOnlyOnceCommitted) {
    temp_dir dir;
    auto file = std::make_shared<subject_index_file>(dir.file("i.subjects"));
    subject_collector c(file, new_record_id());
    const auto h = random_hashes(3, 20);
    c.add_tentative(h[0]);  // nested in a record that is dropped
    c.discard();
    c.add_tentative(h[1]);  // nested in a record that is kept
    c.commit();
    c.add(h[2]);
    ASSERT_FALSE(c.write_pending());
    EXPECT_EQ(c.keys(), 2U);
    std::vector<subject_match> found;
    const std::array<std::uint64_t, 1> dropped{h[0]};
    ASSERT_FALSE(find_subject_exports(file->path(), dropped, found));
    EXPECT_TRUE(found.empty());
    const std::array<std::uint64_t, 1> kept{h[1]};
    ASSERT_FALSE(find_subject_exports(file->path(), kept, found));
    EXPECT_EQ(found.size(), 1U);
}

TEST(SubjectCollector, NothingDeliveredWritesNothing) {
    temp_dir dir;
    auto file = std::make_shared<subject_index_file>(dir.file("i.subjects"));
    subject_collector c(file, new_record_id());
    ASSERT_FALSE(c.write_pending());
    EXPECT_EQ(c.digest_hex(), "");
    EXPECT_FALSE(std::filesystem::exists(file->path()));
}

TEST(SubjectCollector, AFileThatCannotBeWrittenFailsTheExport) {
    temp_dir dir;
    // A directory where the file should be: open() fails whoever runs the test (root too).
    std::filesystem::create_directory(dir.file("i.subjects"));
    auto file = std::make_shared<subject_index_file>(dir.file("i.subjects"));
    subject_collector c(file, new_record_id());
    c.add(1);
    EXPECT_TRUE(c.write_pending());
    EXPECT_TRUE(c.failed());
}

TEST(SubjectIndexFile, ExportsWrittenConcurrentlyStayApart) {
    temp_dir dir;
    auto file = std::make_shared<subject_index_file>(dir.file("i.subjects"));
    subject_collector a(file, new_record_id());
    subject_collector b(file, new_record_id());
    const auto ha = random_hashes(chunk_capacity + 1, 17);
    const auto hb = random_hashes(chunk_capacity + 1, 18);
    for (std::size_t i = 0; i < ha.size(); ++i) {
        a.add(ha[i]);
        b.add(hb[i]);
    }
    ASSERT_FALSE(a.write_pending());
    ASSERT_FALSE(b.write_pending());
    std::vector<subject_match> found;
    const std::array<std::uint64_t, 1> wanted{hb.back()};
    ASSERT_FALSE(find_subject_exports(file->path(), wanted, found));
    ASSERT_EQ(found.size(), 1U);
    EXPECT_EQ(found[0].chunks_sha256, b.digest_hex());
}

TEST(SubjectIndexFile, ATornLastChunkEndsTheWalk) {
    temp_dir dir;
    auto file = std::make_shared<subject_index_file>(dir.file("i.subjects"));
    subject_collector c(file, new_record_id());
    for (std::uint64_t h : random_hashes(chunk_capacity + 10, 19)) c.add(h);
    ASSERT_FALSE(c.write_pending());
    const auto size = std::filesystem::file_size(file->path());
    std::filesystem::resize_file(file->path(), size - 3);
    std::size_t chunks = 0;
    EXPECT_FALSE(for_each_subject_chunk(file->path(), [&](const subject_chunk&) {
        ++chunks;
        return true;
    }));
    EXPECT_EQ(chunks, 1U);
}

TEST(SubjectIndexRecord, MembersRoundTripThroughBothReaders) {
    record r = test::sample_record(1);
    r.subject_keys = 42;
    r.subject_index = std::string(64, 'a');
    r.prev_hash = std::string(genesis_hash);
    r.hash = std::string(64, 'b');
    std::string line;
    append_line(r, line);
    line.pop_back();  // '\n'
    const auto at = line.find(R"("records_dropped":)");
    ASSERT_NE(at, std::string::npos);
    EXPECT_LT(at, line.find(R"("subject_keys":42,"subject_index":")"));
    EXPECT_LT(line.find(R"("subject_index":)"), line.find(R"("bytes_in":)"));
    boost::json::parser parser;
    record back;
    ASSERT_FALSE(parse_line(line, parser, back));
    EXPECT_EQ(back.subject_keys, 42U);
    EXPECT_EQ(back.subject_index, r.subject_index);
    // The same line with a space after a colon goes through Boost.JSON instead.
    std::string spaced = line;
    spaced.insert(spaced.find(R"("subject_keys":)") + 15, " ");
    record again;
    ASSERT_FALSE(parse_line(spaced, parser, again));
    EXPECT_EQ(again.subject_keys, 42U);
    EXPECT_EQ(again.subject_index, r.subject_index);
    // A record without the members parses with them empty; one with only half of them does not.
    record plain = test::sample_record(1);
    plain.prev_hash = r.prev_hash;
    plain.hash = r.hash;
    std::string plain_line;
    append_line(plain, plain_line);
    plain_line.pop_back();
    ASSERT_FALSE(parse_line(plain_line, parser, again));
    EXPECT_EQ(again.subject_keys, 0U);
    EXPECT_TRUE(again.subject_index.empty());
    std::string half = line;
    const auto from = half.find(R"(,"subject_index":)");
    half.erase(from, 17 + 66);
    EXPECT_TRUE(parse_line(half, parser, again));
}

TEST(SubjectIndexFile, ABadHeaderIsCorrupt) {
    temp_dir dir;
    std::ofstream(dir.file("i.subjects"), std::ios::binary) << std::string(64, 'x');
    const auto ec =
        for_each_subject_chunk(dir.file("i.subjects"), [](const subject_chunk&) { return true; });
    EXPECT_EQ(ec, make_error_code(audit_error::corrupt_log));
    EXPECT_EQ(
        for_each_subject_chunk(dir.file("missing"), [](const subject_chunk&) { return true; }),
        make_error_code(audit_error::no_log));
}

}  // namespace
}  // namespace exportwall::audit
