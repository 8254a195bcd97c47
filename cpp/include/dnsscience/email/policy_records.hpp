#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dnsscience {

/// The MTA-STS TXT record at `_mta-sts.<domain>` (RFC 8461 section 3.1).
struct MtaStsRecord {
  std::string text;
  std::string id;          ///< the policy id, 1-32 alphanumerics when valid
  std::string problem;     ///< empty when the record is valid
  bool valid() const { return problem.empty(); }
};

/// The TLS-RPT TXT record at `_smtp._tls.<domain>` (RFC 8460 section 3).
struct TlsRptRecord {
  std::string text;
  std::vector<std::string> rua;  ///< mailto: and https: URIs
  std::string problem;
  bool valid() const { return problem.empty(); }
};

/// The BIMI assertion record at `default._bimi.<domain>`.
struct BimiRecord {
  std::string text;
  std::string location;   ///< l=: https URL of the SVG logo, or empty (declined)
  std::string authority;  ///< a=: https URL of the mark certificate, or empty
  std::string problem;
  bool valid() const { return problem.empty(); }
};

/// True when `text` starts with v=STSv1 (exact case) followed by ";", whitespace or the end.
bool is_mta_sts_record(std::string_view text);
/// True when `text` starts with v=TLSRPTv1 (exact case) followed by ";", whitespace or the end.
bool is_tls_rpt_record(std::string_view text);
/// True when `text` starts with v=BIMI1 (any case) followed by ";", whitespace or the end.
bool is_bimi_record(std::string_view text);

/// Parses a record that passed is_mta_sts_record(): v=STSv1 first, then a
/// required id= of 1-32 letters and digits; other fields are extensions.
MtaStsRecord parse_mta_sts_record(std::string_view text);
/// Parses a record that passed is_tls_rpt_record(): v=TLSRPTv1 first, then a
/// required rua= list of comma-separated mailto: or https: URIs.
TlsRptRecord parse_tls_rpt_record(std::string_view text);
/// Parses a record that passed is_bimi_record(): v=BIMI1 first; l= and a=
/// must be https:// URLs or empty.
BimiRecord parse_bimi_record(std::string_view text);

}  // namespace dnsscience
