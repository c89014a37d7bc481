#pragma once
// A fresh RSA key and a self-signed certificate for it, in PEM, made at test time with OpenSSL
// (no private key is committed): the client certificate of OAuth2 client-assertion tests.

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <string>

namespace exportwall::testing {

struct rsa_test_key {
    std::string certificate_pem;
    std::string private_key_pem;
};

inline std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

// `bits`-bit RSA key, certificate CN=`name`, valid for a day. Empty strings when OpenSSL fails.
inline rsa_test_key make_rsa_test_key(const char* name = "exportwall-oauth2-test",
                                      unsigned bits = 2048) {
    rsa_test_key out;
    EVP_PKEY* key = EVP_RSA_gen(bits);
    X509* cert = X509_new();
    if (key == nullptr || cert == nullptr) {
        EVP_PKEY_free(key);
        X509_free(cert);
        return out;
    }
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* subject = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(name), -1, -1, 0);
    X509_set_issuer_name(cert, subject);
    if (X509_sign(cert, key, EVP_sha256()) > 0) {
        BIO* c = BIO_new(BIO_s_mem());
        BIO* k = BIO_new(BIO_s_mem());
        if (PEM_write_bio_X509(c, cert) == 1 &&
            PEM_write_bio_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr) == 1) {
            out.certificate_pem = bio_text(c);
            out.private_key_pem = bio_text(k);
        }
        BIO_free(c);
        BIO_free(k);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return out;
}

}  // namespace exportwall::testing
