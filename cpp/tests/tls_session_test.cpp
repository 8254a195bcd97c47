#include "dnsscience/tls/tls_session.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "dnsscience/error.hpp"
#include "tls_test_support.hpp"

namespace dnsscience::tls {
namespace {

using nlohmann::json;
using testing::ServerMode;
using testing::ServerOptions;
using testing::TestServer;

// Polls until `count` results arrived or 20 s passed.
std::vector<json> collect(BatchSession& session, size_t count) {
  std::vector<json> documents;
  for (int round = 0; round < 40 && documents.size() < count; ++round) {
    for (const auto& text : session.poll(0, 0.5)) documents.push_back(json::parse(text));
  }
  return documents;
}

class TlsSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::CertSpec spec;
    spec.san = "IP:127.0.0.1";
    leaf_ = ca_.issue(spec, testing::make_ec_key("P-256"));
    ServerOptions server;
    server.chain = {leaf_.cert.get()};
    server.key = leaf_.key.get();
    server.mode = ServerMode::tls;
    server_ = std::make_unique<TestServer>(server);

    // Items here are IP literals, so the nameserver is never queried.
    options_.dns.nameservers = {Nameserver::parse("127.0.0.1:9")};
    options_.prober.ca_file = ca_.pem_path;
    options_.prober.total_timeout = std::chrono::milliseconds(3000);
    options_.max_in_flight = 4;
  }

  testing::TestCa ca_;
  testing::TestCert leaf_;
  std::unique_ptr<TestServer> server_;
  TlsSessionOptions options_;
};

TEST_F(TlsSessionTest, ItemWithPortGivesOneObject) {
  auto session = make_tls_session(options_);
  session->submit({server_->target()});
  const auto documents = collect(*session, 1);
  ASSERT_EQ(documents.size(), 1u);
  ASSERT_TRUE(documents[0].is_object());
  EXPECT_EQ(documents[0]["status"], "valid");
  EXPECT_EQ(documents[0]["port"], server_->port());
  session->close();
}

TEST_F(TlsSessionTest, BareHostUsesEveryDefaultPort) {
  TestServer second(ServerOptions{ServerMode::close_after_hello});
  options_.default_ports = {server_->port(), second.port()};
  auto session = make_tls_session(options_);
  session->submit({"127.0.0.1"});
  const auto documents = collect(*session, 1);
  ASSERT_EQ(documents.size(), 1u);
  ASSERT_TRUE(documents[0].is_array());
  ASSERT_EQ(documents[0].size(), 2u);
  EXPECT_EQ(documents[0][0]["port"], server_->port());
  EXPECT_EQ(documents[0][0]["status"], "valid");
  EXPECT_EQ(documents[0][1]["port"], second.port());
  EXPECT_EQ(documents[0][1]["status"], "failed");
}

TEST_F(TlsSessionTest, JsonItemOverridesStartTls) {
  // The server waits for a ClientHello, so the SMTP greeting never comes.
  options_.prober.starttls_timeout = std::chrono::milliseconds(300);
  auto session = make_tls_session(options_);
  const std::string item = json{{"host", "127.0.0.1"}, {"port", server_->port()},
                                {"starttls", "smtp"}}.dump();
  session->submit({item});
  const auto documents = collect(*session, 1);
  ASSERT_EQ(documents.size(), 1u);
  EXPECT_EQ(documents[0]["starttls"], "smtp");
  EXPECT_EQ(documents[0]["error"]["stage"], "starttls");
  EXPECT_EQ(documents[0]["error"]["reason"], "starttls_timeout");
}

TEST_F(TlsSessionTest, UnencodableNameIsAResult) {
  auto session = make_tls_session(options_);
  session->submit({std::string(64, 'a') + ".example.test:443"});
  const auto documents = collect(*session, 1);
  ASSERT_EQ(documents.size(), 1u);
  EXPECT_EQ(documents[0]["status"], "failed");
  EXPECT_EQ(documents[0]["error"]["stage"], "resolve");
  EXPECT_EQ(documents[0]["error"]["reason"], "invalid_name");
  EXPECT_EQ(documents[0]["error"]["transient"], false);
}

TEST_F(TlsSessionTest, InvalidItemRaisesFromPoll) {
  auto session = make_tls_session(options_);
  session->submit({"127.0.0.1:99999"});
  EXPECT_THROW(collect(*session, 1), Error);
}

TEST_F(TlsSessionTest, BadOptionsRejectedAtOnce) {
  TlsSessionOptions bad = options_;
  bad.default_ports.clear();
  EXPECT_THROW(make_tls_session(bad), Error);
  bad = options_;
  bad.prober.handshake_timeout = std::chrono::milliseconds(0);
  EXPECT_THROW(make_tls_session(bad), Error);
}

TEST_F(TlsSessionTest, UnreadableCaFileRejectedAtOnce) {
  options_.prober.ca_file = "/nonexistent/ca.pem";
  try {
    make_tls_session(options_);
    FAIL() << "expected an Error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::configuration);
  }
}

}  // namespace
}  // namespace dnsscience::tls
