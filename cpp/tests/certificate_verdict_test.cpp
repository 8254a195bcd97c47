#include <gtest/gtest.h>

#include "dnsscience/error.hpp"
#include "dnsscience/tls/certificate.hpp"
#include "tls_test_support.hpp"

namespace dnsscience::tls {
namespace {

using std::chrono::system_clock;
using testing::CertSpec;
using testing::TestCa;

std::vector<std::string> codes(const Verdict& verdict) {
  std::vector<std::string> result;
  for (const auto& finding : verdict.findings) result.push_back(finding.code);
  return result;
}

bool has_code(const Verdict& verdict, const std::string& code) {
  for (const auto& finding : verdict.findings) {
    if (finding.code == code) return true;
  }
  return false;
}

class CertificateVerdict : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new TestCa();
    store_ = new TrustStore(ca_->pem_path);
  }
  static void TearDownTestSuite() {
    delete store_;
    delete ca_;
  }

  // Extracts, verifies against the test CA, checks `name` and judges, all at now.
  static Verdict judge(const testing::TestCert& leaf, const std::string& name,
                       std::vector<Der> intermediates = {}) {
    std::vector<Der> chain = {leaf.der};
    for (auto& der : intermediates) chain.push_back(der);
    const auto now = system_clock::now();
    const auto info = extract_certificate(leaf.der);
    const auto verification = verify_chain(chain, *store_, now);
    return judge_certificate(info, verification, hostname_matches(leaf.der, name), now);
  }

  static TestCa* ca_;
  static TrustStore* store_;
};
TestCa* CertificateVerdict::ca_ = nullptr;
TrustStore* CertificateVerdict::store_ = nullptr;

TEST_F(CertificateVerdict, ValidCertificate) {
  CertSpec spec;
  spec.san = "DNS:localhost";
  spec.not_after_offset = 90L * 86400 - 3600;
  const auto verdict = judge(ca_->issue(spec, testing::make_ec_key("P-256")), "localhost");
  EXPECT_EQ(verdict.status, "valid");
  EXPECT_TRUE(verdict.findings.empty());
  ASSERT_TRUE(verdict.days_until_expiry.has_value());
  EXPECT_EQ(*verdict.days_until_expiry, 89);
}

TEST_F(CertificateVerdict, Expired) {
  CertSpec spec;
  spec.san = "DNS:localhost";
  spec.not_before_offset = -30L * 86400;
  spec.not_after_offset = -3600;
  const auto verdict = judge(ca_->issue(spec, testing::make_ec_key("P-256")), "localhost");
  EXPECT_EQ(verdict.status, "expired");
  EXPECT_TRUE(has_code(verdict, "expired"));
  EXPECT_FALSE(has_code(verdict, "untrusted"));
  EXPECT_EQ(*verdict.days_until_expiry, -1);
}

TEST_F(CertificateVerdict, NotYetValid) {
  CertSpec spec;
  spec.san = "DNS:localhost";
  spec.not_before_offset = 86400;
  const auto verdict = judge(ca_->issue(spec, testing::make_ec_key("P-256")), "localhost");
  EXPECT_EQ(verdict.status, "not_yet_valid");
  EXPECT_TRUE(has_code(verdict, "not_yet_valid"));
}

TEST_F(CertificateVerdict, ExpiringSoon) {
  CertSpec spec;
  spec.san = "DNS:localhost";
  spec.not_after_offset = 10L * 86400 + 3600;
  const auto verdict = judge(ca_->issue(spec, testing::make_ec_key("P-256")), "localhost");
  EXPECT_EQ(verdict.status, "expiring_soon");
  EXPECT_EQ(codes(verdict), std::vector<std::string>{"expiring_soon"});
  EXPECT_EQ(*verdict.days_until_expiry, 10);
}

TEST_F(CertificateVerdict, ExpiringThresholdIsAnOption) {
  CertSpec spec;
  spec.san = "DNS:localhost";
  spec.not_after_offset = 10L * 86400 + 3600;
  auto leaf = ca_->issue(spec, testing::make_ec_key("P-256"));
  const auto now = system_clock::now();
  VerdictOptions options;
  options.expiring_days = 7;
  const auto verdict = judge_certificate(extract_certificate(leaf.der),
                                         verify_chain({leaf.der}, *store_, now), true, now, options);
  EXPECT_EQ(verdict.status, "valid");
}

TEST_F(CertificateVerdict, SelfSignedIsUntrusted) {
  CertSpec spec;
  spec.san = "DNS:localhost";
  auto self = testing::make_cert(spec, testing::make_ec_key("P-256"));
  const auto verdict = judge(self, "localhost");
  EXPECT_EQ(verdict.status, "untrusted");
  EXPECT_TRUE(has_code(verdict, "self_signed"));
  ASSERT_TRUE(has_code(verdict, "untrusted"));
  const auto verification = verify_chain({self.der}, *store_, system_clock::now());
  EXPECT_FALSE(verification.trusted);
  EXPECT_EQ(verification.error_code, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
  EXPECT_EQ(verification.error, "self-signed certificate");
}

TEST_F(CertificateVerdict, UnknownIssuerIsUntrusted) {
  TestCa other;
  CertSpec spec;
  spec.san = "DNS:localhost";
  auto leaf = other.issue(spec, testing::make_ec_key("P-256"));
  const auto verification = verify_chain({leaf.der}, *store_, system_clock::now());
  EXPECT_FALSE(verification.trusted);
  EXPECT_EQ(verification.error_code, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(CertificateVerdict, IntermediateFromPresentedChain) {
  CertSpec intermediate_spec;
  intermediate_spec.cn = "dnsscience Test Intermediate";
  intermediate_spec.ca = true;
  intermediate_spec.serial = 77;
  auto intermediate = ca_->issue(intermediate_spec, testing::make_ec_key("P-384"));
  CertSpec spec;
  spec.san = "DNS:localhost";
  auto leaf = testing::make_cert(spec, testing::make_ec_key("P-256"), &intermediate);

  EXPECT_EQ(judge(leaf, "localhost", {intermediate.der}).status, "valid");
  EXPECT_EQ(judge(leaf, "localhost").status, "untrusted");
}

TEST_F(CertificateVerdict, WrongHostMismatch) {
  CertSpec spec;
  spec.cn = "other.example.test";
  spec.san = "DNS:other.example.test";
  const auto verdict = judge(ca_->issue(spec, testing::make_ec_key("P-256")), "localhost");
  EXPECT_EQ(verdict.status, "hostname_mismatch");
  EXPECT_EQ(codes(verdict), std::vector<std::string>{"hostname_mismatch"});
}

TEST_F(CertificateVerdict, ExpiredOutranksEverything) {
  CertSpec spec;
  spec.san = "DNS:other.example.test";
  spec.not_after_offset = -60;
  auto self = testing::make_cert(spec, testing::make_ec_key("P-256"));
  const auto verdict = judge(self, "localhost");
  EXPECT_EQ(verdict.status, "expired");
  EXPECT_TRUE(has_code(verdict, "untrusted"));
  EXPECT_TRUE(has_code(verdict, "hostname_mismatch"));
  EXPECT_TRUE(has_code(verdict, "self_signed"));
}

TEST_F(CertificateVerdict, WeakRsaKeyAndSha1) {
  CertSpec spec;
  spec.san = "DNS:localhost";
  spec.digest = EVP_sha1();
  const auto verdict = judge(ca_->issue(spec, testing::make_rsa_key(1024)), "localhost");
  EXPECT_EQ(verdict.status, "valid");
  EXPECT_TRUE(has_code(verdict, "weak_key"));
  EXPECT_TRUE(has_code(verdict, "weak_signature"));
}

TEST_F(CertificateVerdict, Rsa2048IsNotWeak) {
  CertSpec spec;
  spec.san = "DNS:localhost";
  const auto verdict = judge(ca_->issue(spec, testing::make_rsa_key(2048)), "localhost");
  EXPECT_FALSE(has_code(verdict, "weak_key"));
  EXPECT_FALSE(has_code(verdict, "weak_signature"));
}

TEST_F(CertificateVerdict, ParseFindingsComeFirst) {
  CertSpec spec;
  spec.malformed_san = true;
  spec.not_after_offset = 86400;
  auto leaf = ca_->issue(spec, testing::make_ec_key("P-256"));
  const auto now = system_clock::now();
  const auto verdict = judge_certificate(extract_certificate(leaf.der),
                                         ChainVerification{true, 0, ""}, std::nullopt, now);
  ASSERT_EQ(verdict.findings.size(), 2u);
  EXPECT_EQ(verdict.findings[0].code, "malformed_field");
  EXPECT_EQ(verdict.findings[1].code, "expiring_soon");
}

TEST_F(CertificateVerdict, ChainVerificationErrorsAreInputErrors) {
  EXPECT_THROW(verify_chain({}, *store_, system_clock::now()), Error);
  EXPECT_THROW(verify_chain({Der{1, 2, 3}}, *store_, system_clock::now()), Error);
}

TEST(TrustStoreLoad, MissingCaFileIsConfigurationError) {
  try {
    TrustStore store("/nonexistent/dnsscience-ca.pem");
    FAIL() << "expected an Error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::configuration);
    EXPECT_NE(std::string(error.what()).find("/nonexistent/dnsscience-ca.pem"), std::string::npos);
  }
}

TEST(TrustStoreLoad, SystemStoreLoads) { EXPECT_NO_THROW(TrustStore store); }

class HostnameMatch : public ::testing::Test {
 protected:
  static Der leaf(const std::string& san, std::optional<std::string> cn = std::nullopt) {
    CertSpec spec;
    spec.cn = std::move(cn);
    spec.san = san;
    return testing::make_cert(spec, testing::make_ec_key("P-256")).der;
  }
};

TEST_F(HostnameMatch, ExactName) {
  const Der der = leaf("DNS:www.example.test");
  EXPECT_TRUE(hostname_matches(der, "www.example.test"));
  EXPECT_TRUE(hostname_matches(der, "WWW.Example.TEST"));
  EXPECT_TRUE(hostname_matches(der, "www.example.test."));
  EXPECT_FALSE(hostname_matches(der, "example.test"));
}

TEST_F(HostnameMatch, WildcardCoversOneLeftmostLabel) {
  const Der der = leaf("DNS:*.example.test");
  EXPECT_TRUE(hostname_matches(der, "www.example.test"));
  EXPECT_FALSE(hostname_matches(der, "example.test"));
  EXPECT_FALSE(hostname_matches(der, "a.b.example.test"));
}

TEST_F(HostnameMatch, PartialWildcardRejected) {
  const Der der = leaf("DNS:w*.example.test");
  EXPECT_FALSE(hostname_matches(der, "www.example.test"));
}

TEST_F(HostnameMatch, IpLiteralUsesIpSan) {
  const Der der = leaf("DNS:localhost, IP:127.0.0.1, IP:::1");
  EXPECT_TRUE(hostname_matches(der, "127.0.0.1"));
  EXPECT_TRUE(hostname_matches(der, "::1"));
  EXPECT_FALSE(hostname_matches(der, "127.0.0.2"));
  EXPECT_FALSE(hostname_matches(leaf("DNS:127.0.0.1"), "127.0.0.1"));
}

TEST_F(HostnameMatch, UnicodeNameComparedAsALabels) {
  const Der der = leaf("DNS:xn--bcher-kva.example.test");
  EXPECT_TRUE(hostname_matches(der, "bücher.example.test"));
  EXPECT_TRUE(hostname_matches(der, "xn--bcher-kva.example.test"));
}

TEST_F(HostnameMatch, CnUsedOnlyWithoutDnsSan) {
  EXPECT_TRUE(hostname_matches(leaf("", std::string("cn-only.example.test")), "cn-only.example.test"));
  EXPECT_FALSE(hostname_matches(leaf("DNS:san.example.test", std::string("cn.example.test")),
                                "cn.example.test"));
}

TEST_F(HostnameMatch, EmptyNameIsInvalid) {
  EXPECT_THROW(hostname_matches(leaf("DNS:localhost"), ""), Error);
}

}  // namespace
}  // namespace dnsscience::tls
