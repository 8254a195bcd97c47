#include "dnsscience/email/dkim.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "email_test_keys.hpp"

namespace dnsscience {
namespace {

using testing::kEd25519PublicKey;
using testing::kRsa1024PublicKey;
using testing::kRsa2048PublicKey;

bool has_code(const std::vector<Finding>& findings, const std::string& code) {
  return std::any_of(findings.begin(), findings.end(), [&](const Finding& f) { return f.code == code; });
}

TEST(Dkim, Rsa2048KeySize) {
  const DkimKey key = parse_dkim_key_record("s1", std::string("v=DKIM1; k=rsa; p=") + kRsa2048PublicKey);
  EXPECT_TRUE(key.is_key_record);
  EXPECT_EQ(key.key_type, "rsa");
  EXPECT_EQ(key.key_bits, 2048);
  EXPECT_FALSE(key.revoked);
  EXPECT_TRUE(key.problem.empty()) << key.problem;
  EXPECT_FALSE(has_code(key.findings, "dkim.weak_key"));
}

TEST(Dkim, Rsa1024KeyIsWeak) {
  const DkimKey key = parse_dkim_key_record("s1", std::string("p=") + kRsa1024PublicKey);
  EXPECT_TRUE(key.is_key_record);
  EXPECT_EQ(key.key_type, "rsa");
  EXPECT_EQ(key.key_bits, 1024);
  EXPECT_TRUE(has_code(key.findings, "dkim.weak_key"));
}

TEST(Dkim, KeyWithFoldingWhitespace) {
  std::string folded = kRsa2048PublicKey;
  folded.insert(100, " \t");
  folded.insert(250, " ");
  const DkimKey key = parse_dkim_key_record("s1", "v=DKIM1; p=" + folded);
  EXPECT_EQ(key.key_bits, 2048);
}

TEST(Dkim, Ed25519Key) {
  const DkimKey key = parse_dkim_key_record("ed", std::string("v=DKIM1; k=ed25519; p=") + kEd25519PublicKey);
  EXPECT_TRUE(key.is_key_record);
  EXPECT_EQ(key.key_type, "ed25519");
  EXPECT_EQ(key.key_bits, 256);
  EXPECT_TRUE(key.problem.empty()) << key.problem;
}

TEST(Dkim, RevokedAndTestingKey) {
  const DkimKey key = parse_dkim_key_record("old", "v=DKIM1; t=s:y; p=");
  EXPECT_TRUE(key.is_key_record);
  EXPECT_TRUE(key.revoked);
  EXPECT_TRUE(key.testing);
  EXPECT_EQ(key.key_bits, 0);
  EXPECT_TRUE(has_code(key.findings, "dkim.revoked_key"));
  EXPECT_TRUE(has_code(key.findings, "dkim.testing"));
}

TEST(Dkim, NotKeyRecords) {
  for (const char* text : {"google-site-verification=abc", "k=rsa; p=MIGf; v=DKIM1", "v=DKIM2; p=abc",
                           "v=DKIM1; k=rsa", "v=spf1 -all", "v=DKIM1; p=a; p=b"}) {
    const DkimKey key = parse_dkim_key_record("x", text);
    EXPECT_FALSE(key.is_key_record) << text;
    EXPECT_FALSE(key.problem.empty()) << text;
  }
}

TEST(Dkim, UndecodableKey) {
  const DkimKey key = parse_dkim_key_record("x", "v=DKIM1; p=bm90IGEga2V5");
  EXPECT_TRUE(key.is_key_record);
  EXPECT_EQ(key.key_bits, 0);
  EXPECT_TRUE(has_code(key.findings, "dkim.invalid_key"));
}

TEST(Dkim, DefaultSelectors) {
  const auto& selectors = default_dkim_selectors();
  EXPECT_EQ(selectors.size(), 20u);
  EXPECT_EQ(selectors.front(), "default");
  EXPECT_EQ(selectors.back(), "zoho");
}

}  // namespace
}  // namespace dnsscience
