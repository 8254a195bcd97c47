#include <gtest/gtest.h>

#include "dnsscience/email/spf_evaluator.hpp"
#include "dnsscience/email/spf_record.hpp"

namespace dnsscience {
namespace {

TEST(SpfRecord, VersionDetection) {
  EXPECT_TRUE(is_spf_record("v=spf1"));
  EXPECT_TRUE(is_spf_record("v=spf1 -all"));
  EXPECT_TRUE(is_spf_record("V=SPF1 -all"));
  EXPECT_FALSE(is_spf_record("v=spf10 -all"));
  EXPECT_FALSE(is_spf_record("v=spf1-all"));
  EXPECT_FALSE(is_spf_record(" v=spf1 -all"));
  EXPECT_FALSE(is_spf_record("v=DMARC1; p=none"));
}

TEST(SpfRecord, ParsesEveryMechanism) {
  const SpfRecord record = parse_spf_record(
      "v=spf1 +a -mx:mail.example.com/24//64 ~ptr ?ip4:192.0.2.0/24 ip6:2001:db8::/32 "
      "include:_spf.example.net exists:%{i}.bl.example.org redirect=spf.example.com exp=why.%{d} all");
  ASSERT_TRUE(record.valid()) << record.errors.front().term << ": " << record.errors.front().message;
  ASSERT_EQ(record.terms.size(), 10u);
  EXPECT_EQ(record.terms[0].mechanism, SpfMechanism::a);
  EXPECT_EQ(record.terms[1].qualifier, SpfQualifier::fail);
  EXPECT_EQ(record.terms[1].argument, "mail.example.com");
  EXPECT_EQ(record.terms[1].cidr4, 24);
  EXPECT_EQ(record.terms[1].cidr6, 64);
  EXPECT_EQ(record.terms[2].qualifier, SpfQualifier::softfail);
  EXPECT_EQ(record.terms[3].cidr4, 24);
  EXPECT_EQ(record.terms[4].cidr6, 32);
  EXPECT_EQ(record.terms[5].argument, "_spf.example.net");
  EXPECT_EQ(record.redirect.value_or(""), "spf.example.com");
  EXPECT_EQ(record.explanation.value_or(""), "why.%{d}");
  EXPECT_TRUE(record.has_all());
  int dns_terms = 0;
  for (const SpfTerm& term : record.terms) dns_terms += term.queries_dns() ? 1 : 0;
  EXPECT_EQ(dns_terms, 6);  // a, mx, ptr, include, exists, redirect
}

TEST(SpfRecord, SyntaxErrorsNameTheTerm) {
  struct Case {
    const char* record;
    const char* term;
  };
  const Case cases[] = {
      {"v=spf1 ip4:192.0.2.1/33 -all", "ip4:192.0.2.1/33"},
      {"v=spf1 ip4:192.0.2.1/032 -all", "ip4:192.0.2.1/032"},
      {"v=spf1 ip6:2001:db8::/129 -all", "ip6:2001:db8::/129"},
      {"v=spf1 ip4:2001:db8::1 -all", "ip4:2001:db8::1"},
      {"v=spf1 a:foo-bar -all", "a:foo-bar"},
      {"v=spf1 a: -all", "a:"},
      {"v=spf1 include -all", "include"},
      {"v=spf1 include:example.com/24 -all", "include:example.com/24"},
      {"v=spf1 -all.", "-all."},
      {"v=spf1 ptr/24 -all", "ptr/24"},
      {"v=spf1 redirect:example.com", "redirect:example.com"},
      {"v=spf1 exists:%{x}.example.com", "exists:%{x}.example.com"},
      {"v=spf1 exists:%(ir).example.com", "exists:%(ir).example.com"},
      {"v=spf1 a:%{i0}.example.com", "a:%{i0}.example.com"},
      {"v=spf1 exp=%{r}.example.com -all", "exp=%{r}.example.com"},
      {"v=spf1 1abc=foo -all", "1abc=foo"},
      {"v=spf1 -all foo", "foo"},
  };
  for (const Case& c : cases) {
    const SpfRecord record = parse_spf_record(c.record);
    ASSERT_EQ(record.errors.size(), 1u) << c.record;
    EXPECT_EQ(record.errors.front().term, c.term) << c.record;
  }
}

TEST(SpfRecord, DuplicateRedirectIsError) {
  EXPECT_FALSE(parse_spf_record("v=spf1 redirect=a.example.com redirect=b.example.com").valid());
  EXPECT_FALSE(parse_spf_record("v=spf1 exp=a.example.com exp=b.example.com -all").valid());
}

TEST(SpfRecord, UnknownModifiersAreValid) {
  const SpfRecord record = parse_spf_record("v=spf1 include=_spf.example.com moo.cow-far_out=man:dog/cat -all");
  ASSERT_TRUE(record.valid());
  EXPECT_EQ(record.terms[0].modifier_name, "include");
  EXPECT_TRUE(spf_modifier_looks_like_mechanism(record.terms[0].modifier_name));
  EXPECT_FALSE(spf_modifier_looks_like_mechanism(record.terms[1].modifier_name));
}

TEST(SpfRecord, NonAsciiAndControlCharactersAreErrors) {
  EXPECT_FALSE(parse_spf_record("v=spf1 a:\xEF\xBB\xBFgarbage.example.net -all").valid());
  EXPECT_FALSE(parse_spf_record("v=spf1 a:ctrl.example.com\rptr -all").valid());
}

TEST(SpfMacros, ExpandsRfcExamples) {
  // The examples of RFC 7208 section 7.4.
  SpfMacroContext context;
  context.sender = "strong-bad@email.example.com";
  context.local_part = "strong-bad";
  context.sender_domain = "email.example.com";
  context.domain = "email.example.com";
  context.ip = IpAddress::parse("192.0.2.3");
  EXPECT_EQ(expand_spf_macros("%{s}", context), "strong-bad@email.example.com");
  EXPECT_EQ(expand_spf_macros("%{o}", context), "email.example.com");
  EXPECT_EQ(expand_spf_macros("%{d4}", context), "email.example.com");
  EXPECT_EQ(expand_spf_macros("%{d2}", context), "example.com");
  EXPECT_EQ(expand_spf_macros("%{d1}", context), "com");
  EXPECT_EQ(expand_spf_macros("%{dr}", context), "com.example.email");
  EXPECT_EQ(expand_spf_macros("%{d2r}", context), "example.email");
  EXPECT_EQ(expand_spf_macros("%{l}", context), "strong-bad");
  EXPECT_EQ(expand_spf_macros("%{l-}", context), "strong.bad");
  EXPECT_EQ(expand_spf_macros("%{lr}", context), "strong-bad");
  EXPECT_EQ(expand_spf_macros("%{lr-}", context), "bad.strong");
  EXPECT_EQ(expand_spf_macros("%{l1r-}", context), "strong");
  EXPECT_EQ(expand_spf_macros("%{ir}.%{v}._spf.%{d2}", context), "3.2.0.192.in-addr._spf.example.com");
  EXPECT_EQ(expand_spf_macros("%{lr-}.lp._spf.%{d2}", context), "bad.strong.lp._spf.example.com");
  EXPECT_EQ(expand_spf_macros("%{d2}.trusted-domains.example.net", context), "example.com.trusted-domains.example.net");
  context.ip = IpAddress::parse("2001:db8::cb01");
  EXPECT_EQ(expand_spf_macros("%{ir}.%{v}._spf.%{d2}", context),
            "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com");
}

TEST(SpfMacros, EscapesAndUppercase) {
  SpfMacroContext context;
  context.local_part = "~jack&jill=up-a_b3.c";
  EXPECT_EQ(expand_spf_macros("%%%_%-", context), "% %20");
  EXPECT_EQ(expand_spf_macros("%{L}", context), "~jack%26jill%3Dup-a_b3.c");
}

TEST(SpfMacros, SenderDependence) {
  EXPECT_FALSE(spf_macro_depends_on_sender("_spf.%{d}"));
  EXPECT_FALSE(spf_macro_depends_on_sender("100%%.example.com"));
  EXPECT_TRUE(spf_macro_depends_on_sender("%{i}.bl.example.com"));
  EXPECT_TRUE(spf_macro_depends_on_sender("%{l1r-}.example.com"));
  EXPECT_TRUE(spf_macro_depends_on_sender("%{S}.example.com"));
}

TEST(SpfMacros, LongNamesLoseLeftLabels) {
  std::string name;
  for (int i = 0; i < 30; ++i) name += "label" + std::to_string(i) + ".";
  name += "example.com.";
  const std::string finished = finish_expanded_domain(name);
  EXPECT_LE(finished.size(), 253u);
  EXPECT_EQ(finished.substr(finished.size() - 12), ".example.com");
  EXPECT_EQ(finish_expanded_domain("example.com."), "example.com");
}

TEST(IpAddress, NetworksAndMappedAddresses) {
  const auto v4 = IpAddress::parse("192.0.2.130");
  ASSERT_TRUE(v4.has_value());
  EXPECT_TRUE(v4->in_network(*IpAddress::parse("192.0.2.128"), 25));
  EXPECT_FALSE(v4->in_network(*IpAddress::parse("192.0.2.0"), 25));
  EXPECT_TRUE(v4->in_network(*IpAddress::parse("10.0.0.0"), 0));
  const auto mapped = IpAddress::parse("::ffff:192.0.2.130");
  ASSERT_TRUE(mapped.has_value());
  ASSERT_TRUE(mapped->ipv4_mapped().has_value());
  EXPECT_EQ(mapped->ipv4_mapped()->to_string(), "192.0.2.130");
  EXPECT_FALSE(IpAddress::parse("192.0.2.1:25").has_value());
  EXPECT_FALSE(IpAddress::parse("192.0.2").has_value());
  EXPECT_EQ(IpAddress::parse("CAFE:BABE::1")->to_string(), "cafe:babe::1");
}

}  // namespace
}  // namespace dnsscience
