#include "dnsscience/email/dmarc.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include "dnsscience/email/finding_codes.hpp"
#include "email/tag_list.hpp"

namespace dnsscience {

namespace {

using email_detail::ascii_lower;
using email_detail::trim;

bool is_policy(const std::string& value) { return value == "none" || value == "quarantine" || value == "reject"; }

bool all_digits(const std::string& value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// DMARC-URI = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ] (RFC 7489 section 6.4).
// The URI needs a scheme (RFC 3986 section 3.1) and a non-empty remainder; a
// mailto: URI needs an address with "@".
bool is_valid_report_uri(const std::string& entry) {
  std::string uri = entry;
  const size_t bang = uri.rfind('!');
  if (bang != std::string::npos) {
    std::string size = uri.substr(bang + 1);
    if (!size.empty() && std::strchr("kmgtKMGT", size.back()) != nullptr) size.pop_back();
    if (!all_digits(size)) return false;
    uri = uri.substr(0, bang);
  }
  const size_t colon = uri.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == uri.size()) return false;
  if (!std::isalpha(static_cast<unsigned char>(uri[0]))) return false;
  for (size_t i = 0; i < colon; ++i) {
    const char c = uri[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
  }
  if (std::any_of(uri.begin(), uri.end(), [](char c) { return c == ' ' || c == '\t'; })) return false;
  if (ascii_lower(uri.substr(0, colon)) == "mailto") {
    const size_t at = uri.find('@', colon);
    return at != std::string::npos && at > colon + 1 && at + 1 < uri.size();
  }
  return true;
}

std::vector<std::string> parse_uri_list(const std::string& tag, const std::string& value, DmarcRecord& record) {
  std::vector<std::string> uris;
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find(',', start);
    if (end == std::string::npos) end = value.size();
    const std::string entry = trim(std::string_view(value).substr(start, end - start));
    start = end + 1;
    if (is_valid_report_uri(entry)) {
      uris.push_back(entry);
    } else {
      record.findings.push_back(make_finding(finding::kDmarcInvalidUri,
                                             tag + "=" + value + ": \"" + entry + "\" is not a valid report URI; it is ignored"));
    }
  }
  return uris;
}

void invalid_value(DmarcRecord& record, const std::string& name, const std::string& value, const char* expected) {
  record.findings.push_back(make_finding(finding::kDmarcInvalidTagValue,
                                         name + "=" + value + " is invalid (expected " + expected + "); it is ignored"));
}

void apply_tag(DmarcRecord& record, const std::string& name, const std::string& value, bool& invalid_policy) {
  const std::string lowered = ascii_lower(value);
  if (name == "p") {
    if (is_policy(lowered)) {
      record.p = lowered;
    } else {
      invalid_policy = true;
      record.findings.push_back(make_finding(finding::kDmarcInvalidPolicy,
                                             "p=" + value + " is not none, quarantine or reject"));
    }
  } else if (name == "sp") {
    if (is_policy(lowered)) {
      record.sp = lowered;
    } else {
      invalid_policy = true;
      record.findings.push_back(make_finding(finding::kDmarcInvalidSubdomainPolicy,
                                             "sp=" + value + " is not none, quarantine or reject"));
    }
  } else if (name == "pct") {
    if (all_digits(value) && value.size() <= 3 && std::stoi(value) <= 100) {
      record.pct = std::stoi(value);
    } else {
      record.findings.push_back(make_finding(finding::kDmarcInvalidPct,
                                             "pct=" + value + " is not an integer from 0 to 100; it is ignored"));
    }
  } else if (name == "rua") {
    record.rua = parse_uri_list(name, value, record);
  } else if (name == "ruf") {
    record.ruf = parse_uri_list(name, value, record);
  } else if (name == "adkim" || name == "aspf") {
    if (lowered == "r" || lowered == "s") {
      (name == "adkim" ? record.adkim : record.aspf) = lowered;
    } else {
      invalid_value(record, name, value, "r or s");
    }
  } else if (name == "fo") {
    bool valid = true;
    size_t start = 0;
    while (start <= value.size()) {
      size_t end = value.find(':', start);
      if (end == std::string::npos) end = value.size();
      const std::string option = ascii_lower(trim(std::string_view(value).substr(start, end - start)));
      start = end + 1;
      if (option != "0" && option != "1" && option != "d" && option != "s") valid = false;
    }
    if (valid) {
      record.fo = value;
    } else {
      invalid_value(record, name, value, "a colon-separated list of 0, 1, d and s");
    }
  } else if (name == "ri") {
    if (all_digits(value) && value.size() <= 10) {
      record.ri = std::stoll(value);
    } else {
      invalid_value(record, name, value, "an integer number of seconds");
    }
  } else {
    record.findings.push_back(make_finding(finding::kDmarcUnknownTag, "unknown tag \"" + name + "=" + value + "\" is ignored"));
  }
}

}  // namespace

bool is_dmarc_record(std::string_view text) {
  // The version tag value is case-sensitive (%x44 %x4d ... in RFC 7489 section 6.4);
  // the tag name is not.
  return email_detail::starts_with_version_tag(text, "v", "DMARC1") ||
         email_detail::starts_with_version_tag(text, "V", "DMARC1");
}

DmarcRecord parse_dmarc_record(std::string_view text) {
  DmarcRecord record;
  record.text = std::string(text);
  const email_detail::TagList list = email_detail::split_tag_list(text);
  for (const std::string& entry : list.malformed) {
    record.findings.push_back(make_finding(finding::kDmarcSyntaxError, "\"" + entry + "\" is not a tag=value pair; it is ignored"));
  }
  std::set<std::string> seen;
  bool invalid_policy = false;
  // The first tag is v=DMARC1 (checked by is_dmarc_record); RFC 7489 section 6.3
  // allows the others in any order.
  for (size_t i = 1; i < list.tags.size(); ++i) {
    const std::string name = ascii_lower(list.tags[i].name);
    const std::string& value = list.tags[i].value;
    if (name == "v" || !seen.insert(name).second) {
      record.findings.push_back(make_finding(finding::kDmarcDuplicateTag,
                                             "tag \"" + name + "\" appears more than once; the first value is used"));
      continue;
    }
    apply_tag(record, name, value, invalid_policy);
  }
  if (!record.p && !invalid_policy) {
    invalid_policy = true;
    // With a valid rua the record acts as p=none, reported below instead.
    if (record.rua.empty()) {
      record.findings.push_back(make_finding(finding::kDmarcInvalidPolicy, "the record has no p tag"));
    }
  }
  // RFC 7489 section 6.6.3: without a valid p (or with an invalid sp), a record
  // with a valid rua URI acts as p=none; otherwise DMARC does not apply.
  if (invalid_policy) {
    record.p.reset();
    record.sp.reset();
    if (!record.rua.empty()) {
      record.p = "none";
      record.policy_implied = true;
      record.findings.push_back(make_finding(finding::kDmarcMissingPolicy,
                                             "the record has a valid rua but no valid policy, so it is treated as p=none"));
    }
  }
  if (record.p == std::optional<std::string>("none")) {
    record.findings.push_back(make_finding(finding::kDmarcPolicyNone, "p=none: failing mail is only reported, not rejected"));
  }
  if (record.pct && *record.pct < 100 && record.p) {
    record.findings.push_back(make_finding(finding::kDmarcPartialPct,
                                           "pct=" + std::to_string(*record.pct) + ": the policy applies to that share of failing mail"));
  }
  if (record.rua.empty()) {
    record.findings.push_back(make_finding(finding::kDmarcNoReporting, "no rua tag: no aggregate reports are requested"));
  }
  return record;
}

}  // namespace dnsscience
