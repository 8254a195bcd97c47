// Extraction of the recorded fields from a leaf certificate. Each field is decoded on
// its own so that one malformed extension costs only that field.

#include "dnsscience/tls/certificate.hpp"

#include <arpa/inet.h>
#include <openssl/ct.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <ctime>

#include "dnsscience/error.hpp"
#include "tls/openssl_util.hpp"

namespace dnsscience::tls {

using detail::X509Ptr;

namespace {

void add_parse_finding(CertificateInfo& info, const std::string& field, const std::string& why) {
  info.parse_findings.push_back(
      {"malformed_field", "warning", "could not parse the " + field + " of the certificate: " + why});
}

std::string asn1_string_utf8(const ASN1_STRING* value) {
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length < 0) return {};
  std::string text(reinterpret_cast<char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return text;
}

std::optional<std::string> name_entry(CertificateInfo& info, const X509_NAME* name, int nid,
                                      bool last, const char* field) {
  if (name == nullptr) return std::nullopt;
  int index = -1;
  int found = -1;
  while ((index = X509_NAME_get_index_by_NID(name, nid, index)) >= 0) {
    found = index;
    if (!last) break;
  }
  if (found < 0) return std::nullopt;
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, found));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) {
    detail::drain_error_queue();
    add_parse_finding(info, field, "the string cannot be converted to UTF-8");
    return std::nullopt;
  }
  std::string text(reinterpret_cast<char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return text;
}

// X509_get_ext_d2i reports through `critical`: -1 absent, -2 present more than once;
// a null result with critical >= 0 means the extension is present but does not decode.
template <typename T>
T* decode_extension(CertificateInfo& info, X509* cert, int nid, const char* field) {
  int critical = -1;
  void* decoded = X509_get_ext_d2i(cert, nid, &critical, nullptr);
  if (decoded == nullptr) {
    if (critical == -2) {
      add_parse_finding(info, field, "the extension appears more than once (RFC 5280 section 4.2)");
    } else if (critical >= 0) {
      detail::drain_error_queue();
      add_parse_finding(info, field, "the extension does not decode");
    }
    return nullptr;
  }
  return static_cast<T*>(decoded);
}

std::optional<int64_t> decode_time(CertificateInfo& info, const ASN1_TIME* time,
                                   const char* field) {
  std::tm parts{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) {
    detail::drain_error_queue();
    add_parse_finding(info, field, "the time is not a valid UTCTime or GeneralizedTime");
    return std::nullopt;
  }
  return static_cast<int64_t>(timegm(&parts));
}

std::string ip_to_text(const ASN1_OCTET_STRING* octets) {
  const unsigned char* bytes = ASN1_STRING_get0_data(octets);
  const int length = ASN1_STRING_length(octets);
  char text[INET6_ADDRSTRLEN] = {};
  if (length == 4) {
    inet_ntop(AF_INET, bytes, text, sizeof text);
  } else if (length == 16) {
    inet_ntop(AF_INET6, bytes, text, sizeof text);
  } else {
    return "invalid:" + detail::to_hex(bytes, static_cast<size_t>(length < 0 ? 0 : length));
  }
  return text;
}

std::string general_name_uri(const GENERAL_NAME* name) {
  if (name == nullptr || name->type != GEN_URI) return {};
  return asn1_string_utf8(name->d.uniformResourceIdentifier);
}

void extract_sans(CertificateInfo& info, X509* cert) {
  auto* names = decode_extension<GENERAL_NAMES>(info, cert, NID_subject_alt_name,
                                                "subjectAltName extension");
  if (names == nullptr) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    switch (name->type) {
      case GEN_DNS:
        info.sans.push_back({"dns", asn1_string_utf8(name->d.dNSName)});
        break;
      case GEN_IPADD:
        info.sans.push_back({"ip", ip_to_text(name->d.iPAddress)});
        break;
      case GEN_EMAIL:
        info.sans.push_back({"email", asn1_string_utf8(name->d.rfc822Name)});
        break;
      case GEN_URI:
        info.sans.push_back({"uri", asn1_string_utf8(name->d.uniformResourceIdentifier)});
        break;
      default:
        break;  // otherName, directoryName and the rest are not recorded
    }
  }
  GENERAL_NAMES_free(names);
}

void extract_serial(CertificateInfo& info, X509* cert) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  unsigned char* der = nullptr;
  const int length = serial != nullptr ? i2d_ASN1_INTEGER(serial, &der) : -1;
  if (length < 2) {
    detail::drain_error_queue();
    add_parse_finding(info, "serial number", "the INTEGER cannot be encoded");
    return;
  }
  // Skip the tag and the length octets (short or long form) to reach the content.
  size_t offset = 2;
  if (der[1] & 0x80) offset += der[1] & 0x7f;
  if (offset <= static_cast<size_t>(length)) {
    info.serial = detail::to_hex(der + offset, static_cast<size_t>(length) - offset);
  }
  OPENSSL_free(der);
}

void extract_signature(CertificateInfo& info, X509* cert) {
  const int signature_nid = X509_get_signature_nid(cert);
  if (signature_nid != NID_undef) {
    info.signature_algorithm = OBJ_nid2ln(signature_nid);
  } else {
    const X509_ALGOR* algorithm = nullptr;
    X509_get0_signature(nullptr, &algorithm, cert);
    const ASN1_OBJECT* oid = nullptr;
    if (algorithm != nullptr) X509_ALGOR_get0(&oid, nullptr, nullptr, algorithm);
    char text[128] = {};
    if (oid != nullptr) OBJ_obj2txt(text, sizeof text, oid, 1);
    info.signature_algorithm = text;
  }

  int digest_nid = NID_undef;
  int key_nid = NID_undef;
  if (signature_nid != NID_undef && OBJ_find_sigid_algs(signature_nid, &digest_nid, &key_nid) &&
      digest_nid != NID_undef) {
    info.signature_digest = OBJ_nid2sn(digest_nid);
    for (auto& c : info.signature_digest) c = static_cast<char>(std::tolower(c));
  }
}

std::string lowercase(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

void extract_key(CertificateInfo& info, X509* cert) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) {
    detail::drain_error_queue();
    add_parse_finding(info, "public key", "the SubjectPublicKeyInfo does not decode");
    return;
  }
  info.key_bits = EVP_PKEY_bits(key);
  switch (EVP_PKEY_base_id(key)) {
    case EVP_PKEY_RSA:
      info.key_type = "rsa";
      break;
    case EVP_PKEY_RSA_PSS:
      info.key_type = "rsa-pss";
      break;
    case EVP_PKEY_EC: {
      info.key_type = "ec";
      char group[80] = {};
      size_t length = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof group, &length) == 1) {
        const int curve_nid = OBJ_sn2nid(group);
        const char* nist = curve_nid != NID_undef ? EC_curve_nid2nist(curve_nid) : nullptr;
        info.key_curve = nist != nullptr ? nist : group;
      } else {
        detail::drain_error_queue();
        add_parse_finding(info, "EC curve", "the key names no known group");
      }
      break;
    }
    case EVP_PKEY_DSA:
      info.key_type = "dsa";
      break;
    case EVP_PKEY_ED25519:
      info.key_type = "ed25519";
      break;
    case EVP_PKEY_ED448:
      info.key_type = "ed448";
      break;
    default: {
      const char* name = OBJ_nid2sn(EVP_PKEY_base_id(key));
      info.key_type = lowercase(name != nullptr ? name : "unknown");
      break;
    }
  }

  unsigned char* spki = nullptr;
  const int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki);
  if (length > 0) {
    info.spki_sha256 = detail::sha256_hex(spki, static_cast<size_t>(length));
    OPENSSL_free(spki);
  }
}

void extract_sct_count(CertificateInfo& info, X509* cert) {
  auto* scts = decode_extension<STACK_OF(SCT)>(info, cert, NID_ct_precert_scts,
                                               "embedded SCT list extension");
  if (scts == nullptr) return;
  info.sct_count = sk_SCT_num(scts);
  SCT_LIST_free(scts);
}

void extract_authority_info_access(CertificateInfo& info, X509* cert) {
  auto* access = decode_extension<AUTHORITY_INFO_ACCESS>(info, cert, NID_info_access,
                                                         "authorityInfoAccess extension");
  if (access == nullptr) return;
  for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(access); ++i) {
    const ACCESS_DESCRIPTION* description = sk_ACCESS_DESCRIPTION_value(access, i);
    const std::string uri = general_name_uri(description->location);
    if (uri.empty()) continue;
    const int method = OBJ_obj2nid(description->method);
    if (method == NID_ad_OCSP) info.ocsp_urls.push_back(uri);
    if (method == NID_ad_ca_issuers) info.ca_issuers_urls.push_back(uri);
  }
  AUTHORITY_INFO_ACCESS_free(access);
}

void extract_crl_urls(CertificateInfo& info, X509* cert) {
  auto* points = decode_extension<CRL_DIST_POINTS>(info, cert, NID_crl_distribution_points,
                                                   "cRLDistributionPoints extension");
  if (points == nullptr) return;
  for (int i = 0; i < sk_DIST_POINT_num(points); ++i) {
    const DIST_POINT* point = sk_DIST_POINT_value(points, i);
    // type 0 is fullName (a GeneralNames); type 1, a name relative to the issuer, has no URL.
    if (point->distpoint == nullptr || point->distpoint->type != 0) continue;
    const GENERAL_NAMES* names = point->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      const std::string uri = general_name_uri(sk_GENERAL_NAME_value(names, j));
      if (!uri.empty()) info.crl_urls.push_back(uri);
    }
  }
  CRL_DIST_POINTS_free(points);
}

void extract_key_usage(CertificateInfo& info, X509* cert) {
  // Bit order of KeyUsage, RFC 5280 section 4.2.1.3.
  static const char* const kNames[] = {
      "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
      "keyAgreement",     "keyCertSign",    "cRLSign",         "encipherOnly",
      "decipherOnly"};
  auto* bits = decode_extension<ASN1_BIT_STRING>(info, cert, NID_key_usage, "keyUsage extension");
  if (bits != nullptr) {
    for (int bit = 0; bit < 9; ++bit) {
      if (ASN1_BIT_STRING_get_bit(bits, bit)) info.key_usage.push_back(kNames[bit]);
    }
    ASN1_BIT_STRING_free(bits);
  }

  auto* purposes = decode_extension<EXTENDED_KEY_USAGE>(info, cert, NID_ext_key_usage,
                                                        "extendedKeyUsage extension");
  if (purposes == nullptr) return;
  for (int i = 0; i < sk_ASN1_OBJECT_num(purposes); ++i) {
    const ASN1_OBJECT* oid = sk_ASN1_OBJECT_value(purposes, i);
    const int nid = OBJ_obj2nid(oid);
    if (nid != NID_undef) {
      info.extended_key_usage.push_back(OBJ_nid2sn(nid));
    } else {
      char text[128] = {};
      OBJ_obj2txt(text, sizeof text, oid, 1);
      info.extended_key_usage.push_back(text);
    }
  }
  EXTENDED_KEY_USAGE_free(purposes);
}

// Self-signed means issuer == subject and the certificate's own key verifies its signature.
// X509_check_issued is not used because it also requires keyCertSign, which leaf certificates usually lack.
bool is_self_signed(X509* cert) {
  if (X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) != 0) return false;
  EVP_PKEY* key = X509_get0_pubkey(cert);
  const bool verified = key != nullptr && X509_verify(cert, key) == 1;
  detail::drain_error_queue();
  return verified;
}

}  // namespace

CertificateInfo detail::extract_certificate(X509* x, const Der& der) {
  CertificateInfo info;

  const X509_NAME* subject = X509_get_subject_name(x);
  const X509_NAME* issuer = X509_get_issuer_name(x);
  info.subject = detail::name_to_string(subject);
  info.issuer = detail::name_to_string(issuer);
  info.subject_cn = name_entry(info, subject, NID_commonName, true, "subject CN");
  info.subject_o = name_entry(info, subject, NID_organizationName, false, "subject O");
  info.issuer_cn = name_entry(info, issuer, NID_commonName, true, "issuer CN");
  info.issuer_o = name_entry(info, issuer, NID_organizationName, false, "issuer O");

  info.not_before = decode_time(info, X509_get0_notBefore(x), "notBefore");
  info.not_after = decode_time(info, X509_get0_notAfter(x), "notAfter");

  extract_sans(info, x);
  extract_serial(info, x);
  extract_signature(info, x);
  extract_key(info, x);
  info.sha256_fingerprint = detail::sha256_hex(der.data(), der.size());
  extract_sct_count(info, x);
  extract_authority_info_access(info, x);
  extract_crl_urls(info, x);
  extract_key_usage(info, x);
  info.self_signed = is_self_signed(x);
  detail::drain_error_queue();
  return info;
}

CertificateInfo extract_certificate(const Der& der) {
  X509Ptr cert = detail::parse_der_or_throw(der, "the certificate");
  return detail::extract_certificate(cert.get(), der);
}

std::pair<std::string, std::string> certificate_names(const Der& der) {
  X509Ptr cert = detail::parse_der_or_throw(der, "the certificate");
  return {detail::name_to_string(X509_get_subject_name(cert.get())),
          detail::name_to_string(X509_get_issuer_name(cert.get()))};
}

std::string format_utc(int64_t epoch_seconds) {
  const std::time_t seconds = static_cast<std::time_t>(epoch_seconds);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

}  // namespace dnsscience::tls
