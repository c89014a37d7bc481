// The evidence report (issue 18, item 9) without a browser: every blocked transfer listed with
// its rule and article, access errors apart, the last hash and the last signed checkpoint to
// anchor, every name escaped, and a chart whose legend lies below its bars. The browser test
// (tests/browser/evidence_report.mjs) measures the same chart with the real fonts and prints it.

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "audit/checkpoint.hpp"
#include "audit/report.hpp"
#include "common/markup_text.hpp"
#include "tests/unit/audit/audit_test_support.hpp"
#include "tests/unit/cli/run_audit_command.hpp"

namespace exportwall::audit {
namespace {

const auto run = test::run_cli;

std::string pem_of(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

// A fresh Ed25519 key pair: {private PEM, public PEM}.
std::pair<std::string, std::string> make_key_pair() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (key == nullptr) std::abort();
    BIO* priv = BIO_new(BIO_s_mem());
    BIO* pub = BIO_new(BIO_s_mem());
    if (PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
        PEM_write_bio_PUBKEY(pub, key) != 1)
        std::abort();
    EVP_PKEY_free(key);
    return {pem_of(priv), pem_of(pub)};
}

record access_error(int i, const char* reason, int status) {
    record r = test::sample_record(i);
    r.decision = "blocked";
    r.reason = reason;
    r.rule_id.clear();
    r.legal_reference.clear();
    r.client.clear();
    r.purpose.clear();
    r.destination.clear();
    r.destination_kind.clear();
    r.status = status;
    return r;
}

class EvidenceReport : public ::testing::Test {
  protected:
    // Sample records (blocked ones name R10), two access errors, and with a signer a checkpoint
    // at close.
    void write(std::shared_ptr<const checkpoint_signer> signer = nullptr) {
        writer_options o;
        o.path = log_;
        o.sync = sync_policy::none;
        o.signer = std::move(signer);
        o.checkpoint_interval = std::chrono::hours(1);
        file_writer w(o);
        ASSERT_FALSE(w.start());
        for (int i = 0; i < 12; ++i) {
            record r = test::sample_record(i);
            blocked_ids_.push_back(r.decision == "blocked" ? r.id : "");
            ASSERT_FALSE(test::append_wait(w, std::move(r), false));
        }
        ASSERT_FALSE(test::append_wait(w, access_error(12, "unauthenticated", 401), false));
        ASSERT_FALSE(test::append_wait(w, access_error(13, "route_not_found", 404), false));
        w.close();
        blocked_ids_.erase(std::remove(blocked_ids_.begin(), blocked_ids_.end(), ""),
                           blocked_ids_.end());
    }
    std::string report(const checkpoint_keys& keys) {
        trail_stats s;
        EXPECT_FALSE(collect_stats(log_, record_filter{}, s));
        return render_html_report(s, anchor_trail(log_, keys), log_, "all records");
    }

    test::temp_dir dir_;
    std::string log_ = dir_.file("audit.jsonl");
    std::vector<std::string> blocked_ids_;
};

// The text of the element with this id ("" when absent).
std::string element_text(const std::string& html, const std::string& id) {
    const auto at = html.find("id=\"" + id + "\"");
    if (at == std::string::npos) return {};
    const auto begin = html.find('>', at) + 1;
    return html.substr(begin, html.find('<', begin) - begin);
}

TEST_F(EvidenceReport, ListsEveryBlockedTransferWithItsRuleAndArticle) {
    write();
    ASSERT_EQ(blocked_ids_.size(), 3u);
    const std::string html = report(checkpoint_keys{});
    const auto table = html.substr(
        html.find("id=\"refusals\""),
        html.find("</table>", html.find("id=\"refusals\"")) - html.find("id=\"refusals\""));
    for (const auto& id : blocked_ids_)
        EXPECT_NE(table.find("<td class=\"id\">" + id + "</td>"), std::string::npos) << id;
    EXPECT_EQ(std::count(table.begin(), table.end(), '\n') - 1, 3) << table;
    EXPECT_NE(table.find("<td>R10: " + common::html_escaped(test::r10_reference) + "</td>"),
              std::string::npos)
        << table;
    EXPECT_NE(table.find("<td>partner-leads (third-party)</td>"), std::string::npos);
    EXPECT_NE(table.find("<td>2026-11-29T10:00:00.000Z</td>"), std::string::npos);
    // Access errors are counted apart and are no blocked transfer.
    EXPECT_EQ(table.find("unauthenticated"), std::string::npos);
    EXPECT_EQ(element_text(html, "blocked-total"), "3");
    const auto access = html.substr(html.find("id=\"access-errors\""));
    EXPECT_NE(access.find("<td>unauthenticated</td><td>401</td><td>1</td>"), std::string::npos);
    EXPECT_NE(access.find("<td>route_not_found</td><td>404</td><td>1</td>"), std::string::npos);
    // Aborted exports are no blocked transfer either.
    EXPECT_EQ(table.find("upstream_timeout"), std::string::npos);
}

TEST_F(EvidenceReport, NamesTheLastHashAndTheLastSignedCheckpoint) {
    const auto [private_pem, public_pem] = make_key_pair();
    std::string error;
    auto signer = checkpoint_signer::from_pem(private_pem, error);
    ASSERT_TRUE(signer) << error;
    write(signer);
    const auto chain = verify_chain(log_);
    ASSERT_TRUE(chain.ok);
    ASSERT_EQ(chain.last_seq, 15u);  // 14 records and the checkpoint of the close

    // Without the public key: the checkpoint as the trail holds it, its signature not checked.
    std::string html = report(checkpoint_keys{});
    EXPECT_EQ(element_text(html, "last-hash"), chain.last_hash);
    EXPECT_NE(html.find("record seq 15 signs seq 14"), std::string::npos) << html;
    EXPECT_NE(html.find(", key " + signer->key_id()), std::string::npos);
    EXPECT_NE(html.find("signature not checked here"), std::string::npos);
    const std::string signed_hash = element_text(html, "signed-hash");
    EXPECT_EQ(signed_hash.size(), 64u);
    EXPECT_NE(signed_hash, chain.last_hash);  // it signs the record before it

    // With it: verified.
    checkpoint_keys keys;
    ASSERT_TRUE(keys.add_pem(public_pem, error)) << error;
    html = report(keys);
    EXPECT_NE(html.find("record seq 15 signs seq 14"), std::string::npos);
    EXPECT_EQ(element_text(html, "signed-hash"), signed_hash);
    EXPECT_NE(html.find("every checkpoint's signature verified"), std::string::npos);

    // Another key's public half: not verified, and the report says so.
    checkpoint_keys other;
    ASSERT_TRUE(other.add_pem(make_key_pair().second, error)) << error;
    html = report(other);
    EXPECT_NE(html.find("none verified"), std::string::npos);
    EXPECT_NE(html.find("not among the public keys given"), std::string::npos);
}

TEST_F(EvidenceReport, SaysWhenTheTrailHasNoCheckpoint) {
    write();
    const std::string html = report(checkpoint_keys{});
    EXPECT_NE(html.find("none in the trail"), std::string::npos);
    EXPECT_EQ(element_text(html, "last-hash"), verify_chain(log_).last_hash);
}

TEST_F(EvidenceReport, TheCommandTakesPublicKeysAndNamesItsFilters) {
    const auto [private_pem, public_pem] = make_key_pair();
    std::string error;
    write(checkpoint_signer::from_pem(private_pem, error));
    const std::string pub = dir_.file("signing.pub");
    test::write_file(pub, public_pem);
    const std::string file = dir_.file("report.html");
    auto r = run(
        {"report", "--log", log_, "--public-key", pub, "--client", "webshop", "--output", file});
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string html = test::read_file(file);
    EXPECT_NE(html.find("every checkpoint's signature verified"), std::string::npos);
    EXPECT_EQ(element_text(html, "scope"), "client webshop");
    r = run({"report", "--log", log_, "--public-key", dir_.file("missing.pub")});
    EXPECT_EQ(r.code, 2);
    r = run({"report", "--log", log_, "--decision", "blockd"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("'blockd' is not a decision"), std::string::npos) << r.err;
}

TEST(EvidenceReportHtml, EscapesEveryNameFromTheTrail) {
    trail_stats s;
    listed_refusal l;
    l.id = "<b>id</b>";
    l.time = "2026-11-29T10:00:00.000Z";
    l.client = "<script>alert(1)</script>";
    l.purpose = "a\"b";
    l.destination = "x'y";
    l.reason = "<img src=x>";
    l.rule_id = "R&1";
    s.refusals.push_back(l);
    s.refusals_total = 1;
    s.refusals_by_day_reason["2026-11-29"][l.reason] = 1;
    s.by_client[l.client] = {1, 1, 0, 0, 0};
    report_anchor a;
    const std::string html = render_html_report(s, a, "/var/<log>", "client <x>");
    for (const char* raw : {"<script>alert", "<b>id", "<img", "a\"b", "x'y", "R&1", "<log>", "<x>"})
        EXPECT_EQ(html.find(raw), std::string::npos) << raw;
    EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
    EXPECT_NE(html.find("&lt;img src=x&gt;"), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos);
}

// Every number attribute `name` of the elements of `svg` that match `element_re`.
std::vector<double> attribute_values(const std::string& svg, const std::string& element_re,
                                     const std::string& name) {
    std::vector<double> out;
    const std::regex element(element_re);
    const std::regex attribute(" " + name + "=\"([0-9.]+)\"");
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), element);
         it != std::sregex_iterator(); ++it) {
        const std::string tag = it->str();
        std::smatch m;
        if (std::regex_search(tag, m, attribute)) out.push_back(std::stod(m[1]));
    }
    return out;
}

TEST(EvidenceReportChart, TheLegendLiesBelowEveryBarWhateverTheNames) {
    trail_stats s;
    // 30 reasons, some very long, over 40 days.
    for (int day = 1; day <= 40; ++day) {
        for (int k = 0; k < 30; ++k) {
            if ((day + k) % 3 != 0) continue;
            const std::string reason = "reason_" + std::to_string(k) +
                                       (k % 4 == 0   ? std::string(90, 'w')
                                        : k % 4 == 1 ? "_destination_not_permitted"
                                                     : "");
            const std::string d =
                day <= 30
                    ? "2026-11-" + std::string(day < 10 ? "0" : "") + std::to_string(day)
                    : "2026-12-" + std::string(day - 30 < 10 ? "0" : "") + std::to_string(day - 30);
            s.refusals_by_day_reason[d][reason] += static_cast<std::uint64_t>(1 + k % 5);
        }
    }
    const std::string svg = refusals_chart_svg(s);
    const auto bar_y = attribute_values(svg, "<rect class=\"bar\"[^>]*>", "y");
    const auto bar_h = attribute_values(svg, "<rect class=\"bar\"[^>]*>", "height");
    ASSERT_EQ(bar_y.size(), bar_h.size());
    ASSERT_GT(bar_y.size(), 100u);
    double lowest_bar = 0;
    for (std::size_t i = 0; i < bar_y.size(); ++i)
        lowest_bar = std::max(lowest_bar, bar_y[i] + bar_h[i]);
    const auto legend_y =
        attribute_values(svg, "<g class=\"legend-item\"><title>[^<]*</title><rect[^>]*>", "y");
    ASSERT_EQ(legend_y.size(), 30u);
    // Below the bars and below the rotated date labels (about 45 units deep).
    EXPECT_GT(*std::min_element(legend_y.begin(), legend_y.end()), lowest_bar + 45);
    // Within the width, every entry: its text takes exactly its textLength.
    const std::string text_re =
        "<text x=\"[0-9.]+\" y=\"[0-9.]+\" font-size=\"11\" textLength=[^>]*>";
    const auto text_x = attribute_values(svg, text_re, "x");
    const auto text_w = attribute_values(svg, text_re, "textLength");
    ASSERT_EQ(text_x.size(), 30u);
    ASSERT_EQ(text_w.size(), 30u);
    for (std::size_t i = 0; i < text_x.size(); ++i) EXPECT_LE(text_x[i] + text_w[i], 720.0 - 12);
    // The long names are shortened in the picture, whole in the title.
    EXPECT_NE(svg.find("<title>reason_0" + std::string(90, 'w')), std::string::npos);
    EXPECT_NE(svg.find("\xE2\x80\xA6</text>"), std::string::npos);
    // The viewBox holds the legend's last row.
    const auto view = svg.find("viewBox=\"0 0 720 ");
    ASSERT_NE(view, std::string::npos);
    const double height = std::stod(svg.substr(view + 17));
    EXPECT_GE(height, *std::max_element(legend_y.begin(), legend_y.end()) + 10);
}

}  // namespace
}  // namespace exportwall::audit
