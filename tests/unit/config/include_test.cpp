// <include file="…"/>: the DPO's policy in a file of its own, read with the main file, named in
// every error about it, covered by the revision, and validated alone.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "config/loader.hpp"
#include "tests/unit/config/policy_test_support.hpp"

namespace exportwall::config {
namespace {

namespace fs = std::filesystem;
using testing::base_policy;
using testing::document;
using testing::errors_of;

class Include : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("ew-include-" + std::to_string(std::random_device{}()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& text) {
        std::ofstream(dir_ / name, std::ios::binary) << text;
        return (dir_ / name).string();
    }
    // The base document with its policy moved to policy.xml, behind an <include>.
    // The policy text with its key placeholders hashed, as document() does.
    static std::string keyed(const std::string& policy_text) {
        const std::string doc = document(policy_text);
        const std::string end = "</exportwall>\n";
        return doc.substr(testing::network_part.size(),
                          doc.size() - testing::network_part.size() - end.size());
    }
    std::string split(const std::string& policy_text) {
        write("policy.xml", "<policy version=\"1\">\n" + keyed(policy_text) + "</policy>\n");
        std::string main = document("  <include file=\"policy.xml\"/>\n");
        return write("exportwall.xml", main);
    }
    // "file:line:col" of `needle` in the file `name`.
    std::string where(const std::string& name, const std::string& needle) {
        std::ifstream in(dir_ / name, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto at = testing::where(text, needle);
        return (dir_ / name).string() + at.substr(std::string("test.xml").size());
    }
    fs::path dir_;
};

TEST_F(Include, PolicyInItsOwnFileLoadsAsIfInline) {
    auto main = split(base_policy);
    auto r = load_configuration_file(main);
    ASSERT_TRUE(r) << errors_of(r);
    const auto& p = r.config->rules;
    EXPECT_EQ(p.purposes.size(), 5u);
    ASSERT_NE(p.find_purpose("promotion"), nullptr);
    EXPECT_EQ(p.find_purpose("promotion")->data_use, "marketing.communications.email");
    // The suppression list's file resolves against the included file's directory.
    ASSERT_EQ(p.suppression_lists.size(), 1u);
    EXPECT_EQ(fs::path(p.suppression_lists[0].file).parent_path(), dir_);
}

TEST_F(Include, RevisionCoversTheIncludedFile) {
    auto main = split(base_policy);
    auto first = load_configuration_file(main);
    ASSERT_TRUE(first) << errors_of(first);
    std::string edited = base_policy;
    edited.replace(edited.find("LIA-7"), 5, "LIA-8");
    split(edited);
    auto second = load_configuration_file(main);
    ASSERT_TRUE(second) << errors_of(second);
    EXPECT_NE(first.config->revision, second.config->revision);
}

TEST_F(Include, AnErrorInTheIncludedFileNamesThatFile) {
    std::string bad = base_policy;
    bad.replace(bad.find("basis=\"pre-contract\""), 20, "basis=\"contract\"");
    auto main = split(bad);
    auto r = load_configuration_file(main);
    ASSERT_FALSE(r);
    const std::string expected = where("policy.xml", "<purpose id=\"quote\"") + ": R";
    EXPECT_TRUE(std::any_of(r.errors.begin(), r.errors.end(), [&](const load_error& e) {
        return e.str().rfind(expected, 0) == 0;
    })) << errors_of(r);
}

TEST_F(Include, AnIncludedFileHoldsPolicyElementsOnly) {
    write("policy.xml", "<policy version=\"1\">\n"
                        "  <route id=\"x\" path=\"/x\" upstream=\"crm\" format=\"passthrough\"/>\n"
                        "  <include file=\"more.xml\"/>\n" +
                            keyed(base_policy) + "</policy>\n");
    auto main = write("exportwall.xml", document("  <include file=\"policy.xml\"/>\n"));
    auto r = load_configuration_file(main);
    ASSERT_FALSE(r);
    auto has = [&r](const std::string& prefix) {
        return std::any_of(r.errors.begin(), r.errors.end(), [&](const load_error& e) {
            return e.str().rfind(prefix, 0) == 0;
        });
    };
    EXPECT_TRUE(has(where("policy.xml", "<route") + ": unknown element <route> in <policy>"))
        << errors_of(r);
    EXPECT_TRUE(has(where("policy.xml", "<include") +
                    ": an included policy file includes nothing itself"))
        << errors_of(r);
}

TEST_F(Include, MissingOrWrongRootIsAnError) {
    auto main = write("exportwall.xml", document("  <include file=\"absent.xml\"/>\n" + base_policy));
    auto r = load_configuration_file(main);
    ASSERT_FALSE(r);
    EXPECT_NE(errors_of(r).find("cannot read the included policy"), std::string::npos)
        << errors_of(r);
    write("wrong.xml", "<exportwall version=\"1\"/>\n");
    main = write("exportwall.xml", document("  <include file=\"wrong.xml\"/>\n" + base_policy));
    r = load_configuration_file(main);
    ASSERT_FALSE(r);
    EXPECT_NE(errors_of(r).find("root element must be <policy"), std::string::npos)
        << errors_of(r);
}

TEST_F(Include, ThePolicyFileValidatesAlone) {
    split(base_policy);
    auto r = load_policy_file((dir_ / "policy.xml").string());
    ASSERT_TRUE(r) << errors_of(r);
    EXPECT_EQ(r.config->rules.clients.size(), 3u);
    EXPECT_TRUE(r.config->net.listeners.empty());
    std::string bad = base_policy;
    bad.replace(bad.find(" lia=\"LIA-7\""), 12, "");
    split(bad);
    auto refused = load_policy_file((dir_ / "policy.xml").string());
    ASSERT_FALSE(refused);
    EXPECT_NE(errors_of(refused).find("R6 (GDPR art. 6(1)(f)"), std::string::npos)
        << errors_of(refused);
}

}  // namespace
}  // namespace exportwall::config
