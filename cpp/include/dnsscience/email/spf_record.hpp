#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dnsscience {

/// SPF mechanism qualifier (RFC 7208 section 4.6.2).
enum class SpfQualifier : char { pass = '+', fail = '-', softfail = '~', neutral = '?' };

/// SPF mechanisms (RFC 7208 section 5).
enum class SpfMechanism { all, include, a, mx, ptr, ip4, ip6, exists };

/// Returns the mechanism's name as written in records ("include").
const char* spf_mechanism_name(SpfMechanism mechanism) noexcept;

/// An IPv4 or IPv6 address in network byte order. IPv4 uses the first 4 bytes.
struct IpAddress {
  bool is_v6 = false;
  std::array<uint8_t, 16> bytes{};

  /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text. An IPv4-mapped IPv6
  /// address (::ffff:192.0.2.1) stays IPv6 here; see ipv4_mapped().
  static std::optional<IpAddress> parse(std::string_view text);
  /// Returns the IPv4 address inside an IPv4-mapped IPv6 address, if this is one.
  std::optional<IpAddress> ipv4_mapped() const;
  /// True when the first `prefix_length` bits equal those of `other` (same family).
  bool in_network(const IpAddress& other, int prefix_length) const;
  /// Returns the canonical text: dotted quad, or RFC 5952 lowercase IPv6.
  std::string to_string() const;
};

/// One directive or modifier of an SPF record, as parsed.
struct SpfTerm {
  std::string text;  ///< the term as written in the record
  bool is_modifier = false;

  // Directive fields.
  SpfQualifier qualifier = SpfQualifier::pass;
  SpfMechanism mechanism = SpfMechanism::all;
  /// The domain-spec (include, a, mx, ptr, exists) or the network (ip4, ip6) as
  /// written, macros unexpanded; empty when the term has none (a, mx, ptr default
  /// to the current domain).
  std::string argument;
  int cidr4 = -1;  ///< IPv4 prefix length, -1 when not written
  int cidr6 = -1;  ///< IPv6 prefix length, -1 when not written
  IpAddress network;  ///< ip4 and ip6: the parsed address

  // Modifier fields.
  std::string modifier_name;  ///< lowercase
  std::string modifier_value; ///< macro-string as written

  /// True for the terms that count against the limit of 10 DNS-querying terms
  /// (RFC 7208 section 4.6.4): include, a, mx, ptr, exists and redirect.
  bool queries_dns() const;
};

/// A syntax error with the term it was found in.
struct SpfSyntaxError {
  std::string term;
  std::string message;
};

/// A parsed SPF record (RFC 7208 section 12). Parsing never throws: syntax
/// errors are collected, and a record with any error evaluates to permerror.
struct SpfRecord {
  std::string text;
  std::vector<SpfTerm> terms;  ///< directives and modifiers in record order
  std::vector<SpfSyntaxError> errors;
  std::optional<std::string> redirect;     ///< domain-spec of redirect=
  std::optional<std::string> explanation;  ///< domain-spec of exp=

  bool valid() const { return errors.empty(); }
  /// True when the record has an `all` mechanism (which makes redirect= ignored).
  bool has_all() const;
};

/// True when `text` is an SPF record: "v=spf1" (any case) followed by a space
/// or the end of the text (RFC 7208 section 4.5). "v=spf10" is not one.
bool is_spf_record(std::string_view text);

/// Parses `text`, which must pass is_spf_record(), term by term per the ABNF of
/// RFC 7208 section 12, including macro-string syntax and CIDR lengths.
SpfRecord parse_spf_record(std::string_view text);

/// Checks `text` against the macro-string grammar (RFC 7208 section 7.1).
/// `explanation` allows the c, r and t letters, which only explanation strings
/// may use. Returns an error message, or an empty string when valid.
std::string check_macro_string(std::string_view text, bool explanation);

/// Checks `text` against the domain-spec grammar: a macro-string ending in a
/// macro-expand or in "." toplabel with an optional trailing dot. Returns an
/// error message, or an empty string when valid.
std::string check_domain_spec(std::string_view text);

/// True when the lowercase `modifier_name` is a mechanism name, so that the term
/// ("include=", "ip4=") is likely a typo which SPF ignores as an unknown modifier.
bool spf_modifier_looks_like_mechanism(std::string_view modifier_name);

}  // namespace dnsscience
