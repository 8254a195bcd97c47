// Runs the openspf RFC 7208 test suite (testdata/openspf, converted to JSON by
// convert_to_json.py there) through SpfEvaluator over the fake resolver.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dnsscience/email/spf_evaluator.hpp"
#include "fake_resolver.hpp"

namespace dnsscience {
namespace {

struct SuiteCase {
  std::string scenario;
  std::string name;
  nlohmann::json test;
  nlohmann::json zone;
};

void PrintTo(const SuiteCase& suite_case, std::ostream* out) { *out << suite_case.scenario << " / " << suite_case.name; }

std::vector<SuiteCase> load_suite() {
  const auto path = std::filesystem::path(__FILE__).parent_path() / "testdata" / "openspf" / "rfc7208-tests.json";
  std::ifstream input(path);
  if (!input) throw std::runtime_error("cannot open " + path.string());
  const nlohmann::json scenarios = nlohmann::json::parse(input);
  std::vector<SuiteCase> cases;
  for (const auto& scenario : scenarios) {
    for (const auto& test : scenario["tests"]) {
      cases.push_back({scenario["description"].get<std::string>(), test["name"].get<std::string>(), test,
                       scenario["zone"]});
    }
  }
  return cases;
}

std::optional<RRType> rrtype_from_name(const std::string& name) {
  if (name == "A" || name == "AAAA") return RRType::A;  // add_address picks the family
  if (name == "PTR") return RRType::PTR;
  if (name == "CNAME") return RRType::CNAME;
  return std::nullopt;
}

void load_zone(const nlohmann::json& zone, testing::FakeResolver& resolver) {
  for (const auto& [name, records] : zone.items()) {
    for (const auto& record : records) {
      const std::string type = record["type"].get<std::string>();
      if (type == "TIMEOUT") {
        resolver.set_timeout(name);
      } else if (type == "TXT") {
        resolver.add_txt(name, record["strings"].get<std::vector<std::string>>());
      } else if (type == "MX") {
        std::string exchange = record["exchange"].get<std::string>();
        if (!exchange.empty() && exchange.back() == '.') exchange.pop_back();
        resolver.add_mx(name, record["preference"].get<uint16_t>(), exchange);
      } else if (type == "A" || type == "AAAA") {
        resolver.add_address(name, record["value"].get<std::string>());
      } else if (auto rrtype = rrtype_from_name(type)) {
        resolver.add_target(name, *rrtype, record["value"].get<std::string>());
      } else {
        FAIL() << "zone record type " << type << " at " << name << " is not supported by the test driver";
      }
    }
  }
}

class SpfSuite : public ::testing::TestWithParam<SuiteCase> {};

TEST_P(SpfSuite, MatchesExpectedResult) {
  const SuiteCase& suite_case = GetParam();
  testing::FakeResolver resolver;
  load_zone(suite_case.zone, resolver);

  SpfRequest request;
  request.helo = suite_case.test["helo"].get<std::string>();
  request.sender = suite_case.test["mailfrom"].get<std::string>();
  const std::string host = suite_case.test["host"].get<std::string>();
  request.ip = IpAddress::parse(host);
  ASSERT_TRUE(request.ip.has_value()) << "host " << host;
  const size_t at = request.sender.rfind('@');
  request.domain = request.sender.empty() ? request.helo : request.sender.substr(at + 1);

  std::optional<SpfEvaluation> evaluation;
  SpfEvaluator(resolver).evaluate(request, [&](SpfEvaluation result) { evaluation = std::move(result); });
  ASSERT_TRUE(evaluation.has_value()) << "the evaluation did not finish";

  const auto expected = suite_case.test["results"].get<std::vector<std::string>>();
  const std::string actual = spf_result_name(evaluation->result);
  EXPECT_NE(std::find(expected.begin(), expected.end(), actual), expected.end())
      << suite_case.scenario << " / " << suite_case.name << ": got " << actual << " (" << evaluation->problem
      << "), expected one of " << nlohmann::json(expected).dump();

  const auto& explanation = suite_case.test["explanation"];
  if (actual == "fail" && explanation.is_string() && explanation.get<std::string>() != "DEFAULT") {
    EXPECT_EQ(evaluation->explanation, explanation.get<std::string>()) << suite_case.name;
  }
}

std::string case_name(const ::testing::TestParamInfo<SuiteCase>& info) {
  std::string name = info.param.name;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name + "_" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(OpenSpf, SpfSuite, ::testing::ValuesIn(load_suite()), case_name);

}  // namespace
}  // namespace dnsscience
