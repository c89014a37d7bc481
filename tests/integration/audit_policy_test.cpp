// The audit trail of the real binary (issue 18, items 5 and 6): every configuration load is a
// policy_loaded record whose revision is the one `check-config` prints (start, POST
// /admin/reload, SIGHUP; a refused reload writes nothing), and a trail signed with
// <audit signing-key-file> verifies with its public key — and fails once a record is edited under
// a rebuilt SHA-256 chain, which the plain chain check cannot see. Keys are made at run time.

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <csignal>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "common/hex.hpp"
#include "tests/integration/fixture.hpp"

namespace exportwall::itest {
namespace {

struct cli_result {
    int status = -1;
    std::string output;  // stdout and stderr
};

using common::sha256_hex;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto nl = text.find('\n', pos);
        out.push_back(text.substr(pos, nl - pos));
        pos = nl == std::string::npos ? text.size() : nl + 1;
    }
    return out;
}

// An Ed25519 key pair written as PEM files: the private key and its public key.
void write_key_pair(const std::string& private_file, const std::string& public_file) {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    ASSERT_NE(key, nullptr);
    for (const bool is_private : {true, false}) {
        BIO* bio = BIO_new(BIO_s_mem());
        ASSERT_EQ(is_private
                      ? PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr)
                      : PEM_write_bio_PUBKEY(bio, key),
                  1);
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        ASSERT_TRUE(write_file(is_private ? private_file : public_file,
                               std::string_view(data, static_cast<std::size_t>(n))));
        BIO_free(bio);
    }
    EVP_PKEY_free(key);
}

class AuditPolicy : public proxy_fixture {
  protected:
    cli_result run(std::vector<std::string> args) {
        static int calls = 0;
        const std::string out = dir_.file("cli-" + std::to_string(++calls) + ".out");
        args.insert(args.begin(), exportwall_binary());
        child_process p;
        cli_result r;
        if (!p.start(args, out)) return r;
        r.status = p.wait_exit(60s).value_or(-1);
        r.output = read_file(out).value_or("");
        return r;
    }
    std::string log() const { return dir_.file("audit.jsonl"); }
    // The policy_loaded records of the trail, in order.
    std::vector<boost::json::object> policy_records() {
        std::vector<boost::json::object> out;
        for (const auto& line : lines_of(read_file(log()).value_or(""))) {
            if (line.find("\"decision\":\"policy_loaded\"") == std::string::npos) continue;
            boost::system::error_code ec;
            auto v = boost::json::parse(line, ec);
            if (!ec && v.is_object()) out.push_back(v.as_object());
        }
        return out;
    }
    // The revision `exportwall check-config` prints for the configuration file ("revision <hex>",
    // on its ok line or a line of its own).
    std::string check_config_revision() {
        const auto r = run({"check-config", proxy_.config_path()});
        EXPECT_EQ(r.status, 0) << r.output;
        std::smatch m;
        static const std::regex revision("revision ([0-9a-f]{64})");
        return std::regex_search(r.output, m, revision) ? m[1].str() : std::string();
    }
    response admin_post(std::string_view target) {
        return fetch(proxy_.admin_port(), "POST " + std::string(target) +
                                              " HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
                                              "0\r\n\r\n");
    }
};

TEST_F(AuditPolicy, EveryLoadIsARecordWithTheRevisionCheckConfigPrints) {
    ASSERT_TRUE(start_proxy());
    const std::string started_revision = check_config_revision();
    ASSERT_EQ(started_revision.size(), 64u);
    auto records = policy_records();
    ASSERT_EQ(records.size(), 1u) << "the start is on the trail before the proxy is up";
    EXPECT_EQ(records[0].at("policy_trigger").as_string(), "start");
    EXPECT_EQ(records[0].at("policy_revision").as_string(), started_revision);
    EXPECT_EQ(records[0].at("policy_files").as_object().at(proxy_.config_path()).as_string(),
              sha256_hex(read_file(proxy_.config_path()).value_or("")))
        << "the configuration file, by path, with its digest";
    EXPECT_TRUE(records[0].at("suppression_lists").as_object().empty());

    // POST /admin/reload: its answer, its record and check-config name the same revision.
    proxy_options o;
    o.upstream_url = "http://127.0.0.1:" + std::to_string(crm_.port());
    o.extra =
        R"(  <route id="v2" path="/v2" match="prefix" methods="GET" upstream="crm" format="passthrough" open="true"/>
)";
    ASSERT_TRUE(write_file(proxy_.config_path(), make_config(dir_, o)));
    const response reloaded = admin_post("/admin/reload");
    ASSERT_EQ(reloaded.status, 200u) << reloaded.body;
    const std::string answered(
        boost::json::parse(reloaded.body).as_object().at("revision").as_string());
    const std::string admin_revision = check_config_revision();
    EXPECT_EQ(answered, admin_revision);
    EXPECT_NE(admin_revision, started_revision);
    records = policy_records();
    ASSERT_EQ(records.size(), 2u) << "the record is stored before the reload answers";
    EXPECT_EQ(records[1].at("policy_trigger").as_string(), "admin");
    EXPECT_EQ(records[1].at("policy_revision").as_string(), admin_revision);

    // A refused reload writes nothing.
    ASSERT_TRUE(write_file(proxy_.config_path(), "<exportwall version=\"1\"><broken"));
    EXPECT_EQ(admin_post("/admin/reload").status, 500u);
    proxy_.process().signal(SIGHUP);
    ASSERT_TRUE(poll_until([&] {
        const response m = fetch(proxy_.admin_port(), get_request("/metrics"));
        return m.body.find("exportwall_config_reloads_total{result=\"failed\"} 2") !=
               std::string::npos;
    })) << "the refused reloads were never counted";
    EXPECT_EQ(policy_records().size(), 2u) << "a refused configuration governed nothing";

    // SIGHUP with a good configuration.
    o.extra +=
        R"(  <route id="v3" path="/v3" match="prefix" methods="GET" upstream="crm" format="passthrough" open="true"/>
)";
    ASSERT_TRUE(write_file(proxy_.config_path(), make_config(dir_, o)));
    const std::string sighup_revision = check_config_revision();
    proxy_.process().signal(SIGHUP);
    ASSERT_TRUE(poll_until([&] { return policy_records().size() == 3; }))
        << read_file(log()).value_or("");
    records = policy_records();
    EXPECT_EQ(records[2].at("policy_trigger").as_string(), "sighup");
    EXPECT_EQ(records[2].at("policy_revision").as_string(), sighup_revision);

    // The trail lists them, and they chain like any record.
    const auto list = run({"audit", "list", "--log", log(), "--decision", "policy_loaded"});
    EXPECT_EQ(list.status, 0) << list.output;
    EXPECT_NE(list.output.find("trigger sighup"), std::string::npos) << list.output;
    EXPECT_EQ(run({"audit", "verify", "--log", log()}).status, 0);
}

class AuditSigned : public AuditPolicy {
  protected:
    // Starts exportwall with `audit` attributes added to its <audit> element.
    ::testing::AssertionResult start_signed(const std::string& audit_attributes) {
        if (!crm_.start(dir_)) return ::testing::AssertionFailure() << crm_.log();
        proxy_options o;
        o.upstream_url = "http://127.0.0.1:" + std::to_string(crm_.port());
        std::string config = make_config(dir_, o);
        const std::string from = "<audit path=\"" + log() + "\"";
        const auto at = config.find(from);
        if (at == std::string::npos) return ::testing::AssertionFailure() << config;
        config.insert(at + from.size(), " " + audit_attributes);
        if (!proxy_.start(dir_, config)) return ::testing::AssertionFailure() << proxy_.log();
        return ::testing::AssertionSuccess();
    }
    std::string private_key_ = dir_.file("audit-signing.pem");
    std::string public_key_ = dir_.file("audit-signing.pub");
};

// Edits one export record and recomputes every prev_hash and hash after it, as someone holding
// the files but not the key would (docs/audit-trail.md's chain rule): the plain check passes.
std::string rebuilt_with_an_edit(const std::string& trail) {
    std::string out;
    std::string prev(64, '0');
    bool edited = false;
    for (std::string line : lines_of(trail)) {
        if (line.empty()) continue;
        if (!edited && line.find("\"decision\":\"allowed\"") != std::string::npos) {
            const auto at = line.find("\"status\":200");
            if (at != std::string::npos) {
                line.replace(at, 12, "\"status\":204");
                edited = true;
            }
        }
        const std::size_t n = line.size();
        line.replace(n - 140, 64, prev);  // "prev_hash":"<64>","hash":"<64>"}
        const std::string canonical = line.substr(0, n - 75) + "}";
        prev = sha256_hex(prev + canonical);
        line.replace(n - 66, 64, prev);
        out += line + "\n";
    }
    EXPECT_TRUE(edited) << "no allowed export to edit";
    return out;
}

TEST_F(AuditSigned, ASignedTrailVerifiesAndARebuiltOneDoesNot) {
    write_key_pair(private_key_, public_key_);
    ASSERT_TRUE(start_signed("signing-key-file=\"" + private_key_ + "\" checkpoint-every=\"2\""));
    for (int i = 0; i < 5; ++i) {
        const response r = fetch(proxy_.port(), get_request("/api/fixed"));
        ASSERT_EQ(r.status, 200u);
    }
    proxy_.process().stop();  // SIGTERM: the writer signs what is left before it exits
    const std::string trail = read_file(log()).value_or("");
    const auto lines = lines_of(trail);
    ASSERT_FALSE(lines.empty());
    const std::string& last = lines.back();
    EXPECT_NE(last.find("\"decision\":\"checkpoint\""), std::string::npos)
        << "no checkpoint at shutdown: " << last;

    const auto signed_ok = run({"audit", "verify", "--log", log(), "--public-key", public_key_});
    EXPECT_EQ(signed_ok.status, 0) << signed_ok.output;
    EXPECT_NE(signed_ok.output.find("checkpoints verified; the last signs seq "), std::string::npos)
        << signed_ok.output;
    const auto as_json =
        run({"audit", "verify", "--log", log(), "--public-key", public_key_, "--format", "json"});
    ASSERT_EQ(as_json.status, 0) << as_json.output;
    const auto v = boost::json::parse(as_json.output).as_object();
    EXPECT_TRUE(v.at("ok").as_bool());
    EXPECT_EQ(v.at("unsigned_records").to_number<int>(), 0);
    EXPECT_EQ(v.at("last_signed_hash").as_string().size(), 64u);

    ASSERT_TRUE(write_file(log(), rebuilt_with_an_edit(trail)));
    const auto plain = run({"audit", "verify", "--log", log()});
    EXPECT_EQ(plain.status, 0) << "the rebuilt chain is whole: " << plain.output;
    const auto forged = run({"audit", "verify", "--log", log(), "--public-key", public_key_});
    EXPECT_EQ(forged.status, 1) << forged.output;
    EXPECT_NE(forged.output.find("does not sign the record before it"), std::string::npos)
        << forged.output;
    const auto forged_json =
        run({"audit", "verify", "--log", log(), "--public-key", public_key_, "--format", "json"});
    EXPECT_EQ(forged_json.status, 1);
    const auto f = boost::json::parse(forged_json.output).as_object();
    EXPECT_FALSE(f.at("ok").as_bool());
    EXPECT_FALSE(f.at("errors").as_array().empty());
}

TEST_F(AuditSigned, AMissingKeyFileFailsCheckConfigAtItsAttribute) {
    proxy_options o;
    o.upstream_url = "http://127.0.0.1:1";
    std::string config = make_config(dir_, o);
    const std::string from = "<audit path=\"" + log() + "\"";
    config.insert(config.find(from) + from.size(),
                  " signing-key-file=\"" + dir_.file("nowhere.pem") + "\"");
    const std::string file = dir_.file("signed.xml");
    ASSERT_TRUE(write_file(file, config));
    // Where the attribute stands, computed from the text: line and column, 1-based.
    const auto at = config.find("signing-key-file=");
    const auto line_start = config.rfind('\n', at) + 1;
    const auto line = 1 + std::count(config.begin(), config.begin() + static_cast<long>(at), '\n');
    const std::string position =
        file + ":" + std::to_string(line) + ":" + std::to_string(at - line_start + 1) + ": ";
    const auto r = run({"check-config", file});
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find(position + "'signing-key-file' cannot be read"), std::string::npos)
        << r.output << "\n(expected at " << position << ")";
}

}  // namespace
}  // namespace exportwall::itest
