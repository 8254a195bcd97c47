#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "dnsscience/error.hpp"
#include "dnsscience/tls/probe_result.hpp"
#include "tls/openssl_util.hpp"
#include "tls_test_support.hpp"

namespace dnsscience::tls {
namespace {

using nlohmann::json;

ProbeResult failed_result() {
  ProbeResult result;
  result.host = "mx.example.test";
  result.port = 25;
  result.sni = "mx.example.test";
  result.address = "192.0.2.25";
  result.starttls = StartTls::smtp;
  result.attempted_at_ms = 1764880496789;  // 2025-12-04T20:34:56.789Z
  result.elapsed_ms = 12.5;
  result.error = ProbeError{"starttls", "transient", "421 4.7.0 busy", true};
  result.banner = "421 4.7.0 busy";
  return result;
}

TEST(TlsResultJson, FailedResultKeysAndNulls) {
  const json document = json::parse(to_json(failed_result()));
  EXPECT_EQ(document["host"], "mx.example.test");
  EXPECT_EQ(document["port"], 25);
  EXPECT_EQ(document["sni"], "mx.example.test");
  EXPECT_EQ(document["address"], "192.0.2.25");
  EXPECT_EQ(document["starttls"], "smtp");
  EXPECT_EQ(document["attempted_at"], "2025-12-04T20:34:56.789Z");
  EXPECT_EQ(document["elapsed_ms"], 12.5);
  EXPECT_EQ(document["status"], "failed");
  EXPECT_EQ(document["error"]["stage"], "starttls");
  EXPECT_EQ(document["error"]["reason"], "transient");
  EXPECT_EQ(document["error"]["detail"], "421 4.7.0 busy");
  EXPECT_EQ(document["error"]["transient"], true);
  EXPECT_TRUE(document["protocol"].is_null());
  EXPECT_TRUE(document["cipher"].is_null());
  EXPECT_TRUE(document["alpn"].is_null());
  EXPECT_EQ(document["ocsp_stapled"], false);
  EXPECT_TRUE(document["trusted"].is_null());
  EXPECT_TRUE(document["verify_error"].is_null());
  EXPECT_TRUE(document["verify_error_code"].is_null());
  EXPECT_TRUE(document["hostname_match"].is_null());
  EXPECT_EQ(document["chain"], json::array());
  EXPECT_EQ(document["banner"], "421 4.7.0 busy");
  EXPECT_TRUE(document["ehlo_after_tls"].is_null());
  EXPECT_TRUE(document["certificate"].is_null());
  EXPECT_EQ(document["findings"], json::array());
}

TEST(TlsResultJson, ResolveFailureHasNullAddressAndSni) {
  ProbeResult result;
  result.host = "192.0.2.1";
  result.port = 443;
  result.error = ProbeError{"connect", "connection_refused", "Connection refused", false};
  const json document = json::parse(to_json(result));
  EXPECT_TRUE(document["sni"].is_null());
  EXPECT_TRUE(document["banner"].is_null());
  EXPECT_EQ(document["starttls"], "none");
  EXPECT_EQ(document["error"]["transient"], false);
}

TEST(TlsResultJson, JudgedCertificate) {
  testing::TestCa ca;
  testing::CertSpec spec;
  spec.cn = "www.example.test";
  spec.o = "Example";
  spec.san = "DNS:www.example.test, IP:192.0.2.1";
  spec.serial = -12345;
  spec.authority_info_access = "OCSP;URI:http://ocsp.example.test/";
  spec.not_after_epoch = 2565820800;  // 2051-04-23T00:00:00Z
  const testing::TestCert leaf = ca.issue(spec, testing::make_rsa_key(2048));

  ProbeResult result;
  result.host = "www.example.test";
  result.port = 443;
  result.sni = "www.example.test";
  result.address = "192.0.2.1";
  result.status = "untrusted";
  result.protocol = "TLSv1.3";
  result.cipher = "TLS_AES_256_GCM_SHA384";
  result.alpn = "h2";
  result.ocsp_stapled = true;
  result.trusted = false;
  result.verify_error = "unable to get local issuer certificate";
  result.verify_error_code = 20;
  result.hostname_match = true;
  result.chain.push_back({leaf.der, "CN=www.example.test,O=Example",
                          "CN=dnsscience Test Root CA,O=dnsscience tests"});
  result.certificate = extract_certificate(leaf.der);
  result.days_until_expiry = 9000;
  result.findings.push_back({"untrusted", "critical", "the chain does not verify"});
  result.ehlo_after_tls_error = std::string("timed out waiting for the EHLO reply");

  const json document = json::parse(to_json(result));
  EXPECT_EQ(document["protocol"], "TLSv1.3");
  EXPECT_EQ(document["alpn"], "h2");
  EXPECT_EQ(document["ocsp_stapled"], true);
  EXPECT_EQ(document["trusted"], false);
  EXPECT_EQ(document["verify_error_code"], 20);
  EXPECT_EQ(document["hostname_match"], true);
  EXPECT_TRUE(document["error"].is_null());
  ASSERT_EQ(document["chain"].size(), 1u);
  EXPECT_EQ(document["chain"][0]["der_base64"], detail::to_base64(leaf.der));
  EXPECT_EQ(document["chain"][0]["subject"], "CN=www.example.test,O=Example");
  EXPECT_TRUE(document["ehlo_after_tls"]["reply"].is_null());
  EXPECT_EQ(document["ehlo_after_tls"]["error"], "timed out waiting for the EHLO reply");

  const json& certificate = document["certificate"];
  EXPECT_EQ(certificate["subject_cn"], "www.example.test");
  EXPECT_EQ(certificate["subject_o"], "Example");
  EXPECT_EQ(certificate["issuer_cn"], "dnsscience Test Root CA");
  EXPECT_EQ(certificate["issuer_o"], "dnsscience tests");
  ASSERT_EQ(certificate["sans"].size(), 2u);
  EXPECT_EQ(certificate["sans"][0], (json{{"type", "dns"}, {"value", "www.example.test"}}));
  EXPECT_EQ(certificate["sans"][1], (json{{"type", "ip"}, {"value", "192.0.2.1"}}));
  EXPECT_EQ(certificate["not_after"], "2051-04-23T00:00:00Z");
  EXPECT_TRUE(certificate["not_before"].is_string());
  EXPECT_EQ(certificate["days_until_expiry"], 9000);
  EXPECT_EQ(certificate["serial"], "cfc7");
  EXPECT_EQ(certificate["signature_algorithm"], "sha256WithRSAEncryption");
  EXPECT_EQ(certificate["key_type"], "rsa");
  EXPECT_EQ(certificate["key_bits"], 2048);
  EXPECT_TRUE(certificate["key_curve"].is_null());
  EXPECT_EQ(certificate["sha256_fingerprint"].get<std::string>().size(), 64u);
  EXPECT_EQ(certificate["spki_sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(certificate["sct_count"], 0);
  EXPECT_EQ(certificate["ocsp_urls"], (json{"http://ocsp.example.test/"}));
  EXPECT_EQ(certificate["crl_urls"], json::array());
  EXPECT_EQ(certificate["ca_issuers_urls"], json::array());
  EXPECT_EQ(certificate["key_usage"], (json{"digitalSignature", "keyEncipherment"}));
  EXPECT_EQ(certificate["extended_key_usage"], (json{"serverAuth"}));
  EXPECT_EQ(certificate["self_signed"], false);

  ASSERT_EQ(document["findings"].size(), 1u);
  EXPECT_EQ(document["findings"][0]["code"], "untrusted");
  EXPECT_EQ(document["findings"][0]["severity"], "critical");
}

TEST(TlsResultJson, InvalidUtf8BannerReplaced) {
  ProbeResult result = failed_result();
  result.banner = std::string("220 \xff\xfe binary");
  const json document = json::parse(to_json(result));
  EXPECT_EQ(document["banner"], "220 \xEF\xBF\xBD\xEF\xBF\xBD binary");
}

TEST(TlsResultJson, SeveralResultsFormAnArray) {
  const json document = json::parse(to_json(std::vector<ProbeResult>{failed_result(), failed_result()}));
  ASSERT_TRUE(document.is_array());
  EXPECT_EQ(document.size(), 2u);
  EXPECT_EQ(document[1]["host"], "mx.example.test");
}

TEST(TlsResultJson, StartTlsNamesRoundTrip) {
  for (StartTls protocol : {StartTls::none, StartTls::smtp, StartTls::imap, StartTls::pop3}) {
    EXPECT_EQ(parse_starttls(starttls_name(protocol)), protocol);
  }
  EXPECT_THROW(parse_starttls("SMTP"), Error);
}

}  // namespace
}  // namespace dnsscience::tls
