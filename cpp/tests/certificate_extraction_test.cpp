#include <gtest/gtest.h>

#include <ctime>

#include "dnsscience/error.hpp"
#include "dnsscience/tls/certificate.hpp"
#include "tls_test_support.hpp"

namespace dnsscience::tls {
namespace {

using testing::CertSpec;
using testing::TestCa;

bool has_finding(const std::vector<Finding>& findings, const std::string& code) {
  for (const auto& finding : findings) {
    if (finding.code == code) return true;
  }
  return false;
}

class CertificateExtraction : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ca_ = new TestCa(); }
  static void TearDownTestSuite() {
    delete ca_;
    ca_ = nullptr;
  }
  static TestCa* ca_;
};
TestCa* CertificateExtraction::ca_ = nullptr;

TEST_F(CertificateExtraction, FullLeafFields) {
  CertSpec spec;
  spec.cn = "www.example.test";
  spec.o = "Example Org";
  spec.san = "DNS:www.example.test, DNS:example.test, IP:127.0.0.1, IP:::1, "
             "email:admin@example.test, URI:https://example.test/";
  spec.authority_info_access =
      "OCSP;URI:http://ocsp.example.test/, caIssuers;URI:http://ca.example.test/ca.der";
  spec.crl_distribution_points = "URI:http://crl.example.test/ca.crl";
  spec.extended_key_usage = "serverAuth, clientAuth";
  spec.sct_count = 2;
  spec.serial = 0x0102030405L;
  auto leaf = ca_->issue(spec, testing::make_rsa_key(2048));

  const CertificateInfo info = extract_certificate(leaf.der);
  EXPECT_TRUE(info.parse_findings.empty());
  EXPECT_EQ(info.subject_cn, "www.example.test");
  EXPECT_EQ(info.subject_o, "Example Org");
  EXPECT_EQ(info.issuer_cn, "dnsscience Test Root CA");
  EXPECT_EQ(info.issuer_o, "dnsscience tests");
  EXPECT_EQ(info.subject, "CN=www.example.test,O=Example Org");
  EXPECT_EQ(info.issuer, "CN=dnsscience Test Root CA,O=dnsscience tests");

  ASSERT_EQ(info.sans.size(), 6u);
  EXPECT_EQ(info.sans[0].type, "dns");
  EXPECT_EQ(info.sans[0].value, "www.example.test");
  EXPECT_EQ(info.sans[1].value, "example.test");
  EXPECT_EQ(info.sans[2].type, "ip");
  EXPECT_EQ(info.sans[2].value, "127.0.0.1");
  EXPECT_EQ(info.sans[3].type, "ip");
  EXPECT_EQ(info.sans[3].value, "::1");
  EXPECT_EQ(info.sans[4].type, "email");
  EXPECT_EQ(info.sans[4].value, "admin@example.test");
  EXPECT_EQ(info.sans[5].type, "uri");
  EXPECT_EQ(info.sans[5].value, "https://example.test/");

  EXPECT_EQ(info.serial, "0102030405");
  EXPECT_EQ(info.signature_algorithm, "sha256WithRSAEncryption");
  EXPECT_EQ(info.signature_digest, "sha256");
  EXPECT_EQ(info.key_type, "rsa");
  EXPECT_EQ(info.key_bits, 2048);
  EXPECT_FALSE(info.key_curve.has_value());
  EXPECT_EQ(info.sha256_fingerprint,
            detail::sha256_hex(leaf.der.data(), leaf.der.size()));
  EXPECT_EQ(info.sha256_fingerprint.size(), 64u);
  EXPECT_EQ(info.spki_sha256.size(), 64u);
  EXPECT_NE(info.spki_sha256, info.sha256_fingerprint);
  EXPECT_EQ(info.sct_count, 2);
  ASSERT_EQ(info.ocsp_urls.size(), 1u);
  EXPECT_EQ(info.ocsp_urls[0], "http://ocsp.example.test/");
  ASSERT_EQ(info.ca_issuers_urls.size(), 1u);
  EXPECT_EQ(info.ca_issuers_urls[0], "http://ca.example.test/ca.der");
  ASSERT_EQ(info.crl_urls.size(), 1u);
  EXPECT_EQ(info.crl_urls[0], "http://crl.example.test/ca.crl");
  EXPECT_EQ(info.key_usage, (std::vector<std::string>{"digitalSignature", "keyEncipherment"}));
  EXPECT_EQ(info.extended_key_usage, (std::vector<std::string>{"serverAuth", "clientAuth"}));
  EXPECT_FALSE(info.self_signed);
}

TEST_F(CertificateExtraction, SpkiFingerprintIgnoresCertificate) {
  auto key = testing::make_ec_key("P-256");
  EVP_PKEY_up_ref(key.get());
  detail::EvpPkeyPtr same_key(key.get());
  CertSpec first;
  first.serial = 1;
  CertSpec second;
  second.serial = 2;
  auto a = ca_->issue(first, std::move(key));
  auto b = ca_->issue(second, std::move(same_key));
  const auto info_a = extract_certificate(a.der);
  const auto info_b = extract_certificate(b.der);
  EXPECT_EQ(info_a.spki_sha256, info_b.spki_sha256);
  EXPECT_NE(info_a.sha256_fingerprint, info_b.sha256_fingerprint);
}

TEST_F(CertificateExtraction, ValidityTimesInUtc) {
  CertSpec spec;
  auto leaf = ca_->issue(spec, testing::make_ec_key("P-256"));
  const auto info = extract_certificate(leaf.der);
  ASSERT_TRUE(info.not_before.has_value());
  ASSERT_TRUE(info.not_after.has_value());
  const int64_t now = std::time(nullptr);
  EXPECT_NEAR(static_cast<double>(*info.not_before), static_cast<double>(now - 86400), 5.0);
  EXPECT_NEAR(static_cast<double>(*info.not_after), static_cast<double>(now + 90L * 86400), 5.0);
}

TEST_F(CertificateExtraction, NotAfterIn2051UsesGeneralizedTime) {
  CertSpec spec;
  spec.not_after_epoch = 2565820800;  // 2051-04-23T00:00:00Z
  auto leaf = ca_->issue(spec, testing::make_ec_key("P-256"));
  const auto info = extract_certificate(leaf.der);
  ASSERT_TRUE(info.not_after.has_value());
  EXPECT_EQ(*info.not_after, 2565820800);
  EXPECT_EQ(format_utc(*info.not_after), "2051-04-23T00:00:00Z");
  EXPECT_EQ(ASN1_STRING_type(X509_get0_notAfter(leaf.cert.get())), V_ASN1_GENERALIZEDTIME);
}

TEST_F(CertificateExtraction, NegativeSerialKeepsTwosComplement) {
  CertSpec spec;
  spec.serial = -12345;
  auto leaf = ca_->issue(spec, testing::make_ec_key("P-256"));
  EXPECT_EQ(extract_certificate(leaf.der).serial, "cfc7");
}

TEST_F(CertificateExtraction, SerialWithHighBitHasLeadingZero) {
  CertSpec spec;
  spec.serial = 0x80;
  auto leaf = ca_->issue(spec, testing::make_ec_key("P-256"));
  EXPECT_EQ(extract_certificate(leaf.der).serial, "0080");
}

TEST_F(CertificateExtraction, SanOnlyCertificateHasNoCn) {
  CertSpec spec;
  spec.cn.reset();
  spec.o = "No CN Inc";
  spec.san = "DNS:san-only.example.test";
  auto leaf = ca_->issue(spec, testing::make_ec_key("P-256"));
  const auto info = extract_certificate(leaf.der);
  EXPECT_FALSE(info.subject_cn.has_value());
  EXPECT_EQ(info.subject_o, "No CN Inc");
  ASSERT_EQ(info.sans.size(), 1u);
  EXPECT_EQ(info.sans[0].value, "san-only.example.test");
}

TEST_F(CertificateExtraction, IssuerWithoutOrganizationIsNull) {
  CertSpec spec;
  spec.o.reset();
  auto self = testing::make_cert(spec, testing::make_ec_key("P-256"));
  const auto info = extract_certificate(self.der);
  EXPECT_FALSE(info.subject_o.has_value());
  EXPECT_FALSE(info.issuer_o.has_value());
  EXPECT_EQ(info.issuer_cn, "localhost");
}

TEST_F(CertificateExtraction, EcP256Key) {
  auto leaf = ca_->issue(CertSpec{}, testing::make_ec_key("P-256"));
  const auto info = extract_certificate(leaf.der);
  EXPECT_EQ(info.key_type, "ec");
  EXPECT_EQ(info.key_bits, 256);
  EXPECT_EQ(info.key_curve, "P-256");
}

TEST_F(CertificateExtraction, EcP384Key) {
  auto leaf = ca_->issue(CertSpec{}, testing::make_ec_key("P-384"));
  const auto info = extract_certificate(leaf.der);
  EXPECT_EQ(info.key_type, "ec");
  EXPECT_EQ(info.key_bits, 384);
  EXPECT_EQ(info.key_curve, "P-384");
}

TEST_F(CertificateExtraction, Ed25519SelfSigned) {
  CertSpec spec;
  spec.digest = nullptr;
  auto self = testing::make_cert(spec, testing::make_ed25519_key());
  const auto info = extract_certificate(self.der);
  EXPECT_EQ(info.key_type, "ed25519");
  EXPECT_EQ(info.key_bits, 256);
  EXPECT_FALSE(info.key_curve.has_value());
  EXPECT_EQ(info.signature_algorithm, "ED25519");
  EXPECT_EQ(info.signature_digest, "");
  EXPECT_TRUE(info.self_signed);
}

TEST_F(CertificateExtraction, Rsa1024AndSha1Signature) {
  CertSpec spec;
  spec.digest = EVP_sha1();
  auto leaf = ca_->issue(spec, testing::make_rsa_key(1024));
  const auto info = extract_certificate(leaf.der);
  EXPECT_EQ(info.key_bits, 1024);
  EXPECT_EQ(info.signature_algorithm, "sha1WithRSAEncryption");
  EXPECT_EQ(info.signature_digest, "sha1");
}

TEST_F(CertificateExtraction, MalformedSanLosesOnlyItself) {
  CertSpec spec;
  spec.malformed_san = true;
  spec.authority_info_access = "OCSP;URI:http://ocsp.example.test/";
  auto leaf = ca_->issue(spec, testing::make_ec_key("P-256"));
  const auto info = extract_certificate(leaf.der);
  EXPECT_TRUE(info.sans.empty());
  ASSERT_EQ(info.parse_findings.size(), 1u);
  EXPECT_EQ(info.parse_findings[0].code, "malformed_field");
  EXPECT_NE(info.parse_findings[0].message.find("subjectAltName"), std::string::npos);
  EXPECT_EQ(info.subject_cn, "localhost");
  ASSERT_EQ(info.ocsp_urls.size(), 1u);
  EXPECT_EQ(info.key_curve, "P-256");
}

TEST_F(CertificateExtraction, CaCertificateKeyUsage) {
  const auto info = extract_certificate(ca_->root.der);
  EXPECT_EQ(info.key_usage, (std::vector<std::string>{"keyCertSign", "cRLSign"}));
  EXPECT_TRUE(info.extended_key_usage.empty());
  EXPECT_TRUE(info.self_signed);
  EXPECT_EQ(info.serial, "01");
}

TEST_F(CertificateExtraction, NamesOfChainEntry) {
  auto names = certificate_names(ca_->root.der);
  EXPECT_EQ(names.first, "CN=dnsscience Test Root CA,O=dnsscience tests");
  EXPECT_EQ(names.second, names.first);
}

TEST(CertificateExtractionInput, RejectsNonDer) {
  const Der pem_text = {'-', '-', '-', '-', '-', 'B', 'E', 'G', 'I', 'N'};
  EXPECT_THROW(extract_certificate(pem_text), Error);
  EXPECT_THROW(extract_certificate(Der{}), Error);
}

TEST(CertificateExtractionInput, RejectsTrailingBytes) {
  CertSpec spec;
  auto self = testing::make_cert(spec, testing::make_ec_key("P-256"));
  Der padded = self.der;
  padded.push_back(0);
  EXPECT_THROW(extract_certificate(padded), Error);
}

TEST(FormatUtc, EpochAndLeapDay) {
  EXPECT_EQ(format_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_utc(951782400), "2000-02-29T00:00:00Z");
}

}  // namespace
}  // namespace dnsscience::tls
