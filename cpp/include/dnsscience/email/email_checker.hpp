#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dnsscience/dns_types.hpp"
#include "dnsscience/email/dkim.hpp"
#include "dnsscience/email/dmarc.hpp"
#include "dnsscience/email/findings.hpp"
#include "dnsscience/email/policy_records.hpp"
#include "dnsscience/email/spf_evaluator.hpp"
#include "dnsscience/event_loop.hpp"

namespace dnsscience {

/// Settings of an EmailChecker.
struct EmailOptions {
  /// Selectors probed at `<selector>._domainkey.<domain>`.
  std::vector<std::string> dkim_selectors = default_dkim_selectors();
  /// Deadline for all lookups of one domain; unfinished lookups count as timed out.
  std::chrono::milliseconds domain_timeout{10000};
  SpfLimits spf_limits;
};

/// One MX record that names a host.
struct MxHost {
  uint16_t preference = 0;
  std::string exchange;  ///< lowercase, without the trailing dot
};

/// Status of each lookup group of one domain check.
struct EmailLookups {
  DnsStatus mx = DnsStatus::timeout;
  /// The TXT lookup at the domain, or the worst transient status of any query
  /// made while evaluating the SPF tree.
  DnsStatus spf = DnsStatus::timeout;
  DnsStatus dmarc = DnsStatus::timeout;
  /// A transient status if any selector failed transiently, else data if any
  /// selector has TXT records, else nodata or nxdomain.
  DnsStatus dkim = DnsStatus::timeout;
  DnsStatus mta_sts = DnsStatus::timeout;
  DnsStatus tls_rpt = DnsStatus::timeout;
  DnsStatus bimi = DnsStatus::timeout;
};

/// The email security records of one domain. to_json() renders it in the
/// format that the store and the Python package read.
struct EmailResult {
  std::string domain;
  std::string checked_at;  ///< ISO 8601 UTC with seconds, "2026-12-04T20:00:00Z"
  double elapsed_ms = 0;
  /// True when every lookup finished definitively (data, nodata or nxdomain).
  bool complete = false;
  std::optional<std::string> error;  ///< set when the whole check failed (invalid name)
  EmailLookups lookups;

  std::vector<MxHost> mx;  ///< by preference, ties in answer order; no null MX
  bool null_mx = false;    ///< an MX with the root as target (RFC 7505) was published

  std::vector<std::string> spf_records;  ///< every v=spf1 record, in answer order
  SpfResult spf_result = SpfResult::none;  ///< worst case: a sender no mechanism but "all" matches
  int spf_lookup_count = 0;
  int spf_void_lookup_count = 0;
  std::optional<SpfQualifier> spf_all;  ///< qualifier of the top-level "all", if any
  bool spf_valid = false;  ///< one record, valid syntax, no permerror or temperror

  std::vector<std::string> dmarc_records;  ///< every v=DMARC1 record
  std::optional<DmarcRecord> dmarc;        ///< the record in force: exactly one, with a policy

  std::vector<DkimKey> dkim;  ///< selectors whose TXT is a DKIM key record, revoked ones included

  std::vector<std::string> mta_sts_records;
  std::optional<MtaStsRecord> mta_sts;  ///< the single valid record
  std::vector<std::string> tls_rpt_records;
  std::optional<TlsRptRecord> tls_rpt;
  std::vector<std::string> bimi_records;
  std::optional<BimiRecord> bimi;

  std::vector<Finding> findings;

  bool has_mx() const { return !mx.empty(); }
  /// True when at least one selector has an unrevoked key with a usable p=.
  bool has_dkim() const;
};

/// Returns the result for a domain that could not be checked: `error` set,
/// complete true (retrying does not help), every has_* false and every lookup
/// status "error" because no query was sent.
EmailResult email_error_result(const std::string& input, const std::string& message);

/// Renders `result` as the JSON object documented in the email result contract
/// (domain, checked_at, elapsed_ms, complete, error, lookups, has_mx, ...).
std::string to_json(const EmailResult& result);

/// Checks the MX, SPF, DMARC, DKIM, MTA-STS, TLS-RPT and BIMI records of
/// domains over a Resolver, with every lookup of a domain in parallel.
///
/// Construct and call check() on the loop thread of `resolver` and `loop`; the
/// checker must outlive the checks it started.
class EmailChecker {
 public:
  /// Throws Error(invalid_argument) when domain_timeout is not positive or a
  /// selector is not a valid DNS name fragment.
  EmailChecker(Resolver& resolver, EventLoop& loop, EmailOptions options = {});

  /// Checks `domain`, which must be normalized (normalize_domain()), and calls
  /// `done` exactly once on the loop thread: when every lookup has finished or
  /// when the per-domain deadline expires, whichever is first.
  void check(const std::string& domain, std::function<void(EmailResult)> done);

 private:
  Resolver& resolver_;
  EventLoop& loop_;
  EmailOptions options_;
};

}  // namespace dnsscience
