// The subject index: keyed digests, format 1's coded sets (read only), format 2's dictionary and
// ordinal lists, the file (restart, torn tail, full), and the lookup.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <span>
#include <string>
#include <thread>
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

TEST(SubjectHasher, LongValuesDigestAsShortOnesDo) {
    // Values past the stack buffer take the pieces' path: the same function.
    const auto key = key_bytes(9);
    const subject_hasher h(key);
    const auto [k0, k1] = derived_key(key);
    for (std::size_t len : {0U, 1U, 7U, 8U, 242U, 243U, 244U, 300U, 1000U}) {
        const std::string value(len, 'v');
        const std::string message = std::string("id\0contact\0", 11) + value;
        const std::array<std::string_view, 1> whole{message};
        EXPECT_EQ(h.id_key("contact", value), siphash24(k0, k1, whole)) << len;
    }
}

TEST(SubjectHasher, KeysTwoAtATimeAreTheKeysOneAtATime) {
    const subject_hasher h(key_bytes(10));
    const std::string long_value(300, 'x');
    const std::vector<subject_hasher::keyed_value> values{
        {false, "contact", "0031x00000AbCdE"},
        {true, {}, "ann@example.com"},
        {true, {}, ""},
        {false, "lead", "7"},
        {false, "contact", long_value},  // past the stack buffer, paired with a short one
        {true, {}, "a.rather.long.address.of.someone@subdomain.example-company.com"},
        {false, "contact", "odd one out"},
    };
    std::vector<std::uint64_t> out(values.size());
    h.keys(values, out);
    for (std::size_t i = 0; i < values.size(); ++i) {
        const std::uint64_t one = values[i].email ? h.email_key(values[i].value)
                                                  : h.id_key(values[i].entity, values[i].value);
        EXPECT_EQ(out[i], one) << i;
    }
}

// The keys a record can hold: every length a message can have (kind 0 entity 0 value, 4 to 256
// bytes, so 1 to 33 blocks), ids and addresses mixed, in random order.
std::vector<subject_hasher::keyed_value> mixed_keys(std::vector<std::string>& storage,
                                                    std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    storage.clear();
    storage.reserve(n);
    std::vector<subject_hasher::keyed_value> keys;
    for (std::size_t i = 0; i < n; ++i) {
        const bool email = rng() % 2 == 0;
        const std::size_t room = email ? 256 - 7 : 256 - 11;  // "email\0\0" or "id\0contact\0"
        std::string value(rng() % (room + 1), '\0');
        for (char& c : value) c = static_cast<char>('a' + rng() % 26);
        storage.push_back(std::move(value));
        keys.push_back({email, email ? std::string_view{} : "contact", storage.back()});
    }
    return keys;
}

TEST(SubjectHasher, MessagesSideBySideAreTheKeysOneAtATime) {
    // Lanes of every length side by side, so lanes finish their messages at every block; the
    // reference is the pieces' SipHash-2-4 over the message, not the hasher's own paths.
    const auto key = key_bytes(11);
    const subject_hasher h(key);
    const auto [k0, k1] = derived_key(key);
    std::vector<std::string> storage;
    for (std::size_t n : {1U, 7U, 8U, 9U, 16U, 23U, 200U}) {
        const auto keys = mixed_keys(storage, n, 50 + n);
        std::vector<subject_hasher::message> messages(keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i)
            ASSERT_TRUE(subject_hasher::make_message(keys[i], messages[i])) << i;
        for (auto lanes : {subject_hasher::lanes::baseline, subject_hasher::lanes::avx2,
                           subject_hasher::lanes::avx512}) {
            if (!subject_hasher::supported(lanes)) continue;
            std::vector<std::uint64_t> out(keys.size());
            h.digest_messages(messages, out, lanes);
            for (std::size_t i = 0; i < keys.size(); ++i) {
                const std::string message =
                    keys[i].email ? std::string("email\0\0", 7) + std::string(keys[i].value)
                                  : std::string("id\0contact\0", 11) + std::string(keys[i].value);
                const std::array<std::string_view, 1> whole{message};
                ASSERT_EQ(out[i], siphash24(k0, k1, whole))
                    << n << " keys, key " << i << ", " << message.size() << " bytes, lanes "
                    << static_cast<int>(lanes);
            }
        }
    }
}

TEST(SubjectHasher, AMessagePastTheBoundIsNotMade) {
    subject_hasher::message m;
    const std::string fits(256 - 7, 'a');
    EXPECT_TRUE(subject_hasher::make_message({true, {}, fits}, m));
    EXPECT_EQ(m.size, 256U);
    const std::string too_long(256 - 6, 'a');
    EXPECT_FALSE(subject_hasher::make_message({true, {}, too_long}, m));
}

TEST(SubjectHasher, AMessageOfEveryLengthIsItsBytesThenZeros) {
    // make_message copies in overlapping pieces of fixed size: every length of entity and value
    // (each piece size and its edges), into a message whose bytes were not zero before.
    for (std::size_t entity_size = 0; entity_size <= 40; ++entity_size) {
        for (std::size_t size = 0; size + entity_size + 4 <= 256; ++size) {
            std::string entity(entity_size, 'e');
            std::string value(size, 'v');
            for (std::size_t i = 0; i < entity_size; ++i)
                entity[i] = static_cast<char>('A' + i % 26);
            for (std::size_t i = 0; i < size; ++i) value[i] = static_cast<char>('a' + i % 26);
            for (bool email : {false, true}) {
                subject_hasher::message m;
                m.bytes.fill(0xee);
                const std::string expected =
                    email ? std::string("email\0\0", 7) + value
                          : std::string("id\0", 3) + entity + std::string(1, '\0') + value;
                const bool fits = expected.size() <= subject_hasher::max_message;
                ASSERT_EQ(subject_hasher::make_message({email, entity, value}, m), fits)
                    << entity_size << " " << size << " " << email;
                if (!fits) continue;
                ASSERT_EQ(m.size, expected.size()) << entity_size << " " << size;
                ASSERT_EQ(std::string(reinterpret_cast<const char*>(m.bytes.data()), m.size),
                          expected)
                    << entity_size << " " << size << " " << email;
                for (std::size_t i = m.size; i < m.size + 8; ++i)
                    ASSERT_EQ(m.bytes[i], 0) << entity_size << " " << size << " byte " << i;
            }
        }
    }
}

TEST(SubjectCollector, KeysQueuedAreIndexedAsTheirDigestsAre) {
    // add_key() (queued, eight at a time) writes the chunks add() of the same digests writes,
    // including a key too long to queue and a partial queue at write_pending().
    temp_dir dir;
    const auto hasher = std::make_shared<const subject_hasher>(key_bytes(12));
    std::vector<std::string> storage;
    auto keys = mixed_keys(storage, 3 * 8 + 5, 70);
    const std::string too_long(300, 'z');
    keys.insert(keys.begin() + 9, {false, "contact", too_long});
    std::vector<std::uint64_t> digests(keys.size());
    hasher->keys(keys, digests);

    auto by_digest = std::make_shared<subject_index_file>(dir.file("a.subjects"));
    auto by_key = std::make_shared<subject_index_file>(dir.file("b.subjects"));
    const std::string id = new_record_id();
    subject_collector plain(by_digest, id);
    subject_collector queued(by_key, id, hasher);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        plain.add(digests[i]);
        queued.add_key(keys[i]);
    }
    ASSERT_FALSE(plain.write_pending());
    ASSERT_FALSE(queued.write_pending());
    EXPECT_EQ(queued.keys(), keys.size());
    EXPECT_EQ(queued.digest_hex(), plain.digest_hex());
    auto bytes = [](const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    EXPECT_EQ(bytes(by_key->path()), bytes(by_digest->path()));
    // And the lookup finds the person behind a queued key.
    const auto queued_id = std::find_if(
        keys.begin(), keys.end(), [&](const auto& k) { return !k.email && k.value != too_long; });
    ASSERT_NE(queued_id, keys.end());
    subject_search found;
    const std::array<std::uint64_t, 1> wanted{hasher->id_key("contact", queued_id->value)};
    ASSERT_FALSE(find_subject_exports(by_key->path(), wanted, found));
    ASSERT_EQ(found.exports.size(), 1U);
    EXPECT_EQ(found.exports[0].export_id, id);
}

TEST(SubjectCollector, NoKeyQueuedIsLostWhenTheExportEndsWithoutAFullQueue) {
    temp_dir dir;
    const auto hasher = std::make_shared<const subject_hasher>(key_bytes(13));
    auto file = std::make_shared<subject_index_file>(dir.file("i.subjects"));
    subject_collector c(file, new_record_id(), hasher);
    c.add_key({true, {}, "ann@example.com"});  // one key: never eight
    ASSERT_FALSE(c.write_pending());
    EXPECT_EQ(c.keys(), 1U);
    subject_search found;
    const std::array<std::uint64_t, 1> wanted{hasher->email_key("ann@example.com")};
    ASSERT_FALSE(find_subject_exports(file->path(), wanted, found));
    EXPECT_EQ(found.exports.size(), 1U);
}

// ---- format 2 ---------------------------------------------------------------------------------

std::vector<std::uint32_t> random_ordinals(std::size_t n, std::uint32_t mean_gap,
                                           std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::uint32_t> gap(1, 2 * mean_gap - 1);
    std::vector<std::uint32_t> v;
    std::uint32_t at = static_cast<std::uint32_t>(rng() % 1'000'000);
    for (std::size_t i = 0; i < n; ++i) {
        v.push_back(at);
        at += gap(rng);
    }
    return v;
}

TEST(OrdinalList, DecodesWhatItEncodedWithEveryGapSize) {
    for (std::uint32_t mean : {1U, 2U, 3U, 40U, 5'000U, 1'000'000U}) {
        const auto ordinals = random_ordinals(3000, mean, mean);
        std::string payload;
        const unsigned code = encode_ordinals(ordinals, payload);
        std::vector<std::uint32_t> back;
        ASSERT_TRUE(decode_ordinals(payload, static_cast<std::uint32_t>(ordinals.size()), code,
                                    ordinals.front(), back))
            << mean;
        EXPECT_EQ(back, ordinals) << mean;
        for (std::size_t i = 0; i < ordinals.size(); i += 97)
            EXPECT_TRUE(ordinal_list_contains(payload, static_cast<std::uint32_t>(ordinals.size()),
                                              code, ordinals.front(), ordinals[i]));
    }
    // The largest ordinals and gaps.
    const std::vector<std::uint32_t> wide{0, 1, 0x7fffffffU, 0xfffffffeU};
    std::string payload;
    const unsigned code = encode_ordinals(wide, payload);
    std::vector<std::uint32_t> back;
    ASSERT_TRUE(decode_ordinals(payload, 4, code, 0, back));
    EXPECT_EQ(back, wide);
}

// A repeated export of the same persons: consecutive ordinals, one zero bit a gap (gamma), and
// lists one longer or shorter than a whole byte of gaps.
TEST(OrdinalList, ConsecutiveOrdinalsTakeABitEach) {
    for (std::uint32_t n : {2U, 8U, 9U, 10U, 17U, 1000U}) {
        std::vector<std::uint32_t> ordinals(n);
        for (std::uint32_t i = 0; i < n; ++i) ordinals[i] = 77 + i;
        std::string payload = "head";
        const unsigned code = encode_ordinals(ordinals, payload);
        EXPECT_EQ(code, 0U);
        EXPECT_EQ(payload, "head" + std::string((n - 1 + 7) / 8, '\0')) << n;
        std::vector<std::uint32_t> back;
        ASSERT_TRUE(decode_ordinals(std::string_view(payload).substr(4), n, code, 77, back));
        EXPECT_EQ(back, ordinals);
        // One gap of 2 at the end: no longer every gap 1, the codes are weighed again.
        ordinals.back() += 1;
        std::string wider;
        const unsigned wider_code = encode_ordinals(ordinals, wider);
        back.clear();
        ASSERT_TRUE(decode_ordinals(wider, n, wider_code, 77, back));
        EXPECT_EQ(back, ordinals) << n;
    }
}

TEST(OrdinalList, AnswersNoForOrdinalsItDoesNotHold) {
    const auto ordinals = random_ordinals(1000, 5, 3);
    std::string payload;
    const unsigned code = encode_ordinals(ordinals, payload);
    const auto n = static_cast<std::uint32_t>(ordinals.size());
    std::size_t wrong = 0;
    for (std::uint32_t o = ordinals.front() - 10; o < ordinals.back() + 10; ++o) {
        const bool member = std::binary_search(ordinals.begin(), ordinals.end(), o);
        wrong += ordinal_list_contains(payload, n, code, ordinals.front(), o) != member ? 1U : 0U;
    }
    EXPECT_EQ(wrong, 0U);
    // A payload cut short answers no rather than reading past it.
    EXPECT_FALSE(
        ordinal_list_contains(payload.substr(0, 2), n, code, ordinals.front(), ordinals.back()));
    std::vector<std::uint32_t> back;
    EXPECT_FALSE(decode_ordinals(payload.substr(0, 2), n, code, ordinals.front(), back));
}

TEST(OrdinalList, CostsUnderABytePerRecordOfARepeatedExportInCrmOrder) {
    // A CRM of 50,000 persons (an id and an address each: ordinals 2i, 2i+1); an export keeps
    // about 45 % of them in the CRM's order, 160 records a chunk.
    std::mt19937_64 rng(21);
    std::vector<std::uint32_t> kept;
    for (std::uint32_t person = 0; person < 50'000; ++person) {
        if (rng() % 100 >= 45) continue;
        kept.push_back(2 * person);
        kept.push_back(2 * person + 1);
    }
    std::size_t bytes = 0;
    for (std::size_t at = 0; at < kept.size(); at += 320) {
        const std::span<const std::uint32_t> chunk(kept.data() + at,
                                                   std::min<std::size_t>(320, kept.size() - at));
        std::string payload;
        (void)encode_ordinals(chunk, payload);
        bytes += list_header_size + payload.size();
    }
    const double per_record = 2.0 * static_cast<double>(bytes) / static_cast<double>(kept.size());
    EXPECT_LT(per_record, 1.0);
    EXPECT_GT(per_record, 0.3);
}

TEST(SubjectDictionary, FindsWhatItHoldsAndForgetsWhatItErases) {
    subject_dictionary d;
    const auto digests = random_hashes(100'000, 31);
    for (std::size_t i = 0; i < digests.size(); ++i)
        d.insert(digests[i], static_cast<std::uint32_t>(i));
    d.insert(0, 777'777);  // the empty slot's marker is a digest too
    EXPECT_EQ(d.size(), digests.size() + 1);
    EXPECT_EQ(d.find(0), std::optional<std::uint32_t>(777'777));
    // 12 bytes a slot, at most 3/4 full: 16 to 32 bytes a digest.
    EXPECT_LE(d.memory_bytes(), 32 * d.size());
    EXPECT_GE(d.memory_bytes(), 16 * digests.size());
    for (std::size_t i = 0; i < digests.size(); i += 2) d.erase(digests[i]);
    d.erase(0);
    d.erase(12345);  // not held: nothing happens
    EXPECT_EQ(d.size(), digests.size() / 2);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < digests.size(); ++i) {
        const auto o = d.find(digests[i]);
        if (i % 2 == 0)
            wrong += o ? 1U : 0U;
        else
            wrong += o != std::optional<std::uint32_t>(static_cast<std::uint32_t>(i)) ? 1U : 0U;
    }
    EXPECT_EQ(wrong, 0U);
    EXPECT_FALSE(d.find(0));
    for (std::uint64_t h : random_hashes(1000, 32)) EXPECT_FALSE(d.find(h));
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

    std::size_t lists = 0, dictionaries = 0, in_dictionary = 0;
    ASSERT_FALSE(for_each_subject_chunk(file->path(), [&](const subject_chunk& ch) {
        if (ch.kind == subject_chunk::type::dictionary) {
            ++dictionaries;
            in_dictionary += ch.n;
            return true;
        }
        ++lists;
        EXPECT_EQ(ch.kind, subject_chunk::type::list);
        EXPECT_EQ(export_id_hex(ch.export_id), id);
        return true;
    }));
    EXPECT_EQ(lists, 3U);
    EXPECT_EQ(dictionaries, 3U);
    EXPECT_EQ(in_dictionary, hashes.size());

    subject_search found;
    const std::array<std::uint64_t, 1> wanted{hashes[chunk_capacity + 5]};
    ASSERT_FALSE(find_subject_exports(file->path(), wanted, found));
    ASSERT_EQ(found.exports.size(), 1U);
    EXPECT_EQ(found.exports[0].export_id, id);
    EXPECT_EQ(found.exports[0].chunks_sha256, c.digest_hex());
    EXPECT_TRUE(found.exports[0].dictionary_matches);
    EXPECT_TRUE(found.dictionary_intact);
}

TEST(SubjectCollector, APersonSeenBeforeAddsNothingToTheDictionary) {
    temp_dir dir;
    auto file = std::make_shared<subject_index_file>(dir.file("i.subjects"));
    const auto persons = random_hashes(1000, 40);
    subject_collector first(file, new_record_id());
    for (std::uint64_t h : persons) first.add(h);
    ASSERT_FALSE(first.write_pending());
    const auto after_first = std::filesystem::file_size(file->path());
    EXPECT_GT(after_first, 8 * persons.size());
    // The same persons again, half of them, twice over in one chunk: only a list chunk.
    subject_collector second(file, new_record_id());
    for (std::size_t i = 0; i < persons.size(); i += 2) second.add(persons[i]);
    for (std::size_t i = 0; i < persons.size(); i += 2) second.add(persons[i]);
    ASSERT_FALSE(second.write_pending());
    EXPECT_EQ(second.keys(), persons.size() / 2);
    const auto list_bytes = std::filesystem::file_size(file->path()) - after_first;
    EXPECT_LT(list_bytes, list_header_size + persons.size() / 2);  // a gap of 2: 3 bits
    EXPECT_EQ(file->digests(), persons.size());
}

// Keys handed over after a mark are taken back while unwritten (a quota cut the records after
// it); a nested record's digests committed after that come after the queued keys; what is left
// unwritten when an export ends is dropped (its records never left); a mark before the last
// write cannot be gone back to.
TEST(SubjectCollector, KeysNotYetWrittenCanBeTakenBack) {
    temp_dir dir;
    const auto hasher = std::make_shared<const subject_hasher>(key_bytes(14));
    auto file = std::make_shared<subject_index_file>(dir.file("i.subjects"));
    subject_collector c(file, new_record_id(), hasher);
    std::vector<std::string> addresses;
    for (int i = 0; i < 20; ++i) addresses.push_back("person" + std::to_string(i) + "@example.com");
    auto found = [&](const std::string& address) {
        subject_search s;
        const std::array<std::uint64_t, 1> wanted{hasher->email_key(address)};
        EXPECT_FALSE(find_subject_exports(file->path(), wanted, s));
        return !s.exports.empty();
    };
    // Twenty keys: sixteen digested (a full queue), four still queued; back to thirteen takes
    // three digests and the four queued keys.
    for (const auto& a : addresses) c.add_key({true, {}, a});
    EXPECT_EQ(c.taken(), 20U);
    ASSERT_TRUE(c.retract(13));
    EXPECT_EQ(c.taken(), 13U);
    const std::uint64_t nested = hasher->email_key("nested@example.com");
    c.add_key({true, {}, addresses[13]});  // queued again
    c.add_tentative(nested);
    c.commit();
    EXPECT_EQ(c.taken(), 15U);
    ASSERT_TRUE(c.retract(14));  // the nested digest goes, the queued key stays
    ASSERT_FALSE(c.write_pending());
    EXPECT_EQ(c.keys(), 14U);
    for (std::size_t i = 0; i < addresses.size(); ++i)
        EXPECT_EQ(found(addresses[i]), i < 14) << addresses[i];
    subject_search s;
    const std::array<std::uint64_t, 1> wanted{nested};
    ASSERT_FALSE(find_subject_exports(file->path(), wanted, s));
    EXPECT_TRUE(s.exports.empty());
    // Written: no going back before it. Unwritten at the end: dropped.
    EXPECT_FALSE(c.retract(10));
    c.add_key({true, {}, addresses[19]});
    c.drop_pending();
    ASSERT_FALSE(c.write_pending());
    EXPECT_FALSE(found(addresses[19]));
    EXPECT_EQ(c.keys(), 14U);
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
    EXPECT_TRUE(file->open());
    subject_collector c(file, new_record_id());
    c.add(1);
    EXPECT_TRUE(c.write_pending());
    EXPECT_TRUE(c.failed());
    c.add(2);
    EXPECT_TRUE(c.write_pending());
    EXPECT_EQ(c.digest_hex(), "");
}

TEST(SubjectCollector, AFullDictionaryFailsTheExportAndRefusesTheNext) {
    temp_dir dir;
    auto file = std::make_shared<subject_index_file>(dir.file("i.subjects"), 100);
    const auto persons = random_hashes(150, 41);
    subject_collector a(file, new_record_id());
    for (std::size_t i = 0; i < 90; ++i) a.add(persons[i]);
    ASSERT_FALSE(a.write_pending());
    subject_collector b(file, new_record_id());
    for (std::size_t i = 50; i < 150; ++i) b.add(persons[i]);  // 60 new: past 100
    EXPECT_EQ(b.write_pending(), boost::system::errc::no_buffer_space);
    EXPECT_EQ(file->digests(), 90U);  // none of the chunk's new digests stayed
    EXPECT_FALSE(file->open());
    // Known persons still index; the hundredth fills it, and then nothing starts.
    subject_collector c(file, new_record_id());
    for (std::size_t i = 0; i < 100; ++i) c.add(persons[i]);
    ASSERT_FALSE(c.write_pending());
    EXPECT_EQ(file->open(), boost::system::errc::no_buffer_space);
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
    subject_search found;
    const std::array<std::uint64_t, 1> wanted{hb.back()};
    ASSERT_FALSE(find_subject_exports(file->path(), wanted, found));
    ASSERT_EQ(found.exports.size(), 1U);
    EXPECT_EQ(found.exports[0].chunks_sha256, b.digest_hex());
    EXPECT_TRUE(found.dictionary_intact);
}

TEST(SubjectIndexFile, ThreadsAddingTheSamePersonsShareTheirOrdinals) {
    temp_dir dir;
    auto file = std::make_shared<subject_index_file>(dir.file("i.subjects"));
    const auto persons = random_hashes(20'000, 42);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&file, &persons, t] {
            subject_collector c(file, new_record_id());
            for (std::size_t i = 0; i < persons.size(); ++i) {
                c.add(persons[(i * 7 + static_cast<std::size_t>(t) * 1000) % persons.size()]);
                if (i % 300 == 0) (void)c.write_pending();
            }
            EXPECT_FALSE(c.write_pending());
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(file->digests(), persons.size());
    subject_search found;
    const std::array<std::uint64_t, 1> wanted{persons[12'345]};
    ASSERT_FALSE(find_subject_exports(file->path(), wanted, found));
    EXPECT_EQ(found.exports.size(), 4U);
    EXPECT_TRUE(found.dictionary_intact);
    // A second process reads the same dictionary back.
    subject_index_file again(file->path());
    ASSERT_FALSE(again.open());
    EXPECT_EQ(again.digests(), persons.size());
}

TEST(SubjectIndexFile, ARestartKeepsEveryOrdinal) {
    temp_dir dir;
    const std::string path = dir.file("i.subjects");
    const auto persons = random_hashes(5000, 43);
    std::vector<std::uint32_t> before, after;
    {
        subject_index_file file(path);
        ASSERT_FALSE(file.assign(persons, before));
    }
    const auto size = std::filesystem::file_size(path);
    subject_index_file file(path);
    ASSERT_FALSE(file.open());
    EXPECT_EQ(file.torn_bytes(), 0U);
    ASSERT_FALSE(file.assign(persons, after));
    EXPECT_EQ(after, before);
    EXPECT_EQ(std::filesystem::file_size(path), size);  // nothing new to write
}

// assign()'s guess (the ordinal after the caller's previous digest) spares the table's probe when
// right and must never be trusted when wrong: every ordinal is the dictionary's, whatever the
// guess, the order, gaps, repeats or a dictionary that lost digests whose write failed.
TEST(SubjectIndexFile, AGuessedOrdinalIsCheckedNeverTrusted) {
    temp_dir dir;
    subject_index_file file(dir.file("i.subjects"), 1000);
    const auto persons = random_hashes(1200, 47);
    std::vector<std::uint32_t> truth;
    const std::span<const std::uint64_t> first(persons.data(), 900);
    ASSERT_FALSE(file.assign(first, truth));
    for (std::uint32_t i = 0; i < truth.size(); ++i) ASSERT_EQ(truth[i], i);

    std::mt19937_64 rng(48);
    std::vector<std::uint32_t> got;
    for (int round = 0; round < 200; ++round) {
        // An export in CRM order that leaves persons out, meets some twice, or is shuffled.
        std::vector<std::uint64_t> part;
        std::vector<std::uint32_t> want;
        std::size_t at = rng() % 900;
        for (std::size_t n = 1 + rng() % 64; n > 0 && at < 900; --n) {
            part.push_back(persons[at]);
            want.push_back(static_cast<std::uint32_t>(at));
            if (rng() % 8 == 0) {
                part.push_back(persons[at]);
                want.push_back(static_cast<std::uint32_t>(at));
            }
            at += 1 + (rng() % 4 == 0 ? rng() % 9 : 0);
        }
        if (round % 3 == 0) {
            for (std::size_t i = part.size(); i > 1; --i) {
                const std::size_t j = rng() % i;
                std::swap(part[i - 1], part[j]);
                std::swap(want[i - 1], want[j]);
            }
        }
        // Guesses right, near, far, past the dictionary's end and at the last ordinal.
        const std::array<std::uint32_t, 5> guesses{want.front(), want.front() + 1,
                                                   static_cast<std::uint32_t>(rng() % 900), 900,
                                                   0xffffffffU};
        for (std::uint32_t guess : guesses) {
            std::uint32_t next = guess;
            ASSERT_FALSE(file.assign(part, got, next));
            ASSERT_EQ(got, want) << "round " << round << " guess " << guess;
            EXPECT_EQ(next, want.back() + 1);
        }
    }
    EXPECT_EQ(file.digests(), 900U);

    // Past the bound: the new digests are forgotten, and a guess pointing where they were is no
    // longer answered by them.
    std::uint32_t next = 900;
    const std::span<const std::uint64_t> too_many(persons.data() + 900, 150);
    EXPECT_EQ(file.assign(too_many, got, next), boost::system::errc::no_buffer_space);
    EXPECT_EQ(file.digests(), 900U);
    const std::span<const std::uint64_t> others(persons.data() + 1000, 100);
    next = 900;
    ASSERT_FALSE(file.assign(others, got, next));
    for (std::uint32_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], 900 + i);
    next = 900;
    const std::span<const std::uint64_t> forgotten(persons.data() + 900, 1);
    EXPECT_EQ(file.assign(forgotten, got, next), boost::system::errc::no_buffer_space);
}

TEST(SubjectIndexFile, ATornTailIsSetAsideAndCutOffAtStart) {
    temp_dir dir;
    const std::string path = dir.file("i.subjects");
    const auto persons = random_hashes(300, 44);
    std::string first_id;
    std::uintmax_t whole = 0;
    {
        auto file = std::make_shared<subject_index_file>(path);
        subject_collector a(file, new_record_id());
        for (std::size_t i = 0; i < 200; ++i) a.add(persons[i]);
        ASSERT_FALSE(a.write_pending());
        whole = std::filesystem::file_size(path);
        subject_collector b(file, new_record_id());
        for (std::size_t i = 100; i < 300; ++i) b.add(persons[i]);
        ASSERT_FALSE(b.write_pending());
    }
    // The crash: the second export's dictionary chunk reached the disk only in part.
    std::filesystem::resize_file(path, whole + 40);
    std::size_t walked = 0;
    EXPECT_FALSE(for_each_subject_chunk(path, [&](const subject_chunk&) {
        ++walked;
        return true;
    }));
    EXPECT_EQ(walked, 2U);  // readers stop before it
    auto file = std::make_shared<subject_index_file>(path);
    ASSERT_FALSE(file->open());
    EXPECT_EQ(file->torn_bytes(), 40U);
    EXPECT_EQ(std::filesystem::file_size(path), whole);
    EXPECT_EQ(std::filesystem::file_size(path + ".torn-" + std::to_string(whole)), 40U);
    EXPECT_EQ(file->digests(), 200U);
    // Persons 200.. are new again and get the ordinals the torn chunk would have given them.
    subject_collector c(file, new_record_id());
    for (std::size_t i = 150; i < 300; ++i) c.add(persons[i]);
    ASSERT_FALSE(c.write_pending());
    EXPECT_EQ(file->digests(), 300U);
    subject_search found;
    const std::array<std::uint64_t, 1> wanted{persons[250]};
    ASSERT_FALSE(find_subject_exports(path, wanted, found));
    ASSERT_EQ(found.exports.size(), 1U);
    EXPECT_EQ(found.exports[0].chunks_sha256, c.digest_hex());
    EXPECT_TRUE(found.dictionary_intact);
}

TEST(SubjectIndexFile, DamageBeforeTheLastMebibyteIsNotCutOff) {
    temp_dir dir;
    const std::string path = dir.file("i.subjects");
    {
        auto file = std::make_shared<subject_index_file>(path);
        subject_collector c(file, new_record_id());
        for (std::uint64_t h : random_hashes(200'000, 45)) c.add(h);  // 1.6 MB of dictionary
        ASSERT_FALSE(c.write_pending());
    }
    const auto size = std::filesystem::file_size(path);
    {
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(40);  // a digest of the first dictionary chunk: its chain no longer holds
        f.put('\x5a');
    }
    subject_index_file file(path);
    EXPECT_EQ(file.open(), make_error_code(audit_error::corrupt_log));
    EXPECT_EQ(std::filesystem::file_size(path), size);
}

TEST(SubjectIndexFile, AnEditedDictionaryIsReportedEvenWhenNothingIsFound) {
    temp_dir dir;
    const std::string path = dir.file("i.subjects");
    const auto persons = random_hashes(10, 46);
    auto file = std::make_shared<subject_index_file>(path);
    subject_collector c(file, new_record_id());
    for (std::uint64_t h : persons) c.add(h);
    ASSERT_FALSE(c.write_pending());
    // Person 3's digest replaced: a lookup no longer finds them.
    {
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(chunk_header_size + 8 * 3));
        f.put('\x00');
    }
    subject_search found;
    const std::array<std::uint64_t, 1> hidden{persons[3]};
    ASSERT_FALSE(find_subject_exports(path, hidden, found));
    EXPECT_TRUE(found.exports.empty());
    EXPECT_FALSE(found.dictionary_intact);
    // Person 4 is still found, and their export's digest, which covers the dictionary's chain,
    // no longer matches what its audit record would say.
    const std::array<std::uint64_t, 1> other{persons[4]};
    ASSERT_FALSE(find_subject_exports(path, other, found));
    ASSERT_EQ(found.exports.size(), 1U);
    EXPECT_FALSE(found.dictionary_intact);
    EXPECT_NE(found.exports[0].chunks_sha256, c.digest_hex());
}

TEST(SubjectIndexFile, AListNamingOrdinalsNotYetInTheDictionaryIsReported) {
    temp_dir dir;
    const std::string path = dir.file("i.subjects");
    const auto persons = random_hashes(4, 50);
    auto file = std::make_shared<subject_index_file>(path);
    subject_collector c(file, new_record_id());
    for (std::uint64_t h : persons) c.add(h);
    ASSERT_FALSE(c.write_pending());
    // The list chunk's last ordinal raised past the dictionary (its decoding does not use it).
    std::string bytes;
    {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    const auto list = bytes.find(std::string_view("EWSI\x02\x01", 6));
    ASSERT_NE(list, std::string::npos);
    bytes[list + 36] = '\x09';
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    subject_search found;
    const std::array<std::uint64_t, 1> wanted{persons[0]};
    ASSERT_FALSE(find_subject_exports(path, wanted, found));
    ASSERT_EQ(found.exports.size(), 1U);
    EXPECT_FALSE(found.exports[0].dictionary_matches);
    EXPECT_FALSE(found.dictionary_intact);
}

TEST(SubjectIndexFile, ReadsFormatOneChunksBesideFormatTwo) {
    temp_dir dir;
    const std::string path = dir.file("i.subjects");
    const auto old_persons = random_hashes(500, 47);
    const std::string old_id = new_record_id();
    {
        std::ofstream f(path, std::ios::binary);
        f << encode_subject_chunk_v1(old_id, old_persons);
    }
    auto file = std::make_shared<subject_index_file>(path);
    ASSERT_FALSE(file->open());
    EXPECT_EQ(file->digests(), 0U);
    const std::string new_id = new_record_id();
    subject_collector c(file, new_id);
    c.add(old_persons[7]);  // delivered before and after the upgrade
    ASSERT_FALSE(c.write_pending());
    subject_search found;
    const std::array<std::uint64_t, 1> wanted{old_persons[7]};
    ASSERT_FALSE(find_subject_exports(path, wanted, found));
    ASSERT_EQ(found.exports.size(), 2U);
    EXPECT_EQ(found.exports[0].export_id, old_id);
    EXPECT_EQ(found.exports[1].export_id, new_id);
    EXPECT_EQ(found.exports[1].chunks_sha256, c.digest_hex());
    EXPECT_TRUE(found.dictionary_intact);
}

TEST(SubjectIndexFile, ALookupListsNoExportThatDidNotDeliverThePerson) {
    // Exact digests: unlike format 1's 2^-30 per chunk, no false export at all.
    temp_dir dir;
    auto file = std::make_shared<subject_index_file>(dir.file("i.subjects"));
    const auto persons = random_hashes(20'000, 48);
    for (int e = 0; e < 50; ++e) {
        subject_collector c(file, new_record_id());
        for (std::size_t i = static_cast<std::size_t>(e); i < persons.size(); i += 50)
            c.add(persons[i]);
        ASSERT_FALSE(c.write_pending());
    }
    subject_search found;
    const std::array<std::uint64_t, 2> wanted{persons[123], persons[124]};
    ASSERT_FALSE(find_subject_exports(file->path(), wanted, found));
    EXPECT_EQ(found.exports.size(), 2U);
    const auto strangers = random_hashes(2000, 49);
    ASSERT_FALSE(find_subject_exports(file->path(), strangers, found));
    EXPECT_TRUE(found.exports.empty());
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
