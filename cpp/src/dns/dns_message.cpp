#include "dns/dns_message.hpp"

#include <arpa/inet.h>

#include <unordered_set>

namespace dnsscience::dns {

namespace {

constexpr uint16_t kClassIn = 1;
constexpr uint16_t kTypeOpt = 41;
constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxLabel = 63;
constexpr size_t kMaxWireName = 255;
// A longer CNAME chain inside one response is treated as a loop.
constexpr size_t kMaxCnameChain = 32;

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

void append_u16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value & 0xff));
}

// Appends one presentation-form label character, escaping what would be ambiguous
// or unprintable (RFC 1035 section 5.1: "\." and "\DDD").
void append_label_char(std::string& out, uint8_t byte) {
  if (byte == '.' || byte == '\\') {
    out.push_back('\\');
    out.push_back(static_cast<char>(byte));
  } else if (byte < 0x21 || byte > 0x7e) {
    out.push_back('\\');
    out.push_back(static_cast<char>('0' + byte / 100));
    out.push_back(static_cast<char>('0' + byte / 10 % 10));
    out.push_back(static_cast<char>('0' + byte % 10));
  } else {
    out.push_back(ascii_lower(static_cast<char>(byte)));
  }
}

// Splits a presentation-form name into labels, resolving "\X" and "\DDD" escapes.
std::vector<std::string> split_labels(const std::string& name) {
  std::vector<std::string> labels;
  if (name.empty() || name == ".") return labels;
  std::string label;
  size_t i = 0;
  const size_t end = (name.back() == '.' && !(name.size() >= 2 && name[name.size() - 2] == '\\'))
                         ? name.size() - 1
                         : name.size();
  while (i < end) {
    const char c = name[i];
    if (c == '.') {
      labels.push_back(label);
      label.clear();
      ++i;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= end) {
        throw Error(ErrorKind::invalid_argument,
                    "invalid domain name '" + name + "': ends with a lone backslash");
      }
      const auto is_digit = [&](size_t at) { return at < end && name[at] >= '0' && name[at] <= '9'; };
      if (is_digit(i + 1) && is_digit(i + 2) && is_digit(i + 3)) {
        const int value = (name[i + 1] - '0') * 100 + (name[i + 2] - '0') * 10 + (name[i + 3] - '0');
        if (value > 255) {
          throw Error(ErrorKind::invalid_argument,
                      "invalid domain name '" + name + "': escape \\" + name.substr(i + 1, 3) +
                          " is over 255");
        }
        label.push_back(static_cast<char>(value));
        i += 4;
      } else {
        label.push_back(name[i + 1]);
        i += 2;
      }
      continue;
    }
    label.push_back(c);
    ++i;
  }
  labels.push_back(label);
  return labels;
}

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t offset() const { return offset_; }
  size_t remaining() const { return size_ - offset_; }

  uint8_t u8() {
    need(1, "a byte");
    return data_[offset_++];
  }
  uint16_t u16() {
    need(2, "a 16-bit field");
    const uint16_t value = static_cast<uint16_t>(data_[offset_] << 8 | data_[offset_ + 1]);
    offset_ += 2;
    return value;
  }
  uint32_t u32() {
    const uint32_t high = u16();
    return high << 16 | u16();
  }
  void skip(size_t count, const char* what) {
    need(count, what);
    offset_ += count;
  }

  // Reads a possibly compressed name at the current offset (RFC 1035 section 4.1.4)
  // and returns it in presentation form, lowercase, without the trailing dot.
  std::string name() {
    std::string out;
    size_t wire_length = 0;
    size_t position = offset_;
    bool jumped = false;
    // Each pointer must go strictly backwards, so a pointer loop is impossible and
    // the number of jumps is bounded by the message size.
    size_t lowest_target = position;
    for (;;) {
      if (position >= size_) throw MalformedMessage("name runs past the end at offset " + std::to_string(position));
      const uint8_t length = data_[position];
      if ((length & 0xc0) == 0xc0) {
        if (position + 1 >= size_) throw MalformedMessage("compression pointer cut short");
        const size_t target = static_cast<size_t>(length & 0x3f) << 8 | data_[position + 1];
        if (target >= lowest_target) {
          throw MalformedMessage("compression pointer at offset " + std::to_string(position) +
                                 " does not point backwards");
        }
        if (!jumped) offset_ = position + 2;
        jumped = true;
        lowest_target = target;
        position = target;
        continue;
      }
      if ((length & 0xc0) != 0) {
        throw MalformedMessage("unsupported label type at offset " + std::to_string(position));
      }
      wire_length += length + 1;
      if (wire_length > kMaxWireName) throw MalformedMessage("name longer than 255 octets");
      if (length == 0) {
        if (!jumped) offset_ = position + 1;
        return out;
      }
      if (position + 1 + length > size_) throw MalformedMessage("label runs past the end");
      if (!out.empty()) out.push_back('.');
      for (size_t i = 0; i < length; ++i) append_label_char(out, data_[position + 1 + i]);
      position += 1 + length;
    }
  }

 private:
  void need(size_t count, const char* what) const {
    if (remaining() < count) {
      throw MalformedMessage(std::string("message cut short reading ") + what + " at offset " +
                             std::to_string(offset_));
    }
  }

  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};

std::string ip_text(int family, const uint8_t* bytes) {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes, buffer, sizeof buffer);
  return buffer;
}

// Decodes RDATA of `record.type` that starts at the reader's offset and is
// `length` octets long, leaving the reader after it.
void decode_rdata(Reader& reader, const uint8_t* data, uint16_t length, ResourceRecord& record) {
  const size_t start = reader.offset();
  const size_t end = start + length;
  if (reader.remaining() < length) throw MalformedMessage("RDATA runs past the end");
  const auto expect_end = [&](const char* type) {
    if (reader.offset() != end) {
      throw MalformedMessage(std::string(type) + " RDATA of " + record.name + " has the wrong length");
    }
  };
  const auto keep_raw = [&] { record.rdata.assign(data + start, data + end); };

  switch (record.type) {
    case RRType::A:
      if (length != 4) throw MalformedMessage("A RDATA of " + record.name + " is not 4 octets");
      record.address = ip_text(AF_INET, data + start);
      keep_raw();
      reader.skip(length, "RDATA");
      return;
    case RRType::AAAA:
      if (length != 16) throw MalformedMessage("AAAA RDATA of " + record.name + " is not 16 octets");
      record.address = ip_text(AF_INET6, data + start);
      keep_raw();
      reader.skip(length, "RDATA");
      return;
    case RRType::CNAME:
    case RRType::NS:
    case RRType::PTR:
      record.target = reader.name();
      expect_end(rrtype_name(record.type).c_str());
      return;
    case RRType::MX:
      if (length < 3) throw MalformedMessage("MX RDATA of " + record.name + " is too short");
      record.preference = reader.u16();
      record.target = reader.name();
      expect_end("MX");
      return;
    case RRType::SOA:
      // The names in SOA RDATA may be compressed (RFC 3597 section 4), so raw
      // bytes would be meaningless out of the message. Keep the primary server.
      record.target = reader.name();
      reader.name();
      reader.skip(20, "SOA counters");
      expect_end("SOA");
      return;
    case RRType::TXT:
      // One or more <character-string>s (RFC 1035 section 3.3.14).
      if (length == 0) throw MalformedMessage("TXT RDATA of " + record.name + " is empty");
      while (reader.offset() < end) {
        const uint8_t string_length = reader.u8();
        if (reader.offset() + string_length > end) {
          throw MalformedMessage("TXT string of " + record.name + " runs past its RDATA");
        }
        record.strings.emplace_back(reinterpret_cast<const char*>(data + reader.offset()), string_length);
        reader.skip(string_length, "TXT string");
      }
      keep_raw();
      return;
    default:
      // TLSA and every type not decoded here: RDATA of types defined after RFC 1035
      // is never compressed (RFC 3597 section 4), so the raw bytes are complete.
      keep_raw();
      reader.skip(length, "RDATA");
      return;
  }
}

}  // namespace

std::string canonical_name(const std::string& name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) out.push_back(ascii_lower(c));
  if (!out.empty() && out.back() == '.' && !(out.size() >= 2 && out[out.size() - 2] == '\\')) {
    out.pop_back();
  }
  return out;
}

std::vector<uint8_t> encode_query(const std::string& name, RRType type) {
  std::vector<uint8_t> out;
  out.reserve(kHeaderSize + name.size() + 2 + 4 + 11);
  append_u16(out, 0);       // ID, set by c-ares
  out.push_back(0x01);      // RD
  out.push_back(0x20);      // AD: ask for the AD bit without DO (RFC 6840 section 5.7)
  append_u16(out, 1);       // QDCOUNT
  append_u16(out, 0);       // ANCOUNT
  append_u16(out, 0);       // NSCOUNT
  append_u16(out, 1);       // ARCOUNT: the OPT record

  size_t wire_length = 1;
  for (const std::string& label : split_labels(name)) {
    if (label.empty()) {
      throw Error(ErrorKind::invalid_argument,
                  "invalid domain name '" + name + "': empty label; pass a name such as example.com");
    }
    if (label.size() > kMaxLabel) {
      throw Error(ErrorKind::invalid_argument, "invalid domain name '" + name + "': label '" + label +
                                                   "' is longer than 63 octets");
    }
    wire_length += label.size() + 1;
    if (wire_length > kMaxWireName) {
      throw Error(ErrorKind::invalid_argument,
                  "invalid domain name '" + name + "': longer than 255 octets in wire form");
    }
    out.push_back(static_cast<uint8_t>(label.size()));
    for (char c : label) out.push_back(static_cast<uint8_t>(ascii_lower(c)));
  }
  out.push_back(0);
  append_u16(out, static_cast<uint16_t>(type));
  append_u16(out, kClassIn);

  // OPT pseudo-record (RFC 6891 section 6.1.2): root owner, payload size in the
  // class field, extended RCODE, version 0 and flags (DO clear) in the TTL, no options.
  out.push_back(0);
  append_u16(out, kTypeOpt);
  append_u16(out, kEdnsUdpPayloadSize);
  append_u16(out, 0);
  append_u16(out, 0);
  append_u16(out, 0);
  return out;
}

DnsMessage parse_message(const uint8_t* data, size_t size) {
  if (size < kHeaderSize) {
    throw MalformedMessage("only " + std::to_string(size) + " octets, shorter than the 12-octet header");
  }
  Reader reader(data, size);
  DnsMessage message;
  message.id = reader.u16();
  const uint16_t flags = reader.u16();
  message.qr = flags & 0x8000;
  message.opcode = (flags >> 11) & 0x0f;
  message.aa = flags & 0x0400;
  message.tc = flags & 0x0200;
  message.rd = flags & 0x0100;
  message.ra = flags & 0x0080;
  message.ad = flags & 0x0020;
  message.cd = flags & 0x0010;
  message.rcode = flags & 0x000f;
  const uint16_t qdcount = reader.u16();
  const uint16_t ancount = reader.u16();
  const uint16_t nscount = reader.u16();
  const uint16_t arcount = reader.u16();

  for (uint16_t i = 0; i < qdcount; ++i) {
    std::string qname = reader.name();
    const uint16_t qtype = reader.u16();
    const uint16_t qclass = reader.u16();
    if (i == 0) {
      message.qname = std::move(qname);
      message.qtype = qtype;
      message.qclass = qclass;
    }
  }

  const uint32_t record_count = uint32_t{ancount} + nscount + arcount;
  for (uint32_t i = 0; i < record_count; ++i) {
    ResourceRecord record;
    record.name = reader.name();
    const uint16_t type = reader.u16();
    const uint16_t rrclass = reader.u16();
    record.ttl = reader.u32();
    const uint16_t rdlength = reader.u16();
    record.type = static_cast<RRType>(type);

    if (i < ancount && rrclass == kClassIn) {
      decode_rdata(reader, data, rdlength, record);
      message.answers.push_back(std::move(record));
      continue;
    }
    if (i >= uint32_t{ancount} + nscount && type == kTypeOpt) {
      // The OPT TTL carries the upper 8 bits of a 12-bit RCODE (RFC 6891 section 6.1.3).
      message.has_edns = true;
      message.rcode |= static_cast<int>((record.ttl >> 24) & 0xff) << 4;
    }
    reader.skip(rdlength, "RDATA");
  }
  return message;
}

void extract_answer(const DnsMessage& message, DnsAnswer& answer) {
  answer.rcode = message.rcode;
  answer.authenticated_data = message.ad;
  answer.records.clear();
  answer.cname_chain.clear();

  // Follow CNAMEs from qname within the answer section (RFC 1034 section 3.6.2),
  // unless the query asked for the CNAME itself.
  std::string current = answer.qname;
  if (answer.qtype != RRType::CNAME) {
    std::unordered_set<std::string> seen{current};
    for (;;) {
      const ResourceRecord* alias = nullptr;
      for (const ResourceRecord& record : message.answers) {
        if (record.type == RRType::CNAME && record.name == current) {
          alias = &record;
          break;
        }
      }
      if (alias == nullptr) break;
      answer.cname_chain.push_back(current);
      current = alias->target;
      if (!seen.insert(current).second || answer.cname_chain.size() > kMaxCnameChain) {
        answer.status = DnsStatus::error;
        answer.error = "CNAME loop in the answer at " + current;
        return;
      }
    }
  }

  switch (message.rcode) {
    case kRcodeNoError:
      break;
    case kRcodeNxDomain:
      // With a CNAME chain, the RCODE belongs to the final name of the chain (RFC 6604).
      answer.status = DnsStatus::nxdomain;
      return;
    case kRcodeServFail:
      answer.status = DnsStatus::servfail;
      return;
    case kRcodeRefused:
      answer.status = DnsStatus::refused;
      return;
    default:
      answer.status = DnsStatus::error;
      answer.error = "response has RCODE " + std::to_string(message.rcode);
      return;
  }

  for (const ResourceRecord& record : message.answers) {
    if (record.type == answer.qtype && record.name == current) answer.records.push_back(record);
  }
  answer.status = answer.records.empty() ? DnsStatus::nodata : DnsStatus::data;
}

}  // namespace dnsscience::dns
