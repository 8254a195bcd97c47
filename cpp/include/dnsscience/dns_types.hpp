#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dnsscience {

/// Resource record types the core queries (RFC 1035 section 3.2.2 and later RFCs).
enum class RRType : uint16_t {
  A = 1,
  NS = 2,
  CNAME = 5,
  SOA = 6,
  PTR = 12,
  MX = 15,
  TXT = 16,
  AAAA = 28,
  TLSA = 52,
};

/// Returns the mnemonic of `type` ("TXT"), or "TYPE<n>" for other values.
std::string rrtype_name(RRType type);

/// Outcome of one query. Every value but `data` means the answer section had no
/// record of the requested type.
enum class DnsStatus {
  data,      ///< NOERROR with at least one record of the requested type
  nodata,    ///< NOERROR without a record of the requested type (RFC 2308 NODATA)
  nxdomain,  ///< RCODE 3: the name does not exist
  servfail,  ///< RCODE 2
  refused,   ///< RCODE 5
  timeout,   ///< no answer from any nameserver within the deadline, and no try failed outright
  error,     ///< any other failure: FORMERR, NOTIMP, a malformed answer, a network error on any try
};

/// Returns the lowercase name of `status` ("nxdomain").
const char* dns_status_name(DnsStatus status) noexcept;

/// True for outcomes that a later query may change (timeout, SERVFAIL, REFUSED, error).
bool dns_status_transient(DnsStatus status) noexcept;

/// One record of an answer section, with its data decoded by type.
struct ResourceRecord {
  std::string name;  ///< owner name, lowercase, without the trailing dot
  RRType type = RRType::A;
  uint32_t ttl = 0;
  /// TXT: the character-strings as sent, boundaries kept. Join them with nothing
  /// in between to get the record's text (RFC 7208 section 3.3).
  std::vector<std::string> strings;
  /// CNAME, NS, PTR: the target; MX: the exchange. Lowercase, no trailing dot;
  /// the root (a null MX, RFC 7505) is the empty string.
  std::string target;
  uint16_t preference = 0;  ///< MX preference
  std::string address;      ///< A and AAAA: the address in text form
  std::vector<uint8_t> rdata;  ///< the raw RDATA (TLSA and other types decode from it)

  /// Returns the TXT strings joined with nothing in between.
  std::string text() const;
};

/// The result of one query.
struct DnsAnswer {
  std::string qname;  ///< the name as queried, lowercase, without the trailing dot
  RRType qtype = RRType::A;
  DnsStatus status = DnsStatus::error;
  int rcode = -1;                       ///< the RCODE of the last response; -1 when none arrived
  bool authenticated_data = false;      ///< the AD bit of the response
  bool truncated_retried_over_tcp = false;
  /// Records of type qtype from the answer section, after following any CNAME chain.
  std::vector<ResourceRecord> records;
  /// The CNAME owner names followed from qname to the final name, in order.
  std::vector<std::string> cname_chain;
  std::string server;     ///< the nameserver (ip:port) that sent the response used
  int tries = 0;          ///< how many times the query was sent
  double elapsed_ms = 0;  ///< from the first send to the final outcome
  std::string error;      ///< details when status is error or timeout
};

/// Asynchronous DNS lookups. The DNS engine implements it on c-ares; tests
/// implement it with in-memory zones.
class Resolver {
 public:
  using Callback = std::function<void(DnsAnswer)>;
  virtual ~Resolver() = default;

  /// Queries `name` (absolute; no search list is applied) for `type`. The callback
  /// runs exactly once, on the resolver's event loop thread, possibly before
  /// query() returns.
  virtual void query(const std::string& name, RRType type, Callback callback) = 0;
};

}  // namespace dnsscience
