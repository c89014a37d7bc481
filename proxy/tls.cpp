#include "proxy/tls.hpp"
#include "common/hex.hpp"

#include <array>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>

namespace exportwall::proxy {
namespace ssl = boost::asio::ssl;
namespace {

[[nodiscard]] std::string openssl_error() {
    unsigned long e = ERR_get_error();
    if (e == 0) return "unknown TLS error";
    std::array<char, 256> buf{};
    ERR_error_string_n(e, buf.data(), buf.size());
    ERR_clear_error();
    return buf.data();
}

}  // namespace

std::shared_ptr<ssl::context> make_server_context(const config::tls_settings& tls,
                                                  std::string& error) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(native, tls.certificate_file.c_str()) != 1) {
        error = tls.certificate_file + ": cannot load the certificate chain: " + openssl_error();
        return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(native, tls.private_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        error = tls.private_key_file + ": cannot load the private key: " + openssl_error();
        return nullptr;
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        error = tls.private_key_file + ": the private key does not match the certificate";
        return nullptr;
    }
    // Resumed sessions with client verification need a session id context.
    static constexpr unsigned char sid[] = "exportwall";
    SSL_CTX_set_session_id_context(native, sid, sizeof(sid) - 1);
    if (tls.client_certificate != config::client_certificate_mode::none) {
        if (SSL_CTX_load_verify_locations(native, tls.client_ca_file.c_str(), nullptr) != 1) {
            error = tls.client_ca_file + ": cannot load the client CA: " + openssl_error();
            return nullptr;
        }
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
        if (names != nullptr) SSL_CTX_set_client_CA_list(native, names);
        int mode = SSL_VERIFY_PEER;
        if (tls.client_certificate == config::client_certificate_mode::required)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(native, mode, nullptr);
    } else {
        SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
    }
    return ctx;
}

std::shared_ptr<ssl::context> make_upstream_context(const config::upstream& u, std::string& error) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
    if (!u.ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(native, u.ca_file.c_str(), nullptr) != 1) {
            error = u.ca_file + ": cannot load the upstream CA: " + openssl_error();
            return nullptr;
        }
    } else if (SSL_CTX_set_default_verify_paths(native) != 1) {
        error = "cannot load the system CA store: " + openssl_error();
        return nullptr;
    }
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    return ctx;
}

bool prepare_upstream_ssl(SSL* ssl_handle, const std::string& host) {
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(host, ec);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
    if (!ec) {
        // An IP literal: no SNI (RFC 6066 forbids it); the certificate must name the address.
        (void)address;
        return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
    }
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl_handle, host.c_str()) != 1) return false;
    // SSL_set_tlsext_host_name() is a macro with a C cast.
    return SSL_ctrl(ssl_handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                    const_cast<char*>(host.c_str())) == 1;
}

peer_identity read_peer_identity(SSL* ssl_handle) {
    peer_identity id;
    X509* cert = SSL_get_peer_certificate(ssl_handle);
    if (cert == nullptr) return id;
    if (SSL_get_verify_result(ssl_handle) == X509_V_OK) {
        id.verified = true;
        BIO* bio = BIO_new(BIO_s_mem());
        if (bio != nullptr) {
            X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
            char* data = nullptr;
            long len = BIO_get_mem_data(bio, &data);
            if (len > 0 && data != nullptr) id.subject.assign(data, static_cast<std::size_t>(len));
            BIO_free(bio);
        }
        std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
        unsigned int md_len = 0;
        if (X509_digest(cert, EVP_sha256(), md.data(), &md_len) == 1) {
            common::append_hex(id.fingerprint, md.data(), md_len);
        }
    }
    X509_free(cert);
    return id;
}

}  // namespace exportwall::proxy
