#pragma once

// Private helpers shared by the TLS sources: owning pointers for OpenSSL objects and
// small encoders.

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dnsscience/tls/certificate.hpp"

namespace dnsscience::tls::detail {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

using X509Ptr = std::unique_ptr<X509, X509Free>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

/// Parses DER into an X509; nullptr when `der` is not a complete certificate.
X509Ptr parse_der(const Der& der);

/// Throws Error(invalid_argument) naming `what` when `der` does not parse.
X509Ptr parse_der_or_throw(const Der& der, const char* what);

/// Returns the DER encoding of `cert`.
Der encode_der(X509* cert);

/// Returns lowercase hex of `size` bytes.
std::string to_hex(const unsigned char* data, size_t size);

/// Returns the SHA-256 implementation, fetched from the default provider once per process.
/// OpenSSL 3.0 resolves SHA256() and EVP_sha256() through a provider fetch on every call;
/// a fetched EVP_MD skips that lookup.
const EVP_MD* sha256_md();

/// Returns the lowercase hex SHA-256 of `size` bytes.
std::string sha256_hex(const unsigned char* data, size_t size);

/// Returns standard base64 (RFC 4648 section 4) without line breaks.
std::string to_base64(const Der& der);

/// Returns an X509_NAME as an RFC 4514 string.
std::string name_to_string(const X509_NAME* name);

/// Extracts the recorded fields of `cert`, whose DER encoding is `der` (hashed for the
/// fingerprint). The public extract_certificate() parses the DER and calls this.
CertificateInfo extract_certificate(X509* cert, const Der& der);

/// Verifies `leaf` with the intermediates `untrusted` (may be nullptr) as verify_chain()
/// does. The caller keeps ownership of both.
ChainVerification verify_chain(X509* leaf, STACK_OF(X509) * untrusted, const TrustStore& store,
                               std::chrono::system_clock::time_point at);

/// Checks `leaf` against `reference` as the public hostname_matches() does.
bool hostname_matches(X509* leaf, const std::string& reference);

/// Drains the OpenSSL error queue of this thread into one "; "-separated string.
std::string drain_error_queue();

}  // namespace dnsscience::tls::detail
