#pragma once

#include <string>
#include <vector>

namespace dnsscience {

/// How much a finding matters to the domain's mail security.
enum class Severity {
  error,    ///< the mechanism is broken or ineffective (permerror, no policy)
  warning,  ///< works, but weaker than intended or fragile
  info,     ///< a fact worth reporting that needs no action
};

/// Returns "error", "warning" or "info".
const char* severity_name(Severity severity) noexcept;

/// One entry of the catalogue of finding codes.
struct FindingCode {
  const char* code;      ///< stable identifier, "<check>.<condition>" ("spf.plus_all")
  Severity severity;
  const char* summary;   ///< one sentence describing the condition
};

/// The catalogue of every finding code the email checks emit, in a fixed order.
const std::vector<FindingCode>& email_finding_codes();

/// One observation about a domain's email security records.
struct Finding {
  std::string code;  ///< a code from email_finding_codes()
  Severity severity = Severity::info;
  std::string message;  ///< names the record, term or value concerned
};

/// Builds a finding for `code`, taking its severity from the catalogue.
/// Throws Error(internal) when `code` is not in the catalogue.
Finding make_finding(const std::string& code, std::string message);

}  // namespace dnsscience
