#include "dnsscience/email/policy_records.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "email/tag_list.hpp"

namespace dnsscience {

namespace {

using email_detail::ascii_lower;
using email_detail::Tag;
using email_detail::TagList;
using email_detail::trim;

bool has_prefix_ignore_case(const std::string& text, std::string_view prefix) {
  return ascii_lower(text.substr(0, prefix.size())) == prefix;
}

// Checks the tag list for structure shared by the three records: no malformed
// entry and no repeated tag. Returns an error message or an empty string.
std::string check_structure(const TagList& list) {
  if (!list.malformed.empty()) return "\"" + list.malformed.front() + "\" is not a field=value pair";
  std::set<std::string> seen;
  for (const Tag& tag : list.tags) {
    if (!seen.insert(tag.name).second) return "field \"" + tag.name + "\" appears more than once";
  }
  return {};
}

const Tag* find_tag(const TagList& list, std::string_view name) {
  auto found = std::find_if(list.tags.begin(), list.tags.end(), [&](const Tag& tag) { return tag.name == name; });
  return found == list.tags.end() ? nullptr : &*found;
}

bool is_https_url(const std::string& value) {
  return value.size() > 8 && has_prefix_ignore_case(value, "https://") &&
         std::none_of(value.begin(), value.end(), [](char c) { return c == ' ' || c == '\t'; });
}

}  // namespace

bool is_mta_sts_record(std::string_view text) { return email_detail::starts_with_version_tag(text, "v", "STSv1"); }

bool is_tls_rpt_record(std::string_view text) { return email_detail::starts_with_version_tag(text, "v", "TLSRPTv1"); }

bool is_bimi_record(std::string_view text) {
  const std::string lowered = ascii_lower(text);
  return email_detail::starts_with_version_tag(lowered, "v", "bimi1");
}

MtaStsRecord parse_mta_sts_record(std::string_view text) {
  MtaStsRecord record;
  record.text = std::string(text);
  const TagList list = email_detail::split_tag_list(text);
  record.problem = check_structure(list);
  if (!record.problem.empty()) return record;
  // sts-id = %s"id=" 1*32(ALPHA / DIGIT) (RFC 8461 section 3.1).
  const Tag* id = find_tag(list, "id");
  if (id == nullptr) {
    record.problem = "the id= field is missing";
    return record;
  }
  record.id = id->value;
  const bool alphanumeric = std::all_of(id->value.begin(), id->value.end(),
                                        [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
  if (id->value.empty() || id->value.size() > 32 || !alphanumeric) {
    record.problem = "id=" + id->value + " is not 1 to 32 letters and digits";
  }
  return record;
}

TlsRptRecord parse_tls_rpt_record(std::string_view text) {
  TlsRptRecord record;
  record.text = std::string(text);
  const TagList list = email_detail::split_tag_list(text);
  record.problem = check_structure(list);
  if (!record.problem.empty()) return record;
  const Tag* rua = find_tag(list, "rua");
  if (rua == nullptr) {
    record.problem = "the rua= field is missing";
    return record;
  }
  // tlsrpt-rua = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri), each a
  // mailto: or https: URI (RFC 8460 section 3).
  size_t start = 0;
  while (start <= rua->value.size()) {
    size_t end = rua->value.find(',', start);
    if (end == std::string::npos) end = rua->value.size();
    const std::string uri = trim(std::string_view(rua->value).substr(start, end - start));
    start = end + 1;
    const bool mailto = has_prefix_ignore_case(uri, "mailto:") && uri.find('@') != std::string::npos;
    if (!mailto && !is_https_url(uri)) {
      record.rua.clear();
      record.problem = "rua entry \"" + uri + "\" is not a mailto: or https: URI";
      return record;
    }
    record.rua.push_back(uri);
  }
  return record;
}

BimiRecord parse_bimi_record(std::string_view text) {
  BimiRecord record;
  record.text = std::string(text);
  const TagList list = email_detail::split_tag_list(text);
  record.problem = check_structure(list);
  if (!record.problem.empty()) return record;
  for (const Tag& tag : list.tags) {
    const std::string name = ascii_lower(tag.name);
    if (name != "l" && name != "a") continue;
    if (!tag.value.empty() && !is_https_url(tag.value)) {
      record.problem = name + "=" + tag.value + " is not an https:// URL or empty";
      return record;
    }
    (name == "l" ? record.location : record.authority) = tag.value;
  }
  return record;
}

}  // namespace dnsscience
