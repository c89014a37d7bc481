// What a configuration's revision covers (issue 18, item 5): the main file, every included
// policy file and every suppression list, each named with its digest for the policy_loaded audit
// record; and the audit trail's signing key (issue 18, item 6), checked at load with its position.

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "tests/unit/config/policy_test_support.hpp"

namespace exportwall::config {
namespace {

namespace fs = std::filesystem;
using testing::base_policy;
using testing::document;
using testing::errors_of;
using testing::sha256_hex;

class Revision : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ =
            fs::temp_directory_path() / ("ew-revision-" + std::to_string(std::random_device{}()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& text) {
        std::ofstream(dir_ / name, std::ios::binary) << text;
        return (dir_ / name).string();
    }
    std::string read(const std::string& name) {
        std::ifstream in(dir_ / name, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    // The base document with its policy in policy.xml behind an <include>, dnc.txt beside it.
    std::string split(const std::string& list) {
        const std::string doc = document(base_policy);
        const std::string end = "</exportwall>\n";
        const std::string policy = doc.substr(
            testing::network_part.size(), doc.size() - testing::network_part.size() - end.size());
        write("policy.xml", "<policy version=\"1\">\n" + policy + "</policy>\n");
        write("dnc.txt", list);
        return write("exportwall.xml", document("  <include file=\"policy.xml\"/>\n"));
    }
    // The revision recomputed from the files, as docs/configuration.md states it.
    std::string expected_revision() {
        const std::string main = read("exportwall.xml");
        const std::string policy = read("policy.xml");
        const std::string list = read("dnc.txt");
        return sha256_hex(std::to_string(main.size()) + ":" + main + std::to_string(policy.size()) +
                          ":" + policy + "suppression-list:" + std::to_string(list.size()) + ":" +
                          list);
    }
    fs::path dir_;
};

TEST_F(Revision, CoversTheMainFileTheIncludedFilesAndTheSuppressionLists) {
    const auto main = split("someone@example.com\n");
    const auto first = load_configuration_file(main);
    ASSERT_TRUE(first) << errors_of(first);
    EXPECT_EQ(first.config->revision, expected_revision());

    write("dnc.txt", "someone@example.com\nanother@example.com\n");
    const auto second = load_configuration_file(main);
    ASSERT_TRUE(second) << errors_of(second);
    EXPECT_NE(second.config->revision, first.config->revision) << "a list edit is a new revision";
    EXPECT_EQ(second.config->revision, expected_revision());

    write("dnc.txt", "someone@example.com\n");
    const auto again = load_configuration_file(main);
    ASSERT_TRUE(again) << errors_of(again);
    EXPECT_EQ(again.config->revision, first.config->revision)
        << "the same bytes, the same revision";
}

TEST_F(Revision, NamesTheDigestOfEveryFileItCoversByPath) {
    const auto main = split("someone@example.com\n");
    const auto r = load_configuration_file(main);
    ASSERT_TRUE(r) << errors_of(r);
    const auto& c = *r.config;
    ASSERT_EQ(c.policy_files.size(), 2u);
    EXPECT_EQ(c.policy_files.at(main), sha256_hex(read("exportwall.xml")));
    EXPECT_EQ(c.policy_files.at((dir_ / "policy.xml").string()), sha256_hex(read("policy.xml")));
    ASSERT_EQ(c.suppression_list_files.size(), 1u);
    EXPECT_EQ(c.suppression_list_files.at((dir_ / "dnc.txt").string()),
              sha256_hex("someone@example.com\n"));
    for (const auto& [path, digest] : c.suppression_list_files)
        EXPECT_EQ(digest.find("someone"), std::string::npos) << "a digest, never the contents";
}

// The entries in force are read from the very bytes the revision covers: the loader reads each
// list once.
TEST_F(Revision, TheListInForceIsTheOneItsRevisionCovers) {
    const auto main = split("someone@example.com\n");
    const auto r = load_configuration_file(main);
    ASSERT_TRUE(r) << errors_of(r);
    const auto* list = r.config->rules.find_suppression_list("dnc");
    ASSERT_NE(list, nullptr);
    ASSERT_TRUE(list->entries && list->entries->loaded());
    EXPECT_EQ(list->entries->size(), 1u);
    EXPECT_GT(list->entries->modified(), 0);
}

// A list that cannot be read is no load error here (check-config still validates the document);
// it stays unloaded, has no digest, and the proxy refuses the configuration for it.
TEST_F(Revision, AnUnreadableListStaysUnloadedAndOutOfTheDigests) {
    const auto main = split("someone@example.com\n");
    const auto readable = load_configuration_file(main);
    ASSERT_TRUE(readable) << errors_of(readable);
    fs::remove(dir_ / "dnc.txt");
    const auto r = load_configuration_file(main);
    ASSERT_TRUE(r) << errors_of(r);
    EXPECT_TRUE(r.config->suppression_list_files.empty());
    EXPECT_FALSE(r.config->rules.find_suppression_list("dnc")->entries->loaded());
    EXPECT_NE(r.config->revision, readable.config->revision);
}

std::string ed25519_private_pem() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    BIO* bio = BIO_new(BIO_s_mem());
    if (key == nullptr || bio == nullptr ||
        PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        std::abort();
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    EVP_PKEY_free(key);
    return pem;
}

class SigningKey : public Revision {
  protected:
    // The base document with `audit` as its <audit> element.
    load_result load_with(const std::string& audit) {
        std::string doc = document(base_policy);
        const std::string from = "<audit path=\"audit.jsonl\"/>";
        doc.replace(doc.find(from), from.size(), audit);
        return load_configuration_text(doc, "test.xml", dir_.string());
    }
    std::string first_error(const load_result& r) {
        return r.errors.empty() ? std::string() : r.errors.front().str();
    }
};

TEST_F(SigningKey, ReadsTheKeyAndTheCheckpointCadence) {
    const std::string pem = ed25519_private_pem();
    write("audit-signing.pem", pem);
    const auto r = load_with(R"(<audit path="audit.jsonl" signing-key-file="audit-signing.pem" )"
                             R"(checkpoint-every="500" checkpoint-interval="30s"/>)");
    ASSERT_TRUE(r) << errors_of(r);
    const auto& a = r.config->net.audit;
    ASSERT_TRUE(a.signing_key_pem);
    EXPECT_EQ(*a.signing_key_pem, pem);
    EXPECT_EQ(a.signing_key_file, (dir_ / "audit-signing.pem").string());
    EXPECT_EQ(a.checkpoint_every, 500u);
    EXPECT_EQ(a.checkpoint_interval, std::chrono::seconds(30));

    const auto defaults =
        load_with(R"(<audit path="audit.jsonl" signing-key-file="audit-signing.pem"/>)");
    ASSERT_TRUE(defaults) << errors_of(defaults);
    EXPECT_EQ(defaults.config->net.audit.checkpoint_every, 1000u);
    EXPECT_EQ(defaults.config->net.audit.checkpoint_interval, std::chrono::seconds(60));
    EXPECT_FALSE(load_with(R"(<audit path="audit.jsonl"/>)").config->net.audit.signing_key_pem);
}

TEST_F(SigningKey, AMissingOrUnfitKeyIsAnErrorAtItsAttribute) {
    const std::string element = R"(<audit path="audit.jsonl" signing-key-file="missing.pem"/>)";
    const std::string at = testing::where(
        [&] {
            std::string doc = document(base_policy);
            doc.replace(doc.find("<audit path=\"audit.jsonl\"/>"), 27, element);
            return doc;
        }(),
        "signing-key-file=");
    const auto missing = load_with(element);
    ASSERT_FALSE(missing);
    EXPECT_EQ(first_error(missing).rfind(at + ": 'signing-key-file' cannot be read", 0), 0u)
        << first_error(missing) << " (expected at " << at << ")";

    write("missing.pem", std::string(32, 'k'));  // 32 random-looking bytes: no PEM key
    const auto not_pem = load_with(element);
    ASSERT_FALSE(not_pem);
    EXPECT_EQ(first_error(not_pem).rfind(at + ": 'signing-key-file' must hold an unencrypted "
                                              "Ed25519 private key",
                                         0),
              0u)
        << first_error(not_pem);

    EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    BIO* bio = BIO_new(BIO_s_mem());
    ASSERT_EQ(PEM_write_bio_PrivateKey(bio, ec, nullptr, nullptr, 0, nullptr, nullptr), 1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    write("missing.pem", std::string(data, static_cast<std::size_t>(n)));
    BIO_free(bio);
    EVP_PKEY_free(ec);
    EXPECT_FALSE(load_with(element)) << "an EC key is no Ed25519 key";
}

TEST_F(SigningKey, CheckpointSettingsWithoutAKeyAreAnError) {
    const auto r = load_with(R"(<audit path="audit.jsonl" checkpoint-every="10"/>)");
    ASSERT_FALSE(r);
    EXPECT_NE(first_error(r).find("'checkpoint-every' applies only with signing-key-file"),
              std::string::npos)
        << first_error(r);
    write("k.pem", ed25519_private_pem());
    EXPECT_FALSE(load_with(R"(<audit path="audit.jsonl" signing-key-file="k.pem" )"
                           R"(checkpoint-every="0"/>)"));
    EXPECT_FALSE(load_with(R"(<audit path="audit.jsonl" signing-key-file="k.pem" )"
                           R"(checkpoint-interval="soon"/>)"));
}

}  // namespace
}  // namespace exportwall::config
