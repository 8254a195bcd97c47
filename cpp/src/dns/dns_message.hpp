#pragma once

// Encoding of DNS queries and decoding of DNS responses (RFC 1035 section 4),
// independent of c-ares so that the engine behaves the same on every c-ares version.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dnsscience/dns_types.hpp"
#include "dnsscience/error.hpp"

namespace dnsscience::dns {

/// The EDNS UDP payload size advertised in queries (the 2020 DNS flag day value,
/// which avoids IP fragmentation on common paths).
inline constexpr uint16_t kEdnsUdpPayloadSize = 1232;

/// RCODE values used by the engine (RFC 1035 section 4.1.1).
inline constexpr int kRcodeNoError = 0;
inline constexpr int kRcodeFormErr = 1;
inline constexpr int kRcodeServFail = 2;
inline constexpr int kRcodeNxDomain = 3;
inline constexpr int kRcodeNotImp = 4;
inline constexpr int kRcodeRefused = 5;

/// A DNS message that could not be decoded. Never leaves the DNS engine: the engine
/// turns it into DnsStatus::error.
class MalformedMessage : public Error {
 public:
  explicit MalformedMessage(const std::string& reason)
      : Error(ErrorKind::invalid_argument, "malformed DNS message: " + reason) {}
};

/// A decoded response: the header fields, the question and the answer section.
struct DnsMessage {
  uint16_t id = 0;
  bool qr = false;  ///< response flag
  int opcode = 0;
  bool aa = false;
  bool tc = false;
  bool rd = false;
  bool ra = false;
  bool ad = false;
  bool cd = false;
  int rcode = 0;  ///< the 4-bit header RCODE extended by the OPT record's upper 8 bits
  bool has_edns = false;
  std::string qname;  ///< lowercase, no trailing dot; empty for the root or no question
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  /// Class IN records of the answer section, in message order.
  std::vector<ResourceRecord> answers;
};

/// Encodes a standard query for `name` (presentation form, one trailing dot
/// allowed) and `type`, class IN, with RD and AD set and an EDNS OPT record
/// advertising kEdnsUdpPayloadSize without the DO bit. The ID is 0 (c-ares sets it).
/// Throws Error(invalid_argument) for an empty label, a label over 63 octets or a
/// name over 255 octets in wire form.
std::vector<uint8_t> encode_query(const std::string& name, RRType type);

/// Decodes a response. Throws MalformedMessage for a message that is cut short,
/// has a bad compression pointer or label, or RDATA that does not match its type.
/// Bytes after the last record are ignored.
DnsMessage parse_message(const uint8_t* data, size_t size);

/// Returns `name` lowercased (ASCII only) without one trailing dot.
std::string canonical_name(const std::string& name);

/// Fills records, cname_chain and status of `answer` from a decoded response to a
/// query for answer.qname and answer.qtype: follows the CNAME chain inside the answer
/// section from qname and keeps only records of qtype owned by the final name.
void extract_answer(const DnsMessage& message, DnsAnswer& answer);

}  // namespace dnsscience::dns
