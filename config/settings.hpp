#pragma once
// The network half of the configuration: listeners, TLS, admin, upstreams, limits and routes.
// Plain values, filled by the loader (config/loader.hpp) and read by the proxy. The policy half
// (entities, purposes, destinations, clients) lives in config/policy.hpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/address_range.hpp"
#include "config/query/guard.hpp"

namespace exportwall::config {

// Where a configuration item was written, for `file:line:col` messages after load.
struct source_location {
    std::string file;
    int line = 0;
    int column = 0;
};

enum class client_certificate_mode : std::uint8_t { none, optional, required };

struct tls_settings {
    std::string certificate_file;  // PEM chain
    std::string private_key_file;  // PEM
    std::string client_ca_file;    // PEM bundle; required unless client_certificate == none
    client_certificate_mode client_certificate = client_certificate_mode::none;
};

struct listener {
    std::string address = "0.0.0.0";
    std::uint16_t port = 8443;  // 0: the OS picks (tests); the bound port is logged
    // exportwall's own URL as clients reach this listener ("https://exports.example.com"); upstream
    // pagination links are rewritten onto it. Empty: derived from the request's Host header is
    // NOT done (a client controls Host) — links are then removed instead.
    std::string public_url;
    std::optional<tls_settings> tls;
    // Who the client is behind a load balancer (docs/deployment.md). trusted_proxies: the
    // addresses allowed to name the client. proxy_protocol: every connection opens with a PROXY
    // protocol v2 header (HAProxy's, as AWS NLB, Envoy and nginx send it) whose source becomes
    // the client; a connection from outside trusted_proxies is closed unheard. forwarded_for:
    // when the peer is trusted, the client is the right-most X-Forwarded-For address that is not
    // itself trusted (nginx's real_ip_recursive). The peer then shows as `via` in the audit.
    std::vector<address_range> trusted_proxies;
    bool proxy_protocol = false;
    bool forwarded_for = false;
    source_location where;
};

struct admin_listener {
    std::string address = "127.0.0.1";
    std::uint16_t port = 9901;
    std::string token_sha256;  // hex; required when address is not loopback
    // metrics-address / metrics-port: a second listener serving only /metrics (and /healthz)
    // without a token, for Prometheus' scrape annotations. Metrics hold ids, codes and counts,
    // never a value. Empty address: none.
    std::string metrics_address;
    std::uint16_t metrics_port = 9902;
};

// Timeouts and size limits. Every timeout is an idle/phase timeout, never a total deadline for an
// export (a large export may stream for an hour).
struct limits {
    std::chrono::milliseconds tls_handshake{10'000};
    std::chrono::milliseconds request_head{10'000};     // 408 when the head is not complete
    std::chrono::milliseconds keep_alive_idle{60'000};  // idle between requests: close quietly
    std::chrono::milliseconds request_body_idle{30'000};
    // A total deadline for one request, head and body (from its first byte), and the slowest
    // body a client may send (bytes per second, judged after the body's first second): a body
    // trickled byte by byte would hold a CRM connection for as long as the client likes. 408.
    std::chrono::milliseconds request_deadline{60'000};
    std::uint64_t min_request_body_rate = 1024;  // bytes/s; 0: no minimum
    std::chrono::milliseconds upstream_connect{5'000};         // 502 upstream_unavailable
    std::chrono::milliseconds upstream_response_head{30'000};  // 504 upstream_timeout
    std::chrono::milliseconds upstream_idle{60'000};           // between body reads: abort
    std::chrono::milliseconds client_write_idle{60'000};       // a client that stops reading: abort
    // SIGTERM/SIGINT: /readyz fails at once while the listeners keep serving for drain_delay (the
    // load balancer stops sending meanwhile); then they close and the requests in flight get
    // shutdown_grace, after which those still running are aborted (reason `shutdown`).
    std::chrono::milliseconds drain_delay{0};
    std::chrono::milliseconds shutdown_grace{30'000};
    std::size_t max_head_bytes = 16 * 1024;                    // request head; 431 beyond
    std::size_t max_request_body_bytes = 1 << 20;              // 413 beyond
    std::size_t max_upstream_head_bytes = 64 * 1024;
    std::size_t max_record_bytes = 1 << 20;  // largest record a filter buffers
    std::size_t max_connections = 10'000;
    std::size_t upstream_pool_size = 64;  // idle connections kept per upstream
};

struct header_value {
    std::string name;
    std::string value;  // ${VAR} already substituted
};

// How exportwall proves itself to an OAuth2 token endpoint (<oauth2> in an <upstream>).
enum class oauth2_client_auth : std::uint8_t {
    secret_post,   // client_id and client_secret in the form body (client-auth="post", default)
    secret_basic,  // HTTP Basic client_id:client_secret, RFC 6749 §2.3.1 (client-auth="basic")
    certificate,   // a signed JWT client assertion, RFC 7523 §2.2 (certificate-file)
};

// The signature of a client assertion: RSASSA-PSS (Microsoft's recommendation) or PKCS#1 v1.5,
// both with SHA-256.
enum class jwt_algorithm : std::uint8_t { ps256, rs256 };

// <oauth2>: the upstream's access token comes from the client-credentials grant (RFC 6749 §4.4;
// Microsoft identity platform for Dataverse, Salesforce's client-credentials flow) and is sent as
// `Authorization: Bearer …` (proxy/upstream_token.hpp). Secrets are only ever read from files —
// never written in the configuration — and are never logged.
struct oauth2_settings {
    std::string token_url;  // as written (after ${VAR})
    std::string scheme;     // "https", or "http" for a loopback host only (tests, the demo)
    std::string host;
    std::uint16_t port = 0;
    std::string target;   // origin-form path of the token endpoint
    std::string ca_file;  // https: CA bundle to verify the token endpoint; empty = system store
    std::string client_id;
    std::string scope;  // "" = no scope parameter (Salesforce)
    oauth2_client_auth auth = oauth2_client_auth::secret_post;
    jwt_algorithm algorithm = jwt_algorithm::ps256;  // certificate only
    std::string client_secret_file;
    std::string certificate_file;  // PEM; the first certificate is the client's
    std::string private_key_file;  // PEM, unencrypted RSA
    // Read at load (and again at every reload); null when loaded offline (check-config
    // --offline reads none of them). Never logged.
    std::shared_ptr<const std::string> client_secret;
    std::shared_ptr<const std::string> certificate_pem;
    std::shared_ptr<const std::string> private_key_pem;
    source_location where;
};

struct upstream {
    std::string id;
    std::string url;     // as written, e.g. "https://crm.internal:8443/base"
    std::string scheme;  // "http" or "https"
    std::string host;
    std::uint16_t port = 0;
    std::string base_path;              // prefix added to every forwarded path ("" for none)
    std::string ca_file;                // https: CA bundle to verify the CRM; empty = system store
    std::vector<header_value> headers;  // credentials and fixed headers added to each request
    std::string soap_session_id;        // SessionHeader of SOAP query bodies ("" = none)
    // Odoo JSON-RPC login written into every call (the client's is never forwarded).
    std::string rpc_database;
    std::string rpc_user;  // numeric uid
    std::string rpc_password;
    // The active health check (proxy/upstream_health.hpp): every health_interval (0: none) a
    // connection is opened (and TLS-handshaken for https); with health_path, `GET health_path`
    // must answer 200-399. health_threshold failures in a row make /readyz fail; one success
    // makes it pass again.
    std::chrono::milliseconds health_interval{10'000};
    unsigned health_threshold = 2;
    std::string health_path;  // "" = the connection alone
    // <oauth2>: a Bearer access token fetched by exportwall replaces a fixed Authorization header.
    std::optional<oauth2_settings> oauth2;
    source_location where;
};

// The body formats a route may carry. `passthrough` relays bytes unmodified and is meant for
// endpoints that carry no personal data (metadata, health); it still needs a declaration.
// `xmlrpc` is an XML-RPC answer whose result is a list of structs (Odoo's XML-RPC search_read):
// its records' field names are element text, read by filters/xml/xmlrpc_filter.hpp.
enum class route_format : std::uint8_t { json, ndjson, csv, xml, xmlrpc, passthrough };

// exact: the path itself; prefix: the path and everything below it (whole segments); template:
// the path with each `{name}` standing for one key (1–128 of A-Z a-z 0-9 _ . : -), as in
// "/crm/v3/objects/contacts/{id}" or "/api/data/v9.2/contacts({id})" (single-record GETs).
enum class path_match : std::uint8_t { exact, prefix, template_ };

// Records of another entity in a route's body (<nested> in a <route>): side-loaded records
// (JSON:API `included`, Pipedrive `related_objects`) or records inside each record (Close's
// `contacts` in a lead), filtered with the purpose's view of `entity` or dropped whole
// (filters::nested_record_set).
struct nested_records {
    std::string path;      // JSON pointer from the root, or (in_record) a dotted path in a record
    bool in_record = false;
    bool map = false;       // an object of id → record (Pipedrive related_objects)
    std::string discriminator;        // member that tells the type ("type"); "" = every element
    std::string discriminator_value;  // its value for this entity ("Accounts")
    std::string field_root;           // fields inside each element ("attributes")
    std::string entity;               // entity id (policy)
    source_location where;
};

struct route {
    std::string id;
    std::string path;  // normalised, begins with '/'
    path_match match = path_match::exact;
    std::vector<std::string> methods{"GET"};  // upper case
    std::string upstream_id;
    std::string upstream_path;  // replaces `path` when forwarding (prefix-mapped); "" = same
    std::string entity;         // entity id (policy); empty for passthrough
    route_format format = route_format::json;
    std::string records;       // JSON pointer / XML element path (filters::filter_spec::records)
    std::string field_root;    // dotted path of the fields inside a record ("properties")
    std::string select_param;  // field-selection query parameter ("$select", "properties")
    char select_separator = ',';
    // JSON: the body is one record (a single-record GET), at `records` ("" = the document root).
    bool single_record = false;
    std::vector<nested_records> nested;  // records of other entities in the same body
    // Header names let through beside the default allow-lists (proxy/forward.hpp): to the CRM
    // (`request-headers`) and to the client (`response-headers`, e.g. vendor rate limits).
    std::vector<std::string> request_headers;
    std::vector<std::string> response_headers;
    // The query language the CRM speaks on this route (docs/query-languages.md); the guard parses
    // every query with it. `none`: only select_param and paging_params are accepted.
    query::language query_language = query::language::none;
    std::vector<std::string> paging_params;       // opaque paging parameters ("after", "page")
    std::vector<query::filter_param> filter_params;  // `params` routes: name → field
    std::vector<std::string> search_fields;       // what a full-text search reads; empty: refused
    std::string object;  // the CRM's name for the records (SOQL FROM, fetchXml entity, JSON:API type)
    // Query parameters that carry the CRM's paging token ($skiptoken, page[cursor]): sealed in
    // every pagination link, opened (and required sealed) in every request.
    std::vector<std::string> continuation_params;
    std::vector<std::string> link_fields;  // pagination link fields in the body
    // JSON pointers of envelope members that hold the CRM's paging token itself (HubSpot's
    // `/paging/next/after`): sealed like a link's continuation parameters, for the request that
    // brings it back (config/continuation.hpp). A hubspot-search route has /paging/next/after.
    std::vector<std::string> continuation_fields;
    // JSON pointers of envelope scalars that pass as the CRM wrote them (Pipedrive's
    // `/additional_data/pagination/start`, JSON-RPC's `/id`): page and call metadata the operator
    // names one by one. A container there, or any other member beside the records, never passes.
    std::vector<std::string> envelope_fields;
    char csv_delimiter = ',';
    char csv_header_space = 0;  // read spaces in CSV header names as this byte ('_'); 0: as written
    bool csv_formula_guard = true;
    // Passthrough routes only: no client identity or declaration is asked (metadata, health
    // endpoints that carry no personal data). Every request is still audited.
    bool open = false;
    source_location where;
};

struct log_settings {
    std::string level = "info";    // spdlog level name
    bool json = false;             // format="json": the operational log as one JSON object a line
    std::string access_log = "-";  // "-" = stdout, else a file path
};

enum class audit_sync : std::uint8_t {
    none,     // never fsync (the OS decides)
    blocked,  // a refusal's record is on disk before the client gets its answer (default)
    always,   // every record is on disk before its answer
};

// <audit><syslog>: the SIEM forwarder (audit/syslog_forwarder.hpp). Fixed at start-up.
struct syslog_settings {
    std::string address;  // empty: no forwarding
    std::uint16_t port = 514;  // 6514 with protocol="tls" when no port is given
    bool tcp = false;  // protocol="tcp" or "tls"
    bool tls = false;  // protocol="tls" (RFC 5425)
    // TLS only: the CAs the collector's certificate must chain to ("": the system's), the client
    // certificate chain and its key for mutual TLS ("": none), and the name or IP address the
    // collector's certificate must carry ("": address). Read again on every connection.
    std::string ca_file;
    std::string certificate_file;
    std::string private_key_file;
    std::string server_name;
    std::string app_name = "exportwall";
    int facility = 13;  // log audit (RFC 5424)
};

struct audit_settings {
    std::string path = "audit.jsonl";  // the active file; rotated files sit beside it
    audit_sync sync = audit_sync::blocked;
    std::uint64_t rotate_bytes = 256ull << 20;
    bool rotate_daily = true;
    // replica="…": the name every record carries (1-64 of A-Z a-z 0-9 . _ -); "": the default
    // (audit::default_replica_name(): $EXPORTWALL_REPLICA, $HOSTNAME, the host name).
    std::string replica;
    // keep-bytes / keep-days: the retention budget of rotated files (0: none). With <syslog>,
    // a file goes only once the collector has it.
    std::uint64_t keep_bytes = 0;
    std::uint32_t keep_days = 0;
    syslog_settings syslog;
    // subject-key-file: the HMAC-SHA-256 key of the subject index (audit/subject_index.hpp);
    // null without one (no index is kept). Never logged.
    std::string subject_key_file;
    std::shared_ptr<const std::vector<unsigned char>> subject_key;
    // signing-key-file: the Ed25519 private key (PEM) that signs checkpoints of the chain head
    // (audit/checkpoint.hpp), read and checked at load; null without one (no checkpoints). Never
    // logged. A checkpoint follows at most checkpoint_every records, and comes once
    // checkpoint_interval has passed since the last one with records unsigned.
    std::string signing_key_file;
    std::shared_ptr<const std::string> signing_key_pem;
    std::uint64_t checkpoint_every = 1000;
    std::chrono::milliseconds checkpoint_interval{60'000};
};

// Sealed continuation tokens (config/continuation.hpp).
struct continuation_settings {
    std::string key_file;  // ≥ 32 random bytes; empty: a random key per load (one replica)
    std::chrono::milliseconds lifetime{3'600'000};  // a sealed token opens for this long
};

// <quota-store url="redis://host:port/db"/>: where grant quotas, paged-export counts and volume
// alerts are counted. Without the element an in-process store serves one replica.
struct quota_store_settings {
    bool configured = false;
    bool tls = false;          // rediss://
    std::string host;
    std::uint16_t port = 6379;
    unsigned database = 0;
    std::string ca_file;       // rediss: the CA that signed the server's certificate
    std::string username;      // ACL user (the URL's user part); "" = default
    std::string password;      // from password-file or password-env; never logged
    std::string password_source;  // "password-file /run/secrets/redis" (for messages)
    std::string key_prefix = "exportwall:";
    std::chrono::milliseconds timeout{1'000};  // connect and each command
    std::uint64_t batch = 1000;  // largest reservation taken at once
};

// <pseudonymisation key-file="…"/>: the HMAC key of the `pseudonymise` field transform.
struct pseudonymisation_settings {
    std::string key_file;
    // The file's bytes (at least 32); null without a key file. Shared by every purpose view.
    std::shared_ptr<const std::vector<unsigned char>> key;
};

struct settings {
    std::vector<listener> listeners;
    continuation_settings continuation;
    pseudonymisation_settings pseudonymisation;
    quota_store_settings quota_store;
    admin_listener admin;
    audit_settings audit;
    limits limit;
    log_settings log;
    unsigned threads = 0;  // 0: number of cores
    // <exportwall priority>: the nice value the I/O threads run at (-20 to 19, as nginx's
    // worker_priority); unset, the one exportwall was started with.
    std::optional<int> priority;
    std::vector<upstream> upstreams;
    std::vector<route> routes;

    [[nodiscard]] const upstream* find_upstream(const std::string& id) const {
        for (const auto& u : upstreams)
            if (u.id == id) return &u;
        return nullptr;
    }
};

}  // namespace exportwall::config
