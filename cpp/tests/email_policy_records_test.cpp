#include <gtest/gtest.h>

#include "dnsscience/email/findings.hpp"
#include "dnsscience/email/policy_records.hpp"

namespace dnsscience {
namespace {

TEST(MtaStsRecord, ValidAndInvalid) {
  EXPECT_TRUE(is_mta_sts_record("v=STSv1; id=20160831085700Z;"));
  EXPECT_FALSE(is_mta_sts_record("v=stsv1; id=1"));
  EXPECT_FALSE(is_mta_sts_record("id=1; v=STSv1"));
  const MtaStsRecord record = parse_mta_sts_record("v=STSv1; id=20160831085700Z;");
  EXPECT_TRUE(record.valid()) << record.problem;
  EXPECT_EQ(record.id, "20160831085700Z");
  EXPECT_FALSE(parse_mta_sts_record("v=STSv1;").valid());
  EXPECT_FALSE(parse_mta_sts_record("v=STSv1; id=2016-08-31").valid());
  EXPECT_FALSE(parse_mta_sts_record("v=STSv1; id=123456789012345678901234567890123").valid());
  EXPECT_TRUE(parse_mta_sts_record("v=STSv1; id=abc; ext=1").valid());
}

TEST(TlsRptRecord, ValidAndInvalid) {
  EXPECT_TRUE(is_tls_rpt_record("v=TLSRPTv1; rua=mailto:tls@example.com"));
  const TlsRptRecord record =
      parse_tls_rpt_record("v=TLSRPTv1; rua=mailto:tls@example.com, https://reports.example.com/tls");
  EXPECT_TRUE(record.valid()) << record.problem;
  ASSERT_EQ(record.rua.size(), 2u);
  EXPECT_EQ(record.rua[1], "https://reports.example.com/tls");
  EXPECT_FALSE(parse_tls_rpt_record("v=TLSRPTv1;").valid());
  EXPECT_FALSE(parse_tls_rpt_record("v=TLSRPTv1; rua=http://example.com/").valid());
}

TEST(BimiRecord, ValidAndInvalid) {
  EXPECT_TRUE(is_bimi_record("v=BIMI1; l=https://example.com/logo.svg"));
  const BimiRecord record = parse_bimi_record("v=BIMI1; l=https://example.com/logo.svg; a=https://example.com/vmc.pem");
  EXPECT_TRUE(record.valid()) << record.problem;
  EXPECT_EQ(record.location, "https://example.com/logo.svg");
  EXPECT_EQ(record.authority, "https://example.com/vmc.pem");
  const BimiRecord declined = parse_bimi_record("v=BIMI1; l=; a=;");
  EXPECT_TRUE(declined.valid());
  EXPECT_EQ(declined.location, "");
  EXPECT_FALSE(parse_bimi_record("v=BIMI1; l=http://example.com/logo.svg").valid());
}

TEST(FindingCatalogue, CodesAreUniqueAndKnown) {
  const auto& codes = email_finding_codes();
  for (size_t i = 0; i < codes.size(); ++i) {
    for (size_t j = i + 1; j < codes.size(); ++j) EXPECT_STRNE(codes[i].code, codes[j].code);
  }
  EXPECT_EQ(make_finding("spf.plus_all", "x").severity, Severity::error);
  EXPECT_THROW(make_finding("spf.no_such_code", "x"), std::exception);
}

}  // namespace
}  // namespace dnsscience
