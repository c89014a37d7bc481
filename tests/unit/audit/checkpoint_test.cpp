// Signed checkpoints (issue 18, item 6): the writer signs the chain head into the chain every N
// records, every T and at close; `audit verify --public-key` checks each signature. The point of
// it: an edited record under a rebuilt SHA-256 chain passes the plain chain check and fails the
// signed one. Keys are made here, at run time (never a private key in the repository).

#include "audit/checkpoint.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <chrono>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "audit/file_writer.hpp"
#include "audit/reader.hpp"
#include "tests/unit/audit/audit_test_support.hpp"
#include "tests/unit/cli/run_audit_command.hpp"

namespace exportwall::audit {
namespace {

// A fresh Ed25519 key pair as PEM text: the private key (PKCS#8) and its public key.
struct key_pair {
    std::string private_pem;
    std::string public_pem;
};

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

key_pair make_key_pair() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (key == nullptr) std::abort();
    BIO* priv = BIO_new(BIO_s_mem());
    BIO* pub = BIO_new(BIO_s_mem());
    if (PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
        PEM_write_bio_PUBKEY(pub, key) != 1)
        std::abort();
    EVP_PKEY_free(key);
    return {bio_text(priv), bio_text(pub)};
}

std::shared_ptr<const checkpoint_signer> signer_of(const key_pair& k) {
    std::string error;
    auto s = checkpoint_signer::from_pem(k.private_pem, error);
    EXPECT_TRUE(s) << error;
    return s;
}

std::vector<std::string> lines_of(const std::string& path) {
    std::vector<std::string> out;
    std::istringstream in(test::read_file(path));
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

std::vector<record> records_of(const std::string& path) {
    std::vector<record> out;
    boost::json::parser parser;
    for (const auto& line : lines_of(path)) {
        record r;
        if (parse_line(line, parser, r)) ADD_FAILURE() << "unparsable line in the trail";
        out.push_back(r);
    }
    return out;
}

// Rewrites the trail at `path` as someone holding the files but not the key would: `edit`
// changes the records, then every seq, prev_hash and hash is recomputed with the chain's own
// algorithm (audit/serialize.hpp), so the plain chain check passes again.
void rebuild(const std::string& path, const std::function<void(std::vector<record>&)>& edit) {
    auto records = records_of(path);
    edit(records);
    chain_hasher hasher;
    std::string prev(genesis_hash);
    std::string out;
    std::uint64_t seq = 0;
    for (auto& r : records) {
        r.seq = ++seq;
        r.prev_hash = prev;
        std::string canonical;
        append_canonical(r, canonical);
        r.hash = hasher.hash(r.prev_hash, canonical);
        append_line(r, out);
        prev = r.hash;
    }
    test::write_file(path, out);
}

class AuditCheckpoint : public ::testing::Test {
  protected:
    writer_options options(std::uint64_t every) {
        writer_options o;
        o.path = log_;
        o.sync = sync_policy::none;
        o.signer = signer_of(key_);
        o.checkpoint_every = every;
        o.checkpoint_interval = std::chrono::hours(1);  // only the count and close() sign here
        return o;
    }
    // Polls (up to 10 s) until the trail is one record and a checkpoint signing it: the writer
    // thread woke by itself, no append followed.
    bool second_line_becomes_a_checkpoint() {
        for (int i = 0; i < 2000; ++i) {
            const auto lines = lines_of(log_);
            if (lines.size() == 2 &&
                lines[1].find("\"decision\":\"checkpoint\"") != std::string::npos)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return false;
    }
    // Writes `n` sample records, `every` to a checkpoint, and closes the writer.
    void write_signed_trail(int n, std::uint64_t every) {
        file_writer w(options(every));
        ASSERT_FALSE(w.start());
        for (int i = 0; i < n; ++i) ASSERT_FALSE(test::append_wait(w, test::sample_record(i)));
        w.close();
    }
    checkpoint_keys keys() {
        checkpoint_keys k;
        std::string error;
        EXPECT_TRUE(k.add_pem(key_.public_pem, error)) << error;
        return k;
    }
    std::string public_key_file() {
        const std::string f = dir_.file("audit-signing.pub");
        test::write_file(f, key_.public_pem);
        return f;
    }

    key_pair key_ = make_key_pair();
    test::temp_dir dir_;
    std::string log_ = dir_.file("audit.jsonl");
};

TEST(AuditCheckpointKeys, ASignatureVerifiesOnlyForItsOwnHeadAndKey) {
    const key_pair k = make_key_pair();
    const auto signer = signer_of(k);
    ASSERT_TRUE(signer);
    EXPECT_EQ(signer->key_id().size(), 16u);
    const std::string head(64, 'a');
    const std::string sig = signer->sign(7, head);
    EXPECT_EQ(sig.size(), 128u);
    checkpoint_keys keys;
    std::string error;
    ASSERT_TRUE(keys.add_pem(k.public_pem, error)) << error;
    EXPECT_TRUE(keys.knows(signer->key_id()));
    EXPECT_TRUE(keys.verify(signer->key_id(), 7, head, sig));
    EXPECT_FALSE(keys.verify(signer->key_id(), 8, head, sig)) << "another seq";
    EXPECT_FALSE(keys.verify(signer->key_id(), 7, std::string(64, 'b'), sig)) << "another head";
    std::string flipped = sig;
    flipped[0] = flipped[0] == '0' ? '1' : '0';
    EXPECT_FALSE(keys.verify(signer->key_id(), 7, head, flipped));
    const auto other = signer_of(make_key_pair());
    EXPECT_FALSE(keys.knows(other->key_id()));
    EXPECT_FALSE(keys.verify(other->key_id(), 7, head, other->sign(7, head)));
}

TEST(AuditCheckpointKeys, RefusesWhatIsNoEd25519Key) {
    std::string error;
    EXPECT_FALSE(checkpoint_signer::from_pem("not a key", error));
    EXPECT_FALSE(error.empty());
    EVP_PKEY* ec_key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    ASSERT_NE(ec_key, nullptr);
    BIO* priv = BIO_new(BIO_s_mem());
    ASSERT_EQ(PEM_write_bio_PrivateKey(priv, ec_key, nullptr, nullptr, 0, nullptr, nullptr), 1);
    EVP_PKEY_free(ec_key);
    error.clear();
    EXPECT_FALSE(checkpoint_signer::from_pem(bio_text(priv), error));
    EXPECT_NE(error.find("Ed25519"), std::string::npos) << error;
    checkpoint_keys keys;
    EXPECT_FALSE(keys.add_pem(make_key_pair().private_pem, error))
        << "a private key is no public key";
}

TEST_F(AuditCheckpoint, SignsEveryNRecordsAndAtClose) {
    write_signed_trail(7, 3);
    const auto records = records_of(log_);
    // 3 records, checkpoint, 3 records, checkpoint, 1 record, checkpoint at close.
    ASSERT_EQ(records.size(), 10u);
    for (std::size_t i : {3u, 7u, 9u}) {
        const record& cp = records[i];
        EXPECT_EQ(cp.decision, "checkpoint") << i;
        EXPECT_EQ(cp.checkpoint_seq + 1, cp.seq);
        EXPECT_EQ(cp.checkpoint_hash, cp.prev_hash);
        EXPECT_EQ(cp.checkpoint_hash, records[i - 1].hash) << "it signs the record before it";
        EXPECT_EQ(cp.checkpoint_key_id, signer_of(key_)->key_id());
        EXPECT_EQ(cp.checkpoint_signature.size(), 128u);
        EXPECT_TRUE(cp.client.empty() && cp.path.empty() && cp.records_out == 0)
            << "a checkpoint holds no export's members";
    }
    const auto res = verify_signed(log_, keys());
    EXPECT_TRUE(res.ok) << (res.errors.empty() ? "" : res.errors.front());
    EXPECT_EQ(res.checkpoints, 3u);
    EXPECT_EQ(res.last_signed_seq, 9u);
    EXPECT_EQ(res.last_signed_hash, records[8].hash);
    EXPECT_EQ(res.unsigned_records, 0u);
}

TEST_F(AuditCheckpoint, ARestartDoesNotSignAnAlreadySignedHeadAgain) {
    write_signed_trail(2, 100);
    const std::size_t before = lines_of(log_).size();
    ASSERT_EQ(before, 3u);
    {
        file_writer w(options(100));
        ASSERT_FALSE(w.start());
        w.close();
    }
    EXPECT_EQ(lines_of(log_).size(), before) << "nothing new to sign";
}

TEST_F(AuditCheckpoint, SignsWhenTheIntervalPassesWithRecordsUnsigned) {
    writer_options o = options(1000);
    o.checkpoint_interval = std::chrono::milliseconds(20);
    file_writer w(o);
    ASSERT_FALSE(w.start());
    ASSERT_FALSE(test::append_wait(w, test::sample_record(1)));
    // No append follows: the writer thread wakes by itself.
    ASSERT_TRUE(second_line_becomes_a_checkpoint()) << "no checkpoint after the interval";
    w.close();
    EXPECT_EQ(lines_of(log_).size(), 2u) << "an idle writer signs nothing more";
}

// The same for a record the appending thread wrote itself (not durable, the writer idle): the
// writer thread, which that append did not go through, still learns that a record waits to be
// signed.
TEST_F(AuditCheckpoint, SignsARecordWrittenInlineWhenTheIntervalPasses) {
    writer_options o = options(1000);
    o.checkpoint_interval = std::chrono::milliseconds(20);
    ASSERT_TRUE(o.inline_writes);
    ASSERT_NE(o.sync, sync_policy::always);
    file_writer w(o);
    ASSERT_FALSE(w.start());
    ASSERT_FALSE(test::append_wait(w, test::sample_record(1), false));
    ASSERT_TRUE(second_line_becomes_a_checkpoint()) << "no checkpoint after the interval";
}

TEST_F(AuditCheckpoint, RecordsAfterTheLastCheckpointAreReportedUnsignedNotFailed) {
    write_signed_trail(4, 2);  // r r cp r r cp
    {
        writer_options o;
        o.path = log_;
        o.sync = sync_policy::none;  // no signer: two records nobody signs
        file_writer w(o);
        ASSERT_FALSE(w.start());
        ASSERT_FALSE(test::append_wait(w, test::sample_record(5)));
        ASSERT_FALSE(test::append_wait(w, test::sample_record(6)));
    }
    const auto res = verify_signed(log_, keys());
    EXPECT_TRUE(res.ok) << (res.errors.empty() ? "" : res.errors.front());
    EXPECT_EQ(res.last_signed_seq, 5u);
    EXPECT_EQ(res.unsigned_records, 2u);
}

TEST_F(AuditCheckpoint, ATrailWithoutCheckpointsFailsOnlyWhenKeysAreGiven) {
    test::write_trail(log_, 5);
    EXPECT_TRUE(verify_signed(log_, checkpoint_keys{}).ok);
    const auto res = verify_signed(log_, keys());
    EXPECT_FALSE(res.ok);
    ASSERT_FALSE(res.errors.empty());
    EXPECT_NE(res.errors.front().find("no checkpoint"), std::string::npos) << res.errors.front();
    EXPECT_EQ(res.unsigned_records, 5u);
}

TEST_F(AuditCheckpoint, AnotherKeysPublicHalfDoesNotVerify) {
    write_signed_trail(3, 2);
    checkpoint_keys other;
    std::string error;
    ASSERT_TRUE(other.add_pem(make_key_pair().public_pem, error));
    const auto res = verify_signed(log_, other);
    EXPECT_FALSE(res.ok);
    ASSERT_FALSE(res.errors.empty());
    EXPECT_NE(res.errors.front().find("not among the public keys"), std::string::npos)
        << res.errors.front();
}

// The key point of signing: whoever can write the files can edit a record and recompute every
// hash after it, and the plain chain check passes. The checkpoints after the edit no longer
// sign the chain's head, whether they were left as they were or made to name the new head.
TEST_F(AuditCheckpoint, AnEditUnderARebuiltChainFailsSignedVerification) {
    write_signed_trail(6, 3);  // r r r cp r r r cp
    const std::string original = test::read_file(log_);
    const auto pub = public_key_file();
    auto edit_second_record = [](std::vector<record>& rs) { rs[1].client = "someone-else"; };

    rebuild(log_, edit_second_record);
    EXPECT_NE(test::read_file(log_), original);
    const auto plain = test::run_cli({"verify", "--log", log_});
    EXPECT_EQ(plain.code, 0) << "the rebuilt chain is whole: " << plain.err;
    const auto naive = test::run_cli({"verify", "--log", log_, "--public-key", pub});
    EXPECT_EQ(naive.code, 1) << naive.out;
    EXPECT_NE(naive.err.find("checkpoint at seq 4: does not sign the record before it"),
              std::string::npos)
        << naive.err;

    // The forger also points each checkpoint at the new head: its signature gives it away.
    test::write_file(log_, original);
    rebuild(log_, [&](std::vector<record>& rs) {
        edit_second_record(rs);
        chain_hasher hasher;
        std::string prev(genesis_hash);
        for (std::size_t i = 0; i < rs.size(); ++i) {
            if (rs[i].decision == "checkpoint") {
                rs[i].checkpoint_seq = i;  // the record before it, numbered from 1
                rs[i].checkpoint_hash = prev;
            }
            rs[i].seq = i + 1;
            rs[i].prev_hash = prev;
            std::string canonical;
            append_canonical(rs[i], canonical);
            prev = hasher.hash(prev, canonical);
        }
    });
    EXPECT_EQ(test::run_cli({"verify", "--log", log_}).code, 0);
    const auto forged = test::run_cli({"verify", "--log", log_, "--public-key", pub});
    EXPECT_EQ(forged.code, 1) << forged.out;
    EXPECT_NE(forged.err.find("checkpoint at seq 4: the signature does not verify"),
              std::string::npos)
        << forged.err;

    // The untouched trail verifies, and names its anchor.
    test::write_file(log_, original);
    const auto good = test::run_cli({"verify", "--log", log_, "--public-key", pub});
    EXPECT_EQ(good.code, 0) << good.err;
    EXPECT_NE(good.out.find("signed: 2 checkpoints verified; the last signs seq 7 hash "),
              std::string::npos)
        << good.out;
}

TEST_F(AuditCheckpoint, VerifyPrintsOneJsonObject) {
    write_signed_trail(3, 2);  // r r cp r cp
    {
        writer_options o;
        o.path = log_;
        o.sync = sync_policy::none;
        file_writer w(o);
        ASSERT_FALSE(w.start());
        ASSERT_FALSE(test::append_wait(w, test::sample_record(9)));
    }
    const auto records = records_of(log_);
    const auto r = test::run_cli(
        {"verify", "--log", log_, "--public-key", public_key_file(), "--format", "json"});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto v = boost::json::parse(r.out).as_object();
    EXPECT_EQ(v.at("ok").as_bool(), true);
    EXPECT_EQ(v.at("records").to_number<std::uint64_t>(), 6u);
    EXPECT_EQ(v.at("last_hash").as_string(), records.back().hash);
    EXPECT_EQ(v.at("last_signed_seq").to_number<std::uint64_t>(), 4u);
    EXPECT_EQ(v.at("last_signed_hash").as_string(), records[3].hash);
    EXPECT_EQ(v.at("unsigned_records").to_number<std::uint64_t>(), 1u);
    EXPECT_TRUE(v.at("errors").as_array().empty());

    // Without a key: the chain only, nothing said about signatures.
    const auto plain = test::run_cli({"verify", "--log", log_, "--format", "json"});
    ASSERT_EQ(plain.code, 0) << plain.err;
    const auto p = boost::json::parse(plain.out).as_object();
    EXPECT_TRUE(p.at("last_signed_seq").is_null());
    EXPECT_TRUE(p.at("unsigned_records").is_null());

    // A broken chain: ok false, exit 1, the reason in errors.
    auto lines = lines_of(log_);
    lines[1].replace(lines[1].find("\"erp\""), 5, "\"xrp\"");
    std::string edited;
    for (const auto& l : lines) edited += l + "\n";
    test::write_file(log_, edited);
    const auto broken = test::run_cli({"verify", "--log", log_, "--format", "json"});
    EXPECT_EQ(broken.code, 1);
    const auto b = boost::json::parse(broken.out).as_object();
    EXPECT_FALSE(b.at("ok").as_bool());
    ASSERT_EQ(b.at("errors").as_array().size(), 1u);
    EXPECT_NE(std::string(b.at("errors").as_array()[0].as_string()).find("hash mismatch"),
              std::string::npos);
}

TEST_F(AuditCheckpoint, AnUnreadablePublicKeyIsAUsageError) {
    write_signed_trail(1, 1);
    const auto missing =
        test::run_cli({"verify", "--log", log_, "--public-key", dir_.file("nothing.pub")});
    EXPECT_EQ(missing.code, 2);
    const std::string bad = dir_.file("bad.pub");
    test::write_file(bad, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    EXPECT_EQ(test::run_cli({"verify", "--log", log_, "--public-key", bad}).code, 2);
}

TEST_F(AuditCheckpoint, SeveralPublicKeysVerifyATrailSignedAcrossAKeyRotation) {
    write_signed_trail(2, 2);
    const key_pair first = key_;
    key_ = make_key_pair();
    write_signed_trail(2, 2);  // the same trail, continued under the new key
    const std::string first_pub = dir_.file("first.pub");
    test::write_file(first_pub, first.public_pem);
    const auto only_new =
        test::run_cli({"verify", "--log", log_, "--public-key", public_key_file()});
    EXPECT_EQ(only_new.code, 1) << only_new.out;
    const auto both = test::run_cli(
        {"verify", "--log", log_, "--public-key", first_pub, "--public-key", public_key_file()});
    EXPECT_EQ(both.code, 0) << both.err;
    EXPECT_NE(both.out.find("signed: 2 checkpoints verified"), std::string::npos) << both.out;
}

}  // namespace
}  // namespace exportwall::audit
