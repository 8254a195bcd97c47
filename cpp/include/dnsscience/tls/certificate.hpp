#pragma once

#include <chrono>
#include <utility>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct x509_store_st;  // OpenSSL's X509_STORE

namespace dnsscience::tls {

/// DER bytes of one X.509 certificate.
using Der = std::vector<uint8_t>;

/// One finding about a certificate, a chain or a probe.
///
/// Codes are stable (stores and dashboards key on them): `expired`, `not_yet_valid`,
/// `expiring_soon`, `untrusted`, `hostname_mismatch`, `self_signed`, `weak_key`,
/// `weak_signature`, and `malformed_field` for a field of the certificate that could
/// not be parsed (the message names the field).
struct Finding {
  std::string code;
  std::string severity;  ///< "critical", "warning" or "info"
  std::string message;
};

/// One subjectAltName entry.
struct SubjectAltName {
  std::string type;   ///< "dns", "ip", "email" or "uri"
  std::string value;  ///< DNS names and URIs as encoded; IP addresses in text form
};

/// The fields of a leaf certificate that a scan records. Every field is parsed on its
/// own: a field that cannot be parsed stays empty and adds a `malformed_field` finding
/// to `parse_findings`. Absent names are std::nullopt, never substituted.
struct CertificateInfo {
  std::optional<std::string> subject_cn;  ///< the last (most specific) CN of the subject
  std::optional<std::string> subject_o;   ///< the first O of the subject
  std::optional<std::string> issuer_cn;
  std::optional<std::string> issuer_o;
  std::string subject;  ///< the whole subject as an RFC 4514 string
  std::string issuer;   ///< the whole issuer as an RFC 4514 string
  std::vector<SubjectAltName> sans;
  /// Validity bounds in seconds since the Unix epoch (UTC). GeneralizedTime values
  /// after 2049 are decoded too.
  std::optional<int64_t> not_before;
  std::optional<int64_t> not_after;
  /// Lowercase hex of the content octets of the DER INTEGER, so a negative serial
  /// keeps its two's complement form ("cfc7" for -12345).
  std::string serial;
  std::string signature_algorithm;  ///< OpenSSL long name, e.g. "sha256WithRSAEncryption"
  /// Hash of the signature ("sha256", "sha1", "md5"), empty when the algorithm does not
  /// name one (Ed25519, RSA-PSS).
  std::string signature_digest;
  std::string key_type;  ///< "rsa", "rsa-pss", "ec", "dsa", "ed25519", "ed448" or the OpenSSL short name
  int key_bits = 0;      ///< EVP_PKEY_bits: the modulus size for RSA, the group size for EC (256 for Ed25519 in OpenSSL 3)
  std::optional<std::string> key_curve;  ///< EC only: the NIST name ("P-256") or OpenSSL's group name
  std::string sha256_fingerprint;        ///< lowercase hex SHA-256 of the certificate DER
  std::string spki_sha256;               ///< lowercase hex SHA-256 of the SubjectPublicKeyInfo DER
  int sct_count = 0;                     ///< SCTs in the embedded SCT list extension (RFC 6962)
  std::vector<std::string> ocsp_urls;
  std::vector<std::string> ca_issuers_urls;
  std::vector<std::string> crl_urls;
  std::vector<std::string> key_usage;           ///< RFC 5280 names, e.g. "digitalSignature"
  std::vector<std::string> extended_key_usage;  ///< OpenSSL short names ("serverAuth") or dotted OIDs
  bool self_signed = false;  ///< issuer equals subject and the signature verifies with its own key
  std::vector<Finding> parse_findings;
};

/// Parses `der` into a CertificateInfo.
/// Throws Error(invalid_argument) when `der` is not a DER X.509 certificate at all.
CertificateInfo extract_certificate(const Der& der);

/// Returns the subject and the issuer of `der` as RFC 4514 strings.
/// Throws Error(invalid_argument) when `der` is not a DER X.509 certificate.
std::pair<std::string, std::string> certificate_names(const Der& der);

/// Trust anchors for chain verification, loaded once and shared by every verification.
/// Thread-safe after construction.
class TrustStore {
 public:
  /// Loads the PEM certificates of `ca_file`, or the system default locations
  /// (OpenSSL's default CA file and directory) when `ca_file` is empty.
  /// Throws Error(configuration) when `ca_file` cannot be read or contains no certificate.
  explicit TrustStore(const std::string& ca_file = "");
  ~TrustStore();
  TrustStore(const TrustStore&) = delete;
  TrustStore& operator=(const TrustStore&) = delete;

  x509_store_st* native() const { return store_; }

 private:
  x509_store_st* store_ = nullptr;
};

/// Result of verifying a presented chain against a TrustStore. The leaf's own validity
/// period is left out because the verdicts `expired` and `not_yet_valid` report it, so an
/// expired leaf under a trusted root is `trusted`. An expired intermediate is not.
struct ChainVerification {
  bool trusted = false;
  int error_code = 0;       ///< the X509_V_ERR_* code; 0 when trusted
  std::string error;        ///< X509_verify_cert_error_string; empty when trusted
};

/// Verifies `chain` (leaf first, then the intermediates as the server sent them) for
/// the TLS server purpose at time `at`. The name is not checked here.
/// Throws Error(invalid_argument) when `chain` is empty or contains a non-certificate.
ChainVerification verify_chain(const std::vector<Der>& chain, const TrustStore& store,
                               std::chrono::system_clock::time_point at);

/// Checks the leaf against the reference identity per RFC 6125: `reference` is a DNS
/// name (U-labels are converted to A-labels first) or an IPv4/IPv6 literal. A wildcard
/// matches only as the whole leftmost label. The subject CN is consulted only when the
/// certificate has no DNS subjectAltName (RFC 6125 section 6.4.4).
/// Throws Error(invalid_argument) for an unparsable certificate or an invalid name.
bool hostname_matches(const Der& leaf, const std::string& reference);

/// Thresholds for judge_certificate().
struct VerdictOptions {
  int expiring_days = 30;  ///< `expiring_soon` when fewer days than this remain
  int min_rsa_bits = 2048;  ///< `weak_key` below this RSA modulus size
};

/// Findings and the summary status of one certificate.
struct Verdict {
  /// "expired", "not_yet_valid", "untrusted", "hostname_mismatch", "expiring_soon" or
  /// "valid": the first of these that applies, in that order.
  std::string status;
  std::optional<int64_t> days_until_expiry;  ///< floor((not_after - at) / 1 day)
  std::vector<Finding> findings;  ///< the parse findings of `info` first, then the verdicts
};

/// Judges a leaf: validity at `at`, the chain verification result, the name check
/// (`hostname_match` std::nullopt when no name was checked), self-signature, key size
/// and signature hash (SHA-1 and MD5 are weak).
Verdict judge_certificate(const CertificateInfo& info, const ChainVerification& verification,
                          std::optional<bool> hostname_match,
                          std::chrono::system_clock::time_point at,
                          const VerdictOptions& options = {});

/// Formats seconds since the Unix epoch as "YYYY-MM-DDTHH:MM:SSZ".
std::string format_utc(int64_t epoch_seconds);

}  // namespace dnsscience::tls
