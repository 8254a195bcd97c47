#include "dnsscience/email/email_session.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "dnsscience/error.hpp"
#include "fake_resolver.hpp"

namespace dnsscience {
namespace {

using nlohmann::json;

TEST(EmailStarter, NormalizesItems) {
  EventLoop loop;
  testing::FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 -all");
  EmailChecker checker(resolver, loop);
  const BatchSession::Starter starter = make_email_starter(checker);
  std::vector<json> results;
  starter("Example.COM.", [&](std::string text) { results.push_back(json::parse(text)); });
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["domain"], "example.com");
  EXPECT_TRUE(results[0]["error"].is_null());
  EXPECT_EQ(results[0]["spf_all"], "-all");
}

TEST(EmailStarter, InvalidNameGivesErrorResult) {
  EventLoop loop;
  testing::FakeResolver resolver;
  EmailChecker checker(resolver, loop);
  const BatchSession::Starter starter = make_email_starter(checker);
  std::vector<json> results;
  starter("bad..example", [&](std::string text) { results.push_back(json::parse(text)); });
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["domain"], "bad..example");
  EXPECT_TRUE(results[0]["error"].is_string());
  EXPECT_TRUE(results[0]["complete"].get<bool>());
  EXPECT_FALSE(results[0]["has_spf"].get<bool>());
  EXPECT_TRUE(resolver.queries.empty());
}

TEST(EmailSession, RejectsBadSelectorAtOnce) {
  EmailSessionOptions options;
  options.dns.nameservers.push_back(Nameserver::parse("127.0.0.1:9"));
  options.email.dkim_selectors = {"has space"};
  EXPECT_THROW(make_email_session(options), Error);
}

}  // namespace
}  // namespace dnsscience
