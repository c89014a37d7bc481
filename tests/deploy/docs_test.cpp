// The documentation cannot drift from the code: every reason code the decision engine and the
// filters know is documented in docs/reason-codes.md with its HTTP status, and every element and
// attribute of config/exportwall.xsd appears in docs/configuration.md.

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <pugixml.hpp>

#include "config/decide.hpp"
#include "filters/record_rules.hpp"

namespace {

const std::filesystem::path source_dir{EXPORTWALL_SOURCE_DIR};

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Every `name` attribute of XSD nodes called `kind` ("element", "attribute"), whatever the
// namespace prefix (xs:, xsd:, none).
std::set<std::string> xsd_names(pugi::xml_document& xsd, std::string_view kind) {
    std::set<std::string> names;
    struct walker : pugi::xml_tree_walker {
        std::string_view wanted;
        std::set<std::string>* out = nullptr;
        bool for_each(pugi::xml_node& node) override {
            std::string_view name = node.name();
            auto colon = name.find(':');
            std::string_view local =
                colon == std::string_view::npos ? name : name.substr(colon + 1);
            if (local == wanted) {
                if (auto a = node.attribute("name")) out->insert(a.value());
            }
            return true;
        }
    } w;
    w.wanted = kind;
    w.out = &names;
    xsd.traverse(w);
    return names;
}

class DocsReference : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* doc : {"docs/reason-codes.md", "docs/configuration.md"}) {
            ASSERT_TRUE(std::filesystem::exists(source_dir / doc)) << doc << " is missing";
        }
    }
    bool load_xsd(pugi::xml_document& xsd) {
        auto path = source_dir / "config/exportwall.xsd";
        if (!std::filesystem::exists(path)) return false;
        auto parsed = xsd.load_file(path.c_str());
        EXPECT_TRUE(parsed) << "config/exportwall.xsd: " << parsed.description();
        return bool(parsed);
    }
};

TEST_F(DocsReference, ReasonCodesDocumentEveryRefusalWithItsStatus) {
    const std::string doc = slurp(source_dir / "docs/reason-codes.md");
    using exportwall::config::reason;
    for (std::size_t i = 0; i < exportwall::config::reason_count; ++i) {
        auto r = static_cast<reason>(i);
        if (r == reason::none) continue;
        const std::string code(exportwall::config::to_string(r));
        const std::string heading = "\n### " + code + "\n";
        auto at = doc.find(heading);
        ASSERT_NE(at, std::string::npos)
            << "docs/reason-codes.md has no section '### " << code << "'";
        if (r == reason::upstream_error) continue;  // keeps the CRM's status
        std::smatch m;
        std::string section = doc.substr(at + heading.size(), 200);
        ASSERT_TRUE(std::regex_search(section, m, std::regex(R"(\*\*Status:\*\* (\d+))")))
            << code << " has no **Status:** line";
        EXPECT_EQ(m[1].str(), std::to_string(exportwall::config::http_status(r)))
            << code << ": the documented status differs from http_status()";
    }
}

TEST_F(DocsReference, ReasonCodesDocumentEveryDropReason) {
    const std::string doc = slurp(source_dir / "docs/reason-codes.md");
    for (std::size_t i = 0; i < exportwall::filters::drop_reason_count; ++i) {
        const std::string name(exportwall::filters::drop_reason_name(
            static_cast<exportwall::filters::drop_reason>(i)));
        EXPECT_NE(doc.find("| `" + name + "` |"), std::string::npos)
            << "docs/reason-codes.md does not document the drop reason " << name;
    }
}

TEST_F(DocsReference, ConfigurationReferenceNamesEveryXsdElement) {
    pugi::xml_document xsd;
    if (!load_xsd(xsd)) GTEST_SKIP() << "config/exportwall.xsd does not exist yet";
    const std::string doc = slurp(source_dir / "docs/configuration.md");
    auto elements = xsd_names(xsd, "element");
    EXPECT_FALSE(elements.empty()) << "no named xs:element in config/exportwall.xsd";
    for (const auto& e : elements) {
        EXPECT_NE(doc.find("`<" + e + ">`"), std::string::npos)
            << "docs/configuration.md does not describe <" << e << ">";
    }
}

TEST_F(DocsReference, ConfigurationReferenceNamesEveryXsdAttribute) {
    pugi::xml_document xsd;
    if (!load_xsd(xsd)) GTEST_SKIP() << "config/exportwall.xsd does not exist yet";
    const std::string doc = slurp(source_dir / "docs/configuration.md");
    for (const auto& a : xsd_names(xsd, "attribute")) {
        EXPECT_NE(doc.find("`" + a + "`"), std::string::npos)
            << "docs/configuration.md does not describe the attribute " << a;
    }
}

TEST_F(DocsReference, DocsLinkOnlyToFilesThatExist) {
    // Relative links between the docs (and to the README) must resolve; policy-guide.md is
    // written with the policy model and may land later.
    const std::regex link(R"(\]\(([A-Za-z0-9_./-]+\.md)(#[a-z0-9_-]+)?\))");
    for (const char* name : {"operator-guide.md", "security-model.md", "reason-codes.md",
                             "configuration.md", "deployment.md"}) {
        const std::string doc = slurp(source_dir / "docs" / name);
        ASSERT_FALSE(doc.empty()) << "docs/" << name << " is missing";
        for (std::sregex_iterator it(doc.begin(), doc.end(), link), end; it != end; ++it) {
            std::string target = (*it)[1].str();
            if (target == "policy-guide.md" || ends_with(target, "/README.md")) continue;
            EXPECT_TRUE(std::filesystem::exists(source_dir / "docs" / target))
                << "docs/" << name << " links to " << target << ", which does not exist";
        }
    }
}

}  // namespace
