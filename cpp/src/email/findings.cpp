#include "dnsscience/email/findings.hpp"

#include <algorithm>

#include "dnsscience/email/finding_codes.hpp"
#include "dnsscience/error.hpp"

namespace dnsscience {

const char* severity_name(Severity severity) noexcept {
  switch (severity) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::info: return "info";
  }
  return "info";
}

const std::vector<FindingCode>& email_finding_codes() {
  using namespace finding;
  static const std::vector<FindingCode> kCodes = {
      {kMxNone, Severity::info, "The domain has no MX record; mail goes to its A/AAAA address, if any."},
      {kMxNullMx, Severity::info, "The domain publishes a null MX (RFC 7505): it accepts no mail."},
      {kMxNullMxMixed, Severity::error, "A null MX is published together with other MX records."},

      {kSpfNone, Severity::warning, "The domain has no SPF record."},
      {kSpfMultipleRecords, Severity::error, "The domain has more than one SPF record (permerror)."},
      {kSpfSyntaxError, Severity::error, "An SPF term violates the RFC 7208 grammar (permerror)."},
      {kSpfTooManyLookups, Severity::error, "Evaluation needs more than 10 DNS-querying terms (permerror)."},
      {kSpfTooManyVoidLookups, Severity::error, "Evaluation meets more than 2 void lookups (permerror)."},
      {kSpfTooManyMx, Severity::error, "An mx mechanism resolves to more than 10 MX names (permerror)."},
      {kSpfIncludeWithoutRecord, Severity::error, "An include target has no SPF record (permerror)."},
      {kSpfRedirectWithoutRecord, Severity::error, "A redirect target has no SPF record (permerror)."},
      {kSpfLoop, Severity::error, "An include or redirect leads back to a domain on the same path (permerror)."},
      {kSpfTemperror, Severity::warning, "A DNS lookup during SPF evaluation failed transiently (temperror)."},
      {kSpfPlusAll, Severity::error, "\"+all\" authorizes every host on the internet."},
      {kSpfNeutralAll, Severity::warning, "\"?all\" gives unauthorized senders a neutral result."},
      {kSpfNoAll, Severity::warning, "The record has neither \"all\" nor redirect=: unmatched senders are neutral."},
      {kSpfRedirectIgnored, Severity::info, "redirect= is ignored because the record has an \"all\" mechanism."},
      {kSpfPtr, Severity::warning, "The ptr mechanism is deprecated (RFC 7208 section 5.5)."},
      {kSpfSenderMacro, Severity::info, "A term depends on the sender; it was counted but not followed."},
      {kSpfModifierTypo, Severity::warning, "An unknown modifier is named like a mechanism (\"include=\"): likely a typo."},
      {kSpfUnknownModifier, Severity::info, "An unknown modifier is present; SPF ignores it."},
      {kSpfIpv6PathDiffers, Severity::warning, "IPv6 senders see a different void lookup count than IPv4 senders."},

      {kDmarcNone, Severity::warning, "The domain has no DMARC record."},
      {kDmarcMultipleRecords, Severity::error, "More than one DMARC record: no policy applies (RFC 7489 section 6.6.3)."},
      {kDmarcSyntaxError, Severity::error, "The DMARC record is not a valid tag-value list."},
      {kDmarcMissingPolicy, Severity::warning, "The record has rua but no valid p: it is treated as p=none."},
      {kDmarcInvalidPolicy, Severity::error, "The p tag is missing or not none, quarantine or reject."},
      {kDmarcInvalidSubdomainPolicy, Severity::warning, "The sp tag is not none, quarantine or reject; it is ignored."},
      {kDmarcInvalidPct, Severity::warning, "The pct tag is not an integer from 0 to 100; it is ignored."},
      {kDmarcInvalidUri, Severity::warning, "A rua or ruf entry is not a valid URI; it is ignored."},
      {kDmarcInvalidTagValue, Severity::warning, "A tag (adkim, aspf, fo, ri) has an invalid value; it is ignored."},
      {kDmarcDuplicateTag, Severity::warning, "A tag appears more than once; the first one is used."},
      {kDmarcUnknownTag, Severity::info, "An unknown tag is present; DMARC ignores it."},
      {kDmarcPolicyNone, Severity::info, "The policy is p=none: failing mail is only reported."},
      {kDmarcPartialPct, Severity::info, "pct below 100 applies the policy to part of the failing mail."},
      {kDmarcNoReporting, Severity::info, "The record has no rua: no aggregate reports are requested."},

      {kDkimNone, Severity::info, "No DKIM key was found under the probed selectors."},
      {kDkimRevokedKey, Severity::info, "A DKIM key record has an empty p= (revoked key)."},
      {kDkimTesting, Severity::info, "A DKIM key is in testing mode (t=y)."},
      {kDkimWeakKey, Severity::warning, "An RSA DKIM key is shorter than 2048 bits (RFC 8301 requires at least 1024)."},
      {kDkimInvalidKey, Severity::error, "The p= value of a DKIM key record is not a decodable public key."},
      {kDkimInvalidRecord, Severity::warning, "A TXT record under _domainkey is not a valid DKIM key record."},
      {kDkimUnknownKeyType, Severity::warning, "A DKIM key record has a k= other than rsa or ed25519."},
      {kDkimWildcardTxt, Severity::info, "Every selector returns the same non-DKIM TXT text: a wildcard, not keys."},

      {kMtaStsMultipleRecords, Severity::error, "More than one v=STSv1 record at _mta-sts (RFC 8461 section 3.1)."},
      {kMtaStsSyntaxError, Severity::error, "The _mta-sts record is invalid (v=STSv1 first, id= 1-32 alphanumerics)."},
      {kTlsRptMultipleRecords, Severity::error, "More than one v=TLSRPTv1 record at _smtp._tls (RFC 8460 section 3)."},
      {kTlsRptSyntaxError, Severity::error, "The _smtp._tls record is invalid (v=TLSRPTv1 first, rua= mailto: or https: URIs)."},
      {kBimiMultipleRecords, Severity::error, "More than one v=BIMI1 record at default._bimi."},
      {kBimiSyntaxError, Severity::error, "The BIMI record is invalid (v=BIMI1 first, l= and a= https URLs or empty)."},

      {kLookupFailed, Severity::warning, "A DNS lookup failed transiently; the result is incomplete."},
      {kDeadlineExceeded, Severity::warning, "The per-domain deadline expired before every lookup finished."},
  };
  return kCodes;
}

Finding make_finding(const std::string& code, std::string message) {
  const auto& codes = email_finding_codes();
  auto found = std::find_if(codes.begin(), codes.end(), [&](const FindingCode& entry) { return code == entry.code; });
  if (found == codes.end()) {
    throw Error(ErrorKind::internal, "finding code \"" + code + "\" is not in the catalogue of email_finding_codes()");
  }
  return Finding{code, found->severity, std::move(message)};
}

}  // namespace dnsscience
