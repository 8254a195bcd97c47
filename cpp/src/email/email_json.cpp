#include <nlohmann/json.hpp>

#include "dnsscience/email/email_checker.hpp"

namespace dnsscience {

namespace {

using Json = nlohmann::ordered_json;

Json optional_string(const std::optional<std::string>& value) { return value ? Json(*value) : Json(nullptr); }

Json first_or_null(const std::vector<std::string>& values) { return values.empty() ? Json(nullptr) : Json(values.front()); }

Json dmarc_json(const DmarcRecord& record) {
  Json object;
  object["p"] = optional_string(record.p);
  object["sp"] = optional_string(record.sp);
  object["pct"] = record.pct ? Json(*record.pct) : Json(nullptr);
  object["rua"] = record.rua;
  object["ruf"] = record.ruf;
  object["adkim"] = optional_string(record.adkim);
  object["aspf"] = optional_string(record.aspf);
  object["fo"] = optional_string(record.fo);
  object["ri"] = record.ri ? Json(*record.ri) : Json(nullptr);
  object["policy_implied"] = record.policy_implied;
  return object;
}

}  // namespace

std::string to_json(const EmailResult& result) {
  Json json;
  json["domain"] = result.domain;
  json["checked_at"] = result.checked_at;
  json["elapsed_ms"] = result.elapsed_ms;
  json["complete"] = result.complete;
  json["error"] = optional_string(result.error);
  json["lookups"] = {
      {"mx", dns_status_name(result.lookups.mx)},           {"spf", dns_status_name(result.lookups.spf)},
      {"dmarc", dns_status_name(result.lookups.dmarc)},     {"dkim", dns_status_name(result.lookups.dkim)},
      {"mta_sts", dns_status_name(result.lookups.mta_sts)}, {"tls_rpt", dns_status_name(result.lookups.tls_rpt)},
      {"bimi", dns_status_name(result.lookups.bimi)},
  };

  Json hosts = Json::array();
  Json mx = Json::array();
  for (const MxHost& host : result.mx) {
    hosts.push_back(host.exchange);
    mx.push_back({{"preference", host.preference}, {"exchange", host.exchange}});
  }
  json["has_mx"] = result.has_mx();
  json["mx_records"] = hosts;
  json["mx_count"] = result.mx.size();
  json["null_mx"] = result.null_mx;
  json["mx"] = mx;

  json["has_spf"] = !result.spf_records.empty();
  json["spf_record"] = first_or_null(result.spf_records);
  json["spf_records"] = result.spf_records;
  json["spf_valid"] = result.spf_valid;
  json["spf_result"] = spf_result_name(result.spf_result);
  json["spf_lookup_count"] = result.spf_lookup_count;
  json["spf_void_lookup_count"] = result.spf_void_lookup_count;
  json["spf_all"] = result.spf_all ? Json(std::string(1, static_cast<char>(*result.spf_all)) + "all") : Json(nullptr);

  json["has_dmarc"] = !result.dmarc_records.empty();
  json["dmarc_record"] = result.dmarc ? Json(result.dmarc->text) : Json(nullptr);
  json["dmarc_records"] = result.dmarc_records;
  json["dmarc_policy"] = result.dmarc ? optional_string(result.dmarc->p) : Json(nullptr);
  json["dmarc"] = result.dmarc ? dmarc_json(*result.dmarc) : Json(nullptr);

  Json selectors = Json::array();
  Json keys = Json::array();
  for (const DkimKey& key : result.dkim) {
    selectors.push_back(key.selector);
    keys.push_back({{"selector", key.selector},
                    {"key_type", key.key_type},
                    {"key_bits", key.key_bits > 0 ? Json(key.key_bits) : Json(nullptr)},
                    {"revoked", key.revoked},
                    {"testing", key.testing},
                    {"record", key.record}});
  }
  json["has_dkim"] = result.has_dkim();
  json["dkim_selectors"] = selectors;
  json["dkim"] = keys;

  json["has_mta_sts"] = !result.mta_sts_records.empty();
  json["mta_sts_record"] = result.mta_sts ? Json(result.mta_sts->text) : Json(nullptr);
  json["mta_sts_id"] = result.mta_sts ? Json(result.mta_sts->id) : Json(nullptr);
  json["has_tls_rpt"] = !result.tls_rpt_records.empty();
  json["tls_rpt_record"] = result.tls_rpt ? Json(result.tls_rpt->text) : Json(nullptr);
  json["tls_rpt_rua"] = result.tls_rpt ? Json(result.tls_rpt->rua) : Json::array();
  json["has_bimi"] = !result.bimi_records.empty();
  json["bimi_record"] = result.bimi ? Json(result.bimi->text) : Json(nullptr);
  json["bimi_location"] = result.bimi ? Json(result.bimi->location) : Json(nullptr);
  json["bimi_authority"] = result.bimi ? Json(result.bimi->authority) : Json(nullptr);

  Json findings = Json::array();
  for (const Finding& finding : result.findings) {
    findings.push_back({{"code", finding.code}, {"severity", severity_name(finding.severity)}, {"message", finding.message}});
  }
  json["findings"] = findings;
  // Invalid UTF-8 in a record (TXT data is binary) is replaced rather than thrown.
  return json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace dnsscience
