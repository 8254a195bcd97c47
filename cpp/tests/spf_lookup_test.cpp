// Worst-case SPF evaluation (no client address): lookup counts, limits and
// findings, over the fake resolver.

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "dnsscience/email/spf_evaluator.hpp"
#include "fake_resolver.hpp"

namespace dnsscience {
namespace {

using testing::FakeResolver;

SpfEvaluation evaluate(FakeResolver& resolver, const std::string& domain) {
  std::optional<SpfEvaluation> result;
  SpfRequest request;
  request.domain = domain;
  SpfEvaluator(resolver).evaluate(request, [&](SpfEvaluation evaluation) { result = std::move(evaluation); });
  if (!result) throw std::runtime_error("the SPF evaluation of " + domain + " did not finish");
  return *result;
}

bool has_code(const SpfEvaluation& evaluation, const std::string& code) {
  return std::any_of(evaluation.findings.begin(), evaluation.findings.end(),
                     [&](const Finding& finding) { return finding.code == code; });
}

TEST(SpfLookup, IncludeTreeCountsExactly) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 include:a.example.com include:b.example.com mx a -all");
  resolver.add_txt("a.example.com", "v=spf1 include:c.example.com ip4:192.0.2.0/24 -all");
  resolver.add_txt("b.example.com", "v=spf1 a:x.example.com ~all");
  resolver.add_txt("c.example.com", "v=spf1 exists:%{d}.test.example.com -all");
  resolver.add_address("c.example.com.test.example.com", "127.0.0.2");
  resolver.add_address("x.example.com", "192.0.2.1");
  resolver.add_address("x.example.com", "2001:db8::1");
  resolver.add_mx("example.com", 10, "mail.example.com");
  resolver.add_address("mail.example.com", "192.0.2.25");
  resolver.add_address("example.com", "192.0.2.80");
  resolver.add_address("example.com", "2001:db8::80");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::fail);
  EXPECT_EQ(evaluation.lookup_count, 7);  // include a, include c, exists, include b, a:x, mx, a
  EXPECT_EQ(evaluation.void_lookup_count, 0);
  EXPECT_EQ(evaluation.void_lookup_count_ipv6, 0);
  ASSERT_TRUE(evaluation.all_qualifier.has_value());
  EXPECT_EQ(*evaluation.all_qualifier, SpfQualifier::fail);
  EXPECT_EQ(evaluation.worst_status, DnsStatus::data);
  EXPECT_EQ(evaluation.records.size(), 1u);
  EXPECT_TRUE(evaluation.findings.empty()) << evaluation.findings.front().message;
}

TEST(SpfLookup, MoreThanTenIsPermerror) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 a mx include:i.example.com -all");
  resolver.add_txt("i.example.com", "v=spf1 a a a a a a a a ~all");
  resolver.add_address("example.com", "192.0.2.1");
  resolver.add_address("i.example.com", "192.0.2.2");
  resolver.add_mx("example.com", 10, "example.com");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::permerror);
  EXPECT_EQ(evaluation.lookup_count, 11);
  EXPECT_TRUE(has_code(evaluation, "spf.too_many_lookups"));
  EXPECT_NE(evaluation.problem.find("\"a\" in the SPF record of i.example.com"), std::string::npos) << evaluation.problem;
}

TEST(SpfLookup, TenLookupsAreAllowed) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 a mx include:i.example.com -all");
  resolver.add_txt("i.example.com", "v=spf1 a a a a a a a ~all");
  resolver.add_address("example.com", "192.0.2.1");
  resolver.add_address("i.example.com", "192.0.2.2");
  resolver.add_mx("example.com", 10, "example.com");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::fail);
  EXPECT_EQ(evaluation.lookup_count, 10);
}

TEST(SpfLookup, VoidLookupsOverTwo) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 a:gone1.example.com mx:gone2.example.com exists:gone3.example.com ~all");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::permerror);
  EXPECT_EQ(evaluation.void_lookup_count, 3);
  EXPECT_TRUE(has_code(evaluation, "spf.too_many_void_lookups"));

  FakeResolver two;
  two.add_txt("example.com", "v=spf1 a:gone1.example.com mx:gone2.example.com ~all");
  const SpfEvaluation at_limit = evaluate(two, "example.com");
  EXPECT_EQ(at_limit.result, SpfResult::softfail);
  EXPECT_EQ(at_limit.void_lookup_count, 2);
}

TEST(SpfLookup, IncludeLoopIsPermerror) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 include:a.example.com -all");
  resolver.add_txt("a.example.com", "v=spf1 include:b.example.com");
  resolver.add_txt("b.example.com", "v=spf1 include:a.example.com");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::permerror);
  EXPECT_TRUE(has_code(evaluation, "spf.loop"));
  EXPECT_EQ(evaluation.lookup_count, 3);
}

TEST(SpfLookup, SameIncludeInTwoBranchesCountsTwice) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 include:a.example.com include:b.example.com -all");
  resolver.add_txt("a.example.com", "v=spf1 include:c.example.com");
  resolver.add_txt("b.example.com", "v=spf1 include:c.example.com");
  resolver.add_txt("c.example.com", "v=spf1 ip4:192.0.2.0/24");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::fail);
  EXPECT_EQ(evaluation.lookup_count, 4);
  EXPECT_FALSE(has_code(evaluation, "spf.loop"));
  EXPECT_EQ(resolver.count_queries("c.example.com", RRType::TXT), 1u);
}

TEST(SpfLookup, RedirectIgnoredWithAll) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 redirect=other.example.com ~all");
  resolver.add_txt("other.example.com", "v=spf1 -all");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::softfail);
  EXPECT_EQ(evaluation.lookup_count, 0);
  EXPECT_TRUE(has_code(evaluation, "spf.redirect_ignored"));
}

TEST(SpfLookup, RedirectFollowedWithoutAll) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 ip4:192.0.2.1 redirect=_spf.%{d}");
  resolver.add_txt("_spf.example.com", "v=spf1 a:mail.example.com -all");
  resolver.add_address("mail.example.com", "192.0.2.25");
  resolver.add_address("mail.example.com", "2001:db8::25");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::fail);
  EXPECT_EQ(evaluation.lookup_count, 2);
  ASSERT_TRUE(evaluation.all_qualifier.has_value());
  EXPECT_EQ(*evaluation.all_qualifier, SpfQualifier::fail);
  EXPECT_FALSE(has_code(evaluation, "spf.no_all"));
}

TEST(SpfLookup, RedirectWithoutRecordIsPermerror) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 redirect=missing.example.com");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::permerror);
  EXPECT_TRUE(has_code(evaluation, "spf.redirect_without_record"));
}

TEST(SpfLookup, IncludeWithoutRecordIsPermerror) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 include:norecord.example.com -all");
  resolver.add_txt("norecord.example.com", "some other text");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::permerror);
  EXPECT_TRUE(has_code(evaluation, "spf.include_without_record"));
}

TEST(SpfLookup, SenderMacrosCountedNotFollowed) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 exists:%{i}._spf.example.com include:%{l}.example.com include:_s.%{d} -all");
  resolver.add_txt("_s.example.com", "v=spf1 ip4:192.0.2.0/24");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::fail);
  EXPECT_EQ(evaluation.lookup_count, 3);
  EXPECT_TRUE(has_code(evaluation, "spf.sender_macro"));
  EXPECT_EQ(resolver.count_queries("_s.example.com", RRType::TXT), 1u);
  // Only the example.com and _s.example.com TXT queries were sent.
  EXPECT_EQ(resolver.queries.size(), 2u);
}

TEST(SpfLookup, PlusAllPasses) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 +all");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::pass);
  EXPECT_TRUE(has_code(evaluation, "spf.plus_all"));
}

TEST(SpfLookup, IncludedPlusAllMatches) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 ~include:open.example.com -all");
  resolver.add_txt("open.example.com", "v=spf1 +all");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::softfail);
  EXPECT_FALSE(evaluation.all_qualifier.has_value());
  EXPECT_TRUE(has_code(evaluation, "spf.plus_all"));
}

TEST(SpfLookup, NoAllAndPtrFindings) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 ptr include=_spf.example.com");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::neutral);
  EXPECT_EQ(evaluation.lookup_count, 1);
  EXPECT_TRUE(has_code(evaluation, "spf.no_all"));
  EXPECT_TRUE(has_code(evaluation, "spf.ptr"));
  EXPECT_TRUE(has_code(evaluation, "spf.modifier_typo"));
}

TEST(SpfLookup, TooManyMxNames) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 mx -all");
  for (int i = 0; i < 11; ++i) resolver.add_mx("example.com", static_cast<uint16_t>(i), "mx" + std::to_string(i) + ".example.com");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::permerror);
  EXPECT_TRUE(has_code(evaluation, "spf.too_many_mx"));
}

TEST(SpfLookup, TimeoutInsideIncludeIsTemperror) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 include:slow.example.com -all");
  resolver.set_status("slow.example.com", RRType::TXT, DnsStatus::timeout);
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::temperror);
  EXPECT_EQ(evaluation.worst_status, DnsStatus::timeout);
  EXPECT_EQ(evaluation.record_status, DnsStatus::data);
  EXPECT_TRUE(has_code(evaluation, "spf.temperror"));
}

TEST(SpfLookup, ServfailOnAddressIsTemperror) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 a:broken.example.com -all");
  resolver.set_status("broken.example.com", RRType::A, DnsStatus::servfail);
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::temperror);
  EXPECT_EQ(evaluation.worst_status, DnsStatus::servfail);
}

TEST(SpfLookup, Ipv6PathDiffers) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 a:v4only.example.com a:v4only2.example.com a:v4only3.example.com -all");
  resolver.add_address("v4only.example.com", "192.0.2.1");
  resolver.add_address("v4only2.example.com", "192.0.2.2");
  resolver.add_address("v4only3.example.com", "192.0.2.3");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::fail);
  EXPECT_EQ(evaluation.void_lookup_count, 0);
  EXPECT_EQ(evaluation.void_lookup_count_ipv6, 3);
  EXPECT_TRUE(has_code(evaluation, "spf.ipv6_path_differs"));
}

TEST(SpfLookup, MultipleRecordsArePermerror) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf1 -all");
  resolver.add_txt("example.com", "V=SPF1 ~all");
  resolver.add_txt("example.com", "v=spf10 +all");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  EXPECT_EQ(evaluation.result, SpfResult::permerror);
  ASSERT_EQ(evaluation.records.size(), 2u);
  EXPECT_EQ(evaluation.records[1], "V=SPF1 ~all");
  EXPECT_TRUE(has_code(evaluation, "spf.multiple_records"));
}

TEST(SpfLookup, Spf10BesideRealRecord) {
  FakeResolver resolver;
  resolver.add_txt("example.com", "v=spf10 +all");
  resolver.add_txt("example.com", "v=spf1 ip4:192.0.2.0/24 -all");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  ASSERT_EQ(evaluation.records.size(), 1u);
  EXPECT_EQ(evaluation.records[0], "v=spf1 ip4:192.0.2.0/24 -all");
  EXPECT_EQ(evaluation.result, SpfResult::fail);
  EXPECT_FALSE(has_code(evaluation, "spf.plus_all"));
}

TEST(SpfLookup, SplitRecordIsJoined) {
  FakeResolver resolver;
  resolver.add_txt("example.com", std::vector<std::string>{"v=spf1 ip4:192.0.2.0/24 inc", "lude:_spf.example.net -all"});
  resolver.add_txt("_spf.example.net", "v=spf1 -all");
  const SpfEvaluation evaluation = evaluate(resolver, "example.com");
  ASSERT_EQ(evaluation.records.size(), 1u);
  EXPECT_EQ(evaluation.records[0], "v=spf1 ip4:192.0.2.0/24 include:_spf.example.net -all");
  EXPECT_EQ(evaluation.lookup_count, 1);
  EXPECT_EQ(evaluation.result, SpfResult::fail);
}

TEST(SpfLookup, DeferredAnswersGiveSameCounts) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  resolver.add_txt("example.com", "v=spf1 include:a.example.com include:b.example.com a:gone.example.com -all");
  resolver.add_txt("a.example.com", "v=spf1 a a a mx");
  resolver.add_txt("b.example.com", "v=spf1 a:gone2.example.com a a a a");
  resolver.add_address("a.example.com", "192.0.2.1");
  resolver.add_address("b.example.com", "192.0.2.2");
  std::optional<SpfEvaluation> result;
  SpfRequest request;
  request.domain = "example.com";
  SpfEvaluator(resolver).evaluate(request, [&](SpfEvaluation evaluation) {
    result = std::move(evaluation);
    loop.stop();
  });
  loop.add_timer(std::chrono::milliseconds(2000), [&] { loop.stop(); });
  loop.run();
  ASSERT_TRUE(result.has_value());
  // include a (1), a a a (4), mx (5, void 1), include b (6), a:gone2 (7, void 2),
  // a a a a (11): the limit is exceeded at the fourth "a" of b.example.com.
  EXPECT_EQ(result->result, SpfResult::permerror);
  EXPECT_EQ(result->lookup_count, 11);
  EXPECT_EQ(result->void_lookup_count, 2);
}

}  // namespace
}  // namespace dnsscience
