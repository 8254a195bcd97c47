#include "dnsscience/dns_types.hpp"

namespace dnsscience {

std::string rrtype_name(RRType type) {
  switch (type) {
    case RRType::A:
      return "A";
    case RRType::NS:
      return "NS";
    case RRType::CNAME:
      return "CNAME";
    case RRType::SOA:
      return "SOA";
    case RRType::PTR:
      return "PTR";
    case RRType::MX:
      return "MX";
    case RRType::TXT:
      return "TXT";
    case RRType::AAAA:
      return "AAAA";
    case RRType::TLSA:
      return "TLSA";
  }
  // RFC 3597 section 5 notation for types without a mnemonic.
  return "TYPE" + std::to_string(static_cast<uint16_t>(type));
}

const char* dns_status_name(DnsStatus status) noexcept {
  switch (status) {
    case DnsStatus::data:
      return "data";
    case DnsStatus::nodata:
      return "nodata";
    case DnsStatus::nxdomain:
      return "nxdomain";
    case DnsStatus::servfail:
      return "servfail";
    case DnsStatus::refused:
      return "refused";
    case DnsStatus::timeout:
      return "timeout";
    case DnsStatus::error:
      return "error";
  }
  return "error";
}

bool dns_status_transient(DnsStatus status) noexcept {
  switch (status) {
    case DnsStatus::timeout:
    case DnsStatus::servfail:
    case DnsStatus::refused:
    case DnsStatus::error:
      return true;
    case DnsStatus::data:
    case DnsStatus::nodata:
    case DnsStatus::nxdomain:
      return false;
  }
  return true;
}

std::string ResourceRecord::text() const {
  std::string joined;
  for (const std::string& part : strings) joined += part;
  return joined;
}

}  // namespace dnsscience
