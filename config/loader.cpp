#include "config/loader.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <tuple>
#include <type_traits>

#include <boost/url/parse.hpp>

#include "common/hex.hpp"
#include "config/policy_loader.hpp"
#include "config/route_match.hpp"

namespace exportwall::config {
namespace {

// The revision of a configuration: the SHA-256 of its file, or, with included policy files or
// suppression lists, of the file's bytes followed by every included file's, each
// length-prefixed, then every suppression list's ("suppression-list:" + length-prefixed bytes,
// or "suppression-list:unreadable:"; read_suppression_lists).
std::string revision_of(std::string_view main_text, std::string_view included) {
    if (included.empty()) return common::sha256_hex(main_text);
    std::string material = std::to_string(main_text.size());
    material.push_back(':');
    material.append(main_text);
    material.append(included);
    return common::sha256_hex(material);
}

// Reads typed attribute values, reporting malformed ones at the attribute's position.
// check-config --offline (offline_loading): nothing only the target environment has is read.
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): per thread, by design.
thread_local int offline_depth = 0;

// A key offline validation stands in for one it does not read (never served: see
// offline_loading).
std::shared_ptr<const std::vector<unsigned char>> offline_key() {
    return std::make_shared<const std::vector<unsigned char>>(32, static_cast<unsigned char>(0));
}

class reader {
  public:
    reader(const xml_source& src, diagnostics& diag, std::string base_dir)
        : src_(src), diag_(diag), base_dir_(std::move(base_dir)) {}

    void error(const pugi::xml_node& n, const pugi::xml_attribute& a, const std::string& msg) {
        diag_.error(src_.locate(n, a), msg);
    }
    void error(const pugi::xml_node& n, const std::string& msg) {
        diag_.error(src_.locate(n), msg);
    }

    std::string text(const pugi::xml_node& n, const char* name, std::string fallback = {}) {
        auto a = n.attribute(name);
        return a ? std::string(a.value()) : std::move(fallback);
    }

    std::string path(const pugi::xml_node& n, const char* name) {
        auto a = n.attribute(name);
        if (!a) return {};
        std::filesystem::path p(a.value());
        if (p.empty()) {
            error(n, a, std::string("'") + name + "' must not be empty");
            return {};
        }
        return p.is_absolute() ? p.string() : (std::filesystem::path(base_dir_) / p).string();
    }

    template <typename T>
    void number(const pugi::xml_node& n, const char* name, T& out, T min, T max) {
        auto a = n.attribute(name);
        if (!a) return;
        std::string_view v = a.value();
        using wide = std::conditional_t<std::is_signed_v<T>, long long, unsigned long long>;
        wide value = 0;
        auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
        if (ec != std::errc{} || ptr != v.data() + v.size() || v.empty() ||
            value < static_cast<wide>(min) || value > static_cast<wide>(max)) {
            error(n, a,
                  std::string("'") + name + "' must be a whole number from " + std::to_string(min) +
                      " to " + std::to_string(max));
            return;
        }
        out = static_cast<T>(value);
    }

    void boolean(const pugi::xml_node& n, const char* name, bool& out) {
        auto a = n.attribute(name);
        if (!a) return;
        std::string_view v = a.value();
        if (v == "true") {
            out = true;
        } else if (v == "false") {
            out = false;
        } else {
            error(n, a, std::string("'") + name + "' must be true or false");
        }
    }

    // "250ms", "10s", "2m", "1h".
    // "250ms", "10s", "2m", "1h" (at most a day); "0s" only where `zero_allowed` (a phase that
    // may be skipped, such as the drain delay).
    void duration(const pugi::xml_node& n, const char* name, std::chrono::milliseconds& out,
                  bool zero_allowed = false) {
        auto a = n.attribute(name);
        if (!a) return;
        std::string_view v = a.value();
        unsigned long long value = 0;
        auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
        std::string_view unit(ptr, static_cast<std::size_t>(v.data() + v.size() - ptr));
        unsigned long long scale = 0;
        if (unit == "ms") scale = 1;
        if (unit == "s") scale = 1000;
        if (unit == "m") scale = 60'000;
        if (unit == "h") scale = 3'600'000;
        if (ec != std::errc{} || ptr == v.data() || scale == 0 || (value == 0 && !zero_allowed) ||
            value > 24ull * 3'600'000 / scale) {
            error(n, a,
                  std::string("'") + name + "' must be a " +
                      (zero_allowed ? "duration such as 0s, " : "positive duration such as ") +
                      "250ms, 10s, 2m or 1h");
            return;
        }
        out = std::chrono::milliseconds(static_cast<std::int64_t>(value * scale));
    }

    // "4096", "16KiB", "1MiB", "2GiB".
    template <typename T>
    void size(const pugi::xml_node& n, const char* name, T& out) {
        auto a = n.attribute(name);
        if (!a) return;
        std::string_view v = a.value();
        unsigned long long value = 0;
        auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
        std::string_view unit(ptr, static_cast<std::size_t>(v.data() + v.size() - ptr));
        unsigned shift = 64;
        if (unit.empty() || unit == "B") shift = 0;
        if (unit == "KiB") shift = 10;
        if (unit == "MiB") shift = 20;
        if (unit == "GiB") shift = 30;
        if (ec != std::errc{} || ptr == v.data() || shift == 64 || value == 0 ||
            value > (static_cast<unsigned long long>(std::numeric_limits<T>::max()) >> shift)) {
            error(n, a,
                  std::string("'") + name +
                      "' must be a positive size such as 4096, 16KiB, 1MiB or 2GiB");
            return;
        }
        out = static_cast<T>(value << shift);
    }

    // Substitutes ${VAR} from the environment; an unset variable is an error (a secret that
    // silently became empty would send unauthenticated requests to the CRM).
    std::string substitute(const pugi::xml_node& n, const pugi::xml_attribute& a) {
        std::string_view v = a.value();
        std::string out;
        for (std::size_t i = 0; i < v.size();) {
            if (v.compare(i, 2, "${") == 0) {
                auto close = v.find('}', i + 2);
                std::string var(v.substr(i + 2, close == std::string_view::npos
                                                    ? std::string_view::npos
                                                    : close - i - 2));
                bool valid_name = !var.empty() && close != std::string_view::npos &&
                                  std::all_of(var.begin(), var.end(), [](char c) {
                                      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                             (c >= '0' && c <= '9') || c == '_';
                                  });
                if (!valid_name) {
                    error(n, a, "malformed ${VAR} reference");
                    return {};
                }
                // NOLINTNEXTLINE(concurrency-mt-unsafe): exportwall never calls setenv.
                const char* env = std::getenv(var.c_str());
                if (env == nullptr && offline_depth > 0) {
                    out += "offline-" + var;  // set where exportwall runs, not here
                    i = close + 1;
                    continue;
                }
                if (env == nullptr) {
                    error(n, a, "environment variable " + var + " is not set");
                    return {};
                }
                out += env;
                i = close + 1;
            } else {
                out.push_back(v[i++]);
            }
        }
        return out;
    }

    // A file path attribute whose value may hold ${VAR} (an environment variable naming where a
    // Kubernetes secret is mounted): substituted, then resolved like path().
    std::string substituted_path(const pugi::xml_node& n, const char* name) {
        auto a = n.attribute(name);
        if (!a) return {};
        std::filesystem::path p(substitute(n, a));
        if (p.empty()) {
            error(n, a, std::string("'") + name + "' must not be empty");
            return {};
        }
        return p.is_absolute() ? p.string() : (std::filesystem::path(base_dir_) / p).string();
    }

    [[nodiscard]] const xml_source& src() const { return src_; }
    diagnostics& diag() { return diag_; }

  private:
    const xml_source& src_;
    diagnostics& diag_;
    std::string base_dir_;
};

bool is_token(std::string_view s) {
    static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               extra.find(c) != std::string_view::npos;
    });
}

bool is_field_value(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u == '\t' || (u >= 0x20 && u != 0x7f);
    });
}

// A route path must already be in the form the proxy's normaliser produces, or it could never
// match (or match something unintended).
bool is_normal_path(std::string_view p) {
    if (p.empty() || p.front() != '/') return false;
    if (p.find("//") != std::string_view::npos) return false;
    if (p.find_first_of(";\\?#% \t") != std::string_view::npos) return false;
    for (std::size_t i = 0; i < p.size();) {
        auto next = p.find('/', i + 1);
        auto seg =
            p.substr(i + 1, next == std::string_view::npos ? std::string_view::npos : next - i - 1);
        if (seg == "." || seg == "..") return false;
        if (next == std::string_view::npos) break;
        i = next;
    }
    return std::all_of(p.begin(), p.end(),
                       [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; });
}

std::vector<std::string> split_words(std::string_view s) {
    std::vector<std::string> out;
    std::istringstream in{std::string(s)};
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

// trusted-proxies, proxy-protocol and forwarded-for of a <listen>: who may name the client.
void read_client_address(reader& r, const pugi::xml_node& n, listener& l) {
    if (auto a = n.attribute("trusted-proxies")) {
        for (const auto& word : split_words(a.value())) {
            address_range range;
            std::string why;
            if (parse_address_range(word, range, why)) {
                l.trusted_proxies.push_back(range);
            } else {
                r.error(n, a, "'trusted-proxies': " + why);
            }
        }
        if (l.trusted_proxies.empty()) r.error(n, a, "'trusted-proxies' names no address");
    }
    if (auto a = n.attribute("proxy-protocol")) {
        std::string_view v = a.value();
        if (v == "v2") {
            l.proxy_protocol = true;
        } else if (v != "off") {
            r.error(n, a, "'proxy-protocol' must be v2 or off");
        }
    }
    if (auto a = n.attribute("forwarded-for")) {
        std::string_view v = a.value();
        if (v == "x-forwarded-for") {
            l.forwarded_for = true;
        } else if (v != "off") {
            r.error(n, a, "'forwarded-for' must be x-forwarded-for or off");
        }
    }
    // Fail closed: a listener that believes whoever connects would let any client choose the
    // address the audit records.
    if ((l.proxy_protocol || l.forwarded_for) && !n.attribute("trusted-proxies")) {
        r.error(n,
                "'proxy-protocol' and 'forwarded-for' need 'trusted-proxies': the load "
                "balancers allowed to name the client");
    }
}

void read_listen(reader& r, const pugi::xml_node& n, settings& out) {
    const auto& src = r.src();
    src.check_attributes(
        n, {"address", "port", "public-url", "trusted-proxies", "proxy-protocol", "forwarded-for"},
        {"port"}, r.diag());
    src.check_children(n, {"tls"}, r.diag());
    listener l;
    l.where = src.locate(n);
    l.address = r.text(n, "address", l.address);
    r.number<std::uint16_t>(n, "port", l.port, 0, 65535);
    read_client_address(r, n, l);
    if (auto a = n.attribute("public-url")) {
        auto u = boost::urls::parse_absolute_uri(a.value());
        if (!u || (u->scheme() != "https" && u->scheme() != "http") || !u->has_authority() ||
            u->host().empty() || u->has_query() || u->has_fragment()) {
            r.error(n, a, "'public-url' must be an absolute http(s) URL without query");
        } else {
            l.public_url = a.value();
            while (!l.public_url.empty() && l.public_url.back() == '/') l.public_url.pop_back();
        }
    }
    if (auto t = n.child("tls")) {
        if (std::next(n.children("tls").begin()) != n.children("tls").end()) {
            r.error(t, "<listen> takes at most one <tls>");
        }
        src.check_attributes(t, {"client-ca", "client-certificate"}, {"certificate", "private-key"},
                             r.diag());
        src.check_children(t, {}, r.diag());
        tls_settings tls;
        tls.certificate_file = r.path(t, "certificate");
        tls.private_key_file = r.path(t, "private-key");
        tls.client_ca_file = r.path(t, "client-ca");
        if (auto a = t.attribute("client-certificate")) {
            std::string_view v = a.value();
            if (v == "none") {
                tls.client_certificate = client_certificate_mode::none;
            } else if (v == "optional") {
                tls.client_certificate = client_certificate_mode::optional;
            } else if (v == "required") {
                tls.client_certificate = client_certificate_mode::required;
            } else {
                r.error(t, a, "'client-certificate' must be none, optional or required");
            }
        }
        if (tls.client_certificate != client_certificate_mode::none && tls.client_ca_file.empty()) {
            r.error(t, "client certificates need 'client-ca' to verify them against");
        }
        l.tls = std::move(tls);
    }
    out.listeners.push_back(std::move(l));
}

bool is_loopback(std::string_view address) {
    return address == "127.0.0.1" || address == "::1" || address == "localhost" ||
           address.substr(0, 4) == "127.";
}

void read_admin(reader& r, const pugi::xml_node& n, settings& out) {
    r.src().check_attributes(
        n, {"address", "port", "token-sha256", "metrics-address", "metrics-port"}, {}, r.diag());
    r.src().check_children(n, {}, r.diag());
    out.admin.address = r.text(n, "address", out.admin.address);
    r.number<std::uint16_t>(n, "port", out.admin.port, 0, 65535);
    out.admin.metrics_address = r.text(n, "metrics-address");
    r.number<std::uint16_t>(n, "metrics-port", out.admin.metrics_port, 0, 65535);
    if (n.attribute("metrics-port") && out.admin.metrics_address.empty())
        r.error(n, n.attribute("metrics-port"),
                "'metrics-port' applies only with 'metrics-address'");
    if (auto a = n.attribute("token-sha256")) {
        std::string_view v = a.value();
        bool hex = v.size() == 64 && std::all_of(v.begin(), v.end(), [](char c) {
                       return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                   });
        if (!hex) r.error(n, a, "'token-sha256' must be 64 lowercase hex digits");
        out.admin.token_sha256 = a.value();
    }
    if (!is_loopback(out.admin.address) && out.admin.token_sha256.empty()) {
        r.error(n, "an admin listener off loopback needs 'token-sha256'");
    }
}

void read_limits(reader& r, const pugi::xml_node& n, settings& out) {
    r.src().check_attributes(
        n,
        {"tls-handshake", "request-head", "keep-alive-idle", "request-body-idle",
         "request-deadline", "min-request-body-rate", "upstream-connect", "upstream-response-head",
         "upstream-idle", "client-write-idle", "drain-delay", "shutdown-grace", "max-head-bytes",
         "max-request-body-bytes", "max-upstream-head-bytes", "max-record-bytes", "max-connections",
         "upstream-pool-size"},
        {}, r.diag());
    r.src().check_children(n, {}, r.diag());
    auto& l = out.limit;
    r.duration(n, "tls-handshake", l.tls_handshake);
    r.duration(n, "request-head", l.request_head);
    r.duration(n, "keep-alive-idle", l.keep_alive_idle);
    r.duration(n, "request-body-idle", l.request_body_idle);
    r.duration(n, "request-deadline", l.request_deadline);
    r.number<std::uint64_t>(n, "min-request-body-rate", l.min_request_body_rate, 0,
                            std::uint64_t{1} << 40);
    r.duration(n, "upstream-connect", l.upstream_connect);
    r.duration(n, "upstream-response-head", l.upstream_response_head);
    r.duration(n, "upstream-idle", l.upstream_idle);
    r.duration(n, "client-write-idle", l.client_write_idle);
    r.duration(n, "drain-delay", l.drain_delay, /*zero_allowed=*/true);
    r.duration(n, "shutdown-grace", l.shutdown_grace);
    r.size(n, "max-head-bytes", l.max_head_bytes);
    r.size(n, "max-request-body-bytes", l.max_request_body_bytes);
    r.size(n, "max-upstream-head-bytes", l.max_upstream_head_bytes);
    r.size(n, "max-record-bytes", l.max_record_bytes);
    r.number<std::size_t>(n, "max-connections", l.max_connections, 1, 1'000'000);
    r.number<std::size_t>(n, "upstream-pool-size", l.upstream_pool_size, 0, 10'000);
}

void read_log(reader& r, const pugi::xml_node& n, settings& out) {
    r.src().check_attributes(n, {"level", "access-log", "format"}, {}, r.diag());
    r.src().check_children(n, {}, r.diag());
    out.log.level = r.text(n, "level", out.log.level);
    static constexpr std::array<std::string_view, 7> levels{"trace", "debug",    "info", "warn",
                                                            "error", "critical", "off"};
    if (std::find(levels.begin(), levels.end(), out.log.level) == levels.end()) {
        r.error(n, n.attribute("level"),
                "'level' must be one of trace, debug, info, warn, error, critical, off");
    }
    if (auto a = n.attribute("format")) {
        std::string_view v = a.value();
        if (v == "json") {
            out.log.json = true;
        } else if (v != "text") {
            r.error(n, a, "'format' must be text or json");
        }
    }
    if (auto a = n.attribute("access-log")) {
        out.log.access_log = std::string_view(a.value()) == "-" ? "-" : r.path(n, "access-log");
    }
}

// With a subject index every purpose's rules read the subject keys of the records they keep
// (the entity's id and e-mail fields), so those fields are selected from the CRM like the rules'
// own fields, and stripped again when the purpose does not keep them.
void add_subject_fields(const entity& e, purpose_view& view) {
    std::vector<std::string> keys;
    for (const auto* f : {e.subject_id_field(), e.subject_email_field()})
        if (f != nullptr) keys.push_back(f->path);
    if (keys.empty()) return;
    view.rules.subject_fields = keys;
    for (auto& [destination, rules] : view.disclosure_rules) rules.subject_fields = keys;
    for (auto& k : keys)
        if (std::find(view.rule_fields.begin(), view.rule_fields.end(), k) ==
            view.rule_fields.end())
            view.rule_fields.push_back(std::move(k));
    std::sort(view.rule_fields.begin(), view.rule_fields.end());
}

void read_subject_keys(policy& rules) {
    for (auto& p : rules.purposes)
        for (auto& view : p.views)
            if (view.entity_index < rules.entities.size())
                add_subject_fields(rules.entities[view.entity_index], view);
}

// subject-key-file="…": the HMAC key of the subject index (who received whose data, art. 15).
// Without it no index is kept. A key that cannot be read is an error here, never an export that
// goes unindexed.
void read_subject_key(reader& r, const pugi::xml_node& n, audit_settings& a) {
    if (!n.attribute("subject-key-file")) return;
    a.subject_key_file = r.path(n, "subject-key-file");
    if (offline_depth > 0) {
        a.subject_key = offline_key();
        return;
    }
    std::ifstream in(a.subject_key_file, std::ios::binary);
    std::vector<unsigned char> key{std::istreambuf_iterator<char>(in),
                                   std::istreambuf_iterator<char>()};
    if (!in.good() && !in.eof()) key.clear();
    if (key.size() < 32) {
        r.error(n, n.attribute("subject-key-file"),
                "'subject-key-file' must name a readable file of at least 32 random bytes "
                "(e.g. head -c 32 /dev/urandom > subject.key)");
        return;
    }
    a.subject_key = std::make_shared<const std::vector<unsigned char>>(std::move(key));
}

// Whether `pem` holds an unencrypted Ed25519 private key (never prompts for a passphrase).
bool is_ed25519_private_key(std::string_view pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (bio == nullptr) return false;
    auto no_passphrase = [](char*, int, int, void*) { return 0; };
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, no_passphrase, nullptr);
    BIO_free(bio);
    const bool ok = key != nullptr && EVP_PKEY_get_id(key) == EVP_PKEY_ED25519;
    EVP_PKEY_free(key);
    return ok;
}

// signing-key-file="…": the Ed25519 key that signs checkpoints of the audit chain
// (docs/audit-trail.md, "Signed checkpoints"), with checkpoint-every and checkpoint-interval.
// A key that cannot be used is an error at its attribute, never a proxy that runs unsigned.
void read_signing_key(reader& r, const pugi::xml_node& n, audit_settings& a) {
    const auto attr = n.attribute("signing-key-file");
    if (!attr) {
        for (const char* name : {"checkpoint-every", "checkpoint-interval"})
            if (auto x = n.attribute(name))
                r.error(n, x, std::string("'") + name + "' applies only with signing-key-file");
        return;
    }
    r.number<std::uint64_t>(n, "checkpoint-every", a.checkpoint_every, 1, 1'000'000'000);
    r.duration(n, "checkpoint-interval", a.checkpoint_interval);
    a.signing_key_file = r.path(n, "signing-key-file");
    if (a.signing_key_file.empty()) return;  // reported by path()
    if (offline_depth > 0) return;
    std::ifstream in(a.signing_key_file, std::ios::binary);
    std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.is_open() || (!in.good() && !in.eof())) {
        r.error(n, attr, "'signing-key-file' cannot be read: " + a.signing_key_file);
        return;
    }
    if (!is_ed25519_private_key(pem)) {
        r.error(n, attr,
                "'signing-key-file' must hold an unencrypted Ed25519 private key in PEM (openssl "
                "genpkey -algorithm ed25519 -out audit-signing.pem)");
        return;
    }
    a.signing_key_pem = std::make_shared<const std::string>(std::move(pem));
}

// The PEM files of a TLS syslog forwarder (RFC 5425), checked at load so a mistake is an error at
// its attribute rather than a forwarder that never connects: the CA bundle holds certificates,
// the client certificate and its unencrypted key belong together.
void read_syslog_tls(reader& r, const pugi::xml_node& s, syslog_settings& out) {
    out.ca_file = r.path(s, "ca-file");
    out.certificate_file = r.path(s, "certificate-file");
    out.private_key_file = r.path(s, "private-key-file");
    if (auto a = s.attribute("server-name")) {
        out.server_name = a.value();
        const bool ok = !out.server_name.empty() && out.server_name.size() <= 253 &&
                        std::all_of(out.server_name.begin(), out.server_name.end(),
                                    [](char c) { return c > ' ' && c < 0x7f; });
        if (!ok) r.error(s, a, "'server-name' must be a host name or IP address");
    }
    if (!out.tls) {
        for (const char* name : {"ca-file", "certificate-file", "private-key-file", "server-name"})
            if (auto a = s.attribute(name))
                r.error(s, a, std::string("'") + name + "' applies only with protocol=\"tls\"");
        return;
    }
    if (out.certificate_file.empty() != out.private_key_file.empty()) {
        r.error(s, "'certificate-file' and 'private-key-file' go together (mutual TLS)");
        return;
    }
    if (offline_depth > 0) return;
    auto read_pem = [](const std::string& path) -> BIO* {
        std::ifstream in(path, std::ios::binary);
        std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in.is_open() || pem.empty()) return nullptr;
        BIO* bio = BIO_new(BIO_s_mem());
        if (bio != nullptr) BIO_write(bio, pem.data(), static_cast<int>(pem.size()));
        return bio;
    };
    auto no_passphrase = [](char*, int, int, void*) { return 0; };
    if (!out.ca_file.empty()) {
        BIO* bio = read_pem(out.ca_file);
        X509* first = bio != nullptr ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
        if (first == nullptr)
            r.error(s, s.attribute("ca-file"),
                    "'ca-file' must name a readable PEM file of CA certificates: " + out.ca_file);
        X509_free(first);
        BIO_free(bio);
    }
    if (out.certificate_file.empty()) return;
    BIO* cert_bio = read_pem(out.certificate_file);
    X509* cert =
        cert_bio != nullptr ? PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(cert_bio);
    BIO* key_bio = read_pem(out.private_key_file);
    EVP_PKEY* key = key_bio != nullptr
                        ? PEM_read_bio_PrivateKey(key_bio, nullptr, no_passphrase, nullptr)
                        : nullptr;
    BIO_free(key_bio);
    if (cert == nullptr) {
        r.error(s, s.attribute("certificate-file"),
                "'certificate-file' must name a readable PEM certificate: " + out.certificate_file);
    } else if (key == nullptr) {
        r.error(s, s.attribute("private-key-file"),
                "'private-key-file' must name a readable, unencrypted PEM private key: " +
                    out.private_key_file);
    } else if (X509_check_private_key(cert, key) != 1) {
        r.error(s, s.attribute("private-key-file"),
                "'private-key-file' is not the key of 'certificate-file'");
    }
    X509_free(cert);
    EVP_PKEY_free(key);
}

void read_syslog(reader& r, const pugi::xml_node& s, syslog_settings& out) {
    r.src().check_attributes(s,
                             {"port", "protocol", "app-name", "facility", "ca-file",
                              "certificate-file", "private-key-file", "server-name"},
                             {"address"}, r.diag());
    r.src().check_children(s, {}, r.diag());
    out.address = r.text(s, "address");
    if (auto p = s.attribute("protocol")) {
        std::string_view v = p.value();
        if (v == "tcp") {
            out.tcp = true;
        } else if (v == "tls") {
            out.tcp = out.tls = true;
            out.port = 6514;  // RFC 5425
        } else if (v != "udp") {
            r.error(s, p, "'protocol' must be udp, tcp or tls");
        }
    }
    r.number<std::uint16_t>(s, "port", out.port, 1, 65535);
    read_syslog_tls(r, s, out);
    out.app_name = r.text(s, "app-name", out.app_name);
    r.number<int>(s, "facility", out.facility, 0, 23);
}

void read_audit(reader& r, const pugi::xml_node& n, settings& out) {
    r.src().check_attributes(
        n,
        {"sync", "rotate-bytes", "rotate-daily", "subject-key-file", "signing-key-file",
         "checkpoint-every", "checkpoint-interval", "replica", "keep-bytes", "keep-days"},
        {"path"}, r.diag());
    r.src().check_children(n, {"syslog"}, r.diag());
    auto& a = out.audit;
    a.path = r.path(n, "path");
    read_subject_key(r, n, a);
    read_signing_key(r, n, a);
    if (auto s = n.attribute("sync")) {
        std::string_view v = s.value();
        if (v == "none") {
            a.sync = audit_sync::none;
        } else if (v == "blocked") {
            a.sync = audit_sync::blocked;
        } else if (v == "always") {
            a.sync = audit_sync::always;
        } else {
            r.error(n, s, "'sync' must be none, blocked or always");
        }
    }
    r.size(n, "rotate-bytes", a.rotate_bytes);
    r.boolean(n, "rotate-daily", a.rotate_daily);
    // The replica name goes into every record: a token, so a central store can group by it.
    if (auto x = n.attribute("replica")) {
        const std::string_view v = x.value();
        const bool ok = !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '_' || c == '-';
        });
        if (ok)
            a.replica = std::string(v);
        else
            r.error(n, x, "'replica' must be 1 to 64 of A-Z a-z 0-9 . _ -");
    }
    r.size(n, "keep-bytes", a.keep_bytes);
    r.number<std::uint32_t>(n, "keep-days", a.keep_days, 1, 36500);
    if (auto s = n.child("syslog")) read_syslog(r, s, a.syslog);
}

// The bytes of a secret file (a Kubernetes secret mounted as a file): a trailing newline is not
// part of the secret. nullopt when it cannot be read or is larger than any credential.
std::optional<std::string> read_secret_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::string bytes;
    bytes.resize(64 * 1024 + 1);
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (in.bad()) return std::nullopt;
    bytes.resize(static_cast<std::size_t>(in.gcount()));
    if (bytes.size() > std::size_t{64} * 1024) return std::nullopt;
    while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r')) bytes.pop_back();
    return bytes;
}

// Why an OAuth2 client certificate and key cannot sign a client assertion; "" when they can (an
// X.509 certificate, an unencrypted RSA key of at least 2048 bits that belongs to it).
std::string client_certificate_problem(std::string_view cert_pem, std::string_view key_pem) {
    BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
    X509* cert =
        cert_bio != nullptr ? PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(cert_bio);
    if (cert == nullptr) return "'certificate-file' holds no PEM certificate";
    BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
    auto no_passphrase = [](char*, int, int, void*) { return 0; };
    EVP_PKEY* key = key_bio != nullptr
                        ? PEM_read_bio_PrivateKey(key_bio, nullptr, no_passphrase, nullptr)
                        : nullptr;
    BIO_free(key_bio);
    std::string problem;
    if (key == nullptr) {
        problem = "'private-key-file' holds no unencrypted PEM private key";
    } else if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < 2048) {
        problem = "'private-key-file' must hold an RSA key of at least 2048 bits (PS256/RS256)";
    } else if (X509_check_private_key(cert, key) != 1) {
        problem = "'private-key-file' does not belong to the certificate of 'certificate-file'";
    }
    EVP_PKEY_free(key);
    X509_free(cert);
    return problem;
}

// <oauth2 token-url="…">: the token endpoint as scheme, host, port and target. http only to a
// loopback address: a client secret in clear text crosses only that interface (the demo CRM and
// tests on the same host).
void read_token_url(reader& r, const pugi::xml_node& n, const pugi::xml_attribute& a,
                    oauth2_settings& o) {
    o.token_url = r.substitute(n, a);
    auto parsed = boost::urls::parse_absolute_uri(o.token_url);
    const bool offline_placeholder =
        offline_depth > 0 && std::string_view(a.value()).find("${") != std::string_view::npos;
    if (!parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") ||
        parsed->host().empty() || parsed->has_userinfo() || parsed->has_fragment()) {
        if (!offline_placeholder)
            r.error(n, a,
                    "'token-url' must be an absolute https URL with a host, without user or "
                    "fragment");
        return;
    }
    o.scheme = parsed->scheme();
    o.host = parsed->encoded_host_address();
    if (!o.host.empty() && o.host.front() == '[') o.host = o.host.substr(1, o.host.size() - 2);
    o.port = o.scheme == "https" ? 443 : 80;
    if (parsed->has_port()) o.port = parsed->port_number();
    o.target = parsed->encoded_path();
    if (o.target.empty()) o.target = "/";
    if (parsed->has_query()) o.target += "?" + std::string(parsed->encoded_query());
    const auto host_type = parsed->host_type();
    const bool loopback =
        o.host == "localhost" ||
        (host_type == boost::urls::host_type::ipv4 && parsed->host_ipv4_address().is_loopback()) ||
        (host_type == boost::urls::host_type::ipv6 && parsed->host_ipv6_address().is_loopback());
    if (o.scheme == "http" && !loopback)
        r.error(n, a,
                "'token-url' must be https (http only to a loopback address, for tests and the "
                "demo CRM)");
}

// How the client proves itself at the token endpoint: a client secret (sent in the form, or
// basic) or an assertion signed with its certificate's key (PS256, or RS256) — one of the two.
void read_client_auth(reader& r, const pugi::xml_node& n, bool secret, bool certificate,
                      oauth2_settings& o) {
    if (secret == certificate) {
        r.error(n,
                "<oauth2> needs either client-secret-file or certificate-file with "
                "private-key-file");
    } else if (certificate &&
               (!n.attribute("certificate-file") || !n.attribute("private-key-file"))) {
        r.error(n, "<oauth2> needs both certificate-file and private-key-file");
    }
    if (certificate) o.auth = oauth2_client_auth::certificate;
    if (auto a = n.attribute("client-auth")) {
        std::string_view v = a.value();
        if (!secret) {
            r.error(n, a, "'client-auth' applies to client-secret-file only");
        } else if (v == "basic") {
            o.auth = oauth2_client_auth::secret_basic;
        } else if (v != "post") {
            r.error(n, a, "'client-auth' must be post or basic");
        }
    }
    if (auto a = n.attribute("assertion-algorithm")) {
        std::string_view v = a.value();
        if (!certificate) {
            r.error(n, a, "'assertion-algorithm' applies to certificate-file only");
        } else if (v == "RS256") {
            o.algorithm = jwt_algorithm::rs256;
        } else if (v != "PS256") {
            r.error(n, a, "'assertion-algorithm' must be PS256 or RS256");
        }
    }
}

// The client secret, read from client-secret-file: one line of visible text.
void read_client_secret(reader& r, const pugi::xml_node& n, oauth2_settings& o) {
    auto bytes = read_secret_file(o.client_secret_file);
    const auto a = n.attribute("client-secret-file");
    if (!bytes) {
        r.error(n, a, "cannot read the client secret file " + o.client_secret_file);
    } else if (bytes->empty()) {
        r.error(n, a, "the client secret file " + o.client_secret_file + " is empty");
    } else if (!is_field_value(*bytes) || bytes->find('\t') != std::string::npos) {
        r.error(n, a,
                "the client secret file " + o.client_secret_file + " holds control characters");
    } else {
        o.client_secret = std::make_shared<const std::string>(std::move(*bytes));
    }
}

// The client certificate and its private key, read from their files: a pair that signs
// assertions the token endpoint accepts (client_certificate_problem).
void read_client_certificate(reader& r, const pugi::xml_node& n, oauth2_settings& o) {
    auto cert = read_secret_file(o.certificate_file);
    auto key = read_secret_file(o.private_key_file);
    if (!cert) {
        r.error(n, n.attribute("certificate-file"),
                "cannot read the certificate file " + o.certificate_file);
    } else if (!key) {
        r.error(n, n.attribute("private-key-file"),
                "cannot read the private key file " + o.private_key_file);
    } else if (auto problem = client_certificate_problem(*cert, *key); !problem.empty()) {
        const bool of_key = problem.starts_with("'private-key-file'");
        r.error(n, n.attribute(of_key ? "private-key-file" : "certificate-file"), problem);
    } else {
        o.certificate_pem = std::make_shared<const std::string>(std::move(*cert));
        o.private_key_pem = std::make_shared<const std::string>(std::move(*key));
    }
}

// <oauth2 token-url client-id [scope] [ca-file] (client-secret-file [client-auth] |
// certificate-file private-key-file [assertion-algorithm])/> in an <upstream>: the
// client-credentials grant. Secrets only from files: a literal is refused at its attribute.
void read_oauth2(reader& r, const pugi::xml_node& n, upstream& u) {
    // Named here (and refused below with a message of their own) rather than as unknown.
    for (const char* literal : {"client-secret", "client-assertion"}) {
        if (auto a = n.attribute(literal))
            r.error(n, a,
                    std::string("'") + literal +
                        "' would put a secret in the configuration text: write it to a file "
                        "(a Kubernetes secret) and name it with client-secret-file");
    }
    r.src().check_attributes(
        n,
        {"scope", "ca-file", "client-secret-file", "client-auth", "certificate-file",
         "private-key-file", "assertion-algorithm", "client-secret", "client-assertion"},
        {"token-url", "client-id"}, r.diag());
    r.src().check_children(n, {}, r.diag());
    oauth2_settings o;
    o.where = r.src().locate(n);
    if (auto a = n.attribute("client-id")) {
        o.client_id = r.substitute(n, a);
        if (o.client_id.empty() || !is_field_value(o.client_id))
            r.error(n, a, "'client-id' must not be empty nor hold control characters");
    }
    if (auto a = n.attribute("scope")) {
        o.scope = r.substitute(n, a);
        if (!is_field_value(o.scope)) r.error(n, a, "'scope' holds control characters");
    }
    if (auto a = n.attribute("token-url")) read_token_url(r, n, a, o);
    o.ca_file = r.substituted_path(n, "ca-file");
    if (!o.ca_file.empty() && o.scheme == "http")
        r.error(n, n.attribute("ca-file"), "'ca-file' only applies to an https token-url");
    o.client_secret_file = r.substituted_path(n, "client-secret-file");
    o.certificate_file = r.substituted_path(n, "certificate-file");
    o.private_key_file = r.substituted_path(n, "private-key-file");
    const bool secret = n.attribute("client-secret-file");
    const bool certificate = n.attribute("certificate-file") || n.attribute("private-key-file");
    read_client_auth(r, n, secret, certificate, o);
    // check-config --offline reads no secret: the paths are checked, the files are not opened.
    if (offline_depth == 0 && secret && !o.client_secret_file.empty()) read_client_secret(r, n, o);
    if (offline_depth == 0 && certificate && !o.certificate_file.empty() &&
        !o.private_key_file.empty())
        read_client_certificate(r, n, o);
    u.oauth2 = std::move(o);
}

void read_upstream(reader& r, const pugi::xml_node& n, settings& out) {
    r.src().check_attributes(n,
                             {"ca", "soap-session-id", "rpc-database", "rpc-user", "rpc-password",
                              "health-interval", "health-threshold", "health-path"},
                             {"id", "url"}, r.diag());
    r.src().check_children(n, {"header", "oauth2"}, r.diag());
    upstream u;
    u.where = r.src().locate(n);
    for (auto o : n.children("oauth2")) {
        if (u.oauth2) {
            r.error(o, "<upstream> takes at most one <oauth2>");
            continue;
        }
        read_oauth2(r, o, u);
    }
    // The session a SOAP query carries in its envelope: exportwall's credential, like the
    // headers; a client's SessionHeader is never forwarded.
    if (auto a = n.attribute("soap-session-id")) u.soap_session_id = r.substitute(n, a);
    if (auto a = n.attribute("rpc-database")) u.rpc_database = r.substitute(n, a);
    if (auto a = n.attribute("rpc-user")) {
        u.rpc_user = r.substitute(n, a);
        if (u.rpc_user.empty() || u.rpc_user.size() > 12 ||
            !std::all_of(u.rpc_user.begin(), u.rpc_user.end(),
                         [](char c) { return c >= '0' && c <= '9'; }))
            r.error(n, a, "'rpc-user' is the numeric user id Odoo logs in as");
    }
    if (auto a = n.attribute("rpc-password")) u.rpc_password = r.substitute(n, a);
    u.id = r.text(n, "id");
    u.url = r.text(n, "url");
    u.ca_file = r.path(n, "ca");
    r.duration(n, "health-interval", u.health_interval, /*zero_allowed=*/true);
    r.number<unsigned>(n, "health-threshold", u.health_threshold, 1, 100);
    if (auto a = n.attribute("health-path")) {
        u.health_path = a.value();
        // An origin-form path of visible ASCII: it is written into a request line.
        const bool ok = !u.health_path.empty() && u.health_path.front() == '/' &&
                        std::all_of(u.health_path.begin(), u.health_path.end(),
                                    [](char c) { return c > ' ' && c < 0x7f; });
        if (!ok) r.error(n, a, "'health-path' must be a path starting with '/' (visible ASCII)");
    }
    auto url_attr = n.attribute("url");
    auto parsed = boost::urls::parse_absolute_uri(u.url);
    if (url_attr && (!parsed || (parsed->scheme() != "http" && parsed->scheme() != "https") ||
                     parsed->host().empty() || parsed->has_query() || parsed->has_fragment() ||
                     parsed->has_userinfo())) {
        r.error(n, url_attr,
                "'url' must be an absolute http or https URL with a host, without user, query "
                "or fragment");
    } else if (parsed) {
        u.scheme = parsed->scheme();
        u.host = parsed->encoded_host_address();
        if (!u.host.empty() && u.host.front() == '[') u.host = u.host.substr(1, u.host.size() - 2);
        u.port = u.scheme == "https" ? 443 : 80;
        if (parsed->has_port()) u.port = parsed->port_number();
        u.base_path = parsed->encoded_path();
        while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
    }
    if (!u.ca_file.empty() && u.scheme == "http") {
        r.error(n, n.attribute("ca"), "'ca' only applies to an https upstream");
    }
    for (auto h : n.children("header")) {
        r.src().check_attributes(h, {}, {"name", "value"}, r.diag());
        r.src().check_children(h, {}, r.diag());
        header_value hv;
        hv.name = r.text(h, "name");
        if (auto v = h.attribute("value")) hv.value = r.substitute(h, v);
        if (h.attribute("name") && !is_token(hv.name)) {
            r.error(h, h.attribute("name"), "header 'name' must be an HTTP token");
        }
        if (!is_field_value(hv.value)) {
            r.error(h, h.attribute("value"), "header 'value' holds control characters");
        }
        if (u.oauth2 && hv.name.size() == 13 &&
            std::equal(hv.name.begin(), hv.name.end(), "authorization",
                       [](char a, char b) { return (a | 0x20) == b; })) {
            r.error(h, h.attribute("name"),
                    "an upstream with <oauth2> sends the access token as its Authorization "
                    "header: no <header name=\"Authorization\">");
        }
        u.headers.push_back(std::move(hv));
    }
    for (const auto& other : out.upstreams) {
        if (other.id == u.id) r.error(n, n.attribute("id"), "duplicate upstream id '" + u.id + "'");
    }
    out.upstreams.push_back(std::move(u));
}

// The query language of a route and what it declares for it (docs/query-languages.md).
void read_route_query(reader& r, const pugi::xml_node& n, route& rt) {
    if (auto a = n.attribute("query-language")) {
        if (auto l = query::parse_language(a.value())) {
            rt.query_language = *l;
        } else {
            r.error(n, a,
                    "'query-language' must be none, params, odata, soql, hubspot-search, "
                    "jsonapi, odoo-rpc or odoo-xmlrpc");
        }
    }
    if (auto a = n.attribute("paging-params")) rt.paging_params = split_words(a.value());
    if (auto a = n.attribute("search-fields")) rt.search_fields = split_words(a.value());
    rt.object = r.text(n, "object");
    if (auto a = n.attribute("filter-params")) {
        if (rt.query_language != query::language::params)
            r.error(n, a, "'filter-params' needs query-language=\"params\"");
        for (const auto& word : split_words(a.value())) {
            auto colon = word.find(':');
            if (colon == std::string::npos || colon == 0 || colon + 1 == word.size()) {
                r.error(n, a, "'filter-params' lists name:field pairs");
                break;
            }
            rt.filter_params.push_back({word.substr(0, colon), word.substr(colon + 1)});
        }
    }
    if (auto a = n.attribute("continuation-params")) {
        rt.continuation_params = split_words(a.value());
    } else if (rt.query_language == query::language::odata) {
        rt.continuation_params = {"$skiptoken"};
    } else if (rt.query_language == query::language::jsonapi) {
        rt.continuation_params = {"page[cursor]"};
    }
    if (n.attribute("query-language") && rt.format == route_format::passthrough)
        r.error(n, n.attribute("query-language"),
                "a passthrough route relays its query unread: it takes no query-language");
    // A prefix route forwards the rest of the path unread: on a record route that could name a
    // record, a property or an OData path segment ($filter(…)). Only SOQL's queryMore locator
    // (…/query/01gD…-2000) is read there (config/decide.cpp checks it).
    if (rt.match == path_match::prefix && rt.format != route_format::passthrough &&
        rt.query_language != query::language::soql)
        r.error(n, n.attribute("match"),
                "a record route matches its path exactly, or by template; only a soql route "
                "may be a prefix (for its queryMore locators)");
    const bool needs_object =
        rt.query_language == query::language::soql || rt.query_language == query::language::jsonapi;
    if (needs_object && rt.object.empty())
        r.error(n, n.attribute("query-language"),
                "a soql or jsonapi route needs 'object' (the CRM's name of its records)");
    // An XML-RPC call is answered in XML-RPC, whose shape is fixed: the records are the structs
    // of the result's array, their fields the members' names.
    const bool xmlrpc_call = rt.query_language == query::language::odoo_xmlrpc;
    if (xmlrpc_call != (rt.format == route_format::xmlrpc))
        r.error(n, xmlrpc_call ? n.attribute("query-language") : n.attribute("format"),
                "query-language=\"odoo-xmlrpc\" and format=\"xmlrpc\" go together");
    if (rt.format == route_format::xmlrpc) {
        for (const char* attr : {"records", "field-root", "link-fields"})
            if (auto a = n.attribute(attr))
                r.error(n, a,
                        "an xmlrpc route's records are the structs of its answer: it takes "
                        "no '" +
                            std::string(attr) + "'");
    }
}

// What may pass beside a route's records: its envelope scalars and paging tokens, by JSON
// pointer (docs/configuration.md, docs/query-languages.md#continuation-tokens).
void read_route_envelope(reader& r, const pugi::xml_node& n, route& rt) {
    auto pointers = [&r, &n](const char* attr, std::vector<std::string>& out) {
        auto a = n.attribute(attr);
        if (!a) return;
        out = split_words(a.value());
        for (const auto& p : out) {
            if (p.size() < 2 || p.front() != '/' || p.back() == '/') {
                r.error(n, a,
                        "'" + std::string(attr) + "' lists JSON pointers (\"/paging/next/after\")");
                return;
            }
        }
    };
    pointers("continuation-fields", rt.continuation_fields);
    pointers("envelope-fields", rt.envelope_fields);
    if (!n.attribute("continuation-fields") && rt.query_language == query::language::hubspot_search)
        rt.continuation_fields = {"/paging/next/after"};
    const bool json = rt.format == route_format::json;
    if ((!rt.continuation_fields.empty() || !rt.envelope_fields.empty()) && !json &&
        (n.attribute("continuation-fields") || n.attribute("envelope-fields"))) {
        r.error(n,
                n.attribute("continuation-fields") ? n.attribute("continuation-fields")
                                                   : n.attribute("envelope-fields"),
                "'continuation-fields' and 'envelope-fields' name members of a JSON body: the "
                "route's format must be json");
    }
    // A token sealed into the body comes back as a query parameter (a GET list) or inside the
    // body language's own paging member (HubSpot search's `after`): one must be declared.
    if (n.attribute("continuation-fields") && rt.continuation_params.empty() &&
        rt.query_language != query::language::hubspot_search) {
        r.error(n, n.attribute("continuation-fields"),
                "'continuation-fields' needs 'continuation-params' (the query parameter the "
                "client sends the sealed token back in)");
    }
    for (const auto& p : rt.envelope_fields) {
        const bool clash =
            p == rt.records ||
            std::find(rt.link_fields.begin(), rt.link_fields.end(), p) != rt.link_fields.end() ||
            std::find(rt.continuation_fields.begin(), rt.continuation_fields.end(), p) !=
                rt.continuation_fields.end();
        if (clash) {
            r.error(n, n.attribute("envelope-fields"),
                    "'envelope-fields' may not name the records, a link or a paging token: those "
                    "are filtered or sealed, never passed as written");
            break;
        }
    }
}

// Where a route listens: its path, matched exactly, as a prefix or as a template, and the methods
// it takes.
void read_route_path(reader& r, const pugi::xml_node& n, route& rt) {
    rt.path = r.text(n, "path");
    if (auto a = n.attribute("path"); a && !is_normal_path(rt.path)) {
        r.error(n, a,
                "'path' must be a normalised absolute path (no '//', '.', '..', ';', '%', "
                "'\\', query or spaces)");
    }
    if (auto a = n.attribute("match")) {
        std::string_view v = a.value();
        if (v == "exact") {
            rt.match = path_match::exact;
        } else if (v == "prefix") {
            rt.match = path_match::prefix;
        } else if (v == "template") {
            rt.match = path_match::template_;
            if (!valid_template(rt.path))
                r.error(n, n.attribute("path"),
                        "a template path names its keys as {name} (a-z, _), one per place");
            if (n.attribute("upstream-path"))
                r.error(n, n.attribute("upstream-path"),
                        "a template route forwards its path as it is: no 'upstream-path'");
        } else {
            r.error(n, a, "'match' must be exact, prefix or template");
        }
    }
    if (auto a = n.attribute("methods")) {
        rt.methods = split_words(a.value());
        if (rt.methods.empty()) r.error(n, a, "'methods' lists no method");
        for (const auto& m : rt.methods) {
            if (!is_token(m) ||
                std::any_of(m.begin(), m.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
                r.error(n, a, "'methods' must be upper-case HTTP method names");
                break;
            }
        }
    }
}

// Where a route forwards to: an upstream declared before it (upstreams are read first), and the
// path there.
void read_route_upstream(reader& r, const pugi::xml_node& n, const settings& out, route& rt) {
    rt.upstream_id = r.text(n, "upstream");
    if (n.attribute("upstream") && !out.find_upstream(rt.upstream_id)) {
        r.error(n, n.attribute("upstream"), "unknown upstream '" + rt.upstream_id + "'");
    }
    if (auto a = n.attribute("upstream-path")) {
        rt.upstream_path = a.value();
        if (!is_normal_path(rt.upstream_path)) {
            r.error(n, a, "'upstream-path' must be a normalised absolute path");
        }
    }
}

// What a route's answers carry: their format, the entity of their records, where the records
// are, and how the client selects fields.
void read_route_format(reader& r, const pugi::xml_node& n, route& rt) {
    if (auto a = n.attribute("format")) {
        std::string_view v = a.value();
        if (v == "json") {
            rt.format = route_format::json;
        } else if (v == "ndjson") {
            rt.format = route_format::ndjson;
        } else if (v == "csv") {
            rt.format = route_format::csv;
        } else if (v == "xml") {
            rt.format = route_format::xml;
        } else if (v == "xmlrpc") {
            rt.format = route_format::xmlrpc;
        } else if (v == "passthrough") {
            rt.format = route_format::passthrough;
        } else {
            r.error(n, a, "'format' must be json, ndjson, csv, xml, xmlrpc or passthrough");
        }
    }
    rt.entity = r.text(n, "entity");
    // A record-carrying route without an entity is refused by the policy loader (rule 6).
    if (rt.format == route_format::passthrough && !rt.entity.empty()) {
        r.error(n, n.attribute("entity"), "a passthrough route carries no entity");
    }
    rt.records = r.text(n, "records");
    if (rt.format == route_format::xml && rt.records.empty()) {
        r.error(n, "an xml route needs 'records' (the element path of its records)");
    }
    if (!rt.records.empty() && rt.records.front() != '/') {
        r.error(n, n.attribute("records"), "'records' must begin with '/'");
    }
    rt.field_root = r.text(n, "field-root");
    rt.select_param = r.text(n, "select-param");
    if (auto a = n.attribute("select-separator")) {
        std::string_view v = a.value();
        if (v.size() != 1) {
            r.error(n, a, "'select-separator' must be one character");
        } else {
            rt.select_separator = v.front();
        }
    }
    if (auto a = n.attribute("link-fields")) rt.link_fields = split_words(a.value());
}

// A CSV route's delimiter, formula guard and the byte its header names write for a space.
void read_route_csv(reader& r, const pugi::xml_node& n, route& rt) {
    if (auto a = n.attribute("csv-delimiter")) {
        std::string_view v = a.value();
        if (v == "," || v == ";" || v == "|") {
            rt.csv_delimiter = v.front();
        } else if (v == "tab" || v == "\t") {
            rt.csv_delimiter = '\t';
        } else {
            r.error(n, a, "'csv-delimiter' must be ',', ';', '|' or 'tab'");
        }
    }
    r.boolean(n, "csv-formula-guard", rt.csv_formula_guard);
    if (auto a = n.attribute("csv-header-spaces")) {
        std::string_view v = a.value();
        if (v == "_" || v == "-" || v == ".")
            rt.csv_header_space = v.front();
        else
            r.error(n, a, "'csv-header-spaces' must be '_', '-' or '.'");
    }
}

// Header fields exportwall sets, strips or reads itself (the declaration, cookies, credentials,
// framing, links, CORS, method overrides, encodings and ranges): no route passes them on.
// `lower`: the name in lower case.
bool reserved_header(std::string_view lower) {
    return lower.starts_with("x-export-") || lower == "set-cookie" || lower == "cookie" ||
           lower == "authorization" || lower == "host" || lower == "content-length" ||
           lower == "transfer-encoding" || lower == "connection" || lower == "location" ||
           lower == "content-location" || lower == "link" || lower == "refresh" ||
           lower.starts_with("access-control-") || lower == "x-http-method-override" ||
           lower == "x-http-method" || lower == "x-method-override" ||
           lower == "content-encoding" || lower == "range" || lower == "if-range";
}

// The header fields a route passes on beyond the standard ones, each way.
void read_route_headers(reader& r, const pugi::xml_node& n, route& rt) {
    for (const char* attr : {"request-headers", "response-headers"}) {
        auto a = n.attribute(attr);
        if (!a) continue;
        auto names = split_words(a.value());
        for (const auto& name : names) {
            std::string lower;
            for (char c : name)
                lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
            if (!is_token(name) || name.find('_') != std::string::npos || reserved_header(lower)) {
                r.error(n, a,
                        "'" + std::string(attr) +
                            "' names HTTP header names exportwall "
                            "does not reserve (no X-Export-*, cookies, credentials, framing, "
                            "links or CORS)");
                break;
            }
        }
        (std::string_view(attr) == "request-headers" ? rt.request_headers : rt.response_headers) =
            std::move(names);
    }
}

// <nested path entity [in-record] [map] [discriminator value] [field-root]/> in a json or ndjson
// route: records beside or inside the route's records, filtered with their own entity's view.
nested_records read_nested(reader& r, const pugi::xml_node& c, route_format format) {
    r.src().check_attributes(c, {"in-record", "map", "discriminator", "value", "field-root"},
                             {"path", "entity"}, r.diag());
    r.src().check_children(c, {}, r.diag());
    nested_records set;
    set.where = r.src().locate(c);
    set.path = r.text(c, "path");
    set.entity = r.text(c, "entity");
    r.boolean(c, "in-record", set.in_record);
    r.boolean(c, "map", set.map);
    set.discriminator = r.text(c, "discriminator");
    set.discriminator_value = r.text(c, "value");
    set.field_root = r.text(c, "field-root");
    if (set.discriminator.empty() != set.discriminator_value.empty())
        r.error(c, "'discriminator' and 'value' go together");
    if (!set.in_record && !set.path.empty() && set.path.front() != '/')
        r.error(c, c.attribute("path"), "a document-level 'path' is a JSON pointer ('/…')");
    if (set.in_record && !set.path.empty() && set.path.front() == '/')
        r.error(c, c.attribute("path"), "an in-record 'path' is a dotted field path");
    if (format != route_format::json && format != route_format::ndjson)
        r.error(c, "only json and ndjson routes carry nested records");
    return set;
}

void read_route(reader& r, const pugi::xml_node& n, settings& out) {
    r.src().check_attributes(n,
                             {"match",
                              "methods",
                              "upstream-path",
                              "entity",
                              "records",
                              "field-root",
                              "select-param",
                              "select-separator",
                              "link-fields",
                              "csv-delimiter",
                              "csv-formula-guard",
                              "open",
                              "query-language",
                              "paging-params",
                              "filter-params",
                              "search-fields",
                              "object",
                              "continuation-params",
                              "single-record",
                              "csv-header-spaces",
                              "request-headers",
                              "response-headers",
                              "continuation-fields",
                              "envelope-fields"},
                             {"id", "path", "upstream", "format"}, r.diag());
    r.src().check_children(n, {"nested"}, r.diag());
    route rt;
    rt.where = r.src().locate(n);
    rt.id = r.text(n, "id");
    // In this order: later parts read what earlier ones set (the query language reads the format
    // and the match), and a route's errors are reported in the order they are found.
    read_route_path(r, n, rt);
    read_route_upstream(r, n, out, rt);
    read_route_format(r, n, rt);
    read_route_query(r, n, rt);
    read_route_envelope(r, n, rt);
    read_route_csv(r, n, rt);
    r.boolean(n, "single-record", rt.single_record);
    read_route_headers(r, n, rt);
    for (auto c : n.children("nested")) rt.nested.push_back(read_nested(r, c, rt.format));
    if (rt.single_record && rt.format != route_format::json)
        r.error(n, n.attribute("single-record"), "only a json route answers a single record");
    r.boolean(n, "open", rt.open);
    if (rt.open && rt.format != route_format::passthrough) {
        r.error(n, n.attribute("open"),
                "only a passthrough route may be open: a route that carries records always "
                "needs a client and a declaration");
    }
    for (const auto& other : out.routes) {
        if (other.id == rt.id) r.error(n, n.attribute("id"), "duplicate route id '" + rt.id + "'");
        if (other.path == rt.path && other.match == rt.match) {
            r.error(n, n.attribute("path"),
                    "route '" + rt.id + "' repeats the path of route '" + other.id + "'");
        }
    }
    out.routes.push_back(std::move(rt));
}

// <continuation key-file="…" lifetime="1h"/>: the key that seals pagination tokens.
void read_continuation(reader& r, const pugi::xml_node& n, settings& net, configuration& out) {
    r.src().check_attributes(n, {"key-file", "lifetime"}, {}, r.diag());
    r.src().check_children(n, {}, r.diag());
    net.continuation.key_file = r.path(n, "key-file");
    r.duration(n, "lifetime", net.continuation.lifetime);
    if (net.continuation.key_file.empty() || offline_depth > 0) return;
    std::ifstream in(net.continuation.key_file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto key = in || in.eof() ? continuation_key_from(bytes) : std::nullopt;
    if (!key) {
        r.error(n, n.attribute("key-file"),
                "'key-file' must name a readable file of at least 32 random bytes "
                "(openssl rand -hex 32)");
        return;
    }
    out.continuation = *key;
}

// <quota-store url="redis://[user@]host:port/db" ca-file password-file password-env timeout
// batch key-prefix/>. The password never sits in the URL (it would reach ps, logs and diffs).
void read_quota_store(reader& r, const pugi::xml_node& n, settings& net) {
    r.src().check_attributes(
        n, {"ca-file", "password-file", "password-env", "timeout", "batch", "key-prefix"}, {"url"},
        r.diag());
    r.src().check_children(n, {}, r.diag());
    auto& q = net.quota_store;
    q.configured = true;
    std::string_view url = n.attribute("url").value();
    auto bad_url = [&](const std::string& why) {
        r.error(n, n.attribute("url"),
                "url must be redis://[user@]host[:port][/db] or rediss://…: " + why);
    };
    if (url.starts_with("redis://")) {
        url.remove_prefix(8);
    } else if (url.starts_with("rediss://")) {
        url.remove_prefix(9);
        q.tls = true;
        q.port = 6379;
    } else {
        bad_url("another scheme");
        return;
    }
    if (auto at = url.find('@'); at != std::string_view::npos) {
        std::string_view user = url.substr(0, at);
        if (user.find(':') != std::string_view::npos) {
            bad_url("a password in the URL (use password-file or password-env)");
            return;
        }
        q.username = std::string(user);
        url.remove_prefix(at + 1);
    }
    std::string_view hostport = url.substr(0, url.find('/'));
    std::string_view db = url.size() > hostport.size() ? url.substr(hostport.size() + 1) : "";
    std::string_view host = hostport;
    if (hostport.starts_with('[')) {
        auto close = hostport.find(']');
        if (close == std::string_view::npos) return bad_url("an unclosed IPv6 address");
        host = hostport.substr(1, close - 1);
        hostport.remove_prefix(close + 1);
        if (!hostport.empty() && hostport.front() != ':') return bad_url("junk after the address");
        hostport = hostport.empty() ? "" : hostport.substr(1);
    } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
        host = hostport.substr(0, colon);
        hostport.remove_prefix(colon + 1);
    } else {
        hostport = "";
    }
    if (host.empty()) return bad_url("no host");
    q.host = std::string(host);
    if (!hostport.empty()) {
        unsigned port = 0;
        auto [p, ec] = std::from_chars(hostport.data(), hostport.data() + hostport.size(), port);
        if (ec != std::errc{} || p != hostport.data() + hostport.size() || port == 0 ||
            port > 65535)
            return bad_url("a port that is not 1–65535");
        q.port = static_cast<std::uint16_t>(port);
    }
    if (!db.empty()) {
        auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), q.database);
        if (ec != std::errc{} || p != db.data() + db.size() || q.database > 15)
            return bad_url("a database that is not 0–15");
    }
    q.ca_file = r.path(n, "ca-file");
    if (!q.ca_file.empty() && !q.tls)
        r.error(n, n.attribute("ca-file"), "ca-file needs a rediss:// url");
    const std::string password_file = r.path(n, "password-file");
    const char* password_env = n.attribute("password-env").value();
    if (!password_file.empty() && *password_env != '\0')
        r.error(n, n.attribute("password-env"), "give password-file or password-env, not both");
    if (offline_depth > 0) {
        q.password_source = "not read (offline)";
    } else if (!password_file.empty()) {
        std::ifstream in(password_file, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r')) bytes.pop_back();
        if (!in && !in.eof())
            r.error(n, n.attribute("password-file"), "cannot read the password file");
        else if (bytes.empty())
            r.error(n, n.attribute("password-file"), "the password file is empty");
        q.password = std::move(bytes);
        q.password_source = "password-file " + password_file;
    } else if (*password_env != '\0') {
        // NOLINTNEXTLINE(concurrency-mt-unsafe): exportwall never calls setenv.
        const char* value = std::getenv(password_env);
        if (value == nullptr || *value == '\0')
            r.error(n, n.attribute("password-env"),
                    std::string("environment variable ") + password_env + " is not set");
        else
            q.password = value;
        q.password_source = std::string("password-env ") + password_env;
    }
    r.duration(n, "timeout", q.timeout);
    if (auto a = n.attribute("batch")) {
        std::string_view v = a.value();
        std::uint64_t b = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), b);
        if (ec != std::errc{} || p != v.data() + v.size() || b == 0 || b > 1'000'000)
            r.error(n, a, "batch must be a whole number from 1 to 1000000");
        else
            q.batch = b;
    }
    if (auto a = n.attribute("key-prefix")) q.key_prefix = a.value();
}

// <pseudonymisation key-file="…"/>: the secret of the `pseudonymise` transform (HMAC-SHA-256).
// Kept out of the policy: the DPO's file names the transform, the operator holds the key.
void read_pseudonymisation(reader& r, const pugi::xml_node& n, settings& net) {
    r.src().check_attributes(n, {}, {"key-file"}, r.diag());
    r.src().check_children(n, {}, r.diag());
    net.pseudonymisation.key_file = r.path(n, "key-file");
    if (net.pseudonymisation.key_file.empty()) return;
    if (offline_depth > 0) {
        net.pseudonymisation.key = offline_key();
        return;
    }
    std::ifstream in(net.pseudonymisation.key_file, std::ios::binary);
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
    if ((!in && !in.eof()) || bytes.size() < 32) {
        r.error(n, n.attribute("key-file"),
                "'key-file' must name a readable file of at least 32 random bytes "
                "(openssl rand -hex 32)");
        return;
    }
    net.pseudonymisation.key = std::make_shared<const std::vector<unsigned char>>(std::move(bytes));
}

// <shadow file="candidate.xml"/>: a candidate policy evaluated beside the enforced one (Envoy's
// RBAC shadow rules). Only the policy elements of the file are read, validated as the main
// policy is (its errors name the candidate file); its decisions go to the audit trail only.
void read_shadow(reader& r, const pugi::xml_node& n, const settings& net, configuration& out,
                 diagnostics& diag) {
    r.src().check_attributes(n, {}, {"file"}, r.diag());
    r.src().check_children(n, {}, r.diag());
    const std::string path = r.path(n, "file");
    if (path.empty()) return;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        r.error(n, n.attribute("file"), "cannot read the shadow policy " + path);
        return;
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto shadow = std::make_shared<policy>();
    xml_source src(path, text);
    if (!src.parse(diag)) return;
    auto root = src.document().document_element();
    if (std::string_view(root.name()) != "exportwall") {
        diag.error(src.locate(root), "the root element must be <exportwall>");
        return;
    }
    if (auto m = root.attribute("mode"); m && std::string_view(m.value()) != "enforce")
        diag.error(src.locate(root, m), std::string(monitor_mode_refused));
    // A candidate may be the next version of the whole file: only its policy is read (its
    // listeners, routes and limits are the running configuration's), and it has no shadow.
    if (root.child("shadow"))
        diag.error(src.locate(root.child("shadow")), "a shadow policy has no shadow of its own");
    auto dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    std::vector<std::unique_ptr<xml_source>> owned;
    std::vector<policy_source> sources{{&src, root, dir}};
    std::string material;
    read_includes(src, root, dir, owned, sources, material, diag);
    load_policy(sources, net, *shadow, diag);
    out.shadow = std::move(shadow);
    out.shadow_revision = revision_of(text, material);
    out.shadow_path = path;
}

// The digests a policy_loaded audit record names: the configuration file and each policy file it
// includes, by path.
void record_policy_files(configuration& c, std::string_view main_text,
                         const std::vector<std::unique_ptr<xml_source>>& included) {
    c.policy_files[c.path] = common::sha256_hex(main_text);
    for (const auto& inc : included) c.policy_files[inc->file()] = common::sha256_hex(inc->text());
}

// Reads the enforced policy's suppression lists once, here: their bytes go into the revision
// (`material`) and their digests into suppression_list_files, and the entries are loaded from
// those same bytes, so the revision names exactly the lists in force. A list that cannot be read
// stays unloaded (it suppresses everyone): prepare_snapshot refuses the configuration for it.
void read_suppression_lists(configuration& c, std::string& material) {
    for (auto& l : c.rules.suppression_lists) {
        if (!l.entries) continue;
        if (offline_depth > 0) {
            material += "suppression-list:offline:";
            continue;
        }
        // The modification time is read before the content: a file replaced in between looks
        // older than what was read, never fresher (max-age fails closed).
        std::error_code ec;
        const auto mtime = std::filesystem::last_write_time(l.file, ec);
        std::ifstream in(l.file, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        material += "suppression-list:";
        if (!in.is_open() || (!in.good() && !in.eof())) {
            material += "unreadable:";
            continue;
        }
        material += std::to_string(text.size());
        material.push_back(':');
        material += text;
        c.suppression_list_files[l.file] = common::sha256_hex(text);
        l.entries->load(text);
        if (!ec) {
            const auto sys = std::chrono::file_clock::to_sys(mtime);
            l.entries->set_modified(
                std::chrono::duration_cast<std::chrono::seconds>(sys.time_since_epoch()).count());
        }
    }
}

// Orders errors by file (the main file first, then the others in order of first appearance),
// then by position, whichever pass found them.
void sort_errors(std::vector<load_error>& errors, const std::string& main_file) {
    std::vector<std::string> files{main_file};
    for (const auto& e : errors)
        if (std::find(files.begin(), files.end(), e.where.file) == files.end())
            files.push_back(e.where.file);
    auto rank = [&files](const load_error& e) {
        return std::find(files.begin(), files.end(), e.where.file) - files.begin();
    };
    std::stable_sort(errors.begin(), errors.end(),
                     [&rank](const load_error& a, const load_error& b) {
                         return std::make_tuple(rank(a), a.where.line, a.where.column) <
                                std::make_tuple(rank(b), b.where.line, b.where.column);
                     });
}

// Parses `src` and checks the name of its root element: a null node once a problem is reported.
pugi::xml_node parsed_root(xml_source& src, std::string_view name, diagnostics& diag) {
    if (!src.parse(diag)) return {};
    auto root = src.document().document_element();
    if (std::string_view(root.name()) != name) {
        diag.error(src.locate(root), "the root element must be <" + std::string(name) + ">");
        return {};
    }
    return root;
}

load_result load(std::string text, const std::string& file, const std::string& base_dir) {
    diagnostics diag;
    auto config = std::make_shared<configuration>();
    config->path = file;
    config->revision = common::sha256_hex(text);
    xml_source src(file, std::move(text));
    auto root = parsed_root(src, "exportwall", diag);
    if (!root) return {nullptr, diag.errors()};
    src.check_attributes(
        root, {"mode", "threads", "priority", "xmlns:xsi", "xsi:noNamespaceSchemaLocation"},
        {"version"}, diag);
    if (auto v = root.attribute("version"); v && std::string_view(v.value()) != "1") {
        diag.error(src.locate(root, v), "unsupported configuration version (this build reads 1)");
    }
    reader r(src, diag, base_dir);
    auto& net = config->net;
    // Without a key file, tokens are sealed with a key of this load: they open until the next
    // reload or restart, on this replica only.
    config->continuation = random_continuation_key();
    r.number<unsigned>(root, "threads", net.threads, 0, 1024);
    if (root.attribute("priority")) {
        int priority = 0;
        r.number<int>(root, "priority", priority, -20, 19);
        net.priority = priority;
    }
    if (auto m = root.attribute("mode")) {
        std::string_view v = m.value();
        if (v == "enforce") {
            config->rules.global_mode = mode::enforce;
        } else if (v == "monitor") {
            diag.error(src.locate(root, m), std::string(monitor_mode_refused));
        } else {
            diag.error(src.locate(root, m), "'mode' must be enforce");
        }
    }

    // Upstreams first, so routes can name them wherever they stand in the file.
    for (auto n : root.children("upstream")) read_upstream(r, n, net);
    int admins = 0;
    int limits_count = 0;
    int logs = 0;
    int audits = 0;
    int continuations = 0;
    int shadows = 0;
    int pseudonymisations = 0;
    int quota_stores = 0;
    pugi::xml_node shadow_node;
    for (auto n : root.children()) {
        if (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata) {
            std::string_view t = n.value();
            if (t.find_first_not_of(" \t\r\n") != std::string_view::npos) {
                diag.error(src.locate(root), "<exportwall> takes no text content");
            }
            continue;
        }
        if (n.type() != pugi::node_element) continue;
        std::string_view name = n.name();
        auto once = [&](int& count) {
            if (++count > 1)
                diag.error(src.locate(n), "<" + std::string(name) + "> may appear once");
        };
        if (name == "listen") {
            read_listen(r, n, net);
        } else if (name == "admin") {
            once(admins);
            read_admin(r, n, net);
        } else if (name == "limits") {
            once(limits_count);
            read_limits(r, n, net);
        } else if (name == "log") {
            once(logs);
            read_log(r, n, net);
        } else if (name == "audit") {
            once(audits);
            read_audit(r, n, net);
        } else if (name == "route") {
            read_route(r, n, net);
        } else if (name == "continuation") {
            once(continuations);
            read_continuation(r, n, net, *config);
        } else if (name == "shadow") {
            once(shadows);
            shadow_node = n;
        } else if (name == "pseudonymisation") {
            once(pseudonymisations);
            read_pseudonymisation(r, n, net);
        } else if (name == "quota-store") {
            once(quota_stores);
            read_quota_store(r, n, net);
        } else if (name == "upstream") {
            // read above
        } else if (!is_policy_element(name)) {
            diag.error(src.locate(n),
                       "unknown element <" + std::string(name) + "> in <exportwall>");
        }
    }
    if (net.listeners.empty()) diag.error(src.locate(root), "at least one <listen> is needed");
    if (net.upstreams.empty()) diag.error(src.locate(root), "at least one <upstream> is needed");
    if (net.routes.empty()) diag.error(src.locate(root), "at least one <route> is needed");
    if (audits == 0)
        diag.error(src.locate(root), "<audit path=\"…\"/> is needed: every decision is audited");

    // The policy: this file's elements and those of the files it includes (the DPO's).
    std::vector<std::unique_ptr<xml_source>> owned;
    std::vector<policy_source> sources{{&src, root, base_dir}};
    std::string material;
    read_includes(src, root, base_dir, owned, sources, material, diag);
    load_policy(sources, net, config->rules, diag);
    if (net.audit.subject_key) read_subject_keys(config->rules);
    record_policy_files(*config, src.text(), owned);
    if (diag.ok()) read_suppression_lists(*config, material);
    config->revision = revision_of(src.text(), material);
    if (shadow_node) read_shadow(r, shadow_node, net, *config, diag);

    // The loader reports in document order regardless of which pass found a problem.
    auto errors = diag.errors();
    sort_errors(errors, file);
    if (!errors.empty()) return {nullptr, std::move(errors)};
    return {std::move(config), {}};
}

// A policy file on its own (<policy version="1">, as <include> names it): its elements and the
// legal rules, without a network part.
load_result load_policy_only(std::string text, const std::string& file,
                             const std::string& base_dir) {
    diagnostics diag;
    auto config = std::make_shared<configuration>();
    config->path = file;
    config->revision = common::sha256_hex(text);
    xml_source src(file, std::move(text));
    auto root = parsed_root(src, "policy", diag);
    if (!root) return {nullptr, diag.errors()};
    check_policy_root(src, root, diag);
    if (diag.ok()) load_policy(src, root, config->net, base_dir, config->rules, diag);
    auto errors = diag.errors();
    sort_errors(errors, file);
    if (!errors.empty()) return {nullptr, std::move(errors)};
    return {std::move(config), {}};
}

}  // namespace

offline_loading::offline_loading() { ++offline_depth; }
offline_loading::~offline_loading() { --offline_depth; }
bool loading_offline() { return offline_depth > 0; }

load_result load_configuration_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return {nullptr, {{{path, 0, 0}, "cannot open the configuration file"}}};
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    auto dir = std::filesystem::path(path).parent_path().string();
    return load(buf.str(), path, dir.empty() ? "." : dir);
}

load_result load_policy_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {nullptr, {{{path, 0, 0}, "cannot open the policy file"}}};
    std::ostringstream buf;
    buf << in.rdbuf();
    auto dir = std::filesystem::path(path).parent_path().string();
    return load_policy_only(buf.str(), path, dir.empty() ? "." : dir);
}

load_result load_configuration_text(std::string_view text, const std::string& file,
                                    const std::string& base_dir) {
    return load(std::string(text), file, base_dir);
}

}  // namespace exportwall::config
