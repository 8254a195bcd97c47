#include "dns/dns_message.hpp"

#include <gtest/gtest.h>

#include "dns_test_support.hpp"

namespace dnsscience {
namespace {

using dns::DnsMessage;
using dns::MalformedMessage;
using dns::parse_message;
using testing::WireBuilder;

DnsMessage parse(const std::vector<uint8_t>& bytes) { return parse_message(bytes.data(), bytes.size()); }

// A response header plus the question for `qname`/`qtype`; the question's name
// starts at offset 12, which compression pointers in the tests refer to.
WireBuilder response_start(const std::string& qname, RRType qtype, uint16_t ancount, int rcode = 0,
                           uint16_t extra_flags = 0) {
  WireBuilder builder;
  builder.header(0x1234, static_cast<uint16_t>(0x8180 | extra_flags | rcode), 1, ancount, 0, 0);
  builder.name(qname).u16(static_cast<uint16_t>(qtype)).u16(1);
  return builder;
}

DnsAnswer extract(const DnsMessage& message, const std::string& qname, RRType qtype) {
  DnsAnswer answer;
  answer.qname = qname;
  answer.qtype = qtype;
  dns::extract_answer(message, answer);
  return answer;
}

TEST(DnsMessage, EncodesQueryWithEdnsAndAdBit) {
  const std::vector<uint8_t> query = dns::encode_query("Example.COM.", RRType::MX);
  const DnsMessage parsed = parse(query);
  EXPECT_FALSE(parsed.qr);
  EXPECT_TRUE(parsed.rd);
  EXPECT_TRUE(parsed.ad);
  EXPECT_EQ(parsed.qname, "example.com");
  EXPECT_EQ(parsed.qtype, 15);
  EXPECT_EQ(parsed.qclass, 1);
  EXPECT_TRUE(parsed.has_edns);
  // OPT class field: the advertised UDP payload size.
  const size_t opt_class_offset = query.size() - 8;
  EXPECT_EQ(query[opt_class_offset] << 8 | query[opt_class_offset + 1], dns::kEdnsUdpPayloadSize);
}

TEST(DnsMessage, EncodeRejectsBadNames) {
  EXPECT_THROW(dns::encode_query("a..b", RRType::A), Error);
  EXPECT_THROW(dns::encode_query(std::string(64, 'a') + ".com", RRType::A), Error);
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'a') + ".";
  EXPECT_THROW(dns::encode_query(long_name, RRType::A), Error);
  EXPECT_NO_THROW(dns::encode_query("_dmarc.example.com", RRType::TXT));
}

TEST(DnsMessage, TxtKeepsEachCharacterString) {
  WireBuilder builder = response_start("example.com", RRType::TXT, 2);
  builder.pointer(12).u16(16).u16(1).u32(300);
  const auto rdata = testing::txt_rdata({"v=spf1 include:a.example ", "include:b.example -all"});
  builder.u16(static_cast<uint16_t>(rdata.size())).raw(rdata);
  builder.record("example.com", RRType::TXT, 300, testing::txt_rdata({""}));

  const DnsMessage message = parse(builder.bytes);
  ASSERT_EQ(message.answers.size(), 2u);
  const ResourceRecord& spf = message.answers[0];
  EXPECT_EQ(spf.name, "example.com");
  EXPECT_EQ(spf.ttl, 300u);
  ASSERT_EQ(spf.strings.size(), 2u);
  EXPECT_EQ(spf.strings[0], "v=spf1 include:a.example ");
  EXPECT_EQ(spf.strings[1], "include:b.example -all");
  EXPECT_EQ(spf.text(), "v=spf1 include:a.example include:b.example -all");
  ASSERT_EQ(message.answers[1].strings.size(), 1u);
  EXPECT_EQ(message.answers[1].strings[0], "");
}

TEST(DnsMessage, MxWithCompressionAndNullMx) {
  WireBuilder builder = response_start("Example.Com", RRType::MX, 2);
  // "mail" + pointer to the question name.
  builder.pointer(12).u16(15).u16(1).u32(60).u16(2 + 5 + 2).u16(10).u8(4).raw("MAIL").pointer(12);
  builder.pointer(12).u16(15).u16(1).u32(60).u16(3).u16(0).u8(0);

  const DnsMessage message = parse(builder.bytes);
  ASSERT_EQ(message.answers.size(), 2u);
  EXPECT_EQ(message.answers[0].name, "example.com");
  EXPECT_EQ(message.answers[0].preference, 10);
  EXPECT_EQ(message.answers[0].target, "mail.example.com");
  EXPECT_EQ(message.answers[1].preference, 0);
  EXPECT_EQ(message.answers[1].target, "");
}

TEST(DnsMessage, DecodesAddressesAndRawTlsa) {
  WireBuilder builder = response_start("_25._tcp.mx.example", RRType::TLSA, 3);
  builder.record("a.example", RRType::A, 1, testing::a_rdata("192.0.2.7"));
  std::vector<uint8_t> v6(16, 0);
  v6[0] = 0x20;
  v6[1] = 0x01;
  v6[2] = 0x0d;
  v6[3] = 0xb8;
  v6[15] = 1;
  builder.record("a.example", RRType::AAAA, 1, v6);
  const std::vector<uint8_t> tlsa{3, 1, 1, 0xde, 0xad, 0xbe, 0xef};
  builder.record("_25._tcp.mx.example", RRType::TLSA, 1, tlsa);

  const DnsMessage message = parse(builder.bytes);
  ASSERT_EQ(message.answers.size(), 3u);
  EXPECT_EQ(message.answers[0].address, "192.0.2.7");
  EXPECT_EQ(message.answers[1].address, "2001:db8::1");
  EXPECT_EQ(message.answers[2].rdata, tlsa);
}

TEST(DnsMessage, HeaderFlagsAndExtendedRcode) {
  WireBuilder builder;
  builder.header(7, 0x8000 | 0x0200 | 0x0020 | 0x0001, 1, 0, 0, 1);
  builder.name("example.com").u16(1).u16(1);
  // OPT with extended RCODE 1: 16 | 1 = 17.
  builder.u8(0).u16(41).u16(1232).u32(0x01000000).u16(0);
  const DnsMessage message = parse(builder.bytes);
  EXPECT_TRUE(message.qr);
  EXPECT_TRUE(message.tc);
  EXPECT_TRUE(message.ad);
  EXPECT_TRUE(message.has_edns);
  EXPECT_EQ(message.rcode, 17);
}

TEST(DnsMessage, EscapesUnusualLabelBytes) {
  WireBuilder odd;
  odd.header(1, 0x8180, 1, 0, 0, 0).u8(3).u8('a').u8('.').u8(0x07).u8(0).u16(1).u16(1);
  EXPECT_EQ(parse(odd.bytes).qname, "a\\.\\007");
}

TEST(DnsMessage, MalformedPacketsThrow) {
  const WireBuilder valid = [] {
    WireBuilder builder = response_start("example.com", RRType::A, 1);
    builder.record("example.com", RRType::A, 60, testing::a_rdata("192.0.2.1"));
    return builder;
  }();
  ASSERT_NO_THROW(parse(valid.bytes));

  // Every strict prefix of a valid message is cut short somewhere.
  for (size_t length = 0; length < valid.size(); ++length) {
    std::vector<uint8_t> prefix(valid.bytes.begin(), valid.bytes.begin() + static_cast<long>(length));
    EXPECT_THROW(parse(prefix), MalformedMessage) << "prefix of " << length << " octets";
  }

  WireBuilder self_pointer;
  self_pointer.header(1, 0x8180, 1, 0, 0, 0).pointer(12).u16(1).u16(1);
  EXPECT_THROW(parse(self_pointer.bytes), MalformedMessage);

  WireBuilder forward_pointer;
  forward_pointer.header(1, 0x8180, 1, 0, 0, 0).pointer(40).u16(1).u16(1);
  EXPECT_THROW(parse(forward_pointer.bytes), MalformedMessage);

  // Two names pointing at each other: 12 -> "a" + ptr(16), 16 -> "b" + ptr(12).
  WireBuilder pointer_loop;
  pointer_loop.header(1, 0x8180, 2, 0, 0, 0);
  pointer_loop.u8(1).u8('a').pointer(16);
  pointer_loop.u8(1).u8('b').pointer(12);
  EXPECT_THROW(parse(pointer_loop.bytes), MalformedMessage);

  WireBuilder bad_a = response_start("example.com", RRType::A, 1);
  bad_a.record("example.com", RRType::A, 60, {1, 2, 3});
  EXPECT_THROW(parse(bad_a.bytes), MalformedMessage);

  WireBuilder bad_txt = response_start("example.com", RRType::TXT, 1);
  bad_txt.record("example.com", RRType::TXT, 60, {10, 'a', 'b'});
  EXPECT_THROW(parse(bad_txt.bytes), MalformedMessage);

  WireBuilder long_rdlength = response_start("example.com", RRType::A, 1);
  long_rdlength.name("example.com").u16(1).u16(1).u32(1).u16(200).raw(testing::a_rdata("192.0.2.1"));
  EXPECT_THROW(parse(long_rdlength.bytes), MalformedMessage);

  WireBuilder mx_trailing = response_start("example.com", RRType::MX, 1);
  std::vector<uint8_t> mx = testing::mx_rdata(5, "mx.example.com");
  mx.push_back(0);
  mx_trailing.record("example.com", RRType::MX, 60, mx);
  EXPECT_THROW(parse(mx_trailing.bytes), MalformedMessage);

  WireBuilder extended_label;
  extended_label.header(1, 0x8180, 1, 0, 0, 0).u8(0x41).u8(0).u16(1).u16(1);
  EXPECT_THROW(parse(extended_label.bytes), MalformedMessage);
}

TEST(DnsMessage, FollowsCnameChainToFinalName) {
  WireBuilder builder = response_start("www.example.com", RRType::A, 4);
  builder.record("www.example.com", RRType::CNAME, 60, testing::wire_name("edge.CDN.example"));
  builder.record("edge.cdn.example", RRType::CNAME, 60, testing::wire_name("host.cdn.example"));
  builder.record("host.cdn.example", RRType::A, 60, testing::a_rdata("192.0.2.9"));
  builder.record("other.example", RRType::A, 60, testing::a_rdata("192.0.2.10"));

  const DnsAnswer answer = extract(parse(builder.bytes), "www.example.com", RRType::A);
  EXPECT_EQ(answer.status, DnsStatus::data);
  ASSERT_EQ(answer.cname_chain.size(), 2u);
  EXPECT_EQ(answer.cname_chain[0], "www.example.com");
  EXPECT_EQ(answer.cname_chain[1], "edge.cdn.example");
  ASSERT_EQ(answer.records.size(), 1u);
  EXPECT_EQ(answer.records[0].name, "host.cdn.example");
  EXPECT_EQ(answer.records[0].address, "192.0.2.9");
}

TEST(DnsMessage, CnameChainWithoutTargetDataIsNodata) {
  WireBuilder builder = response_start("www.example.com", RRType::TXT, 2);
  builder.record("www.example.com", RRType::CNAME, 60, testing::wire_name("host.example.com"));
  builder.record("www.example.com", RRType::TXT, 60, testing::txt_rdata({"owned by the alias"}));
  const DnsAnswer answer = extract(parse(builder.bytes), "www.example.com", RRType::TXT);
  EXPECT_EQ(answer.status, DnsStatus::nodata);
  EXPECT_TRUE(answer.records.empty());
  EXPECT_EQ(answer.cname_chain.size(), 1u);
}

TEST(DnsMessage, CnameQueryIsNotFollowed) {
  WireBuilder builder = response_start("www.example.com", RRType::CNAME, 1);
  builder.record("www.example.com", RRType::CNAME, 60, testing::wire_name("host.example.com"));
  const DnsAnswer answer = extract(parse(builder.bytes), "www.example.com", RRType::CNAME);
  EXPECT_EQ(answer.status, DnsStatus::data);
  ASSERT_EQ(answer.records.size(), 1u);
  EXPECT_EQ(answer.records[0].target, "host.example.com");
  EXPECT_TRUE(answer.cname_chain.empty());
}

TEST(DnsMessage, NxdomainAfterCnameIsNxdomain) {
  WireBuilder builder = response_start("www.example.com", RRType::A, 1, dns::kRcodeNxDomain);
  builder.record("www.example.com", RRType::CNAME, 60, testing::wire_name("gone.example.net"));
  const DnsAnswer answer = extract(parse(builder.bytes), "www.example.com", RRType::A);
  EXPECT_EQ(answer.status, DnsStatus::nxdomain);
  EXPECT_EQ(answer.rcode, 3);
  ASSERT_EQ(answer.cname_chain.size(), 1u);
  EXPECT_EQ(answer.cname_chain[0], "www.example.com");
}

TEST(DnsMessage, CnameLoopIsError) {
  WireBuilder builder = response_start("a.example", RRType::A, 2);
  builder.record("a.example", RRType::CNAME, 60, testing::wire_name("b.example"));
  builder.record("b.example", RRType::CNAME, 60, testing::wire_name("a.example"));
  const DnsAnswer answer = extract(parse(builder.bytes), "a.example", RRType::A);
  EXPECT_EQ(answer.status, DnsStatus::error);
  EXPECT_NE(answer.error.find("loop"), std::string::npos);
}

TEST(DnsMessage, RcodesMapToStatuses) {
  const std::vector<std::pair<int, DnsStatus>> cases{
      {dns::kRcodeServFail, DnsStatus::servfail},
      {dns::kRcodeRefused, DnsStatus::refused},
      {dns::kRcodeNxDomain, DnsStatus::nxdomain},
      {dns::kRcodeFormErr, DnsStatus::error},
      {dns::kRcodeNotImp, DnsStatus::error},
  };
  for (const auto& [rcode, status] : cases) {
    const WireBuilder builder = response_start("example.com", RRType::A, 0, rcode);
    const DnsAnswer answer = extract(parse(builder.bytes), "example.com", RRType::A);
    EXPECT_EQ(answer.status, status) << "rcode " << rcode;
    EXPECT_EQ(answer.rcode, rcode);
  }
}

TEST(DnsMessage, AdBitIsReported) {
  WireBuilder builder = response_start("example.com", RRType::A, 1, 0, 0x0020);
  builder.record("example.com", RRType::A, 60, testing::a_rdata("192.0.2.1"));
  const DnsAnswer answer = extract(parse(builder.bytes), "example.com", RRType::A);
  EXPECT_TRUE(answer.authenticated_data);
  EXPECT_EQ(answer.status, DnsStatus::data);
}

TEST(DnsTypes, NamesAndTransience) {
  EXPECT_EQ(rrtype_name(RRType::TLSA), "TLSA");
  EXPECT_EQ(rrtype_name(static_cast<RRType>(65)), "TYPE65");
  EXPECT_STREQ(dns_status_name(DnsStatus::nxdomain), "nxdomain");
  EXPECT_STREQ(dns_status_name(DnsStatus::timeout), "timeout");
  EXPECT_TRUE(dns_status_transient(DnsStatus::servfail));
  EXPECT_TRUE(dns_status_transient(DnsStatus::timeout));
  EXPECT_FALSE(dns_status_transient(DnsStatus::nxdomain));
  EXPECT_FALSE(dns_status_transient(DnsStatus::nodata));
}

}  // namespace
}  // namespace dnsscience
