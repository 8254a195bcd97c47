#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dnsscience/tls/certificate.hpp"

namespace dnsscience::tls {

/// The plaintext dialogue that precedes the TLS handshake.
enum class StartTls {
  none,  ///< implicit TLS: the handshake starts right after connect
  smtp,  ///< EHLO, STARTTLS (RFC 3207)
  imap,  ///< CAPABILITY, STARTTLS (RFC 3501 section 6.2.1)
  pop3,  ///< CAPA, STLS (RFC 2595 section 4)
};

/// Returns "none", "smtp", "imap" or "pop3".
const char* starttls_name(StartTls protocol) noexcept;

/// Parses "none", "smtp", "imap" or "pop3". Throws Error(invalid_argument) otherwise.
StartTls parse_starttls(const std::string& text);

/// Returns the dialogue a port uses by default: smtp for 25 and 587, imap for 143,
/// pop3 for 110, none (implicit TLS) for every other port.
StartTls default_starttls(uint16_t port) noexcept;

/// Why a probe failed.
///
/// `stage` is where it failed: "resolve", "connect", "starttls", "handshake" or "total"
/// (the whole-target deadline). `reason` is one of:
/// - resolve: `nxdomain`, `no_address` (no A or AAAA record), `dns_failure` (timeout,
///   SERVFAIL, REFUSED or another error, named in `detail`). Also `invalid_name`, when
///   the resolver rejects the name (e.g. a label over 63 octets).
/// - connect: `connection_refused`, `connect_timeout`, `connect_failed` (any other
///   socket error, e.g. a network unreachable; `detail` has the errno text)
/// - starttls: `starttls_timeout`, `starttls_not_offered`, `starttls_rejected`,
///   `transient` (a 4xx reply or 421, or an IMAP BYE), `protocol_error` (a reply the
///   protocol does not allow)
/// - handshake: `handshake_timeout`, `tls_alert` (`detail` is the alert name from
///   RFC 8446 section 6, e.g. `handshake_failure`, `unrecognized_name`),
///   `protocol_error` (`detail` has OpenSSL's reason)
/// - any stage after connect: `connection_reset`, `connection_closed` (the peer closed
///   the connection early), `too_much_data` (the read cap was reached)
/// - total: `total_timeout`
struct ProbeError {
  std::string stage;
  std::string reason;
  std::string detail;
  bool transient = false;  ///< true when the same probe may succeed later
};

/// One certificate of the presented chain, in the order the server sent it.
struct ChainEntry {
  Der der;
  std::string subject;  ///< RFC 4514
  std::string issuer;   ///< RFC 4514
};

/// The outcome of probing one address of one target. `to_json` defines its JSON form.
struct ProbeResult {
  std::string host;     ///< the target as given: a DNS name or an IP literal
  uint16_t port = 0;
  std::optional<std::string> sni;  ///< the server name sent, if any
  std::string address;  ///< the IP address connected to; empty when none was reached
  StartTls starttls = StartTls::none;
  int64_t attempted_at_ms = 0;  ///< start of the probe, milliseconds since the Unix epoch (UTC)
  double elapsed_ms = 0;

  /// "valid", "expiring_soon", "hostname_mismatch", "untrusted", "not_yet_valid",
  /// "expired" (see Verdict), or "failed" when no certificate was judged.
  std::string status = "failed";
  std::optional<ProbeError> error;

  std::string protocol;  ///< "TLSv1.3" etc.; empty without a completed handshake
  std::string cipher;    ///< OpenSSL cipher name
  std::string alpn;      ///< the negotiated ALPN protocol; empty when none
  bool ocsp_stapled = false;

  std::optional<bool> trusted;              ///< unset when no chain was received
  std::string verify_error;                 ///< X509_verify_cert_error_string; empty when trusted
  int verify_error_code = 0;                ///< X509_V_ERR_*; 0 when trusted
  std::optional<bool> hostname_match;       ///< unset when no chain was received
  std::vector<ChainEntry> chain;
  std::string banner;  ///< the server's plaintext greeting in a STARTTLS dialogue

  /// SMTP only: the reply to the EHLO sent after the TLS handshake, or the reason it
  /// failed. Its failure does not fail the probe.
  std::optional<std::string> ehlo_after_tls;
  std::optional<std::string> ehlo_after_tls_error;

  std::optional<CertificateInfo> certificate;  ///< the leaf, when a chain was received
  std::optional<int64_t> days_until_expiry;
  std::vector<Finding> findings;
};

/// Serializes `result` as one JSON object (UTF-8, no newlines). Keys:
/// host, port, sni, address, starttls, attempted_at (ISO 8601 UTC with milliseconds),
/// elapsed_ms, status, error {stage, reason, detail, transient} | null, protocol,
/// cipher, alpn, ocsp_stapled, trusted, verify_error, verify_error_code,
/// hostname_match, chain [{der_base64, subject, issuer}], banner, ehlo_after_tls
/// {reply, error} | null, certificate {subject_cn, subject_o, issuer_cn, issuer_o,
/// sans [{type, value}], not_before, not_after, days_until_expiry, serial,
/// signature_algorithm, key_type, key_bits, key_curve, sha256_fingerprint,
/// spki_sha256, sct_count, ocsp_urls, crl_urls, ca_issuers_urls, key_usage,
/// extended_key_usage, self_signed} | null, findings [{code, severity, message}].
/// Empty strings of a failed probe (protocol, cipher, alpn, address, verify_error)
/// become null.
std::string to_json(const ProbeResult& result);

/// Serializes several results as one JSON array.
std::string to_json(const std::vector<ProbeResult>& results);

}  // namespace dnsscience::tls
