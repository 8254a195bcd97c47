#include "dnsscience/email/dmarc.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace dnsscience {
namespace {

bool has_code(const std::vector<Finding>& findings, const std::string& code) {
  return std::any_of(findings.begin(), findings.end(), [&](const Finding& f) { return f.code == code; });
}

TEST(Dmarc, VersionDetection) {
  EXPECT_TRUE(is_dmarc_record("v=DMARC1; p=reject"));
  EXPECT_TRUE(is_dmarc_record("v = DMARC1 ; p=reject"));
  EXPECT_TRUE(is_dmarc_record("V=DMARC1;p=none"));
  EXPECT_TRUE(is_dmarc_record("v=DMARC1"));
  EXPECT_FALSE(is_dmarc_record("p=reject; v=DMARC1"));
  EXPECT_FALSE(is_dmarc_record("v=DMARC10; p=reject"));
  EXPECT_FALSE(is_dmarc_record("v=spf1 -all"));
}

TEST(Dmarc, ParsesAllTags) {
  const DmarcRecord record = parse_dmarc_record(
      "v=DMARC1; P=Reject; sp=quarantine; pct=50; rua=mailto:agg@example.com!10m, mailto:b@example.net; "
      "ruf=mailto:forensic@example.com; adkim=s; ASPF=r; fo=0:d; ri=3600;");
  EXPECT_EQ(record.p.value_or(""), "reject");
  EXPECT_FALSE(record.policy_implied);
  EXPECT_EQ(record.sp.value_or(""), "quarantine");
  EXPECT_EQ(record.pct.value_or(-1), 50);
  ASSERT_EQ(record.rua.size(), 2u);
  EXPECT_EQ(record.rua[0], "mailto:agg@example.com!10m");
  EXPECT_EQ(record.rua[1], "mailto:b@example.net");
  ASSERT_EQ(record.ruf.size(), 1u);
  EXPECT_EQ(record.adkim.value_or(""), "s");
  EXPECT_EQ(record.aspf.value_or(""), "r");
  EXPECT_EQ(record.fo.value_or(""), "0:d");
  EXPECT_EQ(record.ri.value_or(0), 3600);
  EXPECT_TRUE(has_code(record.findings, "dmarc.partial_pct"));
  EXPECT_FALSE(has_code(record.findings, "dmarc.unknown_tag"));
}

TEST(Dmarc, SubdomainPolicyBeforePolicy) {
  const DmarcRecord record = parse_dmarc_record("v=DMARC1; sp=none; p=reject");
  EXPECT_EQ(record.p.value_or(""), "reject");
  EXPECT_EQ(record.sp.value_or(""), "none");
}

TEST(Dmarc, RuaContainingPolicyText) {
  const DmarcRecord record = parse_dmarc_record("v=DMARC1; p=quarantine; rua=mailto:p=none@example.com");
  EXPECT_EQ(record.p.value_or(""), "quarantine");
  ASSERT_EQ(record.rua.size(), 1u);
  EXPECT_EQ(record.rua[0], "mailto:p=none@example.com");
}

TEST(Dmarc, RuaWithoutPolicyImpliesNone) {
  const DmarcRecord record = parse_dmarc_record("v=DMARC1; rua=mailto:dmarc@example.com");
  EXPECT_EQ(record.p.value_or(""), "none");
  EXPECT_TRUE(record.policy_implied);
  EXPECT_TRUE(has_code(record.findings, "dmarc.missing_policy"));
  EXPECT_FALSE(has_code(record.findings, "dmarc.invalid_policy"));
}

TEST(Dmarc, InvalidPolicyWithoutRua) {
  const DmarcRecord record = parse_dmarc_record("v=DMARC1; p=block");
  EXPECT_FALSE(record.has_policy());
  EXPECT_TRUE(has_code(record.findings, "dmarc.invalid_policy"));
}

TEST(Dmarc, BadPctIsIgnored) {
  for (const char* text : {"v=DMARC1; p=reject; pct=150", "v=DMARC1; p=reject; pct=half", "v=DMARC1; p=reject; pct=-1"}) {
    const DmarcRecord record = parse_dmarc_record(text);
    EXPECT_EQ(record.p.value_or(""), "reject") << text;
    EXPECT_FALSE(record.pct.has_value()) << text;
    EXPECT_TRUE(has_code(record.findings, "dmarc.invalid_pct")) << text;
  }
}

TEST(Dmarc, UnknownTagAndBadValues) {
  const DmarcRecord record = parse_dmarc_record("v=DMARC1; p=none; foo=bar; adkim=x; fo=2; ri=soon; rua=example.com");
  EXPECT_TRUE(has_code(record.findings, "dmarc.unknown_tag"));
  EXPECT_TRUE(has_code(record.findings, "dmarc.invalid_tag_value"));
  EXPECT_TRUE(has_code(record.findings, "dmarc.invalid_uri"));
  EXPECT_TRUE(has_code(record.findings, "dmarc.policy_none"));
  EXPECT_FALSE(record.adkim.has_value());
  EXPECT_FALSE(record.fo.has_value());
  EXPECT_FALSE(record.ri.has_value());
  EXPECT_TRUE(record.rua.empty());
}

TEST(Dmarc, DuplicateTagKeepsFirst) {
  const DmarcRecord record = parse_dmarc_record("v=DMARC1; p=reject; p=none");
  EXPECT_EQ(record.p.value_or(""), "reject");
  EXPECT_TRUE(has_code(record.findings, "dmarc.duplicate_tag"));
}

}  // namespace
}  // namespace dnsscience
