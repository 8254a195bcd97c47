#pragma once

// The finding codes of the email checks. The catalogue with severities and
// summaries is in findings.cpp; every code here must appear there.
namespace dnsscience::finding {

inline constexpr const char* kMxNone = "mx.none";
inline constexpr const char* kMxNullMx = "mx.null_mx";
inline constexpr const char* kMxNullMxMixed = "mx.null_mx_mixed";

inline constexpr const char* kSpfNone = "spf.none";
inline constexpr const char* kSpfMultipleRecords = "spf.multiple_records";
inline constexpr const char* kSpfSyntaxError = "spf.syntax_error";
inline constexpr const char* kSpfTooManyLookups = "spf.too_many_lookups";
inline constexpr const char* kSpfTooManyVoidLookups = "spf.too_many_void_lookups";
inline constexpr const char* kSpfTooManyMx = "spf.too_many_mx";
inline constexpr const char* kSpfIncludeWithoutRecord = "spf.include_without_record";
inline constexpr const char* kSpfRedirectWithoutRecord = "spf.redirect_without_record";
inline constexpr const char* kSpfLoop = "spf.loop";
inline constexpr const char* kSpfTemperror = "spf.temperror";
inline constexpr const char* kSpfPlusAll = "spf.plus_all";
inline constexpr const char* kSpfNeutralAll = "spf.neutral_all";
inline constexpr const char* kSpfNoAll = "spf.no_all";
inline constexpr const char* kSpfRedirectIgnored = "spf.redirect_ignored";
inline constexpr const char* kSpfPtr = "spf.ptr";
inline constexpr const char* kSpfSenderMacro = "spf.sender_macro";
inline constexpr const char* kSpfModifierTypo = "spf.modifier_typo";
inline constexpr const char* kSpfUnknownModifier = "spf.unknown_modifier";
inline constexpr const char* kSpfIpv6PathDiffers = "spf.ipv6_path_differs";

inline constexpr const char* kDmarcNone = "dmarc.none";
inline constexpr const char* kDmarcMultipleRecords = "dmarc.multiple_records";
inline constexpr const char* kDmarcSyntaxError = "dmarc.syntax_error";
inline constexpr const char* kDmarcMissingPolicy = "dmarc.missing_policy";
inline constexpr const char* kDmarcInvalidPolicy = "dmarc.invalid_policy";
inline constexpr const char* kDmarcInvalidSubdomainPolicy = "dmarc.invalid_subdomain_policy";
inline constexpr const char* kDmarcInvalidPct = "dmarc.invalid_pct";
inline constexpr const char* kDmarcInvalidUri = "dmarc.invalid_uri";
inline constexpr const char* kDmarcInvalidTagValue = "dmarc.invalid_tag_value";
inline constexpr const char* kDmarcDuplicateTag = "dmarc.duplicate_tag";
inline constexpr const char* kDmarcUnknownTag = "dmarc.unknown_tag";
inline constexpr const char* kDmarcPolicyNone = "dmarc.policy_none";
inline constexpr const char* kDmarcPartialPct = "dmarc.partial_pct";
inline constexpr const char* kDmarcNoReporting = "dmarc.no_reporting";

inline constexpr const char* kDkimNone = "dkim.none";
inline constexpr const char* kDkimRevokedKey = "dkim.revoked_key";
inline constexpr const char* kDkimTesting = "dkim.testing";
inline constexpr const char* kDkimWeakKey = "dkim.weak_key";
inline constexpr const char* kDkimInvalidKey = "dkim.invalid_key";
inline constexpr const char* kDkimInvalidRecord = "dkim.invalid_record";
inline constexpr const char* kDkimUnknownKeyType = "dkim.unknown_key_type";
inline constexpr const char* kDkimWildcardTxt = "dkim.wildcard_txt";

inline constexpr const char* kMtaStsMultipleRecords = "mta_sts.multiple_records";
inline constexpr const char* kMtaStsSyntaxError = "mta_sts.syntax_error";
inline constexpr const char* kTlsRptMultipleRecords = "tls_rpt.multiple_records";
inline constexpr const char* kTlsRptSyntaxError = "tls_rpt.syntax_error";
inline constexpr const char* kBimiMultipleRecords = "bimi.multiple_records";
inline constexpr const char* kBimiSyntaxError = "bimi.syntax_error";

inline constexpr const char* kLookupFailed = "email.lookup_failed";
inline constexpr const char* kDeadlineExceeded = "email.deadline_exceeded";

}  // namespace dnsscience::finding
