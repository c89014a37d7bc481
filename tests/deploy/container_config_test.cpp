// The configurations that ship with the container files: docker/exportwall.xml keeps exactly the
// policy of config/examples/belgian-retailer.xml (only the network part differs), and both it and
// the Kubernetes ConfigMap's exportwall.xml pass the real `exportwall check-config`.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>
#include <pugixml.hpp>

namespace {

const std::filesystem::path source_dir{EXPORTWALL_SOURCE_DIR};

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// The root's children that are policy (or route) elements, each printed without formatting.
std::vector<std::string> policy_elements(const std::filesystem::path& file) {
    pugi::xml_document doc;
    auto parsed = doc.load_file(file.c_str());
    EXPECT_TRUE(parsed) << file << ": " << parsed.description();
    std::vector<std::string> out;
    for (auto n : doc.document_element().children()) {
        std::string_view name = n.name();
        if (name == "entity" || name == "purpose" || name == "destination" || name == "client" ||
            name == "suppression-list" || name == "route" || name == "limits") {
            std::ostringstream s;
            n.print(s, "", pugi::format_raw);
            out.push_back(s.str());
        }
    }
    return out;
}

// Runs `exportwall check-config FILE` with a CRM token in the environment; its exit status and
// output.
std::pair<int, std::string> check_config(const std::filesystem::path& file,
                                         const std::filesystem::path& scratch) {
    auto out = scratch / "check-config.out";
    std::string cmd = "CRM_TOKEN=container-config-test '" + std::string(EXPORTWALL_BINARY) +
                      "' check-config '" + file.string() + "' >'" + out.string() + "' 2>&1";
    int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out)};
}

class ContainerConfig : public ::testing::Test {
  protected:
    void SetUp() override {
        scratch_ = std::filesystem::temp_directory_path() /
                   ("container_config_test." + std::to_string(::getpid()));
        std::filesystem::create_directories(scratch_);
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(scratch_, ec);
    }
    std::filesystem::path scratch_;
};

TEST_F(ContainerConfig, ComposePolicyIsTheExamplePolicy) {
    auto example = policy_elements(source_dir / "config/examples/belgian-retailer.xml");
    auto container = policy_elements(source_dir / "docker/exportwall.xml");
    ASSERT_FALSE(example.empty());
    ASSERT_EQ(container.size(), example.size())
        << "docker/exportwall.xml and config/examples/belgian-retailer.xml differ in their policy: "
           "copy the example's policy elements into docker/exportwall.xml";
    for (std::size_t i = 0; i < example.size(); ++i) {
        EXPECT_EQ(container[i], example[i]) << "policy element " << i << " differs";
    }
}

TEST_F(ContainerConfig, ComposeConfigurationChecksClean) {
    // Run beside the suppression list it names, as in the container.
    std::filesystem::copy_file(source_dir / "docker/exportwall.xml", scratch_ / "exportwall.xml");
    std::filesystem::copy_file(source_dir / "config/examples/do-not-contact.txt",
                               scratch_ / "do-not-contact.txt");
    // And the pseudonymisation key compose.yaml mounts beside it.
    std::filesystem::copy_file(source_dir / "config/examples/pseudonym-demo.key",
                               scratch_ / "pseudonym-demo.key");
    auto [status, output] = check_config(scratch_ / "exportwall.xml", scratch_);
    EXPECT_EQ(status, 0) << output;
    EXPECT_NE(output.find(": ok:"), std::string::npos) << output;
}

TEST_F(ContainerConfig, KubernetesConfigMapPolicyChecksClean) {
    YAML::Node map = YAML::LoadFile((source_dir / "docker/k8s/configmap.yaml").string());
    ASSERT_EQ(map["kind"].as<std::string>(), "ConfigMap");
    ASSERT_TRUE(map["data"]["exportwall.xml"]) << "the ConfigMap holds no exportwall.xml";
    ASSERT_TRUE(map["data"]["do-not-contact.txt"]) << "the ConfigMap holds no suppression list";
    std::ofstream(scratch_ / "exportwall.xml") << map["data"]["exportwall.xml"].as<std::string>();
    std::ofstream(scratch_ / "do-not-contact.txt")
        << map["data"]["do-not-contact.txt"].as<std::string>();
    auto [status, output] = check_config(scratch_ / "exportwall.xml", scratch_);
    EXPECT_EQ(status, 0) << output;
    EXPECT_NE(output.find(": ok:"), std::string::npos) << output;
}

}  // namespace
