#include "dnsscience/tls/probe_result.hpp"

#include <ctime>
#include <nlohmann/json.hpp>

#include "dnsscience/error.hpp"
#include "tls/openssl_util.hpp"

namespace dnsscience::tls {

using nlohmann::json;

const char* starttls_name(StartTls protocol) noexcept {
  switch (protocol) {
    case StartTls::none:
      return "none";
    case StartTls::smtp:
      return "smtp";
    case StartTls::imap:
      return "imap";
    case StartTls::pop3:
      return "pop3";
  }
  return "none";
}

StartTls parse_starttls(const std::string& text) {
  if (text == "none") return StartTls::none;
  if (text == "smtp") return StartTls::smtp;
  if (text == "imap") return StartTls::imap;
  if (text == "pop3") return StartTls::pop3;
  throw Error(ErrorKind::invalid_argument,
              "invalid starttls value '" + text + "'; use \"smtp\", \"imap\", \"pop3\" or \"none\"");
}

StartTls default_starttls(uint16_t port) noexcept {
  switch (port) {
    case 25:
    case 587:
      return StartTls::smtp;
    case 143:
      return StartTls::imap;
    case 110:
      return StartTls::pop3;
    default:
      return StartTls::none;
  }
}

namespace {

json string_or_null(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

template <typename T>
json optional_or_null(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

std::string format_epoch_ms(int64_t epoch_ms) {
  const std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[40];
  const size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
  std::snprintf(text + length, sizeof text - length, ".%03dZ", static_cast<int>(epoch_ms % 1000));
  return text;
}

json certificate_json(const CertificateInfo& info, const std::optional<int64_t>& days) {
  json sans = json::array();
  for (const auto& san : info.sans) sans.push_back({{"type", san.type}, {"value", san.value}});
  return {
      {"subject_cn", optional_or_null(info.subject_cn)},
      {"subject_o", optional_or_null(info.subject_o)},
      {"issuer_cn", optional_or_null(info.issuer_cn)},
      {"issuer_o", optional_or_null(info.issuer_o)},
      {"sans", sans},
      {"not_before", info.not_before ? json(format_utc(*info.not_before)) : json(nullptr)},
      {"not_after", info.not_after ? json(format_utc(*info.not_after)) : json(nullptr)},
      {"days_until_expiry", optional_or_null(days)},
      {"serial", string_or_null(info.serial)},
      {"signature_algorithm", string_or_null(info.signature_algorithm)},
      {"key_type", string_or_null(info.key_type)},
      {"key_bits", info.key_bits > 0 ? json(info.key_bits) : json(nullptr)},
      {"key_curve", optional_or_null(info.key_curve)},
      {"sha256_fingerprint", info.sha256_fingerprint},
      {"spki_sha256", string_or_null(info.spki_sha256)},
      {"sct_count", info.sct_count},
      {"ocsp_urls", info.ocsp_urls},
      {"crl_urls", info.crl_urls},
      {"ca_issuers_urls", info.ca_issuers_urls},
      {"key_usage", info.key_usage},
      {"extended_key_usage", info.extended_key_usage},
      {"self_signed", info.self_signed},
  };
}

json result_json(const ProbeResult& result) {
  json error = nullptr;
  if (result.error) {
    error = {{"stage", result.error->stage},
             {"reason", result.error->reason},
             {"detail", result.error->detail},
             {"transient", result.error->transient}};
  }
  json chain = json::array();
  for (const auto& entry : result.chain) {
    chain.push_back({{"der_base64", detail::to_base64(entry.der)},
                     {"subject", entry.subject},
                     {"issuer", entry.issuer}});
  }
  json findings = json::array();
  for (const auto& finding : result.findings) {
    findings.push_back(
        {{"code", finding.code}, {"severity", finding.severity}, {"message", finding.message}});
  }
  json ehlo = nullptr;
  if (result.ehlo_after_tls || result.ehlo_after_tls_error) {
    ehlo = {{"reply", optional_or_null(result.ehlo_after_tls)},
            {"error", optional_or_null(result.ehlo_after_tls_error)}};
  }
  return {
      {"host", result.host},
      {"port", result.port},
      {"sni", optional_or_null(result.sni)},
      {"address", string_or_null(result.address)},
      {"starttls", starttls_name(result.starttls)},
      {"attempted_at", format_epoch_ms(result.attempted_at_ms)},
      {"elapsed_ms", result.elapsed_ms},
      {"status", result.status},
      {"error", error},
      {"protocol", string_or_null(result.protocol)},
      {"cipher", string_or_null(result.cipher)},
      {"alpn", string_or_null(result.alpn)},
      {"ocsp_stapled", result.ocsp_stapled},
      {"trusted", optional_or_null(result.trusted)},
      {"verify_error", string_or_null(result.verify_error)},
      {"verify_error_code", result.trusted.value_or(true) ? json(nullptr)
                                                          : json(result.verify_error_code)},
      {"hostname_match", optional_or_null(result.hostname_match)},
      {"chain", chain},
      {"banner", string_or_null(result.banner)},
      {"ehlo_after_tls", ehlo},
      {"certificate",
       result.certificate ? certificate_json(*result.certificate, result.days_until_expiry)
                          : json(nullptr)},
      {"findings", findings},
  };
}

}  // namespace

std::string to_json(const ProbeResult& result) {
  // Replace invalid UTF-8 (a banner may be binary) instead of throwing.
  return result_json(result).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string to_json(const std::vector<ProbeResult>& results) {
  json array = json::array();
  for (const auto& result : results) array.push_back(result_json(result));
  return array.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace dnsscience::tls
