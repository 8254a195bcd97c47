#include "dnsscience/tls/prober.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "dnsscience/error.hpp"
#include "tls_test_support.hpp"

namespace dnsscience::tls {
namespace {

using std::chrono::milliseconds;
using testing::CertSpec;
using testing::FakeResolver;
using testing::ServerMode;
using testing::ServerOptions;
using testing::TestCa;
using testing::TestCert;
using testing::TestServer;

bool has_finding(const ProbeResult& result, const std::string& code) {
  for (const auto& finding : result.findings) {
    if (finding.code == code) return true;
  }
  return false;
}

// Returns a loopback port with nothing listening on it.
uint16_t closed_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

class TlsProberTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new TestCa();
    CertSpec spec;
    spec.cn = "localhost";
    spec.o = "dnsscience test server";
    spec.san = "DNS:localhost, IP:127.0.0.1, IP:::1";
    leaf_ = new TestCert(ca_->issue(spec, testing::make_ec_key("P-256")));
  }
  static void TearDownTestSuite() {
    delete leaf_;
    delete ca_;
  }

  void SetUp() override {
    options_.ca_file = ca_->pem_path;
    options_.ehlo_name = "probe.dnsscience.test";
    options_.connect_timeout = milliseconds(1000);
    options_.starttls_timeout = milliseconds(2000);
    options_.handshake_timeout = milliseconds(2000);
    options_.total_timeout = milliseconds(5000);
  }

  static ServerOptions server_options(ServerMode mode, const TestCert& cert = *leaf_) {
    ServerOptions options;
    options.mode = mode;
    options.chain = {cert.cert.get()};
    options.key = cert.key.get();
    return options;
  }

  // Probes every target at once on a fresh loop and returns the results in target order.
  std::vector<std::vector<ProbeResult>> run(const std::vector<ProbeTarget>& targets) {
    EventLoop loop;
    FakeResolver resolver(loop);
    for (const auto& entry : a_records_) resolver.add(entry.first, RRType::A, entry.second);
    for (const auto& entry : aaaa_records_) resolver.add(entry.first, RRType::AAAA, entry.second);
    for (const auto& entry : dns_statuses_) {
      resolver.set_status(entry.first.first, entry.first.second, entry.second);
    }
    std::vector<std::vector<ProbeResult>> results(targets.size());
    size_t remaining = targets.size();
    bool timed_out = false;
    {
      TlsProber prober(loop, resolver, options_);
      for (size_t i = 0; i < targets.size(); ++i) {
        prober.probe(targets[i], [&, i](std::vector<ProbeResult> probe_results) {
          results[i] = std::move(probe_results);
          if (--remaining == 0) loop.stop();
        });
      }
      loop.add_timer(milliseconds(20000), [&] {
        timed_out = true;
        loop.stop();
      });
      loop.run();
    }
    EXPECT_FALSE(timed_out) << "probes did not finish within 20 s";
    return results;
  }

  ProbeResult run_one(const ProbeTarget& target) {
    auto results = run({target});
    EXPECT_EQ(results[0].size(), 1u);
    return results[0].empty() ? ProbeResult() : results[0][0];
  }

  static ProbeTarget local(uint16_t port, std::optional<StartTls> starttls = StartTls::none) {
    ProbeTarget target;
    target.host = "127.0.0.1";
    target.port = port;
    target.starttls = starttls;
    return target;
  }

  static TestCa* ca_;
  static TestCert* leaf_;
  ProberOptions options_;
  std::map<std::string, std::vector<std::string>> a_records_;
  std::map<std::string, std::vector<std::string>> aaaa_records_;
  std::map<std::pair<std::string, RRType>, DnsStatus> dns_statuses_;
};
TestCa* TlsProberTest::ca_ = nullptr;
TestCert* TlsProberTest::leaf_ = nullptr;

TEST_F(TlsProberTest, ValidCertificateByName) {
  TestServer server(server_options(ServerMode::tls));
  a_records_["localhost"] = {"127.0.0.1"};
  ProbeTarget target;
  target.host = "localhost";
  target.port = server.port();
  target.starttls = StartTls::none;

  const ProbeResult result = run_one(target);
  EXPECT_FALSE(result.error.has_value()) << result.error->reason << ": " << result.error->detail;
  EXPECT_EQ(result.status, "valid");
  EXPECT_EQ(result.host, "localhost");
  EXPECT_EQ(result.sni, "localhost");
  EXPECT_EQ(result.address, "127.0.0.1");
  EXPECT_EQ(result.protocol, "TLSv1.3");
  EXPECT_FALSE(result.cipher.empty());
  EXPECT_EQ(result.alpn, "");
  EXPECT_FALSE(result.ocsp_stapled);
  EXPECT_EQ(result.trusted, true);
  EXPECT_EQ(result.hostname_match, true);
  EXPECT_EQ(result.verify_error_code, 0);
  ASSERT_EQ(result.chain.size(), 1u);
  EXPECT_EQ(result.chain[0].der, leaf_->der);
  EXPECT_EQ(result.chain[0].subject, "CN=localhost,O=dnsscience test server");
  ASSERT_TRUE(result.certificate.has_value());
  EXPECT_EQ(result.certificate->subject_cn, "localhost");
  EXPECT_EQ(result.certificate->issuer_cn, "dnsscience Test Root CA");
  EXPECT_EQ(result.certificate->key_curve, "P-256");
  EXPECT_TRUE(result.findings.empty());
  EXPECT_GT(result.elapsed_ms, 0.0);
  EXPECT_GT(result.attempted_at_ms, 1700000000000);
  ASSERT_EQ(server.server_names().size(), 1u);
  EXPECT_EQ(server.server_names()[0], "localhost");
}

TEST_F(TlsProberTest, IpLiteralSendsNoSni) {
  TestServer server(server_options(ServerMode::tls));
  const ProbeResult result = run_one(local(server.port()));
  EXPECT_EQ(result.status, "valid");
  EXPECT_FALSE(result.sni.has_value());
  EXPECT_EQ(result.hostname_match, true);
  ASSERT_EQ(server.server_names().size(), 1u);
  EXPECT_EQ(server.server_names()[0], "");
}

TEST_F(TlsProberTest, ExplicitSniOnIpLiteral) {
  TestServer server(server_options(ServerMode::tls));
  ProbeTarget target = local(server.port());
  target.sni = "other.example.test";
  const ProbeResult result = run_one(target);
  EXPECT_EQ(result.sni, "other.example.test");
  EXPECT_EQ(result.status, "hostname_mismatch");
  EXPECT_EQ(result.hostname_match, false);
  ASSERT_EQ(server.server_names().size(), 1u);
  EXPECT_EQ(server.server_names()[0], "other.example.test");
}

TEST_F(TlsProberTest, Ipv6Literal) {
  ServerOptions options = server_options(ServerMode::tls);
  options.ipv6 = true;
  TestServer server(options);
  ProbeTarget target;
  target.host = "::1";
  target.port = server.port();
  const ProbeResult result = run_one(target);
  EXPECT_EQ(result.status, "valid");
  EXPECT_EQ(result.address, "::1");
}

TEST_F(TlsProberTest, AaaaUsedWithoutA) {
  ServerOptions options = server_options(ServerMode::tls);
  options.ipv6 = true;
  TestServer server(options);
  aaaa_records_["localhost"] = {"::1"};
  ProbeTarget target;
  target.host = "localhost";
  target.port = server.port();
  const ProbeResult result = run_one(target);
  EXPECT_EQ(result.status, "valid");
  EXPECT_EQ(result.address, "::1");
}

TEST_F(TlsProberTest, UnicodeNameProbedAsALabels) {
  TestServer server(server_options(ServerMode::tls));
  a_records_["xn--bcher-kva.example.test"] = {"127.0.0.1"};
  ProbeTarget target;
  target.host = "Bücher.Example.TEST.";
  target.port = server.port();
  const ProbeResult result = run_one(target);
  EXPECT_EQ(result.host, "xn--bcher-kva.example.test");
  EXPECT_EQ(result.sni, "xn--bcher-kva.example.test");
  EXPECT_EQ(result.status, "hostname_mismatch");
  ASSERT_EQ(server.server_names().size(), 1u);
  EXPECT_EQ(server.server_names()[0], "xn--bcher-kva.example.test");
}

TEST_F(TlsProberTest, ExpiredCertificateCollected) {
  CertSpec spec;
  spec.san = "DNS:localhost, IP:127.0.0.1";
  spec.not_before_offset = -10L * 86400;
  spec.not_after_offset = -86400;
  TestCert expired = ca_->issue(spec, testing::make_ec_key("P-256"));
  TestServer server(server_options(ServerMode::tls, expired));
  const ProbeResult result = run_one(local(server.port()));
  EXPECT_FALSE(result.error.has_value());
  EXPECT_EQ(result.status, "expired");
  EXPECT_TRUE(has_finding(result, "expired"));
  ASSERT_TRUE(result.days_until_expiry.has_value());
  EXPECT_LT(*result.days_until_expiry, 0);
}

TEST_F(TlsProberTest, NotYetValidCertificateCollected) {
  CertSpec spec;
  spec.san = "IP:127.0.0.1";
  spec.not_before_offset = 2L * 86400;
  TestServer server(server_options(ServerMode::tls, ca_->issue(spec, testing::make_ec_key("P-256"))));
  EXPECT_EQ(run_one(local(server.port())).status, "not_yet_valid");
}

TEST_F(TlsProberTest, SelfSignedCollectedAsUntrusted) {
  CertSpec spec;
  spec.san = "IP:127.0.0.1";
  TestCert self = testing::make_cert(spec, testing::make_ec_key("P-256"));
  TestServer server(server_options(ServerMode::tls, self));
  const ProbeResult result = run_one(local(server.port()));
  EXPECT_EQ(result.status, "untrusted");
  EXPECT_EQ(result.trusted, false);
  EXPECT_EQ(result.verify_error_code, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
  EXPECT_EQ(result.verify_error, "self-signed certificate");
  EXPECT_TRUE(has_finding(result, "self_signed"));
  EXPECT_TRUE(result.certificate->self_signed);
}

TEST_F(TlsProberTest, SystemStoreDoesNotTrustTestCa) {
  options_.ca_file.clear();
  TestServer server(server_options(ServerMode::tls));
  const ProbeResult result = run_one(local(server.port()));
  EXPECT_EQ(result.status, "untrusted");
  EXPECT_EQ(result.verify_error_code, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(TlsProberTest, WildcardCertificateMatches) {
  CertSpec spec;
  spec.cn.reset();
  spec.san = "DNS:*.example.test";
  TestServer server(server_options(ServerMode::tls, ca_->issue(spec, testing::make_ec_key("P-256"))));
  a_records_["www.example.test"] = {"127.0.0.1"};
  a_records_["example.test"] = {"127.0.0.1"};
  ProbeTarget covered;
  covered.host = "www.example.test";
  covered.port = server.port();
  ProbeTarget apex = covered;
  apex.host = "example.test";
  auto results = run({covered, apex});
  EXPECT_EQ(results[0][0].status, "valid");
  EXPECT_EQ(results[1][0].status, "hostname_mismatch");
  EXPECT_FALSE(results[0][0].certificate->subject_cn.has_value());
}

TEST_F(TlsProberTest, WeakRsaSha1Collected) {
  CertSpec spec;
  spec.san = "IP:127.0.0.1";
  spec.digest = EVP_sha1();
  TestServer server(server_options(ServerMode::tls, ca_->issue(spec, testing::make_rsa_key(1024))));
  const ProbeResult result = run_one(local(server.port()));
  EXPECT_FALSE(result.error.has_value());
  EXPECT_EQ(result.status, "valid");
  EXPECT_EQ(result.certificate->key_bits, 1024);
  EXPECT_TRUE(has_finding(result, "weak_key"));
  EXPECT_TRUE(has_finding(result, "weak_signature"));
}

TEST_F(TlsProberTest, Ed25519AndP384Collected) {
  CertSpec spec;
  spec.san = "IP:127.0.0.1";
  TestServer ed25519(server_options(ServerMode::tls, ca_->issue(spec, testing::make_ed25519_key())));
  TestServer p384(server_options(ServerMode::tls, ca_->issue(spec, testing::make_ec_key("P-384"))));
  auto results = run({local(ed25519.port()), local(p384.port())});
  EXPECT_EQ(results[0][0].status, "valid");
  EXPECT_EQ(results[0][0].certificate->key_type, "ed25519");
  EXPECT_EQ(results[1][0].status, "valid");
  EXPECT_EQ(results[1][0].certificate->key_curve, "P-384");
}

TEST_F(TlsProberTest, ChainWithIntermediate) {
  CertSpec intermediate_spec;
  intermediate_spec.cn = "dnsscience Test Intermediate";
  intermediate_spec.ca = true;
  TestCert intermediate = ca_->issue(intermediate_spec, testing::make_ec_key("P-384"));
  CertSpec spec;
  spec.san = "IP:127.0.0.1";
  TestCert leaf = testing::make_cert(spec, testing::make_ec_key("P-256"), &intermediate);
  ServerOptions options = server_options(ServerMode::tls, leaf);
  options.chain.push_back(intermediate.cert.get());
  TestServer server(options);
  const ProbeResult result = run_one(local(server.port()));
  EXPECT_EQ(result.status, "valid");
  ASSERT_EQ(result.chain.size(), 2u);
  EXPECT_EQ(result.chain[0].issuer, "CN=dnsscience Test Intermediate");
  EXPECT_EQ(result.chain[1].subject, "CN=dnsscience Test Intermediate");
  EXPECT_EQ(result.chain[1].der, intermediate.der);
}

TEST_F(TlsProberTest, AlpnAndStapledOcsp) {
  ServerOptions options = server_options(ServerMode::tls);
  options.offer_alpn_h2 = true;
  options.staple_ocsp = true;
  TestServer server(options);
  options_.alpn_ports = {server.port()};
  const ProbeResult result = run_one(local(server.port()));
  EXPECT_EQ(result.alpn, "h2");
  EXPECT_TRUE(result.ocsp_stapled);
}

TEST_F(TlsProberTest, NoAlpnOutsideHttpsPorts) {
  ServerOptions options = server_options(ServerMode::tls);
  options.offer_alpn_h2 = true;
  TestServer server(options);
  EXPECT_EQ(run_one(local(server.port())).alpn, "");
}

TEST_F(TlsProberTest, RefusedPort) {
  const ProbeResult result = run_one(local(closed_port()));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.status, "failed");
  EXPECT_EQ(result.error->stage, "connect");
  EXPECT_EQ(result.error->reason, "connection_refused");
  EXPECT_FALSE(result.error->transient);
  EXPECT_EQ(result.address, "127.0.0.1");
  EXPECT_FALSE(result.certificate.has_value());
}

TEST_F(TlsProberTest, SilentAcceptorHandshakeTimeout) {
  TestServer server(server_options(ServerMode::silent));
  options_.handshake_timeout = milliseconds(300);
  const ProbeResult result = run_one(local(server.port()));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->stage, "handshake");
  EXPECT_EQ(result.error->reason, "handshake_timeout");
  EXPECT_TRUE(result.error->transient);
  EXPECT_GE(result.elapsed_ms, 290.0);
  EXPECT_LT(result.elapsed_ms, 2000.0);
}

TEST_F(TlsProberTest, TotalTimeoutBeforeHandshakeTimeout) {
  TestServer server(server_options(ServerMode::silent));
  options_.handshake_timeout = milliseconds(5000);
  options_.total_timeout = milliseconds(300);
  const ProbeResult result = run_one(local(server.port()));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->stage, "total");
  EXPECT_EQ(result.error->reason, "total_timeout");
  EXPECT_LT(result.elapsed_ms, 2000.0);
}

TEST_F(TlsProberTest, CloseAfterClientHello) {
  TestServer server(server_options(ServerMode::close_after_hello));
  const ProbeResult result = run_one(local(server.port()));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->stage, "handshake");
  EXPECT_TRUE(result.error->reason == "connection_closed" ||
              result.error->reason == "connection_reset")
      << result.error->reason;
  EXPECT_TRUE(result.error->transient);
}

TEST_F(TlsProberTest, GarbageBytesAreProtocolError) {
  TestServer server(server_options(ServerMode::garbage));
  const ProbeResult result = run_one(local(server.port()));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->stage, "handshake");
  EXPECT_EQ(result.error->reason, "protocol_error");
  EXPECT_FALSE(result.error->detail.empty());
  EXPECT_FALSE(result.error->transient);
}

TEST_F(TlsProberTest, UnrecognizedNameAlert) {
  ServerOptions options = server_options(ServerMode::tls);
  options.reject_sni = true;
  TestServer server(options);
  ProbeTarget target = local(server.port());
  target.sni = "unknown.example.test";
  const ProbeResult result = run_one(target);
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->stage, "handshake");
  EXPECT_EQ(result.error->reason, "tls_alert");
  EXPECT_EQ(result.error->detail, "unrecognized_name");
}

TEST_F(TlsProberTest, Tls10ServerCollected) {
  ServerOptions options = server_options(ServerMode::tls);
  options.max_version = TLS1_VERSION;
  TestServer server(options);
  const ProbeResult result = run_one(local(server.port()));
  EXPECT_FALSE(result.error.has_value()) << result.error->reason << ": " << result.error->detail;
  EXPECT_EQ(result.protocol, "TLSv1");
  EXPECT_EQ(result.status, "valid");
}

TEST_F(TlsProberTest, ChainKeptWhenHandshakeFailsLater) {
  // In TLS 1.2 the server sends its chain, then rejects the client for lacking a
  // client certificate before its Finished message.
  ServerOptions options = server_options(ServerMode::tls);
  options.max_version = TLS1_2_VERSION;
  options.require_client_cert = true;
  TestServer server(options);
  const ProbeResult result = run_one(local(server.port()));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.status, "failed");
  EXPECT_EQ(result.error->stage, "handshake");
  EXPECT_EQ(result.error->reason, "tls_alert");
  EXPECT_FALSE(result.error->detail.empty());
  ASSERT_EQ(result.chain.size(), 1u);
  EXPECT_EQ(result.chain[0].der, leaf_->der);
  ASSERT_TRUE(result.certificate.has_value());
  EXPECT_EQ(result.certificate->subject_cn, "localhost");
  EXPECT_EQ(result.trusted, true);
  EXPECT_EQ(result.protocol, "");
}

TEST_F(TlsProberTest, HandshakeReadCap) {
  TestServer server(server_options(ServerMode::tls));
  options_.max_read_bytes = 200;
  const ProbeResult result = run_one(local(server.port()));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->stage, "handshake");
  EXPECT_EQ(result.error->reason, "too_much_data");
}

TEST_F(TlsProberTest, SmtpStartTlsOffered) {
  TestServer server(server_options(ServerMode::smtp));
  const ProbeResult result = run_one(local(server.port(), StartTls::smtp));
  EXPECT_FALSE(result.error.has_value()) << result.error->reason << ": " << result.error->detail;
  EXPECT_EQ(result.status, "valid");
  EXPECT_EQ(result.starttls, StartTls::smtp);
  EXPECT_EQ(result.banner, "220-mail.test ESMTP test server\n220 mail.test ready");
  ASSERT_TRUE(result.ehlo_after_tls.has_value());
  EXPECT_EQ(*result.ehlo_after_tls, "250-mail.test greets you again\n250 8BITMIME");
  EXPECT_FALSE(result.ehlo_after_tls_error.has_value());
  const auto lines = server.received_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "EHLO probe.dnsscience.test");
  EXPECT_EQ(lines[1], "STARTTLS");
  const auto tls_lines = server.received_tls_lines();
  ASSERT_GE(tls_lines.size(), 1u);
  EXPECT_EQ(tls_lines[0], "EHLO probe.dnsscience.test");
}

TEST_F(TlsProberTest, SmtpStartTlsNotOffered) {
  ServerOptions options = server_options(ServerMode::smtp);
  options.smtp_offer_starttls = false;
  TestServer server(options);
  const ProbeResult result = run_one(local(server.port(), StartTls::smtp));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->stage, "starttls");
  EXPECT_EQ(result.error->reason, "starttls_not_offered");
  EXPECT_FALSE(result.error->transient);
  EXPECT_EQ(result.banner, "220-mail.test ESMTP test server\n220 mail.test ready");
  EXPECT_EQ(result.protocol, "");
}

TEST_F(TlsProberTest, Smtp421IsTransient) {
  ServerOptions options = server_options(ServerMode::smtp);
  options.smtp_greeting = "421 4.7.0 mail.test busy, try again later\r\n";
  TestServer server(options);
  const ProbeResult result = run_one(local(server.port(), StartTls::smtp));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->stage, "starttls");
  EXPECT_EQ(result.error->reason, "transient");
  EXPECT_TRUE(result.error->transient);
  EXPECT_EQ(result.banner, "421 4.7.0 mail.test busy, try again later");
}

TEST_F(TlsProberTest, SmtpEndlessGreetingHitsReadCap) {
  TestServer server(server_options(ServerMode::flood));
  options_.max_read_bytes = 64 * 1024;
  const ProbeResult result = run_one(local(server.port(), StartTls::smtp));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->stage, "starttls");
  EXPECT_EQ(result.error->reason, "too_much_data");
  EXPECT_FALSE(result.banner.empty());
  EXPECT_LE(result.banner.size(), 4096u);
}

TEST_F(TlsProberTest, SmtpSilentServerStarttlsTimeout) {
  TestServer server(server_options(ServerMode::silent));
  options_.starttls_timeout = milliseconds(300);
  const ProbeResult result = run_one(local(server.port(), StartTls::smtp));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->stage, "starttls");
  EXPECT_EQ(result.error->reason, "starttls_timeout");
  EXPECT_TRUE(result.error->transient);
}

TEST_F(TlsProberTest, ImapStartTls) {
  TestServer server(server_options(ServerMode::imap));
  const ProbeResult result = run_one(local(server.port(), StartTls::imap));
  EXPECT_FALSE(result.error.has_value()) << result.error->reason << ": " << result.error->detail;
  EXPECT_EQ(result.status, "valid");
  EXPECT_EQ(result.banner, "* OK IMAP4rev1 test server ready");
  const auto lines = server.received_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "a0 CAPABILITY");
  EXPECT_EQ(lines[1], "a1 STARTTLS");
  EXPECT_FALSE(result.ehlo_after_tls.has_value());
}

TEST_F(TlsProberTest, ImapWithoutStartTls) {
  ServerOptions options = server_options(ServerMode::imap);
  options.imap_offer_starttls = false;
  TestServer server(options);
  const ProbeResult result = run_one(local(server.port(), StartTls::imap));
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->reason, "starttls_not_offered");
}

TEST_F(TlsProberTest, Pop3Stls) {
  TestServer server(server_options(ServerMode::pop3));
  const ProbeResult result = run_one(local(server.port(), StartTls::pop3));
  EXPECT_FALSE(result.error.has_value()) << result.error->reason << ": " << result.error->detail;
  EXPECT_EQ(result.status, "valid");
  EXPECT_EQ(result.banner, "+OK POP3 test server ready");
  const auto lines = server.received_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "CAPA");
  EXPECT_EQ(lines[1], "STLS");
}

TEST_F(TlsProberTest, StartTlsFollowsPortByDefault) {
  ProbeTarget target = local(closed_port(), std::nullopt);
  EXPECT_EQ(run_one(target).starttls, StartTls::none);
  EXPECT_EQ(default_starttls(25), StartTls::smtp);
  EXPECT_EQ(default_starttls(587), StartTls::smtp);
  EXPECT_EQ(default_starttls(143), StartTls::imap);
  EXPECT_EQ(default_starttls(110), StartTls::pop3);
  EXPECT_EQ(default_starttls(465), StartTls::none);
  EXPECT_EQ(default_starttls(993), StartTls::none);
  EXPECT_EQ(default_starttls(995), StartTls::none);
}

TEST_F(TlsProberTest, ResolveFailures) {
  dns_statuses_[{"gone.example.test", RRType::A}] = DnsStatus::nxdomain;
  dns_statuses_[{"slow.example.test", RRType::A}] = DnsStatus::timeout;
  ProbeTarget gone;
  gone.host = "gone.example.test";
  ProbeTarget empty = gone;
  empty.host = "empty.example.test";
  ProbeTarget slow = gone;
  slow.host = "slow.example.test";
  auto results = run({gone, empty, slow});

  ASSERT_TRUE(results[0][0].error.has_value());
  EXPECT_EQ(results[0][0].error->stage, "resolve");
  EXPECT_EQ(results[0][0].error->reason, "nxdomain");
  EXPECT_FALSE(results[0][0].error->transient);
  EXPECT_EQ(results[0][0].address, "");

  ASSERT_TRUE(results[1][0].error.has_value());
  EXPECT_EQ(results[1][0].error->reason, "no_address");
  EXPECT_FALSE(results[1][0].error->transient);

  ASSERT_TRUE(results[2][0].error.has_value());
  EXPECT_EQ(results[2][0].error->reason, "dns_failure");
  EXPECT_TRUE(results[2][0].error->transient);
  EXPECT_NE(results[2][0].error->detail.find("timeout"), std::string::npos);
}

TEST_F(TlsProberTest, FirstAddressOnlyByDefault) {
  TestServer server(server_options(ServerMode::tls));
  a_records_["localhost"] = {"127.0.0.1", "127.0.0.2"};
  ProbeTarget target;
  target.host = "localhost";
  target.port = server.port();
  auto results = run({target});
  ASSERT_EQ(results[0].size(), 1u);
  EXPECT_EQ(results[0][0].address, "127.0.0.1");
}

TEST_F(TlsProberTest, ProbeAllAddresses) {
  TestServer server(server_options(ServerMode::tls));
  options_.probe_all_addresses = true;
  a_records_["localhost"] = {"127.0.0.1", "127.0.0.2"};
  ProbeTarget target;
  target.host = "localhost";
  target.port = server.port();
  auto results = run({target});
  ASSERT_EQ(results[0].size(), 2u);
  EXPECT_EQ(results[0][0].address, "127.0.0.1");
  EXPECT_EQ(results[0][0].status, "valid");
  // The server listens on 127.0.0.1 only, so the second loopback address refuses.
  EXPECT_EQ(results[0][1].address, "127.0.0.2");
  ASSERT_TRUE(results[0][1].error.has_value());
  EXPECT_EQ(results[0][1].error->reason, "connection_refused");
}

TEST_F(TlsProberTest, PerAddressCapQueuesConnections) {
  ServerOptions options = server_options(ServerMode::tls);
  options.accept_delay_ms = 150;
  TestServer server(options);
  options_.max_per_address = 2;
  std::vector<ProbeTarget> targets(6, local(server.port()));
  auto results = run(targets);
  for (const auto& result : results) {
    ASSERT_EQ(result.size(), 1u);
    EXPECT_EQ(result[0].status, "valid");
  }
  EXPECT_EQ(server.connections(), 6);
  EXPECT_LE(server.max_concurrent(), 2);
}

TEST_F(TlsProberTest, HigherCapAllowsMoreConcurrency) {
  ServerOptions options = server_options(ServerMode::tls);
  options.accept_delay_ms = 300;
  TestServer server(options);
  options_.max_per_address = 6;
  auto results = run(std::vector<ProbeTarget>(6, local(server.port())));
  EXPECT_GT(server.max_concurrent(), 2);
}

TEST_F(TlsProberTest, ManyHandshakesInFlight) {
  TestServer server(server_options(ServerMode::tls));
  options_.max_per_address = 200;
  // A SYN dropped by a full accept queue is resent after 1 s, so the connect deadline
  // must exceed that.
  options_.connect_timeout = milliseconds(5000);
  options_.handshake_timeout = milliseconds(10000);
  options_.total_timeout = milliseconds(15000);
  auto results = run(std::vector<ProbeTarget>(200, local(server.port())));
  size_t valid = 0;
  for (const auto& result : results) {
    ASSERT_EQ(result.size(), 1u);
    if (result[0].status == "valid") {
      ++valid;
    } else if (result[0].error) {
      ADD_FAILURE() << result[0].error->stage << "/" << result[0].error->reason << ": "
                    << result[0].error->detail;
    }
  }
  EXPECT_EQ(valid, 200u);
  EXPECT_EQ(server.connections(), 200);
}

// A listening socket whose accept queue is full: the kernel drops further SYNs, so a
// connect to it neither succeeds nor is refused until the client gives up.
class SynDropper {
 public:
  SynDropper() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(listener_, 0);
    socklen_t length = sizeof address;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    // A backlog of 0 still queues one connection, so two fillers leave no room.
    for (int& filler : fillers_) {
      filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      connect(filler, reinterpret_cast<sockaddr*>(&address), sizeof address);
    }
    usleep(50 * 1000);
  }
  ~SynDropper() {
    for (int filler : fillers_) close(filler);
    close(listener_);
  }
  uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  int fillers_[2] = {-1, -1};
  uint16_t port_ = 0;
};

TEST_F(TlsProberTest, HandshakeCapQueuesConnections) {
  // The silent server accepts and never responds, so each handshake keeps its place
  // until the handshake deadline. With one place the three run one after another.
  TestServer server(server_options(ServerMode::silent));
  options_.max_per_address = 10;
  options_.max_handshakes = 1;
  options_.handshake_timeout = milliseconds(300);
  auto results = run(std::vector<ProbeTarget>(3, local(server.port())));
  std::vector<double> elapsed;
  for (const auto& result : results) {
    ASSERT_EQ(result.size(), 1u);
    ASSERT_TRUE(result[0].error.has_value());
    EXPECT_EQ(result[0].error->reason, "handshake_timeout");
    elapsed.push_back(result[0].elapsed_ms);
  }
  std::sort(elapsed.begin(), elapsed.end());
  EXPECT_GE(elapsed[0], 290.0);
  EXPECT_GE(elapsed[1], 580.0);
  EXPECT_GE(elapsed[2], 870.0);
  EXPECT_EQ(server.connections(), 3);
}

TEST_F(TlsProberTest, ConnectingTargetsLeaveHandshakes) {
  // Two targets never complete their TCP connect; the one handshake place stays free
  // for the reachable server, which finishes long before their connect deadline.
  SynDropper dropper;
  TestServer server(server_options(ServerMode::tls));
  options_.max_per_address = 10;
  options_.max_handshakes = 1;
  options_.connect_timeout = milliseconds(1500);
  auto results = run({local(dropper.port()), local(dropper.port()), local(server.port())});
  ASSERT_EQ(results[2].size(), 1u);
  EXPECT_EQ(results[2][0].status, "valid");
  EXPECT_LT(results[2][0].elapsed_ms, 1000.0);
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_EQ(results[i].size(), 1u);
    ASSERT_TRUE(results[i][0].error.has_value());
    EXPECT_EQ(results[i][0].error->reason, "connect_timeout");
  }
}

TEST_F(TlsProberTest, ZeroHandshakeCapRejected) {
  options_.max_handshakes = 0;
  EXPECT_THROW(options_.validate(), Error);
}

TEST_F(TlsProberTest, RefusedQueueDrains) {
  options_.max_per_address = 1;
  auto results = run(std::vector<ProbeTarget>(500, local(closed_port())));
  for (const auto& result : results) {
    ASSERT_EQ(result.size(), 1u);
    ASSERT_TRUE(result[0].error.has_value());
    EXPECT_EQ(result[0].error->reason, "connection_refused");
  }
}

TEST_F(TlsProberTest, QueuedProbeHitsTotalTimeout) {
  TestServer server(server_options(ServerMode::silent));
  options_.max_per_address = 1;
  options_.total_timeout = milliseconds(300);
  auto results = run({local(server.port()), local(server.port())});
  for (const auto& result : results) {
    ASSERT_EQ(result.size(), 1u);
    ASSERT_TRUE(result[0].error.has_value());
    EXPECT_EQ(result[0].error->reason, "total_timeout");
    EXPECT_LT(result[0].elapsed_ms, 2000.0);
  }
  // The second probe waits for the first one's slot. Both deadlines fire in the same
  // loop round, so the freed slot may let it connect just before its own deadline.
  EXPECT_GE(server.connections(), 1);
}

TEST_F(TlsProberTest, CallbackNeverBeforeProbeReturns) {
  EventLoop loop;
  FakeResolver resolver(loop);
  TlsProber prober(loop, resolver, options_);
  bool called = false;
  // A refused loopback connect can fail inside connect() itself.
  prober.probe(local(closed_port()), [&](std::vector<ProbeResult>) {
    called = true;
    loop.stop();
  });
  EXPECT_FALSE(called);
  loop.add_timer(milliseconds(5000), [&] { loop.stop(); });
  loop.run();
  EXPECT_TRUE(called);
}

TEST_F(TlsProberTest, DestroyingProberAbandonsProbes) {
  TestServer server(server_options(ServerMode::silent));
  EventLoop loop;
  FakeResolver resolver(loop);
  bool called = false;
  {
    TlsProber prober(loop, resolver, options_);
    prober.probe(local(server.port()), [&](std::vector<ProbeResult>) { called = true; });
    loop.run_once(milliseconds(50));
    loop.run_once(milliseconds(50));
    EXPECT_EQ(prober.connections_in_flight(), 1u);
  }
  loop.add_timer(milliseconds(100), [&] { loop.stop(); });
  loop.run();
  EXPECT_FALSE(called);
}

TEST_F(TlsProberTest, InvalidOptionsRejected) {
  EventLoop loop;
  FakeResolver resolver(loop);
  ProberOptions bad = options_;
  bad.connect_timeout = milliseconds(0);
  EXPECT_THROW(TlsProber(loop, resolver, bad), Error);
  bad = options_;
  bad.ehlo_name = "two words";
  EXPECT_THROW(TlsProber(loop, resolver, bad), Error);
  bad = options_;
  bad.max_per_address = 0;
  EXPECT_THROW(TlsProber(loop, resolver, bad), Error);
  bad = options_;
  bad.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(TlsProber(loop, resolver, bad), Error);
}

TEST(ParseTarget, HostAndPortForms) {
  ProbeTarget target = parse_target("Example.COM.:8443");
  EXPECT_EQ(target.host, "example.com");
  EXPECT_EQ(target.port, 8443);
  EXPECT_FALSE(target.sni.has_value());
  EXPECT_FALSE(target.starttls.has_value());

  target = parse_target("[2001:db8::1]:993");
  EXPECT_EQ(target.host, "2001:db8::1");
  EXPECT_EQ(target.port, 993);

  target = parse_target("mail.example.com", 25);
  EXPECT_EQ(target.host, "mail.example.com");
  EXPECT_EQ(target.port, 25);

  target = parse_target("2001:db8::2");
  EXPECT_EQ(target.host, "2001:db8::2");
  EXPECT_EQ(target.port, 443);
}

TEST(ParseTarget, JsonObjectOverrides) {
  const ProbeTarget target = parse_target(
      R"({"host": "127.0.0.1", "port": 2525, "sni": "mx.example.test", "starttls": "smtp"})");
  EXPECT_EQ(target.host, "127.0.0.1");
  EXPECT_EQ(target.port, 2525);
  EXPECT_EQ(target.sni, "mx.example.test");
  EXPECT_EQ(target.starttls, StartTls::smtp);
}

TEST(ParseTarget, InvalidItemsRejected) {
  EXPECT_THROW(parse_target(":443"), Error);
  EXPECT_THROW(parse_target("example.com:0"), Error);
  EXPECT_THROW(parse_target("example.com:70000"), Error);
  EXPECT_THROW(parse_target("example.com:https"), Error);
  EXPECT_THROW(parse_target("[2001:db8::1"), Error);
  EXPECT_THROW(parse_target("[not-an-ip]:443"), Error);
  EXPECT_THROW(parse_target(R"({"port": 443})"), Error);
  EXPECT_THROW(parse_target(R"({"host": "a.test", "starttls": "ftp"})"), Error);
  EXPECT_THROW(parse_target(R"({"host": "a.test", "port": 0})"), Error);
  EXPECT_THROW(parse_target("{not json"), Error);
}

}  // namespace
}  // namespace dnsscience::tls
