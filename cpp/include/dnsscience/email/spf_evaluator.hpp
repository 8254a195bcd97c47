#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dnsscience/dns_types.hpp"
#include "dnsscience/email/findings.hpp"
#include "dnsscience/email/spf_record.hpp"

namespace dnsscience {

/// Results of check_host() (RFC 7208 section 2.6).
enum class SpfResult { none, neutral, pass, fail, softfail, permerror, temperror };

/// Returns the lowercase name of `result` ("softfail").
const char* spf_result_name(SpfResult result) noexcept;

/// The values macros expand to (RFC 7208 section 7.2).
struct SpfMacroContext {
  std::string sender;         ///< s: "local-part@domain"
  std::string local_part;     ///< l
  std::string sender_domain;  ///< o
  std::string domain;         ///< d: the domain currently evaluated
  std::optional<IpAddress> ip;  ///< i, c, v; absent in worst-case evaluation
  std::string validated_name = "unknown";  ///< p: the validated name of ip
  std::string helo;           ///< h
  std::string receiver = "unknown";  ///< r
  long long timestamp = 0;    ///< t: seconds since the epoch
};

/// Expands macro-string `text` (RFC 7208 section 7.3). It must have passed
/// check_macro_string(). An uppercase macro letter URL-escapes its value.
std::string expand_spf_macros(const std::string& text, const SpfMacroContext& context);

/// Applies the rules for a macro-expanded domain name: drops one trailing dot
/// and removes leading labels until the name is at most 253 characters
/// (RFC 7208 section 7.3).
std::string finish_expanded_domain(std::string name);

/// True when `text` contains a macro whose value depends on the sender or the
/// client (every letter but d).
bool spf_macro_depends_on_sender(const std::string& text);

/// Inputs of one evaluation. Without `ip` the evaluator computes the worst case,
/// the result for a client address that no ip4, ip6, a, mx, ptr or exists
/// mechanism matches. It still sends every DNS query those terms need, so
/// lookup counts and limits are exact.
struct SpfRequest {
  std::string domain;  ///< normalized, without the trailing dot
  std::optional<IpAddress> ip;
  std::string sender;  ///< MAIL FROM; "postmaster@<helo>" when empty
  std::string helo;
  std::string receiver = "unknown";
  long long timestamp = 0;
};

/// Limits of RFC 7208 section 4.6.4.
struct SpfLimits {
  int max_dns_terms = 10;    ///< include, a, mx, ptr, exists, redirect
  int max_void_lookups = 2;  ///< NXDOMAIN or empty answers
  int max_mx_names = 10;     ///< per mx mechanism; more is permerror
  int max_ptr_names = 10;    ///< per ptr mechanism or %{p}; the rest are ignored
};

/// The outcome of check_host() for the top-level domain.
struct SpfEvaluation {
  SpfResult result = SpfResult::none;
  std::string explanation;  ///< fail only: the expanded exp= text, or empty
  std::string problem;      ///< permerror, temperror: what caused it
  int lookup_count = 0;     ///< DNS-querying terms evaluated
  int void_lookup_count = 0;
  /// Worst case only: void lookups on the IPv6 path (AAAA instead of A for a
  /// and mx targets). Equal to void_lookup_count when the paths agree.
  int void_lookup_count_ipv6 = 0;
  /// The qualifier of the `all` mechanism that decided the result, if any.
  std::optional<SpfQualifier> all_qualifier;
  /// Status of the TXT lookup at the top-level domain.
  DnsStatus record_status = DnsStatus::data;
  /// The worst status over every DNS query whose answer was used (data <
  /// nodata < nxdomain < refused < servfail < error < timeout).
  DnsStatus worst_status = DnsStatus::data;
  std::vector<std::string> records;  ///< every SPF record at the top-level domain
  std::vector<Finding> findings;
};

/// check_host() of RFC 7208 section 4 over an asynchronous Resolver.
///
/// Queries for the terms of a record are sent together as soon as the record
/// is parsed; the answers are consumed in term order, so counts, limits and
/// results are deterministic. All callbacks run on the resolver's loop thread.
/// The evaluator object may be destroyed before `done` runs; the evaluation
/// keeps its own state alive.
class SpfEvaluator {
 public:
  SpfEvaluator(Resolver& resolver, SpfLimits limits = {}) : resolver_(resolver), limits_(limits) {}

  /// Evaluates `request` and calls `done` exactly once with the outcome.
  void evaluate(const SpfRequest& request, std::function<void(SpfEvaluation)> done);

 private:
  Resolver& resolver_;
  SpfLimits limits_;
};

}  // namespace dnsscience
