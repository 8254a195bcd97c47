// Chain verification, the RFC 6125 name check and the verdicts. The handshake never
// verifies, so that every certificate is collected; trust is judged here afterwards.

#include <arpa/inet.h>
#include <idn2.h>
#include <openssl/x509_vfy.h>

#include <cmath>

#include "dnsscience/error.hpp"
#include "dnsscience/tls/certificate.hpp"
#include "tls/openssl_util.hpp"

namespace dnsscience::tls {

namespace {

bool is_ip_literal(const std::string& text) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

// Converts a name with U-labels to A-labels (IDNA 2008 via libidn2, with the transitional
// fallback that browsers use); ASCII names are only lowercased.
std::string to_a_labels(const std::string& name) {
  bool ascii = true;
  for (unsigned char c : name) ascii = ascii && c < 0x80;
  if (ascii) {
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower;
  }
  char* converted = nullptr;
  const int rc = idn2_to_ascii_8z(name.c_str(), &converted, IDN2_NONTRANSITIONAL);
  if (rc != IDN2_OK) {
    throw Error(ErrorKind::invalid_argument, "invalid internationalized host name '" + name +
                                                 "': " + idn2_strerror(rc));
  }
  std::string result(converted);
  idn2_free(converted);
  return result;
}

// The leaf's own validity period has the verdicts `expired` and `not_yet_valid`, so
// verification skips those two errors at depth 0 and still reports every other error.
int ignore_leaf_validity_period(int ok, X509_STORE_CTX* context) {
  if (ok) return ok;
  const int error = X509_STORE_CTX_get_error(context);
  if (X509_STORE_CTX_get_error_depth(context) == 0 &&
      (error == X509_V_ERR_CERT_HAS_EXPIRED || error == X509_V_ERR_CERT_NOT_YET_VALID)) {
    X509_STORE_CTX_set_error(context, X509_V_OK);
    return 1;
  }
  return ok;
}

}  // namespace

TrustStore::TrustStore(const std::string& ca_file) {
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr) throw Error(ErrorKind::internal, "X509_STORE_new failed");
  store_ = store;
  if (ca_file.empty()) {
    // An empty system store is not an error: every chain is then reported untrusted.
    X509_STORE_set_default_paths(store);
    detail::drain_error_queue();
    return;
  }
  if (X509_STORE_load_locations(store, ca_file.c_str(), nullptr) != 1) {
    const std::string reason = detail::drain_error_queue();
    X509_STORE_free(store);
    store_ = nullptr;
    throw Error(ErrorKind::configuration, "cannot load CA certificates from '" + ca_file +
                                              "' (" + reason +
                                              "); pass a readable PEM file of CA certificates");
  }
}

TrustStore::~TrustStore() { X509_STORE_free(store_); }

ChainVerification detail::verify_chain(X509* leaf, STACK_OF(X509) * untrusted,
                                       const TrustStore& store,
                                       std::chrono::system_clock::time_point at) {
  X509_STORE_CTX* context = X509_STORE_CTX_new();
  ChainVerification result;
  if (context == nullptr || X509_STORE_CTX_init(context, store.native(), leaf, untrusted) != 1) {
    X509_STORE_CTX_free(context);
    throw Error(ErrorKind::internal, "X509_STORE_CTX_init failed: " + detail::drain_error_queue());
  }
  X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER);
  X509_STORE_CTX_set_time(context, 0, std::chrono::system_clock::to_time_t(at));
  X509_STORE_CTX_set_verify_cb(context, ignore_leaf_validity_period);

  result.trusted = X509_verify_cert(context) == 1;
  if (!result.trusted) {
    result.error_code = X509_STORE_CTX_get_error(context);
    result.error = X509_verify_cert_error_string(result.error_code);
  }
  X509_STORE_CTX_free(context);
  detail::drain_error_queue();
  return result;
}

ChainVerification verify_chain(const std::vector<Der>& chain, const TrustStore& store,
                               std::chrono::system_clock::time_point at) {
  if (chain.empty()) {
    throw Error(ErrorKind::invalid_argument, "cannot verify an empty certificate chain");
  }
  detail::X509Ptr leaf = detail::parse_der_or_throw(chain[0], "the leaf certificate");
  std::vector<detail::X509Ptr> owned;
  for (size_t i = 1; i < chain.size(); ++i) {
    owned.push_back(detail::parse_der_or_throw(chain[i], "an intermediate certificate"));
  }
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  if (untrusted == nullptr) throw Error(ErrorKind::internal, "sk_X509_new_null failed");
  for (const auto& cert : owned) sk_X509_push(untrusted, cert.get());
  try {
    ChainVerification result = detail::verify_chain(leaf.get(), untrusted, store, at);
    sk_X509_free(untrusted);  // the certificates themselves belong to `owned`
    return result;
  } catch (...) {
    sk_X509_free(untrusted);
    throw;
  }
}

bool detail::hostname_matches(X509* leaf, const std::string& reference) {
  if (reference.empty()) {
    throw Error(ErrorKind::invalid_argument, "cannot check an empty host name against a certificate");
  }
  int rc;
  if (is_ip_literal(reference)) {
    rc = X509_check_ip_asc(leaf, reference.c_str(), 0);
  } else {
    std::string name = to_a_labels(reference);
    if (!name.empty() && name.back() == '.') name.pop_back();
    // RFC 6125 section 6.4.3: the wildcard must be the whole leftmost label.
    rc = X509_check_host(leaf, name.c_str(), name.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                         nullptr);
  }
  detail::drain_error_queue();
  return rc == 1;
}

bool hostname_matches(const Der& leaf, const std::string& reference) {
  if (reference.empty()) {
    throw Error(ErrorKind::invalid_argument, "cannot check an empty host name against a certificate");
  }
  detail::X509Ptr cert = detail::parse_der_or_throw(leaf, "the leaf certificate");
  return detail::hostname_matches(cert.get(), reference);
}

Verdict judge_certificate(const CertificateInfo& info, const ChainVerification& verification,
                          std::optional<bool> hostname_match,
                          std::chrono::system_clock::time_point at,
                          const VerdictOptions& options) {
  Verdict verdict;
  verdict.findings = info.parse_findings;
  const int64_t now = std::chrono::system_clock::to_time_t(at);
  constexpr int64_t kDay = 86400;

  bool expired = false;
  bool not_yet_valid = false;
  bool expiring_soon = false;
  if (info.not_after) {
    const int64_t remaining = *info.not_after - now;
    verdict.days_until_expiry = static_cast<int64_t>(std::floor(static_cast<double>(remaining) / kDay));
    if (remaining < 0) {
      expired = true;
      verdict.findings.push_back({"expired", "critical",
                                  "the certificate expired on " + format_utc(*info.not_after)});
    } else if (remaining < static_cast<int64_t>(options.expiring_days) * kDay) {
      expiring_soon = true;
      verdict.findings.push_back(
          {"expiring_soon", "warning",
           "the certificate expires on " + format_utc(*info.not_after) + ", in " +
               std::to_string(*verdict.days_until_expiry) + " days (threshold " +
               std::to_string(options.expiring_days) + " days)"});
    }
  }
  if (info.not_before && *info.not_before > now) {
    not_yet_valid = true;
    verdict.findings.push_back({"not_yet_valid", "critical",
                                "the certificate is not valid before " + format_utc(*info.not_before)});
  }

  if (!verification.trusted) {
    verdict.findings.push_back({"untrusted", "critical",
                                "the chain does not verify: " + verification.error + " (X509_V_ERR " +
                                    std::to_string(verification.error_code) + ")"});
  }
  const bool mismatch = hostname_match.has_value() && !*hostname_match;
  if (mismatch) {
    verdict.findings.push_back(
        {"hostname_mismatch", "critical", "the certificate does not cover the requested name"});
  }
  if (info.self_signed) {
    verdict.findings.push_back({"self_signed", "warning", "the certificate is self-signed"});
  }
  if ((info.key_type == "rsa" || info.key_type == "rsa-pss") && info.key_bits > 0 &&
      info.key_bits < options.min_rsa_bits) {
    verdict.findings.push_back({"weak_key", "warning",
                                "the RSA key has " + std::to_string(info.key_bits) +
                                    " bits, fewer than " + std::to_string(options.min_rsa_bits)});
  }
  if (info.signature_digest == "sha1" || info.signature_digest == "md5" ||
      info.signature_digest == "md4" || info.signature_digest == "md2") {
    verdict.findings.push_back({"weak_signature", "warning",
                                "the certificate is signed with " + info.signature_algorithm +
                                    ", a broken hash"});
  }

  if (expired) {
    verdict.status = "expired";
  } else if (not_yet_valid) {
    verdict.status = "not_yet_valid";
  } else if (!verification.trusted) {
    verdict.status = "untrusted";
  } else if (mismatch) {
    verdict.status = "hostname_mismatch";
  } else if (expiring_soon) {
    verdict.status = "expiring_soon";
  } else {
    verdict.status = "valid";
  }
  return verdict;
}

}  // namespace dnsscience::tls
