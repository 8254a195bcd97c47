#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dnsscience/email/findings.hpp"

namespace dnsscience {

/// A parsed DMARC policy record (RFC 7489 section 6.3). Invalid tag values are
/// left unset and reported in `findings`; unknown tags are ignored.
struct DmarcRecord {
  std::string text;
  /// The policy in force, lowercase: none, quarantine or reject. When p is
  /// missing or invalid (or sp is invalid) but rua has a valid URI, this is
  /// "none" and `policy_implied` is true (RFC 7489 section 6.6.3).
  std::optional<std::string> p;
  bool policy_implied = false;
  std::optional<std::string> sp;  ///< subdomain policy, lowercase
  std::optional<int> pct;         ///< 0-100
  std::vector<std::string> rua;   ///< valid URIs as written, "!size" suffix kept
  std::vector<std::string> ruf;
  std::optional<std::string> adkim;  ///< "r" or "s"
  std::optional<std::string> aspf;   ///< "r" or "s"
  std::optional<std::string> fo;     ///< colon list of 0, 1, d, s, as written
  std::optional<long long> ri;       ///< report interval in seconds
  std::vector<Finding> findings;

  /// True when the record sets a policy, explicit or implied by rua.
  bool has_policy() const { return p.has_value(); }
};

/// True when `text` starts with the tag v=DMARC1 (whitespace around "="
/// tolerated), followed by ";", whitespace or the end.
bool is_dmarc_record(std::string_view text);

/// Parses a record that passed is_dmarc_record(). Tag names are matched
/// case-insensitively; a repeated tag keeps its first value.
DmarcRecord parse_dmarc_record(std::string_view text);

}  // namespace dnsscience
