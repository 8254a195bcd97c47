#include "dnsscience/email/email_checker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "dnsscience/error.hpp"
#include "email_test_keys.hpp"
#include "fake_resolver.hpp"

namespace dnsscience {
namespace {

using nlohmann::json;
using testing::FakeResolver;

// Runs one check on a real event loop, with answers delivered through it.
json run_check(FakeResolver& resolver, EventLoop& loop, const std::string& domain, EmailOptions options = {}) {
  EmailChecker checker(resolver, loop, std::move(options));
  std::optional<std::string> output;
  checker.check(domain, [&](EmailResult result) {
    output = to_json(result);
    loop.stop();
  });
  const auto guard = loop.add_timer(std::chrono::milliseconds(5000), [&] { loop.stop(); });
  loop.run();
  loop.cancel_timer(guard);
  if (!output) throw std::runtime_error("the check of " + domain + " did not finish");
  return json::parse(*output);
}

bool has_code(const json& result, const std::string& code) {
  const auto& findings = result["findings"];
  return std::any_of(findings.begin(), findings.end(), [&](const json& f) { return f["code"] == code; });
}

void add_full_domain(FakeResolver& resolver) {
  resolver.add_mx("example.com", 20, "MX2.example.com");
  resolver.add_mx("example.com", 10, "mx1.example.com");
  resolver.add_mx("example.com", 20, "mx3.example.com");
  resolver.add_txt("example.com", "google-site-verification=abc");
  resolver.add_txt("example.com", std::vector<std::string>{"v=spf1 include:_spf.example.net ", "-all"});
  resolver.add_txt("_spf.example.net", "v=spf1 ip4:192.0.2.0/24 ~all");
  resolver.add_txt("_dmarc.example.com", "v=DMARC1; sp=none; p=Reject; pct=100; rua=mailto:p=none@example.com");
  const std::string key = testing::kRsa2048PublicKey;
  resolver.add_txt("selector1._domainkey.example.com",
                   std::vector<std::string>{"v=DKIM1; k=rsa; p=" + key.substr(0, 200), key.substr(200)});
  resolver.add_txt("s1._domainkey.example.com", "v=DKIM1; p=");
  resolver.add_txt("_mta-sts.example.com", "v=STSv1; id=20240101T000000;");
  resolver.add_txt("_smtp._tls.example.com", "v=TLSRPTv1; rua=mailto:tls@example.com");
  resolver.add_txt("default._bimi.example.com", "v=BIMI1; l=https://example.com/logo.svg; a=");
}

TEST(EmailChecker, FullDomainJson) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  add_full_domain(resolver);
  const json result = run_check(resolver, loop, "example.com");

  EXPECT_EQ(result["domain"], "example.com");
  EXPECT_TRUE(result["complete"].get<bool>());
  EXPECT_TRUE(result["error"].is_null());
  EXPECT_EQ(result["checked_at"].get<std::string>().size(), 20u);
  EXPECT_EQ(result["checked_at"].get<std::string>().back(), 'Z');
  EXPECT_EQ(result["lookups"]["mx"], "data");
  EXPECT_EQ(result["lookups"]["spf"], "data");
  EXPECT_EQ(result["lookups"]["dmarc"], "data");
  EXPECT_EQ(result["lookups"]["dkim"], "data");

  EXPECT_TRUE(result["has_mx"].get<bool>());
  EXPECT_EQ(result["mx_records"], json({"mx1.example.com", "mx2.example.com", "mx3.example.com"}));
  EXPECT_EQ(result["mx_count"], 3);
  EXPECT_FALSE(result["null_mx"].get<bool>());
  EXPECT_EQ(result["mx"][0]["preference"], 10);

  EXPECT_TRUE(result["has_spf"].get<bool>());
  EXPECT_EQ(result["spf_record"], "v=spf1 include:_spf.example.net -all");
  EXPECT_TRUE(result["spf_valid"].get<bool>());
  EXPECT_EQ(result["spf_result"], "fail");
  EXPECT_EQ(result["spf_lookup_count"], 1);
  EXPECT_EQ(result["spf_void_lookup_count"], 0);
  EXPECT_EQ(result["spf_all"], "-all");

  EXPECT_TRUE(result["has_dmarc"].get<bool>());
  EXPECT_EQ(result["dmarc_policy"], "reject");
  EXPECT_EQ(result["dmarc"]["sp"], "none");
  EXPECT_EQ(result["dmarc"]["pct"], 100);
  EXPECT_EQ(result["dmarc"]["rua"], json({"mailto:p=none@example.com"}));

  EXPECT_TRUE(result["has_dkim"].get<bool>());
  EXPECT_EQ(result["dkim_selectors"], json({"selector1", "s1"}));
  ASSERT_EQ(result["dkim"].size(), 2u);
  EXPECT_EQ(result["dkim"][0]["key_bits"], 2048);
  EXPECT_EQ(result["dkim"][0]["key_type"], "rsa");
  EXPECT_TRUE(result["dkim"][1]["revoked"].get<bool>());
  EXPECT_TRUE(result["dkim"][1]["key_bits"].is_null());
  EXPECT_TRUE(has_code(result, "dkim.revoked_key"));

  EXPECT_TRUE(result["has_mta_sts"].get<bool>());
  EXPECT_EQ(result["mta_sts_id"], "20240101T000000");
  EXPECT_TRUE(result["has_tls_rpt"].get<bool>());
  EXPECT_EQ(result["tls_rpt_rua"], json({"mailto:tls@example.com"}));
  EXPECT_TRUE(result["has_bimi"].get<bool>());
  EXPECT_EQ(result["bimi_location"], "https://example.com/logo.svg");
  EXPECT_EQ(result["bimi_authority"], "");
}

TEST(EmailChecker, JsonHasEveryContractKey) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  const json result = run_check(resolver, loop, "empty.example");
  for (const char* key :
       {"domain", "checked_at", "elapsed_ms", "complete", "error", "lookups", "has_mx", "mx_records", "mx_count",
        "null_mx", "mx", "has_spf", "spf_record", "spf_records", "spf_valid", "spf_result", "spf_lookup_count",
        "spf_void_lookup_count", "spf_all", "has_dmarc", "dmarc_record", "dmarc_records", "dmarc_policy", "dmarc",
        "has_dkim", "dkim_selectors", "dkim", "has_mta_sts", "mta_sts_record", "mta_sts_id", "has_tls_rpt",
        "tls_rpt_record", "tls_rpt_rua", "has_bimi", "bimi_record", "bimi_location", "bimi_authority", "findings"}) {
    EXPECT_TRUE(result.contains(key)) << key;
  }
  for (const char* key : {"mx", "spf", "dmarc", "dkim", "mta_sts", "tls_rpt", "bimi"}) {
    EXPECT_EQ(result["lookups"][key], "nxdomain") << key;
  }
  EXPECT_TRUE(result["complete"].get<bool>());
  EXPECT_EQ(result["spf_result"], "none");
  EXPECT_TRUE(has_code(result, "spf.none"));
  EXPECT_TRUE(has_code(result, "dmarc.none"));
  EXPECT_TRUE(has_code(result, "dkim.none"));
  EXPECT_TRUE(has_code(result, "mx.none"));
}

TEST(EmailChecker, NullMx) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  resolver.add_mx("nomail.example", 0, "");
  const json result = run_check(resolver, loop, "nomail.example");
  EXPECT_TRUE(result["null_mx"].get<bool>());
  EXPECT_FALSE(result["has_mx"].get<bool>());
  EXPECT_EQ(result["mx_count"], 0);
  EXPECT_TRUE(result["mx_records"].empty());
  EXPECT_TRUE(has_code(result, "mx.null_mx"));
}

TEST(EmailChecker, NullMxMixedWithHosts) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  resolver.add_mx("mixed.example", 0, "");
  resolver.add_mx("mixed.example", 10, "mx.mixed.example");
  const json result = run_check(resolver, loop, "mixed.example");
  EXPECT_TRUE(result["null_mx"].get<bool>());
  EXPECT_EQ(result["mx_records"], json({"mx.mixed.example"}));
  EXPECT_TRUE(has_code(result, "mx.null_mx_mixed"));
}

TEST(EmailChecker, TwoDmarcRecordsMeanNoPolicy) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  resolver.add_txt("_dmarc.example.com", "v=DMARC1; p=reject");
  resolver.add_txt("_dmarc.example.com", "v=DMARC1; p=none");
  const json result = run_check(resolver, loop, "example.com");
  EXPECT_TRUE(result["has_dmarc"].get<bool>());
  EXPECT_EQ(result["dmarc_records"].size(), 2u);
  EXPECT_TRUE(result["dmarc_record"].is_null());
  EXPECT_TRUE(result["dmarc_policy"].is_null());
  EXPECT_TRUE(result["dmarc"].is_null());
  EXPECT_TRUE(has_code(result, "dmarc.multiple_records"));
}

TEST(EmailChecker, DmarcBehindCname) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  resolver.add_target("_dmarc.example.com", RRType::CNAME, "_dmarc.provider.example");
  resolver.add_txt("_dmarc.provider.example", "v=DMARC1; p=quarantine");
  const json result = run_check(resolver, loop, "example.com");
  EXPECT_EQ(result["dmarc_policy"], "quarantine");
}

TEST(EmailChecker, WildcardTxtIsNotDkim) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  resolver.add_txt("*._domainkey.example.com", "hello world");
  resolver.add_txt("*.example.com", "v=spf1 -all");
  const json result = run_check(resolver, loop, "example.com");
  EXPECT_FALSE(result["has_dkim"].get<bool>());
  EXPECT_TRUE(result["dkim_selectors"].empty());
  const auto& findings = result["findings"];
  EXPECT_EQ(std::count_if(findings.begin(), findings.end(), [](const json& f) { return f["code"] == "dkim.wildcard_txt"; }), 1);
  EXPECT_FALSE(has_code(result, "dkim.invalid_record"));
}

TEST(EmailChecker, Ed25519AndTestingKeys) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  resolver.add_txt("k1._domainkey.example.com", std::string("v=DKIM1; k=ed25519; t=y; p=") + testing::kEd25519PublicKey);
  resolver.add_txt("k2._domainkey.example.com", std::string("v=DKIM1; p=") + testing::kRsa1024PublicKey);
  const json result = run_check(resolver, loop, "example.com");
  ASSERT_EQ(result["dkim"].size(), 2u);
  EXPECT_EQ(result["dkim"][0]["key_type"], "ed25519");
  EXPECT_EQ(result["dkim"][0]["key_bits"], 256);
  EXPECT_TRUE(result["dkim"][0]["testing"].get<bool>());
  EXPECT_EQ(result["dkim"][1]["key_bits"], 1024);
  EXPECT_TRUE(has_code(result, "dkim.weak_key"));
}

TEST(EmailChecker, TimeoutInOneLookup) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  add_full_domain(resolver);
  resolver.set_status("_dmarc.example.com", RRType::TXT, DnsStatus::timeout);
  const json result = run_check(resolver, loop, "example.com");
  EXPECT_FALSE(result["complete"].get<bool>());
  EXPECT_EQ(result["lookups"]["dmarc"], "timeout");
  EXPECT_FALSE(result["has_dmarc"].get<bool>());
  EXPECT_FALSE(has_code(result, "dmarc.none"));
  EXPECT_TRUE(has_code(result, "email.lookup_failed"));
  EXPECT_EQ(result["lookups"]["mx"], "data");
  EXPECT_EQ(result["lookups"]["spf"], "data");
  EXPECT_EQ(result["lookups"]["dkim"], "data");
  EXPECT_EQ(result["spf_result"], "fail");
  EXPECT_TRUE(result["has_dkim"].get<bool>());
}

TEST(EmailChecker, NestedSpfFailureMarksSpfTransient) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  add_full_domain(resolver);
  resolver.set_status("_spf.example.net", RRType::TXT, DnsStatus::servfail);
  const json result = run_check(resolver, loop, "example.com");
  EXPECT_FALSE(result["complete"].get<bool>());
  EXPECT_EQ(result["lookups"]["spf"], "servfail");
  EXPECT_EQ(result["spf_result"], "temperror");
  EXPECT_FALSE(result["spf_valid"].get<bool>());
  EXPECT_TRUE(result["has_spf"].get<bool>());
}

TEST(EmailChecker, DkimSelectorTimeout) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  add_full_domain(resolver);
  resolver.set_status("k3._domainkey.example.com", RRType::TXT, DnsStatus::timeout);
  const json result = run_check(resolver, loop, "example.com");
  EXPECT_EQ(result["lookups"]["dkim"], "timeout");
  EXPECT_FALSE(result["complete"].get<bool>());
  EXPECT_TRUE(result["has_dkim"].get<bool>());
}

TEST(EmailChecker, DeadlineEndsTheCheck) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  add_full_domain(resolver);
  resolver.set_silent("_smtp._tls.example.com", RRType::TXT);
  EmailOptions options;
  options.domain_timeout = std::chrono::milliseconds(100);
  const auto start = EventLoop::Clock::now();
  const json result = run_check(resolver, loop, "example.com", options);
  const auto waited = EventLoop::Clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(100));
  EXPECT_LT(waited, std::chrono::milliseconds(2000));
  EXPECT_FALSE(result["complete"].get<bool>());
  EXPECT_EQ(result["lookups"]["tls_rpt"], "timeout");
  EXPECT_FALSE(result["has_tls_rpt"].get<bool>());
  EXPECT_TRUE(has_code(result, "email.deadline_exceeded"));
  EXPECT_EQ(result["lookups"]["mx"], "data");
  EXPECT_EQ(result["dmarc_policy"], "reject");
  EXPECT_GE(result["elapsed_ms"].get<double>(), 100.0);
}

TEST(EmailChecker, UnencodableNamesAreNxdomain) {
  EventLoop loop;
  FakeResolver resolver(&loop);
  std::string domain;
  for (int i = 0; i < 4; ++i) domain += std::string(60, 'a' + i) + ".";
  domain += "example";  // 251 characters: the domain fits, "_dmarc." + domain does not
  resolver.add_txt(domain, "v=spf1 -all");
  const json result = run_check(resolver, loop, domain);
  EXPECT_EQ(result["lookups"]["dmarc"], "nxdomain");
  EXPECT_EQ(result["lookups"]["dkim"], "nxdomain");
  EXPECT_EQ(result["lookups"]["spf"], "data");
  EXPECT_TRUE(result["complete"].get<bool>());
}

TEST(EmailChecker, ErrorResultJson) {
  const json result = json::parse(to_json(email_error_result("bad..name", "invalid domain name \"bad..name\"")));
  EXPECT_EQ(result["domain"], "bad..name");
  EXPECT_EQ(result["error"], "invalid domain name \"bad..name\"");
  EXPECT_TRUE(result["complete"].get<bool>());
  for (const char* key : {"has_mx", "has_spf", "has_dmarc", "has_dkim", "has_mta_sts", "has_tls_rpt", "has_bimi"}) {
    EXPECT_FALSE(result[key].get<bool>()) << key;
  }
}

TEST(EmailChecker, RejectsBadOptions) {
  EventLoop loop;
  FakeResolver resolver;
  EmailOptions options;
  options.dkim_selectors = {"good", "bad selector"};
  EXPECT_THROW(EmailChecker(resolver, loop, options), Error);
  EmailOptions zero;
  zero.domain_timeout = std::chrono::milliseconds(0);
  EXPECT_THROW(EmailChecker(resolver, loop, zero), Error);
}

}  // namespace
}  // namespace dnsscience
